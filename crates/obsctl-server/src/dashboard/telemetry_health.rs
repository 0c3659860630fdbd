//! A service's telemetry health on its page: its app's last telemetry report (the rules'
//! findings, the canary's hops) and what it last sent to obsctl's OTLP receiver, per signal.

use obsctl_core::Timestamp;
use obsctl_core::check::TelemetrySignal;
use obsctl_core::telemetry::Report;

use crate::AppState;

/// One signal's last arrival at the receiver, in words.
pub struct Arrival {
    pub signal: &'static str,
    pub last_at: Option<Timestamp>,
    pub items: u64,
}

pub struct TelemetryHealth {
    pub report: Option<Report>,
    /// Per signal, when the receiver is on.
    pub arrivals: Option<Vec<Arrival>>,
    /// Whether any service has reported: a team that uses reports is told of a service without one.
    pub reports_in_use: bool,
}

impl TelemetryHealth {
    /// Whether the service page has anything to say of telemetry (a page of a setup that uses
    /// neither reports nor the receiver does not nag about them).
    pub fn shown(&self) -> bool {
        self.report.is_some() || self.arrivals.is_some() || self.reports_in_use
    }
}

/// `service`'s telemetry health.
pub async fn load(s: &AppState, service: &str) -> Result<TelemetryHealth, obsctl_store::StoreError> {
    let reports = s.store.telemetry_reports().await?;
    let reports_in_use = !reports.is_empty();
    let report = reports.into_iter().find(|r| r.service == service);
    let arrivals = s.config.telemetry.receiver.then(|| {
        let seen = s.arrivals.service(service).unwrap_or_default();
        [TelemetrySignal::Traces, TelemetrySignal::Logs, TelemetrySignal::Metrics]
            .into_iter()
            .map(|signal| {
                let got = seen.get(signal);
                Arrival { signal: signal.as_str(), last_at: got.map(|a| a.last_at), items: got.map_or(0, |a| a.items) }
            })
            .collect()
    });
    Ok(TelemetryHealth { report, arrivals, reports_in_use })
}
