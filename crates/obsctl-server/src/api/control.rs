//! Mutating handlers: each needs an `ApiOperator` (the bearer token) and calls the agent's controls.

use axum::Json;
use axum::extract::{Path, State};
use obsctl_config::Step;
use obsctl_core::Timestamp;
use obsctl_core::action::Action;
use obsctl_core::incident::{Incident, Silence};
use obsctl_core::quantity::parse_duration;

use super::views::*;
use crate::auth::ApiOperator;
use crate::extract::Body;
use crate::{ApiError, AppState};

type Result<T> = std::result::Result<Json<T>, ApiError>;

pub async fn run_check(
    State(s): State<AppState>,
    op: ApiOperator,
    Path((service, name)): Path<(String, String)>,
) -> Result<RunResult> {
    run(&s, &service, &name, &op.name).await
}

/// Runs check `service/name` now for `by` (the API's and the MCP gateway's `run_check`): a
/// check may run a command or start a container, so every run is audited with its caller.
pub(crate) async fn run(s: &AppState, service: &str, name: &str, by: &str) -> Result<RunResult> {
    let id = format!("{service}/{name}");
    let ran = s.monitor.run_check(&id).await;
    let verdict = match &ran {
        Some((_, status)) => status.as_str(),
        None => "not_found",
    };
    s.agent.audit(by, "run_check", &id, verdict, "", serde_json::json!({})).await;
    let (observation, status) = ran.ok_or_else(|| ApiError::not_found(format!("check {id} not found")))?;
    Ok(Json(RunResult { observation, status }))
}

pub async fn approve(
    State(s): State<AppState>,
    op: ApiOperator,
    Path(id): Path<String>,
    Body(req): Body<DecisionRequest>,
) -> Result<Vec<Action>> {
    Ok(Json(s.agent.approve(&id, &op.name, req.reason.as_deref().unwrap_or("")).await?))
}

pub async fn reject(
    State(s): State<AppState>,
    op: ApiOperator,
    Path(id): Path<String>,
    Body(req): Body<DecisionRequest>,
) -> Result<Vec<Action>> {
    Ok(Json(s.agent.reject(&id, &op.name, req.reason.as_deref().unwrap_or("")).await?))
}

pub async fn resolve(
    State(s): State<AppState>,
    op: ApiOperator,
    Path(id): Path<String>,
    Body(req): Body<ResolveRequest>,
) -> Result<Incident> {
    s.agent.resolve_by_hand(&id, &op.name, &req.note).await?;
    Ok(Json(s.store.incident(&id).await?))
}

pub async fn propose(
    State(s): State<AppState>,
    op: ApiOperator,
    Path(id): Path<String>,
    Body(req): Body<ProposeRequest>,
) -> Result<ProposeResponse> {
    let steps = req.steps.into_iter().map(|st| Step { tool: st.tool, args: st.args }).collect();
    let reason = req.reason.as_deref().unwrap_or("");
    let why = req.override_budget.as_deref();
    let report = s.agent.propose(&id, steps, &op.name, reason, req.remember_as_fix, why).await?;
    Ok(Json(ProposeResponse { actions: report.actions, outcome: report.outcome }))
}

pub async fn silence(State(s): State<AppState>, op: ApiOperator, Body(req): Body<SilenceRequest>) -> Result<Silence> {
    let duration = parse_duration(&req.duration).map_err(|e| ApiError::invalid(format!("duration {e}")))?;
    let starts_at =
        match req.starts_at.as_deref() {
            None => None,
            Some(t) => Some(Timestamp::parse_rfc3339(t).ok_or_else(|| {
                ApiError::invalid(format!("starts_at {t:?} is not RFC 3339, e.g. 2026-11-28T22:00:00Z"))
            })?),
        };
    Ok(Json(s.agent.silence(req.service, req.kind, starts_at, duration, &req.reason, &op.name).await?))
}

pub async fn unsilence(State(s): State<AppState>, op: ApiOperator, Path(id): Path<String>) -> Result<Deleted> {
    s.agent.unsilence(&id, &op.name).await?;
    Ok(Json(Deleted { deleted: id }))
}
