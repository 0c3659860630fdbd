//! The tool registry over MCP. A read-only tool runs at once (`Agent::read_tool`: policy, audit,
//! redaction). A tool that changes things takes the `incident_id` it acts for and becomes a
//! one-step plan proposed by the client: gated, journaled and audited like the agent's own, so
//! in `approve` mode it answers "queued for approval" with the action id and no result.

use std::sync::Arc;

use obsctl_agent::ToolRegistry;
use obsctl_agent::agent::PlanReport;
use obsctl_agent::tools::ToolError;
use obsctl_agent::tools::args_check::check_args;
use obsctl_config::Step;
use obsctl_core::action::ActionState;
use obsctl_core::secret::redact_value;
use rmcp::model::{CallToolResult, Tool, ToolAnnotations};
use serde_json::{Value, json};

use super::json_result;
use crate::{ApiError, AppState};

/// The argument every tool that changes things takes besides its own.
const INCIDENT_ID: &str = "incident_id";

/// Every registry tool as MCP sees it, with truthful annotations.
pub(super) fn tools(registry: &ToolRegistry) -> Vec<Tool> {
    registry
        .specs()
        .into_iter()
        .map(|spec| {
            let a = spec.annotations;
            let mut schema = match &spec.input_schema {
                Value::Object(map) => map.clone(),
                _ => serde_json::Map::new(),
            };
            let description = if a.read_only_hint {
                spec.description.to_string()
            } else {
                with_incident_id(&mut schema);
                format!(
                    "{} Changes things: give the incident_id it acts for; it passes obsctl's policy gate \
                     (in approve mode it is queued for a person and returns the action id, no result).",
                    spec.description
                )
            };
            let annotations = ToolAnnotations::new()
                .read_only(a.read_only_hint)
                .destructive(a.destructive_hint)
                .idempotent(a.idempotent_hint)
                .open_world(a.open_world_hint);
            Tool::new(spec.name, description, Arc::new(schema)).with_annotations(annotations)
        })
        .collect()
}

/// Adds the required `incident_id` property to a tool's input schema.
fn with_incident_id(schema: &mut serde_json::Map<String, Value>) {
    schema.entry("type").or_insert_with(|| json!("object"));
    let properties = schema.entry("properties").or_insert_with(|| json!({}));
    if let Some(p) = properties.as_object_mut() {
        p.insert(
            INCIDENT_ID.into(),
            json!({"type": "string", "description": "The open incident this action is for (obsctl.incidents)."}),
        );
    }
    let required = schema.entry("required").or_insert_with(|| json!([]));
    if let Some(r) = required.as_array_mut()
        && !r.iter().any(|v| v == INCIDENT_ID)
    {
        r.push(json!(INCIDENT_ID));
    }
}

/// Calls registry tool `name` for `caller`.
pub(super) async fn call(
    state: &AppState,
    tool: &dyn obsctl_agent::Tool,
    mut args: Value,
    caller: &str,
) -> CallToolResult {
    let spec = tool.spec();
    let name = spec.name.as_str();
    if spec.annotations.read_only_hint {
        return match state.agent.read_tool(name, &args, caller).await {
            Ok(value) => json_result(value, false),
            Err(e) => {
                let code = match e {
                    ToolError::InvalidArgs(_) => "invalid_arguments",
                    ToolError::Refused(_) => "refused",
                    ToolError::Failed(_) => "failed",
                };
                json_result(json!({"error": {"code": code, "message": e.to_string()}}), true)
            }
        };
    }
    let incident = args.as_object_mut().and_then(|m| m.remove(INCIDENT_ID));
    let Some(incident_id) = incident.as_ref().and_then(Value::as_str).filter(|id| !id.is_empty()) else {
        let message = format!(
            "{name} changes things, so it acts for an incident: give incident_id (obsctl.incidents lists the open ones)"
        );
        return json_result(json!({"error": {"code": "invalid_arguments", "message": message}}), true);
    };
    if let Err(why) = check_args(&spec.input_schema, &args) {
        let message = format!("invalid arguments for {name}: {why}");
        return json_result(json!({"error": {"code": "invalid_arguments", "message": message}}), true);
    }
    let steps = vec![Step { tool: name.into(), args }];
    match state.agent.propose(incident_id, steps, caller, "called over MCP", false, None).await {
        Ok(report) => {
            let (value, failed) = plan_summary(&report);
            let value = redact_value(&value, &state.config.secrets());
            json_result(value, failed)
        }
        Err(e) => {
            let e = ApiError::from(e);
            json_result(json!({"error": {"code": e.code.as_str(), "message": e.message}}), true)
        }
    }
}

/// Statuses of a proposal that mean it did not do what was asked.
pub(super) fn is_failure(status: &str) -> bool {
    matches!(status, "failed" | "denied" | "cancelled")
}

/// What became of a proposed plan, for the client: a status, a sentence, and each action (a
/// queued one without any result: nothing ran). True when it failed or was refused.
pub(super) fn plan_summary(report: &PlanReport) -> (Value, bool) {
    let any = |state: ActionState| report.actions.iter().any(|a| a.state == state);
    let (status, message) = if any(ActionState::PendingApproval) {
        ("queued_for_approval", "queued for approval: nothing runs until a person approves it (dashboard, API or CLI)")
    } else if any(ActionState::Failed) {
        ("failed", "the tool ran and failed")
    } else if any(ActionState::Denied) {
        ("denied", "the policy gate refused it")
    } else if any(ActionState::Cancelled) {
        ("cancelled", "cancelled before it ran")
    } else if report.handed_to.is_some() {
        ("handed_to_serve", "approved; the running obsctl serve runs it")
    } else if any(ActionState::DryRun) {
        ("dry_run", "dry-run mode: the tool's dry-run said what it would do; nothing changed")
    } else if any(ActionState::Observed) {
        ("observed", "observe mode: recorded, nothing ran")
    } else if !report.actions.is_empty() && report.actions.iter().all(|a| a.state == ActionState::Succeeded) {
        ("succeeded", "it ran and succeeded")
    } else {
        ("not_run", "nothing ran")
    };
    let actions: Vec<Value> = report
        .actions
        .iter()
        .map(|a| {
            let result = if a.state == ActionState::PendingApproval { None } else { a.result.clone() };
            json!({
                "action_id": a.id, "step": a.step, "tool": a.tool, "state": a.state.as_str(),
                "gate": a.gate, "reason": a.reason, "result": result,
            })
        })
        .collect();
    let value = json!({
        "status": status,
        "message": message,
        "incident_id": report.incident_id,
        "actions": actions,
        "outcome": report.outcome.map(|o| o.as_str()),
        "handed_to": report.handed_to,
    });
    (value, is_failure(status))
}
