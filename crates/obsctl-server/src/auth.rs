//! Access to the JSON API. Every request passes `guard` first: its `Host` must be one this
//! server answers to (a DNS-rebinding page cannot reach a loopback obsctl), and once any
//! credential is configured every `/api/` request needs the bearer token or a dashboard
//! session, reads included. Mutations take an `ApiOperator`: the bearer token, never a cookie.

use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use obsctl_config::ServerConfig;
use subtle::ConstantTimeEq;

use crate::error::ErrorCode;
use crate::{ApiError, AppState};

/// Compares in constant time, so timing does not leak a token.
pub(crate) fn same(a: &[u8], b: &[u8]) -> bool {
    a.ct_eq(b).into()
}

/// The bearer token the request carries, if any.
pub(crate) fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
}

fn token_matches(server: &ServerConfig, given: &str) -> bool {
    server.token.as_ref().is_some_and(|t| same(given.as_bytes(), t.expose().as_bytes()))
}

/// The host part of a `Host` header value: `[::1]:5555` → `::1`, `example.org:80` → `example.org`.
fn host_name(value: &str) -> &str {
    if let Some(rest) = value.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    value.rsplit_once(':').filter(|(_, port)| port.chars().all(|c| c.is_ascii_digit())).map_or(value, |(h, _)| h)
}

/// Whether this server answers to `host`. Bound to loopback it answers only to loopback names
/// and `[server] allowed_hosts`; bound elsewhere, to any name unless `allowed_hosts` is set.
pub(crate) fn host_allowed(server: &ServerConfig, host: &str) -> bool {
    let name = host_name(host).to_ascii_lowercase();
    if server.allowed_hosts.iter().any(|h| h.eq_ignore_ascii_case(&name)) {
        return true;
    }
    let loopback_name = name == "localhost" || name.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback());
    let listen = host_name(&server.listen);
    let bound_to_loopback =
        listen == "localhost" || listen.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback());
    if bound_to_loopback || !server.allowed_hosts.is_empty() { loopback_name || name == listen } else { true }
}

/// Runs before every handler: the Host check, then credentials for `/api/`.
pub(crate) async fn guard(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let server = &state.config.server;
    if let Some(host) = request.headers().get(header::HOST) {
        let host = host.to_str().unwrap_or("");
        if !host_allowed(server, host) {
            return ApiError::new(
                ErrorCode::HostNotAllowed,
                format!("this obsctl does not answer to host {host:?}; add it to [server] allowed_hosts"),
            )
            .into_response();
        }
    }
    // Senders (webhooks, apps' reports) check their own credential (or the API token) in
    // their handler; a canary's sightings are read with the API token or the app's.
    let path = request.uri().path();
    let sender = path.starts_with(crate::api::alerts::WEBHOOK_PREFIX) || path == crate::api::telemetry::REPORTS_PATH;
    let canary = path.starts_with(crate::api::telemetry::CANARIES_PREFIX);
    let api = path.starts_with("/api/") || path == "/metrics";
    if api && server.has_credentials() && !sender {
        let app_token = |t: &str| {
            let own = state.config.telemetry.token.as_ref();
            canary && own.is_some_and(|own| same(t.as_bytes(), own.expose().as_bytes()))
        };
        // An edge's sync token opens memory sync and nothing else.
        let peer_token = |t: &str| path.starts_with(SYNC_PREFIX) && sync_peer(&state.config, t).is_some();
        let by_token = bearer(request.headers()).map(|t| token_matches(server, t) || app_token(t) || peer_token(t));
        let by_session = crate::dashboard::signed_in(request.headers(), &state);
        match by_token {
            Some(true) => {}
            Some(false) => {
                return ApiError::new(ErrorCode::Unauthorized, "the bearer token is not valid").into_response();
            }
            None if by_session => {}
            None => {
                return ApiError::new(
                    ErrorCode::Unauthorized,
                    "this endpoint needs Authorization: Bearer <token> (or a dashboard session)",
                )
                .into_response();
            }
        }
    }
    next.run(request).await
}

/// Where memory sync's push and pull live (an edge's `[[memory.peer]]` token opens these only).
pub(crate) const SYNC_PREFIX: &str = "/api/memory/sync/";

/// The `[[memory.peer]]` whose token `given` is, if any.
pub(crate) fn sync_peer<'a>(config: &'a obsctl_config::Config, given: &str) -> Option<&'a str> {
    config
        .memory_peers
        .iter()
        .find(|p| same(given.as_bytes(), p.token.expose().as_bytes()))
        .map(|p| p.instance.as_str())
}

/// Who pushes episodes to this central: an edge by its own sync token (it may push only under
/// its own name), or an operator with the API token (under any name but the central's).
pub enum SyncSender {
    Peer(String),
    Operator,
}

impl FromRequestParts<AppState> for SyncSender {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        if let Some(instance) = bearer(&parts.headers).and_then(|t| sync_peer(&state.config, t)) {
            return Ok(SyncSender::Peer(instance.to_string()));
        }
        ApiOperator::from_request_parts(parts, state).await.map(|_| SyncSender::Operator)
    }
}

/// Proof that the request carried the configured API token. Mutating API handlers take one; a
/// session cookie is not enough, so a cross-site form can never mutate through the API.
pub struct ApiOperator {
    /// Who to write in the audit log.
    pub name: String,
}

impl FromRequestParts<AppState> for ApiOperator {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        if state.config.server.token.is_none() {
            return Err(ApiError::new(
                ErrorCode::AuthNotConfigured,
                "mutations are disabled until a token is set: set OBSCTL_API_TOKEN or [server] token",
            ));
        }
        match bearer(&parts.headers) {
            Some(given) if token_matches(&state.config.server, given) => Ok(ApiOperator { name: "api".into() }),
            Some(_) => Err(ApiError::new(ErrorCode::Unauthorized, "the bearer token is not valid")),
            None => Err(ApiError::new(ErrorCode::Unauthorized, "this endpoint needs Authorization: Bearer <token>")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server(listen: &str, allowed: &[&str]) -> ServerConfig {
        ServerConfig {
            listen: listen.into(),
            allowed_hosts: allowed.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        }
    }

    #[test]
    fn host_check() {
        let cases = [
            ("127.0.0.1:5555", &[][..], "127.0.0.1:5555", true),
            ("127.0.0.1:5555", &[], "localhost:5555", true),
            ("127.0.0.1:5555", &[], "[::1]:5555", true),
            ("127.0.0.1:5555", &[], "LOCALHOST", true),
            // A rebinding page's own name on a loopback server.
            ("127.0.0.1:5555", &[], "attacker.example:5555", false),
            ("127.0.0.1:5555", &[], "127.0.0.1.attacker.example", false),
            ("127.0.0.1:5555", &["obsctl.internal"], "obsctl.internal:5555", true),
            ("0.0.0.0:5555", &[], "anything.example", true),
            ("0.0.0.0:5555", &["obsctl.corp"], "anything.example", false),
            ("0.0.0.0:5555", &["obsctl.corp"], "obsctl.corp", true),
        ];
        for (listen, allowed, host, expected) in cases {
            assert_eq!(host_allowed(&server(listen, allowed), host), expected, "{listen} {allowed:?} {host}");
        }
    }
}
