//! TEL006: nothing switches tracing off or samples every trace away.

use crate::telemetry::{Finding, Rule, Settings, Severity};

pub(crate) const RULE: Rule = Rule {
    code: "TEL006",
    title: "traces are not all dropped",
    why: "OTEL_SDK_DISABLED=true, OTEL_TRACES_EXPORTER=none, the always_off sampler or a ratio of 0 keep every span from leaving the process: the app runs, its traces never arrive, and nobody notices until an incident needs them.",
    fix: "Remove OTEL_SDK_DISABLED and OTEL_TRACES_EXPORTER=none, and sample a share: OTEL_TRACES_SAMPLER=parentbased_traceidratio with OTEL_TRACES_SAMPLER_ARG between 0 and 1 (e.g. 0.1), or parentbased_always_on.",
    check,
};

fn check(s: &Settings) -> Vec<Finding> {
    let mut out = Vec::new();
    if s.get("OTEL_SDK_DISABLED").is_some_and(|v| v.eq_ignore_ascii_case("true")) {
        out.push(RULE.finding(Severity::Error, "OTEL_SDK_DISABLED", "is true: the SDK sends nothing at all"));
    }
    if s.get("OTEL_TRACES_EXPORTER").is_some_and(|v| v.split(',').any(|e| e.trim() == "none")) {
        out.push(RULE.finding(Severity::Error, "OTEL_TRACES_EXPORTER", "is none: no trace leaves the process"));
    }
    let sampler = s.get("OTEL_TRACES_SAMPLER").unwrap_or("parentbased_always_on");
    match sampler {
        "always_off" | "parentbased_always_off" => {
            out.push(RULE.finding(
                Severity::Error,
                "OTEL_TRACES_SAMPLER",
                format!("is {sampler}: every trace is dropped"),
            ));
        }
        "traceidratio" | "parentbased_traceidratio" => match s.get("OTEL_TRACES_SAMPLER_ARG").map(str::parse::<f64>) {
            Some(Ok(r)) if r <= 0.0 => out.push(RULE.finding(
                Severity::Error,
                "OTEL_TRACES_SAMPLER_ARG",
                format!("is {r}: a ratio of 0 drops every trace"),
            )),
            Some(Ok(r)) if !(0.0..=1.0).contains(&r) => out.push(RULE.finding(
                Severity::Error,
                "OTEL_TRACES_SAMPLER_ARG",
                format!("is {r}: a ratio is between 0 and 1"),
            )),
            Some(Err(_)) => out.push(RULE.finding(
                Severity::Error,
                "OTEL_TRACES_SAMPLER_ARG",
                "is not a number: SDKs fall back to their default ratio or sample nothing",
            )),
            _ => {}
        },
        _ => {}
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::telemetry::rules::found;

    #[test]
    fn passes_when_some_traces_are_kept() {
        assert!(found(&RULE, &[]).is_empty());
        assert!(
            found(&RULE, &[("OTEL_TRACES_SAMPLER", "parentbased_traceidratio"), ("OTEL_TRACES_SAMPLER_ARG", "0.1")])
                .is_empty()
        );
    }

    #[test]
    fn fails_when_everything_is_dropped() {
        let e = |v: &str| (Severity::Error, v.to_string());
        assert_eq!(found(&RULE, &[("OTEL_TRACES_SAMPLER", "always_off")]), [e("OTEL_TRACES_SAMPLER")]);
        assert_eq!(
            found(&RULE, &[("OTEL_TRACES_SAMPLER", "traceidratio"), ("OTEL_TRACES_SAMPLER_ARG", "0")]),
            [e("OTEL_TRACES_SAMPLER_ARG")]
        );
        assert_eq!(
            found(&RULE, &[("OTEL_SDK_DISABLED", "TRUE"), ("OTEL_TRACES_EXPORTER", "none")]),
            [e("OTEL_SDK_DISABLED"), e("OTEL_TRACES_EXPORTER")]
        );
    }
}
