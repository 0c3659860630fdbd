//! Bearer-token auth for mutating endpoints: the `Operator` extractor.

use axum::extract::FromRequestParts;
use axum::http::StatusCode;
use axum::http::request::Parts;

use crate::{ApiError, AppState};

/// Proof that the request carried the configured API token. Mutating handlers take one.
pub struct Operator {
    /// Who to write in the audit log.
    pub name: String,
}

/// Compares without stopping at the first difference, so timing does not leak the token.
pub(crate) fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl FromRequestParts<AppState> for Operator {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let Some(token) = state.config.server.token.as_ref() else {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "auth_not_configured",
                "mutations are disabled until a token is set: set OBSCTL_API_TOKEN or [server] token",
            ));
        };
        let given = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        match given {
            Some(g) if same(g.trim().as_bytes(), token.expose().as_bytes()) => Ok(Operator { name: "api".into() }),
            Some(_) => Err(ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", "the bearer token is not valid")),
            None => Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "this endpoint needs Authorization: Bearer <token>",
            )),
        }
    }
}
