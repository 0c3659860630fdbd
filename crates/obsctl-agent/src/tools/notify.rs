//! `notify.webhook` (a JSON POST) and `notify.ntfy` (ntfy's HTTP publish API).

use async_trait::async_trait;
use obsctl_config::{NtfyConfig, WebhookConfig};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};

use super::http::bounded_body;
use super::{Annotations, Tool, ToolError, ToolResult, ToolSpec, parse_args};
use crate::gate::Permit;

const NOTIFY: Annotations =
    Annotations { read_only_hint: false, destructive_hint: false, idempotent_hint: false, open_world_hint: true };

async fn check_status(resp: Result<reqwest::Response, reqwest::Error>, what: &str) -> ToolResult {
    // The URL is left out of the message: a webhook's URL is its credential.
    let resp = resp.map_err(|e| ToolError::Failed(format!("{what}: {}", e.without_url())))?;
    let status = resp.status().as_u16();
    let (body, _) = bounded_body(resp, 4096).await;
    if status >= 300 {
        return Err(ToolError::Failed(format!(
            "{what} answered {status}: {}",
            body.chars().take(200).collect::<String>()
        )));
    }
    Ok(json!({"status": status}))
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookArgs {
    /// Defaults to [notify.webhook] url.
    #[serde(default)]
    pub url: Option<String>,
    pub title: String,
    pub message: String,
    /// Extra fields sent along.
    #[serde(default)]
    pub data: Option<Value>,
}

pub struct Webhook {
    http: reqwest::Client,
    config: Option<WebhookConfig>,
    spec: ToolSpec,
}

impl Webhook {
    pub fn new(http: reqwest::Client, config: Option<WebhookConfig>) -> Self {
        Self {
            http,
            config,
            spec: ToolSpec::new::<WebhookArgs>(
                "notify.webhook",
                "POST a JSON notification {title, message, data} to a webhook.",
                NOTIFY,
                true,
            ),
        }
    }

    fn url(&self, a: &WebhookArgs) -> Result<String, ToolError> {
        a.url
            .clone()
            .or_else(|| self.config.as_ref().map(|c| c.url.expose().to_string()))
            .ok_or_else(|| ToolError::InvalidArgs("no url given and no [notify.webhook] configured".into()))
    }
}

#[async_trait]
impl Tool for Webhook {
    fn spec(&self) -> &ToolSpec {
        &self.spec
    }

    async fn call(&self, args: &Value, _permit: &Permit) -> ToolResult {
        let a: WebhookArgs = parse_args(args)?;
        let url = self.url(&a)?;
        let body = json!({"source": "obsctl", "title": a.title, "message": a.message, "data": a.data});
        check_status(self.http.post(&url).json(&body).send().await, "webhook").await
    }

    async fn dry_run(&self, args: &Value) -> Option<ToolResult> {
        Some(
            parse_args::<WebhookArgs>(args).and_then(|a| Ok(json!({"would_post_to": self.url(&a)?, "title": a.title}))),
        )
    }
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NtfyArgs {
    /// Defaults to [notify.ntfy] topic.
    #[serde(default)]
    pub topic: Option<String>,
    pub title: String,
    pub message: String,
    /// 1 (min) to 5 (max); default 3.
    #[serde(default)]
    pub priority: Option<u8>,
    #[serde(default)]
    pub tags: Vec<String>,
}

pub struct Ntfy {
    http: reqwest::Client,
    config: Option<NtfyConfig>,
    spec: ToolSpec,
}

impl Ntfy {
    pub fn new(http: reqwest::Client, config: Option<NtfyConfig>) -> Self {
        Self {
            http,
            config,
            spec: ToolSpec::new::<NtfyArgs>(
                "notify.ntfy",
                "Publish a notification to an ntfy topic (title, message, priority, tags).",
                NOTIFY,
                true,
            ),
        }
    }

    fn target(&self, a: &NtfyArgs) -> Result<String, ToolError> {
        let base = self.config.as_ref().map(|c| c.url.as_str()).unwrap_or("https://ntfy.sh");
        let topic = a
            .topic
            .clone()
            .or_else(|| self.config.as_ref().map(|c| c.topic.expose().to_string()))
            .ok_or_else(|| ToolError::InvalidArgs("no topic given and no [notify.ntfy] configured".into()))?;
        if topic.is_empty() || topic.contains('/') {
            return Err(ToolError::InvalidArgs(format!("topic {topic:?} is not a valid ntfy topic")));
        }
        Ok(format!("{}/{topic}", base.trim_end_matches('/')))
    }
}

#[async_trait]
impl Tool for Ntfy {
    fn spec(&self) -> &ToolSpec {
        &self.spec
    }

    async fn call(&self, args: &Value, _permit: &Permit) -> ToolResult {
        let a: NtfyArgs = parse_args(args)?;
        let url = self.target(&a)?;
        let priority = a.priority.unwrap_or(3).clamp(1, 5);
        let mut req = self
            .http
            .post(&url)
            .header("Title", &a.title)
            .header("Priority", priority.to_string())
            .body(a.message.clone());
        if !a.tags.is_empty() {
            req = req.header("Tags", a.tags.join(","));
        }
        if let Some(token) = self.config.as_ref().and_then(|c| c.token.as_ref()) {
            req = req.bearer_auth(token.expose());
        }
        check_status(req.send().await, "ntfy").await
    }

    async fn dry_run(&self, args: &Value) -> Option<ToolResult> {
        Some(
            parse_args::<NtfyArgs>(args)
                .and_then(|a| Ok(json!({"would_publish_to": self.target(&a)?, "title": a.title}))),
        )
    }
}
