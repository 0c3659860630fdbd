//! The dashboard: server-rendered pages (askama) with htmx and Server-Sent Events for live
//! updates, under `/ui`. Handlers are `view_<page>_<method>`; each page has a template, and what
//! htmx swaps has a `_partial` template. Controls go through the same agent calls as the API.

mod assets;
mod cards;
mod charts;
mod check_history;
mod containers;
mod controls;
mod events;
mod graph_picture;
mod kept;
mod live;
mod login;
mod pages;
mod resources;
mod session;
mod step_words;
mod telemetry_health;
mod throttle;
mod uptime;
mod when;

use std::sync::Arc;

use askama::Template;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use obsctl_config::Role;

pub use assets::stylesheet;
pub use live::Live;
pub use pages::status::warm as warm_status_page;
pub use resources::{INTERVAL as RESOURCE_INTERVAL, Resources};
pub use session::{Sessions, hash_password};

use crate::AppState;
use crate::routing::Routes;
use session::Session;

/// The dashboard's own state: sessions, live latencies and pushes, resource history.
#[derive(Default)]
pub struct Ui {
    pub sessions: Sessions,
    pub logins: throttle::Throttle,
    pub live: Arc<Live>,
    pub resources: Arc<Resources>,
    /// Uptime sums for the status page, read at most once a minute.
    pub uptimes: Arc<kept::Kept<uptime::Snapshot>>,
    /// The public status page as last rendered (anyone may ask for it, as often as they like).
    pub status_page: Arc<kept::Kept<axum::body::Bytes>>,
}

pub(crate) fn routes() -> Routes {
    Routes::default()
        .get("/ui", || async { Redirect::to("/ui/overview") })
        .get("/status", pages::status::view_status_get)
        .get("/ui/login", login::view_login_get)
        .post("/ui/login", login::view_login_post)
        .post("/ui/logout", login::view_logout_post)
        .get("/ui/assets/{name}", assets::view_asset_get)
        .get("/ui/events", events::view_events_get)
        .get("/ui/overview", pages::overview::view_overview_get)
        .get("/ui/overview/grid", pages::overview::view_overview_grid_get)
        .get("/ui/services/{name}", pages::service::view_service_get)
        .get("/ui/incidents", pages::incidents::view_incidents_get)
        .get("/ui/incidents/list", pages::incidents::view_incidents_list_get)
        .get("/ui/incidents/{id}", pages::incidents::view_incident_get)
        .get("/ui/approvals", pages::approvals::view_approvals_get)
        .get("/ui/approvals/list", pages::approvals::view_approvals_list_get)
        .get("/ui/history", pages::history::view_history_get)
        .get("/ui/graph", pages::graph::view_graph_get)
        .get("/ui/memory", pages::memory::view_memory_get)
        .get("/ui/resources", pages::resources::view_resources_get)
        .get("/ui/audit", pages::audit::view_audit_get)
        .get("/ui/config", pages::config::view_config_get)
        .post("/ui/checks/{service}/{name}/run", controls::view_run_check_post)
        .post("/ui/actions/{id}/approve", controls::view_approve_post)
        .post("/ui/actions/{id}/reject", controls::view_reject_post)
        .post("/ui/incidents/{id}/resolve", controls::view_resolve_post)
        .post("/ui/silences", controls::view_silence_post)
}

/// Whether the request carries a live dashboard session (any role).
pub(crate) fn signed_in(headers: &axum::http::HeaderMap, state: &AppState) -> bool {
    session::cookie(headers).is_some_and(|id| state.ui.sessions.get(id).is_some())
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

const NAV: [(&str, &str); 9] = [
    ("/ui/overview", "Overview"),
    ("/ui/incidents", "Incidents"),
    ("/ui/approvals", "Approvals"),
    ("/ui/graph", "Graph"),
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

/// Renders a template into a response; a rendering failure is a 500, logged once. Pages are
/// never stored: they show what a login may see, and a page kept in the browser's back-forward
/// cache would keep its live stream open, and six of those use up the browser's connections to
/// this server (the next page then hangs for a minute).
pub fn render(template: &impl Template) -> Response {
    match template.render() {
        Ok(html) => ([(axum::http::header::CACHE_CONTROL, "no-store")], Html(html)).into_response(),
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
