//! `http.request`: one HTTP request, returning status and (a bounded part of) the body.

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Annotations, Tool, ToolError, ToolResult, ToolSpec, parse_args};
use crate::gate::Permit;

const MAX_BODY: usize = 64 * 1024;

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RequestArgs {
    pub url: String,
    /// GET (default), POST, PUT, DELETE, PATCH or HEAD.
    #[serde(default)]
    pub method: Option<String>,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Sent as the request body.
    #[serde(default)]
    pub body: Option<String>,
    /// Seconds before giving up (default 10, at most 120).
    #[serde(default)]
    pub timeout_seconds: Option<u64>,
}

pub struct Request {
    http: reqwest::Client,
    spec: ToolSpec,
}

impl Request {
    pub fn new(http: reqwest::Client) -> Self {
        let annotations = Annotations {
            read_only_hint: false,
            destructive_hint: false,
            idempotent_hint: false,
            open_world_hint: true,
        };
        Self {
            http,
            spec: ToolSpec::new::<RequestArgs>(
                "http.request",
                "Send one HTTP request; returns the status and up to 64 KB of the body.",
                annotations,
                true,
            ),
        }
    }
}

/// Reads at most `max` bytes of a response body.
pub(crate) async fn bounded_body(resp: reqwest::Response, max: usize) -> (String, bool) {
    let (body, truncated) = obsctl_host::read_capped(resp, max).await.unwrap_or_default();
    (String::from_utf8_lossy(&body).into_owned(), truncated)
}

#[async_trait]
impl Tool for Request {
    fn spec(&self) -> &ToolSpec {
        &self.spec
    }

    async fn call(&self, args: &Value, _permit: &Permit) -> ToolResult {
        let a: RequestArgs = parse_args(args)?;
        let method = a.method.as_deref().unwrap_or("GET").to_ascii_uppercase();
        if !["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD"].contains(&method.as_str()) {
            return Err(ToolError::InvalidArgs(format!("method {method:?} is not supported")));
        }
        let method =
            reqwest::Method::from_bytes(method.as_bytes()).map_err(|e| ToolError::InvalidArgs(e.to_string()))?;
        let mut req =
            self.http.request(method, &a.url).timeout(Duration::from_secs(a.timeout_seconds.unwrap_or(10).min(120)));
        for (k, v) in &a.headers {
            req = req.header(k, v);
        }
        if let Some(body) = a.body {
            req = req.body(body);
        }
        let resp = req.send().await.map_err(|e| ToolError::Failed(format!("request failed: {}", e.without_url())))?;
        let status = resp.status().as_u16();
        let (body, truncated) = bounded_body(resp, MAX_BODY).await;
        let result = json!({"status": status, "body": body, "truncated": truncated});
        if status >= 400 {
            return Err(ToolError::Failed(format!("status {status}: {}", body.chars().take(200).collect::<String>())));
        }
        Ok(result)
    }

    async fn dry_run(&self, args: &Value) -> Option<ToolResult> {
        Some(
            parse_args::<RequestArgs>(args)
                .map(|a| json!({"would_send": a.method.unwrap_or_else(|| "GET".into()), "url": a.url})),
        )
    }
}
