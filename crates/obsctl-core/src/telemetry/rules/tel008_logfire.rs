//! TEL008: a Logfire write token, when used, is shaped like one.

use crate::telemetry::{Finding, Rule, Settings, Severity};

pub(crate) const RULE: Rule = Rule {
    code: "TEL008",
    title: "Logfire token is shaped right",
    why: "Logfire refuses every export with a token it does not know; a read token, a quoted one or one cut short looks set but sends nothing.",
    fix: "Set LOGFIRE_TOKEN to a write token from the Logfire project's settings (it starts with pylf_v1_ and names its region, e.g. pylf_v1_us_…), unquoted. The offline check looks at the shape only.",
    check,
};

fn check(s: &Settings) -> Vec<Finding> {
    let Some(token) = s.get("LOGFIRE_TOKEN") else { return Vec::new() };
    let why = if token.contains(|c: char| c.is_whitespace() || c == '"' || c == '\'') {
        "holds a space or a quote: paste the token alone"
    } else if !token.starts_with("pylf_v") || token.split('_').count() < 4 || token.len() < 24 {
        "does not look like a Logfire write token (pylf_v1_<region>_…)"
    } else {
        return Vec::new();
    };
    vec![RULE.finding(Severity::Error, "LOGFIRE_TOKEN", why)]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::telemetry::rules::found;

    #[test]
    fn passes_unused_or_well_shaped() {
        assert!(found(&RULE, &[]).is_empty());
        assert!(found(&RULE, &[("LOGFIRE_TOKEN", "pylf_v1_us_0123456789abcdefghijklmn")]).is_empty());
    }

    #[test]
    fn fails_on_another_shape() {
        assert_eq!(found(&RULE, &[("LOGFIRE_TOKEN", "lf_read_123")]), [(Severity::Error, "LOGFIRE_TOKEN".to_string())]);
        assert_eq!(found(&RULE, &[("LOGFIRE_TOKEN", "pylf_v1_us_0123 456789abcdefghijk")]).len(), 1);
    }
}
