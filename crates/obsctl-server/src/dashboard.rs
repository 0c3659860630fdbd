//! The dashboard: server-rendered pages (askama) with htmx and Server-Sent Events for live
//! updates, under `/ui`. Handlers are `view_<page>_<method>`; each page has a template, and what
//! htmx swaps has a `_partial` template. Controls go through the same agent calls as the API.

mod assets;
mod cards;
mod charts;
mod controls;
mod events;
mod live;
mod login;
mod pages;
mod resources;
mod session;

use std::sync::Arc;

use askama::Template;
use axum::Router;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use obsctl_core::config::Role;

pub use live::Live;
pub use resources::{INTERVAL as RESOURCE_INTERVAL, Resources};
pub use session::{Sessions, hash_password};

use crate::AppState;
use session::Session;

/// The dashboard's own state: sessions, live latencies and pushes, resource history.
#[derive(Default)]
pub struct Ui {
    pub sessions: Sessions,
    pub live: Arc<Live>,
    pub resources: Arc<Resources>,
}

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/ui", get(|| async { Redirect::to("/ui/overview") }))
        .route("/ui/login", get(login::view_login_get).post(login::view_login_post))
        .route("/ui/logout", post(login::view_logout_post))
        .route("/ui/assets/{name}", get(assets::view_asset_get))
        .route("/ui/events", get(events::view_events_get))
        .route("/ui/overview", get(pages::overview::view_overview_get))
        .route("/ui/overview/grid", get(pages::overview::view_overview_grid_get))
        .route("/ui/services/{name}", get(pages::service::view_service_get))
        .route("/ui/incidents", get(pages::incidents::view_incidents_get))
        .route("/ui/incidents/list", get(pages::incidents::view_incidents_list_get))
        .route("/ui/incidents/{id}", get(pages::incidents::view_incident_get))
        .route("/ui/approvals", get(pages::approvals::view_approvals_get))
        .route("/ui/approvals/list", get(pages::approvals::view_approvals_list_get))
        .route("/ui/history", get(pages::history::view_history_get))
        .route("/ui/memory", get(pages::memory::view_memory_get))
        .route("/ui/resources", get(pages::resources::view_resources_get))
        .route("/ui/audit", get(pages::audit::view_audit_get))
        .route("/ui/config", get(pages::config::view_config_get))
        .route("/ui/checks/{service}/{name}/run", post(controls::view_run_check_post))
        .route("/ui/actions/{id}/approve", post(controls::view_approve_post))
        .route("/ui/actions/{id}/reject", post(controls::view_reject_post))
        .route("/ui/incidents/{id}/resolve", post(controls::view_resolve_post))
        .route("/ui/silences", post(controls::view_silence_post))
}

/// What every page's frame shows: navigation, who is signed in, and the CSRF token htmx sends.
pub struct Chrome {
    pub user: String,
    pub role: &'static str,
    pub csrf: String,
    pub active: &'static str,
    pub signed_in: bool,
    pub can_log_in: bool,
    pub operator: bool,
}

const NAV: [(&str, &str); 8] = [
    ("/ui/overview", "Overview"),
    ("/ui/incidents", "Incidents"),
    ("/ui/approvals", "Approvals"),
    ("/ui/history", "Fix history"),
    ("/ui/memory", "Memory"),
    ("/ui/resources", "Resources"),
    ("/ui/audit", "Audit"),
    ("/ui/config", "Config"),
];

impl Chrome {
    pub fn new(state: &AppState, session: &Session, active: &'static str) -> Self {
        Chrome {
            user: session.user.clone(),
            role: session.role.as_str(),
            csrf: session.csrf.clone(),
            active,
            signed_in: !session.csrf.is_empty(),
            can_log_in: state.config.server.has_credentials(),
            operator: session.role == Role::Operator,
        }
    }

    pub fn nav(&self) -> &'static [(&'static str, &'static str)] {
        &NAV
    }
}

/// Renders a template into a response; a rendering failure is a 500, logged once.
pub fn render(template: &impl Template) -> Response {
    match template.render() {
        Ok(html) => Html(html).into_response(),
        Err(error) => {
            tracing::error!(%error, "dashboard template failed to render");
            (StatusCode::INTERNAL_SERVER_ERROR, "the page failed to render; see the server log").into_response()
        }
    }
}

/// A store error on a page: logged, and shown as a short message.
pub fn failed(error: impl std::fmt::Display) -> Response {
    tracing::error!(%error, "dashboard page failed");
    (StatusCode::INTERNAL_SERVER_ERROR, "the page could not be built; see the server log").into_response()
}
