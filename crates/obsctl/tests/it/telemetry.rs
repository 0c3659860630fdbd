//! Issue 15: applications' telemetry. A real app (the Python OpenTelemetry SDK, from PyPI)
//! exporting to obsctl's OTLP/HTTP receiver; a canary sent through a real collector (rotel,
//! from PyPI) found again in obsctl with its delay; reports that open and resolve the
//! service's `telemetry-misconfigured` incident; bad bodies refused while others are served.

use std::io::Write;

use obsctl_core::incident::IncidentStatus;
use obsctl_core::telemetry::report::MISCONFIGURED_KIND;

use crate::otlp::Rotel;
use crate::support::{Harness, eventually, harness, head};

const TOKEN: &str = "app-token-0123456789";

/// A configured service whose traces must arrive at obsctl's own receiver.
const APP: &str = r#"
[[service]]
name = "checkout"
  [[service.check]]
  name = "traces-arrive"
  kind = "telemetry_freshness"
  signal = "traces"
  within = "1m"
  interval = "1h"

[telemetry]
receiver = true
token = "app-token-0123456789"
"#;

/// The harness with its router on a real loopback port; the base URL.
async fn served() -> (Harness, String) {
    let h = harness(&format!("{}{APP}", head("observe")), "", &[]).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(obsctl_server::serve(listener, obsctl_server::router(h.rt.app_state()), std::future::pending()));
    (h, url)
}

/// A small app instrumented as the OpenTelemetry docs show: a span, a log record and a counter,
/// exported over OTLP/HTTP (protobuf, gzip) where the standard variables say.
const PYTHON_APP: &str = r#"
import logging
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter

resource = Resource.create()
tracer_provider = TracerProvider(resource=resource)
tracer_provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
meter_provider = MeterProvider(resource=resource, metric_readers=[PeriodicExportingMetricReader(OTLPMetricExporter())])
logger_provider = LoggerProvider(resource=resource)
logger_provider.add_log_record_processor(BatchLogRecordProcessor(OTLPLogExporter()))
logging.getLogger().addHandler(LoggingHandler(logger_provider=logger_provider))
logging.getLogger().setLevel(logging.INFO)

with tracer_provider.get_tracer("checkout").start_as_current_span("place order"):
    logging.getLogger("checkout").info("order placed")
meter_provider.get_meter("checkout").create_counter("orders").add(1)

tracer_provider.shutdown()
logger_provider.shutdown()
meter_provider.shutdown()
"#;

#[tokio::test]
async fn an_app_using_the_python_sdk_is_seen_by_the_receiver_and_its_freshness_check_passes() {
    let (h, url) = served().await;
    assert!(!h.run("checkout/traces-arrive").await, "nothing has arrived yet");
    let out = tokio::process::Command::new("python3")
        .arg("-c")
        .arg(PYTHON_APP)
        .env("OTEL_SERVICE_NAME", "checkout")
        .env("OTEL_RESOURCE_ATTRIBUTES", "deployment.environment.name=test")
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", &url)
        .env("OTEL_EXPORTER_OTLP_HEADERS", format!("Authorization=Bearer%20{TOKEN}"))
        .env("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip")
        .output()
        .await
        .expect("python3 with opentelemetry-sdk (scripts/test installs it)");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && !stderr.contains("Failed to export"), "{stderr}");

    let seen = h.rt.arrivals.service("checkout").expect("checkout's telemetry arrived");
    assert!(seen.traces.is_some_and(|t| t.items == 1), "{seen:?}");
    assert!(seen.logs.is_some_and(|l| l.items >= 1), "{seen:?}");
    assert!(seen.metrics.is_some_and(|m| m.items >= 1), "{seen:?}");
    assert!(h.run("checkout/traces-arrive").await, "its traces arrived within the minute");

    let health: serde_json::Value =
        reqwest::get(format!("{url}/api/v1/telemetry")).await.unwrap().json().await.unwrap();
    assert_eq!(health[0]["service"], "checkout");
    assert_eq!(health[0]["configured"], true);
    assert_eq!(health[0]["arrivals"]["traces"]["items"], 1);
    let page = h.viewer_get("/ui/services/checkout").await;
    let traces = page.split("<td>traces</td>").nth(1).unwrap_or_default();
    assert!(traces.starts_with("<td><time") && !traces.starts_with("<td><span class=\"muted\">never"), "{page}");
    assert!(page.contains("No telemetry report yet"), "{page}");
}

#[tokio::test]
async fn bad_otlp_bodies_get_clear_errors_and_the_receiver_keeps_serving() {
    let (h, url) = served().await;
    let http = reqwest::Client::new();
    let post = |path: &str, content_type: &str, body: Vec<u8>| {
        http.post(format!("{url}{path}")).bearer_auth(TOKEN).header("content-type", content_type.to_string()).body(body)
    };
    let refused = |r: reqwest::Response| async move {
        let status = r.status().as_u16();
        let body: serde_json::Value = r.json().await.unwrap();
        (
            status,
            body["error"]["code"].as_str().unwrap().to_string(),
            body["error"]["message"].as_str().unwrap().to_string(),
        )
    };
    let canary = obsctl_engine::otlp::Canary::new("checkout", &[]);
    let good = canary.body(obsctl_core::check::TelemetrySignal::Logs, obsctl_engine::otlp::Encoding::Protobuf);

    let no_token =
        http.post(format!("{url}/v1/logs")).header("content-type", "application/x-protobuf").body(good.clone());
    assert_eq!(refused(no_token.send().await.unwrap()).await.1, "unauthorized");
    let (status, code, message) = refused(post("/v1/logs", "text/plain", good.clone()).send().await.unwrap()).await;
    assert_eq!((status, code.as_str()), (415, "unsupported_media_type"), "{message}");
    assert!(message.contains("application/x-protobuf or application/json"), "{message}");
    let brotli = post("/v1/logs", "application/x-protobuf", good.clone()).header("content-encoding", "br");
    assert_eq!(refused(brotli.send().await.unwrap()).await.1, "unsupported_encoding");
    let (status, code, message) =
        refused(post("/v1/traces", "application/x-protobuf", vec![0xff; 64]).send().await.unwrap()).await;
    assert_eq!((status, code.as_str()), (400, "invalid_otlp"));
    assert!(message.contains("not an OTLP traces export request in protobuf"), "{message}");
    let (_, code, _) =
        refused(post("/v1/metrics", "application/json", b"{\"resourceMetrics\":7}".to_vec()).send().await.unwrap())
            .await;
    assert_eq!(code, "invalid_otlp");
    // Enormous: 10 MiB of zeros is 10 KiB gzipped, and stops at max_body (4 MiB) unzipping.
    let mut z = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    z.write_all(&vec![0u8; 10 << 20]).unwrap();
    let bomb = post("/v1/traces", "application/x-protobuf", z.finish().unwrap()).header("content-encoding", "gzip");
    assert_eq!(refused(bomb.send().await.unwrap()).await.0, 413);
    let huge = post("/v1/traces", "application/x-protobuf", vec![0u8; 5 << 20]);
    assert_eq!(refused(huge.send().await.unwrap()).await.1, "payload_too_large");
    assert!(h.rt.arrivals.services().is_empty(), "nothing bad was recorded");

    // Others are still served.
    let ok = post("/v1/logs", "application/x-protobuf", good).send().await.unwrap();
    assert_eq!(ok.status(), 200);
    assert_eq!(ok.headers()["content-type"], "application/x-protobuf");
    assert_eq!(h.rt.arrivals.canary(&canary.id).len(), 1);
    let metrics = obsctl_core::metrics::metrics().encode();
    for line in [
        "obsctl_otlp_requests_total{signal=\"logs\",status=\"415\"}",
        "obsctl_otlp_requests_total{signal=\"traces\",status=\"413\"}",
        "obsctl_otlp_items_total{signal=\"logs\"}",
    ] {
        assert!(metrics.contains(line), "{line} missing from:\n{metrics}");
    }
    let json = canary.body(obsctl_core::check::TelemetrySignal::Traces, obsctl_engine::otlp::Encoding::Json);
    let ok = post("/v1/traces", "application/json", json).send().await.unwrap();
    assert_eq!((ok.status().as_u16(), ok.text().await.unwrap()), (200, "{}".to_string()));

    // Off unless asked for.
    let off = harness(&head("observe"), "", &[]).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let off_url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(obsctl_server::serve(listener, obsctl_server::router(off.rt.app_state()), std::future::pending()));
    let r = http.post(format!("{off_url}/v1/traces")).header("content-type", "application/json").body("{}").send();
    let (status, code, _) = refused(r.await.unwrap()).await;
    assert_eq!((status, code.as_str()), (404, "receiver_off"));
}

/// `obsctl telemetry check` run as an app runs it, on an .env file written from `lines`.
async fn telemetry_check(dir: &std::path::Path, lines: &[String], args: &[&str]) -> std::process::Output {
    let env = dir.join(".env");
    std::fs::write(&env, lines.join("\n") + "\n").unwrap();
    tokio::process::Command::new(env!("CARGO_BIN_EXE_obsctl"))
        .args(["telemetry", "check", "--env"])
        .arg(&env)
        .args(args)
        .env_clear()
        .output()
        .await
        .unwrap()
}

fn app_env(otlp: &str, control: &str, service: &str) -> Vec<String> {
    vec![
        format!("OTEL_SERVICE_NAME={service}"),
        format!("OTEL_EXPORTER_OTLP_ENDPOINT={otlp}"),
        "OTEL_RESOURCE_ATTRIBUTES=deployment.environment.name=test".into(),
        format!("OBS_CONTROL_URL={control}"),
        format!("OBS_CONTROL_TOKEN={TOKEN}"),
    ]
}

#[tokio::test]
async fn a_canary_through_a_real_collector_is_found_in_obsctl_with_its_delay() {
    let (h, url) = served().await;
    let rotel = Rotel::forwarding_to(&url, &format!("Authorization=Bearer {TOKEN}")).await;
    let dir = tempfile::tempdir().unwrap();
    let out = telemetry_check(dir.path(), &app_env(&rotel.endpoint, &url, "checkout"), &["--flow", "--json"]).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let hops = report["flow"]["hops"].as_array().unwrap();
    let at = |signal: &str, place: &str| hops.iter().find(|h| h["signal"] == signal && h["at"] == place).cloned();
    for signal in ["traces", "logs", "metrics"] {
        assert_eq!(at(signal, "endpoint").unwrap()["ok"], true, "{report:#}");
        let found = at(signal, "obsctl").unwrap();
        assert_eq!(found["ok"], true, "{report:#}");
        assert!(found["delay_ms"].as_u64().is_some_and(|d| d < 30_000), "{found}");
    }
    let canary = report["flow"]["canary"].as_str().unwrap();
    let seen = h.rt.arrivals.canary(canary);
    assert_eq!(seen.len(), 3, "{seen:?}");
    assert!(seen.iter().all(|s| s.service == "checkout"));

    // The collector loses what it cannot deliver: obsctl without the receiver's token.
    let lossy = Rotel::forwarding_to(&url, "Authorization=Bearer wrong-token-0123456789").await;
    let out =
        telemetry_check(dir.path(), &app_env(&lossy.endpoint, &url, "checkout"), &["--flow", "--flow-timeout", "3s"])
            .await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("ok   traces  at endpoint"), "{stdout}");
    assert!(
        stdout.contains(
            "LOST traces  at obsctl   the endpoint took it, but obsctl did not see it within 3 s: lost between them"
        ),
        "{stdout}"
    );
}

#[tokio::test]
async fn a_failing_report_opens_the_services_telemetry_incident_and_a_passing_one_resolves_it() {
    let (h, url) = served().await;
    let dir = tempfile::tempdir().unwrap();
    // gRPC's port with the HTTP protocol: TEL003, an error.
    let mut wrong_port = app_env("http://collector:4317", &url, "checkout");
    wrong_port.push("OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf".into());
    let out = telemetry_check(dir.path(), &wrong_port, &["--report"]).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("incident inc-") && stderr.contains("is open for it"), "{stderr}");
    let incident = h.incident().await;
    assert_eq!((incident.kind.as_str(), incident.service.as_str()), (MISCONFIGURED_KIND, "checkout"));
    assert_eq!(incident.check_id, "telemetry:checkout");
    assert!(incident.detail.starts_with("TEL003 OTEL_EXPORTER_OTLP_ENDPOINT"), "{}", incident.detail);
    // Reported again while still failing: the same incident, counted.
    assert_eq!(telemetry_check(dir.path(), &wrong_port, &["--report", &url]).await.status.code(), Some(1));
    assert_eq!(h.incident().await.id, incident.id);
    let health: serde_json::Value =
        reqwest::get(format!("{url}/api/v1/telemetry")).await.unwrap().json().await.unwrap();
    assert_eq!(health[0]["report"]["ok"], false);
    assert_eq!(health[0]["report"]["findings"][0]["code"], "TEL003");
    let page = h.viewer_get("/ui/services/checkout").await;
    assert!(page.contains("misconfigured</span>") && page.contains("TEL003</span>"), "{page}");
    assert!(page.contains("<code>OTEL_EXPORTER_OTLP_ENDPOINT</code><"), "{page}");

    // Fixed: the next report resolves it.
    let out = telemetry_check(dir.path(), &app_env("http://collector:4318", &url, "checkout"), &["--report"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains(&format!("incident {} is resolved", incident.id)));
    assert!(h.viewer_get("/ui/services/checkout").await.contains("settings pass</span>"));
    let resolved = h.rt.store.incident(&incident.id).await.unwrap();
    assert_eq!(resolved.status, IncidentStatus::Resolved);
    assert!(h.open_incidents().await.is_empty());

    // A service obsctl does not know, and a wrong token: clear errors, exit 2, nothing kept.
    let out = telemetry_check(dir.path(), &app_env("http://collector:4318", &url, "nope"), &["--report"]).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("refused the report (404): \"nope\" is not a configured service; reports are for: checkout"),
        "{stderr}"
    );
    let mut wrong_token = app_env("http://collector:4318", &url, "checkout");
    wrong_token[4] = "OBS_CONTROL_TOKEN=not-the-token-0123456789".into();
    let out = telemetry_check(dir.path(), &wrong_token, &["--report"]).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("refused the report (401)"));
    let kept = h.rt.store.telemetry_reports().await.unwrap();
    assert_eq!(kept.iter().map(|r| (r.service.as_str(), r.ok)).collect::<Vec<_>>(), [("checkout", true)]);
    // A report is judged by its findings, not by what it claims.
    let lying = serde_json::json!({"service": "checkout", "source": "ci", "ok": true, "errors": 0, "warnings": 0,
        "findings": [{"code": "TEL006", "severity": "error", "variable": "OTEL_TRACES_SAMPLER", "message": "always_off", "fix": "f"}]});
    let http = reqwest::Client::new();
    let answer =
        http.post(format!("{url}/api/v1/telemetry-reports")).bearer_auth(TOKEN).json(&lying).send().await.unwrap();
    let answer: serde_json::Value = answer.json().await.unwrap();
    assert_eq!(
        (answer["ok"].clone(), answer["change"].clone()),
        (serde_json::json!(false), serde_json::json!("opened"))
    );
    let passing = serde_json::json!({"service": "checkout", "source": "ci", "ok": true, "errors": 0, "warnings": 0, "findings": []});
    let answer =
        http.post(format!("{url}/api/v1/telemetry-reports")).bearer_auth(TOKEN).json(&passing).send().await.unwrap();
    assert_eq!(answer.json::<serde_json::Value>().await.unwrap()["change"], "resolved");
    eventually(5, "the API to say so", || async {
        let health: serde_json::Value =
            reqwest::get(format!("{url}/api/v1/telemetry")).await.ok()?.json().await.ok()?;
        (health[0]["report"]["ok"] == true).then_some(())
    })
    .await;
}

/// LangSmith and Logfire cannot be reached from the tests: a double answers as their APIs do
/// (LangSmith: `X-Api-Key` on `/api/v1/sessions`; Logfire: the token as `Authorization` on
/// `/v1/info`), taking one key and one token.
async fn credential_services() -> String {
    use axum::http::{HeaderMap, StatusCode};
    use axum::routing::get;
    let header = |h: &HeaderMap, name: &str| h.get(name).and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    let app = axum::Router::new()
        .route(
            "/api/v1/sessions",
            get(move |h: HeaderMap| async move {
                match header(&h, "x-api-key").as_str() {
                    "lsv2_pt_good0123456789abcdef" => (StatusCode::OK, "[]"),
                    _ => (StatusCode::UNAUTHORIZED, r#"{"detail":"Invalid token"}"#),
                }
            }),
        )
        .route(
            "/v1/info",
            get(move |h: HeaderMap| async move {
                match header(&h, "authorization").as_str() {
                    "pylf_v1_us_good0123456789abcdefgh" => (
                        StatusCode::OK,
                        r#"{"project_name":"shop","project_url":"https://logfire-us.pydantic.dev/acme/shop"}"#,
                    ),
                    _ => (StatusCode::UNAUTHORIZED, r#"{"detail":"Invalid token"}"#),
                }
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

#[tokio::test]
async fn online_the_langsmith_key_and_logfire_token_are_checked_against_their_services() {
    let services = credential_services().await;
    let dir = tempfile::tempdir().unwrap();
    let env = |key: &str, token: &str, base: &str| {
        let mut lines = app_env("http://collector:4318", "http://obsctl:5555", "shop");
        lines.extend([
            "LANGSMITH_TRACING=true".to_string(),
            format!("LANGSMITH_API_KEY={key}"),
            format!("LANGSMITH_ENDPOINT={base}"),
            format!("LOGFIRE_TOKEN={token}"),
            format!("LOGFIRE_BASE_URL={base}"),
        ]);
        lines
    };
    let good = env("lsv2_pt_good0123456789abcdef", "pylf_v1_us_good0123456789abcdefgh", &services);
    let out = telemetry_check(dir.path(), &good, &["--online"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stdout));

    let revoked = env("lsv2_pt_revoked0123456789abcd", "pylf_v1_us_revoked0123456789abcde", &services);
    let out = telemetry_check(dir.path(), &revoked, &["--online"]).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains(&format!("TEL007 error   LANGSMITH_API_KEY: LangSmith at {services} refused it (401)")),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!("TEL008 error   LOGFIRE_TOKEN: Logfire at {services} refused it (401)")),
        "{stdout}"
    );
    assert!(!stdout.contains("revoked0123"), "a credential was printed: {stdout}");
    // Offline, the same settings pass: only --online asks the services.
    assert_eq!(telemetry_check(dir.path(), &revoked, &[]).await.status.code(), Some(0));

    let closed = format!("http://127.0.0.1:{}", crate::support::free_port());
    let out = telemetry_check(
        dir.path(),
        &env("lsv2_pt_good0123456789abcdef", "pylf_v1_us_good0123456789abcdefgh", &closed),
        &["--online"],
    )
    .await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "unreachable is a warning: {stdout}");
    assert!(
        stdout.contains("TEL007 warning LANGSMITH_API_KEY: LangSmith at") && stdout.contains("could not be reached"),
        "{stdout}"
    );
}

/// A service with a `telemetry_token` of its own hears reports from that token (or the API
/// token) alone: the shared `[telemetry] token` and another service's token can neither open
/// nor resolve its telemetry incident (issue 26, finding 11).
#[tokio::test]
async fn a_service_s_own_telemetry_token_alone_reports_for_it() {
    use axum::http::{Request, StatusCode};
    use tower::ServiceExt;
    let config = format!(
        "{}[telemetry]\ntoken = \"shared-telemetry-token-0123\"\n\
         [[service]]\nname = \"pay\"\ntelemetry_token = \"pay-own-token-0123456789\"\n\
         [[service]]\nname = \"shop\"\ntelemetry_token = \"shop-own-token-0123456789\"\n[[service]]\nname = \"web\"\n",
        crate::support::head("approve")
    );
    let h = crate::support::harness(&config, "http://unused", &[("OBSCTL_API_TOKEN", "api-token-for-the-tests")]).await;
    let failing = |service: &str| {
        serde_json::json!({"service": service, "source": "ci", "ok": false, "errors": 1, "warnings": 0,
            "findings": [{"code": "TEL003", "severity": "error", "variable": "OTEL_EXPORTER_OTLP_ENDPOINT", "message": "m", "fix": "f"}]})
    };
    let post = |token: &str, body: serde_json::Value| {
        let req = Request::post("/api/v1/telemetry-reports")
            .header("authorization", format!("Bearer {token}"))
            .header("content-type", "application/json")
            .body(axum::body::Body::from(body.to_string()))
            .unwrap();
        let app = obsctl_server::router(h.rt.app_state());
        async move { app.oneshot(req).await.unwrap().status() }
    };
    for (token, service, expected) in [
        ("shared-telemetry-token-0123", "pay", StatusCode::UNAUTHORIZED),
        ("shop-own-token-0123456789", "pay", StatusCode::UNAUTHORIZED),
        ("shop-own-token-0123456789", "web", StatusCode::UNAUTHORIZED),
        ("pay-own-token-0123456789", "pay", StatusCode::OK),
        ("api-token-for-the-tests", "shop", StatusCode::OK),
        ("shared-telemetry-token-0123", "web", StatusCode::OK),
    ] {
        assert_eq!(post(token, failing(service)).await, expected, "{token} reporting for {service}");
    }
    let open: Vec<String> = h.open_incidents().await.into_iter().map(|i| i.service).collect();
    assert_eq!(open.len(), 3, "{open:?}");
    assert!(h.rt.config.secrets().iter().any(|s| s.expose() == "pay-own-token-0123456789"), "a secret, redacted");
}
