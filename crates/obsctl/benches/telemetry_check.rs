//! Benchmark of `obsctl telemetry check` offline, as CI runs it: the whole process, start to
//! exit, on an `.env` that breaks several rules (not a test: it measures and prints).
//!
//! `cargo bench -p obsctl --bench telemetry_check -- [--runs 50]`

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "common/measure.rs"]
mod measure;
use measure::arg;

use std::time::Instant;

use obsctl_core::check::LatencySummary;

fn main() {
    let runs = arg("--runs", 50);
    let dir = tempfile::tempdir().unwrap();
    let env = dir.path().join(".env");
    std::fs::write(
        &env,
        "SERVICE_NAME=shop\nOTEL_EXPORTER_OTLP_ENDPOINT=http://otel-collector:4317\nOTEL_TRACES_SAMPLER=traceidratio\nOTEL_TRACES_SAMPLER_ARG=0\nLANGSMITH_TRACING=true\nOBS_CONTROL_URL=http://obsctl:5555\n",
    )
    .unwrap();
    let bin = env!("CARGO_BIN_EXE_obsctl");
    let mut us = Vec::new();
    for _ in 0..runs {
        let started = Instant::now();
        let out = std::process::Command::new(bin).args(["telemetry", "check", "--env"]).arg(&env).output().unwrap();
        us.push(started.elapsed().as_micros() as u64);
        assert_eq!(out.status.code(), Some(1), "the fixture breaks rules");
    }
    let s = LatencySummary::of(&us);
    println!("| measure | p50 (ms) | p99 (ms) | max (ms) |\n|---|---|---|---|");
    println!(
        "| `obsctl telemetry check --env .env`, {runs} runs, process start to exit | {:.1} | {:.1} | {:.1} |",
        s.p50_ms, s.p99_ms, s.max_ms
    );
}
