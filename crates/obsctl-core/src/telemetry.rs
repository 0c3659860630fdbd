//! `obsctl telemetry check`: an application's telemetry settings read like a linter reads code.
//! Each rule has a stable code (`TEL001`…), lives in its own file under `telemetry/rules/` and
//! says what it checks, why it matters and how to fix it (`obsctl telemetry rules` prints them).
//! Everything here is pure: the settings come in as variables (from the environment or an
//! `.env` file, read by `crate::dotenv`), findings go out.

pub mod report;
mod rules;
mod url;

use std::collections::BTreeMap;

use serde::Serialize;

pub use report::Report;
pub use url::Endpoint;
pub use url::percent_decode;

/// How bad a finding is: an error means telemetry is lost or mislabelled; a warning means it
/// is weaker than it should be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, serde::Deserialize, schemars::JsonSchema)]
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
        self.export_protocol("traces")
    }

    /// The OTLP protocol the SDK uses for `signal` (`traces`, `logs` or `metrics`).
    pub fn export_protocol(&self, signal: &str) -> &str {
        let own = format!("OTEL_EXPORTER_OTLP_{}_PROTOCOL", signal.to_ascii_uppercase());
        self.get(&own).or_else(|| self.get("OTEL_EXPORTER_OTLP_PROTOCOL")).unwrap_or("http/protobuf")
    }

    /// Where the SDK sends `signal` over OTLP/HTTP: the signal's own endpoint as given, else the
    /// general one with `/v1/<signal>` added, as the specification says.
    pub fn export_url(&self, signal: &str) -> Option<String> {
        let own = format!("OTEL_EXPORTER_OTLP_{}_ENDPOINT", signal.to_ascii_uppercase());
        self.get(&own).map(str::to_string).or_else(|| {
            self.get("OTEL_EXPORTER_OTLP_ENDPOINT").map(|base| format!("{}/v1/{signal}", base.trim_end_matches('/')))
        })
    }

    /// The headers the SDK sends with `signal` (`k=v,k2=v2`, values percent-decoded): the
    /// general ones, then the signal's own over them.
    pub fn export_headers(&self, signal: &str) -> Vec<(String, String)> {
        let own = format!("OTEL_EXPORTER_OTLP_{}_HEADERS", signal.to_ascii_uppercase());
        let mut headers: BTreeMap<String, String> = BTreeMap::new();
        for text in [self.get("OTEL_EXPORTER_OTLP_HEADERS"), self.get(&own)].into_iter().flatten() {
            for (k, v) in text.split(',').filter_map(|pair| pair.split_once('=')) {
                headers.insert(k.trim().to_string(), percent_decode(v.trim()));
            }
        }
        headers.into_iter().filter(|(k, _)| !k.is_empty()).collect()
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
        || matches!(name, "SERVICE_NAME" | "OBS_CONTROL_URL" | "OBS_CONTROL_TOKEN")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(vars: &[(&str, &str)]) -> Settings {
        Settings::new(vars.iter().map(|(k, v)| (k.to_string(), v.to_string())))
    }

    #[test]
    fn each_signal_goes_where_the_sdk_would_send_it() {
        let s = settings(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318/"),
            ("OTEL_EXPORTER_OTLP_LOGS_ENDPOINT", "http://logs:4318/custom"),
            ("OTEL_EXPORTER_OTLP_METRICS_PROTOCOL", "grpc"),
            ("OTEL_EXPORTER_OTLP_HEADERS", "Authorization=Bearer%20abc,x-team=a"),
            ("OTEL_EXPORTER_OTLP_TRACES_HEADERS", "x-team=b"),
        ]);
        assert_eq!(s.export_url("traces").as_deref(), Some("http://collector:4318/v1/traces"));
        assert_eq!(s.export_url("logs").as_deref(), Some("http://logs:4318/custom"));
        assert_eq!((s.export_protocol("traces"), s.export_protocol("metrics")), ("http/protobuf", "grpc"));
        let headers = s.export_headers("traces");
        assert_eq!(headers, [("Authorization".into(), "Bearer abc".into()), ("x-team".into(), "b".into())]);
        assert_eq!(settings(&[]).export_url("traces"), None);
    }
}
