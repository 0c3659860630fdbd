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
        .map(|v| mask_for_display(&v, &s.config.secrets()))
        .and_then(|v| serde_json::to_string_pretty(&v));
    let text = shown.unwrap_or_else(|e| format!("cannot show the config: {e}"));
    render(&ConfigPage { chrome: Chrome::new(&s, &session, "Config"), source: s.config.source.clone(), text })
}
