//! Acting commands beside a running `serve` (hardening finding 12), as a new user met it: a
//! real `obsctl serve` supervises `web`; `actions propose … process.restart` from the CLI must
//! leave the restart to `serve` (so `web` stays up after the CLI exits), and `agent
//! periodic-check` must not start a second copy of anything or take `serve`'s actions over.

use obsctl_store::ActionJournal;
use obsctl_store::IncidentLog;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use obsctl_core::action::{ActionState, Outcome};
use obsctl_core::incident::IncidentStatus;
use obsctl_store::{ActionFilter, IncidentFilter, SqliteStore, Store};

use crate::support::{Serve, eventually};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn obsctl(dir: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_obsctl"));
    cmd.arg("--config").arg(dir.join("obsctl.toml")).env("OBSCTL_API_TOKEN", "t0ken-for-the-tests");
    cmd
}

/// Whether `GET /health` answers 200 (plain HTTP/1.0 over a socket).
async fn healthy(port: u16) -> bool {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let exchange = async {
        let mut socket = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
        socket.write_all(b"GET /health HTTP/1.0\r\n\r\n").await?;
        let mut reply = String::new();
        socket.read_to_string(&mut reply).await?;
        Ok::<_, std::io::Error>(reply.starts_with("HTTP/1.0 200") || reply.starts_with("HTTP/1.1 200"))
    };
    tokio::time::timeout(Duration::from_millis(500), exchange).await.is_ok_and(|r| r.unwrap_or(false))
}

fn parent_of(pid: u64) -> Option<u32> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status.lines().find_map(|l| l.strip_prefix("PPid:")).and_then(|p| p.trim().parse().ok())
}

#[tokio::test]
async fn acting_commands_beside_serve_hand_the_work_to_it() {
    let dir = tempfile::tempdir().unwrap();
    let (api_port, web_port) = (free_port(), free_port());
    let poison = dir.path().join("poison");
    let exe = env!("CARGO_BIN_EXE_obsctl");
    std::fs::write(
        dir.path().join("obsctl.toml"),
        format!(
            r#"version = 1
[server]
listen = "127.0.0.1:{api_port}"
[store]
url = "sqlite://{dir}/obsctl.db"
[agent]
mode = "auto"
[agent.verify]
attempts = 20
backoff = "100ms"
max_backoff = "300ms"
[[service]]
name = "web"
process = {{ run = ["{exe}", "demo-service", "--port", "{web_port}", "--poison", "{poison}"] }}
  [[service.check]]
  name = "health"
  kind = "http"
  url = "http://127.0.0.1:{web_port}/health"
  interval = "300ms"
  timeout = "250ms"
  fail_after = 1
  recover_after = 1
"#,
            dir = dir.path().display(),
            poison = poison.display(),
        ),
    )
    .unwrap();
    let log = std::fs::File::create(dir.path().join("serve.log")).unwrap();
    let serve = Serve(
        obsctl(dir.path())
            .args(["serve", "--mcp-listen", "127.0.0.1:0"])
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap(),
    );
    eventually(30, "web to come up under serve", || async { healthy(web_port).await.then_some(()) }).await;
    let db = format!("sqlite://{}/obsctl.db", dir.path().display());
    let store = SqliteStore::open(&db).await.unwrap();

    // web gets stuck; serve opens an incident (no runbook: nothing fixes it by itself).
    std::fs::write(&poison, "").unwrap();
    let open = IncidentFilter { status: Some(IncidentStatus::Open), ..Default::default() };
    let incident =
        eventually(30, "an open incident", || async { store.list_incidents(&open).await.unwrap().into_iter().next() })
            .await;

    // periodic-check beside serve: says so, starts nothing, takes no action over.
    let periodic = obsctl(dir.path()).args(["agent", "periodic-check"]).output().unwrap();
    let out = String::from_utf8_lossy(&periodic.stdout);
    assert!(out.contains("holds the agent lease on this store") && out.contains(&incident.id), "{out}");
    assert_eq!(periodic.status.code(), Some(1), "an incident is open: {out}");

    // A person proposes a restart from the CLI: serve runs it, the CLI waits for the outcome.
    let propose = obsctl(dir.path())
        .args(["actions", "propose", &incident.id, "--tool", "process.restart", "--args", r#"{"service":"web"}"#])
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&propose.stdout);
    assert!(propose.status.success(), "{out}\n{}", String::from_utf8_lossy(&propose.stderr));
    assert!(out.contains("holds the agent lease on this store"), "{out}");
    assert!(out.contains("process.restart [succeeded] outcome fixed"), "{out}");

    // The CLI has exited; web is still up, and it is serve's child, not the CLI's.
    let actions = store
        .list_actions(&ActionFilter { incident_id: Some(incident.id.clone()), ..Default::default() })
        .await
        .unwrap();
    let restart = actions.iter().find(|a| a.tool == "process.restart").expect("the restart is journaled");
    assert_eq!((restart.state, restart.outcome), (ActionState::Succeeded, Some(Outcome::Fixed)));
    let pid = restart.result.as_ref().and_then(|r| r["pid"].as_u64()).expect("the new pid");
    assert_eq!(parent_of(pid), Some(serve.0.id()), "web was restarted by someone other than serve");
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert!(healthy(web_port).await, "web went down after the CLI exited");
    let events = store.events(&incident.id).await.unwrap();
    assert!(events.iter().any(|e| e.kind == "handed_off"), "{events:#?}");
    // Nothing was ever marked interrupted: periodic-check did not recover serve's actions.
    assert!(!events.iter().any(|e| e.message.contains("was interrupted")), "{events:#?}");
    store.close().await;
}
