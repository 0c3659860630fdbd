//! Graph query latency of the embedded backend on SQLite and Postgres, and of the Bolt backend
//! (FalkorDB) mirroring the same journal (not a test: it measures).
//!
//! `OBSCTL_TEST_POSTGRES_URL=postgres://… OBSCTL_TEST_BOLT_ADDR=127.0.0.1:17687 \
//!  cargo bench -p obsctl-store --bench graph -- [--services 1000]`
//!
//! `--services` services in a binary dependency tree (service i depends on service (i-1)/2, so
//! the root's blast radius is every other service), ten incidents per service (one in four
//! open) and five actions per incident. Each query runs 300 times; p50 and p99 are reported.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Instant;

use obsctl_config::BoltConfig;
use obsctl_core::Timestamp;
use obsctl_core::action::{Action, ActionState, Outcome};
use obsctl_core::check::LatencySummary;
use obsctl_core::incident::{Incident, IncidentStatus};
use obsctl_core::policy::Mode;
use obsctl_store::{BoltGraph, GraphMirror, GraphStore, PostgresStore, SqliteStore, Store, new_id};

fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// Seeds the journal; every name starts with `p` (the Bolt server's graph is shared by runs).
async fn seed(store: &dyn Store, services: usize, p: &str) -> Vec<String> {
    let edges: Vec<(String, String)> =
        (1..services).map(|i| (format!("{p}svc-{i}"), format!("{p}svc-{}", (i - 1) / 2))).collect();
    store.set_dependencies(&edges).await.unwrap();
    let mut leaves = Vec::new();
    for s in 0..services {
        for k in 0..10 {
            let id = format!("{p}inc-{s}-{k}");
            let open = k % 4 == 0;
            let incident = Incident {
                id: id.clone(),
                fingerprint: format!("{p}svc-{s}/health/http-down"),
                service: format!("{p}svc-{s}"),
                check_id: format!("{p}svc-{s}/health"),
                kind: "http-down".into(),
                status: if open { IncidentStatus::Open } else { IncidentStatus::Resolved },
                title: "health failing".into(),
                detail: "status 500".into(),
                opened_at: Timestamp(k as i64),
                updated_at: Timestamp(k as i64),
                resolved_at: (!open).then_some(Timestamp(k as i64 + 1)),
                occurrences: 1,
                reopen_count: 0,
                upstream_incident: None,
                resolution: None,
            };
            store.insert_incident(&incident).await.unwrap();
            if s >= services / 2 && open {
                leaves.push(id.clone());
            }
            for a in 0..5 {
                let action = Action {
                    id: new_id("act"),
                    idempotency_key: format!("{id}/{a}"),
                    incident_id: id.clone(),
                    service: incident.service.clone(),
                    fingerprint: incident.fingerprint.clone(),
                    plan_id: format!("{id}/p{a}"),
                    planner: "runbook".into(),
                    runbook: Some("restart".into()),
                    step: 0,
                    tool: "process.restart".into(),
                    args: serde_json::json!({"service": incident.service}),
                    read_only: false,
                    mode: Mode::Auto,
                    state: ActionState::Succeeded,
                    reason: "auto".into(),
                    result: None,
                    outcome: Some(if a == 4 { Outcome::Fixed } else { Outcome::NotFixed }),
                    created_at: Timestamp((k * 5 + a) as i64),
                    updated_at: Timestamp((k * 5 + a) as i64),
                    decided_by: None,
                    gate: None,
                };
                store.insert_action(&action).await.unwrap();
            }
        }
    }
    leaves
}

async fn time<F, Fut>(runs: usize, mut f: F) -> (f64, f64)
where
    F: FnMut(usize) -> Fut,
    Fut: std::future::Future<Output = usize>,
{
    let mut us = Vec::with_capacity(runs);
    for i in 0..runs {
        let t = Instant::now();
        assert!(f(i).await > 0);
        us.push(t.elapsed().as_micros() as u64);
    }
    let summary = LatencySummary::of(&us);
    (summary.p50_ms, summary.p99_ms)
}

async fn run(name: &str, graph: &dyn GraphStore, leaves: &[String], services: usize, p: &str) {
    let root = format!("{p}svc-0");
    let (b50, b99) = time(300, |_| async { graph.blast_radius(&root).await.unwrap().len() }).await;
    let (u50, u99) = time(300, |i| {
        let id = leaves[i % leaves.len()].clone();
        async move { graph.upstream_failures(&id).await.unwrap().len() }
    })
    .await;
    let (h50, h99) =
        time(300, |i| async move { graph.fix_history(&format!("{p}svc-{}", i % services), 50).await.unwrap().len() })
            .await;
    println!("| {name} | blast radius of the root ({} services) | {b50:.2} | {b99:.2} |", services - 1);
    println!("| {name} | upstream failures of a leaf incident | {u50:.2} | {u99:.2} |");
    println!("| {name} | fix history of a service (50 newest) | {h50:.2} | {h99:.2} |");
}

async fn embedded(name: &str, store: Arc<dyn Store>, services: usize) {
    let leaves = seed(store.as_ref(), services, "").await;
    run(name, store.as_ref(), &leaves, services, "").await;
    store.close().await;
}

/// The SQLite journal mirrored into the Bolt server: the first sync's rate, then the queries.
async fn bolt(address: String, services: usize) {
    let dir = tempfile::tempdir().unwrap();
    let journal: Arc<dyn Store> =
        Arc::new(SqliteStore::open(&format!("sqlite://{}/mirror.db", dir.path().display())).await.unwrap());
    let p = new_id("b").replace('-', "_") + "_";
    let leaves = seed(journal.as_ref(), services, &p).await;
    let target = |timeout| BoltConfig {
        address: address.clone(),
        user: "obsctl".into(),
        password: None,
        database: Some(p.clone()),
        timeout,
        sync_interval: std::time::Duration::from_secs(2),
    };
    let mirror = GraphMirror::new(journal.clone(), BoltGraph::new(target(std::time::Duration::from_secs(60))));
    let edges: Vec<(String, String)> =
        (1..services).map(|i| (format!("{p}svc-{i}"), format!("{p}svc-{}", (i - 1) / 2))).collect();
    mirror.set_dependencies(&edges).await.unwrap();
    let started = Instant::now();
    let report = mirror.sync().await.unwrap();
    let secs = started.elapsed().as_secs_f64();
    let rows = report.incidents + report.actions;
    println!(
        "| bolt (falkordb) | first sync: {rows} incidents and actions | {secs:.1} s | {:.0} rows/s |",
        rows as f64 / secs
    );
    run("bolt (falkordb)", &BoltGraph::new(target(std::time::Duration::from_secs(10))), &leaves, services, &p).await;
}

fn main() {
    let services = arg("--services", 1000);
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    rt.block_on(async {
        println!("| backend | query | p50 (ms) | p99 (ms) |");
        println!("|---|---|---|---|");
        let dir = tempfile::tempdir().unwrap();
        let sqlite = SqliteStore::open(&format!("sqlite://{}/graph.db", dir.path().display())).await.unwrap();
        embedded("sqlite", Arc::new(sqlite), services).await;
        match std::env::var("OBSCTL_TEST_POSTGRES_URL") {
            Ok(url) => {
                let (store, schema) = PostgresStore::open_in_new_schema(&url, "bench").await.unwrap();
                embedded("postgres", Arc::new(store), services).await;
                PostgresStore::admin_execute(&url, &format!("DROP SCHEMA {schema} CASCADE")).await.unwrap();
            }
            Err(_) => println!("| postgres | skipped: set OBSCTL_TEST_POSTGRES_URL | | |"),
        }
        match std::env::var("OBSCTL_TEST_BOLT_ADDR") {
            Ok(address) => bolt(address, services).await,
            Err(_) => println!("| bolt | skipped: set OBSCTL_TEST_BOLT_ADDR | | |"),
        }
    });
}
