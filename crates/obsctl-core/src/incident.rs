//! Incidents: the deduplicated unit of trouble, its fingerprint, timeline events and silences.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::time::Timestamp;
use crate::timeline::EntryKind;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum IncidentStatus {
    Open,
    Resolved,
}

impl IncidentStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            IncidentStatus::Open => "open",
            IncidentStatus::Resolved => "resolved",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "open" => Some(IncidentStatus::Open),
            "resolved" => Some(IncidentStatus::Resolved),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Incident {
    pub id: String,
    /// `service/check/kind`: the deduplication key.
    pub fingerprint: String,
    pub service: String,
    pub check_id: String,
    /// e.g. `http-down`, `disk-full`.
    pub kind: String,
    pub status: IncidentStatus,
    pub title: String,
    /// The latest failure detail.
    pub detail: String,
    pub opened_at: Timestamp,
    pub updated_at: Timestamp,
    pub resolved_at: Option<Timestamp>,
    /// Failing observations seen while open.
    pub occurrences: u32,
    pub reopen_count: u32,
    /// Set when a failing dependency explains this incident; no action is taken on it.
    pub upstream_incident: Option<String>,
    pub resolution: Option<String>,
}

/// `service/check/kind`.
pub fn fingerprint(service: &str, check_name: &str, kind: &str) -> String {
    format!("{service}/{check_name}/{kind}")
}

/// A failure within this long after an incident resolved reopens it; later ones open a new one.
pub const DEFAULT_REOPEN_WITHIN: Duration = Duration::from_secs(15 * 60);

/// Whether a new failure should reopen `previous` rather than open a new incident.
pub fn should_reopen(previous: &Incident, now: Timestamp, reopen_within: Duration) -> bool {
    match (previous.status, previous.resolved_at) {
        (IncidentStatus::Resolved, Some(at)) => now.since(at) <= reopen_within,
        _ => false,
    }
}

/// One entry of an incident's timeline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct IncidentEvent {
    pub id: i64,
    pub incident_id: String,
    pub at: Timestamp,
    pub kind: EntryKind,
    pub message: String,
    pub data: serde_json::Value,
}

/// The id of the timeline entry that began the incident's current opening (`opened` or
/// `reopened`), 0 when there is none: what "once per opening" is counted from.
pub fn opening_event_id(events: &[IncidentEvent]) -> i64 {
    events.iter().rev().find(|e| e.kind.is_opening()).map_or(0, |e| e.id)
}

/// Whether the incident's check flaps in its current opening, by its timeline: a `flapping`
/// entry since the opening that no `steady` one followed. Every replica reads the same
/// timeline, whatever its own view of the check is at that instant.
pub fn flapping_now(events: &[IncidentEvent]) -> bool {
    let opened = opening_event_id(events);
    events
        .iter()
        .rev()
        .take_while(|e| e.id > opened)
        .find(|e| matches!(e.kind, EntryKind::Flapping | EntryKind::Steady))
        .is_some_and(|e| e.kind == EntryKind::Flapping)
}

/// A silence or maintenance window: while active, matching incidents are recorded but not acted on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Silence {
    pub id: String,
    /// `None` matches every service.
    pub service: Option<String>,
    /// `None` matches every incident kind.
    pub kind: Option<String>,
    pub starts_at: Timestamp,
    pub ends_at: Timestamp,
    pub reason: String,
    pub created_by: String,
}

impl Silence {
    pub fn is_active(&self, now: Timestamp) -> bool {
        self.starts_at <= now && now < self.ends_at
    }

    pub fn matches(&self, service: &str, kind: &str) -> bool {
        self.service.as_deref().is_none_or(|s| s == service) && self.kind.as_deref().is_none_or(|k| k == kind)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn incident(status: IncidentStatus, resolved_at: Option<i64>) -> Incident {
        Incident {
            id: "i".into(),
            fingerprint: fingerprint("api", "health", "http-down"),
            service: "api".into(),
            check_id: "api/health".into(),
            kind: "http-down".into(),
            status,
            title: String::new(),
            detail: String::new(),
            opened_at: Timestamp(0),
            updated_at: Timestamp(0),
            resolved_at: resolved_at.map(Timestamp),
            occurrences: 1,
            reopen_count: 0,
            upstream_incident: None,
            resolution: None,
        }
    }

    #[test]
    fn reopen_rule() {
        let window = Duration::from_secs(60);
        let resolved = incident(IncidentStatus::Resolved, Some(1_000));
        assert!(should_reopen(&resolved, Timestamp(61_000), window));
        assert!(!should_reopen(&resolved, Timestamp(61_001), window));
        assert!(!should_reopen(&incident(IncidentStatus::Open, None), Timestamp(2_000), window));
        assert_eq!(resolved.fingerprint, "api/health/http-down");
    }

    #[test]
    fn flapping_is_read_from_the_current_opening() {
        let timeline = |kinds: &[&str]| -> Vec<IncidentEvent> {
            let event = |(i, kind): (usize, &&str)| IncidentEvent {
                id: i as i64 + 1,
                incident_id: "i".into(),
                at: Timestamp(0),
                kind: EntryKind::parse(kind),
                message: String::new(),
                data: serde_json::Value::Null,
            };
            kinds.iter().enumerate().map(event).collect()
        };
        let cases: &[(&[&str], bool)] = &[
            (&["opened"], false),
            (&["opened", "flapping"], true),
            (&["opened", "flapping", "plan", "steady"], false),
            (&["opened", "flapping", "resolved", "reopened"], false),
            (&["opened", "resolved", "reopened", "flapping", "note"], true),
        ];
        for (kinds, want) in cases {
            assert_eq!(flapping_now(&timeline(kinds)), *want, "{kinds:?}");
        }
    }

    #[test]
    fn silence_matching() {
        let s = Silence {
            id: "s".into(),
            service: Some("api".into()),
            kind: None,
            starts_at: Timestamp(10),
            ends_at: Timestamp(20),
            reason: "deploy".into(),
            created_by: "ops".into(),
        };
        assert!(s.matches("api", "disk-full") && !s.matches("db", "disk-full"));
        assert!(s.is_active(Timestamp(10)) && !s.is_active(Timestamp(20)) && !s.is_active(Timestamp(9)));
    }
}
