//! Proof of flow: a canary span, log record and metric data point sent where the app's SDK
//! sends its telemetry (the `OTEL_EXPORTER_OTLP_*` settings: endpoint, protocol, headers), then
//! looked for at obsctl (`OBS_CONTROL_URL`), which says when its receiver saw each. Each hop
//! says whether it passed, the delay from sending to being seen, or where the canary was lost.

use std::time::{Duration, Instant};

use obsctl_core::check::TelemetrySignal;
use obsctl_core::secret::mask_url;
use obsctl_core::telemetry::Settings;
use obsctl_core::telemetry::report::{Flow, Hop};
use obsctl_engine::otlp::{Canary, Encoding, Sighting};

const SIGNALS: [TelemetrySignal; 3] = [TelemetrySignal::Traces, TelemetrySignal::Logs, TelemetrySignal::Metrics];

/// Sends the canary for `service` and looks for it for at most `wait`.
pub async fn prove(settings: &Settings, service: &str, wait: Duration) -> anyhow::Result<Flow> {
    let http = obsctl_host::http_client().timeout(Duration::from_secs(10)).build()?;
    let attributes: Vec<(String, String)> = settings.resource_attributes().into_iter().collect();
    let attributes: Vec<(&str, &str)> = attributes.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let canary = Canary::new(service, &attributes);
    let sent_at = Instant::now();
    let mut hops = Vec::new();
    let mut delivered = Vec::new();
    for signal in SIGNALS {
        let hop = send(&http, settings, &canary, signal).await;
        if hop.ok {
            delivered.push(signal);
        }
        hops.push(hop);
    }
    let endpoint = settings.export_url("traces").map(|u| mask_url(&u)).unwrap_or_else(|| "(none)".into());
    match settings.get("OBS_CONTROL_URL") {
        Some(control) if !delivered.is_empty() => {
            hops.extend(
                look_in_obsctl(&http, control, settings.get("OBS_CONTROL_TOKEN"), &canary, &delivered, sent_at, wait)
                    .await,
            );
        }
        Some(_) => {}
        None => hops.push(Hop {
            signal: "all".into(),
            at: "obsctl".into(),
            ok: false,
            delay_ms: None,
            detail: "OBS_CONTROL_URL is not set, so nothing can say whether the canary arrived: set it to obsctl's address, e.g. http://obsctl:5555".into(),
        }),
    }
    Ok(Flow { canary: canary.id, endpoint, hops })
}

/// Sends one signal's canary as the SDK would; the endpoint's answer is the first hop.
async fn send(http: &reqwest::Client, settings: &Settings, canary: &Canary, signal: TelemetrySignal) -> Hop {
    let name = signal.as_str();
    let hop = |ok: bool, detail: String| Hop { signal: name.into(), at: "endpoint".into(), ok, delay_ms: None, detail };
    let Some(url) = settings.export_url(name) else {
        return hop(false, "no OTLP endpoint is set (OTEL_EXPORTER_OTLP_ENDPOINT)".into());
    };
    let encoding = match settings.export_protocol(name) {
        "http/protobuf" => Encoding::Protobuf,
        "http/json" => Encoding::Json,
        other => {
            return hop(
                false,
                format!(
                    "the canary goes over OTLP/HTTP, and {name} are set to {other:?}: check this endpoint's HTTP port (4318) by hand"
                ),
            );
        }
    };
    let mut request = http
        .post(&url)
        .header(reqwest::header::CONTENT_TYPE, encoding.content_type())
        .body(canary.body(signal, encoding));
    for (k, v) in settings.export_headers(name) {
        request = request.header(k, v);
    }
    let shown = mask_url(&url);
    match request.send().await {
        Ok(r) if r.status().is_success() => hop(true, format!("{shown} accepted it ({})", r.status().as_u16())),
        Ok(r) => {
            let status = r.status().as_u16();
            let body: String = r.text().await.unwrap_or_default().chars().take(200).collect();
            hop(false, format!("{shown} refused it: {status} {}", body.trim()))
        }
        Err(e) => hop(false, format!("{shown} did not answer: {}", obsctl_host::describe_error(&e))),
    }
}

/// Polls obsctl for the canary until every delivered signal was seen or `wait` is over.
async fn look_in_obsctl(
    http: &reqwest::Client,
    control: &str,
    token: Option<&str>,
    canary: &Canary,
    delivered: &[TelemetrySignal],
    sent_at: Instant,
    wait: Duration,
) -> Vec<Hop> {
    let url = format!("{}/api/v1/telemetry/canaries/{}", control.trim_end_matches('/'), canary.id);
    let mut seen: Vec<(TelemetrySignal, u64, String)> = Vec::new();
    let mut problem: Option<String>;
    loop {
        let mut request = http.get(&url);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        match request.send().await {
            Ok(r) if r.status().is_success() => match r.json::<Vec<Sighting>>().await {
                Ok(sightings) => {
                    for signal in delivered {
                        if seen.iter().all(|(s, ..)| s != signal)
                            && let Some(first) = sightings.iter().find(|s| s.signal == signal.as_str())
                        {
                            seen.push((*signal, sent_at.elapsed().as_millis() as u64, first.service.clone()));
                        }
                    }
                    problem = None;
                }
                Err(e) => problem = Some(format!("{} did not answer as obsctl does: {e}", mask_url(control))),
            },
            Ok(r) => {
                let status = r.status().as_u16();
                let body: String = r.text().await.unwrap_or_default().chars().take(200).collect();
                problem = Some(format!("{} refused to say: {status} {}", mask_url(control), body.trim()));
                if matches!(status, 401 | 403 | 404) {
                    break;
                }
            }
            Err(e) => {
                problem = Some(format!("{} did not answer: {}", mask_url(control), obsctl_host::describe_error(&e)))
            }
        }
        if seen.len() == delivered.len() || sent_at.elapsed() >= wait {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    delivered
        .iter()
        .map(|signal| {
            let name = signal.as_str();
            match seen.iter().find(|(s, ..)| s == signal) {
                Some((_, delay, service)) => Hop {
                    signal: name.into(),
                    at: "obsctl".into(),
                    ok: true,
                    delay_ms: Some(*delay),
                    detail: format!("arrived as service.name {service:?} after {delay} ms"),
                },
                None => Hop {
                    signal: name.into(),
                    at: "obsctl".into(),
                    ok: false,
                    delay_ms: None,
                    detail: problem.clone().unwrap_or_else(|| {
                        format!(
                            "the endpoint took it, but obsctl did not see it within {} s: lost between them (does the collector export {name} to obsctl's /v1/{name}, with [telemetry] receiver = true?)",
                            wait.as_secs()
                        )
                    }),
                },
            }
        })
        .collect()
}
