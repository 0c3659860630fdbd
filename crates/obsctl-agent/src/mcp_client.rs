//! External MCP servers (`[[mcp_server]]`), on the official SDK's client: each is connected
//! (a command obsctl starts, or a streamable HTTP URL), its tools are imported into the
//! registry as `<server>.<tool>` with their schemas and annotations (tools its policy denies are
//! left out), and it is supervised: a server that goes away is marked down and its tools are
//! withdrawn, then it is reconnected with a growing backoff. Imported tools are called only by
//! the executor, after the gate, like every other tool.

mod imported;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use obsctl_config::{McpServerConfig, McpTransport, ToolPolicy};
use obsctl_core::secret::redact;
use obsctl_core::{Secret, Timestamp};
use rmcp::ServiceExt;
use rmcp::model::{ClientCapabilities, ClientConfig, ClientRequest, Implementation, PingRequest};
use rmcp::service::{Peer, RoleClient, RunningService};
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::transport::{StreamableHttpClientTransport, TokioChildProcess};
use serde::Serialize;
use tokio::sync::{Notify, watch};

use crate::tools::{Tool, ToolRegistry};
use imported::ImportedTool;

/// How long connecting (start, handshake, tool list) may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
const FIRST_BACKOFF: Duration = Duration::from_secs(1);
const MAX_BACKOFF: Duration = Duration::from_secs(60);
/// How often a connected server is pinged.
const HEALTH_INTERVAL: Duration = Duration::from_secs(5);

/// What a server is doing now, for the API, the dashboard and `obsctl mcp servers`.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct ServerStatus {
    pub name: String,
    /// `stdio` or `http`.
    pub transport: &'static str,
    /// `connecting`, `up` or `down`.
    pub state: &'static str,
    /// The tools imported from it while it is up (`<server>.<tool>`).
    pub tools: Vec<String>,
    /// Its tools left out by policy (`deny`).
    pub denied: Vec<String>,
    pub since: Timestamp,
    /// Why it is down.
    pub error: Option<String>,
    /// Connections tried since it was last up.
    pub attempts: u32,
}

/// Every configured external server and its connection.
pub struct McpServers {
    configs: Vec<McpServerConfig>,
    registry: Arc<ToolRegistry>,
    statuses: Mutex<HashMap<String, ServerStatus>>,
    /// Woken on every status change (`ready` waits on it).
    changed: Notify,
    /// Redacted from every error shown (a URL or header may carry a credential).
    secrets: Vec<Secret>,
}

type Client = RunningService<RoleClient, ClientConfig>;

impl McpServers {
    pub fn new(configs: Vec<McpServerConfig>, registry: Arc<ToolRegistry>, secrets: Vec<Secret>) -> Self {
        let statuses = configs
            .iter()
            .map(|c| {
                let status = ServerStatus {
                    name: c.name.clone(),
                    transport: transport_kind(&c.transport),
                    state: "connecting",
                    tools: Vec::new(),
                    denied: Vec::new(),
                    since: Timestamp::now(),
                    error: None,
                    attempts: 0,
                };
                (c.name.clone(), status)
            })
            .collect();
        Self { configs, registry, statuses: Mutex::new(statuses), changed: Notify::new(), secrets }
    }

    pub fn statuses(&self) -> Vec<ServerStatus> {
        let map = self.statuses.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        self.configs.iter().filter_map(|c| map.get(&c.name).cloned()).collect()
    }

    fn set(&self, name: &str, f: impl FnOnce(&mut ServerStatus)) {
        let mut map = self.statuses.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(status) = map.get_mut(name) {
            f(status);
        }
        drop(map);
        self.changed.notify_waiters();
    }

    /// Waits until every server's first connection attempt has ended (up or down), so a
    /// one-shot command sees the tools of the servers that answer.
    pub async fn ready(&self) {
        let settled = || self.statuses().iter().all(|s| s.state != "connecting" || s.attempts > 1);
        let deadline = tokio::time::Instant::now() + CONNECT_TIMEOUT + Duration::from_secs(1);
        loop {
            let notified = self.changed.notified();
            if settled() {
                return;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return;
            }
        }
    }

    /// Connects every server and keeps it connected until `shutdown`.
    pub async fn run(self: Arc<Self>, shutdown: watch::Receiver<bool>) {
        let mut tasks = tokio::task::JoinSet::new();
        for config in self.configs.clone() {
            tasks.spawn(self.clone().supervise(config, shutdown.clone()));
        }
        while tasks.join_next().await.is_some() {}
    }

    async fn supervise(self: Arc<Self>, config: McpServerConfig, mut shutdown: watch::Receiver<bool>) {
        let mut backoff = FIRST_BACKOFF;
        loop {
            if let Some(client) = self.attempt(&config).await {
                backoff = FIRST_BACKOFF;
                let stop = client.cancellation_token();
                let peer = client.peer().clone();
                let closed = tokio::select! {
                    reason = client.waiting() => format!("the connection closed ({reason:?})"),
                    why = unhealthy(&peer) => {
                        stop.cancel();
                        why
                    }
                    _ = shutdown.changed() => {
                        stop.cancel();
                        self.registry.withdraw(&config.name);
                        return;
                    }
                };
                self.registry.withdraw(&config.name);
                tracing::warn!(server = %config.name, %closed, "MCP server went down; its tools are withdrawn");
                self.down(&config.name, closed);
            }
            tokio::select! {
                _ = tokio::time::sleep(backoff) => {}
                _ = shutdown.changed() => return,
            }
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    }

    /// One connection attempt: connect, import the tools, mark the server up (or down, why).
    async fn attempt(&self, config: &McpServerConfig) -> Option<Client> {
        self.set(&config.name, |s| {
            s.state = "connecting";
            s.attempts += 1;
        });
        let connected = tokio::time::timeout(CONNECT_TIMEOUT, connect_and_list(config)).await;
        match connected {
            Ok(Ok((client, tools))) => {
                let (allowed, denied): (Vec<_>, Vec<_>) =
                    tools.into_iter().partition(|t| config.policy_for(&t.name) != ToolPolicy::Deny);
                let peer = client.peer().clone();
                let imported: Vec<Arc<dyn Tool>> = allowed
                    .into_iter()
                    .map(|t| {
                        let reads = config.policy_for(&t.name) == ToolPolicy::Read;
                        Arc::new(ImportedTool::new(&config.name, t, peer.clone(), config.timeout, reads))
                            as Arc<dyn Tool>
                    })
                    .collect();
                let names: Vec<String> = imported.iter().map(|t| t.spec().name.clone()).collect();
                tracing::info!(server = %config.name, tools = names.len(), "MCP server connected");
                self.registry.import(&config.name, imported);
                self.set(&config.name, |s| {
                    s.state = "up";
                    s.tools = names;
                    s.denied = denied.iter().map(|t| format!("{}.{}", config.name, t.name)).collect();
                    s.since = Timestamp::now();
                    s.error = None;
                    s.attempts = 0;
                });
                Some(client)
            }
            Ok(Err(error)) => {
                tracing::warn!(server = %config.name, %error, "MCP server unreachable");
                self.down(&config.name, error);
                None
            }
            Err(_) => {
                self.down(&config.name, format!("no answer within {}s", CONNECT_TIMEOUT.as_secs()));
                None
            }
        }
    }

    fn down(&self, name: &str, error: String) {
        let error = redact(&error, &self.secrets.iter().collect::<Vec<_>>());
        self.set(name, |s| {
            if s.state == "up" {
                s.since = Timestamp::now();
            }
            s.state = "down";
            s.tools.clear();
            s.error = Some(error);
        });
    }
}

/// Pings the server every `HEALTH_INTERVAL` and returns why once it stops answering (an HTTP
/// server has no connection whose end would tell).
async fn unhealthy(peer: &Peer<RoleClient>) -> String {
    loop {
        tokio::time::sleep(HEALTH_INTERVAL).await;
        let ping =
            ClientRequest::PingRequest(PingRequest { method: Default::default(), extensions: Default::default() });
        match tokio::time::timeout(HEALTH_INTERVAL, peer.send_request(ping)).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => return format!("it stopped answering: {e}"),
            Err(_) => return format!("it gave no answer to a ping within {}s", HEALTH_INTERVAL.as_secs()),
        }
    }
}

fn transport_kind(t: &McpTransport) -> &'static str {
    match t {
        McpTransport::Stdio { .. } => "stdio",
        McpTransport::Http { .. } => "http",
    }
}

/// The identity obsctl gives servers it connects to.
fn client_config() -> ClientConfig {
    ClientConfig::new(ClientCapabilities::default(), Implementation::new("obsctl", env!("CARGO_PKG_VERSION")))
}

async fn connect_and_list(config: &McpServerConfig) -> Result<(Client, Vec<rmcp::model::Tool>), String> {
    let client = match &config.transport {
        McpTransport::Stdio { command, args, env } => {
            let mut cmd = tokio::process::Command::new(command);
            cmd.args(args).env_clear().env("PATH", obsctl_host::DEFAULT_PATH);
            cmd.envs(env.iter().map(|(k, v)| (k, v.expose())));
            let (transport, _stderr) = TokioChildProcess::builder(cmd)
                .stderr(std::process::Stdio::null())
                .spawn()
                .map_err(|e| format!("cannot start {command}: {e}"))?;
            client_config().serve(transport).await.map_err(|e| format!("handshake failed: {e}"))?
        }
        McpTransport::Http { url, headers } => {
            let mut custom = HashMap::new();
            for (name, value) in headers {
                let name = reqwest::header::HeaderName::try_from(name.as_str())
                    .map_err(|e| format!("header {name:?}: {e}"))?;
                let value = reqwest::header::HeaderValue::try_from(value.expose())
                    .map_err(|e| format!("header {name}: {e}"))?;
                custom.insert(name, value);
            }
            let http = obsctl_host::http_client()
                .connect_timeout(Duration::from_secs(5))
                .build()
                .map_err(|e| e.to_string())?;
            let transport = StreamableHttpClientTransport::with_client(
                http,
                StreamableHttpClientTransportConfig::with_uri(url.as_str()).custom_headers(custom),
            );
            client_config().serve(transport).await.map_err(|e| format!("handshake failed: {e}"))?
        }
    };
    let tools = client.list_all_tools().await.map_err(|e| format!("listing tools failed: {e}"))?;
    Ok((client, tools))
}
