//! Memory search: past incidents like a free-text description, ranked by the recall index with
//! each score explained, and what fixed them.

use askama::Template;
use axum::extract::{Query, State};
use axum::response::Response;
use obsctl_core::Timestamp;
use obsctl_core::memory::Episode;
use obsctl_store::{RecallHit, RecallQuery};
use serde::Deserialize;

use crate::AppState;
use crate::dashboard::session::Viewer;
use crate::dashboard::{Chrome, failed, render};

#[derive(Deserialize, Default)]
pub struct Search {
    #[serde(default)]
    q: String,
    #[serde(default)]
    service: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    labels: String,
}

struct Found {
    hit: RecallHit,
    episode: Option<Episode>,
}

#[derive(Template)]
#[template(path = "memory.html")]
struct MemoryPage {
    chrome: Chrome,
    search: Search,
    services: Vec<String>,
    /// None when the recall index is unavailable.
    found: Option<Vec<Found>>,
    episodes: u64,
    /// Memory sync in one line, when it is on; whether its last attempt failed.
    sync: Option<(String, bool)>,
}

/// Memory sync's state in one line: the central, the last success, the backlog, the last error.
async fn sync_line(s: &AppState) -> Option<(String, bool)> {
    let sync = s.memory_sync.as_ref()?;
    let (state, backlog) = match sync.status().await {
        Ok(status) => status,
        Err(e) => return Some((format!("Sync status unavailable: {e}"), true)),
    };
    let last = state.last_success.map_or("never yet".to_string(), |t| t.rfc3339());
    let mut line = format!(
        "Synced with {}: last success {last}; pushed {}, pulled {}; {backlog} episodes wait to be pushed",
        state.peer, state.pushed, state.pulled
    );
    if let Some(error) = &state.last_error {
        line.push_str(&format!("; last attempt failed: {error}"));
    }
    Some((line, state.last_error.is_some()))
}

impl MemoryPage {
    fn fixes(&self, e: &Episode) -> String {
        let steps = |a: &obsctl_core::memory::EpisodeAction| {
            a.steps.iter().map(|s| s.tool.as_str()).collect::<Vec<_>>().join(" → ")
        };
        e.actions.iter().map(|a| format!("{} ({})", steps(a), a.outcome.as_str())).collect::<Vec<_>>().join("; ")
    }
}

pub async fn view_memory_get(
    State(s): State<AppState>,
    Viewer(session): Viewer,
    Query(search): Query<Search>,
) -> Response {
    let episodes = s.store.episode_count().await.unwrap_or(0);
    let found = match s.agent.recall() {
        None => None,
        Some(_) if search.q.trim().is_empty() => Some(Vec::new()),
        Some(index) => {
            let query = RecallQuery {
                text: search.q.clone(),
                service: Some(search.service.clone()).filter(|x| !x.is_empty()),
                kind: Some(search.kind.clone()).filter(|x| !x.is_empty()),
                // A label that is not key=value ranks nothing rather than failing the page.
                labels: obsctl_store::parse_labels([search.labels.as_str()]).unwrap_or_default(),
                strict: !search.service.is_empty() || !search.kind.is_empty(),
                limit: 20,
            };
            let hits = match index.search(&query, Timestamp::now()) {
                Ok(h) => h,
                Err(e) => return failed(e),
            };
            let mut found = Vec::with_capacity(hits.len());
            for hit in hits {
                let episode = s.store.episode(&hit.episode_id).await.ok();
                found.push(Found { hit, episode });
            }
            Some(found)
        }
    };
    render(&MemoryPage {
        chrome: Chrome::new(&s, &session, "Memory"),
        services: s.config.services.iter().map(|x| x.name.clone()).collect(),
        search,
        found,
        episodes,
        sync: sync_line(&s).await,
    })
}
