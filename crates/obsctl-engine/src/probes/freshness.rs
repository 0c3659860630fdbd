//! The telemetry freshness probe: did a service's metrics (Prometheus), logs (Loki) or traces
//! (Tempo), or whatever it sends to obsctl's own OTLP receiver, arrive within the window? A
//! collector can report healthy while nothing arrives.

use std::time::Duration;

use obsctl_core::Timestamp;
use obsctl_core::check::{Endpoint, FreshnessProbe, FreshnessSource, TelemetrySignal};
use obsctl_core::quantity::format_duration;
use serde_json::Value;

use super::stack::{fetch, prometheus_result};
use super::{ProbeContext, ProbeOutcome};

pub(super) async fn probe(p: &FreshnessProbe, timeout: Duration, ctx: &ProbeContext) -> ProbeOutcome {
    let now = Timestamp::now();
    let window = format_duration(p.within);
    let (newest, query) = match &p.source {
        FreshnessSource::Receiver { service } => {
            let newest = ctx.arrivals.newest(service, p.signal).filter(|at| now.since(*at) <= p.within);
            (Ok(newest.map(Some)), format!("service.name {service:?} at obsctl's receiver"))
        }
        FreshnessSource::Backend { endpoint, query } => {
            let ask = Ask { endpoint, query, within: p.within, now, timeout, ctx };
            let newest = match p.signal {
                TelemetrySignal::Metrics => ask.metrics().await,
                TelemetrySignal::Logs => ask.logs().await,
                TelemetrySignal::Traces => ask.traces().await,
            };
            (newest, query.clone())
        }
    };
    let what = p.signal.as_str();
    match newest {
        Err(e) => ProbeOutcome::fail(format!("{what}: {e}")),
        Ok(None) => ProbeOutcome::fail(format!("no {what} from {query} in the last {window}")),
        Ok(Some(Some(at))) => ProbeOutcome::pass(format!("{what} arrived {}s ago", now.since(at).as_secs())),
        Ok(Some(None)) => ProbeOutcome::pass(format!("{what} arrived within the last {window}")),
    }
}

/// `Some(Some(t))`: data, the newest at `t`; `Some(None)`: data, time unknown; `None`: none.
type Newest = Result<Option<Option<Timestamp>>, String>;

/// One question to a query backend: its query over the window ending now.
struct Ask<'a> {
    endpoint: &'a Endpoint,
    query: &'a str,
    within: Duration,
    now: Timestamp,
    timeout: Duration,
    ctx: &'a ProbeContext,
}

impl Ask<'_> {
    /// `path` under the endpoint with `params`: the status and body.
    async fn get(&self, path: &str, params: &[(&str, &str)]) -> Result<(u16, Vec<u8>), String> {
        let url = format!("{}{path}", self.endpoint.url);
        fetch(self.ctx, self.endpoint, &url, params, self.timeout).await
    }

    async fn metrics(&self) -> Newest {
        let query = format!("count(last_over_time({}[{}s]))", self.query, self.within.as_secs().max(1));
        let (status, body) = self.get("/api/v1/query", &[("query", &query)]).await?;
        let result = prometheus_result(status, &body)?;
        let series =
            result.get(0).and_then(|s| s["value"].get(1)).and_then(Value::as_str).and_then(|v| v.parse::<f64>().ok());
        Ok(series.filter(|n| *n > 0.0).map(|_| None))
    }

    async fn logs(&self) -> Newest {
        let nanos = |t: Timestamp| (i128::from(t.millis()) * 1_000_000).to_string();
        let (start, end) = (nanos(self.now.minus(self.within)), nanos(self.now));
        let params =
            [("query", self.query), ("start", &start), ("end", &end), ("limit", "1"), ("direction", "backward")];
        let (status, body) = self.get("/loki/api/v1/query_range", &params).await?;
        let result = prometheus_result(status, &body)?;
        let newest = result
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|stream| stream["values"].as_array().into_iter().flatten())
            .filter_map(|v| v.get(0)?.as_str()?.parse::<i128>().ok())
            .max();
        Ok(newest.map(|ns| Some(Timestamp((ns / 1_000_000) as i64))))
    }

    async fn traces(&self) -> Newest {
        let seconds = |t: Timestamp| (t.millis() / 1000).to_string();
        let (start, end) = (seconds(self.now.minus(self.within)), seconds(self.now));
        let params = [("q", self.query), ("start", &start), ("end", &end), ("limit", "20")];
        let (status, body) = self.get("/api/search", &params).await?;
        if status != 200 {
            return Err(format!(
                "search failed: status {status}: {}",
                String::from_utf8_lossy(&body).trim().chars().take(200).collect::<String>()
            ));
        }
        let doc: Value =
            serde_json::from_slice(&body).map_err(|_| "the answer is not Tempo search JSON".to_string())?;
        let Some(traces) = doc["traces"].as_array().filter(|t| !t.is_empty()) else {
            return Ok(None);
        };
        let newest = traces
            .iter()
            .filter_map(|t| t["startTimeUnixNano"].as_str()?.parse::<i128>().ok())
            .max()
            .map(|ns| Timestamp((ns / 1_000_000) as i64));
        Ok(Some(newest))
    }
}
