//! The process supervisor (services obsctl starts itself) and the `process.restart` tool, which
//! restarts a supervised service or runs the service's configured restart command.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use async_trait::async_trait;
use obsctl_config::{Config, SupervisedProcess};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::process::{Child, Command};
use tokio::sync::Mutex;

use super::{Annotations, Tool, ToolError, ToolResult, ToolSpec, parse_args};
use crate::gate::Permit;

/// How often exited children are reaped: a service that dies reads as down within this.
pub const REAP_EVERY: Duration = Duration::from_millis(500);

/// How long a restarted child must live for the restart to count as done.
const START_GRACE: Duration = Duration::from_millis(300);

/// How long a stopped service's processes have after SIGTERM before SIGKILL.
const STOP_GRACE: Duration = Duration::from_secs(5);

enum Restartable {
    Supervised(SupervisedProcess),
    Command(Vec<String>),
}

/// Starts, restarts and stops the services whose `process` obsctl owns, and reaps them: a
/// child that exits is waited for (no zombie passes for a running process), logged, and its
/// exit kept for the dry-run and the approval card. Each child leads a process group of its
/// own, stopped whole (SIGTERM, then SIGKILL), and dies with obsctl
/// (`obsctl_host::own_group_dying_with_parent`). What a child started outlives a killed obsctl;
/// each child's record (`<log_dir>/<service>.child`: its pid and stamp) lets the next obsctl
/// find and stop what is left before starting the service again.
pub struct Supervisor {
    services: HashMap<String, Restartable>,
    children: Mutex<HashMap<String, Child>>,
    /// When each supervised child was started (for "up 3 days").
    started: std::sync::Mutex<HashMap<String, std::time::SystemTime>>,
    /// How each service's last child ended (`exit status: 3`, `signal: 9 (SIGKILL)`), or why it
    /// could not start, and when.
    exits: std::sync::Mutex<HashMap<String, (String, std::time::SystemTime)>>,
    /// Each service's child as started: its pid (its process group's id) and stamp.
    groups: std::sync::Mutex<HashMap<String, (u32, String)>>,
    log_dir: Option<PathBuf>,
}

impl Supervisor {
    /// `log_dir`: where each supervised service's output goes (`<service>.log`); none discards it.
    pub fn new(config: &Config, log_dir: Option<PathBuf>) -> Self {
        let services = config
            .services
            .iter()
            .filter_map(|s| match (&s.process, &s.restart_command) {
                (Some(p), _) => Some((s.name.clone(), Restartable::Supervised(p.clone()))),
                (None, Some(c)) => Some((s.name.clone(), Restartable::Command(c.clone()))),
                (None, None) => None,
            })
            .collect();
        let (started, exits, groups) = Default::default();
        Self { services, children: Mutex::new(HashMap::new()), started, exits, groups, log_dir }
    }

    /// Starts every supervised service that is not running yet. One that cannot start (a
    /// misspelt program) is logged and left down with the reason: the others, and the
    /// monitoring of everything, go on.
    pub async fn start_all(&self) -> anyhow::Result<()> {
        for (name, r) in &self.services {
            if let Restartable::Supervised(p) = r
                && !self.children.lock().await.contains_key(name)
            {
                self.stop_leftovers(name).await;
                match self.spawn(name, p).await {
                    Ok(pid) => tracing::info!(service = %name, pid, "started supervised service"),
                    Err(error) => {
                        tracing::error!(%error, service = %name, "cannot start supervised service; it stays down");
                        self.record_exit(name, error.to_string());
                    }
                }
            }
        }
        Ok(())
    }

    fn record_exit(&self, service: &str, how: String) {
        if let Ok(mut exits) = self.exits.lock() {
            exits.insert(service.to_string(), (how, std::time::SystemTime::now()));
        }
    }

    /// How `service`'s last child ended (or why it could not start), if it did.
    pub fn last_exit(&self, service: &str) -> Option<String> {
        self.exits.lock().ok()?.get(service).map(|(how, _)| how.clone())
    }

    /// Waits for every child that has exited (a zombie otherwise), logs and keeps how it ended;
    /// returns those services and how. `run_reaper` calls it every `REAP_EVERY`.
    pub async fn reap(&self) -> Vec<(String, String)> {
        let mut ended = Vec::new();
        self.children.lock().await.retain(|name, child| match child.try_wait() {
            Ok(Some(status)) => {
                ended.push((name.clone(), status.to_string()));
                false
            }
            _ => true,
        });
        for (name, how) in &ended {
            tracing::warn!(service = %name, status = %how, "supervised service exited");
            self.record_exit(name, how.clone());
        }
        ended
    }

    async fn spawn(&self, name: &str, p: &SupervisedProcess) -> anyhow::Result<u32> {
        let Some((program, args)) = p.run.split_first() else { anyhow::bail!("service {name}: empty process.run") };
        let (out, err) = match &self.log_dir {
            Some(dir) => {
                std::fs::create_dir_all(dir)?;
                let file =
                    std::fs::OpenOptions::new().create(true).append(true).open(dir.join(format!("{name}.log")))?;
                (Stdio::from(file.try_clone()?), Stdio::from(file))
            }
            None => (Stdio::null(), Stdio::null()),
        };
        let mut cmd = Command::new(program);
        // Only what the config names (and a default PATH): never obsctl's own credentials.
        cmd.args(args)
            .env_clear()
            .env("PATH", obsctl_host::DEFAULT_PATH)
            .envs(p.env.iter().map(|(k, v)| (k, v.expose())))
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .kill_on_drop(true);
        if let Some(cwd) = &p.cwd {
            cmd.current_dir(cwd);
        }
        obsctl_host::own_group_dying_with_parent(cmd.as_std_mut());
        let child = cmd.spawn().map_err(|e| anyhow::anyhow!("service {name}: cannot start {program}: {e}"))?;
        let pid = child.id().unwrap_or(0);
        if let Some(stamp) = obsctl_host::process_stamp(pid) {
            self.keep_record(name, pid, stamp);
        }
        self.children.lock().await.insert(name.to_string(), child);
        if let Ok(mut started) = self.started.lock() {
            started.insert(name.to_string(), std::time::SystemTime::now());
        }
        Ok(pid)
    }

    pub async fn pid(&self, service: &str) -> Option<u32> {
        self.children.lock().await.get(service).and_then(Child::id)
    }

    /// What a restart would do.
    pub async fn describe_restart(&self, service: &str) -> Result<Value, ToolError> {
        match self.services.get(service) {
            Some(Restartable::Supervised(p)) => {
                // Running or not (a crashed child keeps its pid until reaped): said as such.
                self.reap().await;
                let (pid, exited) = match self.children.lock().await.get(service) {
                    Some(child) => (child.id(), None),
                    None => (None, Some(self.last_exit(service).unwrap_or_else(|| "not started".to_string()))),
                };
                let up_secs = pid.and_then(|_| {
                    let started = *self.started.lock().ok()?.get(service)?;
                    started.elapsed().ok().map(|d| d.as_secs())
                });
                Ok(json!({
                    "would": "restart supervised process", "service": service, "pid": pid, "up_secs": up_secs,
                    "exited": exited, "run": p.run,
                }))
            }
            Some(Restartable::Command(c)) => {
                Ok(json!({"would": "run restart command", "service": service, "command": c}))
            }
            None => Err(not_restartable(service)),
        }
    }

    /// Restarts a service: kill and respawn a supervised one, or run its restart command.
    pub async fn restart(&self, service: &str) -> Result<Value, ToolError> {
        match self.services.get(service) {
            Some(Restartable::Supervised(p)) => {
                let old = self.children.lock().await.remove(service);
                let old_pid = old.as_ref().and_then(Child::id);
                self.stop_group(service, old).await;
                let pid = self.spawn(service, p).await.map_err(|e| ToolError::Failed(e.to_string()))?;
                // A child that dies at once (a crash on start) is not a restart that worked.
                tokio::time::sleep(START_GRACE).await;
                if self.reap().await.iter().any(|(name, _)| name == service) {
                    let how = self.last_exit(service).unwrap_or_default();
                    return Err(ToolError::Failed(format!(
                        "started {service} as pid {pid}, but it exited at once ({how}); see its log"
                    )));
                }
                Ok(json!({"service": service, "old_pid": old_pid, "pid": pid}))
            }
            Some(Restartable::Command(c)) => {
                let out = obsctl_host::run_bounded(c, &[], Duration::from_secs(120), 4096)
                    .await
                    .map_err(|e| ToolError::Failed(format!("restart command: {e}")))?;
                if !out.status.success() {
                    return Err(ToolError::Failed(format!(
                        "restart command exited {:?}: {}",
                        out.status.code(),
                        out.stderr.trim()
                    )));
                }
                Ok(json!({"service": service, "command": c, "exit_code": 0}))
            }
            None => Err(not_restartable(service)),
        }
    }

    /// Reaps every `REAP_EVERY` until shutdown.
    pub async fn run_reaper(self: std::sync::Arc<Self>, mut shutdown: tokio::sync::watch::Receiver<bool>) {
        let mut every = tokio::time::interval(REAP_EVERY);
        loop {
            tokio::select! {
                _ = every.tick() => { self.reap().await; }
                _ = shutdown.changed() => return,
            }
        }
    }

    /// Stops every supervised service (at shutdown).
    pub async fn stop_all(&self) {
        let children: Vec<(String, Child)> = self.children.lock().await.drain().collect();
        for (name, child) in children {
            self.stop_group(&name, Some(child)).await;
            tracing::info!(service = %name, "stopped supervised service");
        }
    }

    /// Where `service`'s child record is kept across obsctl's own restarts, if anywhere.
    fn record_path(&self, service: &str) -> Option<PathBuf> {
        self.log_dir.as_ref().map(|dir| dir.join(format!("{service}.child")))
    }

    fn keep_record(&self, service: &str, pid: u32, stamp: String) {
        if let Some(path) = self.record_path(service)
            && let Err(error) = std::fs::write(&path, format!("{pid} {stamp}\n"))
        {
            tracing::warn!(%error, path = %path.display(), "cannot record the supervised child");
        }
        if let Ok(mut groups) = self.groups.lock() {
            groups.insert(service.to_string(), (pid, stamp));
        }
    }

    /// `service`'s child record: this process's, or the file an earlier obsctl left.
    fn record(&self, service: &str) -> Option<(u32, String)> {
        if let Some(kept) = self.groups.lock().ok()?.get(service) {
            return Some(kept.clone());
        }
        let text = std::fs::read_to_string(self.record_path(service)?).ok()?;
        let (pid, stamp) = text.trim().split_once(' ')?;
        Some((pid.parse().ok()?, stamp.to_string()))
    }

    fn forget_record(&self, service: &str) {
        if let Ok(mut groups) = self.groups.lock() {
            groups.remove(service);
        }
        if let Some(path) = self.record_path(service) {
            let _ = std::fs::remove_file(path);
        }
    }

    /// Stops what an earlier obsctl's child of `service` left running (that obsctl was killed:
    /// the kernel ended the child, not what the child started), saying so.
    async fn stop_leftovers(&self, service: &str) {
        let Some((pgid, stamp)) = self.record(service) else { return };
        let left = obsctl_host::group_members(pgid, &stamp);
        if !left.is_empty() {
            tracing::warn!(
                service,
                pids = ?left,
                "processes of this service from an earlier obsctl still run (it was killed); stopping them before starting the service"
            );
        }
        self.stop_group(service, None).await;
    }

    /// Stops `service`'s process group: SIGTERM, then SIGKILL to what is left after
    /// `STOP_GRACE`; waits for `child` (ours) so it is reaped. The group is found by the
    /// record, never by a bare pid.
    async fn stop_group(&self, service: &str, mut child: Option<Child>) {
        match self.record(service) {
            Some((pgid, stamp)) => {
                let running = || !obsctl_host::group_members(pgid, &stamp).is_empty();
                if running() {
                    obsctl_host::signal_group(pgid, false);
                    let deadline = tokio::time::Instant::now() + STOP_GRACE;
                    while running() && tokio::time::Instant::now() < deadline {
                        if let Some(c) = child.as_mut() {
                            let _ = c.try_wait();
                        }
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                    if running() {
                        obsctl_host::signal_group(pgid, true);
                    }
                }
            }
            None => {
                if let Some(c) = child.as_mut() {
                    let _ = c.start_kill();
                }
            }
        }
        if let Some(mut c) = child {
            let _ = tokio::time::timeout(STOP_GRACE, c.wait()).await;
        }
        self.forget_record(service);
    }
}

fn not_restartable(service: &str) -> ToolError {
    ToolError::Refused(format!("service {service:?} has neither process nor restart_command configured"))
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RestartArgs {
    /// A service with `process` or `restart_command` configured.
    pub service: String,
}

pub struct Restart {
    supervisor: std::sync::Arc<Supervisor>,
    spec: ToolSpec,
}

impl Restart {
    pub fn new(supervisor: std::sync::Arc<Supervisor>) -> Self {
        let annotations = Annotations {
            read_only_hint: false,
            destructive_hint: true,
            idempotent_hint: true,
            open_world_hint: false,
        };
        let description = "Restart a service: obsctl's own supervised process, or the service's restart_command.";
        Self { supervisor, spec: ToolSpec::new::<RestartArgs>("process.restart", description, annotations, true) }
    }
}

#[async_trait]
impl Tool for Restart {
    fn spec(&self) -> &ToolSpec {
        &self.spec
    }

    async fn call(&self, args: &Value, _permit: &Permit) -> ToolResult {
        let a: RestartArgs = parse_args(args)?;
        self.supervisor.restart(&a.service).await
    }

    fn validate(&self, args: &Value) -> Result<(), ToolError> {
        let a: RestartArgs = parse_args(args)?;
        if self.supervisor.services.contains_key(&a.service) { Ok(()) } else { Err(not_restartable(&a.service)) }
    }

    async fn dry_run(&self, args: &Value) -> Option<ToolResult> {
        Some(match parse_args::<RestartArgs>(args) {
            Ok(a) => self.supervisor.describe_restart(&a.service).await,
            Err(e) => Err(e),
        })
    }
}
