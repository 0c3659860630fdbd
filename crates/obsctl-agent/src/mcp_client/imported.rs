//! A tool of an external MCP server, as a registry tool: `<server>.<tool>` with the server's
//! schema (bounded), its description (bounded, framed as the server's words) and the operator's
//! policy as its annotations; the server's own hints are kept beside them as advice. A call is
//! bounded in time and in what it keeps of the answer.

use std::time::Duration;

use async_trait::async_trait;
use rmcp::model::{CallToolRequestParams, CallToolResult, ContentBlock};
use rmcp::service::{Peer, RoleClient};
use serde_json::{Value, json};

use crate::gate::Permit;
use crate::tools::{Annotations, Tool, ToolError, ToolResult, ToolSpec};

/// Text kept of one answer; the rest is cut (a server that floods cannot fill the journal).
const MAX_TEXT: usize = 64 * 1024;
/// Of a tool's description, what is kept (it reaches models and clients).
const MAX_DESCRIPTION: usize = 1024;
/// A tool's input schema larger than this (as JSON) is not kept.
const MAX_SCHEMA: usize = 16 * 1024;

pub(super) struct ImportedTool {
    spec: ToolSpec,
    /// The tool's name on its server.
    remote: String,
    peer: Peer<RoleClient>,
    timeout: Duration,
}

impl ImportedTool {
    /// `reads`: the operator's policy for it is `read` (they vouch that it only reads). That,
    /// and nothing the server says, makes it read-only here.
    pub fn new(server: &str, tool: rmcp::model::Tool, peer: Peer<RoleClient>, timeout: Duration, reads: bool) -> Self {
        let a = tool.annotations.clone().unwrap_or_default();
        // MCP's defaults for hints the server leaves out: not read-only, destructive, not
        // idempotent, open world.
        let claimed = Annotations {
            read_only_hint: a.read_only_hint.unwrap_or(false),
            destructive_hint: a.destructive_hint.unwrap_or(true),
            idempotent_hint: a.idempotent_hint.unwrap_or(false),
            open_world_hint: a.open_world_hint.unwrap_or(true),
        };
        let annotations = Annotations {
            read_only_hint: reads,
            destructive_hint: !reads && claimed.destructive_hint,
            idempotent_hint: reads || claimed.idempotent_hint,
            open_world_hint: claimed.open_world_hint,
        };
        let description = bounded(tool.description.as_deref().unwrap_or(""), MAX_DESCRIPTION);
        let schema = Value::Object((*tool.input_schema).clone());
        let input_schema = if schema.to_string().len() <= MAX_SCHEMA {
            schema
        } else {
            // Too large to show a model or a client: arguments are still the server's to check.
            serde_json::json!({"type": "object", "description": "the server's schema was too large to keep"})
        };
        let spec = ToolSpec {
            name: format!("{server}.{}", tool.name),
            description: format!("[from MCP server {server}] {description}"),
            input_schema,
            annotations,
            claimed: Some(claimed),
            has_dry_run: false,
        };
        Self { spec, remote: tool.name.to_string(), peer, timeout }
    }
}

#[async_trait]
impl Tool for ImportedTool {
    fn spec(&self) -> &ToolSpec {
        &self.spec
    }

    async fn call(&self, args: &Value, _permit: &Permit) -> ToolResult {
        let mut params = CallToolRequestParams::new(self.remote.clone());
        match args {
            Value::Object(map) => params = params.with_arguments(map.clone()),
            Value::Null => {}
            _ => return Err(ToolError::InvalidArgs("arguments must be a JSON object".into())),
        }
        let answer = tokio::time::timeout(self.timeout, self.peer.call_tool(params))
            .await
            .map_err(|_| {
                ToolError::Failed(format!("{} gave no answer within {}s", self.spec.name, self.timeout.as_secs()))
            })?
            .map_err(|e| ToolError::Failed(format!("{}: {e}", self.spec.name)))?;
        let value = answer_value(&answer);
        if answer.is_error == Some(true) {
            return Err(ToolError::Failed(value["text"].as_str().unwrap_or("the tool reported an error").to_string()));
        }
        Ok(value)
    }
}

/// The answer as JSON: its text (cut at `MAX_TEXT`) and its structured content.
fn answer_value(answer: &CallToolResult) -> Value {
    let mut text = String::new();
    for block in &answer.content {
        if let Some(t) = block_text(block) {
            if !text.is_empty() {
                text.push('\n');
            }
            text.push_str(t);
        }
    }
    let cut = text.len() > MAX_TEXT;
    text = bounded(&text, MAX_TEXT);
    let structured = answer.structured_content.clone().filter(|v| v.to_string().len() <= MAX_TEXT);
    json!({"text": text, "truncated": cut, "structured": structured})
}

/// `text` cut to at most `max` bytes, on a character boundary.
fn bounded(text: &str, max: usize) -> String {
    let mut end = text.len().min(max);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_string()
}

fn block_text(block: &ContentBlock) -> Option<&str> {
    match block {
        ContentBlock::Text(t) => Some(&t.text),
        _ => None,
    }
}
