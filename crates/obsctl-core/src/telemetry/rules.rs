//! Every rule, one file each, in code order. A rule's file holds its `RULE` (code, title, why,
//! fix) and its check; each has a passing and a failing case in its tests.

mod tel001_required;
mod tel002_urls;
mod tel003_protocol_port;
mod tel004_service_name;
mod tel005_environment;
mod tel006_sampler;
mod tel007_langsmith;
mod tel008_logfire;
mod tel009_resource_attributes;

use super::Rule;

pub(super) static ALL: &[Rule] = &[
    tel001_required::RULE,
    tel002_urls::RULE,
    tel003_protocol_port::RULE,
    tel004_service_name::RULE,
    tel005_environment::RULE,
    tel006_sampler::RULE,
    tel007_langsmith::RULE,
    tel008_logfire::RULE,
    tel009_resource_attributes::RULE,
];

/// Test helper: the settings made of `pairs`.
#[cfg(test)]
pub(super) fn settings(pairs: &[(&str, &str)]) -> super::Settings {
    super::Settings::new(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())))
}

/// Test helper: the codes and variables a rule finds in `pairs`.
#[cfg(test)]
pub(super) fn found(rule: &Rule, pairs: &[(&str, &str)]) -> Vec<(super::Severity, String)> {
    (rule.check)(&settings(pairs)).into_iter().map(|f| (f.severity, f.variable)).collect()
}
