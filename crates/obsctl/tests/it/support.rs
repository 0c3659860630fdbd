//! The test harness: a controllable HTTP target on loopback, and a runtime built from a config.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use obsctl::runtime::Runtime;
use obsctl_config::{LoadOptions, load};
use obsctl_core::incident::{Incident, IncidentStatus};
use obsctl_core::policy::Mode;
use obsctl_store::IncidentFilter;

/// What the target saw and how it behaves.
#[derive(Default)]
pub struct TargetState {
    pub healthy: AtomicBool,
    /// Whether POST /fix makes it healthy.
    pub fix_works: AtomicBool,
    pub fixes: AtomicUsize,
    /// (path, headers as "name: value" lines, body) of every notification received.
    pub notes: Mutex<Vec<(String, String, String)>>,
    /// When each GET /health with a query arrived, by query: the target's one clock.
    pub hits: Mutex<std::collections::HashMap<String, Vec<std::time::Instant>>>,
}

/// A service on loopback: GET /health, POST /fix, POST /hook and POST /ntfy/{topic}.
pub struct Target {
    pub url: String,
    pub state: Arc<TargetState>,
}

impl Target {
    pub async fn start(healthy: bool) -> Target {
        let state = Arc::new(TargetState::default());
        state.healthy.store(healthy, Ordering::SeqCst);
        state.fix_works.store(true, Ordering::SeqCst);
        let app = axum::Router::new()
            .route("/health", axum::routing::get(health))
            .route("/fix", axum::routing::post(fix))
            .route("/hook", axum::routing::post(note))
            .route("/ntfy/{topic}", axum::routing::post(ntfy))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr: SocketAddr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Target { url: format!("http://{addr}"), state }
    }

    pub fn fixes(&self) -> usize {
        self.state.fixes.load(Ordering::SeqCst)
    }

    pub fn set_healthy(&self, healthy: bool) {
        self.state.healthy.store(healthy, Ordering::SeqCst);
    }

    /// When each `/health?<query>` arrived, by query.
    pub fn hits(&self) -> std::collections::HashMap<String, Vec<std::time::Instant>> {
        self.state.hits.lock().unwrap().clone()
    }

    pub fn notes(&self) -> Vec<(String, String, String)> {
        self.state.notes.lock().unwrap().clone()
    }
}

async fn health(State(s): State<Arc<TargetState>>, RawQuery(query): RawQuery) -> (StatusCode, &'static str) {
    if let Some(query) = query {
        s.hits.lock().unwrap().entry(query).or_default().push(std::time::Instant::now());
    }
    if s.healthy.load(Ordering::SeqCst) {
        (StatusCode::OK, "ok")
    } else {
        (StatusCode::INTERNAL_SERVER_ERROR, "broken")
    }
}

async fn fix(State(s): State<Arc<TargetState>>) -> &'static str {
    s.fixes.fetch_add(1, Ordering::SeqCst);
    if s.fix_works.load(Ordering::SeqCst) {
        s.healthy.store(true, Ordering::SeqCst);
    }
    "done"
}

fn header_lines(h: &HeaderMap) -> String {
    h.iter().map(|(k, v)| format!("{k}: {}", v.to_str().unwrap_or(""))).collect::<Vec<_>>().join("\n")
}

async fn note(State(s): State<Arc<TargetState>>, headers: HeaderMap, body: String) -> &'static str {
    s.notes.lock().unwrap().push(("/hook".into(), header_lines(&headers), body));
    "ok"
}

async fn ntfy(
    State(s): State<Arc<TargetState>>,
    Path(topic): Path<String>,
    headers: HeaderMap,
    body: String,
) -> &'static str {
    s.notes.lock().unwrap().push((format!("/ntfy/{topic}"), header_lines(&headers), body));
    "ok"
}

/// A runtime over a temp folder, built from `body` (which may use `{url}` and `{dir}`).
pub struct Harness {
    pub rt: Runtime,
    pub dir: tempfile::TempDir,
}

/// The config head every test shares: store in the temp folder, fast verification. It ends
/// inside `[agent]`, so a test may append agent keys right after it.
pub fn head(mode: &str) -> String {
    head_with_store(mode, "sqlite://{dir}/obsctl.db")
}

/// `head` with another store URL.
pub fn head_with_store(mode: &str, store: &str) -> String {
    format!(
        r#"version = 1
[store]
url = "{store}"
[memory]
index = "{{dir}}/memory-index"
[agent.verify]
attempts = 3
backoff = "10ms"
max_backoff = "20ms"
[agent]
mode = "{mode}"
"#
    )
}

/// An `api` service checked every 100 ms: observations keep being written (write load).
pub const BUSY_CHECK: &str = r#"
[[service]]
name = "api"
  [[service.check]]
  name = "health"
  kind = "http"
  url = "{url}/health"
  interval = "100ms"
  timeout = "90ms"
"#;

/// An `api` service with an HTTP health check on the target, and no runbook (for what a
/// runbook does not cover: a person's proposal, the LLM planner, MCP clients).
pub const API_CHECK: &str = r#"
[[service]]
name = "api"
  [[service.check]]
  name = "health"
  kind = "http"
  url = "{url}/health"
  fail_after = 1
"#;

/// An `api` service with an HTTP health check on the target, and a runbook that POSTs /fix.
pub const API_WITH_FIX: &str = r#"
[[service]]
name = "api"
  [[service.check]]
  name = "health"
  kind = "http"
  url = "{url}/health"
  interval = "1s"
  timeout = "1s"
  fail_after = 1
  recover_after = 1

[[runbook]]
name = "poke"
when = { incident = "http-down", service = "api" }
steps = [{ tool = "http.request", args = { url = "{url}/fix", method = "POST" } }]
cooldown = "0s"
"#;

/// `body` with `{url}` and `{dir}` filled in.
fn fill(body: &str, url: &str, dir: &std::path::Path) -> String {
    body.replace("{url}", url).replace("{dir}", &dir.display().to_string())
}

/// Writes `body` (with `{url}` and `{dir}` filled in) as `dir/obsctl.toml`, for tests that run
/// the obsctl binary; returns the file.
pub fn config_file(body: &str, url: &str, dir: &std::path::Path) -> std::path::PathBuf {
    let file = dir.join("obsctl.toml");
    std::fs::write(&file, fill(body, url, dir)).unwrap();
    file
}

/// A loopback port that was free a moment ago, for a server the test starts.
/// An address where nothing listens: port 1 (tcpmux) is served by nothing here, and unlike a
/// port freed a moment ago, no test running beside this one can take it (one did, once).
pub fn closed_addr() -> std::net::SocketAddr {
    std::net::SocketAddr::from(([127, 0, 0, 1], 1))
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Polls `probe` every 50 ms until it returns `Some`, for at most `secs` seconds.
pub async fn eventually<T, F: std::future::Future<Output = Option<T>>>(
    secs: u64,
    what: &str,
    probe: impl Fn() -> F,
) -> T {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    loop {
        if let Some(v) = probe().await {
            return v;
        }
        assert!(std::time::Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

pub async fn harness(body: &str, url: &str, env: &[(&str, &str)]) -> Harness {
    let dir = tempfile::tempdir().unwrap();
    let rt = runtime_in(body, url, dir.path(), env).await;
    Harness { rt, dir }
}

/// A runtime over `dir` (one a harness had, say: a restart with another config).
pub async fn runtime_in(body: &str, url: &str, dir: &std::path::Path, env: &[(&str, &str)]) -> Runtime {
    let text = fill(body, url, dir);
    let env = env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    let config = load(&text, &env, &LoadOptions { file: "test.toml", known_tools: obsctl_agent::tools::BUILTIN_TOOLS })
        .unwrap_or_else(|e| panic!("{e}\n{text}"));
    Runtime::build(config, Mode::Auto).await.unwrap()
}

impl Harness {
    /// Runs a check once and returns whether it passed.
    pub async fn run(&self, check_id: &str) -> bool {
        self.rt.monitor.run_check(check_id).await.expect("known check").0.ok
    }

    pub async fn open_incidents(&self) -> Vec<Incident> {
        self.rt
            .store
            .list_incidents(&IncidentFilter { status: Some(IncidentStatus::Open), ..Default::default() })
            .await
            .unwrap()
    }

    /// Every open incident, however many.
    pub async fn open_incidents_all(&self) -> Vec<Incident> {
        let filter = IncidentFilter { status: Some(IncidentStatus::Open), limit: 10_000, ..Default::default() };
        self.rt.store.list_incidents(&filter).await.unwrap()
    }

    /// Every action waiting for a person's approval.
    pub async fn pending(&self) -> Vec<obsctl_core::action::Action> {
        let filter = obsctl_store::ActionFilter {
            states: vec![obsctl_core::action::ActionState::PendingApproval],
            ..Default::default()
        };
        self.rt.store.list_actions(&filter).await.unwrap()
    }

    /// The only open incident.
    pub async fn incident(&self) -> Incident {
        let open = self.open_incidents().await;
        assert_eq!(open.len(), 1, "{open:#?}");
        open.into_iter().next().unwrap()
    }

    /// A page or API answer as a signed-in dashboard viewer gets it (status 200 asserted).
    pub async fn viewer_get(&self, uri: &str) -> String {
        use tower::ServiceExt;
        let session = self.rt.app_state().ui.sessions.create("viewer", obsctl_config::Role::Viewer);
        let req = axum::http::Request::builder()
            .uri(uri)
            .header("host", "127.0.0.1")
            .header("cookie", format!("obsctl_session={session}"))
            .body(axum::body::Body::empty())
            .unwrap();
        let resp = obsctl_server::router(self.rt.app_state()).oneshot(req).await.unwrap();
        assert_eq!(resp.status(), 200, "{uri}");
        String::from_utf8(axum::body::to_bytes(resp.into_body(), 1 << 22).await.unwrap().to_vec()).unwrap()
    }

    pub async fn event_kinds(&self, incident_id: &str) -> Vec<String> {
        self.rt.store.events(incident_id).await.unwrap().into_iter().map(|e| e.kind.as_str().to_string()).collect()
    }
}

/// The obsctl binary, quiet, on `dir/obsctl.toml`.
pub fn obsctl_in(dir: &std::path::Path) -> std::process::Command {
    let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_obsctl"));
    c.arg("--config").arg(dir.join("obsctl.toml")).arg("-q");
    c
}

/// What a command printed, stdout then stderr.
pub fn printed(out: &std::process::Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

/// `obsctl serve` on `dir/obsctl.toml` with its API on `port` (no MCP gateway), its log in
/// `dir/serve.log`.
pub fn serve_in(dir: &std::path::Path, port: u16) -> Serve {
    let log = std::fs::File::create(dir.join("serve.log")).unwrap();
    Serve(
        obsctl_in(dir)
            .args(["serve", "--listen", &format!("127.0.0.1:{port}"), "--mcp-listen", "off"])
            .stdout(std::process::Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap(),
    )
}

/// `serve_in` on a host whose clock is `skew` (libfaketime's syntax, `+90.35s`) off the real one;
/// its monotonic clock, which timers use, is left alone.
pub fn serve_skewed(dir: &std::path::Path, port: u16, skew: &str) -> Serve {
    let log = std::fs::File::create(dir.join("serve.log")).unwrap();
    Serve(
        obsctl_in(dir)
            .args(["serve", "--listen", &format!("127.0.0.1:{port}"), "--mcp-listen", "off"])
            .env("LD_PRELOAD", "/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1")
            .env("FAKETIME", skew)
            .env("FAKETIME_DONT_FAKE_MONOTONIC", "1")
            .stdout(std::process::Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap(),
    )
}

/// A child `obsctl` (usually `serve`) stopped when the test ends, however it ends: SIGTERM, so it
/// stops the processes it supervises, then SIGKILL if it is still there after 5 s.
pub struct Serve(pub std::process::Child);

impl Serve {
    /// SIGKILL now: no chance to clean up (what a crash looks like).
    pub fn kill(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = std::process::Command::new("kill").args(["-TERM", &self.0.id().to_string()]).status();
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
            while std::time::Instant::now() < deadline && matches!(self.0.try_wait(), Ok(None)) {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
        }
        self.kill();
    }
}

/// An `http-down@api` episode whose one attempt (these steps) fixed it, with its content hash.
pub fn api_episode(id: &str, steps: Vec<obsctl_core::memory::FixStep>, origin: &str) -> obsctl_core::memory::Episode {
    let mut e = obsctl_core::memory::Episode {
        id: id.into(),
        incident_id: format!("inc-{id}"),
        fingerprint: "api/health/http-down".into(),
        cluster: "http-down@api".into(),
        service: "api".into(),
        kind: "http-down".into(),
        labels: Default::default(),
        text: format!("api health failing: worker pool exhausted ({id})"),
        actions: vec![obsctl_core::memory::EpisodeAction {
            learn: true,
            action_key: obsctl_core::memory::action_key(&steps),
            steps,
            outcome: obsctl_core::action::Outcome::Fixed,
            time_to_recover_ms: Some(1000),
        }],
        outcome: obsctl_core::memory::EpisodeOutcome::Fixed,
        opened_at: obsctl_core::Timestamp(0),
        ended_at: obsctl_core::Timestamp(1000),
        time_to_recover_ms: 1000,
        content_hash: String::new(),
        origin: origin.into(),
        source: "incident".into(),
    };
    e.content_hash = e.compute_hash();
    e
}

/// A new, empty database on the test Postgres (`OBSCTL_TEST_POSTGRES_URL`); returns its URL.
pub async fn fresh_postgres() -> String {
    let url = std::env::var("OBSCTL_TEST_POSTGRES_URL").expect(
        "OBSCTL_TEST_POSTGRES_URL is not set: run scripts/test, which starts a test Postgres, or point it at one",
    );
    obsctl_store::PostgresStore::create_database(&url, "t").await.expect("create a test database")
}

/// A Postgres server of the test's own, to stop and start under running replicas (the shared
/// test server must stay up for the other tests). Stopped and removed when dropped.
pub struct OwnPostgres {
    bin: std::path::PathBuf,
    data: tempfile::TempDir,
    pub port: u16,
}

impl OwnPostgres {
    pub fn start() -> OwnPostgres {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .expect("Debian's postgresql: run scripts/test, which installs it")
            .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
            .filter(|b| b.join("postgres").exists())
            .max()
            .expect("a PostgreSQL server under /usr/lib/postgresql");
        let data = tempfile::tempdir().unwrap();
        let pg = OwnPostgres { bin, data, port: free_port() };
        if Self::root() {
            // Postgres refuses to run as root: its files belong to the postgres user.
            let uid = std::process::Command::new("id").args(["-u", "postgres"]).output().unwrap();
            let uid: u32 = String::from_utf8_lossy(&uid.stdout).trim().parse().unwrap();
            std::os::unix::fs::chown(pg.data.path(), Some(uid), None).unwrap();
        }
        let db = pg.data.path().join("db");
        pg.as_postgres("initdb", &["-D", db.to_str().unwrap(), "-A", "trust", "-U", "postgres"]);
        pg.ctl("start");
        pg
    }

    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// `pg_ctl start` or `stop` (fast: sessions are cut, as in a failover).
    pub fn ctl(&self, what: &str) {
        let (db, log) = (self.data.path().join("db"), self.data.path().join("server.log"));
        let options =
            format!("-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off", self.port, self.data.path().display());
        let mut args = vec!["-D", db.to_str().unwrap(), "-l", log.to_str().unwrap(), "-w", "-m", "fast"];
        if what == "start" {
            args.extend(["-o", &options]);
        }
        args.push(what);
        self.as_postgres("pg_ctl", &args);
    }

    fn root() -> bool {
        std::process::Command::new("id").arg("-u").output().is_ok_and(|o| o.stdout.starts_with(b"0\n"))
    }

    fn as_postgres(&self, program: &str, args: &[&str]) {
        let program = self.bin.join(program);
        let mut command = if Self::root() {
            let mut c = std::process::Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&program);
            c
        } else {
            std::process::Command::new(&program)
        };
        let out = command.args(args).current_dir(self.data.path()).output().unwrap();
        assert!(out.status.success(), "{} {args:?}: {}", program.display(), printed(&out));
    }
}

impl Drop for OwnPostgres {
    fn drop(&mut self) {
        let db = self.data.path().join("db");
        let pg_ctl = self.bin.join("pg_ctl");
        let args = ["-D", db.to_str().unwrap_or_default(), "-m", "immediate", "stop"];
        let _ = if Self::root() {
            std::process::Command::new("runuser").args(["-u", "postgres", "--"]).arg(&pg_ctl).args(args).output()
        } else {
            std::process::Command::new(&pg_ctl).args(args).output()
        };
    }
}
