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
        unknown: false,
        incident_kind: None,
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
        read_only: false,
        mode: Mode::Auto,
        state,
        reason: "mode auto".into(),
        result: None,
        outcome: None,
        created_at: now,
        updated_at: now,
        decided_by: None,
        gate: Some("mode_auto".into()),
    }
}

/// An episode of `cluster` whose one attempt ran `tool` with `outcome`.
pub fn episode(
    id: &str,
    cluster: &str,
    tool: &str,
    outcome: obsctl_core::action::Outcome,
    ended_at: i64,
) -> obsctl_core::memory::Episode {
    use obsctl_core::memory::{EpisodeAction, EpisodeOutcome, FixStep, action_key};
    let steps = vec![FixStep { tool: tool.into(), args: serde_json::json!({"service": "api"}) }];
    let (kind, service) = cluster.split_once('@').unwrap();
    let fixed = outcome == obsctl_core::action::Outcome::Fixed;
    obsctl_core::memory::Episode {
        id: id.into(),
        incident_id: format!("inc-{id}"),
        fingerprint: format!("{service}/health/{kind}"),
        cluster: cluster.into(),
        service: service.into(),
        kind: kind.into(),
        labels: [("team".to_string(), "web".to_string())].into(),
        text: format!("{service} health failing: status 500 ({id})"),
        actions: vec![EpisodeAction {
            learn: true,
            action_key: action_key(&steps),
            steps,
            outcome,
            time_to_recover_ms: fixed.then_some(ended_at * 10),
        }],
        outcome: if fixed { EpisodeOutcome::Fixed } else { EpisodeOutcome::NotFixed },
        opened_at: Timestamp(ended_at - 100),
        ended_at: Timestamp(ended_at),
        time_to_recover_ms: 100,
        content_hash: "0".into(),
        origin: "test".into(),
        source: "incident".into(),
    }
}

/// A silence of `api` from 100 to 200 for a deploy.
pub fn silence(id: &str) -> obsctl_core::incident::Silence {
    obsctl_core::incident::Silence {
        id: id.into(),
        service: Some("api".into()),
        kind: None,
        starts_at: Timestamp(100),
        ends_at: Timestamp(200),
        reason: "deploy".into(),
        created_by: "ops".into(),
    }
}
