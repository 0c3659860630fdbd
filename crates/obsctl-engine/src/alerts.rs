//! Alert ingestion: a webhook body becomes alert records and incident changes. A firing alert
//! opens (or reopens) an incident through the same manager as a failing check, its annotations
//! go on the timeline, a resolved alert resolves it, and a repeated delivery changes nothing
//! but its count. Every alert is kept, whatever its service.

mod signal;
pub mod wire;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, RwLock};

use obsctl_config::Config;
use obsctl_core::Timestamp;
use obsctl_core::alert::{self, Alert, AlertChange, AlertDelivery, AlertRecord, AlertSource, AlertStatus};
use obsctl_core::event::Event;
use obsctl_core::incident::{Incident, IncidentStatus, should_reopen};
use obsctl_core::state::CheckStatus;
use obsctl_core::timeline::EntryKind;
use obsctl_store::{AlertFilter, NewEvent, OpenedIncident, Store, StoreError};
use serde::Serialize;
use tokio::sync::broadcast;

use crate::incidents::{IncidentManager, LOOK_AGAIN, moved_meanwhile, resolve_incident, suppressed_note};
use signal::AlertSignal;
pub use wire::WireError;

/// What one delivery did, as the webhook answers it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, schemars::JsonSchema)]
pub struct IntakeReport {
    pub received: u32,
    pub opened: u32,
    pub resolved: u32,
    /// Deliveries of an alert in the state already recorded (idempotent repeats).
    pub repeated: u32,
    /// Deliveries older than what is recorded (late retries): kept, not applied.
    pub stale: u32,
    /// Alerts the source left out (`truncatedAlerts`).
    pub truncated: u32,
    /// The incidents this delivery touched.
    pub incidents: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum IntakeError {
    #[error(transparent)]
    Wire(#[from] WireError),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

pub struct AlertIntake {
    config: Arc<Config>,
    store: Arc<dyn Store>,
    incidents: IncidentManager,
    /// One delivery at a time: each reads its alerts' records, then writes them.
    turn: tokio::sync::Mutex<()>,
    /// Check ids (`alert:<source>:<fingerprint>`) of alerts firing now, for the verifier.
    firing: RwLock<HashSet<String>>,
    /// Requests in flight per source (`[alerts] max_in_flight`).
    slots: HashMap<AlertSource, Arc<tokio::sync::Semaphore>>,
}

impl AlertIntake {
    /// The intake, knowing which alerts were firing when the process last stopped.
    pub async fn open(
        config: Arc<Config>,
        store: Arc<dyn Store>,
        bus: broadcast::Sender<Event>,
    ) -> anyhow::Result<Self> {
        let filter = AlertFilter { status: Some(AlertStatus::Firing), limit: 10_000, ..Default::default() };
        let firing = store
            .list_alerts(&filter)
            .await?
            .iter()
            .map(|r| alert::check_id(r.alert.source, &r.alert.fingerprint))
            .collect();
        let incidents = IncidentManager::new(config.clone(), store.clone(), bus);
        let slots = AlertSource::ALL
            .into_iter()
            .map(|s| (s, Arc::new(tokio::sync::Semaphore::new(config.alerts.max_in_flight))))
            .collect();
        Ok(Self { config, store, incidents, turn: tokio::sync::Mutex::new(()), firing: RwLock::new(firing), slots })
    }

    /// A place for one more request of `source`, or `None` when it already has
    /// `max_in_flight` (the sender is told to retry): a flooding source waits on itself alone.
    pub fn admit(&self, source: AlertSource) -> Option<tokio::sync::OwnedSemaphorePermit> {
        self.slots.get(&source)?.clone().try_acquire_owned().ok()
    }

    /// An alert incident's status as a check's: failing while its alert fires, else ok.
    pub fn status(&self, check_id: &str) -> CheckStatus {
        match self.firing.read() {
            Ok(firing) if firing.contains(check_id) => CheckStatus::Failing,
            _ => CheckStatus::Ok,
        }
    }

    /// Takes one webhook body from `source`. A body that does not parse changes nothing.
    pub async fn ingest(&self, source: AlertSource, body: &[u8]) -> Result<IntakeReport, IntakeError> {
        let now = Timestamp::now();
        let parsed = wire::parse(source, body, now, &self.config.alerts.service_label)?;
        let delivery = AlertDelivery {
            source,
            received_at: now,
            receiver: parsed.receiver,
            group_key: parsed.group_key,
            alerts: parsed.alerts.len() as u32,
            truncated: parsed.truncated,
        };
        let report = IntakeReport { received: delivery.alerts, truncated: delivery.truncated, ..Default::default() };
        if delivery.truncated > 0 {
            tracing::warn!(
                source = source.as_str(),
                truncated = delivery.truncated,
                "the alert source left alerts out of a notification (max_alerts)"
            );
        }
        let _turn = self.turn.lock().await;
        // Another replica may open one of this delivery's incidents between our read and our
        // write: the store then refuses the write whole, and the delivery is applied again
        // against what is stored now (counting on that incident instead).
        let mut attempts = 0;
        loop {
            match self.apply(&delivery, parsed.alerts.clone(), report.clone(), now).await {
                Err(e) if attempts < LOOK_AGAIN && moved_meanwhile(&e) => attempts += 1,
                done => return Ok(done?),
            }
        }
    }

    /// Applies one delivery's alerts (under the turn): records, incident changes, new incidents.
    async fn apply(
        &self,
        delivery: &AlertDelivery,
        alerts: Vec<Alert>,
        mut report: IntakeReport,
        now: Timestamp,
    ) -> anyhow::Result<IntakeReport> {
        let source = delivery.source;
        let alerts = last_word_of_each(alerts);
        let fingerprints: Vec<String> = alerts.iter().map(|a| a.fingerprint.clone()).collect();
        let mut records: HashMap<String, AlertRecord> = self
            .store
            .alerts_by_fingerprint(source, &fingerprints)
            .await
            .map_err(anyhow::Error::from)?
            .into_iter()
            .map(|r| (r.alert.fingerprint.clone(), r))
            .collect();
        // The latest incident of every alert that may open one, in one read.
        let routing = &self.config.alerts;
        let candidates: Vec<String> = alerts
            .iter()
            .filter(|a| a.status == AlertStatus::Firing)
            .map(|a| {
                signal::incident_fingerprint(
                    &routing.service_of(&a.labels),
                    &routing.kind_of(&a.labels),
                    source,
                    &a.fingerprint,
                )
            })
            .collect();
        let mut latest: HashMap<String, Incident> = self
            .store
            .latest_incidents_by_fingerprint(&candidates)
            .await
            .map_err(anyhow::Error::from)?
            .into_iter()
            .map(|i| (i.fingerprint.clone(), i))
            .collect();
        // New incidents are written with the records, in one transaction. Changes to existing
        // incidents (a count, a reopen, a resolve) come first and the records after: a crash in
        // between leaves the records as they were, so the source's retry applies the same change
        // again (idempotent) instead of finding it already recorded and doing nothing.
        let mut opened: Vec<OpenedIncident> = Vec::new();
        let mut touched = Vec::new();
        let (mut seen, mut reported) = (HashSet::new(), HashSet::new());
        for incoming in alerts {
            let previous = records.get(&incoming.fingerprint);
            let change = alert::change(previous, &incoming);
            let mut record = self.record(previous, incoming, change, now);
            match change {
                AlertChange::Opens => {
                    let sig = AlertSignal::of(&record);
                    let reopens = latest.get(&sig.fingerprint).is_some_and(|i| {
                        i.status == IncidentStatus::Open || should_reopen(i, now, self.config.agent.reopen_within)
                    });
                    // Counting on an open incident or reopening one changes what is stored, one
                    // alert at a time; a new incident is written with the delivery.
                    let id = if reopens {
                        self.raise(&record, &sig, now).await?
                    } else {
                        let new = self.new_incident(&record, &sig, now).await?;
                        latest.insert(sig.fingerprint.clone(), new.incident.clone());
                        let id = new.incident.id.clone();
                        opened.push(new);
                        id
                    };
                    record.incident_id = Some(id);
                    report.opened += 1;
                }
                AlertChange::Resolves => {
                    if self.resolve(&record, now).await? {
                        report.resolved += 1;
                    }
                }
                AlertChange::Repeats => report.repeated += 1,
                AlertChange::Stale => report.stale += 1,
            }
            if let Some(id) = &record.incident_id
                && reported.insert(id.clone())
            {
                report.incidents.push(id.clone());
            }
            if seen.insert(record.alert.fingerprint.clone()) {
                touched.push(record.alert.fingerprint.clone());
            }
            records.insert(record.alert.fingerprint.clone(), record);
        }
        let changed: Vec<AlertRecord> = touched.iter().filter_map(|fp| records.remove(fp)).collect();
        let started = std::time::Instant::now();
        self.store.save_alerts(delivery, &changed, &opened).await.map_err(anyhow::Error::from)?;
        obsctl_core::metrics::metrics().store_write("alerts", started.elapsed());
        if let Ok(mut firing) = self.firing.write() {
            for r in &changed {
                let id = alert::check_id(source, &r.alert.fingerprint);
                match r.alert.status {
                    AlertStatus::Firing => firing.insert(id),
                    AlertStatus::Resolved => firing.remove(&id),
                };
            }
        }
        for new in &opened {
            let i = &new.incident;
            tracing::warn!(incident = %i.id, check = %i.check_id, detail = %i.detail, "incident opened");
            self.incidents.announce(Event::IncidentOpened { incident_id: i.id.clone() });
        }
        Ok(report)
    }

    /// The record after this delivery: a stale delivery leaves the alert as it was.
    fn record(
        &self,
        previous: Option<&AlertRecord>,
        incoming: Alert,
        change: AlertChange,
        now: Timestamp,
    ) -> AlertRecord {
        let alerts = &self.config.alerts;
        match previous {
            Some(p) => {
                let mut next = p.clone();
                if change != AlertChange::Stale {
                    next.service = alerts.service_of(&incoming.labels);
                    next.kind = alerts.kind_of(&incoming.labels);
                    next.alert = incoming;
                }
                next.last_seen = now;
                next.deliveries += 1;
                next
            }
            None => AlertRecord {
                service: alerts.service_of(&incoming.labels),
                kind: alerts.kind_of(&incoming.labels),
                alert: incoming,
                incident_id: None,
                first_seen: now,
                last_seen: now,
                deliveries: 1,
            },
        }
    }

    /// Opens or reopens the alert's incident and puts its annotations on the timeline, now.
    async fn raise(&self, r: &AlertRecord, sig: &AlertSignal, now: Timestamp) -> anyhow::Result<String> {
        let mut incident = self.incidents.raise(sig.signal(r, now)).await?;
        self.incidents.suppress_under_upstream(&mut incident).await?;
        if let Some(note) = &sig.annotations {
            self.store.add_event(&incident.id, note.kind, &note.message, note.data.clone()).await?;
        }
        Ok(incident.id)
    }

    /// A new incident for the alert, to be written with the delivery: opened, suppressed when a
    /// dependency of its service is failing, annotated.
    async fn new_incident(&self, r: &AlertRecord, sig: &AlertSignal, now: Timestamp) -> anyhow::Result<OpenedIncident> {
        let signal = sig.signal(r, now);
        let mut incident = IncidentManager::new_incident(&signal);
        let mut events = vec![NewEvent { kind: EntryKind::Opened, message: signal.message, data: signal.data }];
        if let Some((upstream_id, upstream_service)) = self.incidents.failing_upstream(&incident.service).await? {
            let (message, data) = suppressed_note(&incident.service, &upstream_id, &upstream_service);
            events.push(NewEvent { kind: EntryKind::Suppressed, message, data });
            incident.upstream_incident = Some(upstream_id);
        }
        events.extend(sig.annotations.clone());
        Ok(OpenedIncident { incident, events })
    }

    /// Resolves the alert's incident if it is still open; whether it did.
    async fn resolve(&self, r: &AlertRecord, now: Timestamp) -> anyhow::Result<bool> {
        let Some(id) = &r.incident_id else { return Ok(false) };
        let mut incident = self.store.incident(id).await?;
        if incident.status != IncidentStatus::Open {
            return Ok(false);
        }
        let resolution = format!("resolved at the source ({})", r.alert.source.as_str());
        match resolve_incident(self.store.as_ref(), &mut incident, now, &resolution).await {
            Ok(()) => {}
            // Resolved by hand meanwhile.
            Err(e) if matches!(e.downcast_ref::<StoreError>(), Some(StoreError::Conflict(_))) => return Ok(false),
            Err(e) => return Err(e),
        }
        tracing::info!(incident = %id, source = r.alert.source.as_str(), "incident resolved by its alert");
        self.incidents.announce(Event::IncidentResolved { incident_id: id.clone() });
        Ok(true)
    }
}

/// Each alert of a delivery once, as its last occurrence says, in delivery order. A sender that
/// names one alert twice (firing, then resolved) means its last word; taking both would resolve
/// an incident this delivery is only opening (it is written with the delivery).
fn last_word_of_each(alerts: Vec<Alert>) -> Vec<Alert> {
    let last: HashMap<String, usize> = alerts.iter().enumerate().map(|(i, a)| (a.fingerprint.clone(), i)).collect();
    alerts.into_iter().enumerate().filter(|(i, a)| last.get(&a.fingerprint) == Some(i)).map(|(_, a)| a).collect()
}
