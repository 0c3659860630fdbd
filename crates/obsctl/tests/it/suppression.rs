//! Silences, maintenance windows, dependency suppression, flapping and the reopen rule.

use std::time::Duration;

use obsctl_core::Timestamp;
use obsctl_core::action::ActionState;
use obsctl_core::incident::IncidentStatus;
use obsctl_core::state::CheckStatus;

use crate::support::{API_WITH_FIX, Target, harness, head};

#[tokio::test]
async fn a_silence_records_but_does_not_act() {
    let target = Target::start(false).await;
    let h = harness(&format!("{}{API_WITH_FIX}", head("auto")), &target.url, &[]).await;
    // A maintenance window that starts later does not suppress now.
    let later = Timestamp::now().plus(Duration::from_secs(3600));
    h.rt.agent
        .silence(Some("api".into()), None, Some(later), Duration::from_secs(600), "tonight's upgrade", "ops")
        .await
        .unwrap();
    let active =
        h.rt.agent
            .silence(Some("api".into()), Some("http-down".into()), None, Duration::from_secs(600), "deploying", "ops")
            .await
            .unwrap();
    assert!(!h.run("api/health").await);
    let incident = h.incident().await;
    let report = h.rt.agent.handle_incident(&incident.id).await.unwrap();
    let a = &report.actions[0];
    assert_eq!(a.state, ActionState::Observed);
    assert!(a.reason.contains("silenced until") && a.reason.contains("deploying"), "{}", a.reason);
    assert_eq!(target.fixes(), 0);
    assert!(h.rt.agent.handle_incident(&incident.id).await.unwrap().skipped.unwrap().contains("still suppressed"));
    // Ending the silence lets the agent act on the same open incident.
    h.rt.agent.unsilence(&active.id, "ops").await.unwrap();
    let again = h.rt.agent.handle_incident(&incident.id).await.unwrap();
    assert_eq!(again.actions[0].state, ActionState::Succeeded);
    assert_eq!(target.fixes(), 1);
}

#[tokio::test]
async fn a_failing_dependency_suppresses_the_dependent() {
    let target = Target::start(false).await;
    let closed = crate::support::closed_addr();
    let api = API_WITH_FIX.replacen("name = \"api\"", "name = \"api\"\ndepends_on = [\"db\"]", 1);
    let db = format!(
        "\n[[service]]\nname = \"db\"\n  [[service.check]]\n  name = \"port\"\n  kind = \"tcp\"\n  address = \"{closed}\"\n  fail_after = 1\n"
    );
    let body = format!("{}{api}{db}", head("auto"));
    let h = harness(&body, &target.url, &[]).await;
    assert!(!h.run("db/port").await);
    assert!(!h.run("api/health").await);
    let open = h.open_incidents().await;
    let db = open.iter().find(|i| i.service == "db").unwrap();
    let api = open.iter().find(|i| i.service == "api").unwrap();
    assert_eq!(api.upstream_incident.as_deref(), Some(db.id.as_str()));
    assert!(h.event_kinds(&api.id).await.contains(&"suppressed".to_string()));
    let report = h.rt.agent.handle_incident(&api.id).await.unwrap();
    assert_eq!(report.actions[0].state, ActionState::Observed);
    assert!(report.actions[0].reason.contains("dependency db is failing"));
    assert_eq!(target.fixes(), 0);
}

#[tokio::test]
async fn a_flapping_check_gets_no_action_until_stable() {
    let target = Target::start(true).await;
    let body = format!(
        "{}{}",
        head("auto"),
        API_WITH_FIX.replace("recover_after = 1", "recover_after = 1\n  flap_threshold = 3\n  flap_window = \"1h\"")
    );
    let h = harness(&body, &target.url, &[]).await;
    for healthy in [true, false, true, false, true, false] {
        target.set_healthy(healthy);
        h.run("api/health").await;
    }
    assert_eq!(h.rt.monitor.status("api/health"), CheckStatus::Flapping);
    let incident = h.incident().await;
    assert!(h.event_kinds(&incident.id).await.contains(&"flapping".to_string()));
    let report = h.rt.agent.handle_incident(&incident.id).await.unwrap();
    assert_eq!(report.actions[0].state, ActionState::Observed);
    assert!(report.actions[0].reason.contains("flapping"));
    assert_eq!(target.fixes(), 0);
}

#[tokio::test]
async fn a_failure_soon_after_recovery_reopens_the_same_incident() {
    let target = Target::start(false).await;
    let body = format!("{}reopen_within = \"10m\"\n{}", head("observe"), API_WITH_FIX);
    let h = harness(&body, &target.url, &[]).await;
    assert!(!h.run("api/health").await);
    let first = h.incident().await;
    assert!(!h.run("api/health").await);
    assert_eq!(h.rt.store.incident(&first.id).await.unwrap().occurrences, 2, "repeats update, not duplicate");
    target.set_healthy(true);
    assert!(h.run("api/health").await);
    assert_eq!(h.rt.store.incident(&first.id).await.unwrap().status, IncidentStatus::Resolved);
    target.set_healthy(false);
    assert!(!h.run("api/health").await);
    let again = h.incident().await;
    assert_eq!((again.id, again.reopen_count), (first.id.clone(), 1));
    assert!(h.event_kinds(&first.id).await.contains(&"reopened".to_string()));
}

#[tokio::test]
async fn a_failure_after_the_reopen_window_opens_a_new_incident() {
    let target = Target::start(false).await;
    let body = format!("{}reopen_within = \"1ms\"\n{}", head("observe"), API_WITH_FIX);
    let h = harness(&body, &target.url, &[]).await;
    assert!(!h.run("api/health").await);
    let first = h.incident().await;
    target.set_healthy(true);
    assert!(h.run("api/health").await);
    // The window is 1 ms; the next probe (an HTTP round trip) starts after it.
    let resolved_at = h.rt.store.incident(&first.id).await.unwrap().resolved_at.unwrap();
    while Timestamp::now().since(resolved_at) <= Duration::from_millis(1) {
        tokio::task::yield_now().await;
    }
    target.set_healthy(false);
    assert!(!h.run("api/health").await);
    assert_ne!(h.incident().await.id, first.id);
}

/// `API_WITH_FIX` that flaps after three changes within an hour, with a webhook receiver.
fn flapping_body() -> String {
    format!(
        "{}[notify.webhook]\nurl = \"{{url}}/hook\"\n{}",
        head("auto"),
        API_WITH_FIX.replace("recover_after = 1", "recover_after = 1\n  flap_threshold = 3\n  flap_window = \"1h\"")
    )
}

/// Breaks and heals the target until the check flaps; ends broken.
async fn flap(h: &crate::support::Harness, target: &Target) {
    for healthy in [true, false, true, false] {
        target.set_healthy(healthy);
        h.run("api/health").await;
    }
    assert_eq!(h.rt.monitor.status("api/health"), CheckStatus::Flapping);
}

#[tokio::test]
async fn a_break_while_flapping_is_never_hidden() {
    let target = Target::start(true).await;
    let h = harness(&flapping_body(), &target.url, &[]).await;
    flap(&h, &target).await;
    let first = h.incident().await;
    // Something else closes the incident while the check flaps: a person, or another
    // replica's verification that saw one pass.
    target.set_healthy(true);
    h.run("api/health").await;
    h.rt.agent.resolve_by_hand(&first.id, "ops", "looks fine now").await.unwrap();
    assert!(h.open_incidents().await.is_empty());
    // The next break opens it again, says it flaps, and a person hears of it; nothing acts.
    target.set_healthy(false);
    assert!(!h.run("api/health").await);
    let open = h.open_incidents().await;
    assert_eq!(open.len(), 1, "a break while flapping must have an open incident");
    let events = h.rt.store.events(&open[0].id).await.unwrap();
    let opening = obsctl_core::incident::opening_event_id(&events);
    assert!(events.iter().any(|e| e.id > opening && e.kind == "flapping"), "{events:#?}");
    let report = h.rt.agent.handle_incident(&open[0].id).await.unwrap();
    assert!(report.actions.iter().all(|a| a.state == ActionState::Observed), "{report:?}");
    assert_eq!(target.fixes(), 0);
    let told = target.notes().iter().filter(|(path, _, body)| path == "/hook" && body.contains("flapping")).count();
    assert_eq!(told, 1, "one notice per opening: {:?}", target.notes());
    h.rt.agent.handle_incident(&open[0].id).await.unwrap();
    let told = target.notes().iter().filter(|(path, _, body)| path == "/hook" && body.contains("flapping")).count();
    assert_eq!(told, 1, "not again for the same opening");
}

#[tokio::test]
async fn a_replica_that_has_not_heard_the_check_flaps_still_holds_back() {
    let target = Target::start(true).await;
    let h = harness(&flapping_body(), &target.url, &[]).await;
    flap(&h, &target).await;
    let incident = h.incident().await;
    // The agent's replica still has the owner's previous status (its next heartbeat brings
    // the new one): the incident's timeline says the check flaps, and that is enough.
    h.rt.monitor.adopt(&[("api/health".into(), CheckStatus::Failing, Timestamp::now())], |_| true);
    assert_eq!(h.rt.monitor.status("api/health"), CheckStatus::Failing);
    let report = h.rt.agent.handle_incident(&incident.id).await.unwrap();
    assert_eq!(report.actions[0].state, ActionState::Observed, "{report:?}");
    assert!(report.actions[0].reason.contains("flapping"), "{}", report.actions[0].reason);
    assert_eq!(target.fixes(), 0);
}

#[tokio::test]
async fn a_check_that_settles_failing_after_flapping_is_acted_on() {
    let target = Target::start(true).await;
    let body = flapping_body().replace("flap_window = \"1h\"", "flap_window = \"1s\"");
    let h = harness(&body, &target.url, &[]).await;
    flap(&h, &target).await;
    let incident = h.incident().await;
    // The changes age out of the window while it stays broken: it fails steadily now.
    crate::support::eventually(10, "the check to fail steadily", || async {
        h.run("api/health").await;
        (h.rt.monitor.status("api/health") == CheckStatus::Failing).then_some(())
    })
    .await;
    assert!(h.event_kinds(&incident.id).await.contains(&"steady".to_string()));
    let report = h.rt.agent.handle_incident(&incident.id).await.unwrap();
    assert_eq!(report.actions[0].state, ActionState::Succeeded, "{report:?}");
    assert_eq!(target.fixes(), 1);
}
