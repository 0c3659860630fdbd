//! Every HTTP surface of obsctl: the JSON API (with its generated OpenAPI document), the
//! dashboard and health, behind one request guard.
//!
//! Architecture invariant: only this crate knows HTTP. Handlers call the same agent and
//! monitor methods the CLI calls, so a control behaves the same from every surface.

mod api;
mod auth;
pub mod dashboard;
mod deadline;
mod error;
mod extract;
mod listener;
pub mod mcp;
mod openapi;
mod routing;
mod sender;

use std::sync::Arc;

use axum::Router;
use obsctl_agent::{Agent, ToolRegistry};
use obsctl_config::Config;
use obsctl_engine::Monitor;
use obsctl_store::{GraphMirror, GraphStore, Store};

use crate::error::ErrorCode;
pub use error::ApiError;
use routing::Routes;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub store: Arc<dyn Store>,
    /// The fix-history graph: the store itself, or the Bolt mirror of it.
    pub graph: Arc<dyn GraphStore>,
    pub mirror: Option<Arc<GraphMirror>>,
    pub monitor: Arc<Monitor>,
    pub alerts: Arc<obsctl_engine::alerts::AlertIntake>,
    /// What applications send to the OTLP receiver (`[telemetry] receiver`).
    pub arrivals: Arc<obsctl_engine::otlp::Arrivals>,
    /// Applications' telemetry reports.
    pub reports: Arc<obsctl_engine::telemetry_reports::ReportIntake>,
    /// The dashboard's sessions, live pushes and resource history.
    pub ui: Arc<dashboard::Ui>,
    pub agent: Arc<Agent>,
    pub registry: Arc<ToolRegistry>,
    /// External MCP servers and their state.
    pub mcp_servers: Arc<obsctl_agent::mcp_client::McpServers>,
    /// Memory sync with a central, when `[memory.sync]` is on.
    pub memory_sync: Option<Arc<obsctl_agent::memory_sync::MemorySync>>,
}

/// Every route of the HTTP surface, recorded as it is built; with a state, the OpenAPI
/// document is narrowed to its registry and config.
fn routes(state: Option<&AppState>) -> Routes {
    let (api, mut doc) = api::routes().finish();
    if let Some(state) = state {
        openapi::specialize(&mut doc, state);
    }
    let doc = Arc::new(doc);
    api.get("/api/openapi.json", move || openapi::serve(doc.clone()))
        .get("/healthz", || async { "ok" })
        .get("/metrics", metrics)
        // OTLP/HTTP's own paths, so an SDK's OTEL_EXPORTER_OTLP_ENDPOINT can point here.
        .post("/v1/traces", api::telemetry::traces)
        .post("/v1/logs", api::telemetry::logs)
        .post("/v1/metrics", api::telemetry::metrics)
        .get("/", || async { axum::response::Redirect::to("/ui/overview") })
        .merge(dashboard::routes())
}

/// obsctl's own metrics (OpenMetrics text), the open-incident gauge read from the store first.
async fn metrics(axum::extract::State(s): axum::extract::State<AppState>) -> axum::response::Response {
    use axum::response::IntoResponse;
    let open = obsctl_store::IncidentFilter {
        status: Some(obsctl_core::incident::IncidentStatus::Open),
        limit: 10_000,
        ..Default::default()
    };
    let m = obsctl_core::metrics::metrics();
    match s.store.list_incidents(&open).await {
        Ok(list) => {
            m.incidents_open.set(list.len() as i64);
        }
        Err(error) => tracing::warn!(%error, "/metrics: could not count open incidents"),
    }
    let content_type = "application/openmetrics-text; version=1.0.0; charset=utf-8";
    ([(axum::http::header::CONTENT_TYPE, content_type)], m.encode()).into_response()
}

/// The whole HTTP surface; the server and the tests share it. Every request passes
/// `auth::guard` (Host check; credentials for `/api/`) before its handler, and a read has
/// `deadline::READ_DEADLINE` to answer.
pub fn router(state: AppState) -> Router {
    let (routes, _) = routes(Some(&state)).into_parts();
    routes
        .fallback(|| async { ApiError::not_found("no such endpoint; see /api/openapi.json") })
        .method_not_allowed_fallback(|| async {
            ApiError::new(ErrorCode::MethodNotAllowed, "this endpoint does not take that method")
        })
        .layer(axum::middleware::from_fn_with_state(state.clone(), auth::guard))
        .layer(axum::middleware::from_fn_with_state(deadline::READ_DEADLINE, deadline::bound_reads))
        // A span per request (method, path, status, latency) at debug level: `OBSCTL_LOG=tower_http=debug`.
        .layer(tower_http::trace::TraceLayer::new_for_http())
        .with_state(state)
}

/// Every (method, path) the router serves, in registration order: what the auth matrix walks.
pub fn route_table() -> Vec<(axum::http::Method, &'static str)> {
    routes(None).into_parts().1
}

pub use listener::{HEADER_READ_TIMEOUT, Limits, MAX_CONNECTIONS, serve, serve_with};
