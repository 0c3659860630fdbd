//! The vocabulary of an incident's timeline: what kind each entry is, and the typed data of
//! the kinds other code reads back (the trace, memory, the gate's once-per-opening rules).

use serde::{Deserialize, Serialize};

use crate::action::{ActionState, Outcome};
use crate::policy::{Mode, Verdict};

/// What a timeline entry records. Stored and shown by its snake_case name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum EntryKind {
    /// A new incident; its data is `Opening` for a check's.
    Opened,
    /// A resolved incident failing again within `reopen_within`.
    Reopened,
    /// Its check changes state too often: actions wait.
    Flapping,
    /// Its check no longer flaps but still fails: actions may resume.
    Steady,
    /// A failing dependency explains it: no action on it.
    Suppressed,
    /// A probe named the failure more narrowly (a dead container that keeps crashing).
    Reclassified,
    /// An alert's annotations.
    Alert,
    /// Similar past incidents.
    Recall,
    /// Nothing could plan for it.
    NoPlan,
    Plan,
    /// A step's gate decision; data `GateEntry`.
    Gate,
    /// A step starting or ending; data `ActionEntry`.
    Action,
    /// A step found running after a restart: verified, never re-run.
    Interrupted,
    Cancelled,
    /// Approved steps left to the holder of the agent lease.
    HandedOff,
    Approved,
    Rejected,
    /// A person acting past a spent budget.
    BudgetOverride,
    /// A plan's verified outcome; data `OutcomeEntry`.
    Outcome,
    /// A person was told.
    Escalated,
    /// The language model's plan or answer.
    Llm,
    Resolved,
    Note,
    /// A kind this version does not know (written by a newer one).
    #[serde(other)]
    Other,
}

impl EntryKind {
    pub const ALL: [EntryKind; 24] = [
        Self::Opened,
        Self::Reopened,
        Self::Flapping,
        Self::Steady,
        Self::Suppressed,
        Self::Reclassified,
        Self::Alert,
        Self::Recall,
        Self::NoPlan,
        Self::Plan,
        Self::Gate,
        Self::Action,
        Self::Interrupted,
        Self::Cancelled,
        Self::HandedOff,
        Self::Approved,
        Self::Rejected,
        Self::BudgetOverride,
        Self::Outcome,
        Self::Escalated,
        Self::Llm,
        Self::Resolved,
        Self::Note,
        Self::Other,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Opened => "opened",
            Self::Reopened => "reopened",
            Self::Flapping => "flapping",
            Self::Steady => "steady",
            Self::Suppressed => "suppressed",
            Self::Reclassified => "reclassified",
            Self::Alert => "alert",
            Self::Recall => "recall",
            Self::NoPlan => "no_plan",
            Self::Plan => "plan",
            Self::Gate => "gate",
            Self::Action => "action",
            Self::Interrupted => "interrupted",
            Self::Cancelled => "cancelled",
            Self::HandedOff => "handed_off",
            Self::Approved => "approved",
            Self::Rejected => "rejected",
            Self::BudgetOverride => "budget_override",
            Self::Outcome => "outcome",
            Self::Escalated => "escalated",
            Self::Llm => "llm",
            Self::Resolved => "resolved",
            Self::Note => "note",
            Self::Other => "other",
        }
    }

    /// The kind a stored name says; `Other` for a name this version does not know.
    pub fn parse(name: &str) -> Self {
        Self::ALL.into_iter().find(|k| k.as_str() == name).unwrap_or(Self::Other)
    }

    /// Whether the entry begins an opening (`opened`, `reopened`).
    pub fn is_opening(self) -> bool {
        matches!(self, Self::Opened | Self::Reopened)
    }
}

impl std::fmt::Display for EntryKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Compares with a stored name, as tests and filters write them (`kind == "escalated"`).
impl PartialEq<&str> for EntryKind {
    fn eq(&self, name: &&str) -> bool {
        self.as_str() == *name
    }
}

/// The data of an `opened` or `reopened` entry (an alert's and a report's carry more).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Opening {
    #[serde(default)]
    pub check_id: String,
    /// How long the failing probe took (none for an alert or a report).
    #[serde(default)]
    pub latency_us: u64,
}

/// The data of a `gate` entry: the decision on one step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GateEntry {
    /// The decision's code (`mode_auto`, `budget_service`, …).
    pub gate: String,
    pub verdict: Verdict,
    pub mode: Mode,
    pub tool: String,
}

/// The data of an `action` entry: a step starting (no `state`) or ending (its `state`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActionEntry {
    pub action_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<ActionState>,
    /// Who ran it: the agent lease's holder.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub holder: Option<String>,
}

/// The data of an `outcome` entry: a plan's verified outcome.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutcomeEntry {
    pub outcome: Outcome,
    /// How many check runs verification took.
    pub attempts: u32,
}

/// The data of a `plan` entry: the plan (as the agent describes it, secrets scrubbed).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlanEntry {
    pub plan_id: String,
    #[serde(default)]
    pub plan: serde_json::Value,
}

/// The data of an `approved` or `rejected` entry: the step a person decided (with its plan),
/// and who.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DecisionEntry {
    pub action_id: String,
    #[serde(default)]
    pub by: String,
}

/// The data of a `budget_override` entry: the plan a person let past a spent budget.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BudgetOverrideEntry {
    pub plan_id: String,
    pub by: String,
}

/// The data of an `alert` entry: the alert's annotations and where it came from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertEntry {
    #[serde(default)]
    pub annotations: std::collections::BTreeMap<String, String>,
    #[serde(default)]
    pub source_url: Option<String>,
}

/// The data of an `llm` entry: one consultation of the model, its exchange cut and redacted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LlmEntry {
    pub model: String,
    pub api: serde_json::Value,
    /// `plan`, `answer`, `no_plan` or `error`.
    pub outcome: String,
    /// The failure's code, when it failed.
    #[serde(default)]
    pub error: Option<String>,
    /// When asking again may help (unix ms), after a failure that may pass.
    #[serde(default)]
    pub retry_at: Option<i64>,
    #[serde(default)]
    pub turns: u32,
    #[serde(default)]
    pub tokens: serde_json::Value,
    #[serde(default)]
    pub latency_ms: f64,
    #[serde(default)]
    pub exchange: Vec<serde_json::Value>,
}

/// An entry's data as `T`, when it has that shape.
pub fn data_of<T: serde::de::DeserializeOwned>(data: &serde_json::Value) -> Option<T> {
    serde_json::from_value(data.clone()).ok()
}

/// An entry's data as JSON (typed data always serializes).
pub fn to_data<T: Serialize>(data: &T) -> serde_json::Value {
    serde_json::to_value(data).unwrap_or(serde_json::Value::Null)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_reads_back_from_its_name() {
        for kind in EntryKind::ALL {
            assert_eq!(EntryKind::parse(kind.as_str()), kind);
            assert_eq!(serde_json::to_value(kind).unwrap(), kind.as_str());
        }
        assert_eq!(EntryKind::parse("from_a_newer_obsctl"), EntryKind::Other);
        let parsed: EntryKind = serde_json::from_str("\"from_a_newer_obsctl\"").unwrap();
        assert_eq!(parsed, EntryKind::Other);
    }

    #[test]
    fn typed_data_keeps_the_stored_shape() {
        let gate = GateEntry {
            gate: "mode_approve".into(),
            verdict: Verdict::AwaitApproval,
            mode: Mode::Approve,
            tool: "t".into(),
        };
        let json = to_data(&gate);
        assert_eq!(json["verdict"], "await_approval");
        assert_eq!(data_of::<GateEntry>(&json), Some(gate));
        let started = ActionEntry { action_id: "a".into(), state: None, holder: None };
        assert_eq!(to_data(&started), serde_json::json!({"action_id": "a"}));
    }
}
