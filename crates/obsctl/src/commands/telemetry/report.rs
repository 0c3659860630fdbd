//! `telemetry check --report`: the report posted to the control plane
//! (`POST /api/v1/telemetry-reports`, with `OBS_CONTROL_TOKEN` as the bearer token), which
//! keeps it and opens or resolves the service's `telemetry-misconfigured` incident.

use std::time::Duration;

use anyhow::Context;
use obsctl_core::secret::mask_url;
use obsctl_core::telemetry::Report;

/// Posts `report` to obsctl at `control`; what the control plane did, in words.
pub async fn post(control: &str, token: Option<&str>, report: &Report) -> anyhow::Result<String> {
    let http = obsctl_host::http_client().timeout(Duration::from_secs(10)).build()?;
    let url = format!("{}/api/v1/telemetry-reports", control.trim_end_matches('/'));
    let mut request = http.post(&url).json(report);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let shown = mask_url(control);
    let answer = request
        .send()
        .await
        .map_err(|e| anyhow::anyhow!("could not report to {shown}: {}", obsctl_host::describe_error(&e)))?;
    let status = answer.status();
    let body: serde_json::Value =
        answer.json().await.with_context(|| format!("{shown} did not answer as obsctl does"))?;
    if !status.is_success() {
        let message = body["error"]["message"].as_str().unwrap_or("no reason given");
        anyhow::bail!("{shown} refused the report ({}): {message}", status.as_u16());
    }
    let incident = body["incident"].as_str().unwrap_or("");
    Ok(match body["change"].as_str() {
        Some("opened") => format!("reported to {shown}: incident {incident} is open for it"),
        Some("resolved") => format!("reported to {shown}: incident {incident} is resolved"),
        _ => format!("reported to {shown}"),
    })
}
