//! The approval queue: pending plans with what each step would do (its tool's dry-run, taken
//! when the step was queued), to approve or reject with a reason. The list reloads when actions change (SSE).

use askama::Template;
use axum::extract::State;
use axum::response::Response;
use obsctl_core::action::{Action, ActionState};
use obsctl_store::ActionFilter;

use crate::AppState;
use crate::dashboard::session::{Session, Viewer};
use crate::dashboard::{Chrome, failed, render};

pub struct Pending {
    action: Action,
    /// The tool's dry-run output, or why there is none.
    preview: String,
    /// How many steps its plan has.
    steps: usize,
}

#[derive(Template)]
#[template(path = "approvals.html")]
struct ApprovalsPage {
    chrome: Chrome,
    pending: Vec<Pending>,
    error: Option<String>,
}

#[derive(Template)]
#[template(path = "_approvals.html")]
struct ApprovalsList {
    chrome: Chrome,
    pending: Vec<Pending>,
    error: Option<String>,
}

async fn pending(s: &AppState) -> obsctl_store::Result<Vec<Pending>> {
    let filter = ActionFilter { states: vec![ActionState::PendingApproval], limit: 200, ..Default::default() };
    let mut out = Vec::new();
    let mut plan_sizes = std::collections::HashMap::new();
    for action in s.store.list_actions(&filter).await? {
        if !plan_sizes.contains_key(&action.plan_id) {
            let of_incident =
                ActionFilter { incident_id: Some(action.incident_id.clone()), limit: 10_000, ..Default::default() };
            let steps =
                s.store.list_actions(&of_incident).await?.iter().filter(|a| a.plan_id == action.plan_id).count();
            plan_sizes.insert(action.plan_id.clone(), steps);
        }
        let steps = plan_sizes[&action.plan_id];
        // The dry-run was taken once, when the step was queued: a page view runs nothing.
        let preview = match action.result.as_ref() {
            Some(r) if r.get("dry_run").is_some() => serde_json::to_string_pretty(&r["dry_run"]).unwrap_or_default(),
            Some(r) if r.get("dry_run_error").is_some() => format!("dry-run failed: {}", r["dry_run_error"]),
            _ => format!("{} has no recorded dry-run; it will be called with these arguments", action.tool),
        };
        out.push(Pending { action, preview, steps });
    }
    Ok(out)
}

pub async fn view_approvals_get(State(s): State<AppState>, Viewer(session): Viewer) -> Response {
    match pending(&s).await {
        Ok(pending) => render(&ApprovalsPage { chrome: Chrome::new(&s, &session, "Approvals"), pending, error: None }),
        Err(e) => failed(e),
    }
}

pub async fn view_approvals_list_get(State(s): State<AppState>, Viewer(session): Viewer) -> Response {
    list(&s, &session, None).await
}

/// The queue alone: what htmx swaps after a decision (with why it failed, if it did) or an
/// SSE nudge.
pub async fn list(s: &AppState, session: &Session, error: Option<String>) -> Response {
    match pending(s).await {
        Ok(pending) => render(&ApprovalsList { chrome: Chrome::new(s, session, "Approvals"), pending, error }),
        Err(e) => failed(e),
    }
}
