//! The alert webhooks (Alertmanager, Grafana, generic events) and the alerts kept from them.
//! A webhook authenticates itself here, not in the guard: its source's own credential (bearer
//! or basic) or the API token; with no credential configured anywhere it is open, like the rest.

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use obsctl_core::alert::{AlertDelivery, AlertRecord, AlertSource};
use obsctl_core::metrics::WebhookLabels;
use obsctl_engine::alerts::{IntakeError, IntakeReport, WireError};
use obsctl_store::AlertFilter;

use super::views::{AlertQuery, Limit, LimitQuery};
use crate::error::ErrorCode;
use crate::extract::Query;
use crate::sender::{Sender, authorized};
use crate::{ApiError, AppState};

/// Where the webhooks live; the guard leaves their credentials to `authorized`.
pub(crate) const WEBHOOK_PREFIX: &str = "/api/v1/alerts/";

pub async fn alertmanager(State(s): State<AppState>, headers: HeaderMap, body: Body) -> Response {
    receive(s, AlertSource::Alertmanager, headers, body).await
}

pub async fn grafana(State(s): State<AppState>, headers: HeaderMap, body: Body) -> Response {
    receive(s, AlertSource::Grafana, headers, body).await
}

pub async fn generic(State(s): State<AppState>, headers: HeaderMap, body: Body) -> Response {
    receive(s, AlertSource::Generic, headers, body).await
}

pub async fn list(State(s): State<AppState>, Query(q): Query<AlertQuery>) -> Result<Json<Vec<AlertRecord>>, ApiError> {
    let filter = AlertFilter { status: q.status, source: q.source, service: q.service, limit: Limit::or(q.limit, 100) };
    Ok(Json(s.store.list_alerts(&filter).await?))
}

pub async fn deliveries(
    State(s): State<AppState>,
    Query(q): Query<LimitQuery>,
) -> Result<Json<Vec<AlertDelivery>>, ApiError> {
    Ok(Json(s.store.alert_deliveries(Limit::or(q.limit, 100)).await?))
}

async fn receive(s: AppState, source: AlertSource, headers: HeaderMap, body: Body) -> Response {
    let response = match take(&s, source, &headers, body).await {
        Ok(report) => Json(report).into_response(),
        Err(e) => e.into_response(),
    };
    let labels = WebhookLabels { source: source.as_str().into(), status: response.status().as_u16() };
    obsctl_core::metrics::metrics().webhook_requests.get_or_create(&labels).inc();
    response
}

async fn take(s: &AppState, source: AlertSource, headers: &HeaderMap, body: Body) -> Result<IntakeReport, ApiError> {
    let section = format!("alerts.{}", source.as_str());
    let what = format!("the {} webhook", source.as_str());
    let sender = Sender {
        own: s.config.alerts.auth.get(&source).cloned(),
        section: &section,
        what: &what,
        family_configured: !s.config.alerts.auth.is_empty(),
    };
    authorized(&s.config, &sender, headers)?;
    let Some(_slot) = s.alerts.admit(source) else {
        return Err(ApiError::new(
            ErrorCode::TooManyRequests,
            format!("{} already has [alerts] max_in_flight requests being handled; retry", source.as_str()),
        )
        .with_header(header::RETRY_AFTER, "1"));
    };
    let max = s.config.alerts.max_body;
    let bytes = axum::body::to_bytes(body, max).await.map_err(|_| {
        ApiError::new(
            ErrorCode::PayloadTooLarge,
            format!(
                "the body is over [alerts] max_body ({max} bytes); lower the sender's max_alerts or raise max_body"
            ),
        )
    })?;
    s.alerts.ingest(source, &bytes).await.map_err(|e| match e {
        IntakeError::Wire(WireError::Json(m)) => ApiError::new(ErrorCode::InvalidJson, m),
        IntakeError::Wire(WireError::Version(m)) => ApiError::new(ErrorCode::UnsupportedVersion, m),
        IntakeError::Wire(WireError::Invalid(m)) => ApiError::new(ErrorCode::InvalidAlert, m),
        IntakeError::Internal(e) => ApiError::internal(e),
    })
}
