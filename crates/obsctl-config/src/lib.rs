//! The validated configuration model. `load` turns TOML text plus an environment into it.

mod checks;
mod error;
mod interpolate;
mod load;
mod raw;
pub mod template;

pub use interpolate::names_a_secret;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;

pub use error::{ConfigError, ConfigErrors};
pub use load::{LoadOptions, load};

use obsctl_core::check::CheckSpec;
use obsctl_core::policy::Mode;
use obsctl_core::secret::Secret;

#[derive(Debug, Clone, Serialize)]
pub struct Config {
    /// The file this came from, for messages.
    pub source: String,
    pub server: ServerConfig,
    pub mcp: McpConfig,
    /// External MCP servers whose tools join the registry.
    pub mcp_servers: Vec<McpServerConfig>,
    /// The LLM planner, when configured.
    pub llm: Option<LlmConfig>,
    /// Alerts taken in from Alertmanager, Grafana and the generic event endpoint.
    pub alerts: AlertsConfig,
    /// Applications' telemetry: the OTLP receiver and the reports of `obsctl telemetry check`.
    pub telemetry: TelemetryConfig,
    /// Where obsctl sends its own traces (`OTEL_EXPORTER_OTLP_ENDPOINT`), when set.
    pub otlp: Option<OtlpConfig>,
    /// The Docker (or Podman) engine that `docker` checks and tools talk to.
    pub docker: DockerConfig,
    pub store: StoreConfig,
    /// Where the fix-history graph lives besides the journal: `None` is the embedded graph.
    pub graph: Option<BoltConfig>,
    /// The recall index folder (derived data, rebuilt from the store when needed).
    pub memory_index: PathBuf,
    /// This instance's name on the episodes it remembers (`[memory] instance`); `None` means
    /// the host name.
    pub memory_instance: Option<String>,
    /// Memory sync with a central obsctl, when enabled.
    pub memory_sync: Option<MemorySyncConfig>,
    /// On a central: the edges that sync with it, each with a token that opens only memory
    /// sync and pushes only under its own instance name (`[[memory.peer]]`).
    pub memory_peers: Vec<MemoryPeer>,
    pub agent: AgentConfig,
    pub scheduler: SchedulerConfig,
    pub notify: NotifyConfig,
    pub fs: FsConfig,
    pub commands: CommandsConfig,
    pub services: Vec<ServiceConfig>,
    pub checks: Vec<CheckSpec>,
    pub runbooks: Vec<Runbook>,
    /// Values that `${VAR}` put into the config from variables naming a credential
    /// (`…TOKEN`, `…PASSWORD`, `…KEY`, …): redacted like every other secret.
    #[serde(skip)]
    pub interpolated_secrets: Vec<Secret>,
    /// The file it was loaded from (`LoadOptions::file`), which a backup archives.
    #[serde(skip)]
    pub file: String,
    /// The file as written, parsed (its `${VAR}`s unexpanded where TOML allows): what the
    /// dashboard's config page shows, masked, with the names the operator writes.
    #[serde(skip)]
    pub written: Written,
    /// Where each check is in `checks`, by id: `check` runs for every probe.
    #[serde(skip)]
    check_index: std::collections::HashMap<String, usize>,
}

/// The config file as written. Its secrets are unmasked: it never shows in `Debug` (logs), only
/// masked (`secret::mask_for_display`).
#[derive(Clone, Default)]
pub struct Written(pub toml::Table);

impl std::fmt::Debug for Written {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<the file as written>")
    }
}

/// `[telemetry]`: obsctl's own OTLP/HTTP receiver (`/v1/traces`, `/v1/logs`, `/v1/metrics`)
/// and the reports apps post (`POST /api/v1/telemetry-reports`).
#[derive(Debug, Clone, Serialize)]
pub struct TelemetryConfig {
    /// Whether `serve` takes OTLP/HTTP (off unless asked for).
    pub receiver: bool,
    /// The token apps present (for both); the API token is accepted too.
    pub token: Option<Secret>,
    /// The largest request body taken, after gzip, in bytes.
    pub max_body: usize,
}

impl TelemetryConfig {
    pub const DEFAULT_MAX_BODY: usize = 4 << 20;
}

impl Default for TelemetryConfig {
    fn default() -> Self {
        Self { receiver: false, token: None, max_body: Self::DEFAULT_MAX_BODY }
    }
}

/// Where the container engine is (`DOCKER_HOST`, `DOCKER_TLS_VERIFY`, `DOCKER_CERT_PATH`).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct DockerConfig {
    pub host: String,
    /// Client certificates for a remote engine over TLS.
    pub tls: Option<DockerTls>,
}

impl DockerConfig {
    pub const DEFAULT_HOST: &str = "unix:///var/run/docker.sock";
}

impl Default for DockerConfig {
    fn default() -> Self {
        Self { host: Self::DEFAULT_HOST.to_string(), tls: None }
    }
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct DockerTls {
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
}

#[derive(Debug, Clone, Serialize, Default)]
pub struct ServerConfig {
    pub listen: String,
    /// Bearer token that API calls must present (`OBSCTL_API_TOKEN`); at least 16 characters.
    pub token: Option<Secret>,
    /// Host names this server answers to besides loopback ones (DNS-rebinding protection).
    pub allowed_hosts: Vec<String>,
    /// People who may log in to the dashboard (the API token also logs in, as an operator).
    pub users: Vec<DashboardUser>,
    /// The public status page at `/status` (`[dashboard.status_page]`), off unless configured.
    pub status_page: Option<StatusPageConfig>,
}

/// A read-only page anyone may see without logging in: the chosen services' state, uptime and
/// ongoing incidents (titles only).
#[derive(Debug, Clone, Serialize)]
pub struct StatusPageConfig {
    pub title: String,
    /// The services shown, in this order; every service when the config lists none.
    pub services: Vec<String>,
    /// Whether ongoing incidents show their titles. Off by default: a title can carry a
    /// sender's words (an alert's summary, an app's telemetry report), so the page says only
    /// which service is affected.
    pub show_titles: bool,
}

impl ServerConfig {
    /// Whether anyone can log in: a dashboard user or the API token.
    pub fn has_credentials(&self) -> bool {
        self.token.is_some() || !self.users.is_empty()
    }
}

/// The MCP gateway: obsctl's tools and control plane for other agents, over streamable HTTP
/// inside `serve` (`obsctl mcp` serves the same over stdio).
#[derive(Debug, Clone, Serialize, Default)]
pub struct McpConfig {
    /// Where `serve` answers MCP at `/mcp` (`OBSCTL_MCP_LISTEN`); `None` when `listen = "off"`.
    pub listen: Option<String>,
    /// Bearer token MCP clients present (`OBSCTL_MCP_TOKEN`); at least 16 characters. The API
    /// token is accepted too.
    pub token: Option<Secret>,
}

impl McpConfig {
    /// The default gateway address, the original system's gateway port.
    pub const DEFAULT_LISTEN: &str = "127.0.0.1:8433";
}

/// An external MCP server (`[[mcp_server]]`) whose tools join the registry as `<name>.<tool>`.
#[derive(Debug, Clone, Serialize)]
pub struct McpServerConfig {
    pub name: String,
    pub transport: McpTransport,
    /// Policy for the server's tools not named in `tools`; `None`: `approve`, whatever the
    /// server's annotations say (a server's hints are advice, never the operator's decision).
    pub policy: Option<ToolPolicy>,
    /// Policy per tool, by the server's own tool name.
    pub tools: BTreeMap<String, ToolPolicy>,
    /// Bound on one tool call.
    pub timeout: Duration,
}

impl McpServerConfig {
    /// The policy for the server's tool `tool` (its own name): the operator's word for it, else
    /// the server-wide default, else `approve`. The server's own annotations never enter: a
    /// server that calls a tool that writes "read-only", or renames a denied tool, gains nothing.
    pub fn policy_for(&self, tool: &str) -> ToolPolicy {
        self.tools.get(tool).copied().or(self.policy).unwrap_or(ToolPolicy::Approve)
    }
}

/// How obsctl reaches an external MCP server.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum McpTransport {
    /// Started and supervised by obsctl, spoken to over stdin/stdout. It gets a cleared
    /// environment: `PATH`, `HOME` and `env`.
    Stdio { command: String, args: Vec<String>, env: BTreeMap<String, Secret> },
    /// Streamable HTTP at `url`, with `headers` on every request.
    Http { url: String, headers: BTreeMap<String, Secret> },
}

/// What obsctl lets an imported tool do: the operator's decision, never the server's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ToolPolicy {
    /// The operator vouches that it only reads: it runs without a person, like a builtin
    /// read-only tool (refused in `observe`, audited, never journaled).
    Read,
    /// Like a builtin tool that changes things: the gate's mode decides.
    Allow,
    /// Always needs a person's approval (the mode is capped at `approve`).
    Approve,
    /// Never imported.
    Deny,
}

impl ToolPolicy {
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "read" => Some(Self::Read),
            "allow" => Some(Self::Allow),
            "approve" => Some(Self::Approve),
            "deny" => Some(Self::Deny),
            _ => None,
        }
    }
}

/// A dashboard login: `[[dashboard.user]]`, or `OBSCTL_DASHBOARD_PASSWORD_HASH` for `admin`.
#[derive(Debug, Clone, Serialize)]
pub struct DashboardUser {
    pub name: String,
    /// An argon2 PHC string (`$argon2id$…`), from `obsctl dashboard hash-password`.
    pub password_hash: Secret,
    pub role: Role,
}

/// What a dashboard user may do: viewers read, operators also use the controls.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Viewer,
    Operator,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Operator => "operator",
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct StoreConfig {
    /// `sqlite://path` (relative paths are relative to the config file's folder) or
    /// `postgres://user@host:port/db`, never with a password in it.
    pub url: String,
    /// The Postgres password: from the URL (moved out of it) or `MEMORI_DB_PASSWORD`.
    pub password: Option<Secret>,
}

/// A Bolt graph server (Neo4j 5, FalkorDB, Memgraph) that mirrors the journal's graph.
#[derive(Debug, Clone, Serialize)]
pub struct BoltConfig {
    /// `host:port`.
    pub address: String,
    pub user: String,
    /// From the URL (moved out of it) or `NEO4J_PASSWORD`; none means no authentication.
    pub password: Option<Secret>,
    /// The database queries run in; the server's default when `None`.
    pub database: Option<String>,
    /// Bounds connecting and each query.
    pub timeout: Duration,
    /// How often the journal's changes are copied to the server.
    pub sync_interval: Duration,
}

#[derive(Debug, Clone, Serialize)]
pub struct AgentConfig {
    pub mode: Mode,
    /// No runbook may run above this mode.
    pub max_mode: Mode,
    pub max_actions_per_hour: u32,
    pub max_actions_per_service_per_hour: u32,
    /// Failed fixes in a row (per fingerprint) that open the circuit breaker.
    pub breaker_failures: u32,
    /// Tools the agent may use; `None` means every registered tool.
    pub allow_tools: Option<Vec<String>>,
    pub verify: VerifyConfig,
    pub memory: MemoryConfig,
    pub reopen_within: Duration,
    pub default_cooldown: Duration,
}

/// obsctl's own traces over OTLP/HTTP, from the standard `OTEL_*` variables.
#[derive(Debug, Clone, Serialize)]
pub struct OtlpConfig {
    /// The full traces URL (`…/v1/traces`).
    pub traces_url: String,
    /// `OTEL_EXPORTER_OTLP_HEADERS`: often a vendor's API key, so secrets.
    pub headers: BTreeMap<String, Secret>,
    pub timeout: Duration,
    /// The resource every span is sent under: `service.name` (`OTEL_SERVICE_NAME`, default
    /// `obsctl`), `service.version` and `OTEL_RESOURCE_ATTRIBUTES`.
    pub resource: Vec<(String, String)>,
}

/// `[alerts]`: how alerts from outside become incidents, and who may send them.
#[derive(Debug, Clone, Serialize)]
pub struct AlertsConfig {
    /// The label naming an alert's service (`service`); an alert without it is kept under
    /// [`AlertsConfig::UNKNOWN_SERVICE`].
    pub service_label: String,
    /// `alertname` → incident kind; an alert not listed keeps its `alertname` as its kind.
    pub kinds: BTreeMap<String, String>,
    /// The largest request body taken, in bytes.
    pub max_body: usize,
    /// Requests of one source handled at once; more get 429 (the sender retries), so a flood
    /// from one source cannot starve the others.
    pub max_in_flight: usize,
    /// A source's own credential; a source without one takes the API token (when it is set).
    pub auth: BTreeMap<obsctl_core::alert::AlertSource, AlertAuth>,
}

impl Default for AlertsConfig {
    fn default() -> Self {
        Self {
            service_label: "service".into(),
            kinds: BTreeMap::new(),
            max_body: 1 << 20,
            max_in_flight: 8,
            auth: BTreeMap::new(),
        }
    }
}

impl AlertsConfig {
    pub const UNKNOWN_SERVICE: &str = "unknown";

    /// The service an alert is about: its service label, or `unknown`.
    pub fn service_of(&self, labels: &BTreeMap<String, String>) -> String {
        labels
            .get(&self.service_label)
            .filter(|s| !s.is_empty())
            .cloned()
            .unwrap_or_else(|| Self::UNKNOWN_SERVICE.into())
    }

    /// The incident kind an alert raises: the mapped kind of its `alertname`, the `alertname`
    /// itself, or `alert` when it has none.
    pub fn kind_of(&self, labels: &BTreeMap<String, String>) -> String {
        match labels.get("alertname").filter(|n| !n.is_empty()) {
            Some(name) => self.kinds.get(name).unwrap_or(name).clone(),
            None => "alert".into(),
        }
    }
}

/// How a source proves itself on its webhook.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertAuth {
    Bearer(Secret),
    Basic { username: String, password: Secret },
}

/// The LLM planner (`[llm]`): an OpenAI-compatible endpoint, consulted for an incident no
/// runbook or remembered fix covers. Off unless `base_url` and `model` are set.
#[derive(Debug, Clone, Serialize)]
pub struct LlmConfig {
    /// e.g. `https://api.openai.com/v1`, `http://127.0.0.1:8080/v1` (llama.cpp, vLLM, Ollama).
    pub base_url: String,
    pub model: String,
    pub api_key: Option<Secret>,
    pub api: LlmApi,
    /// Bound on one request to the model.
    pub timeout: Duration,
    /// Model turns per incident (each may call read-only tools).
    pub max_steps: u32,
    /// Tokens (prompt and completion, as the provider reports them) per incident.
    pub max_tokens: u64,
    /// Tokens the model may write per turn.
    pub max_completion_tokens: u32,
    /// The highest mode a model's plan runs in (default `approve`: a person approves what a
    /// model proposes, since text from monitored systems can steer it). `auto` lets it act alone.
    pub max_mode: Mode,
    /// Regular expressions whose matches are replaced with `***` in everything sent to the
    /// model, beyond the configured secrets (e.g. `AKIA[0-9A-Z]{16}`).
    pub redact: Vec<String>,
}

/// Which endpoint the model is spoken to through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LlmApi {
    /// `/chat/completions` with tool calling.
    Chat,
    /// `/completions`, for models without tool calling: a JSON plan is asked for and checked.
    Completions,
}

#[derive(Debug, Clone, Serialize)]
pub struct VerifyConfig {
    pub attempts: u32,
    pub backoff: Duration,
    pub max_backoff: Duration,
}

/// When the memory planner may propose a fix that worked before.
#[derive(Debug, Clone, Serialize)]
pub struct MemoryConfig {
    /// Lowest success rate (0..=1) of a fix in similar incidents.
    pub min_success: f64,
    /// Fewest attempts of that fix before it counts as proven.
    pub min_attempts: u32,
    /// What an attempt learned on another instance (a synced episode) counts for, against 1 for
    /// one learned here: 0 uses this instance's own evidence only.
    pub shared_evidence: f64,
}

/// `[[memory.peer]]`: an edge allowed to sync with this central, by its own token.
#[derive(Debug, Clone, Serialize)]
pub struct MemoryPeer {
    /// The edge's `[memory] instance`: what it pushes is stamped with this origin.
    pub instance: String,
    pub token: Secret,
}

/// `[memory.sync]`: where this instance pushes its episodes and pulls the others'.
#[derive(Debug, Clone, Serialize)]
pub struct MemorySyncConfig {
    /// The central obsctl's base URL (its API).
    pub url: String,
    /// The central's API token.
    pub token: Option<Secret>,
    pub interval: Duration,
}

#[derive(Debug, Clone, Serialize)]
pub struct SchedulerConfig {
    pub max_concurrency: usize,
    /// Results kept per check; older ones are pruned.
    pub history_per_check: u32,
}

#[derive(Debug, Clone, Serialize, Default)]
pub struct NotifyConfig {
    pub ntfy: Option<NtfyConfig>,
    pub webhook: Option<WebhookConfig>,
}

impl NotifyConfig {
    /// Whether any receiver would hear an escalation.
    pub fn has_receiver(&self) -> bool {
        self.ntfy.is_some() || self.webhook.is_some()
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct NtfyConfig {
    pub url: String,
    /// Anyone who knows an ntfy topic can read and post to it: it is a secret.
    pub topic: Secret,
    pub token: Option<Secret>,
}

#[derive(Debug, Clone, Serialize)]
pub struct WebhookConfig {
    /// Webhook URLs carry their credential in the path or query: a secret.
    pub url: Secret,
}

/// Folders that may never be an `fs.allowed_roots` entry: `/` and the system's own.
pub const SYSTEM_FOLDERS: [&str; 16] = [
    "/", "/bin", "/boot", "/dev", "/etc", "/home", "/lib", "/lib64", "/opt", "/proc", "/root", "/run", "/sbin", "/sys",
    "/usr", "/var",
];

/// Whether `path` is `/` or a system folder, compared as written (callers canonicalize first
/// when they can; the loader, which does no IO, also catches `/etc/`, `//etc` and `/etc/.`).
pub fn is_system_folder(path: &std::path::Path) -> bool {
    let normal: PathBuf = path.components().collect();
    SYSTEM_FOLDERS.iter().any(|s| normal == std::path::Path::new(s))
}

#[derive(Debug, Clone, Serialize, Default)]
pub struct FsConfig {
    /// `fs.*` tools act only below these folders.
    pub allowed_roots: Vec<PathBuf>,
}

#[derive(Debug, Clone, Serialize, Default)]
pub struct CommandsConfig {
    /// `ENABLE_UNIX_TOOLS=true`: the `command.run` tool exists at all.
    pub enabled: bool,
    /// Exact argument vectors that may run: compared element by element, never as joined text.
    pub allow: Vec<Vec<String>>,
    /// The only environment commands get (besides a default `PATH`); values are secrets.
    pub env: BTreeMap<String, Secret>,
}

impl CommandsConfig {
    /// Whether exactly this argv is allow-listed.
    pub fn allows(&self, argv: &[String]) -> bool {
        self.allow.iter().any(|a| a == argv)
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct ServiceConfig {
    pub name: String,
    pub depends_on: Vec<String>,
    pub labels: BTreeMap<String, String>,
    /// A process obsctl starts and supervises (`process.restart` restarts it).
    pub process: Option<SupervisedProcess>,
    /// A command that restarts the service when obsctl does not supervise it.
    pub restart_command: Option<Vec<String>>,
    /// The token this service's app reports its telemetry with: once set, only it (or the API
    /// token) may open or resolve the service's telemetry incident, not `[telemetry] token`.
    pub telemetry_token: Option<Secret>,
}

#[derive(Debug, Clone, Serialize)]
pub struct SupervisedProcess {
    pub run: Vec<String>,
    pub cwd: Option<PathBuf>,
    /// Values are secrets: a service's environment is where its credentials live.
    pub env: BTreeMap<String, Secret>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Runbook {
    pub name: String,
    pub when: Matcher,
    pub steps: Vec<Step>,
    pub mode: Option<Mode>,
    pub cooldown: Duration,
}

/// Which incidents a runbook applies to; an absent field matches anything.
#[derive(Debug, Clone, Serialize, Default)]
pub struct Matcher {
    pub incident: Option<String>,
    pub service: Option<String>,
    pub labels: BTreeMap<String, String>,
}

impl Matcher {
    pub fn matches(&self, kind: &str, service: &str, labels: &BTreeMap<String, String>) -> bool {
        self.incident.as_deref().is_none_or(|k| k == kind)
            && self.service.as_deref().is_none_or(|s| s == service)
            && self.labels.iter().all(|(k, v)| labels.get(k) == Some(v))
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Step {
    pub tool: String,
    pub args: serde_json::Value,
}

impl Config {
    pub fn service(&self, name: &str) -> Option<&ServiceConfig> {
        self.services.iter().find(|s| s.name == name)
    }

    /// The check kind `kind` is probably a typo of (`http_down` for `http-down`), as the
    /// loader judges a runbook's `when.incident`; `None` for a check's or an alert's kind.
    pub fn misspelt_kind(&self, kind: &str) -> Option<&'static str> {
        load::misspelt_kind(kind, &self.alerts)
    }

    /// The check `id`: by the index `load` builds (every probe asks, so with 10,000 checks a
    /// scan was most of the scheduler's CPU), by a scan when `checks` changed since.
    pub fn check(&self, id: &str) -> Option<&CheckSpec> {
        match self.check_index.get(id).and_then(|&i| self.checks.get(i)) {
            Some(c) if c.id == id => Some(c),
            _ => self.checks.iter().find(|c| c.id == id),
        }
    }

    /// Indexes `checks` by id (`load` calls it; call it again after changing `checks`).
    pub fn index_checks(&mut self) {
        self.check_index = self.checks.iter().enumerate().map(|(i, c)| (c.id.clone(), i)).collect();
    }

    /// Every secret in the config, for redaction.
    pub fn secrets(&self) -> Vec<&Secret> {
        let mut out: Vec<&Secret> = self
            .server
            .token
            .iter()
            .chain(self.mcp.token.iter())
            .chain(self.llm.iter().filter_map(|l| l.api_key.as_ref()))
            .chain(self.store.password.iter())
            .chain(self.memory_sync.iter().filter_map(|m| m.token.as_ref()))
            .chain(self.memory_peers.iter().map(|p| &p.token))
            .chain(self.graph.iter().filter_map(|g| g.password.as_ref()))
            .collect();
        if let Some(n) = &self.notify.ntfy {
            out.extend(n.token.iter());
            out.push(&n.topic);
        }
        out.extend(self.notify.webhook.iter().map(|w| &w.url));
        out.extend(self.interpolated_secrets.iter());
        out.extend(self.commands.env.values());
        out.extend(self.otlp.iter().flat_map(|o| o.headers.values()));
        out.extend(self.telemetry.token.iter());
        out.extend(self.alerts.auth.values().map(|a| match a {
            AlertAuth::Bearer(token) => token,
            AlertAuth::Basic { password, .. } => password,
        }));
        for s in &self.services {
            out.extend(s.process.iter().flat_map(|p| p.env.values()));
            out.extend(s.telemetry_token.iter());
        }
        for m in &self.mcp_servers {
            match &m.transport {
                McpTransport::Stdio { env, .. } => out.extend(env.values()),
                McpTransport::Http { headers, .. } => out.extend(headers.values()),
            }
        }
        for c in &self.checks {
            match &c.probe {
                obsctl_core::check::Probe::Http(h) => out.extend(h.headers.values()),
                // Values named like credentials; `PGHOST=db` would redact every "db".
                obsctl_core::check::Probe::DockerRun(r) => out.extend(
                    r.env.iter().filter(|(k, _)| interpolate::names_a_secret(&k.to_ascii_uppercase())).map(|(_, v)| v),
                ),
                _ => {}
            }
        }
        out
    }
}
