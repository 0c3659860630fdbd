//! `obsctl demo`: the whole loop in under a minute with nothing installed. obsctl supervises a
//! small service, breaks it twice (its health turns 500 and needs a restart; its scratch folder
//! fills past a limit and needs cleanup), and narrates detection, plan, gate, action,
//! verification and outcome. Exits 0 only when both loops closed with a verified fix.

use std::path::Path;
use std::time::{Duration, Instant};

use obsctl_config::{LoadOptions, load};
use obsctl_core::action::Outcome;
use obsctl_core::event::Event;
use obsctl_core::incident::IncidentStatus;
use obsctl_core::policy::Mode;
use obsctl_store::{ActionFilter, IncidentFilter};
use tokio::sync::broadcast::error::RecvError;

use crate::cli::DemoArgs;
use crate::render::timeline;
use crate::runtime::Runtime;

const DEADLINE: Duration = Duration::from_secs(90);

/// A TOML basic string holding `text`.
fn toml_str(text: &str) -> String {
    format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\""))
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

fn demo_config(dir: &Path, scratch: &Path, poison: &Path, port: u16, listen: &str) -> anyhow::Result<String> {
    let exe = std::env::current_exe()?;
    let [dir, scratch, poison, exe] = [dir, scratch, poison, exe.as_path()].map(|p| toml_str(&p.display().to_string()));
    let store = toml_str(&format!("sqlite://{}/data/obsctl.db", dir.trim_matches('"')));
    Ok(format!(
        r#"# written by `obsctl demo`
version = 1
[server]
listen = "{listen}"
[mcp]
listen = "off"
[store]
url = {store}
[agent]
mode = "auto"
cooldown = "5s"
[agent.verify]
attempts = 12
backoff = "300ms"
max_backoff = "1s"
[fs]
allowed_roots = [{scratch}]

[[service]]
name = "api"
process = {{ run = [{exe}, "demo-service", "--port", "{port}", "--poison", {poison}], cwd = {dir} }}
  [[service.check]]
  name = "health"
  kind = "http"
  url = "http://127.0.0.1:{port}/health"
  interval = "500ms"
  timeout = "400ms"
  expect = {{ status = 200, body_contains = "ok" }}
  fail_after = 2
  recover_after = 2
  [[service.check]]
  name = "scratch"
  kind = "disk"
  path = {scratch}
  max_size = "2MB"
  interval = "500ms"
  fail_after = 1
  recover_after = 1

[[runbook]]
name = "restart a stuck api"
when = {{ incident = "http-down", service = "api" }}
steps = [{{ tool = "process.restart", args = {{ service = "api" }} }}]
mode = "auto"

[[runbook]]
name = "clear api scratch space"
when = {{ incident = "disk-full", service = "api" }}
steps = [
  {{ tool = "fs.usage", args = {{ path = {scratch} }} }},
  {{ tool = "fs.cleanup", args = {{ root = {scratch}, glob = "**/*.tmp", target_size = "1MB" }} }},
]
mode = "auto"
"#
    ))
}

struct Narrator {
    started: Instant,
}

impl Narrator {
    fn say(&self, text: impl AsRef<str>) {
        println!("[{:>5.1}s] {}", self.started.elapsed().as_secs_f64(), text.as_ref());
    }
}

pub async fn run(args: DemoArgs) -> anyhow::Result<u8> {
    let dir = std::env::temp_dir().join(format!("obsctl-demo-{}", std::process::id()));
    let scratch = dir.join("scratch");
    std::fs::create_dir_all(&scratch)?;
    let poison = dir.join("poison");
    let port = free_port()?;
    let text = demo_config(&dir, &scratch, &poison, port, &args.listen)?;
    let file = dir.join("obsctl.toml");
    std::fs::write(&file, &text)?;
    let file_name = file.display().to_string();
    let mut env = std::collections::HashMap::new();
    let token = obsctl_store::new_id("demo");
    if args.keep_running {
        env.insert("OBSCTL_API_TOKEN".to_string(), token.clone());
    }
    let config = load(&text, &env, &LoadOptions { file: &file_name, known_tools: obsctl_agent::tools::BUILTIN_TOOLS })
        .map_err(|e| anyhow::anyhow!("{e}"))?;

    let n = Narrator { started: Instant::now() };
    n.say(format!("demo config: {}", file.display()));
    let mut rt = Runtime::build(config, Mode::Auto).await?;
    let mut events = rt.bus.subscribe();
    rt.supervisor.start_all().await?;
    wait_for_port(port).await?;
    n.say(format!(
        "started demo service \"api\" on 127.0.0.1:{port} (pid {})",
        rt.supervisor.pid("api").await.unwrap_or(0)
    ));
    rt.start().await?;
    let result = scenario(&rt, &mut events, &n, &scratch, &poison).await;
    let code = match result {
        Ok(()) => {
            print_timelines(&rt).await?;
            n.say("both loops closed: detect → plan → gate → act → verify → record");
            0
        }
        Err(e) => {
            print_timelines(&rt).await?;
            n.say(format!("demo failed: {e:#}"));
            1
        }
    };
    if args.keep_running && code == 0 {
        // Said once they answer: a link followed at once must not be refused.
        let mut signals = super::serve::StopSignals::listen();
        super::serve::serve_until_signal(&mut rt, &mut signals, || {
            n.say(format!("still running: dashboard on http://{0}/ui and API on http://{0}/api/status", args.listen));
            n.say(format!("log in to the dashboard (empty user) or call the API with the token {token}"));
            n.say("press Ctrl-C to stop");
        })
        .await?;
    }
    rt.stop().await;
    if !args.keep_running {
        let _ = std::fs::remove_dir_all(&dir);
    }
    Ok(code)
}

async fn wait_for_port(port: u16) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
            return Ok(());
        }
        anyhow::ensure!(Instant::now() < deadline, "the demo service did not start listening on port {port}");
        tokio::task::yield_now().await;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn scenario(
    rt: &Runtime,
    events: &mut tokio::sync::broadcast::Receiver<Event>,
    n: &Narrator,
    scratch: &Path,
    poison: &Path,
) -> anyhow::Result<()> {
    let deadline = tokio::time::Instant::now() + DEADLINE;
    // 1. Wait until both checks report ok.
    let checks: Vec<String> = rt.config.checks.iter().map(|c| c.id.clone()).collect();
    while checks.iter().any(|c| rt.monitor.status(c) != obsctl_core::state::CheckStatus::Ok) {
        next_event(events, deadline, n, rt).await?;
    }
    n.say("both checks are ok; now breaking the service twice");
    // 2. Break it: a stuck worker, and a scratch folder filling up.
    std::fs::write(poison, b"stuck")?;
    n.say("  • api health will answer 500 until the process restarts");
    fill(scratch)?;
    n.say("  • wrote 6 MB of *.tmp files into the scratch folder (limit 2 MB); app.log must survive");
    // 3. Wait until both incidents are resolved with a verified fix.
    loop {
        if both_fixed(rt).await? {
            anyhow::ensure!(scratch.join("app.log").exists(), "cleanup removed app.log, which its glob excludes");
            return Ok(());
        }
        next_event(events, deadline, n, rt).await?;
    }
}

fn fill(scratch: &Path) -> anyhow::Result<()> {
    std::fs::write(scratch.join("app.log"), vec![b'l'; 10_000])?;
    for i in 0..6 {
        std::fs::write(scratch.join(format!("upload-{i}.tmp")), vec![0u8; 1_000_000])?;
    }
    Ok(())
}

async fn both_fixed(rt: &Runtime) -> anyhow::Result<bool> {
    let incidents = rt.store.list_incidents(&IncidentFilter { limit: 100, ..Default::default() }).await?;
    let mut fixed_kinds = Vec::new();
    for i in incidents.iter().filter(|i| i.status == IncidentStatus::Resolved) {
        let actions = rt
            .store
            .list_actions(&ActionFilter { incident_id: Some(i.id.clone()), limit: 100, ..Default::default() })
            .await?;
        if actions.iter().any(|a| a.outcome == Some(Outcome::Fixed)) {
            fixed_kinds.push(i.kind.clone());
        }
    }
    Ok(fixed_kinds.iter().any(|k| k == "http-down") && fixed_kinds.iter().any(|k| k == "disk-full"))
}

/// Waits for the next bus event and narrates it; errors when the deadline passes.
async fn next_event(
    events: &mut tokio::sync::broadcast::Receiver<Event>,
    deadline: tokio::time::Instant,
    n: &Narrator,
    rt: &Runtime,
) -> anyhow::Result<()> {
    let ev = tokio::select! {
        ev = events.recv() => ev,
        _ = tokio::time::sleep_until(deadline) => anyhow::bail!("gave up after {}s", DEADLINE.as_secs()),
    };
    match ev {
        Ok(Event::StatusChanged { check_id, from, to }) => {
            n.say(format!("{check_id}: {} → {}", from.as_str(), to.as_str()))
        }
        Ok(Event::IncidentOpened { incident_id }) => {
            if let Ok(i) = rt.store.incident(&incident_id).await {
                n.say(format!("incident {} opened: {} ({})", i.id, i.title, i.detail));
            }
        }
        Ok(Event::ActionChanged { action_id, state }) => {
            if let Ok(a) = rt.store.action(&action_id).await {
                n.say(format!("action {} {} → {} ({})", a.tool, a.args, state.as_str(), a.reason));
            }
        }
        Ok(Event::IncidentResolved { incident_id }) => {
            if let Ok(i) = rt.store.incident(&incident_id).await {
                n.say(format!("incident {} resolved: {}", i.id, i.resolution.unwrap_or_default()));
            }
        }
        Ok(_) | Err(RecvError::Lagged(_)) => {}
        Err(RecvError::Closed) => anyhow::bail!("the event bus closed"),
    }
    Ok(())
}

async fn print_timelines(rt: &Runtime) -> anyhow::Result<()> {
    let incidents = rt.store.list_incidents(&IncidentFilter { limit: 100, ..Default::default() }).await?;
    println!();
    for i in incidents.iter().rev() {
        let events = rt.store.events(&i.id).await?;
        print!("{}", timeline(i, &events));
        println!();
    }
    Ok(())
}
