//! One end-to-end test per remediation path: failing check → incident → plan → gate →
//! journaled action → real tool → verification → recorded outcome.

use obsctl_agent::gate::Permit;
use obsctl_core::action::{ActionState, Outcome};
use obsctl_core::incident::IncidentStatus;
use obsctl_store::ActionFilter;

use crate::support::{API_WITH_FIX, Target, harness, head};

#[tokio::test]
async fn http_request_fix_closes_the_loop() {
    let target = Target::start(false).await;
    let h = harness(&format!("{}{API_WITH_FIX}", head("auto")), &target.url, &[]).await;
    assert!(!h.run("api/health").await);
    let incident = h.incident().await;
    assert_eq!((incident.kind.as_str(), incident.fingerprint.as_str()), ("http-down", "api/health/http-down"));

    let report = h.rt.agent.handle_incident(&incident.id).await.unwrap();
    assert_eq!(report.outcome, Some(Outcome::Fixed));
    assert_eq!(target.fixes(), 1);
    let resolved = h.rt.store.incident(&incident.id).await.unwrap();
    assert_eq!(resolved.status, IncidentStatus::Resolved);
    assert_eq!(resolved.resolution.as_deref(), Some("fixed by poke: http.request"));
    assert_eq!(
        h.event_kinds(&incident.id).await,
        ["opened", "plan", "gate", "action", "action", "resolved", "outcome"]
    );
    let actions = h.rt.store.list_actions(&ActionFilter::default()).await.unwrap();
    assert_eq!(actions.len(), 1);
    assert_eq!((actions[0].state, actions[0].outcome), (ActionState::Succeeded, Some(Outcome::Fixed)));
    assert_eq!(actions[0].result.as_ref().unwrap()["status"], 200);
    let audit = h.rt.store.audit_log(10).await.unwrap();
    assert_eq!((audit[0].action.as_str(), audit[0].decision.as_str()), ("gate", "execute"));
    // A second pass finds nothing to do.
    assert_eq!(
        h.rt.agent.handle_incident(&incident.id).await.unwrap().skipped.as_deref(),
        Some("incident is resolved")
    );
}

#[tokio::test]
async fn fs_cleanup_closes_the_loop_and_stays_inside_its_root() {
    let target = Target::start(true).await;
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("precious.tmp"), vec![1u8; 50_000]).unwrap();
    let body = format!(
        "{}[fs]\nallowed_roots = [\"{{dir}}/scratch\"]\n{}",
        head("auto"),
        r#"
[[service]]
name = "api"
  [[service.check]]
  name = "scratch"
  kind = "disk"
  path = "{dir}/scratch"
  max_size = "100KB"
  fail_after = 1
  recover_after = 1
[[runbook]]
name = "clean"
when = { incident = "disk-full" }
steps = [{ tool = "fs.cleanup", args = { root = "{dir}/scratch", glob = "**/*.tmp", target_size = "60KB" } }]
"#
    );
    let h = harness(&body, &target.url, &[]).await;
    let scratch = h.dir.path().join("scratch");
    std::fs::create_dir_all(scratch.join("nested")).unwrap();
    for i in 0..4 {
        std::fs::write(scratch.join(format!("nested/f{i}.tmp")), vec![0u8; 40_000]).unwrap();
    }
    std::fs::write(scratch.join("keep.log"), vec![0u8; 10_000]).unwrap();
    #[cfg(unix)]
    std::os::unix::fs::symlink(outside.path(), scratch.join("escape")).unwrap();

    assert!(!h.run("api/scratch").await);
    let incident = h.incident().await;
    let report = h.rt.agent.handle_incident(&incident.id).await.unwrap();
    assert_eq!(report.outcome, Some(Outcome::Fixed), "{report:#?}");
    let left: Vec<String> = obsctl_host::walk_files(&scratch)
        .0
        .iter()
        .map(|f| f.path.strip_prefix(&scratch).unwrap().display().to_string())
        .collect();
    assert_eq!(left.len(), 2, "{left:?}");
    assert!(left.contains(&"keep.log".to_string()));
    assert!(outside.path().join("precious.tmp").exists(), "a symlink led the cleanup out of its root");
    let result = report.actions[0].result.as_ref().unwrap();
    assert_eq!((result["count"].as_u64(), result["bytes"].as_u64()), (Some(3), Some(120_000)));
}

#[tokio::test]
async fn fs_cleanup_refuses_paths_outside_the_allowed_roots() {
    let target = Target::start(true).await;
    let body = format!("{}[fs]\nallowed_roots = [\"{{dir}}/scratch\"]\n", head("auto"));
    let h = harness(&body, &target.url, &[]).await;
    std::fs::create_dir_all(h.dir.path().join("scratch")).unwrap();
    let tool = h.rt.registry.get("fs.cleanup").unwrap();
    let args = serde_json::json!({"root": h.dir.path().join("scratch/..").display().to_string()});
    // Even with the gate's permit, the tool itself refuses.
    let err = tool.call(&args, &Permit::for_tests("fs.cleanup", &args)).await.unwrap_err();
    assert!(err.to_string().contains("outside the allowed roots"), "{err}");
    let dry = tool.dry_run(&serde_json::json!({"root": "/etc"})).await.unwrap().unwrap_err();
    assert!(dry.to_string().contains("outside the allowed roots"), "{dry}");
}

#[tokio::test]
async fn process_restart_closes_the_loop() {
    let target = Target::start(true).await;
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let body = format!(
        "{}{}",
        head("auto"),
        r#"
[[service]]
name = "web"
process = { run = ["{exe}", "demo-service", "--port", "{port}", "--poison", "{dir}/poison"] }
  [[service.check]]
  name = "health"
  kind = "http"
  url = "http://127.0.0.1:{port}/health"
  fail_after = 1
  recover_after = 1
[[runbook]]
name = "restart web"
when = { incident = "http-down", service = "web" }
steps = [{ tool = "process.restart", args = { service = "web" } }]
"#
    )
    .replace("{exe}", env!("CARGO_BIN_EXE_obsctl"))
    .replace("{port}", &port.to_string());
    let h = harness(&body, &target.url, &[]).await;
    h.rt.supervisor.start_all().await.unwrap();
    let first_pid = h.rt.supervisor.pid("web").await.unwrap();
    // Wait for the service to listen (a condition, bounded), then see it healthy.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_err() {
        assert!(std::time::Instant::now() < deadline, "demo service never listened");
        tokio::task::yield_now().await;
    }
    assert!(h.run("web/health").await);
    std::fs::write(h.dir.path().join("poison"), "x").unwrap();
    assert!(!h.run("web/health").await);
    let incident = h.incident().await;
    let report = h.rt.agent.handle_incident(&incident.id).await.unwrap();
    assert_eq!(report.outcome, Some(Outcome::Fixed), "{report:#?}");
    let new_pid = h.rt.supervisor.pid("web").await.unwrap();
    assert_ne!(first_pid, new_pid);
    assert_eq!(report.actions[0].result.as_ref().unwrap()["old_pid"], first_pid);
    h.rt.supervisor.stop_all().await;
}

#[tokio::test]
async fn command_run_closes_the_loop_only_when_enabled() {
    let target = Target::start(true).await;
    let body = format!(
        "{}{}",
        head("auto"),
        r#"
[commands]
allow = ["test ! -e {dir}/broken", "rm -f {dir}/broken"]
[[service]]
name = "job"
  [[service.check]]
  name = "flag"
  kind = "command"
  run = ["test", "!", "-e", "{dir}/broken"]
  fail_after = 1
  recover_after = 1
[[runbook]]
name = "clear flag"
when = { incident = "command-failed" }
steps = [{ tool = "command.run", args = { command = ["rm", "-f", "{dir}/broken"] } }]
"#
    );
    // Without ENABLE_UNIX_TOOLS the gate refuses and says how to enable it.
    let off = harness(&body, &target.url, &[]).await;
    std::fs::write(off.dir.path().join("broken"), "").unwrap();
    assert!(!off.run("job/flag").await);
    let report = off.rt.agent.handle_incident(&off.incident().await.id).await.unwrap();
    assert_eq!(report.actions[0].state, ActionState::Denied);
    assert!(report.actions[0].reason.contains("ENABLE_UNIX_TOOLS=true"), "{}", report.actions[0].reason);
    assert!(off.dir.path().join("broken").exists());

    let on = harness(&body, &target.url, &[("ENABLE_UNIX_TOOLS", "true")]).await;
    std::fs::write(on.dir.path().join("broken"), "").unwrap();
    assert!(!on.run("job/flag").await);
    let report = on.rt.agent.handle_incident(&on.incident().await.id).await.unwrap();
    assert_eq!(report.outcome, Some(Outcome::Fixed), "{report:#?}");
    assert!(!on.dir.path().join("broken").exists());
    // An exact allow-list: anything else is refused by the tool itself.
    let args = serde_json::json!({"command": ["rm", "-rf", "/"]});
    let permit = Permit::for_tests("command.run", &args);
    let err = on.rt.registry.get("command.run").unwrap().call(&args, &permit).await.unwrap_err();
    assert!(err.to_string().contains("not in [commands] allow"), "{err}");
}

#[tokio::test]
async fn a_failed_fix_escalates_through_webhook_and_ntfy() {
    let target = Target::start(false).await;
    target.state.fix_works.store(false, std::sync::atomic::Ordering::SeqCst);
    let body = format!(
        "{}[notify.webhook]\nurl = \"{{url}}/hook\"\n[notify.ntfy]\nurl = \"{{url}}/ntfy\"\ntopic = \"ops\"\ntoken = \"tk_secret_123\"\n{API_WITH_FIX}",
        head("auto")
    );
    let h = harness(&body, &target.url, &[]).await;
    assert!(!h.run("api/health").await);
    let incident = h.incident().await;
    let report = h.rt.agent.handle_incident(&incident.id).await.unwrap();
    assert_eq!(report.outcome, Some(Outcome::NotFixed));
    assert!(h.event_kinds(&incident.id).await.contains(&"escalated".to_string()));
    let notes = target.notes();
    let hook = notes.iter().find(|n| n.0 == "/hook").expect("webhook notified");
    let body: serde_json::Value = serde_json::from_str(&hook.2).unwrap();
    assert!(body["title"].as_str().unwrap().contains("needs a person"));
    assert_eq!(body["data"]["incident_id"], incident.id);
    let ntfy = notes.iter().find(|n| n.0 == "/ntfy/ops").expect("ntfy notified");
    assert!(
        ntfy.1.contains("title: obsctl:") && ntfy.1.contains("priority: 4") && ntfy.1.contains("tags: warning,obsctl"),
        "{}",
        ntfy.1
    );
    assert!(ntfy.1.contains("authorization: Bearer tk_secret_123"));
    // The token reached ntfy but never the journal.
    let journal = serde_json::to_string(&h.rt.store.list_actions(&ActionFilter::default()).await.unwrap()).unwrap();
    assert!(!journal.contains("tk_secret_123"));
}

/// What a step achieved, not only that it "succeeded" (issue 27, finding 8): a cleanup that
/// matched nothing says so on the timeline, and a restart whose new child dies at once failed.
#[tokio::test]
async fn a_step_says_what_it_achieved_and_a_restart_that_dies_at_once_failed() {
    let target = Target::start(false).await;
    let body = format!(
        "{}[fs]\nallowed_roots = [\"{{dir}}/empty\"]\n{API_WITH_FIX}\n[[service]]\nname = \"crashy\"\nprocess = {{ run = [\"sh\", \"-c\", \"exit 3\"] }}\n",
        head("auto")
    );
    let h = harness(&body, &target.url, &[]).await;
    std::fs::create_dir_all(h.dir.path().join("empty")).unwrap();
    assert!(!h.run("api/health").await);
    let incident = h.incident().await;
    let cleanup = obsctl_config::Step {
        tool: "fs.cleanup".into(),
        args: serde_json::json!({"root": h.dir.path().join("empty").display().to_string()}),
    };
    h.rt.agent.propose(&incident.id, vec![cleanup], "ops", "", false, None).await.unwrap();
    let events = h.rt.store.events(&incident.id).await.unwrap();
    assert!(
        events.iter().any(|e| e.message == "fs.cleanup succeeded: deleted nothing: no file matched"),
        "{events:#?}"
    );

    let restart =
        obsctl_config::Step { tool: "process.restart".into(), args: serde_json::json!({"service": "crashy"}) };
    let report = h.rt.agent.propose(&incident.id, vec![restart], "ops", "", false, None).await.unwrap();
    let a = &report.actions[0];
    assert_eq!(a.state, ActionState::Failed, "{a:#?}");
    let error = a.result.as_ref().unwrap()["error"].as_str().unwrap().to_string();
    assert!(error.contains("exited at once (exit status: 3)"), "{error}");
}
