//! An incident opening as one trace (probe → plan → gate → act → verify), built from its
//! journal when the opening ends, and the OTLP/JSON body that carries it to a collector.
//!
//! The trace is derived, not instrumented live: an opening can outlast a restart or move to
//! another replica, and the journal is the one record of every step with its time. Ids are
//! hashes of the episode id, so a trace sent twice is the same trace.

use std::collections::{BTreeMap, HashMap};

use serde_json::{Value, json};

use crate::action::{Action, ActionState, Outcome};
use crate::hash::{FNV_OFFSET, fnv1a, hex};
use crate::incident::{Incident, IncidentEvent};
use crate::memory::EpisodeOutcome;
use crate::secret::{Secret, redact};
use crate::timeline::{ActionEntry, EntryKind, GateEntry, Opening, OutcomeEntry, PlanEntry, data_of};

/// One trace: the spans of one incident opening, the root first.
#[derive(Debug, Clone, PartialEq)]
pub struct Trace {
    pub trace_id: [u8; 16],
    pub spans: Vec<Span>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Span {
    pub span_id: [u8; 8],
    pub parent: Option<[u8; 8]>,
    pub name: String,
    pub start_ns: i64,
    pub end_ns: i64,
    pub attributes: Vec<(&'static str, Attr)>,
    /// Timeline entries that are not a step of their own (recall, approvals, notes, …).
    pub events: Vec<SpanEvent>,
    /// The span failed, and why.
    pub error: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Attr {
    Str(String),
    Int(i64),
}

#[derive(Debug, Clone, PartialEq)]
pub struct SpanEvent {
    pub name: String,
    pub at_ns: i64,
    pub message: String,
}

impl Trace {
    pub fn trace_id_hex(&self) -> String {
        hex(&self.trace_id)
    }

    pub fn root(&self) -> &Span {
        &self.spans[0]
    }
}

const MS: i64 = 1_000_000;

/// The trace of `incident`'s latest opening. `events` is its timeline (older openings are
/// skipped), `actions` the journal entries of this opening; every text passes `redact`.
pub fn incident_trace(
    episode_id: &str,
    incident: &Incident,
    events: &[IncidentEvent],
    actions: &[Action],
    outcome: EpisodeOutcome,
    secrets: &[&Secret],
) -> Trace {
    let ids = Ids::new(episode_id);
    let first = events.iter().rposition(|e| e.kind.is_opening()).unwrap_or(0);
    let opening = events.get(first..).unwrap_or_default();
    let start = opening.first().map_or(incident.opened_at, |e| e.at).millis() * MS;
    let resolved = incident.resolved_at.unwrap_or(incident.updated_at).millis() * MS;
    let text = |s: &str| redact(s, secrets);

    let mut root = Span {
        span_id: ids.span(0),
        parent: None,
        name: format!("incident {} on {}", incident.kind, incident.service),
        start_ns: start,
        end_ns: start,
        attributes: vec![
            ("obsctl.incident.id", Attr::Str(incident.id.clone())),
            ("obsctl.incident.kind", Attr::Str(incident.kind.clone())),
            ("obsctl.incident.service", Attr::Str(incident.service.clone())),
            ("obsctl.incident.reopen_count", Attr::Int(incident.reopen_count.into())),
            ("obsctl.check.id", Attr::Str(incident.check_id.clone())),
            ("obsctl.episode.id", Attr::Str(episode_id.to_string())),
            ("obsctl.outcome", Attr::Str(outcome.as_str().to_string())),
        ],
        events: Vec::new(),
        error: matches!(outcome, EpisodeOutcome::NotFixed | EpisodeOutcome::Escalated)
            .then(|| format!("ended {}", outcome.as_str())),
    };
    let mut steps = Steps { ids: &ids, root: root.span_id, spans: Vec::new() };
    // The signal that opened it: the failing probe (its own latency) or the alert.
    let mut mark = start;
    if let Some(opened) = opening.first() {
        let latency_us = data_of::<Opening>(&opened.data).map_or(0, |o| o.latency_us);
        let latency_ns = i64::try_from(latency_us).unwrap_or(0) * 1_000;
        let name = match incident.check_id.strip_prefix("alert:") {
            Some(rest) => format!("alert {}", rest.split(':').next().unwrap_or(rest)),
            None => format!("probe {}", incident.check_id),
        };
        steps.add(name, start, start + latency_ns, vec![("obsctl.detail", Attr::Str(text(&opened.message)))]);
        mark = start + latency_ns;
    }
    let by_id: HashMap<&str, &Action> = actions.iter().map(|a| (a.id.as_str(), a)).collect();
    let mut running: BTreeMap<String, i64> = BTreeMap::new();
    for e in opening.iter().skip(1) {
        let at = e.at.millis() * MS;
        match e.kind {
            EntryKind::Plan => {
                let mut attrs = vec![("obsctl.plan.summary", Attr::Str(text(&e.message)))];
                attrs.extend(data_of::<PlanEntry>(&e.data).map(|p| ("obsctl.plan.id", Attr::Str(p.plan_id))));
                steps.add("plan".into(), mark, at, attrs);
                mark = at;
            }
            EntryKind::Gate => {
                let Some(g) = data_of::<GateEntry>(&e.data) else { continue };
                let attrs = vec![
                    ("obsctl.tool", Attr::Str(g.tool.clone())),
                    ("obsctl.gate.verdict", Attr::Str(g.verdict.as_str().into())),
                    ("obsctl.gate.code", Attr::Str(g.gate)),
                    ("obsctl.gate.mode", Attr::Str(g.mode.as_str().into())),
                    ("obsctl.gate.reason", Attr::Str(text(&e.message))),
                ];
                steps.add(format!("gate {}", g.tool), mark, at, attrs);
                mark = at;
            }
            EntryKind::Action => {
                let Some(ActionEntry { action_id: id, state, .. }) = data_of(&e.data) else { continue };
                let Some(state) = state else {
                    running.insert(id, at);
                    continue;
                };
                let began = running.remove(&id).unwrap_or(mark);
                let span = steps.add(format!("act {}", action_tool(&by_id, &id)), began, at, act_attrs(&by_id, &id));
                if by_id.get(id.as_str()).is_some_and(|a| a.state == ActionState::Failed)
                    || state == ActionState::Failed
                {
                    span.error = Some(text(&e.message));
                }
                mark = at;
            }
            EntryKind::Outcome => {
                let verified = data_of::<OutcomeEntry>(&e.data);
                let mut attrs = Vec::new();
                if let Some(v) = &verified {
                    attrs.push(("obsctl.outcome", Attr::Str(v.outcome.as_str().into())));
                    attrs.push(("obsctl.verify.attempts", Attr::Int(v.attempts.into())));
                }
                let span = steps.add("verify".into(), mark, at, attrs);
                if verified.is_none_or(|v| v.outcome != Outcome::Fixed) {
                    span.error = Some(text(&e.message));
                }
                mark = at;
            }
            kind => {
                root.events.push(SpanEvent { name: kind.as_str().to_string(), at_ns: at, message: text(&e.message) })
            }
        }
    }
    // A step journaled as running whose end never was (the process stopped under it).
    for (id, began) in running {
        let span = steps.add(format!("act {}", action_tool(&by_id, &id)), began, resolved, act_attrs(&by_id, &id));
        span.error = Some("never finished".into());
    }
    root.end_ns = resolved.max(steps.spans.iter().map(|s| s.end_ns).max().unwrap_or(start)).max(start);
    let mut spans = vec![root];
    spans.extend(steps.spans);
    Trace { trace_id: ids.trace(), spans }
}

/// The step spans, children of the root in journal order.
struct Steps<'a> {
    ids: &'a Ids<'a>,
    root: [u8; 8],
    spans: Vec<Span>,
}

impl Steps<'_> {
    fn add(&mut self, name: String, start_ns: i64, end_ns: i64, attributes: Vec<(&'static str, Attr)>) -> &mut Span {
        let span = Span {
            span_id: self.ids.span(self.spans.len() + 1),
            parent: Some(self.root),
            name,
            start_ns,
            end_ns: end_ns.max(start_ns),
            attributes,
            events: Vec::new(),
            error: None,
        };
        let at = self.spans.len();
        self.spans.push(span);
        &mut self.spans[at]
    }
}

fn action_tool(by_id: &HashMap<&str, &Action>, id: &str) -> String {
    by_id.get(id).map_or_else(|| "?".to_string(), |a| a.tool.clone())
}

fn act_attrs(by_id: &HashMap<&str, &Action>, id: &str) -> Vec<(&'static str, Attr)> {
    let mut attrs = vec![("obsctl.action.id", Attr::Str(id.to_string()))];
    if let Some(a) = by_id.get(id) {
        attrs.push(("obsctl.tool", Attr::Str(a.tool.clone())));
        attrs.push(("obsctl.plan.id", Attr::Str(a.plan_id.clone())));
        attrs.push(("obsctl.action.state", Attr::Str(a.state.as_str().to_string())));
        attrs.push(("obsctl.action.mode", Attr::Str(a.mode.as_str().to_string())));
    }
    attrs
}

/// Trace and span ids from the episode id: FNV-1a under different offsets, never all zero.
struct Ids<'a>(&'a str);

impl<'a> Ids<'a> {
    fn new(episode_id: &'a str) -> Self {
        Self(episode_id)
    }

    fn trace(&self) -> [u8; 16] {
        let mut id = [0u8; 16];
        id[..8].copy_from_slice(&fnv1a(FNV_OFFSET, self.0.bytes()).to_be_bytes());
        id[8..].copy_from_slice(&(fnv1a(0x6c62_272e_07bb_0142, self.0.bytes()) | 1).to_be_bytes());
        id
    }

    fn span(&self, index: usize) -> [u8; 8] {
        let seed = fnv1a(0x8422_2325_cbf2_9ce4, self.0.bytes());
        (fnv1a(seed, (index as u64).to_be_bytes()) | 1).to_be_bytes()
    }
}

/// The OTLP/JSON `ExportTraceServiceRequest` for `traces`, under one resource.
pub fn otlp_json(traces: &[Trace], resource: &[(String, String)]) -> Value {
    let spans: Vec<Value> =
        traces.iter().flat_map(|t| t.spans.iter().map(move |s| span_json(&t.trace_id_hex(), s))).collect();
    let resource: Vec<Value> = resource.iter().map(|(k, v)| attr_json(k, &Attr::Str(v.clone()))).collect();
    json!({"resourceSpans": [{
        "resource": {"attributes": resource},
        "scopeSpans": [{"scope": {"name": "obsctl", "version": env!("CARGO_PKG_VERSION")}, "spans": spans}],
    }]})
}

fn span_json(trace_id: &str, s: &Span) -> Value {
    let mut span = json!({
        "traceId": trace_id,
        "spanId": hex(&s.span_id),
        "name": s.name,
        "kind": 1,
        "startTimeUnixNano": s.start_ns.max(0).to_string(),
        "endTimeUnixNano": s.end_ns.max(0).to_string(),
        "attributes": s.attributes.iter().map(|(k, v)| attr_json(k, v)).collect::<Vec<_>>(),
        "events": s.events.iter().map(|e| json!({
            "name": e.name,
            "timeUnixNano": e.at_ns.max(0).to_string(),
            "attributes": [attr_json("message", &Attr::Str(e.message.clone()))],
        })).collect::<Vec<_>>(),
        "status": match &s.error {
            None => json!({"code": 1}),
            Some(message) => json!({"code": 2, "message": message}),
        },
    });
    if let Some(parent) = s.parent {
        span["parentSpanId"] = Value::String(hex(&parent));
    }
    span
}

fn attr_json(key: &str, value: &Attr) -> Value {
    match value {
        Attr::Str(s) => json!({"key": key, "value": {"stringValue": s}}),
        // OTLP/JSON carries 64-bit integers as strings.
        Attr::Int(n) => json!({"key": key, "value": {"intValue": n.to_string()}}),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::action::Outcome;
    use crate::incident::IncidentStatus;
    use crate::policy::Mode;
    use crate::time::Timestamp;

    fn incident() -> Incident {
        Incident {
            id: "inc-1".into(),
            fingerprint: "api/health/http-down".into(),
            service: "api".into(),
            check_id: "api/health".into(),
            kind: "http-down".into(),
            status: IncidentStatus::Resolved,
            title: "health http-down on api".into(),
            detail: "status 500".into(),
            opened_at: Timestamp(1_000),
            updated_at: Timestamp(9_000),
            resolved_at: Some(Timestamp(9_000)),
            occurrences: 3,
            reopen_count: 1,
            upstream_incident: None,
            resolution: None,
        }
    }

    fn event(at: i64, kind: &str, message: &str, data: Value) -> IncidentEvent {
        IncidentEvent {
            id: at,
            incident_id: "inc-1".into(),
            at: Timestamp(at),
            kind: EntryKind::parse(kind),
            message: message.into(),
            data,
        }
    }

    fn action(id: &str, tool: &str, state: ActionState) -> Action {
        Action {
            id: id.into(),
            idempotency_key: format!("k/{id}"),
            incident_id: "inc-1".into(),
            service: "api".into(),
            fingerprint: "api/health/http-down".into(),
            plan_id: "plan-1".into(),
            planner: "runbook".into(),
            runbook: Some("restart".into()),
            step: 0,
            tool: tool.into(),
            args: json!({}),
            read_only: false,
            mode: Mode::Auto,
            state,
            reason: String::new(),
            gate: None,
            result: None,
            outcome: Some(Outcome::Fixed),
            created_at: Timestamp(3_000),
            updated_at: Timestamp(5_000),
            decided_by: None,
        }
    }

    /// An earlier opening, then this one: probe → recall → plan → gate → act → verify → resolved.
    fn timeline() -> Vec<IncidentEvent> {
        vec![
            event(500, "opened", "older opening", json!({})),
            event(600, "resolved", "recovered", json!({})),
            event(
                1_000,
                "reopened",
                "api/health is failing: status 500 token=s3cret-value",
                json!({"latency_us": 2_500}),
            ),
            event(1_500, "recall", "similar past incidents: ep-0", json!({})),
            event(2_000, "plan", "runbook restart (confidence 1.00): process.restart", json!({"plan_id": "plan-1"})),
            event(
                2_100,
                "gate",
                "process.restart: auto",
                json!({"gate": "mode_auto", "verdict": "execute", "mode": "auto", "tool": "process.restart"}),
            ),
            event(3_000, "action", "running process.restart {}", json!({"action_id": "act-1"})),
            event(5_000, "action", "process.restart succeeded", json!({"action_id": "act-1", "state": "succeeded"})),
            event(8_000, "outcome", "verified fixed after 2 check run(s)", json!({"outcome": "fixed", "attempts": 2})),
            event(9_000, "resolved", "recovered", json!({})),
        ]
    }

    #[test]
    fn one_opening_becomes_probe_plan_gate_act_verify_under_one_root() {
        let secret = Secret::new("s3cret-value".to_string());
        let actions = [action("act-1", "process.restart", ActionState::Succeeded)];
        let t = incident_trace("ep-inc-1-r1", &incident(), &timeline(), &actions, EpisodeOutcome::Fixed, &[&secret]);
        let names: Vec<&str> = t.spans.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "incident http-down on api",
                "probe api/health",
                "plan",
                "gate process.restart",
                "act process.restart",
                "verify"
            ]
        );
        let root = t.root();
        assert_eq!((root.start_ns, root.end_ns), (1_000 * MS, 9_000 * MS), "the opening, not the older one");
        assert!(root.error.is_none());
        assert!(t.spans[1..].iter().all(|s| s.parent == Some(root.span_id)));
        let span = |i: usize| (t.spans[i].start_ns, t.spans[i].end_ns);
        assert_eq!(span(1), (1_000 * MS, 1_000 * MS + 2_500_000), "the probe's own latency");
        assert_eq!(span(2), (1_000 * MS + 2_500_000, 2_000 * MS));
        assert_eq!(span(3), (2_000 * MS, 2_100 * MS));
        assert_eq!(span(4), (3_000 * MS, 5_000 * MS), "from running to done");
        assert_eq!(span(5), (5_000 * MS, 8_000 * MS));
        assert!(t.spans[4].attributes.contains(&("obsctl.plan.id", Attr::Str("plan-1".into()))));
        assert!(t.spans[3].attributes.contains(&("obsctl.gate.verdict", Attr::Str("execute".into()))));
        assert_eq!(root.events.iter().map(|e| e.name.as_str()).collect::<Vec<_>>(), ["recall", "resolved"]);
        let body = otlp_json(std::slice::from_ref(&t), &[("service.name".into(), "obsctl".into())]).to_string();
        assert!(!body.contains("s3cret-value") && body.contains("token=***"), "{body}");
    }

    #[test]
    fn ids_are_stable_per_episode_and_distinct_across_episodes() {
        let trace = |ep: &str| incident_trace(ep, &incident(), &timeline(), &[], EpisodeOutcome::Fixed, &[]);
        let (a, b) = (trace("ep-inc-1-r1"), trace("ep-inc-1-r2"));
        assert_eq!(a.trace_id, trace("ep-inc-1-r1").trace_id);
        assert_ne!(a.trace_id, b.trace_id);
        let mut ids: Vec<[u8; 8]> = a.spans.iter().map(|s| s.span_id).collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), a.spans.len());
        assert!(ids.iter().all(|id| *id != [0; 8]) && a.trace_id != [0; 16]);
        assert_eq!(a.trace_id_hex().len(), 32);
    }

    #[test]
    fn failures_and_unfinished_steps_are_errors() {
        let mut events = timeline();
        events[7] =
            event(5_000, "action", "process.restart failed: boom", json!({"action_id": "act-1", "state": "failed"}));
        events[8] = event(5_100, "outcome", "not fixed: a step failed", json!({"outcome": "not_fixed", "attempts": 0}));
        events.insert(8, event(5_050, "action", "running fs.cleanup {}", json!({"action_id": "act-2"})));
        let actions = [
            action("act-1", "process.restart", ActionState::Failed),
            action("act-2", "fs.cleanup", ActionState::Running),
        ];
        let t = incident_trace("ep", &incident(), &events, &actions, EpisodeOutcome::NotFixed, &[]);
        let error = |name: &str| t.spans.iter().find(|s| s.name == name).and_then(|s| s.error.clone());
        assert_eq!(error("act process.restart").as_deref(), Some("process.restart failed: boom"));
        assert_eq!(error("verify").as_deref(), Some("not fixed: a step failed"));
        assert_eq!(error("act fs.cleanup").as_deref(), Some("never finished"));
        assert_eq!(t.root().error.as_deref(), Some("ended not_fixed"));
        let json = otlp_json(&[t], &[]);
        let spans = &json["resourceSpans"][0]["scopeSpans"][0]["spans"];
        assert_eq!(spans[0]["status"]["code"], 2);
        assert_eq!(spans[1]["parentSpanId"], spans[0]["spanId"]);
        assert!(spans[0].get("parentSpanId").is_none());
        assert_eq!(spans[0]["attributes"][3]["value"]["intValue"], "1", "reopen count, as OTLP/JSON's string");
    }

    #[test]
    fn an_alert_opening_starts_with_the_alert() {
        let mut i = incident();
        i.check_id = "alert:alertmanager:b7d2".into();
        let t = incident_trace("ep", &i, &timeline(), &[], EpisodeOutcome::SelfResolved, &[]);
        assert_eq!(t.spans[1].name, "alert alertmanager");
    }
}
