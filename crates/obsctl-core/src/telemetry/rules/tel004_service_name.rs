//! TEL004: the service has the name the SDK reports, and only one.

use crate::telemetry::{Finding, Rule, Settings, Severity};

pub(crate) const RULE: Rule = Rule {
    code: "TEL004",
    title: "service.name is what the SDK reports",
    why: "OpenTelemetry SDKs read OTEL_SERVICE_NAME (or service.name in OTEL_RESOURCE_ATTRIBUTES), not SERVICE_NAME; set only SERVICE_NAME and the app's spans arrive as unknown_service. Two different names split one service's telemetry in two.",
    fix: "Set OTEL_SERVICE_NAME to the same name as SERVICE_NAME (the name obsctl knows the service by), or service.name in OTEL_RESOURCE_ATTRIBUTES, and make them agree.",
    check,
};

fn check(s: &Settings) -> Vec<Finding> {
    let mut out = Vec::new();
    let attribute = s.resource_attributes().remove("service.name");
    match (s.get("OTEL_SERVICE_NAME"), attribute.as_deref(), s.get("SERVICE_NAME")) {
        (None, None, Some(name)) => out.push(RULE.finding(
            Severity::Error,
            "OTEL_SERVICE_NAME",
            format!(
                "is not set: SERVICE_NAME={name} is not read by OpenTelemetry SDKs, so spans arrive as unknown_service"
            ),
        )),
        (Some(otel), Some(attr), _) if otel != attr => out.push(RULE.finding(
            Severity::Warning,
            "OTEL_RESOURCE_ATTRIBUTES",
            format!("names the service {attr:?} but OTEL_SERVICE_NAME says {otel:?} (which wins)"),
        )),
        _ => {}
    }
    if let (Some(reported), Some(known)) = (s.service_name(), s.get("SERVICE_NAME"))
        && reported != known
    {
        out.push(RULE.finding(
            Severity::Warning,
            "SERVICE_NAME",
            format!("is {known:?} but the SDK reports {reported:?}: the control plane and the telemetry disagree"),
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::telemetry::rules::found;

    #[test]
    fn passes_when_the_names_agree() {
        assert!(found(&RULE, &[("OTEL_SERVICE_NAME", "shop"), ("SERVICE_NAME", "shop")]).is_empty());
        assert!(found(&RULE, &[("OTEL_RESOURCE_ATTRIBUTES", "service.name=shop")]).is_empty());
    }

    #[test]
    fn fails_when_the_sdk_would_not_see_it_or_they_differ() {
        assert_eq!(found(&RULE, &[("SERVICE_NAME", "shop")]), [(Severity::Error, "OTEL_SERVICE_NAME".to_string())]);
        let two = [
            ("OTEL_SERVICE_NAME", "shop"),
            ("OTEL_RESOURCE_ATTRIBUTES", "service.name=cart"),
            ("SERVICE_NAME", "cart"),
        ];
        assert_eq!(
            found(&RULE, &two),
            [
                (Severity::Warning, "OTEL_RESOURCE_ATTRIBUTES".to_string()),
                (Severity::Warning, "SERVICE_NAME".to_string())
            ]
        );
    }
}
