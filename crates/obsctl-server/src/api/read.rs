//! Read-only handlers.

use std::collections::{BTreeMap, HashMap};

use axum::Json;
use axum::extract::{Path, State};
use obsctl_core::Timestamp;
use obsctl_core::action::{Action, ActionState, AuditRecord};
use obsctl_core::check::{CheckSpec, LatencySummary, Observation};
use obsctl_core::incident::{Incident, IncidentStatus, Silence};
use obsctl_core::secret::redact_value;
use obsctl_core::state::CheckStatus;
use obsctl_store::{ActionFilter, IncidentFilter};

use super::views::*;
use crate::error::ErrorCode;
use crate::extract::Query;
use crate::{ApiError, AppState};

type Result<T> = std::result::Result<Json<T>, ApiError>;

/// failing > flapping > unknown > ok.
fn check_view(spec: &CheckSpec, status: CheckStatus, last: Option<Observation>) -> CheckView {
    CheckView {
        id: spec.id.clone(),
        service: spec.service.clone(),
        name: spec.name.clone(),
        kind: spec.probe.kind().into(),
        interval_ms: spec.interval.as_millis() as u64,
        status,
        last,
    }
}

pub async fn status(State(s): State<AppState>) -> Result<StatusBody> {
    let mut checks: BTreeMap<String, usize> = BTreeMap::new();
    for status in s.monitor.statuses().values() {
        *checks.entry(status.as_str().into()).or_default() += 1;
    }
    let open = s
        .store
        .list_incidents(&IncidentFilter { status: Some(IncidentStatus::Open), limit: 10_000, ..Default::default() })
        .await?;
    let pending = s
        .store
        .list_actions(&ActionFilter { states: vec![ActionState::PendingApproval], limit: 10_000, ..Default::default() })
        .await?;
    Ok(Json(StatusBody {
        version: env!("CARGO_PKG_VERSION"),
        agent_mode: s.config.agent.mode,
        services: s.config.services.len(),
        checks,
        open_incidents: open.len(),
        pending_approvals: pending.len(),
        graph: GraphView {
            backend: if s.mirror.is_some() { "bolt" } else { "embedded" },
            mirror: s.mirror.as_ref().map(|m| m.status()),
        },
    }))
}

pub async fn services(State(s): State<AppState>) -> Result<Vec<ServiceView>> {
    let statuses = s.monitor.statuses();
    let open = s
        .store
        .list_incidents(&IncidentFilter { status: Some(IncidentStatus::Open), limit: 10_000, ..Default::default() })
        .await?;
    let views = s
        .config
        .services
        .iter()
        .map(|svc| {
            let checks: Vec<&CheckSpec> = s.config.checks.iter().filter(|c| c.service == svc.name).collect();
            let status = checks
                .iter()
                .map(|c| statuses.get(&c.id).copied().unwrap_or(CheckStatus::Unknown))
                .max_by_key(|st| st.severity())
                .unwrap_or(CheckStatus::Unknown);
            ServiceView {
                name: svc.name.clone(),
                status,
                depends_on: svc.depends_on.clone(),
                labels: svc.labels.clone(),
                checks: checks.iter().map(|c| c.id.clone()).collect(),
                open_incidents: open.iter().filter(|i| i.service == svc.name).count(),
            }
        })
        .collect();
    Ok(Json(views))
}

pub async fn checks(State(s): State<AppState>) -> Result<Vec<CheckView>> {
    let statuses = s.monitor.statuses();
    let mut last: HashMap<String, Observation> =
        s.store.latest_observations().await?.into_iter().map(|o| (o.check_id.clone(), o)).collect();
    let views = s
        .config
        .checks
        .iter()
        .map(|c| check_view(c, statuses.get(&c.id).copied().unwrap_or(CheckStatus::Unknown), last.remove(&c.id)))
        .collect();
    Ok(Json(views))
}

pub async fn check(
    State(s): State<AppState>,
    Path((service, name)): Path<(String, String)>,
    Query(q): Query<HistoryQuery>,
) -> Result<CheckDetail> {
    let id = format!("{service}/{name}");
    let spec = s.config.check(&id).ok_or_else(|| ApiError::not_found(format!("check {id} not found")))?;
    let recent = s.store.recent_observations(&id, Limit::or(q.limit, 100)).await?;
    let latency = LatencySummary::of(&recent.iter().map(|o| o.latency_us).collect::<Vec<_>>());
    let view = check_view(spec, s.monitor.status(&id), recent.first().cloned());
    Ok(Json(CheckDetail { check: view, recent, latency }))
}

pub async fn incidents(State(s): State<AppState>, Query(q): Query<IncidentQuery>) -> Result<Vec<Incident>> {
    let filter = IncidentFilter { status: q.status, service: q.service, kind: q.kind, limit: Limit::or(q.limit, 100) };
    Ok(Json(s.store.list_incidents(&filter).await?))
}

pub async fn incident(State(s): State<AppState>, Path(id): Path<String>) -> Result<IncidentDetail> {
    let incident = s.store.incident(&id).await?;
    let events = s.store.events(&id).await?;
    let mut actions =
        s.store.list_actions(&ActionFilter { incident_id: Some(id), limit: 1000, ..Default::default() }).await?;
    actions.reverse();
    let actions = actions.into_iter().map(|a| shown(&s, a)).collect();
    Ok(Json(IncidentDetail { incident, events, actions }))
}

pub async fn actions(State(s): State<AppState>, Query(q): Query<ActionQuery>) -> Result<Vec<Action>> {
    let mut states = Vec::new();
    for text in q.state.iter().flat_map(|s| s.split(',')).map(str::trim).filter(|t| !t.is_empty()) {
        states.push(
            ActionState::parse(text)
                .ok_or_else(|| ApiError::invalid(format!("state {text:?} is not an action state")))?,
        );
    }
    let filter = ActionFilter { states, incident_id: q.incident, limit: Limit::or(q.limit, 100) };
    Ok(Json(s.store.list_actions(&filter).await?.into_iter().map(|a| shown(&s, a)).collect()))
}

pub async fn action(State(s): State<AppState>, Path(id): Path<String>) -> Result<Action> {
    Ok(Json(shown(&s, s.store.action(&id).await?)))
}

/// An action as callers see it: the journal keeps the arguments the tool needs, callers get
/// them with every configured secret redacted (results were redacted when they were stored).
fn shown(s: &AppState, mut action: Action) -> Action {
    action.args = redact_value(&action.args, &s.config.secrets());
    action
}

pub async fn silences(State(s): State<AppState>, Query(q): Query<SilenceQuery>) -> Result<Vec<Silence>> {
    let at = q.active.unwrap_or(false).then(Timestamp::now);
    Ok(Json(s.store.silences(at).await?))
}

pub async fn audit(State(s): State<AppState>, Query(q): Query<LimitQuery>) -> Result<Vec<AuditRecord>> {
    Ok(Json(s.store.audit_log(Limit::or(q.limit, 100)).await?))
}

pub async fn ledger(
    State(s): State<AppState>,
    Query(q): Query<LedgerQuery>,
) -> Result<Vec<obsctl_core::memory::LedgerEntry>> {
    Ok(Json(s.store.ledger(q.cluster.as_deref()).await?))
}

pub async fn episode(State(s): State<AppState>, Path(id): Path<String>) -> Result<obsctl_core::memory::Episode> {
    Ok(Json(s.store.episode(&id).await?))
}

pub async fn recall(State(s): State<AppState>, Query(q): Query<RecallParams>) -> Result<Vec<obsctl_store::RecallHit>> {
    let index = s.agent.recall().ok_or_else(|| {
        ApiError::new(ErrorCode::RecallUnavailable, "the recall index is unavailable; see the obsctl log")
    })?;
    let strict = q.service.is_some() || q.kind.is_some();
    let labels = obsctl_store::parse_labels(q.labels.as_deref()).map_err(ApiError::invalid)?;
    let query = obsctl_store::RecallQuery {
        text: q.q,
        service: q.service,
        kind: q.kind,
        labels,
        strict,
        limit: Limit::or(q.limit, 10).min(100) as usize,
    };
    Ok(Json(index.search(&query, Timestamp::now())?))
}

pub async fn fix_history(
    State(s): State<AppState>,
    Path(name): Path<String>,
    Query(q): Query<HistoryQuery>,
) -> Result<Vec<obsctl_core::graph::FixRecord>> {
    Ok(Json(s.graph.fix_history(&name, Limit::or(q.limit, 100)).await?))
}

pub async fn blast_radius(
    State(s): State<AppState>,
    Path(name): Path<String>,
) -> Result<Vec<obsctl_core::graph::Reached>> {
    if s.config.service(&name).is_none() {
        return Err(ApiError::not_found(format!("service {name} not found")));
    }
    Ok(Json(s.graph.blast_radius(&name).await?))
}

pub async fn upstream(
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> Result<Vec<obsctl_core::graph::UpstreamFailure>> {
    s.store.incident(&id).await?;
    Ok(Json(s.graph.upstream_failures(&id).await?))
}

pub async fn similar_fixes(
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> Result<Vec<obsctl_core::memory::LedgerEntry>> {
    Ok(Json(obsctl_store::similar_fixes(s.store.as_ref(), &id).await?))
}

pub async fn tools(State(s): State<AppState>) -> Result<Vec<serde_json::Value>> {
    Ok(Json(s.registry.specs().into_iter().map(|t| serde_json::to_value(t).unwrap_or_default()).collect()))
}

pub async fn mcp_servers(State(s): State<AppState>) -> Result<Vec<obsctl_agent::mcp_client::ServerStatus>> {
    Ok(Json(s.mcp_servers.statuses()))
}
