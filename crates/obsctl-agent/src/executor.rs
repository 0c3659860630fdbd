//! The executor: the only code that runs a tool for real. It takes an action the gate approved
//! and the store journaled (`approved`), with the permit the gate made for that step, marks it
//! `running`, calls the tool, and records the result as `succeeded` or `failed`. Secrets are
//! redacted from what it stores. In `serve`, it runs a tool only while its process holds the
//! agent lease (checked after the claim, just before the call), so a replica that was paused
//! past its lease wakes up and runs nothing.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use obsctl_core::Timestamp;
use obsctl_core::action::{Action, ActionState};
use obsctl_core::event::Event;
use obsctl_core::secret::{redact, redact_value};
use obsctl_core::timeline::{ActionEntry, EntryKind, to_data};
use obsctl_store::{Store, StoreError};
use serde_json::{Value, json};
use tokio::sync::broadcast;

use crate::gate::Permit;
use crate::leadership::Leadership;
use crate::tools::{CHANGED_NOTHING, ToolError, ToolRegistry};

pub struct Executor {
    store: Arc<dyn Store>,
    registry: Arc<ToolRegistry>,
    bus: broadcast::Sender<Event>,
    secrets: Vec<obsctl_core::Secret>,
    /// In `serve`: the agent lease, without which no tool runs.
    fence: OnceLock<Arc<Leadership>>,
    /// The actions whose tool this process is calling now (recovery leaves them alone).
    in_flight: Mutex<HashSet<String>>,
}

/// Marks an action as in flight here for as long as it lives.
struct InFlight<'a>(&'a Executor, String);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.lock().unwrap_or_else(PoisonError::into_inner).remove(&self.1);
    }
}

impl Executor {
    pub fn new(
        store: Arc<dyn Store>,
        registry: Arc<ToolRegistry>,
        bus: broadcast::Sender<Event>,
        secrets: Vec<obsctl_core::Secret>,
    ) -> Self {
        Self { store, registry, bus, secrets, fence: OnceLock::new(), in_flight: Mutex::default() }
    }

    /// Runs tools only while `leadership` holds the agent lease (set once, by `serve`).
    pub fn fence_with(&self, leadership: Arc<Leadership>) {
        let _ = self.fence.set(leadership);
    }

    /// Whether this process may run a tool now: it holds the agent lease, or has none to hold.
    fn leading(&self) -> bool {
        self.fence.get().is_none_or(|lease| lease.held())
    }

    /// Whether this process is calling the tool of action `id` right now.
    pub fn runs_here(&self, id: &str) -> bool {
        self.in_flight.lock().unwrap_or_else(PoisonError::into_inner).contains(id)
    }

    /// Every string of `value` with the configured secrets redacted.
    pub fn scrub(&self, value: Value) -> Value {
        redact_value(&value, &self.secrets.iter().collect::<Vec<_>>())
    }

    async fn save(&self, action: &mut Action, state: ActionState, result: Option<Value>) -> anyhow::Result<()> {
        action.state = state;
        action.result = result.map(|r| self.scrub(r));
        action.updated_at = Timestamp::now();
        self.store.update_action(action).await?;
        let _ = self.bus.send(Event::ActionChanged { action_id: action.id.clone(), state });
        Ok(())
    }

    /// Runs a journaled, approved action. It first claims the action with a compare-and-set
    /// (`approved` → `running`), so of every process and task that tries, exactly one runs the
    /// tool; the others get `None` and must leave the plan to the winner. A process that lost
    /// the agent lease also gets `None`: before the claim it claims nothing; after it, the action
    /// stays `running` for the lease's next holder to verify, never to re-run.
    pub async fn execute(&self, action: Action, permit: Permit) -> anyhow::Result<Option<Action>> {
        anyhow::ensure!(
            permit.covers(&action.tool, &action.args),
            "the permit for {} does not cover action {} ({}): not running it",
            permit.tool(),
            action.id,
            action.tool
        );
        if !self.leading() {
            tracing::warn!(action = %action.id, "not holding the agent lease; leaving the action to its holder");
            return Ok(None);
        }
        let _in_flight = {
            self.in_flight.lock().unwrap_or_else(PoisonError::into_inner).insert(action.id.clone());
            InFlight(self, action.id.clone())
        };
        let by = action.decided_by.clone().unwrap_or_else(|| "agent".into());
        let mut action = match self
            .store
            .transition_action(&action.id, ActionState::Approved, ActionState::Running, &action.reason, &by)
            .await
        {
            Ok(claimed) => claimed,
            Err(StoreError::Conflict(why)) => {
                tracing::info!(action = %action.id, %why, "action claimed elsewhere; not running it");
                return Ok(None);
            }
            Err(e) => return Err(e.into()),
        };
        let _ = self.bus.send(Event::ActionChanged { action_id: action.id.clone(), state: action.state });
        let Some(tool) = self.registry.get(&action.tool) else {
            let error = json!({"error": format!("tool {} is not registered", action.tool)});
            self.save(&mut action, ActionState::Failed, Some(error)).await?;
            return Ok(Some(action));
        };
        self.store
            .add_event(
                &action.incident_id,
                EntryKind::Action,
                &format!("running {} {}", action.tool, self.scrub(action.args.clone())),
                to_data(&ActionEntry {
                    action_id: action.id.clone(),
                    state: None,
                    holder: self.fence.get().map(|lease| lease.holder().to_string()),
                }),
            )
            .await?;
        if !self.leading() {
            let message = format!("lost the agent lease before running {}; its next holder verifies it", action.tool);
            tracing::warn!(action = %action.id, "{message}");
            let entry = ActionEntry { action_id: action.id.clone(), state: None, holder: None };
            self.store.add_event(&action.incident_id, EntryKind::Action, &message, to_data(&entry)).await?;
            return Ok(None);
        }
        tracing::info!(action = %action.id, tool = %action.tool, "executing action");
        let result = tool.call(&action.args, &permit).await;
        let (state, value, message) = match result {
            Ok(mut v) => {
                let said = tool.achieved(&v).map(|a| format!(": {a}")).unwrap_or_default();
                let nothing = tool.changed_nothing(&v);
                if let Some(fields) = v.as_object_mut() {
                    fields.remove(CHANGED_NOTHING);
                    if nothing {
                        fields.insert(CHANGED_NOTHING.into(), true.into());
                    }
                }
                (ActionState::Succeeded, v, format!("{} succeeded{said}", action.tool))
            }
            Err(e) => (ActionState::Failed, json!({"error": e.to_string()}), format!("{} failed: {e}", action.tool)),
        };
        self.save(&mut action, state, Some(value)).await?;
        let labels = obsctl_core::metrics::ActionLabels { tool: action.tool.clone(), outcome: state.as_str().into() };
        obsctl_core::metrics::metrics().actions.get_or_create(&labels).inc();
        let message = redact(&message, &self.secrets.iter().collect::<Vec<_>>());
        self.store
            .add_event(
                &action.incident_id,
                EntryKind::Action,
                &message,
                to_data(&ActionEntry { action_id: action.id.clone(), state: Some(state), holder: None }),
            )
            .await?;
        Ok(Some(action))
    }

    /// Runs a read-only tool outside any plan (an MCP client's call, an investigation), with
    /// the permit `Gate::permit_read` made for it: whatever changes the world runs only through
    /// `execute`. The result and any error are redacted.
    pub async fn read(&self, name: &str, args: &Value, permit: Permit) -> Result<Value, ToolError> {
        if !permit.covers(name, args) {
            return Err(ToolError::Refused(format!("the permit for {} does not cover {name}", permit.tool())));
        }
        let tool =
            self.registry.get(name).ok_or_else(|| ToolError::Refused(format!("tool {name} is not registered")))?;
        if !tool.spec().annotations.read_only_hint {
            return Err(ToolError::Refused(format!(
                "{name} changes things: it runs only as a step of a plan that passed the gate"
            )));
        }
        let secrets: Vec<_> = self.secrets.iter().collect();
        match tool.call(args, &permit).await {
            Ok(value) => Ok(self.scrub(value)),
            Err(ToolError::InvalidArgs(e)) => Err(ToolError::InvalidArgs(redact(&e, &secrets))),
            Err(ToolError::Refused(e)) => Err(ToolError::Refused(redact(&e, &secrets))),
            Err(ToolError::Failed(e)) => Err(ToolError::Failed(redact(&e, &secrets))),
        }
    }

    /// What the tool's dry-run says about the action (`{"dry_run": …}` or `{"dry_run_error": …}`),
    /// secrets redacted, and whether the tool refuses it outright (its arguments are invalid,
    /// or outside what it may touch, such as a cleanup outside the allowed roots): such a step
    /// could never run. Read-only: it changes nothing, here or in the world.
    pub async fn preview(&self, action: &Action) -> (Value, Option<String>) {
        let (result, refused) = match self.registry.get(&action.tool) {
            Some(tool) => match tool.dry_run(&action.args).await {
                Some(Ok(v)) => (json!({"dry_run": v}), None),
                Some(Err(e @ (ToolError::Refused(_) | ToolError::InvalidArgs(_)))) => {
                    (json!({"dry_run_error": e.to_string()}), Some(e.to_string()))
                }
                Some(Err(e)) => (json!({"dry_run_error": e.to_string()}), None),
                None => (
                    json!({"dry_run": format!("{} has no dry-run; it would be called with {}", action.tool, action.args)}),
                    None,
                ),
            },
            None => {
                let e = ToolError::Refused(format!("tool {} is not registered", action.tool)).to_string();
                (json!({"dry_run_error": e}), Some(e))
            }
        };
        let secrets: Vec<_> = self.secrets.iter().collect();
        (self.scrub(result), refused.map(|why| redact(&why, &secrets)))
    }

    /// Runs the tool's dry-run and records what it said on the (already journaled) action.
    pub async fn dry_run(&self, mut action: Action) -> anyhow::Result<Action> {
        let (result, _) = self.preview(&action).await;
        self.save(&mut action, ActionState::DryRun, Some(result)).await?;
        Ok(action)
    }
}

#[cfg(test)]
mod tests;
