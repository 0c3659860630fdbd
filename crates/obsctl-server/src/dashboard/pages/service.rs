//! Service detail: its checks with uptime, results and response-time percentiles over a range
//! chosen in the URL (run now), its telemetry health, its incidents, what it depends on and
//! what depends on it, and the runbooks that apply to it.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use obsctl_core::incident::Incident;
use obsctl_core::state::CheckStatus;
use obsctl_store::IncidentFilter;

use crate::AppState;
use crate::dashboard::charts;
use crate::dashboard::check_history::{self, CheckHistory, RANGES, Range};
use crate::dashboard::containers::{self, ContainerRow};
use crate::dashboard::session::Viewer;
use crate::dashboard::telemetry_health::{self, TelemetryHealth};
use crate::dashboard::when::{self, Lasting, Readable, ago};
use crate::dashboard::{Chrome, failed, render};

struct CheckRow {
    id: String,
    name: String,
    kind: &'static str,
    interval: String,
    status: &'static str,
    last: String,
    detail: String,
    history: CheckHistory,
    /// One class per observation, oldest first: `b-ok` (▆), `b-bad` (▁), `b-unknown` (could not look).
    strip: Vec<&'static str>,
}

#[derive(Template)]
#[template(path = "service.html")]
struct ServicePage {
    chrome: Chrome,
    name: String,
    checks: Vec<CheckRow>,
    incidents: Vec<Incident>,
    depends_on: Vec<String>,
    dependents: Vec<(String, u32)>,
    runbooks: Vec<(String, String)>,
    /// The containers its docker checks watch, or why they cannot be shown.
    containers: Option<Result<Vec<ContainerRow>, String>>,
    /// The history's range (24 h, 7 d, 30 d), chosen in the URL (`?range=7d`).
    range: Range,
    ranges: [Range; 3],
    /// Its app's last telemetry report and what reached the OTLP receiver.
    telemetry: TelemetryHealth,
}

#[derive(serde::Deserialize)]
pub struct Chosen {
    range: Option<String>,
}

impl ServicePage {
    fn windows(&self) -> &'static [(&'static str, i64)] {
        &obsctl_core::rollup::WINDOWS
    }
}

pub async fn view_service_get(
    State(s): State<AppState>,
    Viewer(session): Viewer,
    Path(name): Path<String>,
    Query(chosen): Query<Chosen>,
) -> Response {
    let range = Range::named(chosen.range.as_deref());
    let Some(service) = s.config.service(&name) else {
        return (StatusCode::NOT_FOUND, format!("no service {name:?}")).into_response();
    };
    let statuses = s.monitor.statuses();
    let now = obsctl_core::Timestamp::now();
    let mut checks = Vec::new();
    for spec in s.config.checks.iter().filter(|c| c.service == name) {
        let recent = match s.store.recent_observations(&spec.id, 120).await {
            Ok(r) => r,
            Err(e) => return failed(e),
        };
        let mut history = match check_history::load(s.store.as_ref(), &spec.id, range, now).await {
            Ok(h) => h,
            Err(e) => return failed(e),
        };
        // A young check (runs in one segment only) has no percentiles over time yet: its last
        // results' latency, so a new service shows a chart from its second run.
        let latencies: Vec<f64> =
            recent.iter().rev().filter(|o| !o.unknown).map(|o| o.latency_us as f64 / 1000.0).collect();
        if history.chart.is_empty() && latencies.len() >= 2 {
            let label = format!("latency of the last {} results", latencies.len());
            history.chart = charts::line_chart(&[("p50", &latencies)], "ms", &label, None);
            history.chart_caption = label;
        }
        checks.push(CheckRow {
            id: spec.id.clone(),
            name: spec.name.clone(),
            kind: spec.probe.kind(),
            interval: when::duration(spec.interval),
            status: statuses.get(&spec.id).copied().unwrap_or(CheckStatus::Unknown).as_str(),
            last: recent.first().map(|o| ago(now, o.at)).unwrap_or_else(|| "never".into()),
            detail: recent.first().map(|o| o.detail.clone()).unwrap_or_default(),
            history,
            strip: recent
                .iter()
                .rev()
                .map(|o| match (o.ok, o.unknown) {
                    (true, _) => "b-ok",
                    (false, true) => "b-unknown",
                    (false, false) => "b-bad",
                })
                .collect(),
        });
    }
    let filter = IncidentFilter { service: Some(name.clone()), limit: 20, ..Default::default() };
    let incidents = match s.store.list_incidents(&filter).await {
        Ok(i) => i,
        Err(e) => return failed(e),
    };
    let dependents = match s.graph.blast_radius(&name).await {
        Ok(r) => r.into_iter().map(|r| (r.service, r.depth)).collect(),
        Err(e) => return failed(e),
    };
    let runbooks = s
        .config
        .runbooks
        .iter()
        .filter(|r| r.when.service.as_deref().is_none_or(|x| x == name))
        .map(|r| {
            let steps = r.steps.iter().map(|st| st.tool.as_str()).collect::<Vec<_>>().join(" → ");
            (format!("{} (when {})", r.name, r.when.incident.as_deref().unwrap_or("any incident")), steps)
        })
        .collect();
    let telemetry = match telemetry_health::load(&s, &name).await {
        Ok(t) => t,
        Err(e) => return failed(e),
    };
    let page = ServicePage {
        chrome: Chrome::new(&s, &session, "Overview"),
        name: name.clone(),
        checks,
        incidents,
        depends_on: service.depends_on.clone(),
        dependents,
        runbooks,
        containers: containers::for_service(&s, &name).await,
        range,
        ranges: RANGES,
        telemetry,
    };
    render(&page)
}
