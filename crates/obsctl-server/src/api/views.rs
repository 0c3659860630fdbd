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

/// A list's length limit, 0 to 10,000 (0 means the default); larger is refused, not capped.
#[derive(Debug, Clone, Copy)]
pub struct Limit(u32);

impl Limit {
    pub const MAX: u32 = 10_000;

    pub fn or(limit: Option<Limit>, default: u32) -> u32 {
        limit.map_or(default, |l| l.0)
    }
}

impl<'de> Deserialize<'de> for Limit {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let n = u32::deserialize(d)?;
        if n > Self::MAX {
            return Err(serde::de::Error::custom(format!("limit {n} is over {}", Self::MAX)));
        }
        Ok(Limit(n))
    }
}

impl JsonSchema for Limit {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Limit".into()
    }

    fn inline_schema() -> bool {
        true
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({"type": "integer", "format": "uint32", "minimum": 0, "maximum": Limit::MAX})
    }
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HistoryQuery {
    /// At most this many (default 100).
    pub limit: Option<Limit>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct IncidentQuery {
    pub status: Option<obsctl_core::incident::IncidentStatus>,
    pub service: Option<String>,
    pub kind: Option<String>,
    /// At most this many (default 100).
    pub limit: Option<Limit>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AlertQuery {
    pub status: Option<obsctl_core::alert::AlertStatus>,
    pub source: Option<obsctl_core::alert::AlertSource>,
    pub service: Option<String>,
    /// At most this many (default 100).
    pub limit: Option<Limit>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ActionQuery {
    /// e.g. `pending_approval`; several separated by commas.
    #[schemars(regex(
        pattern = r"^((pending_approval|approved|running|succeeded|failed|dry_run|observed|rejected|denied|cancelled)(,(pending_approval|approved|running|succeeded|failed|dry_run|observed|rejected|denied|cancelled))*)?$"
    ))]
    pub state: Option<String>,
    pub incident: Option<String>,
    /// At most this many (default 100).
    pub limit: Option<Limit>,
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
    /// At most this many (default 100).
    pub limit: Option<Limit>,
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
    /// Why it is resolved: some text, not only white space.
    #[schemars(regex(pattern = r"\S"))]
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
    /// Rank episodes sharing these labels higher: `key=value` pairs separated by commas, e.g.
    /// `team=web,tag:database=true`.
    #[schemars(regex(pattern = r"^(\s*|[^,=]+=[^,]*)(,(\s*|[^,=]+=[^,]*))*$"))]
    pub labels: Option<String>,
    /// At most this many (default 10; more than 100 counts as 100).
    pub limit: Option<Limit>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProposedStep {
    /// A tool of the registry (`GET /api/tools`).
    pub tool: String,
    #[serde(default)]
    pub args: serde_json::Value,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProposeRequest {
    #[schemars(length(min = 1))]
    pub steps: Vec<ProposedStep>,
    #[serde(default)]
    pub reason: Option<String>,
    /// Let memory learn this as a fix for similar incidents (default: a one-off).
    #[serde(default)]
    pub remember_as_fix: bool,
    /// Act past a spent budget, knowingly, saying why: audited and on the timeline.
    #[serde(default)]
    #[schemars(length(min = 1), regex(pattern = r"\S"))]
    pub override_budget: Option<String>,
}

#[derive(Serialize, JsonSchema)]
pub struct ProposeResponse {
    /// The journaled actions, one per step the gate saw.
    pub actions: Vec<Action>,
    /// The verified outcome, when a step was executed.
    pub outcome: Option<obsctl_core::action::Outcome>,
}

/// A silence names a service, an incident kind, or both (there is no global silence).
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(extend("anyOf" = [
    {"required": ["service"], "properties": {"service": {"type": "string"}}},
    {"required": ["kind"], "properties": {"kind": {"type": "string"}}}
]))]
pub struct SilenceRequest {
    /// A configured service; absent means every service of `kind`.
    pub service: Option<String>,
    /// Incident kind to silence, e.g. `disk-full`; absent means every kind on `service`.
    pub kind: Option<String>,
    /// How long, e.g. `2h` (any humantime duration over zero is accepted).
    #[schemars(regex(pattern = r"^[1-9][0-9]{0,5}(ms|s|m|h|d)$"))]
    pub duration: String,
    /// Start of a maintenance window, RFC 3339 in UTC (`Z`); absent means now.
    #[schemars(regex(
        pattern = r"^(19[7-9][0-9]|[2-9][0-9]{3})-(0[1-9]|1[0-2])-(0[1-9]|1[0-9]|2[0-8])T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]Z$"
    ))]
    pub starts_at: Option<String>,
    /// Why: some text, not only white space.
    #[schemars(regex(pattern = r"\S"))]
    pub reason: String,
}
