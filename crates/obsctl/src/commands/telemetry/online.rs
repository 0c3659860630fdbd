//! `telemetry check --online`: the LangSmith key and the Logfire write token checked against
//! their services, as their SDKs present them (LangSmith: `X-Api-Key` on the API under
//! `LANGSMITH_ENDPOINT`; Logfire: the token as `Authorization` on `/v1/info` under
//! `LOGFIRE_BASE_URL`, or its region's address). A refusal is an error of the rule that checks
//! the credential's shape (TEL007, TEL008); a service that cannot be reached is a warning.

use std::time::Duration;

use obsctl_core::secret::mask_url;
use obsctl_core::telemetry::{Finding, Settings, Severity};

const LANGSMITH: &str = "https://api.smith.langchain.com";

/// What the services said of the credentials that are set.
pub async fn check(settings: &Settings) -> anyhow::Result<Vec<Finding>> {
    let http = obsctl_host::http_client().timeout(Duration::from_secs(10)).build()?;
    let mut out = Vec::new();
    if let Some((variable, key)) = settings.first(&["LANGSMITH_API_KEY", "LANGCHAIN_API_KEY"]) {
        let base = settings.first(&["LANGSMITH_ENDPOINT", "LANGCHAIN_ENDPOINT"]).map_or(LANGSMITH, |(_, v)| v);
        let url = format!("{}/api/v1/sessions?limit=1", base.trim_end_matches('/'));
        let request = http.get(&url).header("x-api-key", key);
        out.extend(ask(request, "TEL007", variable, "LangSmith", base).await);
    }
    if let Some(token) = settings.get("LOGFIRE_TOKEN") {
        let base = match settings.get("LOGFIRE_BASE_URL") {
            Some(base) => base.to_string(),
            // pylf_v1_<region>_…: the region's own API.
            None => match token.strip_prefix("pylf_v1_").and_then(|rest| rest.split_once('_')) {
                Some((region, _)) if region.chars().all(|c| c.is_ascii_lowercase()) => {
                    format!("https://logfire-{region}.pydantic.dev")
                }
                _ => return Ok(out),
            },
        };
        let url = format!("{}/v1/info", base.trim_end_matches('/'));
        let request = http.get(&url).header(reqwest::header::AUTHORIZATION, token);
        out.extend(ask(request, "TEL008", "LOGFIRE_TOKEN", "Logfire", &base).await);
    }
    Ok(out)
}

/// One service's answer to a credential: nothing when it took it.
async fn ask(
    request: reqwest::RequestBuilder,
    code: &'static str,
    variable: &str,
    service: &str,
    base: &str,
) -> Option<Finding> {
    let shown = mask_url(base);
    let finding = |severity, message: String| Finding { code, severity, variable: variable.into(), message };
    match request.send().await {
        Ok(r) if r.status().is_success() => None,
        Ok(r) if matches!(r.status().as_u16(), 401 | 403) => Some(finding(
            Severity::Error,
            format!(
                "{service} at {shown} refused it ({}): revoked, expired, or for another instance or region",
                r.status().as_u16()
            ),
        )),
        Ok(r) => Some(finding(
            Severity::Warning,
            format!("{service} at {shown} answered {} and could not say whether it is valid", r.status().as_u16()),
        )),
        Err(e) => Some(finding(
            Severity::Warning,
            format!("{service} at {shown} could not be reached ({}) to check it", obsctl_host::describe_error(&e)),
        )),
    }
}
