//! The door matrix (issue 26): every way a step can be planned or called — a runbook, the
//! memory planner on evidence verified here, synced from elsewhere or imported, the LLM planner
//! (chat and completions), the API's propose, the CLI's (`agent.propose`, as `obsctl actions
//! propose` calls it), the MCP gateway's `obsctl.propose` and its registry tools — in the four
//! modes, for five classes of tool (builtin read-only, builtin that changes things, one outside
//! `agent.allow_tools`, an imported one the operator vouched for, an imported one that lies
//! about being read-only), as one- and two-step plans. Each row's expected outcome is written
//! in the table and checked by what happened: a counting HTTP target, marker files the imported
//! tool writes, a scratch file the refused cleanup would delete, and the journal. The imported
//! tools come from the official Python MCP SDK (`tests/misbehaving_mcp_server.py`).

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use obsctl_config::Step;
use obsctl_core::action::ActionState;
use obsctl_store::ActionFilter;
use serde_json::{Value, json};

use crate::support::{Harness, Target, harness, head};

#[derive(Clone, Copy, Debug, PartialEq)]
enum Door {
    Runbook,
    /// Two episodes of this deployment's own incidents.
    MemoryHere,
    /// Two episodes synced from another instance.
    MemorySynced,
    /// Two imported postmortems that name this instance as their origin.
    MemoryImported,
    LlmChat,
    LlmCompletions,
    Api,
    Cli,
    /// `obsctl.propose` over MCP.
    McpPropose,
    /// The registry tool itself over MCP (one step).
    McpTool,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Class {
    /// `fs.usage`.
    Read,
    /// `http.request` POST to the counting target.
    Change,
    /// `fs.cleanup`, left out of `agent.allow_tools`.
    NotAllowed,
    /// `vouched.wipe`: the operator's policy says `allow`.
    Vouched,
    /// `lying.wipe`: annotated read-only by its server, no word from the operator.
    Lying,
}

use Class::*;
use Door::*;

/// What became of a row's plan, one letter per mode (observe, dry-run, approve, auto):
/// `O` observed, `D` dry-run only, `Q` queued for a person, `R` ran, `X` refused, `N` no plan.
/// A two-step row is `[class, Change]`; its letter is its last step's fate.
const MATRIX: &[(Door, Class, usize, &str)] = &[
    (Runbook, Read, 1, "ORRR"),
    (Runbook, Change, 1, "ODQR"),
    (Runbook, NotAllowed, 1, "XXXX"),
    (Runbook, Vouched, 1, "ODQR"),
    (Runbook, Lying, 1, "ODQQ"),
    (Runbook, Read, 2, "ODQR"),
    (Runbook, Change, 2, "ODQR"),
    (Runbook, NotAllowed, 2, "XXXX"),
    (Runbook, Vouched, 2, "ODQR"),
    (Runbook, Lying, 2, "ODQQ"),
    // Memory never proposes a plan that only reads.
    (MemoryHere, Read, 1, "NNNN"),
    (MemoryHere, Change, 1, "ODQR"),
    (MemoryHere, NotAllowed, 1, "XXXX"),
    (MemoryHere, Vouched, 1, "ODQR"),
    (MemoryHere, Lying, 1, "ODQQ"),
    (MemoryHere, Read, 2, "ODQR"),
    (MemoryHere, Change, 2, "ODQR"),
    (MemoryHere, NotAllowed, 2, "XXXX"),
    (MemoryHere, Vouched, 2, "ODQR"),
    (MemoryHere, Lying, 2, "ODQQ"),
    // Evidence this deployment did not verify proposes, and a person approves.
    (MemorySynced, Read, 1, "NNNN"),
    (MemorySynced, Change, 1, "ODQQ"),
    (MemorySynced, NotAllowed, 1, "XXXX"),
    (MemorySynced, Vouched, 1, "ODQQ"),
    (MemorySynced, Lying, 1, "ODQQ"),
    (MemorySynced, Read, 2, "ODQQ"),
    (MemorySynced, Change, 2, "ODQQ"),
    (MemorySynced, NotAllowed, 2, "XXXX"),
    (MemorySynced, Vouched, 2, "ODQQ"),
    (MemorySynced, Lying, 2, "ODQQ"),
    (MemoryImported, Read, 1, "NNNN"),
    (MemoryImported, Change, 1, "ODQQ"),
    (MemoryImported, NotAllowed, 1, "XXXX"),
    (MemoryImported, Vouched, 1, "ODQQ"),
    (MemoryImported, Lying, 1, "ODQQ"),
    (MemoryImported, Read, 2, "ODQQ"),
    (MemoryImported, Change, 2, "ODQQ"),
    (MemoryImported, NotAllowed, 2, "XXXX"),
    (MemoryImported, Vouched, 2, "ODQQ"),
    (MemoryImported, Lying, 2, "ODQQ"),
    // A model's plan waits for a person (`[llm] max_mode`). Its reads are its investigation,
    // not its plan; a tool it is not offered is answered as refused.
    (LlmChat, Read, 1, "NNNN"),
    (LlmChat, Change, 1, "ODQQ"),
    (LlmChat, NotAllowed, 1, "NNNN"),
    (LlmChat, Vouched, 1, "ODQQ"),
    (LlmChat, Lying, 1, "ODQQ"),
    (LlmChat, Read, 2, "ODQQ"),
    (LlmChat, Change, 2, "ODQQ"),
    (LlmChat, NotAllowed, 2, "ODQQ"),
    (LlmChat, Vouched, 2, "ODQQ"),
    (LlmChat, Lying, 2, "ODQQ"),
    // Without tool calling, a plan naming a tool it may not use is refused whole.
    (LlmCompletions, Read, 1, "NNNN"),
    (LlmCompletions, Change, 1, "ODQQ"),
    (LlmCompletions, NotAllowed, 1, "NNNN"),
    (LlmCompletions, Vouched, 1, "ODQQ"),
    (LlmCompletions, Lying, 1, "ODQQ"),
    (LlmCompletions, Read, 2, "ODQQ"),
    (LlmCompletions, Change, 2, "ODQQ"),
    (LlmCompletions, NotAllowed, 2, "NNNN"),
    (LlmCompletions, Vouched, 2, "ODQQ"),
    (LlmCompletions, Lying, 2, "ODQQ"),
    (Api, Read, 1, "ORRR"),
    (Api, Change, 1, "ODQR"),
    (Api, NotAllowed, 1, "XXXX"),
    (Api, Vouched, 1, "ODQR"),
    (Api, Lying, 1, "ODQQ"),
    (Api, Read, 2, "ODQR"),
    (Api, Change, 2, "ODQR"),
    (Api, NotAllowed, 2, "XXXX"),
    (Api, Vouched, 2, "ODQR"),
    (Api, Lying, 2, "ODQQ"),
    (Cli, Read, 1, "ORRR"),
    (Cli, Change, 1, "ODQR"),
    (Cli, NotAllowed, 1, "XXXX"),
    (Cli, Vouched, 1, "ODQR"),
    (Cli, Lying, 1, "ODQQ"),
    (McpPropose, Read, 1, "ORRR"),
    (McpPropose, Change, 1, "ODQR"),
    (McpPropose, NotAllowed, 1, "XXXX"),
    (McpPropose, Vouched, 1, "ODQR"),
    (McpPropose, Lying, 1, "ODQQ"),
    (McpPropose, Read, 2, "ODQR"),
    (McpPropose, Change, 2, "ODQR"),
    (McpPropose, NotAllowed, 2, "XXXX"),
    (McpPropose, Vouched, 2, "ODQR"),
    (McpPropose, Lying, 2, "ODQQ"),
    // A read-only tool called over MCP reads at once, journaled nowhere (audited); in observe
    // it is refused. Any other becomes a one-step proposal.
    (McpTool, Read, 1, "XRRR"),
    (McpTool, Change, 1, "ODQR"),
    (McpTool, NotAllowed, 1, "XXXX"),
    (McpTool, Vouched, 1, "ODQR"),
    (McpTool, Lying, 1, "ODQQ"),
];

const MODES: [&str; 4] = ["observe", "dry-run", "approve", "auto"];

/// The row's own service (and check, `r<i>/health`).
fn service(row: usize) -> String {
    format!("r{row}")
}

/// The step of `class` for row `row`, with its marker or scratch paths under `dir`.
fn step(class: Class, row: usize, dir: &Path, target: &str) -> Step {
    let (tool, args) = match class {
        Read => ("fs.usage", json!({"path": dir.display().to_string()})),
        Change => ("http.request", json!({"url": format!("{target}/fix"), "method": "POST"})),
        NotAllowed => ("fs.cleanup", json!({"root": dir.join(format!("scratch-{row}")).display().to_string()})),
        Vouched => ("vouched.wipe", json!({"path": dir.join(format!("marker-{row}")).display().to_string()})),
        Lying => ("lying.wipe", json!({"path": dir.join(format!("marker-{row}")).display().to_string()})),
    };
    Step { tool: tool.into(), args }
}

fn steps(class: Class, n: usize, row: usize, dir: &Path, target: &str) -> Vec<Step> {
    let mut steps = vec![step(class, row, dir, target)];
    if n == 2 {
        steps.push(step(Change, row, dir, target));
    }
    steps
}

/// A model on loopback that answers, for the incident of each row, the row's plan once (as tool
/// calls, or as a JSON plan), then that it has nothing more.
struct Model {
    url: String,
    plans: Arc<Mutex<HashMap<String, Vec<Step>>>>,
}

impl Model {
    async fn start() -> Model {
        let plans: Arc<Mutex<HashMap<String, Vec<Step>>>> = Arc::default();
        let answer = {
            let plans = plans.clone();
            move |chat: bool, body: String| {
                let plans = plans.clone();
                async move {
                    let service = regex::Regex::new(r#"\\"service\\":\\"(r\d+)\\""#)
                        .unwrap()
                        .captures(&body)
                        .or_else(|| regex::Regex::new(r#""service":"(r\d+)""#).unwrap().captures(&body))
                        .map(|c| c[1].to_string())
                        .unwrap_or_default();
                    let plan = plans.lock().unwrap().remove(&service).unwrap_or_default();
                    let usage = json!({"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15});
                    let reply = if chat {
                        let calls: Vec<Value> = plan
                            .iter()
                            .enumerate()
                            .map(|(i, s)| json!({"id": format!("call_{i}"), "type": "function", "function": {"name": s.tool.replace('.', "__"), "arguments": s.args.to_string()}}))
                            .collect();
                        let message = if calls.is_empty() {
                            json!({"role": "assistant", "content": "nothing more to do"})
                        } else {
                            json!({"role": "assistant", "content": "this fixes it", "tool_calls": calls})
                        };
                        json!({"id": "c", "object": "chat.completion", "created": 1, "model": "scripted",
                            "choices": [{"index": 0, "finish_reason": "stop", "message": message}], "usage": usage})
                    } else {
                        let steps: Vec<Value> = plan.iter().map(|s| json!({"tool": s.tool, "args": s.args})).collect();
                        let text = json!({"rationale": "this fixes it", "steps": steps}).to_string();
                        json!({"id": "c", "object": "text_completion", "created": 1, "model": "scripted",
                            "choices": [{"index": 0, "text": text, "finish_reason": "stop"}], "usage": usage})
                    };
                    ([("content-type", "application/json")], reply.to_string())
                }
            }
        };
        let (a, b) = (answer.clone(), answer);
        let app = axum::Router::new()
            .route("/v1/chat/completions", axum::routing::post(move |body: String| a(true, body)))
            .route("/v1/completions", axum::routing::post(move |body: String| b(false, body)));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/v1", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Model { url, plans }
    }
}

/// Services `p0`… beyond the table's rows, for generated plans.
const GENERATED: usize = 48;

/// One harness per mode: a service per row (and `GENERATED` more), its runbook where the row's
/// door is a runbook, the two imported servers, and the model.
async fn setup(mode: &str, target: &Target, model: &Model, api: &str) -> Harness {
    let python =
        std::process::Command::new("python3").args(["-c", "import sys; print(sys.executable)"]).output().unwrap();
    let python = String::from_utf8(python.stdout).unwrap().trim().to_string();
    let server = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/misbehaving_mcp_server.py");
    let mut text = head(mode).replace("[memory]\n", "[memory]\ninstance = \"here\"\n");
    text.push_str(
        "max_actions_per_service_per_hour = 1000\nmax_actions_per_hour = 100000\nbreaker_failures = 0\n\
         allow_tools = [\"fs.usage\", \"http.request\", \"vouched.wipe\", \"lying.wipe\"]\n\
         [agent.memory]\nmin_attempts = 2\nshared_evidence = 1\n[fs]\nallowed_roots = [\"{dir}\"]\n",
    );
    text.push_str(&format!(
        "[llm]\nbase_url = \"{}\"\nmodel = \"scripted\"\napi = \"{api}\"\nmax_steps = 2\n",
        model.url
    ));
    for (name, tools) in [("vouched", "tools = { wipe = \"allow\" }\n"), ("lying", "")] {
        text.push_str(&format!(
            "[[mcp_server]]\nname = \"{name}\"\ncommand = \"{python}\"\nargs = [\"{server}\"]\n{tools}"
        ));
    }
    let dir_marker = "{dir}";
    for (row, (door, class, n, _)) in MATRIX.iter().enumerate() {
        let name = service(row);
        text.push_str(&format!(
            "[[service]]\nname = \"{name}\"\n  [[service.check]]\n  name = \"health\"\n  kind = \"http\"\n  url = \"{{url}}/health\"\n  fail_after = 1\n"
        ));
        if *door == Runbook {
            let plan: Vec<String> = steps(*class, *n, row, Path::new(dir_marker), "{url}")
                .iter()
                .map(|s| format!("{{ tool = \"{}\", args = {} }}", s.tool, toml_inline(&s.args)))
                .collect();
            text.push_str(&format!(
                "[[runbook]]\nname = \"{name}\"\nwhen = {{ incident = \"http-down\", service = \"{name}\" }}\nsteps = [{}]\ncooldown = \"0s\"\n",
                plan.join(", ")
            ));
        }
    }
    for i in 0..GENERATED {
        text.push_str(&format!(
            "[[service]]\nname = \"p{i}\"\n  [[service.check]]\n  name = \"health\"\n  kind = \"http\"\n  url = \"{{url}}/health\"\n  fail_after = 1\n"
        ));
    }
    let mut h = harness(&text, &target.url, &[("OBSCTL_API_TOKEN", "door-matrix-token-0123")]).await;
    h.rt.connect_tools().await;
    for name in ["vouched", "lying"] {
        let up = h.rt.mcp_servers.statuses().into_iter().find(|s| s.name == name).unwrap();
        assert_eq!(up.state, "up", "{up:?}");
    }
    h
}

/// A JSON object as a TOML inline table (strings only, as the steps use).
fn toml_inline(v: &Value) -> String {
    let fields: Vec<String> = v.as_object().unwrap().iter().map(|(k, v)| format!("{k} = {v}")).collect();
    format!("{{ {} }}", fields.join(", "))
}

/// Two episodes of `steps` fixing the row's service, as `door` gets them.
async fn seed_memory(h: &Harness, door: Door, row: usize, steps: &[Step]) {
    let fix: Vec<obsctl_core::memory::FixStep> =
        steps.iter().map(|s| obsctl_core::memory::FixStep { tool: s.tool.clone(), args: s.args.clone() }).collect();
    for i in 0..2 {
        let mut e = crate::support::api_episode(&format!("ep-{row}-{i}"), fix.clone(), "here");
        e.service = service(row);
        e.cluster = format!("http-down@{}", e.service);
        e.fingerprint = format!("{}/health/http-down", e.service);
        match door {
            MemorySynced => e.origin = "elsewhere".into(),
            MemoryImported => e.source = format!("postmortem:pm-{row}-{i}.md"),
            _ => {}
        }
        e.content_hash = e.compute_hash();
        h.rt.store.upsert_episode(&e, "here").await.unwrap();
    }
}

/// Sends the row's plan through its door.
async fn enter(h: &Harness, door: Door, row: usize, incident: &str, plan: Vec<Step>, model: &Model) {
    use tower::ServiceExt;
    let wire: Vec<Value> = plan.iter().map(|s| json!({"tool": s.tool, "args": s.args})).collect();
    match door {
        Runbook | MemoryHere | MemorySynced | MemoryImported => {
            if door != Runbook {
                seed_memory(h, door, row, &plan).await;
            }
            h.rt.agent.handle_incident(incident).await.unwrap();
        }
        LlmChat | LlmCompletions => {
            model.plans.lock().unwrap().insert(service(row), plan);
            h.rt.agent.handle_incident(incident).await.unwrap();
        }
        Api => {
            let req = axum::http::Request::post(format!("/api/incidents/{incident}/propose"))
                .header("authorization", "Bearer door-matrix-token-0123")
                .header("content-type", "application/json")
                .body(axum::body::Body::from(json!({"steps": wire}).to_string()))
                .unwrap();
            let resp = obsctl_server::router(h.rt.app_state()).oneshot(req).await.unwrap();
            assert!(resp.status().is_success(), "{}", resp.status());
        }
        Cli => {
            h.rt.agent.propose(incident, plan, "cli", "door matrix", false, None).await.unwrap();
        }
        McpPropose => {
            let gateway = obsctl_server::mcp::Gateway::new(h.rt.app_state());
            let args = json!({"incident_id": incident, "steps": wire});
            gateway.call("obsctl.propose", args, &format!("mcp:row{row}")).await.unwrap();
        }
        McpTool => {
            let gateway = obsctl_server::mcp::Gateway::new(h.rt.app_state());
            let mut args = plan[0].args.clone();
            args["incident_id"] = json!(incident);
            if h.rt.registry.get(&plan[0].tool).unwrap().spec().annotations.read_only_hint {
                args.as_object_mut().unwrap().remove("incident_id");
            }
            gateway.call(&plan[0].tool, args, &format!("mcp:row{row}")).await.unwrap();
        }
    }
}

/// What became of row `row`'s plan, as a letter of the table.
async fn fate(h: &Harness, row: usize, incident: &str) -> char {
    let filter = ActionFilter { incident_id: Some(incident.into()), limit: 100, ..Default::default() };
    let actions = h.rt.store.list_actions(&filter).await.unwrap();
    if actions.is_empty() {
        // A read over MCP is audited, never journaled.
        let audit = h.rt.store.audit_log(2000).await.unwrap();
        return match audit.iter().find(|r| r.actor == format!("mcp:row{row}") && r.action == "read") {
            Some(r) if r.decision == "ok" => 'R',
            Some(_) => 'X',
            None => 'N',
        };
    }
    if actions.iter().any(|a| a.state == ActionState::Denied) {
        return 'X';
    }
    let last = actions.iter().max_by_key(|a| a.step).unwrap();
    match last.state {
        ActionState::Observed => 'O',
        ActionState::DryRun => 'D',
        ActionState::PendingApproval => 'Q',
        ActionState::Succeeded | ActionState::Failed => 'R',
        other => panic!("row {row}: unexpected state {other:?}: {actions:#?}"),
    }
}

async fn run_matrix(api: &str, doors: &[Door]) {
    let mut failures = Vec::new();
    let mut rows_run = 0;
    for (m, mode) in MODES.iter().enumerate() {
        let target = Target::start(false).await;
        target.state.fix_works.store(false, std::sync::atomic::Ordering::SeqCst);
        let model = Model::start().await;
        let h = setup(mode, &target, &model, api).await;
        for (row, (door, class, n, expected)) in MATRIX.iter().enumerate() {
            if !doors.contains(door) {
                continue;
            }
            rows_run += 1;
            let dir = h.dir.path();
            let scratch = dir.join(format!("scratch-{row}"));
            std::fs::create_dir_all(&scratch).unwrap();
            std::fs::write(scratch.join("keep.log"), "x").unwrap();
            assert!(!h.run(&format!("{}/health", service(row))).await);
            let incident = h.open_incidents_all().await.into_iter().find(|i| i.service == service(row)).unwrap();
            let fixes_before = target.fixes();
            let plan = steps(*class, *n, row, dir, &target.url);
            enter(&h, *door, row, &incident.id, plan.clone(), &model).await;

            let want = expected.chars().nth(m).unwrap();
            let got = fate(&h, row, &incident.id).await;
            // Side effects follow the fate: only a plan that ran changed anything.
            let ran = want == 'R';
            let changes = plan.iter().filter(|s| s.tool == "http.request").count();
            let fixes = target.fixes() - fixes_before;
            let marked = dir.join(format!("marker-{row}")).exists();
            let wiped = matches!(class, Vouched | Lying);
            let effects_ok =
                fixes == if ran { changes } else { 0 } && marked == (ran && wiped) && scratch.join("keep.log").exists();
            if got != want || !effects_ok {
                failures.push(format!(
                    "{door:?} {class:?} x{n} in {mode}: expected {want}, got {got}; {fixes} POST(s), marker {marked}, scratch kept {}",
                    scratch.join("keep.log").exists()
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{} of {rows_run} rows differ:\n{}", failures.len(), failures.join("\n"));
}

/// Every door but the completions API of the model, in every mode.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_door_meets_the_gate_in_every_mode() {
    let doors = [Runbook, MemoryHere, MemorySynced, MemoryImported, LlmChat, Api, Cli, McpPropose, McpTool];
    run_matrix("chat", &doors).await;
}

/// The model without tool calling (a JSON plan), in every mode.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_model_without_tool_calling_meets_the_gate_in_every_mode() {
    run_matrix("completions", &[LlmCompletions]).await;
}

/// The property: whatever plan is proposed, through whichever door, in whichever mode, and
/// whatever a person then approves, no step runs unless the gate would let it run at that
/// moment: a tool outside the allow-list never, nothing in `observe`, a step that changes
/// things only in `auto` (and never a tool whose server lied) or once a person approved it;
/// and what ran is exactly what changed the world (POSTs counted, marker files). Plans are
/// generated from a fixed seed, `GENERATED` per mode, one to four steps of every class.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_generated_plan_runs_a_step_the_gate_would_not_let_run() {
    let classes = [Read, Change, NotAllowed, Vouched, Lying];
    let doors = [Api, Cli, McpPropose];
    let mut seed: u64 = 0x5eed_0b5c_7100_0026;
    let mut next = |below: usize| {
        seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        ((seed >> 33) as usize) % below
    };
    let (mut checked, mut changes_ran, mut by_people) = (0, 0, 0);
    for mode in MODES {
        let target = Target::start(false).await;
        target.state.fix_works.store(false, std::sync::atomic::Ordering::SeqCst);
        let model = Model::start().await;
        let h = setup(mode, &target, &model, "chat").await;
        for case in 0..GENERATED {
            let dir = h.dir.path().join(format!("p{case}"));
            std::fs::create_dir_all(&dir).unwrap();
            let plan: Vec<(Class, Step)> = (0..1 + next(4))
                .map(|i| {
                    let class = classes[next(classes.len())];
                    let mut s = step(class, i, &dir, &target.url);
                    if class == NotAllowed {
                        std::fs::create_dir_all(dir.join(format!("scratch-{i}"))).unwrap();
                        std::fs::write(dir.join(format!("scratch-{i}/keep.log")), "x").unwrap();
                    }
                    if matches!(class, Vouched | Lying) {
                        s.args = json!({"path": dir.join(format!("marker-{i}")).display().to_string()});
                    }
                    (class, s)
                })
                .collect();
            let door = doors[next(doors.len())];
            let person_approves = next(2) == 0;
            let service = format!("p{case}");
            assert!(!h.run(&format!("{service}/health")).await);
            let incident = h.open_incidents_all().await.into_iter().find(|i| i.service == service).unwrap();
            let fixes_before = target.fixes();
            let steps: Vec<Step> = plan.iter().map(|(_, s)| s.clone()).collect();
            enter(&h, door, 0, &incident.id, steps, &model).await;
            let filter = ActionFilter { incident_id: Some(incident.id.clone()), limit: 100, ..Default::default() };
            let journaled = h.rt.store.list_actions(&filter).await.unwrap();
            if person_approves && let Some(waiting) = journaled.iter().find(|a| a.state == ActionState::PendingApproval)
            {
                h.rt.agent.approve(&waiting.id, "alice", "looks right").await.unwrap();
                h.rt.agent.run_approved().await.unwrap();
            }
            let actions = h.rt.store.list_actions(&filter).await.unwrap();
            let context = format!(
                "{door:?} in {mode}, plan {:?}, approved {person_approves}: {actions:#?}",
                plan.iter().map(|(c, _)| c).collect::<Vec<_>>()
            );
            let mut posts = 0;
            for a in actions.iter().filter(|a| a.state.was_executed()) {
                let (class, _) = plan[a.step as usize];
                let by_person = a.decided_by.as_deref() == Some("alice");
                assert_ne!(class, NotAllowed, "a tool outside the allow-list ran: {context}");
                assert_ne!(mode, "observe", "a step ran in observe: {context}");
                let may = match class {
                    Read => true,
                    Lying => by_person,
                    _ => mode == "auto" || by_person,
                };
                assert!(may, "step {} ({:?}) ran without the gate's say-so: {context}", a.step, class);
                posts += usize::from(class == Change);
                changes_ran += usize::from(class != Read);
                by_people += usize::from(by_person);
                if matches!(class, Vouched | Lying) {
                    assert!(dir.join(format!("marker-{}", a.step)).exists(), "{context}");
                }
            }
            assert_eq!(target.fixes() - fixes_before, posts, "what ran is what changed: {context}");
            for (i, (class, _)) in plan.iter().enumerate() {
                let ran = actions.iter().any(|a| a.step as usize == i && a.state.was_executed());
                if matches!(class, Vouched | Lying) && !ran {
                    assert!(
                        !dir.join(format!("marker-{i}")).exists(),
                        "step {i} changed things without running: {context}"
                    );
                }
                if *class == NotAllowed {
                    assert!(dir.join(format!("scratch-{i}/keep.log")).exists(), "{context}");
                }
            }
            checked += 1;
        }
    }
    assert_eq!(checked, 4 * GENERATED);
    // Not a property that holds because nothing ran: steps that change things ran, by the
    // gate's mode and by people's approvals.
    assert!(changes_ran > 20 && by_people > 10, "{changes_ran} changing steps ran, {by_people} approved by a person");
}
