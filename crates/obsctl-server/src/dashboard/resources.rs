//! Host resources over time for the Resources page: CPU, memory, load, every mount's disk use and
//! obsctl's own CPU and memory, sampled at a fixed interval into a bounded history.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;
use std::time::Duration;

use obsctl_core::Timestamp;
use obsctl_host::CpuMeter;
use tokio::sync::watch;

/// Samples kept: an hour at the default interval.
const KEEP: usize = 360;
pub const INTERVAL: Duration = Duration::from_secs(10);

#[derive(Debug, Clone)]
pub struct Sample {
    pub at: Timestamp,
    pub cpu_percent: f64,
    pub memory_used: u64,
    pub memory_total: u64,
    pub load1: f64,
    pub cores: usize,
    /// Mount point → used percent.
    pub disks: BTreeMap<String, f64>,
    pub own_cpu_percent: f64,
    pub own_rss: u64,
}

#[derive(Default)]
pub struct Resources {
    samples: Mutex<VecDeque<Sample>>,
}

impl Resources {
    /// Takes one sample now (blocking filesystem and /proc reads run off the async threads).
    pub async fn sample(&self, meter: &mut Option<CpuMeter>) {
        let mut m = meter.take().unwrap_or_default();
        let Ok((m, sample)) = tokio::task::spawn_blocking(move || {
            let (cpu_percent, own_cpu_percent, own_rss) = m.sample();
            let (memory_used, memory_total) = obsctl_host::memory();
            let (load1, cores) = obsctl_host::load();
            let disks = obsctl_host::filesystems()
                .iter()
                .filter(|f| !f.is_container_layer())
                .map(|f| (f.mount.display().to_string(), f.used_percent()))
                .collect();
            let sample = Sample {
                at: Timestamp::now(),
                cpu_percent,
                memory_used,
                memory_total,
                load1,
                cores,
                disks,
                own_cpu_percent,
                own_rss,
            };
            (m, sample)
        })
        .await
        else {
            return;
        };
        *meter = Some(m);
        let mut samples = self.samples.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if samples.len() == KEEP {
            samples.pop_front();
        }
        samples.push_back(sample);
    }

    pub fn samples(&self) -> Vec<Sample> {
        self.samples.lock().unwrap_or_else(std::sync::PoisonError::into_inner).iter().cloned().collect()
    }

    /// Samples every `interval` until shutdown.
    pub async fn run(self: std::sync::Arc<Self>, interval: Duration, mut shutdown: watch::Receiver<bool>) {
        let mut meter = None;
        let mut ticker = tokio::time::interval(interval);
        loop {
            tokio::select! {
                _ = ticker.tick() => self.sample(&mut meter).await,
                _ = shutdown.changed() => return,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn samples_the_host_and_keeps_a_bounded_history() {
        let resources = Resources::default();
        let mut meter = None;
        for _ in 0..3 {
            resources.sample(&mut meter).await;
        }
        let samples = resources.samples();
        assert_eq!(samples.len(), 3);
        let last = samples.last().unwrap();
        assert!(last.memory_total > 0 && last.memory_used > 0 && last.cores > 0);
        assert!(last.own_rss > 1_000_000, "this test process uses more than 1 MB: {}", last.own_rss);
        assert!(!last.disks.is_empty() && last.disks.values().all(|p| (0.0..=100.0).contains(p)));
        assert!(samples.windows(2).all(|w| w[0].at <= w[1].at));
    }
}
