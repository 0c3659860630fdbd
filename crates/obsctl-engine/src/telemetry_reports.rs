//! Telemetry reports from applications (`obsctl telemetry check --report`): each is kept as
//! its service's latest; a failing one opens (or counts on) the service's
//! `telemetry-misconfigured` incident through the same manager as a failing check, and the next
//! passing one resolves it. The verifier asks `status`: failing while the latest report fails.

use std::collections::HashSet;
use std::sync::{Arc, RwLock};

use obsctl_config::Config;
use obsctl_core::Timestamp;
use obsctl_core::event::Event;
use obsctl_core::incident::{IncidentStatus, fingerprint};
use obsctl_core::state::CheckStatus;
use obsctl_core::telemetry::Report;
use obsctl_core::telemetry::report::{MISCONFIGURED_KIND, check_id, parse_check_id};
use obsctl_store::{Store, StoreError};
use serde::Serialize;
use serde_json::json;
use tokio::sync::broadcast;

use crate::incidents::{IncidentManager, Signal, resolve_incident};

/// What taking a report did, as the endpoint answers it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct ReportOutcome {
    pub service: String,
    pub ok: bool,
    /// The service's telemetry incident this report opened, counted on or resolved.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub incident: Option<String>,
    /// `opened` (or counted on an open one), `resolved`, or `none`.
    pub change: &'static str,
}

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error(
        "{service:?} is not a configured service; reports are for: {known} (set the app's OTEL_SERVICE_NAME to one, or add a [[service]] named {service:?})"
    )]
    UnknownService { service: String, known: String },
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

pub struct ReportIntake {
    config: Arc<Config>,
    store: Arc<dyn Store>,
    incidents: IncidentManager,
    /// Services whose latest report fails.
    failing: RwLock<HashSet<String>>,
    /// One report at a time: each reads the service's incident, then writes it.
    turn: tokio::sync::Mutex<()>,
}

impl ReportIntake {
    /// The intake, knowing which services' latest reports failed.
    pub async fn open(
        config: Arc<Config>,
        store: Arc<dyn Store>,
        bus: broadcast::Sender<Event>,
    ) -> anyhow::Result<Self> {
        let failing = store.telemetry_reports().await?.into_iter().filter(|r| !r.ok).map(|r| r.service).collect();
        let incidents = IncidentManager::new(config.clone(), store.clone(), bus);
        Ok(Self { config, store, incidents, failing: RwLock::new(failing), turn: tokio::sync::Mutex::new(()) })
    }

    /// A telemetry incident's status as a check's: failing while the latest report fails.
    pub fn status(&self, check_id: &str) -> CheckStatus {
        match (parse_check_id(check_id), self.failing.read()) {
            (Some(service), Ok(failing)) if failing.contains(service) => CheckStatus::Failing,
            _ => CheckStatus::Ok,
        }
    }

    /// Keeps `report` and opens or resolves its service's incident.
    pub async fn take(&self, mut report: Report, now: Timestamp) -> Result<ReportOutcome, ReportError> {
        if self.config.service(&report.service).is_none() {
            let known: Vec<&str> = self.config.services.iter().map(|s| s.name.as_str()).collect();
            let known = if known.is_empty() { "none is configured".to_string() } else { known.join(", ") };
            return Err(ReportError::UnknownService { service: report.service, known });
        }
        report.recount();
        report.received_at = Some(now);
        let _turn = self.turn.lock().await;
        self.store.save_telemetry_report(&report).await.map_err(anyhow::Error::from)?;
        if let Ok(mut failing) = self.failing.write() {
            match report.ok {
                true => failing.remove(&report.service),
                false => failing.insert(report.service.clone()),
            };
        }
        let service = report.service.clone();
        let (incident, change) = match report.ok {
            false => (Some(self.raise(&report, now).await?), "opened"),
            true => match self.resolve(&service, now).await? {
                Some(id) => (Some(id), "resolved"),
                None => (None, "none"),
            },
        };
        Ok(ReportOutcome { service, ok: report.ok, incident, change })
    }

    async fn raise(&self, report: &Report, now: Timestamp) -> anyhow::Result<String> {
        let check = check_id(&report.service);
        let detail = report.summary();
        let codes: Vec<&str> = report.findings.iter().map(|f| f.code.as_str()).collect();
        let mut incident = self
            .incidents
            .raise(Signal {
                fingerprint: fingerprint(&report.service, &check, MISCONFIGURED_KIND),
                service: &report.service,
                check_id: &check,
                kind: MISCONFIGURED_KIND,
                title: format!("{}'s telemetry is misconfigured", report.service),
                detail: &detail,
                at: now,
                message: format!("telemetry check of {} ({}) failed: {detail}", report.service, report.source),
                data: json!({"check_id": check, "codes": codes, "source": report.source, "flow": report.flow}),
                flapping: false,
            })
            .await?;
        self.incidents.suppress_under_upstream(&mut incident).await?;
        Ok(incident.id)
    }

    /// Resolves the service's open telemetry incident, if any; its id.
    async fn resolve(&self, service: &str, now: Timestamp) -> anyhow::Result<Option<String>> {
        let fp = fingerprint(service, &check_id(service), MISCONFIGURED_KIND);
        let Some(mut open) = self.store.latest_incident_by_fingerprint(&fp).await? else { return Ok(None) };
        if open.status != IncidentStatus::Open {
            return Ok(None);
        }
        match resolve_incident(self.store.as_ref(), &mut open, now, "a telemetry check of this service passed").await {
            Ok(()) => {}
            // Resolved by hand meanwhile.
            Err(e) if matches!(e.downcast_ref::<StoreError>(), Some(StoreError::Conflict(_))) => return Ok(None),
            Err(e) => return Err(e),
        }
        tracing::info!(incident = %open.id, %service, "telemetry incident resolved by a passing report");
        self.incidents.announce(Event::IncidentResolved { incident_id: open.id.clone() });
        Ok(Some(open.id))
    }
}
