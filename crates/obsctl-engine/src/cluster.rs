//! Replicas sharing the checks through the store (Postgres): each heartbeats every second,
//! replicas whose heartbeat is older than `LEASE` (by the store's clock) are gone, and each
//! live replica runs the checks that rendezvous hashing gives it (`cluster::owner`).
//!
//! A replica fences itself: it runs nothing once its last successful heartbeat is older than
//! `LEASE` minus a margin by its own clock (a lost database, or a pause such as SIGSTOP), so the
//! others can take its checks after `LEASE` without both running them. One that joins (or
//! comes back after its heartbeat lapsed) is active from `GRACE` after that heartbeat, by the
//! store's clock, written in its row: every replica has seen it by then, so they hand its share
//! over at that same instant (no check runs twice, none waits). Each replica reckons the
//! store's clock from its own and the offset its heartbeats measure, so skewed clocks do not
//! matter; the offset is reported (and warned about when over `SKEW_WARNING`), since the times
//! a replica writes itself (observations, events) follow its own clock.

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use obsctl_core::Timestamp;
use obsctl_core::cluster::{Replica, active, cluster_now, owner};
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
/// A replica that joins (or comes back) is active this long after: longer than any other may
/// go on running checks on a view from before it joined (`LEASE - MARGIN`), so every replica
/// that runs anything by then knows when it comes.
pub const GRACE: Duration = Duration::from_millis(4000);
/// A heartbeat with no answer by then counts as failed (it would come too late to trust).
const BEAT_TIMEOUT: Duration = Duration::from_secs(2);
/// A heartbeat's clock offset is trusted only when its round trip took less than this.
const TRUSTED_ROUND_TRIP: Duration = Duration::from_millis(200);
/// A replica whose clock is further than this off the store's says so in its log.
pub const SKEW_WARNING: Duration = Duration::from_secs(2);

#[derive(Default)]
struct View {
    /// Live replicas, by id, with when each runs its share.
    live: Vec<Replica>,
    /// Until when this replica may run checks (its lease, less the margin).
    fresh_until: Option<Instant>,
}

pub struct Membership {
    store: Arc<dyn Store>,
    /// This replica's id (also in `me`), read on every scheduled run without a lock.
    id: String,
    me: Mutex<Replica>,
    view: Mutex<View>,
    /// Checks this replica ran since its last heartbeat was written.
    ran: AtomicU32,
    /// Its clock less the store's at the last heartbeat, in milliseconds.
    clock_offset_ms: AtomicI64,
    /// Whether that was more than `SKEW_WARNING`.
    skewed: AtomicBool,
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
            clock_offset_ms: 0,
            active_from: Timestamp(i64::MAX),
        };
        let id = me.id.clone();
        let (me, view) = (Mutex::new(me), Mutex::new(View::default()));
        let (ran, clock_offset_ms, skewed) = (AtomicU32::new(0), AtomicI64::new(0), AtomicBool::new(false));
        Self { store, id, me, view, ran, clock_offset_ms, skewed }
    }

    /// This replica's id in the cluster.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Writes one heartbeat and takes the live replicas it returns.
    pub async fn beat(&self) {
        let sent = Instant::now();
        let me = match self.me.lock() {
            Ok(mut me) => {
                me.checks = self.ran.swap(0, Ordering::Relaxed);
                me.heartbeat_at = Timestamp::now();
                me.clone()
            }
            Err(_) => return,
        };
        let beat = tokio::time::timeout(BEAT_TIMEOUT, self.store.heartbeat(&me, LEASE, GRACE)).await;
        match beat.unwrap_or_else(|_| Err(obsctl_store::StoreError::Backend("the heartbeat timed out".into()))) {
            Ok(live) => {
                let Some(mine) = live.iter().find(|r| r.id == self.id) else { return };
                // The offset is this clock at sending less the store's at writing: only as good
                // as the round trip is short (one that waited for a connection says nothing).
                if sent.elapsed() < TRUSTED_ROUND_TRIP {
                    self.watch_clock(mine.clock_offset_ms);
                }
                let Ok(mut view) = self.view.lock() else { return };
                let before = view.live.iter().find(|r| r.id == self.id).map(|r| r.active_from);
                if before != Some(mine.active_from) {
                    let after_ms = mine.active_from.millis() - cluster_now(self.clock_offset_ms()).millis();
                    tracing::info!(replica = %me.id, live = live.len(), after_ms, "joined the cluster; taking a share of the checks after the grace");
                }
                view.live = live;
                view.fresh_until = Some(sent + LEASE - MARGIN);
            }
            Err(error) => tracing::warn!(%error, "cluster heartbeat failed; running no checks until one succeeds"),
        }
    }

    /// Keeps this host's clock offset for the scheduler's slots; warns once when it drifts off
    /// the store's, and once when it is back.
    fn watch_clock(&self, offset_ms: i64) {
        self.clock_offset_ms.store(offset_ms, Ordering::Relaxed);
        let skewed = offset_ms.unsigned_abs() > SKEW_WARNING.as_millis() as u64;
        if self.skewed.swap(skewed, Ordering::Relaxed) == skewed {
            return;
        }
        let seconds = offset_ms as f64 / 1000.0;
        if skewed {
            tracing::warn!(
                offset_seconds = seconds,
                "this host's clock is {seconds:+.1} s off the store's: checks and leases follow the store's clock, \
                 but the times this replica writes (observations, events) are off by as much; synchronise it (NTP)"
            );
        } else {
            tracing::info!(offset_seconds = seconds, "this host's clock agrees with the store's again");
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
                            let now = cluster_now(self.clock_offset_ms());
                            monitor.adopt(&stored, |id| owner(id, active(&live, now)).is_some_and(|o| o != self.id));
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
    /// Its lease is fresh and the hash names it among the replicas active when the slot starts
    /// (so its own grace is over): a handover falls between two slots, the same for everyone.
    fn owns(&self, check_id: &str, slot: Timestamp) -> bool {
        let owns = self
            .view
            .lock()
            .map(|v| {
                v.fresh_until.is_some_and(|f| Instant::now() < f)
                    && owner(check_id, active(&v.live, slot)) == Some(self.id.as_str())
            })
            .unwrap_or(false);
        if owns {
            self.ran.fetch_add(1, Ordering::Relaxed);
        }
        owns
    }

    fn clock_offset_ms(&self) -> i64 {
        self.clock_offset_ms.load(Ordering::Relaxed)
    }
}
