//! The control plane's own tools (`obsctl.*`). Each calls the JSON API's handler or the agent's
//! control behind the matching endpoint, with the same input type (its JSON Schema is the
//! tool's input schema), so a tool answers exactly as its endpoint does.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use obsctl_config::Step;
use rmcp::model::{CallToolResult, Tool, ToolAnnotations};
use schemars::JsonSchema;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::json_result;
use super::registry::plan_summary;
use crate::api::read;
use crate::api::views::{
    ActionQuery, HistoryQuery, IncidentQuery, LedgerQuery, Limit, LimitQuery, ProposedStep, RecallParams,
};
use crate::extract::Query;
use crate::{ApiError, AppState};

type Answer = Pin<Box<dyn Future<Output = Result<Value, ApiError>> + Send>>;
type Handler = Box<dyn Fn(AppState, Value, String) -> Answer + Send + Sync>;

struct ControlTool {
    tool: Tool,
    handler: Handler,
}

pub(super) struct Catalog {
    tools: Vec<ControlTool>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct NoArgs {}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct IncidentId {
    /// An incident id, e.g. `inc-…` (obsctl.incidents lists them).
    incident_id: String,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct ServiceName {
    /// A configured service (obsctl.services lists them).
    service: String,
    /// At most this many (default 100).
    limit: Option<Limit>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct CheckName {
    /// The check's service.
    service: String,
    /// The check's name within its service.
    name: String,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct ProposeArgs {
    /// The open incident the plan is for.
    incident_id: String,
    /// The steps, in order: each a registry tool and its arguments.
    #[schemars(length(min = 1))]
    steps: Vec<ProposedStep>,
    /// Why this plan: shown to the person who approves it.
    #[serde(default)]
    reason: Option<String>,
}

fn reads() -> ToolAnnotations {
    ToolAnnotations::new().read_only(true).destructive(false).idempotent(true).open_world(false)
}

/// A tool whose input is `A` and whose answer comes from `f`.
fn tool<A, F, Fut>(name: &'static str, description: &'static str, annotations: ToolAnnotations, f: F) -> ControlTool
where
    A: DeserializeOwned + JsonSchema + Send + 'static,
    F: Fn(AppState, A, String) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Value, ApiError>> + Send + 'static,
{
    let schema = match schemars::schema_for!(A).to_value() {
        Value::Object(map) => map,
        _ => serde_json::Map::new(),
    };
    let tool = Tool::new(name, description, Arc::new(schema)).with_annotations(annotations);
    let f = Arc::new(f);
    let handler: Handler = Box::new(move |state, args, caller| {
        let f = f.clone();
        Box::pin(async move {
            let args = if args.as_object().is_some_and(|m| m.is_empty()) { json!({}) } else { args };
            let input: A =
                serde_json::from_value(args).map_err(|e| ApiError::invalid(format!("invalid arguments: {e}")))?;
            f(state, input, caller).await
        })
    });
    ControlTool { tool, handler }
}

/// An API handler's JSON answer as a tool's value.
fn value<T: serde::Serialize>(answer: Result<Json<T>, ApiError>) -> Result<Value, ApiError> {
    answer.and_then(|Json(t)| serde_json::to_value(t).map_err(ApiError::internal))
}

impl Catalog {
    pub fn new() -> Self {
        let tools = vec![
            tool(
                "obsctl.status",
                "Overall state: check counts by status, open incidents, pending approvals, agent mode.",
                reads(),
                |s, _: NoArgs, _| async move { value(read::status(State(s)).await) },
            ),
            tool(
                "obsctl.services",
                "Every configured service with its worst check status, dependencies and open incidents.",
                reads(),
                |s, _: NoArgs, _| async move { value(read::services(State(s)).await) },
            ),
            tool(
                "obsctl.incidents",
                "Incidents, newest first, filtered by status (open, resolved), service or kind.",
                reads(),
                |s, q: IncidentQuery, _| async move { value(read::incidents(State(s), Query(q)).await) },
            ),
            tool(
                "obsctl.incident",
                "One incident with its timeline (events) and the actions taken on it.",
                reads(),
                |s, a: IncidentId, _| async move { value(read::incident(State(s), Path(a.incident_id)).await) },
            ),
            tool(
                "obsctl.recall",
                "Past incidents similar to a description, with what fixed them (incident memory).",
                reads(),
                |s, q: RecallParams, _| async move { value(read::recall(State(s), Query(q)).await) },
            ),
            tool(
                "obsctl.fixes",
                "The fix ledger: for each incident cluster (kind@service), which fixes were tried and how often they worked.",
                reads(),
                |s, q: LedgerQuery, _| async move { value(read::ledger(State(s), Query(q)).await) },
            ),
            tool(
                "obsctl.similar_fixes",
                "Fixes that worked for incidents like this one (same kind, related services).",
                reads(),
                |s, a: IncidentId, _| async move { value(read::similar_fixes(State(s), Path(a.incident_id)).await) },
            ),
            tool(
                "obsctl.fix_history",
                "The graph's fix history of a service: incidents, fixes and their outcomes, newest first.",
                reads(),
                |s, a: ServiceName, _| async move {
                    value(read::fix_history(State(s), Path(a.service), Query(HistoryQuery { limit: a.limit })).await)
                },
            ),
            tool(
                "obsctl.blast_radius",
                "Services that depend on this one, directly or not (what its failure reaches).",
                reads(),
                |s, a: ServiceName, _| async move { value(read::blast_radius(State(s), Path(a.service)).await) },
            ),
            tool(
                "obsctl.upstream_failures",
                "Failing dependencies of an incident's service: the likely root cause.",
                reads(),
                |s, a: IncidentId, _| async move { value(read::upstream(State(s), Path(a.incident_id)).await) },
            ),
            tool(
                "obsctl.approvals",
                "Actions waiting for a person's approval, with what their dry-run said.",
                reads(),
                |s, q: LimitQuery, _| async move {
                    let q = ActionQuery { state: Some("pending_approval".into()), incident: None, limit: q.limit };
                    value(read::actions(State(s), Query(q)).await)
                },
            ),
            tool(
                "obsctl.run_check",
                "Runs one check now and returns its observation and the check's status.",
                ToolAnnotations::new().read_only(false).destructive(false).idempotent(true).open_world(true),
                |s, a: CheckName, caller| async move {
                    value(crate::api::control::run(&s, &a.service, &a.name, &caller).await)
                },
            ),
            tool(
                "obsctl.propose",
                "Proposes a plan (tool steps) for an open incident. It passes obsctl's policy gate like the agent's own plans: in approve mode it is queued for a person and returns the action ids; nothing is approved here.",
                ToolAnnotations::new().read_only(false).destructive(true).idempotent(false).open_world(true),
                |s, a: ProposeArgs, caller| async move {
                    let steps = a.steps.into_iter().map(|st| Step { tool: st.tool, args: st.args }).collect();
                    let reason = a.reason.unwrap_or_default();
                    let report = s.agent.propose(&a.incident_id, steps, &caller, &reason, false, None).await?;
                    Ok(plan_summary(&report).0)
                },
            ),
        ];
        Self { tools }
    }

    pub fn tools(&self) -> Vec<Tool> {
        self.tools.iter().map(|t| t.tool.clone()).collect()
    }

    /// The answer of control tool `name`, or `None` when it is not one.
    pub async fn call(&self, state: &AppState, name: &str, args: &Value, caller: &str) -> Option<CallToolResult> {
        let tool = self.tools.iter().find(|t| t.tool.name == name)?;
        Some(match (tool.handler)(state.clone(), args.clone(), caller.to_string()).await {
            Ok(value) => {
                let failed = value.get("status").and_then(Value::as_str).is_some_and(super::registry::is_failure);
                json_result(value, failed)
            }
            Err(e) => json_result(json!({"error": {"code": e.code.as_str(), "message": e.message}}), true),
        })
    }
}
