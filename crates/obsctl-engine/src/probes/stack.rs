//! Probes of the observability stack over its HTTP APIs: an instant PromQL query against
//! limits, and a component's readiness endpoint.

use std::time::Duration;

use obsctl_core::check::{Endpoint, PromQueryProbe, StackFlavor};
use serde_json::Value;

use super::{ProbeContext, ProbeOutcome};

/// The most of an answer read: a query result or a metrics page.
const MAX_BODY: usize = 4 << 20;

/// GETs `url` with the endpoint's headers; the status and the body (up to `MAX_BODY`).
pub(super) async fn fetch(
    ctx: &ProbeContext,
    endpoint: &Endpoint,
    url: &str,
    query: &[(&str, &str)],
    timeout: Duration,
) -> Result<(u16, Vec<u8>), String> {
    let url = reqwest::Url::parse_with_params(url, query).map_err(|e| format!("{url}: {e}"))?;
    let mut req = ctx.http.get(url.clone()).timeout(timeout);
    for (k, v) in &endpoint.headers {
        req = req.header(k, v.expose());
    }
    let mut resp = req.send().await.map_err(|e| super::http::describe(&e))?;
    let status = resp.status().as_u16();
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(|e| super::http::describe(&e))? {
        if body.len() + chunk.len() > MAX_BODY {
            return Err(format!("the answer from {url} is over {} MB", MAX_BODY >> 20));
        }
        body.extend_from_slice(&chunk);
    }
    Ok((status, body))
}

/// A Prometheus-API JSON answer's `data.result`, or why there is none.
pub(super) fn prometheus_result(status: u16, body: &[u8]) -> Result<Value, String> {
    let doc: Value =
        serde_json::from_slice(body).map_err(|_| format!("status {status}, answer is not Prometheus API JSON"))?;
    if doc["status"] != "success" {
        let error = doc["error"].as_str().unwrap_or("no error given");
        return Err(format!("query failed ({}): {error}", doc["errorType"].as_str().unwrap_or("status {status}")));
    }
    Ok(doc["data"]["result"].clone())
}

/// The (labels, value) of every sample of an instant query's result (vector or scalar).
fn samples(result: &Value) -> Vec<(String, f64)> {
    let value = |v: &Value| v.get(1).and_then(Value::as_str).and_then(|s| s.parse::<f64>().ok());
    match result {
        Value::Array(items) if items.first().is_some_and(Value::is_object) => {
            items.iter().filter_map(|s| Some((labels(&s["metric"]), value(&s["value"])?))).collect()
        }
        // A scalar: [time, "value"].
        Value::Array(_) => value(result).map(|v| vec![(String::new(), v)]).unwrap_or_default(),
        _ => Vec::new(),
    }
}

fn labels(metric: &Value) -> String {
    let pairs: Vec<String> = metric
        .as_object()
        .map(|m| m.iter().map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or(""))).collect())
        .unwrap_or_default();
    format!("{{{}}}", pairs.join(","))
}

pub(super) async fn prometheus(p: &PromQueryProbe, timeout: Duration, ctx: &ProbeContext) -> ProbeOutcome {
    let url = format!("{}/api/v1/query", p.endpoint.url);
    let result = match fetch(ctx, &p.endpoint, &url, &[("query", &p.query)], timeout).await {
        Ok((status, body)) => prometheus_result(status, &body),
        Err(e) => Err(e),
    };
    let samples = match result {
        Ok(r) => samples(&r),
        Err(e) => return ProbeOutcome::fail(e),
    };
    if samples.is_empty() {
        let detail = "the query returned nothing".to_string();
        return if p.empty_ok {
            ProbeOutcome::pass(detail)
        } else {
            ProbeOutcome::fail(format!("{detail} (on_empty = \"fail\")"))
        };
    }
    let outside: Vec<String> = samples
        .iter()
        .filter(|(_, v)| v.is_nan() || p.max.is_some_and(|m| *v > m) || p.min.is_some_and(|m| *v < m))
        .map(|(l, v)| if l.is_empty() { format!("{v}") } else { format!("{l} {v}") })
        .collect();
    let limits = match (p.min, p.max) {
        (Some(lo), Some(hi)) => format!("between {lo} and {hi}"),
        (Some(lo), None) => format!("at least {lo}"),
        (None, Some(hi)) => format!("at most {hi}"),
        (None, None) => "any".into(),
    };
    if outside.is_empty() {
        let shown: Vec<String> = samples.iter().take(3).map(|(_, v)| v.to_string()).collect();
        ProbeOutcome::pass(format!("{} series {limits}: {}", samples.len(), shown.join(", ")))
    } else {
        ProbeOutcome::fail(format!(
            "{} of {} series not {limits}: {}",
            outside.len(),
            samples.len(),
            outside.join("; ")
        ))
    }
}

pub(super) async fn ready(
    endpoint: &Endpoint,
    flavor: StackFlavor,
    timeout: Duration,
    ctx: &ProbeContext,
) -> ProbeOutcome {
    let url = format!("{}{}", endpoint.url, flavor.ready_path());
    let (status, body) = match fetch(ctx, endpoint, &url, &[], timeout).await {
        Ok(answer) => answer,
        Err(e) => return ProbeOutcome::fail(format!("{}: {e}", flavor.as_str())),
    };
    let text = String::from_utf8_lossy(&body);
    let said = text.trim().chars().take(200).collect::<String>();
    if status != 200 {
        return ProbeOutcome::fail(format!("{} not ready: status {status}: {said}", flavor.as_str()));
    }
    if flavor == StackFlavor::Grafana {
        // Grafana answers 200 with its database's state.
        let database =
            serde_json::from_slice::<Value>(&body).ok().and_then(|d| d["database"].as_str().map(str::to_string));
        return match database.as_deref() {
            Some("ok") => ProbeOutcome::pass("grafana ready: database ok"),
            other => ProbeOutcome::fail(format!("grafana not ready: database {}", other.unwrap_or("state missing"))),
        };
    }
    ProbeOutcome::pass(format!("{} ready: {said}", flavor.as_str()))
}
