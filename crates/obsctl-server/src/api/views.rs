//! Request and response bodies of the API (domain types are sent as they are).

use std::collections::BTreeMap;

use obsctl_core::action::Action;
use obsctl_core::check::{LatencySummary, Observation};
use obsctl_core::incident::{Incident, IncidentEvent};
use obsctl_core::policy::Mode;
use obsctl_core::state::CheckStatus;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

#[derive(Serialize, JsonSchema)]
pub struct StatusBody {
    pub version: &'static str,
    pub agent_mode: Mode,
    pub services: usize,
    /// Number of checks in each state.
    pub checks: BTreeMap<String, usize>,
    pub open_incidents: usize,
    pub pending_approvals: usize,
    pub graph: GraphView,
}

/// Which graph answers the graph queries.
#[derive(Serialize, JsonSchema)]
pub struct GraphView {
    /// `embedded` (the store) or `bolt` (a mirror in a Bolt server).
    pub backend: &'static str,
    /// The Bolt mirror's state: whether it serves queries, and why not.
    pub mirror: Option<obsctl_store::MirrorStatus>,
}

#[derive(Serialize, JsonSchema)]
pub struct ServiceView {
    pub name: String,
    /// The worst state of its checks: failing > flapping > unknown > ok.
    pub status: CheckStatus,
    pub depends_on: Vec<String>,
    pub labels: BTreeMap<String, String>,
    pub checks: Vec<String>,
    pub open_incidents: usize,
}

#[derive(Serialize, JsonSchema)]
pub struct CheckView {
    pub id: String,
    pub service: String,
    pub name: String,
    pub kind: String,
    pub interval_ms: u64,
    pub status: CheckStatus,
    pub last: Option<Observation>,
}

#[derive(Serialize, JsonSchema)]
pub struct CheckDetail {
    pub check: CheckView,
    /// Newest first.
    pub recent: Vec<Observation>,
    pub latency: LatencySummary,
}

#[derive(Serialize, JsonSchema)]
pub struct RunResult {
    pub observation: Observation,
    pub status: CheckStatus,
}

#[derive(Serialize, JsonSchema)]
pub struct IncidentDetail {
    pub incident: Incident,
    pub events: Vec<IncidentEvent>,
    pub actions: Vec<Action>,
}

#[derive(Serialize, JsonSchema)]
pub struct Deleted {
    pub deleted: String,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HistoryQuery {
    /// Results to return (default 100).
    pub limit: Option<u32>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct IncidentQuery {
    /// `open` or `resolved`.
    pub status: Option<String>,
    pub service: Option<String>,
    pub kind: Option<String>,
    pub limit: Option<u32>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ActionQuery {
    /// e.g. `pending_approval`; several separated by commas.
    pub state: Option<String>,
    pub incident: Option<String>,
    pub limit: Option<u32>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SilenceQuery {
    /// Only silences active now.
    pub active: Option<bool>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LimitQuery {
    pub limit: Option<u32>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DecisionRequest {
    #[serde(default)]
    pub reason: Option<String>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ResolveRequest {
    pub note: String,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LedgerQuery {
    /// An incident cluster, `kind@service` (e.g. `disk-full@api`).
    pub cluster: Option<String>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RecallParams {
    /// Free text: what the incident looks like.
    pub q: String,
    /// Only episodes of this service.
    pub service: Option<String>,
    /// Only episodes of this incident kind.
    pub kind: Option<String>,
    pub limit: Option<usize>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProposedStep {
    pub tool: String,
    #[serde(default)]
    pub args: serde_json::Value,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProposeRequest {
    pub steps: Vec<ProposedStep>,
    #[serde(default)]
    pub reason: Option<String>,
    /// Let memory learn this as a fix for similar incidents (default: a one-off).
    #[serde(default)]
    pub remember_as_fix: bool,
}

#[derive(Serialize, JsonSchema)]
pub struct ProposeResponse {
    /// The journaled actions, one per step the gate saw.
    pub actions: Vec<Action>,
    /// The verified outcome, when a step was executed.
    pub outcome: Option<obsctl_core::action::Outcome>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SilenceRequest {
    /// Service to silence; absent means every service.
    pub service: Option<String>,
    /// Incident kind to silence, e.g. `disk-full`; absent means every kind.
    pub kind: Option<String>,
    /// How long, e.g. `2h`.
    pub duration: String,
    /// RFC 3339 start for a maintenance window; absent means now.
    pub starts_at: Option<String>,
    pub reason: String,
}
