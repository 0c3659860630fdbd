//! The incident manager: opens, updates, reopens and resolves incidents from check status
//! changes, and links an incident to a failing upstream dependency.

use std::collections::{HashSet, VecDeque};
use std::sync::Arc;

use obsctl_config::Config;
use obsctl_core::Timestamp;
use obsctl_core::check::{CheckSpec, Observation};
use obsctl_core::event::Event;
use obsctl_core::incident::{Incident, IncidentStatus, fingerprint, flapping_now, should_reopen};
use obsctl_core::state::{CheckStatus, Transition};
use obsctl_core::timeline::{EntryKind, Opening, to_data};
use obsctl_store::{IncidentFilter, Store, StoreError, new_id};
use serde_json::json;
use tokio::sync::broadcast;

/// A failure, whatever raised it (a check, an alert), as the incident manager takes it.
pub struct Signal<'a> {
    /// The deduplication key (`service/check/kind`).
    pub fingerprint: String,
    pub service: &'a str,
    pub check_id: &'a str,
    pub kind: &'a str,
    /// The title of a new incident.
    pub title: String,
    pub detail: &'a str,
    pub at: Timestamp,
    /// The `opened` timeline event's message and data.
    pub message: String,
    pub data: serde_json::Value,
    /// The check flaps: the incident's timeline says so before anyone hears of the opening.
    pub flapping: bool,
}

pub struct IncidentManager {
    config: Arc<Config>,
    store: Arc<dyn Store>,
    bus: broadcast::Sender<Event>,
}

impl IncidentManager {
    pub fn new(config: Arc<Config>, store: Arc<dyn Store>, bus: broadcast::Sender<Event>) -> Self {
        Self { config, store, bus }
    }

    pub async fn on_transition(&self, spec: &CheckSpec, t: Transition, obs: &Observation) -> anyhow::Result<()> {
        match t.to {
            CheckStatus::Failing | CheckStatus::Flapping => self.on_failure(spec, t, obs).await,
            CheckStatus::Ok => self.resolve(spec, obs).await,
            CheckStatus::Unknown => Ok(()),
        }
    }

    fn fingerprint(spec: &CheckSpec) -> String {
        fingerprint(&spec.service, &spec.name, spec.probe.incident_kind())
    }

    async fn on_failure(&self, spec: &CheckSpec, t: Transition, obs: &Observation) -> anyhow::Result<()> {
        let message = format!("{} is {}: {}", spec.id, t.to.as_str(), obs.detail);
        let mut incident = self.raise(Self::check_signal(spec, obs, message, t.to == CheckStatus::Flapping)).await?;
        if (t.from, t.to) == (CheckStatus::Flapping, CheckStatus::Failing) {
            let message = format!("{} fails steadily now, no longer flapping; actions may resume", spec.id);
            let updated = Event::IncidentUpdated { incident_id: incident.id.clone() };
            self.tell(&incident.id, EntryKind::Steady, &message, json!({}), updated).await?;
        }
        self.suppress_under_upstream(&mut incident).await
    }

    /// A new break of a check that stays `flapping` (no status change to report): its outage is
    /// never hidden. It counts on the open incident, or opens (reopens) one that says it flaps.
    pub async fn on_break_while_flapping(&self, spec: &CheckSpec, obs: &Observation) -> anyhow::Result<()> {
        let message = format!("{} broke again while flapping: {}", spec.id, obs.detail);
        let mut incident = self.raise(Self::check_signal(spec, obs, message, true)).await?;
        self.suppress_under_upstream(&mut incident).await
    }

    /// The signal a failing observation of `spec` raises.
    fn check_signal<'a>(spec: &'a CheckSpec, obs: &'a Observation, message: String, flapping: bool) -> Signal<'a> {
        let kind = obs.incident_kind.as_deref().unwrap_or(spec.probe.incident_kind());
        Signal {
            fingerprint: Self::fingerprint(spec),
            service: &spec.service,
            check_id: &spec.id,
            kind,
            title: format!("{} {kind} on {}", spec.name, spec.service),
            detail: &obs.detail,
            at: obs.at,
            message,
            data: to_data(&Opening { check_id: spec.id.clone(), latency_us: obs.latency_us }),
            flapping,
        }
    }

    /// Marks `incident` as explained by a failing dependency of its service (an open incident
    /// of a service it depends on, directly or not): the gate takes no action on it.
    pub async fn suppress_under_upstream(&self, incident: &mut Incident) -> anyhow::Result<()> {
        let Some((upstream_id, upstream_service)) = self.failing_upstream(&incident.service).await? else {
            return Ok(());
        };
        if incident.upstream_incident.as_deref() == Some(upstream_id.as_str()) {
            return Ok(());
        }
        incident.upstream_incident = Some(upstream_id.clone());
        self.store.update_incident(incident, IncidentStatus::Open).await?;
        let (message, data) = suppressed_note(&incident.service, &upstream_id, &upstream_service);
        let updated = Event::IncidentUpdated { incident_id: incident.id.clone() };
        self.tell(&incident.id, EntryKind::Suppressed, &message, data, updated).await
    }

    /// The incident a signal opens when none of its fingerprint is open or reopens (no IO).
    pub fn new_incident(signal: &Signal<'_>) -> Incident {
        Incident {
            id: new_id("inc"),
            fingerprint: signal.fingerprint.clone(),
            service: signal.service.to_string(),
            check_id: signal.check_id.to_string(),
            kind: signal.kind.to_string(),
            status: IncidentStatus::Open,
            title: signal.title.clone(),
            detail: signal.detail.to_string(),
            opened_at: signal.at,
            updated_at: signal.at,
            resolved_at: None,
            occurrences: 1,
            reopen_count: 0,
            upstream_incident: None,
            resolution: None,
        }
    }

    /// Opens an incident for a failure, or counts it on the open one, or reopens the last one
    /// when it resolved within `reopen_within`; announces what it did. Two raises of one
    /// fingerprint at once (two requests, two replicas) open one incident: the store opens it
    /// only while none is open, and the loser counts on the winner's.
    pub async fn raise(&self, signal: Signal<'_>) -> anyhow::Result<Incident> {
        // A conflict means another writer moved the incident in between (opened, reopened or
        // resolved it): look again.
        let mut attempts = 0;
        loop {
            match self.raise_once(&signal).await {
                Err(e) if attempts < LOOK_AGAIN && moved_meanwhile(&e) => attempts += 1,
                done => return done,
            }
        }
    }

    async fn raise_once(&self, signal: &Signal<'_>) -> anyhow::Result<Incident> {
        let previous = self.store.latest_incident_by_fingerprint(&signal.fingerprint).await?;
        Ok(match previous {
            Some(open) if open.status == IncidentStatus::Open => self.count_on(open, signal).await?,
            Some(mut old) if should_reopen(&old, signal.at, self.config.agent.reopen_within) => {
                bump(&mut old, signal.detail, signal.at);
                old.status = IncidentStatus::Open;
                old.resolved_at = None;
                old.resolution = None;
                old.reopen_count += 1;
                old.upstream_incident = None;
                self.store.update_incident(&old, IncidentStatus::Resolved).await?;
                let within = obsctl_core::quantity::format_duration(self.config.agent.reopen_within);
                let message = format!("failing again within {within} of resolving: {}", signal.detail);
                self.tell_opening(&old.id, EntryKind::Reopened, &message, signal).await?;
                old
            }
            _ => {
                let incident = Self::new_incident(signal);
                if let Some(open) = self.store.open_incident(&incident).await? {
                    return self.count_on(open, signal).await;
                }
                tracing::warn!(incident = %incident.id, check = %signal.check_id, detail = %signal.detail, "incident opened");
                self.tell_opening(&incident.id, EntryKind::Opened, &signal.message, signal).await?;
                incident
            }
        })
    }

    /// Counts a repeat of the failure on its open incident; says the check flaps, once.
    async fn count_on(&self, mut open: Incident, signal: &Signal<'_>) -> anyhow::Result<Incident> {
        bump(&mut open, signal.detail, signal.at);
        self.store.update_incident(&open, IncidentStatus::Open).await?;
        if signal.flapping && !flapping_now(&self.store.events(&open.id).await?) {
            self.note_flapping(&open.id, signal.check_id).await?;
            self.announce(Event::IncidentUpdated { incident_id: open.id.clone() });
        }
        Ok(open)
    }

    /// Writes an opening (`opened`, `reopened`) to the timeline and, for a flapping check, that
    /// it flaps; only then announces it, so whoever hears of the opening finds both said.
    async fn tell_opening(
        &self,
        incident_id: &str,
        kind: EntryKind,
        message: &str,
        signal: &Signal<'_>,
    ) -> anyhow::Result<()> {
        self.store.add_event(incident_id, kind, message, signal.data.clone()).await?;
        if signal.flapping {
            self.note_flapping(incident_id, signal.check_id).await?;
        }
        self.announce(Event::IncidentOpened { incident_id: incident_id.to_string() });
        Ok(())
    }

    async fn note_flapping(&self, incident_id: &str, check_id: &str) -> anyhow::Result<()> {
        let message = format!("{check_id} is flapping; no actions until it is stable");
        self.store.add_event(incident_id, EntryKind::Flapping, &message, json!({})).await?;
        Ok(())
    }

    /// A failing observation of a check already failing: bump the open incident.
    pub async fn on_repeat_failure(&self, spec: &CheckSpec, obs: &Observation) -> anyhow::Result<()> {
        let Some(mut open) = self.open_incident(spec).await? else { return Ok(()) };
        bump(&mut open, &obs.detail, obs.at);
        // A probe that names the failure more narrowly now (a container that was down is
        // crash-looping): the incident takes the new kind, and the agent plans for it.
        let was = open.kind.clone();
        let narrowed = obs.incident_kind.as_deref().filter(|k| *k != was);
        if let Some(kind) = narrowed {
            open.kind = kind.to_string();
            open.title = format!("{} {kind} on {}", spec.name, spec.service);
        }
        // No bus event for a repeat: nothing the agent acts on changed; its sweep retries.
        match self.store.update_incident(&open, IncidentStatus::Open).await {
            // Resolved by hand meanwhile: the person's word stands; the next failure reopens.
            Err(StoreError::Conflict(_)) => return Ok(()),
            other => other?,
        }
        if let Some(kind) = narrowed {
            let message = format!("now {kind} (was {was}): {}", obs.detail);
            let updated = Event::IncidentUpdated { incident_id: open.id.clone() };
            self.tell(&open.id, EntryKind::Reclassified, &message, json!({"from": was, "to": kind}), updated).await?;
        }
        Ok(())
    }

    /// The check's incident, if it is open.
    async fn open_incident(&self, spec: &CheckSpec) -> anyhow::Result<Option<Incident>> {
        let latest = self.store.latest_incident_by_fingerprint(&Self::fingerprint(spec)).await?;
        Ok(latest.filter(|i| i.status == IncidentStatus::Open))
    }

    /// Announces a change on the bus.
    pub fn announce(&self, event: Event) {
        let _ = self.bus.send(event);
    }

    /// Adds a timeline event and announces the change on the bus.
    pub async fn tell(
        &self,
        incident_id: &str,
        kind: EntryKind,
        message: &str,
        data: serde_json::Value,
        event: Event,
    ) -> anyhow::Result<()> {
        self.store.add_event(incident_id, kind, message, data).await?;
        let _ = self.bus.send(event);
        Ok(())
    }

    /// Resolves every open incident of the check. Normally there is one; two monitors on one
    /// store (replicas) can each open one in the same instant, and neither may stay open for
    /// ever once the check recovers.
    async fn resolve(&self, spec: &CheckSpec, obs: &Observation) -> anyhow::Result<()> {
        let fp = Self::fingerprint(spec);
        let filter = IncidentFilter {
            status: Some(IncidentStatus::Open),
            service: Some(spec.service.clone()),
            kind: Some(spec.probe.incident_kind().to_string()),
            limit: 100,
        };
        let resolution = format!("recovered: {}", obs.detail);
        for mut open in self.store.list_incidents(&filter).await?.into_iter().filter(|i| i.fingerprint == fp) {
            if let Err(e) = resolve_incident(self.store.as_ref(), &mut open, obs.at, &resolution).await {
                // Resolved by hand (or by another replica) meanwhile: nothing left to do.
                match e.downcast_ref::<StoreError>() {
                    Some(StoreError::Conflict(_)) => continue,
                    _ => return Err(e),
                }
            }
            tracing::info!(incident = %open.id, check = %spec.id, "incident resolved");
            let _ = self.bus.send(Event::IncidentResolved { incident_id: open.id });
        }
        Ok(())
    }

    /// The open incident of the nearest failing dependency (transitively), if any.
    /// The first dependency (breadth first) with an open incident, from a check or an alert:
    /// its incident id and service.
    pub(crate) async fn failing_upstream(&self, service: &str) -> anyhow::Result<Option<(String, String)>> {
        let mut queue: VecDeque<&str> =
            self.config.service(service).map(|s| s.depends_on.iter().map(String::as_str).collect()).unwrap_or_default();
        let mut seen = HashSet::new();
        while let Some(dep) = queue.pop_front() {
            if !seen.insert(dep) {
                continue;
            }
            let filter = IncidentFilter {
                status: Some(IncidentStatus::Open),
                service: Some(dep.to_string()),
                limit: 1,
                ..Default::default()
            };
            if let Some(open) = self.store.list_incidents(&filter).await?.into_iter().next() {
                return Ok(Some((open.id, dep.to_string())));
            }
            if let Some(s) = self.config.service(dep) {
                queue.extend(s.depends_on.iter().map(String::as_str));
            }
        }
        Ok(None)
    }
}

/// The `suppressed` timeline entry of an incident that `upstream_id` of `upstream_service` explains.
pub(crate) fn suppressed_note(service: &str, upstream_id: &str, upstream_service: &str) -> (String, serde_json::Value) {
    let message = format!("dependency {upstream_service} is failing (incident {upstream_id}); no action on {service}");
    (message, json!({"upstream_incident": upstream_id, "upstream_service": upstream_service}))
}

/// Records one more failure on an incident.
fn bump(incident: &mut Incident, detail: &str, at: Timestamp) {
    incident.updated_at = at;
    incident.detail = detail.to_string();
    incident.occurrences += 1;
}

/// Marks an incident resolved with a resolution note and a timeline event.
pub async fn resolve_incident(
    store: &dyn Store,
    incident: &mut Incident,
    at: Timestamp,
    resolution: &str,
) -> anyhow::Result<()> {
    incident.status = IncidentStatus::Resolved;
    incident.resolved_at = Some(at);
    incident.updated_at = at;
    incident.resolution = Some(resolution.to_string());
    store.update_incident(incident, IncidentStatus::Open).await?;
    store.add_event(&incident.id, EntryKind::Resolved, resolution, json!({})).await?;
    Ok(())
}

/// How many times a write another writer overtook is tried again, each after looking again.
pub(crate) const LOOK_AGAIN: u32 = 3;

/// Whether `e` is the store's refusal of a write that another writer overtook (a conflict): the
/// caller looks again and retries.
pub(crate) fn moved_meanwhile(e: &anyhow::Error) -> bool {
    matches!(e.downcast_ref(), Some(StoreError::Conflict(_)))
}
