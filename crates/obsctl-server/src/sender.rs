//! Senders that authenticate themselves in their handler rather than in the guard: alert
//! webhooks, apps exporting OTLP and apps posting telemetry reports. Each takes its own
//! credential (a bearer token, or basic credentials for a webhook) or the API token; with no
//! credential configured anywhere, it is open, like the rest of the server.

use axum::http::{HeaderMap, header};
use base64::Engine as _;
use obsctl_config::{AlertAuth, Config};

use crate::ApiError;
use crate::auth::{bearer, same};
use crate::error::ErrorCode;

/// Who is sending, for the check and its messages.
pub(crate) struct Sender<'a> {
    /// Its own credential, when configured.
    pub own: Option<AlertAuth>,
    /// Where that credential is configured, e.g. `alerts.grafana` or `telemetry`.
    pub section: &'a str,
    /// What it is, e.g. `the grafana webhook`.
    pub what: &'a str,
    /// Whether another sender of its family has a credential (the server is then not open).
    pub family_configured: bool,
}

/// Whether the request carries what `sender` needs: its own credential or the API token.
pub(crate) fn authorized(config: &Config, sender: &Sender<'_>, headers: &HeaderMap) -> Result<(), ApiError> {
    let api_token = config.server.token.as_ref();
    let by_api_token =
        matches!((bearer(headers), api_token), (Some(given), Some(t)) if same(given.as_bytes(), t.expose().as_bytes()));
    let ok = by_api_token
        || match &sender.own {
            Some(AlertAuth::Bearer(token)) => {
                bearer(headers).is_some_and(|g| same(g.as_bytes(), token.expose().as_bytes()))
            }
            Some(AlertAuth::Basic { username, password }) => basic(headers).is_some_and(|(u, p)| {
                same(u.as_bytes(), username.as_bytes()) & same(p.as_bytes(), password.expose().as_bytes())
            }),
            // Open only while nothing at all is configured.
            None => api_token.is_none() && !config.server.has_credentials() && !sender.family_configured,
        };
    if ok {
        return Ok(());
    }
    let (what, section) = (sender.what, sender.section);
    let message = match &sender.own {
        Some(AlertAuth::Basic { .. }) => {
            format!("{what} needs its basic credentials ([{section}] username and password)")
        }
        Some(AlertAuth::Bearer(_)) => format!("{what} needs Authorization: Bearer <[{section}] token>"),
        None if api_token.is_some() => {
            format!("{what} needs Authorization: Bearer <API token>, or its own [{section}] token")
        }
        None => format!("credentials are configured, so {what} needs one: set [{section}] token, or the API token"),
    };
    let error = ApiError::new(ErrorCode::Unauthorized, message);
    Err(match &sender.own {
        Some(AlertAuth::Basic { .. }) => error.with_header(header::WWW_AUTHENTICATE, "Basic realm=\"obsctl alerts\""),
        _ => error,
    })
}

/// The user and password of a basic `Authorization` header.
fn basic(headers: &HeaderMap) -> Option<(String, String)> {
    let encoded = headers.get(header::AUTHORIZATION)?.to_str().ok()?.strip_prefix("Basic ")?;
    let decoded = base64::engine::general_purpose::STANDARD.decode(encoded.trim()).ok()?;
    let (user, password) = std::str::from_utf8(&decoded).ok()?.split_once(':')?;
    Some((user.to_string(), password.to_string()))
}
