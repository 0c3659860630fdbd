//! The configuration file as obsctl read it, read-only, named as the operator writes it, with
//! every secret shown as `***`.

use askama::Template;
use axum::extract::State;
use axum::response::Response;
use obsctl_config::Config;
use obsctl_core::secret::mask_for_display;

use crate::AppState;
use crate::dashboard::session::Viewer;
use crate::dashboard::{Chrome, render};

#[derive(Template)]
#[template(path = "config.html")]
struct ConfigPage {
    chrome: Chrome,
    source: String,
    /// The file as TOML: secrets, credential-named keys and URL query values show as `***`.
    text: String,
}

pub async fn view_config_get(State(s): State<AppState>, Viewer(session): Viewer) -> Response {
    let text = as_written(&s.config).unwrap_or_else(|e| format!("cannot show the config: {e}"));
    render(&ConfigPage { chrome: Chrome::new(&s, &session, "Config"), source: s.config.source.clone(), text })
}

/// The file's settings as TOML, with the names and durations the operator writes (issue 27,
/// finding 11: the page showed the loaded structs' names and `{"secs": 60, "nanos": 0}`).
fn as_written(config: &Config) -> anyhow::Result<String> {
    let value = serde_json::to_value(&config.written.0)?;
    let masked = mask_for_display(&value, &config.secrets());
    Ok(toml::to_string_pretty(&masked)?)
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use obsctl_config::{LoadOptions, load};

    #[test]
    fn the_page_names_fields_as_the_file_does_and_masks_secrets() {
        let text = r#"
[agent]
mode = "approve"
[notify.ntfy]
url = "https://ntfy.example/x"
topic = "topic-secret-name"
[[service]]
name = "api"
  [[service.check]]
  name = "health"
  kind = "http"
  url = "http://127.0.0.1:9/health?token=query-secret"
  interval = "1m"
"#;
        let config = load(text, &HashMap::new(), &LoadOptions { file: "x.toml", known_tools: &[] }).unwrap();
        let shown = super::as_written(&config).unwrap();
        for written in
            ["[[service]]", "[[service.check]]", "interval = \"1m\"", "kind = \"http\"", "mode = \"approve\""]
        {
            assert!(shown.contains(written), "{written} missing from:\n{shown}");
        }
        assert!(shown.contains("health?token=***"), "{shown}");
        assert!(!shown.contains("topic-secret-name") && !shown.contains("query-secret"), "{shown}");
        assert!(!shown.contains("secs") && !shown.contains("checks"), "{shown}");
    }
}
