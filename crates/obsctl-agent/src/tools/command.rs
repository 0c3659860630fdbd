//! `command.run`: an exact, allow-listed argument vector, run without a shell in a cleared
//! environment with bounded output. Off unless `ENABLE_UNIX_TOOLS=true`.

/// Bytes of each output stream kept (the end of it).
const OUTPUT_TAIL: usize = 4096;

use std::time::Duration;

use async_trait::async_trait;
use obsctl_config::CommandsConfig;
use obsctl_host::run_bounded;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Annotations, Tool, ToolError, ToolResult, ToolSpec, parse_args};
use crate::gate::Permit;

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RunArgs {
    /// Program and arguments; must equal an entry of [commands] allow element by element.
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
        let annotations = Annotations {
            read_only_hint: false,
            destructive_hint: true,
            idempotent_hint: false,
            open_world_hint: true,
        };
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

    fn allowed(&self, a: &RunArgs) -> Result<(), ToolError> {
        if let Some(why) = Self::refusal(&self.config) {
            return Err(ToolError::Refused(why));
        }
        if !self.config.allows(&a.command) {
            return Err(ToolError::Refused(format!("{:?} is not in [commands] allow", a.command)));
        }
        Ok(())
    }
}

#[async_trait]
impl Tool for Run {
    fn spec(&self) -> &ToolSpec {
        &self.spec
    }

    async fn call(&self, args: &Value, _permit: &Permit) -> ToolResult {
        let a: RunArgs = parse_args(args)?;
        self.allowed(&a)?;
        let env: Vec<(String, String)> =
            self.config.env.iter().map(|(k, v)| (k.clone(), v.expose().to_string())).collect();
        let timeout = Duration::from_secs(a.timeout_seconds.unwrap_or(60).min(600));
        let out =
            run_bounded(&a.command, &env, timeout, OUTPUT_TAIL).await.map_err(|e| ToolError::Failed(e.to_string()))?;
        let result = json!({"exit_code": out.status.code(), "stdout": out.stdout, "stderr": out.stderr});
        if out.status.success() {
            Ok(result)
        } else {
            Err(ToolError::Failed(format!("exit {:?}: {}", out.status.code(), out.stderr)))
        }
    }

    async fn dry_run(&self, args: &Value) -> Option<ToolResult> {
        Some(parse_args::<RunArgs>(args).and_then(|a| {
            self.allowed(&a)?;
            Ok(json!({"would_run": a.command}))
        }))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn tool(allow: &[&[&str]]) -> Run {
        let allow = allow.iter().map(|a| a.iter().map(|w| w.to_string()).collect()).collect();
        Run::new(CommandsConfig { enabled: true, allow, env: Default::default() })
    }

    #[tokio::test]
    async fn the_allow_list_compares_argument_vectors_not_joined_text() {
        let t = tool(&[&["sh", "-c", "echo id"]]);
        // The same words joined by a space, but another program text: refused.
        for argv in [json!(["sh", "-c", "echo\nid"]), json!(["sh", "-c", "echo", "id"]), json!(["sh", "-c echo id"])] {
            let args = json!({"command": argv});
            let err = t.call(&args, &Permit::for_tests("command.run", &args)).await.unwrap_err();
            assert!(err.to_string().contains("not in [commands] allow"), "{argv}: {err}");
        }
        let args = json!({"command": ["sh", "-c", "echo id"]});
        let ok = t.call(&args, &Permit::for_tests("command.run", &args)).await.unwrap();
        assert_eq!(ok["stdout"], "id\n");
    }
}
