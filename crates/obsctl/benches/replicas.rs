//! Three replicas on one Postgres sharing 10,000 checks at 10 s (issue 13; not a test: it
//! measures): CPU and memory per replica, what coordination costs Postgres, and how long a
//! SIGKILLed replica's checks take to run again elsewhere.
//!
//! `OBSCTL_TEST_POSTGRES_URL=postgres://… cargo bench -p obsctl --bench replicas -- [--checks 10000] [--seconds 30]`
//!
//! Each check is a `tcp` check against a listener in this process. Coordination is read from
//! Postgres' own statistics: writes to the `replicas` table (heartbeats) and scans of it and of
//! `checks` (the statuses each replica adopts), against every transaction committed.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "common/measure.rs"]
mod measure;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use measure::{arg, cpu_seconds, status_kb};
use obsctl_store::CheckHistory;

fn serve(dir: &std::path::Path, port: u16) -> Child {
    Command::new(env!("CARGO_BIN_EXE_obsctl"))
        .arg("--config")
        .arg(dir.join("obsctl.toml"))
        .args(["-q", "serve", "--listen", &format!("127.0.0.1:{port}"), "--mcp-listen", "off"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

async fn cluster(port: u16) -> Option<serde_json::Value> {
    let http = obsctl_host::http_client().build().ok()?;
    http.get(format!("http://127.0.0.1:{port}/api/cluster")).send().await.ok()?.json().await.ok()
}

fn live(view: &serde_json::Value) -> Vec<serde_json::Value> {
    view["replicas"].as_array().map(|r| r.iter().filter(|r| r["live"] == true).cloned().collect()).unwrap_or_default()
}

/// (replicas writes, reads of `replicas` and full reads of `checks`, all commits) so far, from
/// Postgres' statistics (observation writes look `checks` up by index; adopting reads it whole)
/// (read with `psql`: SQL stays in the store crate and here in a tool's query).
async fn pg_stats(url: &str) -> (i64, i64, i64) {
    let sql = "SELECT COALESCE(SUM(n_tup_ins + n_tup_upd) FILTER (WHERE relname = 'replicas'), 0)::bigint, \
               COALESCE(SUM(seq_scan + COALESCE(idx_scan, 0)) FILTER (WHERE relname = 'replicas'), 0)::bigint \
               + COALESCE(SUM(seq_scan) FILTER (WHERE relname = 'checks'), 0)::bigint, \
               (SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()) \
               FROM pg_stat_user_tables WHERE relname IN ('replicas', 'checks')";
    let out = Command::new("psql").args([url, "-tA", "-F", " ", "-c", sql]).output().expect("psql");
    let text = String::from_utf8_lossy(&out.stdout);
    let n: Vec<i64> = text.split_whitespace().map(|v| v.parse().unwrap()).collect();
    (n[0], n[1], n[2])
}

#[tokio::main]
async fn main() {
    let checks = arg("--checks", 10_000) as usize;
    let seconds = arg("--seconds", 30);
    let base = std::env::var("OBSCTL_TEST_POSTGRES_URL").expect("OBSCTL_TEST_POSTGRES_URL");
    let pg = obsctl_store::PostgresStore::create_database(&base, "bench").await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let target = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            drop(socket);
        }
    });
    let mut text = format!(
        "version = 1\n[store]\nurl = \"{pg}\"\n[agent]\nmode = \"observe\"\n[scheduler]\nmax_concurrency = 256\n"
    );
    for s in 0..checks.div_ceil(100) {
        text.push_str(&format!("[[service]]\nname = \"s{s}\"\n"));
        for c in 0..100.min(checks - s * 100) {
            text.push_str(&format!(
                "  [[service.check]]\n  name = \"c{c}\"\n  kind = \"tcp\"\n  address = \"{target}\"\n  interval = \"10s\"\n  timeout = \"2s\"\n"
            ));
        }
    }
    let dirs: Vec<tempfile::TempDir> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    for d in &dirs {
        std::fs::write(d.path().join("obsctl.toml"), &text).unwrap();
    }
    let ports: Vec<u16> =
        (0..3).map(|_| std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()).collect();
    let mut children: Vec<Child> = dirs.iter().zip(&ports).map(|(d, p)| serve(d.path(), *p)).collect();
    let started = Instant::now();
    loop {
        if cluster(ports[0]).await.is_some_and(|v| live(&v).len() == 3) {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(120), "three replicas did not come up");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // One interval to settle (first runs are spread over it), then measure.
    tokio::time::sleep(Duration::from_secs(12)).await;
    let pids: Vec<String> = children.iter().map(|c| c.id().to_string()).collect();
    let cpu0: Vec<f64> = pids.iter().map(|p| cpu_seconds(p)).collect();
    let stats0 = pg_stats(&pg).await;
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    let cpu1: Vec<f64> = pids.iter().map(|p| cpu_seconds(p)).collect();
    let stats1 = pg_stats(&pg).await;
    let view = cluster(ports[0]).await.unwrap();
    println!("{checks} checks at 10 s on 3 replicas, measured over {seconds} s");
    println!();
    println!("| replica | checks it runs | CPU (% of a core) | RSS (MB) | peak RSS (MB) |");
    println!("|---|---|---|---|---|");
    for (i, pid) in pids.iter().enumerate() {
        let runs = live(&view)
            .iter()
            .find(|r| r["pid"].as_u64() == pid.parse().ok())
            .map_or(0, |r| r["runs"].as_array().unwrap().len());
        println!(
            "| {} | {runs} | {:.1} | {:.0} | {:.0} |",
            i + 1,
            100.0 * (cpu1[i] - cpu0[i]) / seconds as f64,
            status_kb(pid, "VmRSS:") as f64 / 1024.0,
            status_kb(pid, "VmHWM:") as f64 / 1024.0
        );
    }
    let per_s = |a: i64, b: i64| (b - a) as f64 / seconds as f64;
    println!();
    println!(
        "Postgres, per second: heartbeat writes {:.1}, coordination reads (replicas, check statuses) {:.1}, all transactions {:.0}",
        per_s(stats0.0, stats1.0),
        per_s(stats0.1, stats1.1),
        per_s(stats0.2, stats1.2)
    );

    // SIGKILL the second replica: how long until every check it ran has run again elsewhere.
    let victim = &pids[1];
    let theirs: Vec<String> = live(&view)
        .iter()
        .find(|r| r["pid"].as_u64() == victim.parse().ok())
        .map(|r| r["runs"].as_array().unwrap().iter().map(|c| c.as_str().unwrap().to_string()).collect())
        .unwrap();
    children[1].kill().unwrap();
    let _ = children[1].wait();
    let killed = obsctl_core::Timestamp::now();
    let t0 = Instant::now();
    let store = obsctl_store::PostgresStore::open(&pg, None).await.unwrap();
    let detected = loop {
        if cluster(ports[0]).await.is_some_and(|v| live(&v).len() == 2) {
            break t0.elapsed();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let moved = loop {
        let latest = store.latest_observations().await.unwrap();
        let again = latest.iter().filter(|o| theirs.contains(&o.check_id) && o.at > killed).count();
        if again == theirs.len() {
            break t0.elapsed();
        }
        assert!(t0.elapsed() < Duration::from_secs(60), "{again} of {} ran again", theirs.len());
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    println!(
        "SIGKILL of a replica running {} checks: counted out after {:.1} s (lease 5 s); every one of its checks ran again on the others {:.1} s after the kill (each at its next 10 s tick)",
        theirs.len(),
        detected.as_secs_f64(),
        moved.as_secs_f64()
    );
    for mut c in children {
        let _ = c.kill();
        let _ = c.wait();
    }
}
