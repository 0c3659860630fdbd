//! Benchmark of obsctl's OTLP/HTTP receiver (not a test: it measures and prints).
//!
//! `cargo bench -p obsctl --bench otlp_receiver -- [--spans 1000000] [--batch 512] [--clients 8]`
//!
//! `obsctl serve` runs as its own process with `[telemetry] receiver = true`; `--clients` senders
//! post OTLP/HTTP protobuf trace exports of `--batch` spans each (as an SDK's batch processor
//! sends them; 20 services, 6 attributes a span) to `/v1/traces`. Spans accepted per second, and
//! the receiving process's CPU time per 10,000 spans (from /proc). The peer, same machine, same
//! run, same bodies: rotel (an OpenTelemetry collector written in Rust, PyPI's `rotel`) with its
//! blackhole exporter, which also decodes every request and drops it. obsctl records when each
//! service last sent; it is not a trace store.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "common/measure.rs"]
mod measure;
use measure::{arg, cpu_seconds};

use std::io::Write;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span, span};
use prost::Message;

fn text(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue { value: Some(any_value::Value::StringValue(value.into())) }),
        ..Default::default()
    }
}

/// One export request: `spans` spans of one service, as an SDK batches them.
fn export(n: u64, spans: usize) -> Vec<u8> {
    let service = format!("svc-{}", n % 20);
    let spans = (0..spans as u64)
        .map(|i| {
            let id = n.wrapping_mul(1_000_003).wrapping_add(i);
            Span {
                trace_id: [id.to_be_bytes(), n.to_be_bytes()].concat(),
                span_id: id.to_be_bytes().to_vec(),
                name: "GET /api/orders/{id}".into(),
                kind: span::SpanKind::Server as i32,
                start_time_unix_nano: 1_764_500_000_000_000_000 + id * 1000,
                end_time_unix_nano: 1_764_500_000_000_000_000 + id * 1000 + 2_500_000,
                attributes: vec![
                    text("http.request.method", "GET"),
                    text("http.route", "/api/orders/{id}"),
                    text("url.path", &format!("/api/orders/{id}")),
                    text("server.address", "orders.internal"),
                    text("user_agent.original", "Mozilla/5.0 (X11; Linux x86_64)"),
                    text("http.response.status_code", "200"),
                ],
                ..Default::default()
            }
        })
        .collect();
    let resource = Resource {
        attributes: vec![text("service.name", &service), text("deployment.environment.name", "bench")],
        ..Default::default()
    };
    let scope_spans = vec![ScopeSpans { spans, ..Default::default() }];
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans { resource: Some(resource), scope_spans, ..Default::default() }],
    }
    .encode_to_vec()
}

fn gzip(body: &[u8]) -> Vec<u8> {
    let mut z = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    z.write_all(body).unwrap();
    z.finish().unwrap()
}

struct Run {
    spans: u64,
    wall: f64,
    cpu: f64,
}

/// Posts every body to `url` from `clients` senders while measuring `pid`'s CPU time.
async fn send(url: &str, pid: u32, bodies: &[Vec<u8>], gzipped: bool, spans: u64, clients: usize) -> Run {
    let client = obsctl_host::http_client().build().unwrap();
    let queue: Arc<Mutex<Vec<Vec<u8>>>> = Arc::new(Mutex::new(bodies.to_vec()));
    let pid = pid.to_string();
    let cpu_before = cpu_seconds(&pid);
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..clients {
        let (client, url, queue) = (client.clone(), url.to_string(), queue.clone());
        tasks.spawn(async move {
            loop {
                let Some(body) = queue.lock().unwrap().pop() else { return };
                let mut request = client.post(&url).header("content-type", "application/x-protobuf");
                if gzipped {
                    request = request.header("content-encoding", "gzip");
                }
                let resp = request.body(body).send().await.unwrap();
                let status = resp.status();
                let text = resp.text().await.unwrap();
                assert!(status.is_success(), "{status}: {text}");
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.unwrap();
    }
    let wall = started.elapsed().as_secs_f64();
    Run { spans, wall, cpu: cpu_seconds(&pid) - cpu_before }
}

async fn wait_for_port(port: u16, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_err() {
        assert!(Instant::now() < deadline, "{what} did not start");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_obsctl(dir: &std::path::Path, port: u16) -> Killed {
    let config = dir.join("obsctl.toml");
    let text = format!(
        "version = 1\n[store]\nurl = \"sqlite://{}/obsctl.db\"\n[agent]\nmode = \"observe\"\n[telemetry]\nreceiver = true\n",
        dir.display()
    );
    std::fs::write(&config, text).unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_obsctl"))
        .arg("--config")
        .arg(&config)
        .args(["-q", "serve", "--listen", &format!("127.0.0.1:{port}"), "--mcp-listen", "off"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    Killed(child)
}

fn start_rotel(http: u16) -> Option<Killed> {
    let bin = std::env::var("OBSCTL_TEST_ROTEL").ok().or_else(|| {
        let home = std::env::var("HOME").ok()?;
        let cached = format!("{home}/.cache/obsctl-test/rotel-0.0.1a15/rotel/rotel-agent");
        std::path::Path::new(&cached).is_file().then_some(cached)
    })?;
    let child = Command::new(bin)
        .args(["start", "--exporter", "blackhole"])
        .arg(format!("--otlp-http-endpoint=127.0.0.1:{http}"))
        .arg(format!("--otlp-grpc-endpoint=127.0.0.1:{}", free_port()))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    Some(Killed(child))
}

fn main() {
    let (total, batch, clients) =
        (arg("--spans", 1_000_000), arg("--batch", 512) as usize, arg("--clients", 8) as usize);
    let requests = total.div_ceil(batch as u64);
    let bodies: Vec<Vec<u8>> = (0..requests).map(|n| export(n, batch)).collect();
    let zipped: Vec<Vec<u8>> = bodies.iter().map(|b| gzip(b)).collect();
    let spans = requests * batch as u64;
    let bytes: usize = bodies.iter().map(Vec::len).sum();
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let obsctl = start_obsctl(dir.path(), port);
        wait_for_port(port, "obsctl serve").await;
        let url = format!("http://127.0.0.1:{port}/v1/traces");
        // A first pass warms connections and the process; then the measured ones.
        send(&url, obsctl.0.id(), &bodies[..bodies.len().min(50)], false, 0, clients).await;
        let plain = send(&url, obsctl.0.id(), &bodies, false, spans, clients).await;
        let zipped_run = send(&url, obsctl.0.id(), &zipped, true, spans, clients).await;
        let health: serde_json::Value = reqwest::get(format!("http://127.0.0.1:{port}/api/v1/telemetry"))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let recorded: u64 = health.as_array().unwrap().iter().filter_map(|s| s["arrivals"]["traces"]["items"].as_u64()).sum();
        assert_eq!(recorded, 2 * spans + 50 * batch as u64, "every span accepted was counted");
        drop(obsctl);

        let rotel_port = free_port();
        let peer = match start_rotel(rotel_port) {
            Some(rotel) => {
                wait_for_port(rotel_port, "rotel").await;
                let url = format!("http://127.0.0.1:{rotel_port}/v1/traces");
                send(&url, rotel.0.id(), &bodies[..bodies.len().min(50)], false, 0, clients).await;
                Some(send(&url, rotel.0.id(), &bodies, false, spans, clients).await)
            }
            None => None,
        };
        println!(
            "## OTLP/HTTP receiver: {spans} spans in {requests} protobuf requests of {batch} ({:.1} MB), {clients} senders",
            bytes as f64 / 1e6
        );
        println!("| receiver | spans/s | CPU ms per 10k spans | seconds |\n|---|---|---|---|");
        let row = |name: &str, r: &Run| {
            println!(
                "| {name} | {:.0} | {:.1} | {:.1} |",
                r.spans as f64 / r.wall,
                r.cpu * 1000.0 / (r.spans as f64 / 10_000.0),
                r.wall
            )
        };
        row("obsctl serve, /v1/traces", &plain);
        row("obsctl serve, /v1/traces, gzip", &zipped_run);
        match &peer {
            Some(r) => row("rotel 0.0.1a15, blackhole exporter", r),
            None => println!("| rotel: not installed (scripts/test installs it); skipped | | | |"),
        }
    });
}
