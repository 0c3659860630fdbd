//! The approval queue: each pending plan with its steps in words (`step_words.rs`, from the
//! dry-run taken when it was queued: a page view runs nothing), the exact calls for whoever wants
//! them, and its evidence (the runbook and how often that fix worked here, or the remembered fixes
//! and their success rate), to approve or reject with a reason. Plans a person decided in the last
//! 15 minutes stay below, followed until their outcome. The list reloads when actions change (SSE).

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use askama::Template;
use axum::extract::State;
use axum::response::Response;
use obsctl_core::Timestamp;
use obsctl_core::action::{Action, ActionState};
use obsctl_core::incident::Incident;
use obsctl_core::memory::cluster;
use obsctl_store::ActionFilter;

use crate::AppState;
use crate::dashboard::session::{Session, Viewer};
use crate::dashboard::step_words::describe;
use crate::dashboard::when::Readable;
use crate::dashboard::{Chrome, failed, render};

/// How long a decided plan stays on the page.
const FOLLOW_FOR: Duration = Duration::from_secs(15 * 60);

/// One step of a plan, in words, with its exact call.
pub struct Step {
    number: usize,
    words: String,
    call: String,
    state: ActionState,
}

/// A plan: its steps in order, its incident and the evidence behind it.
pub struct Plan {
    /// The first step: what the controls act on (a decision takes the whole plan).
    first: Action,
    steps: Vec<Step>,
    incident: Option<Incident>,
    evidence: String,
    /// For a decided plan: where it stands now, in words.
    progress: String,
}

#[derive(Template)]
#[template(path = "approvals.html")]
struct ApprovalsPage {
    chrome: Chrome,
    pending: Vec<Plan>,
    followed: Vec<Plan>,
    error: Option<String>,
}

#[derive(Template)]
#[template(path = "_approvals.html")]
struct ApprovalsList {
    chrome: Chrome,
    pending: Vec<Plan>,
    followed: Vec<Plan>,
    error: Option<String>,
}

/// The exact call: the tool, its arguments and the recorded dry-run.
fn call(a: &Action) -> String {
    let mut text = format!("{} {}", a.tool, serde_json::to_string_pretty(&a.args).unwrap_or_default());
    match a.result.as_ref() {
        Some(r) if r.get("dry_run").is_some() => {
            text.push_str(&format!("\ndry-run: {}", serde_json::to_string_pretty(&r["dry_run"]).unwrap_or_default()));
        }
        Some(r) if r.get("dry_run_error").is_some() => {
            text.push_str(&format!("\ndry-run failed: {}", r["dry_run_error"]))
        }
        _ => {}
    }
    text
}

/// Why the plan was made, and how well that fix has done on this kind of incident here.
async fn evidence(s: &AppState, first: &Action, steps: &[Action], incident: Option<&Incident>) -> String {
    let record = match incident {
        Some(i) => {
            let ledger = s.store.ledger(Some(&cluster(&i.kind, &i.service))).await.unwrap_or_default();
            let tools: Vec<&str> = steps.iter().map(|a| a.tool.as_str()).collect();
            ledger
                .into_iter()
                .find(|e| e.steps.iter().map(|x| x.tool.as_str()).eq(tools.iter().copied()))
                .filter(|e| e.attempts > 0)
                .map(|e| {
                    format!(
                        "; this fix worked {} of {} times on {} here",
                        e.successes,
                        e.attempts,
                        if e.attempts == 1 { "this kind of incident" } else { "incidents like this" }
                    )
                })
                .unwrap_or_else(|| "; never tried on this kind of incident here yet".into())
        }
        None => String::new(),
    };
    let why = match (first.planner.as_str(), first.runbook.as_deref()) {
        (_, Some(runbook)) => format!("the runbook “{runbook}” from the config matches this incident"),
        ("memory", _) => format!("remembered: {}", first.reason.trim_start_matches("memory: ")),
        ("llm", _) => format!("proposed by the LLM planner: {}", first.reason),
        (planner, _) => format!("planned by {planner}: {}", first.reason),
    };
    format!("{why}{record}")
}

/// Where a decided plan stands, in words.
fn progress(steps: &[Action]) -> String {
    let by = steps.iter().find_map(|a| a.decided_by.as_deref()).unwrap_or("someone");
    let by = by.strip_prefix("ui:").or_else(|| by.strip_prefix("api:")).unwrap_or(by);
    let reason = steps.first().map(|a| a.reason.trim()).unwrap_or_default();
    let of = steps.len();
    if steps.iter().any(|a| a.state == ActionState::Rejected) {
        return format!("rejected by {by}{}", if reason.is_empty() { String::new() } else { format!(": {reason}") });
    }
    if let Some(outcome) = steps.iter().find_map(|a| a.outcome) {
        return format!("approved by {by} · ran · verified: {}", outcome.label());
    }
    if let Some((i, _)) = steps.iter().enumerate().find(|(_, a)| a.state == ActionState::Running) {
        return format!("approved by {by} · running step {} of {of}…", i + 1);
    }
    if let Some(failed) = steps.iter().find(|a| a.state == ActionState::Failed) {
        return format!("approved by {by} · step {} failed: {}", failed.step + 1, failed.reason);
    }
    if steps.iter().all(|a| a.state == ActionState::Succeeded) {
        return format!("approved by {by} · ran · verifying: re-running the check…");
    }
    if steps.iter().any(|a| a.state == ActionState::Cancelled) {
        return format!("approved by {by} · cancelled: {reason}");
    }
    format!("approved by {by} · waiting to run…")
}

/// Actions grouped by plan, each plan's steps in order, plans newest first.
fn by_plan(actions: Vec<Action>) -> Vec<Vec<Action>> {
    let mut plans: BTreeMap<String, Vec<Action>> = BTreeMap::new();
    for a in actions {
        plans.entry(a.plan_id.clone()).or_default().push(a);
    }
    let mut plans: Vec<Vec<Action>> = plans.into_values().collect();
    for p in &mut plans {
        p.sort_by_key(|a| a.step);
    }
    plans.sort_by_key(|p| std::cmp::Reverse(p.first().map(|a| a.created_at)));
    plans
}

async fn plans(s: &AppState) -> obsctl_store::Result<(Vec<Plan>, Vec<Plan>)> {
    let waiting = ActionFilter { states: vec![ActionState::PendingApproval], limit: 500, ..Default::default() };
    let decided_states = vec![
        ActionState::Approved,
        ActionState::Running,
        ActionState::Succeeded,
        ActionState::Failed,
        ActionState::Rejected,
        ActionState::Cancelled,
    ];
    let decided = ActionFilter { states: decided_states, limit: 200, ..Default::default() };
    let since = Timestamp::now().minus(FOLLOW_FOR);
    let recent: Vec<Action> = s
        .store
        .list_actions(&decided)
        .await?
        .into_iter()
        .filter(|a| a.updated_at >= since && a.decided_by.is_some())
        .collect();
    let mut incidents: HashMap<String, Option<Incident>> = HashMap::new();
    let mut out = (Vec::new(), Vec::new());
    for (plans, followed) in [(by_plan(s.store.list_actions(&waiting).await?), false), (by_plan(recent), true)] {
        for steps in plans {
            let first = steps[0].clone();
            if !incidents.contains_key(&first.incident_id) {
                incidents.insert(first.incident_id.clone(), s.store.incident(&first.incident_id).await.ok());
            }
            let incident = incidents[&first.incident_id].clone();
            let plan = Plan {
                evidence: evidence(s, &first, &steps, incident.as_ref()).await,
                progress: if followed { progress(&steps) } else { String::new() },
                steps: steps
                    .iter()
                    .enumerate()
                    .map(|(i, a)| Step {
                        number: i + 1,
                        words: describe(&a.tool, &a.args, a.result.as_ref().and_then(|r| r.get("dry_run"))),
                        call: call(a),
                        state: a.state,
                    })
                    .collect(),
                first,
                incident,
            };
            if followed { &mut out.1 } else { &mut out.0 }.push(plan);
        }
    }
    Ok(out)
}

pub async fn view_approvals_get(State(s): State<AppState>, Viewer(session): Viewer) -> Response {
    match plans(&s).await {
        Ok((pending, followed)) => {
            render(&ApprovalsPage { chrome: Chrome::new(&s, &session, "Approvals"), pending, followed, error: None })
        }
        Err(e) => failed(e),
    }
}

pub async fn view_approvals_list_get(State(s): State<AppState>, Viewer(session): Viewer) -> Response {
    list(&s, &session, None).await
}

/// The queue alone: what htmx swaps after a decision (with why it failed, if it did) or an
/// SSE nudge.
pub async fn list(s: &AppState, session: &Session, error: Option<String>) -> Response {
    match plans(s).await {
        Ok((pending, followed)) => {
            render(&ApprovalsList { chrome: Chrome::new(s, session, "Approvals"), pending, followed, error })
        }
        Err(e) => failed(e),
    }
}
