//! The agent lease: of every process on one store (`serve` replicas, a CLI beside them), only the
//! holder of the `agent` lease plans and acts; the others stand by, or hand their work to it.
//! A holder renews every third of the lease's life; one that dies loses it when it expires.
//! The lease is judged by the store's clock, so skewed clocks between replicas do not matter;
//! and a holder counts itself as holding only while its last renewal is younger, by its own
//! monotonic clock, than the lease's life less a margin. A process paused past its lease (a
//! SIGSTOP, a VM frozen, a long GC of the host) therefore knows it lost the lease on waking,
//! before any other replica may take it, and acts on nothing until it has renewed.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

use obsctl_store::Store;
use tokio::sync::watch;

pub const AGENT_LEASE: &str = "agent";
/// How long a lease lasts without renewal.
pub const LEASE_TTL: Duration = Duration::from_secs(15);
/// How long before its lease ends, by its own clock, a holder stops counting itself as one.
pub const MARGIN: Duration = Duration::from_secs(3);

pub struct Leadership {
    store: Arc<dyn Store>,
    holder: String,
    ttl: Duration,
    /// When the last granted renewal was asked for (before the store granted it, so the lease
    /// lasts at least `ttl` from this instant).
    renewed: Mutex<Option<Instant>>,
    /// Whether the last renewal was granted, to log changes of hands once.
    held: AtomicBool,
    /// Counts the times this process came to hold the lease (first taken, or renewed after it
    /// had lapsed): what a holder did under an earlier term must be recovered, not trusted.
    term: AtomicU64,
}

impl Leadership {
    /// A candidate for the lease named after this process: `serve:<host>:<pid>:<stamp>:<nonce>`,
    /// the stamp telling this process apart from any other with its pid (`process_stamp`).
    pub fn new(store: Arc<dyn Store>, ttl: Duration) -> Self {
        let pid = std::process::id();
        let stamp = obsctl_host::process_stamp(pid).unwrap_or_else(|| "unstamped".into());
        let holder = format!("serve:{}:{pid}:{stamp}:{}", obsctl_host::host_name(), obsctl_store::new_id("l"));
        Self { store, holder, ttl, renewed: Mutex::new(None), held: AtomicBool::new(false), term: AtomicU64::new(0) }
    }

    pub fn holder(&self) -> &str {
        &self.holder
    }

    /// Whether this process holds the lease now: its last renewal was granted and is younger
    /// than the lease's life less `MARGIN` by this process's monotonic clock.
    pub fn held(&self) -> bool {
        let renewed = *self.renewed.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        renewed.is_some_and(|at| at.elapsed() + MARGIN.min(self.ttl / 2) < self.ttl)
    }

    /// The current term while this process holds the lease (`held`), else `None`.
    pub fn term(&self) -> Option<u64> {
        self.held().then(|| self.term.load(Ordering::SeqCst))
    }

    /// Takes or renews the lease once; a store error counts as not holding it. A lease left by
    /// a process of this host that no longer runs (killed, crashed) is taken over at once
    /// instead of after it expires.
    pub async fn tick(&self) -> bool {
        let asked = Instant::now();
        let held_before = self.held();
        let held = match self.try_take().await {
            Ok(held) => held,
            Err(error) => {
                tracing::warn!(%error, "could not renew the agent lease; standing by");
                false
            }
        };
        if held && !held_before {
            self.term.fetch_add(1, Ordering::SeqCst);
        }
        *self.renewed.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = held.then_some(asked);
        if self.held.swap(held, Ordering::SeqCst) != held {
            if held {
                tracing::info!(holder = %self.holder, "took the agent lease: planning and acting here");
            } else {
                tracing::warn!(holder = %self.holder, "lost the agent lease (another replica holds it, or the store is out of reach): standing by");
            }
        }
        held
    }

    async fn try_take(&self) -> anyhow::Result<bool> {
        if self.store.try_lease(AGENT_LEASE, &self.holder, self.ttl).await? {
            return Ok(true);
        }
        let Some(other) = self.store.lease(AGENT_LEASE).await? else { return Ok(false) };
        if !dead_on_this_host(&other.holder) {
            return Ok(false);
        }
        tracing::warn!(holder = %other.holder, "the agent lease's holder no longer runs on this host; taking over");
        self.store.release_lease(AGENT_LEASE, &other.holder).await?;
        Ok(self.store.try_lease(AGENT_LEASE, &self.holder, self.ttl).await?)
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
        *self.renewed.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = None;
        if let Err(error) = self.store.release_lease(AGENT_LEASE, &self.holder).await {
            tracing::warn!(%error, "could not release the agent lease; it expires by itself");
        }
    }
}

/// Whether `holder` names a process of this host that provably no longer runs: same host name,
/// boot and pid namespace as this process, and its pid gone or now another process. A holder in
/// a container (another namespace, perhaps the same host name) or one without a stamp (an older
/// obsctl) is never judged: its lease runs out by itself.
fn dead_on_this_host(holder: &str) -> bool {
    let mut parts = holder.split(':');
    let (Some("serve"), Some(host), Some(pid), Some(stamp)) = (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return false;
    };
    let Ok(pid) = pid.parse::<u32>() else { return false };
    host == obsctl_host::host_name() && pid != std::process::id() && obsctl_host::stamped_process_ended(pid, stamp)
}

/// The holder of a live agent lease on this store, if any: a process that acts on it.
pub async fn live_holder(store: &dyn Store) -> anyhow::Result<Option<String>> {
    let lease = store.lease(AGENT_LEASE).await?;
    Ok(lease.filter(|lease| lease.live).map(|lease| lease.holder))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn only_a_gone_process_of_this_host_counts_as_dead() {
        let mut child = std::process::Command::new("sleep").arg("5").spawn().unwrap();
        let gone = child.id();
        let stamp = obsctl_host::process_stamp(gone).unwrap();
        let host = obsctl_host::host_name();
        let holder = format!("serve:{host}:{gone}:{stamp}:l-1");
        assert!(!dead_on_this_host(&holder), "it still runs");
        child.kill().unwrap();
        child.wait().unwrap();
        assert!(dead_on_this_host(&holder));
        let me = std::process::id();
        let my_stamp = obsctl_host::process_stamp(me).unwrap();
        assert!(!dead_on_this_host(&format!("serve:{host}:{me}:{my_stamp}:l-1")));
        assert!(!dead_on_this_host(&format!("serve:another-host-{host}:{gone}:{stamp}:l-1")));
        // Issue 26, finding 9: a holder in another pid namespace (a host-network container has
        // this host's name) whose pid is not running here is alive as far as anyone here knows.
        assert!(!dead_on_this_host(&format!("serve:{host}:{gone}:000000000000-4026531999-42:l-1")));
        // An older obsctl's holder, without a stamp: never judged.
        assert!(!dead_on_this_host(&format!("serve:{host}:{gone}:l-1")));
        assert!(!dead_on_this_host("someone else"));
    }

    /// Two candidates on one store, as two replicas would be.
    async fn two_candidates(ttl: Duration) -> (Leadership, Leadership, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/obsctl.db", dir.path().display());
        let store: Arc<dyn Store> = Arc::new(obsctl_store::SqliteStore::open(&url).await.unwrap());
        (Leadership::new(store.clone(), ttl), Leadership::new(store, ttl), dir)
    }

    /// A holder stops counting itself as one `MARGIN` before its lease ends by its own clock,
    /// whatever the store says: a process paused past that point acts on nothing on waking.
    #[tokio::test]
    async fn a_holder_counts_itself_one_only_until_a_margin_before_its_lease_ends() {
        let (a, _, _dir) = two_candidates(LEASE_TTL).await;
        assert!(!a.held() && a.term().is_none(), "nothing taken yet");
        assert!(a.tick().await);
        assert_eq!(a.term(), Some(1));
        // The store's part is done: from here on only this process's clock moves, to a
        // millisecond before the margin (counted from when the renewal was asked for).
        tokio::time::pause();
        let asked = a.renewed.lock().unwrap().unwrap();
        let boundary = asked + LEASE_TTL - MARGIN;
        tokio::time::advance(boundary - Instant::now() - Duration::from_millis(1)).await;
        assert!(a.held());
        tokio::time::advance(Duration::from_millis(2)).await;
        assert!(!a.held() && a.term().is_none(), "past the margin it no longer acts");
    }

    /// Of two candidates one holds the lease; the other takes it once it is given up, and the
    /// first, taking it again after a lapse, starts a new term (its earlier work is recovered).
    #[tokio::test]
    async fn one_candidate_holds_the_lease_and_a_lapse_starts_a_new_term() {
        let (a, b, _dir) = two_candidates(LEASE_TTL).await;
        assert!(a.tick().await);
        assert!(!b.tick().await, "a live lease is not taken");
        assert!(a.tick().await, "renewed");
        assert_eq!(a.term(), Some(1), "a renewal in time is the same term");
        a.store.release_lease(AGENT_LEASE, a.holder()).await.unwrap();
        assert!(b.tick().await);
        assert!(!a.tick().await && !a.held());
        b.store.release_lease(AGENT_LEASE, b.holder()).await.unwrap();
        assert!(a.tick().await);
        assert_eq!(a.term(), Some(2));
    }
}
