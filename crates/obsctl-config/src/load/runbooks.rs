//! `[[runbook]]`: unique names, a known service, a kind that is a check's or an alert's (a near
//! miss of a check kind is refused as a typo), known tools, and the rest of each runbook.

use std::collections::HashSet;

use super::super::raw::RawConfig;
use super::{LoadOptions, Validator, unknown_tool};
use crate::*;

use obsctl_core::check::Probe;

const INCIDENT_KINDS: &[&str] = Probe::INCIDENT_KINDS;

/// The check kind `kind` is probably a typo of: close to one but not one, nor an alert kind
/// mapped in `[alerts.kinds]`. Any other kind is taken as an alert's `alertname`.
pub(crate) fn misspelt_kind(kind: &str, alerts: &AlertsConfig) -> Option<&'static str> {
    if INCIDENT_KINDS.contains(&kind) || alerts.kinds.values().any(|k| k == kind) {
        return None;
    }
    let normal = kind.to_ascii_lowercase().replace('_', "-");
    INCIDENT_KINDS.iter().copied().find(|known| *known == normal || edit_distance(known, &normal) <= 2)
}

/// Levenshtein distance over bytes.
pub(super) fn edit_distance(a: &str, b: &str) -> usize {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let next = (diagonal + usize::from(ca != cb)).min(row[j] + 1).min(row[j + 1] + 1);
            diagonal = row[j + 1];
            row[j + 1] = next;
        }
    }
    row[b.len()]
}

impl Validator<'_, '_> {
    pub(super) fn runbooks(
        &mut self,
        raw: &RawConfig,
        services: &[ServiceConfig],
        alerts: &AlertsConfig,
        opts: &LoadOptions<'_>,
    ) -> Vec<Runbook> {
        let mut out = Vec::new();
        let mut seen = HashSet::new();
        for (i, r) in raw.runbooks.iter().enumerate() {
            let path = format!("runbook[{i}]");
            if !seen.insert(r.name.get_ref().clone()) {
                self.p.at(
                    Some(r.name.span()),
                    format!("{path}.name"),
                    format!("runbook {:?} is defined twice; give each a unique name", r.name.get_ref()),
                );
            }
            if let Some(s) = &r.when.service
                && !services.iter().any(|x| &x.name == s.get_ref())
            {
                self.p.at(
                    Some(s.span()),
                    format!("{path}.when.service"),
                    format!("unknown service {:?}; it must name a [[service]]", s.get_ref()),
                );
            }
            if let Some(k) = &r.when.incident
                && let Some(meant) = misspelt_kind(k.get_ref(), alerts)
            {
                self.p.at(
                    Some(k.span()),
                    format!("{path}.when.incident"),
                    format!(
                        "unknown incident kind {:?}; did you mean {meant:?}? Check kinds are {}; an alert's kind is its alertname (or its [alerts.kinds] entry)",
                        k.get_ref(),
                        INCIDENT_KINDS.join(", ")
                    ),
                );
            }
            if r.steps.get_ref().is_empty() {
                self.p.at(
                    Some(r.steps.span()),
                    format!("{path}.steps"),
                    "is empty; add at least one { tool = \"...\", args = { ... } }",
                );
            }
            let mut steps = Vec::new();
            for (j, s) in r.steps.get_ref().iter().enumerate() {
                let tool = s.tool.get_ref();
                if !self.known_tool(tool, opts) {
                    self.p.at(
                        Some(s.tool.span()),
                        format!("{path}.steps[{j}].tool"),
                        unknown_tool(tool, opts.known_tools),
                    );
                }
                let args = serde_json::to_value(&s.args).unwrap_or(serde_json::Value::Null);
                steps.push(Step { tool: tool.clone(), args });
            }
            let default_cooldown = Duration::from_secs(60);
            out.push(Runbook {
                name: r.name.get_ref().clone(),
                when: Matcher {
                    incident: r.when.incident.as_ref().map(|k| k.get_ref().clone()),
                    service: r.when.service.as_ref().map(|s| s.get_ref().clone()),
                    labels: r.when.labels.clone(),
                },
                steps,
                mode: self.mode(r.mode.as_ref(), &format!("{path}.mode")),
                cooldown: self.duration(r.cooldown.as_ref(), &format!("{path}.cooldown"), default_cooldown),
            });
        }
        out
    }
}
