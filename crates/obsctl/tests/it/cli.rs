//! The binary as a person runs it: exit codes, messages, files written.

use obsctl_store::ActionJournal;
use obsctl_store::IncidentLog;
use std::process::Command;

fn obsctl() -> Command {
    Command::new(env!("CARGO_BIN_EXE_obsctl"))
}

#[test]
fn config_check_prints_every_problem_with_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.toml");
    std::fs::write(&path, "[[service]]\nname = \"api\"\ndepends_on = [\"ghost\"]\n  [[service.check]]\n  kind = \"http\"\n  url = \"http://x\"\n  interval = \"10\"\n").unwrap();
    let out = obsctl().args(["config", "check"]).arg(&path).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("config has 2 problems"), "{err}");
    assert!(err.contains(&format!("{}:3: service[0].depends_on: unknown service \"ghost\"", path.display())), "{err}");
    assert!(err.contains(":7: service[0].check[0].interval: \"10\" needs a unit, e.g. \"10s\""), "{err}");
}

#[test]
fn init_writes_a_valid_config_and_will_not_overwrite() {
    let dir = tempfile::tempdir().unwrap();
    let out = obsctl().args(["init", "--dir"]).arg(dir.path()).output().unwrap();
    assert!(out.status.success());
    assert!(dir.path().join(".env.example").exists());
    let check = obsctl().args(["config", "check"]).arg(dir.path().join("obsctl.toml")).output().unwrap();
    assert!(check.status.success(), "{}", String::from_utf8_lossy(&check.stderr));
    // Counts read as words: "1 service", never "1 services".
    let said = String::from_utf8_lossy(&check.stdout).to_string();
    assert!(!said.contains("1 services") && !said.contains("1 runbooks") && said.contains(" service"), "{said}");
    // Nobody would hear of an escalation: said before it matters (issue 27, finding 8).
    assert!(said.contains("no [notify] receiver") && said.contains("reaches nobody"), "{said}");
    let again = obsctl().args(["init", "--dir"]).arg(dir.path()).output().unwrap();
    assert_eq!(again.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&again.stderr).contains("pass --force"));
}

/// The `.env.example` that `init` writes, copied to `.env` with a token filled in and its
/// comment kept: the token is the value, not the whole line (issue 27, finding 2: the comment
/// became part of the token, which still passed the 16-character minimum, and every call got
/// 401). A line that cannot be read names the file and the line.
#[tokio::test]
async fn the_env_file_init_writes_works_once_filled_in_comments_and_all() {
    let dir = tempfile::tempdir().unwrap();
    assert!(obsctl().args(["init", "--dir"]).arg(dir.path()).output().unwrap().status.success());
    let example = std::fs::read_to_string(dir.path().join(".env.example")).unwrap();
    assert!(example.contains("OBSCTL_API_TOKEN=change-me ") && example.contains("# bearer token"), "{example}");
    std::fs::write(dir.path().join(".env"), example.replace("change-me", "filled-in-token-0123456789")).unwrap();
    let port = crate::support::free_port();
    let _serve = crate::support::serve_in(dir.path(), port);
    let http = obsctl_host::http_client().build().unwrap();
    let url = format!("http://127.0.0.1:{port}/api/checks/nope/nope/run");
    let status = crate::support::eventually(20, "serve to answer", || async {
        http.post(&url).bearer_auth("filled-in-token-0123456789").send().await.ok().map(|r| r.status())
    })
    .await;
    assert_eq!(status, 404, "the token passed (the check is unknown); 401 means the comment is in the token");

    std::fs::write(dir.path().join(".env"), "OK=1\nOBSCTL_API_TOKEN=\"never closed\n").unwrap();
    let out = obsctl().args(["config", "check"]).arg(dir.path().join("obsctl.toml")).output().unwrap();
    let said = String::from_utf8_lossy(&out.stderr);
    assert_ne!(out.status.code(), Some(0));
    assert!(said.contains(".env cannot be read") && said.contains("line 2: the value of OBSCTL_API_TOKEN"), "{said}");
}

/// Runbook steps are checked against their tools before start (issue 27, finding 4): a restart
/// of a service obsctl does not supervise, a cleanup outside `fs.allowed_roots` and a misspelt
/// argument were all "ok" until they ran.
#[test]
fn config_check_and_serve_refuse_runbook_steps_that_could_never_run() {
    let dir = tempfile::tempdir().unwrap();
    let scratch = dir.path().join("scratch");
    std::fs::create_dir_all(&scratch).unwrap();
    let config = format!(
        "[fs]\nallowed_roots = [\"{s}\"]\n[[service]]\nname = \"api\"\n\
         [[runbook]]\nname = \"ghost\"\nwhen = {{ service = \"api\" }}\nsteps = [{{ tool = \"process.restart\", args = {{ service = \"nobody\" }} }}]\n\
         [[runbook]]\nname = \"etc\"\nwhen = {{ service = \"api\" }}\nsteps = [{{ tool = \"fs.cleanup\", args = {{ root = \"/etc\" }} }}]\n\
         [[runbook]]\nname = \"typo\"\nwhen = {{ service = \"api\" }}\nsteps = [{{ tool = \"fs.cleanup\", args = {{ rooot = \"{s}\" }} }}]\n\
         [[runbook]]\nname = \"fine\"\nwhen = {{ service = \"api\" }}\nsteps = [{{ tool = \"fs.cleanup\", args = {{ root = \"{s}\" }} }}]\n",
        s = scratch.display()
    );
    let path = dir.path().join("obsctl.toml");
    std::fs::write(&path, config).unwrap();
    let out = obsctl().args(["config", "check"]).arg(&path).output().unwrap();
    let said = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{said}");
    assert!(said.contains("config has 3 problems"), "{said}");
    assert!(said.contains("runbook[0] \"ghost\" step 1 (process.restart)") && said.contains("\"nobody\""), "{said}");
    assert!(said.contains("runbook[1] \"etc\"") && said.contains("outside the allowed roots"), "{said}");
    assert!(said.contains("runbook[2] \"typo\"") && said.contains("\"rooot\""), "{said}");
    assert!(!said.contains("\"fine\""), "{said}");
    let serve = obsctl()
        .arg("--config")
        .arg(&path)
        .args(["serve", "--listen", "127.0.0.1:0", "--mcp-listen", "off"])
        .output()
        .unwrap();
    assert_eq!(serve.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&serve.stderr).contains("outside the allowed roots"));
}

#[test]
fn health_prints_a_table_and_fails_when_a_check_fails() {
    let dir = tempfile::tempdir().unwrap();
    let open = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let closed = crate::support::closed_addr();
    let config = format!(
        "[[service]]\nname = \"db\"\n  [[service.check]]\n  name = \"up\"\n  kind = \"tcp\"\n  address = \"{}\"\n  [[service.check]]\n  name = \"down\"\n  kind = \"tcp\"\n  address = \"{closed}\"\n",
        open.local_addr().unwrap()
    );
    let path = dir.path().join("obsctl.toml");
    std::fs::write(&path, &config).unwrap();
    let out = obsctl().arg("--config").arg(&path).arg("health").output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    // The table says it; the log only warns (issue 27: INFO lines on stderr).
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(!said.contains("INFO"), "{said}");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.lines().next().unwrap().starts_with("CHECK"), "{text}");
    assert!(
        text.contains("db/up")
            && text.contains("db/down")
            && text.contains("FAIL")
            && text.contains("2 checks, 1 failing"),
        "{text}"
    );

    let json = obsctl().arg("--config").arg(&path).args(["health", "--json"]).output().unwrap();
    let body: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!((body["ok"].as_bool(), body["failed"].as_u64()), (Some(false), Some(1)));
    assert!(!dir.path().join("data").exists(), "health must not create a store");
}

#[test]
fn with_no_config_health_watches_the_host() {
    let dir = tempfile::tempdir().unwrap();
    let out = obsctl().current_dir(dir.path()).env_remove("OBSCTL_CONFIG").args(["health", "--json"]).output().unwrap();
    let body: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let checks: Vec<&str> = body["checks"].as_array().unwrap().iter().map(|c| c["check"].as_str().unwrap()).collect();
    assert!(
        checks.contains(&"host/memory") && checks.contains(&"host/load") && checks.contains(&"host/obsctl"),
        "{checks:?}"
    );
    assert!(checks.iter().any(|c| c.starts_with("host/disk-")), "{checks:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("obsctl init"));
}

/// Issue 28, first impressions: `health` ended with "1 checks, 0 failing".
#[test]
fn health_counts_in_words() {
    let dir = tempfile::tempdir().unwrap();
    let config = "[[service]]\nname = \"box\"\n  [[service.check]]\n  name = \"load\"\n  kind = \"load\"\n  max_per_core = 1000.0\n";
    std::fs::write(dir.path().join("obsctl.toml"), config).unwrap();
    let out = obsctl().current_dir(dir.path()).env_remove("OBSCTL_CONFIG").arg("health").output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success() && text.trim_end().ends_with("1 check, 0 failing"), "{text}");
}

#[test]
fn periodic_check_dry_run_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let scratch = dir.path().join("scratch");
    std::fs::create_dir_all(&scratch).unwrap();
    std::fs::write(scratch.join("big.tmp"), vec![0u8; 50_000]).unwrap();
    let config = format!(
        "[fs]\nallowed_roots = [\"{s}\"]\n[[service]]\nname = \"box\"\nprocess = {{ run = [\"sh\", \"-c\", \"echo started >> {s}/../started; sleep 5\"] }}\n  [[service.check]]\n  name = \"scratch\"\n  kind = \"disk\"\n  path = \"{s}\"\n  max_size = \"10KB\"\n[[runbook]]\nname = \"clean\"\nwhen = {{ incident = \"disk-full\" }}\nsteps = [{{ tool = \"fs.cleanup\", args = {{ root = \"{s}\" }} }}]\nmode = \"auto\"\n",
        s = scratch.display()
    );
    std::fs::write(dir.path().join("obsctl.toml"), config).unwrap();
    let out = obsctl()
        .arg("--config")
        .arg(dir.path().join("obsctl.toml"))
        .args(["agent", "periodic-check", "--issue", "disk-full", "--dry-run"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("nothing executed, nothing kept")
            && text.contains("fs.cleanup")
            && text.contains("[dry_run]")
            && text.contains("big.tmp"),
        "{text}"
    );
    assert!(scratch.join("big.tmp").exists());
    // Nothing else changed either (issue 27, finding 7): no supervised service was started, and
    // the store holds no observation, incident or action of the dry run.
    assert!(!dir.path().join("started").exists(), "a dry run started the supervised service");
    assert!(!dir.path().join("data/obsctl.db").exists(), "a dry run made the store");
    let real = obsctl()
        .arg("--config")
        .arg(dir.path().join("obsctl.toml"))
        .args(["agent", "periodic-check"])
        .output()
        .unwrap();
    assert!(real.status.success(), "{}", String::from_utf8_lossy(&real.stdout));
    assert!(!scratch.join("big.tmp").exists());

    // The fix was remembered: the ledger, recall and a rebuilt index all see it.
    let cfg = dir.path().join("obsctl.toml");
    let run = |args: &[&str]| {
        let out = obsctl().arg("--config").arg(&cfg).args(args).output().unwrap();
        assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let stats = run(&["memory", "stats"]);
    assert!(stats.contains("disk-full@box") && stats.contains("fs.cleanup") && stats.contains("1/1"), "{stats}");
    let found = run(&["memory", "search", "scratch folder too big"]);
    assert!(found.lines().nth(1).is_some_and(|l| l.starts_with("ep-inc-")), "{found}");
    assert!(run(&["memory", "reindex"]).starts_with("reindexed 1 episodes"));
    assert!(run(&["memory", "search", "scratch", "--kind", "http-down"]).lines().count() == 1, "strict filter");
    let history = run(&["graph", "history", "box"]);
    assert!(
        history
            .lines()
            .nth(1)
            .is_some_and(|l| l.contains("disk-full") && l.contains("fs.cleanup") && l.contains("fixed")),
        "{history}"
    );

    // A dry run over a store with history sees that history (the runbook cooled down after the
    // fix a moment ago), and keeps nothing.
    std::fs::write(scratch.join("big.tmp"), vec![0u8; 50_000]).unwrap();
    let before = run(&["incidents", "list", "--json"]);
    let dry = obsctl().arg("--config").arg(&cfg).args(["agent", "periodic-check", "--dry-run"]).output().unwrap();
    let said = String::from_utf8_lossy(&dry.stdout);
    assert!(said.contains("fs.cleanup") && said.contains("cooling down"), "{said}");
    assert_eq!(run(&["incidents", "list", "--json"]), before, "a dry run left an incident in the store");
    assert!(scratch.join("big.tmp").exists());
}

#[test]
fn demo_closes_both_loops() {
    let out = obsctl().arg("demo").output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(text.contains("both loops closed"), "{text}");
    // The story alone: no log line in between (they come with -v).
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(!said.contains(" WARN ") && !said.contains(" INFO "), "{said}");
    assert!(
        text.contains("fixed by restart a stuck api: process.restart")
            && text.contains("fixed by clear api scratch space"),
        "{text}"
    );
}

/// Found trying it: `demo --keep-running` closed both loops, printed the token, then stopped
/// with "another obsctl serve runs on the SQLite store": serving started the runtime a second
/// time beside the demo's own.
#[tokio::test]
async fn demo_keep_running_serves_the_dashboard_and_api_until_stopped() {
    use tokio::io::AsyncBufReadExt;
    let port = crate::support::free_port();
    let mut demo = tokio::process::Command::new(env!("CARGO_BIN_EXE_obsctl"))
        .args(["demo", "--keep-running", "--listen", &format!("127.0.0.1:{port}")])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = tokio::io::BufReader::new(demo.stdout.take().unwrap()).lines();
    let mut said = String::new();
    while let Some(line) = lines.next_line().await.unwrap() {
        said.push_str(&line);
        said.push('\n');
        if line.contains("press Ctrl-C to stop") {
            break;
        }
    }
    assert!(said.contains("both loops closed"), "{said}");
    let token = said.split("with the token ").nth(1).and_then(|t| t.lines().next()).expect("the token").to_string();
    let status = format!("http://127.0.0.1:{port}/api/status");
    let http = obsctl_host::http_client().build().unwrap();
    let answer = http.get(&status).bearer_auth(&token).send().await.unwrap();
    assert_eq!(answer.status(), 200, "the API serves with the printed token");
    assert!(answer.text().await.unwrap().contains(r#""services":1"#));
    assert_eq!(http.get(&status).send().await.unwrap().status(), 401, "and only with it");
    let login = http.get(format!("http://127.0.0.1:{port}/ui/login")).send().await.unwrap();
    assert_eq!(login.status(), 200, "the dashboard serves its login");
    assert!(demo.try_wait().unwrap().is_none(), "still running");
    let pid = demo.id().unwrap().to_string();
    assert!(std::process::Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    let code = demo.wait().await.unwrap();
    assert_eq!(code.code(), Some(0), "a signal stops it cleanly");
}

#[test]
fn graph_commands_read_the_bolt_mirror_and_fall_back_when_it_is_gone() {
    let bolt = std::env::var("OBSCTL_TEST_BOLT_ADDR").expect(
        "OBSCTL_TEST_BOLT_ADDR is not set: run scripts/test, which starts FalkorDB with Bolt on 127.0.0.1:17687",
    );
    let unique = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    let service = format!("box{unique}");
    let dir = tempfile::tempdir().unwrap();
    let scratch = dir.path().join("scratch");
    std::fs::create_dir_all(&scratch).unwrap();
    std::fs::write(scratch.join("big.tmp"), vec![0u8; 50_000]).unwrap();
    let base = format!(
        "[fs]\nallowed_roots = [\"{s}\"]\n[store]\nurl = \"sqlite://{db}\"\n[[service]]\nname = \"{service}\"\n  [[service.check]]\n  name = \"scratch\"\n  kind = \"disk\"\n  path = \"{s}\"\n  max_size = \"10KB\"\n[[runbook]]\nname = \"clean\"\nwhen = {{ incident = \"disk-full\" }}\nsteps = [{{ tool = \"fs.cleanup\", args = {{ root = \"{s}\" }} }}]\nmode = \"auto\"\n",
        s = scratch.display(),
        db = dir.path().join("obsctl.db").display(),
    );
    let up = dir.path().join("up.toml");
    std::fs::write(&up, format!("{base}[graph]\nurl = \"bolt://{bolt}/cli{unique}\"\n")).unwrap();
    let closed = crate::support::closed_addr();
    let down = dir.path().join("down.toml");
    std::fs::write(&down, format!("{base}[graph]\nurl = \"bolt://{closed}\"\ntimeout = \"1s\"\n")).unwrap();
    let run = |cfg: &std::path::Path, args: &[&str]| obsctl().arg("--config").arg(cfg).args(args).output().unwrap();

    let fixed = run(&up, &["agent", "periodic-check"]);
    assert!(fixed.status.success(), "{}", String::from_utf8_lossy(&fixed.stderr));
    let synced = run(&up, &["graph", "sync", "--json"]);
    assert!(synced.status.success(), "{}", String::from_utf8_lossy(&synced.stderr));
    let body: serde_json::Value = serde_json::from_slice(&synced.stdout).unwrap();
    assert_eq!(body["status"]["serving"], true, "{body}");
    let history = run(&up, &["graph", "history", &service]);
    let text = String::from_utf8_lossy(&history.stdout);
    assert!(text.lines().nth(1).is_some_and(|l| l.contains("fs.cleanup") && l.contains("fixed")), "{text}");
    assert!(history.stderr.is_empty(), "{}", String::from_utf8_lossy(&history.stderr));

    // The server is gone: the same answer from the embedded graph, with a warning; sync fails.
    let fallback = run(&down, &["graph", "history", &service]);
    assert!(fallback.status.success());
    assert_eq!(String::from_utf8_lossy(&fallback.stdout), text);
    assert!(String::from_utf8_lossy(&fallback.stderr).contains("answering from the embedded graph"));
    let failed = run(&down, &["graph", "sync"]);
    assert_eq!(failed.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&failed.stderr).contains("unreachable"));
}

#[test]
fn serve_refuses_a_public_address_without_credentials() {
    let dir = tempfile::tempdir().unwrap();
    let out = obsctl()
        .current_dir(dir.path())
        .env_remove("OBSCTL_CONFIG")
        .env_remove("OBSCTL_API_TOKEN")
        .args(["serve", "--listen", "0.0.0.0:0"])
        .output()
        .unwrap();
    assert_ne!(out.status.code(), Some(0));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("refusing to listen on 0.0.0.0:0 without credentials") && err.contains("OBSCTL_API_TOKEN"),
        "{err}"
    );
}

/// The MCP gateway lets clients act: it opens only with a token, on loopback too (issue 26,
/// finding 1: an anonymous client deleted files through it in `auto`). Without one, `serve`
/// runs on, says in one line how to open it, and nothing listens on the gateway's port.
#[test]
fn serve_opens_the_mcp_gateway_only_with_a_token() {
    let dir = tempfile::tempdir().unwrap();
    let port = crate::support::closed_addr().port();
    let gateway = format!("127.0.0.1:{port}");
    // Runs serve until a line containing `until` and returns what it logged by then.
    let serve_until = |token: Option<&str>, until: &str| {
        let mut cmd = obsctl();
        cmd.current_dir(dir.path())
            .env_remove("OBSCTL_CONFIG")
            .env_remove("OBSCTL_API_TOKEN")
            .env_remove("OBSCTL_MCP_TOKEN")
            .args(["serve", "--listen", "127.0.0.1:0", "--mcp-listen", &gateway])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped());
        if let Some(t) = token {
            cmd.env("OBSCTL_MCP_TOKEN", t);
        }
        let mut running = cmd.spawn().unwrap();
        let mut stderr = std::io::BufReader::new(running.stderr.take().unwrap());
        let (mut line, mut saw) = (String::new(), String::new());
        while std::io::BufRead::read_line(&mut stderr, &mut line).unwrap() > 0 {
            saw.push_str(&line);
            if line.contains(until) {
                break;
            }
            line.clear();
        }
        let listening = std::net::TcpStream::connect(&gateway).is_ok();
        let _ = running.kill();
        let _ = running.wait();
        (saw, listening)
    };
    let (saw, listening) = serve_until(None, "obsctl serving");
    assert!(saw.contains("MCP gateway off") && saw.contains("OBSCTL_MCP_TOKEN"), "{saw}");
    assert!(!saw.contains("MCP gateway serving") && !listening, "{saw}");
    let (saw, listening) = serve_until(Some("mcp-token-0123456789"), "obsctl serving");
    assert!(saw.contains("MCP gateway serving") && saw.contains("/mcp") && listening, "{saw}");
}

#[test]
fn dashboard_hash_password_makes_a_hash_the_config_accepts_and_dashboard_prints_the_url() {
    use std::io::Write;
    let mut child = obsctl()
        .args(["dashboard", "hash-password"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"correct horse\n").unwrap();
    let out = child.wait_with_output().unwrap();
    let hash = String::from_utf8(out.stdout).unwrap().trim().to_string();
    assert!(hash.starts_with("$argon2id$"), "{hash}");
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("obsctl.toml");
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    std::fs::write(
        &cfg,
        format!("[server]\nlisten = \"{addr}\"\n[[dashboard.user]]\nname = \"ops\"\nrole = \"operator\"\npassword_hash = \"{hash}\"\n"),
    )
    .unwrap();
    let check = obsctl().args(["config", "check"]).arg(&cfg).output().unwrap();
    assert!(check.status.success(), "{}", String::from_utf8_lossy(&check.stderr));

    // Nothing runs yet: a clear message and exit 1.
    let none = obsctl().arg("--config").arg(&cfg).args(["dashboard", "--print"]).output().unwrap();
    assert_eq!(none.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&none.stderr).contains("obsctl serve"));
    // With `serve` up, it prints the dashboard's address (no browser here).
    let mut serve = obsctl()
        .arg("--config")
        .arg(&cfg)
        .args(["serve", "--mcp-listen", "127.0.0.1:0"])
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let url = format!("http://{addr}/ui");
    let mut printed = String::new();
    for _ in 0..200 {
        let out = obsctl().arg("--config").arg(&cfg).args(["dashboard", "--print"]).output().unwrap();
        printed = String::from_utf8_lossy(&out.stdout).trim().to_string();
        if out.status.success() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let _ = serve.kill();
    let _ = serve.wait();
    assert_eq!(printed, url);
}

/// SQLite serves one replica: a second `serve` on the same file is refused with what to do.
#[tokio::test]
async fn a_second_serve_on_one_sqlite_file_is_refused() {
    use crate::support::{config_file, eventually, free_port, head, obsctl_in, printed, serve_in};
    let dir = tempfile::tempdir().unwrap();
    config_file(&head("observe"), "http://127.0.0.1:9", dir.path());
    let port = free_port();
    let _first = serve_in(dir.path(), port);
    let http = obsctl_host::http_client().build().unwrap();
    eventually(30, "the first serve to answer", || async {
        http.get(format!("http://127.0.0.1:{port}/api/status")).send().await.ok().filter(|r| r.status() == 200)
    })
    .await;
    let second = obsctl_in(dir.path())
        .args(["serve", "--listen", &format!("127.0.0.1:{}", free_port()), "--mcp-listen", "off"])
        .output()
        .unwrap();
    let said = printed(&second);
    assert_eq!(second.status.code(), Some(2), "{said}");
    assert!(said.contains("runs on the SQLite store") && said.contains("move the store to Postgres"), "{said}");
}

#[test]
fn version_names_the_commit_it_was_built_from() {
    let out = obsctl().args(["version", "--json"]).output().unwrap();
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let head = Command::new("git").args(["rev-parse", "--short=12", "HEAD"]).output().unwrap();
    let head = String::from_utf8_lossy(&head.stdout).trim().to_string();
    assert!(v["commit"].as_str().unwrap().starts_with(&head), "{v} vs {head}");
    assert_eq!(v["version"], env!("CARGO_PKG_VERSION"));
    let long = obsctl().arg("--version").output().unwrap();
    assert!(String::from_utf8_lossy(&long.stdout).contains(&format!("(commit {head}")));
}

#[test]
fn completions_are_valid_scripts_for_each_shell() {
    for (shell, marker) in [("bash", "_obsctl()"), ("zsh", "#compdef obsctl"), ("fish", "complete -c obsctl")] {
        let out = obsctl().args(["completions", shell]).output().unwrap();
        assert!(out.status.success(), "{shell}");
        let script = String::from_utf8(out.stdout).unwrap();
        assert!(script.contains(marker) && script.contains("memory") && script.contains("restore"), "{shell}");
        if shell == "bash" {
            let dir = tempfile::tempdir().unwrap();
            let file = dir.path().join("obsctl.bash");
            std::fs::write(&file, &script).unwrap();
            let check = Command::new("bash").arg("-n").arg(&file).output().unwrap();
            assert!(check.status.success(), "{}", String::from_utf8_lossy(&check.stderr));
        }
    }
    let bad = obsctl().args(["completions", "tcsh"]).output().unwrap();
    assert_eq!(bad.status.code(), Some(2));
}

/// The systemd unit is valid for systemd (every key known, the binary found) and hardened:
/// systemd's own exposure score stays under 2 ("OK").
#[test]
fn the_systemd_unit_is_valid_and_hardened() {
    let unit =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../deploy/systemd/obsctl.service")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("obsctl.service");
    std::fs::write(&file, unit.replace("/usr/local/bin/obsctl", env!("CARGO_BIN_EXE_obsctl"))).unwrap();
    let verify =
        Command::new("systemd-analyze").arg("verify").arg(&file).output().expect("systemd-analyze (Debian: systemd)");
    let said = format!("{}{}", String::from_utf8_lossy(&verify.stdout), String::from_utf8_lossy(&verify.stderr));
    assert!(verify.status.success() && said.trim().is_empty(), "{said}");
    let security = Command::new("systemd-analyze").args(["security", "--offline=yes"]).arg(&file).output().unwrap();
    let report = String::from_utf8_lossy(&security.stdout);
    let level: f64 = report
        .lines()
        .find_map(|l| l.split("Overall exposure level for obsctl.service: ").nth(1))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no exposure level in\n{report}"));
    assert!(level < 2.0, "exposure {level}\n{report}");
    // The variables it sets are ones obsctl reads.
    for var in ["OBSCTL_CONFIG", "OBSCTL_STORE_URL"] {
        assert!(unit.contains(&format!("Environment={var}=")), "{var}");
    }
    let with_env = obsctl()
        .args(["config", "check"])
        .env("OBSCTL_STORE_URL", format!("sqlite://{}/x.db", dir.path().display()))
        .env("OBSCTL_CONFIG", dir.path().join("none.toml"))
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&with_env.stderr).contains("none.toml"), "OBSCTL_CONFIG names the file");
}

/// Issue 14: every command says what it is for in `obsctl --help`.
#[test]
fn every_command_is_described_in_the_help() {
    let out = obsctl().arg("--help").output().unwrap();
    let help = String::from_utf8_lossy(&out.stdout).to_string();
    let commands = help.split("Commands:").nth(1).unwrap().split("Options:").next().unwrap();
    for line in commands.lines().filter(|l| !l.trim().is_empty()) {
        assert!(line.split_whitespace().count() > 1, "no description: {line:?}\n{help}");
    }
}

/// Issue 15: `telemetry check` on an app's .env, as in CI: a good file passes (exit 0), a
/// misconfigured one fails with the rules' codes (exit 1, also as JSON), an unreadable one says
/// which line (exit 2), and secrets are never printed.
#[test]
fn telemetry_check_lints_an_apps_settings_with_stable_codes_and_exit_codes() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.env");
    std::fs::write(
        &good,
        "SERVICE_NAME=shop\nOTEL_SERVICE_NAME=shop\nOTEL_EXPORTER_OTLP_ENDPOINT=http://otel-collector:4318\nOBS_CONTROL_URL=http://obsctl:5555\nOTEL_RESOURCE_ATTRIBUTES=\"deployment.environment.name=production,service.version=1.4.2\"\nLOGFIRE_TOKEN=pylf_v1_us_0123456789abcdefghijklmn\n",
    )
    .unwrap();
    let out = obsctl().args(["telemetry", "check", "--env"]).arg(&good).env_clear().output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("shop: the telemetry settings in") && stdout.contains("pass every rule"), "{stdout}");

    let bad = dir.path().join("bad.env");
    std::fs::write(
        &bad,
        "SERVICE_NAME=shop\nOTEL_EXPORTER_OTLP_ENDPOINT=http://otel-collector:4317\nOTEL_TRACES_SAMPLER=traceidratio\nOTEL_TRACES_SAMPLER_ARG=0\nLANGSMITH_TRACING=true\nLANGSMITH_API_KEY=\"sk-live-hunter2-0123456789\"\n",
    )
    .unwrap();
    let out = obsctl().args(["telemetry", "check", "--json", "--env"]).arg(&bad).env_clear().output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let codes: Vec<&str> = report["findings"].as_array().unwrap().iter().map(|f| f["code"].as_str().unwrap()).collect();
    for code in ["TEL003", "TEL004", "TEL005", "TEL006", "TEL007"] {
        assert!(codes.contains(&code), "{code} missing: {report:#}");
    }
    assert_eq!(report["ok"], false);
    assert!(report["findings"][0]["fix"].as_str().is_some_and(|f| !f.is_empty()), "{report:#}");
    assert!(!String::from_utf8_lossy(&out.stdout).contains("hunter2"), "a secret was printed");
    let text = obsctl().args(["telemetry", "check", "--env"]).arg(&bad).env_clear().output().unwrap();
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(text.contains("TEL003 error   OTEL_EXPORTER_OTLP_ENDPOINT: port 4317 is OTLP/gRPC"), "{text}");

    let odd = dir.path().join("odd.env");
    std::fs::write(&odd, "OTEL_SERVICE_NAME=shop\nOTEL_EXPORTER_OTLP_ENDPOINT=\"http://c:4318\n").unwrap();
    let out = obsctl().args(["telemetry", "check", "--env"]).arg(&odd).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("line 2: the value of OTEL_EXPORTER_OTLP_ENDPOINT opens a \" quote that never closes"),
        "{err}"
    );

    // From the environment, as in a container; every rule is documented.
    let out = obsctl()
        .args(["telemetry", "check"])
        .env_clear()
        .env("OTEL_SERVICE_NAME", "shop")
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318")
        .env("OTEL_RESOURCE_ATTRIBUTES", "deployment.environment.name=ci")
        .env("OBS_CONTROL_URL", "http://o:5555")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stdout));
    let rules = obsctl().args(["telemetry", "rules", "--json"]).output().unwrap();
    let rules: Vec<serde_json::Value> = serde_json::from_slice(&rules.stdout).unwrap();
    assert_eq!(rules.len(), 9);
    assert!(rules.iter().all(|r| ["title", "why", "fix"].iter().all(|k| r[k].as_str().is_some_and(|s| s.len() > 10))));
}

/// Issue 15: `telemetry init` writes the app template; its `.env.example` passes the check, its
/// collector config sends every signal to the stack and to obsctl, its CI job runs the check,
/// and nothing is overwritten unless asked.
#[test]
fn telemetry_init_writes_an_app_template_that_passes_its_own_check() {
    use crate::support::printed;
    let dir = tempfile::tempdir().unwrap();
    let out = obsctl().args(["telemetry", "init", "--service", "checkout", "--dir"]).arg(dir.path()).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", printed(&out));
    let example = dir.path().join(".env.example");
    let text = std::fs::read_to_string(&example).unwrap();
    for variable in [
        "SERVICE_NAME=checkout",
        "OTEL_EXPORTER_OTLP_ENDPOINT=",
        "OBS_CONTROL_URL=",
        "LANGSMITH_API_KEY",
        "LOGFIRE_TOKEN",
    ] {
        assert!(text.contains(variable), "{variable} missing:\n{text}");
    }
    let check = obsctl().args(["telemetry", "check", "--env"]).arg(&example).env_clear().output().unwrap();
    assert_eq!(check.status.code(), Some(0), "{}", printed(&check));
    assert!(printed(&check).contains("checkout: the telemetry settings in"), "{}", printed(&check));

    let collector = std::fs::read_to_string(dir.path().join("otel-collector.yaml")).unwrap();
    let collector: serde_json::Value = serde_norway::from_str(&collector).unwrap();
    assert_eq!(collector["receivers"]["otlp"]["protocols"]["http"]["endpoint"], "127.0.0.1:4318");
    for signal in ["traces", "logs", "metrics"] {
        let exporters = &collector["service"]["pipelines"][signal]["exporters"];
        assert_eq!(exporters, &serde_json::json!(["otlphttp/stack", "otlphttp/obsctl"]), "{signal}");
    }
    let obsctl_exporter = &collector["exporters"]["otlphttp/obsctl"];
    assert_eq!(obsctl_exporter["endpoint"], "${env:OBS_CONTROL_URL}");
    assert_eq!(obsctl_exporter["headers"]["Authorization"], "Bearer ${env:OBS_CONTROL_TOKEN}");
    let ci = std::fs::read_to_string(dir.path().join(".github/workflows/telemetry.yml")).unwrap();
    let ci: serde_json::Value = serde_norway::from_str(&ci).unwrap();
    let steps = ci["jobs"]["telemetry-check"]["steps"].as_array().unwrap();
    assert!(steps.iter().any(|s| s["run"] == "obsctl telemetry check --env .env.example"), "{ci:#}");

    let again = obsctl().args(["telemetry", "init", "--dir"]).arg(dir.path()).output().unwrap();
    assert_eq!(again.status.code(), Some(2));
    assert!(
        printed(&again).contains(".env.example, otel-collector.yaml, .github/workflows/telemetry.yml already exists"),
        "{}",
        printed(&again)
    );
    let forced = obsctl().args(["telemetry", "init", "--force", "--dir"]).arg(dir.path()).output().unwrap();
    assert_eq!(forced.status.code(), Some(0));
    let named = std::fs::read_to_string(&example).unwrap();
    let folder = dir.path().file_name().unwrap().to_string_lossy();
    assert!(named.contains(&format!("OTEL_SERVICE_NAME={folder}")), "the folder's name by default:\n{named}");
}

/// The README's exit-code contract for the commands that act: 1 when a step was refused or
/// failed or its fix did not hold, 0 when it worked or waits for a person (issue 27, finding 5:
/// `approve --now` printing a failed outcome and `propose` answered "denied" both exited 0).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acting_commands_exit_1_when_the_step_was_refused_or_did_not_fix_it() {
    use obsctl_store::Store;
    use std::sync::atomic::Ordering;
    let target = crate::support::Target::start(false).await;
    let fix = format!("{{\"url\": \"{}/fix\", \"method\": \"POST\"}}", target.url);
    // (mode, fix works, tool, approve --now afterwards, expected exit of propose, of approve)
    let cases = [
        ("auto", true, "http.request", false, 0, None),
        ("auto", false, "http.request", false, 1, None),
        ("auto", true, "fs.cleanup", false, 1, None),
        ("approve", true, "http.request", false, 0, None),
        ("approve", false, "http.request", true, 0, Some(1)),
        ("approve", true, "http.request", true, 0, Some(0)),
    ];
    for (mode, works, tool, approve, propose_exit, approve_exit) in cases {
        target.set_healthy(false);
        target.state.fix_works.store(works, Ordering::SeqCst);
        let dir = tempfile::tempdir().unwrap();
        let body = format!(
            "{}allow_tools = [\"http.request\"]\n[fs]\nallowed_roots = [\"{{dir}}\"]\n{}",
            crate::support::head(mode),
            crate::support::API_CHECK
        );
        crate::support::config_file(&body, &target.url, dir.path());
        let run = |args: &[&str]| crate::support::obsctl_in(dir.path()).args(args).output().unwrap();
        assert_eq!(run(&["agent", "periodic-check"]).status.code(), Some(1), "the check fails");
        let store =
            obsctl_store::SqliteStore::open(&format!("sqlite://{}/obsctl.db", dir.path().display())).await.unwrap();
        let incident = store.list_incidents(&Default::default()).await.unwrap().remove(0);
        let args =
            if tool == "fs.cleanup" { format!("{{\"root\": \"{}\"}}", dir.path().display()) } else { fix.clone() };
        let out = run(&["actions", "propose", &incident.id, "--tool", tool, "--args", &args]);
        let case = format!("{mode}, fix works {works}, {tool}: {}", crate::support::printed(&out));
        assert_eq!(out.status.code(), Some(propose_exit), "propose: {case}");
        if approve {
            let pending = store.list_actions(&Default::default()).await.unwrap();
            let out = run(&["actions", "approve", &pending[0].id, "--now"]);
            let case = format!("{case}\napprove: {}", crate::support::printed(&out));
            assert_eq!(out.status.code(), approve_exit, "approve --now: {case}");
        }
        store.close().await;
    }
}

/// Small things a first day met (issue 27, finding 11): `completions bash | head -3` panicked
/// on the closed pipe; `silence add --kind http_down` was accepted though the kind is
/// `http-down`; `backup` said `0.0 MB` for a few KB.
#[tokio::test]
async fn first_day_details_completions_into_head_a_misspelt_kind_and_a_small_backup() {
    use std::io::BufRead;
    let mut child = obsctl()
        .args(["completions", "bash"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
    for _ in 0..3 {
        lines.next().unwrap().unwrap();
    }
    drop(lines); // what `head -3` does
    let out = child.wait_with_output().unwrap();
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(!said.contains("panicked"), "{said}");
    assert_eq!(out.status.code(), Some(0), "{said}");

    let h = crate::support::harness(&crate::support::head("approve"), "http://unused", &[]).await;
    let day = std::time::Duration::from_secs(3600);
    let typo = h.rt.agent.silence(None, Some("http_down".into()), None, day, "deploy", "ops").await.unwrap_err();
    assert!(typo.to_string().contains("did you mean \"http-down\""), "{typo}");
    assert!(h.rt.agent.silence(None, Some("http-down".into()), None, day, "deploy", "ops").await.is_ok());
    assert!(h.rt.agent.silence(None, Some("HighErrorRate".into()), None, day, "an alert", "ops").await.is_ok());

    let dir = tempfile::tempdir().unwrap();
    let cfg = crate::support::config_file(&crate::support::head("approve"), "http://unused", dir.path());
    let out = obsctl()
        .arg("--config")
        .arg(&cfg)
        .args(["backup", "--out"])
        .arg(dir.path().join("b.jsonl.gz"))
        .output()
        .unwrap();
    let said = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{said}");
    assert!(!said.contains("0.0 MB") && regex::Regex::new(r"\d+(\.\d)? KB").unwrap().is_match(&said), "{said}");
}
