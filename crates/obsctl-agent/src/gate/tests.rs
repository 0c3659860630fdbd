//! The gate against a real SQLite store: what it lets run, holds for a person or refuses, and
//! what it reads (budgets, silences, the incident's state) to decide.

use std::sync::Arc;
use std::time::Duration;

use obsctl_config::Step;
use obsctl_core::Timestamp;
use obsctl_core::action::{Action, ActionState};
use obsctl_core::incident::{Incident, IncidentStatus, Silence};
use obsctl_core::policy::{Mode, Verdict};
use obsctl_core::state::CheckStatus;
use obsctl_store::Store;
use serde_json::json;

use super::{Gate, PlanFacts};
use crate::planner::Plan;
use crate::test_support::{incident, parts};

/// A gate over `test_support::parts`.
async fn gate(agent: &str) -> (Gate, Arc<dyn Store>, tempfile::TempDir) {
    let p = parts(agent).await;
    (Gate::new(p.config, p.store.clone(), p.registry), p.store, p.dir)
}

fn plan(tool: &str) -> Plan {
    Plan {
        planner: "runbook",
        runbook: None,
        provenance: "a test".into(),
        confidence: 1.0,
        steps: vec![step(tool)],
        mode: None,
        max_mode: Mode::Auto,
        cooldown: Duration::ZERO,
        evidence: Vec::new(),
        budget_override: None,
    }
}

fn step(tool: &str) -> Step {
    Step { tool: tool.into(), args: json!({"path": "/nowhere"}) }
}

fn facts() -> PlanFacts {
    PlanFacts { suppressed: None, cooldown_left: None, budget_overridden: false }
}

/// An action of `incident` in `state`, journaled now.
fn action(id: &str, incident: &Incident, state: ActionState) -> Action {
    let mut a: Action = serde_json::from_value(json!({
        "id": id, "idempotency_key": id, "incident_id": incident.id, "service": incident.service,
        "fingerprint": incident.fingerprint, "plan_id": format!("plan-{id}"), "planner": "runbook",
        "runbook": null, "step": 0, "tool": "fs.cleanup", "args": {"path": "/nowhere"}, "mode": "auto",
        "state": state.as_str(), "reason": "", "result": null, "outcome": null,
        "created_at": 0, "updated_at": 0, "decided_by": null
    }))
    .unwrap();
    a.created_at = Timestamp::now();
    a.updated_at = a.created_at;
    a
}

#[tokio::test]
async fn a_step_runs_now_only_in_auto_and_only_then_carries_a_permit() {
    let (auto, _, _dir) = gate("mode = \"auto\"").await;
    let i = incident();
    let p = plan("fs.cleanup");
    let decided = auto.decide(&i, &p, &p.steps[0], Mode::Auto, &facts()).await.unwrap();
    assert_eq!(decided.decision.verdict, Verdict::Execute, "{:?}", decided.decision);
    assert!(decided.permit.is_some_and(|permit| permit.covers("fs.cleanup", &p.steps[0].args)));
    // The caller's ceiling (`--dry-run`) caps the mode; a dry run carries no permit.
    let dry = auto.decide(&i, &p, &p.steps[0], Mode::DryRun, &facts()).await.unwrap();
    assert_eq!((dry.decision.verdict, dry.mode), (Verdict::DryRun, Mode::DryRun));
    assert!(dry.permit.is_none());

    let (approve, _, _dir) = gate("mode = \"approve\"").await;
    let held = approve.decide(&i, &p, &p.steps[0], Mode::Auto, &facts()).await.unwrap();
    assert_eq!(held.decision.verdict, Verdict::AwaitApproval);
    assert!(held.permit.is_none(), "a step waiting for a person has no permit");
}

#[tokio::test]
async fn the_service_budget_counts_what_ran_and_only_a_persons_override_passes_it() {
    let (gate, store, _dir) = gate("mode = \"auto\"\nmax_actions_per_service_per_hour = 2").await;
    let i = incident();
    store.insert_incident(&i).await.unwrap();
    // A step that waits or was refused spends nothing; two that ran spend the budget.
    store.insert_action(&action("a-waiting", &i, ActionState::PendingApproval)).await.unwrap();
    store.insert_action(&action("a-ran-1", &i, ActionState::Succeeded)).await.unwrap();
    let p = plan("fs.cleanup");
    let open = gate.decide(&i, &p, &p.steps[0], Mode::Auto, &facts()).await.unwrap();
    assert_eq!(open.decision.verdict, Verdict::Execute, "{:?}", open.decision);
    store.insert_action(&action("a-ran-2", &i, ActionState::Failed)).await.unwrap();
    let spent = gate.decide(&i, &p, &p.steps[0], Mode::Auto, &facts()).await.unwrap();
    assert_eq!((spent.decision.verdict, spent.decision.code), (Verdict::Deny, "budget_service"));
    assert!(spent.permit.is_none());
    let overridden = PlanFacts { budget_overridden: true, ..facts() };
    let past = gate.decide(&i, &p, &p.steps[0], Mode::Auto, &overridden).await.unwrap();
    assert_eq!(past.decision.verdict, Verdict::Execute, "{:?}", past.decision);
}

#[tokio::test]
async fn an_approved_step_is_decided_again_before_it_runs() {
    let (gate, _, _dir) = gate("mode = \"approve\"").await;
    let mut i = incident();
    let approved = action("a-1", &i, ActionState::Approved);
    // Approved by a person: it runs, though the mode asks for approval.
    let permit = gate.regate(&i, &approved, CheckStatus::Failing, Mode::Auto).await.unwrap();
    assert!(permit.is_ok_and(|p| p.covers("fs.cleanup", &approved.args)));
    // Not approved (still waiting): refused.
    let waiting = action("a-2", &i, ActionState::PendingApproval);
    let refused = gate.regate(&i, &waiting, CheckStatus::Failing, Mode::Auto).await.unwrap();
    assert_eq!(refused.unwrap_err().code, "not_approved");
    // The incident ended meanwhile: refused.
    i.status = IncidentStatus::Resolved;
    let refused = gate.regate(&i, &approved, CheckStatus::Ok, Mode::Auto).await.unwrap();
    assert_eq!(refused.unwrap_err().code, "incident_resolved");
}

#[tokio::test]
async fn a_silence_holds_every_step_back_and_says_whose_it_is() {
    let (gate, store, _dir) = gate("mode = \"auto\"").await;
    let i = incident();
    assert_eq!(gate.suppression(&i, CheckStatus::Failing).await.unwrap(), None);
    let now = Timestamp::now();
    store
        .insert_silence(&Silence {
            id: "sil-1".into(),
            service: Some("api".into()),
            kind: None,
            starts_at: now.minus(Duration::from_secs(60)),
            ends_at: now.plus(Duration::from_secs(3600)),
            reason: "deploy".into(),
            created_by: "alice".into(),
        })
        .await
        .unwrap();
    let why = gate.suppression(&i, CheckStatus::Failing).await.unwrap().expect("silenced");
    assert!(why.contains("alice") && why.contains("deploy"), "{why}");
    let facts = PlanFacts { suppressed: Some(why), ..facts() };
    let p = plan("fs.cleanup");
    let held = gate.decide(&i, &p, &p.steps[0], Mode::Auto, &facts).await.unwrap();
    assert_ne!(held.decision.verdict, Verdict::Execute, "{:?}", held.decision);
    assert!(held.permit.is_none());
    // A flapping check holds back too, by this replica's view of it.
    assert!(gate.suppression(&i, CheckStatus::Flapping).await.unwrap().is_some());
}

#[tokio::test]
async fn unknown_and_unlisted_tools_are_refused_by_name() {
    let (gate, _, _dir) = gate("mode = \"auto\"\nallow_tools = [\"fs.usage\"]").await;
    let unknown = gate.refusal("fs.shred").expect("refused");
    assert_eq!((unknown.verdict, unknown.code), (Verdict::Deny, "tool_unknown"));
    let unlisted = gate.refusal("fs.cleanup").expect("refused");
    assert_eq!(unlisted.code, "tool_not_allowed");
    assert!(unlisted.reason.contains("allow_tools"), "{}", unlisted.reason);
    assert!(gate.refusal("fs.usage").is_none());
}

#[tokio::test]
async fn a_read_outside_a_plan_needs_a_tool_that_only_reads_and_a_mode_above_observe() {
    let (gate, _, _dir) = gate("mode = \"auto\"").await;
    let args = json!({"path": "/"});
    assert!(gate.permit_read("fs.usage", &args, Mode::Auto).is_ok_and(|p| p.covers("fs.usage", &args)));
    let changes = gate.permit_read("fs.cleanup", &args, Mode::Auto).unwrap_err();
    assert!(changes.contains("changes things"), "{changes}");
    assert!(gate.permit_read("fs.usage", &args, Mode::Observe).unwrap_err().contains("observe"));
    // Notices pass only through a configured notifier.
    assert!(gate.permit_notice("notify.ntfy", &json!({})).is_none());
}
