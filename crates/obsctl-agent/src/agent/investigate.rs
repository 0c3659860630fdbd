//! Reading without acting: a read-only tool called outside any plan, by an MCP client (and the
//! LLM planner's investigation). Policy still applies (a tool switched off or not in
//! `agent.allow_tools` is refused) and every call is audited with its caller.

use obsctl_core::secret::redact_value;
use serde_json::{Value, json};

use super::Agent;
use crate::tools::ToolError;

impl Agent {
    /// Calls read-only `tool` with `args` for `by` (e.g. `mcp:claude-code`): refused when the
    /// tool changes things or policy refuses it; audited either way.
    pub async fn read_tool(&self, tool: &str, args: &Value, by: &str) -> Result<Value, ToolError> {
        let result = match self.gate.tool_refused(tool) {
            Some(why) => Err(ToolError::Refused(why)),
            None => self.executor.read(tool, args).await,
        };
        let (decision, reason) = match &result {
            Ok(_) => ("ok", String::new()),
            Err(ToolError::Refused(why)) => ("refused", why.clone()),
            Err(e) => ("failed", e.to_string()),
        };
        let args = redact_value(args, &self.config.secrets());
        self.gate.audit(by, "read", tool, decision, &reason, json!({"args": args})).await;
        result
    }
}
