//! Three real `serve` replicas on one Postgres share 200 checks: from the stored observations,
//! every check ran once per interval (no two runs within half an interval) with no gap longer
//! than a lease and a few heartbeats while one replica is SIGKILLed and later restarted and
//! another is paused past its lease (SIGSTOP) and resumed; a fix triggered during the kill
//! executed once; a dashboard shows a check state that another replica changed.

use obsctl_engine::cluster::{HEARTBEAT, LEASE};
use obsctl_store::Store;

use crate::support::{Serve, Target, config_file, eventually, free_port, fresh_postgres, head_with_store, serve_in};

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
    text.push_str(&format!(
        "[[service]]\nname = \"pay\"\n  [[service.check]]\n  name = \"health\"\n  kind = \"http\"\n  url = \"{breakable}/health\"\n  interval = \"1s\"\n  timeout = \"800ms\"\n  fail_after = 1\n  recover_after = 1\n\
         [[service]]\nname = \"lone\"\n  [[service.check]]\n  name = \"health\"\n  kind = \"http\"\n  url = \"{lone_url}/health\"\n  interval = \"1s\"\n  timeout = \"800ms\"\n  fail_after = 1\n\
         [[runbook]]\nname = \"poke\"\nwhen = {{ incident = \"http-down\", service = \"pay\" }}\nsteps = [{{ tool = \"http.request\", args = {{ url = \"{breakable}/fix\", method = \"POST\" }} }}]\ncooldown = \"0s\"\n"
    ));
    text
}

async fn cluster(port: u16) -> Option<serde_json::Value> {
    let http = obsctl_host::http_client().build().ok()?;
    http.get(format!("http://127.0.0.1:{port}/api/cluster")).send().await.ok()?.json().await.ok()
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
        cluster(ports[0]).await.filter(|v| live(v) == 3)
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

    // SIGKILL one replica, and break `pay` while it is gone.
    serves[1].as_mut().unwrap().kill();
    breakable.set_healthy(false);
    eventually(30, "the others to see it gone", || async { cluster(ports[0]).await.filter(|v| live(v) == 2) }).await;
    eventually(60, "the runbook to fix pay", || async { (breakable.fixes() > 0).then_some(()) }).await;

    // It comes back; the work spreads over three again.
    serves[1] = Some(serve_in(dirs[1].path(), ports[1]));
    eventually(60, "three live replicas again", || async { cluster(ports[0]).await.filter(|v| live(v) == 3) }).await;
    tokio::time::sleep(std::time::Duration::from_secs(4)).await;

    // One is paused past its lease (SIGSTOP) and resumed: the others take its share meanwhile,
    // and it runs nothing of it until it has heartbeated again and they have seen it.
    let paused = serves[2].as_ref().unwrap().0.id().to_string();
    assert!(std::process::Command::new("kill").args(["-STOP", &paused]).status().unwrap().success());
    eventually(30, "the others to count it out", || async { cluster(ports[0]).await.filter(|v| live(v) == 2) }).await;
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    assert!(std::process::Command::new("kill").args(["-CONT", &paused]).status().unwrap().success());
    eventually(30, "it to be back", || async { cluster(ports[0]).await.filter(|v| live(v) == 3) }).await;
    tokio::time::sleep(std::time::Duration::from_secs(4)).await;
    drop(serves);
    assert_eq!(breakable.fixes(), 1, "the fix ran once");

    let store = obsctl_store::PostgresStore::open(&pg, None).await.unwrap();
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
