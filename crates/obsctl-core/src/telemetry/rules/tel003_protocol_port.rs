//! TEL003: the OTLP protocol and the endpoint's port agree (4317 is gRPC, 4318 is HTTP), and an
//! HTTP base endpoint does not already carry a signal's path.

use crate::telemetry::{Endpoint, Finding, Rule, Settings, Severity};

pub(crate) const RULE: Rule = Rule {
    code: "TEL003",
    title: "OTLP protocol and port agree",
    why: "A collector listens for OTLP/gRPC on 4317 and OTLP/HTTP on 4318. An HTTP exporter sent to 4317 (or gRPC to 4318) connects and fails every export; SDKs default to http/protobuf, so the mismatch is easy to write. With OTLP/HTTP the SDK appends /v1/traces (and /v1/metrics, /v1/logs) to OTEL_EXPORTER_OTLP_ENDPOINT, so a base endpoint ending in it sends to /v1/traces/v1/traces.",
    fix: "Use port 4318 with http/protobuf or http/json, 4317 with grpc (set OTEL_EXPORTER_OTLP_PROTOCOL to match), and give OTEL_EXPORTER_OTLP_ENDPOINT without a /v1/… path (or set the signal's own OTEL_EXPORTER_OTLP_TRACES_ENDPOINT with it).",
    check,
};

fn check(s: &Settings) -> Vec<Finding> {
    let mut out = Vec::new();
    let protocol = s.protocol();
    if !matches!(protocol, "grpc" | "http/protobuf" | "http/json") {
        let variable = s
            .first(&["OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL"])
            .map_or("OTEL_EXPORTER_OTLP_PROTOCOL", |(n, _)| n);
        out.push(RULE.finding(
            Severity::Error,
            variable,
            format!("{protocol:?} is not an OTLP protocol: use grpc, http/protobuf or http/json"),
        ));
        return out;
    }
    let grpc = protocol == "grpc";
    for name in ["OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"] {
        let Some(Ok(e)) = s.get(name).map(Endpoint::parse) else { continue };
        match (grpc, e.port) {
            (false, Some(4317)) => out.push(RULE.finding(
                Severity::Error,
                name,
                format!("port 4317 is OTLP/gRPC but the protocol is {protocol}: use port 4318, or set OTEL_EXPORTER_OTLP_PROTOCOL=grpc"),
            )),
            (true, Some(4318)) => out.push(RULE.finding(
                Severity::Error,
                name,
                "port 4318 is OTLP/HTTP but the protocol is grpc: use port 4317, or set OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf",
            )),
            _ => {}
        }
        let signal_path =
            ["/v1/traces", "/v1/metrics", "/v1/logs"].iter().any(|p| e.path.trim_end_matches('/').ends_with(p));
        if name == "OTEL_EXPORTER_OTLP_ENDPOINT" && !grpc && signal_path {
            out.push(RULE.finding(
                Severity::Error,
                name,
                format!("ends in {:?}, and the SDK appends the signal's path again; give the base URL", e.path),
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::telemetry::rules::found;

    #[test]
    fn passes_when_they_agree() {
        assert!(found(&RULE, &[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318")]).is_empty());
        let grpc = [("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4317"), ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")];
        assert!(found(&RULE, &grpc).is_empty());
        assert!(found(&RULE, &[("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://c:4318/v1/traces")]).is_empty());
    }

    #[test]
    fn fails_on_the_wrong_port_or_path() {
        let e = |v: &str| (Severity::Error, v.to_string());
        assert_eq!(
            found(&RULE, &[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4317")]),
            [e("OTEL_EXPORTER_OTLP_ENDPOINT")]
        );
        let grpc = [("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318"), ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")];
        assert_eq!(found(&RULE, &grpc), [e("OTEL_EXPORTER_OTLP_ENDPOINT")]);
        assert_eq!(
            found(&RULE, &[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318/v1/traces")]),
            [e("OTEL_EXPORTER_OTLP_ENDPOINT")]
        );
        assert_eq!(found(&RULE, &[("OTEL_EXPORTER_OTLP_PROTOCOL", "http")]), [e("OTEL_EXPORTER_OTLP_PROTOCOL")]);
    }
}
