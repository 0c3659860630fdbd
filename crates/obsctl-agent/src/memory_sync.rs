//! Memory sync with a central obsctl over its HTTP API: push this instance's new episodes, pull
//! the others'. Idempotent (content hashes: a repeated batch changes nothing) and resumable (a
//! cursor per direction, saved in the store after every batch), so a crash or a cut connection
//! costs at most one batch sent again. Whatever the central answers is checked before anything
//! is stored.

use std::sync::Arc;
use std::time::Duration;

use obsctl_config::MemorySyncConfig;
use obsctl_core::Timestamp;
use obsctl_core::memory::sync::{BATCH, Cursor, PullPage, PushRequest, PushResult, SyncState, check_received};
use obsctl_core::metrics::{SyncLabels, metrics};
use obsctl_store::{RecallIndex, Store, Upserted};
use serde::Serialize;
use tokio::sync::watch;

/// A push request's body stays under this many bytes (the central's API takes 2 MB).
const MAX_PUSH_BYTES: usize = 1_500_000;
/// The most of one answer of the central that is read (a page of 500 episodes is a few MiB).
const MAX_ANSWER_BYTES: usize = 64 << 20;

/// What one sync did.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct SyncReport {
    /// Own episodes sent (new or changed at the central, or already there).
    pub pushed: u64,
    /// Episodes taken from the central that were new or changed here.
    pub pulled: u64,
    /// Episodes the central sent that were already here.
    pub unchanged: u64,
}

pub struct MemorySync {
    store: Arc<dyn Store>,
    config: MemorySyncConfig,
    origin: String,
    http: reqwest::Client,
    index: Option<Arc<RecallIndex>>,
    /// One sync at a time in this process (the interval and `obsctl memory sync` on demand).
    running: tokio::sync::Mutex<()>,
}

impl MemorySync {
    pub fn new(
        store: Arc<dyn Store>,
        config: MemorySyncConfig,
        origin: String,
        index: Option<Arc<RecallIndex>>,
    ) -> anyhow::Result<Self> {
        let http = obsctl_host::http_client()
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(60))
            .build()?;
        Ok(Self { store, config, origin, http, index, running: tokio::sync::Mutex::new(()) })
    }

    /// The state kept for the central, and how many own episodes wait to be pushed.
    pub async fn status(&self) -> anyhow::Result<(SyncState, u64)> {
        let state = self.state().await?;
        let backlog = self
            .store
            .episodes_backlog((Timestamp(state.pushed_to.stored_at), &state.pushed_to.id), &self.origin)
            .await?;
        Ok((state, backlog))
    }

    async fn state(&self) -> anyhow::Result<SyncState> {
        Ok(self
            .store
            .sync_state(&self.config.url)
            .await?
            .unwrap_or_else(|| SyncState { peer: self.config.url.clone(), ..Default::default() }))
    }

    /// Syncs until `shutdown`, every interval (the first at once).
    pub async fn run(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        let mut ticker = tokio::time::interval(self.config.interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = ticker.tick() => match self.sync().await {
                    Ok(report) if report != SyncReport::default() => tracing::info!(?report, central = %self.config.url, "memory synced"),
                    Ok(_) => {}
                    Err(error) => tracing::warn!(%error, central = %self.config.url, "memory sync failed; it resumes where it stopped"),
                },
                _ = shutdown.changed() => return,
            }
        }
    }

    /// Pushes, then pulls, everything there is; the state says how it went either way.
    pub async fn sync(&self) -> anyhow::Result<SyncReport> {
        let _one = self.running.lock().await;
        let mut state = self.state().await?;
        state.last_attempt = Some(Timestamp::now());
        let mut report = SyncReport::default();
        let done = async {
            self.push(&mut state, &mut report).await?;
            self.pull(&mut state, &mut report).await
        }
        .await;
        match &done {
            Ok(()) => {
                state.last_success = state.last_attempt;
                state.last_error = None;
                metrics().sync_last_success.set(Timestamp::now().millis() / 1000);
            }
            Err(e) => {
                state.last_error = Some(format!("{e:#}"));
                metrics().sync_failures.inc();
            }
        }
        self.store.save_sync_state(&state).await?;
        let backlog = self
            .store
            .episodes_backlog((Timestamp(state.pushed_to.stored_at), &state.pushed_to.id), &self.origin)
            .await?;
        metrics().sync_backlog.set(backlog as i64);
        if report.pulled > 0
            && let Some(index) = &self.index
        {
            index.catch_up(self.store.as_ref()).await?;
        }
        done.map(|()| report)
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.config.url)
    }

    fn authorized(&self, req: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.config.token {
            Some(token) => req.bearer_auth(token.expose()),
            None => req,
        }
    }

    /// The central's answer as `T`, or an error that says what it answered.
    async fn answer<T: serde::de::DeserializeOwned>(&self, what: &str, resp: reqwest::Response) -> anyhow::Result<T> {
        let status = resp.status();
        let (body, more) = obsctl_host::read_capped(resp, MAX_ANSWER_BYTES)
            .await
            .map_err(|e| anyhow::anyhow!("{what}: the central's answer was cut: {e}"))?;
        if more {
            anyhow::bail!(
                "{what}: the central's answer is over {} MiB; is the sync URL an obsctl?",
                MAX_ANSWER_BYTES >> 20
            );
        }
        if !status.is_success() {
            let message = serde_json::from_slice::<serde_json::Value>(&body)
                .ok()
                .and_then(|v| v["error"]["message"].as_str().map(str::to_string))
                .unwrap_or_else(|| String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned());
            anyhow::bail!("{what}: the central answered {status}: {message}");
        }
        serde_json::from_slice(&body)
            .map_err(|e| anyhow::anyhow!("{what}: the central answered something else than obsctl's sync API: {e}"))
    }

    async fn push(&self, state: &mut SyncState, report: &mut SyncReport) -> anyhow::Result<()> {
        loop {
            let after = state.pushed_to.clone();
            let page = self.store.episodes_stored_after((Timestamp(after.stored_at), &after.id), BATCH as u32).await?;
            let Some(last) = page.last() else { return Ok(()) };
            let next = Cursor { stored_at: last.stored_at.millis(), id: last.episode.id.clone() };
            let own: Vec<_> = page.iter().map(|s| &s.episode).filter(|e| e.origin == self.origin).collect();
            for chunk in chunks_by_size(&own) {
                let body =
                    PushRequest { instance: self.origin.clone(), episodes: chunk.into_iter().cloned().collect() };
                let resp = self
                    .authorized(self.http.post(self.url("/api/memory/sync/push")))
                    .json(&body)
                    .send()
                    .await
                    .map_err(|e| anyhow::anyhow!("push: cannot reach the central: {e}"))?;
                let result: PushResult = self.answer("push", resp).await?;
                if let Some(first) = result.rejected.first() {
                    anyhow::bail!(
                        "push: the central refused {} episodes, first {}: {}",
                        result.rejected.len(),
                        first.id,
                        first.why
                    );
                }
                let sent = u64::from(result.added + result.replaced + result.unchanged);
                report.pushed += sent;
                state.pushed += sent;
                metrics().sync_episodes.get_or_create(&SyncLabels { direction: "pushed" }).inc_by(sent);
            }
            state.pushed_to = next;
            self.store.save_sync_state(state).await?;
            if page.len() < BATCH {
                return Ok(());
            }
        }
    }

    async fn pull(&self, state: &mut SyncState, report: &mut SyncReport) -> anyhow::Result<()> {
        loop {
            let after = state.pulled_to.clone();
            let url = reqwest::Url::parse_with_params(
                &self.url("/api/memory/sync/pull"),
                [
                    ("after_at", after.stored_at.to_string()),
                    ("after_id", after.id.clone()),
                    ("exclude_origin", self.origin.clone()),
                ],
            )?;
            let resp = self
                .authorized(self.http.get(url))
                .send()
                .await
                .map_err(|e| anyhow::anyhow!("pull: cannot reach the central: {e}"))?;
            let page: PullPage = self.answer("pull", resp).await?;
            if page.next < after {
                anyhow::bail!("pull: the central's cursor went back (from {after:?} to {:?})", page.next);
            }
            // Every episode is checked before any is stored: a page is taken whole or not at all.
            for e in &page.episodes {
                check_received(e).map_err(|why| anyhow::anyhow!("pull: the central sent an invalid episode: {why}"))?;
            }
            // This instance's own episodes never come back from a central (it pushes them, and
            // asks without them): one that claims this origin was planted, and is left out.
            for e in page.episodes.iter().filter(|e| e.origin != self.origin) {
                match self.store.upsert_episode(e, &self.origin).await? {
                    Upserted::Unchanged => report.unchanged += 1,
                    Upserted::Added | Upserted::Replaced => {
                        report.pulled += 1;
                        state.pulled += 1;
                        metrics().sync_episodes.get_or_create(&SyncLabels { direction: "pulled" }).inc();
                    }
                }
            }
            state.pulled_to = page.next;
            self.store.save_sync_state(state).await?;
            if !page.more {
                return Ok(());
            }
        }
    }
}

/// Episodes in groups whose JSON stays under `MAX_PUSH_BYTES` (one episode alone may exceed it).
fn chunks_by_size<'a>(episodes: &[&'a obsctl_core::memory::Episode]) -> Vec<Vec<&'a obsctl_core::memory::Episode>> {
    let mut chunks = Vec::new();
    let (mut chunk, mut bytes) = (Vec::new(), 0);
    for e in episodes {
        let size = serde_json::to_vec(e).map(|v| v.len()).unwrap_or(0);
        if !chunk.is_empty() && bytes + size > MAX_PUSH_BYTES {
            chunks.push(std::mem::take(&mut chunk));
            bytes = 0;
        }
        chunk.push(*e);
        bytes += size;
    }
    if !chunk.is_empty() {
        chunks.push(chunk);
    }
    chunks
}
