//! The language model behind the LLM planner: any OpenAI-compatible server (OpenAI, vLLM,
//! Ollama, llama.cpp's server), through `/chat/completions` with tool calling or `/completions`
//! for models without it. Failures are classified so the agent can say why the model was not
//! consulted and when to try again; a rate limit or an unavailable server is retried briefly.

mod wire;

use std::time::{Duration, Instant};

use obsctl_config::LlmConfig;
use serde_json::{Value, json};

pub use wire::Usage;

/// Waits on a rate limit or an unavailable server within one request, at most this long.
const MAX_RETRY_WAIT: Duration = Duration::from_secs(10);
/// Retries of one request.
const RETRIES: u32 = 2;
/// What is kept of an error body in a message.
const BODY_EXCERPT: usize = 300;
/// The most of one answer that is read (a chat completion is kilobytes; a server that floods
/// cannot fill memory).
const MAX_ANSWER_BYTES: usize = 8 << 20;

/// Why the model gave no usable answer.
#[derive(Debug, Clone, thiserror::Error)]
pub enum LlmError {
    #[error("rate limited by the provider{}", retry_text(.retry_after))]
    RateLimited { retry_after: Option<Duration> },
    #[error("the conversation is too long for the model: {0}")]
    ContextTooLong(String),
    #[error("the provider refused the credentials: {0}")]
    Auth(String),
    #[error("the provider refused the request: {0}")]
    Rejected(String),
    #[error("the model is unavailable: {0}")]
    Unavailable(String),
    #[error("the model's answer is malformed: {0}")]
    Malformed(String),
}

fn retry_text(after: &Option<Duration>) -> String {
    after.map(|d| format!("; retry after {}s", d.as_secs())).unwrap_or_default()
}

impl LlmError {
    /// A stable snake_case code for the timeline and the API.
    pub fn code(&self) -> &'static str {
        match self {
            Self::RateLimited { .. } => "rate_limited",
            Self::ContextTooLong(_) => "context_too_long",
            Self::Auth(_) => "auth",
            Self::Rejected(_) => "rejected",
            Self::Unavailable(_) => "unavailable",
            Self::Malformed(_) => "malformed",
        }
    }

    /// When asking again may help: a rate limit (after its delay) or an unavailable server.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::RateLimited { retry_after } => Some(retry_after.unwrap_or(Duration::from_secs(60))),
            Self::Unavailable(_) => Some(Duration::from_secs(60)),
            _ => None,
        }
    }
}

/// A call the model asked for.
#[derive(Debug, Clone)]
pub struct ToolCall {
    pub id: String,
    pub name: String,
    /// The arguments as the model wrote them (JSON text that may not parse).
    pub arguments: String,
}

/// One answer of the model.
#[derive(Debug, Clone)]
pub struct Turn {
    pub content: Option<String>,
    pub tool_calls: Vec<ToolCall>,
    pub usage: Usage,
    pub latency: Duration,
}

pub struct LlmClient {
    config: LlmConfig,
    http: reqwest::Client,
    /// `[llm] redact`, compiled.
    redact: Vec<regex::Regex>,
}

impl LlmClient {
    pub fn new(config: LlmConfig) -> anyhow::Result<Self> {
        let http =
            obsctl_host::http_client().connect_timeout(Duration::from_secs(5)).timeout(config.timeout).build()?;
        let redact = config.redact.iter().map(|p| regex::Regex::new(p)).collect::<Result<_, _>>()?;
        Ok(Self { config, http, redact })
    }

    /// The configured patterns whose matches never reach the model.
    pub fn redact_patterns(&self) -> &[regex::Regex] {
        &self.redact
    }

    pub fn config(&self) -> &LlmConfig {
        &self.config
    }

    /// One chat turn: `messages` in OpenAI's format, `tools` as function definitions.
    pub async fn chat(&self, messages: &[Value], tools: &[Value]) -> Result<Turn, LlmError> {
        let mut body = json!({
            "model": self.config.model,
            "messages": messages,
            "max_tokens": self.config.max_completion_tokens,
            "temperature": 0,
        });
        if !tools.is_empty() {
            body["tools"] = json!(tools);
            body["tool_choice"] = json!("auto");
        }
        let (value, latency) = self.post("chat/completions", &body).await?;
        let answer: wire::ChatResponse =
            serde_json::from_value(value).map_err(|e| LlmError::Malformed(format!("not a chat completion: {e}")))?;
        let choice =
            answer.choices.into_iter().next().ok_or_else(|| LlmError::Malformed("the answer has no choices".into()))?;
        let tool_calls = choice
            .message
            .tool_calls
            .into_iter()
            .enumerate()
            .map(|(i, c)| ToolCall {
                id: if c.id.is_empty() { format!("call_{i}") } else { c.id },
                name: c.function.name,
                arguments: c.function.arguments,
            })
            .collect();
        Ok(Turn { content: choice.message.content, tool_calls, usage: answer.usage.unwrap_or_default(), latency })
    }

    /// One completion of `prompt` (for models without tool calling).
    pub async fn complete(&self, prompt: &str) -> Result<Turn, LlmError> {
        let body = json!({
            "model": self.config.model,
            "prompt": prompt,
            "max_tokens": self.config.max_completion_tokens,
            "temperature": 0,
        });
        let (value, latency) = self.post("completions", &body).await?;
        let answer: wire::CompletionResponse =
            serde_json::from_value(value).map_err(|e| LlmError::Malformed(format!("not a completion: {e}")))?;
        let choice =
            answer.choices.into_iter().next().ok_or_else(|| LlmError::Malformed("the answer has no choices".into()))?;
        Ok(Turn {
            content: Some(choice.text),
            tool_calls: Vec::new(),
            usage: answer.usage.unwrap_or_default(),
            latency,
        })
    }

    /// POSTs `body` to `path`, retrying a rate limit or an unavailable server briefly.
    async fn post(&self, path: &str, body: &Value) -> Result<(Value, Duration), LlmError> {
        let mut attempt = 0;
        loop {
            let started = Instant::now();
            match self.post_once(path, body).await {
                Ok(value) => return Ok((value, started.elapsed())),
                Err(e) => {
                    let wait = match &e {
                        LlmError::RateLimited { retry_after } => retry_after.unwrap_or(Duration::from_secs(1)),
                        LlmError::Unavailable(_) => Duration::from_secs(1) * 2u32.pow(attempt),
                        _ => return Err(e),
                    };
                    if attempt >= RETRIES || wait > MAX_RETRY_WAIT {
                        return Err(e);
                    }
                    tracing::info!(error = %e, wait_ms = wait.as_millis() as u64, "LLM request retried");
                    tokio::time::sleep(wait).await;
                    attempt += 1;
                }
            }
        }
    }

    async fn post_once(&self, path: &str, body: &Value) -> Result<Value, LlmError> {
        let url = format!("{}/{path}", self.config.base_url);
        let mut request = self.http.post(&url).json(body);
        if let Some(key) = &self.config.api_key {
            request = request.bearer_auth(key.expose());
        }
        let response = request.send().await.map_err(|e| LlmError::Unavailable(e.without_url().to_string()))?;
        let status = response.status();
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let (body, more) = obsctl_host::read_capped(response, MAX_ANSWER_BYTES)
            .await
            .map_err(|e| LlmError::Unavailable(e.without_url().to_string()))?;
        if more {
            return Err(LlmError::Malformed(format!("the answer is over {} MiB", MAX_ANSWER_BYTES >> 20)));
        }
        let text = String::from_utf8_lossy(&body);
        if status.is_success() {
            return serde_json::from_str(&text)
                .map_err(|e| LlmError::Malformed(format!("not JSON ({e}): {}", excerpt(&text))));
        }
        let detail = format!("{status}: {}", excerpt(&text));
        let lower = text.to_ascii_lowercase();
        Err(match status.as_u16() {
            429 => LlmError::RateLimited { retry_after },
            401 | 403 => LlmError::Auth(detail),
            _ if lower.contains("context_length") || lower.contains("context length") || lower.contains("too long") => {
                LlmError::ContextTooLong(detail)
            }
            400..=499 => LlmError::Rejected(detail),
            _ => LlmError::Unavailable(detail),
        })
    }
}

fn excerpt(text: &str) -> String {
    let mut end = text.len().min(BODY_EXCERPT);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].replace('\n', " ")
}
