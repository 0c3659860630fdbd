//! Sends incident traces to an OTLP/HTTP collector (JSON bodies) from a background task: the
//! agent hands a trace over and never waits; a collector that is down costs retries, then the
//! trace, never a fix.

use std::time::Duration;

use obsctl_config::OtlpConfig;
use obsctl_core::metrics::metrics;
use obsctl_core::trace::{Trace, otlp_json};
use tokio::sync::{mpsc, watch};

/// Traces waiting to be sent; more are dropped (and counted) rather than held without bound.
const QUEUE: usize = 512;
/// Traces in one request.
const BATCH: usize = 64;
/// Waits between tries of one batch; the last try comes after the last wait.
const BACKOFF: [Duration; 3] = [Duration::from_secs(1), Duration::from_secs(2), Duration::from_secs(4)];

/// The agent's handle on the exporter.
#[derive(Clone)]
pub struct TraceExporter {
    queue: mpsc::Sender<Trace>,
}

impl TraceExporter {
    /// Starts the sending task; [`ExportTask::finish`] stops it once the agent is done.
    pub fn start(config: OtlpConfig) -> anyhow::Result<(Self, ExportTask)> {
        let client = obsctl_host::http_client().timeout(config.timeout).build()?;
        let (queue, rx) = mpsc::channel(QUEUE);
        let (stop, shutdown) = watch::channel(false);
        tracing::info!(url = %config.traces_url, "exporting incident traces over OTLP/HTTP (JSON)");
        let handle = tokio::spawn(Sender { client, config }.run(rx, shutdown));
        Ok((Self { queue }, ExportTask { stop, handle }))
    }

    /// Queues `trace` for sending.
    pub fn offer(&self, trace: Trace) {
        if self.queue.try_send(trace).is_err() {
            metrics().traces_exported("dropped", 1);
            tracing::warn!("the OTLP export queue is full (the collector is slow or down): a trace was dropped");
        }
    }
}

/// The running sender, for the process to stop last (after the agent remembered its last).
pub struct ExportTask {
    stop: watch::Sender<bool>,
    handle: tokio::task::JoinHandle<()>,
}

impl ExportTask {
    /// Sends what is queued (one try each, retry waits cut short) within `within`, then stops.
    pub async fn finish(self, within: Duration) {
        let _ = self.stop.send(true);
        let mut handle = self.handle;
        if tokio::time::timeout(within, &mut handle).await.is_err() {
            tracing::warn!(?within, "OTLP export did not finish in time; abandoning what is queued");
            handle.abort();
        }
    }
}

struct Sender {
    client: reqwest::Client,
    config: OtlpConfig,
}

/// Why a try failed, and whether trying again may help.
struct Failure {
    reason: String,
    retry: bool,
}

impl Sender {
    async fn run(self, mut rx: mpsc::Receiver<Trace>, mut shutdown: watch::Receiver<bool>) {
        loop {
            let first = tokio::select! {
                trace = rx.recv() => match trace { Some(t) => t, None => return },
                _ = shutdown.changed() => break,
            };
            let mut batch = vec![first];
            while batch.len() < BATCH
                && let Ok(t) = rx.try_recv()
            {
                batch.push(t);
            }
            self.deliver(&batch, &mut shutdown).await;
        }
        // Shutting down: one try at what is left.
        let mut rest = Vec::new();
        while let Ok(t) = rx.try_recv() {
            rest.push(t);
        }
        for batch in rest.chunks(BATCH) {
            self.finish(batch, self.post(batch).await);
        }
    }

    /// Sends `batch`, retrying what may pass later; a shutdown cuts the waits short.
    async fn deliver(&self, batch: &[Trace], shutdown: &mut watch::Receiver<bool>) {
        let mut result = self.post(batch).await;
        for wait in BACKOFF {
            match &result {
                Err(f) if f.retry && !*shutdown.borrow() => {
                    tracing::debug!(reason = %f.reason, ?wait, "OTLP export failed; retrying");
                    tokio::select! {
                        _ = tokio::time::sleep(wait) => {}
                        _ = shutdown.changed() => {}
                    }
                    result = self.post(batch).await;
                }
                _ => break,
            }
        }
        self.finish(batch, result);
    }

    fn finish(&self, batch: &[Trace], result: Result<(), Failure>) {
        match result {
            Ok(()) => {
                metrics().traces_exported("sent", batch.len());
                for t in batch {
                    tracing::debug!(trace_id = %t.trace_id_hex(), spans = t.spans.len(), "trace exported");
                }
            }
            Err(f) => {
                metrics().traces_exported("failed", batch.len());
                tracing::warn!(url = %self.config.traces_url, reason = %f.reason, traces = batch.len(), "OTLP export failed; the traces are lost (the journal keeps every step)");
            }
        }
    }

    async fn post(&self, batch: &[Trace]) -> Result<(), Failure> {
        let mut request = self.client.post(&self.config.traces_url).json(&otlp_json(batch, &self.config.resource));
        for (name, value) in &self.config.headers {
            request = request.header(name.as_str(), value.expose());
        }
        let response =
            request.send().await.map_err(|e| Failure { reason: obsctl_host::describe_error(&e), retry: true })?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        let body = response.text().await.unwrap_or_default();
        let body: String = body.chars().take(300).collect();
        Err(Failure {
            reason: format!("HTTP {status}: {body}"),
            retry: matches!(status.as_u16(), 429 | 502 | 503 | 504),
        })
    }
}
