//! Alerts from outside (Alertmanager, Grafana, a generic JSON event): the normalised alert,
//! what the store keeps of it, how one more delivery changes it, and the incident it belongs to.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::time::Timestamp;

/// Where an alert came from; each has its own endpoint and may have its own credential.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum AlertSource {
    Alertmanager,
    Grafana,
    Generic,
}

impl AlertSource {
    pub const ALL: [AlertSource; 3] = [AlertSource::Alertmanager, AlertSource::Grafana, AlertSource::Generic];

    pub fn as_str(self) -> &'static str {
        match self {
            AlertSource::Alertmanager => "alertmanager",
            AlertSource::Grafana => "grafana",
            AlertSource::Generic => "generic",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == text)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum AlertStatus {
    Firing,
    Resolved,
}

impl AlertStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            AlertStatus::Firing => "firing",
            AlertStatus::Resolved => "resolved",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "firing" => Some(AlertStatus::Firing),
            "resolved" => Some(AlertStatus::Resolved),
            _ => None,
        }
    }
}

/// One alert as a source delivered it, normalised.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Alert {
    pub source: AlertSource,
    /// The source's identity of the alert (Alertmanager's label fingerprint); computed from the
    /// labels when the source sends none.
    pub fingerprint: String,
    pub status: AlertStatus,
    pub labels: BTreeMap<String, String>,
    /// `summary`, `description`, `runbook_url`, …
    pub annotations: BTreeMap<String, String>,
    /// As the source states them; never used as obsctl's own clock (sources' clocks drift).
    pub starts_at: Option<Timestamp>,
    pub ends_at: Option<Timestamp>,
    /// A link back to the source (Prometheus' graph, Grafana's panel).
    pub source_url: Option<String>,
}

/// What the store keeps of an alert: the last delivery of it and its incident.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct AlertRecord {
    #[serde(flatten)]
    pub alert: Alert,
    pub service: String,
    /// The incident kind it raises (its `alertname`, or the mapped kind).
    pub kind: String,
    pub incident_id: Option<String>,
    /// obsctl's clock: when the first and the last delivery of it arrived.
    pub first_seen: Timestamp,
    pub last_seen: Timestamp,
    pub deliveries: u32,
}

/// One webhook request: what it carried, for the record (`truncatedAlerts` among it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct AlertDelivery {
    pub source: AlertSource,
    pub received_at: Timestamp,
    pub receiver: String,
    pub group_key: String,
    pub alerts: u32,
    /// Alerts the source left out of this request (Alertmanager's `max_alerts`).
    pub truncated: u32,
}

/// What one more delivery of an alert means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlertChange {
    /// Firing and not firing before: an incident opens (or reopens).
    Opens,
    /// The same state again: counted, nothing else happens (deliveries are idempotent).
    Repeats,
    /// Was firing, now resolved: the incident resolves.
    Resolves,
    /// Older than what is stored (a retry that arrived late): recorded, never applied.
    Stale,
}

/// How `incoming` changes the stored record of the same alert.
pub fn change(stored: Option<&AlertRecord>, incoming: &Alert) -> AlertChange {
    use AlertStatus::*;
    let Some(stored) = stored else {
        // A resolution of an alert never seen firing is kept, but there is nothing to resolve.
        return if incoming.status == Firing { AlertChange::Opens } else { AlertChange::Repeats };
    };
    let older = matches!((incoming.starts_at, stored.alert.starts_at), (Some(new), Some(old)) if new < old);
    match (stored.alert.status, incoming.status) {
        (Firing, Firing) | (Resolved, Resolved) => AlertChange::Repeats,
        (_, _) if older => AlertChange::Stale,
        (Firing, Resolved) => AlertChange::Resolves,
        // A firing delivery of the episode that already resolved is a late retry.
        (Resolved, Firing) if incoming.starts_at.is_some() && incoming.starts_at == stored.alert.starts_at => {
            AlertChange::Stale
        }
        (Resolved, Firing) => AlertChange::Opens,
    }
}

/// The check id an alert's incident carries: `alert:<source>:<fingerprint>`.
pub fn check_id(source: AlertSource, fingerprint: &str) -> String {
    format!("alert:{}:{fingerprint}", source.as_str())
}

/// The source and fingerprint of an alert's check id; `None` for a configured check.
pub fn parse_check_id(check_id: &str) -> Option<(AlertSource, &str)> {
    let (source, fingerprint) = check_id.strip_prefix("alert:")?.split_once(':')?;
    Some((AlertSource::parse(source)?, fingerprint))
}

/// A fingerprint from the labels, for sources that send none: FNV-1a over the sorted pairs,
/// stable across versions and processes.
pub fn label_fingerprint(labels: &BTreeMap<String, String>) -> String {
    let pairs = labels.iter().flat_map(|(k, v)| k.bytes().chain([0xff]).chain(v.bytes()).chain([0xfe]));
    format!("{:016x}", crate::hash::fnv1a(crate::hash::FNV_OFFSET, pairs))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alert(status: AlertStatus, starts: Option<i64>) -> Alert {
        Alert {
            source: AlertSource::Alertmanager,
            fingerprint: "f1".into(),
            status,
            labels: BTreeMap::new(),
            annotations: BTreeMap::new(),
            starts_at: starts.map(Timestamp),
            ends_at: None,
            source_url: None,
        }
    }

    fn stored(status: AlertStatus, starts: Option<i64>) -> AlertRecord {
        AlertRecord {
            alert: alert(status, starts),
            service: "api".into(),
            kind: "HighErrorRate".into(),
            incident_id: Some("inc".into()),
            first_seen: Timestamp(1),
            last_seen: Timestamp(1),
            deliveries: 1,
        }
    }

    #[test]
    fn deliveries_change_an_alert_once() {
        use AlertChange::*;
        use AlertStatus::*;
        let cases = [
            (None, (Firing, Some(10)), Opens),
            (None, (Resolved, Some(10)), Repeats),
            (Some((Firing, Some(10))), (Firing, Some(10)), Repeats),
            (Some((Firing, Some(10))), (Resolved, Some(10)), Resolves),
            (Some((Resolved, Some(10))), (Resolved, Some(10)), Repeats),
            // Fires again later: a new episode.
            (Some((Resolved, Some(10))), (Firing, Some(20)), Opens),
            // The firing retry of the episode that already resolved.
            (Some((Resolved, Some(10))), (Firing, Some(10)), Stale),
            // A resolution of an older episode than the one firing now.
            (Some((Firing, Some(20))), (Resolved, Some(10)), Stale),
            // A generic event with no start time: taken in arrival order.
            (Some((Resolved, None)), (Firing, None), Opens),
            (Some((Firing, None)), (Resolved, None), Resolves),
        ];
        for (before, (status, starts), expected) in cases {
            let record = before.map(|(s, t)| stored(s, t));
            assert_eq!(
                change(record.as_ref(), &alert(status, starts)),
                expected,
                "{before:?} then {status:?} {starts:?}"
            );
        }
    }

    #[test]
    fn check_ids_round_trip() {
        let id = check_id(AlertSource::Grafana, "abc:def");
        assert_eq!(id, "alert:grafana:abc:def");
        assert_eq!(parse_check_id(&id), Some((AlertSource::Grafana, "abc:def")));
        assert_eq!(parse_check_id("api/health"), None);
        assert_eq!(parse_check_id("alert:nagios:x"), None);
    }

    #[test]
    fn label_fingerprints_are_stable_and_tell_label_sets_apart() {
        let labels = |pairs: &[(&str, &str)]| pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let a = label_fingerprint(&labels(&[("alertname", "Down"), ("instance", "a")]));
        assert_eq!(a, label_fingerprint(&labels(&[("instance", "a"), ("alertname", "Down")])));
        assert_ne!(a, label_fingerprint(&labels(&[("alertname", "Down"), ("instance", "b")])));
        // The separators keep `ab=c` and `a=bc` apart.
        assert_ne!(label_fingerprint(&labels(&[("ab", "c")])), label_fingerprint(&labels(&[("a", "bc")])));
        assert_eq!(a.len(), 16);
    }
}
