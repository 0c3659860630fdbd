//! The whole loop with its state in Postgres (a fresh database per test).

use obsctl_core::action::{ActionState, Outcome};
use obsctl_core::incident::IncidentStatus;
use obsctl_store::ActionFilter;

use crate::support::{API_WITH_FIX, Target, fresh_postgres, harness, head_with_store};

#[tokio::test]
async fn the_loop_closes_with_state_in_postgres() {
    let url = fresh_postgres().await;
    let target = Target::start(false).await;
    let h = harness(&format!("{}{API_WITH_FIX}", head_with_store("auto", &url)), &target.url, &[]).await;
    assert!(h.rt.config.store.url.starts_with("postgres://"));
    assert!(!h.run("api/health").await);
    let incident = h.incident().await;
    let report = h.rt.agent.handle_incident(&incident.id).await.unwrap();
    assert_eq!(report.outcome, Some(Outcome::Fixed));
    assert_eq!(h.rt.store.incident(&incident.id).await.unwrap().status, IncidentStatus::Resolved);
    h.rt.monitor.flush().await;
    // The failing run and the one verification run that saw it recover.
    assert_eq!(h.rt.store.recent_observations("api/health", 10).await.unwrap().len(), 2);

    // A second process (another runtime on the same database) sees the same journal.
    let other = harness(&format!("{}{API_WITH_FIX}", head_with_store("auto", &url)), &target.url, &[]).await;
    let actions = other.rt.store.list_actions(&ActionFilter::default()).await.unwrap();
    assert_eq!(
        (actions.len(), actions[0].state, actions[0].outcome),
        (1, ActionState::Succeeded, Some(Outcome::Fixed))
    );
}

#[tokio::test]
async fn two_replicas_on_one_postgres_run_each_action_once() {
    let url = fresh_postgres().await;
    let target = Target::start(false).await;
    let config = format!("{}{API_WITH_FIX}", head_with_store("auto", &url));
    let mut a = harness(&config, &target.url, &[]).await;
    let mut b = harness(&config, &target.url, &[]).await;
    // Both run everything: scheduler, monitor, agent. Only the agent-lease holder acts.
    a.rt.start().await.unwrap();
    b.rt.start().await.unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let open = a.open_incidents().await;
        if target.fixes() >= 1 && open.is_empty() {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "never fixed: {} fixes, open {open:#?}", target.fixes());
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    // Let any second copy that would run do so, then compare the world with the journal.
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    let actions = a.rt.store.list_actions(&ActionFilter { limit: 1000, ..Default::default() }).await.unwrap();
    let executed = actions.iter().filter(|x| x.tool == "http.request" && x.state.was_executed()).count();
    assert_eq!(
        target.fixes(),
        executed,
        "the target saw {} fixes for {executed} journaled: {actions:#?}",
        target.fixes()
    );
    // One agent acted: never more than one plan per opening of an incident, not one per replica
    // (both monitors failing at once open one incident: `replicas_failing_at_once_…` below).
    let incidents = a.rt.store.list_incidents(&Default::default()).await.unwrap();
    let openings: u32 = incidents.iter().map(|i| i.reopen_count + 1).sum();
    assert!(executed >= 1 && executed <= openings as usize, "{executed} fixes for {openings} openings: {actions:#?}");
    assert!(incidents.iter().all(|i| i.status == obsctl_core::incident::IncidentStatus::Resolved), "{incidents:#?}");
    let holder = a.rt.store.lease("agent").await.unwrap().expect("one replica holds the agent lease");
    assert!(holder.holder.starts_with("serve:") && holder.live, "{holder:?}");
    a.rt.stop().await;
    b.rt.stop().await;
}

/// Two replicas whose checks fail at the same instant open one incident between them, counted
/// twice: before, each looked for an open incident, found none, and opened its own.
#[tokio::test]
async fn replicas_failing_at_once_open_one_incident() {
    let url = fresh_postgres().await;
    let target = Target::start(false).await;
    let config = format!("{}{API_WITH_FIX}", head_with_store("approve", &url));
    let (a, b) = (harness(&config, &target.url, &[]).await, harness(&config, &target.url, &[]).await);
    let (ran_a, ran_b) = tokio::join!(a.run("api/health"), b.run("api/health"));
    assert!(!ran_a && !ran_b, "both saw the failure");
    let open = a.open_incidents().await;
    assert_eq!(open.len(), 1, "one incident for one failure: {open:#?}");
    assert_eq!(open[0].occurrences, 2, "both failures counted on it");
}

/// The same alert delivered to two replicas at the same instant (an Alertmanager pair, a retry
/// through another replica) opens one incident: the second replica's write is refused and its
/// delivery applied again, counting on the first's.
#[tokio::test]
async fn one_alert_at_two_replicas_at_once_opens_one_incident() {
    let url = fresh_postgres().await;
    let config = head_with_store("observe", &url);
    let (a, b) = (harness(&config, "", &[]).await, harness(&config, "", &[]).await);
    let body = serde_json::json!({"version": "4", "status": "firing", "receiver": "obsctl", "groupKey": "{}:{}",
        "truncatedAlerts": 0, "groupLabels": {}, "commonLabels": {}, "commonAnnotations": {},
        "externalURL": "http://am:9093", "alerts": [{"status": "firing",
        "labels": {"alertname": "DiskFull", "service": "api"}, "annotations": {},
        "startsAt": "2026-11-30T00:00:00Z", "endsAt": "0001-01-01T00:00:00Z", "fingerprint": "00000000000000d1"}]})
    .to_string();
    let source = obsctl_core::alert::AlertSource::Alertmanager;
    let (x, y) = tokio::join!(a.rt.alerts.ingest(source, body.as_bytes()), b.rt.alerts.ingest(source, body.as_bytes()));
    let (x, y) = (x.unwrap(), y.unwrap());
    let open = a.open_incidents().await;
    assert_eq!(open.len(), 1, "one incident for one alert: {open:#?}");
    assert_eq!((x.incidents.clone(), y.incidents.clone()), (vec![open[0].id.clone()], vec![open[0].id.clone()]));
}
