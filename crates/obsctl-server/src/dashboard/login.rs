//! The login form and logout. A login checks a `[[dashboard.user]]` password (argon2) or the API
//! token, then starts a session cookie.

use askama::Template;
use std::net::SocketAddr;

use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Extension, Form};
use serde::Deserialize;

use super::render;
use super::session;
use super::throttle::Refused;
use crate::AppState;

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    error: Option<&'static str>,
    configured: bool,
}

#[derive(Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    user: String,
    password: String,
}

#[derive(Deserialize)]
pub struct LogoutForm {
    #[serde(default)]
    _csrf: String,
}

pub async fn view_login_get(State(s): State<AppState>) -> Response {
    render(&LoginPage { error: None, configured: s.config.server.has_credentials() })
}

/// The client's address, as the listener saw it (absent when the router is called directly).
type Peer = Option<Extension<ConnectInfo<SocketAddr>>>;

pub async fn view_login_post(
    State(s): State<AppState>,
    peer: Peer,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Response {
    if !same_origin(&headers) {
        return (StatusCode::FORBIDDEN, "cross-site login refused").into_response();
    }
    let user = form.user.trim().to_string();
    let peer = peer.map(|Extension(ConnectInfo(addr))| addr.ip());
    let permit = match s.ui.logins.admit(&user, peer) {
        Ok(permit) => permit,
        Err(refused) => {
            tracing::warn!(user, ?peer, ?refused, "dashboard login throttled");
            let retry_after = refused.retry_after();
            let wait = match refused {
                Refused::NameLockedOut(_) => {
                    format!("too many failed logins for this name; try again in {retry_after}s")
                }
                Refused::PeerLockedOut(_) => {
                    format!("too many failed logins from your address; try again in {retry_after}s")
                }
                Refused::Busy => "too many logins at once; try again in a moment".to_string(),
            };
            return (StatusCode::TOO_MANY_REQUESTS, [(header::RETRY_AFTER, retry_after.to_string())], wait)
                .into_response();
        }
    };
    let (config, name, password) = (s.config.clone(), user.clone(), form.password);
    let checked = tokio::task::spawn_blocking(move || {
        let _permit = permit;
        session::authenticate(&config.server, &name, &password)
    })
    .await
    .ok()
    .flatten();
    s.ui.logins.record(&user, peer, checked.is_some());
    match checked {
        Some((user, role)) => {
            let id = s.ui.sessions.create(&user, role);
            tracing::info!(user, role = role.as_str(), "dashboard login");
            ([(header::SET_COOKIE, session::set_cookie(Some(&id)))], Redirect::to("/ui/overview")).into_response()
        }
        None => {
            tracing::warn!(user, "dashboard login refused");
            let page =
                LoginPage { error: Some("wrong user or password"), configured: s.config.server.has_credentials() };
            (StatusCode::UNAUTHORIZED, render(&page)).into_response()
        }
    }
}

pub async fn view_logout_post(State(s): State<AppState>, headers: HeaderMap, Form(form): Form<LogoutForm>) -> Response {
    if let Some(id) = session::cookie(&headers)
        && let Some(current) = s.ui.sessions.get(id)
    {
        if !session::same(form._csrf.as_bytes(), current.csrf.as_bytes()) {
            return (StatusCode::FORBIDDEN, "missing or wrong CSRF token").into_response();
        }
        s.ui.sessions.remove(id);
    }
    ([(header::SET_COOKIE, session::set_cookie(None))], Redirect::to("/ui/login")).into_response()
}

/// A browser's cross-site POST carries an `Origin` naming the other site: refuse it. Requests
/// without one (curl, scripts) carry no ambient cookie to abuse.
fn same_origin(headers: &HeaderMap) -> bool {
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
    match (headers.get(header::ORIGIN).and_then(|o| o.to_str().ok()), host) {
        (None, _) => true,
        (Some(origin), Some(host)) => origin.split("://").nth(1) == Some(host),
        (Some(_), None) => false,
    }
}
