//! What the agent's unit tests share: a configured gate's parts over a fresh SQLite store in a
//! temporary folder, with `fs.usage` (reads) and `fs.cleanup` (changes things) registered, and
//! an open incident of `api`.

use std::collections::HashMap;
use std::sync::Arc;

use obsctl_config::{Config, LoadOptions, load};
use obsctl_core::Timestamp;
use obsctl_core::incident::{Incident, IncidentStatus, fingerprint};
use obsctl_store::{SqliteStore, Store};

use crate::tools::{ToolRegistry, fs};

const TOOLS: &[&str] = &["fs.usage", "fs.cleanup", "notify.ntfy"];

/// The parts, configured by `agent` (the `[agent]` table's lines); the folder lives as long as
/// the last value.
pub(crate) struct Parts {
    pub config: Arc<Config>,
    pub store: Arc<dyn Store>,
    pub registry: Arc<ToolRegistry>,
    pub dir: tempfile::TempDir,
}

pub(crate) async fn parts(agent: &str) -> Parts {
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        "[agent]\n{agent}\n[fs]\nallowed_roots = [\"{}\"]\n[[service]]\nname = \"api\"\n\
         [[check]]\nservice = \"api\"\nname = \"health\"\nkind = \"tcp\"\naddress = \"127.0.0.1:1\"\n",
        dir.path().display()
    );
    let config =
        load(&text, &HashMap::new(), &LoadOptions { file: "agent.toml", known_tools: TOOLS }).expect("config loads");
    let store: Arc<dyn Store> =
        Arc::new(SqliteStore::open(&format!("sqlite://{}/obsctl.db", dir.path().display())).await.unwrap());
    let mut registry = ToolRegistry::default();
    registry.register(Arc::new(fs::Usage::new(vec![dir.path().to_path_buf()])));
    registry.register(Arc::new(fs::Cleanup::new(vec![dir.path().to_path_buf()])));
    Parts { config: Arc::new(config), store, registry: Arc::new(registry), dir }
}

/// An open incident of `api`'s health check, opened now.
pub(crate) fn incident() -> Incident {
    let now = Timestamp::now();
    Incident {
        id: "inc-1".into(),
        fingerprint: fingerprint("api", "health", "tcp-down"),
        service: "api".into(),
        check_id: "api/health".into(),
        kind: "tcp-down".into(),
        status: IncidentStatus::Open,
        title: "api health is failing".into(),
        detail: "refused".into(),
        opened_at: now,
        updated_at: now,
        resolved_at: None,
        occurrences: 1,
        reopen_count: 0,
        upstream_incident: None,
        resolution: None,
    }
}
