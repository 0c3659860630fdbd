//! The canary: one span, one log record and one metric data point carrying a unique id (the
//! resource attribute `obsctl.canary`, and in the log body), sent as an app's SDK would send
//! them, then looked for wherever the telemetry should arrive.

use obsctl_core::Timestamp;
use obsctl_core::check::TelemetrySignal;
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, InstrumentationScope, KeyValue, any_value};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs, SeverityNumber};
use opentelemetry_proto::tonic::metrics::v1::{
    Gauge, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics, metric, number_data_point,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span, span};
use prost::Message;

use super::Encoding;

/// The resource attribute that carries a canary's id.
pub const CANARY_ATTRIBUTE: &str = "obsctl.canary";
/// The canary metric's name (`obsctl_canary` in Prometheus).
pub const CANARY_METRIC: &str = "obsctl.canary";

#[derive(Debug, Clone)]
pub struct Canary {
    /// `canary-` and 32 hex digits; the digits are also the span's trace id.
    pub id: String,
    resource: Resource,
    /// When it was made: the span's, record's and data point's time.
    pub at: Timestamp,
}

impl Canary {
    /// A new canary from `service`, with these resource attributes besides `service.name`.
    pub fn new(service: &str, attributes: &[(&str, &str)]) -> Self {
        let id = obsctl_store::new_id("canary");
        let mut resource_attributes = vec![text("service.name", service)];
        resource_attributes.extend(attributes.iter().filter(|(k, _)| *k != "service.name").map(|(k, v)| text(k, v)));
        resource_attributes.push(text(CANARY_ATTRIBUTE, &id));
        Canary {
            id,
            resource: Resource { attributes: resource_attributes, ..Default::default() },
            at: Timestamp::now(),
        }
    }

    /// The span's trace id, as Tempo and the W3C write it (32 hex digits).
    pub fn trace_id(&self) -> &str {
        self.id.trim_start_matches("canary-")
    }

    /// The export request of `signal` in `encoding`.
    pub fn body(&self, signal: TelemetrySignal, encoding: Encoding) -> Vec<u8> {
        fn encode<M: Message + serde::Serialize>(m: &M, encoding: Encoding) -> Vec<u8> {
            match encoding {
                Encoding::Protobuf => m.encode_to_vec(),
                Encoding::Json => serde_json::to_vec(m).unwrap_or_default(),
            }
        }
        match signal {
            TelemetrySignal::Traces => encode(&self.traces(), encoding),
            TelemetrySignal::Logs => encode(&self.logs(), encoding),
            TelemetrySignal::Metrics => encode(&self.metrics(), encoding),
        }
    }

    fn nanos(&self) -> u64 {
        (self.at.millis().max(0) as u64) * 1_000_000
    }

    fn scope() -> Option<InstrumentationScope> {
        Some(InstrumentationScope { name: "obsctl.telemetry.check".into(), ..Default::default() })
    }

    fn traces(&self) -> ExportTraceServiceRequest {
        let hex = self.trace_id();
        let bytes: Vec<u8> =
            (0..hex.len() / 2).filter_map(|i| u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok()).collect();
        let span = Span {
            trace_id: bytes.clone(),
            span_id: bytes[8..].to_vec(),
            name: "obsctl telemetry canary".into(),
            kind: span::SpanKind::Internal as i32,
            start_time_unix_nano: self.nanos(),
            end_time_unix_nano: self.nanos() + 1_000,
            attributes: vec![text(CANARY_ATTRIBUTE, &self.id)],
            ..Default::default()
        };
        let scope_spans = vec![ScopeSpans { scope: Self::scope(), spans: vec![span], ..Default::default() }];
        let resource_spans = ResourceSpans { resource: Some(self.resource.clone()), scope_spans, ..Default::default() };
        ExportTraceServiceRequest { resource_spans: vec![resource_spans] }
    }

    fn logs(&self) -> ExportLogsServiceRequest {
        let record = LogRecord {
            time_unix_nano: self.nanos(),
            observed_time_unix_nano: self.nanos(),
            severity_number: SeverityNumber::Info as i32,
            severity_text: "INFO".into(),
            body: Some(AnyValue {
                value: Some(any_value::Value::StringValue(format!("obsctl telemetry canary {}", self.id))),
            }),
            attributes: vec![text(CANARY_ATTRIBUTE, &self.id)],
            ..Default::default()
        };
        let scope_logs = vec![ScopeLogs { scope: Self::scope(), log_records: vec![record], ..Default::default() }];
        let resource_logs = ResourceLogs { resource: Some(self.resource.clone()), scope_logs, ..Default::default() };
        ExportLogsServiceRequest { resource_logs: vec![resource_logs] }
    }

    fn metrics(&self) -> ExportMetricsServiceRequest {
        let point = NumberDataPoint {
            time_unix_nano: self.nanos(),
            value: Some(number_data_point::Value::AsInt(1)),
            attributes: vec![text("canary_id", &self.id)],
            ..Default::default()
        };
        let metric = Metric {
            name: CANARY_METRIC.into(),
            description: "1 for each canary obsctl telemetry check sent".into(),
            data: Some(metric::Data::Gauge(Gauge { data_points: vec![point] })),
            ..Default::default()
        };
        let scope_metrics = vec![ScopeMetrics { scope: Self::scope(), metrics: vec![metric], ..Default::default() }];
        let resource_metrics =
            ResourceMetrics { resource: Some(self.resource.clone()), scope_metrics, ..Default::default() };
        ExportMetricsServiceRequest { resource_metrics: vec![resource_metrics] }
    }
}

fn text(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue { value: Some(any_value::Value::StringValue(value.into())) }),
        ..Default::default()
    }
}
