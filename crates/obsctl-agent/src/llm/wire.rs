//! The OpenAI-compatible wire format, as much of it as obsctl reads: `/chat/completions` with
//! tool calls and `/completions`, and the usage (tokens, and cost when the provider reports it).
//! Requests are built as JSON values; answers are parsed into these types.

use serde::Deserialize;

#[derive(Debug, Deserialize)]
pub(super) struct ChatResponse {
    #[serde(default)]
    pub choices: Vec<ChatChoice>,
    pub usage: Option<Usage>,
}

#[derive(Debug, Deserialize)]
pub(super) struct ChatChoice {
    pub message: ChatMessage,
}

#[derive(Debug, Deserialize)]
pub(super) struct ChatMessage {
    pub content: Option<String>,
    #[serde(default)]
    pub tool_calls: Vec<WireToolCall>,
}

#[derive(Debug, Deserialize)]
pub(super) struct WireToolCall {
    #[serde(default)]
    pub id: String,
    pub function: WireFunction,
}

#[derive(Debug, Deserialize)]
pub(super) struct WireFunction {
    pub name: String,
    /// JSON text, as the model wrote it (it may not parse).
    #[serde(default)]
    pub arguments: String,
}

#[derive(Debug, Deserialize)]
pub(super) struct CompletionResponse {
    #[serde(default)]
    pub choices: Vec<CompletionChoice>,
    pub usage: Option<Usage>,
}

#[derive(Debug, Deserialize)]
pub(super) struct CompletionChoice {
    #[serde(default)]
    pub text: String,
}

/// Tokens as the provider counts them; some providers add the request's cost.
#[derive(Debug, Default, Clone, Copy, Deserialize, serde::Serialize)]
pub struct Usage {
    #[serde(default)]
    pub prompt_tokens: u64,
    #[serde(default)]
    pub completion_tokens: u64,
    #[serde(default)]
    pub total_tokens: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost: Option<f64>,
}

impl Usage {
    pub fn total(&self) -> u64 {
        self.total_tokens.max(self.prompt_tokens + self.completion_tokens)
    }

    pub fn add(&mut self, other: Usage) {
        self.prompt_tokens += other.prompt_tokens;
        self.completion_tokens += other.completion_tokens;
        self.total_tokens += other.total();
        self.cost = match (self.cost, other.cost) {
            (None, None) => None,
            (a, b) => Some(a.unwrap_or(0.0) + b.unwrap_or(0.0)),
        };
    }
}
