//! Replicas sharing the checks through the store (Postgres): each heartbeats every second,
//! replicas whose heartbeat is older than `LEASE` (by the store's clock) are gone, and each
//! live replica runs the checks that rendezvous hashing gives it (`cluster::owner`).
//!
//! A replica fences itself: it runs nothing once its last successful heartbeat is older than
//! `LEASE` minus a margin by its own clock (a lost database, or a pause such as SIGSTOP), so the
//! others can take its checks after `LEASE` without both running them. One that comes back
//! (or joins) waits `GRACE`, until the others have seen it, before it runs its share.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use obsctl_core::Timestamp;
use obsctl_core::cluster::{Replica, owner};
use obsctl_store::Store;
use tokio::sync::watch;
use tokio::time::Instant;

use crate::monitor::Monitor;
use crate::scheduler::Ownership;

/// How often a replica heartbeats.
pub const HEARTBEAT: Duration = Duration::from_secs(1);
/// A replica whose heartbeat is older than this is gone; its checks move to the others.
pub const LEASE: Duration = Duration::from_secs(5);
/// A replica stops running checks this long before its lease could lapse.
const MARGIN: Duration = Duration::from_millis(1500);
/// A replica that joins (or comes back) waits this long, more than a heartbeat, so that the
/// others have seen it and stopped running its share before it starts.
const GRACE: Duration = Duration::from_millis(2500);

#[derive(Default)]
struct View {
    /// Live replicas' ids, in order.
    live: Vec<String>,
    /// Until when this replica may run checks (its lease, less the margin).
    fresh_until: Option<Instant>,
    /// From when, after joining or coming back.
    active_from: Option<Instant>,
}

pub struct Membership {
    store: Arc<dyn Store>,
    /// This replica's id (also in `me`), read on every scheduled run without a lock.
    id: String,
    me: Mutex<Replica>,
    view: Mutex<View>,
    /// Checks this replica ran since its last heartbeat was written.
    ran: AtomicU32,
}

impl Membership {
    pub fn new(store: Arc<dyn Store>, listen: &str) -> Self {
        let me = Replica {
            id: obsctl_store::new_id("replica"),
            host: obsctl_host::host_name(),
            pid: std::process::id(),
            listen: listen.to_string(),
            started_at: Timestamp::now(),
            heartbeat_at: Timestamp(0),
            checks: 0,
        };
        Self { store, id: me.id.clone(), me: Mutex::new(me), view: Mutex::new(View::default()), ran: AtomicU32::new(0) }
    }

    /// Writes one heartbeat and takes the live replicas it returns.
    pub async fn beat(&self) {
        let sent = Instant::now();
        let me = match self.me.lock() {
            Ok(mut me) => {
                me.checks = self.ran.swap(0, Ordering::Relaxed);
                me.clone()
            }
            Err(_) => return,
        };
        match self.store.heartbeat(&me, LEASE).await {
            Ok(live) => {
                let Ok(mut view) = self.view.lock() else { return };
                if view.fresh_until.is_none_or(|f| f <= Instant::now()) {
                    view.active_from = Some(Instant::now() + GRACE);
                    tracing::info!(replica = %me.id, live = live.len(), "joined the cluster; taking a share of the checks shortly");
                }
                view.live = live.into_iter().map(|r| r.id).collect();
                view.fresh_until = Some(sent + LEASE - MARGIN);
            }
            Err(error) => tracing::warn!(%error, "cluster heartbeat failed; running no checks until one succeeds"),
        }
    }

    /// Heartbeats until `shutdown`, after each beat taking the statuses of the checks the
    /// others run into `monitor`; then leaves the cluster so the others take over at once.
    pub async fn run(self: Arc<Self>, monitor: Arc<Monitor>, mut shutdown: watch::Receiver<bool>) {
        let mut ticker = tokio::time::interval(HEARTBEAT);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = ticker.tick() => {
                    self.beat().await;
                    match self.store.check_statuses().await {
                        Ok(stored) => {
                            let live = self.view.lock().map(|v| v.live.clone()).unwrap_or_default();
                            monitor.adopt(&stored, |id| owner(id, &live).is_some_and(|o| o != self.id));
                        }
                        Err(error) => tracing::debug!(%error, "could not read the cluster's check statuses"),
                    }
                }
                _ = shutdown.changed() => break,
            }
        }
        if let Ok(mut view) = self.view.lock() {
            view.fresh_until = None;
        }
        if let Err(error) = self.store.leave(&self.id).await {
            tracing::warn!(%error, "could not leave the cluster; the others take over when the lease lapses");
        }
    }
}

impl Ownership for Membership {
    /// Its lease is fresh, its grace is over, and the hash names it.
    fn owns(&self, check_id: &str) -> bool {
        let now = Instant::now();
        let owns = self
            .view
            .lock()
            .map(|v| {
                v.fresh_until.is_some_and(|f| now < f)
                    && v.active_from.is_some_and(|a| a <= now)
                    && owner(check_id, &v.live) == Some(self.id.as_str())
            })
            .unwrap_or(false);
        if owns {
            self.ran.fetch_add(1, Ordering::Relaxed);
        }
        owns
    }
}
