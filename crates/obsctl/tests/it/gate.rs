//! Every gate mode, budgets, cooldown and the circuit breaker, end to end.

use obsctl_core::action::{ActionState, Outcome};
use obsctl_store::ActionFilter;

use crate::support::{API_CHECK, API_WITH_FIX, Harness, Target, harness, head};

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
    // The service is still down and the agent may not act: a person is told, once (issue 27,
    // finding 6: no log line, no escalation).
    let told = |events: Vec<obsctl_core::incident::IncidentEvent>| {
        events.iter().filter(|e| e.kind == "escalated" && e.message.contains("the agent stopped")).count()
    };
    assert_eq!(told(h.rt.store.events(&reopened.id).await.unwrap()), 1);
    h.rt.agent.handle_incident(&reopened.id).await.unwrap();
    assert_eq!(told(h.rt.store.events(&reopened.id).await.unwrap()), 1, "told once, not at every retry");
}

/// The fix, as a person proposes it.
fn poke(target: &Target) -> Vec<obsctl_config::Step> {
    let args = serde_json::json!({"url": format!("{}/fix", target.url), "method": "POST"});
    vec![obsctl_config::Step { tool: "http.request".into(), args }]
}

#[tokio::test]
async fn a_person_may_act_past_a_spent_budget_knowingly_and_on_the_record() {
    for mode in ["auto", "approve"] {
        let (target, h) = failing(mode, "max_actions_per_service_per_hour = 1\n").await;
        let incident = h.incident().await;
        let first = h.rt.agent.propose(&incident.id, poke(&target), "ops", "", false, None).await.unwrap();
        if mode == "approve" {
            h.rt.agent.approve(&first.actions[0].id, "ops", "").await.unwrap();
            h.rt.agent.run_approved().await.unwrap();
        }
        target.set_healthy(false);
        assert!(!h.run("api/health").await);
        let again = h.incident().await;
        // Spent: the person is told so, with the way past it.
        let denied = h.rt.agent.propose(&again.id, poke(&target), "ops", "", false, None).await.unwrap();
        assert_eq!(denied.actions[0].state, ActionState::Denied, "{mode}");
        assert_eq!(denied.actions[0].gate.as_deref(), Some("budget_service"));
        // An override needs a reason.
        let unexplained = h.rt.agent.propose(&again.id, poke(&target), "ops", "", false, Some(" ")).await;
        assert!(unexplained.unwrap_err().to_string().contains("needs a reason"), "{mode}");
        let past =
            h.rt.agent.propose(&again.id, poke(&target), "ops", "", false, Some("checkout is down")).await.unwrap();
        if mode == "approve" {
            assert_eq!(past.actions[0].state, ActionState::PendingApproval);
            h.rt.agent.approve(&past.actions[0].id, "ops", "").await.unwrap();
            h.rt.agent.run_approved().await.unwrap();
        }
        let done = h.rt.store.action(&past.actions[0].id).await.unwrap();
        assert_eq!((done.state, done.outcome), (ActionState::Succeeded, Some(Outcome::Fixed)), "{mode}");
        assert_eq!(target.fixes(), 2, "{mode}");
        let events = h.rt.store.events(&again.id).await.unwrap();
        assert!(events.iter().any(|e| e.kind == "budget_override" && e.message.contains("by ops: checkout is down")));
        let audit = h.rt.store.audit_log(50).await.unwrap();
        assert!(audit.iter().any(|r| r.action == "override_budget" && r.actor == "ops"), "{mode}");
        // The agent itself is still held back.
        target.set_healthy(false);
        assert!(!h.run("api/health").await);
        let third = h.incident().await;
        let agent = h.rt.agent.handle_incident(&third.id).await.unwrap();
        assert_eq!(agent.actions[0].state, ActionState::Denied, "{mode}: {agent:?}");
    }
}

/// The api failing in `auto` under a budget of one action, with a runbook that runs `first`
/// (a TOML step over `{dir}`, inside `fs.allowed_roots`) before the fix.
async fn budget_of_one_after(first: &str) -> (Target, Harness) {
    let target = Target::start(false).await;
    let runbook = API_WITH_FIX
        .replace("steps = [{ tool = \"http.request\"", &format!("steps = [{first}, {{ tool = \"http.request\""));
    let body =
        format!("{}max_actions_per_service_per_hour = 1\n[fs]\nallowed_roots = [\"{{dir}}\"]\n{runbook}", head("auto"));
    let h = harness(&body, &target.url, &[]).await;
    assert!(!h.run("api/health").await);
    (target, h)
}

#[tokio::test]
async fn a_step_that_changed_nothing_spends_no_budget() {
    // A cleanup that matches no file, then the fix, under a budget of one action.
    let (target, h) =
        budget_of_one_after(r#"{ tool = "fs.cleanup", args = { root = "{dir}", glob = "*.nothing" } }"#).await;
    let report = h.rt.agent.handle_incident(&h.incident().await.id).await.unwrap();
    let states: Vec<_> = report.actions.iter().map(|a| (a.tool.as_str(), a.state)).collect();
    assert_eq!(states, [("fs.cleanup", ActionState::Succeeded), ("http.request", ActionState::Succeeded)]);
    assert_eq!(report.actions[0].result.as_ref().unwrap()["changed_nothing"], true);
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
    let (target, h) = budget_of_one_after(r#"{ tool = "fs.usage", args = { path = "{dir}" } }"#).await;
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

/// An `api` check on the target, `fs.cleanup` of a scratch folder and `http.request`; no runbook.
async fn two_step_setup(agent: &str) -> (Target, Harness, Vec<obsctl_config::Step>) {
    let target = Target::start(false).await;
    let body = format!("{}{agent}[fs]\nallowed_roots = [\"{{dir}}/scratch\"]\n{API_CHECK}", head("approve"));
    let h = harness(&body, &target.url, &[]).await;
    let scratch = h.dir.path().join("scratch");
    std::fs::create_dir_all(&scratch).unwrap();
    std::fs::write(scratch.join("old.log"), "x").unwrap();
    assert!(!h.run("api/health").await);
    let steps = vec![
        obsctl_config::Step {
            tool: "fs.cleanup".into(),
            args: serde_json::json!({"root": scratch.display().to_string()}),
        },
        obsctl_config::Step {
            tool: "http.request".into(),
            args: serde_json::json!({"url": format!("{}/fix", target.url), "method": "POST"}),
        },
    ];
    (target, h, steps)
}

/// A plan whose later step is not allowed is refused whole at proposal (issue 26, finding 3:
/// the later step rode on the first step's approval and reached its target).
#[tokio::test]
async fn a_plan_with_a_later_step_outside_the_allow_list_is_refused_whole() {
    let (target, h, steps) = two_step_setup("allow_tools = [\"fs.cleanup\"]\n").await;
    let incident = h.incident().await;
    let report = h.rt.agent.propose(&incident.id, steps, "ops", "clean, then poke", false, None).await.unwrap();
    let states: Vec<_> = report.actions.iter().map(|a| (a.step, a.state, a.gate.clone())).collect();
    assert_eq!(states, vec![(1, ActionState::Denied, Some("tool_not_allowed".into()))], "{report:#?}");
    let pending = h.pending().await;
    assert!(pending.is_empty(), "nothing of a refused plan waits for a person: {pending:#?}");
    h.rt.agent.run_approved().await.unwrap();
    assert_eq!(target.fixes(), 0);
    assert!(h.dir.path().join("scratch/old.log").exists());
}

/// Every step of an approved plan is gated again right before it runs, with what holds then:
/// here the first step spends the service's last action of the hour, so the second is refused
/// and cancelled (issue 26, finding 3: only the first step was re-gated).
#[tokio::test]
async fn each_step_of_an_approved_plan_is_gated_again_right_before_it_runs() {
    let (target, h, steps) = two_step_setup("max_actions_per_service_per_hour = 1\n").await;
    let incident = h.incident().await;
    let report = h.rt.agent.propose(&incident.id, steps, "ops", "clean, then poke", false, None).await.unwrap();
    let states: Vec<_> = report.actions.iter().map(|a| a.state).collect();
    assert_eq!(states, [ActionState::PendingApproval; 2], "{report:#?}");
    // Each queued step carries its own decision.
    assert!(report.actions.iter().all(|a| a.gate.as_deref() == Some("mode_approve")), "{report:#?}");
    h.rt.agent.approve(&report.actions[0].id, "alice", "go").await.unwrap();
    h.rt.agent.run_approved().await.unwrap();
    assert!(!h.dir.path().join("scratch/old.log").exists(), "the first step ran");
    assert_eq!(target.fixes(), 0, "the second step ran past a spent budget");
    let second = h.rt.store.action(&report.actions[1].id).await.unwrap();
    assert_eq!(second.state, ActionState::Cancelled, "{second:#?}");
    assert!(second.reason.contains("service budget spent"), "{}", second.reason);
}

/// In `observe` no tool runs, read-only ones included, whoever asks (issue 26, finding 7: an MCP
/// client's or the model's reads ran there); every attempt is audited with its caller.
#[tokio::test]
async fn observe_runs_no_tool_not_even_a_read() {
    let target = Target::start(true).await;
    let body = format!("{}[fs]\nallowed_roots = [\"{{dir}}\"]\n{API_CHECK}", head("observe"));
    let h = harness(&body, &target.url, &[]).await;
    let args = serde_json::json!({"path": h.dir.path().display().to_string()});
    let refused = h.rt.agent.read_tool("fs.usage", &args, "mcp:probe").await.unwrap_err();
    assert!(refused.to_string().contains("mode observe"), "{refused}");
    let audit = h.rt.store.audit_log(10).await.unwrap();
    assert!(audit.iter().any(|r| r.actor == "mcp:probe" && r.subject == "fs.usage" && r.decision == "refused"));
    // The same read in dry-run runs.
    let h = harness(&body.replace("mode = \"observe\"", "mode = \"dry-run\""), &target.url, &[]).await;
    let args = serde_json::json!({"path": h.dir.path().display().to_string()});
    assert!(h.rt.agent.read_tool("fs.usage", &args, "mcp:probe").await.unwrap()["bytes"].is_number());
}

/// A check run on demand through the MCP gateway is audited with its caller, as through the
/// API (issue 26, finding 7: `obsctl.run_check` may run a command or start a container).
#[tokio::test]
async fn a_check_run_on_demand_is_audited_with_its_caller() {
    let target = Target::start(true).await;
    let h = harness(&format!("{}{API_CHECK}", head("approve")), &target.url, &[]).await;
    let gateway = obsctl_server::mcp::Gateway::new(h.rt.app_state());
    let args = serde_json::json!({"service": "api", "name": "health"});
    let result = gateway.call("obsctl.run_check", args, "mcp:it-agent").await.unwrap();
    assert_ne!(result.is_error, Some(true), "{result:?}");
    let audit = h.rt.store.audit_log(10).await.unwrap();
    let run = audit.iter().find(|r| r.action == "run_check").expect("a run_check audit record");
    assert_eq!((run.actor.as_str(), run.subject.as_str(), run.decision.as_str()), ("mcp:it-agent", "api/health", "ok"));
}

/// A step its own tool refuses (a cleanup outside the allowed roots) is refused at proposal with
/// the tool's reason, and the rest of its plan with it; no person is asked to approve a plan
/// that cannot run (issue 27, finding 8: it was queued as "delete old files under /etc").
#[tokio::test]
async fn a_step_its_tool_refuses_is_refused_at_proposal_not_queued() {
    let (target, h, steps) = two_step_setup("").await;
    let incident = h.incident().await;
    let outside = obsctl_config::Step { tool: "fs.cleanup".into(), args: serde_json::json!({"root": "/etc"}) };
    let report =
        h.rt.agent.propose(&incident.id, vec![outside, steps[1].clone()], "ops", "", false, None).await.unwrap();
    let states: Vec<_> = report.actions.iter().map(|a| a.state).collect();
    assert_eq!(states, [ActionState::Denied, ActionState::Cancelled], "{report:#?}");
    let refused = &report.actions[0];
    assert_eq!(refused.gate.as_deref(), Some("tool_refuses"));
    assert!(refused.reason.contains("outside the allowed roots"), "{}", refused.reason);
    let pending = h.pending().await;
    assert!(pending.is_empty(), "{pending:#?}");
    assert_eq!(target.fixes(), 0);
}
