//! What a firing alert tells the incident manager: its signal (fingerprint, title, the
//! `opened` entry) and the timeline note its annotations make.

use obsctl_core::Timestamp;
use obsctl_core::alert::{self, AlertRecord, AlertSource};
use obsctl_core::incident::fingerprint;
use obsctl_core::timeline::{AlertEntry, EntryKind, to_data};
use obsctl_store::NewEvent;
use serde_json::json;

use crate::incidents::Signal;

/// The owned parts of an alert's [`Signal`].
pub(super) struct AlertSignal {
    pub fingerprint: String,
    pub check_id: String,
    title: String,
    detail: String,
    message: String,
    data: serde_json::Value,
    /// Summary, description and runbook URL, when the alert has any.
    pub annotations: Option<NewEvent>,
}

/// The fingerprint of the incident an alert of `service` and `kind` raises:
/// `<service>/alert:<source>:<fingerprint>/<kind>`.
pub(super) fn incident_fingerprint(service: &str, kind: &str, source: AlertSource, alert_fingerprint: &str) -> String {
    fingerprint(service, &alert::check_id(source, alert_fingerprint), kind)
}

impl AlertSignal {
    pub fn of(r: &AlertRecord) -> Self {
        let a = &r.alert;
        let check_id = alert::check_id(a.source, &a.fingerprint);
        let summary = a.annotations.get("summary").or(a.annotations.get("description")).cloned();
        let detail = summary.clone().unwrap_or_else(|| format!("{} firing", r.kind));
        let data = json!({
            "check_id": check_id, "source": a.source.as_str(), "fingerprint": a.fingerprint,
            "labels": a.labels, "source_url": a.source_url, "starts_at": a.starts_at,
        });
        let annotations = (!a.annotations.is_empty()).then(|| NewEvent {
            kind: EntryKind::Alert,
            message: ["summary", "description", "runbook_url"]
                .iter()
                .filter_map(|k| a.annotations.get(*k).map(|v| format!("{k}: {v}")))
                .collect::<Vec<_>>()
                .join("\n"),
            data: to_data(&AlertEntry { annotations: a.annotations.clone(), source_url: a.source_url.clone() }),
        });
        Self {
            fingerprint: incident_fingerprint(&r.service, &r.kind, a.source, &a.fingerprint),
            title: summary.unwrap_or_else(|| format!("{} on {}", r.kind, r.service)),
            message: format!("{} alert {} is firing: {detail}", a.source.as_str(), r.kind),
            check_id,
            detail,
            data,
            annotations,
        }
    }

    pub fn signal<'a>(&'a self, r: &'a AlertRecord, at: Timestamp) -> Signal<'a> {
        Signal {
            fingerprint: self.fingerprint.clone(),
            service: &r.service,
            check_id: &self.check_id,
            kind: &r.kind,
            title: self.title.clone(),
            detail: &self.detail,
            at,
            message: self.message.clone(),
            data: self.data.clone(),
            flapping: false,
        }
    }
}
