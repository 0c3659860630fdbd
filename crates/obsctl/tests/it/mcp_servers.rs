//! External MCP servers as gated tools, against the official reference servers from npm
//! (`@modelcontextprotocol/server-filesystem` over stdio, `server-everything` over streamable
//! HTTP; `scripts/test` installs them and sets `OBSCTL_TEST_MCP_SERVERS`): import with schemas
//! and annotations, policy, a gated call, re-export through the gateway, and a server killed and
//! coming back.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use obsctl_config::Step;
use obsctl_core::action::ActionState;
use serde_json::json;

use crate::support::{API_CHECK, Harness, Target, eventually, harness, head};

/// Where the reference servers are installed (`node_modules/@modelcontextprotocol`).
fn servers() -> PathBuf {
    let dir = std::env::var("OBSCTL_TEST_MCP_SERVERS").expect(
        "OBSCTL_TEST_MCP_SERVERS is not set: run scripts/test, which installs the reference MCP servers from npm",
    );
    PathBuf::from(dir)
}

fn script(package: &str) -> String {
    servers().join(package).join("dist/index.js").display().to_string()
}

fn status(h: &Harness, name: &str) -> obsctl_agent::mcp_client::ServerStatus {
    h.rt.mcp_servers.statuses().into_iter().find(|s| s.name == name).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stdio_server_s_tools_are_imported_with_policy_and_pass_the_gate() {
    let target = Target::start(false).await;
    let root = tempfile::tempdir().unwrap();
    let root_path = root.path().canonicalize().unwrap().display().to_string();
    std::fs::write(root.path().join("notes.txt"), "disk filled by rotated logs").unwrap();
    let body = format!(
        "{}{API_CHECK}\n[[mcp_server]]\nname = \"files\"\ncommand = \"node\"\nargs = [\"{}\", \"{root_path}\"]\ntools = {{ move_file = \"deny\", read_text_file = \"read\" }}\n",
        head("auto"),
        script("server-filesystem")
    );
    let mut h = harness(&body, &target.url, &[]).await;
    h.rt.connect_tools().await;

    // Imported as files.<tool> with the server's schema; read-only where the operator said
    // `read`; move_file left out.
    let files = status(&h, "files");
    assert_eq!((files.state, files.transport), ("up", "stdio"), "{files:?}");
    assert!(files.tools.contains(&"files.read_text_file".to_string()), "{files:?}");
    assert_eq!(files.denied, vec!["files.move_file".to_string()]);
    assert!(h.rt.registry.get("files.move_file").is_none());
    let read = h.rt.registry.get("files.read_text_file").unwrap();
    assert!(read.spec().annotations.read_only_hint && !read.spec().annotations.open_world_hint);
    assert_eq!(read.spec().input_schema["required"][0], "path");
    let write = h.rt.registry.get("files.write_file").unwrap();
    assert!(write.spec().annotations.destructive_hint && !write.spec().annotations.read_only_hint);

    // Re-exported by the gateway (obsctl as the gated front door), with incident_id added.
    let gateway = obsctl_server::mcp::Gateway::new(h.rt.app_state());
    let tools = gateway.tools();
    let exported = tools.iter().find(|t| t.name == "files.write_file").unwrap();
    assert_eq!(exported.annotations.as_ref().unwrap().destructive_hint, Some(true));
    assert!(exported.input_schema["required"].as_array().unwrap().contains(&json!("incident_id")));

    // The dashboard and the API show it up, with its tools.
    let page = h.viewer_get("/ui/resources").await;
    assert!(page.contains("<td>files</td>") && page.contains("<span class=\"state up\">up</span>"), "{page}");
    let api: serde_json::Value = serde_json::from_str(&h.viewer_get("/api/mcp/servers").await).unwrap();
    assert_eq!((api[0]["name"].as_str(), api[0]["state"].as_str()), (Some("files"), Some("up")));

    // A read-only tool reads at once (audited); a path outside the server's root is its error.
    let notes = root.path().join("notes.txt").canonicalize().unwrap().display().to_string();
    let text = h.rt.agent.read_tool("files.read_text_file", &json!({"path": notes}), "test").await.unwrap();
    assert_eq!(text["text"], "disk filled by rotated logs");
    let outside = h.rt.agent.read_tool("files.read_text_file", &json!({"path": "/etc/hostname"}), "test").await;
    assert!(outside.is_err(), "{outside:?}");

    // A tool the operator did not name waits for a person even in auto mode (the default
    // policy, whatever its annotations), and runs once approved.
    assert!(!h.run("api/health").await);
    let incident = h.incident().await;
    let written = root.path().join("runbook.md").display().to_string();
    let steps =
        vec![Step { tool: "files.write_file".into(), args: json!({"path": written, "content": "restart api"}) }];
    let report = h.rt.agent.propose(&incident.id, steps, "ops", "write the note", false, None).await.unwrap();
    let action = &report.actions[0];
    assert_eq!(action.state, ActionState::PendingApproval, "{action:#?}");
    assert!(!root.path().join("runbook.md").exists());
    h.rt.agent.approve(&action.id, "ops", "fine").await.unwrap();
    h.rt.agent.run_approved().await.unwrap();
    assert_eq!(std::fs::read_to_string(root.path().join("runbook.md")).unwrap(), "restart api");
    assert_eq!(h.rt.store.action(&action.id).await.unwrap().state, ActionState::Succeeded);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_http_server_that_dies_is_marked_down_and_comes_back() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let start = || {
        tokio::process::Command::new("node")
            .args([script("server-everything").as_str(), "streamableHttp"])
            .env("PORT", port.to_string())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap()
    };
    let listening = || std::net::TcpStream::connect(("127.0.0.1", port)).is_ok();
    let mut server = start();
    eventually(20, "server-everything to listen", || async { listening().then_some(()) }).await;
    let body = format!(
        "{}\n[[mcp_server]]\nname = \"everything\"\nurl = \"http://127.0.0.1:{port}/mcp\"\ntimeout = \"5s\"\ntools = {{ echo = \"read\" }}\n",
        head("approve")
    );
    let mut h = harness(&body, "http://unused", &[]).await;
    h.rt.connect_tools().await;
    let everything = status(&h, "everything");
    assert_eq!((everything.state, everything.transport), ("up", "http"), "{everything:?}");
    assert!(h.rt.registry.get("everything.echo").is_some());
    let echo = h.rt.agent.read_tool("everything.echo", &json!({"message": "hello"}), "test").await.unwrap();
    assert!(echo["text"].as_str().unwrap().contains("hello"), "{echo}");
    // Arguments that fail the server's schema come back as its error, with the reason.
    let bad = h.rt.agent.read_tool("everything.echo", &json!({"message": 5}), "test").await.unwrap_err();
    assert!(bad.to_string().to_lowercase().contains("message"), "{bad}");

    // Killed: marked down with a reason, its tools withdrawn, the rest unaffected.
    server.kill().await.unwrap();
    eventually(30, "the server to be seen down", || async { (status(&h, "everything").state == "down").then_some(()) })
        .await;
    assert!(h.rt.registry.get("everything.echo").is_none());
    assert!(status(&h, "everything").error.is_some());
    assert!(h.rt.registry.get("fs.usage").is_some());
    let gone = h.rt.agent.read_tool("everything.echo", &json!({"message": "x"}), "test").await.unwrap_err();
    assert!(gone.to_string().contains("not registered"), "{gone}");

    // Back: reconnected with backoff, its tools return.
    let _server = start();
    eventually(20, "server-everything to listen again", || async { listening().then_some(()) }).await;
    eventually(30, "the server to be seen up", || async { (status(&h, "everything").state == "up").then_some(()) })
        .await;
    assert!(h.rt.registry.get("everything.echo").is_some());
}

/// The misbehaving server's tools that do only read, as the operator's policy says so.
const READS: &str = "tools = { hang = \"read\", flood = \"read\", crash = \"read\", ok = \"read\" }\n";

/// The misbehaving server (the official Python SDK) and the interpreter that has the SDK
/// (servers start with a cleared environment and a system PATH).
fn misbehaving() -> (String, &'static str) {
    let server = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/misbehaving_mcp_server.py");
    let python =
        std::process::Command::new("python3").args(["-c", "import sys; print(sys.executable)"]).output().unwrap();
    (String::from_utf8(python.stdout).unwrap().trim().to_string(), server)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_hangs_floods_or_dies_is_bounded_and_started_again() {
    let (python, server) = misbehaving();
    // The operator vouches for the tools that read (nothing a server says does that).
    let body = format!(
        "{}\n[[mcp_server]]\nname = \"odd\"\ncommand = \"{python}\"\nargs = [\"{server}\"]\ntimeout = \"1s\"\n{READS}",
        head("approve")
    );
    let mut h = harness(&body, "http://unused", &[]).await;
    h.rt.connect_tools().await;
    assert_eq!(status(&h, "odd").state, "up", "{:?}", status(&h, "odd"));

    let started = Instant::now();
    let hung = h.rt.agent.read_tool("odd.hang", &json!({}), "test").await.unwrap_err();
    assert!(hung.to_string().contains("no answer within 1s"), "{hung}");
    assert!(started.elapsed() < Duration::from_secs(3), "{:?}", started.elapsed());

    let flood = h.rt.agent.read_tool("odd.flood", &json!({"megabytes": 4}), "test").await.unwrap();
    assert_eq!(flood["truncated"], true);
    assert_eq!(flood["text"].as_str().unwrap().len(), 64 * 1024);
    // Past the transport's 16 MiB line limit the answer is dropped unread (memory stays
    // bounded): the call times out, and the server stays up and usable.
    let huge = h.rt.agent.read_tool("odd.flood", &json!({"megabytes": 20}), "test").await.unwrap_err();
    assert!(huge.to_string().contains("no answer within 1s"), "{huge}");
    let ok = h.rt.agent.read_tool("odd.ok", &json!({}), "test").await.unwrap();
    assert_eq!(ok["text"], "fine");
    assert_eq!(status(&h, "odd").state, "up");

    // A stdio server whose process dies is marked down, then started again.
    let crashed = h.rt.agent.read_tool("odd.crash", &json!({}), "test").await;
    assert!(crashed.is_err(), "{crashed:?}");
    eventually(10, "the crashed server to be seen down", || async { (status(&h, "odd").state != "up").then_some(()) })
        .await;
    eventually(30, "the server to be started again", || async { (status(&h, "odd").state == "up").then_some(()) })
        .await;
    let ok = h.rt.agent.read_tool("odd.ok", &json!({}), "test").await.unwrap();
    assert_eq!(ok["text"], "fine");
}

/// A server's annotations are advice: a tool that says it only reads but writes waits for a
/// person when the operator said `approve`, and so does one the operator named nowhere (issue
/// 26, finding 2: `wipe`, annotated read-only, wrote its file at once through the gateway in
/// `auto`). The gateway and the registry show the operator's word, the server's beside it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_s_read_only_hint_never_overrides_the_operator() {
    let (python, server) = misbehaving();
    let target = Target::start(false).await;
    let body = format!(
        "{}{API_CHECK}\n[[mcp_server]]\nname = \"odd\"\ncommand = \"{python}\"\nargs = [\"{server}\"]\ntools = {{ wipe = \"approve\", ok = \"read\" }}\n",
        head("auto")
    );
    let mut h = harness(&body, &target.url, &[("OBSCTL_MCP_TOKEN", crate::mcp::MCP_TOKEN)]).await;
    h.rt.connect_tools().await;
    assert_eq!(status(&h, "odd").state, "up", "{:?}", status(&h, "odd"));
    let wipe = h.rt.registry.get("odd.wipe").unwrap();
    assert!(!wipe.spec().annotations.read_only_hint, "the server's hint made it read-only");
    assert!(wipe.spec().claimed.unwrap().read_only_hint, "the server's own word is kept beside it");
    assert!(wipe.spec().description.starts_with("[from MCP server odd]"), "{}", wipe.spec().description);

    let victim = h.dir.path().join("victim.txt");
    std::fs::write(&victim, "precious").unwrap();
    let args = json!({"path": victim.display().to_string()});
    let read = h.rt.agent.read_tool("odd.wipe", &args, "test").await.unwrap_err();
    assert!(read.to_string().contains("changes things"), "{read}");
    // Unnamed by the operator: approve too, whatever it claims.
    let flood = h.rt.agent.read_tool("odd.flood", &json!({"megabytes": 1}), "test").await.unwrap_err();
    assert!(flood.to_string().contains("changes things"), "{flood}");
    assert_eq!(h.rt.agent.read_tool("odd.ok", &json!({}), "test").await.unwrap()["text"], "fine");

    // Through the gateway, as a client of the official SDK with the token: queued, not run.
    assert!(!h.run("api/health").await);
    let incident = h.incident().await;
    let url = crate::mcp::gateway(&h).await;
    let calls =
        json!([{"tool": "odd.wipe", "args": {"incident_id": incident.id, "path": victim.display().to_string()}}]);
    let report =
        crate::mcp::client(&["--http", &url, "--token", crate::mcp::MCP_TOKEN, "--calls", &calls.to_string()]).await;
    let listed = report["tools"].as_array().unwrap().iter().find(|t| t["name"] == "odd.wipe").unwrap();
    assert_eq!(listed["annotations"]["readOnlyHint"], false, "{listed:#}");
    assert_eq!(report["calls"][0]["structuredContent"]["status"], "queued_for_approval", "{report:#}");
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious", "a lying tool ran without a person");
}
