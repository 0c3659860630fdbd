//! A postmortem written as Markdown with YAML front matter, read into an episode: how a team's
//! existing postmortem folder becomes searchable memory. The mapping is documented in
//! docs/memory.md (Importing postmortems).

use std::collections::BTreeMap;

use serde_json::Value;

use super::{Episode, EpisodeAction, EpisodeOutcome, FixStep, action_key, cluster};
use crate::action::Outcome;
use crate::time::Timestamp;

/// The episode a postmortem file describes. `path` is the file's path relative to what was
/// imported (it names the episode, `pm-<path>`, so importing the folder again replaces rather
/// than adds); `origin` is this instance.
pub fn parse(text: &str, path: &str, origin: &str) -> Result<Episode, String> {
    let (front, body) = split_front_matter(text)?;
    let value: Value = serde_norway::from_str(front).map_err(|e| format!("front matter is not YAML: {e}"))?;
    let Value::Object(fields) = value else {
        return Err("front matter must be a mapping of fields (title: …, summary: …)".into());
    };
    let get = |names: &[&str]| names.iter().find_map(|n| fields.get(*n)).filter(|v| !v.is_null());
    let title = match get(&["title", "name"]) {
        Some(v) => scalar(v, "title")?,
        None => body
            .lines()
            .find_map(|l| l.strip_prefix("# "))
            .map(|t| t.trim().to_string())
            .ok_or("no title: give `title:` in the front matter or a `# heading`")?,
    };
    let summary = get(&["summary", "description", "abstract"]).map(|v| scalar(v, "summary")).transpose()?;
    let services = get(&["service", "services", "product", "products", "component"])
        .map(|v| list(v, "service"))
        .transpose()?
        .unwrap_or_default();
    let tags = get(&["tags", "keywords", "labels"]).map(|v| list(v, "tags")).transpose()?.unwrap_or_default();
    let categories = get(&["categories", "category"]).map(|v| list(v, "categories")).transpose()?.unwrap_or_default();
    let start = get(&["start", "started_at", "start_time", "begin", "date"]).map(|v| time(v, "start")).transpose()?;
    let end = get(&["end", "ended_at", "end_time", "resolved_at", "resolved"]).map(|v| time(v, "end")).transpose()?;
    let service = services.first().map(|s| slug(s)).unwrap_or_else(|| "unknown".into());
    let kind = match get(&["kind", "type"]) {
        Some(v) => slug(&scalar(v, "kind")?),
        None => categories.first().map(|c| slug(c)).unwrap_or_else(|| "postmortem".into()),
    };
    if service.is_empty() || kind.is_empty() {
        return Err("service and kind must hold at least one letter or digit".into());
    }
    let fix = get(&["fix"]).map(fix_steps).transpose()?;
    let outcome = match get(&["outcome"]) {
        Some(v) => {
            let text = scalar(v, "outcome")?;
            EpisodeOutcome::parse(&text)
                .ok_or_else(|| format!("outcome {text:?} must be fixed, not_fixed, escalated or self_resolved"))?
        }
        None if fix.is_some() => EpisodeOutcome::Fixed,
        // People resolved it; obsctl verified no fix.
        None => EpisodeOutcome::Escalated,
    };
    let mut labels = BTreeMap::new();
    for extra in services.iter().skip(1) {
        labels.insert(format!("service:{}", slug(extra)), "true".to_string());
    }
    for tag in &tags {
        labels.insert(format!("tag:{}", slug(tag)), "true".to_string());
    }
    for category in &categories {
        labels.insert(format!("category:{}", slug(category)), "true".to_string());
    }
    let (opened_at, ended_at) = match (start, end) {
        (Some(s), Some(e)) if e < s => return Err("end is before start".into()),
        (s, e) => (s.or(e).unwrap_or(Timestamp(0)), e.or(s).unwrap_or(Timestamp(0))),
    };
    let time_to_recover_ms = ended_at.millis() - opened_at.millis();
    let actions = fix
        .map(|steps| {
            vec![EpisodeAction {
                action_key: action_key(&steps),
                steps,
                outcome: if outcome == EpisodeOutcome::Fixed { Outcome::Fixed } else { Outcome::NotFixed },
                time_to_recover_ms: (outcome == EpisodeOutcome::Fixed && start.is_some() && end.is_some())
                    .then_some(time_to_recover_ms),
                learn: true,
            }]
        })
        .unwrap_or_default();
    let id = match get(&["id"]) {
        Some(v) => format!("pm-{}", slug(&scalar(v, "id")?)),
        None => format!("pm-{}", slug(path.strip_suffix(".md").or(path.strip_suffix(".markdown")).unwrap_or(path))),
    };
    let mut text = vec![title];
    text.extend(summary);
    let mut episode = Episode {
        incident_id: id.clone(),
        fingerprint: format!("{service}/postmortem/{kind}"),
        cluster: cluster(&kind, &service),
        id,
        service,
        kind,
        labels,
        text: format!("{}\n\n{}", text.join("\n"), body.trim()),
        actions,
        outcome,
        opened_at,
        ended_at,
        time_to_recover_ms,
        content_hash: String::new(),
        origin: origin.to_string(),
        source: format!("postmortem:{path}"),
    };
    super::exchange::validate(&episode)?;
    episode.content_hash = episode.compute_hash();
    Ok(episode)
}

/// The YAML between a first line `---` and the next `---` (or `...`), and the rest.
fn split_front_matter(text: &str) -> Result<(&str, &str), String> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let rest = text
        .strip_prefix("---\n")
        .or_else(|| text.strip_prefix("---\r\n"))
        .ok_or("no YAML front matter: the file must begin with a line `---`")?;
    let mut offset = 0;
    for line in rest.split_inclusive('\n') {
        if matches!(line.trim_end(), "---" | "...") {
            return Ok((&rest[..offset], &rest[offset + line.len()..]));
        }
        offset += line.len();
    }
    Err("the front matter has no closing line `---`".into())
}

fn scalar(v: &Value, field: &str) -> Result<String, String> {
    match v {
        Value::String(s) => Ok(s.trim().to_string()),
        Value::Number(n) => Ok(n.to_string()),
        Value::Bool(b) => Ok(b.to_string()),
        _ => Err(format!("{field} must be text")),
    }
}

/// A list, or one value, or comma-separated text.
fn list(v: &Value, field: &str) -> Result<Vec<String>, String> {
    match v {
        Value::Array(items) => {
            items.iter().map(|i| scalar(i, field)).filter(|s| s.as_ref().is_ok_and(|s| !s.is_empty())).collect()
        }
        other => Ok(scalar(other, field)?.split(',').map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect()),
    }
}

/// RFC 3339, or `YYYY-MM-DD[ HH:MM[:SS]]` read as UTC.
fn time(v: &Value, field: &str) -> Result<Timestamp, String> {
    let text = scalar(v, field)?;
    let t = text.trim();
    let candidates = [t.to_string(), format!("{t}Z"), format!("{t}:00Z"), format!("{t}T00:00:00Z")];
    candidates
        .iter()
        .find_map(|c| Timestamp::parse_rfc3339(c))
        .ok_or_else(|| format!("{field} {t:?} is not a time; use RFC 3339 (2024-03-01T14:05:00Z) or 2024-03-01 14:05"))
}

/// `fix:` as a list of `{tool, args}` steps (or one step): what the file states worked.
fn fix_steps(v: &Value) -> Result<Vec<FixStep>, String> {
    let items = match v {
        Value::Array(items) => items.clone(),
        other => vec![other.clone()],
    };
    items
        .into_iter()
        .map(|item| {
            serde_json::from_value::<FixStep>(item).map_err(|e| {
                format!("fix must be steps like `- tool: process.restart` with `args: {{service: api}}`: {e}")
            })
        })
        .collect()
}

/// ASCII letters (lowercased), digits and `/ . _`; every other run becomes one `-`.
fn slug(text: &str) -> String {
    let mut out = String::new();
    for c in text.trim().chars() {
        if c.is_ascii_alphanumeric() || matches!(c, '/' | '.' | '_') {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    out.trim_matches('-').to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    const FULL: &str = "---\ntitle: Checkout DB failover\nsummary: Primary ran out of disk; writes failed for 40 minutes.\nservice: [Checkout API, payments]\ntags: database, disk\ncategories:\n  - Disk Full\nstart: 2024-03-01 14:05\nend: 2024-03-01T14:45:00Z\n---\n# Checkout DB failover\n\nWAL filled the volume.\n";

    #[test]
    fn front_matter_maps_onto_an_episode() {
        let e = parse(FULL, "2024/checkout-db.md", "edge-a").unwrap();
        assert_eq!(e.id, "pm-2024/checkout-db");
        assert_eq!(
            (e.service.as_str(), e.kind.as_str(), e.cluster.as_str()),
            ("checkout-api", "disk-full", "disk-full@checkout-api")
        );
        assert_eq!(e.opened_at, Timestamp::parse_rfc3339("2024-03-01T14:05:00Z").unwrap());
        assert_eq!(e.time_to_recover_ms, 40 * 60 * 1000);
        assert!(e.text.starts_with("Checkout DB failover\nPrimary ran out of disk"), "{}", e.text);
        assert!(e.text.contains("WAL filled the volume."));
        let labels: Vec<&str> = e.labels.keys().map(String::as_str).collect();
        assert_eq!(labels, ["category:disk-full", "service:payments", "tag:database", "tag:disk"]);
        assert!(e.actions.is_empty(), "no fix that obsctl did not verify");
        assert_eq!(e.outcome, EpisodeOutcome::Escalated);
        assert_eq!((e.origin.as_str(), e.source.as_str()), ("edge-a", "postmortem:2024/checkout-db.md"));
        assert_eq!(e.content_hash, e.compute_hash());
    }

    #[test]
    fn a_stated_fix_becomes_a_learned_attempt() {
        let text = FULL.replace("---\n#", "fix:\n  - tool: process.restart\n    args: {service: checkout}\n---\n#");
        let e = parse(&text, "a.md", "x").unwrap();
        assert_eq!(e.outcome, EpisodeOutcome::Fixed);
        assert_eq!(e.actions[0].steps[0].tool, "process.restart");
        assert_eq!(e.actions[0].time_to_recover_ms, Some(40 * 60 * 1000));
    }

    #[test]
    fn unknown_dates_stay_unknown_and_the_heading_names_it() {
        let e = parse("---\nservice: api\n---\n# Api slow\nbody\n", "x.md", "x").unwrap();
        assert_eq!((e.opened_at, e.ended_at), (Timestamp(0), Timestamp(0)));
        assert_eq!((e.kind.as_str(), e.text.lines().next()), ("postmortem", Some("Api slow")));
    }

    #[test]
    fn bad_files_are_refused_with_the_reason() {
        assert!(parse("# no front matter", "a.md", "x").unwrap_err().contains("begin with a line"));
        assert!(parse("---\ntitle: [unclosed\n---\n", "a.md", "x").unwrap_err().contains("not YAML"));
        assert!(parse("---\n- a\n- b\n---\n", "a.md", "x").unwrap_err().contains("mapping"));
        assert!(parse("---\ntitle: a\n", "a.md", "x").unwrap_err().contains("closing"));
        assert!(
            parse("---\ntitle: a\nstart: yesterday\n---\n", "a.md", "x").unwrap_err().contains("start \"yesterday\"")
        );
        assert!(
            parse("---\ntitle: a\nstart: 2024-03-02\nend: 2024-03-01\n---\n", "a.md", "x")
                .unwrap_err()
                .contains("before")
        );
        assert!(parse("---\nsummary: s\n---\nno heading\n", "a.md", "x").unwrap_err().contains("no title"));
        assert!(parse("---\ntitle: a\nfix: restart it\n---\n", "a.md", "x").unwrap_err().contains("fix must be steps"));
    }
}
