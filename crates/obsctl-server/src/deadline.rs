//! A deadline for reads: a `GET` that has not produced its response within `READ_DEADLINE`
//! (a store stalled behind a lock, a slow Bolt mirror) is answered `503 request_timeout`, so
//! readers cannot pile up. Mutations have none: an approved fix may legitimately run its tool for
//! minutes, and cutting it mid-way would leave the journal to say what happened instead of the
//! caller. A streaming body (the live stream) is not bounded: only the wait for its headers.
//! A backup download (operators only) is not bounded either: it answers once the archive of the
//! whole store is written.

use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::ApiError;
use crate::error::ErrorCode;

/// How long a read may take before it is answered with a timeout.
pub const READ_DEADLINE: Duration = Duration::from_secs(30);

/// Reads that take as long as they need.
const UNBOUNDED_READS: &[&str] = &["/api/backup"];

pub async fn bound_reads(State(deadline): State<Duration>, req: Request, next: Next) -> Response {
    if !matches!(*req.method(), Method::GET | Method::HEAD) || UNBOUNDED_READS.contains(&req.uri().path()) {
        return next.run(req).await;
    }
    let path = req.uri().path().to_string();
    match tokio::time::timeout(deadline, next.run(req)).await {
        Ok(response) => response,
        Err(_) => {
            tracing::warn!(path, deadline_ms = deadline.as_millis() as u64, "read timed out");
            ApiError::new(ErrorCode::RequestTimeout, format!("no answer within {}s; try again", deadline.as_secs_f32()))
                .into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use axum::Router;
    use axum::body::Body;
    use axum::http::StatusCode;
    use axum::routing::get;
    use tower::ServiceExt;

    use super::*;

    async fn slow() -> &'static str {
        tokio::time::sleep(Duration::from_millis(400)).await;
        "done"
    }

    async fn call(app: &Router, method: Method) -> (StatusCode, String) {
        let req = Request::builder().method(method).uri("/").body(Body::empty()).unwrap();
        let resp = app.clone().oneshot(req).await.unwrap();
        let status = resp.status();
        let body = axum::body::to_bytes(resp.into_body(), 1 << 16).await.unwrap();
        (status, String::from_utf8_lossy(&body).into_owned())
    }

    #[tokio::test]
    async fn a_slow_read_times_out_and_a_slow_mutation_does_not() {
        let app = Router::new()
            .route("/", get(slow).post(slow))
            .layer(axum::middleware::from_fn_with_state(Duration::from_millis(100), bound_reads));
        let (status, body) = call(&app, Method::GET).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert!(body.contains(r#""code":"request_timeout""#), "{body}");
        assert_eq!(call(&app, Method::POST).await, (StatusCode::OK, "done".into()));
    }
}
