//! The executor: the only code that runs a tool for real. It takes an action the gate approved
//! and the store journaled (`approved`), marks it `running`, calls the tool, and records the
//! result as `succeeded` or `failed`. Secrets are redacted from what it stores.

use std::sync::Arc;

use obsctl_core::Timestamp;
use obsctl_core::action::{Action, ActionState};
use obsctl_core::event::Event;
use obsctl_core::secret::redact;
use obsctl_store::Store;
use serde_json::{Value, json};
use tokio::sync::broadcast;

use crate::tools::{ToolError, ToolRegistry};

pub struct Executor {
    store: Arc<dyn Store>,
    registry: Arc<ToolRegistry>,
    bus: broadcast::Sender<Event>,
    secrets: Vec<obsctl_core::Secret>,
}

impl Executor {
    pub fn new(
        store: Arc<dyn Store>,
        registry: Arc<ToolRegistry>,
        bus: broadcast::Sender<Event>,
        secrets: Vec<obsctl_core::Secret>,
    ) -> Self {
        Self { store, registry, bus, secrets }
    }

    fn scrub(&self, value: Value) -> Value {
        let refs: Vec<&obsctl_core::Secret> = self.secrets.iter().collect();
        let text = redact(&value.to_string(), &refs);
        serde_json::from_str(&text).unwrap_or(value)
    }

    async fn save(&self, action: &mut Action, state: ActionState, result: Option<Value>) -> anyhow::Result<()> {
        action.state = state;
        action.result = result.map(|r| self.scrub(r));
        action.updated_at = Timestamp::now();
        self.store.update_action(action).await?;
        let _ = self.bus.send(Event::ActionChanged { action_id: action.id.clone(), state: state.as_str().into() });
        Ok(())
    }

    /// Runs a journaled, approved action. Refuses anything not in `approved`.
    pub async fn execute(&self, mut action: Action) -> anyhow::Result<Action> {
        anyhow::ensure!(
            action.state == ActionState::Approved,
            "action {} is {}, not approved",
            action.id,
            action.state.as_str()
        );
        let Some(tool) = self.registry.get(&action.tool).cloned() else {
            let error = json!({"error": format!("tool {} is not registered", action.tool)});
            self.save(&mut action, ActionState::Failed, Some(error)).await?;
            return Ok(action);
        };
        self.save(&mut action, ActionState::Running, None).await?;
        self.store
            .add_event(
                &action.incident_id,
                "action",
                &format!("running {} {}", action.tool, action.args),
                json!({"action_id": action.id}),
            )
            .await?;
        tracing::info!(action = %action.id, tool = %action.tool, "executing action");
        let result = tool.call(&action.args).await;
        let (state, value, message) = match result {
            Ok(v) => (ActionState::Succeeded, v, format!("{} succeeded", action.tool)),
            Err(e) => (ActionState::Failed, json!({"error": e.to_string()}), format!("{} failed: {e}", action.tool)),
        };
        self.save(&mut action, state, Some(value)).await?;
        let message = redact(&message, &self.secrets.iter().collect::<Vec<_>>());
        self.store
            .add_event(
                &action.incident_id,
                "action",
                &message,
                json!({"action_id": action.id, "state": state.as_str()}),
            )
            .await?;
        Ok(action)
    }

    /// Runs the tool's dry-run and records what it said on the (already journaled) action.
    pub async fn dry_run(&self, mut action: Action) -> anyhow::Result<Action> {
        let result = match self.registry.get(&action.tool) {
            Some(tool) => match tool.dry_run(&action.args).await {
                Some(Ok(v)) => json!({"dry_run": v}),
                Some(Err(e)) => json!({"dry_run_error": e.to_string()}),
                None => {
                    json!({"dry_run": format!("{} has no dry-run; it would be called with {}", action.tool, action.args)})
                }
            },
            None => {
                json!({"dry_run_error": ToolError::Refused(format!("tool {} is not registered", action.tool)).to_string()})
            }
        };
        self.save(&mut action, ActionState::DryRun, Some(result)).await?;
        Ok(action)
    }
}
