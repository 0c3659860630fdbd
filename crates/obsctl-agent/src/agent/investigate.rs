//! Reading without acting: a read-only tool called outside any plan, by an MCP client (and the
//! LLM planner's investigation). It runs only with the gate's read permit (the tool exists, is
//! allowed, only reads by obsctl's own account, and the mode is not `observe`), and every call
//! is audited with its caller.

use obsctl_core::secret::redact_value;
use serde_json::{Value, json};

use super::Agent;
use crate::tools::ToolError;

impl Agent {
    /// Appends an audit record for `by` (a door's own act that is not a tool call, e.g. a check
    /// run on demand); a failure to audit is logged.
    pub async fn audit(&self, by: &str, action: &str, subject: &str, decision: &str, reason: &str, data: Value) {
        self.gate.audit(by, action, subject, decision, reason, data).await;
    }

    /// Calls read-only `tool` with `args` for `by` (e.g. `mcp:claude-code`): refused when the
    /// tool changes things or policy refuses it; audited either way.
    pub async fn read_tool(&self, tool: &str, args: &Value, by: &str) -> Result<Value, ToolError> {
        let result = match self.gate.permit_read(tool, args, self.ceiling) {
            Err(why) => Err(ToolError::Refused(why)),
            Ok(permit) => self.executor.read(tool, args, permit).await,
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
