//! TEL007: LangSmith tracing, when used, has a key of the right shape and is switched on.

use crate::telemetry::{Finding, Rule, Settings, Severity};

pub(crate) const RULE: Rule = Rule {
    code: "TEL007",
    title: "LangSmith key is present and shaped right",
    why: "LangSmith's SDK traces only with LANGSMITH_TRACING=true and a key; a key pasted with quotes or spaces, or a key of another service, is refused at every export, often silently.",
    fix: "Set LANGSMITH_API_KEY to a key from LangSmith's settings (it starts with lsv2_pt_ or lsv2_sk_), unquoted, and LANGSMITH_TRACING=true. The offline check looks at the shape only.",
    check,
};

const KEY: [&str; 2] = ["LANGSMITH_API_KEY", "LANGCHAIN_API_KEY"];
const SWITCH: [&str; 2] = ["LANGSMITH_TRACING", "LANGCHAIN_TRACING_V2"];

fn check(s: &Settings) -> Vec<Finding> {
    let key = s.first(&KEY);
    let on = s.first(&SWITCH).is_some_and(|(_, v)| v.eq_ignore_ascii_case("true"));
    let mut out = Vec::new();
    match key {
        None if on => out.push(RULE.finding(
            Severity::Error,
            "LANGSMITH_API_KEY",
            "is not set but LANGSMITH_TRACING is true: every export is refused",
        )),
        None => {}
        Some((name, value)) => {
            if value.contains(|c: char| c.is_whitespace() || c == '"' || c == '\'') {
                out.push(RULE.finding(Severity::Error, name, "holds a space or a quote: paste the key alone"));
            } else if !["lsv2_pt_", "lsv2_sk_", "ls__"].iter().any(|p| value.starts_with(p)) || value.len() < 20 {
                out.push(RULE.finding(
                    Severity::Error,
                    name,
                    "does not look like a LangSmith key (lsv2_pt_… or lsv2_sk_…)",
                ));
            }
            if !on {
                out.push(RULE.finding(
                    Severity::Warning,
                    "LANGSMITH_TRACING",
                    "is not true: the key is set but nothing is traced",
                ));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::telemetry::rules::found;

    #[test]
    fn passes_unused_or_well_set() {
        assert!(found(&RULE, &[]).is_empty());
        let set = [("LANGSMITH_API_KEY", "lsv2_pt_0123456789abcdef_0123456789"), ("LANGSMITH_TRACING", "true")];
        assert!(found(&RULE, &set).is_empty());
    }

    #[test]
    fn fails_on_a_missing_or_odd_key() {
        assert_eq!(
            found(&RULE, &[("LANGSMITH_TRACING", "true")]),
            [(Severity::Error, "LANGSMITH_API_KEY".to_string())]
        );
        let odd = [("LANGSMITH_API_KEY", "sk-0123456789abcdefghij"), ("LANGSMITH_TRACING", "true")];
        assert_eq!(found(&RULE, &odd), [(Severity::Error, "LANGSMITH_API_KEY".to_string())]);
        let off = [("LANGCHAIN_API_KEY", "lsv2_sk_0123456789abcdef_01234")];
        assert_eq!(found(&RULE, &off), [(Severity::Warning, "LANGSMITH_TRACING".to_string())]);
    }
}
