//! TEL002: every URL the application's telemetry uses is a well-formed http(s) URL.

use crate::telemetry::{Endpoint, Finding, Rule, Settings, Severity};

pub(crate) const RULE: Rule = Rule {
    code: "TEL002",
    title: "URLs are well-formed",
    why: "An SDK that cannot parse its endpoint drops every span quietly, or logs once at start-up where nobody looks.",
    fix: "Write scheme, host and port: http://otel-collector:4318 (no spaces, a port from 1 to 65535); gRPC endpoints take http:// or https:// too.",
    check,
};

const URLS: [&str; 7] = [
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
    "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT",
    "OBS_CONTROL_URL",
    "LANGSMITH_ENDPOINT",
    "LOGFIRE_BASE_URL",
];

fn check(s: &Settings) -> Vec<Finding> {
    URLS.iter()
        .filter_map(|name| {
            let url = s.get(name)?;
            let why = Endpoint::parse(url).err()?;
            Some(RULE.finding(Severity::Error, name, format!("{:?} {why}", without_credentials(url))))
        })
        .collect()
}

/// The URL with any `user:password@` masked: findings are printed and reported.
fn without_credentials(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else { return url.to_string() };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest[..end].rsplit_once('@') {
        Some((_, host)) => format!("{scheme}://***@{host}{}", &rest[end..]),
        None => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::telemetry::rules::found;

    #[test]
    fn passes_with_good_urls() {
        assert!(
            found(&RULE, &[("OTEL_EXPORTER_OTLP_ENDPOINT", "https://c:4318"), ("OBS_CONTROL_URL", "http://o:5555/")])
                .is_empty()
        );
    }

    #[test]
    fn fails_on_a_bad_one() {
        let bad = [("OTEL_EXPORTER_OTLP_ENDPOINT", "otel-collector:4317"), ("OBS_CONTROL_URL", "http://o:5555")];
        assert_eq!(found(&RULE, &bad), [(Severity::Error, "OTEL_EXPORTER_OTLP_ENDPOINT".to_string())]);
        let secret = (RULE.check)(&crate::telemetry::rules::settings(&[("OBS_CONTROL_URL", "http://u:hunter2@o:0/x")]));
        assert!(
            secret[0].message.starts_with("\"http://***@o:0/x\" has the port")
                && !secret[0].message.contains("hunter2"),
            "{secret:?}"
        );
    }
}
