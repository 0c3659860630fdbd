//! The JSON API through `router.oneshot`: auth, JSON errors with stable codes, the approval
//! flow, and the OpenAPI document.

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use obsctl_core::action::ActionState;
use tower::ServiceExt;

use crate::support::{API_CHECK, API_WITH_FIX, Harness, Target, harness, head, runtime_in};

const TOKEN: &str = "t0ken-for-the-tests";

fn app(h: &Harness) -> axum::Router {
    obsctl_server::router(h.rt.app_state())
}

async fn call(
    h: &Harness,
    method: Method,
    uri: &str,
    token: Option<&str>,
    body: Option<&str>,
) -> (StatusCode, serde_json::Value) {
    let mut req = Request::builder().method(method).uri(uri);
    if let Some(t) = token {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    if body.is_some() {
        req = req.header("content-type", "application/json");
    }
    let req = req.body(body.map(|b| Body::from(b.to_string())).unwrap_or_else(Body::empty)).unwrap();
    let resp = app(h).oneshot(req).await.unwrap();
    let status = resp.status();
    let bytes = axum::body::to_bytes(resp.into_body(), 1 << 20).await.unwrap();
    (status, serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null))
}

async fn approve_mode() -> (Target, Harness) {
    let target = Target::start(false).await;
    let h = harness(
        &format!("{}{API_WITH_FIX}", head("approve")),
        &target.url,
        &[("OBSCTL_API_TOKEN", "t0ken-for-the-tests")],
    )
    .await;
    (target, h)
}

#[tokio::test]
async fn reads_report_status_checks_and_incidents() {
    let (_target, h) = approve_mode().await;
    assert!(!h.run("api/health").await);
    h.rt.monitor.flush().await;
    let (code, status) = call(&h, Method::GET, "/api/status", Some(TOKEN), None).await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(
        (status["open_incidents"].as_u64(), status["checks"]["failing"].as_u64(), status["agent_mode"].as_str()),
        (Some(1), Some(1), Some("approve"))
    );
    assert_eq!(
        (status["graph"]["backend"].as_str(), &status["graph"]["mirror"]),
        (Some("embedded"), &serde_json::Value::Null)
    );
    let (_, services) = call(&h, Method::GET, "/api/services", Some(TOKEN), None).await;
    assert_eq!((services[0]["name"].as_str(), services[0]["status"].as_str()), (Some("api"), Some("failing")));
    let (_, check) = call(&h, Method::GET, "/api/checks/api/health?limit=5", Some(TOKEN), None).await;
    assert_eq!(check["recent"].as_array().unwrap().len(), 1);
    assert_eq!(check["latency"]["count"], 1);
    let (_, list) = call(&h, Method::GET, "/api/incidents?status=open", Some(TOKEN), None).await;
    let id = list[0]["id"].as_str().unwrap().to_string();
    let (_, detail) = call(&h, Method::GET, &format!("/api/incidents/{id}"), Some(TOKEN), None).await;
    assert_eq!(detail["events"][0]["kind"], "opened");
    let (_, tools) = call(&h, Method::GET, "/api/tools", Some(TOKEN), None).await;
    let cleanup = tools.as_array().unwrap().iter().find(|t| t["name"] == "fs.cleanup").unwrap();
    assert_eq!(cleanup["annotations"]["destructiveHint"], true);
    assert_eq!(cleanup["inputSchema"]["required"][0], "root");
}

#[tokio::test]
async fn approval_through_the_api_needs_the_token_and_then_fixes() {
    let (target, h) = approve_mode().await;
    assert!(!h.run("api/health").await);
    let incident = h.incident().await;
    let report = h.rt.agent.handle_incident(&incident.id).await.unwrap();
    let id = &report.actions[0].id;
    let (_, pending) = call(&h, Method::GET, "/api/actions?state=pending_approval", Some(TOKEN), None).await;
    assert_eq!(pending[0]["id"], id.as_str());

    let uri = format!("/api/actions/{id}/approve");
    let (code, body) = call(&h, Method::POST, &uri, None, Some("{}")).await;
    assert_eq!((code, body["error"]["code"].as_str()), (StatusCode::UNAUTHORIZED, Some("unauthorized")));
    let (code, body) = call(&h, Method::POST, &uri, Some("wrong"), Some("{}")).await;
    assert_eq!((code, body["error"]["code"].as_str()), (StatusCode::UNAUTHORIZED, Some("unauthorized")));
    let (code, body) = call(&h, Method::POST, &uri, Some("t0ken-for-the-tests"), Some("{\"reason\": 5}")).await;
    assert_eq!((code, body["error"]["code"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_request")));
    let (code, body) = call(&h, Method::POST, &uri, Some("t0ken-for-the-tests"), Some("{\"reason\": \"go\"}")).await;
    assert_eq!(code, StatusCode::OK, "{body}");
    assert_eq!(body[0]["state"], "approved");
    let (code, body) = call(&h, Method::POST, &uri, Some("t0ken-for-the-tests"), Some("{}")).await;
    assert_eq!((code, body["error"]["code"].as_str()), (StatusCode::CONFLICT, Some("conflict")));

    h.rt.agent.run_approved().await.unwrap();
    assert_eq!(target.fixes(), 1);
    assert_eq!(h.rt.store.action(id).await.unwrap().state, ActionState::Succeeded);
    let (_, audit) = call(&h, Method::GET, "/api/audit?limit=50", Some(TOKEN), None).await;
    assert!(audit.as_array().unwrap().iter().any(|r| r["action"] == "approve" && r["actor"] == "api"));
}

#[tokio::test]
async fn errors_are_json_with_stable_codes() {
    let (_target, h) = approve_mode().await;
    type Case<'a> = (Method, &'a str, Option<&'a str>, Option<&'a str>, StatusCode, &'a str);
    let cases: &[Case] = &[
        (Method::GET, "/api/incidents/nope", Some(TOKEN), None, StatusCode::NOT_FOUND, "not_found"),
        (Method::GET, "/api/actions/nope", Some(TOKEN), None, StatusCode::NOT_FOUND, "not_found"),
        (Method::GET, "/api/checks/api/nope", Some(TOKEN), None, StatusCode::NOT_FOUND, "not_found"),
        (Method::GET, "/api/incidents?status=weird", Some(TOKEN), None, StatusCode::BAD_REQUEST, "invalid_request"),
        (Method::GET, "/api/incidents?limit=-1", Some(TOKEN), None, StatusCode::BAD_REQUEST, "invalid_request"),
        (Method::GET, "/api/actions?state=bogus", Some(TOKEN), None, StatusCode::BAD_REQUEST, "invalid_request"),
        (Method::GET, "/nowhere", None, None, StatusCode::NOT_FOUND, "not_found"),
        (Method::DELETE, "/api/status", Some(TOKEN), None, StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed"),
        (
            Method::POST,
            "/api/actions/nope/approve",
            Some("t0ken-for-the-tests"),
            Some("{}"),
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        (
            Method::POST,
            "/api/actions/nope/approve",
            Some("t0ken-for-the-tests"),
            Some("not json"),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        // serde fills a struct from an array; the schema says object (schemathesis found `[]`).
        (
            Method::POST,
            "/api/actions/nope/approve",
            Some("t0ken-for-the-tests"),
            Some("[]"),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            Method::POST,
            "/api/silences",
            Some("t0ken-for-the-tests"),
            Some("{\"duration\": \"10\", \"reason\": \"x\"}"),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            Method::POST,
            "/api/silences",
            Some("t0ken-for-the-tests"),
            Some("{\"service\": \"ghost\", \"duration\": \"1h\", \"reason\": \"x\"}"),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            // A global silence: refused here exactly as on the dashboard (the check is the agent's).
            Method::POST,
            "/api/silences",
            Some("t0ken-for-the-tests"),
            Some("{\"duration\": \"1h\", \"reason\": \"x\"}"),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            Method::POST,
            "/api/silences",
            Some("t0ken-for-the-tests"),
            Some("{\"duration\": \"1h\", \"reason\": \"x\", \"extra\": 1}"),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            Method::POST,
            "/api/incidents/nope/resolve",
            Some("t0ken-for-the-tests"),
            Some("{\"note\": \"done\"}"),
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        (Method::DELETE, "/api/silences/nope", Some("t0ken-for-the-tests"), None, StatusCode::NOT_FOUND, "not_found"),
    ];
    for (method, uri, token, body, status, code) in cases {
        let (got, json) = call(&h, method.clone(), uri, *token, *body).await;
        assert_eq!((got, json["error"]["code"].as_str()), (*status, Some(*code)), "{method} {uri}: {json}");
        assert!(json["error"]["message"].as_str().is_some_and(|m| !m.is_empty()));
    }
}

#[tokio::test]
async fn without_a_token_mutations_are_refused() {
    let target = Target::start(true).await;
    let h = harness(&format!("{}{API_WITH_FIX}", head("auto")), &target.url, &[]).await;
    let (code, body) = call(&h, Method::POST, "/api/checks/api/health/run", Some("anything"), None).await;
    assert_eq!((code, body["error"]["code"].as_str()), (StatusCode::FORBIDDEN, Some("auth_not_configured")));
}

#[tokio::test]
async fn silence_run_and_resolve_controls_work() {
    let (_target, h) = approve_mode().await;
    let tok = Some("t0ken-for-the-tests");
    let (code, run) = call(&h, Method::POST, "/api/checks/api/health/run", tok, None).await;
    assert_eq!((code, run["observation"]["ok"].as_bool()), (StatusCode::OK, Some(false)));
    let (code, silence) = call(
        &h,
        Method::POST,
        "/api/silences",
        tok,
        Some("{\"service\": \"api\", \"duration\": \"1h\", \"reason\": \"deploy\"}"),
    )
    .await;
    assert_eq!(code, StatusCode::OK, "{silence}");
    let (_, active) = call(&h, Method::GET, "/api/silences?active=true", Some(TOKEN), None).await;
    assert_eq!(active.as_array().unwrap().len(), 1);
    let id = h.incident().await.id;
    let (code, _) =
        call(&h, Method::POST, &format!("/api/incidents/{id}/resolve"), tok, Some("{\"note\": \"\"}")).await;
    assert_eq!(code, StatusCode::BAD_REQUEST);
    let (code, resolved) =
        call(&h, Method::POST, &format!("/api/incidents/{id}/resolve"), tok, Some("{\"note\": \"rolled back\"}")).await;
    assert_eq!(
        (code, resolved["status"].as_str(), resolved["resolution"].as_str()),
        (StatusCode::OK, Some("resolved"), Some("resolved by api: rolled back"))
    );
    let (code, _) =
        call(&h, Method::DELETE, &format!("/api/silences/{}", silence["id"].as_str().unwrap()), tok, None).await;
    assert_eq!(code, StatusCode::OK);
}

#[tokio::test]
async fn the_openapi_document_lists_every_route() {
    let (_target, h) = approve_mode().await;
    let (code, doc) = call(&h, Method::GET, "/api/openapi.json", Some(TOKEN), None).await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(doc["openapi"], "3.0.3");
    let paths = doc["paths"].as_object().unwrap();
    for p in [
        "/api/status",
        "/api/incidents/{id}",
        "/api/actions/{id}/approve",
        "/api/silences/{id}",
        "/api/checks/{service}/{name}/run",
    ] {
        assert!(paths.contains_key(p), "missing {p}");
    }
    assert_eq!(doc["paths"]["/api/actions/{id}/approve"]["post"]["security"][0]["bearer"], serde_json::json!([]));
    let schemas = doc["components"]["schemas"].as_object().unwrap();
    assert!(schemas.contains_key("Incident") && schemas.contains_key("Action") && schemas.contains_key("ErrorBody"));
    // Every unsigned integer a request may carry has a maximum, so a schema-valid value always
    // fits the field it lands in (a telemetry report's count once did not: `usize` says "uint").
    let mut unbounded = Vec::new();
    let mut seen = std::collections::HashSet::new();
    let mut todo: Vec<(String, serde_json::Value)> = paths
        .iter()
        .flat_map(|(path, ops)| ops.as_object().unwrap().iter().map(move |(m, op)| (format!("{m} {path}"), op.clone())))
        .filter_map(|(at, op)| Some((at, op.pointer("/requestBody/content/application~1json/schema")?.clone())))
        .collect();
    while let Some((at, schema)) = todo.pop() {
        match &schema {
            serde_json::Value::Object(map) => {
                if let Some(name) = map.get("$ref").and_then(|r| r.as_str()).and_then(|r| r.rsplit('/').next())
                    && seen.insert(name.to_string())
                {
                    todo.push((name.to_string(), schemas[name].clone()));
                }
                if map.get("format").and_then(|f| f.as_str()).is_some_and(|f| f.starts_with("uint"))
                    && !map.contains_key("maximum")
                {
                    unbounded.push(at.clone());
                }
                todo.extend(map.values().map(|v| (at.clone(), v.clone())));
            }
            serde_json::Value::Array(items) => todo.extend(items.iter().map(|v| (at.clone(), v.clone()))),
            _ => {}
        }
    }
    assert!(seen.contains("Report"), "the walk reaches request bodies' schemas: {seen:?}");
    assert!(unbounded.is_empty(), "unsigned integers without a maximum in: {unbounded:?}");
}

#[tokio::test]
async fn a_person_proposes_a_fix_and_memory_shows_it() {
    let target = Target::start(false).await;
    let h = harness(
        &format!("{}{API_WITH_FIX}", head("auto")),
        &target.url,
        &[("OBSCTL_API_TOKEN", "t0ken-for-the-tests")],
    )
    .await;
    assert!(!h.run("api/health").await);
    let id = h.incident().await.id;
    let uri = format!("/api/incidents/{id}/propose");
    let tok = Some("t0ken-for-the-tests");
    let (code, body) = call(&h, Method::POST, &uri, tok, Some(r#"{"steps": [{"tool": "nope.tool"}]}"#)).await;
    assert_eq!((code, body["error"]["code"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_request")));
    let (code, _) = call(&h, Method::POST, &uri, None, Some(r#"{"steps": []}"#)).await;
    assert_eq!(code, StatusCode::UNAUTHORIZED);
    let fix = format!(
        r#"{{"steps": [{{"tool": "http.request", "args": {{"url": "{}/fix", "method": "POST"}}}}], "reason": "known issue", "remember_as_fix": true}}"#,
        target.url
    );
    let (code, body) = call(&h, Method::POST, &uri, tok, Some(&fix)).await;
    assert_eq!((code, body["outcome"].as_str()), (StatusCode::OK, Some("fixed")), "{body}");
    assert_eq!(body["actions"][0]["planner"], "operator:remember");
    let (code, body) = call(&h, Method::POST, &uri, tok, Some(&fix)).await;
    assert_eq!(
        (code, body["error"]["code"].as_str()),
        (StatusCode::CONFLICT, Some("conflict")),
        "resolved incidents take no plans"
    );

    let (_, ledger) = call(&h, Method::GET, "/api/memory/ledger?cluster=http-down@api", Some(TOKEN), None).await;
    assert_eq!((ledger[0]["attempts"].as_u64(), ledger[0]["successes"].as_u64()), (Some(1), Some(1)));
    let episode = ledger[0]["episodes"][0].as_str().unwrap().to_string();
    let (code, ep) = call(&h, Method::GET, &format!("/api/memory/episodes/{episode}"), Some(TOKEN), None).await;
    assert_eq!((code, ep["outcome"].as_str()), (StatusCode::OK, Some("fixed")));
    let (code, _) = call(&h, Method::GET, "/api/memory/episodes/nope", Some(TOKEN), None).await;
    assert_eq!(code, StatusCode::NOT_FOUND);
    let (code, hits) =
        call(&h, Method::GET, "/api/memory/search?q=api%20health%20status%20500&limit=3", Some(TOKEN), None).await;
    assert_eq!((code, hits[0]["episode_id"].as_str()), (StatusCode::OK, Some(episode.as_str())), "{hits}");
    let (_, none) = call(&h, Method::GET, "/api/memory/search?q=status%20500&service=db", Some(TOKEN), None).await;
    assert_eq!(none, serde_json::json!([]));
    let (code, _) = call(&h, Method::GET, "/api/memory/search", Some(TOKEN), None).await;
    assert_eq!(code, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn the_graph_answers_root_cause_blast_radius_and_history() {
    let target = Target::start(false).await;
    let closed = crate::support::closed_addr();
    let api = API_WITH_FIX.replacen("name = \"api\"", "name = \"api\"\ndepends_on = [\"db\"]", 1);
    let body = format!(
        "{}{api}\n[[service]]\nname = \"db\"\n  [[service.check]]\n  name = \"port\"\n  kind = \"tcp\"\n  address = \"{closed}\"\n  fail_after = 1\n  recover_after = 1\n",
        head("auto")
    );
    let h = harness(&body, &target.url, &[]).await;
    assert!(!h.run("db/port").await);
    assert!(!h.run("api/health").await);
    let open = h.open_incidents().await;
    let (api_inc, db_inc) =
        (open.iter().find(|i| i.service == "api").unwrap(), open.iter().find(|i| i.service == "db").unwrap());
    let (code, up) =
        call(&h, Method::GET, &format!("/api/graph/incidents/{}/upstream", api_inc.id), Some(TOKEN), None).await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(
        (up[0]["service"].as_str(), up[0]["incident_id"].as_str(), up[0]["depth"].as_u64()),
        (Some("db"), Some(db_inc.id.as_str()), Some(1))
    );
    let (_, radius) = call(&h, Method::GET, "/api/graph/services/db/blast-radius", Some(TOKEN), None).await;
    assert_eq!(radius, serde_json::json!([{"service": "api", "depth": 1}]));
    let (code, _) = call(&h, Method::GET, "/api/graph/services/ghost/blast-radius", Some(TOKEN), None).await;
    assert_eq!(code, StatusCode::NOT_FOUND);
    let (code, _) = call(&h, Method::GET, "/api/graph/incidents/nope/upstream", Some(TOKEN), None).await;
    assert_eq!(code, StatusCode::NOT_FOUND);

    // Once db recovers, api's fix runs; history and similar fixes show it.
    let db_port = tokio::net::TcpListener::bind(closed).await.unwrap();
    assert!(h.run("db/port").await);
    let report = h.rt.agent.handle_incident(&api_inc.id).await.unwrap();
    assert_eq!(report.outcome, Some(obsctl_core::action::Outcome::Fixed), "{report:#?}");
    drop(db_port);
    let (_, history) = call(&h, Method::GET, "/api/graph/services/api/history", Some(TOKEN), None).await;
    assert_eq!((history[0]["tool"].as_str(), history[0]["outcome"].as_str()), (Some("http.request"), Some("fixed")));
    let (_, similar) =
        call(&h, Method::GET, &format!("/api/graph/incidents/{}/similar-fixes", api_inc.id), Some(TOKEN), None).await;
    assert_eq!(similar[0]["successes"], 1);
}

/// As a central: a push needs the token; a batch holding one episode that does not match its
/// hash is refused whole with the reason; a good batch is stored once however often it comes.
#[tokio::test]
async fn a_central_takes_valid_pushes_once_and_refuses_altered_ones_whole() {
    let (_target, h) = approve_mode().await;
    let text = "---\ntitle: Queue backlog on the mailer\nservice: mailer\n---\nbody\n";
    let good = obsctl_core::memory::postmortem::parse(text, "mailer.md", "edge-a").unwrap();
    let mut altered = obsctl_core::memory::postmortem::parse(text, "other.md", "edge-a").unwrap();
    altered.text = "changed on the way".into();
    let body =
        |episodes: serde_json::Value| serde_json::json!({"instance": "edge-a", "episodes": episodes}).to_string();
    let push = "/api/memory/sync/push";
    let (status, _) = call(&h, Method::POST, push, None, Some(&body(serde_json::json!([good])))).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, result) =
        call(&h, Method::POST, push, Some(TOKEN), Some(&body(serde_json::json!([good, altered])))).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(result["added"], 0, "{result}");
    assert!(result["rejected"][0]["why"].as_str().unwrap().contains("does not match its content"), "{result}");
    assert_eq!(h.rt.store.episode_count().await.unwrap(), 0, "nothing of a refused batch is stored");
    for expected in ["added", "unchanged"] {
        let (_, result) = call(&h, Method::POST, push, Some(TOKEN), Some(&body(serde_json::json!([good])))).await;
        assert_eq!(result[expected], 1, "{result}");
    }
    let (status, page) = call(&h, Method::GET, "/api/memory/sync/pull?exclude_origin=edge-b", Some(TOKEN), None).await;
    assert_eq!(
        (status, page["episodes"][0]["id"].as_str(), page["more"].as_bool()),
        (StatusCode::OK, Some("pm-mailer"), Some(false))
    );
    let (_, own) = call(&h, Method::GET, "/api/memory/sync/pull?exclude_origin=edge-a", Some(TOKEN), None).await;
    assert_eq!(own["episodes"].as_array().unwrap().len(), 0, "the asker's own are left out");
    assert_eq!(own["next"], page["next"], "but read past");
}

/// Issue 27, finding 11: a check whose URL changed kept the old target's uptime history under
/// its name. Now it starts afresh at the first start with the new URL; the old history is kept
/// under `<id> (until <time>)`; a restart with the same URL moves nothing.
#[tokio::test]
async fn a_check_whose_url_changed_starts_a_new_history() {
    let (old, new) = (Target::start(true).await, Target::start(false).await);
    let body = format!("{}{API_CHECK}", head("observe"));
    let Harness { rt, dir } = harness(&body, &old.url, &[]).await;
    assert!(rt.monitor.run_check("api/health").await.unwrap().0.ok);
    rt.monitor.flush().await;
    rt.stop().await;
    let history = |rt: &obsctl::runtime::Runtime| {
        let store = rt.store.clone();
        async move { store.recent_observations("api/health", 10).await.unwrap() }
    };
    for restart in 0..2 {
        let rt = runtime_in(&body, &new.url, dir.path(), &[]).await;
        if restart == 0 {
            assert!(history(&rt).await.is_empty(), "the new URL starts afresh");
            assert!(!rt.monitor.run_check("api/health").await.unwrap().0.ok);
            rt.monitor.flush().await;
        }
        let seen = history(&rt).await;
        assert_eq!(seen.iter().map(|o| o.ok).collect::<Vec<_>>(), [false], "restart {restart}: {seen:?}");
        let kept = rt.store.latest_observations().await.unwrap();
        let aside: Vec<_> = kept.iter().filter(|o| o.check_id.starts_with("api/health (until ")).collect();
        assert_eq!(aside.len(), 1, "the old URL's history is kept once: {kept:?}");
        assert!(aside[0].ok);
        rt.stop().await;
    }
}
