//! Memory sync between instances: the wire types of the central's two endpoints
//! (`POST /api/memory/sync/push`, `GET /api/memory/sync/pull`) and the state an instance keeps
//! per central: where it is in each direction, and how the last attempt went.

use serde::{Deserialize, Serialize};

use super::Episode;
use crate::time::Timestamp;

/// Episodes per push or pull request.
pub const BATCH: usize = 500;

/// A position in a store's episodes, in the order it wrote them: `(stored_at, id)`.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Cursor {
    pub stored_at: i64,
    pub id: String,
}

/// What an instance sends: its own episodes.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PushRequest {
    /// The pushing instance (`[memory] instance`).
    pub instance: String,
    /// At most `BATCH` episodes, each with the content hash of what it holds.
    #[schemars(length(max = 500))]
    pub episodes: Vec<Episode>,
}

/// What the central did with a push.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct PushResult {
    pub added: u32,
    pub replaced: u32,
    /// Already there with the same content (a retried push).
    pub unchanged: u32,
    /// Episodes that are not valid (shape, cluster, content hash), each with the reason. When
    /// any is, the whole batch is refused: nothing is stored.
    #[serde(default)]
    pub rejected: Vec<Rejected>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Rejected {
    pub id: String,
    pub why: String,
}

/// A page of the central's episodes after a cursor, without the asking instance's own.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct PullPage {
    pub episodes: Vec<Episode>,
    /// Where the next pull starts: the last episode read, sent or not (the asker's own are
    /// read and left out).
    pub next: Cursor,
    /// More episodes follow now.
    pub more: bool,
}

/// Sync with one central, as the instance keeps it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, schemars::JsonSchema)]
pub struct SyncState {
    /// The central's URL.
    pub peer: String,
    /// Own episodes up to here are pushed.
    pub pushed_to: Cursor,
    /// The central's episodes up to here are pulled.
    pub pulled_to: Cursor,
    pub pushed: u64,
    pub pulled: u64,
    pub last_attempt: Option<Timestamp>,
    pub last_success: Option<Timestamp>,
    /// Why the last attempt failed; `None` once one succeeds.
    pub last_error: Option<String>,
}

/// Checks an episode that came over the network: its shape, and its hash against its content
/// (a peer that sends anything else is refused).
pub fn check_received(e: &Episode) -> Result<(), String> {
    super::exchange::validate(e)?;
    let computed = e.compute_hash();
    if e.content_hash != computed {
        return Err(format!(
            "episode {}: content_hash {} does not match its content ({computed})",
            e.id, e.content_hash
        ));
    }
    Ok(())
}
