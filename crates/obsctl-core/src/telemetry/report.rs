//! A telemetry report: what `obsctl telemetry check` found for one service, as `--json` prints
//! it and as the control plane takes it (`POST /api/v1/telemetry-reports`).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{Finding, Severity, rules};
use crate::Timestamp;

/// The incident kind a failing report opens.
pub const MISCONFIGURED_KIND: &str = "telemetry-misconfigured";

/// The check id a service's telemetry incidents carry (`telemetry:<service>`).
pub fn check_id(service: &str) -> String {
    format!("telemetry:{service}")
}

/// The service a telemetry check id names.
pub fn parse_check_id(check_id: &str) -> Option<&str> {
    check_id.strip_prefix("telemetry:").filter(|s| !s.is_empty())
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Report {
    /// The service the settings are for (`OTEL_SERVICE_NAME`, `service.name` or `SERVICE_NAME`).
    pub service: String,
    /// Where the settings came from: a file or "the environment".
    pub source: String,
    /// No error, and the canary (when one was sent) arrived everywhere it was looked for.
    pub ok: bool,
    /// Recounted by the control plane from `findings`, whatever is sent.
    #[schemars(range(max = 4294967295u32))]
    pub errors: u32,
    #[schemars(range(max = 4294967295u32))]
    pub warnings: u32,
    pub findings: Vec<ReportedFinding>,
    /// The proof of flow, when `--flow` sent a canary.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flow: Option<Flow>,
    /// When the control plane took it (set by the control plane).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub received_at: Option<Timestamp>,
}

/// A finding as reported: its rule's fix included.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ReportedFinding {
    pub code: String,
    pub severity: Severity,
    pub variable: String,
    pub message: String,
    pub fix: String,
}

/// A canary's journey: the endpoint's answer per signal, then each place it was looked for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Flow {
    /// The canary's id (resource attribute `obsctl.canary`).
    pub canary: String,
    /// Where it was sent (credentials masked).
    pub endpoint: String,
    pub hops: Vec<Hop>,
}

impl Flow {
    pub fn ok(&self) -> bool {
        self.hops.iter().all(|h| h.ok)
    }
}

/// One hop of one signal: sent to the endpoint, or found (or not) in a backend.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Hop {
    /// `traces`, `logs` or `metrics`.
    pub signal: String,
    /// `endpoint` for the send, else the backend looked in (`obsctl`, …).
    pub at: String,
    pub ok: bool,
    /// Milliseconds from sending to being found, when found.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(max = 9007199254740991u64))]
    pub delay_ms: Option<u64>,
    pub detail: String,
}

impl Report {
    /// The report of `findings` for `service`, read from `source`.
    pub fn new(service: String, source: String, findings: &[Finding], flow: Option<Flow>) -> Self {
        let fix = |code: &str| rules().iter().find(|r| r.code == code).map_or("", |r| r.fix).to_string();
        let findings: Vec<ReportedFinding> = findings
            .iter()
            .map(|f| ReportedFinding {
                code: f.code.into(),
                severity: f.severity,
                variable: f.variable.clone(),
                message: f.message.clone(),
                fix: fix(f.code),
            })
            .collect();
        let mut report =
            Report { service, source, ok: false, errors: 0, warnings: 0, findings, flow, received_at: None };
        report.recount();
        report
    }

    /// Counts and `ok` as its findings and flow say, whatever a sender claimed.
    pub fn recount(&mut self) {
        let errors = self.findings.iter().filter(|f| f.severity == Severity::Error).count();
        self.errors = u32::try_from(errors).unwrap_or(u32::MAX);
        self.warnings = u32::try_from(self.findings.len() - errors).unwrap_or(u32::MAX);
        self.ok = self.errors == 0 && self.flow.as_ref().is_none_or(Flow::ok);
    }

    /// What is wrong, in one line: the error codes and the hops that lost the canary.
    pub fn summary(&self) -> String {
        let mut parts: Vec<String> = self
            .findings
            .iter()
            .filter(|f| f.severity == Severity::Error)
            .map(|f| format!("{} {}: {}", f.code, f.variable, f.message))
            .collect();
        if let Some(flow) = &self.flow {
            parts.extend(flow.hops.iter().filter(|h| !h.ok).map(|h| format!("{} at {}: {}", h.signal, h.at, h.detail)));
        }
        if parts.is_empty() { "telemetry settings pass every rule".into() } else { parts.join("; ") }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn finding(code: &'static str, severity: Severity) -> Finding {
        Finding { code, severity, variable: "V".into(), message: "m".into() }
    }

    #[test]
    fn a_report_fails_on_an_error_or_a_lost_canary_not_on_a_warning() {
        let warned = Report::new("a".into(), "env".into(), &[finding("TEL005", Severity::Warning)], None);
        assert!(warned.ok);
        assert_eq!((warned.errors, warned.warnings), (0, 1));
        assert!(warned.findings[0].fix.contains("deployment.environment"), "{:?}", warned.findings[0].fix);
        let failed = Report::new("a".into(), "env".into(), &[finding("TEL003", Severity::Error)], None);
        assert!(!failed.ok);
        assert!(failed.summary().starts_with("TEL003 V: m"));
        let lost = Hop {
            signal: "logs".into(),
            at: "obsctl".into(),
            ok: false,
            delay_ms: None,
            detail: "not found in 30 s".into(),
        };
        let flow = Flow { canary: "c".into(), endpoint: "http://x".into(), hops: vec![lost] };
        let lost = Report::new("a".into(), "env".into(), &[], Some(flow));
        assert!(!lost.ok);
        assert_eq!(lost.summary(), "logs at obsctl: not found in 30 s");
        let mut claimed = failed.clone();
        (claimed.ok, claimed.errors) = (true, 0);
        claimed.recount();
        assert_eq!(claimed, failed, "a report is judged by its findings, not its claim");
        assert_eq!(parse_check_id(&check_id("pay")), Some("pay"));
        assert_eq!(parse_check_id("alert:x"), None);
    }
}
