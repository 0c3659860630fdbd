//! What a check is (its validated spec) and what running it produced (an observation).

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::secret::Secret;
use crate::time::Timestamp;

/// A validated check, ready for the scheduler.
#[derive(Debug, Clone, Serialize)]
pub struct CheckSpec {
    /// `service/name`, unique across the config.
    pub id: String,
    pub service: String,
    pub name: String,
    pub interval: Duration,
    pub timeout: Duration,
    /// Up to this much random delay is added to each run, to spread load.
    pub jitter: Duration,
    pub fail_after: u32,
    pub recover_after: u32,
    /// This many state changes inside `flap_window` make the check `flapping`.
    pub flap_threshold: u32,
    pub flap_window: Duration,
    pub labels: BTreeMap<String, String>,
    pub probe: Probe,
}

/// The kind-specific part of a check.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Probe {
    Http(HttpProbe),
    Tcp {
        address: String,
    },
    Disk(DiskProbe),
    Process(ProcessProbe),
    Command {
        run: Vec<String>,
    },
    Memory {
        max_used_percent: f64,
    },
    Load {
        max_per_core: f64,
    },
    /// An instant PromQL query; every result's value must be within `min`..`max`.
    Prometheus(PromQueryProbe),
    /// A Prometheus, Alertmanager, Loki, Tempo, Mimir or Grafana answering its readiness endpoint.
    Ready {
        endpoint: Endpoint,
        flavor: StackFlavor,
    },
    /// An OpenTelemetry collector: its health endpoint and its own metrics.
    OtelCollector(CollectorProbe),
    /// A service's metrics, logs or traces arrived within a window.
    TelemetryFreshness(FreshnessProbe),
    /// Containers on the Docker (or Podman) engine are up, healthy and not crash-looping.
    Docker(DockerProbe),
    /// A command run in a throwaway container from a named image exits 0.
    DockerRun(DockerRunProbe),
}

/// Which containers a `docker` check watches.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ContainerSelector {
    /// One container by name.
    Name(String),
    /// Every container with this label (`key` or `key=value`); at least one must exist.
    Label { key: String, value: Option<String> },
    /// Every service of a Compose project (its `com.docker.compose.project` label).
    Compose { project: String, services: Vec<String> },
}

impl std::fmt::Display for ContainerSelector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ContainerSelector::Name(n) => write!(f, "container {n:?}"),
            ContainerSelector::Label { key, value: Some(v) } => write!(f, "containers labelled {key}={v}"),
            ContainerSelector::Label { key, value: None } => write!(f, "containers labelled {key}"),
            ContainerSelector::Compose { project, .. } => write!(f, "compose project {project:?}"),
        }
    }
}

/// What Docker accepts as a container name (or id): a letter or digit, then letters, digits,
/// `_`, `.` and `-`.
pub fn valid_container_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && name.len() <= 128
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

#[derive(Debug, Clone, Serialize)]
pub struct DockerProbe {
    pub select: ContainerSelector,
    /// A container whose healthcheck says `unhealthy` fails the check (when it has one).
    pub require_healthy: bool,
    /// More crashes than this within `restart_window` fail the check as `container-restarting`.
    pub max_restarts: u32,
    pub restart_window: Duration,
}

#[derive(Debug, Clone, Serialize)]
pub struct DockerRunProbe {
    pub image: String,
    pub run: Vec<String>,
    /// Values may be secrets; they never print.
    pub env: BTreeMap<String, Secret>,
    /// `none` (the default: no network), `bridge`, `host` or a network's name.
    pub network: String,
    /// `host:container` (read-only unless `:rw` is written).
    pub mounts: Vec<String>,
    pub cpus: f64,
    pub memory: u64,
}

/// An HTTP endpoint of the observability stack, with the headers it needs (a token, a tenant).
#[derive(Debug, Clone, Serialize)]
pub struct Endpoint {
    #[serde(serialize_with = "crate::secret::serialize_masked_url")]
    pub url: String,
    pub headers: BTreeMap<String, Secret>,
}

#[derive(Debug, Clone, Serialize)]
pub struct PromQueryProbe {
    /// Prometheus (or Mimir, Thanos, VictoriaMetrics) base URL.
    pub endpoint: Endpoint,
    pub query: String,
    pub min: Option<f64>,
    pub max: Option<f64>,
    /// Whether a query that returns nothing passes.
    pub empty_ok: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StackFlavor {
    Prometheus,
    Alertmanager,
    Loki,
    Tempo,
    Mimir,
    Grafana,
}

impl StackFlavor {
    pub const ALL: [StackFlavor; 6] = [
        StackFlavor::Prometheus,
        StackFlavor::Alertmanager,
        StackFlavor::Loki,
        StackFlavor::Tempo,
        StackFlavor::Mimir,
        StackFlavor::Grafana,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            StackFlavor::Prometheus => "prometheus",
            StackFlavor::Alertmanager => "alertmanager",
            StackFlavor::Loki => "loki",
            StackFlavor::Tempo => "tempo",
            StackFlavor::Mimir => "mimir",
            StackFlavor::Grafana => "grafana",
        }
    }

    /// The path each answers readiness on, as its documentation gives it.
    pub fn ready_path(self) -> &'static str {
        match self {
            StackFlavor::Prometheus | StackFlavor::Alertmanager => "/-/ready",
            StackFlavor::Loki | StackFlavor::Tempo | StackFlavor::Mimir => "/ready",
            StackFlavor::Grafana => "/api/health",
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct CollectorProbe {
    /// The health_check extension's endpoint (e.g. `http://otelcol:13133/`).
    pub health: Endpoint,
    /// The collector's own metrics (e.g. `http://otelcol:8888/metrics`).
    pub metrics_url: String,
    /// An exporter queue fuller than this share of its capacity fails the check.
    pub max_queue_ratio: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TelemetrySignal {
    Metrics,
    Logs,
    Traces,
}

impl TelemetrySignal {
    pub fn as_str(self) -> &'static str {
        match self {
            TelemetrySignal::Metrics => "metrics",
            TelemetrySignal::Logs => "logs",
            TelemetrySignal::Traces => "traces",
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct FreshnessProbe {
    pub source: FreshnessSource,
    pub signal: TelemetrySignal,
    pub within: Duration,
}

/// Where a freshness check looks.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FreshnessSource {
    /// Prometheus for metrics, Loki for logs, Tempo for traces, asked with `query`: a PromQL
    /// series selector, a LogQL stream selector or a TraceQL query.
    Backend { endpoint: Endpoint, query: String },
    /// obsctl's own OTLP receiver (`[telemetry] receiver`): when this `service.name` last sent.
    Receiver { service: String },
}

#[derive(Debug, Clone, Serialize)]
pub struct HttpProbe {
    /// Shown with its userinfo and query values masked: they often carry credentials.
    #[serde(serialize_with = "crate::secret::serialize_masked_url")]
    pub url: String,
    pub method: String,
    /// Header values are secrets (`Authorization`, API keys): they never print.
    pub headers: BTreeMap<String, Secret>,
    pub expect_status: Option<u16>,
    pub body_contains: Option<String>,
    pub json_pointer: Option<(String, serde_json::Value)>,
    pub latency_under: Option<Duration>,
    pub cert_days_left_over: Option<u32>,
    /// The most of the body that is read; the rest is never downloaded.
    pub max_body_bytes: usize,
    /// A PEM file of extra CA certificates to trust (a private CA), besides the system's.
    pub ca_file: Option<String>,
    pub connection: Connection,
}

/// Whether an HTTP check opens a new connection each run or reuses a kept-alive one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Connection {
    /// The default: each run resolves the name, connects and (for https) shakes hands, as a
    /// new client of the service would, and asks the server to close afterwards.
    Fresh,
    /// Runs share kept-alive connections: cheaper for many frequent checks, but a run then
    /// tests neither DNS, nor connect, nor the TLS handshake.
    Reuse,
}

impl Connection {
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "fresh" => Some(Connection::Fresh),
            "reuse" => Some(Connection::Reuse),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct DiskProbe {
    pub path: String,
    pub max_used_percent: Option<f64>,
    pub min_free: Option<u64>,
    /// Total size of the files under `path` (a folder that must not grow past it).
    pub max_size: Option<u64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ProcessProbe {
    pub target: ProcessTarget,
    pub max_rss: Option<u64>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ProcessTarget {
    Name(String),
    PidFile(String),
    Pid(u32),
}

impl Probe {
    /// What the check looks at (its kind and URL, address, path, query, image, command…), as
    /// stable text: a check whose target changed starts a new history. Thresholds, timeouts and
    /// settings added later are not part of it.
    pub fn target(&self) -> String {
        const TARGET_KEYS: &[&str] = &[
            "kind",
            "url",
            "address",
            "path",
            "target",
            "run",
            "image",
            "select",
            "endpoint",
            "query",
            "flavor",
            "health",
            "metrics_url",
            "source",
            "signal",
        ];
        let Ok(serde_json::Value::Object(fields)) = serde_json::to_value(self) else { return String::new() };
        let kept: serde_json::Map<String, serde_json::Value> =
            fields.into_iter().filter(|(k, _)| TARGET_KEYS.contains(&k.as_str())).collect();
        serde_json::Value::Object(kept).to_string()
    }

    /// Whether this probe reads obsctl's own OTLP receiver.
    pub fn reads_receiver(&self) -> bool {
        matches!(self, Probe::TelemetryFreshness(FreshnessProbe { source: FreshnessSource::Receiver { .. }, .. }))
    }
    pub fn kind(&self) -> &'static str {
        match self {
            Probe::Http(_) => "http",
            Probe::Tcp { .. } => "tcp",
            Probe::Disk(_) => "disk",
            Probe::Process(_) => "process",
            Probe::Command { .. } => "command",
            Probe::Memory { .. } => "memory",
            Probe::Load { .. } => "load",
            Probe::Prometheus(_) => "prometheus",
            Probe::Ready { .. } => "ready",
            Probe::OtelCollector(_) => "otel_collector",
            Probe::TelemetryFreshness(_) => "telemetry_freshness",
            Probe::Docker(_) => "docker",
            Probe::DockerRun(_) => "docker_run",
        }
    }

    /// Every incident kind a check can raise, for runbook matchers.
    pub const INCIDENT_KINDS: &[&str] = &[
        "http-down",
        "tcp-down",
        "disk-full",
        "path-missing",
        "process-missing",
        "command-failed",
        "memory-high",
        "load-high",
        "metric-threshold",
        "stack-not-ready",
        "collector-degraded",
        "telemetry-missing",
        "container-down",
        "container-unhealthy",
        "container-restarting",
    ];

    /// The incident kind a failure of this probe raises, e.g. `http-down`, `disk-full`; a
    /// `docker` check's failure names its own (down, unhealthy or restarting), this is the first.
    pub fn incident_kind(&self) -> &'static str {
        match self {
            Probe::Http(_) => "http-down",
            Probe::Tcp { .. } => "tcp-down",
            Probe::Disk(_) => "disk-full",
            Probe::Process(_) => "process-missing",
            Probe::Command { .. } => "command-failed",
            Probe::Memory { .. } => "memory-high",
            Probe::Load { .. } => "load-high",
            Probe::Prometheus(_) => "metric-threshold",
            Probe::Ready { .. } => "stack-not-ready",
            Probe::OtelCollector(_) => "collector-degraded",
            Probe::TelemetryFreshness(_) => "telemetry-missing",
            Probe::Docker(_) => "container-down",
            Probe::DockerRun(_) => "command-failed",
        }
    }
}

/// The result of running one check once.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Observation {
    pub check_id: String,
    pub at: Timestamp,
    pub ok: bool,
    /// Time the probe itself took, in microseconds.
    pub latency_us: u64,
    /// What was seen, e.g. `status 500 (expected 200)` or `92.1% used (max 90%)`.
    pub detail: String,
    /// The probe could not look (its engine was unreachable): neither a pass nor a failure,
    /// so the check is `unknown` and no incident opens. Stored (history shows it apart).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub unknown: bool,
    /// The incident kind a failure raises when the probe names a narrower one than its check's
    /// (`container-unhealthy` rather than `container-down`). Not stored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub incident_kind: Option<String>,
}

/// Latency percentiles over a check's recent history, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, Default, schemars::JsonSchema)]
pub struct LatencySummary {
    pub count: usize,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

impl LatencySummary {
    /// Nearest-rank percentiles of the given latencies (microseconds).
    pub fn of(latencies_us: &[u64]) -> Self {
        if latencies_us.is_empty() {
            return Self::default();
        }
        let mut v = latencies_us.to_vec();
        v.sort_unstable();
        let at = |p: f64| {
            let rank = ((p * v.len() as f64).ceil() as usize).clamp(1, v.len());
            v[rank - 1] as f64 / 1000.0
        };
        Self { count: v.len(), p50_ms: at(0.50), p90_ms: at(0.90), p99_ms: at(0.99), max_ms: at(1.0) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn container_names_are_what_docker_accepts() {
        for good in ["shop-web", "db_1", "a.b", "X9", "4f1c9a0e2b7d"] {
            assert!(valid_container_name(good), "{good}");
        }
        for bad in ["", "-web", "web app", "we$b", "../etc", "名前", &"a".repeat(129)] {
            assert!(!valid_container_name(bad), "{bad}");
        }
    }

    #[test]
    fn percentiles_use_nearest_rank() {
        let lat: Vec<u64> = (1..=100).map(|i| i * 1000).collect();
        let s = LatencySummary::of(&lat);
        assert_eq!((s.count, s.p50_ms, s.p90_ms, s.p99_ms, s.max_ms), (100, 50.0, 90.0, 99.0, 100.0));
        assert_eq!(LatencySummary::of(&[]).count, 0);
    }
}
