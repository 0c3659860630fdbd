//! `command.run`: an exact, allow-listed command line. Off unless `ENABLE_UNIX_TOOLS=true`.

use std::process::Stdio;
use std::time::Duration;

use async_trait::async_trait;
use obsctl_core::config::{CommandsConfig, normalize_command};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Annotations, Tool, ToolError, ToolResult, ToolSpec, parse_args};

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RunArgs {
    /// Program and arguments; the words joined by spaces must equal an entry of [commands] allow.
    pub command: Vec<String>,
    /// Seconds before the command is killed (default 60, at most 600).
    #[serde(default)]
    pub timeout_seconds: Option<u64>,
}

pub struct Run {
    config: CommandsConfig,
    spec: ToolSpec,
}

impl Run {
    pub fn new(config: CommandsConfig) -> Self {
        let annotations = Annotations { read_only_hint: false, destructive_hint: true, idempotent_hint: false };
        Self {
            config,
            spec: ToolSpec::new::<RunArgs>(
                "command.run",
                "Run an allow-listed command line (needs ENABLE_UNIX_TOOLS=true).",
                annotations,
                true,
            ),
        }
    }

    /// Whether the tool may run at all, and why not.
    pub fn refusal(config: &CommandsConfig) -> Option<String> {
        (!config.enabled).then(|| "command.run is off; set ENABLE_UNIX_TOOLS=true to enable it".to_string())
    }

    fn allowed(&self, a: &RunArgs) -> Result<String, ToolError> {
        if let Some(why) = Self::refusal(&self.config) {
            return Err(ToolError::Refused(why));
        }
        let line = normalize_command(&a.command.join(" "));
        if !self.config.allow.contains(&line) {
            return Err(ToolError::Refused(format!("{line:?} is not in [commands] allow")));
        }
        Ok(line)
    }
}

#[async_trait]
impl Tool for Run {
    fn spec(&self) -> &ToolSpec {
        &self.spec
    }

    async fn call(&self, args: &Value) -> ToolResult {
        let a: RunArgs = parse_args(args)?;
        self.allowed(&a)?;
        let Some((program, rest)) = a.command.split_first() else {
            return Err(ToolError::InvalidArgs("empty command".into()));
        };
        let child = tokio::process::Command::new(program)
            .args(rest)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .output();
        let timeout = Duration::from_secs(a.timeout_seconds.unwrap_or(60).min(600));
        let out = tokio::time::timeout(timeout, child)
            .await
            .map_err(|_| ToolError::Failed(format!("timed out after {}s", timeout.as_secs())))?
            .map_err(|e| ToolError::Failed(format!("cannot run {program}: {e}")))?;
        let tail = |b: &[u8]| String::from_utf8_lossy(&b[b.len().saturating_sub(4096)..]).into_owned();
        let result = json!({"exit_code": out.status.code(), "stdout": tail(&out.stdout), "stderr": tail(&out.stderr)});
        if out.status.success() {
            Ok(result)
        } else {
            Err(ToolError::Failed(format!("exit {:?}: {}", out.status.code(), tail(&out.stderr))))
        }
    }

    async fn dry_run(&self, args: &Value) -> Option<ToolResult> {
        Some(parse_args::<RunArgs>(args).and_then(|a| Ok(json!({"would_run": self.allowed(&a)?}))))
    }
}
