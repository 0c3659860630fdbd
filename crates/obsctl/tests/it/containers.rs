//! Containers against a real Docker engine (the one `scripts/test` starts): a dead container
//! is detected, restarted by a runbook and verified; a failing healthcheck and a crash loop are
//! told apart; prune's dry-run is what the prune frees; a containerised check passes and fails
//! as its command does and leaves nothing behind, also after kill -9; an engine that goes away
//! makes checks `unknown`, and they recover when it returns.

use obsctl_agent::gate::Permit;
use obsctl_core::action::Outcome;
use obsctl_core::incident::IncidentStatus;
use obsctl_core::state::CheckStatus;
use serde_json::json;
use std::process::Stdio;

use crate::support::{Harness, Serve, eventually, harness, head};

/// The test engine's address and image, from `scripts/test`.
fn engine() -> (String, String) {
    let host = std::env::var("OBSCTL_TEST_DOCKER_HOST")
        .expect("OBSCTL_TEST_DOCKER_HOST is not set: run scripts/test, which starts a Docker engine");
    let image = std::env::var("OBSCTL_TEST_DOCKER_IMAGE").unwrap_or_else(|_| "obsctl-test/busybox:1".into());
    (host, image)
}

/// Runs the docker CLI against the test engine; returns its trimmed output.
fn docker(args: &[&str]) -> String {
    let out = std::process::Command::new("docker").args(args).env("DOCKER_HOST", engine().0).output().unwrap();
    assert!(out.status.success(), "docker {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// A container name of this test, removed when dropped.
struct Named(String);

impl Named {
    fn new(test: &str) -> Self {
        let name = format!("obsctl-it-{test}-{}", std::process::id());
        let _ = std::process::Command::new("docker").args(["rm", "-f", &name]).env("DOCKER_HOST", engine().0).output();
        Named(name)
    }
}

impl Drop for Named {
    fn drop(&mut self) {
        let _ =
            std::process::Command::new("docker").args(["rm", "-f", &self.0]).env("DOCKER_HOST", engine().0).output();
    }
}

/// A config whose service `shop` has a docker check `web` on `container` (reporting at the
/// first run either way), then `rest` (runbooks).
fn shop_web(mode: &str, container: &str, rest: &str) -> String {
    format!(
        r#"{}
[[service]]
name = "shop"
  [[service.check]]
  name = "web"
  kind = "docker"
  container = "{container}"
  fail_after = 1
  recover_after = 1
{rest}"#,
        head(mode)
    )
}

fn state(name: &str) -> String {
    docker(&["inspect", "-f", "{{.State.Status}}", name])
}

#[tokio::test]
async fn a_dead_container_is_detected_restarted_by_its_runbook_and_verified() {
    let (host, image) = engine();
    let web = Named::new("web");
    docker(&["run", "-d", "--name", &web.0, &image, "sleep", "600"]);
    docker(&["stop", "-t", "0", &web.0]);
    let runbook = format!(
        r#"[[runbook]]
name = "restart web"
when = {{ incident = "container-down", service = "shop" }}
steps = [{{ tool = "docker.restart", args = {{ container = "{}", timeout_seconds = 1 }} }}]
cooldown = "0s"
"#,
        web.0
    );
    let body = shop_web("auto", &web.0, &runbook);
    let h = harness(&body, "", &[("DOCKER_HOST", &host)]).await;
    assert!(!h.run("shop/web").await);
    let incident = h.incident().await;
    assert_eq!(incident.kind, "container-down");
    assert!(incident.detail.contains("is exited"), "{}", incident.detail);

    let report = h.rt.agent.handle_incident(&incident.id).await.unwrap();
    assert_eq!(report.outcome, Some(Outcome::Fixed), "{report:#?}");
    assert_eq!(state(&web.0), "running");
    let resolved = h.rt.store.incident(&incident.id).await.unwrap();
    assert_eq!(resolved.status, IncidentStatus::Resolved);
    assert_eq!(resolved.resolution.as_deref(), Some("fixed by restart web: docker.restart"));
}

#[tokio::test]
async fn a_failing_healthcheck_and_a_crash_loop_are_told_apart() {
    let (host, image) = engine();
    let (sick, looping) = (Named::new("sick"), Named::new("loop"));
    docker(&[
        "run",
        "-d",
        "--name",
        &sick.0,
        "--health-cmd",
        "false",
        "--health-interval",
        "200ms",
        "--health-retries",
        "1",
        &image,
        "sleep",
        "600",
    ]);
    docker(&["run", "-d", "--name", &looping.0, "--restart", "always", &image, "sh", "-c", "sleep 0.2; exit 3"]);
    let body = format!(
        r#"{}
[[service]]
name = "shop"
  [[service.check]]
  name = "sick"
  kind = "docker"
  container = "{sick}"
  fail_after = 1
  [[service.check]]
  name = "loop"
  kind = "docker"
  container = "{looping}"
  max_restarts = 2
  fail_after = 1
"#,
        head("observe"),
        sick = sick.0,
        looping = looping.0
    );
    let mut h = harness(&body, "", &[("DOCKER_HOST", &host)]).await;
    // The event stream (which counts crashes) and the triggered runs come with `start`.
    h.rt.start().await.unwrap();
    // The loop may first be seen dead (container-down); its incident is narrowed once it has
    // crashed more than max_restarts times.
    eventually(30, "an unhealthy and a restarting incident", || async {
        let mut kinds: Vec<String> = h.open_incidents().await.into_iter().map(|i| i.kind).collect();
        kinds.sort();
        (kinds == ["container-restarting", "container-unhealthy"]).then_some(())
    })
    .await;
    assert_eq!(h.open_incidents().await.len(), 2, "one incident per check, narrowed in place");
    let restarting = h.open_incidents().await.into_iter().find(|i| i.kind == "container-restarting").unwrap();
    assert!(restarting.detail.contains("crashed"), "{}", restarting.detail);
    h.rt.stop().await;
}

#[tokio::test]
async fn prune_dry_run_lists_what_the_prune_frees() {
    let (host, image) = engine();
    // A stopped container that wrote 300 KB, and an untagged image of its own; labelled, so
    // the prune leaves the other tests' containers alone.
    let stopped = Named::new("stopped");
    let label = format!("obsctl-it-prune={}", std::process::id());
    docker(&[
        "run",
        "--name",
        &stopped.0,
        "--label",
        &label,
        &image,
        "dd",
        "if=/dev/zero",
        "of=/tmp/fill",
        "bs=1024",
        "count=300",
    ]);
    let tag = format!("obsctl-it/dangling:{}", std::process::id());
    docker(&["tag", &image, &tag]);
    let id = docker(&["commit", &stopped.0, &tag]);
    docker(&["tag", &image, &tag]); // the committed image loses its tag: dangling
    let h = harness(&head("observe"), "", &[("DOCKER_HOST", &host)]).await;
    let tool = h.rt.registry.get("docker.prune").unwrap();
    let scope = json!({"containers": true, "images": true, "label": label});
    let plan = tool.dry_run(&scope).await.unwrap().unwrap();
    let items = plan["items"].as_array().unwrap();
    assert_eq!(items.len(), 2, "{plan:#}");
    assert!(items.iter().any(|i| i["kind"] == "container" && i["name"] == stopped.0.as_str()), "{plan:#}");
    assert!(items.iter().any(|i| i["kind"] == "image" && i["id"] == id.as_str()), "{plan:#}");
    assert!(items.iter().any(|i| i["kind"] == "container" && i["bytes"].as_u64().unwrap() >= 300 * 1024), "{plan:#}");
    let report = tool.call(&scope, &Permit::for_tests("docker.prune", &scope)).await.unwrap();
    assert_eq!(report["removed"], plan["items"], "plan {plan:#}\nreport {report:#}");
    assert_eq!(report["bytes"], plan["bytes"]);
    // The engine's own count for the container agrees (its image count includes shared layers).
    let container = items.iter().find(|i| i["kind"] == "container").unwrap();
    assert_eq!(report["engine_reported"]["containers"], container["bytes"]);
    let gone =
        std::process::Command::new("docker").args(["inspect", &stopped.0]).env("DOCKER_HOST", &host).output().unwrap();
    assert!(!gone.status.success(), "the stopped container is still there");
    // Volumes are never pruned unless asked by name.
    assert_eq!(plan["scope"]["volumes"], false);
}

/// Containers that carry `owner`'s throwaway label.
fn throwaways(owner: &str) -> Vec<String> {
    let filter = format!("label={}={owner}", obsctl_host::docker::THROWAWAY_LABEL);
    docker(&["ps", "-aq", "--filter", &filter]).lines().map(str::to_string).collect()
}

#[tokio::test]
async fn a_containerised_check_passes_and_fails_as_its_command_and_leaves_nothing() {
    let (host, image) = engine();
    let body = format!(
        r#"{}
[[service]]
name = "db"
  [[service.check]]
  name = "ok"
  kind = "docker_run"
  image = "{image}"
  run = ["sh", "-c", "echo reachable as $ROLE"]
  env = {{ ROLE = "probe", DB_PASSWORD = "hunter22" }}
  timeout = "20s"
  fail_after = 1
  [[service.check]]
  name = "bad"
  kind = "docker_run"
  image = "{image}"
  run = ["sh", "-c", "echo password hunter22 refused; exit 2"]
  env = {{ DB_PASSWORD = "hunter22" }}
  timeout = "20s"
  fail_after = 1
  [[service.check]]
  name = "slow"
  kind = "docker_run"
  image = "{image}"
  run = ["sleep", "60"]
  timeout = "3s"
  fail_after = 1
  [[service.check]]
  name = "noimage"
  kind = "docker_run"
  image = "obsctl-it/not-here:1"
  run = ["true"]
  fail_after = 1
"#,
        head("observe")
    );
    let h = harness(&body, "", &[("DOCKER_HOST", &host)]).await;
    let owner = h.rt.monitor.probes().owner.clone();
    let run = |id: &'static str| {
        let monitor = h.rt.monitor.clone();
        async move { monitor.run_check(id).await.unwrap().0 }
    };
    let ok = run("db/ok").await;
    assert!(ok.ok, "{ok:?}");
    assert!(ok.detail.contains("reachable as probe"), "{}", ok.detail);
    let bad = run("db/bad").await;
    assert!(!bad.ok && bad.detail.starts_with("exit 2"), "{}", bad.detail);
    assert!(!bad.detail.contains("hunter22"), "a credential from env leaked: {}", bad.detail);
    let slow = run("db/slow").await;
    assert!(!slow.ok && slow.detail.contains("timed out"), "{}", slow.detail);
    let missing = run("db/noimage").await;
    assert!(!missing.ok && missing.detail.contains("docker pull"), "{}", missing.detail);
    // Removal happens before the probe returns (the slow one's too).
    assert_eq!(throwaways(&owner), Vec::<String>::new());
}

#[tokio::test]
async fn a_throwaway_left_by_a_killed_obsctl_is_swept_at_the_next_start() {
    let (host, image) = engine();
    let dir = tempfile::tempdir().unwrap();
    let config = format!(
        r#"version = 1
[server]
listen = "127.0.0.1:0"
[mcp]
listen = "off"
[store]
url = "sqlite://{dir}/obsctl.db"
[[service]]
name = "db"
  [[service.check]]
  name = "slow"
  kind = "docker_run"
  image = "{image}"
  run = ["sleep", "300"]
  interval = "10s"
  timeout = "10s"
"#,
        dir = dir.path().display()
    );
    std::fs::write(dir.path().join("obsctl.toml"), config).unwrap();
    let serve = || {
        Serve(
            std::process::Command::new(env!("CARGO_BIN_EXE_obsctl"))
                .args(["-q", "--config"])
                .arg(dir.path().join("obsctl.toml"))
                .arg("serve")
                .env("DOCKER_HOST", &host)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap(),
        )
    };
    // Throwaways running this test's command (other tests' come and go meanwhile).
    let ours = || {
        let filter = format!("label={}", obsctl_host::docker::THROWAWAY_LABEL);
        docker(&["ps", "-a", "--no-trunc", "--filter", &filter, "--format", "{{.ID}} {{.Command}}"])
            .lines()
            .filter(|line| line.contains("sleep 300"))
            .filter_map(|line| line.split_whitespace().next().map(str::to_string))
            .collect::<Vec<_>>()
    };
    let before: Vec<String> = ours();
    let mut first = serve();
    let left = eventually(30, "the first throwaway", || async {
        let now: Vec<String> = ours().into_iter().filter(|id| !before.contains(id)).collect();
        (!now.is_empty()).then_some(now)
    })
    .await;
    first.kill(); // SIGKILL: no chance to clean up
    assert!(ours().contains(&left[0]), "the killed process's container should still be there");

    let mut second = serve();
    eventually(30, "the sweep of the left container", || async { (!ours().contains(&left[0])).then_some(()) }).await;
    second.kill();
    for id in ours().into_iter().filter(|id| !before.contains(id)) {
        let _ = docker(&["rm", "-f", &id]);
    }
}

/// A unix-socket cable to the real engine that the test can cut and mend: the engine going
/// away, as obsctl sees it, without stopping the engine the other tests share.
struct Cable {
    path: std::path::PathBuf,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Cable {
    fn connect(path: std::path::PathBuf) -> Self {
        let mut cable = Cable { path, task: None };
        cable.mend();
        cable
    }

    fn mend(&mut self) {
        let _ = std::fs::remove_file(&self.path);
        let listener = tokio::net::UnixListener::bind(&self.path).unwrap();
        let engine = engine().0.trim_start_matches("unix://").to_string();
        self.task = Some(tokio::spawn(async move {
            let mut links = tokio::task::JoinSet::new();
            while let Ok((mut client, _)) = listener.accept().await {
                let engine = engine.clone();
                links.spawn(async move {
                    if let Ok(mut upstream) = tokio::net::UnixStream::connect(&engine).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
                    }
                });
            }
        }));
    }

    /// An engine that takes connections and never answers.
    fn stall(&mut self) {
        self.cut();
        let listener = tokio::net::UnixListener::bind(&self.path).unwrap();
        self.task = Some(tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((client, _)) = listener.accept().await {
                held.push(client);
            }
        }));
    }

    fn cut(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Runs `shop/web` until it reports `unknown` (at most `secs` seconds); its last observation.
async fn until_unknown(h: &Harness, secs: u64) -> obsctl_core::check::Observation {
    eventually(secs, "an unknown run", || async {
        let (obs, status) = h.rt.monitor.run_check("shop/web").await.unwrap();
        (status == CheckStatus::Unknown).then_some(obs)
    })
    .await
}

#[tokio::test]
async fn an_engine_that_goes_away_makes_checks_unknown_until_it_returns() {
    let (_, image) = engine();
    let web = Named::new("cable");
    docker(&["run", "-d", "--name", &web.0, &image, "sleep", "600"]);
    let dir = tempfile::tempdir().unwrap();
    let mut cable = Cable::connect(dir.path().join("engine.sock"));
    let host = format!("unix://{}", dir.path().join("engine.sock").display());
    let body = shop_web("observe", &web.0, "");
    let h = harness(&body, "", &[("DOCKER_HOST", &host)]).await;
    assert!(h.run("shop/web").await);
    assert_eq!(h.rt.monitor.status("shop/web"), CheckStatus::Ok);

    cable.cut();
    // A list younger than half a second may still answer (no event stream in this test).
    let obs = until_unknown(&h, 5).await;
    assert!(obs.unknown && obs.detail.contains("unreachable"), "{}", obs.detail);
    assert!(h.open_incidents().await.is_empty(), "an unreachable engine is not the container's failure");
    // The tools say so too, and the rest of obsctl answers.
    let permit = Permit::for_tests("docker.list", &json!({}));
    let err = h.rt.registry.get("docker.list").unwrap().call(&json!({}), &permit).await.unwrap_err();
    assert!(err.to_string().contains("unreachable"), "{err}");

    cable.mend();
    let (_, status) = h.rt.monitor.run_check("shop/web").await.unwrap();
    assert_eq!(status, CheckStatus::Ok);

    // An engine that never answers: unknown within the check's timeout, not a failure.
    cable.stall();
    let obs = until_unknown(&h, 15).await;
    assert!(obs.unknown && obs.detail.contains("did not answer"), "{}", obs.detail);
    assert!(obs.latency_us < 5_000_000, "bounded by the check's timeout (5s): {}us", obs.latency_us);
    assert!(h.open_incidents().await.is_empty());
    // History keeps such runs apart from failures (the service page greys them).
    h.rt.monitor.flush().await;
    let last = h.rt.store.recent_observations("shop/web", 1).await.unwrap();
    assert!(last[0].unknown && !last[0].ok, "{last:?}");
    assert!(h.viewer_get("/ui/services/shop").await.contains(r#"<span class="b-unknown">"#));
    cable.cut();
}

#[tokio::test]
async fn logs_of_a_container_that_wrote_twenty_megabytes_stay_bounded() {
    let (host, image) = engine();
    let noisy = Named::new("noisy");
    let line = "0123456789abcdefghijklmnopqrstuvwxyz".repeat(2);
    let script = format!("busybox yes {line} | head -c 20000000; sleep 600");
    docker(&["run", "-d", "--name", &noisy.0, &image, "sh", "-c", &script]);
    // Wait until the engine has stored it all (its log file, with JSON around each line, passes 20 MB).
    let log_file = docker(&["inspect", "-f", "{{.LogPath}}", &noisy.0]);
    eventually(30, "20 MB of logs", || async {
        (std::fs::metadata(&log_file).map(|m| m.len()).unwrap_or(0) > 20_000_000).then_some(())
    })
    .await;
    let h = harness(&head("observe"), "", &[("DOCKER_HOST", &host)]).await;
    let logs = h.rt.registry.get("docker.logs").unwrap();
    let started = std::time::Instant::now();
    let read = |args: serde_json::Value| {
        let logs = logs.clone();
        async move { logs.call(&args, &Permit::for_tests("docker.logs", &args)).await }
    };
    let out = read(json!({"container": noisy.0, "tail": 2000})).await.unwrap();
    let bytes: usize = out["lines"].as_array().unwrap().iter().map(|l| l.as_str().unwrap().len()).sum();
    assert!(bytes <= 64 * 1024, "{bytes} bytes came back");
    assert_eq!(out["truncated"], true);
    assert!(started.elapsed() < std::time::Duration::from_secs(5), "took {:?}", started.elapsed());
    let err = read(json!({"container": "../../etc/passwd"})).await.unwrap_err();
    assert!(err.to_string().contains("is not a container name"), "{err}");
    let err = read(json!({"container": "obsctl-it-nobody", "tail": 5})).await.unwrap_err();
    assert!(err.to_string().contains("No such container"), "{err}");
}

#[tokio::test]
async fn the_service_page_shows_its_containers_and_resources_the_engine_disk() {
    let (host, image) = engine();
    let web = Named::new("page");
    docker(&[
        "run",
        "-d",
        "--name",
        &web.0,
        &image,
        "sh",
        "-c",
        "echo booting; echo db password=hunter22 ok; sleep 600",
    ]);
    let body = shop_web("observe", &web.0, "");
    let h = harness(&body, "", &[("DOCKER_HOST", &host)]).await;
    let page = eventually(10, "the log lines", || async {
        let page = h.viewer_get("/ui/services/shop").await;
        page.contains("password=*** ok").then_some(page)
    })
    .await;
    assert!(page.contains(&web.0) && page.contains(">running<"), "{page}");
    assert!(!page.contains("hunter22"), "a printed credential reached the page");
    let resources = h.viewer_get("/ui/resources").await;
    assert!(resources.contains("Container engine disk") && resources.contains("<td>images</td>"), "{resources}");
}

#[tokio::test]
async fn a_remote_engine_is_reached_over_tls_with_client_certificates() {
    let (_, image) = engine();
    let tls_host = std::env::var("OBSCTL_TEST_DOCKER_TLS_HOST")
        .expect("OBSCTL_TEST_DOCKER_TLS_HOST is not set: run scripts/test, which starts the engine with a TLS port");
    let certs = std::env::var("OBSCTL_TEST_DOCKER_CERT_PATH").unwrap();
    let web = Named::new("tls");
    docker(&["run", "-d", "--name", &web.0, &image, "sleep", "600"]);
    let tls = [("DOCKER_HOST", tls_host.as_str()), ("DOCKER_TLS_VERIFY", "1"), ("DOCKER_CERT_PATH", certs.as_str())];
    let h = harness(&shop_web("observe", &web.0, ""), "", &tls).await;
    let (obs, status) = h.rt.monitor.run_check("shop/web").await.unwrap();
    assert_eq!(status, CheckStatus::Ok, "{obs:?}");

    // Without a client certificate the engine refuses the handshake: unknown, with the reason.
    let plain = [("DOCKER_HOST", tls_host.as_str())];
    let h = harness(&shop_web("observe", &web.0, ""), "", &plain).await;
    let (obs, status) = h.rt.monitor.run_check("shop/web").await.unwrap();
    assert_eq!(status, CheckStatus::Unknown, "{obs:?}");
    assert!(obs.detail.contains("unreachable"), "{}", obs.detail);
}

#[tokio::test]
async fn a_compose_project_is_up_only_with_every_service_it_lists() {
    let (host, image) = engine();
    let project = format!("obsctl-it-{}", std::process::id());
    let (web, db) = (Named::new("compose-web"), Named::new("compose-db"));
    // What `docker compose up` leaves: containers labelled with their project and service.
    for (c, service) in [(&web, "web"), (&db, "db")] {
        let labels = [format!("com.docker.compose.project={project}"), format!("com.docker.compose.service={service}")];
        docker(&["run", "-d", "--name", &c.0, "--label", &labels[0], "--label", &labels[1], &image, "sleep", "600"]);
    }
    let body = format!(
        r#"{}
[[service]]
name = "shop"
  [[service.check]]
  name = "stack"
  kind = "docker"
  compose_project = "{project}"
  compose_services = ["web", "db"]
  fail_after = 1
  [[service.check]]
  name = "with-cache"
  kind = "docker"
  compose_project = "{project}"
  compose_services = ["web", "db", "cache"]
  fail_after = 1
"#,
        head("observe")
    );
    let h = harness(&body, "", &[("DOCKER_HOST", &host)]).await;
    let (ok, _) = h.rt.monitor.run_check("shop/stack").await.unwrap();
    assert_eq!((ok.ok, ok.detail), (true, format!("2 running: compose project \"{project}\"")));
    let (missing, _) = h.rt.monitor.run_check("shop/with-cache").await.unwrap();
    assert_eq!(missing.detail, format!("service cache of {project} has no container"));
    docker(&["stop", "-t", "0", &db.0]);
    // Without an event stream (no `start` here) a list serves half a second.
    let down = eventually(5, "the stopped service", || async {
        let (obs, _) = h.rt.monitor.run_check("shop/stack").await.unwrap();
        (!obs.ok).then_some(obs)
    })
    .await;
    let exited = format!("1 of 2 compose project \"{project}\": {} is exited", db.0);
    assert!(down.detail.starts_with(&exited), "{}", down.detail);
    let mut kinds: Vec<(String, String)> = h.open_incidents().await.into_iter().map(|i| (i.check_id, i.kind)).collect();
    kinds.sort();
    let down = "container-down".to_string();
    assert_eq!(kinds, [("shop/stack".to_string(), down.clone()), ("shop/with-cache".to_string(), down)]);
}
