//! Events on the in-process bus: what changed, for the agent and live views to react to.

use serde::Serialize;

use crate::check::Observation;
use crate::state::CheckStatus;

#[derive(Debug, Clone, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    Observed { observation: Observation, status: CheckStatus },
    StatusChanged { check_id: String, from: CheckStatus, to: CheckStatus },
    IncidentOpened { incident_id: String },
    IncidentUpdated { incident_id: String },
    IncidentResolved { incident_id: String },
    ActionChanged { action_id: String, state: crate::action::ActionState },
}
