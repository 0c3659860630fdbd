//! TEL001: the variables every application needs: where its telemetry goes and what it is called.

use crate::telemetry::{Finding, Rule, Settings, Severity};

pub(crate) const RULE: Rule = Rule {
    code: "TEL001",
    title: "required variables are set",
    why: "Without an OTLP endpoint the SDK exports nowhere (or to localhost, which in a container is the container itself); without a service name every span arrives as unknown_service; without OBS_CONTROL_URL the check's result never reaches the control plane.",
    fix: "Set OTEL_EXPORTER_OTLP_ENDPOINT (e.g. http://otel-collector:4318), OTEL_SERVICE_NAME (or SERVICE_NAME) and OBS_CONTROL_URL (e.g. http://obsctl:5555); `obsctl telemetry init` writes a .env.example with all of them.",
    check,
};

const ENDPOINTS: [&str; 2] = ["OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"];

fn check(s: &Settings) -> Vec<Finding> {
    let mut out = Vec::new();
    if s.first(&ENDPOINTS).is_none() {
        out.push(RULE.finding(
            Severity::Error,
            "OTEL_EXPORTER_OTLP_ENDPOINT",
            "is not set: telemetry has nowhere to go",
        ));
    }
    if s.service_name().is_none() && s.get("SERVICE_NAME").is_none() {
        out.push(RULE.finding(
            Severity::Error,
            "OTEL_SERVICE_NAME",
            "is not set (nor SERVICE_NAME, nor service.name in OTEL_RESOURCE_ATTRIBUTES): spans arrive as unknown_service",
        ));
    }
    if s.get("OBS_CONTROL_URL").is_none() {
        out.push(RULE.finding(
            Severity::Warning,
            "OBS_CONTROL_URL",
            "is not set: the result cannot be reported to the control plane",
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::telemetry::rules::found;

    #[test]
    fn passes_with_an_endpoint_a_name_and_the_control_plane() {
        let ok = [
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318"),
            ("SERVICE_NAME", "shop"),
            ("OBS_CONTROL_URL", "http://o:5555"),
        ];
        assert!(found(&RULE, &ok).is_empty());
    }

    #[test]
    fn fails_without_them() {
        assert_eq!(
            found(&RULE, &[("OTEL_SERVICE_NAME", " ")]),
            [
                (Severity::Error, "OTEL_EXPORTER_OTLP_ENDPOINT".to_string()),
                (Severity::Error, "OTEL_SERVICE_NAME".to_string()),
                (Severity::Warning, "OBS_CONTROL_URL".to_string())
            ]
        );
    }
}
