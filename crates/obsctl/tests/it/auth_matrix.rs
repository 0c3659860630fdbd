//! The auth matrix: every route the router serves (walked from `route_table`, so a new route
//! cannot be missed) × every kind of caller, with the status each must get.

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use obsctl_config::Role;
use tower::ServiceExt;

use crate::support::{API_WITH_FIX, Harness, Target, harness, head};

const TOKEN: &str = "t0ken-for-the-tests";

#[derive(Debug, Clone, Copy, PartialEq)]
enum Caller {
    Anonymous,
    Viewer,
    Operator,
    Bearer,
    WrongToken,
    /// An operator's cookie sent by another site's page: no CSRF header, a foreign Origin.
    CrossSite,
    /// A DNS-rebinding page: right cookie, the attacker's host name.
    Rebound,
}

const CALLERS: [Caller; 7] = [
    Caller::Anonymous,
    Caller::Viewer,
    Caller::Operator,
    Caller::Bearer,
    Caller::WrongToken,
    Caller::CrossSite,
    Caller::Rebound,
];

/// What a caller must get on a route.
#[derive(Debug, PartialEq)]
enum Expect {
    /// Served: any status but a refusal.
    Served,
    /// 401 with a JSON error.
    Unauthorized,
    /// 403.
    Forbidden,
    /// Sent to the login form.
    Login,
    /// 421: the Host is not one this server answers to.
    WrongHost,
}

/// Routes anyone may reach: the login form and what it needs, liveness, redirects, and the
/// status page (published only when configured: 404 otherwise, as here).
fn public(method: &str, path: &str) -> bool {
    matches!(
        (method, path),
        ("GET", "/healthz")
            | ("GET", "/status")
            | ("GET", "/")
            | ("GET", "/ui")
            | ("GET", "/ui/login")
            | ("POST", "/ui/login")
            | ("GET", "/ui/assets/{name}")
    )
}

fn expect(method: &str, path: &str, caller: Caller) -> Expect {
    use Caller::*;
    use Expect::*;
    if caller == Rebound {
        return WrongHost;
    }
    if public(method, path) {
        return Served;
    }
    // Senders (alert webhooks, apps' OTLP and telemetry reports) take a token, never a session.
    let sender = path.starts_with("/api/v1/alerts/") || path == "/api/v1/telemetry-reports" || path.starts_with("/v1/");
    if sender {
        return if caller == Bearer { Served } else { Unauthorized };
    }
    // /metrics is read like the API: Prometheus scrapes it with the bearer token.
    let api = path.starts_with("/api/") || path == "/metrics";
    // A backup holds everything obsctl knows: it takes the token, like a change.
    let read = method == "GET" && path != "/api/backup";
    match (api, read, caller) {
        // The API: reads take the token or any session; mutations only the token.
        (true, _, Anonymous | WrongToken) => Unauthorized,
        (true, true, _) => Served,
        (true, false, Bearer) => Served,
        (true, false, _) => Unauthorized,
        // The dashboard: sessions only; controls need an operator and the CSRF header.
        (false, _, Anonymous | Bearer | WrongToken) => Login,
        (false, true, _) => Served,
        (false, false, Operator) => Served,
        (false, false, Viewer | CrossSite) => Forbidden,
        (_, _, Rebound) => WrongHost,
    }
}

fn concrete(path: &str) -> String {
    path.replace("{service}", "api")
        .replace(
            "{name}",
            if path.starts_with("/ui/assets") { obsctl_server::dashboard::stylesheet() } else { "health" },
        )
        .replace("{id}", "nope")
}

async fn send(h: &Harness, method: &str, path: &str, caller: Caller, sessions: &Sessions) -> (StatusCode, String) {
    let uri = concrete(path);
    let mut req = Request::builder()
        .method(Method::from_bytes(method.as_bytes()).unwrap())
        .uri(&uri)
        .header(header::HOST, if caller == Caller::Rebound { "attacker.example:5555" } else { "127.0.0.1:5555" })
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
    match caller {
        Caller::Viewer => req = req.header(header::COOKIE, format!("obsctl_session={}", sessions.viewer.0)),
        Caller::Operator => {
            req = req
                .header(header::COOKIE, format!("obsctl_session={}", sessions.operator.0))
                .header("x-csrf-token", &sessions.operator.1)
        }
        Caller::CrossSite | Caller::Rebound => {
            req = req
                .header(header::COOKIE, format!("obsctl_session={}", sessions.operator.0))
                .header(header::ORIGIN, "http://attacker.example")
        }
        Caller::Bearer => req = req.header(header::AUTHORIZATION, format!("Bearer {TOKEN}")),
        Caller::WrongToken => req = req.header(header::AUTHORIZATION, "Bearer not-the-token-at-all"),
        Caller::Anonymous => {}
    }
    let resp = obsctl_server::router(h.rt.app_state()).oneshot(req.body(Body::empty()).unwrap()).await.unwrap();
    let location = resp.headers().get(header::LOCATION).and_then(|l| l.to_str().ok()).unwrap_or("").to_string();
    (resp.status(), location)
}

struct Sessions {
    viewer: (String, String),
    operator: (String, String),
}

fn session(h: &Harness, user: &str, role: Role) -> (String, String) {
    let ui = &h.rt.app_state().ui;
    let id = ui.sessions.create(user, role);
    let csrf = ui.sessions.get(&id).unwrap().csrf;
    (id, csrf)
}

#[tokio::test]
async fn every_route_answers_every_caller_as_it_must() {
    let target = Target::start(true).await;
    let h = harness(&format!("{}{API_WITH_FIX}", head("approve")), &target.url, &[("OBSCTL_API_TOKEN", TOKEN)]).await;
    let sessions =
        Sessions { viewer: session(&h, "victor", Role::Viewer), operator: session(&h, "alice", Role::Operator) };
    let routes = obsctl_server::route_table();
    assert!(routes.len() >= 50, "the route table looks incomplete: {routes:?}");
    let mut failures = Vec::new();
    let mut checked = 0;
    for (method, path) in &routes {
        let method = method.as_str();
        if *path == "/ui/logout" {
            continue; // its own test below: it must not need a session to clear a cookie
        }
        for caller in CALLERS {
            let want = expect(method, path, caller);
            let (status, location) = send(&h, method, path, caller, &sessions).await;
            let ok = match want {
                Expect::Served => {
                    !matches!(
                        status,
                        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN | StatusCode::MISDIRECTED_REQUEST
                    ) && location != "/ui/login"
                }
                Expect::Unauthorized => status == StatusCode::UNAUTHORIZED,
                Expect::Forbidden => status == StatusCode::FORBIDDEN,
                Expect::Login => status.is_redirection() && location == "/ui/login",
                Expect::WrongHost => status == StatusCode::MISDIRECTED_REQUEST,
            };
            checked += 1;
            if !ok {
                failures.push(format!("{method} {path} as {caller:?}: wanted {want:?}, got {status} {location}"));
            }
        }
    }
    assert!(failures.is_empty(), "{} of {checked} failed:\n{}", failures.len(), failures.join("\n"));
    println!("auth matrix: {} routes x {} callers = {checked} checks", routes.len() - 1, CALLERS.len());
}

#[tokio::test]
async fn logout_needs_the_csrf_token_of_the_session_it_ends() {
    let target = Target::start(true).await;
    let h = harness(&format!("{}{API_WITH_FIX}", head("approve")), &target.url, &[("OBSCTL_API_TOKEN", TOKEN)]).await;
    let (id, csrf) = session(&h, "alice", Role::Operator);
    let post = |form: String| {
        Request::post("/ui/logout")
            .header(header::HOST, "127.0.0.1:5555")
            .header(header::COOKIE, format!("obsctl_session={id}"))
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(form))
            .unwrap()
    };
    let app = obsctl_server::router(h.rt.app_state());
    assert_eq!(app.clone().oneshot(post("_csrf=wrong".into())).await.unwrap().status(), StatusCode::FORBIDDEN);
    assert!(h.rt.app_state().ui.sessions.get(&id).is_some());
    assert!(app.oneshot(post(format!("_csrf={csrf}"))).await.unwrap().status().is_redirection());
    assert!(h.rt.app_state().ui.sessions.get(&id).is_none());
}

#[tokio::test]
async fn without_credentials_reads_are_open_on_loopback_only_names() {
    let target = Target::start(true).await;
    let h = harness(&format!("{}{API_WITH_FIX}", head("approve")), &target.url, &[]).await;
    let get = |host: &'static str| Request::get("/api/actions").header(header::HOST, host).body(Body::empty()).unwrap();
    let app = obsctl_server::router(h.rt.app_state());
    assert_eq!(app.clone().oneshot(get("127.0.0.1:5555")).await.unwrap().status(), StatusCode::OK);
    assert_eq!(app.clone().oneshot(get("localhost:5555")).await.unwrap().status(), StatusCode::OK);
    // A DNS-rebinding page reaches the same socket under its own name: refused.
    let rebound = app.oneshot(get("rebind.attacker.example:5555")).await.unwrap();
    assert_eq!(rebound.status(), StatusCode::MISDIRECTED_REQUEST);
    let body = axum::body::to_bytes(rebound.into_body(), 1 << 16).await.unwrap();
    let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(body["error"]["code"], "host_not_allowed");
}
