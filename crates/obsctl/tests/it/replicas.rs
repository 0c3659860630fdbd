//! Three real `serve` replicas on one Postgres share 200 checks: from the stored observations,
//! every check ran once per interval (no two runs within half an interval) with no gap longer
//! than a lease and a few heartbeats while the holder of the agent lease is SIGKILLed and later
//! restarted, and the next holder is paused past its leases (SIGSTOP) and resumed; a fix
//! triggered during each executed once, and the paused one acted on nothing when it woke; a
//! dashboard shows a check state that another replica changed.

use obsctl_engine::cluster::{HEARTBEAT, LEASE};
use obsctl_store::CheckHistory;
use obsctl_store::Store;

use crate::support::{
    Serve, Target, config_file, eventually, free_port, fresh_postgres, head_with_store, serve_in, serve_skewed,
};

const SERVICES: usize = 20;
const CHECKS_PER_SERVICE: usize = 10;

/// 200 checks every second on a healthy target, `pay`, whose runbook fixes `breakable`, and
/// `lone` on `lone_url`, which nothing fixes.
fn config(pg: &str, breakable: &str, lone_url: &str) -> String {
    let mut text = head_with_store("auto", pg);
    text.push_str("cooldown = \"0s\"\n");
    for s in 0..SERVICES {
        text.push_str(&format!("[[service]]\nname = \"s{s}\"\n"));
        for c in 0..CHECKS_PER_SERVICE {
            text.push_str(&format!(
                "  [[service.check]]\n  name = \"c{c}\"\n  kind = \"http\"\n  url = \"{{url}}/health\"\n  interval = \"1s\"\n  timeout = \"800ms\"\n"
            ));
        }
    }
    text.push_str(&pay_with_fix(breakable));
    text.push_str(&format!(
        "[[service]]\nname = \"lone\"\n  [[service.check]]\n  name = \"health\"\n  kind = \"http\"\n  url = \"{lone_url}/health\"\n  interval = \"1s\"\n  timeout = \"800ms\"\n  fail_after = 1\n"
    ));
    text
}

/// `pay`, failing on `breakable` after one failure, and the runbook that fixes it (POST /fix).
fn pay_with_fix(breakable: &str) -> String {
    format!(
        "[[service]]\nname = \"pay\"\n  [[service.check]]\n  name = \"health\"\n  kind = \"http\"\n  url = \"{breakable}/health\"\n  interval = \"1s\"\n  timeout = \"800ms\"\n  fail_after = 1\n  recover_after = 1\n\
         [[runbook]]\nname = \"poke\"\nwhen = {{ incident = \"http-down\", service = \"pay\" }}\nsteps = [{{ tool = \"http.request\", args = {{ url = \"{breakable}/fix\", method = \"POST\" }} }}]\ncooldown = \"0s\"\n"
    )
}

/// `checks` checks every second on `{url}/health?c<i>` (so the target counts each one's runs by
/// its own clock) and `pay_with_fix`, in `auto` mode on the store `pg`.
fn counted_checks(pg: &str, checks: usize, breakable: &str) -> String {
    let mut text = head_with_store("auto", pg);
    text.push_str("cooldown = \"0s\"\n[[service]]\nname = \"s\"\n");
    for c in 0..checks {
        text.push_str(&format!(
            "  [[service.check]]\n  name = \"c{c}\"\n  kind = \"http\"\n  url = \"{{url}}/health?c{c}\"\n  interval = \"1s\"\n  timeout = \"800ms\"\n"
        ));
    }
    text + &pay_with_fix(breakable)
}

/// From the target's `hits` of `counted_checks`: the runs closer than half an interval to the
/// one before, and the longest gap between two runs.
fn rhythm(
    hits: &std::collections::HashMap<String, Vec<std::time::Instant>>,
    checks: usize,
) -> (Vec<(usize, std::time::Duration)>, std::time::Duration) {
    let (mut doubles, mut worst_gap) = (Vec::new(), std::time::Duration::ZERO);
    for c in 0..checks {
        for w in hits[&format!("c{c}")].windows(2) {
            let gap = w[1] - w[0];
            if gap < std::time::Duration::from_millis(500) {
                doubles.push((c, gap));
            }
            worst_gap = worst_gap.max(gap);
        }
    }
    (doubles, worst_gap)
}

async fn cluster(port: u16) -> Option<serde_json::Value> {
    let http = obsctl_host::http_client().build().ok()?;
    http.get(format!("http://127.0.0.1:{port}/api/cluster")).send().await.ok()?.json().await.ok()
}

/// The index (in `ports`) of the replica that holds the agent lease, once one does.
async fn acting(ports: &[u16]) -> usize {
    eventually(30, "one replica to hold the agent lease", || async {
        let view = cluster(ports[0]).await?;
        let actor = view["replicas"].as_array()?.iter().find(|r| r["acts"] == true)?["listen"].as_str()?.to_string();
        ports.iter().position(|p| actor == format!("127.0.0.1:{p}"))
    })
    .await
}

/// How many actions the `serve` of process `pid` ran, from the incidents' timelines.
async fn executed_by(store: &dyn Store, pid: &str) -> usize {
    let mut count = 0;
    for incident in store.list_incidents(&Default::default()).await.unwrap() {
        let events = store.events(&incident.id).await.unwrap();
        count += events
            .iter()
            .filter(|e| {
                e.message.starts_with("running ")
                    && e.data["holder"].as_str().is_some_and(|h| h.contains(&format!(":{pid}:")))
            })
            .count();
    }
    count
}

fn live(view: &serde_json::Value) -> usize {
    view["replicas"].as_array().map_or(0, |r| r.iter().filter(|r| r["live"] == true).count())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_replicas_run_each_check_once_through_a_kill_and_a_restart() {
    let pg = fresh_postgres().await;
    let healthy = Target::start(true).await;
    let breakable = Target::start(true).await;
    let lone = Target::start(true).await;
    let dirs: Vec<tempfile::TempDir> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let ports: Vec<u16> = (0..3).map(|_| free_port()).collect();
    for dir in &dirs {
        config_file(&config(&pg, &breakable.url, &lone.url), &healthy.url, dir.path());
    }
    let mut serves: Vec<Option<Serve>> = dirs.iter().zip(&ports).map(|(d, p)| Some(serve_in(d.path(), *p))).collect();

    let view = eventually(60, "three live replicas sharing the checks", || async {
        cluster(ports[0]).await.filter(|v| {
            live(v) == 3 && v["replicas"].as_array().unwrap().iter().all(|r| r["runs"] != serde_json::json!([]))
        })
    })
    .await;
    let shares: Vec<usize> =
        view["replicas"].as_array().unwrap().iter().map(|r| r["runs"].as_array().unwrap().len()).collect();
    assert_eq!(shares.iter().sum::<usize>(), SERVICES * CHECKS_PER_SERVICE + 2, "{view}");
    assert!(shares.iter().all(|n| *n > 30), "{shares:?}");

    // A dashboard on a replica that does not run `lone` shows it failing once its runner sees it.
    let runs_lone = |r: &serde_json::Value| r["runs"].as_array().unwrap().iter().any(|c| c == "lone/health");
    let replicas = view["replicas"].as_array().unwrap();
    let runner = replicas.iter().find(|r| runs_lone(r)).unwrap()["listen"].as_str().unwrap().to_string();
    let other = replicas.iter().find(|r| !runs_lone(r)).unwrap()["listen"].as_str().unwrap().to_string();
    assert_ne!(runner, other);
    lone.set_healthy(false);
    let http = obsctl_host::http_client().build().unwrap();
    eventually(20, "the other replica's dashboard to show lone failing", || async {
        let page = http.get(format!("http://{other}/ui")).send().await.ok()?.text().await.ok()?;
        page.contains(r#"id="svc-lone" class="card st-failing""#).then_some(())
    })
    .await;
    lone.set_healthy(true);
    // The Resources page lists the replicas.
    let resources = http.get(format!("http://{other}/ui/resources")).send().await.unwrap().text().await.unwrap();
    assert!(resources.contains(r#"<table id="replicas">"#), "{resources}");
    assert_eq!(resources.matches(r#"<span class="state ok">live</span>"#).count(), 3, "{resources}");
    tokio::time::sleep(std::time::Duration::from_secs(6)).await;

    // SIGKILL the replica that holds the agent lease, and break `pay` while it is gone: another
    // takes the lease (at once: the holder's process is gone from this host) and fixes it.
    let killed = acting(&ports).await;
    serves[killed].as_mut().unwrap().kill();
    eprintln!("killed at {}", obsctl_core::Timestamp::now().millis());
    breakable.set_healthy(false);
    let survivor = ports[(killed + 1) % 3];
    eventually(30, "the others to see it gone", || async { cluster(survivor).await.filter(|v| live(v) == 2) }).await;
    eventually(60, "the runbook to fix pay", || async { (breakable.fixes() > 0).then_some(()) }).await;

    // It comes back; the work spreads over three again.
    serves[killed] = Some(serve_in(dirs[killed].path(), ports[killed]));
    eprintln!("restarted at {}", obsctl_core::Timestamp::now().millis());
    eventually(60, "three live replicas again", || async { cluster(ports[0]).await.filter(|v| live(v) == 3) }).await;
    tokio::time::sleep(std::time::Duration::from_secs(4)).await;

    // The holder of the agent lease now is paused (SIGSTOP) past its checks' lease and its agent
    // lease, and `pay` breaks meanwhile: the others take its share and the agent lease, and fix
    // `pay`; it runs nothing of its share until it has heartbeated again and they have seen it,
    // and, knowing on waking that its agent lease ended, acts on nothing.
    let paused = acting(&ports).await;
    let pid = serves[paused].as_ref().unwrap().0.id().to_string();
    let store = obsctl_store::PostgresStore::open(&pg, None).await.unwrap();
    let executed_before = executed_by(&store, &pid).await;
    assert_eq!(executed_before, 1, "the holder since the kill fixed the first break");
    assert!(std::process::Command::new("kill").args(["-STOP", &pid]).status().unwrap().success());
    eprintln!("paused at {}", obsctl_core::Timestamp::now().millis());
    breakable.set_healthy(false);
    eventually(30, "the others to count it out", || async {
        cluster(ports[(paused + 1) % 3]).await.filter(|v| live(v) == 2)
    })
    .await;
    eventually(60, "another replica to take the agent lease and fix pay", || async {
        (breakable.fixes() > 1).then_some(())
    })
    .await;
    assert!(std::process::Command::new("kill").args(["-CONT", &pid]).status().unwrap().success());
    eprintln!("resumed at {}", obsctl_core::Timestamp::now().millis());
    eventually(30, "it to be back", || async { cluster(ports[0]).await.filter(|v| live(v) == 3) }).await;
    tokio::time::sleep(std::time::Duration::from_secs(4)).await;
    drop(serves);
    assert_eq!(breakable.fixes(), 2, "each break was fixed once");
    assert_eq!(executed_by(&store, &pid).await, executed_before, "the paused replica acted on waking");
    let log = std::fs::read_to_string(dirs[paused].path().join("serve.log")).unwrap();
    assert!(log.contains("lost the agent lease"), "{log}");
    assert!(!log.contains('\u{1b}'), "colour codes in a log file: {log}");

    let (mut doubles, mut worst_gap, mut runs) = (Vec::new(), 0, 0);
    for s in 0..SERVICES {
        for c in 0..CHECKS_PER_SERVICE {
            let id = format!("s{s}/c{c}");
            let mut at: Vec<i64> =
                store.recent_observations(&id, 1000).await.unwrap().iter().map(|o| o.at.millis()).collect();
            at.sort_unstable();
            runs += at.len();
            assert!(at.len() >= 5, "{id} ran {} times", at.len());
            for w in at.windows(2) {
                let gap = w[1] - w[0];
                if gap < 500 {
                    doubles.push((id.clone(), w[0], gap));
                }
                worst_gap = worst_gap.max(gap);
            }
        }
    }
    eprintln!("{runs} runs, worst gap {worst_gap} ms");
    assert!(
        doubles.is_empty(),
        "{} checks ran twice within half an interval: {:?}",
        doubles.len(),
        &doubles[..doubles.len().min(5)]
    );
    // The killed replica's checks moved within one lease, the heartbeat that notices it gone and
    // the check's next interval (1 s), with 2 s for a loaded 2-core machine.
    let bound = (LEASE + HEARTBEAT * 2).as_millis() as i64 + 1_000 + 2_000;
    assert!(worst_gap <= bound, "a check went {worst_gap} ms without a run (bound {bound} ms)");
}

/// Issue 13, bad input: three replicas whose clocks disagree (one 90.35 s ahead, one 47.6 s
/// behind, by libfaketime). Leases, heartbeats and the checks' slots follow the store's clock,
/// so, counted by the target's own clock from the first run on, every check ran once per
/// interval while the replicas joined one by one, one replica acted, a fix ran once, and each
/// replica's offset is reported (and the skewed ones warned about).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_with_skewed_clocks_run_each_check_once_and_act_once() {
    const CHECKS: usize = 60;
    let pg = fresh_postgres().await;
    let healthy = Target::start(true).await;
    let breakable = Target::start(true).await;
    let text = counted_checks(&pg, CHECKS, &breakable.url);
    let dirs: Vec<tempfile::TempDir> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let ports: Vec<u16> = (0..3).map(|_| free_port()).collect();
    for dir in &dirs {
        config_file(&text, &healthy.url, dir.path());
    }
    let skews = [None, Some(("+90.35s", 90_350)), Some(("-47.6s", -47_600))];
    let mut serves: Vec<Serve> = Vec::new();
    for (i, skew) in skews.iter().enumerate() {
        serves.push(match skew {
            None => serve_in(dirs[i].path(), ports[i]),
            Some((skew, _)) => serve_skewed(dirs[i].path(), ports[i], skew),
        });
        // One by one: each join moves checks between replicas whose clocks disagree.
        eventually(60, "the replica to join", || async { cluster(ports[0]).await.filter(|v| live(v) == i + 1) }).await;
        tokio::time::sleep(std::time::Duration::from_secs(4)).await;
    }

    let view = cluster(ports[0]).await.unwrap();
    for (i, skew) in skews.iter().enumerate() {
        let listen = format!("127.0.0.1:{}", ports[i]);
        let replica = view["replicas"].as_array().unwrap().iter().find(|r| r["listen"] == listen.as_str()).unwrap();
        let expected = skew.map_or(0, |(_, ms)| ms);
        let offset = replica["clock_offset_ms"].as_i64().unwrap();
        assert!((offset - expected).abs() < 1_000, "replica {i}: offset {offset} ms, expected {expected}: {view}");
        assert_eq!(replica["clock_skewed"], skew.is_some(), "{view}");
    }
    let acting: Vec<_> = view["replicas"].as_array().unwrap().iter().filter(|r| r["acts"] == true).collect();
    assert_eq!(acting.len(), 1, "{view}");

    breakable.set_healthy(false);
    eventually(60, "the runbook to fix pay", || async { (breakable.fixes() > 0).then_some(()) }).await;
    tokio::time::sleep(std::time::Duration::from_secs(4)).await;
    let hits = healthy.hits();
    drop(serves);
    assert_eq!(breakable.fixes(), 1, "the fix ran once");

    for c in 0..CHECKS {
        assert!(hits[&format!("c{c}")].len() >= 10, "c{c} ran {} times", hits[&format!("c{c}")].len());
    }
    let (doubles, worst_gap) = rhythm(&hits, CHECKS);
    assert!(doubles.is_empty(), "checks ran twice within half an interval: {doubles:?}");
    // A join moves a check to the next slot on the shared grid: no gap beyond one interval and jitter.
    assert!(worst_gap < std::time::Duration::from_millis(1_600), "a check went {worst_gap:?} without a run");
    let log = std::fs::read_to_string(dirs[1].path().join("serve.log")).unwrap();
    assert!(log.contains("this host's clock is +90."), "{log}");
}

/// Issue 13: events between replicas (Postgres NOTIFY). An incident that one replica opens
/// (its check failed there) reaches the live dashboard of another at once, as its own would:
/// without the relay that page would hear of the check's state only, never of the incident.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_incident_opened_on_one_replica_reaches_the_others_dashboard_live() {
    let pg = fresh_postgres().await;
    let healthy = Target::start(true).await;
    let lone = Target::start(true).await;
    let dirs: Vec<tempfile::TempDir> = (0..2).map(|_| tempfile::tempdir().unwrap()).collect();
    let ports: Vec<u16> = (0..2).map(|_| free_port()).collect();
    let mut text = head_with_store("approve", &pg);
    text.push_str(&format!(
        "[[service]]\nname = \"lone\"\n  [[service.check]]\n  name = \"health\"\n  kind = \"http\"\n  url = \"{}/health\"\n  interval = \"1s\"\n  timeout = \"800ms\"\n  fail_after = 1\n",
        lone.url
    ));
    for dir in &dirs {
        config_file(&text, &healthy.url, dir.path());
    }
    let _serves: Vec<Serve> = dirs.iter().zip(&ports).map(|(d, p)| serve_in(d.path(), *p)).collect();
    let view = eventually(60, "two active replicas", || async {
        cluster(ports[0]).await.filter(|v| {
            live(v) == 2
                && v["replicas"].as_array().unwrap().iter().any(|r| r["runs"] == serde_json::json!(["lone/health"]))
        })
    })
    .await;
    let runner = view["replicas"].as_array().unwrap().iter().find(|r| r["runs"] == serde_json::json!(["lone/health"]));
    let runner = runner.unwrap()["listen"].as_str().unwrap().to_string();
    let other = ports.iter().map(|p| format!("127.0.0.1:{p}")).find(|l| *l != runner).unwrap();

    let mut stream = reqwest::get(format!("http://{other}/ui/events")).await.unwrap();
    assert_eq!(stream.headers()["content-type"], "text/event-stream");
    lone.set_healthy(false);
    let mut seen = String::new();
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
    while !seen.contains("event: incidents") {
        let chunk = tokio::time::timeout_at(deadline, stream.chunk())
            .await
            .unwrap_or_else(|_| panic!("no incident event on the other replica within 20 s: {seen}"))
            .unwrap()
            .unwrap();
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    // The page it refreshes lists the incident the other replica opened.
    let http = obsctl_host::http_client().build().unwrap();
    let incidents = http.get(format!("http://{other}/ui/incidents")).send().await.unwrap().text().await.unwrap();
    assert!(incidents.contains("health http-down on lone"), "{incidents}");
}

/// Issue 13, bad input: the Postgres server restarts under two replicas (down 8 s, longer than
/// their check lease) while `pay` breaks. Counted by the target's own clock, no check ran twice
/// within half an interval; checks resumed after the restart within a lease and a grace; the
/// fix ran once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgres_restart_under_two_replicas_runs_no_check_twice_and_fixes_once() {
    const CHECKS: usize = 40;
    let pg = crate::support::OwnPostgres::start();
    let healthy = Target::start(true).await;
    let breakable = Target::start(true).await;
    let text = counted_checks(&pg.url(), CHECKS, &breakable.url);
    let dirs: Vec<tempfile::TempDir> = (0..2).map(|_| tempfile::tempdir().unwrap()).collect();
    let ports: Vec<u16> = (0..2).map(|_| free_port()).collect();
    for dir in &dirs {
        config_file(&text, &healthy.url, dir.path());
    }
    let serves: Vec<Serve> = dirs.iter().zip(&ports).map(|(d, p)| serve_in(d.path(), *p)).collect();
    let both_active = || async {
        cluster(ports[0]).await.filter(|v| {
            live(v) == 2 && v["replicas"].as_array().unwrap().iter().all(|r| r["runs"] != serde_json::json!([]))
        })
    };
    eventually(60, "two active replicas", both_active).await;
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;

    pg.ctl("stop");
    let down = std::time::Instant::now();
    breakable.set_healthy(false);
    tokio::time::sleep(std::time::Duration::from_secs(8)).await;
    pg.ctl("start");
    let downtime = down.elapsed();
    eventually(60, "both replicas back and active", both_active).await;
    eventually(60, "the runbook to fix pay", || async { (breakable.fixes() > 0).then_some(()) }).await;
    tokio::time::sleep(std::time::Duration::from_secs(5)).await;
    let hits = healthy.hits();
    drop(serves);
    assert_eq!(breakable.fixes(), 1, "the fix ran once");

    for c in 0..CHECKS {
        let last = hits[&format!("c{c}")].last().unwrap();
        assert!(last.elapsed() < std::time::Duration::from_secs(7), "c{c} stopped running");
    }
    let (doubles, worst_gap) = rhythm(&hits, CHECKS);
    assert!(doubles.is_empty(), "checks ran twice within half an interval: {doubles:?}");
    // Fenced while the store was down; back a grace after their heartbeats lapsed.
    let bound = downtime + LEASE + obsctl_engine::cluster::GRACE + std::time::Duration::from_secs(4);
    assert!(worst_gap < bound, "a check went {worst_gap:?} without a run (bound {bound:?})");
}
