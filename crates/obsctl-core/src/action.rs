//! Actions: one tool call the agent planned, with its journaled state and verified outcome.

use serde::{Deserialize, Serialize};

use crate::policy::Mode;
use crate::time::Timestamp;

/// The planner of escalation notices: journaled like actions, but never a fix (budgets, the
/// breaker and the fix history leave them out).
pub const ESCALATION_PLANNER: &str = "escalation";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ActionState {
    /// Waiting in the approval queue.
    PendingApproval,
    /// Passed the gate (or a person approved it) and is journaled; the tool has not run yet.
    Approved,
    /// The tool is running. Found in this state at start-up, it is verified, never re-run.
    Running,
    Succeeded,
    Failed,
    /// Ran the tool's dry-run only.
    DryRun,
    /// Recorded only (observe mode).
    Observed,
    Rejected,
    /// Refused by the gate.
    Denied,
    /// Never ran: an earlier step of its plan failed or was interrupted, the plan was re-gated
    /// and refused, or its incident ended before it could run.
    Cancelled,
}

impl ActionState {
    pub const ALL: [ActionState; 10] = [
        ActionState::PendingApproval,
        ActionState::Approved,
        ActionState::Running,
        ActionState::Succeeded,
        ActionState::Failed,
        ActionState::DryRun,
        ActionState::Observed,
        ActionState::Rejected,
        ActionState::Denied,
        ActionState::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ActionState::PendingApproval => "pending_approval",
            ActionState::Approved => "approved",
            ActionState::Running => "running",
            ActionState::Succeeded => "succeeded",
            ActionState::Failed => "failed",
            ActionState::DryRun => "dry_run",
            ActionState::Observed => "observed",
            ActionState::Rejected => "rejected",
            ActionState::Denied => "denied",
            ActionState::Cancelled => "cancelled",
        }
    }

    /// The state in words, for people (`as_str` is the stable name for machines).
    pub fn label(self) -> &'static str {
        match self {
            ActionState::PendingApproval => "waiting for approval",
            ActionState::Approved => "approved",
            ActionState::Running => "running",
            ActionState::Succeeded => "succeeded",
            ActionState::Failed => "failed",
            ActionState::DryRun => "dry run only",
            ActionState::Observed => "observed only",
            ActionState::Rejected => "rejected",
            ActionState::Denied => "denied by policy",
            ActionState::Cancelled => "cancelled",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == text)
    }

    /// Still waiting for something to happen (approval, execution).
    pub fn is_active(self) -> bool {
        matches!(self, ActionState::PendingApproval | ActionState::Approved | ActionState::Running)
    }

    /// The tool touched (or tried to touch) the world.
    pub fn was_executed(self) -> bool {
        matches!(self, ActionState::Running | ActionState::Succeeded | ActionState::Failed)
    }
}

/// What verification found after a fix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The check recovered.
    Fixed,
    /// The check passed at times but did not recover within the verification budget.
    Partial,
    NotFixed,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Fixed => "fixed",
            Outcome::Partial => "partial",
            Outcome::NotFixed => "not_fixed",
        }
    }

    /// The outcome in words, for people.
    pub fn label(self) -> &'static str {
        match self {
            Outcome::Fixed => "fixed",
            Outcome::Partial => "partly fixed",
            Outcome::NotFixed => "not fixed",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "fixed" => Some(Outcome::Fixed),
            "partial" => Some(Outcome::Partial),
            "not_fixed" => Some(Outcome::NotFixed),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Action {
    pub id: String,
    /// Unique; a second journal entry for the same step and attempt is refused.
    pub idempotency_key: String,
    pub incident_id: String,
    pub service: String,
    pub fingerprint: String,
    /// Actions of one plan share it; the breaker counts failed plans, not steps.
    pub plan_id: String,
    /// The runbook (or other planner) that proposed it.
    pub planner: String,
    pub runbook: Option<String>,
    pub step: u32,
    pub tool: String,
    pub args: serde_json::Value,
    /// The tool only reads (its annotations say so): it never spends a budget or starts a cooldown.
    #[serde(default)]
    pub read_only: bool,
    pub mode: Mode,
    pub state: ActionState,
    /// Why the gate decided as it did, or why a person approved or rejected.
    pub reason: String,
    /// The gate's code for its decision on this step (`cooldown`, `budget_service`,
    /// `suppressed`, `mode_approve`, …); none for entries the gate did not decide.
    #[serde(default)]
    pub gate: Option<String>,
    pub result: Option<serde_json::Value>,
    pub outcome: Option<Outcome>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub decided_by: Option<String>,
}

/// An entry of the audit log: every gate decision and every human control.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct AuditRecord {
    pub id: i64,
    pub at: Timestamp,
    /// `agent`, `api:<token name>`, `cli`.
    pub actor: String,
    /// e.g. `gate`, `approve`, `reject`, `silence`, `resolve`, `escalate`.
    pub action: String,
    /// What it is about: an action id, incident id or silence id.
    pub subject: String,
    pub decision: String,
    pub reason: String,
    pub data: serde_json::Value,
}
