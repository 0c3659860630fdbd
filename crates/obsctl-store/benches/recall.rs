//! Recall latency over a large memory, and remember throughput (not a test: it measures).
//!
//! `cargo bench -p obsctl-store --bench recall -- [--episodes 100000] [--queries 2000]`
//!
//! Builds `--episodes` synthetic episodes (services, components and symptoms drawn from fixed
//! vocabularies, so texts overlap the way real incidents do), indexes them, then times
//! `--queries` recalls of paraphrase-like queries (random subsets of an episode's words plus
//! noise), reporting p50/p99/max. Remember throughput is measured separately on SQLite with
//! 20,000 episodes (each one transaction with its ledger update, as the agent does).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use obsctl_store::Memory;
use std::time::Instant;

use obsctl_core::Timestamp;
use obsctl_core::action::Outcome;
use obsctl_core::check::LatencySummary;
use obsctl_core::memory::{Episode, EpisodeAction, EpisodeOutcome, FixStep, action_key};
use obsctl_store::{RecallIndex, RecallQuery, SqliteStore, Store};

const SERVICES: &[&str] = &[
    "api",
    "web",
    "db",
    "cache",
    "queue",
    "auth",
    "billing",
    "search",
    "loki",
    "tempo",
    "grafana",
    "prometheus",
    "otel",
    "payments",
    "mailer",
    "cdn",
    "gateway",
    "scheduler",
    "reports",
    "uploads",
];
const COMPONENTS: &[&str] = &[
    "worker pool",
    "connection pool",
    "ingester",
    "compactor",
    "exporter",
    "scraper",
    "replica",
    "primary",
    "disk",
    "volume",
    "certificate",
    "resolver",
    "queue consumer",
    "cron job",
    "sidecar",
    "load balancer",
    "index",
    "shard",
];
const SYMPTOMS: &[&str] = &[
    "status 500",
    "timed out",
    "connection refused",
    "no space left on device",
    "rate limit exceeded",
    "out of memory",
    "deadline exceeded",
    "certificate expired",
    "too many open files",
    "queue full",
    "dropping spans",
    "stale pid file",
    "crash loop",
    "high latency",
    "replication lag",
    "read only filesystem",
    "dns lookup failed",
    "tls handshake failed",
];

fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// A small deterministic generator (xorshift), so runs are comparable.
struct Rng(u64);

impl Rng {
    fn next(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
}

fn synthetic(i: usize, rng: &mut Rng) -> Episode {
    let service = SERVICES[rng.next(SERVICES.len())];
    let text = format!(
        "{service} {} {}; {} after {} retries on node-{}",
        COMPONENTS[rng.next(COMPONENTS.len())],
        SYMPTOMS[rng.next(SYMPTOMS.len())],
        SYMPTOMS[rng.next(SYMPTOMS.len())],
        rng.next(10),
        rng.next(500)
    );
    let steps = vec![FixStep { tool: "process.restart".into(), args: serde_json::json!({"service": service}) }];
    Episode {
        id: format!("ep-{i:08}"),
        incident_id: format!("inc-{i}"),
        fingerprint: format!("{service}/health/http-down"),
        cluster: format!("http-down@{service}"),
        service: service.into(),
        kind: "http-down".into(),
        labels: [("team".to_string(), format!("team-{}", rng.next(8)))].into(),
        text,
        actions: vec![EpisodeAction {
            learn: true,
            action_key: action_key(&steps),
            steps,
            outcome: Outcome::Fixed,
            time_to_recover_ms: Some(3000),
        }],
        outcome: EpisodeOutcome::Fixed,
        opened_at: Timestamp(i as i64 * 1000),
        ended_at: Timestamp(i as i64 * 1000 + 3000),
        time_to_recover_ms: 3000,
        content_hash: String::new(),
        origin: "bench".into(),
        source: "incident".into(),
    }
}

fn main() {
    let n = arg("--episodes", 100_000);
    let queries = arg("--queries", 2000);
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let index = RecallIndex::open(dir.path()).unwrap();
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        let started = Instant::now();
        let mut batch = Vec::with_capacity(50_000);
        for i in 0..n {
            batch.push(synthetic(i, &mut rng));
            if batch.len() == 50_000 {
                index.add(&batch).unwrap();
                batch.clear();
            }
        }
        index.add(&batch).unwrap();
        let build = started.elapsed().as_secs_f64();
        assert_eq!(index.len(), n as u64);

        let mut latencies = Vec::with_capacity(queries);
        let mut rng = Rng(0x2545_f491_4f6c_dd1d);
        let now = Timestamp(n as i64 * 1000 + 10_000);
        for _ in 0..queries {
            let source = synthetic(rng.next(n), &mut rng);
            let words: Vec<&str> = source.text.split_whitespace().filter(|_| rng.next(3) != 0).collect();
            let text = format!("{} {}", words.join(" "), SYMPTOMS[rng.next(SYMPTOMS.len())]);
            let q = RecallQuery {
                text,
                service: Some(source.service.clone()),
                kind: Some("http-down".into()),
                limit: 5,
                ..Default::default()
            };
            let t = Instant::now();
            let hits = index.search(&q, now).unwrap();
            latencies.push(t.elapsed().as_micros() as u64);
            assert!(!hits.is_empty());
        }
        let summary = LatencySummary::of(&latencies);
        println!("| episodes | index build (s) | recall p50 (ms) | recall p99 (ms) | max (ms) | target |");
        println!("|---|---|---|---|---|---|");
        println!(
            "| {n} | {build:.1} | {:.2} | {:.2} | {:.2} | p99 <= 10 ms at 1M |",
            summary.p50_ms, summary.p99_ms, summary.max_ms
        );

        let db = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&format!("sqlite://{}/m.db", db.path().display())).await.unwrap();
        let count = 20_000;
        let episodes: Vec<Episode> = (0..count).map(|i| synthetic(i, &mut rng)).collect();
        let t = Instant::now();
        for e in &episodes {
            store.remember(e).await.unwrap();
        }
        let secs = t.elapsed().as_secs_f64();
        println!();
        println!(
            "| remember (SQLite, one transaction each, with ledger update) | {count} episodes | {:.0} per second |",
            count as f64 / secs
        );
        store.close().await;
    });
}
