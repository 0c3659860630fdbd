//! The webhook bodies as each source sends them, and their normalisation into `Alert`s.
//!
//! - Alertmanager's webhook, `version: "4"`: <https://prometheus.io/docs/alerting/latest/configuration/#webhook_config>
//! - Grafana-managed alerting's webhook contact point, `version: "1"`: the same shape plus
//!   `orgId`, `title`, `state`, `message` and per alert `dashboardURL`, `panelURL`, `silenceURL`,
//!   `values`: <https://grafana.com/docs/grafana/latest/alerting/configure-notifications/manage-contact-points/integrations/webhook-notifier/>
//! - obsctl's generic event: one object or an array of them (docs/alerts.md).

use std::collections::BTreeMap;

use obsctl_core::Timestamp;
use obsctl_core::alert::{Alert, AlertSource, AlertStatus, label_fingerprint};
use serde::Deserialize;

/// Why a body was refused; nothing of it was applied.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum WireError {
    #[error("the body is not valid JSON for this endpoint: {0}")]
    Json(String),
    #[error("{0}")]
    Version(String),
    #[error("{0}")]
    Invalid(String),
}

/// A webhook body, normalised: what the delivery said of itself, and its alerts.
#[derive(Debug, Clone, PartialEq)]
pub struct Parsed {
    pub receiver: String,
    pub group_key: String,
    pub truncated: u32,
    pub alerts: Vec<Alert>,
}

/// A start time this far past obsctl's clock is taken as obsctl's clock (the sender's drifts).
pub const MAX_CLOCK_SKEW: std::time::Duration = std::time::Duration::from_secs(300);

/// A notification from Alertmanager (`version: "4"`) or Grafana (`version: "1"`); the fields
/// obsctl reads (`status`, `groupLabels`, `commonLabels`, `externalURL`, … are accepted too).
/// One struct per source, so each one's documented schema names its own version.
macro_rules! notification {
    ($name:ident, $version:literal) => {
        #[derive(Deserialize, schemars::JsonSchema)]
        #[serde(rename_all = "camelCase")]
        pub struct $name {
            #[schemars(regex(pattern = $version))]
            pub version: String,
            #[serde(default)]
            pub receiver: String,
            #[serde(default)]
            pub group_key: String,
            /// Alerts the sender left out; the schema bounds it as it is stored (u32).
            #[serde(default)]
            #[schemars(range(max = 4294967295u32))]
            pub truncated_alerts: u32,
            pub alerts: Vec<WireAlert>,
        }
    };
}
notification!(AlertmanagerNotification, "^4$");
notification!(GrafanaNotification, "^1$");

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct WireAlert {
    /// `firing` or `resolved`.
    #[schemars(regex(pattern = "^(firing|resolved)$"))]
    pub status: String,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    #[schemars(extend("format" = "date-time"))]
    pub starts_at: Option<String>,
    #[schemars(extend("format" = "date-time"))]
    pub ends_at: Option<String>,
    #[serde(rename = "generatorURL")]
    pub generator_url: Option<String>,
    /// Grafana's.
    #[serde(rename = "panelURL")]
    pub panel_url: Option<String>,
    /// Grafana's.
    #[serde(rename = "dashboardURL")]
    pub dashboard_url: Option<String>,
    #[serde(default)]
    pub fingerprint: String,
}

/// obsctl's generic event: something is wrong (`firing`) or fine again (`resolved`).
#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GenericEvent {
    /// The incident kind, e.g. `queue-backlog`.
    #[schemars(regex(pattern = "\\S"))]
    pub kind: String,
    pub service: Option<String>,
    /// `firing` (the default) or `resolved`.
    #[serde(default = "firing")]
    #[schemars(regex(pattern = "^(firing|resolved)$"))]
    pub status: String,
    pub summary: Option<String>,
    pub description: Option<String>,
    pub runbook_url: Option<String>,
    /// A link back to where the event came from.
    pub url: Option<String>,
    /// The deduplication key; by default the kind, service and labels.
    pub key: Option<String>,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}

fn firing() -> String {
    "firing".into()
}

/// One generic event or an array of them.
#[derive(Deserialize, schemars::JsonSchema)]
#[serde(untagged)]
pub enum GenericBody {
    One(GenericEvent),
    Many(Vec<GenericEvent>),
}

/// Parses a body from `source`; `now` is obsctl's clock, `service_label` where a generic
/// event's service goes.
pub fn parse(source: AlertSource, body: &[u8], now: Timestamp, service_label: &str) -> Result<Parsed, WireError> {
    match source {
        AlertSource::Alertmanager | AlertSource::Grafana => notification(source, body, now),
        AlertSource::Generic => generic(body, service_label),
    }
}

fn json_error(e: serde_json::Error) -> WireError {
    WireError::Json(e.to_string())
}

fn notification(source: AlertSource, body: &[u8], now: Timestamp) -> Result<Parsed, WireError> {
    // Both sources' bodies have the same fields; only the version told apart below differs.
    let n: AlertmanagerNotification = serde_json::from_slice(body).map_err(|e| {
        // A legacy Grafana body has no `alerts`: say what to do rather than "missing field".
        if source == AlertSource::Grafana && serde_json::from_slice::<serde_json::Value>(body).is_ok_and(|v| v.get("ruleName").is_some()) {
            WireError::Version("this is Grafana's legacy alerting webhook; use a Grafana-managed alerting webhook contact point (version 1)".into())
        } else {
            json_error(e)
        }
    })?;
    let expected = if source == AlertSource::Alertmanager { "4" } else { "1" };
    if n.version != expected {
        return Err(WireError::Version(format!(
            "version {:?} is not supported on this endpoint; {} sends version \"{expected}\"",
            n.version,
            source.as_str()
        )));
    }
    let mut alerts = Vec::with_capacity(n.alerts.len());
    for (i, a) in n.alerts.into_iter().enumerate() {
        let status = AlertStatus::parse(&a.status).ok_or_else(|| {
            WireError::Invalid(format!("alerts[{i}].status is {:?}; use firing or resolved", a.status))
        })?;
        let starts_at =
            time(a.starts_at.as_deref(), &format!("alerts[{i}].startsAt"))?.map(|t| t.min(now.plus(MAX_CLOCK_SKEW)));
        let ends_at = time(a.ends_at.as_deref(), &format!("alerts[{i}].endsAt"))?;
        let fingerprint = if a.fingerprint.is_empty() { label_fingerprint(&a.labels) } else { a.fingerprint };
        let source_url = [a.panel_url, a.dashboard_url, a.generator_url].into_iter().flatten().find(|u| !u.is_empty());
        alerts.push(Alert {
            source,
            fingerprint,
            status,
            labels: a.labels,
            annotations: a.annotations,
            starts_at,
            ends_at,
            source_url,
        });
    }
    Ok(Parsed { receiver: n.receiver, group_key: n.group_key, truncated: n.truncated_alerts, alerts })
}

/// An RFC 3339 time; the zero time Alertmanager sends for "none" (`0001-01-01T00:00:00Z`) is none.
fn time(text: Option<&str>, field: &str) -> Result<Option<Timestamp>, WireError> {
    match text {
        None => Ok(None),
        Some(t) if t.starts_with("0001-01-01") => Ok(None),
        Some(t) => Timestamp::parse_rfc3339(t)
            .map(Some)
            .ok_or_else(|| WireError::Invalid(format!("{field} is {t:?}, not an RFC 3339 time in UTC"))),
    }
}

fn generic(body: &[u8], service_label: &str) -> Result<Parsed, WireError> {
    let events = match serde_json::from_slice::<GenericBody>(body) {
        Ok(GenericBody::One(e)) => vec![e],
        Ok(GenericBody::Many(list)) => list,
        // Untagged enums hide the reason: parse again as one event for a useful message.
        Err(_) => vec![serde_json::from_slice::<GenericEvent>(body).map_err(json_error)?],
    };
    let mut alerts = Vec::with_capacity(events.len());
    for (i, e) in events.into_iter().enumerate() {
        if e.kind.trim().is_empty() {
            return Err(WireError::Invalid(format!(
                "event {i}: kind is empty; name what is wrong, e.g. \"queue-backlog\""
            )));
        }
        let status = AlertStatus::parse(&e.status).ok_or_else(|| {
            WireError::Invalid(format!("event {i}: status is {:?}; use firing or resolved", e.status))
        })?;
        let mut labels = e.labels;
        labels.insert("alertname".into(), e.kind);
        if let Some(service) = e.service.filter(|s| !s.is_empty()) {
            labels.insert(service_label.into(), service);
        }
        let annotations: BTreeMap<String, String> =
            [("summary", e.summary), ("description", e.description), ("runbook_url", e.runbook_url)]
                .into_iter()
                .filter_map(|(k, v)| Some((k.to_string(), v?)))
                .collect();
        let fingerprint = e.key.filter(|k| !k.is_empty()).unwrap_or_else(|| label_fingerprint(&labels));
        alerts.push(Alert {
            source: AlertSource::Generic,
            fingerprint,
            status,
            labels,
            annotations,
            starts_at: None,
            ends_at: None,
            source_url: e.url,
        });
    }
    Ok(Parsed { receiver: String::new(), group_key: String::new(), truncated: 0, alerts })
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: Timestamp = Timestamp(1_764_410_400_000); // 2025-11-29T10:00:00Z

    fn am(body: &str) -> Result<Parsed, WireError> {
        parse(AlertSource::Alertmanager, body.as_bytes(), NOW, "service")
    }

    #[test]
    fn alertmanager_fixture_parses() {
        let body = include_str!("../../tests/fixtures/alertmanager-webhook-v4.json");
        let p = am(body).unwrap();
        assert_eq!((p.receiver.as_str(), p.truncated, p.alerts.len()), ("obsctl", 2, 2));
        let a = &p.alerts[0];
        assert_eq!(a.status, AlertStatus::Firing);
        assert_eq!(a.fingerprint, "b7d2c1a3f0e94d21");
        assert_eq!(a.labels["service"], "checkout");
        assert_eq!(a.annotations["runbook_url"], "https://runbooks.example/high-error-rate");
        assert_eq!(a.starts_at, Timestamp::parse_rfc3339("2025-11-29T09:58:30.123Z"));
        assert_eq!(a.ends_at, None, "the zero time is no time");
        assert!(a.source_url.as_deref().unwrap().starts_with("http://prometheus"));
        assert_eq!(p.alerts[1].status, AlertStatus::Resolved);
    }

    #[test]
    fn truncated_alerts_is_taken_up_to_what_the_schema_allows() {
        let body = |n: &str| format!(r#"{{"version": "4", "truncatedAlerts": {n}, "alerts": []}}"#);
        assert_eq!(am(&body("4294967295")).unwrap().truncated, u32::MAX);
        assert!(am(&body("4294967296")).is_err(), "above the schema's maximum");
    }

    #[test]
    fn grafana_fixture_parses_and_links_the_panel() {
        let body = include_str!("../../tests/fixtures/grafana-webhook.json");
        let p = parse(AlertSource::Grafana, body.as_bytes(), NOW, "service").unwrap();
        assert_eq!(p.alerts.len(), 1);
        assert_eq!(p.alerts[0].source_url.as_deref(), Some("http://grafana.local:3000/d/abc/checkout?viewPanel=2"));
        assert_eq!(p.alerts[0].labels["alertname"], "CheckoutLatency");
    }

    #[test]
    fn bad_bodies_get_a_reason() {
        let cases = [
            ("{", "not valid JSON"),
            (r#"{"version":"3","alerts":[]}"#, "version \"3\" is not supported"),
            (r#"{"alerts":[]}"#, "missing field `version`"),
            (r#"{"version":"4"}"#, "missing field `alerts`"),
            (r#"{"version":"4","alerts":[{"labels":{}}]}"#, "missing field `status`"),
            (r#"{"version":"4","alerts":[{"status":"pending"}]}"#, "alerts[0].status is \"pending\""),
            (r#"{"version":"4","alerts":[{"status":"firing","startsAt":"yesterday"}]}"#, "alerts[0].startsAt"),
            (r#"{"version":"4","alerts":[{"status":"firing","labels":{"a":1}}]}"#, "invalid type"),
        ];
        for (body, expected) in cases {
            let error = am(body).unwrap_err().to_string();
            assert!(error.contains(expected), "{body}: {error}");
        }
        let legacy = r#"{"ruleName":"cpu","state":"alerting","evalMatches":[]}"#;
        let error = parse(AlertSource::Grafana, legacy.as_bytes(), NOW, "service").unwrap_err();
        assert!(error.to_string().contains("legacy alerting"), "{error}");
    }

    #[test]
    fn missing_labels_and_fingerprints_fall_back() {
        let p = am(r#"{"version":"4","alerts":[{"status":"firing"},{"status":"firing","labels":{"alertname":"X"}}]}"#)
            .unwrap();
        assert_eq!(p.alerts[0].fingerprint, label_fingerprint(&BTreeMap::new()));
        assert_ne!(p.alerts[0].fingerprint, p.alerts[1].fingerprint);
    }

    #[test]
    fn a_start_time_from_the_future_is_clamped_to_the_skew_allowance() {
        let p = am(r#"{"version":"4","alerts":[{"status":"firing","startsAt":"2030-01-01T00:00:00Z"}]}"#).unwrap();
        assert_eq!(p.alerts[0].starts_at, Some(NOW.plus(MAX_CLOCK_SKEW)));
    }

    #[test]
    fn generic_events_one_or_many() {
        let one = r#"{"kind":"queue-backlog","service":"billing","summary":"queue is 10k deep","labels":{"queue":"invoices"}}"#;
        let p = parse(AlertSource::Generic, one.as_bytes(), NOW, "app").unwrap();
        let a = &p.alerts[0];
        assert_eq!((a.labels["alertname"].as_str(), a.labels["app"].as_str()), ("queue-backlog", "billing"));
        assert_eq!(a.annotations["summary"], "queue is 10k deep");
        assert_eq!(a.status, AlertStatus::Firing);
        let many = r#"[{"kind":"a","key":"k1"},{"kind":"a","key":"k1","status":"resolved"}]"#;
        let p = parse(AlertSource::Generic, many.as_bytes(), NOW, "service").unwrap();
        assert_eq!(p.alerts.iter().map(|a| a.fingerprint.as_str()).collect::<Vec<_>>(), ["k1", "k1"]);
        for (body, expected) in [
            (r#"{"kind":"a","sevrity":"high"}"#, "unknown field `sevrity`"),
            (r#"{"service":"x"}"#, "missing field `kind`"),
            (r#"{"kind":" "}"#, "kind is empty"),
            (r#"{"kind":"a","status":"open"}"#, "status is \"open\""),
        ] {
            let error = parse(AlertSource::Generic, body.as_bytes(), NOW, "service").unwrap_err().to_string();
            assert!(error.contains(expected), "{body}: {error}");
        }
    }
}
