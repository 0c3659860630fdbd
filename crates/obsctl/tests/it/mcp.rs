//! The MCP gateway with the official Python MCP SDK as the client (`tests/mcp_client.py`), over
//! streamable HTTP and over stdio: tools with truthful annotations, reads, a tool that changes
//! things queued in `approve` mode and run only once a person approves, resources and the
//! prompt, clear errors for bad calls, and no entry without the token.

use obsctl_core::action::ActionState;
use obsctl_store::ActionJournal;
use obsctl_store::IncidentLog;
use obsctl_store::{ActionFilter, SqliteStore};
use serde_json::{Value, json};

use crate::support::{API_CHECK, API_WITH_FIX, Harness, Target, config_file, harness, head};

pub(crate) const MCP_TOKEN: &str = "mcp-token-for-the-tests";

/// Runs the Python client with `args` and returns its report.
pub(crate) async fn client(args: &[&str]) -> Value {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/mcp_client.py");
    let out = tokio::process::Command::new("python3").arg(script).args(args).output().await.unwrap();
    assert!(out.status.success(), "client failed: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!("{e}: {}\n{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
    })
}

fn tool<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["tools"].as_array().unwrap().iter().find(|t| t["name"] == name).unwrap_or_else(|| panic!("no tool {name}"))
}

fn call(report: &Value, i: usize) -> &Value {
    &report["calls"][i]
}

/// The text a tool call answered (its structured content, as the client got it).
fn structured(report: &Value, i: usize) -> &Value {
    &call(report, i)["structuredContent"]
}

/// Serves the MCP gateway of `h` over HTTP on a free port; returns its URL.
pub(crate) async fn gateway(h: &Harness) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/mcp", listener.local_addr().unwrap());
    tokio::spawn(obsctl_server::mcp::serve_http(h.rt.app_state(), listener, std::future::pending()));
    url
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_http_a_destructive_call_waits_for_a_person_and_reads_answer_at_once() {
    let target = Target::start(false).await;
    let body = format!("{}[fs]\nallowed_roots = [\"{{dir}}/data\"]\n{API_WITH_FIX}", head("approve"));
    let h = harness(&body, &target.url, &[("OBSCTL_MCP_TOKEN", MCP_TOKEN)]).await;
    let data = h.dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::write(data.join("big.log"), vec![0u8; 4096]).unwrap();
    assert!(!h.run("api/health").await);
    let incident = h.incident().await;
    let url = gateway(&h).await;

    let fix = json!({"incident_id": incident.id, "url": format!("{}/fix", target.url), "method": "POST"});
    let calls = json!([
        {"tool": "obsctl.status"},
        {"tool": "obsctl.incident", "args": {"incident_id": incident.id}},
        {"tool": "fs.usage", "args": {"path": data.display().to_string()}},
        {"tool": "fs.usage", "args": {"path": "/etc"}},
        {"tool": "http.request", "args": fix},
        {"tool": "http.request", "args": {"url": format!("{}/fix", target.url)}},
        {"tool": "obsctl.incidents", "args": {"limit": 99999}},
        {"tool": "no.such_tool"},
        {"tool": "http.request", "args": {"incident_id": incident.id, "url": 5}},
    ]);
    let read = format!("obsctl://incidents/{}", incident.id);
    let args = [
        "--http",
        &url,
        "--token",
        MCP_TOKEN,
        "--calls",
        &calls.to_string(),
        "--read",
        &read,
        "--prompt",
        &incident.id,
    ];
    let report = client(&args).await;
    assert!(report.get("connect_error").is_none(), "{report:#}");
    assert_eq!(report["server"]["name"], "obsctl");

    // Every registry tool and the control plane's, with truthful annotations.
    let status = tool(&report, "obsctl.status");
    assert_eq!(
        (status["annotations"]["readOnlyHint"].as_bool(), status["annotations"]["destructiveHint"].as_bool()),
        (Some(true), Some(false))
    );
    let cleanup = tool(&report, "fs.cleanup");
    assert_eq!(cleanup["annotations"]["destructiveHint"], true);
    assert_eq!(cleanup["annotations"]["readOnlyHint"], false);
    assert!(cleanup["inputSchema"]["required"].as_array().unwrap().contains(&json!("incident_id")), "{cleanup:#}");
    assert_eq!(tool(&report, "http.request")["annotations"]["openWorldHint"], true);
    assert_eq!(tool(&report, "fs.usage")["annotations"]["readOnlyHint"], true);
    for name in [
        "obsctl.incidents",
        "obsctl.recall",
        "obsctl.fixes",
        "obsctl.fix_history",
        "obsctl.blast_radius",
        "obsctl.run_check",
        "obsctl.propose",
        "obsctl.approvals",
        "process.restart",
        "command.run",
    ] {
        tool(&report, name);
    }

    // Reads answer at once, like their endpoints.
    assert_eq!(structured(&report, 0)["open_incidents"], 1, "{:#}", call(&report, 0));
    assert_eq!(structured(&report, 1)["incident"]["id"], incident.id.as_str());
    assert_eq!(structured(&report, 1)["events"][0]["kind"], "opened");
    assert_eq!(call(&report, 2)["isError"], json!(false), "{:#}", call(&report, 2));
    assert!(structured(&report, 2)["bytes"].as_u64().unwrap() >= 4096, "{:#}", call(&report, 2));
    assert_eq!(call(&report, 3)["isError"], true);
    assert_eq!(structured(&report, 3)["error"]["code"], "refused");

    // The destructive call is queued with its action id and no result; nothing ran.
    let queued = structured(&report, 4);
    assert_eq!(queued["status"], "queued_for_approval", "{queued:#}");
    assert_eq!(call(&report, 4)["isError"], json!(false));
    assert_eq!(queued["actions"][0]["state"], "pending_approval");
    assert!(queued["actions"][0].get("result").is_none_or(Value::is_null), "{queued:#}");
    let action_id = queued["actions"][0]["action_id"].as_str().unwrap().to_string();
    assert_eq!(target.fixes(), 0);
    let action = h.rt.store.action(&action_id).await.unwrap();
    assert_eq!(action.state, ActionState::PendingApproval);
    assert_eq!(action.args, json!({"url": format!("{}/fix", target.url), "method": "POST"}));
    let audit = h.rt.store.audit_log(50).await.unwrap();
    assert!(audit.iter().any(|r| r.actor == "mcp:it-agent" && r.action == "gate"), "{audit:#?}");
    assert!(audit.iter().any(|r| r.actor == "mcp:it-agent" && r.action == "read" && r.subject == "fs.usage"));

    // Bad calls get their reason: no incident, a limit over the maximum, an unknown tool.
    assert_eq!(call(&report, 5)["isError"], true);
    assert!(structured(&report, 5)["error"]["message"].as_str().unwrap().contains("incident_id"));
    assert_eq!(structured(&report, 6)["error"]["code"], "invalid_request");
    assert!(call(&report, 7)["exception"].as_str().unwrap().contains("unknown tool"), "{:#}", call(&report, 7));
    assert_eq!(structured(&report, 8)["error"]["code"], "invalid_arguments", "{:#}", call(&report, 8));
    assert!(structured(&report, 8)["error"]["message"].as_str().unwrap().contains("\"url\" must be string"));
    // Only the valid proposal was journaled.
    assert_eq!(h.rt.store.list_actions(&ActionFilter { limit: 10, ..Default::default() }).await.unwrap().len(), 1);

    // Resources and the prompt.
    assert!(report["resources"].as_array().unwrap().iter().any(|r| r["uri"] == read.as_str()));
    assert_eq!(report["templates"].as_array().unwrap().len(), 2);
    let text = report["read"]["contents"][0]["text"].as_str().unwrap();
    assert!(text.contains(&incident.id) && text.contains("\"opened\""), "{text}");
    assert_eq!(report["prompts"][0]["name"], "investigate_incident");
    let prompt = report["prompt"]["messages"][0]["content"]["text"].as_str().unwrap();
    assert!(prompt.contains(&incident.id) && prompt.contains("obsctl.recall"), "{prompt}");

    // No MCP path approved it: a person does, and only then it runs.
    h.rt.agent.approve(&action_id, "ops", "looks right").await.unwrap();
    h.rt.agent.run_approved().await.unwrap();
    assert_eq!(target.fixes(), 1);
    assert_eq!(h.rt.store.action(&action_id).await.unwrap().state, ActionState::Succeeded);
}

#[tokio::test]
async fn over_http_no_token_no_entry() {
    let target = Target::start(true).await;
    let h =
        harness(&format!("{}{API_WITH_FIX}", head("approve")), &target.url, &[("OBSCTL_MCP_TOKEN", MCP_TOKEN)]).await;
    let url = gateway(&h).await;
    for token in [None, Some("not-the-token-at-all")] {
        let mut args = vec!["--http", url.as_str(), "--calls", r#"[{"tool": "obsctl.status"}]"#];
        if let Some(t) = token {
            args.extend(["--token", t]);
        }
        let report = client(&args).await;
        let error = report["connect_error"].as_str().unwrap_or_else(|| panic!("got in with {token:?}: {report:#}"));
        // The SDK reports the 401 as an error response (the status itself is checked below).
        assert!(error.contains("error response"), "{error}");
        assert!(report.get("tools").is_none());
    }
    // What any HTTP client sees: a JSON error with a stable code, and the scheme to use.
    let http = obsctl_host::http_client().build().unwrap();
    let r = http.post(&url).body("{}").send().await.unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(r.headers()["www-authenticate"], "Bearer");
    assert_eq!(r.json::<Value>().await.unwrap()["error"]["code"], "unauthorized");
    // Malformed MCP messages get a JSON-RPC or HTTP error, never a crash; the gateway still answers.
    for (body, content_type) in [
        ("{not json", "application/json"),
        ("{\"jsonrpc\": \"2.0\", \"id\": 1}", "application/json"),
        ("[]", "application/json"),
        ("hello", "text/plain"),
    ] {
        let r = http
            .post(&url)
            .bearer_auth(MCP_TOKEN)
            .header("content-type", content_type)
            .header("accept", "application/json, text/event-stream")
            .body(body)
            .send()
            .await
            .unwrap();
        assert!(r.status().is_client_error(), "{body}: {}", r.status());
    }
    // A page that rebinds a name to loopback is refused by its Host.
    let r = http.post(&url).header("host", "evil.example:8433").bearer_auth(MCP_TOKEN).body("{}").send().await.unwrap();
    assert_eq!(r.status(), 421);
}

/// With no token configured at all, the HTTP gateway lets nobody in (issue 26, finding 1: an
/// anonymous client of the official SDK called `fs.cleanup` in `auto` and the files went).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_http_with_no_token_configured_nobody_acts() {
    let target = Target::start(false).await;
    let body = format!("{}[fs]\nallowed_roots = [\"{{dir}}/data\"]\n{API_CHECK}", head("auto"));
    let h = harness(&body, &target.url, &[]).await;
    let data = h.dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::write(data.join("precious.log"), "keep me").unwrap();
    assert!(!h.run("api/health").await);
    let incident = h.incident().await;
    let url = gateway(&h).await;
    let calls =
        json!([{"tool": "fs.cleanup", "args": {"incident_id": incident.id, "root": data.display().to_string()}}]);
    let report = client(&["--http", url.as_str(), "--calls", &calls.to_string()]).await;
    assert!(report["connect_error"].is_string(), "an anonymous client got in: {report:#}");
    assert!(data.join("precious.log").exists(), "an anonymous MCP client deleted files");
    let http = obsctl_host::http_client().build().unwrap();
    let r = http.post(&url).body("{}").send().await.unwrap();
    assert_eq!(r.status(), 401);
    let error = r.json::<Value>().await.unwrap();
    assert_eq!(error["error"]["code"], "mcp_token_required", "{error}");
    assert!(error["error"]["message"].as_str().unwrap().contains("OBSCTL_MCP_TOKEN"), "{error}");
    assert!(h.rt.store.list_actions(&ActionFilter::default()).await.unwrap().is_empty());
}

/// A browser page from another origin cannot drive the gateway, even holding the token.
#[tokio::test]
async fn over_http_a_page_of_another_origin_is_refused() {
    let h =
        harness(&format!("{}{API_CHECK}", head("approve")), "http://unused", &[("OBSCTL_MCP_TOKEN", MCP_TOKEN)]).await;
    let url = gateway(&h).await;
    let http = obsctl_host::http_client().build().unwrap();
    let r =
        http.post(&url).bearer_auth(MCP_TOKEN).header("origin", "http://evil.example").body("{}").send().await.unwrap();
    assert_eq!(r.status(), 403);
    assert_eq!(r.json::<Value>().await.unwrap()["error"]["code"], "origin_not_allowed");
    // The gateway's own origin passes the check (and meets the MCP transport's own answer).
    let own = url.trim_end_matches("/mcp").to_string();
    let r = http.post(&url).bearer_auth(MCP_TOKEN).header("origin", own).body("{}").send().await.unwrap();
    assert_ne!(r.status(), 403);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_stdio_an_assistant_lists_reads_and_queues_without_a_token() {
    let target = Target::start(false).await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = config_file(&format!("{}{API_CHECK}", head("approve")), &target.url, dir.path());
    let exe = env!("CARGO_BIN_EXE_obsctl");
    // A failing check opens an incident (no runbook: nothing is planned for it).
    let out = std::process::Command::new(exe)
        .arg("--config")
        .arg(&cfg)
        .args(["-q", "agent", "periodic-check"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    let store = SqliteStore::open(&format!("sqlite://{}/obsctl.db", dir.path().display())).await.unwrap();
    let incident = store.list_incidents(&Default::default()).await.unwrap().remove(0);

    let calls = json!([
        {"tool": "obsctl.incidents", "args": {"status": "open"}},
        {"tool": "http.request", "args": {"incident_id": incident.id, "url": format!("{}/fix", target.url), "method": "POST"}},
    ]);
    let cfg = cfg.display().to_string();
    let args =
        ["--calls", &calls.to_string(), "--env", r#"{"OBSCTL_LOG": "warn"}"#, "--stdio", exe, "--config", &cfg, "mcp"];
    let report = client(&args).await;
    assert!(report.get("connect_error").is_none(), "{report:#}");
    assert_eq!(tool(&report, "fs.cleanup")["annotations"]["destructiveHint"], true);
    assert_eq!(structured(&report, 0)["items"][0]["id"], incident.id.as_str());
    assert_eq!(structured(&report, 1)["status"], "queued_for_approval", "{:#}", call(&report, 1));

    let pending = store
        .list_actions(&ActionFilter { states: vec![ActionState::PendingApproval], limit: 10, ..Default::default() })
        .await
        .unwrap();
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].tool, "http.request");
    assert_eq!(target.fixes(), 0);
    let audit = store.audit_log(20).await.unwrap();
    assert!(audit.iter().any(|r| r.actor == "mcp:it-agent" && r.action == "gate"), "{audit:#?}");
}
