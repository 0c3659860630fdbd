//! Journal before act, across a real crash: an obsctl process is killed (SIGKILL) while a tool
//! runs; the next process verifies that action and never runs it again.

use std::process::Stdio;
use std::time::{Duration, Instant};

use obsctl_core::action::ActionState;
use obsctl_store::{ActionFilter, SqliteStore, Store};

const CONFIG: &str = r#"version = 1
[store]
url = "sqlite://{dir}/obsctl.db"
[agent]
mode = "auto"
[agent.verify]
attempts = 2
backoff = "10ms"
[commands]
allow = ["test -e {dir}/healthy", ["sh", "-c", "echo run >> {dir}/marker; sleep 30"]]
[[service]]
name = "job"
  [[service.check]]
  name = "flag"
  kind = "command"
  run = ["test", "-e", "{dir}/healthy"]
[[runbook]]
name = "slow fix"
when = { incident = "command-failed" }
steps = [{ tool = "command.run", args = { command = ["sh", "-c", "echo run >> {dir}/marker; sleep 30"] } }]
"#;

fn obsctl(dir: &std::path::Path) -> std::process::Command {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_obsctl"));
    cmd.args(["-q", "--config"])
        .arg(dir.join("obsctl.toml"))
        .args(["agent", "periodic-check"])
        .env("ENABLE_UNIX_TOOLS", "true");
    cmd
}

#[tokio::test]
async fn an_action_left_running_is_verified_never_rerun() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("obsctl.toml"), CONFIG.replace("{dir}", &dir.path().display().to_string())).unwrap();
    let mut first = obsctl(dir.path()).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();

    // Wait (bounded) until the journal says running and the tool has started.
    let marker = dir.path().join("marker");
    let db = dir.path().join("obsctl.db");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        assert!(Instant::now() < deadline, "the first process never started the action");
        assert!(first.try_wait().unwrap().is_none(), "the first process exited early");
        if marker.exists() && db.exists() {
            let store = SqliteStore::open(&format!("sqlite://{}", db.display())).await.unwrap();
            let running = store
                .list_actions(&ActionFilter { states: vec![ActionState::Running], ..Default::default() })
                .await
                .unwrap();
            store.close().await;
            if running.len() == 1 {
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    first.kill().unwrap(); // SIGKILL: no cleanup, no final journal write
    first.wait().unwrap();

    let second = obsctl(dir.path()).output().unwrap();
    let stdout = String::from_utf8_lossy(&second.stdout);
    assert_eq!(
        std::fs::read_to_string(&marker).unwrap().lines().count(),
        1,
        "the interrupted action ran again\n{stdout}"
    );

    let store = SqliteStore::open(&format!("sqlite://{}", db.display())).await.unwrap();
    let actions = store.list_actions(&ActionFilter::default()).await.unwrap();
    assert_eq!(actions.len(), 1, "{actions:#?}");
    let a = &actions[0];
    assert_eq!(a.state, ActionState::Failed);
    assert_eq!(a.result.as_ref().unwrap()["recovered"], "found running when the agent lease was taken; not re-run");
    let events = store.events(&a.incident_id).await.unwrap();
    // Marked interrupted before its check is verified (issue 26, finding 10: it showed
    // `running` for the whole verification after a kill -9).
    let interrupted = events.iter().position(|e| e.kind == "interrupted").expect("an interrupted entry");
    let verified = events.iter().position(|e| e.kind == "outcome" && e.message.contains("verification")).unwrap();
    assert!(interrupted < verified, "{events:#?}");
    assert!(stdout.contains("last attempt"), "the retry waits for the cooldown:\n{stdout}");
}
