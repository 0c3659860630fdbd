//! A Bolt protocol client (Neo4j 5, FalkorDB, Memgraph): PackStream, one connection that
//! bounds every step in time and size, a small pool that retries a lost connection once, and
//! the quoting some servers need. It knows nothing of obsctl's graph; `obsctl-store` writes
//! and reads that through it.

mod connection;
pub mod packstream;
mod pool;
pub mod quoting;

use std::time::Duration;

use obsctl_core::secret::Secret;

pub use connection::{MAX_MESSAGE, Record};
pub use pool::Pool;

/// Where a Bolt server is and how to sign in.
#[derive(Debug, Clone)]
pub struct Target {
    /// `host:port`.
    pub address: String,
    pub user: String,
    /// None: no authentication.
    pub password: Option<Secret>,
    /// The database queries run in; the server's default when `None`.
    pub database: Option<String>,
    /// Bounds connecting and each query.
    pub timeout: Duration,
}

/// What went wrong talking to the server, in words for a person (`bolt: …`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct BoltError(pub String);

/// Entry points for the fuzz targets in `fuzz/` (compiled only under `--cfg fuzzing`).
#[cfg(fuzzing)]
pub mod fuzzing {
    /// Decodes PackStream; whatever decodes must encode and decode again to the same bytes.
    pub fn packstream_round_trip(input: &[u8]) {
        crate::packstream::assert_reencodes_stably(input);
    }
}
