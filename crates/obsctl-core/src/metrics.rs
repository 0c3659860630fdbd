//! obsctl's own metrics, one registry for the process, served at `/metrics` in the
//! Prometheus text format. Names follow `obsctl_<subsystem>_<name>_<unit>[_total]`.

use std::sync::OnceLock;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CheckLabels {
    /// The check kind (`http`, `prometheus`, …): a bounded set, unlike check ids.
    pub kind: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CheckResultLabels {
    pub kind: String,
    /// `ok` or `failed`.
    pub result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ActionLabels {
    pub tool: String,
    /// The action's final state: `succeeded`, `failed`, …
    pub outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct VerdictLabels {
    pub verdict: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct WebhookLabels {
    pub source: String,
    pub status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OtlpLabels {
    /// `traces`, `logs` or `metrics`.
    pub signal: &'static str,
    pub status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SignalLabels {
    /// `traces`, `logs` or `metrics`.
    pub signal: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StoreWriteLabels {
    /// What was written: `observations`, `alerts`.
    pub op: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ExportLabels {
    /// `sent`, `failed` (the collector refused or stayed unreachable) or `dropped` (queue full).
    pub result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SyncLabels {
    /// `pushed` (sent to the central), `pulled` (taken from it) or `received` (pushed to this
    /// instance as a central).
    pub direction: &'static str,
}

type Histograms<L> = Family<L, Histogram, fn() -> Histogram>;

/// 1 ms to about 33 s, doubling.
fn latency_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.001, 2.0, 16))
}

pub struct Metrics {
    registry: Registry,
    pub check_runs: Family<CheckResultLabels, Counter>,
    pub probe_duration: Histograms<CheckLabels>,
    pub scheduler_lateness: Histogram,
    pub incidents_open: Gauge,
    pub actions: Family<ActionLabels, Counter>,
    pub gate_decisions: Family<VerdictLabels, Counter>,
    pub webhook_requests: Family<WebhookLabels, Counter>,
    pub otlp_requests: Family<OtlpLabels, Counter>,
    pub otlp_items: Family<SignalLabels, Counter>,
    pub store_write_duration: Histograms<StoreWriteLabels>,
    pub recall_duration: Histogram,
    pub traces_exported: Family<ExportLabels, Counter>,
    pub sync_episodes: Family<SyncLabels, Counter>,
    pub sync_failures: Counter,
    pub sync_backlog: Gauge,
    pub sync_last_success: Gauge,
}

impl Metrics {
    fn new() -> Self {
        let mut registry = Registry::default();
        let m = Metrics {
            check_runs: Family::default(),
            probe_duration: Family::new_with_constructor(latency_histogram),
            scheduler_lateness: latency_histogram(),
            incidents_open: Gauge::default(),
            actions: Family::default(),
            gate_decisions: Family::default(),
            webhook_requests: Family::default(),
            otlp_requests: Family::default(),
            otlp_items: Family::default(),
            store_write_duration: Family::new_with_constructor(latency_histogram),
            recall_duration: latency_histogram(),
            traces_exported: Family::default(),
            sync_episodes: Family::default(),
            sync_failures: Counter::default(),
            sync_backlog: Gauge::default(),
            sync_last_success: Gauge::default(),
            registry: Registry::default(),
        };
        registry.register("obsctl_checks_runs", "Check runs by kind and result", m.check_runs.clone());
        registry.register("obsctl_probe_duration_seconds", "Time a probe took", m.probe_duration.clone());
        registry.register(
            "obsctl_scheduler_lateness_seconds",
            "How late a scheduled check started",
            m.scheduler_lateness.clone(),
        );
        registry.register("obsctl_incidents_open", "Incidents open now", m.incidents_open.clone());
        registry.register("obsctl_agent_actions", "Actions run, by tool and outcome", m.actions.clone());
        registry.register("obsctl_gate_decisions", "Policy gate decisions by verdict", m.gate_decisions.clone());
        registry.register(
            "obsctl_webhook_requests",
            "Alert webhook requests by source and HTTP status",
            m.webhook_requests.clone(),
        );
        registry.register(
            "obsctl_otlp_requests",
            "OTLP/HTTP export requests to the receiver by signal and HTTP status",
            m.otlp_requests.clone(),
        );
        registry.register(
            "obsctl_otlp_items",
            "Spans, log records and metric data points the receiver accepted, by signal",
            m.otlp_items.clone(),
        );
        registry.register(
            "obsctl_store_write_duration_seconds",
            "Time a batched store write took",
            m.store_write_duration.clone(),
        );
        registry.register("obsctl_recall_duration_seconds", "Time a recall query took", m.recall_duration.clone());
        registry.register(
            "obsctl_otlp_traces",
            "Incident traces exported over OTLP, by result",
            m.traces_exported.clone(),
        );
        registry.register("obsctl_memory_sync_episodes", "Episodes synced, by direction", m.sync_episodes.clone());
        registry.register("obsctl_memory_sync_failures", "Memory sync attempts that failed", m.sync_failures.clone());
        registry.register(
            "obsctl_memory_sync_backlog_episodes",
            "This instance's episodes not yet pushed to the central",
            m.sync_backlog.clone(),
        );
        registry.register(
            "obsctl_memory_sync_last_success_timestamp_seconds",
            "When memory sync last succeeded (unix seconds; 0: never)",
            m.sync_last_success.clone(),
        );
        Metrics { registry, ..m }
    }

    /// Every metric in the Prometheus text format.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }

    pub fn check_run(&self, kind: &str, ok: bool, took: Duration) {
        let result = if ok { "ok" } else { "failed" };
        self.check_runs.get_or_create(&CheckResultLabels { kind: kind.into(), result }).inc();
        self.probe_duration.get_or_create(&CheckLabels { kind: kind.into() }).observe(took.as_secs_f64());
    }

    pub fn traces_exported(&self, result: &'static str, traces: usize) {
        self.traces_exported.get_or_create(&ExportLabels { result }).inc_by(traces as u64);
    }

    pub fn store_write(&self, op: &'static str, took: Duration) {
        self.store_write_duration.get_or_create(&StoreWriteLabels { op }).observe(took.as_secs_f64());
    }
}

/// The process's metrics.
pub fn metrics() -> &'static Metrics {
    static METRICS: OnceLock<Metrics> = OnceLock::new();
    METRICS.get_or_init(Metrics::new)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_convention_and_encode() {
        let m = Metrics::new();
        m.check_run("http", false, Duration::from_millis(3));
        m.gate_decisions.get_or_create(&VerdictLabels { verdict: "execute" }).inc();
        m.webhook_requests.get_or_create(&WebhookLabels { source: "alertmanager".into(), status: 200 }).inc();
        let text = m.encode();
        for line in [
            "obsctl_checks_runs_total{kind=\"http\",result=\"failed\"} 1",
            "obsctl_probe_duration_seconds_count{kind=\"http\"} 1",
            "obsctl_gate_decisions_total{verdict=\"execute\"} 1",
            "obsctl_webhook_requests_total{source=\"alertmanager\",status=\"200\"} 1",
            "# TYPE obsctl_scheduler_lateness_seconds histogram",
            "# TYPE obsctl_incidents_open gauge",
            "# TYPE obsctl_memory_sync_backlog_episodes gauge",
            "# TYPE obsctl_memory_sync_last_success_timestamp_seconds gauge",
            "# TYPE obsctl_memory_sync_failures counter",
        ] {
            assert!(text.contains(line), "{line} missing from\n{text}");
        }
        let names = text.lines().filter_map(|l| l.strip_prefix("# TYPE ")).map(|l| l.split(' ').next().unwrap_or(""));
        assert!(names.clone().all(|n| n.starts_with("obsctl_")), "{text}");
        // Families nobody has touched yet (actions, store writes) are left out until they are.
        assert_eq!(names.count(), 10);
    }
}
