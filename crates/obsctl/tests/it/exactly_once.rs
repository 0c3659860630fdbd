//! Exactly-once execution (hardening findings 3, 5, 6, 7): a failed step cancels the rest of
//! its plan, a step is claimed before it runs, a plan is approved whole, and an approval is
//! re-gated against the incident and the policy in force when it finally runs.

use obsctl_core::action::{Action, ActionState};
use obsctl_store::{ActionFilter, Store};

use crate::support::{API_WITH_FIX, Harness, Target, harness, head, head_with_store};

/// A failing `api` whose runbook is two steps in `approve` mode: `first`, then POST /fix.
async fn two_step_plan(first: &str, extra: &str) -> (Target, Harness, Vec<Action>) {
    let target = Target::start(false).await;
    let runbook = API_WITH_FIX
        .replace(r#"steps = [{ tool = "http.request","#, &format!(r#"steps = [{first}, {{ tool = "http.request","#));
    let body = format!("{}{extra}\n[commands]\nallow = [\"false\", \"true\"]\n{runbook}", head("approve"));
    let h = harness(&body, &target.url, &[("ENABLE_UNIX_TOOLS", "true")]).await;
    assert!(!h.run("api/health").await);
    let report = h.rt.agent.handle_incident(&h.incident().await.id).await.unwrap();
    let states: Vec<ActionState> = report.actions.iter().map(|a| a.state).collect();
    assert_eq!(states, [ActionState::PendingApproval, ActionState::PendingApproval], "{report:#?}");
    (target, h, report.actions)
}

async fn states(store: &dyn Store, actions: &[Action]) -> Vec<ActionState> {
    let mut out = Vec::new();
    for a in actions {
        out.push(store.action(&a.id).await.unwrap().state);
    }
    out
}

const FAILS: &str = r#"{ tool = "command.run", args = { command = ["false"] } }"#;
const PASSES: &str = r#"{ tool = "command.run", args = { command = ["true"] } }"#;

#[tokio::test]
async fn a_failed_step_cancels_the_rest_of_its_plan() {
    let (target, h, actions) = two_step_plan(FAILS, "").await;
    h.rt.agent.approve(&actions[0].id, "alice", "").await.unwrap();
    // The first sweep runs step 0, which fails; later sweeps must not run step 1.
    for _ in 0..3 {
        h.rt.agent.run_approved().await.unwrap();
    }
    assert_eq!(target.fixes(), 0, "the step after a failed one ran");
    assert_eq!(states(h.rt.store.as_ref(), &actions).await, [ActionState::Failed, ActionState::Cancelled]);
    let step1 = h.rt.store.action(&actions[1].id).await.unwrap();
    assert!(step1.reason.contains("step 0 (command.run) failed"), "{}", step1.reason);
    assert!(h.event_kinds(&actions[0].incident_id).await.contains(&"cancelled".to_string()));
}

#[tokio::test]
async fn a_step_interrupted_by_a_crash_cancels_the_rest_of_its_plan() {
    let (target, h, actions) = two_step_plan(PASSES, "").await;
    h.rt.agent.approve(&actions[0].id, "alice", "").await.unwrap();
    // As a crash leaves it: step 0 claimed (running), step 1 still approved.
    h.rt.store
        .transition_action(&actions[0].id, ActionState::Approved, ActionState::Running, "", "agent")
        .await
        .unwrap();
    h.rt.agent.recover().await.unwrap();
    h.rt.agent.run_approved().await.unwrap();
    assert_eq!(target.fixes(), 0, "a step after an interrupted one ran");
    assert_eq!(states(h.rt.store.as_ref(), &actions).await, [ActionState::Failed, ActionState::Cancelled]);
}

#[tokio::test]
async fn racing_executors_run_each_step_once() {
    let (target, h, actions) = two_step_plan(PASSES, "").await;
    h.rt.agent.approve(&actions[0].id, "alice", "").await.unwrap();
    // Two agents on one store (as `serve` and `actions approve --now` were): each sweeps at once.
    let other = harness(
        &format!(
            "{}\n[commands]\nallow = [\"false\", \"true\"]\n{}",
            head_with_store("approve", &format!("sqlite://{}/obsctl.db", h.dir.path().display())),
            API_WITH_FIX.replace(
                r#"steps = [{ tool = "http.request","#,
                &format!(r#"steps = [{PASSES}, {{ tool = "http.request","#)
            )
        ),
        &target.url,
        &[("ENABLE_UNIX_TOOLS", "true")],
    )
    .await;
    let (a, b) = tokio::join!(h.rt.agent.run_approved(), other.rt.agent.run_approved());
    a.unwrap();
    b.unwrap();
    assert_eq!(target.fixes(), 1, "a step ran twice");
    assert_eq!(states(h.rt.store.as_ref(), &actions).await, [ActionState::Succeeded, ActionState::Succeeded]);
}

#[tokio::test]
async fn approve_racing_reject_moves_the_whole_plan_one_way() {
    for _ in 0..5 {
        let (_target, h, actions) = two_step_plan(PASSES, "").await;
        let agent = h.rt.agent.clone();
        let (approve, reject) =
            tokio::join!(agent.approve(&actions[0].id, "alice", ""), agent.reject(&actions[1].id, "bob", "no"));
        assert!(approve.is_ok() != reject.is_ok(), "exactly one control wins: {approve:?} {reject:?}");
        let s = states(h.rt.store.as_ref(), &actions).await;
        assert_eq!(s[0], s[1], "the plan was split: {s:?}");
    }
}

#[tokio::test]
async fn an_approval_after_the_incident_recovered_runs_nothing() {
    let (target, h, actions) = two_step_plan(PASSES, "").await;
    target.set_healthy(true);
    assert!(h.run("api/health").await);
    assert!(h.open_incidents().await.is_empty());
    let approve = h.rt.agent.approve(&actions[0].id, "alice", "").await;
    assert!(matches!(&approve, Err(obsctl_store::StoreError::Conflict(m)) if m.contains("resolved")), "{approve:?}");
    h.rt.agent.run_approved().await.unwrap();
    assert_eq!(target.fixes(), 0);
    assert_eq!(states(h.rt.store.as_ref(), &actions).await, [ActionState::Cancelled, ActionState::Cancelled]);
}

#[tokio::test]
async fn an_approved_plan_is_regated_before_it_runs() {
    let (target, h, actions) = two_step_plan(PASSES, "").await;
    h.rt.agent.approve(&actions[0].id, "alice", "").await.unwrap();
    // Between approval and execution someone silences the service: nothing may run.
    h.rt.agent
        .silence(Some("api".into()), None, None, std::time::Duration::from_secs(600), "release", "bob")
        .await
        .unwrap();
    h.rt.agent.run_approved().await.unwrap();
    assert_eq!(target.fixes(), 0);
    assert_eq!(states(h.rt.store.as_ref(), &actions).await, [ActionState::Cancelled, ActionState::Cancelled]);
    let cancelled = h.rt.store.action(&actions[0].id).await.unwrap();
    assert!(cancelled.reason.contains("silenced"), "{}", cancelled.reason);
    let audit = h.rt.store.audit_log(20).await.unwrap();
    assert!(audit.iter().any(|r| r.action == "cancel" && r.reason.contains("re-gated")), "{audit:#?}");
}

#[tokio::test]
async fn resolving_by_hand_withdraws_an_approved_plan_that_has_not_run() {
    let (target, h, actions) = two_step_plan(PASSES, "").await;
    h.rt.agent.approve(&actions[0].id, "alice", "").await.unwrap();
    h.rt.agent.resolve_by_hand(&actions[0].incident_id, "bob", "rolled back").await.unwrap();
    h.rt.agent.run_approved().await.unwrap();
    assert_eq!(target.fixes(), 0);
    assert_eq!(states(h.rt.store.as_ref(), &actions).await, [ActionState::Rejected, ActionState::Rejected]);
    let left =
        h.rt.store
            .list_actions(&ActionFilter { states: vec![ActionState::Approved], ..Default::default() })
            .await
            .unwrap();
    assert!(left.is_empty());
}

#[tokio::test]
async fn an_incident_that_ended_while_no_agent_listened_is_withdrawn_and_remembered_on_recovery() {
    let (target, h, actions) = two_step_plan(PASSES, "").await;
    // The service recovers while nothing listens to the bus (as when serve was killed between
    // the resolve and the remember): the plan still waits and no episode exists.
    target.set_healthy(true);
    assert!(h.run("api/health").await);
    let incident_id = &actions[0].incident_id;
    let episode = format!("ep-{incident_id}-r0");
    assert!(h.rt.store.episode(&episode).await.is_err());
    assert_eq!(states(h.rt.store.as_ref(), &actions).await, [ActionState::PendingApproval; 2]);
    // Taking over (recover) catches up: the plan is withdrawn and the opening remembered.
    h.rt.agent.recover().await.unwrap();
    assert_eq!(states(h.rt.store.as_ref(), &actions).await, [ActionState::Cancelled, ActionState::Cancelled]);
    assert!(h.rt.store.episode(&episode).await.is_ok());
    assert_eq!(target.fixes(), 0);
}

#[tokio::test]
async fn steps_run_before_a_restart_are_verified_with_the_rest_of_their_plan() {
    let (target, h, actions) = two_step_plan(PASSES, "").await;
    h.rt.agent.approve(&actions[0].id, "alice", "").await.unwrap();
    // As a crash leaves it: step 0 ran and succeeded, step 1 still approved, no outcome yet.
    let claimed =
        h.rt.store.transition_action(&actions[0].id, ActionState::Approved, ActionState::Running, "", "agent");
    let mut step0 = claimed.await.unwrap();
    step0.state = ActionState::Succeeded;
    h.rt.store.update_action(&step0).await.unwrap();
    h.rt.agent.run_approved().await.unwrap();
    assert_eq!(target.fixes(), 1);
    let done: Vec<_> = {
        let mut v = Vec::new();
        for a in &actions {
            v.push(h.rt.store.action(&a.id).await.unwrap().outcome);
        }
        v
    };
    assert_eq!(done, [Some(obsctl_core::action::Outcome::Fixed); 2], "every executed step gets the verified outcome");
    assert!(h.rt.store.episode(&format!("ep-{}-r0", actions[0].incident_id)).await.is_ok());
}

/// Issue 13: a holder of the agent lease paused past it (SIGSTOP, a frozen VM) knows on waking,
/// by its own monotonic clock and before any store round trip, that it no longer holds it: it
/// claims and runs nothing while another holds it, and acts again only once it has taken the
/// lease back.
#[tokio::test]
async fn a_holder_paused_past_its_lease_runs_nothing_on_waking() {
    use std::sync::Arc;
    use std::time::Duration;

    use obsctl_agent::Leadership;

    let target = Target::start(false).await;
    let h = harness(&format!("{}{API_WITH_FIX}", head("approve")), &target.url, &[]).await;
    assert!(!h.run("api/health").await);
    let report = h.rt.agent.handle_incident(&h.incident().await.id).await.unwrap();
    let fix = report.actions[0].clone();
    let life = Duration::from_millis(1500);
    let a = Arc::new(Leadership::new(h.rt.store.clone(), life));
    assert!(a.tick().await && a.held());
    h.rt.agent.lead_with(a.clone());
    h.rt.agent.approve(&fix.id, "alice", "").await.unwrap();

    // The pause: nothing renews the lease for longer than its life; another process takes it.
    // (A hair longer than the life: the store's clock counts whole milliseconds, SQLite's through
    // a fractional day, and an expiry is strictly before now; exactly `life` failed once in CI.)
    tokio::time::sleep(life + Duration::from_millis(50)).await;
    let b = Leadership::new(h.rt.store.clone(), Duration::from_secs(15));
    assert!(b.tick().await, "the store's clock says the paused holder's lease ended");

    // On waking, before renewing, it already knows.
    assert!(!a.held() && a.term().is_none());
    h.rt.agent.run_approved().await.unwrap();
    assert_eq!(target.fixes(), 0, "a replica that lost the lease ran a tool");
    assert_eq!(h.rt.store.action(&fix.id).await.unwrap().state, ActionState::Approved, "it claimed the step");
    assert!(!a.tick().await, "the new holder keeps the lease");
    h.rt.agent.run_approved().await.unwrap();
    assert_eq!(target.fixes(), 0);

    // Once the other holder is gone and it takes the lease back (a new term), it acts, once.
    obsctl_store::Cluster::release_lease(h.rt.store.as_ref(), obsctl_agent::leadership::AGENT_LEASE, b.holder())
        .await
        .unwrap();
    let first = a.term();
    assert!(a.tick().await);
    assert!(a.term() > first);
    h.rt.agent.run_approved().await.unwrap();
    h.rt.agent.run_approved().await.unwrap();
    assert_eq!(target.fixes(), 1);
    assert_eq!(h.rt.store.action(&fix.id).await.unwrap().state, ActionState::Succeeded);
}
