//! Alert ingestion: the webhooks through the router (idempotence, resolution, runbooks on
//! alert kinds and labels, auth per source, bad input, a flooding source), and a real
//! Alertmanager (Debian's `prometheus-alertmanager`) posting to a real obsctl listener.

use std::collections::HashSet;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use obsctl_core::alert::{AlertSource, AlertStatus};
use obsctl_core::incident::IncidentStatus;
use obsctl_store::{AlertFilter, IncidentFilter};
use serde_json::{Value, json};
use tower::ServiceExt;

use crate::support::{API_WITH_FIX, Harness, Target, eventually, free_port, harness, head};

const AM_FIXTURE: &str = include_str!("../../../obsctl-engine/tests/fixtures/alertmanager-webhook-v4.json");
const GRAFANA_FIXTURE: &str = include_str!("../../../obsctl-engine/tests/fixtures/grafana-webhook.json");
const TOKEN: &str = "api-t0ken-for-the-tests";

async fn post(
    h: &Harness,
    path: &str,
    auth: Option<&str>,
    body: impl Into<Body>,
) -> (StatusCode, Value, Option<String>) {
    let mut req = Request::builder().method("POST").uri(path).header("content-type", "application/json");
    if let Some(a) = auth {
        req = req.header("authorization", a);
    }
    let resp = obsctl_server::router(h.rt.app_state()).oneshot(req.body(body.into()).unwrap()).await.unwrap();
    let status = resp.status();
    let challenge = resp.headers().get("www-authenticate").map(|v| v.to_str().unwrap().to_string());
    let bytes = axum::body::to_bytes(resp.into_body(), 1 << 20).await.unwrap();
    (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null), challenge)
}

/// An Alertmanager body with one alert.
fn am_body(status: &str, fingerprint: &str, starts_at: &str, labels: Value) -> String {
    json!({
        "version": "4", "status": status, "receiver": "obsctl", "groupKey": "{}:{}", "truncatedAlerts": 0,
        "groupLabels": {}, "commonLabels": {}, "commonAnnotations": {}, "externalURL": "http://am:9093",
        "alerts": [{
            "status": status, "labels": labels,
            "annotations": {"summary": "checkout 5xx above 5%", "runbook_url": "https://runbooks.example/5xx"},
            "startsAt": starts_at, "endsAt": "0001-01-01T00:00:00Z",
            "generatorURL": "http://prometheus:9090/graph?g0.expr=x", "fingerprint": fingerprint
        }]
    })
    .to_string()
}

fn checkout() -> Value {
    json!({"alertname": "HighErrorRate", "service": "checkout", "severity": "page"})
}

#[tokio::test]
async fn a_failing_dependency_suppresses_alerts_and_an_alert_suppresses_dependents() {
    let target = Target::start(false).await;
    let api = API_WITH_FIX.replacen("name = \"api\"", "name = \"api\"\ndepends_on = [\"db\"]", 1);
    let body = format!(
        "{}{api}\n[[service]]\nname = \"db\"\n[[service]]\nname = \"web\"\ndepends_on = [\"api\"]\n",
        head("auto")
    );
    let h = harness(&body, &target.url, &[]).await;
    // The database's alert fires: an incident of db, nothing above it to explain it.
    let db = json!({"alertname": "PostgresDown", "service": "db"});
    post(&h, "/api/v1/alerts/alertmanager", None, am_body("firing", "db0000000000000f", "2026-11-30T00:00:00Z", db))
        .await;
    let db_incident = h.open_incidents().await.into_iter().find(|i| i.service == "db").unwrap();
    assert_eq!(db_incident.upstream_incident, None);
    // The API's health check then fails: explained by the database's alert, so no action.
    assert!(!h.run("api/health").await);
    let api_incident = h.open_incidents().await.into_iter().find(|i| i.service == "api").unwrap();
    assert_eq!(api_incident.upstream_incident.as_deref(), Some(db_incident.id.as_str()));
    let report = h.rt.agent.handle_incident(&api_incident.id).await.unwrap();
    assert_eq!(report.actions[0].state, obsctl_core::action::ActionState::Observed);
    assert!(report.actions[0].reason.contains("dependency db is failing"), "{}", report.actions[0].reason);
    assert_eq!(target.fixes(), 0);
    // An alert on web (which depends on api, which depends on db) is suppressed too.
    let web = json!({"alertname": "HighLatency", "service": "web"});
    post(&h, "/api/v1/alerts/alertmanager", None, am_body("firing", "web000000000000f", "2026-11-30T00:00:00Z", web))
        .await;
    let web_incident = h.open_incidents().await.into_iter().find(|i| i.service == "web").unwrap();
    assert!(web_incident.upstream_incident.is_some());
    assert!(h.event_kinds(&web_incident.id).await.contains(&"suppressed".to_string()));
}

#[tokio::test]
async fn a_large_delivery_opens_each_new_incident_and_reopens_the_old_one_in_one_go() {
    let h = harness(&head("observe"), "", &[]).await;
    let labels =
        |n: usize| json!({"alertname": "DiskFull", "service": format!("svc-{}", n % 7), "node": n.to_string()});
    let alert = |n: usize, status: &str, starts: &str| {
        json!({"status": status, "labels": labels(n), "annotations": {"summary": format!("disk full on node {n}")},
               "startsAt": starts, "endsAt": "0001-01-01T00:00:00Z", "fingerprint": format!("{n:016x}")})
    };
    let body = |alerts: Vec<Value>| {
        json!({"version": "4", "status": "firing", "receiver": "obsctl", "groupKey": "{}:{}", "truncatedAlerts": 0,
               "groupLabels": {}, "commonLabels": {}, "commonAnnotations": {}, "externalURL": "http://am:9093",
               "alerts": alerts})
        .to_string()
    };
    // Alert 0 fires and resolves: its incident is resolved, within the reopen window.
    for status in ["firing", "resolved"] {
        let (code, report, _) =
            post(&h, "/api/v1/alerts/alertmanager", None, body(vec![alert(0, status, "2026-11-30T00:00:00Z")])).await;
        assert_eq!(code, StatusCode::OK, "{report}");
    }
    let first = h.rt.store.list_incidents(&IncidentFilter::default()).await.unwrap().remove(0);
    assert_eq!(first.status, IncidentStatus::Resolved);
    let mut bus = h.rt.bus.subscribe();
    // One delivery: alert 0 fires again (a new episode) beside 299 new alerts.
    let mut alerts = vec![alert(0, "firing", "2026-11-30T01:00:00Z")];
    alerts.extend((1..300).map(|n| alert(n, "firing", "2026-11-30T01:00:00Z")));
    let (code, report, _) = post(&h, "/api/v1/alerts/alertmanager", None, body(alerts)).await;
    assert_eq!(code, StatusCode::OK, "{report}");
    assert_eq!((report["opened"].as_u64(), report["incidents"].as_array().unwrap().len()), (Some(300), 300));
    let open = h.open_incidents_all().await;
    assert_eq!(open.len(), 300, "one incident per alert");
    let reopened = open.iter().find(|i| i.id == first.id).expect("alert 0 reopened its incident");
    assert_eq!(reopened.reopen_count, 1);
    for incident in open.iter().filter(|i| i.id != first.id).take(5) {
        assert_eq!(h.event_kinds(&incident.id).await, ["opened", "alert"]);
        assert!(incident.title.starts_with("disk full on node"));
    }
    let mut announced = HashSet::new();
    while let Ok(event) = bus.try_recv() {
        if let obsctl_core::event::Event::IncidentOpened { incident_id } = event {
            announced.insert(incident_id);
        }
    }
    assert_eq!(announced.len(), 300, "the agent hears of every opened incident");
    let stored = h.rt.store.list_alerts(&AlertFilter { limit: 1000, ..Default::default() }).await.unwrap();
    assert_eq!(stored.len(), 300);
    assert!(stored.iter().all(|r| r.incident_id.is_some() && r.alert.status == AlertStatus::Firing));
}

#[tokio::test]
async fn an_alert_opens_one_incident_however_often_it_comes_and_resolving_it_resolves_the_incident() {
    let h = harness(&head("observe"), "", &[]).await;
    let (code, report, _) = post(&h, "/api/v1/alerts/alertmanager", None, AM_FIXTURE).await;
    assert_eq!(code, StatusCode::OK, "{report}");
    // The fixture: checkout firing, cart resolved (never seen firing: kept, no incident).
    assert_eq!(
        (report["received"].as_u64(), report["opened"].as_u64(), report["truncated"].as_u64()),
        (Some(2), Some(1), Some(2))
    );
    let incident = h.incident().await;
    assert_eq!((incident.service.as_str(), incident.kind.as_str()), ("checkout", "HighErrorRate"));
    assert_eq!(incident.check_id, "alert:alertmanager:b7d2c1a3f0e94d21");
    assert_eq!(incident.title, "checkout answers 7.2% of requests with 5xx");
    let events = h.rt.store.events(&incident.id).await.unwrap();
    let alert = events.iter().find(|e| e.kind == "alert").expect("the annotations are on the timeline");
    assert!(alert.message.contains("runbook_url: https://runbooks.example/high-error-rate"), "{}", alert.message);
    let opened = events.iter().find(|e| e.kind == "opened").unwrap();
    assert!(opened.data["source_url"].as_str().unwrap().starts_with("http://prometheus.local:9090/graph"));

    // The same notification again, twice: one incident still, counted as repeats.
    for _ in 0..2 {
        let (_, again, _) = post(&h, "/api/v1/alerts/alertmanager", None, AM_FIXTURE).await;
        assert_eq!((again["opened"].as_u64(), again["repeated"].as_u64()), (Some(0), Some(2)));
    }
    assert_eq!(h.rt.store.list_incidents(&IncidentFilter::default()).await.unwrap().len(), 1);
    let kept = h.rt.store.list_alerts(&AlertFilter::default()).await.unwrap();
    assert_eq!(kept.len(), 2, "the resolved cart alert is kept too");
    assert!(kept.iter().all(|r| r.deliveries == 3));
    let deliveries = h.rt.store.alert_deliveries(10).await.unwrap();
    assert_eq!((deliveries.len(), deliveries[0].truncated), (3, 2), "truncatedAlerts is recorded");

    // Resolved: the incident resolves; the late firing retry of the same episode changes nothing.
    let resolved = am_body("resolved", "b7d2c1a3f0e94d21", "2025-11-29T09:58:30.123Z", checkout());
    let (_, report, _) = post(&h, "/api/v1/alerts/alertmanager", None, resolved).await;
    assert_eq!(report["resolved"].as_u64(), Some(1));
    let incident = h.rt.store.incident(&incident.id).await.unwrap();
    assert_eq!(incident.status, IncidentStatus::Resolved);
    assert_eq!(incident.resolution.as_deref(), Some("resolved at the source (alertmanager)"));
    let late = am_body("firing", "b7d2c1a3f0e94d21", "2025-11-29T09:58:30.123Z", checkout());
    let (_, report, _) = post(&h, "/api/v1/alerts/alertmanager", None, late).await;
    assert_eq!((report["stale"].as_u64(), report["opened"].as_u64()), (Some(1), Some(0)));
    assert!(h.open_incidents().await.is_empty());
    // Firing again later: the same incident reopens (within reopen_within).
    let again = am_body("firing", "b7d2c1a3f0e94d21", "2025-11-29T10:30:00Z", checkout());
    let (_, report, _) = post(&h, "/api/v1/alerts/alertmanager", None, again).await;
    assert_eq!(report["opened"].as_u64(), Some(1));
    let reopened = h.incident().await;
    assert_eq!((reopened.id, reopened.reopen_count), (incident.id, 1));
}

/// Found by the API fuzzer: one delivery naming the same alert twice, firing then resolved,
/// answered 500 (the resolve looked in the store for the incident the same delivery was only
/// opening). The alert's last word in a delivery counts; the first, a repeat, changes nothing.
#[tokio::test]
async fn an_alert_named_twice_in_one_delivery_counts_by_its_last_word() {
    let h = harness(&head("observe"), "", &[]).await;
    let alert = |status: &str, starts_at: &str| {
        json!({"status": status, "labels": checkout(), "annotations": {}, "startsAt": starts_at,
               "endsAt": "0001-01-01T00:00:00Z", "generatorURL": "http://p", "fingerprint": "twice"})
    };
    let body = |alerts: Vec<Value>| {
        json!({"version": "4", "status": "firing", "receiver": "obsctl", "groupKey": "{}", "truncatedAlerts": 0,
               "groupLabels": {}, "commonLabels": {}, "commonAnnotations": {}, "externalURL": "http://am",
               "alerts": alerts})
        .to_string()
    };
    let at = "2025-11-29T09:58:30Z";
    let (code, report, _) =
        post(&h, "/api/v1/alerts/alertmanager", None, body(vec![alert("firing", at), alert("resolved", at)])).await;
    assert_eq!(code, StatusCode::OK, "{report}");
    assert!(h.open_incidents().await.is_empty(), "resolved was its last word");
    // A new episode (it started later): firing was its last word.
    let later = "2025-11-29T10:30:00Z";
    let (code, report, _) =
        post(&h, "/api/v1/alerts/alertmanager", None, body(vec![alert("resolved", at), alert("firing", later)])).await;
    assert_eq!((code, report["opened"].as_u64()), (StatusCode::OK, Some(1)), "{report}");
    assert_eq!(h.open_incidents().await.len(), 1);
    let (code, _, _) =
        post(&h, "/api/v1/alerts/alertmanager", None, body(vec![alert("firing", later), alert("firing", later)])).await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(h.rt.store.list_incidents(&IncidentFilter::default()).await.unwrap().len(), 1, "one incident");
}

#[tokio::test]
async fn grafana_and_generic_alerts_become_incidents_with_a_link_back() {
    let h = harness(&head("observe"), "", &[]).await;
    let (code, report, _) = post(&h, "/api/v1/alerts/grafana", None, GRAFANA_FIXTURE).await;
    assert_eq!((code, report["opened"].as_u64()), (StatusCode::OK, Some(1)), "{report}");
    let generic =
        json!({"kind": "queue-backlog", "summary": "invoices queue is 10k deep", "url": "http://queue/admin"});
    let (code, report, _) = post(&h, "/api/v1/alerts/generic", None, generic.to_string()).await;
    assert_eq!((code, report["opened"].as_u64()), (StatusCode::OK, Some(1)), "{report}");
    let open = h.open_incidents().await;
    let grafana = open.iter().find(|i| i.kind == "CheckoutLatency").unwrap();
    let page = h.viewer_get(&format!("/ui/incidents/{}", grafana.id)).await;
    assert!(
        page.contains("http://grafana.local:3000/d/abc/checkout?viewPanel=2"),
        "the incident page links to the panel"
    );
    // A service obsctl does not know, and an event with none: kept and shown, never dropped.
    let queue = open.iter().find(|i| i.kind == "queue-backlog").unwrap();
    assert_eq!(queue.service, "unknown");
    let listed = h.viewer_get("/api/alerts?source=generic").await;
    assert!(listed.contains("invoices queue is 10k deep"), "{listed}");
    let resolved = json!({"kind": "queue-backlog", "status": "resolved"});
    let (_, report, _) = post(&h, "/api/v1/alerts/generic", None, resolved.to_string()).await;
    assert_eq!(report["resolved"].as_u64(), Some(1), "{report}");
}

#[tokio::test]
async fn a_runbook_matches_an_alerts_kind_and_labels_and_the_fix_is_verified_by_the_source() {
    let target = Target::start(true).await;
    let body = format!(
        r#"{}
[alerts.kinds]
HighErrorRate = "error-rate"

[[runbook]]
name = "roll back checkout"
when = {{ incident = "error-rate", labels = {{ severity = "page" }} }}
steps = [{{ tool = "http.request", args = {{ url = "{{url}}/fix", method = "POST" }} }}]
"#,
        head("auto")
    );
    let h = harness(&body, &target.url, &[]).await;
    let firing = am_body("firing", "fp-1", "2025-11-29T09:58:30Z", checkout());
    post(&h, "/api/v1/alerts/alertmanager", None, firing).await;
    let incident = h.incident().await;
    assert_eq!(incident.kind, "error-rate", "the kinds table maps the alertname");
    let report = h.rt.agent.handle_incident(&incident.id).await.unwrap();
    assert_eq!(report.plan.as_ref().map(|p| p.planner), Some("runbook"), "{report:?}");
    assert_eq!(target.fixes(), 1, "the runbook's step ran");
    // Still firing at the source: the fix is not (yet) verified.
    assert_eq!(report.outcome.map(|o| o.as_str()), Some("not_fixed"), "{report:?}");
    // A second alert without the label the runbook wants: no plan.
    let other =
        am_body("firing", "fp-2", "2025-11-29T09:58:30Z", json!({"alertname": "HighErrorRate", "service": "cart"}));
    post(&h, "/api/v1/alerts/alertmanager", None, other).await;
    let cart = h.open_incidents().await.into_iter().find(|i| i.service == "cart").unwrap();
    let report = h.rt.agent.handle_incident(&cart.id).await.unwrap();
    assert!(report.plan.is_none(), "{report:?}");
}

#[tokio::test]
async fn each_source_needs_its_own_credential_or_the_api_token() {
    let body = format!(
        "{}\n[alerts.alertmanager]\nusername = \"am\"\npassword = \"am-password-0123456\"\n[alerts.generic]\ntoken = \"generic-t0ken-0123456\"\n",
        head("observe")
    );
    let h = harness(&body, "", &[("OBSCTL_API_TOKEN", TOKEN)]).await;
    let basic = |user: &str, pass: &str| {
        use base64::Engine as _;
        format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}")))
    };
    let am = "/api/v1/alerts/alertmanager";
    let (code, error, challenge) = post(&h, am, None, AM_FIXTURE).await;
    assert_eq!((code, error["error"]["code"].as_str()), (StatusCode::UNAUTHORIZED, Some("unauthorized")));
    assert_eq!(challenge.as_deref(), Some("Basic realm=\"obsctl alerts\""));
    assert_eq!(post(&h, am, Some(&basic("am", "wrong-password-0000")), AM_FIXTURE).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(post(&h, am, Some(&basic("am", "am-password-0123456")), AM_FIXTURE).await.0, StatusCode::OK);
    assert_eq!(post(&h, am, Some(&format!("Bearer {TOKEN}")), AM_FIXTURE).await.0, StatusCode::OK);
    // Grafana has no credential of its own: the API token, nothing else.
    let grafana = "/api/v1/alerts/grafana";
    let (code, error, _) = post(&h, grafana, None, GRAFANA_FIXTURE).await;
    assert_eq!(code, StatusCode::UNAUTHORIZED);
    assert!(error["error"]["message"].as_str().unwrap().contains("[alerts.grafana] token"), "{error}");
    assert_eq!(
        post(&h, grafana, Some("Bearer generic-t0ken-0123456"), GRAFANA_FIXTURE).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(post(&h, grafana, Some(&format!("Bearer {TOKEN}")), GRAFANA_FIXTURE).await.0, StatusCode::OK);
    let generic = r#"{"kind":"x"}"#;
    assert_eq!(
        post(&h, "/api/v1/alerts/generic", Some("Bearer generic-t0ken-0123456"), generic).await.0,
        StatusCode::OK
    );
    // Reading what was received is a read like any other: it needs the API token.
    let resp = obsctl_server::router(h.rt.app_state())
        .oneshot(Request::builder().uri("/api/alerts").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    // So is /metrics, which counts the webhook requests by source and status.
    let metrics = |auth: Option<&str>| {
        let mut req = Request::builder().uri("/metrics");
        if let Some(a) = auth {
            req = req.header("authorization", a);
        }
        obsctl_server::router(h.rt.app_state()).oneshot(req.body(Body::empty()).unwrap())
    };
    assert_eq!(metrics(None).await.unwrap().status(), StatusCode::UNAUTHORIZED);
    let resp = metrics(Some(&format!("Bearer {TOKEN}"))).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let text = String::from_utf8(axum::body::to_bytes(resp.into_body(), 1 << 20).await.unwrap().to_vec()).unwrap();
    for line in [
        "obsctl_webhook_requests_total{source=\"alertmanager\",status=\"401\"} 2",
        "obsctl_webhook_requests_total{source=\"alertmanager\",status=\"200\"} 2",
        "obsctl_incidents_open 3",
    ] {
        assert!(text.contains(line), "{line} missing from\n{text}");
    }
}

#[tokio::test]
async fn bad_bodies_get_a_clear_4xx_and_change_nothing() {
    let body = format!("{}\n[alerts]\nmax_body = \"4KiB\"\n", head("observe"));
    let h = harness(&body, "", &[]).await;
    let am = "/api/v1/alerts/alertmanager";
    let huge = am_body("firing", "f", "2025-11-29T09:58:30Z", json!({"alertname": "x".repeat(5000)}));
    let cases: [(&str, String, StatusCode, &str); 6] = [
        (am, "{\"version\":\"4\",".into(), StatusCode::BAD_REQUEST, "invalid_json"),
        (am, r#"{"version":"3","alerts":[]}"#.into(), StatusCode::BAD_REQUEST, "unsupported_version"),
        (
            am,
            r#"{"version":"4","alerts":[{"status":"firing"},{"status":"maybe"}]}"#.into(),
            StatusCode::BAD_REQUEST,
            "invalid_alert",
        ),
        (am, huge, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"),
        (
            "/api/v1/alerts/grafana",
            AM_FIXTURE.replace("\"4\"", "\"1\"").replace("\"status\": \"firing\"", "\"status\": 7"),
            StatusCode::BAD_REQUEST,
            "invalid_json",
        ),
        ("/api/v1/alerts/generic", r#"{"kind":"x","severity":"high"}"#.into(), StatusCode::BAD_REQUEST, "invalid_json"),
    ];
    for (path, body, status, code) in cases {
        let (got, error, _) = post(&h, path, None, body.clone()).await;
        assert_eq!((got, error["error"]["code"].as_str()), (status, Some(code)), "{path} {body:.80}: {error}");
        assert!(!error["error"]["message"].as_str().unwrap().is_empty());
    }
    // A body with one bad alert among good ones is refused whole: nothing half-applied.
    assert!(h.rt.store.list_alerts(&AlertFilter::default()).await.unwrap().is_empty());
    assert!(h.open_incidents().await.is_empty());
}

#[tokio::test]
async fn a_source_that_floods_is_told_to_retry_and_the_others_are_not() {
    let body = format!("{}\n[alerts]\nmax_in_flight = 1\n", head("observe"));
    let h = harness(&body, "", &[]).await;
    let busy = h.rt.alerts.admit(AlertSource::Alertmanager).expect("a free slot");
    let resp = obsctl_server::router(h.rt.app_state())
        .oneshot(Request::post("/api/v1/alerts/alertmanager").body(Body::from(AM_FIXTURE)).unwrap())
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(resp.headers()["retry-after"], "1");
    assert_eq!(post(&h, "/api/v1/alerts/grafana", None, GRAFANA_FIXTURE).await.0, StatusCode::OK);
    drop(busy);
    assert_eq!(post(&h, "/api/v1/alerts/alertmanager", None, AM_FIXTURE).await.0, StatusCode::OK);
}

/// Waits for `<url>/-/ready` to answer 200.
async fn ready(url: &str, what: &str) {
    let client = reqwest::Client::new();
    eventually(60, &format!("{what} ready"), || async {
        client.get(format!("{url}/-/ready")).send().await.ok().filter(|r| r.status().is_success())
    })
    .await;
}

/// A real Alertmanager on loopback, notifying obsctl's webhook with the API token.
struct Alertmanager {
    url: String,
    _child: tokio::process::Child,
    _dir: tempfile::TempDir,
}

impl Alertmanager {
    async fn start(webhook: &str, token: &str) -> Self {
        Self::start_on(free_port(), webhook, token).await
    }

    async fn start_on(port: u16, webhook: &str, token: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let config = format!(
            "route:\n  receiver: obsctl\n  group_by: ['alertname', 'service']\n  group_wait: 0s\n  group_interval: 1s\n  repeat_interval: 2s\n\
             receivers:\n- name: obsctl\n  webhook_configs:\n  - url: {webhook}\n    send_resolved: true\n    http_config:\n      authorization:\n        credentials: {token}\n"
        );
        std::fs::write(dir.path().join("am.yml"), config).unwrap();
        let child = tokio::process::Command::new("prometheus-alertmanager")
            .arg(format!("--config.file={}", dir.path().join("am.yml").display()))
            .arg(format!("--storage.path={}", dir.path().display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--cluster.listen-address=")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("Debian's prometheus-alertmanager (scripts/test installs it)");
        let url = format!("http://127.0.0.1:{port}");
        ready(&url, "Alertmanager").await;
        Self { url, _child: child, _dir: dir }
    }

    async fn post(&self, alerts: Value) {
        let resp =
            reqwest::Client::new().post(format!("{}/api/v2/alerts", self.url)).json(&alerts).send().await.unwrap();
        assert!(resp.status().is_success(), "{}", resp.text().await.unwrap());
    }
}

#[tokio::test]
async fn a_real_alertmanager_opens_repeats_and_resolves_an_incident() {
    let h = harness(&head("observe"), "", &[("OBSCTL_API_TOKEN", TOKEN)]).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(obsctl_server::serve(listener, obsctl_server::router(h.rt.app_state()), std::future::pending()));
    let am = Alertmanager::start(&format!("http://{addr}/api/v1/alerts/alertmanager"), TOKEN).await;
    let alert = json!({
        "labels": {"alertname": "HighErrorRate", "service": "checkout", "severity": "page"},
        "annotations": {"summary": "checkout 5xx above 5%"},
        "generatorURL": "http://prometheus.local:9090/graph"
    });
    am.post(json!([alert])).await;
    let incident =
        eventually(30, "the incident to open", || async { h.open_incidents().await.into_iter().next() }).await;
    assert_eq!((incident.service.as_str(), incident.kind.as_str()), ("checkout", "HighErrorRate"));
    // Alertmanager repeats the notification (repeat_interval 2s) and we send the alert again.
    am.post(json!([alert])).await;
    let repeated = eventually(30, "a repeated notification", || async {
        let alerts = h.rt.store.list_alerts(&AlertFilter::default()).await.unwrap();
        alerts.into_iter().find(|r| r.deliveries >= 2)
    })
    .await;
    assert_eq!(repeated.incident_id.as_deref(), Some(incident.id.as_str()));
    assert_eq!(h.rt.store.list_incidents(&IncidentFilter::default()).await.unwrap().len(), 1, "still one incident");
    // Resolve it at Alertmanager: an end time in the past.
    let mut resolved = alert.clone();
    resolved["endsAt"] = json!(obsctl_core::Timestamp::now().rfc3339());
    am.post(json!([resolved])).await;
    let closed = eventually(30, "the incident to resolve", || async {
        let i = h.rt.store.incident(&incident.id).await.unwrap();
        (i.status == IncidentStatus::Resolved).then_some(i)
    })
    .await;
    assert_eq!(closed.resolution.as_deref(), Some("resolved at the source (alertmanager)"));
    // The alert's record is written after its incident changed (see `AlertIntake::ingest`).
    let stored = eventually(10, "the alert recorded as resolved", || async {
        let stored = h.rt.store.list_alerts(&AlertFilter::default()).await.unwrap();
        (stored.first().map(|r| r.alert.status) == Some(AlertStatus::Resolved)).then_some(stored)
    })
    .await;
    assert_eq!(stored.len(), 1);
}

/// A real Prometheus scraping obsctl's `/metrics` (with the API token), evaluating one rule
/// every second and sending to Alertmanager.
struct Prometheus {
    _child: tokio::process::Child,
    _dir: tempfile::TempDir,
}

impl Prometheus {
    async fn start(port: u16, obsctl: &str, alertmanager: &str, token: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let rules = "groups:\n- name: obsctl\n  interval: 1s\n  rules:\n  - alert: ObsctlChecksFailing\n    \
                     expr: sum(obsctl_checks_runs_total{result=\"failed\"}) > 0\n    \
                     labels: { service: obsctl, severity: page }\n    \
                     annotations: { summary: obsctl sees failing checks }\n";
        std::fs::write(dir.path().join("rules.yml"), rules).unwrap();
        let config = format!(
            "global: {{ scrape_interval: 1s, evaluation_interval: 1s }}\nrule_files: [{rules}]\n\
             alerting:\n  alertmanagers:\n  - static_configs: [{{ targets: ['{am}'] }}]\n\
             scrape_configs:\n- job_name: obsctl\n  authorization: {{ credentials: {token} }}\n  static_configs: [{{ targets: ['{obsctl}'] }}]\n",
            rules = dir.path().join("rules.yml").display(),
            am = alertmanager.trim_start_matches("http://"),
        );
        std::fs::write(dir.path().join("prometheus.yml"), config).unwrap();
        let child = tokio::process::Command::new("prometheus")
            .arg(format!("--config.file={}", dir.path().join("prometheus.yml").display()))
            .arg(format!("--storage.tsdb.path={}", dir.path().join("data").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            // Its first notification can be lost before Alertmanager is discovered.
            .arg("--rules.alert.resend-delay=5s")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("Debian's prometheus (scripts/test installs it)");
        ready(&format!("http://127.0.0.1:{port}"), "Prometheus").await;
        Self { _child: child, _dir: dir }
    }
}

#[tokio::test]
async fn a_prometheus_rule_on_obsctls_own_metrics_fires_through_alertmanager_into_an_incident() {
    let (prom_port, am_port) = (free_port(), free_port());
    let prom = format!("http://127.0.0.1:{prom_port}");
    let body = format!(
        r#"{}
[[service]]
name = "web"
  [[service.check]]
  name = "down"
  kind = "http"
  url = "http://{closed}/"
  fail_after = 1
[[service]]
name = "observability"
  [[service.check]]
  name = "prometheus"
  kind = "ready"
  flavor = "prometheus"
  url = "{prom}"
  [[service.check]]
  name = "alertmanager"
  kind = "ready"
  flavor = "alertmanager"
  url = "http://127.0.0.1:{am_port}"
  [[service.check]]
  name = "no-failed-checks"
  kind = "prometheus"
  url = "{prom}"
  query = 'sum(obsctl_checks_runs_total{{result="failed"}})'
  max = 0
  on_empty = "ok"
  [[service.check]]
  name = "obsctl-metrics-arrive"
  kind = "telemetry_freshness"
  signal = "metrics"
  url = "{prom}"
  query = 'obsctl_checks_runs_total'
  within = "1m"
"#,
        head("observe"),
        closed = crate::support::closed_addr(),
    );
    let h = harness(&body, "", &[("OBSCTL_API_TOKEN", TOKEN)]).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(obsctl_server::serve(listener, obsctl_server::router(h.rt.app_state()), std::future::pending()));
    let am = Alertmanager::start_on(am_port, &format!("http://{addr}/api/v1/alerts/alertmanager"), TOKEN).await;
    let _prometheus = Prometheus::start(prom_port, &addr.to_string(), &am.url, TOKEN).await;
    assert!(h.run("observability/prometheus").await && h.run("observability/alertmanager").await);
    assert!(!h.run("web/down").await, "a failing check, counted in obsctl_checks_runs_total");

    // Prometheus scrapes it, its rule fires, Alertmanager posts it: an incident opens.
    let incident = eventually(60, "the rule's alert to open an incident", || async {
        h.open_incidents().await.into_iter().find(|i| i.kind == "ObsctlChecksFailing")
    })
    .await;
    assert_eq!((incident.service.as_str(), incident.title.as_str()), ("obsctl", "obsctl sees failing checks"));
    // The PromQL check sees the same series through the real Prometheus, and the freshness
    // check sees obsctl's own metrics arriving.
    let failing = h.rt.monitor.run_check("observability/no-failed-checks").await.unwrap().0;
    assert!(!failing.ok && failing.detail.contains("not at most 0"), "{}", failing.detail);
    let fresh = h.rt.monitor.run_check("observability/obsctl-metrics-arrive").await.unwrap().0;
    assert!(fresh.ok, "{}", fresh.detail);
}
