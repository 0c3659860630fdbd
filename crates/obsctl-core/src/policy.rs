//! The policy gate's decision: one pure function from the facts about a proposed action to a verdict.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// How far the agent may go, in increasing order of autonomy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    /// Record what would be done; run nothing.
    Observe,
    /// Run the tool's dry-run only.
    DryRun,
    /// Queue for a person's approval.
    Approve,
    /// Execute.
    Auto,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Observe => "observe",
            Mode::DryRun => "dry-run",
            Mode::Approve => "approve",
            Mode::Auto => "auto",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "observe" => Some(Mode::Observe),
            "dry-run" | "dry_run" => Some(Mode::DryRun),
            "approve" => Some(Mode::Approve),
            "auto" => Some(Mode::Auto),
            _ => None,
        }
    }

    /// The mode in force: the runbook's own (or the default), never above the ceiling.
    pub fn effective(default: Mode, runbook: Option<Mode>, ceiling: Mode) -> Mode {
        runbook.unwrap_or(default).min(ceiling)
    }
}

/// Everything the gate needs to know about one proposed action.
#[derive(Debug, Clone)]
pub struct GateInput<'a> {
    pub tool: &'a str,
    pub tool_known: bool,
    /// Why this tool may not be used here (not in `agent.allow_tools`, or switched off), if so.
    pub tool_refused: Option<String>,
    pub read_only: bool,
    pub mode: Mode,
    /// Why the incident must not be acted on (silence, maintenance, dependency, flapping).
    pub suppressed: Option<String>,
    pub service_actions_last_hour: u32,
    pub max_per_service_per_hour: u32,
    pub global_actions_last_hour: u32,
    pub max_global_per_hour: u32,
    /// A person overrode the budgets for this plan, knowingly and on the record (`actions
    /// propose --override-budget`): budgets hold the agent back, not the person.
    pub budget_overridden: bool,
    /// Time left before the runbook may act on this service again.
    pub cooldown_left: Option<Duration>,
    /// Failed fixes in a row for this incident's fingerprint.
    pub consecutive_failures: u32,
    pub breaker_threshold: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Execute,
    DryRun,
    Observe,
    AwaitApproval,
    Deny,
    /// Deny and tell a person: the circuit breaker is open.
    Escalate,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Execute => "execute",
            Verdict::DryRun => "dry_run",
            Verdict::Observe => "observe",
            Verdict::AwaitApproval => "await_approval",
            Verdict::Deny => "deny",
            Verdict::Escalate => "escalate",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Decision {
    pub verdict: Verdict,
    /// Stable snake_case reason code, e.g. `breaker_open`, `budget_service`.
    pub code: &'static str,
    pub reason: String,
}

fn decision(verdict: Verdict, code: &'static str, reason: String) -> Decision {
    Decision { verdict, code, reason }
}

/// Decides what happens to one proposed action. Checks run from the hardest stop to the
/// softest: unknown or forbidden tool, suppression, breaker, budgets, cooldown, then mode.
pub fn decide(input: &GateInput<'_>) -> Decision {
    use Verdict::*;
    if !input.tool_known {
        return decision(Deny, "tool_unknown", format!("tool {} is not registered", input.tool));
    }
    if let Some(why) = &input.tool_refused {
        return decision(Deny, "tool_not_allowed", why.clone());
    }
    if let Some(why) = &input.suppressed {
        return decision(Observe, "suppressed", format!("recorded only: {why}"));
    }
    if input.mode == Mode::Observe {
        return decision(Observe, "mode_observe", "mode observe: recorded only".into());
    }
    if input.read_only {
        return decision(Execute, "read_only", format!("{} is read-only", input.tool));
    }
    if input.breaker_threshold > 0 && input.consecutive_failures >= input.breaker_threshold {
        return decision(
            Escalate,
            "breaker_open",
            format!("circuit breaker open: {} failed fixes in a row for this incident", input.consecutive_failures),
        );
    }
    // Budgets hold the agent back; a person's explicit override passes them (not the breaker,
    // the cooldown or the mode).
    if !input.budget_overridden && input.global_actions_last_hour >= input.max_global_per_hour {
        return decision(
            Deny,
            "budget_global",
            format!(
                "global budget spent: {} actions in the last hour (max {})",
                input.global_actions_last_hour, input.max_global_per_hour
            ),
        );
    }
    if !input.budget_overridden && input.service_actions_last_hour >= input.max_per_service_per_hour {
        return decision(
            Deny,
            "budget_service",
            format!(
                "service budget spent: {} actions in the last hour (max {})",
                input.service_actions_last_hour, input.max_per_service_per_hour
            ),
        );
    }
    if let Some(left) = input.cooldown_left.filter(|d| !d.is_zero()) {
        return decision(Deny, "cooldown", format!("runbook cooling down for {}s more", left.as_secs().max(1)));
    }
    match input.mode {
        Mode::Observe => decision(Observe, "mode_observe", "mode observe: recorded only".into()),
        Mode::DryRun => decision(DryRun, "mode_dry_run", "mode dry-run: the tool's dry-run only".into()),
        Mode::Approve => decision(AwaitApproval, "mode_approve", "mode approve: waiting for a person".into()),
        Mode::Auto => decision(Execute, "mode_auto", "mode auto: within budgets".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> GateInput<'static> {
        GateInput {
            tool: "fs.cleanup",
            tool_known: true,
            tool_refused: None,
            read_only: false,
            mode: Mode::Auto,
            suppressed: None,
            service_actions_last_hour: 0,
            max_per_service_per_hour: 5,
            global_actions_last_hour: 0,
            max_global_per_hour: 20,
            budget_overridden: false,
            cooldown_left: None,
            consecutive_failures: 0,
            breaker_threshold: 3,
        }
    }

    fn check(change: impl FnOnce(&mut GateInput<'static>), code: &str, verdict: Verdict) {
        let mut input = base();
        change(&mut input);
        let d = decide(&input);
        assert_eq!((d.code, d.verdict), (code, verdict), "{}", d.reason);
    }

    #[test]
    fn gate_decisions() {
        use Verdict::*;
        check(|_| {}, "mode_auto", Execute);
        check(|i| i.mode = Mode::Approve, "mode_approve", AwaitApproval);
        check(|i| i.mode = Mode::DryRun, "mode_dry_run", DryRun);
        check(|i| i.mode = Mode::Observe, "mode_observe", Observe);
        check(|i| i.tool_known = false, "tool_unknown", Deny);
        check(|i| i.tool_refused = Some("not in agent.allow_tools".into()), "tool_not_allowed", Deny);
        check(|i| i.suppressed = Some("silenced".into()), "suppressed", Observe);
        check(|i| i.consecutive_failures = 3, "breaker_open", Escalate);
        check(|i| i.consecutive_failures = 2, "mode_auto", Execute);
        check(|i| i.global_actions_last_hour = 20, "budget_global", Deny);
        check(|i| i.service_actions_last_hour = 5, "budget_service", Deny);
        let overridden = |i: &mut GateInput<'static>| {
            i.budget_overridden = true;
            i.service_actions_last_hour = 5;
            i.global_actions_last_hour = 20;
        };
        check(overridden, "mode_auto", Execute);
        check(|i| (overridden(i), i.consecutive_failures = 3).1, "breaker_open", Escalate);
        check(|i| (overridden(i), i.mode = Mode::Approve).1, "mode_approve", AwaitApproval);
        check(|i| i.cooldown_left = Some(Duration::from_secs(30)), "cooldown", Deny);
        check(|i| i.cooldown_left = Some(Duration::ZERO), "mode_auto", Execute);
        check(
            |i| {
                i.read_only = true;
                i.mode = Mode::Approve;
                i.consecutive_failures = 9
            },
            "read_only",
            Execute,
        );
        check(
            |i| {
                i.read_only = true;
                i.mode = Mode::Observe
            },
            "mode_observe",
            Observe,
        );
    }

    #[test]
    fn runbook_mode_never_exceeds_the_ceiling() {
        assert_eq!(Mode::effective(Mode::Approve, Some(Mode::Auto), Mode::Auto), Mode::Auto);
        assert_eq!(Mode::effective(Mode::Approve, Some(Mode::Auto), Mode::DryRun), Mode::DryRun);
        assert_eq!(Mode::effective(Mode::Observe, None, Mode::Auto), Mode::Observe);
    }
}
