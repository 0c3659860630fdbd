//! MCP-shaped tools: a name, a description, a JSON Schema for the input, annotations, an
//! optional dry-run, all in one registry that the gate, the executor and (later) the MCP
//! server share.

pub mod args_check;
pub mod command;
pub mod docker;
pub mod fs;
pub mod http;
pub mod notify;
pub mod process;

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use async_trait::async_trait;
use obsctl_config::Config;

use crate::gate::Permit;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

/// MCP tool annotations.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Annotations {
    pub read_only_hint: bool,
    pub destructive_hint: bool,
    pub idempotent_hint: bool,
    /// It reaches beyond this host and obsctl's own state (other servers, people).
    pub open_world_hint: bool,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ToolSpec {
    pub name: String,
    pub description: String,
    pub input_schema: Value,
    /// What obsctl goes by: for a builtin tool its own truth; for an imported one the
    /// operator's policy (`read` makes it read-only), never the server's word.
    pub annotations: Annotations,
    /// An imported tool's annotations as its server gave them: advice, shown beside the policy.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub claimed: Option<Annotations>,
    /// Whether `dry_run` says exactly what `call` would do.
    pub has_dry_run: bool,
}

impl ToolSpec {
    pub fn new<A: schemars::JsonSchema>(
        name: &str,
        description: &str,
        annotations: Annotations,
        has_dry_run: bool,
    ) -> Self {
        Self {
            name: name.into(),
            description: description.into(),
            input_schema: schemars::schema_for!(A).to_value(),
            annotations,
            claimed: None,
            has_dry_run,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ToolError {
    #[error("invalid arguments: {0}")]
    InvalidArgs(String),
    #[error("refused: {0}")]
    Refused(String),
    #[error("{0}")]
    Failed(String),
}

pub type ToolResult = Result<Value, ToolError>;

#[async_trait]
pub trait Tool: Send + Sync {
    fn spec(&self) -> &ToolSpec;
    /// Runs the tool. `permit` is the gate's say-so for this very call: only the gate makes
    /// one (`gate::Permit`), so nothing runs a tool around it.
    async fn call(&self, args: &Value, permit: &Permit) -> ToolResult;
    /// What `call` would do, without doing it; `None` when the tool has no dry-run.
    async fn dry_run(&self, _args: &Value) -> Option<ToolResult> {
        None
    }
    /// Whether the tool could ever take `args`, judged without looking at the world (a root
    /// outside the allowed roots, a service it does not know): what `config check` and `serve`
    /// check in every runbook step before start. The arguments' shape is checked against the
    /// schema apart (`ToolRegistry::check_step`).
    fn validate(&self, _args: &Value) -> Result<(), ToolError> {
        Ok(())
    }

    /// What a call achieved, in words for the timeline (`deleted 0 files: nothing matched`),
    /// when "succeeded" alone would overstate it; `None` says nothing more.
    fn achieved(&self, _result: &Value) -> Option<String> {
        None
    }

    /// Whether a call changed nothing (a cleanup that matched no file): such a step does not
    /// spend an action budget. Only the tool's own reading of its result says so.
    fn changed_nothing(&self, _result: &Value) -> bool {
        false
    }
}

/// The key, in a journaled step's result, that says the call changed nothing; the executor
/// sets it from `Tool::changed_nothing` alone, over anything the tool returned under it.
pub const CHANGED_NOTHING: &str = "changed_nothing";

/// Parses a tool's arguments into its typed input.
pub fn parse_args<A: DeserializeOwned>(args: &Value) -> Result<A, ToolError> {
    let value = if args.is_null() { Value::Object(Default::default()) } else { args.clone() };
    serde_json::from_value(value).map_err(|e| ToolError::InvalidArgs(e.to_string()))
}

/// Names of every builtin tool, known before a config is loaded (for config validation).
pub const BUILTIN_TOOLS: &[&str] = &[
    "fs.usage",
    "fs.cleanup",
    "http.request",
    "notify.webhook",
    "notify.ntfy",
    "process.restart",
    "command.run",
    "docker.list",
    "docker.inspect",
    "docker.logs",
    "docker.start",
    "docker.stop",
    "docker.restart",
    "docker.disk_usage",
    "docker.prune",
];

#[derive(Default)]
pub struct ToolRegistry {
    builtin: BTreeMap<String, Arc<dyn Tool>>,
    /// Tools of external MCP servers, `<server>.<tool>`: replaced as their servers connect,
    /// withdrawn while they are down.
    imported: RwLock<BTreeMap<String, Arc<dyn Tool>>>,
}

impl ToolRegistry {
    /// Every builtin tool, configured from `config`.
    pub fn builtin(
        config: &Config,
        supervisor: Arc<process::Supervisor>,
        engine: &Arc<obsctl_host::docker::Engine>,
    ) -> anyhow::Result<Self> {
        // Bounded, so one slow endpoint cannot hold a tool (and the plan behind it) for ever;
        // `http.request` sets its own per-call timeout on top.
        let http = obsctl_host::http_client()
            .redirect(reqwest::redirect::Policy::limited(3))
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(30))
            .build()?;
        let mut r = Self::default();
        r.register(Arc::new(fs::Usage::new(config.fs.allowed_roots.clone())));
        r.register(Arc::new(fs::Cleanup::new(config.fs.allowed_roots.clone())));
        r.register(Arc::new(http::Request::new(http.clone())));
        r.register(Arc::new(notify::Webhook::new(http.clone(), config.notify.webhook.clone())));
        r.register(Arc::new(notify::Ntfy::new(http, config.notify.ntfy.clone())));
        r.register(Arc::new(process::Restart::new(supervisor)));
        r.register(Arc::new(command::Run::new(config.commands.clone())));
        docker::tools(engine).into_iter().for_each(|t| r.register(t));
        Ok(r)
    }

    pub fn register(&mut self, tool: Arc<dyn Tool>) {
        self.builtin.insert(tool.spec().name.clone(), tool);
    }

    fn imported(&self) -> std::sync::RwLockReadGuard<'_, BTreeMap<String, Arc<dyn Tool>>> {
        self.imported.read().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Makes `tools` the tools of external server `server`, replacing what it had.
    pub fn import(&self, server: &str, tools: Vec<Arc<dyn Tool>>) {
        let mut imported = self.imported.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        let prefix = format!("{server}.");
        imported.retain(|name, _| !name.starts_with(&prefix));
        imported.extend(tools.into_iter().map(|t| (t.spec().name.clone(), t)));
    }

    /// Withdraws every tool of external server `server` (it is down).
    pub fn withdraw(&self, server: &str) {
        self.import(server, Vec::new());
    }

    pub fn get(&self, name: &str) -> Option<Arc<dyn Tool>> {
        self.builtin.get(name).cloned().or_else(|| self.imported().get(name).cloned())
    }

    /// Why a runbook step could never run, if so: a builtin tool it names does not exist, its
    /// arguments do not fit the tool's schema (a misspelt `rooot`), or the tool refuses them
    /// outright (`Tool::validate`). A step of an external server's tool is judged when it runs
    /// (the server's schema is known only once connected).
    pub fn check_step(&self, step: &obsctl_config::Step) -> Result<(), String> {
        let Some(tool) = self.builtin.get(&step.tool) else {
            return Ok(()); // unknown names are the loader's to refuse; imported ones come later
        };
        args_check::check_args(&tool.spec().input_schema, &step.args)?;
        tool.validate(&step.args).map_err(|e| e.to_string())
    }

    /// Every tool's spec: the builtin ones, then those imported now.
    pub fn specs(&self) -> Vec<ToolSpec> {
        let mut specs: Vec<ToolSpec> = self.builtin.values().map(|t| t.spec().clone()).collect();
        specs.extend(self.imported().values().map(|t| t.spec().clone()));
        specs
    }
}
