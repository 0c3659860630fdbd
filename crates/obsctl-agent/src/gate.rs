//! The policy gate: gathers the facts about a proposed step (allow-list, mode, suppression,
//! budgets, cooldown, breaker), asks `obsctl_core::policy::decide`, and audits the decision.

use std::sync::Arc;
use std::time::Duration;

use obsctl_core::Timestamp;
use obsctl_core::action::{Action, AuditRecord};
use obsctl_core::config::{Config, Step, ToolPolicy};
use obsctl_core::incident::{Incident, IncidentStatus};
use obsctl_core::policy::{Decision, GateInput, Mode, Verdict, decide};
use obsctl_core::state::CheckStatus;
use obsctl_store::Store;
use serde_json::json;

use crate::planner::Plan;
use crate::tools::ToolRegistry;
use crate::tools::command::Run;

pub struct Gate {
    config: Arc<Config>,
    store: Arc<dyn Store>,
    registry: Arc<ToolRegistry>,
}

impl Gate {
    pub fn new(config: Arc<Config>, store: Arc<dyn Store>, registry: Arc<ToolRegistry>) -> Self {
        Self { config, store, registry }
    }

    /// Why an incident must not be acted on now, if it must not: a silence or maintenance
    /// window, a failing upstream dependency, or a flapping check.
    pub async fn suppression(&self, incident: &Incident, check_status: CheckStatus) -> anyhow::Result<Option<String>> {
        let now = Timestamp::now();
        if let Some(s) =
            self.store.silences(Some(now)).await?.into_iter().find(|s| s.matches(&incident.service, &incident.kind))
        {
            return Ok(Some(format!("silenced until {} by {} ({})", s.ends_at, s.created_by, s.reason)));
        }
        if let Some(up) = &incident.upstream_incident
            && let Ok(upstream) = self.store.incident(up).await
            && upstream.status == IncidentStatus::Open
        {
            return Ok(Some(format!("dependency {} is failing (incident {})", upstream.service, upstream.id)));
        }
        if check_status == CheckStatus::Flapping {
            return Ok(Some(format!("{} is flapping; waiting until it is stable", incident.check_id)));
        }
        Ok(None)
    }

    /// Why `tool` may not be used, if it may not: switched off, or not in `agent.allow_tools`.
    pub(crate) fn tool_refused(&self, tool: &str) -> Option<String> {
        if tool == "command.run"
            && let Some(why) = Run::refusal(&self.config.commands)
        {
            return Some(why);
        }
        let listed = self.config.agent.allow_tools.as_ref().is_none_or(|list| list.iter().any(|t| t == tool));
        if !listed {
            return Some(format!("tool {tool} is not in agent.allow_tools; add it there to let the agent use it"));
        }
        let imported =
            self.imported_policy(tool, self.registry.get(tool).is_some_and(|t| t.spec().annotations.read_only_hint));
        (imported == Some(ToolPolicy::Deny)).then(|| format!("tool {tool} is denied by its [[mcp_server]] policy"))
    }

    /// The `[[mcp_server]]` policy of an imported tool; `None` for builtin tools.
    fn imported_policy(&self, tool: &str, read_only: bool) -> Option<ToolPolicy> {
        let (server, name) = tool.split_once('.')?;
        let server = self.config.mcp_servers.iter().find(|s| s.name == server)?;
        Some(server.policy_for(name, read_only))
    }

    /// The highest mode `tool` may run in: an imported tool whose policy is `approve` always
    /// waits for a person.
    fn tool_ceiling(&self, tool: &str, read_only: bool) -> Mode {
        match self.imported_policy(tool, read_only) {
            Some(ToolPolicy::Approve) => Mode::Approve,
            _ => Mode::Auto,
        }
    }

    /// Facts that hold for a whole plan, gathered once before its first step (so a plan's
    /// own earlier steps never count against its cooldown).
    pub async fn plan_facts(
        &self,
        incident: &Incident,
        plan: &Plan,
        suppressed: Option<String>,
    ) -> anyhow::Result<PlanFacts> {
        let now = Timestamp::now();
        let cooldown_left = match &plan.runbook {
            Some(r) => self
                .store
                .last_runbook_run(r, &incident.service)
                .await?
                .map(|last| plan.cooldown.saturating_sub(now.since(last))),
            None => None,
        };
        Ok(PlanFacts { suppressed, cooldown_left })
    }

    /// Decides one step of a plan. `ceiling` caps the mode (e.g. `--dry-run`).
    pub async fn decide(
        &self,
        incident: &Incident,
        plan: &Plan,
        step: &Step,
        ceiling: Mode,
        facts: &PlanFacts,
    ) -> anyhow::Result<(Decision, Mode)> {
        let decided = self.decide_tool(incident, plan.mode, &step.tool, ceiling, facts).await?;
        let verdict = obsctl_core::metrics::VerdictLabels { verdict: decided.0.verdict.as_str() };
        obsctl_core::metrics::metrics().gate_decisions.get_or_create(&verdict).inc();
        Ok(decided)
    }

    /// Decides again, just before it runs, on a step a person approved earlier: the silence,
    /// budgets, breaker, allow-list and mode in force now apply. `Execute` and `AwaitApproval`
    /// (the approval is the person's) let it run; anything else is why it must not.
    pub async fn regate(
        &self,
        incident: &Incident,
        action: &Action,
        check_status: CheckStatus,
        ceiling: Mode,
    ) -> anyhow::Result<Option<Decision>> {
        if incident.status != IncidentStatus::Open {
            return Ok(Some(Decision {
                verdict: Verdict::Deny,
                code: "incident_resolved",
                reason: format!("incident {} was resolved before the approved plan ran", incident.id),
            }));
        }
        let runbook = action.runbook.as_ref().and_then(|r| self.config.runbooks.iter().find(|x| &x.name == r));
        // The cooldown was the plan's to meet when it was queued; a person approved it since.
        let facts = PlanFacts { suppressed: self.suppression(incident, check_status).await?, cooldown_left: None };
        let (decision, _) =
            self.decide_tool(incident, runbook.and_then(|r| r.mode), &action.tool, ceiling, &facts).await?;
        Ok((!matches!(decision.verdict, Verdict::Execute | Verdict::AwaitApproval)).then_some(decision))
    }

    async fn decide_tool(
        &self,
        incident: &Incident,
        plan_mode: Option<Mode>,
        tool_name: &str,
        ceiling: Mode,
        facts: &PlanFacts,
    ) -> anyhow::Result<(Decision, Mode)> {
        let hour_ago = Timestamp::now().minus(Duration::from_secs(3600));
        let a = &self.config.agent;
        let tool = self.registry.get(tool_name);
        let read_only = tool.as_ref().is_some_and(|t| t.spec().annotations.read_only_hint);
        let cap = a.max_mode.min(ceiling).min(self.tool_ceiling(tool_name, read_only));
        let mode = Mode::effective(a.mode, plan_mode, cap);
        let (suppressed, cooldown_left) = (facts.suppressed.clone(), facts.cooldown_left);
        let input = GateInput {
            tool: tool_name,
            tool_known: tool.is_some(),
            tool_refused: self.tool_refused(tool_name),
            read_only,
            mode,
            suppressed,
            service_actions_last_hour: self.store.count_executed_since(Some(&incident.service), hour_ago).await?,
            max_per_service_per_hour: a.max_actions_per_service_per_hour,
            global_actions_last_hour: self.store.count_executed_since(None, hour_ago).await?,
            max_global_per_hour: a.max_actions_per_hour,
            cooldown_left,
            consecutive_failures: self.store.consecutive_failed_fixes(&incident.fingerprint).await?,
            breaker_threshold: a.breaker_failures,
        };
        Ok((decide(&input), mode))
    }

    /// Appends an audit record; a failure to audit is logged, never swallowed silently.
    pub async fn audit(
        &self,
        actor: &str,
        action: &str,
        subject: &str,
        decision: &str,
        reason: &str,
        data: serde_json::Value,
    ) {
        let record = AuditRecord {
            id: 0,
            at: Timestamp::now(),
            actor: actor.into(),
            action: action.into(),
            subject: subject.into(),
            decision: decision.into(),
            reason: reason.into(),
            data,
        };
        if let Err(error) = self.store.append_audit(&record).await {
            tracing::error!(%error, subject, "could not write audit record");
        }
    }
}

/// What the gate knows about a plan as a whole.
#[derive(Debug, Clone)]
pub struct PlanFacts {
    pub suppressed: Option<String>,
    pub cooldown_left: Option<Duration>,
}

/// Gate codes after which a later retry may succeed (as opposed to once-per-incident refusals).
pub const RETRYABLE_CODES: &[&str] = &["budget_global", "budget_service", "cooldown"];

pub(crate) fn gate_data(decision: &Decision, mode: Mode, step: &Step) -> serde_json::Value {
    json!({"gate": decision.code, "verdict": decision.verdict, "mode": mode.as_str(), "tool": step.tool})
}
