//! One OTLP/HTTP export request's body to what the receiver records: per resource, its
//! `service.name`, how many spans, log records or metric data points it carried, and the
//! canary id it carries, if any. gzip is undone within the same size bound as the body.

use std::io::Read;

use flate2::read::GzDecoder;
use obsctl_core::check::TelemetrySignal;
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::metrics::v1::metric::Data;
use opentelemetry_proto::tonic::resource::v1::Resource;
use prost::Message;

use super::CANARY_ATTRIBUTE;

/// The service name of a resource without `service.name` (as the SDKs' default begins).
const UNKNOWN_SERVICE: &str = "unknown_service";
/// Names longer than this are cut: a name is a key in memory.
const MAX_NAME: usize = 200;

/// The two encodings OTLP/HTTP defines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Protobuf,
    Json,
}

impl Encoding {
    /// The encoding a `Content-Type` names; `None` for anything OTLP/HTTP does not define.
    pub fn of_content_type(value: &str) -> Option<Self> {
        let media = value.split(';').next().unwrap_or("").trim();
        if media.eq_ignore_ascii_case("application/x-protobuf") || media.eq_ignore_ascii_case("application/protobuf") {
            Some(Encoding::Protobuf)
        } else if media.eq_ignore_ascii_case("application/json") {
            Some(Encoding::Json)
        } else {
            None
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Encoding::Protobuf => "application/x-protobuf",
            Encoding::Json => "application/json",
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Encoding::Protobuf => "protobuf",
            Encoding::Json => "JSON",
        }
    }
}

/// What one resource of a request carried.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Batch {
    pub service: String,
    /// Spans, log records or metric data points.
    pub items: u64,
    pub canary: Option<String>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DecodeError {
    #[error("the body is over {0} bytes once gunzipped; send smaller batches or raise [telemetry] max_body")]
    TooLarge(usize),
    #[error("the body says Content-Encoding: gzip but is not gzip: {0}")]
    Gzip(String),
    #[error("the body is not an OTLP {signal} export request in {encoding}: {detail}")]
    Invalid { signal: &'static str, encoding: &'static str, detail: String },
}

/// The resources of one export request of `signal`; `max` bounds the body after gzip.
pub fn decode(
    signal: TelemetrySignal,
    encoding: Encoding,
    gzip: bool,
    body: &[u8],
    max: usize,
) -> Result<Vec<Batch>, DecodeError> {
    let unzipped;
    let body = if gzip {
        let mut out = Vec::new();
        GzDecoder::new(body)
            .take(max as u64 + 1)
            .read_to_end(&mut out)
            .map_err(|e| DecodeError::Gzip(e.to_string()))?;
        if out.len() > max {
            return Err(DecodeError::TooLarge(max));
        }
        unzipped = out;
        &unzipped[..]
    } else {
        body
    };
    let invalid =
        |detail: String| DecodeError::Invalid { signal: signal.as_str(), encoding: encoding.as_str(), detail };
    match signal {
        TelemetrySignal::Traces => {
            let request: ExportTraceServiceRequest = parse(encoding, body).map_err(invalid)?;
            Ok(request
                .resource_spans
                .iter()
                .map(|r| batch(r.resource.as_ref(), r.scope_spans.iter().map(|s| s.spans.len()).sum()))
                .collect())
        }
        TelemetrySignal::Logs => {
            let request: ExportLogsServiceRequest = parse(encoding, body).map_err(invalid)?;
            Ok(request
                .resource_logs
                .iter()
                .map(|r| batch(r.resource.as_ref(), r.scope_logs.iter().map(|s| s.log_records.len()).sum()))
                .collect())
        }
        TelemetrySignal::Metrics => {
            let request: ExportMetricsServiceRequest = parse(encoding, body).map_err(invalid)?;
            Ok(request
                .resource_metrics
                .iter()
                .map(|r| {
                    let points = r.scope_metrics.iter().flat_map(|s| &s.metrics).map(|m| data_points(m.data.as_ref()));
                    batch(r.resource.as_ref(), points.sum())
                })
                .collect())
        }
    }
}

fn parse<M: Message + Default + serde::de::DeserializeOwned>(encoding: Encoding, body: &[u8]) -> Result<M, String> {
    match encoding {
        Encoding::Protobuf => M::decode(body).map_err(|e| e.to_string()),
        Encoding::Json => serde_json::from_slice(body).map_err(|e| e.to_string()),
    }
}

fn data_points(data: Option<&Data>) -> usize {
    match data {
        Some(Data::Gauge(g)) => g.data_points.len(),
        Some(Data::Sum(s)) => s.data_points.len(),
        Some(Data::Histogram(h)) => h.data_points.len(),
        Some(Data::ExponentialHistogram(h)) => h.data_points.len(),
        Some(Data::Summary(s)) => s.data_points.len(),
        None => 0,
    }
}

fn batch(resource: Option<&Resource>, items: usize) -> Batch {
    let text = |key: &str| {
        resource?.attributes.iter().find(|a| a.key == key).and_then(|a| match a.value.as_ref()?.value.as_ref()? {
            Value::StringValue(s) if !s.is_empty() => Some(s.chars().take(MAX_NAME).collect::<String>()),
            _ => None,
        })
    };
    Batch {
        service: text("service.name").unwrap_or_else(|| UNKNOWN_SERVICE.into()),
        items: items as u64,
        canary: text(CANARY_ATTRIBUTE),
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;
    use crate::otlp::Canary;

    fn gzip(bytes: &[u8]) -> Vec<u8> {
        let mut z = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        z.write_all(bytes).unwrap();
        z.finish().unwrap()
    }

    #[test]
    fn each_signal_decodes_from_protobuf_and_json_gzipped_or_not() {
        let canary = Canary::new("checkout", &[("deployment.environment.name", "test")]);
        for signal in [TelemetrySignal::Traces, TelemetrySignal::Logs, TelemetrySignal::Metrics] {
            for encoding in [Encoding::Protobuf, Encoding::Json] {
                let body = canary.body(signal, encoding);
                let expected = vec![Batch { service: "checkout".into(), items: 1, canary: Some(canary.id.clone()) }];
                assert_eq!(
                    decode(signal, encoding, false, &body, 1 << 20).unwrap(),
                    expected,
                    "{signal:?} {encoding:?}"
                );
                assert_eq!(decode(signal, encoding, true, &gzip(&body), 1 << 20).unwrap(), expected);
            }
        }
    }

    #[test]
    fn otlp_json_as_the_specification_writes_it() {
        let body =
            br#"{"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"api"}}]},
            "scopeSpans":[{"scope":{"name":"s"},"spans":[
              {"traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174","name":"a","kind":2,
               "startTimeUnixNano":"1544712660000000000","endTimeUnixNano":"1544712661000000000"},
              {"traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b175","name":"b"}]}]},
            {"scopeSpans":[]}]}"#;
        let batches = decode(TelemetrySignal::Traces, Encoding::Json, false, body, 1 << 20).unwrap();
        assert_eq!(batches[0], Batch { service: "api".into(), items: 2, canary: None });
        assert_eq!(batches[1], Batch { service: UNKNOWN_SERVICE.into(), items: 0, canary: None });
    }

    #[test]
    fn bad_bodies_are_named_errors() {
        let not_otlp = decode(TelemetrySignal::Logs, Encoding::Json, false, b"{\"resourceLogs\": 3}", 1024);
        assert!(matches!(not_otlp, Err(DecodeError::Invalid { signal: "logs", encoding: "JSON", .. })), "{not_otlp:?}");
        let garbage = decode(TelemetrySignal::Traces, Encoding::Protobuf, false, &[0xff; 16], 1024);
        assert!(matches!(garbage, Err(DecodeError::Invalid { .. })), "{garbage:?}");
        assert!(matches!(
            decode(TelemetrySignal::Traces, Encoding::Protobuf, true, b"plain", 1024),
            Err(DecodeError::Gzip(_))
        ));
        // A small gzip body that inflates past the bound stops at the bound.
        let bomb = gzip(&vec![0u8; 10 << 20]);
        assert!(bomb.len() < 64 * 1024);
        assert_eq!(
            decode(TelemetrySignal::Traces, Encoding::Protobuf, true, &bomb, 1 << 20),
            Err(DecodeError::TooLarge(1 << 20))
        );
        assert_eq!(Encoding::of_content_type("application/x-protobuf"), Some(Encoding::Protobuf));
        assert_eq!(Encoding::of_content_type("application/json; charset=utf-8"), Some(Encoding::Json));
        assert_eq!(Encoding::of_content_type("text/plain"), None);
    }
}
