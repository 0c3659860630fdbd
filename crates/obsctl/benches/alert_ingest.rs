//! Benchmark of alert ingestion (not a test: it measures and prints).
//!
//! `cargo bench -p obsctl --bench alert_ingest -- [--alerts 50000] [--storm 100000] [--fingerprints 1000] [--clients 8] [--without-agent]`
//!
//! obsctl runs as `serve` does (scheduler, agent, SQLite store) with its HTTP API on loopback
//! (`--without-agent`: no agent planning for each new incident beside the intake);
//! `--clients` senders post Alertmanager webhook notifications (version 4, 50 alerts each).
//! 1. New alerts: every alert a new fingerprint, so every one opens an incident. Alerts per
//!    second, and request latency p50 / p99 (obsctl answers once the incidents are open and the
//!    alerts recorded, so this is request to incident).
//! 2. A storm: `--storm` firing alerts over `--fingerprints` fingerprints, as fast as the
//!    senders go. Then the store is read back: the deliveries recorded per alert must add up to
//!    the storm (nothing lost) and there must be one incident per fingerprint.
//! 3. The peer, same machine, same run: Debian's `prometheus-alertmanager` taking the same
//!    batches on its own `/api/v2/alerts` (it keeps alerts in memory; obsctl persists them).

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "common/measure.rs"]
mod measure;
use measure::arg;

use std::collections::HashSet;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use obsctl::runtime::Runtime;
use obsctl_config::{LoadOptions, load};
use obsctl_core::alert::AlertSource;
use obsctl_core::policy::Mode;
use serde_json::{Value, json};

const BATCH: usize = 50;

fn fingerprint(n: u64) -> String {
    format!("{:016x}", n.wrapping_mul(0x9e37_79b9_7f4a_7c15))
}

fn labels(n: u64) -> Value {
    json!({"alertname": "HighLatency", "service": format!("svc-{}", n % 40), "instance": format!("node-{n}:9100"), "severity": "page"})
}

/// An Alertmanager notification (version 4) of the alerts numbered `ids`.
fn notification(ids: &[u64]) -> Vec<u8> {
    let alerts: Vec<Value> = ids
        .iter()
        .map(|n| {
            json!({
                "status": "firing",
                "labels": labels(*n),
                "annotations": {"summary": format!("p99 latency above 500ms on node-{n}")},
                "startsAt": "2026-11-30T00:00:00Z",
                "endsAt": "0001-01-01T00:00:00Z",
                "generatorURL": "http://prometheus.local:9090/graph?g0.expr=latency",
                "fingerprint": fingerprint(*n),
            })
        })
        .collect();
    serde_json::to_vec(&json!({
        "version": "4", "groupKey": "{}:{alertname=\"HighLatency\"}", "truncatedAlerts": 0, "status": "firing",
        "receiver": "obsctl", "groupLabels": {"alertname": "HighLatency"}, "commonLabels": {"alertname": "HighLatency"},
        "commonAnnotations": {}, "externalURL": "http://alertmanager.local:9093", "alerts": alerts,
    }))
    .unwrap()
}

/// Alertmanager's own API body for the same alerts.
fn postable(ids: &[u64]) -> Vec<u8> {
    let alerts: Vec<Value> = ids
        .iter()
        .map(|n| json!({"labels": labels(*n), "annotations": {"summary": "p99 latency above 500ms"}, "generatorURL": "http://prometheus.local:9090/graph"}))
        .collect();
    serde_json::to_vec(&alerts).unwrap()
}

struct Run {
    alerts: usize,
    wall: f64,
    latencies_ms: Vec<f64>,
}

impl Run {
    fn rate(&self) -> f64 {
        self.alerts as f64 / self.wall
    }

    fn quantile(&mut self, q: f64) -> f64 {
        self.latencies_ms.sort_by(f64::total_cmp);
        let i = ((self.latencies_ms.len() as f64 - 1.0) * q).round() as usize;
        self.latencies_ms.get(i).copied().unwrap_or(0.0)
    }
}

/// Posts `bodies` to `url` from `clients` senders; every answer must be a success.
async fn send(url: &str, bodies: Vec<Vec<u8>>, clients: usize) -> Run {
    let client = obsctl_host::http_client().build().unwrap();
    let alerts = bodies.len() * BATCH;
    let queue = Arc::new(std::sync::Mutex::new(bodies));
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..clients {
        let (client, url, queue) = (client.clone(), url.to_string(), queue.clone());
        tasks.spawn(async move {
            let mut latencies = Vec::new();
            loop {
                let Some(body) = queue.lock().unwrap().pop() else { return latencies };
                let t = Instant::now();
                let resp =
                    client.post(&url).header("content-type", "application/json").body(body).send().await.unwrap();
                let status = resp.status();
                let text = resp.text().await.unwrap();
                assert!(status.is_success(), "{status}: {text}");
                latencies.push(t.elapsed().as_secs_f64() * 1000.0);
            }
        });
    }
    let mut latencies_ms = Vec::new();
    while let Some(l) = tasks.join_next().await {
        latencies_ms.extend(l.unwrap());
    }
    Run { alerts, wall: started.elapsed().as_secs_f64(), latencies_ms }
}

fn batches(ids: impl Iterator<Item = u64>, body: fn(&[u64]) -> Vec<u8>) -> Vec<Vec<u8>> {
    let ids: Vec<u64> = ids.collect();
    ids.chunks(BATCH).map(body).collect()
}

async fn obsctl_runs(new_alerts: u64, storm: u64, fingerprints: u64, clients: usize) -> (Run, Run) {
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        "version = 1\n[store]\nurl = \"sqlite://{}/obsctl.db\"\n[agent]\nmode = \"observe\"\n",
        dir.path().display()
    );
    let config = load(&text, &Default::default(), &LoadOptions { file: "bench.toml", known_tools: &[] }).unwrap();
    let mut rt = Runtime::build(config, Mode::Observe).await.unwrap();
    if !std::env::args().any(|a| a == "--without-agent") {
        rt.start().await.unwrap();
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/api/v1/alerts/alertmanager", listener.local_addr().unwrap());
    tokio::spawn(obsctl_server::serve(listener, obsctl_server::router(rt.app_state()), std::future::pending()));

    let fresh = send(&url, batches(0..new_alerts, notification), clients).await;
    println!("after the new alerts: {}", store_write_seconds());

    // The storm: each batch holds 50 distinct fingerprints of the storm's set, cycling.
    let base = 1 << 40;
    let storm_ids = (0..storm).map(|i| base + i % fingerprints);
    let stormed = send(&url, batches(storm_ids, notification), clients).await;
    let fps: Vec<String> = (0..fingerprints).map(|i| fingerprint(base + i)).collect();
    let records = rt.store.alerts_by_fingerprint(AlertSource::Alertmanager, &fps).await.unwrap();
    let deliveries: u64 = records.iter().map(|r| u64::from(r.deliveries)).sum();
    let incidents: HashSet<&str> = records.iter().filter_map(|r| r.incident_id.as_deref()).collect();
    assert_eq!(deliveries, storm, "deliveries recorded for the storm's alerts");
    assert_eq!((records.len(), incidents.len()), (fingerprints as usize, fingerprints as usize));
    println!(
        "storm check: {deliveries} deliveries recorded for {} alerts, {} incidents",
        records.len(),
        incidents.len()
    );
    rt.stop().await;
    (fresh, stormed)
}

/// The time the intake spent in its one write transaction per delivery, from obsctl's metrics.
fn store_write_seconds() -> String {
    let text = obsctl_core::metrics::metrics().encode();
    let value = |name: &str| {
        text.lines()
            .find(|l| l.starts_with(name) && l.contains("op=\"alerts\""))
            .and_then(|l| l.rsplit(' ').next())
            .unwrap_or("0")
            .to_string()
    };
    let (sum, count) =
        (value("obsctl_store_write_duration_seconds_sum"), value("obsctl_store_write_duration_seconds_count"));
    format!("{count} delivery transactions took {sum} s in all")
}

async fn alertmanager_run(new_alerts: u64, clients: usize) -> Option<Run> {
    let bin = std::env::var_os("PATH")
        .and_then(|p| std::env::split_paths(&p).map(|d| d.join("prometheus-alertmanager")).find(|p| p.is_file()))?;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("am.yml"), "route:\n  receiver: none\nreceivers:\n- name: none\n").unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut child: Child = Command::new(bin)
        .arg(format!("--config.file={}", dir.path().join("am.yml").display()))
        .arg(format!("--storage.path={}", dir.path().display()))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg("--cluster.listen-address=")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let client = obsctl_host::http_client().build().unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !client.get(format!("{base}/-/ready")).send().await.is_ok_and(|r| r.status().is_success()) {
        assert!(Instant::now() < deadline, "Alertmanager did not start");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let run = send(&format!("{base}/api/v2/alerts"), batches(0..new_alerts, postable), clients).await;
    let _ = child.kill();
    let _ = child.wait();
    Some(run)
}

fn main() {
    let (new_alerts, storm) = (arg("--alerts", 50_000), arg("--storm", 100_000));
    let (fingerprints, clients) = (arg("--fingerprints", 1_000), arg("--clients", 8) as usize);
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let (mut fresh, mut stormed) = obsctl_runs(new_alerts, storm, fingerprints, clients).await;
        let peer = alertmanager_run(new_alerts, clients).await;
        println!("## alert ingestion: batches of {BATCH}, {clients} senders");
        println!("| run | alerts | seconds | alerts/s | request p50 (ms) | request p99 (ms) |");
        println!("|---|---|---|---|---|---|");
        for (name, run) in [("obsctl, every alert new (opens an incident)", &mut fresh), ("obsctl, storm over repeated fingerprints", &mut stormed)] {
            let (p50, p99) = (run.quantile(0.5), run.quantile(0.99));
            println!("| {name} | {} | {:.1} | {:.0} | {p50:.1} | {p99:.1} |", run.alerts, run.wall, run.rate());
        }
        match peer {
            Some(mut run) => {
                let (p50, p99) = (run.quantile(0.5), run.quantile(0.99));
                println!("| Alertmanager /api/v2/alerts, every alert new | {} | {:.1} | {:.0} | {p50:.1} | {p99:.1} |", run.alerts, run.wall, run.rate());
            }
            None => println!("| Alertmanager: not installed (apt-get install prometheus-alertmanager); skipped | | | | | |"),
        }
        println!("targets: >= 5,000 alerts/s, p99 <= 50 ms; the storm within 60 s, nothing lost, one incident per fingerprint");
    });
}
