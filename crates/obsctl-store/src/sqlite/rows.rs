//! Row → domain type mapping for the SQLite backend.

use obsctl_core::Timestamp;
use obsctl_core::action::{Action, ActionState, AuditRecord, Outcome};
use obsctl_core::incident::{Incident, IncidentEvent, IncidentStatus, Silence};
use obsctl_core::policy::Mode;
use sqlx::Row;
use sqlx::sqlite::SqliteRow;

use crate::{Result, StoreError};

fn json(text: Option<String>) -> Result<Option<serde_json::Value>> {
    Ok(match text {
        Some(t) => Some(serde_json::from_str(&t)?),
        None => None,
    })
}

fn bad(what: &str, value: &str) -> StoreError {
    StoreError::Backend(format!("stored {what} {value:?} is not recognised"))
}

pub(crate) fn incident(r: &SqliteRow) -> Result<Incident> {
    let status: String = r.try_get("status")?;
    Ok(Incident {
        id: r.try_get("id")?,
        fingerprint: r.try_get("fingerprint")?,
        service: r.try_get("service")?,
        check_id: r.try_get("check_id")?,
        kind: r.try_get("kind")?,
        status: IncidentStatus::parse(&status).ok_or_else(|| bad("incident status", &status))?,
        title: r.try_get("title")?,
        detail: r.try_get("detail")?,
        opened_at: Timestamp(r.try_get("opened_at")?),
        updated_at: Timestamp(r.try_get("updated_at")?),
        resolved_at: r.try_get::<Option<i64>, _>("resolved_at")?.map(Timestamp),
        occurrences: r.try_get::<i64, _>("occurrences")? as u32,
        reopen_count: r.try_get::<i64, _>("reopen_count")? as u32,
        upstream_incident: r.try_get("upstream_incident")?,
        resolution: r.try_get("resolution")?,
    })
}

pub(crate) fn event(r: &SqliteRow) -> Result<IncidentEvent> {
    Ok(IncidentEvent {
        id: r.try_get("id")?,
        incident_id: r.try_get("incident_id")?,
        at: Timestamp(r.try_get("at")?),
        kind: r.try_get("kind")?,
        message: r.try_get("message")?,
        data: json(r.try_get("data")?)?.unwrap_or_default(),
    })
}

pub(crate) fn action(r: &SqliteRow) -> Result<Action> {
    let state: String = r.try_get("state")?;
    let mode: String = r.try_get("mode")?;
    let outcome: Option<String> = r.try_get("outcome")?;
    Ok(Action {
        id: r.try_get("id")?,
        idempotency_key: r.try_get("idempotency_key")?,
        incident_id: r.try_get("incident_id")?,
        service: r.try_get("service")?,
        fingerprint: r.try_get("fingerprint")?,
        plan_id: r.try_get("plan_id")?,
        planner: r.try_get("planner")?,
        runbook: r.try_get("runbook")?,
        step: r.try_get::<i64, _>("step")? as u32,
        tool: r.try_get("tool")?,
        args: json(r.try_get("args")?)?.unwrap_or_default(),
        mode: Mode::parse(&mode).ok_or_else(|| bad("mode", &mode))?,
        state: ActionState::parse(&state).ok_or_else(|| bad("action state", &state))?,
        reason: r.try_get("reason")?,
        result: json(r.try_get("result")?)?,
        outcome: match outcome {
            Some(o) => Some(Outcome::parse(&o).ok_or_else(|| bad("outcome", &o))?),
            None => None,
        },
        created_at: Timestamp(r.try_get("created_at")?),
        updated_at: Timestamp(r.try_get("updated_at")?),
        decided_by: r.try_get("decided_by")?,
    })
}

pub(crate) fn audit(r: &SqliteRow) -> Result<AuditRecord> {
    Ok(AuditRecord {
        id: r.try_get("id")?,
        at: Timestamp(r.try_get("at")?),
        actor: r.try_get("actor")?,
        action: r.try_get("action")?,
        subject: r.try_get("subject")?,
        decision: r.try_get("decision")?,
        reason: r.try_get("reason")?,
        data: json(r.try_get("data")?)?.unwrap_or_default(),
    })
}

pub(crate) fn silence(r: &SqliteRow) -> Result<Silence> {
    Ok(Silence {
        id: r.try_get("id")?,
        service: r.try_get("service")?,
        kind: r.try_get("kind")?,
        starts_at: Timestamp(r.try_get("starts_at")?),
        ends_at: Timestamp(r.try_get("ends_at")?),
        reason: r.try_get("reason")?,
        created_by: r.try_get("created_by")?,
    })
}
