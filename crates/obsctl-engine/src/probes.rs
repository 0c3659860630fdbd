//! Probes: run one check once and say whether it passed, with a human-readable detail.

mod collector;
mod command;
mod disk;
mod docker;
mod docker_run;
mod freshness;
mod host;
mod http;
mod process;
mod stack;
mod tcp;

pub use docker::selects;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use obsctl_config::{Config, DockerConfig};
use obsctl_core::Timestamp;
use obsctl_core::check::{CheckSpec, Observation, Probe};
use obsctl_host::docker::{Engine, EngineAddress, TlsFiles};

/// What probes share: the HTTP client (its connection pool), one more client per private
/// CA file that checks name, and the container engine.
#[derive(Clone)]
pub struct ProbeContext {
    pub http: reqwest::Client,
    pub docker: Arc<Engine>,
    /// Who owns the throwaway containers this process starts (swept at start).
    pub owner: String,
    with_ca: Arc<Mutex<HashMap<String, reqwest::Client>>>,
    /// Collector counters from the last run, to tell which rose.
    counters: Arc<collector::CounterMemory>,
    /// What applications sent to obsctl's own OTLP receiver.
    pub arrivals: Arc<crate::otlp::Arrivals>,
}

fn client_builder() -> reqwest::ClientBuilder {
    obsctl_host::http_client()
        .redirect(reqwest::redirect::Policy::none())
        .tls_info(true)
        .pool_max_idle_per_host(32)
        .pool_idle_timeout(Duration::from_secs(30))
        .tcp_nodelay(true)
}

impl ProbeContext {
    pub fn new() -> anyhow::Result<Self> {
        let docker = Engine::new(EngineAddress { host: DockerConfig::DEFAULT_HOST.to_string(), tls: None });
        Ok(Self {
            http: client_builder().build()?,
            docker,
            owner: "obsctl".to_string(),
            with_ca: Arc::default(),
            counters: Arc::default(),
            arrivals: Arc::default(),
        })
    }

    /// The context for `config`: its container engine, and this instance's throwaway owner id
    /// (host name and store, so two instances on one engine never sweep each other's).
    pub fn for_config(config: &Config) -> anyhow::Result<Self> {
        let tls =
            config.docker.tls.as_ref().map(|t| TlsFiles { ca: t.ca.clone(), cert: t.cert.clone(), key: t.key.clone() });
        let engine = Engine::new(EngineAddress { host: config.docker.host.clone(), tls });
        let store = obsctl_core::hash::fnv1a(obsctl_core::hash::FNV_OFFSET, config.store.url.bytes());
        let owner = format!("{}-{}", obsctl_host::host_name(), obsctl_core::hash::hex(&store.to_be_bytes()[..4]));
        Ok(Self::new()?.with_docker(engine, owner))
    }

    /// Uses `engine` for container checks; throwaway containers carry `owner`.
    pub fn with_docker(mut self, engine: Arc<Engine>, owner: String) -> Self {
        self.docker = engine;
        self.owner = owner;
        self
    }

    /// Keeps a collector's counters for its next run; returns those of its last one.
    pub(crate) fn remember_samples(&self, url: &str, samples: &[collector::Sample]) -> Option<HashMap<String, f64>> {
        self.counters.swap(url, samples)
    }

    /// The client for a check: the shared one, or one that also trusts `ca_file`.
    pub(crate) fn client(&self, ca_file: Option<&str>) -> Result<reqwest::Client, String> {
        let Some(path) = ca_file else {
            return Ok(self.http.clone());
        };
        let mut cache = self.with_ca.lock().map_err(|_| "client cache poisoned".to_string())?;
        if let Some(c) = cache.get(path) {
            return Ok(c.clone());
        }
        let pem = std::fs::read(path).map_err(|e| format!("ca_file {path}: {e}"))?;
        let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| format!("ca_file {path}: {e}"))?;
        let client = certs
            .into_iter()
            .fold(client_builder(), |b, c| b.add_root_certificate(c))
            .build()
            .map_err(|e| format!("ca_file {path}: {e}"))?;
        cache.insert(path.to_string(), client.clone());
        Ok(client)
    }
}

/// The verdict of one probe run.
#[derive(Debug, Clone, PartialEq)]
pub struct ProbeOutcome {
    pub ok: bool,
    pub detail: String,
    /// The probe could not look: the check is `unknown`, not failing.
    pub unknown: bool,
    /// A narrower incident kind than the check's, e.g. `container-unhealthy`.
    pub incident_kind: Option<&'static str>,
}

impl ProbeOutcome {
    pub fn pass(detail: impl Into<String>) -> Self {
        Self { ok: true, detail: detail.into(), unknown: false, incident_kind: None }
    }

    pub fn fail(detail: impl Into<String>) -> Self {
        Self { ok: false, detail: detail.into(), unknown: false, incident_kind: None }
    }

    /// Neither pass nor fail: what the probe depends on (the container engine) is not there.
    pub fn unknown(detail: impl Into<String>) -> Self {
        Self { unknown: true, ..Self::fail(detail) }
    }

    pub fn kind(self, incident_kind: &'static str) -> Self {
        Self { incident_kind: Some(incident_kind), ..self }
    }
}

/// Runs a check's probe once, bounded by its timeout, and returns the observation.
pub async fn run(spec: &CheckSpec, ctx: &ProbeContext) -> Observation {
    let at = Timestamp::now();
    let started = Instant::now();
    let outcome = match tokio::time::timeout(spec.timeout, dispatch(spec, ctx)).await {
        Ok(outcome) => outcome,
        Err(_) => {
            ProbeOutcome::fail(format!("timed out after {}", obsctl_core::quantity::format_duration(spec.timeout)))
        }
    };
    let mut detail = outcome.detail;
    truncate(&mut detail, 500);
    Observation {
        check_id: spec.id.clone(),
        at,
        ok: outcome.ok,
        latency_us: started.elapsed().as_micros() as u64,
        detail,
        unknown: outcome.unknown,
        incident_kind: outcome.incident_kind.map(str::to_string),
    }
}

async fn dispatch(spec: &CheckSpec, ctx: &ProbeContext) -> ProbeOutcome {
    let timeout = spec.timeout;
    match &spec.probe {
        Probe::Http(p) => http::probe(p, timeout, ctx).await,
        Probe::Tcp { address } => tcp::probe(address).await,
        Probe::Disk(p) => disk::probe(p.clone()).await,
        Probe::Process(p) => process::probe(p.clone()).await,
        Probe::Command { run } => command::probe(run, timeout).await,
        Probe::Memory { max_used_percent } => host::memory(*max_used_percent).await,
        Probe::Load { max_per_core } => host::load(*max_per_core).await,
        Probe::Prometheus(p) => stack::prometheus(p, timeout, ctx).await,
        Probe::Ready { endpoint, flavor } => stack::ready(endpoint, *flavor, timeout, ctx).await,
        Probe::OtelCollector(p) => collector::probe(p, timeout, ctx).await,
        Probe::TelemetryFreshness(p) => freshness::probe(p, timeout, ctx).await,
        Probe::Docker(p) => docker::probe(p, spec.interval, timeout, ctx).await,
        Probe::DockerRun(p) => docker_run::probe(p, timeout, ctx).await,
    }
}

/// Cuts a string to at most `max` bytes on a character boundary.
pub(crate) fn truncate(text: &mut String, max: usize) {
    if text.len() > max {
        let mut end = max;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
        text.push('…');
    }
}

/// Runs blocking work (file walks, /proc reads) off the async threads.
pub(crate) async fn blocking(f: impl FnOnce() -> ProbeOutcome + Send + 'static) -> ProbeOutcome {
    tokio::task::spawn_blocking(f).await.unwrap_or_else(|e| ProbeOutcome::fail(format!("probe task failed: {e}")))
}
