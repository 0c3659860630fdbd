//! Operating obsctl at scale (issue 12; not a test: it measures): backup and restore of a store
//! with 1M observations and 100k episodes against SQLite's own online backup of the same file,
//! an import of 10k Markdown postmortems, and a sync of 100k episodes from an edge to a central
//! on Postgres. Each step is the obsctl binary as an operator runs it, timed with GNU time
//! (wall seconds, peak RSS).
//!
//! `OBSCTL_TEST_POSTGRES_URL=postgres://… cargo bench -p obsctl --bench operations -- \
//!    [--observations 1000000] [--episodes 100000] [--postmortems 10000] [--sync 100000]`

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "common/measure.rs"]
mod measure;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use measure::arg;
use obsctl_core::Timestamp;
use obsctl_core::action::Outcome;
use obsctl_core::check::Observation;
use obsctl_core::memory::{Episode, EpisodeAction, EpisodeOutcome, FixStep, action_key};
use obsctl_store::{CheckHistory, Memory, SqliteStore, Store};

const WORDS: &[&str] = &[
    "api",
    "worker",
    "pool",
    "exhausted",
    "disk",
    "full",
    "postgres",
    "replica",
    "lag",
    "certificate",
    "expired",
    "dns",
    "timeout",
    "queue",
    "backlog",
    "memory",
    "leak",
    "rollout",
    "regression",
    "oom",
    "killed",
    "latency",
];

fn episode(i: usize, origin: &str) -> Episode {
    let service = ["api", "web", "db", "cache", "queue"][i % 5];
    let steps = vec![FixStep { tool: "process.restart".into(), args: serde_json::json!({"service": service}) }];
    let words: Vec<&str> = (0..12).map(|k| WORDS[(i * 7 + k * 13) % WORDS.len()]).collect();
    let mut e = Episode {
        id: format!("ep-{origin}-{i:07}"),
        incident_id: format!("inc-{i}"),
        fingerprint: format!("{service}/health/http-down"),
        cluster: format!("http-down@{service}"),
        service: service.into(),
        kind: "http-down".into(),
        labels: [("team".to_string(), "web".to_string())].into(),
        text: format!("{service} health failing: {} (incident {i})", words.join(" ")),
        actions: vec![EpisodeAction {
            action_key: action_key(&steps),
            steps,
            outcome: if i.is_multiple_of(4) { Outcome::NotFixed } else { Outcome::Fixed },
            time_to_recover_ms: Some(1000 + i as i64 % 5000),
            learn: true,
        }],
        outcome: EpisodeOutcome::Fixed,
        opened_at: Timestamp(1_700_000_000_000 + i as i64 * 1000),
        ended_at: Timestamp(1_700_000_060_000 + i as i64 * 1000),
        time_to_recover_ms: 60_000,
        content_hash: String::new(),
        origin: origin.into(),
        source: "incident".into(),
    };
    e.content_hash = e.compute_hash();
    e
}

/// A data folder with a config on `store`.
fn folder(store: Option<&str>, extra: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let url = store.map(str::to_string).unwrap_or_else(|| format!("sqlite://{}/obsctl.db", dir.path().display()));
    let config = format!(
        "version = 1\n[store]\nurl = \"{url}\"\n[memory]\nindex = \"{}/memory-index\"\ninstance = \"bench\"\n{extra}",
        dir.path().display()
    );
    std::fs::write(dir.path().join("obsctl.toml"), config).unwrap();
    dir
}

/// Runs a command under GNU time: (wall seconds, peak RSS in MB).
fn timed(what: &str, cmd: &mut Command) -> (f64, f64) {
    let report = tempfile::NamedTempFile::new().unwrap();
    let program = cmd.get_program().to_owned();
    let args: Vec<_> = cmd.get_args().map(|a| a.to_owned()).collect();
    let out = Command::new("/usr/bin/time")
        .arg("-f")
        .arg("%e %M")
        .arg("-o")
        .arg(report.path())
        .arg(program)
        .args(args)
        .envs(cmd.get_envs().filter_map(|(k, v)| v.map(|v| (k.to_owned(), v.to_owned()))))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .expect("GNU time (Debian package time)");
    assert!(
        out.status.success(),
        "{what}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(report.path()).unwrap();
    let mut fields = text.split_whitespace();
    let wall: f64 = fields.next().unwrap().parse().unwrap();
    let kb: f64 = fields.next().unwrap().parse().unwrap();
    (wall, kb / 1024.0)
}

fn obsctl(dir: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_obsctl"));
    c.arg("--config").arg(dir.join("obsctl.toml")).arg("-q");
    c
}

fn size_mb(path: &Path) -> f64 {
    std::fs::metadata(path).unwrap().len() as f64 / 1e6
}

async fn fill(store: &SqliteStore, observations: u64, episodes: u64, origin: &str) {
    let checks = 1000;
    let per_check = (observations / checks).max(1);
    let mut batch = Vec::with_capacity(1000);
    for round in 0..per_check {
        for c in 0..checks {
            batch.push(Observation {
                check_id: format!("svc{}/check{c}", c % 50),
                at: Timestamp(1_700_000_000_000 + round as i64 * 10_000),
                ok: !round.is_multiple_of(7),
                latency_us: 1000 + c * 3,
                detail: "status 200 in 3 ms".into(),
                unknown: false,
                incident_kind: None,
            });
            if batch.len() == 1000 {
                store.record_observations(&batch, per_check as u32).await.unwrap();
                batch.clear();
            }
        }
    }
    for i in 0..episodes as usize {
        store.upsert_episode(&episode(i, origin), origin).await.unwrap();
    }
}

fn postmortems(dir: &Path, n: u64) {
    for i in 0..n as usize {
        let words: Vec<&str> = (0..40).map(|k| WORDS[(i * 11 + k * 5) % WORDS.len()]).collect();
        let text = format!(
            "---\ntitle: Incident {i}\nsummary: {}\nservice: svc{}\ntags: [bench, {}]\nstart: 2024-03-01 14:05\nend: 2024-03-01 14:45\n---\n{}\n",
            words[..12].join(" "),
            i % 40,
            WORDS[i % WORDS.len()],
            words.join(" ")
        );
        std::fs::write(dir.join(format!("pm-{i:05}.md")), text).unwrap();
    }
}

#[tokio::main]
async fn main() {
    let observations = arg("--observations", 1_000_000);
    let episodes = arg("--episodes", 100_000);
    let pm = arg("--postmortems", 10_000);
    let sync = arg("--sync", 100_000);
    let pg = std::env::var("OBSCTL_TEST_POSTGRES_URL")
        .expect("OBSCTL_TEST_POSTGRES_URL: a Postgres to restore into and sync through");

    let source = folder(None, "");
    let db = source.path().join("obsctl.db");
    let store = SqliteStore::open(&format!("sqlite://{}", db.display())).await.unwrap();
    fill(&store, observations, episodes, "bench").await;
    store.close().await;
    println!("store: {observations} observations, {episodes} episodes, {:.0} MB SQLite file", size_mb(&db));
    println!();
    println!("| step | wall (s) | peak RSS (MB) | output (MB) |");
    println!("|---|---|---|---|");

    let archive = source.path().join("b.jsonl.gz");
    let (wall, rss) = timed("backup", obsctl(source.path()).args(["backup", "--out"]).arg(&archive));
    println!("| obsctl backup | {wall:.1} | {rss:.0} | {:.0} |", size_mb(&archive));
    let copy = source.path().join("copy.db");
    let (wall, rss) =
        timed("sqlite3 .backup", Command::new("sqlite3").arg(&db).arg(format!(".backup {}", copy.display())));
    println!("| sqlite3 .backup (peer) | {wall:.1} | {rss:.0} | {:.0} |", size_mb(&copy));

    let into_sqlite = folder(None, "");
    let (wall, rss) = timed("restore sqlite", obsctl(into_sqlite.path()).arg("restore").arg(&archive));
    println!("| obsctl restore into SQLite | {wall:.1} | {rss:.0} | |");
    let pg_db = obsctl_store::PostgresStore::create_database(&pg, "bench").await.unwrap();
    let (wall, rss) =
        timed("restore postgres", obsctl(into_sqlite.path()).args(["restore", "--store", &pg_db]).arg(&archive));
    println!("| obsctl restore into Postgres | {wall:.1} | {rss:.0} | |");

    let pm_dir = tempfile::tempdir().unwrap();
    postmortems(pm_dir.path(), pm);
    let importer = folder(None, "");
    let (wall, rss) = timed("import", obsctl(importer.path()).args(["memory", "import"]).arg(pm_dir.path()));
    println!("| obsctl memory import {pm} postmortems | {wall:.1} | {rss:.0} | |");

    // Sync: an edge with `sync` episodes pushes them to a central serve on Postgres.
    let central_db = obsctl_store::PostgresStore::create_database(&pg, "bench").await.unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let token = "bench-sync-token-0123456789";
    let central = folder(Some(&central_db), &format!("[server]\nlisten = \"127.0.0.1:{port}\"\ntoken = \"{token}\"\n"));
    let mut serve = obsctl(central.path())
        .args(["serve", "--mcp-listen", "off"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let http = obsctl_host::http_client().build().unwrap();
    for _ in 0..200 {
        if http.get(format!("http://127.0.0.1:{port}/healthz")).send().await.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let edge = folder(
        None,
        &format!("[memory.sync]\nurl = \"http://127.0.0.1:{port}\"\ntoken = \"{token}\"\ninterval = \"1h\"\n"),
    );
    let edge_store = SqliteStore::open(&format!("sqlite://{}/obsctl.db", edge.path().display())).await.unwrap();
    fill(&edge_store, 0, sync, "bench").await;
    edge_store.close().await;
    let (wall, rss) = timed("sync", obsctl(edge.path()).args(["memory", "sync"]));
    println!("| obsctl memory sync: {sync} episodes to a central on Postgres | {wall:.1} | {rss:.0} | |");
    println!();
    println!("sync: {:.0} episodes/s", sync as f64 / wall);
    let _ = serve.kill();
    let _ = serve.wait();
}
