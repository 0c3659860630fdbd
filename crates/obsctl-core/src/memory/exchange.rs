//! The episode exchange format: one episode per JSON line, tagged with its schema version, what
//! `obsctl memory export` writes, `obsctl memory import` and memory sync read.

use serde::Serialize;

use super::Episode;

/// The schema every exported line names; a line naming a newer one is refused.
pub const EPISODE_SCHEMA: &str = "obsctl.episode/1";

#[derive(Serialize)]
struct LineOut<'a> {
    schema: &'static str,
    #[serde(flatten)]
    episode: &'a Episode,
}

/// One episode as an export line (no newline). Its `content_hash` is recomputed, so a line
/// always carries the hash of what it holds.
pub fn to_line(episode: &Episode) -> String {
    let mut episode = episode.clone();
    episode.content_hash = episode.compute_hash();
    serde_json::to_string(&LineOut { schema: EPISODE_SCHEMA, episode: &episode }).unwrap_or_default()
}

/// Reads one export line: checks the schema, the episode's shape and its hash (a line edited by
/// hand must drop `content_hash`, which is then computed). The error says what is wrong.
pub fn from_line(line: &str) -> Result<Episode, String> {
    let value: serde_json::Value = serde_json::from_str(line).map_err(|e| format!("not JSON: {e}"))?;
    if let Some(schema) = value.get("schema").and_then(|s| s.as_str())
        && schema != EPISODE_SCHEMA
    {
        return Err(match schema.strip_prefix("obsctl.episode/") {
            Some(_) => format!("schema {schema:?} is newer than this obsctl reads ({EPISODE_SCHEMA}); upgrade obsctl"),
            None => format!("schema {schema:?} is not an obsctl episode ({EPISODE_SCHEMA})"),
        });
    }
    let given_hash = value.get("content_hash").and_then(|h| h.as_str()).map(str::to_string);
    let mut value = value;
    if let Some(map) = value.as_object_mut() {
        map.entry("content_hash").or_insert_with(|| serde_json::Value::String(String::new()));
    }
    // `schema` is not a field of `Episode`, which ignores it.
    let mut episode: Episode = serde_json::from_value(value).map_err(|e| format!("not an episode: {e}"))?;
    validate(&episode)?;
    let computed = episode.compute_hash();
    match given_hash {
        Some(hash) if !hash.is_empty() && hash != computed => {
            return Err(format!(
                "content_hash {hash} does not match the episode's content ({computed}); a line edited by hand must \
                 leave content_hash out"
            ));
        }
        _ => episode.content_hash = computed,
    }
    Ok(episode)
}

/// What every episode from outside must satisfy before it is stored.
pub fn validate(e: &Episode) -> Result<(), String> {
    let id_ok = !e.id.is_empty()
        && e.id.len() <= 200
        && e.id.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':' | '/'));
    if !id_ok {
        return Err(format!("id {:?} must be 1 to 200 letters, digits or - _ . : /", e.id));
    }
    if e.cluster != super::cluster(&e.kind, &e.service) {
        return Err(format!(
            "cluster {:?} must be kind@service ({:?})",
            e.cluster,
            super::cluster(&e.kind, &e.service)
        ));
    }
    if e.service.is_empty() || e.kind.is_empty() {
        return Err("service and kind must not be empty".into());
    }
    for attempt in &e.actions {
        if attempt.action_key != super::action_key(&attempt.steps) {
            return Err(format!("action_key {:?} does not match its steps", attempt.action_key));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::action::Outcome;
    use crate::memory::{EpisodeAction, EpisodeOutcome, FixStep, action_key};
    use crate::time::Timestamp;

    pub(crate) fn sample() -> Episode {
        let steps = vec![FixStep { tool: "process.restart".into(), args: serde_json::json!({"service": "api"}) }];
        let mut e = Episode {
            id: "ep-inc-1-r0".into(),
            incident_id: "inc-1".into(),
            fingerprint: "api/health/http-down".into(),
            cluster: "http-down@api".into(),
            service: "api".into(),
            kind: "http-down".into(),
            labels: [("team".to_string(), "web".to_string())].into(),
            text: "api health failing".into(),
            actions: vec![EpisodeAction {
                action_key: action_key(&steps),
                steps,
                outcome: Outcome::Fixed,
                time_to_recover_ms: Some(900),
                learn: true,
            }],
            outcome: EpisodeOutcome::Fixed,
            opened_at: Timestamp(1000),
            ended_at: Timestamp(2000),
            time_to_recover_ms: 1000,
            content_hash: String::new(),
            origin: "edge-a".into(),
            source: "incident".into(),
        };
        e.content_hash = e.compute_hash();
        e
    }

    #[test]
    fn a_line_round_trips_byte_for_byte() {
        let line = to_line(&sample());
        assert!(line.starts_with(r#"{"schema":"obsctl.episode/1","id":"ep-inc-1-r0""#), "{line}");
        let back = from_line(&line).unwrap();
        assert_eq!(back, sample());
        assert_eq!(to_line(&back), line);
    }

    #[test]
    fn a_tampered_line_is_refused_and_a_hashless_one_accepted() {
        let line = to_line(&sample()).replace("api health failing", "api health fine");
        assert!(from_line(&line).unwrap_err().contains("does not match"));
        let mut value: serde_json::Value = serde_json::from_str(&line).unwrap();
        value.as_object_mut().unwrap().remove("content_hash");
        let e = from_line(&value.to_string()).unwrap();
        assert_eq!(e.text, "api health fine");
        assert_eq!(e.content_hash, e.compute_hash());
    }

    #[test]
    fn bad_lines_say_what_is_wrong() {
        assert!(from_line("{not json").unwrap_err().starts_with("not JSON"));
        assert!(from_line(r#"{"id": "x"}"#).unwrap_err().starts_with("not an episode"));
        let newer = to_line(&sample()).replace("obsctl.episode/1", "obsctl.episode/2");
        assert!(from_line(&newer).unwrap_err().contains("upgrade obsctl"));
        let wrong_cluster = to_line(&sample()).replace(r#""cluster":"http-down@api""#, r#""cluster":"x@y""#);
        assert!(from_line(&wrong_cluster).unwrap_err().contains("kind@service"));
        let bad_id = to_line(&sample()).replace(r#""id":"ep-inc-1-r0""#, r#""id":"a b""#);
        assert!(from_line(&bad_id).unwrap_err().contains("id \"a b\""));
    }
}
