//! The service graph as a picture, drawn on the server as SVG: services in columns by depth
//! (what depends on nothing on the left, what depends on it to the right), coloured by state,
//! each a link to its page. A failing service's upstream root-cause candidates (failing
//! dependencies it reaches) and its blast radius (everything that depends on it) are marked,
//! for one chosen service or, with none chosen, for every failing one.

use std::collections::{HashMap, HashSet};
use std::fmt::Write;

/// One service: its name, card state and direct dependencies.
pub struct Node<'a> {
    pub name: &'a str,
    pub state: &'a str,
    pub depends_on: &'a [String],
}

/// What the picture marks, in words too (for people who do not see it).
#[derive(Debug, Default, PartialEq)]
pub struct Marks {
    /// Failing dependencies that could be the cause: failing services none of whose own
    /// dependencies fail.
    pub root_causes: Vec<String>,
    /// Services that depend, directly or not, on a failing one (or on the chosen one).
    pub blast_radius: Vec<String>,
}

const NODE_W: u32 = 150;
const NODE_H: u32 = 26;
const COLUMN: u32 = 200;
const ROW: u32 = 36;
const MARGIN: u32 = 8;

fn failing(state: &str) -> bool {
    matches!(state, "failing" | "flapping" | "suppressed")
}

/// Every service reachable from `start` by `next` (not `start` itself).
fn reach<'a>(start: &'a str, next: &HashMap<&'a str, Vec<&'a str>>) -> HashSet<&'a str> {
    let mut seen = HashSet::new();
    let mut stack = vec![start];
    while let Some(n) = stack.pop() {
        for m in next.get(n).into_iter().flatten() {
            if *m != start && seen.insert(*m) {
                stack.push(m);
            }
        }
    }
    seen
}

/// The marks for `focus` (a service's name) or, without one, for every failing service.
pub fn marks(nodes: &[Node<'_>], focus: Option<&str>) -> Marks {
    let state: HashMap<&str, &str> = nodes.iter().map(|n| (n.name, n.state)).collect();
    let mut deps: HashMap<&str, Vec<&str>> = HashMap::new();
    let mut dependents: HashMap<&str, Vec<&str>> = HashMap::new();
    for n in nodes {
        for d in n.depends_on.iter().filter(|d| state.contains_key(d.as_str())) {
            deps.entry(n.name).or_default().push(d);
            dependents.entry(d).or_default().push(n.name);
        }
    }
    let is_failing = |s: &str| state.get(s).is_some_and(|st| failing(st));
    // A root cause fails while none of its own dependencies does.
    let root = |s: &str| is_failing(s) && deps.get(s).is_none_or(|d| !d.iter().any(|x| is_failing(x)));
    let sources: Vec<&str> = match focus {
        Some(f) if state.contains_key(f) => vec![f],
        Some(_) => Vec::new(),
        None => nodes.iter().map(|n| n.name).filter(|n| is_failing(n)).collect(),
    };
    let mut causes = HashSet::new();
    let mut blast = HashSet::new();
    for s in &sources {
        if root(s) {
            causes.insert(*s);
        }
        causes.extend(reach(s, &deps).into_iter().filter(|d| root(d)));
        blast.extend(reach(s, &dependents));
    }
    let sorted = |set: HashSet<&str>| {
        let mut v: Vec<String> = set.into_iter().map(str::to_string).collect();
        v.sort();
        v
    };
    blast.retain(|b| !causes.contains(b));
    Marks { root_causes: sorted(causes), blast_radius: sorted(blast) }
}

/// Each service's column: 0 when it depends on nothing, else one more than its deepest
/// dependency's (the config refuses cycles; one here would stop at the depth of the graph).
fn columns<'a>(nodes: &[Node<'a>]) -> HashMap<&'a str, u32> {
    let index: HashMap<&'a str, &Node<'a>> = nodes.iter().map(|n| (n.name, n)).collect();
    let mut column: HashMap<&'a str, u32> = HashMap::new();
    let cap = nodes.len() as u32;
    for n in nodes {
        // Depth-first with an explicit stack: (service, dependencies looked at yet).
        let mut stack = vec![(n.name, false)];
        while let Some((name, expanded)) = stack.pop() {
            if column.contains_key(name) {
                continue;
            }
            let deps: Vec<&str> =
                index[name].depends_on.iter().map(String::as_str).filter(|d| index.contains_key(d)).collect();
            if expanded || stack.len() as u32 > cap {
                let c = deps.iter().filter_map(|d| column.get(d)).map(|c| c + 1).max().unwrap_or(0);
                column.insert(name, c.min(cap));
            } else {
                stack.push((name, true));
                stack.extend(deps.into_iter().filter(|d| !column.contains_key(d)).map(|d| (d, false)));
            }
        }
    }
    column
}

/// The picture: an SVG of `nodes` with `marks`, each node a link to its service page.
pub fn draw(nodes: &[Node<'_>], marks: &Marks) -> String {
    let column = columns(nodes);
    let width = column.values().max().map_or(0, |m| m + 1);
    // Rows within a column: ordered by the mean row of their dependencies, so edges cross less.
    let mut rows: Vec<Vec<&Node<'_>>> = vec![Vec::new(); width as usize];
    for n in nodes {
        rows[column[n.name] as usize].push(n);
    }
    let mut row_of: HashMap<&str, f64> = HashMap::new();
    for col in &mut rows {
        let key = |n: &Node<'_>| {
            let ys: Vec<f64> = n.depends_on.iter().filter_map(|d| row_of.get(d.as_str()).copied()).collect();
            if ys.is_empty() { f64::MAX } else { ys.iter().sum::<f64>() / ys.len() as f64 }
        };
        let mut keyed: Vec<(f64, &Node<'_>)> = col.iter().map(|n| (key(n), *n)).collect();
        keyed.sort_by(|a, b| a.0.total_cmp(&b.0).then_with(|| a.1.name.cmp(b.1.name)));
        *col = keyed.into_iter().map(|(_, n)| n).collect();
        for (i, n) in col.iter().enumerate() {
            row_of.insert(n.name, i as f64);
        }
    }
    let height = rows.iter().map(Vec::len).max().unwrap_or(0) as u32;
    let (w, h) = (MARGIN * 2 + width.saturating_sub(1) * COLUMN + NODE_W, MARGIN * 2 + height.max(1) * ROW);
    let at = |name: &str| (MARGIN + column[name] * COLUMN, MARGIN + row_of[name] as u32 * ROW);
    let causes: HashSet<&str> = marks.root_causes.iter().map(String::as_str).collect();
    let blast: HashSet<&str> = marks.blast_radius.iter().map(String::as_str).collect();
    let state: HashMap<&str, &str> = nodes.iter().map(|n| (n.name, n.state)).collect();

    let mut svg = String::with_capacity(nodes.len() * 420 + 256);
    let _ = write!(
        svg,
        r#"<svg class="graph" viewBox="0 0 {w} {h}" width="{w}" height="{h}" role="img" aria-labelledby="graph-title"><title id="graph-title">services and their dependencies</title>"#
    );
    for n in nodes {
        let (x2, y2) = at(n.name);
        for d in n.depends_on.iter().filter(|d| column.contains_key(d.as_str())) {
            let (x1, y1) = at(d);
            let (x1, y1, y2) = (x1 + NODE_W, y1 + NODE_H / 2, y2 + NODE_H / 2);
            let mid = (x1 + x2) / 2;
            let class = match (state.get(d.as_str()).is_some_and(|s| failing(s)), blast.contains(n.name)) {
                (true, true) => "edge hot",
                (true, false) => "edge bad",
                _ => "edge",
            };
            let _ = write!(svg, r#"<path class="{class}" d="M{x1} {y1}C{mid} {y1} {mid} {y2} {x2} {y2}"/>"#);
        }
    }
    for n in nodes {
        let (x, y) = at(n.name);
        let Ok(name) = askama::filters::escape(n.name, askama::filters::Html);
        let mut class = format!("node st-{}", n.state);
        let mut role = "";
        if causes.contains(n.name) {
            class.push_str(" cause");
            role = ", a root-cause candidate";
        } else if blast.contains(n.name) {
            class.push_str(" blast");
            role = ", in the blast radius";
        }
        let short: String = if n.name.chars().count() > 20 {
            n.name.chars().take(19).chain(['…']).collect()
        } else {
            n.name.to_string()
        };
        let Ok(short) = askama::filters::escape(&short, askama::filters::Html);
        let _ = write!(
            svg,
            r#"<a href="/ui/services/{name}" class="{class}" data-service="{name}"><title>{name}: {}{role}</title><rect x="{x}" y="{y}" width="{NODE_W}" height="{NODE_H}" rx="4"/><text x="{}" y="{}">{short}</text></a>"#,
            n.state,
            x + 8,
            y + 17
        );
    }
    svg.push_str("</svg>");
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deps(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    /// db fails; api depends on db, web on api: db is the root cause, api and web its blast
    /// radius; cache (ok) is neither.
    #[test]
    fn a_failing_dependency_is_the_root_cause_and_its_dependents_the_blast_radius() {
        let (none, db, api) = (deps(&[]), deps(&["db"]), deps(&["api", "cache"]));
        let nodes = [
            Node { name: "web", state: "ok", depends_on: &api },
            Node { name: "api", state: "suppressed", depends_on: &db },
            Node { name: "db", state: "failing", depends_on: &none },
            Node { name: "cache", state: "ok", depends_on: &none },
        ];
        let all = marks(&nodes, None);
        assert_eq!(all, Marks { root_causes: deps(&["db"]), blast_radius: deps(&["api", "web"]) });
        // Focused on api: its cause upstream is db; its blast radius is web.
        assert_eq!(marks(&nodes, Some("api")), Marks { root_causes: deps(&["db"]), blast_radius: deps(&["web"]) });
        assert_eq!(marks(&nodes, Some("cache")), Marks { root_causes: vec![], blast_radius: deps(&["web"]) });
        assert_eq!(marks(&nodes, Some("ghost")), Marks::default());

        let svg = draw(&nodes, &all);
        assert_eq!(svg.matches("<a href=").count(), 4);
        assert_eq!(svg.matches("<path").count(), 3);
        assert!(svg.contains(r#"<a href="/ui/services/db" class="node st-failing cause" data-service="db"><title>db: failing, a root-cause candidate</title><rect x="8" "#), "{svg}");
        assert!(svg.contains(r#"class="node st-ok blast" data-service="web""#), "{svg}");
        // Columns by depth: db and cache first, api second, web third.
        assert!(
            svg.contains(r#"data-service="web"><title>web: ok, in the blast radius</title><rect x="408""#),
            "{svg}"
        );
    }

    #[test]
    fn names_are_escaped_and_long_ones_shortened() {
        let none = deps(&[]);
        let long = "a-very-long-service-name-indeed";
        let nodes =
            [Node { name: "<b>", state: "ok", depends_on: &none }, Node { name: long, state: "ok", depends_on: &none }];
        let svg = draw(&nodes, &Marks::default());
        assert!(!svg.contains("<b>") && svg.contains("&#60;b&#62;"), "{svg}");
        assert!(
            svg.contains(">a-very-long-service…</text>") && svg.contains(&format!("<title>{long}: ok</title>")),
            "{svg}"
        );
    }
}
