//! The container watch: follows the engine's event stream so a container's death or failed
//! healthcheck runs the checks that watch it at once (not at their next interval), records
//! crashes for `container-restarting`, and reconnects when the engine goes and comes back.

use std::sync::Arc;
use std::time::Duration;

use obsctl_core::check::Probe;
use obsctl_host::docker::{ContainerEvent, Engine};
use tokio::sync::watch;

use crate::Monitor;
use crate::probes::selects;

/// Longest wait between reconnection attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

pub struct ContainerWatch {
    engine: Arc<Engine>,
    monitor: Arc<Monitor>,
    /// How far back crashes are replayed when the stream (re)connects.
    replay: Duration,
}

impl ContainerWatch {
    /// `None` when no check watches containers: nothing to follow.
    pub fn new(engine: Arc<Engine>, monitor: Arc<Monitor>) -> Option<Self> {
        let replay = monitor
            .config()
            .checks
            .iter()
            .filter_map(|c| match &c.probe {
                Probe::Docker(p) => Some(p.restart_window),
                _ => None,
            })
            .max()?;
        Some(Self { engine, monitor, replay })
    }

    /// The ids of the docker checks that watch the container of `event`.
    pub fn checks_for(&self, event: &ContainerEvent) -> Vec<String> {
        self.monitor
            .config()
            .checks
            .iter()
            .filter(|c| match &c.probe {
                Probe::Docker(p) => selects(&p.select, &event.name, &|k| event.attributes.get(k).cloned()),
                _ => false,
            })
            .map(|c| c.id.clone())
            .collect()
    }

    /// Whether an event is news a check should hear now.
    fn urgent(event: &ContainerEvent) -> bool {
        matches!(event.action.as_str(), "die" | "oom" | "destroy" | "health_status: unhealthy" | "start")
    }

    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        let mut backoff = Duration::from_secs(1);
        loop {
            let monitor = self.monitor.clone();
            let mut on_event = |event: ContainerEvent| {
                if !Self::urgent(&event) {
                    return;
                }
                for id in self.checks_for(&event) {
                    let monitor = monitor.clone();
                    tokio::spawn(async move { monitor.run_check(&id).await });
                }
            };
            let connected = std::time::Instant::now();
            let stopped = tokio::select! {
                error = self.engine.follow_events(self.replay, &mut on_event) => Some(error),
                _ = shutdown.changed() => None,
            };
            let Some(error) = stopped else { return };
            if connected.elapsed() > MAX_BACKOFF {
                backoff = Duration::from_secs(1);
            }
            tracing::warn!(%error, retry_in = ?backoff, "container events: not following");
            tokio::select! {
                _ = tokio::time::sleep(backoff) => {}
                _ = shutdown.changed() => return,
            }
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    }
}
