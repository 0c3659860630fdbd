//! `obsctl telemetry check`: an application's telemetry settings read like a linter reads code.
//! Each rule has a stable code (`TEL001`…), lives in its own file under `telemetry/rules/` and
//! says what it checks, why it matters and how to fix it (`obsctl telemetry rules` prints them).
//! Everything here is pure: the settings come in as variables (from the environment or an
//! `.env` file, `env_file.rs`), findings go out.

pub mod env_file;
mod rules;
mod url;

use std::collections::BTreeMap;

use serde::Serialize;

pub use url::Endpoint;

/// How bad a finding is: an error means telemetry is lost or mislabelled; a warning means it
/// is weaker than it should be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Warning,
    Error,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Warning => "warning",
            Severity::Error => "error",
        }
    }
}

/// One thing a rule found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub code: &'static str,
    pub severity: Severity,
    /// The variable it is about.
    pub variable: String,
    pub message: String,
}

/// A rule: its code, a title, why it matters and how to fix what it finds.
pub struct Rule {
    pub code: &'static str,
    pub title: &'static str,
    pub why: &'static str,
    pub fix: &'static str,
    pub check: fn(&Settings) -> Vec<Finding>,
}

impl Rule {
    fn finding(&self, severity: Severity, variable: &str, message: impl Into<String>) -> Finding {
        Finding { code: self.code, severity, variable: variable.into(), message: message.into() }
    }
}

/// The settings an application's telemetry reads: variables by name.
#[derive(Debug, Clone, Default)]
pub struct Settings {
    vars: BTreeMap<String, String>,
}

impl Settings {
    pub fn new(vars: impl IntoIterator<Item = (String, String)>) -> Self {
        Settings { vars: vars.into_iter().collect() }
    }

    /// A variable's value, trimmed; `None` when unset or blank.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.vars.get(name).map(|v| v.trim()).filter(|v| !v.is_empty())
    }

    /// The first of `names` that is set, with its value.
    pub fn first<'a>(&'a self, names: &[&'a str]) -> Option<(&'a str, &'a str)> {
        names.iter().find_map(|n| self.get(n).map(|v| (*n, v)))
    }

    /// `OTEL_RESOURCE_ATTRIBUTES` as key → value (`k=v,k2=v2`; malformed pairs skipped, TEL009
    /// reports them).
    pub fn resource_attributes(&self) -> BTreeMap<String, String> {
        self.get("OTEL_RESOURCE_ATTRIBUTES")
            .map(|text| {
                text.split(',')
                    .filter_map(|pair| pair.split_once('='))
                    .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
                    .filter(|(k, v)| !k.is_empty() && !v.is_empty())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The service's name as the SDK will report it: `OTEL_SERVICE_NAME`, else `service.name` of
    /// the resource attributes.
    pub fn service_name(&self) -> Option<String> {
        self.get("OTEL_SERVICE_NAME").map(str::to_string).or_else(|| self.resource_attributes().remove("service.name"))
    }

    /// The OTLP protocol the SDK will use for traces: the signal's own variable, the general
    /// one, or the specification's default, `http/protobuf`.
    pub fn protocol(&self) -> &str {
        self.first(&["OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL"])
            .map(|(_, v)| v)
            .unwrap_or("http/protobuf")
    }
}

/// Every rule, in code order.
pub fn rules() -> &'static [Rule] {
    rules::ALL
}

/// Every finding of every rule, errors first.
pub fn check(settings: &Settings) -> Vec<Finding> {
    let mut findings: Vec<Finding> = rules().iter().flat_map(|r| (r.check)(settings)).collect();
    findings.sort_by(|a, b| b.severity.cmp(&a.severity).then_with(|| a.code.cmp(b.code)));
    findings
}

/// The variables `telemetry check` reads from the environment (the rest are never looked at).
pub fn reads(name: &str) -> bool {
    name.starts_with("OTEL_")
        || name.starts_with("LANGSMITH_")
        || name.starts_with("LANGCHAIN_")
        || name.starts_with("LOGFIRE_")
        || matches!(name, "SERVICE_NAME" | "OBS_CONTROL_URL")
}
