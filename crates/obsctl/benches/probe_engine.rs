//! Benchmark of the probe engine and of an idle `serve` (not a test: it measures and prints).
//!
//! `cargo bench -p obsctl --bench probe_engine -- [--checks 10000] [--interval 10] [--seconds 60]`
//!
//! The HTTP target is `obsctl demo-service` in its own process, so its CPU is not counted.
//! Reported: CPU used by obsctl (cores) over the measured window, peak RSS, start lateness
//! percentiles from the scheduler's histogram, probes per second and per CPU-second; then the
//! RSS and start-up time of `obsctl serve` watching this host with no config.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use obsctl::runtime::Runtime;
use obsctl_core::config::{LoadOptions, load};
use obsctl_core::policy::Mode;

fn arg(name: &str, default: u64) -> u64 {
    let args: Vec<String> = std::env::args().collect();
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// utime + stime of a process, in seconds (USER_HZ is 100 on Linux).
fn cpu_seconds(pid: &str) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let after = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = after.split_whitespace().collect();
    (fields[11].parse::<f64>().unwrap() + fields[12].parse::<f64>().unwrap()) / 100.0
}

fn status_kb(pid: &str, key: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status.lines().find(|l| l.starts_with(key)).and_then(|l| l.split_whitespace().nth(1)).and_then(|v| v.parse().ok()).unwrap_or(0)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

async fn wait_for_http(url: &str) -> Duration {
    let started = Instant::now();
    let client = reqwest::Client::new();
    loop {
        if client.get(url).send().await.is_ok() {
            return started.elapsed();
        }
        assert!(started.elapsed() < Duration::from_secs(20), "{url} never answered");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

async fn probe_engine(exe: &str, checks: u64, interval: u64, seconds: u64) {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut target = Command::new(exe)
        .args(["demo-service", "--port", &port.to_string(), "--poison"])
        .arg(dir.path().join("never"))
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    wait_for_http(&format!("http://127.0.0.1:{port}/health")).await;

    let mut text = format!("version = 1\n[store]\nurl = \"sqlite://{}/obsctl.db\"\n[scheduler]\nmax_concurrency = 1024\n[[service]]\nname = \"bench\"\n", dir.path().display());
    for i in 0..checks {
        text.push_str(&format!(
            "  [[service.check]]\n  name = \"c{i}\"\n  kind = \"http\"\n  url = \"http://127.0.0.1:{port}/health?c={i}\"\n  interval = \"{interval}s\"\n  timeout = \"2s\"\n"
        ));
    }
    let config = load(&text, &Default::default(), &LoadOptions { file: "bench.toml", known_tools: obsctl_agent::tools::BUILTIN_TOOLS }).unwrap();
    let mut rt = Runtime::build(config, Mode::Observe).await.unwrap();
    rt.start().await.unwrap();
    let stats = rt.lateness().unwrap();
    // Warm up over one full interval (first runs are spread across it), then measure.
    tokio::time::sleep(Duration::from_secs(interval + 2)).await;
    let (cpu0, runs0, t0) = (cpu_seconds("self"), stats.runs(), Instant::now());
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    let (cpu1, runs1, wall) = (cpu_seconds("self"), stats.runs(), t0.elapsed().as_secs_f64());
    let cores = (cpu1 - cpu0) / wall;
    let probes = (runs1 - runs0) as f64;
    println!("## probe engine: {checks} HTTP checks every {interval}s, measured {seconds}s after a {}s warm-up", interval + 2);
    println!("| metric | value | target |");
    println!("|---|---|---|");
    println!("| CPU (cores) | {cores:.3} | <= 0.5 |");
    println!("| peak RSS (MB) | {:.1} | <= 100 |", status_kb("self", "VmHWM:") as f64 / 1024.0);
    println!("| start lateness p50 / p99 / max (ms) | {} / {} / {} | p99 <= 250 |", stats.quantile_ms(0.5), stats.quantile_ms(0.99), stats.quantile_ms(1.0));
    println!("| probes per second | {:.0} | {} expected |", probes / wall, checks / interval);
    println!("| probes per CPU-second | {:.0} | |", probes / (cpu1 - cpu0).max(1e-9));
    rt.stop().await;
    let _ = target.kill();
    let _ = target.wait();
}

async fn idle_serve(exe: &str) {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let started = Instant::now();
    let mut serve = Command::new(exe)
        .args(["-q", "serve", "--listen", &format!("127.0.0.1:{port}")])
        .current_dir(dir.path())
        .env_remove("OBSCTL_CONFIG")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for_http(&format!("http://127.0.0.1:{port}/healthz")).await;
    let ready = started.elapsed();
    tokio::time::sleep(Duration::from_secs(10)).await;
    let pid = serve.id().to_string();
    println!("## idle `obsctl serve` (no config: watches this host)");
    println!("| metric | value | target |");
    println!("|---|---|---|");
    println!("| RSS after 10 s idle (MB) | {:.1} | <= 25 |", status_kb(&pid, "VmRSS:") as f64 / 1024.0);
    println!("| start-up to first API answer (ms) | {} | <= 100 |", ready.as_millis());
    let _ = serve.kill();
    let _ = serve.wait();
}

fn main() {
    let exe = env!("CARGO_BIN_EXE_obsctl");
    let checks = arg("--checks", 10_000);
    let interval = arg("--interval", 10);
    let seconds = arg("--seconds", 60);
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let _ = rustls::crypto::ring::default_provider().install_default();
        probe_engine(exe, checks, interval, seconds).await;
        idle_serve(exe).await;
    });
}
