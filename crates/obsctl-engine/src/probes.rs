//! Probes: run one check once and say whether it passed, with a human-readable detail.

mod collector;
mod command;
mod disk;
mod freshness;
mod host;
mod http;
mod process;
mod stack;
mod tcp;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use obsctl_core::Timestamp;
use obsctl_core::check::{CheckSpec, Observation, Probe};

/// What probes share: the HTTP client (its connection pool), and one more client per private
/// CA file that checks name.
#[derive(Clone)]
pub struct ProbeContext {
    pub http: reqwest::Client,
    with_ca: Arc<Mutex<HashMap<String, reqwest::Client>>>,
    /// Collector counters from the last run, to tell which rose.
    counters: Arc<collector::CounterMemory>,
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
        Ok(Self { http: client_builder().build()?, with_ca: Arc::default(), counters: Arc::default() })
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
}

impl ProbeOutcome {
    pub fn pass(detail: impl Into<String>) -> Self {
        Self { ok: true, detail: detail.into() }
    }

    pub fn fail(detail: impl Into<String>) -> Self {
        Self { ok: false, detail: detail.into() }
    }
}

/// Runs a check's probe once, bounded by its timeout, and returns the observation.
pub async fn run(spec: &CheckSpec, ctx: &ProbeContext) -> Observation {
    let at = Timestamp::now();
    let started = Instant::now();
    let outcome = match tokio::time::timeout(spec.timeout, dispatch(&spec.probe, spec.timeout, ctx)).await {
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
    }
}

async fn dispatch(probe: &Probe, timeout: Duration, ctx: &ProbeContext) -> ProbeOutcome {
    match probe {
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
