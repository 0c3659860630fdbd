//! The gateway over streamable HTTP: `/mcp` on `[mcp] listen`, served by the same listener as
//! the API (header deadline, connection cap). Every request passes `guard` first: its `Host`
//! must be one this gateway answers to (DNS rebinding), an `Origin` it sends must be one too, and
//! every request needs `Authorization: Bearer <token>` (the MCP token or the API token). With no
//! token configured the gateway answers nothing (`serve` does not open it): it lets clients act,
//! and acting needs a credential.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use obsctl_config::ServerConfig;
use obsctl_core::Secret;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::{StreamableHttpServerConfig, StreamableHttpService};
use tokio::net::TcpListener;

use super::Gateway;
use crate::auth::{bearer, host_allowed, same};
use crate::error::ErrorCode;
use crate::{ApiError, AppState};

/// Of a refused request's body, at most this much is read, for at most this long.
const REFUSED_BODY_MAX: usize = 64 * 1024;
const REFUSED_BODY_WAIT: std::time::Duration = std::time::Duration::from_secs(1);

/// What a request to the gateway is checked against.
#[derive(Clone)]
struct Access {
    /// `listen` is the gateway's address; `allowed_hosts` those of `[server]`.
    hosts: Arc<ServerConfig>,
    tokens: Arc<Vec<Secret>>,
}

/// The tokens the gateway accepts: `[mcp] token` and the API token. Empty means closed.
pub fn gateway_credentials(state: &AppState) -> Vec<Secret> {
    state.config.mcp.token.iter().chain(state.config.server.token.iter()).cloned().collect()
}

/// The gateway's router: `/mcp` behind `guard`.
pub fn router(state: AppState, listen: &str) -> Router {
    let access = Access {
        hosts: Arc::new(ServerConfig {
            listen: listen.to_string(),
            allowed_hosts: state.config.server.allowed_hosts.clone(),
            ..ServerConfig::default()
        }),
        tokens: Arc::new(gateway_credentials(&state)),
    };
    // Host and Origin are checked by `guard`, the same way as the API's.
    let config = StreamableHttpServerConfig::default().disable_allowed_hosts();
    let service = StreamableHttpService::new(
        move || Ok(Gateway::new(state.clone())),
        Arc::new(LocalSessionManager::default()),
        config,
    );
    Router::new().nest_service("/mcp", service).layer(axum::middleware::from_fn_with_state(access, guard))
}

async fn guard(State(access): State<Access>, request: Request, next: Next) -> Response {
    if let Some(host) = request.headers().get(header::HOST) {
        let host = host.to_str().unwrap_or("");
        if !host_allowed(&access.hosts, host) {
            return ApiError::new(
                ErrorCode::HostNotAllowed,
                format!("this gateway does not answer to host {host:?}; add it to [server] allowed_hosts"),
            )
            .into_response();
        }
    }
    if let Some(origin) = request.headers().get(header::ORIGIN) {
        // A browser page's request: only from a page served by this gateway's own hosts.
        let origin = origin.to_str().unwrap_or("");
        let host = origin.split_once("://").map_or("", |(_, rest)| rest);
        if !host_allowed(&access.hosts, host) {
            return ApiError::new(
                ErrorCode::OriginNotAllowed,
                format!(
                    "this gateway does not answer to pages from {origin:?}; add its host to [server] allowed_hosts"
                ),
            )
            .into_response();
        }
    }
    {
        let given = bearer(request.headers());
        let valid = given.is_some_and(|g| access.tokens.iter().any(|t| same(g.as_bytes(), t.expose().as_bytes())));
        if !valid {
            // Read (a bounded part of) what the client is still sending before answering, so it
            // gets the 401 instead of a connection closed under its request.
            let _ =
                tokio::time::timeout(REFUSED_BODY_WAIT, axum::body::to_bytes(request.into_body(), REFUSED_BODY_MAX))
                    .await;
            let mut response = if access.tokens.is_empty() {
                ApiError::new(
                    ErrorCode::McpTokenRequired,
                    "the MCP gateway opens only with a token: set OBSCTL_MCP_TOKEN (or OBSCTL_API_TOKEN)",
                )
            } else {
                ApiError::new(
                    ErrorCode::Unauthorized,
                    "the MCP gateway needs Authorization: Bearer <token> ([mcp] token or the API token)",
                )
            }
            .into_response();
            response.headers_mut().insert(header::WWW_AUTHENTICATE, header::HeaderValue::from_static("Bearer"));
            return response;
        }
    }
    next.run(request).await
}

/// Serves the gateway on `listener` until `shutdown` resolves.
pub async fn serve_http(
    state: AppState,
    listener: TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let listen = listener.local_addr()?.to_string();
    crate::serve(listener, router(state, &listen), shutdown).await
}
