//! Query filters for listing incidents and actions.

use obsctl_core::action::ActionState;
use obsctl_core::incident::IncidentStatus;

#[derive(Debug, Clone, Default)]
pub struct IncidentFilter {
    pub status: Option<IncidentStatus>,
    pub service: Option<String>,
    pub kind: Option<String>,
    /// At most this many, newest first; 0 means 100.
    pub limit: u32,
}

#[derive(Debug, Clone, Default)]
pub struct ActionFilter {
    pub states: Vec<ActionState>,
    pub incident_id: Option<String>,
    /// At most this many, newest first; 0 means 100.
    pub limit: u32,
}

pub(crate) fn limit_or_default(limit: u32) -> i64 {
    if limit == 0 { 100 } else { i64::from(limit.min(10_000)) }
}

#[derive(Debug, Clone, Default)]
pub struct AlertFilter {
    pub status: Option<obsctl_core::alert::AlertStatus>,
    pub source: Option<obsctl_core::alert::AlertSource>,
    pub service: Option<String>,
    /// At most this many, newest first; 0 means 100.
    pub limit: u32,
}
