//! The stack checks against loopback servers that answer with Prometheus', Loki's, Tempo's,
//! Grafana's and the OpenTelemetry collector's documented bodies (`tests/fixtures/`), asserting
//! the requests they make too.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::routing::get;
use obsctl_core::Secret;
use obsctl_core::check::{
    CollectorProbe, Endpoint, FreshnessProbe, FreshnessSource, Probe, PromQueryProbe, StackFlavor, TelemetrySignal,
};

use crate::probes::run;

/// What the fake stack answers and what it was asked.
#[derive(Default)]
struct Stack {
    ready: std::sync::atomic::AtomicBool,
    metrics_page: Mutex<String>,
    queries: Mutex<Vec<String>>,
    tenant_headers: Mutex<Vec<String>>,
}

fn decoded(q: &Option<String>) -> String {
    let q = q.clone().unwrap_or_default();
    serde_urlencoded::from_str::<Vec<(String, String)>>(&q)
        .map(|pairs| pairs.into_iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("&"))
        .unwrap_or(q)
}

async fn start() -> (String, Arc<Stack>) {
    let stack = Arc::new(Stack::default());
    *stack.metrics_page.lock().unwrap() = include_str!("../fixtures/otelcol-metrics-failing-exporter.txt").into();
    let remember = |s: &Stack, q: &Option<String>| s.queries.lock().unwrap().push(decoded(q));
    let app = axum::Router::new()
        .route("/-/ready", get(|| async { "Prometheus Server is Ready.\n" }))
        .route(
            "/ready",
            get(|State(s): State<Arc<Stack>>| async move {
                if s.ready.load(std::sync::atomic::Ordering::SeqCst) {
                    (StatusCode::OK, "ready\n")
                } else {
                    (StatusCode::SERVICE_UNAVAILABLE, "Ingester not ready: waiting for 15s after being ready\n")
                }
            }),
        )
        .route("/api/health", get(|| async { include_str!("../fixtures/grafana-health.json") }))
        .route(
            "/api/v1/query",
            get(move |State(s): State<Arc<Stack>>, headers: axum::http::HeaderMap, RawQuery(q): RawQuery| async move {
                remember(&s, &q);
                if let Some(t) = headers.get("x-scope-orgid") {
                    s.tenant_headers.lock().unwrap().push(t.to_str().unwrap().to_string());
                }
                let q = decoded(&q);
                if q.contains("broken") {
                    (StatusCode::BAD_REQUEST, include_str!("../fixtures/prometheus-query-error.json").to_string())
                } else if q.contains("nothing") || q.contains("silent") {
                    (StatusCode::OK, r#"{"status":"success","data":{"resultType":"vector","result":[]}}"#.to_string())
                } else if q.starts_with("query=count(last_over_time(") {
                    (StatusCode::OK, r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1764410400,"3"]}]}}"#.to_string())
                } else {
                    (StatusCode::OK, include_str!("../fixtures/prometheus-query-vector.json").to_string())
                }
            }),
        )
        .route(
            "/loki/api/v1/query_range",
            get(move |State(s): State<Arc<Stack>>, RawQuery(q): RawQuery| async move {
                remember(&s, &q);
                if decoded(&q).contains("silent") {
                    r#"{"status":"success","data":{"resultType":"streams","result":[]}}"#
                } else {
                    include_str!("../fixtures/loki-query-range.json")
                }
            }),
        )
        .route(
            "/api/search",
            get(move |State(s): State<Arc<Stack>>, RawQuery(q): RawQuery| async move {
                remember(&s, &q);
                if decoded(&q).contains("silent") { r#"{"traces":[],"metrics":{}}"# } else { include_str!("../fixtures/tempo-search.json") }
            }),
        )
        .route("/health", get(|| async { include_str!("../fixtures/otelcol-health.json") }))
        .route("/metrics", get(|State(s): State<Arc<Stack>>| async move { s.metrics_page.lock().unwrap().clone() }))
        .with_state(stack.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, stack)
}

fn endpoint(url: &str) -> Endpoint {
    Endpoint { url: url.into(), headers: BTreeMap::new() }
}

fn promql(url: &str, query: &str, max: Option<f64>, empty_ok: bool) -> Probe {
    Probe::Prometheus(PromQueryProbe { endpoint: endpoint(url), query: query.into(), min: None, max, empty_ok })
}

#[tokio::test]
async fn a_promql_check_fails_on_the_series_past_its_limit_and_empty_results_as_configured() {
    let (url, stack) = start().await;
    let (ok, detail) = run(promql(&url, "job:errors:ratio5m", Some(0.05), false), 2000).await;
    assert!(!ok);
    assert_eq!(detail, "1 of 2 series not at most 0.05: {service=cart} 0.09");
    assert!(run(promql(&url, "job:errors:ratio5m", Some(0.1), false), 2000).await.0);
    let (ok, detail) = run(promql(&url, "nothing", Some(1.0), false), 2000).await;
    assert!(!ok && detail.contains("returned nothing"), "{detail}");
    assert!(run(promql(&url, "nothing", Some(1.0), true), 2000).await.0, "on_empty = ok");
    let (ok, detail) = run(promql(&url, "broken(", Some(1.0), true), 2000).await;
    assert!(!ok && detail.contains("bad_data") && detail.contains("parse error"), "{detail}");
    let mut with_tenant = endpoint(&url);
    with_tenant.headers.insert("X-Scope-OrgID".into(), Secret::new("team-a"));
    let probe = Probe::Prometheus(PromQueryProbe {
        endpoint: with_tenant,
        query: "up".into(),
        min: Some(0.0),
        max: None,
        empty_ok: false,
    });
    assert!(run(probe, 2000).await.0);
    assert_eq!(*stack.tenant_headers.lock().unwrap(), ["team-a"]);
}

#[tokio::test]
async fn readiness_per_flavor() {
    let (url, stack) = start().await;
    let ready = |flavor| Probe::Ready { endpoint: endpoint(&url), flavor };
    assert_eq!(
        run(ready(StackFlavor::Prometheus), 2000).await,
        (true, "prometheus ready: Prometheus Server is Ready.".into())
    );
    let (ok, detail) = run(ready(StackFlavor::Loki), 2000).await;
    assert!(!ok);
    assert_eq!(detail, "loki not ready: status 503: Ingester not ready: waiting for 15s after being ready");
    stack.ready.store(true, std::sync::atomic::Ordering::SeqCst);
    for flavor in [StackFlavor::Loki, StackFlavor::Tempo, StackFlavor::Mimir] {
        assert!(run(ready(flavor), 2000).await.0, "{flavor:?}");
    }
    assert_eq!(run(ready(StackFlavor::Grafana), 2000).await, (true, "grafana ready: database ok".into()));
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let down = Probe::Ready { endpoint: endpoint(&format!("http://{closed}")), flavor: StackFlavor::Alertmanager };
    let (ok, detail) = run(down, 2000).await;
    assert!(!ok && detail.starts_with("alertmanager: "), "{detail}");
}

#[tokio::test]
async fn a_collector_that_says_healthy_but_whose_exporter_fails_is_failing_and_named() {
    let (url, stack) = start().await;
    let probe = Probe::OtelCollector(CollectorProbe {
        health: endpoint(&format!("{url}/health")),
        metrics_url: format!("{url}/metrics"),
        max_queue_ratio: 0.99,
    });
    let ctx = obsctl_engine::ProbeContext::new().unwrap();
    let spec = crate::probes::spec(probe, 2000);
    let first = obsctl_engine::probes::run(&spec, &ctx).await;
    assert!(first.ok, "first sight, queue under 99%: {}", first.detail);
    let page = stack.metrics_page.lock().unwrap().replace("} 120", "} 150");
    *stack.metrics_page.lock().unwrap() = page;
    let second = obsctl_engine::probes::run(&spec, &ctx).await;
    assert!(!second.ok);
    assert_eq!(second.detail, "exporter otlp/tempo failing: 30 spans failed to send since the last check");
    // Nothing rose since: healthy again.
    assert!(obsctl_engine::probes::run(&spec, &ctx).await.ok);
}

fn fresh(url: &str, signal: TelemetrySignal, query: &str) -> Probe {
    Probe::TelemetryFreshness(FreshnessProbe {
        source: FreshnessSource::Backend { endpoint: endpoint(url), query: query.into() },
        signal,
        within: Duration::from_secs(300),
    })
}

#[tokio::test]
async fn telemetry_freshness_for_metrics_logs_and_traces() {
    let (url, stack) = start().await;
    let (ok, detail) = run(fresh(&url, TelemetrySignal::Metrics, "{job=\"checkout\"}"), 2000).await;
    assert_eq!((ok, detail.as_str()), (true, "metrics arrived within the last 5m"));
    let (ok, detail) = run(fresh(&url, TelemetrySignal::Logs, "{service_name=\"checkout\"}"), 2000).await;
    assert!(ok && detail.starts_with("logs arrived ") && detail.ends_with("s ago"), "{detail}");
    let (ok, detail) = run(fresh(&url, TelemetrySignal::Traces, "{resource.service.name=\"checkout\"}"), 2000).await;
    assert!(ok && detail.starts_with("traces arrived "), "{detail}");
    for signal in [TelemetrySignal::Metrics, TelemetrySignal::Logs, TelemetrySignal::Traces] {
        let (ok, detail) = run(fresh(&url, signal, "{service=\"silent\"}"), 2000).await;
        assert!(!ok && detail.contains("in the last 5m"), "{signal:?}: {detail}");
    }
    let asked = stack.queries.lock().unwrap().clone();
    assert!(asked[0].starts_with("query=count(last_over_time({job=\"checkout\"}[300s]))"), "{asked:?}");
    assert!(
        asked[1].starts_with("query={service_name=\"checkout\"}&start=")
            && asked[1].ends_with("&limit=1&direction=backward"),
        "{asked:?}"
    );
    assert!(asked[2].starts_with("q={resource.service.name=\"checkout\"}&start="), "{asked:?}");
}
