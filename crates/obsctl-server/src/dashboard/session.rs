//! Dashboard access: logins (argon2 password or the API token), server-side sessions behind an
//! HttpOnly, SameSite=Strict cookie, a CSRF token per session, and the `Viewer` / `Operator`
//! extractors pages and controls take.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use argon2::{Argon2, PasswordHash, PasswordVerifier};
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use obsctl_config::{Role, ServerConfig};

use crate::AppState;
pub(crate) use crate::auth::same;

pub const COOKIE: &str = "obsctl_session";
/// How long a session lasts without use.
const IDLE: Duration = Duration::from_secs(12 * 3600);

/// Who is looking at the dashboard.
#[derive(Debug, Clone)]
pub struct Session {
    pub user: String,
    pub role: Role,
    /// Every form and htmx request must echo it (`_csrf` field or `X-CSRF-Token` header).
    pub csrf: String,
    last_seen: Instant,
}

/// Live sessions, in memory: a restart logs everyone out.
#[derive(Default)]
pub struct Sessions {
    by_id: Mutex<HashMap<String, Session>>,
}

impl Sessions {
    pub fn create(&self, user: &str, role: Role) -> String {
        let id = random_token();
        let session = Session { user: user.into(), role, csrf: random_token(), last_seen: Instant::now() };
        let mut map = self.by_id.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        map.retain(|_, s| s.last_seen.elapsed() < IDLE);
        map.insert(id.clone(), session);
        id
    }

    pub fn get(&self, id: &str) -> Option<Session> {
        let mut map = self.by_id.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let session = map.get_mut(id)?;
        if session.last_seen.elapsed() >= IDLE {
            map.remove(id);
            return None;
        }
        session.last_seen = Instant::now();
        Some(session.clone())
    }

    pub fn remove(&self, id: &str) {
        self.by_id.lock().unwrap_or_else(std::sync::PoisonError::into_inner).remove(id);
    }
}

/// 32 random bytes as hex.
fn random_token() -> String {
    let mut bytes = [0u8; 32];
    // The OS random source failing is not recoverable; a fixed token would be a vulnerability.
    #[allow(clippy::expect_used)]
    getrandom::fill(&mut bytes).expect("the operating system's random source is unavailable");
    obsctl_core::hash::hex(&bytes)
}

/// An argon2id PHC string for `password`, for `[[dashboard.user]] password_hash`.
pub fn hash_password(password: &str) -> anyhow::Result<String> {
    use argon2::PasswordHasher;
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).map_err(|e| anyhow::anyhow!("no random source for the salt: {e}"))?;
    let salt = argon2::password_hash::SaltString::encode_b64(&salt).map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(Argon2::default().hash_password(password.as_bytes(), &salt).map_err(|e| anyhow::anyhow!("{e}"))?.to_string())
}

/// Checks a login: a configured user's password, or the API token (as the operator `api-token`).
/// Slow (argon2): call it off the async workers.
pub fn authenticate(server: &ServerConfig, user: &str, password: &str) -> Option<(String, Role)> {
    if let Some(u) = server.users.iter().find(|u| u.name == user) {
        let hash = PasswordHash::new(u.password_hash.expose()).ok()?;
        return Argon2::default().verify_password(password.as_bytes(), &hash).is_ok().then(|| (u.name.clone(), u.role));
    }
    // An unknown name costs the same argon2 work as a known one, so timing does not tell
    // which names exist.
    if let Ok(hash) = PasswordHash::new(unknown_user_hash()) {
        let _ = Argon2::default().verify_password(password.as_bytes(), &hash);
    }
    let token = server.token.as_ref()?;
    (user.is_empty() || user == "api-token")
        .then_some(())
        .filter(|()| same(password.as_bytes(), token.expose().as_bytes()))
        .map(|()| ("api-token".to_string(), Role::Operator))
}

/// A hash no password matches in practice, made once, checked for unknown names.
fn unknown_user_hash() -> &'static str {
    static HASH: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    HASH.get_or_init(|| hash_password(&random_token()).unwrap_or_default())
}

/// The session cookie's value, if the request carries one.
pub fn cookie(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|pair| pair.trim().strip_prefix(COOKIE)?.strip_prefix('='))
}

/// `Set-Cookie` for a new session (or, with `None`, one that clears it).
pub fn set_cookie(id: Option<&str>) -> String {
    match id {
        Some(id) => format!("{COOKIE}={id}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}", IDLE.as_secs()),
        None => format!("{COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0"),
    }
}

/// A signed-in person with at least the viewer role, or, when no credentials are configured at
/// all (loopback only: `serve` refuses otherwise), an anonymous viewer.
pub struct Viewer(pub Session);

/// A signed-in operator; the controls take one.
pub struct Operator(pub Session);

/// Why a page or control was refused: pages send people to the login form, htmx gets a redirect
/// header, controls without the operator role get 403.
pub enum Refusal {
    Login,
    Forbidden(&'static str),
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        match self {
            Refusal::Login => Redirect::to("/ui/login").into_response(),
            Refusal::Forbidden(why) => (StatusCode::FORBIDDEN, why).into_response(),
        }
    }
}

fn session(parts: &Parts, state: &AppState) -> Option<Session> {
    cookie(&parts.headers).and_then(|id| state.ui.sessions.get(id))
}

impl FromRequestParts<AppState> for Viewer {
    type Rejection = Refusal;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Refusal> {
        if let Some(s) = session(parts, state) {
            return Ok(Viewer(s));
        }
        if !state.config.server.has_credentials() {
            let anonymous = Session {
                user: "anonymous".into(),
                role: Role::Viewer,
                csrf: String::new(),
                last_seen: Instant::now(),
            };
            return Ok(Viewer(anonymous));
        }
        Err(Refusal::Login)
    }
}

impl FromRequestParts<AppState> for Operator {
    type Rejection = Refusal;

    /// Needs the operator role and the session's CSRF token in the `X-CSRF-Token` header, which
    /// the layout makes htmx send on every request. A cross-site form cannot set a header.
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Refusal> {
        let s = session(parts, state).ok_or(Refusal::Login)?;
        if s.role < Role::Operator {
            return Err(Refusal::Forbidden("this needs the operator role; you are signed in as a viewer"));
        }
        let given = parts.headers.get("x-csrf-token").and_then(|v| v.to_str().ok()).unwrap_or_default();
        if !same(given.as_bytes(), s.csrf.as_bytes()) {
            return Err(Refusal::Forbidden("missing or wrong CSRF token; reload the page and try again"));
        }
        Ok(Operator(s))
    }
}
