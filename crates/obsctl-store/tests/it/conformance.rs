//! The store conformance suite: every backend must pass every test here.

use std::sync::Arc;
use std::time::Duration;

use obsctl_core::Timestamp;
use obsctl_core::action::{Action, ActionState, AuditRecord, Outcome};
use obsctl_core::check::Observation;
use obsctl_core::graph::{Reached, UpstreamFailure};
use obsctl_core::incident::{IncidentStatus, fingerprint};
use obsctl_core::state::CheckStatus;
use obsctl_core::timeline::EntryKind;
use obsctl_store::{
    ActionFilter, AlertFilter, Cluster, IncidentFilter, IncidentLog, NewEvent, OpenedIncident, Store, StoreError,
    Upserted,
};
use serde_json::json;

use crate::fixtures::{action, episode, incident, observation, silence};

/// Instantiates every conformance test for one backend, a module per part of `Store`; `$open`
/// is an async fn returning `(Arc<dyn Store>, guard)` where the guard keeps the backend's
/// resources alive.
macro_rules! conformance_suite {
    ($backend:ident, $open:path) => {
        mod $backend {
            conformance_suite!(@part $open; check_history:
                observations_are_bounded_and_newest_first,
                latest_observation_per_check,
                rollups_sum_runs_per_hour_and_day,
                check_status_round_trips,
                a_check_whose_target_changed_starts_afresh_and_keeps_its_history,
                telemetry_reports_keep_each_services_latest,
            );
            conformance_suite!(@part $open; incident_log:
                incidents_round_trip_and_filter,
                an_incident_opens_only_while_none_of_its_fingerprint_is_open,
                events_keep_order,
                silences_filter_by_time,
                unknown_ids_are_not_found,
            );
            conformance_suite!(@part $open; alert_log: alerts_upsert_by_source_and_fingerprint);
            conformance_suite!(@part $open; action_journal:
                idempotency_key_is_unique,
                transition_is_compare_and_set,
                plan_moves_whole_or_not_at_all,
                racing_plan_decisions_never_split_a_plan,
                counts_budgets_and_cooldowns,
                breaker_counts_failed_plans_back_to_the_last_fix,
                audit_is_newest_first,
            );
            conformance_suite!(@part $open; memory:
                remember_is_idempotent_and_feeds_the_ledger,
                ledger_ranks_by_success_rate,
                episodes_page_in_id_order,
                an_upserted_episode_replaces_and_the_ledger_follows,
                episodes_follow_in_stored_order,
                episodes_from_elsewhere_count_apart_and_sync_state_round_trips,
            );
            conformance_suite!(@part $open; cluster:
                a_lease_has_one_holder_until_it_expires,
                replicas_heartbeat_on_the_store_clock_and_leave,
            );
            conformance_suite!(@part $open; graph:
                graph_follows_dependencies_both_ways,
                graph_fix_history_is_newest_first,
            );
            conformance_suite!(@part $open; change_feed: the_change_feed_gives_every_change_once_in_order);
        }
    };
    (@part $open:path; $part:ident: $($name:ident),* $(,)?) => {
        mod $part {
            $(
                #[tokio::test]
                async fn $name() {
                    let (store, _guard) = $open().await;
                    crate::conformance::$name(store).await;
                }
            )*
        }
    };
}

pub async fn open_sqlite() -> (Arc<dyn Store>, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}", dir.path().join("obsctl.db").display());
    let store = obsctl_store::SqliteStore::open(&url).await.expect("open sqlite");
    (Arc::new(store), dir)
}

conformance_suite!(sqlite, crate::conformance::open_sqlite);

/// A Postgres store in a schema of its own, so tests run in parallel on one server.
pub async fn open_postgres() -> (Arc<dyn Store>, String) {
    let url = std::env::var("OBSCTL_TEST_POSTGRES_URL").expect(
        "OBSCTL_TEST_POSTGRES_URL is not set: run scripts/test, which starts a test Postgres, or point it at one",
    );
    let (store, schema) =
        obsctl_store::PostgresStore::open_in_new_schema(&url, "t").await.expect("connect to the test Postgres");
    (Arc::new(store), schema)
}

conformance_suite!(postgres, crate::conformance::open_postgres);

async fn observations_are_bounded_and_newest_first(s: Arc<dyn Store>) {
    for chunk in (0..60).collect::<Vec<i64>>().chunks(7) {
        let batch: Vec<_> = chunk.iter().map(|i| observation("api/health", *i, i % 2 == 0)).collect();
        s.record_observations(&batch, 20).await.unwrap();
    }
    let recent = s.recent_observations("api/health", 1000).await.unwrap();
    assert!(recent.len() >= 20 && recent.len() <= 22, "kept {}", recent.len());
    assert_eq!(recent[0], observation("api/health", 59, false));
    assert!(recent.windows(2).all(|w| w[0].at > w[1].at));
    assert_eq!(s.recent_observations("api/health", 3).await.unwrap().len(), 3);
}

async fn latest_observation_per_check(s: Arc<dyn Store>) {
    // b/y's last run could not look (its container engine was unreachable): kept as such.
    let unknown = Observation { unknown: true, ..observation("b/y", 4, false) };
    let batch =
        vec![observation("a/x", 1, true), observation("b/y", 2, false), observation("a/x", 3, false), unknown.clone()];
    s.record_observations(&batch, 100).await.unwrap();
    let latest = s.latest_observations().await.unwrap();
    assert_eq!(latest, vec![observation("a/x", 3, false), unknown]);
    let history = s.recent_observations("b/y", 10).await.unwrap();
    assert_eq!(history.iter().map(|o| (o.ok, o.unknown)).collect::<Vec<_>>(), [(false, true), (false, false)]);
}

async fn rollups_sum_runs_per_hour_and_day(s: Arc<dyn Store>) {
    use obsctl_core::rollup::{DAY_MS, HOUR_MS, Tally, bucket, span_start};
    let now = Timestamp::now();
    let h0 = span_start(now.minus(Duration::from_secs(7200)), HOUR_MS).millis();
    let old = now.minus(Duration::from_secs(40 * 86_400)).millis();
    let at = |at: i64, ok: bool, latency_us: u64| Observation { latency_us, ..observation("a/x", at, ok) };
    // Two batches: the second adds to the first's sums. The first write of a process prunes
    // hourly sums older than 35 days (the 40-day-old run keeps only its day).
    s.record_observations(&[at(old, true, 500), at(h0 + 1000, true, 1000)], 100).await.unwrap();
    let unknown = Observation { unknown: true, ..at(h0 + HOUR_MS + 5, false, 9) };
    s.record_observations(&[at(h0 + 2000, false, 3000), unknown, observation("b/y", h0, true)], 100).await.unwrap();

    let hours = s.check_tallies("a/x", HOUR_MS, Timestamp(0)).await.unwrap();
    let hours: Vec<(i64, Tally)> = hours.iter().map(|t| (t.start.millis(), t.tally)).collect();
    assert_eq!(
        hours,
        [
            (h0, Tally { runs: 2, passes: 1, unknowns: 0, latency_sum_us: 4000 }),
            (h0 + HOUR_MS, Tally { runs: 1, passes: 0, unknowns: 1, latency_sum_us: 0 }),
        ]
    );
    let days = s.check_tallies("a/x", DAY_MS, Timestamp(0)).await.unwrap();
    assert_eq!(days.first().map(|d| (d.start, d.tally.runs)), Some((span_start(Timestamp(old), DAY_MS), 1)));
    assert_eq!(days.iter().map(|d| d.tally.runs).sum::<u64>(), 4);

    let mut totals = s.tally_totals(HOUR_MS, Timestamp(h0)).await.unwrap();
    totals.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(totals.len(), 2);
    assert_eq!((totals[0].0.as_str(), totals[0].1.runs, totals[0].1.uptime()), ("a/x", 3, Some(50.0)));
    assert_eq!((totals[1].0.as_str(), totals[1].1.passes), ("b/y", 1));

    let latency = s.latency_hours("a/x", Timestamp(h0)).await.unwrap();
    assert_eq!(latency.len(), 1, "a run that could not look has no latency: {latency:?}");
    assert_eq!(latency[0].start, Timestamp(h0));
    assert_eq!(
        latency[0].histogram.iter().map(|(b, n)| (*b, *n)).collect::<Vec<_>>(),
        [(bucket(1000), 1), (bucket(3000), 1)]
    );
    assert!(s.check_tallies("ghost", HOUR_MS, Timestamp(0)).await.unwrap().is_empty());
    let all = s.all_tallies(HOUR_MS, Timestamp(h0)).await.unwrap();
    let all: Vec<(&str, i64, u64)> =
        all.iter().map(|t| (t.check_id.as_str(), t.start.millis(), t.tally.runs)).collect();
    assert_eq!(all, [("a/x", h0, 2), ("a/x", h0 + HOUR_MS, 1), ("b/y", h0, 1)]);
}

async fn check_status_round_trips(s: Arc<dyn Store>) {
    s.save_check_status("a/x", CheckStatus::Failing, Timestamp(5)).await.unwrap();
    s.save_check_status("a/x", CheckStatus::Flapping, Timestamp(6)).await.unwrap();
    assert_eq!(s.check_statuses().await.unwrap(), vec![("a/x".to_string(), CheckStatus::Flapping, Timestamp(6))]);
}

/// Issue 27, finding 11: a check whose URL changed kept the old uptime history under its name.
async fn a_check_whose_target_changed_starts_afresh_and_keeps_its_history(s: Arc<dyn Store>) {
    use obsctl_core::rollup::HOUR_MS;
    let t = Timestamp::now().millis();
    let targets = |url: &str| vec![("a/x".to_string(), format!("{{\"url\":\"{url}\"}}")), ("a/y".into(), "tcp".into())];
    // Knowing targets writes nothing to a store that has no runs: an empty store stays empty
    // (a restore takes only an empty one).
    let unrun = [("b/q".to_string(), "tcp".to_string())];
    assert!(s.retarget_checks(&unrun, Timestamp(t)).await.unwrap().is_empty());
    assert!(s.check_statuses().await.unwrap().is_empty());
    s.record_observations(&[observation("a/x", t, false), observation("a/y", t, true)], 100).await.unwrap();
    s.save_check_status("a/x", CheckStatus::Failing, Timestamp(t)).await.unwrap();
    // A store from before targets were kept, then the same target again: nothing moves.
    assert!(s.retarget_checks(&targets("http://old"), Timestamp(t + 1)).await.unwrap().is_empty());
    assert!(s.retarget_checks(&targets("http://old"), Timestamp(t + 2)).await.unwrap().is_empty());
    assert_eq!(s.recent_observations("a/x", 10).await.unwrap().len(), 1);
    let moved = s.retarget_checks(&targets("http://new"), Timestamp(t + 3)).await.unwrap();
    let aside = format!("a/x (until {})", Timestamp(t + 3).rfc3339_millis());
    assert_eq!(moved, std::slice::from_ref(&aside));
    assert!(s.recent_observations("a/x", 10).await.unwrap().is_empty(), "the new target starts afresh");
    assert!(s.check_tallies("a/x", HOUR_MS, Timestamp(0)).await.unwrap().is_empty());
    assert_eq!(s.recent_observations(&aside, 10).await.unwrap().len(), 1, "the old history is kept");
    assert_eq!(s.check_tallies(&aside, HOUR_MS, Timestamp(0)).await.unwrap().len(), 1);
    assert_eq!(s.recent_observations("a/y", 10).await.unwrap().len(), 1, "an unchanged check keeps its own");
    // New runs go to the new history, also through a key the store had cached.
    s.record_observations(&[observation("a/x", t + 4, true)], 100).await.unwrap();
    let now = s.recent_observations("a/x", 10).await.unwrap();
    assert_eq!((now.len(), now[0].ok), (1, true));
    // That first run wrote its target: the same target again moves nothing, another one does.
    assert!(s.retarget_checks(&targets("http://new"), Timestamp(t + 5)).await.unwrap().is_empty());
    assert_eq!(s.retarget_checks(&targets("http://newer"), Timestamp(t + 6)).await.unwrap().len(), 1);
    let statuses = s.check_statuses().await.unwrap();
    assert!(!statuses.iter().any(|(id, status, _)| id == "a/x" && *status == CheckStatus::Failing), "{statuses:?}");
}

async fn incidents_round_trip_and_filter(s: Arc<dyn Store>) {
    let mut a = incident("inc-a", "api", 10);
    s.insert_incident(&a).await.unwrap();
    s.insert_incident(&incident("inc-b", "db", 20)).await.unwrap();
    assert_eq!(s.incident("inc-a").await.unwrap(), a);
    a.status = IncidentStatus::Resolved;
    a.resolved_at = Some(Timestamp(30));
    a.updated_at = Timestamp(30);
    a.upstream_incident = Some("inc-b".into());
    a.resolution = Some("recovered".into());
    // A container that was down and turned out to crash-loop: the kind is narrowed in place.
    a.kind = "container-restarting".into();
    s.update_incident(&a, IncidentStatus::Open).await.unwrap();
    assert_eq!(s.incident("inc-a").await.unwrap(), a);
    // A writer that read it open (a bump racing a resolve by hand) cannot undo the resolve.
    let mut stale = a.clone();
    stale.status = IncidentStatus::Open;
    stale.occurrences += 1;
    let lost = s.update_incident(&stale, IncidentStatus::Open).await;
    assert!(matches!(lost, Err(StoreError::Conflict(_))), "{lost:?}");
    assert_eq!(s.incident("inc-a").await.unwrap(), a);
    let open =
        s.list_incidents(&IncidentFilter { status: Some(IncidentStatus::Open), ..Default::default() }).await.unwrap();
    assert_eq!(open.iter().map(|i| i.id.as_str()).collect::<Vec<_>>(), ["inc-b"]);
    let api = s.list_incidents(&IncidentFilter { service: Some("api".into()), ..Default::default() }).await.unwrap();
    assert_eq!(api.len(), 1);
    let latest = s.latest_incident_by_fingerprint(&a.fingerprint).await.unwrap();
    assert_eq!(latest.map(|i| i.id), Some("inc-a".to_string()));
    assert_eq!(s.latest_incident_by_fingerprint("none").await.unwrap(), None);
}

async fn an_incident_opens_only_while_none_of_its_fingerprint_is_open(s: Arc<dyn Store>) {
    let first = incident("inc-a", "api", 10);
    assert_eq!(s.open_incident(&first).await.unwrap(), None, "opened");
    // A second of the same fingerprint, at once or later, finds the first and writes nothing.
    let (second, third) = (incident("inc-b", "api", 11), incident("inc-c", "api", 12));
    let (x, y) = tokio::join!(s.open_incident(&second), s.open_incident(&third));
    assert_eq!((x.unwrap(), y.unwrap()), (Some(first.clone()), Some(first.clone())));
    assert!(matches!(s.incident("inc-b").await, Err(StoreError::NotFound(_))));
    // Another fingerprint opens beside it; once the first is resolved, the next one opens.
    assert_eq!(s.open_incident(&incident("inc-d", "db", 13)).await.unwrap(), None);
    let mut resolved = first.clone();
    resolved.status = IncidentStatus::Resolved;
    resolved.resolved_at = Some(Timestamp(20));
    s.update_incident(&resolved, IncidentStatus::Open).await.unwrap();
    assert_eq!(s.open_incident(&second).await.unwrap(), None);
    assert_eq!(s.incident("inc-b").await.unwrap(), second);
}

async fn events_keep_order(s: Arc<dyn Store>) {
    s.insert_incident(&incident("inc-a", "api", 10)).await.unwrap();
    for kind in ["opened", "plan", "action", "resolved"] {
        let entry = EntryKind::parse(kind);
        s.add_event("inc-a", entry, &format!("{kind} happened"), serde_json::json!({"k": kind})).await.unwrap();
    }
    let events = s.events("inc-a").await.unwrap();
    assert_eq!(events.iter().map(|e| e.kind.as_str()).collect::<Vec<_>>(), ["opened", "plan", "action", "resolved"]);
    assert_eq!(events[1].data["k"], "plan");
}

async fn idempotency_key_is_unique(s: Arc<dyn Store>) {
    let inc = incident("inc-a", "api", 10);
    s.insert_incident(&inc).await.unwrap();
    let a = action("act-1", &inc, "plan-1", ActionState::Approved);
    s.insert_action(&a).await.unwrap();
    let mut dup = action("act-2", &inc, "plan-1", ActionState::Approved);
    dup.idempotency_key = a.idempotency_key.clone();
    assert!(matches!(s.insert_action(&dup).await, Err(StoreError::Conflict(_))));
    assert_eq!(s.action("act-1").await.unwrap(), a);
}

async fn transition_is_compare_and_set(s: Arc<dyn Store>) {
    let inc = incident("inc-a", "api", 10);
    s.insert_incident(&inc).await.unwrap();
    s.insert_action(&action("act-1", &inc, "p", ActionState::PendingApproval)).await.unwrap();
    let a = s
        .transition_action("act-1", ActionState::PendingApproval, ActionState::Approved, "looks right", "alice")
        .await
        .unwrap();
    assert_eq!(
        (a.state, a.decided_by.as_deref(), a.reason.as_str()),
        (ActionState::Approved, Some("alice"), "looks right")
    );
    let again = s.transition_action("act-1", ActionState::PendingApproval, ActionState::Rejected, "no", "bob").await;
    assert!(matches!(again, Err(StoreError::Conflict(_))), "{again:?}");
    let pending = s
        .list_actions(&ActionFilter { states: vec![ActionState::PendingApproval], ..Default::default() })
        .await
        .unwrap();
    assert!(pending.is_empty());
    let approved = s
        .list_actions(&ActionFilter { states: vec![ActionState::Approved, ActionState::Running], ..Default::default() })
        .await
        .unwrap();
    assert_eq!(approved.len(), 1);
}

/// A plan of three steps (0, 1, 2) in `state`, plus a step of another plan.
async fn three_step_plan(s: &Arc<dyn Store>, state: ActionState) -> obsctl_core::incident::Incident {
    let inc = incident("inc-a", "api", 10);
    s.insert_incident(&inc).await.unwrap();
    for step in 0..3u32 {
        let mut a = action(&format!("act-{step}"), &inc, "plan-1", state);
        a.step = step;
        s.insert_action(&a).await.unwrap();
    }
    s.insert_action(&action("act-other", &inc, "plan-2", state)).await.unwrap();
    inc
}

async fn plan_moves_whole_or_not_at_all(s: Arc<dyn Store>) {
    three_step_plan(&s, ActionState::PendingApproval).await;
    let moved = s
        .transition_plan("plan-1", &[ActionState::PendingApproval], None, ActionState::Approved, "ok", "alice")
        .await
        .unwrap();
    let steps: Vec<(u32, ActionState)> = moved.iter().map(|a| (a.step, a.state)).collect();
    assert_eq!(steps, [(0, ActionState::Approved), (1, ActionState::Approved), (2, ActionState::Approved)]);
    assert_eq!(moved[0].decided_by.as_deref(), Some("alice"));
    // The other plan is untouched; a second move of the same plan finds nothing to move.
    assert_eq!(s.action("act-other").await.unwrap().state, ActionState::PendingApproval);
    let again = s
        .transition_plan("plan-1", &[ActionState::PendingApproval], None, ActionState::Rejected, "no", "bob")
        .await
        .unwrap();
    assert!(again.is_empty());
    // Cancelling what comes after step 0 leaves step 0 as it was.
    let cancelled = s
        .transition_plan(
            "plan-1",
            &[ActionState::Approved, ActionState::PendingApproval],
            Some(0),
            ActionState::Cancelled,
            "step 0 failed",
            "agent",
        )
        .await
        .unwrap();
    assert_eq!(cancelled.iter().map(|a| a.step).collect::<Vec<_>>(), [1, 2]);
    assert_eq!(s.action("act-0").await.unwrap().state, ActionState::Approved);
    assert_eq!(s.action("act-2").await.unwrap().state, ActionState::Cancelled);
}

async fn racing_plan_decisions_never_split_a_plan(s: Arc<dyn Store>) {
    for round in 0..10 {
        let inc = incident(&format!("inc-{round}"), "api", 10);
        s.insert_incident(&inc).await.unwrap();
        let plan = format!("plan-{round}");
        for step in 0..3u32 {
            let mut a = action(&format!("act-{round}-{step}"), &inc, &plan, ActionState::PendingApproval);
            a.step = step;
            s.insert_action(&a).await.unwrap();
        }
        let move_to = |to: ActionState| {
            let (s, plan) = (s.clone(), plan.clone());
            tokio::spawn(async move {
                s.transition_plan(&plan, &[ActionState::PendingApproval], None, to, "", "race").await
            })
        };
        let (a, b) = (move_to(ActionState::Approved), move_to(ActionState::Rejected));
        let (a, b) = (a.await.unwrap(), b.await.unwrap());
        // Exactly one side moves the plan (the other finds nothing pending, or on Postgres may be
        // chosen as a deadlock victim and roll back); never both, never half.
        let moved = a.as_ref().map_or(0, Vec::len) + b.as_ref().map_or(0, Vec::len);
        assert_eq!(moved, 3, "round {round}: {a:?} {b:?}");
        let mut states = std::collections::BTreeSet::new();
        for step in 0..3 {
            states.insert(s.action(&format!("act-{round}-{step}")).await.unwrap().state.as_str());
        }
        assert_eq!(states.len(), 1, "round {round}: a plan was split: {states:?}");
    }
}

async fn a_lease_has_one_holder_until_it_expires(s: Arc<dyn Store>) {
    const LIFE: Duration = Duration::from_secs(15);
    assert_eq!(s.lease("agent").await.unwrap(), None);
    assert!(s.try_lease("agent", "a", LIFE).await.unwrap());
    // Another holder is refused while it is live; the holder renews.
    assert!(!s.try_lease("agent", "b", LIFE).await.unwrap());
    assert!(s.try_lease("agent", "a", LIFE).await.unwrap());
    let lease = s.lease("agent").await.unwrap().unwrap();
    assert!(lease.holder == "a" && lease.live, "{lease:?}");
    // The store's clock judges: a lease that ends now is dead at once, whatever this process's
    // clock says; another takes it over, and the old holder cannot renew.
    assert!(s.try_lease("agent", "a", Duration::ZERO).await.unwrap());
    let taken = tokio::time::timeout(Duration::from_secs(5), async {
        while !s.try_lease("agent", "b", LIFE).await.unwrap() {
            tokio::task::yield_now().await;
        }
    });
    taken.await.expect("an ended lease is taken over within the store clock's next millisecond");
    assert!(!s.try_lease("agent", "a", LIFE).await.unwrap());
    let lease = s.lease("agent").await.unwrap().unwrap();
    assert!(lease.holder == "b" && lease.live, "{lease:?}");
    // Releasing is the holder's alone; then anyone may take it.
    s.release_lease("agent", "a").await.unwrap();
    assert_eq!(s.lease("agent").await.unwrap().map(|l| l.holder), Some("b".to_string()));
    s.release_lease("agent", "b").await.unwrap();
    assert!(s.try_lease("agent", "a", LIFE).await.unwrap());
    // Racing takers of a free lease: exactly one wins.
    s.release_lease("agent", "a").await.unwrap();
    let takers: Vec<_> = (0..8)
        .map(|i| {
            let s = s.clone();
            tokio::spawn(async move { s.try_lease("agent", &format!("r{i}"), LIFE).await.unwrap() })
        })
        .collect();
    let mut won = 0;
    for taker in takers {
        won += usize::from(taker.await.unwrap());
    }
    assert_eq!(won, 1);
}

async fn counts_budgets_and_cooldowns(s: Arc<dyn Store>) {
    let api = incident("inc-a", "api", 10);
    let db = incident("inc-b", "db", 10);
    s.insert_incident(&api).await.unwrap();
    s.insert_incident(&db).await.unwrap();
    s.insert_action(&action("a1", &api, "p1", ActionState::Succeeded)).await.unwrap();
    s.insert_action(&action("a2", &api, "p2", ActionState::Failed)).await.unwrap();
    s.insert_action(&action("a3", &api, "p3", ActionState::PendingApproval)).await.unwrap();
    s.insert_action(&action("a4", &db, "p4", ActionState::Running)).await.unwrap();
    // A step whose tool said it changed nothing spends no budget; a result that merely
    // mentions the words, or is no object, does.
    let noop = Action {
        result: Some(serde_json::json!({"count": 0, "changed_nothing": true})),
        ..action("a5", &api, "p5", ActionState::Succeeded)
    };
    s.insert_action(&noop).await.unwrap();
    let quoted = Action {
        result: Some(serde_json::json!({"out": {"changed_nothing": true}})),
        ..action("a6", &db, "p6", ActionState::Succeeded)
    };
    s.insert_action(&quoted).await.unwrap();
    let text =
        Action { result: Some(serde_json::json!("changed_nothing")), ..action("a7", &db, "p7", ActionState::Failed) };
    s.insert_action(&text).await.unwrap();
    let hour_ago = Timestamp::now().minus(std::time::Duration::from_secs(3600));
    assert_eq!(s.count_executed_since(Some("api"), hour_ago).await.unwrap(), 2);
    assert_eq!(s.count_executed_since(None, hour_ago).await.unwrap(), 5);
    assert_eq!(
        s.count_executed_since(None, Timestamp::now().plus(std::time::Duration::from_secs(60))).await.unwrap(),
        0
    );
    assert!(s.last_runbook_run("restart", "api").await.unwrap().is_some());
    assert_eq!(s.last_runbook_run("restart", "web").await.unwrap(), None);
}

async fn breaker_counts_failed_plans_back_to_the_last_fix(s: Arc<dyn Store>) {
    let inc = incident("inc-a", "api", 10);
    s.insert_incident(&inc).await.unwrap();
    let outcomes =
        [("p1", Outcome::NotFixed), ("p2", Outcome::Fixed), ("p3", Outcome::NotFixed), ("p4", Outcome::Partial)];
    for (i, (plan, outcome)) in outcomes.iter().enumerate() {
        for step in 0..2 {
            let mut a = action(&format!("a{i}-{step}"), &inc, plan, ActionState::Succeeded);
            a.outcome = Some(*outcome);
            a.updated_at = Timestamp(1000 + i as i64);
            s.insert_action(&a).await.unwrap();
        }
    }
    assert_eq!(s.consecutive_failed_fixes(&inc.fingerprint).await.unwrap(), 2);
    assert_eq!(s.consecutive_failed_fixes("other").await.unwrap(), 0);
}

async fn audit_is_newest_first(s: Arc<dyn Store>) {
    for i in 0..3 {
        let r = AuditRecord {
            id: 0,
            at: Timestamp(i),
            actor: "agent".into(),
            action: "gate".into(),
            subject: format!("act-{i}"),
            decision: "execute".into(),
            reason: "mode auto".into(),
            data: serde_json::json!({"i": i}),
        };
        s.append_audit(&r).await.unwrap();
    }
    let log = s.audit_log(2).await.unwrap();
    assert_eq!(log.iter().map(|r| r.subject.as_str()).collect::<Vec<_>>(), ["act-2", "act-1"]);
}

async fn silences_filter_by_time(s: Arc<dyn Store>) {
    let sil = silence("sil-1");
    s.insert_silence(&sil).await.unwrap();
    assert_eq!(s.silences(Some(Timestamp(150))).await.unwrap(), vec![sil.clone()]);
    assert!(s.silences(Some(Timestamp(200))).await.unwrap().is_empty());
    assert_eq!(s.silences(None).await.unwrap().len(), 1);
    s.delete_silence("sil-1").await.unwrap();
    assert!(matches!(s.delete_silence("sil-1").await, Err(StoreError::NotFound(_))));
}

async fn telemetry_reports_keep_each_services_latest(s: Arc<dyn Store>) {
    use obsctl_core::telemetry::{Finding, Report, Severity};
    let report = |service: &str, ok: bool, at: i64| {
        let port = Finding { code: "TEL003", severity: Severity::Error, variable: "P".into(), message: "m".into() };
        let findings = if ok { vec![] } else { vec![port] };
        Report { received_at: Some(Timestamp(at)), ..Report::new(service.into(), ".env".into(), &findings, None) }
    };
    assert!(s.telemetry_reports().await.unwrap().is_empty());
    s.save_telemetry_report(&report("web", false, 10)).await.unwrap();
    s.save_telemetry_report(&report("api", true, 20)).await.unwrap();
    s.save_telemetry_report(&report("web", true, 30)).await.unwrap();
    let kept = s.telemetry_reports().await.unwrap();
    assert_eq!(kept, vec![report("api", true, 20), report("web", true, 30)]);
    let unreceived = Report::new("x".into(), "e".into(), &[], None);
    assert!(s.save_telemetry_report(&unreceived).await.is_err(), "a report is kept once received");
}

async fn alerts_upsert_by_source_and_fingerprint(s: Arc<dyn Store>) {
    use obsctl_core::alert::{Alert, AlertDelivery, AlertRecord, AlertSource, AlertStatus};
    let record = |source: AlertSource, fp: &str, status: AlertStatus, seen: i64| AlertRecord {
        alert: Alert {
            source,
            fingerprint: fp.into(),
            status,
            labels: [("alertname".to_string(), "Down".to_string()), ("job".into(), "it's \"quoted\"".into())].into(),
            annotations: [("summary".to_string(), "api is down".to_string())].into(),
            starts_at: Some(Timestamp(10)),
            ends_at: None,
            source_url: Some("http://prometheus:9090/graph?g0.expr=up".into()),
        },
        service: "api".into(),
        kind: "Down".into(),
        incident_id: Some("inc-1".into()),
        first_seen: Timestamp(100),
        last_seen: Timestamp(seen),
        deliveries: 1,
    };
    let delivery = |truncated| AlertDelivery {
        source: AlertSource::Alertmanager,
        received_at: Timestamp(100),
        receiver: "obsctl".into(),
        group_key: "{}:{alertname=\"Down\"}".into(),
        alerts: 2,
        truncated,
    };
    let am = record(AlertSource::Alertmanager, "f1", AlertStatus::Firing, 100);
    let grafana = record(AlertSource::Grafana, "f1", AlertStatus::Firing, 101);
    // The first delivery opens inc-1 with it, in the same transaction.
    let opened = OpenedIncident {
        incident: incident("inc-1", "api", 100),
        events: vec![
            NewEvent {
                kind: EntryKind::Opened,
                message: "alertmanager alert Down is firing".into(),
                data: json!({"fingerprint": "f1"}),
            },
            NewEvent { kind: EntryKind::Alert, message: "summary: api is down".into(), data: json!({}) },
        ],
    };
    s.save_alerts(&delivery(0), &[am.clone(), grafana.clone()], std::slice::from_ref(&opened)).await.unwrap();
    assert_eq!(s.incident("inc-1").await.unwrap(), opened.incident);
    let events = s.events("inc-1").await.unwrap();
    let kinds: Vec<(&str, &str)> = events.iter().map(|e| (e.kind.as_str(), e.message.as_str())).collect();
    assert_eq!(kinds, [("opened", "alertmanager alert Down is firing"), ("alert", "summary: api is down")]);
    assert_eq!(events[0].data["fingerprint"], "f1");
    // A later incident of the same fingerprint is the latest; other fingerprints are not mixed in.
    s.insert_incident(&incident("inc-2", "api", 300)).await.unwrap();
    s.insert_incident(&incident("inc-3", "db", 50)).await.unwrap();
    let fps = [fingerprint("api", "health", "http-down"), fingerprint("db", "health", "http-down"), "none".into()];
    let mut latest: Vec<String> =
        s.latest_incidents_by_fingerprint(&fps).await.unwrap().into_iter().map(|i| i.id).collect();
    latest.sort();
    assert_eq!(latest, ["inc-2", "inc-3"]);
    // A delivery whose incident cannot be written leaves nothing behind, its alerts included.
    let clash = OpenedIncident { incident: incident("inc-1", "api", 400), events: vec![] };
    let other = record(AlertSource::Generic, "f9", AlertStatus::Firing, 150);
    assert!(s.save_alerts(&delivery(0), std::slice::from_ref(&other), &[clash]).await.is_err());
    assert!(s.alerts_by_fingerprint(AlertSource::Generic, &["f9".into()]).await.unwrap().is_empty());
    // One opening an incident whose fingerprint has an open one (another replica's, written since
    // the intake looked) is refused whole as a conflict, for the intake to apply it again.
    let late = OpenedIncident { incident: incident("inc-4", "db", 400), events: vec![] };
    let refused = s.save_alerts(&delivery(0), std::slice::from_ref(&other), &[late]).await;
    assert!(matches!(refused, Err(StoreError::Conflict(_))), "{refused:?}");
    assert!(matches!(s.incident("inc-4").await, Err(StoreError::NotFound(_))));
    assert!(s.alerts_by_fingerprint(AlertSource::Generic, &["f9".into()]).await.unwrap().is_empty());
    let mut resolved = record(AlertSource::Alertmanager, "f1", AlertStatus::Resolved, 200);
    resolved.deliveries = 2;
    resolved.alert.ends_at = Some(Timestamp(190));
    s.save_alerts(&delivery(3), std::slice::from_ref(&resolved), &[]).await.unwrap();

    let by_fp = s.alerts_by_fingerprint(AlertSource::Alertmanager, &["f1".into(), "nope".into()]).await.unwrap();
    assert_eq!(by_fp, vec![resolved.clone()], "one row per source and fingerprint, the last write wins");
    let all = s.list_alerts(&AlertFilter::default()).await.unwrap();
    assert_eq!(all, vec![resolved.clone(), grafana.clone()], "newest delivery first");
    let firing = AlertFilter { status: Some(AlertStatus::Firing), ..Default::default() };
    assert_eq!(s.list_alerts(&firing).await.unwrap(), vec![grafana]);
    let deliveries = s.alert_deliveries(10).await.unwrap();
    assert_eq!(deliveries, vec![delivery(3), delivery(0)], "every request is kept, truncated counts included");
}

async fn unknown_ids_are_not_found(s: Arc<dyn Store>) {
    assert!(matches!(s.incident("nope").await, Err(StoreError::NotFound(m)) if m == "incident nope"));
    assert!(matches!(s.action("nope").await, Err(StoreError::NotFound(_))));
    assert!(matches!(
        s.transition_action("nope", ActionState::PendingApproval, ActionState::Approved, "", "x").await,
        Err(StoreError::NotFound(_))
    ));
    let ghost = s.update_incident(&incident("ghost", "api", 1), IncidentStatus::Open).await;
    assert!(matches!(ghost, Err(StoreError::NotFound(_))));
}

/// Two processes opening a new file at once (a CLI beside a starting `serve`) both get a
/// migrated store: the migrations take turns.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_opened_twice_at_once_migrates_once() {
    let dir = tempfile::tempdir().unwrap();
    for round in 0..20 {
        let dir = dir.path().join(format!("round-{round}"));
        let url = format!("sqlite://{}", dir.join("new.db").display());
        let (a, b) = tokio::join!(obsctl_store::SqliteStore::open(&url), obsctl_store::SqliteStore::open(&url));
        let (a, b) = (a.unwrap(), b.unwrap());
        a.insert_incident(&incident("inc-1", "api", 1)).await.unwrap();
        assert_eq!(b.incident("inc-1").await.unwrap().id, "inc-1");
        a.close().await;
        b.close().await;
    }
}

#[tokio::test]
async fn sqlite_data_survives_reopen_and_creates_folders() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("nested/obsctl.db").display());
    {
        let s = obsctl_store::SqliteStore::open(&url).await.unwrap();
        s.insert_incident(&incident("inc-a", "api", 10)).await.unwrap();
        s.close().await;
    }
    let s = obsctl_store::SqliteStore::open(&url).await.unwrap();
    assert_eq!(s.incident("inc-a").await.unwrap().service, "api");
}

async fn remember_is_idempotent_and_feeds_the_ledger(s: Arc<dyn Store>) {
    let first = episode("ep-1", "http-down@api", "process.restart", Outcome::Fixed, 1000);
    assert!(s.remember(&first).await.unwrap());
    assert!(!s.remember(&first).await.unwrap(), "a second remember must change nothing");
    assert!(s.remember(&episode("ep-2", "http-down@api", "process.restart", Outcome::NotFixed, 2000)).await.unwrap());
    assert!(s.remember(&episode("ep-3", "http-down@api", "process.restart", Outcome::Fixed, 3000)).await.unwrap());
    assert_eq!(s.episode("ep-1").await.unwrap(), first);
    let ledger = s.ledger(Some("http-down@api")).await.unwrap();
    assert_eq!(ledger.len(), 1);
    let e = &ledger[0];
    assert_eq!((e.attempts, e.successes, e.failures), (3, 2, 1));
    assert_eq!((e.median_ttr_ms, e.last_used), (Some(10_000), Timestamp(3000)));
    assert_eq!(e.episodes, ["ep-3", "ep-2", "ep-1"]);
    assert_eq!(e.steps[0].tool, "process.restart");
    assert!(s.ledger(Some("disk-full@api")).await.unwrap().is_empty());
    assert!(matches!(s.episode("nope").await, Err(StoreError::NotFound(_))));
}

async fn ledger_ranks_by_success_rate(s: Arc<dyn Store>) {
    s.remember(&episode("ep-a1", "http-down@api", "http.request", Outcome::NotFixed, 10)).await.unwrap();
    s.remember(&episode("ep-a2", "http-down@api", "process.restart", Outcome::Fixed, 20)).await.unwrap();
    s.remember(&episode("ep-b1", "disk-full@db", "fs.cleanup", Outcome::Fixed, 30)).await.unwrap();
    let all = s.ledger(None).await.unwrap();
    assert_eq!(all.len(), 3);
    assert_eq!(all.last().unwrap().steps[0].tool, "http.request");
    let api: Vec<String> =
        s.ledger(Some("http-down@api")).await.unwrap().into_iter().map(|e| e.steps[0].tool.clone()).collect();
    assert_eq!(api, ["process.restart", "http.request"]);
}

async fn episodes_page_in_id_order(s: Arc<dyn Store>) {
    for i in [3, 1, 2, 5, 4] {
        s.remember(&episode(&format!("ep-{i}"), "http-down@api", "process.restart", Outcome::Fixed, i)).await.unwrap();
    }
    let first = s.episodes_after(None, 2).await.unwrap();
    assert_eq!(first.iter().map(|e| e.id.as_str()).collect::<Vec<_>>(), ["ep-1", "ep-2"]);
    let rest = s.episodes_after(Some("ep-2"), 10).await.unwrap();
    assert_eq!(rest.iter().map(|e| e.id.as_str()).collect::<Vec<_>>(), ["ep-3", "ep-4", "ep-5"]);
}

async fn an_upserted_episode_replaces_and_the_ledger_follows(s: Arc<dyn Store>) {
    let first = episode("ep-1", "http-down@api", "process.restart", Outcome::Fixed, 1000);
    assert_eq!(s.upsert_episode(&first, "test").await.unwrap(), Upserted::Added);
    assert_eq!(
        s.upsert_episode(&first, "test").await.unwrap(),
        Upserted::Unchanged,
        "the same content changes nothing"
    );
    s.remember(&episode("ep-2", "http-down@api", "process.restart", Outcome::Fixed, 2000)).await.unwrap();
    // The same id with other content (the fix failed after all, and it is a db incident now).
    let mut edited = episode("ep-1", "http-down@db", "process.restart", Outcome::NotFixed, 1000);
    edited.content_hash = "1".into();
    edited.text = "db refused connections".into();
    assert_eq!(s.upsert_episode(&edited, "test").await.unwrap(), Upserted::Replaced);
    assert_eq!(s.episode("ep-1").await.unwrap(), edited);
    assert_eq!(s.episode_count().await.unwrap(), 2);
    let api = s.ledger(Some("http-down@api")).await.unwrap();
    assert_eq!((api[0].attempts, api[0].successes, api[0].episodes.clone()), (1, 1, vec!["ep-2".to_string()]));
    let db = s.ledger(Some("http-down@db")).await.unwrap();
    assert_eq!((db[0].attempts, db[0].failures), (1, 1));
    // `remember` never replaces: an agent remembering an opening twice is a no-op.
    assert!(!s.remember(&first).await.unwrap());
    assert_eq!(s.episode("ep-1").await.unwrap().text, "db refused connections");
}

async fn episodes_follow_in_stored_order(s: Arc<dyn Store>) {
    for i in [3, 1, 2] {
        s.remember(&episode(&format!("ep-{i}"), "http-down@api", "process.restart", Outcome::Fixed, i)).await.unwrap();
    }
    let all = s.episodes_stored_after((Timestamp(0), ""), 10).await.unwrap();
    assert_eq!(all.len(), 3);
    assert!(all.windows(2).all(|w| (w[0].stored_at, &w[0].episode.id) < (w[1].stored_at, &w[1].episode.id)));
    let last = all.last().unwrap();
    assert!(s.episodes_stored_after((last.stored_at, &last.episode.id), 10).await.unwrap().is_empty());
    // A replaced episode comes after every other: followers see the new content.
    let mut edited = episode("ep-1", "http-down@api", "process.restart", Outcome::Fixed, 1);
    edited.content_hash = "2".into();
    s.upsert_episode(&edited, "test").await.unwrap();
    let after = s.episodes_stored_after((last.stored_at, &last.episode.id), 10).await.unwrap();
    assert_eq!(after.iter().map(|e| e.episode.id.as_str()).collect::<Vec<_>>(), ["ep-1"]);
    assert_eq!(after[0].episode.origin, "test");
}

async fn episodes_from_elsewhere_count_apart_and_sync_state_round_trips(s: Arc<dyn Store>) {
    use obsctl_core::memory::sync::{Cursor, SyncState};
    s.upsert_episode(&episode("ep-1", "http-down@api", "process.restart", Outcome::Fixed, 10), "test").await.unwrap();
    let mut remote = episode("ep-2", "http-down@api", "process.restart", Outcome::Fixed, 20);
    remote.origin = "edge-b".into();
    s.upsert_episode(&remote, "test").await.unwrap();
    let mut failed = episode("ep-3", "http-down@api", "process.restart", Outcome::NotFixed, 30);
    failed.origin = "edge-b".into();
    s.upsert_episode(&failed, "test").await.unwrap();
    let e = &s.ledger(Some("http-down@api")).await.unwrap()[0];
    assert_eq!((e.attempts, e.successes, e.remote_attempts, e.remote_successes), (3, 2, 2, 1));
    // Replacing refolds with the same rule.
    failed.content_hash = "changed".into();
    s.upsert_episode(&failed, "test").await.unwrap();
    let e = &s.ledger(Some("http-down@api")).await.unwrap()[0];
    assert_eq!((e.attempts, e.remote_attempts, e.remote_successes), (3, 2, 1));

    assert_eq!(s.episodes_backlog((Timestamp(0), ""), "test").await.unwrap(), 1);
    assert_eq!(s.episodes_backlog((Timestamp(0), ""), "edge-b").await.unwrap(), 2);
    let first = s.episodes_stored_after((Timestamp(0), ""), 1).await.unwrap().remove(0);
    assert_eq!(s.episodes_backlog((first.stored_at, &first.episode.id), "test").await.unwrap(), 0);
    // What this deployment did not verify counts apart whatever origin it claims: a postmortem
    // naming this instance as its origin is still an import (issue 26, finding 4).
    let mut planted = episode("ep-4", "http-down@api", "process.restart", Outcome::Fixed, 40);
    planted.source = "postmortem:fixed.md".into();
    s.upsert_episode(&planted, "test").await.unwrap();
    let e = &s.ledger(Some("http-down@api")).await.unwrap()[0];
    assert_eq!((e.attempts, e.successes, e.remote_attempts, e.remote_successes), (4, 3, 3, 2));

    assert_eq!(s.sync_state("http://central").await.unwrap(), None);
    let state = SyncState {
        peer: "http://central".into(),
        pushed_to: Cursor { stored_at: 5, id: "ep-1".into() },
        pulled_to: Cursor { stored_at: 7, id: "ep-9".into() },
        pushed: 1,
        pulled: 2,
        last_attempt: Some(Timestamp(100)),
        last_success: None,
        last_error: Some("central answered 502".into()),
    };
    s.save_sync_state(&state).await.unwrap();
    assert_eq!(s.sync_state("http://central").await.unwrap(), Some(state.clone()));
    let healed = SyncState { last_success: Some(Timestamp(200)), last_error: None, ..state };
    s.save_sync_state(&healed).await.unwrap();
    assert_eq!(s.sync_state("http://central").await.unwrap(), Some(healed));
}

async fn replicas_heartbeat_on_the_store_clock_and_leave(s: Arc<dyn Store>) {
    use obsctl_core::cluster::Replica;
    // r-a's clock runs two minutes ahead; r-b's is right.
    let me = |id: &str| Replica {
        id: id.into(),
        host: "h".into(),
        pid: 7,
        listen: "127.0.0.1:5555".into(),
        started_at: Timestamp(1),
        heartbeat_at: if id == "r-a" {
            Timestamp::now().plus(std::time::Duration::from_secs(120))
        } else {
            Timestamp::now()
        },
        checks: 3,
        clock_offset_ms: 0,
        active_from: Timestamp(0),
    };
    let (lease, grace) = (std::time::Duration::from_secs(10), std::time::Duration::from_secs(2));
    let joined = s.heartbeat(&me("r-b"), lease, grace).await.unwrap();
    assert_eq!(joined.len(), 1);
    // Active a grace after joining by the store's clock, whatever its own says; renewing keeps that.
    let (_, now) = s.replicas().await.unwrap();
    let from = joined[0].active_from.millis() - now.millis();
    assert!((1_000..=2_000).contains(&from), "active {from} ms from now");
    let long = std::time::Duration::from_secs(30);
    let renewed = s.heartbeat(&me("r-b"), lease, long).await.unwrap();
    assert_eq!(renewed[0].active_from, joined[0].active_from);
    let live = s.heartbeat(&me("r-a"), lease, grace).await.unwrap();
    assert_eq!(live.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(), ["r-a", "r-b"]);
    let (all, now) = s.replicas().await.unwrap();
    assert!(
        all.iter().all(|r| (now.millis() - r.heartbeat_at.millis()).abs() < 5_000),
        "the store's clock: {all:?} {now:?}"
    );
    assert_eq!(all[0].checks, 3);
    // Each one's clock as the store sees it, whatever it claims: the heartbeat is stamped by the store.
    assert!((all[0].clock_offset_ms - 120_000).abs() < 5_000, "{all:?}");
    assert!(all[1].clock_offset_ms.abs() < 5_000, "{all:?}");
    // A replica silent longer than the lease is not live.
    assert!(s.heartbeat(&me("r-a"), std::time::Duration::ZERO, grace).await.unwrap().is_empty());
    // One back after its heartbeat lapsed starts a new grace.
    let back = s.heartbeat(&me("r-b"), std::time::Duration::ZERO, long).await.unwrap();
    assert!(back.is_empty());
    let (all, now) = s.replicas().await.unwrap();
    assert!(all[1].active_from.millis() - now.millis() > 25_000, "{all:?}");
    s.leave("r-b").await.unwrap();
    assert_eq!(s.heartbeat(&me("r-a"), lease, grace).await.unwrap().len(), 1);
}

fn edges(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect()
}

async fn graph_follows_dependencies_both_ways(s: Arc<dyn Store>) {
    // web → api → db, worker → db; a stale edge is replaced.
    s.set_dependencies(&edges(&[("web", "old")])).await.unwrap();
    s.set_dependencies(&edges(&[("web", "api"), ("api", "db"), ("worker", "db")])).await.unwrap();
    let reached =
        |v: &[(&str, u32)]| v.iter().map(|(s, d)| Reached { service: s.to_string(), depth: *d }).collect::<Vec<_>>();
    assert_eq!(s.blast_radius("db").await.unwrap(), reached(&[("api", 1), ("worker", 1), ("web", 2)]));
    assert_eq!(s.blast_radius("web").await.unwrap(), vec![]);
    assert_eq!(s.blast_radius("old").await.unwrap(), vec![]);

    for (id, service) in [("inc-web", "web"), ("inc-api", "api"), ("inc-db", "db")] {
        s.insert_incident(&incident(id, service, 10)).await.unwrap();
    }
    let mut resolved = incident("inc-db-old", "db", 5);
    resolved.status = IncidentStatus::Resolved;
    s.insert_incident(&resolved).await.unwrap();
    let up = s.upstream_failures("inc-web").await.unwrap();
    let want = |svc: &str, depth, id: &str| UpstreamFailure {
        service: svc.into(),
        depth,
        incident_id: id.into(),
        kind: "http-down".into(),
    };
    assert_eq!(up, vec![want("api", 1, "inc-api"), want("db", 2, "inc-db")]);
    assert_eq!(s.upstream_failures("inc-db").await.unwrap(), vec![]);

    // A cycle does not loop forever.
    s.set_dependencies(&edges(&[("web", "api"), ("api", "db"), ("db", "web")])).await.unwrap();
    let around = s.blast_radius("db").await.unwrap();
    assert_eq!(
        around.iter().map(|r| (r.service.as_str(), r.depth)).collect::<Vec<_>>(),
        [("api", 1), ("web", 2), ("db", 3)]
    );
}

async fn graph_fix_history_is_newest_first(s: Arc<dyn Store>) {
    let api = incident("inc-a", "api", 10);
    s.insert_incident(&api).await.unwrap();
    s.insert_incident(&incident("inc-b", "db", 10)).await.unwrap();
    let mut first = action("a1", &api, "p1", ActionState::Succeeded);
    first.outcome = Some(Outcome::NotFixed);
    s.insert_action(&first).await.unwrap();
    let mut second = action("a2", &api, "p2", ActionState::Succeeded);
    second.created_at = second.created_at.plus(std::time::Duration::from_millis(5));
    second.outcome = Some(Outcome::Fixed);
    s.insert_action(&second).await.unwrap();
    let mut notice = action("a3", &api, "p3", ActionState::Succeeded);
    notice.planner = "escalation".into();
    s.insert_action(&notice).await.unwrap();
    let history = s.fix_history("api", 10).await.unwrap();
    assert_eq!(
        history.iter().map(|f| (f.action_id.as_str(), f.outcome)).collect::<Vec<_>>(),
        [("a2", Some(Outcome::Fixed)), ("a1", Some(Outcome::NotFixed))]
    );
    assert_eq!((history[0].kind.as_str(), history[0].tool.as_str()), ("http-down", "process.restart"));
    assert!(s.fix_history("db", 10).await.unwrap().is_empty());
}

/// The change feed pages by `(updated_at, id)`: every incident and action once, in the order
/// they last changed, and a changed one again after the others.
async fn the_change_feed_gives_every_change_once_in_order(s: Arc<dyn Store>) {
    let mut first = incident("inc-1", "api", 10);
    s.insert_incident(&first).await.unwrap();
    s.insert_incident(&incident("inc-3", "db", 20)).await.unwrap();
    s.insert_incident(&incident("inc-2", "web", 20)).await.unwrap();
    let ids = |page: Vec<obsctl_core::incident::Incident>| page.into_iter().map(|i| i.id).collect::<Vec<_>>();
    let page = s.incidents_changed((Timestamp(0), ""), 2).await.unwrap();
    assert_eq!(ids(page), ["inc-1", "inc-2"]);
    let page = s.incidents_changed((Timestamp(20), "inc-2"), 2).await.unwrap();
    assert_eq!(ids(page), ["inc-3"]);
    first.updated_at = Timestamp(30);
    first.occurrences = 2;
    s.update_incident(&first, IncidentStatus::Open).await.unwrap();
    let page = s.incidents_changed((Timestamp(20), "inc-3"), 10).await.unwrap();
    assert_eq!(ids(page), ["inc-1"]);
    assert!(s.incidents_changed((Timestamp(30), "inc-1"), 10).await.unwrap().is_empty());

    // Older than any change made now: a transition (stamped now) comes after both.
    let mut b = action("act-b", &first, "plan-b", ActionState::PendingApproval);
    b.updated_at = Timestamp(100);
    let mut a = action("act-a", &first, "plan-a", ActionState::PendingApproval);
    a.updated_at = Timestamp(200);
    s.insert_action(&a).await.unwrap();
    s.insert_action(&b).await.unwrap();
    let all = s.actions_changed((Timestamp(0), ""), 10).await.unwrap();
    assert_eq!(all.iter().map(|x| x.id.as_str()).collect::<Vec<_>>(), ["act-b", "act-a"]);
    let last = all.last().unwrap();
    let moved = s
        .transition_action("act-a", ActionState::PendingApproval, ActionState::Rejected, "no", "tester")
        .await
        .unwrap();
    let after = s.actions_changed((last.updated_at, &last.id), 10).await.unwrap();
    assert_eq!(after.iter().map(|x| x.id.as_str()).collect::<Vec<_>>(), ["act-a"]);
    assert_eq!(after[0].state, moved.state);
}

/// SQLite serves one replica: telling is accepted, and there is nothing to hear.
#[tokio::test]
async fn sqlite_replicas_have_no_one_to_tell() {
    let (s, _dir) = open_sqlite().await;
    s.notify_replicas(r#"{"changed":"incident"}"#).await.unwrap();
    assert!(s.replica_notices().await.unwrap().is_none());
}

/// Two replicas on one Postgres schema: what one tells, the other hears.
#[tokio::test]
async fn postgres_replicas_hear_what_others_tell() {
    let (teller, schema) = open_postgres().await;
    let url = std::env::var("OBSCTL_TEST_POSTGRES_URL").unwrap();
    let options = <sqlx::postgres::PgConnectOptions as std::str::FromStr>::from_str(&url)
        .unwrap()
        .options([("search_path", schema.as_str())]);
    let listener = obsctl_store::PostgresStore::connect(options).await.unwrap();
    let mut heard = listener.replica_notices().await.unwrap().expect("Postgres replicas hear each other");
    // The channel is the server's: other tests' notices may come too, so look for this one.
    let payload = format!(r#"{{"changed":"incident","schema":"{schema}"}}"#);
    teller.notify_replicas(&payload).await.unwrap();
    let found = tokio::time::timeout(Duration::from_secs(10), async {
        while let Some(notice) = heard.recv().await {
            if notice == payload {
                return true;
            }
        }
        false
    })
    .await;
    assert_eq!(found, Ok(true), "the other replica did not hear {payload}");
}
