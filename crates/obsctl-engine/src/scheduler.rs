//! The scheduler: runs every check on its interval with jitter, under a global concurrency limit,
//! and measures how late each run starts.

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
    fn owns(&self, check_id: &str) -> bool;
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

/// A small deterministic pseudo-random stream per check (xorshift), for jitter without a dependency.
struct Jitter(u64);

impl Jitter {
    fn new(seed: &str) -> Self {
        Self(obsctl_core::hash::fnv1a(obsctl_core::hash::FNV_OFFSET, seed.bytes()) | 1)
    }

    fn next_below(&mut self, max: Duration) -> Duration {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        let nanos = max.as_nanos() as u64;
        if nanos == 0 { Duration::ZERO } else { Duration::from_nanos(self.0 % nanos) }
    }
}

async fn run_check_loop(
    spec: CheckSpec,
    monitor: Arc<Monitor>,
    permits: Arc<Semaphore>,
    stats: Arc<LatenessStats>,
    ownership: Option<Arc<dyn Ownership>>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut jitter = Jitter::new(&spec.id);
    // Spread first runs over one interval so checks do not all start together.
    let mut base = Instant::now() + jitter.next_below(spec.interval);
    let mut due = base;
    loop {
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
        if ownership.as_ref().is_none_or(|o| o.owns(&spec.id)) {
            stats.record(Instant::now().saturating_duration_since(due));
            monitor.run_check(&spec.id).await;
        }
        drop(permit);
        base += spec.interval;
        let now = Instant::now();
        if base < now {
            // Missed whole intervals (overload or a long pause): skip them rather than burst.
            let skipped = (now - base).as_nanos() / spec.interval.as_nanos().max(1) + 1;
            base += spec.interval * skipped as u32;
        }
        // Jitter moves each run within its interval without drifting the schedule.
        due = base + jitter.next_below(spec.jitter);
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
    fn jitter_stays_below_its_bound_and_differs_per_check() {
        let mut a = Jitter::new("api/health");
        let mut b = Jitter::new("db/port");
        let max = Duration::from_millis(500);
        let xs: Vec<Duration> = (0..1000).map(|_| a.next_below(max)).collect();
        assert!(xs.iter().all(|d| *d < max));
        assert!(xs.iter().any(|d| *d > max / 2) && xs.iter().any(|d| *d < max / 2));
        assert_ne!(a.next_below(max), b.next_below(max));
        assert_eq!(Jitter::new("x").next_below(Duration::ZERO), Duration::ZERO);
    }
}
