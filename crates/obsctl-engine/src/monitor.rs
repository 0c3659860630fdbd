//! The monitor: runs a check, feeds the result to its state tracker, persists it, and hands
//! status changes to the incident manager. The scheduler, verification and "run now" all
//! come through here, so there is one path from probe to incident.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use obsctl_config::Config;
use obsctl_core::check::{CheckSpec, Observation};
use obsctl_core::event::Event;
use obsctl_core::state::{CheckStatus, CheckTracker, Thresholds};
use obsctl_store::Store;
use tokio::sync::broadcast;

use crate::batcher::ObservationSink;
use crate::incidents::IncidentManager;
use crate::probes::{self, ProbeContext};

pub struct Monitor {
    config: Arc<Config>,
    store: Arc<dyn Store>,
    probes: ProbeContext,
    sink: ObservationSink,
    bus: broadcast::Sender<Event>,
    trackers: Mutex<HashMap<String, CheckTracker>>,
    incidents: IncidentManager,
}

fn thresholds(spec: &CheckSpec) -> Thresholds {
    Thresholds {
        fail_after: spec.fail_after,
        recover_after: spec.recover_after,
        flap_threshold: spec.flap_threshold,
        flap_window: spec.flap_window,
    }
}

impl Monitor {
    /// Builds the monitor, resuming each check's status from the store.
    pub async fn new(
        config: Arc<Config>,
        store: Arc<dyn Store>,
        probes: ProbeContext,
        sink: ObservationSink,
        bus: broadcast::Sender<Event>,
    ) -> anyhow::Result<Self> {
        // A check whose target changed starts afresh; what it saw before keeps its own name.
        let targets: Vec<(String, String)> = config.checks.iter().map(|c| (c.id.clone(), c.probe.target())).collect();
        for aside in store.retarget_checks(&targets, obsctl_core::Timestamp::now()).await? {
            tracing::info!(history = %aside, "a check's target changed: it starts a new history; the earlier one is kept under this name");
        }
        let saved: HashMap<String, CheckStatus> =
            store.check_statuses().await?.into_iter().map(|(id, s, _)| (id, s)).collect();
        let trackers = config
            .checks
            .iter()
            .map(|c| {
                let status = saved.get(&c.id).copied().unwrap_or(CheckStatus::Unknown);
                (c.id.clone(), CheckTracker::resume(thresholds(c), status))
            })
            .collect();
        let incidents = IncidentManager::new(config.clone(), store.clone(), bus.clone());
        Ok(Self { config, store, probes, sink, bus, trackers: Mutex::new(trackers), incidents })
    }

    pub fn config(&self) -> &Arc<Config> {
        &self.config
    }

    /// What the probes share (the HTTP client, the container engine).
    pub fn probes(&self) -> &ProbeContext {
        &self.probes
    }

    /// The current status of every check.
    pub fn statuses(&self) -> HashMap<String, CheckStatus> {
        self.trackers.lock().map(|t| t.iter().map(|(id, tr)| (id.clone(), tr.status())).collect()).unwrap_or_default()
    }

    pub fn status(&self, check_id: &str) -> CheckStatus {
        self.trackers
            .lock()
            .ok()
            .and_then(|t| t.get(check_id).map(CheckTracker::status))
            .unwrap_or(CheckStatus::Unknown)
    }

    /// Takes the stored statuses of the checks other replicas run (`theirs`), so this
    /// replica's API and dashboard show the whole cluster, and a check that moves here starts
    /// from where its last runner left it. Each change is published like one of its own.
    pub fn adopt(&self, stored: &[(String, CheckStatus, obsctl_core::Timestamp)], theirs: impl Fn(&str) -> bool) {
        let mut changed = Vec::new();
        if let Ok(mut trackers) = self.trackers.lock() {
            for (id, status, _) in stored {
                let (Some(spec), true) = (self.config.check(id), theirs(id)) else { continue };
                let from = trackers.get(id).map_or(CheckStatus::Unknown, CheckTracker::status);
                if from != *status {
                    trackers.insert(id.clone(), CheckTracker::resume(thresholds(spec), *status));
                    changed.push(Event::StatusChanged { check_id: id.clone(), from, to: *status });
                }
            }
        }
        for event in changed {
            let _ = self.bus.send(event);
        }
    }

    /// Runs one check now and processes the result; `None` for an unknown check id.
    pub async fn run_check(&self, check_id: &str) -> Option<(Observation, CheckStatus)> {
        let spec = self.config.check(check_id)?;
        let obs = probes::run(spec, &self.probes).await;
        let took = std::time::Duration::from_micros(obs.latency_us);
        obsctl_core::metrics::metrics().check_run(spec.probe.kind(), obs.ok, took);
        let status = self.ingest(spec, obs.clone()).await;
        Some((obs, status))
    }

    /// Feeds an observation through tracker, store and incident manager; returns the new status.
    pub async fn ingest(&self, spec: &CheckSpec, obs: Observation) -> CheckStatus {
        let now = obs.at;
        let (transition, status, settled_failing, broke) = {
            let Ok(mut trackers) = self.trackers.lock() else {
                return CheckStatus::Unknown;
            };
            let tracker = trackers.entry(spec.id.clone()).or_insert_with(|| CheckTracker::new(thresholds(spec)));
            let transition = if obs.unknown { tracker.unknown() } else { tracker.observe(obs.ok, now) };
            (transition, tracker.status(), !obs.ok && tracker.status() == CheckStatus::Failing, tracker.broke())
        };
        self.sink.send(obs.clone()).await;
        let _ = self.bus.send(Event::Observed { observation: obs.clone(), status });
        if let Some(t) = transition {
            tracing::info!(check = %spec.id, from = t.from.as_str(), to = t.to.as_str(), detail = %obs.detail, "check status changed");
            if let Err(error) = self.store.save_check_status(&spec.id, t.to, now).await {
                tracing::error!(%error, check = %spec.id, "could not save check status");
            }
            let _ = self.bus.send(Event::StatusChanged { check_id: spec.id.clone(), from: t.from, to: t.to });
            if let Err(error) = self.incidents.on_transition(spec, t, &obs).await {
                tracing::error!(%error, check = %spec.id, "incident update failed");
            }
        } else if broke && status == CheckStatus::Flapping {
            if let Err(error) = self.incidents.on_break_while_flapping(spec, &obs).await {
                tracing::error!(%error, check = %spec.id, "incident update failed");
            }
        } else if settled_failing && let Err(error) = self.incidents.on_repeat_failure(spec, &obs).await {
            tracing::error!(%error, check = %spec.id, "incident update failed");
        }
        status
    }

    /// Waits until every observation ingested so far is in the store.
    pub async fn flush(&self) {
        self.sink.flush().await;
    }
}
