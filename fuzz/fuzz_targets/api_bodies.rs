//! The JSON API's bodies and query strings through the real router: every answer is a JSON
//! error with a stable code or a success, never a panic or a 5xx. The first byte picks the
//! route; the rest is the body (or the query string).
#![no_main]

#[path = "support.rs"]
mod support;

use axum::body::Body;
use axum::http::{Method, Request};
use libfuzzer_sys::fuzz_target;
use tower::ServiceExt;

/// Building the router (and its OpenAPI document) once; each input gets a clone.
fn router() -> &'static axum::Router {
    static ROUTER: std::sync::OnceLock<axum::Router> = std::sync::OnceLock::new();
    ROUTER.get_or_init(|| obsctl_server::router(support::world().rt.app_state()))
}

fuzz_target!(|data: &[u8]| {
    let Some((&pick, rest)) = data.split_first() else { return };
    let w = support::world();
    let inc = &w.incident;
    let (method, uri) = match pick % 9 {
        0 => (Method::POST, "/api/silences".to_string()),
        1 => (Method::POST, format!("/api/incidents/{inc}/propose")),
        2 => (Method::POST, "/api/actions/act-none/approve".to_string()),
        3 => (Method::POST, "/api/actions/act-none/reject".to_string()),
        4 => (Method::POST, "/api/incidents/inc-none/resolve".to_string()),
        5 => (Method::GET, format!("/api/incidents?{}", String::from_utf8_lossy(rest))),
        6 => (Method::GET, format!("/api/actions?{}", String::from_utf8_lossy(rest))),
        7 => (Method::GET, format!("/api/memory/search?{}", String::from_utf8_lossy(rest))),
        _ => (Method::GET, format!("/api/checks/api/health?{}", String::from_utf8_lossy(rest))),
    };
    let Ok(request) = Request::builder()
        .method(method.clone())
        .uri(&uri)
        .header("authorization", format!("Bearer {}", support::TOKEN))
        .header("content-type", "application/json")
        .body(if method == Method::POST { Body::from(rest.to_vec()) } else { Body::empty() })
    else {
        return; // not a valid URI: the HTTP layer refuses it before obsctl sees it
    };
    let status = w.tokio.block_on(async {
        let response = router().clone().oneshot(request).await.expect("infallible");
        let status = response.status();
        let body = axum::body::to_bytes(response.into_body(), 1 << 20).await.expect("body");
        if !status.is_success() {
            let json: serde_json::Value = serde_json::from_slice(&body).expect("errors are JSON");
            assert!(json["error"]["code"].as_str().is_some_and(|c| !c.is_empty()), "{json}");
        }
        status
    });
    assert!(!status.is_server_error(), "{method} {uri}: {status}");
});
