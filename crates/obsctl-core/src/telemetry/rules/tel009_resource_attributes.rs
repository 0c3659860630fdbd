//! TEL009: `OTEL_RESOURCE_ATTRIBUTES` is a list of `key=value` pairs.

use crate::telemetry::{Finding, Rule, Settings, Severity};

pub(crate) const RULE: Rule = Rule {
    code: "TEL009",
    title: "resource attributes are well-formed",
    why: "SDKs read OTEL_RESOURCE_ATTRIBUTES as comma-separated key=value pairs and drop a pair they cannot read (some drop the whole list): the service's name or environment silently goes missing.",
    fix: "Write key=value pairs separated by commas, with no empty keys or values, and percent-encode a comma, an equals sign or a space inside a value (e.g. team=web%2Cpayments).",
    check,
};

fn check(s: &Settings) -> Vec<Finding> {
    let Some(text) = s.get("OTEL_RESOURCE_ATTRIBUTES") else { return Vec::new() };
    text.split(',')
        .filter(|pair| match pair.split_once('=') {
            Some((k, v)) => k.trim().is_empty() || v.trim().is_empty() || v.contains('=') || k.trim().contains(' '),
            None => true,
        })
        .map(|pair| {
            RULE.finding(
                Severity::Error,
                "OTEL_RESOURCE_ATTRIBUTES",
                format!("{:?} is not a key=value pair", pair.trim()),
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::telemetry::rules::found;

    #[test]
    fn passes_pairs() {
        assert!(
            found(&RULE, &[("OTEL_RESOURCE_ATTRIBUTES", "service.name=shop, deployment.environment.name=prod")])
                .is_empty()
        );
    }

    #[test]
    fn fails_on_what_is_not_a_pair() {
        let bad = [("OTEL_RESOURCE_ATTRIBUTES", "service.name=shop,prod,team=,a=b=c")];
        assert_eq!(found(&RULE, &bad).len(), 3);
    }
}
