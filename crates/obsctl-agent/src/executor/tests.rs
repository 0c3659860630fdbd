//! The executor against a real SQLite store and a real folder: exactly one claim runs a step,
//! only with the permit for that very step and only while leading, and what it stores keeps no
//! secret.

use std::sync::Arc;
use std::time::Duration;

use obsctl_core::Secret;
use obsctl_core::action::{Action, ActionState};
use obsctl_core::incident::Incident;
use obsctl_core::timeline::EntryKind;
use serde_json::{Value, json};

use super::Executor;
use crate::gate::Permit;
use crate::leadership::Leadership;
use crate::test_support::{Parts, incident, parts};

/// An approved `fs.cleanup` step of `i` with `args`, journaled.
async fn approved(p: &Parts, i: &Incident, id: &str, args: Value) -> Action {
    let a: Action = serde_json::from_value(json!({
        "id": id, "idempotency_key": id, "incident_id": i.id, "service": i.service,
        "fingerprint": i.fingerprint, "plan_id": format!("plan-{id}"), "planner": "runbook",
        "runbook": null, "step": 0, "tool": "fs.cleanup", "args": args, "mode": "auto",
        "state": "approved", "reason": "test", "result": null, "outcome": null,
        "created_at": 1, "updated_at": 1, "decided_by": null
    }))
    .unwrap();
    p.store.insert_action(&a).await.unwrap();
    a
}

fn executor(p: &Parts, secrets: &[&str]) -> Executor {
    let (bus, _) = tokio::sync::broadcast::channel(16);
    Executor::new(p.store.clone(), p.registry.clone(), bus, secrets.iter().map(|s| Secret::new(*s)).collect())
}

/// A folder inside the allowed root holding one log file.
fn logs(p: &Parts) -> std::path::PathBuf {
    let dir = p.dir.path().join("logs");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("old.log"), "x".repeat(1000)).unwrap();
    dir
}

/// An open incident with an approved step that cleans the log folder.
struct Step {
    p: Parts,
    i: Incident,
    dir: std::path::PathBuf,
    args: Value,
    action: Action,
}

async fn step() -> Step {
    let p = parts("mode = \"auto\"").await;
    let i = incident();
    p.store.insert_incident(&i).await.unwrap();
    let dir = logs(&p);
    let args = json!({"root": dir, "glob": "*.log"});
    let action = approved(&p, &i, "act-1", args.clone()).await;
    Step { p, i, dir, args, action }
}

#[tokio::test]
async fn of_two_claims_on_one_step_exactly_one_runs_it() {
    let Step { p, i, dir, args, action: a } = step().await;
    let (one, two) = (executor(&p, &[]), executor(&p, &[]));
    let (first, second) = tokio::join!(
        one.execute(a.clone(), Permit::for_tests("fs.cleanup", &args)),
        two.execute(a.clone(), Permit::for_tests("fs.cleanup", &args))
    );
    let ran: Vec<Action> = [first.unwrap(), second.unwrap()].into_iter().flatten().collect();
    assert_eq!(ran.len(), 1, "exactly one claim runs the step");
    assert_eq!(ran[0].state, ActionState::Succeeded, "{:?}", ran[0].result);
    assert!(!dir.join("old.log").exists());
    let stored = p.store.action("act-1").await.unwrap();
    assert_eq!(stored.state, ActionState::Succeeded);
    // The timeline says it ran before it says how it went.
    let entries: Vec<String> = p
        .store
        .events(&i.id)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.kind == EntryKind::Action)
        .map(|e| e.message)
        .collect();
    assert_eq!(entries.len(), 2, "{entries:?}");
    assert!(entries[0].starts_with("running fs.cleanup") && entries[1].starts_with("fs.cleanup succeeded"));
}

#[tokio::test]
async fn a_permit_for_another_step_runs_nothing() {
    let Step { p, dir, action: a, .. } = step().await;
    let elsewhere = json!({"root": dir, "glob": "*.txt"});
    let refused = executor(&p, &[]).execute(a, Permit::for_tests("fs.cleanup", &elsewhere)).await;
    assert!(refused.unwrap_err().to_string().contains("does not cover"));
    assert!(dir.join("old.log").exists());
    assert_eq!(p.store.action("act-1").await.unwrap().state, ActionState::Approved);
}

#[tokio::test]
async fn a_process_that_does_not_hold_the_agent_lease_claims_nothing() {
    let Step { p, dir, args, action: a, .. } = step().await;
    let fenced = executor(&p, &[]);
    // Never ticked: it holds no lease.
    fenced.fence_with(Arc::new(Leadership::new(p.store.clone(), Duration::from_secs(10))));
    assert!(fenced.execute(a, Permit::for_tests("fs.cleanup", &args)).await.unwrap().is_none());
    assert!(dir.join("old.log").exists());
    assert_eq!(p.store.action("act-1").await.unwrap().state, ActionState::Approved, "left for the holder");
}

#[tokio::test]
async fn what_it_stores_of_a_step_keeps_no_secret() {
    let p = parts("mode = \"auto\"").await;
    let i = incident();
    p.store.insert_incident(&i).await.unwrap();
    // A root outside the allowed ones, named with a secret: the tool refuses and says where.
    let args = json!({"root": "/opt/hunter2-tokens", "glob": "*.log"});
    let a = approved(&p, &i, "act-1", args.clone()).await;
    let done = executor(&p, &["hunter2"]).execute(a, Permit::for_tests("fs.cleanup", &args)).await.unwrap().unwrap();
    assert_eq!(done.state, ActionState::Failed);
    let stored = p.store.action("act-1").await.unwrap();
    let result = stored.result.unwrap().to_string();
    assert!(result.contains("error") && !result.contains("hunter2"), "{result}");
    for e in p.store.events(&i.id).await.unwrap() {
        assert!(!e.message.contains("hunter2"), "{}", e.message);
    }
    // Without the secret configured the same step's record does name it: the redaction, not
    // the tool's wording, kept it out above.
    let b = approved(&p, &i, "act-2", args.clone()).await;
    executor(&p, &[]).execute(b, Permit::for_tests("fs.cleanup", &args)).await.unwrap();
    assert!(p.store.action("act-2").await.unwrap().result.unwrap().to_string().contains("hunter2"));
}
