//! obsctl's own traces over OTLP, configured as every OpenTelemetry SDK is: by the standard
//! `OTEL_*` variables (`OTEL_EXPORTER_OTLP_ENDPOINT`, as the original system used). obsctl
//! speaks OTLP/HTTP with JSON bodies, which collectors' OTLP/HTTP receivers take.

use std::collections::BTreeMap;
use std::time::Duration;

use super::Validator;
use crate::OtlpConfig;
use obsctl_core::secret::Secret;
use obsctl_core::telemetry::percent_decode;

impl Validator<'_, '_> {
    /// The trace exporter's settings, or `None` when no endpoint is set or export is off.
    pub(super) fn otlp(&mut self) -> Option<OtlpConfig> {
        let disabled = self.env_var("OTEL_SDK_DISABLED").is_some_and(|v| v.eq_ignore_ascii_case("true"))
            || self.env_var("OTEL_TRACES_EXPORTER").is_some_and(|v| v.eq_ignore_ascii_case("none"));
        let traces_url =
            match (self.env_var("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"), self.env_var("OTEL_EXPORTER_OTLP_ENDPOINT")) {
                (Some(url), _) => ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", url),
                (None, Some(base)) => {
                    ("OTEL_EXPORTER_OTLP_ENDPOINT", format!("{}/v1/traces", base.trim_end_matches('/')))
                }
                (None, None) => return None,
            };
        if disabled {
            return None;
        }
        let (variable, url) = traces_url;
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            self.p.at(
                None,
                variable,
                format!("{url:?} is not an http(s) URL; e.g. \"http://127.0.0.1:4318\" (a collector's OTLP/HTTP port)"),
            );
        }
        let protocol = self.specific("PROTOCOL");
        if let Some((variable, protocol)) = &protocol
            && !matches!(protocol.as_str(), "http/json" | "http/protobuf")
        {
            self.p.at(
                None,
                variable.as_str(),
                format!("{protocol:?}: obsctl exports over OTLP/HTTP (JSON); set http/json and point the endpoint at the collector's HTTP port (4318)"),
            );
        }
        let timeout = match self.specific("TIMEOUT") {
            None => Duration::from_secs(10),
            Some((variable, ms)) => match ms.parse::<u64>() {
                Ok(ms) if ms > 0 => Duration::from_millis(ms),
                _ => {
                    self.p.at(None, variable.as_str(), format!("{ms:?} is not a timeout in milliseconds; e.g. 10000"));
                    Duration::from_secs(10)
                }
            },
        };
        let headers = match self.specific("HEADERS") {
            None => BTreeMap::new(),
            Some((variable, text)) => {
                self.key_values(&variable, &text).into_iter().map(|(k, v)| (k, Secret::new(v))).collect()
            }
        };
        let mut resource = BTreeMap::from([("service.name".to_string(), "obsctl".to_string())]);
        if let Some(text) = self.env_var("OTEL_RESOURCE_ATTRIBUTES") {
            resource.extend(self.key_values("OTEL_RESOURCE_ATTRIBUTES", &text));
        }
        if let Some(name) = self.env_var("OTEL_SERVICE_NAME") {
            resource.insert("service.name".into(), name);
        }
        resource.insert("service.version".into(), env!("CARGO_PKG_VERSION").into());
        Some(OtlpConfig { traces_url: url, headers, timeout, resource: resource.into_iter().collect() })
    }

    /// `OTEL_EXPORTER_OTLP_TRACES_<NAME>`, else `OTEL_EXPORTER_OTLP_<NAME>`, with its variable.
    fn specific(&self, name: &str) -> Option<(String, String)> {
        [format!("OTEL_EXPORTER_OTLP_TRACES_{name}"), format!("OTEL_EXPORTER_OTLP_{name}")]
            .into_iter()
            .find_map(|variable| self.env_var(&variable).map(|value| (variable, value)))
    }

    /// `key=value,key=value` with percent-encoded values (W3C baggage, as the OTel spec says).
    fn key_values(&mut self, variable: &str, text: &str) -> Vec<(String, String)> {
        let mut out = Vec::new();
        for item in text.split(',').map(str::trim).filter(|i| !i.is_empty()) {
            match item.split_once('=') {
                Some((k, v)) if !k.trim().is_empty() => out.push((k.trim().to_string(), percent_decode(v.trim()))),
                _ => self.p.at(
                    None,
                    variable,
                    "is not a list of key=value pairs; e.g. \"authorization=Bearer%20abc,x-team=ops\"",
                ),
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::time::Duration;

    use crate::{Config, LoadOptions, load};

    fn with_env(env: &[(&str, &str)]) -> Result<Config, String> {
        let env: HashMap<String, String> = env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        load("", &env, &LoadOptions { file: "o.toml", known_tools: &[] }).map_err(|e| e.to_string())
    }

    #[test]
    fn export_is_off_without_an_endpoint_or_when_disabled() {
        assert!(with_env(&[]).unwrap().otlp.is_none());
        let on = [("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318")];
        assert!(with_env(&[on[0], ("OTEL_SDK_DISABLED", "true")]).unwrap().otlp.is_none());
        assert!(with_env(&[on[0], ("OTEL_TRACES_EXPORTER", "none")]).unwrap().otlp.is_none());
    }

    #[test]
    fn the_standard_variables_say_where_and_how() {
        let c = with_env(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318/"),
            ("OTEL_EXPORTER_OTLP_HEADERS", "authorization=Bearer%20vendor-key-123, x-team = ops"),
            ("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "2500"),
            ("OTEL_SERVICE_NAME", "obsctl-eu"),
            ("OTEL_RESOURCE_ATTRIBUTES", "deployment.environment=prod,service.name=ignored"),
        ])
        .unwrap();
        let o = c.otlp.as_ref().unwrap();
        assert_eq!(o.traces_url, "http://collector:4318/v1/traces");
        assert_eq!(o.headers["authorization"].expose(), "Bearer vendor-key-123");
        assert_eq!(o.headers["x-team"].expose(), "ops");
        assert_eq!(o.timeout, Duration::from_millis(2500));
        let resource: HashMap<&str, &str> = o.resource.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        assert_eq!(resource["service.name"], "obsctl-eu", "OTEL_SERVICE_NAME wins");
        assert_eq!(resource["deployment.environment"], "prod");
        assert!(c.secrets().iter().any(|s| s.expose() == "Bearer vendor-key-123"), "headers are secrets");
        assert!(!format!("{c:?}").contains("vendor-key-123"));
        // The traces endpoint is taken as it is.
        let c = with_env(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://ignored:4318"),
            ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "https://otlp.example/api/traces"),
        ])
        .unwrap();
        assert_eq!(c.otlp.unwrap().traces_url, "https://otlp.example/api/traces");
    }

    #[test]
    fn what_obsctl_cannot_send_is_refused_with_the_variable_and_the_fix() {
        let err = with_env(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4317"),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
            ("OTEL_EXPORTER_OTLP_TIMEOUT", "10s"),
            ("OTEL_EXPORTER_OTLP_HEADERS", "novalue"),
        ])
        .unwrap_err();
        assert!(err.contains("OTEL_EXPORTER_OTLP_ENDPOINT") && err.contains("not an http(s) URL"), "{err}");
        assert!(err.contains("OTEL_EXPORTER_OTLP_PROTOCOL") && err.contains("set http/json"), "{err}");
        assert!(err.contains("OTEL_EXPORTER_OTLP_TIMEOUT") && err.contains("milliseconds"), "{err}");
        assert!(err.contains("OTEL_EXPORTER_OTLP_HEADERS") && err.contains("key=value"), "{err}");
    }
}
