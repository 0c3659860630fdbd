//! The configuration as obsctl understood it, read-only, with every secret shown as `***`.

use askama::Template;
use axum::extract::State;
use axum::response::Response;
use obsctl_core::secret::mask_for_display;

use crate::AppState;
use crate::dashboard::session::Viewer;
use crate::dashboard::{Chrome, render};

#[derive(Template)]
#[template(path = "config.html")]
struct ConfigPage {
    chrome: Chrome,
    source: String,
    /// Pretty JSON of the loaded config: secrets, credential-named keys and URL query values
    /// show as `***`.
    text: String,
}

pub async fn view_config_get(State(s): State<AppState>, Viewer(session): Viewer) -> Response {
    let shown = serde_json::to_value(&*s.config)
        .map(|v| durations_in_words(mask_for_display(&v, &s.config.secrets())))
        .and_then(|v| serde_json::to_string_pretty(&v));
    let text = shown.unwrap_or_else(|e| format!("cannot show the config: {e}"));
    render(&ConfigPage { chrome: Chrome::new(&s, &session, "Config"), source: s.config.source.clone(), text })
}

/// Every duration as people write it in the config (`"1m"`, `"250ms"`), not serde's
/// `{"secs": 60, "nanos": 0}` (issue 27, finding 11).
fn durations_in_words(value: serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match value {
        Value::Object(map) if map.len() == 2 && map.contains_key("secs") && map.contains_key("nanos") => {
            let (secs, nanos) = (map["secs"].as_u64().unwrap_or(0), map["nanos"].as_u64().unwrap_or(0) as u32);
            Value::String(obsctl_core::quantity::format_duration(std::time::Duration::new(secs, nanos)))
        }
        Value::Object(map) => Value::Object(map.into_iter().map(|(k, v)| (k, durations_in_words(v))).collect()),
        Value::Array(items) => Value::Array(items.into_iter().map(durations_in_words).collect()),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    #[test]
    fn durations_read_as_the_config_writes_them() {
        let shown = super::durations_in_words(
            json!({"a": {"secs": 60, "nanos": 0}, "b": [{"secs": 0, "nanos": 250_000_000}], "c": {"secs": 1}}),
        );
        assert_eq!(shown, json!({"a": "1m", "b": ["250ms"], "c": {"secs": 1}}));
    }
}
