//! Benchmark of container checks (not a test: it measures and prints).
//!
//! `cargo bench -p obsctl --bench containers -- [--containers 200] [--interval 10] [--passes 6] [--deaths 10]`
//!
//! Needs a Docker engine: `OBSCTL_TEST_DOCKER_HOST` (which `scripts/test` starts) or
//! `DOCKER_HOST`, and the image `OBSCTL_TEST_DOCKER_IMAGE` (default `obsctl-test/busybox:1`).
//! 1. `--containers` containers, one `docker` check each, every `--interval` seconds, in a
//!    runtime as `serve` runs it (scheduler, event stream): CPU per pass, Engine API requests
//!    per pass, probe runs per pass.
//! 2. Death to incident: `--deaths` times, a running container is killed; the time from the kill
//!    to its incident being open in the store (fail_after = 1).
//! 3. The naive way, same machine, same run: one inspect per container per pass (what a monitor
//!    per container does, e.g. Uptime Kuma's docker monitor): CPU and requests per pass.
//! 4. The same runtime with as many `tcp` checks of a loopback listener instead: what any check
//!    costs obsctl (scheduling, state, persisting the result), so the difference is the docker
//!    part.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

#[path = "common/measure.rs"]
mod measure;
use measure::{arg, cpu_seconds};

use obsctl::runtime::Runtime;
use obsctl_config::{LoadOptions, load};
use obsctl_core::incident::IncidentStatus;
use obsctl_core::policy::Mode;
use obsctl_store::IncidentFilter;

fn host() -> String {
    std::env::var("OBSCTL_TEST_DOCKER_HOST")
        .or_else(|_| std::env::var("DOCKER_HOST"))
        .expect("set OBSCTL_TEST_DOCKER_HOST or DOCKER_HOST to a Docker engine (scripts/test starts one)")
}

fn docker(args: &[&str]) -> String {
    let out = Command::new("docker").args(args).env("DOCKER_HOST", host()).output().unwrap();
    assert!(out.status.success(), "docker {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Starts `n` sleeping containers, eight `docker run`s at a time; returns their names.
fn start_containers(n: u64, tag: &str) -> Vec<String> {
    let image = std::env::var("OBSCTL_TEST_DOCKER_IMAGE").unwrap_or_else(|_| "obsctl-test/busybox:1".into());
    let names: Vec<String> = (0..n).map(|i| format!("bench-{tag}-{i}")).collect();
    for chunk in names.chunks(8) {
        std::thread::scope(|s| {
            for name in chunk {
                let image = image.clone();
                s.spawn(move || {
                    docker(&["run", "-d", "--name", name, "--label", "obsctl-bench=1", &image, "sleep", "3600"])
                });
            }
        });
    }
    names
}

fn remove(names: &[String]) {
    for chunk in names.chunks(50) {
        let mut args = vec!["rm", "-f"];
        args.extend(chunk.iter().map(String::as_str));
        docker(&args);
    }
}

/// A runtime as `serve` runs it, with one check per entry of `checks` (the lines after `name`).
async fn runtime(dir: &std::path::Path, interval: u64, checks: impl Iterator<Item = String>) -> Runtime {
    let mut text = format!(
        "version = 1\n[store]\nurl = \"sqlite://{}/obsctl.db\"\n[agent]\nmode = \"observe\"\n[[service]]\nname = \"bench\"\n",
        dir.display()
    );
    for (i, check) in checks.enumerate() {
        text.push_str(&format!(
            "  [[service.check]]\n  name = \"c{i}\"\n{check}  interval = \"{interval}s\"\n  fail_after = 1\n"
        ));
    }
    let env = [("DOCKER_HOST".to_string(), host())].into();
    let config =
        load(&text, &env, &LoadOptions { file: "bench.toml", known_tools: obsctl_agent::tools::BUILTIN_TOOLS })
            .unwrap();
    let mut rt = Runtime::build(config, Mode::Observe).await.unwrap();
    rt.start().await.unwrap();
    rt
}

/// CPU seconds, Engine API requests and probe runs over `passes` intervals, after a warm-up.
async fn sample(rt: &Runtime, interval: u64, passes: u64) -> (f64, u64, u64) {
    let engine = rt.monitor.probes().docker.clone();
    let stats = rt.lateness().unwrap();
    tokio::time::sleep(Duration::from_secs(interval + 2)).await;
    let (cpu0, calls0, runs0) = (cpu_seconds("self"), engine.api_calls(), stats.runs());
    tokio::time::sleep(Duration::from_secs(interval * passes)).await;
    (cpu_seconds("self") - cpu0, engine.api_calls() - calls0, stats.runs() - runs0)
}

async fn obsctl_checks(names: &[String], interval: u64, passes: u64, deaths: u64) {
    let dir = tempfile::tempdir().unwrap();
    let checks = names.iter().map(|name| format!("  kind = \"docker\"\n  container = \"{name}\"\n"));
    let rt = runtime(dir.path(), interval, checks).await;
    let (cpu, calls, runs) = sample(&rt, interval, passes).await;
    let per_pass = |v: f64| v / passes as f64;
    println!(
        "## {} docker checks every {interval}s, measured over {passes} passes after a {}s warm-up",
        names.len(),
        interval + 2
    );
    println!("| metric | obsctl |");
    println!("|---|---|");
    println!("| CPU per pass (ms) | {:.1} |", per_pass(cpu * 1000.0));
    println!("| Engine API requests per pass | {:.1} |", per_pass(calls as f64));
    println!("| probe runs per pass | {:.0} |", per_pass(runs as f64));

    // Death to incident.
    let mut latencies = Vec::new();
    for d in 0..deaths.min(names.len() as u64) as usize {
        let name = &names[d * names.len() / deaths as usize];
        let check = format!("bench/c{}", d * names.len() / deaths as usize);
        let killed_at = obsctl_core::Timestamp::now();
        let started = Instant::now();
        docker(&["kill", name]);
        loop {
            let filter = IncidentFilter { status: Some(IncidentStatus::Open), limit: 10_000, ..Default::default() };
            let open = rt.store.list_incidents(&filter).await.unwrap();
            if let Some(i) = open.iter().find(|i| i.check_id == check) {
                latencies.push((i.opened_at.0 - killed_at.0) as f64);
                break;
            }
            assert!(started.elapsed() < Duration::from_secs(interval * 3), "no incident for {name}");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
    latencies.sort_by(f64::total_cmp);
    let (p50, max) = (latencies[latencies.len() / 2], latencies[latencies.len() - 1]);
    println!("| death to open incident p50 / max (ms, {} kills) | {p50:.0} / {max:.0} |", latencies.len());
    rt.stop().await;
}

/// The same runtime with `n` tcp checks of a loopback listener: the cost of any check.
async fn tcp_checks(n: usize, interval: u64, passes: u64) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    std::thread::spawn(move || for _ in listener.incoming() {});
    let dir = tempfile::tempdir().unwrap();
    let checks = (0..n).map(|_| format!("  kind = \"tcp\"\n  address = \"{address}\"\n"));
    let rt = runtime(dir.path(), interval, checks).await;
    let (cpu, _, _) = sample(&rt, interval, passes).await;
    println!(
        "| the same number of tcp checks (any check's cost): CPU per pass (ms) | {:.1} |",
        cpu * 1000.0 / passes as f64
    );
    rt.stop().await;
}

/// The naive way: one inspect per container per pass.
async fn inspect_each(names: &[String], interval: u64, passes: u64) {
    let engine = obsctl_host::docker::Engine::new(obsctl_host::docker::EngineAddress { host: host(), tls: None });
    engine.ping().await.unwrap();
    let (cpu0, calls0) = (cpu_seconds("self"), engine.api_calls());
    for _ in 0..passes {
        let pass = Instant::now();
        let mut tasks = tokio::task::JoinSet::new();
        for name in names {
            let (engine, name) = (Arc::clone(&engine), name.clone());
            tasks.spawn(async move { engine.inspect(&name).await.map(|v| v["State"]["Running"] == true) });
        }
        while let Some(r) = tasks.join_next().await {
            let _ = r.unwrap();
        }
        tokio::time::sleep(Duration::from_secs(interval).saturating_sub(pass.elapsed())).await;
    }
    let (cpu, calls) = (cpu_seconds("self") - cpu0, engine.api_calls() - calls0);
    println!("| inspect per container (the naive way): CPU per pass (ms) | {:.1} |", cpu * 1000.0 / passes as f64);
    println!("| inspect per container: Engine API requests per pass | {:.1} |", calls as f64 / passes as f64);
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    let (n, interval, passes, deaths) =
        (arg("--containers", 200), arg("--interval", 10), arg("--passes", 6), arg("--deaths", 10));
    let tag = std::process::id().to_string();
    let names = start_containers(n, &tag);
    rt.block_on(async {
        obsctl_checks(&names, interval, passes, deaths).await;
        inspect_each(&names, interval, passes).await;
        tcp_checks(names.len(), interval, passes).await;
    });
    remove(&names);
}
