//! Benchmark of the dashboard (not a test: it measures and prints).
//!
//! `cargo bench -p obsctl --bench dashboard -- [--services 10000] [--graph 1000] [--clients 100] [--seconds 10]`
//!
//! 1. Overview server time: `--services` services, one TCP check each (5% against a closed
//!    port, so they fail and open incidents), every check run once and 30 latency points per
//!    check in the live history; then `GET /ui/overview` through the router (no socket) 200
//!    times, p50 / p99 and the page's size.
//!    Then 30 days of results per check (one a day, and one an hour over the last day) go into
//!    the store, and `GET /status` (the public status page, every service on it) and a
//!    service page's 30-day history are timed the same way; the status page's first view reads
//!    every check's sums, later ones the kept snapshot.
//! 2. Graph picture: `--graph` services (default 1,000) in chains with branches, 5% failing;
//!    `GET /ui/graph` 200 times.
//! 3. Page weight before data: the overview of an empty config plus every asset it loads.
//! 4. SSE fan-out: `--clients` browsers' event streams open over real sockets; one service
//!    changes state every second for `--seconds` (then 20 per second for as long), each change
//!    rendered once and delivered to every client; reports delivery latency percentiles and
//!    whether any client missed a message.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "common/measure.rs"]
mod measure;
use measure::arg;

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::Request;
use obsctl::runtime::Runtime;
use obsctl_config::{LoadOptions, load};
use obsctl_core::check::LatencySummary;
use obsctl_core::event::Event;
use obsctl_core::policy::Mode;
use obsctl_core::state::CheckStatus;
use tower::ServiceExt;

async fn runtime(services: u64, dir: &std::path::Path, open: &str, closed: &str) -> Runtime {
    let mut text = format!(
        "[store]\nurl = \"sqlite://{}/bench.db\"\n[agent]\nmode = \"observe\"\n[dashboard.status_page]\n",
        dir.display()
    );
    for i in 0..services {
        let at = if i % 20 == 7 { closed } else { open };
        // Chains of ten, each link also depending on the chain's head: a graph with depth.
        let deps = match i % 10 {
            0 => String::new(),
            1 => format!("\"svc-{:05}\"", i - 1),
            _ => format!("\"svc-{:05}\", \"svc-{:05}\"", i - 1, i - i % 10),
        };
        text.push_str(&format!(
            "[[service]]\nname = \"svc-{i:05}\"\ndepends_on = [{deps}]\n  [[service.check]]\n  name = \"port\"\n  kind = \"tcp\"\n  address = \"{at}\"\n  fail_after = 1\n"
        ));
    }
    let opts = LoadOptions { file: "bench.toml", known_tools: obsctl_agent::tools::BUILTIN_TOOLS };
    let config = load(&text, &Default::default(), &opts).unwrap();
    Runtime::build(config, Mode::Observe).await.unwrap()
}

async fn get(app: &axum::Router, uri: &str) -> (Duration, usize) {
    let started = Instant::now();
    let resp = app.clone().oneshot(Request::get(uri).body(Body::empty()).unwrap()).await.unwrap();
    assert!(resp.status().is_success(), "{uri}: {}", resp.status());
    let bytes = axum::body::to_bytes(resp.into_body(), 64 << 20).await.unwrap();
    (started.elapsed(), bytes.len())
}

/// `uri` 200 times after one warm-up: p50 / p99 and the size, as a table row.
async fn timed(app: &axum::Router, uri: &str, label: &str) {
    get(app, uri).await;
    let mut us = Vec::new();
    let mut size = 0;
    for _ in 0..200 {
        let (took, bytes) = get(app, uri).await;
        us.push(took.as_micros() as u64);
        size = bytes;
    }
    let s = LatencySummary::of(&us);
    println!("| {label} | {:.1} | {:.1} | {:.0} KB of HTML |", s.p50_ms, s.p99_ms, size as f64 / 1024.0);
}

/// 30 days of results for every check: one a day, and one an hour over the last day.
async fn seed_history(rt: &Runtime) {
    use obsctl_core::check::Observation;
    let started = Instant::now();
    let now = obsctl_core::Timestamp::now();
    let ids: Vec<&str> = rt.config.checks.iter().map(|c| c.id.as_str()).collect();
    let ago = (1..30).map(|d| d * 24).chain(0..24);
    let mut written = 0;
    for hours in ago {
        let at = now.minus(Duration::from_secs(hours * 3600));
        let batch: Vec<Observation> = ids
            .iter()
            .enumerate()
            .map(|(i, id)| Observation {
                check_id: id.to_string(),
                at,
                ok: !(i as u64 + hours).is_multiple_of(50),
                latency_us: 200 + (i as u64 * 37 + hours) % 5000,
                detail: String::new(),
                unknown: false,
                incident_kind: None,
            })
            .collect();
        for chunk in batch.chunks(5000) {
            rt.store.record_observations(chunk, 100).await.unwrap();
        }
        written += batch.len();
    }
    eprintln!("seeded {written} results over 30 days in {:.1} s", started.elapsed().as_secs_f64());
}

async fn overview(services: u64) {
    let dir = tempfile::tempdir().unwrap();
    let open = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let open_addr = open.local_addr().unwrap().to_string();
    tokio::spawn(async move {
        loop {
            let _ = open.accept().await;
        }
    });
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().to_string();
    let rt = runtime(services, dir.path(), &open_addr, &closed).await;
    let seeded = Instant::now();
    let ids: Vec<String> = rt.config.checks.iter().map(|c| c.id.clone()).collect();
    for id in &ids {
        rt.monitor.run_check(id).await.unwrap();
        let now = obsctl_core::Timestamp::now();
        for k in 0..30u64 {
            rt.ui.live.record(id, now, 200 + (k * 37) % 900);
        }
    }
    rt.monitor.flush().await;
    let failing = rt.monitor.statuses().values().filter(|s| **s == CheckStatus::Failing).count();
    eprintln!("seeded {} checks ({failing} failing) in {:.1} s", ids.len(), seeded.elapsed().as_secs_f64());
    let app = obsctl_server::router(rt.app_state());
    timed(&app, "/ui/overview", &format!("overview, {services} services ({failing} failing)")).await;
    seed_history(&rt).await;
    let (first, _) = get(&app, "/status").await;
    println!(
        "| status page, first view (reads every check's sums) | {:.1} | | once a minute at most |",
        first.as_secs_f64() * 1000.0
    );
    timed(&app, "/status", &format!("status page, {services} services")).await;
    timed(&app, "/ui/services/svc-00007?range=30d", "service page, 30-day history").await;
    rt.stop().await;
}

async fn graph(services: u64) {
    let dir = tempfile::tempdir().unwrap();
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().to_string();
    let open = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let open_addr = open.local_addr().unwrap().to_string();
    tokio::spawn(async move {
        loop {
            let _ = open.accept().await;
        }
    });
    let rt = runtime(services, dir.path(), &open_addr, &closed).await;
    for c in &rt.config.checks {
        rt.monitor.run_check(&c.id).await.unwrap();
    }
    rt.monitor.flush().await;
    let app = obsctl_server::router(rt.app_state());
    timed(&app, "/ui/graph", &format!("graph picture, {services} services")).await;
    rt.stop().await;
}

async fn page_weight() {
    let dir = tempfile::tempdir().unwrap();
    let rt = runtime(0, dir.path(), "127.0.0.1:9", "127.0.0.1:9").await;
    let app = obsctl_server::router(rt.app_state());
    let (_, html) = get(&app, "/ui/overview").await;
    let mut total = html;
    let mut parts = vec![format!("page {html} B")];
    for asset in ["htmx-2.0.8.min.js", "htmx-ext-sse-2.2.4.min.js", obsctl_server::dashboard::stylesheet()] {
        let (_, bytes) = get(&app, &format!("/ui/assets/{asset}")).await;
        parts.push(format!("{asset} {bytes} B"));
        total += bytes;
    }
    println!("| page weight of the overview before data | {:.1} KB | {} |", total as f64 / 1024.0, parts.join(", "));
    rt.stop().await;
}

async fn fan_out(clients: u64, seconds: u64) {
    let dir = tempfile::tempdir().unwrap();
    let rt = runtime(50, dir.path(), "127.0.0.1:9", "127.0.0.1:9").await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let state = rt.app_state();
    tokio::spawn(obsctl_server::serve(listener, obsctl_server::router(state), std::future::pending()));
    // Only the live hub runs: the scheduler would add its own changes.
    let live = rt.ui.live.clone();
    let (_stop, shutdown) = tokio::sync::watch::channel(false);
    tokio::spawn(live.run(rt.app_state(), rt.bus.subscribe(), shutdown));

    let sent: Arc<std::sync::Mutex<Vec<Instant>>> = Arc::default();
    let mut handles = Vec::new();
    for _ in 0..clients {
        let url = format!("{base}/ui/events");
        let sent = sent.clone();
        handles.push(tokio::spawn(async move {
            let mut resp = reqwest::get(url).await.unwrap();
            let (mut received, mut latencies_us, mut buf) = (0usize, Vec::new(), String::new());
            while let Ok(Some(chunk)) = resp.chunk().await {
                buf.push_str(&String::from_utf8_lossy(&chunk));
                while let Some(end) = buf.find("\n\n") {
                    let message: String = buf.drain(..end + 2).collect();
                    if message.contains("event: card") {
                        let at = sent.lock().unwrap().get(received).copied();
                        if let Some(at) = at {
                            latencies_us.push(at.elapsed().as_micros() as u64);
                        }
                        received += 1;
                    } else if message.contains("event: done") {
                        return (received, latencies_us);
                    }
                }
            }
            (received, latencies_us)
        }));
    }
    while rt.ui.live.listeners() < clients as usize {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let checks: Vec<String> = rt.config.checks.iter().map(|c| c.id.clone()).collect();
    let mut changes = 0;
    for (per_second, label) in [(1u64, "1 change/s"), (20, "20 changes/s")] {
        let started = Instant::now();
        let mut ticker = tokio::time::interval(Duration::from_millis(1000 / per_second));
        for i in 0..seconds * per_second {
            ticker.tick().await;
            sent.lock().unwrap().push(Instant::now());
            let id = checks[i as usize % checks.len()].clone();
            let _ = rt.bus.send(Event::StatusChanged { check_id: id, from: CheckStatus::Ok, to: CheckStatus::Failing });
            changes += 1;
        }
        eprintln!("{label}: sent for {:.1} s", started.elapsed().as_secs_f64());
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    rt.ui.live.push("done", "1");
    let mut all = Vec::new();
    let mut complete = 0;
    for h in handles {
        let (received, latencies) = h.await.unwrap();
        complete += usize::from(received == changes);
        all.extend(latencies);
    }
    let s = LatencySummary::of(&all);
    println!(
        "| SSE fan-out: {changes} card changes to {clients} clients | {:.1} | {:.1} | {complete}/{clients} clients got all {changes} |",
        s.p50_ms, s.p99_ms
    );
    rt.stop().await;
}

fn main() {
    let services = arg("--services", 10_000);
    let clients = arg("--clients", 100);
    let seconds = arg("--seconds", 10);
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    rt.block_on(async {
        println!("| measure | p50 (ms) | p99 (ms) | notes |");
        println!("|---|---|---|---|");
        overview(services).await;
        graph(arg("--graph", 1000)).await;
        page_weight().await;
        fan_out(clients, seconds).await;
    });
}
