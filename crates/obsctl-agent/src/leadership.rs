//! The agent lease: of every process on one store (`serve` replicas, a CLI beside them), only the
//! holder of the `agent` lease plans and acts; the others stand by, or hand their work to it.
//! A holder renews every third of the lease's life; one that dies loses it when it expires.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use obsctl_core::Timestamp;
use obsctl_store::Store;
use tokio::sync::watch;

pub const AGENT_LEASE: &str = "agent";
/// How long a lease lasts without renewal.
pub const LEASE_TTL: Duration = Duration::from_secs(15);

pub struct Leadership {
    store: Arc<dyn Store>,
    holder: String,
    ttl: Duration,
    held: AtomicBool,
}

impl Leadership {
    pub fn new(store: Arc<dyn Store>, holder: String, ttl: Duration) -> Self {
        Self { store, holder, ttl, held: AtomicBool::new(false) }
    }

    pub fn holder(&self) -> &str {
        &self.holder
    }

    /// Whether this process held the lease at the last renewal.
    pub fn held(&self) -> bool {
        self.held.load(Ordering::SeqCst)
    }

    /// Takes or renews the lease once; a store error counts as not holding it.
    pub async fn tick(&self) -> bool {
        let now = Timestamp::now();
        let held = match self.store.try_lease(AGENT_LEASE, &self.holder, now, now.plus(self.ttl)).await {
            Ok(held) => held,
            Err(error) => {
                tracing::warn!(%error, "could not renew the agent lease; standing by");
                false
            }
        };
        if self.held.swap(held, Ordering::SeqCst) != held {
            tracing::info!(holder = %self.holder, held, "agent lease changed hands");
        }
        held
    }

    /// Renews until shutdown, then gives the lease up so another process can act at once.
    pub async fn run(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        let mut every = tokio::time::interval(self.ttl / 3);
        loop {
            tokio::select! {
                _ = every.tick() => { self.tick().await; }
                _ = shutdown.changed() => break,
            }
        }
        self.held.store(false, Ordering::SeqCst);
        if let Err(error) = self.store.release_lease(AGENT_LEASE, &self.holder).await {
            tracing::warn!(%error, "could not release the agent lease; it expires by itself");
        }
    }
}

/// The holder of a live agent lease on this store, if any: a process that acts on it.
pub async fn live_holder(store: &dyn Store) -> anyhow::Result<Option<String>> {
    let lease = store.lease(AGENT_LEASE).await?;
    Ok(lease.filter(|(_, until)| *until > Timestamp::now()).map(|(holder, _)| holder))
}
