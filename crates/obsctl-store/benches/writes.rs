//! Check-result write throughput, SQLite against Postgres (not a test: it measures and prints).
//!
//! `OBSCTL_TEST_POSTGRES_URL=postgres://… cargo bench -p obsctl-store --bench writes -- [--results 200000] [--batch 1000]`
//!
//! Writes `--results` observations spread over 1,000 checks, in batches as the engine's writer
//! sends them, with pruning to 1,000 results per check as in `serve`. The Postgres run is
//! skipped (and says so) when OBSCTL_TEST_POSTGRES_URL is not set.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Instant;

use obsctl_core::Timestamp;
use obsctl_core::check::Observation;
use obsctl_store::{PostgresStore, SqliteStore, Store};

fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).and_then(|v| v.parse().ok()).unwrap_or(default)
}

async fn run(name: &str, store: Arc<dyn Store>, results: usize, batch: usize) {
    let all: Vec<Observation> = (0..results)
        .map(|i| Observation {
            check_id: format!("svc/check-{}", i % 1000),
            at: Timestamp(i as i64),
            ok: i % 7 != 0,
            latency_us: (i % 5000) as u64,
            detail: "status 200 in 3ms".into(),
            unknown: false,
            incident_kind: None,
        })
        .collect();
    let started = Instant::now();
    let mut worst = 0f64;
    for chunk in all.chunks(batch) {
        let t = Instant::now();
        store.record_observations(chunk, 1000).await.unwrap();
        worst = worst.max(t.elapsed().as_secs_f64() * 1000.0);
    }
    let secs = started.elapsed().as_secs_f64();
    println!("| {name} | {results} | {batch} | {:.0} | {worst:.1} |", results as f64 / secs);
    store.close().await;
}

fn main() {
    let results = arg("--results", 200_000);
    let batch = arg("--batch", 1000);
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    rt.block_on(async {
        println!("| backend | results | batch | results per second | slowest batch (ms) |");
        println!("|---|---|---|---|---|");
        let dir = tempfile::tempdir().unwrap();
        let sqlite = SqliteStore::open(&format!("sqlite://{}/bench.db", dir.path().display())).await.unwrap();
        run("sqlite (WAL, synchronous=normal)", Arc::new(sqlite), results, batch).await;
        match std::env::var("OBSCTL_TEST_POSTGRES_URL") {
            Ok(url) => {
                let (store, schema) = PostgresStore::open_in_new_schema(&url, "bench").await.unwrap();
                run("postgres 15 (loopback)", Arc::new(store), results, batch).await;
                PostgresStore::admin_execute(&url, &format!("DROP SCHEMA {schema} CASCADE")).await.unwrap();
            }
            Err(_) => println!("| postgres | skipped: set OBSCTL_TEST_POSTGRES_URL | | | |"),
        }
    });
}
