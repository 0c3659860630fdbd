//! The `docker.*` tools: list, inspect, logs, start, stop, restart, disk usage and prune, on
//! the engine the `docker` checks watch. Every one that changes something has a dry-run that
//! says exactly what it would change; prune's says how many bytes it would free.

mod mask;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use obsctl_core::check::valid_container_name;
use obsctl_host::docker::{Engine, EngineError, PruneScope, label_selected};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Annotations, Tool, ToolError, ToolResult, ToolSpec, parse_args};
use crate::gate::Permit;
pub use mask::{mask_credentials, mask_record};

/// The most log bytes one call returns.
const MAX_LOG_BYTES: usize = 64 * 1024;

fn engine_error(e: EngineError) -> ToolError {
    match e {
        EngineError::NotFound(m) => ToolError::Refused(m),
        other => ToolError::Failed(other.to_string()),
    }
}

fn container_arg(name: &str) -> Result<String, ToolError> {
    let name = name.trim_start_matches('/');
    if valid_container_name(name) {
        Ok(name.to_string())
    } else {
        Err(ToolError::InvalidArgs(format!("{name:?} is not a container name or id")))
    }
}

const READ: Annotations =
    Annotations { read_only_hint: true, destructive_hint: false, idempotent_hint: true, open_world_hint: false };

/// Every `docker.*` tool, on `engine`.
pub fn tools(engine: &Arc<Engine>) -> Vec<Arc<dyn Tool>> {
    vec![
        Arc::new(List::new(engine.clone())),
        Arc::new(Inspect::new(engine.clone())),
        Arc::new(Logs::new(engine.clone())),
        Arc::new(Lifecycle::new(engine.clone(), Action::Start)),
        Arc::new(Lifecycle::new(engine.clone(), Action::Stop)),
        Arc::new(Lifecycle::new(engine.clone(), Action::Restart)),
        Arc::new(DiskUsage::new(engine.clone())),
        Arc::new(Prune::new(engine.clone())),
    ]
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListArgs {
    /// Only containers with this label (`key` or `key=value`).
    pub label: Option<String>,
    /// Stopped containers too (the default).
    #[serde(default = "yes")]
    pub all: bool,
}

fn yes() -> bool {
    true
}

pub struct List {
    engine: Arc<Engine>,
    spec: ToolSpec,
}

impl List {
    fn new(engine: Arc<Engine>) -> Self {
        let spec = ToolSpec::new::<ListArgs>(
            "docker.list",
            "List containers: name, image, state, health, status.",
            READ,
            false,
        );
        Self { engine, spec }
    }
}

/// The most containers one list returns.
const MAX_LISTED: usize = 500;

#[async_trait]
impl Tool for List {
    fn spec(&self) -> &ToolSpec {
        &self.spec
    }

    async fn call(&self, args: &Value, _permit: &Permit) -> ToolResult {
        let a: ListArgs = parse_args(args)?;
        let list = self.engine.containers(Duration::ZERO).await.map_err(engine_error)?;
        let chosen: Vec<Value> = list
            .iter()
            .filter(|c| a.all || c.state == obsctl_host::docker::Lifecycle::Running)
            .filter(|c| a.label.as_deref().is_none_or(|l| label_selected(l, |k| c.labels.get(k).map(String::as_str))))
            .map(|c| {
                json!({"name": c.name, "id": c.id.get(..12).unwrap_or(&c.id), "image": c.image,
                    "state": c.state.as_str(), "health": c.health.as_str(), "status": c.status})
            })
            .collect();
        let total = chosen.len();
        Ok(
            json!({"containers": chosen.into_iter().take(MAX_LISTED).collect::<Vec<_>>(), "total": total, "truncated": total > MAX_LISTED}),
        )
    }
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ContainerArgs {
    /// A container's name or id.
    pub container: String,
}

pub struct Inspect {
    engine: Arc<Engine>,
    spec: ToolSpec,
}

impl Inspect {
    fn new(engine: Arc<Engine>) -> Self {
        let description = "A container's full record from the engine, with credentials masked: environment \
             values, log driver options, sensitive labels, and credential-shaped parts of its command line and \
             health check.";
        Self { engine, spec: ToolSpec::new::<ContainerArgs>("docker.inspect", description, READ, false) }
    }
}

#[async_trait]
impl Tool for Inspect {
    fn spec(&self) -> &ToolSpec {
        &self.spec
    }

    async fn call(&self, args: &Value, _permit: &Permit) -> ToolResult {
        let a: ContainerArgs = parse_args(args)?;
        let mut record = self.engine.inspect(&container_arg(&a.container)?).await.map_err(engine_error)?;
        mask_record(&mut record);
        Ok(record)
    }
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LogsArgs {
    /// A container's name or id.
    pub container: String,
    /// How many of the last lines (1 to 2000; 100 when not given).
    pub tail: Option<usize>,
}

pub struct Logs {
    engine: Arc<Engine>,
    spec: ToolSpec,
}

impl Logs {
    fn new(engine: Arc<Engine>) -> Self {
        let description =
            "A container's last log lines (at most 2000 lines and 64 KiB), with credentials it printed masked.";
        Self { engine, spec: ToolSpec::new::<LogsArgs>("docker.logs", description, READ, false) }
    }
}

#[async_trait]
impl Tool for Logs {
    fn spec(&self) -> &ToolSpec {
        &self.spec
    }

    async fn call(&self, args: &Value, _permit: &Permit) -> ToolResult {
        let a: LogsArgs = parse_args(args)?;
        let name = container_arg(&a.container)?;
        let tail = a.tail.unwrap_or(100);
        if !(1..=obsctl_host::docker::MAX_LOG_TAIL).contains(&tail) {
            return Err(ToolError::InvalidArgs(format!("tail {tail} is out of range; ask for 1 to 2000 lines")));
        }
        let logs = self.engine.logs(&name, tail, MAX_LOG_BYTES).await.map_err(engine_error)?;
        let lines: Vec<String> = logs.lines.iter().map(|l| mask_credentials(l)).collect();
        Ok(json!({"container": name, "lines": lines, "truncated": logs.truncated}))
    }
}

#[derive(Debug, Clone, Copy)]
enum Action {
    Start,
    Stop,
    Restart,
}

impl Action {
    fn verb(self) -> &'static str {
        match self {
            Action::Start => "start",
            Action::Stop => "stop",
            Action::Restart => "restart",
        }
    }
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LifecycleArgs {
    /// A container's name or id.
    pub container: String,
    /// Seconds to wait for a clean stop before killing (stop and restart; 10 when not given, at most 120).
    pub timeout_seconds: Option<u64>,
}

impl LifecycleArgs {
    fn grace(&self) -> Result<Duration, ToolError> {
        match self.timeout_seconds.unwrap_or(10) {
            s @ 0..=120 => Ok(Duration::from_secs(s)),
            s => Err(ToolError::InvalidArgs(format!("timeout_seconds {s} is over 120"))),
        }
    }
}

/// `docker.start`, `docker.stop` and `docker.restart`.
pub struct Lifecycle {
    engine: Arc<Engine>,
    action: Action,
    spec: ToolSpec,
}

impl Lifecycle {
    fn new(engine: Arc<Engine>, action: Action) -> Self {
        let (name, description, destructive) = match action {
            Action::Start => ("docker.start", "Start a stopped container.", false),
            Action::Stop => ("docker.stop", "Stop a container (SIGTERM, then SIGKILL after the timeout).", true),
            Action::Restart => ("docker.restart", "Restart a container (stop within the timeout, then start).", true),
        };
        let annotations = Annotations {
            read_only_hint: false,
            destructive_hint: destructive,
            idempotent_hint: true,
            open_world_hint: false,
        };
        Self { engine, action, spec: ToolSpec::new::<LifecycleArgs>(name, description, annotations, true) }
    }

    /// The container as the engine sees it now.
    async fn current(&self, name: &str) -> Result<obsctl_host::docker::ContainerInfo, ToolError> {
        let list = self.engine.containers(Duration::ZERO).await.map_err(engine_error)?;
        // As the engine resolves it: a name first, then an id prefix.
        list.iter()
            .find(|c| c.name == name)
            .or_else(|| list.iter().find(|c| c.id.starts_with(name)))
            .cloned()
            .ok_or_else(|| ToolError::Refused(format!("no container {name:?} on the engine")))
    }
}

#[async_trait]
impl Tool for Lifecycle {
    fn spec(&self) -> &ToolSpec {
        &self.spec
    }

    async fn call(&self, args: &Value, _permit: &Permit) -> ToolResult {
        let a: LifecycleArgs = parse_args(args)?;
        let (name, grace) = (container_arg(&a.container)?, a.grace()?);
        let before = self.current(&name).await?;
        match self.action {
            Action::Start => self.engine.start(&name).await,
            Action::Stop => self.engine.stop(&name, grace).await,
            Action::Restart => self.engine.restart(&name, grace).await,
        }
        .map_err(engine_error)?;
        let after = self.current(&name).await?;
        Ok(json!({"container": name, "action": self.action.verb(),
            "before": {"state": before.state.as_str(), "status": before.status},
            "after": {"state": after.state.as_str(), "status": after.status}}))
    }

    async fn dry_run(&self, args: &Value) -> Option<ToolResult> {
        let a = match parse_args::<LifecycleArgs>(args) {
            Ok(a) => a,
            Err(e) => return Some(Err(e)),
        };
        let checked = container_arg(&a.container).and_then(|name| Ok((name, a.grace()?)));
        let (name, grace) = match checked {
            Ok(v) => v,
            Err(e) => return Some(Err(e)),
        };
        Some(self.current(&name).await.map(|c| {
            json!({"would": self.action.verb(), "container": c.name, "id": c.id.get(..12).unwrap_or(&c.id),
                "state": c.state.as_str(), "status": c.status, "stop_timeout_seconds": grace.as_secs()})
        }))
    }
}

pub struct DiskUsage {
    engine: Arc<Engine>,
    spec: ToolSpec,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NoArgs {}

impl DiskUsage {
    fn new(engine: Arc<Engine>) -> Self {
        let description =
            "What the engine's images, containers, volumes and build cache take on disk, and what a prune would free.";
        Self { engine, spec: ToolSpec::new::<NoArgs>("docker.disk_usage", description, READ, false) }
    }
}

#[async_trait]
impl Tool for DiskUsage {
    fn spec(&self) -> &ToolSpec {
        &self.spec
    }

    async fn call(&self, args: &Value, _permit: &Permit) -> ToolResult {
        parse_args::<NoArgs>(args)?;
        let usage = self.engine.disk_usage().await.map_err(engine_error)?;
        let mut value = serde_json::to_value(&usage).map_err(|e| ToolError::Failed(e.to_string()))?;
        value["total_bytes"] = json!(usage.total_bytes());
        Ok(value)
    }
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PruneArgs {
    /// Stopped containers (default true).
    #[serde(default = "yes")]
    pub containers: bool,
    /// Untagged images no remaining container uses (default true).
    #[serde(default = "yes")]
    pub images: bool,
    /// Unused build cache (default true).
    #[serde(default = "yes")]
    pub build_cache: bool,
    /// Volumes no container mounts: data may be lost. Never by default.
    #[serde(default)]
    pub volumes: bool,
    /// Only what carries this label (`key` or `key=value`); build cache has none, so it is left.
    pub label: Option<String>,
}

impl PruneArgs {
    fn scope(self) -> PruneScope {
        PruneScope {
            containers: self.containers,
            images: self.images,
            build_cache: self.build_cache,
            volumes: self.volumes,
            label: self.label,
        }
    }
}

pub struct Prune {
    engine: Arc<Engine>,
    spec: ToolSpec,
}

impl Prune {
    fn new(engine: Arc<Engine>) -> Self {
        let description = "Free the engine's disk: stopped containers, dangling images and unused build cache; unused volumes only when volumes = true. The dry-run lists each item and the bytes it frees.";
        let annotations = Annotations {
            read_only_hint: false,
            destructive_hint: true,
            idempotent_hint: true,
            open_world_hint: false,
        };
        Self { engine, spec: ToolSpec::new::<PruneArgs>("docker.prune", description, annotations, true) }
    }
}

#[async_trait]
impl Tool for Prune {
    fn spec(&self) -> &ToolSpec {
        &self.spec
    }

    async fn call(&self, args: &Value, _permit: &Permit) -> ToolResult {
        let a: PruneArgs = parse_args(args)?;
        let report = self.engine.prune(a.scope()).await.map_err(engine_error)?;
        serde_json::to_value(report).map_err(|e| ToolError::Failed(e.to_string()))
    }

    async fn dry_run(&self, args: &Value) -> Option<ToolResult> {
        let a = match parse_args::<PruneArgs>(args) {
            Ok(a) => a,
            Err(e) => return Some(Err(e)),
        };
        Some(match self.engine.prune_plan(a.scope()).await {
            Ok(plan) => serde_json::to_value(plan).map_err(|e| ToolError::Failed(e.to_string())),
            Err(e) => Err(engine_error(e)),
        })
    }
}
