//! Applications' telemetry: the OTLP/HTTP receiver (`/v1/traces`, `/v1/logs`, `/v1/metrics`,
//! where an SDK's `OTEL_EXPORTER_OTLP_ENDPOINT` points), the reports of `obsctl telemetry
//! check` (`POST /api/v1/telemetry-reports`), each service's telemetry health, and where a
//! canary was seen. Apps authenticate with `[telemetry] token` or the API token; a service
//! with a `telemetry_token` of its own takes reports only with that token (or the API token).

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use obsctl_config::AlertAuth;
use obsctl_core::Timestamp;
use obsctl_core::check::TelemetrySignal;
use obsctl_core::metrics::{OtlpLabels, SignalLabels};
use obsctl_core::telemetry::Report;
use obsctl_engine::otlp::{self, Encoding, ServiceArrivals, Sighting};
use obsctl_engine::telemetry_reports::{ReportError, ReportOutcome};
use schemars::JsonSchema;
use serde::Serialize;

use crate::error::ErrorCode;
use crate::sender::{Sender, authorized};
use crate::{ApiError, AppState};

/// Where reports are posted; it authenticates in its handler, as the receiver does.
pub(crate) const REPORTS_PATH: &str = "/api/v1/telemetry-reports";
/// Where a canary's sightings are read; the telemetry token reads it too.
pub(crate) const CANARIES_PREFIX: &str = "/api/v1/telemetry/canaries/";
/// The largest report taken (findings and a flow: a few KiB).
const MAX_REPORT: usize = 1 << 20;

/// One service's telemetry health: what it last sent to the receiver and its last report.
#[derive(Serialize, JsonSchema)]
pub struct ServiceTelemetry {
    pub service: String,
    /// Whether it is a configured service (an app may send under any `service.name`).
    pub configured: bool,
    pub arrivals: Option<ServiceArrivals>,
    pub report: Option<Report>,
}

/// An app sending telemetry or a report: the `[telemetry] token`, or the API token.
fn app(s: &AppState) -> Sender<'static> {
    Sender {
        own: s.config.telemetry.token.clone().map(AlertAuth::Bearer),
        section: "telemetry",
        what: "an app's telemetry",
        family_configured: false,
    }
}

/// `POST /v1/traces`.
pub async fn traces(State(s): State<AppState>, headers: HeaderMap, body: Body) -> Response {
    counted(&s, TelemetrySignal::Traces, &headers, body).await
}

/// `POST /v1/logs`.
pub async fn logs(State(s): State<AppState>, headers: HeaderMap, body: Body) -> Response {
    counted(&s, TelemetrySignal::Logs, &headers, body).await
}

/// `POST /v1/metrics`.
pub async fn metrics(State(s): State<AppState>, headers: HeaderMap, body: Body) -> Response {
    counted(&s, TelemetrySignal::Metrics, &headers, body).await
}

/// `receive`, counted in obsctl's metrics by signal and status.
async fn counted(s: &AppState, signal: TelemetrySignal, headers: &HeaderMap, body: Body) -> Response {
    let response = receive(s, signal, headers, body).await.unwrap_or_else(IntoResponse::into_response);
    let labels = OtlpLabels { signal: signal.as_str(), status: response.status().as_u16() };
    obsctl_core::metrics::metrics().otlp_requests.get_or_create(&labels).inc();
    response
}

/// Takes one OTLP/HTTP export request and records what it carried; answers as OTLP/HTTP does
/// (an empty export response in the request's encoding).
async fn receive(s: &AppState, signal: TelemetrySignal, headers: &HeaderMap, body: Body) -> Result<Response, ApiError> {
    authorized(&s.config, &app(s), headers)?;
    let telemetry = &s.config.telemetry;
    if !telemetry.receiver {
        return Err(ApiError::new(
            ErrorCode::ReceiverOff,
            "obsctl's OTLP receiver is off; set [telemetry] receiver = true to take OTLP/HTTP here",
        ));
    }
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    let Some(encoding) = Encoding::of_content_type(content_type) else {
        return Err(ApiError::new(
            ErrorCode::UnsupportedMediaType,
            format!("OTLP/HTTP takes Content-Type application/x-protobuf or application/json, not {content_type:?}"),
        ));
    };
    let gzip = match headers.get(header::CONTENT_ENCODING).map(|v| v.to_str().unwrap_or("?").trim()) {
        None | Some("identity") | Some("") => false,
        Some(e) if e.eq_ignore_ascii_case("gzip") => true,
        Some(other) => {
            return Err(ApiError::new(
                ErrorCode::UnsupportedEncoding,
                format!("Content-Encoding {other:?} is not taken; send gzip or nothing"),
            ));
        }
    };
    let bytes = axum::body::to_bytes(body, telemetry.max_body).await.map_err(|_| too_large(telemetry.max_body))?;
    let batches = otlp::decode(signal, encoding, gzip, &bytes, telemetry.max_body).map_err(|e| match e {
        otlp::DecodeError::TooLarge(max) => too_large(max),
        other => ApiError::new(ErrorCode::InvalidOtlp, other.to_string()),
    })?;
    let refused = s.arrivals.record(signal, &batches, Timestamp::now());
    if refused > 0 {
        tracing::warn!(
            refused,
            "the OTLP receiver already knows 10,000 services; telemetry of new ones is not recorded"
        );
    }
    let items: u64 = batches.iter().map(|b| b.items).sum();
    obsctl_core::metrics::metrics().otlp_items.get_or_create(&SignalLabels { signal: signal.as_str() }).inc_by(items);
    let body: &'static [u8] = match encoding {
        Encoding::Protobuf => b"",
        Encoding::Json => b"{}",
    };
    Ok(([(header::CONTENT_TYPE, encoding.content_type())], body).into_response())
}

fn too_large(max: usize) -> ApiError {
    ApiError::new(
        ErrorCode::PayloadTooLarge,
        format!("the body is over [telemetry] max_body ({max} bytes, after gzip); send smaller batches or raise it"),
    )
}

/// `POST /api/v1/telemetry-reports`: keeps the report; a failing one opens the service's
/// telemetry incident, a passing one resolves it.
pub async fn report(
    State(s): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<ReportOutcome>, ApiError> {
    // Some app's credential before the body is read; the service's own once it is known.
    let given = crate::auth::bearer(&headers);
    let any_app = s
        .config
        .services
        .iter()
        .filter_map(|svc| svc.telemetry_token.as_ref())
        .any(|t| given.is_some_and(|g| crate::auth::same(g.as_bytes(), t.expose().as_bytes())));
    if !any_app {
        authorized(&s.config, &app(&s), &headers)?;
    }
    let bytes = axum::body::to_bytes(body, MAX_REPORT)
        .await
        .map_err(|_| ApiError::new(ErrorCode::PayloadTooLarge, "a telemetry report is at most 1 MiB"))?;
    let report: Report = serde_json::from_slice(&bytes).map_err(|e| {
        ApiError::invalid(format!("the body is not a telemetry report (obsctl telemetry check --json prints one): {e}"))
    })?;
    let service = s.config.service(&report.service);
    let own = service.and_then(|svc| svc.telemetry_token.clone());
    let sender = match own {
        // A service with a token of its own hears from it (or the API token) alone.
        Some(token) => Sender {
            own: Some(AlertAuth::Bearer(token)),
            section: "service telemetry_token",
            what: "this service's telemetry report",
            family_configured: true,
        },
        None if any_app => {
            return Err(ApiError::new(
                ErrorCode::Unauthorized,
                format!(
                    "this token is another service's telemetry_token; it reports only for that service, not {:?}",
                    report.service
                ),
            ));
        }
        None => app(&s),
    };
    authorized(&s.config, &sender, &headers)?;
    s.reports.take(report, Timestamp::now()).await.map(Json).map_err(|e| match e {
        ReportError::UnknownService { .. } => ApiError::new(ErrorCode::UnknownService, e.to_string()),
        ReportError::Internal(e) => ApiError::internal(e),
    })
}

/// `GET /api/v1/telemetry`: every configured service's telemetry health, then any other
/// `service.name` that sent to the receiver.
pub async fn health(State(s): State<AppState>) -> Result<Json<Vec<ServiceTelemetry>>, ApiError> {
    let mut reports: std::collections::BTreeMap<String, Report> =
        s.store.telemetry_reports().await?.into_iter().map(|r| (r.service.clone(), r)).collect();
    let mut arrivals = s.arrivals.services();
    let mut out: Vec<ServiceTelemetry> = s
        .config
        .services
        .iter()
        .map(|svc| ServiceTelemetry {
            service: svc.name.clone(),
            configured: true,
            arrivals: arrivals.remove(&svc.name),
            report: reports.remove(&svc.name),
        })
        .collect();
    out.extend(arrivals.into_iter().map(|(service, a)| ServiceTelemetry {
        report: reports.remove(&service),
        service,
        configured: false,
        arrivals: Some(a),
    }));
    Ok(Json(out))
}

/// `GET /api/v1/telemetry/canaries/{id}`: where and when the receiver saw canary `id` (empty
/// until it arrives).
pub async fn canary(State(s): State<AppState>, Path(id): Path<String>) -> Json<Vec<Sighting>> {
    Json(s.arrivals.canary(&id))
}
