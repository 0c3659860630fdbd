//! The graph in a Bolt server, kept as a mirror of the journal: a sync loop copies changed
//! incidents and actions (and the DEPENDS_ON edges) into it, and queries go to it while it is
//! reachable and caught up. When it is not, they are answered from the embedded graph with a
//! warning, and the next successful sync replays everything it missed: nothing is lost, because
//! the journal is the source of truth and the mirror's cursor lives in the graph itself.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use obsctl_core::Timestamp;
use obsctl_core::graph::{FixRecord, Reached, UpstreamFailure};
use serde::Serialize;
use tokio::sync::watch;

use crate::bolt::BoltGraph;
use crate::{GraphStore, Result, Store};

/// Rows copied per round trip.
const PAGE: u32 = 500;
/// Each sync re-reads this much of the journal before its cursor, so a change committed a little
/// late (a slow transaction on another replica) is still copied; graph writes are idempotent.
const OVERLAP_MS: i64 = 2_000;

/// What the mirror reports about itself (`/api/status`, `obsctl graph sync`).
#[derive(Debug, Clone, Default, Serialize, schemars::JsonSchema)]
pub struct MirrorStatus {
    /// `host:port` of the Bolt server.
    pub address: String,
    /// Queries are answered by the Bolt server (true) or by the embedded graph (false).
    pub serving: bool,
    /// Why the Bolt server is not serving, when it is not.
    pub last_error: Option<String>,
    /// When the last successful sync finished.
    pub synced_at: Option<Timestamp>,
    /// Incidents and actions copied since the mirror started.
    pub copied: u64,
}

/// What one sync did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct SyncReport {
    pub incidents: u64,
    pub actions: u64,
    pub dependencies: bool,
}

struct State {
    status: MirrorStatus,
    /// DEPENDS_ON edges not yet written to the Bolt server.
    pending_dependencies: Option<Vec<(String, String)>>,
    indexes_ready: bool,
}

pub struct GraphMirror {
    journal: Arc<dyn Store>,
    bolt: BoltGraph,
    state: Mutex<State>,
}

impl GraphMirror {
    pub fn new(journal: Arc<dyn Store>, bolt: BoltGraph) -> Self {
        let status = MirrorStatus { address: bolt.address().to_owned(), ..MirrorStatus::default() };
        GraphMirror {
            journal,
            bolt,
            state: Mutex::new(State { status, pending_dependencies: None, indexes_ready: false }),
        }
    }

    pub fn status(&self) -> MirrorStatus {
        self.lock().status.clone()
    }

    fn serving(&self) -> bool {
        self.lock().status.serving
    }

    /// Copies what changed in the journal since the last sync. On success the Bolt server
    /// serves queries; on failure the embedded graph does, and the error is returned.
    pub async fn sync(&self) -> Result<SyncReport> {
        match self.copy().await {
            Ok(report) => {
                let mut state = self.lock();
                if !state.status.serving && state.status.last_error.is_some() {
                    tracing::info!(address = %state.status.address, incidents = report.incidents, actions = report.actions,
                        "graph backend is back; missed writes replayed, queries served by it again");
                }
                state.status.serving = true;
                state.status.last_error = None;
                state.status.synced_at = Some(Timestamp::now());
                state.status.copied += report.incidents + report.actions;
                Ok(report)
            }
            Err(e) => {
                self.degrade(&e);
                Err(e)
            }
        }
    }

    async fn copy(&self) -> Result<SyncReport> {
        let mut report = SyncReport::default();
        if !self.lock().indexes_ready {
            self.bolt.ensure_indexes().await?;
            self.lock().indexes_ready = true;
        }
        let pending = self.lock().pending_dependencies.clone();
        if let Some(edges) = pending {
            self.bolt.replace_dependencies(&edges).await?;
            let mut state = self.lock();
            if state.pending_dependencies.as_ref() == Some(&edges) {
                state.pending_dependencies = None;
            }
            report.dependencies = true;
        }
        let mut cursor = self.bolt.cursor().await?;
        let journal = self.journal.as_ref();
        let bolt = &self.bolt;
        (report.incidents, cursor.incidents_at) = copy_changes(
            cursor.incidents_at,
            |at, id| Box::pin(async move { journal.incidents_changed((at, &id), PAGE).await }),
            |page| Box::pin(async move { bolt.write_incidents(&page).await }),
            |i| (i.updated_at, i.id.clone()),
        )
        .await?;
        (report.actions, cursor.actions_at) = copy_changes(
            cursor.actions_at,
            |at, id| Box::pin(async move { journal.actions_changed((at, &id), PAGE).await }),
            |page| Box::pin(async move { bolt.write_actions(&page).await }),
            |a| (a.updated_at, a.id.clone()),
        )
        .await?;
        self.bolt.save_cursor(cursor).await?;
        Ok(report)
    }

    fn degrade(&self, error: &crate::StoreError) {
        let mut state = self.lock();
        if state.status.serving || state.status.last_error.is_none() {
            tracing::warn!(address = %state.status.address, %error,
                "graph backend unreachable; answering from the embedded graph, writes will be replayed when it returns");
        }
        state.status.serving = false;
        state.status.last_error = Some(error.to_string());
        drop(state);
        self.bolt.reconnect_later();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Syncs every `interval` until `shutdown` fires.
    pub async fn run(self: Arc<Self>, interval: Duration, mut shutdown: watch::Receiver<bool>) {
        let mut ticker = tokio::time::interval(interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = ticker.tick() => {
                    // A failure is logged and recorded in the status by `sync` itself.
                    let _ = self.sync().await;
                }
                _ = shutdown.changed() => return,
            }
        }
    }

    /// Runs a query on the Bolt server while it serves, else (or when it fails) on the journal.
    async fn answer<T, F, G>(&self, bolt: F, embedded: G) -> Result<T>
    where
        F: Future<Output = Result<T>>,
        G: Future<Output = Result<T>>,
    {
        if self.serving() {
            match bolt.await {
                Ok(answer) => return Ok(answer),
                Err(e) => self.degrade(&e),
            }
        }
        embedded.await
    }
}

/// Copies one table's changes since `since` (less the overlap), page by page in change order.
/// Returns how many rows were copied and the newest change seen.
async fn copy_changes<'a, T>(
    since: Timestamp,
    read: impl Fn(Timestamp, String) -> Step<'a, Vec<T>>,
    write: impl Fn(Vec<T>) -> Step<'a, ()>,
    changed: impl Fn(&T) -> (Timestamp, String),
) -> Result<(u64, Timestamp)> {
    let (mut copied, mut newest) = (0, since);
    let (mut at, mut id) = (Timestamp(since.millis() - OVERLAP_MS), String::new());
    loop {
        let page = read(at, id).await?;
        let Some(last) = page.last() else { break };
        (at, id) = changed(last);
        let full = page.len() == PAGE as usize;
        copied += page.len() as u64;
        newest = newest.max(at);
        write(page).await?;
        if !full {
            break;
        }
    }
    Ok((copied, newest))
}

/// One step of `copy_changes`: a read or a write, boxed so the sync loop stays `Send`.
type Step<'a, T> = std::pin::Pin<Box<dyn Future<Output = Result<T>> + Send + 'a>>;

#[async_trait]
impl GraphStore for GraphMirror {
    /// The journal takes the edges at once; the Bolt server on the next sync.
    async fn set_dependencies(&self, edges: &[(String, String)]) -> Result<()> {
        self.journal.set_dependencies(edges).await?;
        self.lock().pending_dependencies = Some(edges.to_vec());
        Ok(())
    }

    async fn fix_history(&self, service: &str, limit: u32) -> Result<Vec<FixRecord>> {
        self.answer(self.bolt.fix_history(service, limit), self.journal.fix_history(service, limit)).await
    }

    async fn upstream_failures(&self, incident_id: &str) -> Result<Vec<UpstreamFailure>> {
        self.answer(self.bolt.upstream_failures(incident_id), self.journal.upstream_failures(incident_id)).await
    }

    async fn blast_radius(&self, service: &str) -> Result<Vec<Reached>> {
        self.answer(self.bolt.blast_radius(service), self.journal.blast_radius(service)).await
    }
}
