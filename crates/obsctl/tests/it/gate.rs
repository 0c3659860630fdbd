//! Every gate mode, budgets, cooldown and the circuit breaker, end to end.

use obsctl_core::action::{ActionState, Outcome};
use obsctl_store::ActionFilter;

use crate::support::{API_WITH_FIX, Harness, Target, harness, head};

async fn failing(mode: &str, extra: &str) -> (Target, Harness) {
    let target = Target::start(false).await;
    let h = harness(&format!("{}{extra}{API_WITH_FIX}", head(mode)), &target.url, &[]).await;
    assert!(!h.run("api/health").await);
    (target, h)
}

#[tokio::test]
async fn observe_records_and_runs_nothing() {
    let (target, h) = failing("observe", "").await;
    let report = h.rt.agent.handle_incident(&h.incident().await.id).await.unwrap();
    assert_eq!(report.actions[0].state, ActionState::Observed);
    assert_eq!(target.fixes(), 0);
    assert_eq!(report.outcome, None);
    // Once per opening: a second pass does not record it again.
    let again = h.rt.agent.handle_incident(&report.incident_id).await.unwrap();
    assert!(again.skipped.unwrap().contains("already handled"));
}

#[tokio::test]
async fn dry_run_runs_only_the_tools_dry_run() {
    let (target, h) = failing("dry-run", "").await;
    let report = h.rt.agent.handle_incident(&h.incident().await.id).await.unwrap();
    let a = &report.actions[0];
    assert_eq!(a.state, ActionState::DryRun);
    assert_eq!(a.result.as_ref().unwrap()["dry_run"]["would_send"], "POST");
    assert_eq!(target.fixes(), 0);
}

#[tokio::test]
async fn approve_waits_for_a_person_then_executes() {
    let (target, h) = failing("approve", "").await;
    let incident = h.incident().await;
    let report = h.rt.agent.handle_incident(&incident.id).await.unwrap();
    let pending = &report.actions[0];
    assert_eq!(pending.state, ActionState::PendingApproval);
    assert_eq!(target.fixes(), 0);
    assert!(h.rt.agent.handle_incident(&incident.id).await.unwrap().skipped.unwrap().contains("waiting"));

    let approved = h.rt.agent.approve(&pending.id, "alice", "looks right").await.unwrap();
    assert_eq!(approved[0].state, ActionState::Approved);
    assert!(matches!(h.rt.agent.approve(&pending.id, "bob", "").await, Err(obsctl_store::StoreError::Conflict(_))));
    h.rt.agent.run_approved().await.unwrap();
    assert_eq!(target.fixes(), 1);
    let done = h.rt.store.action(&pending.id).await.unwrap();
    assert_eq!(
        (done.state, done.outcome, done.decided_by.as_deref()),
        (ActionState::Succeeded, Some(Outcome::Fixed), Some("alice"))
    );
    let audit = h.rt.store.audit_log(10).await.unwrap();
    assert!(audit.iter().any(|r| r.action == "approve" && r.actor == "alice" && r.reason == "looks right"));
}

#[tokio::test]
async fn reject_is_recorded_and_never_runs() {
    let (target, h) = failing("approve", "").await;
    let incident = h.incident().await;
    let report = h.rt.agent.handle_incident(&incident.id).await.unwrap();
    h.rt.agent.reject(&report.actions[0].id, "bob", "not during the release").await.unwrap();
    h.rt.agent.run_approved().await.unwrap();
    assert_eq!(target.fixes(), 0);
    assert_eq!(h.rt.store.action(&report.actions[0].id).await.unwrap().state, ActionState::Rejected);
    assert!(h.event_kinds(&incident.id).await.contains(&"rejected".to_string()));
}

#[tokio::test]
async fn max_mode_caps_a_runbooks_auto() {
    let target = Target::start(false).await;
    let body = format!(
        "{}max_mode = \"approve\"\n{}",
        head("auto"),
        API_WITH_FIX.replace("cooldown = \"0s\"", "cooldown = \"0s\"\nmode = \"auto\"")
    );
    let h = harness(&body, &target.url, &[]).await;
    assert!(!h.run("api/health").await);
    let report = h.rt.agent.handle_incident(&h.incident().await.id).await.unwrap();
    assert_eq!(report.actions[0].state, ActionState::PendingApproval);
}

#[tokio::test]
async fn service_budget_stops_the_second_fix() {
    let (target, h) = failing("auto", "max_actions_per_service_per_hour = 1\n").await;
    let incident = h.incident().await;
    assert_eq!(h.rt.agent.handle_incident(&incident.id).await.unwrap().outcome, Some(Outcome::Fixed));
    target.set_healthy(false);
    assert!(!h.run("api/health").await);
    let reopened = h.incident().await;
    assert_eq!((reopened.id.as_str(), reopened.reopen_count), (incident.id.as_str(), 1));
    let report = h.rt.agent.handle_incident(&reopened.id).await.unwrap();
    assert_eq!(report.actions[0].state, ActionState::Denied);
    assert!(report.actions[0].reason.contains("service budget spent"), "{}", report.actions[0].reason);
    assert_eq!(target.fixes(), 1);
}

#[tokio::test]
async fn runbook_cooldown_holds_back_a_retry() {
    let target = Target::start(false).await;
    target.state.fix_works.store(false, std::sync::atomic::Ordering::SeqCst);
    let body = format!("{}{}", head("auto"), API_WITH_FIX.replace("cooldown = \"0s\"", "cooldown = \"1h\""));
    let h = harness(&body, &target.url, &[]).await;
    assert!(!h.run("api/health").await);
    let id = h.incident().await.id;
    assert_eq!(h.rt.agent.handle_incident(&id).await.unwrap().outcome, Some(Outcome::NotFixed));
    let again = h.rt.agent.handle_incident(&id).await.unwrap();
    assert!(again.skipped.as_deref().unwrap_or("").contains("cooldown"), "{again:?}");
    assert_eq!(target.fixes(), 1);
}

#[tokio::test]
async fn breaker_opens_after_repeated_failed_fixes_and_escalates() {
    let (target, h) = failing("auto", "breaker_failures = 2\n").await;
    target.state.fix_works.store(false, std::sync::atomic::Ordering::SeqCst);
    let id = h.incident().await.id;
    for _ in 0..2 {
        assert_eq!(h.rt.agent.handle_incident(&id).await.unwrap().outcome, Some(Outcome::NotFixed));
    }
    let report = h.rt.agent.handle_incident(&id).await.unwrap();
    assert_eq!(report.actions[0].state, ActionState::Denied);
    assert!(report.actions[0].reason.contains("circuit breaker open"));
    assert_eq!(target.fixes(), 2);
    let events = h.rt.store.events(&id).await.unwrap();
    assert!(events.iter().any(|e| e.kind == "escalated" && e.message.contains("circuit breaker")));
    // Refusal by the breaker is once per opening: no retry loop.
    assert!(h.rt.agent.handle_incident(&id).await.unwrap().skipped.unwrap().contains("already handled"));
    let denied =
        h.rt.store
            .list_actions(&ActionFilter { states: vec![ActionState::Denied], ..Default::default() })
            .await
            .unwrap();
    assert_eq!(denied.len(), 1);
}

#[tokio::test]
async fn read_only_steps_do_not_spend_the_budget() {
    // A budget of one action: looking first (read-only) must not use it up before the fix.
    let target = Target::start(false).await;
    let runbook = API_WITH_FIX.replace(
        "steps = [{ tool = \"http.request\"",
        "steps = [{ tool = \"fs.usage\", args = { path = \"{dir}\" } }, { tool = \"http.request\"",
    );
    let body =
        format!("{}max_actions_per_service_per_hour = 1\n[fs]\nallowed_roots = [\"{{dir}}\"]\n{runbook}", head("auto"));
    let h = harness(&body, &target.url, &[]).await;
    assert!(!h.run("api/health").await);
    let report = h.rt.agent.handle_incident(&h.incident().await.id).await.unwrap();
    let states: Vec<_> = report.actions.iter().map(|a| (a.tool.as_str(), a.state, a.read_only)).collect();
    assert_eq!(states, [("fs.usage", ActionState::Succeeded, true), ("http.request", ActionState::Succeeded, false)]);
    assert_eq!(report.outcome, Some(Outcome::Fixed));
    // The fix itself did count: the next opening is over budget for it, not for the look.
    target.set_healthy(false);
    assert!(!h.run("api/health").await);
    let again = h.rt.agent.handle_incident(&h.incident().await.id).await.unwrap();
    let states: Vec<_> = again.actions.iter().map(|a| (a.tool.as_str(), a.state)).collect();
    assert_eq!(states, [("fs.usage", ActionState::Succeeded), ("http.request", ActionState::Denied)]);
}
