//! The fix-history graph's answers: Service, Incident, Action and Outcome nodes joined by
//! DEPENDS_ON, AFFECTED, REMEDIATED_BY and RESULTED_IN, as the queries return them.

use serde::{Deserialize, Serialize};

use crate::action::Outcome;
use crate::time::Timestamp;

/// One action taken on a service's incidents (Service ←AFFECTED– Incident –REMEDIATED_BY→
/// Action –RESULTED_IN→ Outcome).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct FixRecord {
    pub incident_id: String,
    pub kind: String,
    pub opened_at: Timestamp,
    pub action_id: String,
    pub tool: String,
    pub args: serde_json::Value,
    pub state: String,
    pub outcome: Option<Outcome>,
    pub at: Timestamp,
}

/// A service reached by following DEPENDS_ON edges, `depth` hops away (1 = direct).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Reached {
    pub service: String,
    pub depth: u32,
}

/// A failing upstream dependency of an incident: a root-cause candidate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct UpstreamFailure {
    pub service: String,
    pub depth: u32,
    pub incident_id: String,
    pub kind: String,
}
