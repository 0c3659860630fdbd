//! Memory sync, both sides: as a central, `POST /api/memory/sync/push` takes an instance's
//! own episodes (the API token, or the edge's own `[[memory.peer]]` token, which pushes only
//! under its own name and opens nothing but sync; a batch with an invalid episode, one of another
//! origin, or one that would replace another instance's episode is refused whole, each reason
//! in `rejected`; nothing pushed counts as verified here) and `GET /api/memory/sync/pull` pages
//! through every episode this store holds but the asker's own; `GET /api/memory/sync` is this instance's own sync status.

use axum::Json;
use axum::extract::State;
use obsctl_core::Timestamp;
use obsctl_core::memory::sync::{
    BATCH, Cursor, PullPage, PushRequest, PushResult, Rejected, SyncState, check_received,
};
use obsctl_core::metrics::{SyncLabels, metrics};
use obsctl_store::Upserted;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::auth::SyncSender;
use crate::error::ErrorCode;
use crate::extract::{Body, Query};
use crate::{ApiError, AppState};

type Result<T> = std::result::Result<Json<T>, ApiError>;

/// On Postgres, writers that run at once may commit in another order than their `stored_at`:
/// a pull leaves out what was written in the last moment, so no episode lands behind a cursor.
const SETTLE_MS: i64 = 2_000;

pub async fn push(State(s): State<AppState>, sender: SyncSender, Body(req): Body<PushRequest>) -> Result<PushResult> {
    if let SyncSender::Peer(instance) = &sender
        && instance != &req.instance
    {
        return Err(ApiError::new(
            ErrorCode::WrongInstance,
            format!("this sync token is {instance:?}'s; it pushes only as {instance:?}, not {:?}", req.instance),
        ));
    }
    if req.episodes.len() > BATCH {
        return Err(ApiError::invalid(format!("{} episodes: push at most {BATCH} at a time", req.episodes.len())));
    }
    let local = s.agent.origin();
    // An instance that names no one, or the central itself, pushes nothing here.
    let unnamed = (req.instance.trim().is_empty() || req.instance == local).then(|| {
        format!(
            "instance {:?} cannot push here: each edge pushes under its own [memory] instance, never the central's",
            req.instance
        )
    });
    // Every episode is checked before any is stored: a batch is taken whole or not at all.
    let mut rejected = Vec::new();
    for e in &req.episodes {
        let why = match check_received(e) {
            _ if unnamed.is_some() => unnamed.clone(),
            Err(why) => Some(why),
            // An instance pushes what it learned itself, under its own name.
            Ok(()) if e.origin != req.instance => {
                Some(format!("origin {:?} is not the pushing instance {:?}", e.origin, req.instance))
            }
            Ok(()) => match s.store.episode(&e.id).await {
                Ok(known) if known.origin != e.origin => {
                    Some(format!("episode {} belongs to {:?}; an instance replaces only its own", e.id, known.origin))
                }
                _ => None,
            },
        };
        if let Some(why) = why {
            rejected.push(Rejected { id: e.id.clone(), why });
        }
    }
    if !rejected.is_empty() {
        return Ok(Json(PushResult { rejected, ..Default::default() }));
    }
    let mut result = PushResult::default();
    for e in &req.episodes {
        match s.store.upsert_episode(e, &local).await? {
            Upserted::Added => result.added += 1,
            Upserted::Replaced => result.replaced += 1,
            Upserted::Unchanged => result.unchanged += 1,
        }
    }
    let received = u64::from(result.added + result.replaced);
    metrics().sync_episodes.get_or_create(&SyncLabels { direction: "received" }).inc_by(received);
    Ok(Json(result))
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PullParams {
    /// The cursor: the `next` of the previous page (`stored_at`, then `id`); none for the start.
    pub after_at: Option<i64>,
    pub after_id: Option<String>,
    /// Leave out the episodes of this instance (the asker's own).
    pub exclude_origin: Option<String>,
}

pub async fn pull(State(s): State<AppState>, Query(q): Query<PullParams>) -> Result<PullPage> {
    let after = Cursor { stored_at: q.after_at.unwrap_or(i64::MIN), id: q.after_id.unwrap_or_default() };
    let page = s.store.episodes_stored_after((Timestamp(after.stored_at), &after.id), BATCH as u32).await?;
    let settled = if obsctl_store::backend_of(&s.config.store.url) == "sqlite" {
        i64::MAX
    } else {
        Timestamp::now().millis() - SETTLE_MS
    };
    let full = page.len() == BATCH;
    let kept: Vec<_> = page.into_iter().take_while(|e| e.stored_at.millis() <= settled).collect();
    let more = full && kept.len() == BATCH;
    let next = kept.last().map_or(after, |e| Cursor { stored_at: e.stored_at.millis(), id: e.episode.id.clone() });
    let episodes = kept
        .into_iter()
        .map(|e| e.episode)
        .filter(|e| q.exclude_origin.as_deref() != Some(e.origin.as_str()))
        .collect();
    Ok(Json(PullPage { episodes, next, more }))
}

/// This instance's memory sync.
#[derive(Serialize, JsonSchema)]
pub struct SyncStatus {
    pub enabled: bool,
    /// The central it syncs with.
    pub url: Option<String>,
    pub interval_s: Option<u64>,
    /// Where it is and how the last attempt went (none before the first).
    pub state: Option<SyncState>,
    /// Own episodes not yet pushed.
    pub backlog: u64,
}

pub async fn status(State(s): State<AppState>) -> Result<SyncStatus> {
    let Some(sync) = &s.memory_sync else {
        return Ok(Json(SyncStatus { enabled: false, url: None, interval_s: None, state: None, backlog: 0 }));
    };
    let (state, backlog) = sync.status().await.map_err(ApiError::internal)?;
    let config = s.config.memory_sync.as_ref();
    Ok(Json(SyncStatus {
        enabled: true,
        url: config.map(|c| c.url.clone()),
        interval_s: config.map(|c| c.interval.as_secs()),
        state: state.last_attempt.is_some().then_some(state),
        backlog,
    }))
}
