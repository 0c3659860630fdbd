//! TEL005: the deployment environment is named in the resource attributes.

use crate::telemetry::{Finding, Rule, Settings, Severity};

pub(crate) const RULE: Rule = Rule {
    code: "TEL005",
    title: "deployment.environment is set",
    why: "Without it, staging and production telemetry of one service land in the same series and traces, and an alert cannot tell which one is failing.",
    fix: "Add deployment.environment.name=production (or deployment.environment, its older name) to OTEL_RESOURCE_ATTRIBUTES, e.g. OTEL_RESOURCE_ATTRIBUTES=deployment.environment.name=production,service.version=1.4.2.",
    check,
};

fn check(s: &Settings) -> Vec<Finding> {
    let attributes = s.resource_attributes();
    if attributes.contains_key("deployment.environment.name") || attributes.contains_key("deployment.environment") {
        return Vec::new();
    }
    vec![RULE.finding(
        Severity::Warning,
        "OTEL_RESOURCE_ATTRIBUTES",
        "has no deployment.environment.name: staging and production telemetry will mix",
    )]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::telemetry::rules::found;

    #[test]
    fn passes_with_either_name() {
        assert!(found(&RULE, &[("OTEL_RESOURCE_ATTRIBUTES", "deployment.environment.name=prod")]).is_empty());
        assert!(found(&RULE, &[("OTEL_RESOURCE_ATTRIBUTES", "a=b, deployment.environment=prod")]).is_empty());
    }

    #[test]
    fn warns_without() {
        assert_eq!(
            found(&RULE, &[("OTEL_RESOURCE_ATTRIBUTES", "service.name=shop")]),
            [(Severity::Warning, "OTEL_RESOURCE_ATTRIBUTES".to_string())]
        );
        assert_eq!(found(&RULE, &[]).len(), 1);
    }
}
