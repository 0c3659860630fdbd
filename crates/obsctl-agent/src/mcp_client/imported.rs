//! A tool of an external MCP server, as a registry tool: `<server>.<tool>` with the server's
//! schema and annotations. A call is bounded in time and in what it keeps of the answer.

use std::time::Duration;

use async_trait::async_trait;
use rmcp::model::{CallToolRequestParams, CallToolResult, ContentBlock};
use rmcp::service::{Peer, RoleClient};
use serde_json::{Value, json};

use crate::tools::{Annotations, Tool, ToolError, ToolResult, ToolSpec};

/// Text kept of one answer; the rest is cut (a server that floods cannot fill the journal).
const MAX_TEXT: usize = 64 * 1024;

pub(super) struct ImportedTool {
    spec: ToolSpec,
    /// The tool's name on its server.
    remote: String,
    peer: Peer<RoleClient>,
    timeout: Duration,
}

impl ImportedTool {
    pub fn new(server: &str, tool: rmcp::model::Tool, peer: Peer<RoleClient>, timeout: Duration) -> Self {
        let a = tool.annotations.clone().unwrap_or_default();
        // MCP's defaults for hints the server leaves out: not read-only, destructive, not
        // idempotent, open world.
        let annotations = Annotations {
            read_only_hint: a.read_only_hint.unwrap_or(false),
            destructive_hint: a.destructive_hint.unwrap_or(true),
            idempotent_hint: a.idempotent_hint.unwrap_or(false),
            open_world_hint: a.open_world_hint.unwrap_or(true),
        };
        let spec = ToolSpec {
            name: format!("{server}.{}", tool.name),
            description: tool.description.as_deref().unwrap_or("").to_string(),
            input_schema: Value::Object((*tool.input_schema).clone()),
            annotations,
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

    async fn call(&self, args: &Value) -> ToolResult {
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
    if cut {
        let mut end = MAX_TEXT;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
    }
    let structured = answer.structured_content.clone().filter(|v| v.to_string().len() <= MAX_TEXT);
    json!({"text": text, "truncated": cut, "structured": structured})
}

fn block_text(block: &ContentBlock) -> Option<&str> {
    match block {
        ContentBlock::Text(t) => Some(&t.text),
        _ => None,
    }
}
