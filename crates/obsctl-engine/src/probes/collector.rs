//! The OpenTelemetry collector probe: its health endpoint, and its own metrics, where a
//! collector that says it is healthy shows an exporter failing to send, an exporter queue
//! filling up, or a receiver refusing data.

use std::collections::HashMap;
use std::time::Duration;

use obsctl_core::check::CollectorProbe;

use super::stack::fetch;
use super::{ProbeContext, ProbeOutcome};

/// One sample of a metrics page: name, labels as written, value.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Sample {
    pub name: String,
    pub labels: Vec<(String, String)>,
    pub value: f64,
}

impl Sample {
    fn label(&self, name: &str) -> Option<&str> {
        self.labels.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    /// A key for the same series in the next sample.
    fn key(&self) -> String {
        let labels: Vec<String> = self.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
        format!("{}{{{}}}", self.name, labels.join(","))
    }
}

/// The samples of a Prometheus text-format page; lines that do not parse are skipped.
pub(crate) fn parse_metrics(text: &str) -> Vec<Sample> {
    text.lines().filter(|l| !l.starts_with('#') && !l.trim().is_empty()).filter_map(parse_line).collect()
}

fn parse_line(line: &str) -> Option<Sample> {
    let line = line.trim();
    let name_end = line.find(|c: char| c == '{' || c.is_whitespace())?;
    let name = line[..name_end].to_string();
    let mut rest = &line[name_end..];
    let mut labels = Vec::new();
    if let Some(inner) = rest.strip_prefix('{') {
        let mut chars = inner.char_indices().peekable();
        let mut end = None;
        while let Some((i, c)) = chars.next() {
            if c == '}' {
                end = Some(i);
                break;
            }
            if c == ',' || c.is_whitespace() {
                continue;
            }
            let eq = inner[i..].find('=')? + i;
            let key = inner[i..eq].trim().to_string();
            let mut value = String::new();
            let mut it = inner[eq + 1..].char_indices();
            if it.next()?.1 != '"' {
                return None;
            }
            let mut closed = None;
            while let Some((j, ch)) = it.next() {
                match ch {
                    '\\' => match it.next()?.1 {
                        'n' => value.push('\n'),
                        other => value.push(other),
                    },
                    '"' => {
                        closed = Some(eq + 1 + j);
                        break;
                    }
                    other => value.push(other),
                }
            }
            let closed = closed?;
            labels.push((key, value));
            while chars.peek().is_some_and(|(k, _)| *k <= closed) {
                chars.next();
            }
        }
        rest = &inner[end? + 1..];
    }
    let value = rest.split_whitespace().next()?;
    let value = match value {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        v => v.parse().ok()?,
    };
    Some(Sample { name, labels, value })
}

pub(super) async fn probe(p: &CollectorProbe, timeout: Duration, ctx: &ProbeContext) -> ProbeOutcome {
    let mut problems = Vec::new();
    match fetch(ctx, &p.health, &p.health.url, &[], timeout).await {
        Ok((200, _)) => {}
        Ok((status, body)) => problems.push(format!(
            "health endpoint: status {status}: {}",
            String::from_utf8_lossy(&body).trim().chars().take(120).collect::<String>()
        )),
        Err(e) => problems.push(format!("health endpoint: {e}")),
    }
    let samples = match fetch(ctx, &p.health, &p.metrics_url, &[], timeout).await {
        Ok((200, body)) => parse_metrics(&String::from_utf8_lossy(&body)),
        Ok((status, _)) => {
            problems.push(format!("metrics: status {status}"));
            Vec::new()
        }
        Err(e) => {
            problems.push(format!("metrics: {e}"));
            Vec::new()
        }
    };
    if !samples.is_empty() {
        let previous = ctx.remember_samples(&p.metrics_url, &samples);
        problems.extend(judge(&samples, previous.as_ref(), p.max_queue_ratio));
    }
    if problems.is_empty() {
        let exporters = samples.iter().filter(|s| s.name.starts_with("otelcol_exporter_sent_")).count();
        ProbeOutcome::pass(format!("collector healthy; {exporters} exporter series sending, none failing"))
    } else {
        ProbeOutcome::fail(problems.join("; "))
    }
}

/// What is wrong in this sample compared with the previous one (counters that rose).
pub(crate) fn judge(samples: &[Sample], previous: Option<&HashMap<String, f64>>, max_queue_ratio: f64) -> Vec<String> {
    let mut problems = Vec::new();
    for s in samples {
        let rose = previous.and_then(|p| p.get(&s.key())).map(|before| s.value - before).filter(|d| *d > 0.0);
        let signal = |prefix: &str| s.name.strip_prefix(prefix).map(|rest| rest.trim_end_matches("_total").to_string());
        if let (Some(what), Some(delta)) = (signal("otelcol_exporter_send_failed_"), rose) {
            let exporter = s.label("exporter").unwrap_or("?");
            problems.push(format!("exporter {exporter} failing: {delta} {what} failed to send since the last check"));
        }
        if let (Some(what), Some(delta)) = (signal("otelcol_receiver_refused_"), rose) {
            let receiver = s.label("receiver").unwrap_or("?");
            problems.push(format!("receiver {receiver} refusing: {delta} {what} refused since the last check"));
        }
        if s.name == "otelcol_exporter_queue_size" {
            let exporter = s.label("exporter");
            let capacity = samples
                .iter()
                .find(|c| c.name == "otelcol_exporter_queue_capacity" && c.label("exporter") == exporter)
                .map(|c| c.value);
            if let Some(capacity) = capacity.filter(|c| *c > 0.0)
                && s.value / capacity > max_queue_ratio
            {
                problems.push(format!(
                    "exporter {} queue {} of {capacity} ({:.0}%, over {:.0}%)",
                    exporter.unwrap_or("?"),
                    s.value,
                    100.0 * s.value / capacity,
                    100.0 * max_queue_ratio
                ));
            }
        }
    }
    problems
}

/// The counters a collector check compares between runs, by metrics URL.
#[derive(Default)]
pub(crate) struct CounterMemory(std::sync::Mutex<HashMap<String, HashMap<String, f64>>>);

impl CounterMemory {
    /// Stores this sample's counters and returns the previous ones.
    pub(crate) fn swap(&self, url: &str, samples: &[Sample]) -> Option<HashMap<String, f64>> {
        let counters: HashMap<String, f64> = samples
            .iter()
            .filter(|s| {
                s.name.starts_with("otelcol_exporter_send_failed_") || s.name.starts_with("otelcol_receiver_refused_")
            })
            .map(|s| (s.key(), s.value))
            .collect();
        self.0.lock().ok()?.insert(url.to_string(), counters)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FAILING: &str = include_str!("../../tests/fixtures/otelcol-metrics-failing-exporter.txt");

    #[test]
    fn the_metrics_page_parses_with_escapes_and_both_counter_spellings() {
        let samples = parse_metrics(FAILING);
        let failed = samples.iter().find(|s| s.name == "otelcol_exporter_send_failed_spans_total").unwrap();
        assert_eq!((failed.label("exporter"), failed.value), (Some("otlp/tempo"), 120.0));
        let odd = parse_line(r#"m{a="x\"y,z}",b="2"} 3.5 1700000000"#).unwrap();
        assert_eq!(odd.labels, vec![("a".into(), "x\"y,z}".into()), ("b".into(), "2".into())]);
        assert_eq!(odd.value, 3.5);
        assert_eq!(parse_line("plain 7").unwrap().value, 7.0);
        assert!(parse_line("broken{a=1} 2").is_none());
    }

    #[test]
    fn a_failing_exporter_is_named_once_its_counter_rises_and_a_full_queue_at_once() {
        let memory = CounterMemory::default();
        let first = parse_metrics(FAILING);
        let previous = memory.swap("u", &first);
        let problems = judge(&first, previous.as_ref(), 0.8);
        // First sight: no counter can have risen yet; the queue is 950 of 1000 already.
        assert_eq!(problems, vec!["exporter otlp/tempo queue 950 of 1000 (95%, over 80%)".to_string()]);
        let later = parse_metrics(&FAILING.replace("} 120", "} 180").replace("} 4\n", "} 9\n"));
        let previous = memory.swap("u", &later);
        let problems = judge(&later, previous.as_ref(), 0.8);
        assert!(
            problems.iter().any(|p| p == "exporter otlp/tempo failing: 60 spans failed to send since the last check"),
            "{problems:?}"
        );
        assert!(problems.iter().any(|p| p.starts_with("receiver otlp refusing: 5 spans")), "{problems:?}");
        assert!(!problems.iter().any(|p| p.contains("debug")), "a steady counter is not a failure: {problems:?}");
    }
}
