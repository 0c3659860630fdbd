//! The one place errors become HTTP: a status, a stable snake_case code and a message.
//! Internal details are logged once and never sent.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use obsctl_store::StoreError;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct ErrorDetail {
    pub code: ErrorCode,
    pub message: String,
}

/// Every error the API answers with: a stable snake_case code, each with its one HTTP status.
/// The OpenAPI document lists them (the error body's `code` is this enum).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    AuthNotConfigured,
    Conflict,
    HostNotAllowed,
    Internal,
    InvalidAlert,
    InvalidJson,
    InvalidOtlp,
    InvalidRequest,
    McpTokenRequired,
    MethodNotAllowed,
    NotFound,
    OriginNotAllowed,
    PayloadTooLarge,
    RecallUnavailable,
    ReceiverOff,
    RequestTimeout,
    TooManyRequests,
    Unauthorized,
    UnknownService,
    UnsupportedEncoding,
    UnsupportedMediaType,
    UnsupportedVersion,
    WrongInstance,
}

impl ErrorCode {
    pub fn status(self) -> StatusCode {
        match self {
            Self::AuthNotConfigured => StatusCode::FORBIDDEN,
            Self::Conflict => StatusCode::CONFLICT,
            Self::HostNotAllowed => StatusCode::MISDIRECTED_REQUEST,
            Self::Internal => StatusCode::INTERNAL_SERVER_ERROR,
            Self::InvalidAlert => StatusCode::BAD_REQUEST,
            Self::InvalidJson => StatusCode::BAD_REQUEST,
            Self::InvalidOtlp => StatusCode::BAD_REQUEST,
            Self::InvalidRequest => StatusCode::BAD_REQUEST,
            Self::McpTokenRequired => StatusCode::UNAUTHORIZED,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::OriginNotAllowed => StatusCode::FORBIDDEN,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::RecallUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            Self::ReceiverOff => StatusCode::NOT_FOUND,
            Self::RequestTimeout => StatusCode::SERVICE_UNAVAILABLE,
            Self::TooManyRequests => StatusCode::TOO_MANY_REQUESTS,
            Self::Unauthorized => StatusCode::UNAUTHORIZED,
            Self::UnknownService => StatusCode::NOT_FOUND,
            Self::UnsupportedEncoding => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::UnsupportedVersion => StatusCode::BAD_REQUEST,
            Self::WrongInstance => StatusCode::FORBIDDEN,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::AuthNotConfigured => "auth_not_configured",
            Self::Conflict => "conflict",
            Self::HostNotAllowed => "host_not_allowed",
            Self::Internal => "internal",
            Self::InvalidAlert => "invalid_alert",
            Self::InvalidJson => "invalid_json",
            Self::InvalidOtlp => "invalid_otlp",
            Self::InvalidRequest => "invalid_request",
            Self::McpTokenRequired => "mcp_token_required",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::NotFound => "not_found",
            Self::OriginNotAllowed => "origin_not_allowed",
            Self::PayloadTooLarge => "payload_too_large",
            Self::RecallUnavailable => "recall_unavailable",
            Self::ReceiverOff => "receiver_off",
            Self::RequestTimeout => "request_timeout",
            Self::TooManyRequests => "too_many_requests",
            Self::Unauthorized => "unauthorized",
            Self::UnknownService => "unknown_service",
            Self::UnsupportedEncoding => "unsupported_encoding",
            Self::UnsupportedMediaType => "unsupported_media_type",
            Self::UnsupportedVersion => "unsupported_version",
            Self::WrongInstance => "wrong_instance",
        }
    }
}

#[derive(Debug)]
pub struct ApiError {
    pub code: ErrorCode,
    pub message: String,
    /// A header the answer carries (`Retry-After`, `WWW-Authenticate`).
    pub header: Option<(axum::http::HeaderName, &'static str)>,
}

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self { code, message: message.into(), header: None }
    }

    pub fn with_header(mut self, name: axum::http::HeaderName, value: &'static str) -> Self {
        self.header = Some((name, value));
        self
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::NotFound, message)
    }

    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidRequest, message)
    }

    pub fn internal(error: impl std::fmt::Display) -> Self {
        tracing::error!(%error, "request failed");
        Self::new(ErrorCode::Internal, "internal error; see the obsctl log")
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound(what) => Self::not_found(format!("{what} not found")),
            StoreError::Conflict(why) => Self::new(ErrorCode::Conflict, why),
            StoreError::Invalid(why) => Self::invalid(why),
            other => Self::internal(other),
        }
    }
}

impl From<anyhow::Error> for ApiError {
    fn from(e: anyhow::Error) -> Self {
        match e.downcast::<StoreError>() {
            Ok(store) => store.into(),
            Err(other) => Self::internal(other),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody { error: ErrorDetail { code: self.code, message: self.message } };
        let mut response = (self.code.status(), Json(body)).into_response();
        if let Some((name, value)) = self.header {
            response.headers_mut().insert(name, axum::http::HeaderValue::from_static(value));
        }
        response
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::ErrorCode;

    /// Every code the OpenAPI document lists reads back as itself and answers with an error status.
    #[test]
    fn every_listed_code_is_itself_and_an_error() {
        let schema = serde_json::to_value(schemars::schema_for!(ErrorCode)).unwrap();
        let listed: Vec<String> = serde_json::from_value(schema["enum"].clone()).unwrap();
        assert!(listed.len() >= 20, "{listed:?}");
        for name in listed {
            let code: ErrorCode = serde_json::from_value(serde_json::Value::String(name.clone())).unwrap();
            assert_eq!(code.as_str(), name);
            assert!(code.status().is_client_error() || code.status().is_server_error(), "{name}");
        }
    }
}
