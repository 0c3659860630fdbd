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
    /// A candidate for the lease named after this process: `serve:<host>:<pid>:<nonce>`.
    pub fn new(store: Arc<dyn Store>, ttl: Duration) -> Self {
        let holder = format!("serve:{}:{}:{}", obsctl_host::host_name(), std::process::id(), obsctl_store::new_id("l"));
        Self { store, holder, ttl, held: AtomicBool::new(false) }
    }

    pub fn holder(&self) -> &str {
        &self.holder
    }

    /// Whether this process held the lease at the last renewal.
    pub fn held(&self) -> bool {
        self.held.load(Ordering::SeqCst)
    }

    /// Takes or renews the lease once; a store error counts as not holding it. A lease left by
    /// a process of this host that no longer runs (killed, crashed) is taken over at once
    /// instead of after it expires.
    pub async fn tick(&self) -> bool {
        let held = match self.try_take().await {
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

    async fn try_take(&self) -> anyhow::Result<bool> {
        let now = Timestamp::now();
        if self.store.try_lease(AGENT_LEASE, &self.holder, now, now.plus(self.ttl)).await? {
            return Ok(true);
        }
        let Some((other, _)) = self.store.lease(AGENT_LEASE).await? else { return Ok(false) };
        if !dead_on_this_host(&other) {
            return Ok(false);
        }
        tracing::warn!(holder = %other, "the agent lease's holder no longer runs on this host; taking over");
        self.store.release_lease(AGENT_LEASE, &other).await?;
        Ok(self.store.try_lease(AGENT_LEASE, &self.holder, now, now.plus(self.ttl)).await?)
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

/// Whether `holder` names a process of this host that is no longer running.
fn dead_on_this_host(holder: &str) -> bool {
    let mut parts = holder.split(':');
    let (Some("serve"), Some(host), Some(pid)) = (parts.next(), parts.next(), parts.next()) else { return false };
    let Ok(pid) = pid.parse::<u32>() else { return false };
    host == obsctl_host::host_name() && pid != std::process::id() && obsctl_host::process_rss(pid).is_none()
}

/// The holder of a live agent lease on this store, if any: a process that acts on it.
pub async fn live_holder(store: &dyn Store) -> anyhow::Result<Option<String>> {
    let lease = store.lease(AGENT_LEASE).await?;
    Ok(lease.filter(|(_, until)| *until > Timestamp::now()).map(|(holder, _)| holder))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn only_a_gone_process_of_this_host_counts_as_dead() {
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let gone = child.id();
        child.wait().unwrap();
        let host = obsctl_host::host_name();
        assert!(dead_on_this_host(&format!("serve:{host}:{gone}:l-1")));
        assert!(!dead_on_this_host(&format!("serve:{host}:{}:l-1", std::process::id())));
        assert!(!dead_on_this_host(&format!("serve:another-host-{host}:{gone}:l-1")));
        assert!(!dead_on_this_host("someone else"));
    }
}
