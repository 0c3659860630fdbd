//! The planners over a real SQLite store: a runbook's plan, and memory's, which proposes only
//! a fix proven often enough, runs by itself only one verified here, and never replays a
//! secret or a fix that changes nothing.

use std::collections::BTreeMap;

use obsctl_core::Timestamp;
use obsctl_core::action::Outcome;
use obsctl_core::incident::Incident;
use obsctl_core::memory::{Episode, EpisodeAction, EpisodeOutcome, FixStep, SOURCE_INCIDENT, action_key, cluster};
use obsctl_core::policy::Mode;
use serde_json::json;

use super::{MemoryPlanner, PlanContext, Planner, PlannerChain, RunbookPlanner};
use crate::test_support::{Parts, incident, parts};

const HERE: &str = "edge-1";

/// An episode of `incident`'s cluster whose one attempt ran `tool` with `args`.
fn episode(id: &str, i: &Incident, tool: &str, args: serde_json::Value, fixed: bool, origin: &str) -> Episode {
    let steps = vec![FixStep { tool: tool.into(), args }];
    let ended = Timestamp::now();
    Episode {
        id: id.into(),
        incident_id: format!("inc-{id}"),
        fingerprint: i.fingerprint.clone(),
        cluster: cluster(&i.kind, &i.service),
        service: i.service.clone(),
        kind: i.kind.clone(),
        labels: BTreeMap::new(),
        text: format!("{} refused connections ({id})", i.service),
        actions: vec![EpisodeAction {
            learn: true,
            action_key: action_key(&steps),
            steps,
            outcome: if fixed { Outcome::Fixed } else { Outcome::NotFixed },
            time_to_recover_ms: fixed.then_some(1500),
        }],
        outcome: if fixed { EpisodeOutcome::Fixed } else { EpisodeOutcome::NotFixed },
        opened_at: ended,
        ended_at: ended,
        time_to_recover_ms: 1500,
        content_hash: id.into(),
        origin: origin.into(),
        source: SOURCE_INCIDENT.into(),
    }
}

fn memory(p: &Parts) -> MemoryPlanner {
    MemoryPlanner::new(p.store.clone(), p.registry.clone(), &p.config.agent, HERE.into())
}

async fn plan_of(planner: &dyn Planner, i: &Incident) -> Option<super::Plan> {
    planner.plan(&PlanContext { incident: i, labels: &BTreeMap::new() }).await.unwrap()
}

const MEMORY: &str = "mode = \"auto\"\n[agent.memory]\nmin_success = 0.8\nmin_attempts = 2\nshared_evidence = 0.5";

#[tokio::test]
async fn memory_proposes_a_fix_only_once_it_worked_often_enough_here() {
    let p = parts(MEMORY).await;
    let i = incident();
    let cleanup = json!({"path": p.dir.path().join("tmp"), "older_than": "1h"});
    p.store.remember(&episode("e1", &i, "fs.cleanup", cleanup.clone(), true, HERE)).await.unwrap();
    assert!(plan_of(&memory(&p), &i).await.is_none(), "one attempt is not yet proof");
    p.store.remember(&episode("e2", &i, "fs.cleanup", cleanup.clone(), true, HERE)).await.unwrap();
    let plan = plan_of(&memory(&p), &i).await.expect("proven: two of two");
    assert_eq!(plan.planner, "memory");
    assert_eq!(plan.max_mode, Mode::Auto, "verified here: it may run by itself");
    assert_eq!(plan.steps[0].tool, "fs.cleanup");
    assert_eq!(plan.steps[0].args, cleanup);
    assert!(plan.provenance.contains("fixed 2/2"), "{}", plan.provenance);
    assert_eq!(plan.evidence.len(), 2);
    // A failure brings the rate to 2/3, under 0.8: nothing is proposed.
    p.store.remember(&episode("e3", &i, "fs.cleanup", cleanup, false, HERE)).await.unwrap();
    assert!(plan_of(&memory(&p), &i).await.is_none());
}

#[tokio::test]
async fn a_fix_proven_only_elsewhere_waits_for_a_person() {
    let p = parts(MEMORY).await;
    let i = incident();
    let cleanup = json!({"path": p.dir.path().join("tmp"), "older_than": "1h"});
    // Four attempts learned on another instance count as two at 0.5 each.
    for n in 0..4 {
        let e = episode(&format!("r{n}"), &i, "fs.cleanup", cleanup.clone(), true, "edge-2");
        p.store.upsert_episode(&e, HERE).await.unwrap();
    }
    let plan = plan_of(&memory(&p), &i).await.expect("proven by weighted evidence");
    assert_eq!(plan.max_mode, Mode::Approve, "{}", plan.provenance);
    assert!(plan.provenance.contains("not verified here"), "{}", plan.provenance);
}

#[tokio::test]
async fn memory_never_replays_a_redacted_secret_nor_a_fix_that_only_reads() {
    let p = parts(MEMORY).await;
    let i = incident();
    for n in 0..3 {
        let secret = json!({"url": "https://hooks.example/***"});
        p.store.remember(&episode(&format!("s{n}"), &i, "fs.cleanup", secret, true, HERE)).await.unwrap();
        let read = json!({"path": "/"});
        p.store.remember(&episode(&format!("u{n}"), &i, "fs.usage", read, true, HERE)).await.unwrap();
    }
    assert!(plan_of(&memory(&p), &i).await.is_none());
}

fn runbook(service: &str) -> obsctl_config::Runbook {
    obsctl_config::Runbook {
        name: format!("clean-{service}"),
        when: obsctl_config::Matcher {
            incident: Some("tcp-down".into()),
            service: Some(service.into()),
            labels: BTreeMap::new(),
        },
        steps: vec![obsctl_config::Step { tool: "fs.usage".into(), args: json!({"path": "/"}) }],
        mode: None,
        cooldown: std::time::Duration::from_secs(600),
    }
}

#[tokio::test]
async fn a_matching_runbook_comes_before_memory_and_one_for_another_service_does_not() {
    let p = parts(MEMORY).await;
    let i = incident();
    let cleanup = json!({"path": p.dir.path().join("tmp"), "older_than": "1h"});
    for n in 0..2 {
        p.store.remember(&episode(&format!("e{n}"), &i, "fs.cleanup", cleanup.clone(), true, HERE)).await.unwrap();
    }
    let chain = |service: &str| {
        PlannerChain::new(vec![Box::new(RunbookPlanner::new(vec![runbook(service)])), Box::new(memory(&p))])
    };
    let ctx = PlanContext { incident: &i, labels: &BTreeMap::new() };
    let plan = chain("api").plan(&ctx).await.unwrap().expect("the runbook's plan");
    assert_eq!((plan.planner, plan.runbook.as_deref()), ("runbook", Some("clean-api")));
    assert_eq!(plan.cooldown, std::time::Duration::from_secs(600));
    let plan = chain("db").plan(&ctx).await.unwrap().expect("memory's plan");
    assert_eq!(plan.planner, "memory");
}
