//! Builders for domain values the conformance suite stores.

use obsctl_core::Timestamp;
use obsctl_core::action::{Action, ActionState};
use obsctl_core::check::Observation;
use obsctl_core::incident::{Incident, IncidentStatus, fingerprint};
use obsctl_core::policy::Mode;

pub fn observation(check_id: &str, at: i64, ok: bool) -> Observation {
    Observation {
        check_id: check_id.into(),
        at: Timestamp(at),
        ok,
        latency_us: at as u64 * 10,
        detail: format!("d{at}"),
    }
}

pub fn incident(id: &str, service: &str, at: i64) -> Incident {
    Incident {
        id: id.into(),
        fingerprint: fingerprint(service, "health", "http-down"),
        service: service.into(),
        check_id: format!("{service}/health"),
        kind: "http-down".into(),
        status: IncidentStatus::Open,
        title: format!("{service} health is failing"),
        detail: "status 500".into(),
        opened_at: Timestamp(at),
        updated_at: Timestamp(at),
        resolved_at: None,
        occurrences: 1,
        reopen_count: 0,
        upstream_incident: None,
        resolution: None,
    }
}

pub fn action(id: &str, incident: &Incident, plan: &str, state: ActionState) -> Action {
    let now = Timestamp::now();
    Action {
        id: id.into(),
        idempotency_key: format!("key-{id}"),
        incident_id: incident.id.clone(),
        service: incident.service.clone(),
        fingerprint: incident.fingerprint.clone(),
        plan_id: plan.into(),
        planner: "runbook".into(),
        runbook: Some("restart".into()),
        step: 0,
        tool: "process.restart".into(),
        args: serde_json::json!({"service": incident.service}),
        mode: Mode::Auto,
        state,
        reason: "mode auto".into(),
        result: None,
        outcome: None,
        created_at: now,
        updated_at: now,
        decided_by: None,
    }
}
