//! Checks of the observability stack: `prometheus` (an instant query against limits), `ready`
//! (a stack component's readiness endpoint), `otel_collector` (health and its own metrics) and
//! `telemetry_freshness` (a service's metrics, logs or traces arrived lately).

use std::ops::Range;
use std::time::Duration;

use super::super::raw::RawCheck;
use super::Ctx;
use obsctl_core::check::{
    CollectorProbe, Endpoint, FreshnessProbe, FreshnessSource, Probe, PromQueryProbe, StackFlavor, TelemetrySignal,
};

fn endpoint(x: &mut Ctx<'_, '_>, c: &RawCheck, kspan: Range<usize>, example: &str) -> Option<Endpoint> {
    let url = x.url(c.url.as_ref(), kspan, "url", example)?;
    Some(Endpoint { url: url.trim_end_matches('/').to_string(), headers: x.headers(c) })
}

fn query(x: &mut Ctx<'_, '_>, c: &RawCheck, kspan: Range<usize>, example: &str) -> Option<String> {
    let q = x.required(c.query.as_ref(), kspan, "query", example)?.trim().to_string();
    if q.is_empty()
        && let Some(v) = &c.query
    {
        x.err(v.span(), "query", format!("is empty; e.g. query = {example}"));
    }
    Some(q)
}

pub(super) fn prometheus(x: &mut Ctx<'_, '_>, c: &RawCheck, kspan: Range<usize>) -> Option<Probe> {
    let endpoint = endpoint(x, c, kspan.clone(), "\"http://127.0.0.1:9090\"");
    let query = query(x, c, kspan.clone(), "\"sum(rate(http_requests_total{code=~\\\"5..\\\"}[5m]))\"");
    let (min, max) = (c.min.as_ref().map(|v| *v.get_ref()), c.max.as_ref().map(|v| *v.get_ref()));
    match (min, max) {
        (None, None) => x.err(kspan, "max", "a prometheus check needs a limit; add max = 0.05 and/or min = 1"),
        (Some(lo), Some(hi)) if lo > hi => {
            if let Some(m) = &c.min {
                x.err(m.span(), "min", format!("{lo} is above max {hi}; no value could pass"));
            }
        }
        _ => {}
    }
    let empty_ok = match c.on_empty.as_ref().map(|v| (v.get_ref().as_str(), v.span())) {
        None | Some(("fail", _)) => false,
        Some(("ok", _)) => true,
        Some((other, span)) => {
            x.err(span, "on_empty", format!("{other:?} is not a choice; use \"fail\" (the default) or \"ok\""));
            false
        }
    };
    Some(Probe::Prometheus(PromQueryProbe { endpoint: endpoint?, query: query?, min, max, empty_ok }))
}

pub(super) fn ready(x: &mut Ctx<'_, '_>, c: &RawCheck, kspan: Range<usize>) -> Option<Probe> {
    let endpoint = endpoint(x, c, kspan.clone(), "\"http://127.0.0.1:3100\"");
    let names: Vec<&str> = StackFlavor::ALL.iter().map(|f| f.as_str()).collect();
    let flavor = x.required(c.flavor.as_ref(), kspan, "flavor", "\"loki\"")?;
    let Some(flavor) = StackFlavor::ALL.into_iter().find(|f| f.as_str() == flavor) else {
        if let Some(f) = &c.flavor {
            x.err(f.span(), "flavor", format!("{flavor:?} is not a flavor; use one of {}", names.join(", ")));
        }
        return None;
    };
    Some(Probe::Ready { endpoint: endpoint?, flavor })
}

pub(super) fn collector(x: &mut Ctx<'_, '_>, c: &RawCheck, kspan: Range<usize>) -> Option<Probe> {
    let health = endpoint(x, c, kspan.clone(), "\"http://127.0.0.1:13133\"");
    let metrics_url = x.url(c.metrics_url.as_ref(), kspan, "metrics_url", "\"http://127.0.0.1:8888/metrics\"");
    let max_queue_ratio = c.max_queue_ratio.as_ref().map_or(0.8, |v| *v.get_ref());
    if let Some(v) = &c.max_queue_ratio
        && !(0.0..=1.0).contains(&max_queue_ratio)
    {
        x.err(v.span(), "max_queue_ratio", "must be between 0 and 1, e.g. 0.8");
    }
    Some(Probe::OtelCollector(CollectorProbe { health: health?, metrics_url: metrics_url?, max_queue_ratio }))
}

pub(super) fn freshness(x: &mut Ctx<'_, '_>, c: &RawCheck, kspan: Range<usize>, service: &str) -> Option<Probe> {
    let signals = [TelemetrySignal::Metrics, TelemetrySignal::Logs, TelemetrySignal::Traces];
    let signal = match x.required(c.signal.as_ref(), kspan.clone(), "signal", "\"traces\"")? {
        name if let Some(s) = signals.into_iter().find(|s| s.as_str() == name) => s,
        other => {
            if let Some(s) = &c.signal {
                x.err(s.span(), "signal", format!("{other:?} is not a signal; use metrics, logs or traces"));
            }
            return None;
        }
    };
    let example = match signal {
        TelemetrySignal::Metrics => "\"{job=\\\"checkout\\\"}\"",
        TelemetrySignal::Logs => "\"{service_name=\\\"checkout\\\"}\"",
        TelemetrySignal::Traces => "\"{resource.service.name=\\\"checkout\\\"}\"",
    };
    // No url: obsctl's own receiver, for the check's service or the `service.name` in `query`.
    let source = match (&c.url, &c.query) {
        (None, query) => {
            FreshnessSource::Receiver { service: query.as_ref().map_or(service, |q| q.get_ref().trim()).to_string() }
        }
        _ => {
            let endpoint = endpoint(x, c, kspan.clone(), "\"http://127.0.0.1:3200\"");
            let query = query(x, c, kspan, example);
            FreshnessSource::Backend { endpoint: endpoint?, query: query? }
        }
    };
    let within = x.duration(c.within.as_ref(), "within", Duration::from_secs(300));
    if within < Duration::from_secs(1)
        && let Some(w) = &c.within
    {
        x.err(w.span(), "within", "is under a second; telemetry takes longer than that to arrive");
    }
    Some(Probe::TelemetryFreshness(FreshnessProbe { source, signal, within }))
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use crate::*;
    use obsctl_core::check::{FreshnessProbe, FreshnessSource, Probe, StackFlavor, TelemetrySignal};

    fn load_text(text: &str) -> Result<Config, ConfigErrors> {
        load(text, &HashMap::new(), &LoadOptions { file: "obsctl.toml", known_tools: &[] })
    }

    #[test]
    fn stack_checks_load() {
        let config = load_text(
            r#"
[[service]]
name = "observability"
  [[service.check]]
  name = "errors"
  kind = "prometheus"
  url = "http://127.0.0.1:9090/"
  query = "job:errors:ratio5m"
  max = 0.05
  on_empty = "ok"
  [[service.check]]
  name = "loki"
  kind = "ready"
  url = "http://127.0.0.1:3100"
  flavor = "loki"
  headers = { "X-Scope-OrgID" = "team-a" }
  [[service.check]]
  name = "collector"
  kind = "otel_collector"
  url = "http://127.0.0.1:13133"
  metrics_url = "http://127.0.0.1:8888/metrics"
  [[service.check]]
  name = "traces"
  kind = "telemetry_freshness"
  signal = "traces"
  url = "http://127.0.0.1:3200"
  query = '{resource.service.name="checkout"}'
  within = "10m"
  [[service.check]]
  name = "logs"
  kind = "telemetry_freshness"
  signal = "logs"
  [[service.check]]
  name = "sdk-metrics"
  kind = "telemetry_freshness"
  signal = "metrics"
  query = "checkout-api"

[telemetry]
receiver = true
"#,
        )
        .unwrap();
        let probes: Vec<&Probe> = config.checks.iter().map(|c| &c.probe).collect();
        assert!(
            matches!(probes[0], Probe::Prometheus(p) if p.empty_ok && p.max == Some(0.05) && p.endpoint.url == "http://127.0.0.1:9090")
        );
        assert!(
            matches!(probes[1], Probe::Ready { flavor: StackFlavor::Loki, endpoint } if endpoint.headers.len() == 1)
        );
        assert!(matches!(probes[2], Probe::OtelCollector(c) if c.max_queue_ratio == 0.8));
        assert!(
            matches!(probes[3], Probe::TelemetryFreshness(f) if f.signal == TelemetrySignal::Traces && f.within.as_secs() == 600)
        );
        let receiver = |p: &Probe| match p {
            Probe::TelemetryFreshness(FreshnessProbe { source: FreshnessSource::Receiver { service }, .. }) => {
                Some(service.clone())
            }
            _ => None,
        };
        assert_eq!(receiver(probes[3]), None);
        assert_eq!(receiver(probes[4]).as_deref(), Some("observability"), "the check's service by default");
        assert_eq!(receiver(probes[5]).as_deref(), Some("checkout-api"), "or the service.name in query");
        let kinds: Vec<&str> = probes.iter().map(|p| p.incident_kind()).collect();
        assert_eq!(
            kinds,
            [
                "metric-threshold",
                "stack-not-ready",
                "collector-degraded",
                "telemetry-missing",
                "telemetry-missing",
                "telemetry-missing"
            ]
        );
    }

    #[test]
    fn stack_check_mistakes_name_the_field() {
        let errors = load_text(
            r#"
[[service]]
name = "o"
  [[service.check]]
  name = "a"
  kind = "prometheus"
  url = "127.0.0.1:9090"
  query = "up"
  on_empty = "unknown"
  [[service.check]]
  name = "b"
  kind = "ready"
  url = "http://x"
  flavor = "jaeger"
  [[service.check]]
  name = "c"
  kind = "telemetry_freshness"
  signal = "profiles"
  url = "http://x"
  query = "{}"
  [[service.check]]
  name = "d"
  kind = "telemetry_freshness"
  signal = "logs"
"#,
        )
        .unwrap_err()
        .0;
        assert!(errors.last().unwrap().message.contains("o/d reads it"), "{errors:#?}");
        let got: Vec<(&str, bool)> = errors.iter().map(|e| (e.field.as_str(), e.line.is_some())).collect();
        assert_eq!(
            got,
            [
                ("service[0].check[0].max", true),
                ("service[0].check[0].url", true),
                ("service[0].check[0].on_empty", true),
                ("service[0].check[1].flavor", true),
                ("service[0].check[2].signal", true),
                ("telemetry.receiver", false),
            ],
            "{errors:#?}"
        );
    }
}
