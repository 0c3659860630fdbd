//! Benchmark of the probe engine and of an idle `serve` (not a test: it measures and prints).
//!
//! `cargo bench -p obsctl --bench probe_engine -- [--checks 10000] [--interval 10] [--seconds 60] [--peer-probes 20000]`
//!
//! The HTTP target is `obsctl demo-service` in its own process, so its CPU is not counted.
//! Reported: CPU used by obsctl (cores) over the measured window, peak RSS, start lateness
//! percentiles from the scheduler's histogram, probes per second and per CPU-second; then the
//! RSS and start-up time of `obsctl serve` watching this host with no config. The engine runs
//! twice: with `connection = "fresh"` (the default: a new connection per probe, as
//! blackbox_exporter opens) and with `connection = "reuse"` (kept-alive connections). Then, when
//! Debian's `prometheus-blackbox-exporter` is installed, blackbox's probes per CPU-second on the
//! same target (driven through its `/probe` endpoint; only blackbox's own CPU is counted, and
//! it neither schedules nor stores anything, so the comparison favours it).

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "common/measure.rs"]
mod measure;
use measure::{arg, cpu_seconds, status_kb};

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use obsctl::runtime::Runtime;
use obsctl_config::{LoadOptions, load};
use obsctl_core::policy::Mode;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn which(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| std::env::split_paths(&paths).map(|p| p.join(name)).find(|p| p.is_file()))
}

fn stop(mut child: Child) {
    let _ = child.kill();
    let _ = child.wait();
}

async fn wait_for_http(url: &str) -> Duration {
    let started = Instant::now();
    let client = obsctl_host::http_client().build().unwrap();
    loop {
        if client.get(url).send().await.is_ok() {
            return started.elapsed();
        }
        assert!(started.elapsed() < Duration::from_secs(20), "{url} never answered");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// Starts the demo service as an HTTP target; returns it and its health URL.
async fn start_target(exe: &str, dir: &Path) -> (Child, String) {
    let port = free_port();
    let target = Command::new(exe)
        .args(["demo-service", "--port", &port.to_string(), "--poison"])
        .arg(dir.join("never"))
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let url = format!("http://127.0.0.1:{port}/health");
    wait_for_http(&url).await;
    (target, url)
}

/// Runs the engine over `checks` HTTP checks with `connection`; returns its probes per CPU-second.
async fn probe_engine(exe: &str, connection: &str, checks: u64, interval: u64, seconds: u64) -> f64 {
    let dir = tempfile::tempdir().unwrap();
    let (target, url) = start_target(exe, dir.path()).await;
    let mut text = format!(
        "version = 1\n[store]\nurl = \"sqlite://{}/obsctl.db\"\n[scheduler]\nmax_concurrency = 1024\n[[service]]\nname = \"bench\"\n",
        dir.path().display()
    );
    for i in 0..checks {
        text.push_str(&format!("  [[service.check]]\n  name = \"c{i}\"\n  kind = \"http\"\n  url = \"{url}?c={i}\"\n  interval = \"{interval}s\"\n  timeout = \"2s\"\n  connection = \"{connection}\"\n"));
    }
    let config = load(
        &text,
        &Default::default(),
        &LoadOptions { file: "bench.toml", known_tools: obsctl_agent::tools::BUILTIN_TOOLS },
    )
    .unwrap();
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
    let per_cpu_second = probes / (cpu1 - cpu0).max(1e-9);
    println!(
        "## probe engine: {checks} HTTP checks every {interval}s, connection = {connection}, measured {seconds}s after a {}s warm-up",
        interval + 2
    );
    println!("| metric | value | target |");
    println!("|---|---|---|");
    println!("| CPU (cores) | {cores:.3} | <= 0.5 |");
    println!("| peak RSS (MB) | {:.1} | <= 100 |", status_kb("self", "VmHWM:") as f64 / 1024.0);
    println!(
        "| start lateness p50 / p99 / max (ms) | {} / {} / {} | p99 <= 250 |",
        stats.quantile_ms(0.5),
        stats.quantile_ms(0.99),
        stats.quantile_ms(1.0)
    );
    println!("| probes per second | {:.0} | {} expected |", probes / wall, checks / interval);
    println!("| probes per CPU-second | {per_cpu_second:.0} | |");
    rt.stop().await;
    stop(target);
    per_cpu_second
}

async fn idle_serve(exe: &str) {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let started = Instant::now();
    let serve = Command::new(exe)
        .args(["-q", "serve", "--listen", &format!("127.0.0.1:{port}"), "--mcp-listen", "127.0.0.1:0"])
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
    stop(serve);
}

/// blackbox_exporter's probes per CPU-second on the same kind of target, printed beside ours.
async fn blackbox(exe: &str, probes: u64, fresh: f64, reuse: f64) {
    let Some(bin) = which("prometheus-blackbox-exporter") else {
        println!("## blackbox_exporter: not installed (apt-get install prometheus-blackbox-exporter); skipped");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (target, url) = start_target(exe, dir.path()).await;
    let config = dir.path().join("blackbox.yml");
    std::fs::write(&config, "modules:\n  http_2xx:\n    prober: http\n    timeout: 2s\n").unwrap();
    let port = free_port();
    let bb = Command::new(bin)
        .arg(format!("--config.file={}", config.display()))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let probe_url = format!("http://127.0.0.1:{port}/probe?module=http_2xx&target={url}");
    wait_for_http(&probe_url).await;
    let client = obsctl_host::http_client().build().unwrap();
    let pid = bb.id().to_string();
    let (cpu0, t0) = (cpu_seconds(&pid), Instant::now());
    let workers = 8;
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..workers {
        let (client, probe_url) = (client.clone(), probe_url.clone());
        tasks.spawn(async move {
            let mut ok = 0u64;
            for _ in 0..probes / workers {
                let body = client.get(&probe_url).send().await.unwrap().text().await.unwrap();
                ok += u64::from(body.contains("probe_success 1"));
            }
            ok
        });
    }
    let mut succeeded = 0;
    while let Some(n) = tasks.join_next().await {
        succeeded += n.unwrap();
    }
    let (cpu, wall) = (cpu_seconds(&pid) - cpu0, t0.elapsed().as_secs_f64());
    let theirs = succeeded as f64 / cpu.max(1e-9);
    println!("## side by side: blackbox_exporter on the same target");
    println!("| metric | obsctl, fresh | obsctl, reuse | blackbox_exporter |");
    println!("|---|---|---|---|");
    println!("| probes per CPU-second | {fresh:.0} | {reuse:.0} | {theirs:.0} |");
    println!(
        "| ratio to blackbox (target >= 2x) | {:.1}x | {:.1}x | |",
        fresh / theirs.max(1e-9),
        reuse / theirs.max(1e-9)
    );
    println!("({succeeded} of {probes} blackbox probes succeeded in {wall:.1}s using {cpu:.2} CPU-seconds)");
    stop(bb);
    stop(target);
}

fn main() {
    let exe = env!("CARGO_BIN_EXE_obsctl");
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let (checks, interval, seconds) = (arg("--checks", 10_000), arg("--interval", 10), arg("--seconds", 60));
        let fresh = probe_engine(exe, "fresh", checks, interval, seconds).await;
        let reuse = probe_engine(exe, "reuse", checks, interval, seconds).await;
        idle_serve(exe).await;
        blackbox(exe, arg("--peer-probes", 20_000), fresh, reuse).await;
    });
}
