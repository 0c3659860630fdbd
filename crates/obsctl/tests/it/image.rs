//! Issue 13, deployment: the Dockerfile builds an image that runs `serve` as a non-root user,
//! becomes healthy through `obsctl health --serving`, answers on 5555 and 8433 and stops cleanly
//! on SIGTERM; and the Compose stack's files are valid for the tools that read them (compose,
//! promtool, amtool, obsctl itself). No image registry is reachable here, so the image is built
//! on a runtime base made from Debian's packages (scripts/test) with the binary these tests
//! built, through the Dockerfile's `BINARY` argument: its build stage is not exercised here.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::support::{eventually, printed};

const TOKEN: &str = "image-test-token-0123456789";

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().unwrap()
}

/// Debian's docker CLI (it builds with BuildKit itself) against the test engine.
fn docker(args: &[&str]) -> Output {
    let host = std::env::var("OBSCTL_TEST_DOCKER_HOST")
        .expect("OBSCTL_TEST_DOCKER_HOST is not set: run scripts/test, which starts a Docker engine");
    let out = Command::new("/usr/bin/docker")
        .args(args)
        .env("DOCKER_HOST", host)
        .env("DOCKER_BUILDKIT", "1")
        .output()
        .expect("Debian's docker CLI (docker.io) at /usr/bin/docker");
    assert!(out.status.success(), "docker {args:?}:\n{}", printed(&out));
    out
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Removes the test's container and images however the test ends.
struct Cleanup(Vec<String>, Vec<String>);

impl Drop for Cleanup {
    fn drop(&mut self) {
        let host = std::env::var("OBSCTL_TEST_DOCKER_HOST").unwrap_or_default();
        let run = |args: Vec<&str>| {
            let _ = Command::new("/usr/bin/docker").args(args).env("DOCKER_HOST", &host).output();
        };
        for c in &self.0 {
            run(vec!["rm", "-f", "-v", c]);
        }
        for i in &self.1 {
            run(vec!["rmi", "-f", i]);
        }
    }
}

/// An image holding `/out` as the Dockerfile's build stage lays it out, from the test binary.
fn binary_image(tag: &str) {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    std::fs::create_dir_all(out.join("usr/local/bin")).unwrap();
    std::fs::create_dir_all(out.join("etc/ssl/certs")).unwrap();
    std::fs::create_dir_all(out.join("var/lib/obsctl")).unwrap();
    std::fs::copy(env!("CARGO_BIN_EXE_obsctl"), out.join("usr/local/bin/obsctl")).unwrap();
    std::fs::copy("/etc/ssl/certs/ca-certificates.crt", out.join("etc/ssl/certs/ca-certificates.crt")).unwrap();
    let tar = dir.path().join("binary.tar");
    let made = Command::new("tar").arg("-C").arg(dir.path()).arg("-cf").arg(&tar).arg("out").status().unwrap();
    assert!(made.success());
    docker(&["import", tar.to_str().unwrap(), tag]);
}

#[tokio::test]
async fn the_image_runs_serve_as_a_non_root_user_healthy_on_5555_and_8433() {
    let base = std::env::var("OBSCTL_TEST_DOCKER_BASE")
        .expect("OBSCTL_TEST_DOCKER_BASE is not set: run scripts/test, which makes the runtime base");
    let n = std::process::id();
    let (binary, image, name) =
        (format!("obsctl-test/binary:{n}"), format!("obsctl-test/obsctl:{n}"), format!("obsctl-it-image-{n}"));
    let _cleanup = Cleanup(vec![name.clone()], vec![image.clone(), binary.clone()]);
    binary_image(&binary);
    let context = repo();
    docker(&[
        "build",
        "--quiet",
        "--build-arg",
        &format!("BINARY={binary}"),
        "--build-arg",
        &format!("RUNTIME_IMAGE={base}"),
        "-t",
        &image,
        context.to_str().unwrap(),
    ]);

    // What the image declares.
    let config: serde_json::Value =
        serde_json::from_str(&stdout(&docker(&["image", "inspect", "-f", "{{json .Config}}", &image]))).unwrap();
    assert_eq!(config["User"], "10001:10001", "{config}");
    assert!(config["ExposedPorts"]["5555/tcp"].is_object() && config["ExposedPorts"]["8433/tcp"].is_object());
    assert!(config["Volumes"]["/var/lib/obsctl"].is_object(), "{config}");
    assert_eq!(config["Healthcheck"]["Test"], serde_json::json!(["CMD", "obsctl", "-q", "health", "--serving"]));

    // It runs: serve on its embedded store, with a token so it may listen beyond loopback.
    docker(&[
        "run",
        "-d",
        "--name",
        &name,
        "-e",
        &format!("OBSCTL_API_TOKEN={TOKEN}"),
        "-p",
        "127.0.0.1::5555",
        "-p",
        "127.0.0.1::8433",
        "--health-interval",
        "1s",
        "--health-start-period",
        "30s",
        &image,
    ]);
    let port = |inner: &str| -> u16 {
        let mapped = stdout(&docker(&["port", &name, inner]));
        mapped.lines().next().unwrap().rsplit(':').next().unwrap().parse().unwrap()
    };
    let (api, mcp) = (port("5555/tcp"), port("8433/tcp"));
    eventually(60, "the container to be healthy", || async {
        let status = stdout(&docker(&["inspect", "-f", "{{.State.Health.Status}}", &name]));
        (status == "healthy").then_some(())
    })
    .await;

    let http = obsctl_host::http_client().build().unwrap();
    let cluster: serde_json::Value = http
        .get(format!("http://127.0.0.1:{api}/api/cluster"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(cluster["backend"], "sqlite", "{cluster}");
    let unauthenticated = http.get(format!("http://127.0.0.1:{api}/api/incidents")).send().await.unwrap();
    assert_eq!(unauthenticated.status(), 401);
    let gateway = http.get(format!("http://127.0.0.1:{mcp}/mcp")).send().await.unwrap();
    assert_eq!(gateway.status(), 401, "the MCP gateway wants the token");

    // Not root: the process runs as 10001, its state in the volume it owns.
    let pid = stdout(&docker(&["inspect", "-f", "{{.State.Pid}}", &name]));
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let uid = status.lines().find(|l| l.starts_with("Uid:")).unwrap();
    assert!(uid.split_whitespace().skip(1).all(|id| id == "10001"), "{uid}");
    let version = stdout(&docker(&["exec", &name, "obsctl", "version"]));
    assert!(version.contains(env!("CARGO_PKG_VERSION")), "{version}");

    // SIGTERM (docker stop) ends it cleanly, as PID 1.
    docker(&["stop", "-t", "20", &name]);
    let code = stdout(&docker(&["inspect", "-f", "{{.State.ExitCode}}", &name]));
    assert_eq!(code, "0", "{}", stdout(&docker(&["logs", &name])));
}

/// The Compose stack's files, as each tool that reads them sees them.
#[test]
fn the_compose_stack_is_valid_and_wired_to_obsctl() {
    let dir = repo().join("deploy/compose");
    let env = [
        ("POSTGRES_PASSWORD", "pg-password"),
        ("NEO4J_PASSWORD", "neo4j-password"),
        ("OBSCTL_API_TOKEN", TOKEN),
        ("OBSCTL_ALERTMANAGER_TOKEN", "alertmanager-token-0123456789"),
    ];
    let run = |program: &str, args: &[&str], env: &[(&str, &str)]| {
        let out = Command::new(program).args(args).current_dir(&dir).envs(env.iter().copied()).output().unwrap();
        (out.status.success(), printed(&out))
    };

    // Compose: valid, the original ports, and it refuses to start without the secrets.
    let (ok, config) = run("docker-compose", &["-f", "compose.yaml", "config"], &env);
    assert!(ok, "{config}");
    for port in ["published: 5555", "published: 8433", "published: 9090", "published: 9093"] {
        assert!(config.contains(port), "{port} in {config}");
    }
    assert!(config.contains("postgres://obsctl:pg-password@postgres:5432/obsctl"), "{config}");
    let (ok, refused) = run("docker-compose", &["-f", "compose.yaml", "config", "-q"], &env[1..]);
    assert!(!ok && refused.contains("set POSTGRES_PASSWORD in .env"), "{refused}");
    // .env.example names every variable compose.yaml requires.
    let example = std::fs::read_to_string(dir.join(".env.example")).unwrap();
    for (name, _) in env {
        assert!(example.contains(&format!("\n{name}=")), "{name} missing from .env.example");
    }

    // obsctl's own config for the stack.
    let obsctl = env!("CARGO_BIN_EXE_obsctl");
    let (ok, checked) = run(obsctl, &["config", "check", "obsctl.toml"], &env);
    assert!(ok && checked.contains("4 services"), "{checked}");

    // Prometheus and Alertmanager configs, with the token files they will write at start.
    let tmp = tempfile::tempdir().unwrap();
    let token = tmp.path().join("obsctl-token");
    std::fs::write(&token, TOKEN).unwrap();
    for file in ["prometheus.yml", "alert-rules.yml", "alertmanager.yml"] {
        let text = std::fs::read_to_string(dir.join(file)).unwrap();
        let text = text.replace("/prometheus/obsctl-token", token.to_str().unwrap());
        std::fs::write(tmp.path().join(file), text.replace("/alertmanager/obsctl-token", token.to_str().unwrap()))
            .unwrap();
    }
    let at = |f: &str| tmp.path().join(f).to_str().unwrap().to_string();
    let (ok, out) = run("promtool", &["check", "config", &at("prometheus.yml")], &[]);
    assert!(ok && out.contains("1 rule files found"), "{out}");
    let (ok, out) = run("amtool", &["check-config", &at("alertmanager.yml")], &[]);
    assert!(ok, "{out}");
    let alertmanager = std::fs::read_to_string(dir.join("alertmanager.yml")).unwrap();
    assert!(alertmanager.contains("http://obsctl:5555/api/v1/alerts/alertmanager"));
}

/// The health check's other answer: nothing serves on the configured address.
#[test]
fn health_serving_fails_when_nothing_answers() {
    let dir = tempfile::tempdir().unwrap();
    let port = crate::support::free_port();
    std::fs::write(dir.path().join("obsctl.toml"), format!("[server]\nlisten = \"127.0.0.1:{port}\"\n")).unwrap();
    let out = crate::support::obsctl_in(dir.path()).args(["health", "--serving"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", printed(&out));
    assert!(printed(&out).contains(&format!("not serving: http://127.0.0.1:{port}/healthz")), "{}", printed(&out));
}
