//! The config file as written: serde structs that keep byte spans for precise errors.

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Spanned;

pub(crate) type S<T> = Spanned<T>;

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawConfig {
    pub version: Option<S<i64>>,
    #[serde(default)]
    pub server: RawServer,
    #[serde(default)]
    pub mcp: RawMcp,
    #[serde(default)]
    pub store: RawStore,
    #[serde(default)]
    pub memory: RawMemoryIndex,
    #[serde(default)]
    pub graph: RawGraph,
    #[serde(default)]
    pub dashboard: RawDashboard,
    #[serde(default)]
    pub agent: RawAgent,
    #[serde(default)]
    pub scheduler: RawScheduler,
    #[serde(default)]
    pub notify: RawNotify,
    #[serde(default)]
    pub fs: RawFs,
    #[serde(default)]
    pub commands: RawCommands,
    #[serde(default, rename = "service")]
    pub services: Vec<RawService>,
    #[serde(default, rename = "check")]
    pub checks: Vec<RawCheck>,
    #[serde(default, rename = "runbook")]
    pub runbooks: Vec<RawRunbook>,
    #[serde(default, rename = "mcp_server")]
    pub mcp_servers: Vec<RawMcpServer>,
    pub llm: Option<RawLlm>,
    #[serde(default)]
    pub alerts: RawAlerts,
    #[serde(default)]
    pub telemetry: RawTelemetry,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawTelemetry {
    pub receiver: Option<bool>,
    pub token: Option<S<String>>,
    pub max_body: Option<S<String>>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawAlerts {
    pub service_label: Option<S<String>>,
    #[serde(default)]
    pub kinds: BTreeMap<String, String>,
    pub max_body: Option<S<String>>,
    pub max_in_flight: Option<u32>,
    pub alertmanager: Option<RawAlertSource>,
    pub grafana: Option<RawAlertSource>,
    pub generic: Option<RawAlertSource>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawAlertSource {
    pub token: Option<S<String>>,
    pub username: Option<S<String>>,
    pub password: Option<S<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawLlm {
    pub base_url: Option<S<String>>,
    pub model: Option<S<String>>,
    pub api_key: Option<S<String>>,
    pub api: Option<S<String>>,
    pub timeout: Option<S<String>>,
    pub max_steps: Option<u32>,
    pub max_tokens: Option<u64>,
    pub max_completion_tokens: Option<u32>,
    pub max_mode: Option<S<String>>,
    #[serde(default)]
    pub redact: Vec<S<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawMcpServer {
    pub name: S<String>,
    pub command: Option<S<String>>,
    #[serde(default)]
    pub args: Vec<String>,
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    pub url: Option<S<String>>,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    pub policy: Option<S<String>>,
    #[serde(default)]
    pub tools: BTreeMap<String, S<String>>,
    pub timeout: Option<S<String>>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawServer {
    pub listen: Option<S<String>>,
    pub token: Option<S<String>>,
    #[serde(default)]
    pub allowed_hosts: Vec<String>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawMcp {
    pub listen: Option<S<String>>,
    pub token: Option<S<String>>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawStore {
    pub url: Option<S<String>>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawDashboard {
    #[serde(default, rename = "user")]
    pub users: Vec<RawDashboardUser>,
    pub status_page: Option<RawStatusPage>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawStatusPage {
    pub title: Option<S<String>>,
    pub services: Option<Vec<S<String>>>,
    pub show_titles: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawDashboardUser {
    pub name: S<String>,
    pub password_hash: S<String>,
    pub role: Option<S<String>>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawGraph {
    pub url: Option<S<String>>,
    pub timeout: Option<S<String>>,
    pub sync_interval: Option<S<String>>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawMemoryIndex {
    pub index: Option<String>,
    pub instance: Option<S<String>>,
    pub sync: Option<RawMemorySync>,
    #[serde(default, rename = "peer")]
    pub peers: Vec<RawMemoryPeer>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawMemoryPeer {
    pub instance: S<String>,
    pub token: S<String>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawMemorySync {
    pub enabled: Option<bool>,
    pub url: Option<S<String>>,
    pub token: Option<S<String>>,
    pub interval: Option<S<String>>,
    pub allow_http: Option<bool>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawAgent {
    pub mode: Option<S<String>>,
    pub max_mode: Option<S<String>>,
    pub max_actions_per_hour: Option<u32>,
    pub max_actions_per_service_per_hour: Option<u32>,
    pub breaker_failures: Option<u32>,
    pub allow_tools: Option<Vec<S<String>>>,
    pub reopen_within: Option<S<String>>,
    pub cooldown: Option<S<String>>,
    #[serde(default)]
    pub verify: RawVerify,
    #[serde(default)]
    pub memory: RawMemory,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawMemory {
    pub min_success: Option<S<f64>>,
    pub min_attempts: Option<u32>,
    pub shared_evidence: Option<S<f64>>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawVerify {
    pub attempts: Option<u32>,
    pub backoff: Option<S<String>>,
    pub max_backoff: Option<S<String>>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawScheduler {
    pub max_concurrency: Option<usize>,
    pub history_per_check: Option<u32>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawNotify {
    pub ntfy: Option<RawNtfy>,
    pub webhook: Option<RawWebhook>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawNtfy {
    pub url: Option<S<String>>,
    pub topic: S<String>,
    pub token: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawWebhook {
    pub url: S<String>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawFs {
    #[serde(default)]
    pub allowed_roots: Vec<S<String>>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawCommands {
    #[serde(default)]
    pub allow: Vec<RawAllowEntry>,
    #[serde(default)]
    pub env: std::collections::BTreeMap<String, String>,
}

/// An allow-list entry: an exact argv array, or a line whose words (split on white space) are one.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(crate) enum RawAllowEntry {
    Argv(Vec<String>),
    Line(String),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawService {
    pub name: S<String>,
    #[serde(default)]
    pub depends_on: Vec<S<String>>,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    pub process: Option<RawProcess>,
    pub restart_command: Option<S<Vec<String>>>,
    pub telemetry_token: Option<S<String>>,
    #[serde(default, rename = "check")]
    pub checks: Vec<RawCheck>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawProcess {
    pub run: S<Vec<String>>,
    pub cwd: Option<String>,
    #[serde(default)]
    pub env: BTreeMap<String, String>,
}

/// Every check kind's fields in one struct; `checks.rs` rejects fields foreign to the kind.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawCheck {
    pub service: Option<S<String>>,
    pub name: Option<S<String>>,
    pub kind: S<String>,
    pub interval: Option<S<String>>,
    pub timeout: Option<S<String>>,
    pub jitter: Option<S<String>>,
    pub fail_after: Option<u32>,
    pub recover_after: Option<u32>,
    pub flap_threshold: Option<u32>,
    pub flap_window: Option<S<String>>,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    // http
    pub url: Option<S<String>>,
    pub method: Option<S<String>>,
    pub headers: Option<S<BTreeMap<String, String>>>,
    pub expect: Option<S<RawExpect>>,
    pub max_body: Option<S<String>>,
    pub ca_file: Option<S<String>>,
    pub connection: Option<S<String>>,
    // tcp
    pub address: Option<S<String>>,
    // disk
    pub path: Option<S<String>>,
    pub max_used_percent: Option<S<f64>>,
    pub min_free: Option<S<String>>,
    pub max_size: Option<S<String>>,
    // process
    pub process: Option<S<String>>,
    pub pid_file: Option<S<String>>,
    pub pid: Option<S<u32>>,
    pub max_rss: Option<S<String>>,
    // command
    pub run: Option<S<Vec<String>>>,
    // load
    pub max_per_core: Option<S<f64>>,
    // prometheus, ready, otel_collector, telemetry_freshness
    pub query: Option<S<String>>,
    pub min: Option<S<f64>>,
    pub max: Option<S<f64>>,
    pub on_empty: Option<S<String>>,
    pub flavor: Option<S<String>>,
    pub metrics_url: Option<S<String>>,
    pub max_queue_ratio: Option<S<f64>>,
    pub signal: Option<S<String>>,
    pub within: Option<S<String>>,
    // docker
    pub container: Option<S<String>>,
    pub label: Option<S<String>>,
    pub compose_project: Option<S<String>>,
    pub compose_services: Option<S<Vec<String>>>,
    pub require_healthy: Option<S<bool>>,
    pub max_restarts: Option<S<u32>>,
    pub restart_window: Option<S<String>>,
    // docker_run (and `run`)
    pub image: Option<S<String>>,
    pub env: Option<S<BTreeMap<String, String>>>,
    pub network: Option<S<String>>,
    pub mounts: Option<S<Vec<String>>>,
    pub cpus: Option<S<f64>>,
    pub memory: Option<S<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawExpect {
    pub status: Option<u16>,
    pub body_contains: Option<String>,
    pub json: Option<RawJsonExpect>,
    pub latency_under: Option<S<String>>,
    pub cert_days_left_over: Option<u32>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawJsonExpect {
    pub pointer: String,
    pub equals: toml::Value,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRunbook {
    pub name: S<String>,
    #[serde(default)]
    pub when: RawWhen,
    pub steps: S<Vec<RawStep>>,
    pub mode: Option<S<String>>,
    pub cooldown: Option<S<String>>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawWhen {
    pub incident: Option<S<String>>,
    pub service: Option<S<String>>,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawStep {
    pub tool: S<String>,
    #[serde(default)]
    pub args: toml::Table,
}
