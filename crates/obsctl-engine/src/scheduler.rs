//! The scheduler: runs every check on its interval with jitter, under a global concurrency limit,
//! and measures how late each run starts.
//!
//! A check's runs fall in slots of the cluster's clock (the store's, as this process's clock
//! corrected by the offset its heartbeats measure; its own clock alone): slot `k` starts at
//! `k × interval + offset` since the epoch, with an offset and a jitter per slot that hashing
//! the check's id (and the slot) gives. Every process therefore agrees on when a check is due:
//! first runs are spread over the interval, and a check that moves between replicas keeps its
//! rhythm (the new owner runs it in the slot after the old owner's last run, never twice in
//! one). Missed slots (overload, a pause, the clock stepped ahead) are skipped, not burst.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use obsctl_core::check::CheckSpec;
use tokio::sync::{Semaphore, watch};
use tokio::time::Instant;

use crate::monitor::Monitor;

/// Start-lateness histogram: 1 ms buckets up to 10 s, the last one open-ended.
pub struct LatenessStats {
    buckets: Vec<AtomicU64>,
    runs: AtomicU64,
}

impl LatenessStats {
    fn new() -> Self {
        Self { buckets: (0..10_001).map(|_| AtomicU64::new(0)).collect(), runs: AtomicU64::new(0) }
    }

    fn record(&self, late: Duration) {
        let i = (late.as_millis() as usize).min(self.buckets.len() - 1);
        self.buckets[i].fetch_add(1, Ordering::Relaxed);
        self.runs.fetch_add(1, Ordering::Relaxed);
        obsctl_core::metrics::metrics().scheduler_lateness.observe(late.as_secs_f64());
    }

    pub fn runs(&self) -> u64 {
        self.runs.load(Ordering::Relaxed)
    }

    /// The lateness (ms) that `q` (0..=1) of runs stayed within.
    pub fn quantile_ms(&self, q: f64) -> u64 {
        let total = self.runs();
        if total == 0 {
            return 0;
        }
        let target = ((q * total as f64).ceil() as u64).max(1);
        let mut seen = 0;
        for (ms, b) in self.buckets.iter().enumerate() {
            seen += b.load(Ordering::Relaxed);
            if seen >= target {
                return ms as u64;
            }
        }
        (self.buckets.len() - 1) as u64
    }
}

/// Which checks this process runs: all of them alone, its share in a cluster.
pub trait Ownership: Send + Sync {
    /// Whether this process runs `check_id` in its slot that starts at `slot` (the cluster's
    /// clock): every process asked about the same slot answers the same.
    fn owns(&self, check_id: &str, slot: obsctl_core::Timestamp) -> bool;
    /// This process's clock less the cluster's, in milliseconds (what slots are corrected by).
    fn clock_offset_ms(&self) -> i64 {
        0
    }
}

pub struct Scheduler {
    ownership: Option<Arc<dyn Ownership>>,
    monitor: Arc<Monitor>,
    permits: Arc<Semaphore>,
    stats: Arc<LatenessStats>,
    shutdown: watch::Receiver<bool>,
}

impl Scheduler {
    pub fn new(monitor: Arc<Monitor>, shutdown: watch::Receiver<bool>) -> Self {
        let permits = Arc::new(Semaphore::new(monitor.config().scheduler.max_concurrency));
        Self { ownership: None, monitor, permits, stats: Arc::new(LatenessStats::new()), shutdown }
    }

    /// Runs only the checks `ownership` gives this process (a replica's share).
    pub fn with_ownership(mut self, ownership: Arc<dyn Ownership>) -> Self {
        self.ownership = Some(ownership);
        self
    }

    pub fn stats(&self) -> Arc<LatenessStats> {
        self.stats.clone()
    }

    /// Runs every configured check until shutdown.
    pub async fn run(self) {
        let mut tasks = tokio::task::JoinSet::new();
        for spec in self.monitor.config().checks.clone() {
            let monitor = self.monitor.clone();
            let permits = self.permits.clone();
            let stats = self.stats.clone();
            let shutdown = self.shutdown.clone();
            let ownership = self.ownership.clone();
            tasks.spawn(run_check_loop(spec, monitor, permits, stats, ownership, shutdown));
        }
        while tasks.join_next().await.is_some() {}
    }
}

/// A deterministic pseudo-random duration below `max` for `(check_id, slot)`: the same in every
/// process.
fn spread(check_id: &str, slot: u64, max: Duration) -> Duration {
    let mut h = obsctl_core::hash::fnv1a(obsctl_core::hash::FNV_OFFSET, check_id.bytes());
    h = obsctl_core::hash::fnv1a(h, slot.to_le_bytes());
    // xorshift rounds: FNV of similar inputs differs in few bits.
    for _ in 0..3 {
        h ^= h << 13;
        h ^= h >> 7;
        h ^= h << 17;
    }
    let nanos = max.as_nanos() as u64;
    if nanos == 0 { Duration::ZERO } else { Duration::from_nanos(h % nanos) }
}

/// When slot `slot` of `check_id` starts, since the epoch.
fn slot_start(check_id: &str, interval: Duration, slot: u64) -> Duration {
    let every = interval.as_nanos().max(1);
    let offset = spread(check_id, u64::MAX, interval).as_nanos();
    Duration::from_nanos((u128::from(slot) * every + offset) as u64)
}

/// The first slot of `check_id` that starts at or after `since_epoch`, and how far ahead it
/// starts.
fn next_slot(check_id: &str, interval: Duration, since_epoch: Duration) -> (u64, Duration) {
    let every = interval.as_nanos().max(1);
    let offset = spread(check_id, u64::MAX, interval).as_nanos();
    let slot = since_epoch.as_nanos().saturating_sub(offset).div_ceil(every) as u64;
    (slot, slot_start(check_id, interval, slot).saturating_sub(since_epoch))
}

async fn run_check_loop(
    spec: CheckSpec,
    monitor: Arc<Monitor>,
    permits: Arc<Semaphore>,
    stats: Arc<LatenessStats>,
    ownership: Option<Arc<dyn Ownership>>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut last: Option<u64> = None;
    loop {
        let (slot, ahead) = next_run(&spec, cluster_clock(ownership.as_deref()), last);
        // Jitter moves each run within its slot without drifting the schedule.
        let due = Instant::now() + ahead + spread(&spec.id, slot, spec.jitter);
        tokio::select! {
            _ = tokio::time::sleep_until(due) => {}
            _ = shutdown.changed() => return,
        }
        if *shutdown.borrow() {
            return;
        }
        let Ok(permit) = permits.clone().acquire_owned().await else {
            return;
        };
        // Another replica's share (or none while this one is fenced) is skipped, not run late.
        let starts = obsctl_core::Timestamp(slot_start(&spec.id, spec.interval, slot).as_millis() as i64);
        if ownership.as_ref().is_none_or(|o| o.owns(&spec.id, starts)) {
            stats.record(Instant::now().saturating_duration_since(due));
            monitor.run_check(&spec.id).await;
        }
        drop(permit);
        last = Some(slot);
    }
}

/// The cluster's clock now, since the epoch: this process's, corrected by its measured offset.
fn cluster_clock(ownership: Option<&dyn Ownership>) -> Duration {
    let now = obsctl_core::cluster::cluster_now(ownership.map_or(0, Ownership::clock_offset_ms));
    Duration::from_millis(now.millis().max(0) as u64)
}

/// The next slot to run after `last` (a clock stepped back never repeats one) and how far ahead
/// it starts.
fn next_run(spec: &CheckSpec, now: Duration, last: Option<u64>) -> (u64, Duration) {
    let (slot, ahead) = next_slot(&spec.id, spec.interval, now);
    match last {
        Some(last) if slot <= last => (last + 1, ahead + spec.interval * (last + 1 - slot) as u32),
        _ => (slot, ahead),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lateness_quantiles() {
        let stats = LatenessStats::new();
        assert_eq!(stats.quantile_ms(0.99), 0);
        for ms in 0..100 {
            stats.record(Duration::from_millis(ms));
        }
        stats.record(Duration::from_secs(60));
        assert_eq!(stats.runs(), 101);
        assert_eq!(stats.quantile_ms(0.5), 50);
        assert_eq!(stats.quantile_ms(0.99), 99);
        assert_eq!(stats.quantile_ms(1.0), 10_000);
    }

    #[test]
    fn jitter_stays_below_its_bound_and_differs_per_check_and_slot() {
        let max = Duration::from_millis(500);
        let xs: Vec<Duration> = (0..1000).map(|slot| spread("api/health", slot, max)).collect();
        assert!(xs.iter().all(|d| *d < max));
        assert!(xs.iter().any(|d| *d > max / 2) && xs.iter().any(|d| *d < max / 2));
        assert_ne!(spread("api/health", 7, max), spread("db/port", 7, max));
        assert_eq!(spread("x", 1, Duration::ZERO), Duration::ZERO);
    }

    #[test]
    fn every_process_agrees_on_a_checks_slots_and_first_runs_spread_over_the_interval() {
        let interval = Duration::from_secs(10);
        // Two processes asking at different instants land on the same grid.
        let (a, a_ahead) = next_slot("api/health", interval, Duration::from_millis(1_000_000_123));
        let (b, b_ahead) = next_slot("api/health", interval, Duration::from_millis(1_000_004_567));
        let start = |slot: u64, asked: u64, ahead: Duration| (asked as u128 * 1_000_000 + ahead.as_nanos(), slot);
        let (sa, _) = start(a, 1_000_000_123, a_ahead);
        let (sb, _) = start(b, 1_000_004_567, b_ahead);
        assert!(a_ahead < interval && b_ahead < interval);
        assert_eq!((sb as i128 - sa as i128).rem_euclid(interval.as_nanos() as i128), 0);
        assert_eq!(sb as i128 - sa as i128, (b as i128 - a as i128) * interval.as_nanos() as i128);
        // Different checks start at different offsets, spread over the interval.
        let offsets: Vec<Duration> =
            (0..200).map(|i| next_slot(&format!("s/c{i}"), interval, Duration::from_secs(1_000_000)).1).collect();
        assert!(offsets.iter().filter(|d| **d < interval / 2).count() > 60, "{offsets:?}");
        assert!(offsets.iter().filter(|d| **d >= interval / 2).count() > 60, "{offsets:?}");
    }
}
