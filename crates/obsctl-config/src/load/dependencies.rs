//! Dependency cycles between services (`depends_on`): each cycle reported once, at the first
//! service on it, with the path around it.

use std::collections::{BTreeMap, HashSet};

use super::super::raw::RawConfig;
use super::Validator;
use crate::ServiceConfig;

impl Validator<'_, '_> {
    pub(super) fn dependency_cycles(&mut self, raw: &RawConfig, services: &[ServiceConfig]) {
        let graph: BTreeMap<&str, &[String]> =
            services.iter().map(|s| (s.name.as_str(), s.depends_on.as_slice())).collect();
        let mut reported = HashSet::new();
        for (i, s) in services.iter().enumerate() {
            if let Some(cycle) = find_cycle(&graph, &s.name)
                && reported.insert(canonical(&cycle))
            {
                let span = raw.services.get(i).map(|r| r.name.span());
                self.p.at(
                    span,
                    format!("service[{i}].depends_on"),
                    format!("dependency cycle {}; remove one of these depends_on entries", cycle.join(" -> ")),
                );
            }
        }
    }
}

/// A cycle through `start`, as the list of names along it (first = last).
fn find_cycle<'a>(graph: &BTreeMap<&'a str, &'a [String]>, start: &'a str) -> Option<Vec<String>> {
    fn walk<'a>(
        graph: &BTreeMap<&'a str, &'a [String]>,
        node: &'a str,
        start: &str,
        path: &mut Vec<&'a str>,
        seen: &mut HashSet<&'a str>,
    ) -> bool {
        for next in graph.get(node).copied().unwrap_or_default() {
            if next == start {
                path.push(next);
                return true;
            }
            if seen.insert(next.as_str()) {
                path.push(next);
                if walk(graph, next, start, path, seen) {
                    return true;
                }
                path.pop();
            }
        }
        false
    }
    let mut path = vec![start];
    let mut seen = HashSet::from([start]);
    walk(graph, start, start, &mut path, &mut seen).then(|| path.iter().map(|s| s.to_string()).collect())
}

/// The same cycle found from different starting points reports once.
fn canonical(cycle: &[String]) -> Vec<String> {
    let mut members: Vec<String> = cycle[..cycle.len().saturating_sub(1)].to_vec();
    members.sort();
    members
}
