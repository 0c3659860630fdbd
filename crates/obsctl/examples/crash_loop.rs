//! The crash loop (hardening issue): runs a real `obsctl serve` under load — checks failing and
//! recovering, three-step plans whose middle step sometimes fails, plans waiting for approvals
//! that arrive over the API — and kills it with SIGKILL at random points, again and again.
//! Then, from the journal and the side-effect markers each step leaves, it checks that no action
//! ran twice, no step ran after a failed one, and no incident or episode was lost, and prints
//! its counts. Run it with `scripts/crash-loop [KILLS]`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use obsctl_core::action::{Action, ActionState};
use obsctl_core::incident::IncidentStatus;
use obsctl_store::{ActionFilter, ActionJournal, Cluster, IncidentFilter, IncidentLog, Memory, SqliteStore, Store};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const TOKEN: &str = "crash-loop-token-0123456789";

/// A small xorshift generator: the loop needs variety, not cryptography.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

/// Each step appends its name to a marker file before it ends: the world's own record of what
/// ran, to compare with the journal's.
fn config(dir: &Path, port: u16) -> String {
    let d = dir.display();
    let step = |name: &str, then: &str| format!(r#"["sh", "-c", "echo x >> {d}/{name}.log; {then}"]"#);
    let (a0, a1, a2) = (
        step("auto0", "sleep 0.05"),
        step("auto1", "sleep 0.05; test $(( $(date +%N) % 4 )) -ne 0"),
        step("auto2", &format!("touch {d}/auto.ok")),
    );
    let (b0, b1) = (step("approve0", "sleep 0.05"), step("approve1", &format!("touch {d}/approve.ok")));
    format!(
        r#"version = 1
[server]
listen = "127.0.0.1:{port}"
[store]
url = "sqlite://{d}/obsctl.db"
[agent]
mode = "auto"
cooldown = "0s"
max_actions_per_hour = 100000
max_actions_per_service_per_hour = 100000
breaker_failures = 100000
[agent.verify]
attempts = 3
backoff = "50ms"
max_backoff = "100ms"
[commands]
allow = [{a0}, {a1}, {a2}, {b0}, {b1}, ["test", "-e", "{d}/auto.ok"], ["test", "-e", "{d}/approve.ok"]]

[[service]]
name = "auto"
  [[service.check]]
  name = "ok"
  kind = "command"
  run = ["test", "-e", "{d}/auto.ok"]
  interval = "200ms"
  timeout = "150ms"
  fail_after = 1
  recover_after = 1

[[service]]
name = "gated"
  [[service.check]]
  name = "ok"
  kind = "command"
  run = ["test", "-e", "{d}/approve.ok"]
  interval = "200ms"
  timeout = "150ms"
  fail_after = 1
  recover_after = 1

[[runbook]]
name = "three steps"
when = {{ service = "auto" }}
steps = [{{ tool = "command.run", args = {{ command = {a0} }} }}, {{ tool = "command.run", args = {{ command = {a1} }} }}, {{ tool = "command.run", args = {{ command = {a2} }} }}]
cooldown = "0s"

[[runbook]]
name = "needs a person"
when = {{ service = "gated" }}
steps = [{{ tool = "command.run", args = {{ command = {b0} }} }}, {{ tool = "command.run", args = {{ command = {b1} }} }}]
mode = "approve"
cooldown = "0s"
"#
    )
}

/// A running `serve`, killed (SIGKILL) and reaped when dropped.
struct Serve(Child);

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start(obsctl: &Path, dir: &Path) -> Serve {
    Serve(
        Command::new(obsctl)
            .args(["-q", "--config"])
            .arg(dir.join("obsctl.toml"))
            .args(["serve", "--mcp-listen", "127.0.0.1:0"])
            .env("ENABLE_UNIX_TOOLS", "true")
            .env("OBSCTL_API_TOKEN", TOKEN)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start obsctl serve"),
    )
}

/// POST /api/actions/{id}/approve over a plain socket; any answer is fine (it may be gone).
async fn approve(port: u16, id: &str) {
    let body = r#"{"reason":"crash loop"}"#;
    let request = format!(
        "POST /api/actions/{id}/approve HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {TOKEN}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let exchange = async {
        let mut socket = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
        socket.write_all(request.as_bytes()).await?;
        let mut reply = Vec::new();
        socket.read_to_end(&mut reply).await?;
        Ok::<_, std::io::Error>(())
    };
    let _ = tokio::time::timeout(Duration::from_secs(2), exchange).await;
}

fn lines(path: PathBuf) -> usize {
    std::fs::read_to_string(path).map(|t| t.lines().count()).unwrap_or(0)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let kills: u32 = args.next().map(|k| k.parse()).transpose()?.unwrap_or(100);
    let obsctl = std::env::current_exe()?.parent().and_then(|p| p.parent()).map(|p| p.join("obsctl")).unwrap();
    anyhow::ensure!(obsctl.exists(), "build the binary first: cargo build --release -p obsctl --bins --examples");
    let dir = tempfile::tempdir()?;
    let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    std::fs::write(dir.path().join("obsctl.toml"), config(dir.path(), port))?;
    let db = format!("sqlite://{}/obsctl.db", dir.path().display());
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ u64::from(std::process::id()));
    let started = Instant::now();
    let mut breaks = 0u32;
    std::fs::write(dir.path().join("auto.ok"), "")?;
    std::fs::write(dir.path().join("approve.ok"), "")?;

    for kill in 0..kills {
        let serve = start(&obsctl, dir.path());
        let alive = Duration::from_millis(500 + rng.below(2000));
        let until = Instant::now() + alive;
        while Instant::now() < until {
            // Break a service now and then; approve waiting plans as people would.
            if rng.below(4) == 0 {
                let which = if rng.below(2) == 0 { "auto.ok" } else { "approve.ok" };
                if std::fs::remove_file(dir.path().join(which)).is_ok() {
                    breaks += 1;
                }
            }
            if let Ok(store) = SqliteStore::open(&db).await {
                let filter = ActionFilter { states: vec![ActionState::PendingApproval], ..Default::default() };
                let pending = store.list_actions(&filter).await.unwrap_or_default();
                store.close().await;
                if let Some(a) = pending.first() {
                    approve(port, &a.id).await;
                }
            }
            tokio::time::sleep(Duration::from_millis(50 + rng.below(150))).await;
        }
        drop(serve); // SIGKILL: wherever it is
        if kill % 10 == 9 {
            eprintln!("{} kills, {} breaks, {:.0?}", kill + 1, breaks, started.elapsed());
        }
    }

    // A last clean run: everything healthy, approvals granted, until the journal is quiet.
    std::fs::write(dir.path().join("auto.ok"), "")?;
    std::fs::write(dir.path().join("approve.ok"), "")?;
    let mut serve = start(&obsctl, dir.path());
    let settle = Instant::now() + Duration::from_secs(20);
    loop {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let store = SqliteStore::open(&db).await?;
        let active = store
            .list_actions(&ActionFilter {
                states: vec![ActionState::PendingApproval, ActionState::Approved, ActionState::Running],
                limit: 10_000,
                ..Default::default()
            })
            .await?;
        let open = store
            .list_incidents(&IncidentFilter { status: Some(IncidentStatus::Open), limit: 10_000, ..Default::default() })
            .await?;
        // The last serve must have taken the agent lease (and so caught up) before it counts.
        let leading = store.lease("agent").await?.is_some_and(|l| l.holder.contains(&format!(":{}:", serve.0.id())));
        store.close().await;
        for a in active.iter().filter(|a| a.state == ActionState::PendingApproval) {
            approve(port, &a.id).await;
        }
        if (leading && active.is_empty() && open.is_empty()) || Instant::now() > settle {
            break;
        }
    }
    // SIGTERM-like stop through the signal the CLI handles.
    Command::new("kill").arg("-TERM").arg(serve.0.id().to_string()).status()?;
    serve.0.wait()?;

    let verdict = verify(dir.path(), &db, kills, breaks).await;
    if verdict.is_err() {
        eprintln!("the journal and markers are kept in {}", dir.keep().display());
    }
    verdict
}

/// The invariants, from the journal and the markers.
async fn verify(dir: &Path, db: &str, kills: u32, breaks: u32) -> anyhow::Result<()> {
    let store = SqliteStore::open(db).await?;
    let actions = store.list_actions(&ActionFilter { limit: 10_000, ..Default::default() }).await?;
    let incidents = store.list_incidents(&IncidentFilter { limit: 10_000, ..Default::default() }).await?;
    let mut problems = Vec::new();

    // 1. Nothing ran twice: every marker line is one execution, and every execution is journaled
    //    (`running` is committed before the tool starts), so lines <= executed rows; and every
    //    step the journal says succeeded left its line.
    let executed = |tool_step: &str, states: &[ActionState]| {
        actions
            .iter()
            .filter(|a| a.args.to_string().contains(&format!("/{tool_step}.log")) && states.contains(&a.state))
            .count()
    };
    let ran = [ActionState::Running, ActionState::Succeeded, ActionState::Failed];
    let mut marker_lines = 0;
    for step in ["auto0", "auto1", "auto2", "approve0", "approve1"] {
        let lines = lines(dir.join(format!("{step}.log")));
        marker_lines += lines;
        let (journaled, succeeded) = (executed(step, &ran), executed(step, &[ActionState::Succeeded]));
        if lines > journaled {
            problems.push(format!("{step}: {lines} executions but {journaled} journaled: something ran twice"));
        }
        if lines < succeeded {
            problems.push(format!("{step}: {succeeded} succeeded in the journal but only {lines} ran"));
        }
    }

    // 2. No step after one that did not succeed.
    let mut plans: std::collections::BTreeMap<&str, Vec<&Action>> = Default::default();
    for a in &actions {
        plans.entry(a.plan_id.as_str()).or_default().push(a);
    }
    for steps in plans.values_mut() {
        steps.sort_by_key(|a| a.step);
        let mut stopped_at = None;
        for a in steps.iter() {
            if let Some(earlier) = stopped_at
                && a.state.was_executed()
            {
                problems.push(format!("plan {}: step {} ran after step {earlier} did not succeed", a.plan_id, a.step));
            }
            if stopped_at.is_none() && matches!(a.state, ActionState::Failed | ActionState::Running) {
                stopped_at = Some(a.step);
            }
        }
    }

    // 3. Nothing lost: every opening of every incident that ended has its episode.
    let mut episodes = 0;
    for i in incidents.iter().filter(|i| i.status == IncidentStatus::Resolved) {
        for opening in 0..=i.reopen_count {
            match store.episode(&format!("ep-{}-r{opening}", i.id)).await {
                Ok(_) => episodes += 1,
                Err(e) => {
                    problems.push(format!("incident {} opening {opening} ended but its episode is missing: {e}", i.id))
                }
            }
        }
    }
    let still_open = incidents.iter().filter(|i| i.status == IncidentStatus::Open).count();
    store.close().await;

    let interrupted =
        actions.iter().filter(|a| a.result.as_ref().is_some_and(|r| r.get("recovered").is_some())).count();
    let cancelled = actions.iter().filter(|a| a.state == ActionState::Cancelled).count();
    println!(
        "crash loop: {kills} SIGKILLs, {breaks} breaks; {} incidents ({still_open} still open), {episodes} episodes; \
         {} actions ({} plans), {marker_lines} tool runs, {interrupted} interrupted and verified, {cancelled} cancelled",
        incidents.len(),
        actions.len(),
        plans.len()
    );
    anyhow::ensure!(problems.is_empty(), "invariants broken:\n{}", problems.join("\n"));
    Ok(())
}
