//! The policy gate: gathers the facts about a proposed step (allow-list, mode, suppression,
//! budgets, cooldown, breaker), asks `obsctl_core::policy::decide`, and audits the decision.
//! When it says a step may run now, it hands out a [`Permit`] for that step: the only thing a
//! tool runs with, and nothing outside this module can make one.

use std::sync::Arc;
use std::time::Duration;

use obsctl_config::{Config, Step, ToolPolicy};
use obsctl_core::Timestamp;
use obsctl_core::action::{Action, ActionState, AuditRecord};
use obsctl_core::incident::{Incident, IncidentStatus};
use obsctl_core::policy::{Decision, GateInput, Mode, Verdict, decide};
use obsctl_core::state::CheckStatus;
use obsctl_core::timeline::{BudgetOverrideEntry, EntryKind, GateEntry, data_of};
use obsctl_store::Store;
use serde_json::Value;

use crate::planner::Plan;
use crate::tools::ToolRegistry;
use crate::tools::command::Run;

/// The gate's say-so for one step (a tool with its arguments) at the moment it decided. Every
/// `Tool::call` takes one, and only this module can make one, so no door (a planner, the API,
/// the MCP gateway, an imported tool, the next one) can run a tool around the gate. It is
/// spent by the call it was made for (the executor takes it by value and checks that it
/// covers the step it runs).
///
/// Code outside the gate cannot make one:
///
/// ```compile_fail
/// let permit = obsctl_agent::gate::Permit { tool: "fs.cleanup".into(), args: serde_json::json!({}) };
/// ```
#[derive(Debug)]
#[must_use = "a permit is the gate's say-so for running one step now"]
pub struct Permit {
    tool: String,
    args: Value,
}

impl Permit {
    fn grant(tool: &str, args: &Value) -> Self {
        Self { tool: tool.to_string(), args: args.clone() }
    }

    /// The tool it lets run.
    pub fn tool(&self) -> &str {
        &self.tool
    }

    /// Whether it was made for `tool` with exactly `args`.
    pub fn covers(&self, tool: &str, args: &Value) -> bool {
        self.tool == tool && &self.args == args
    }

    /// A permit for a test that calls a tool itself, to see the tool's own refusals (roots,
    /// allow-lists): in the agent's unit tests, and with the `testing` feature, which only
    /// the workspace's tests turn on.
    #[cfg(any(test, feature = "testing"))]
    #[doc(hidden)]
    pub fn for_tests(tool: &str, args: &Value) -> Self {
        Self::grant(tool, args)
    }
}

/// A step's decision: the verdict with its reason, the mode in force, and, when the verdict
/// is to run it now, the permit to do so.
#[derive(Debug)]
pub struct Decided {
    pub decision: Decision,
    pub mode: Mode,
    pub permit: Option<Permit>,
}

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
        if self.flapping(incident, check_status).await? {
            return Ok(Some(format!("{} is flapping; waiting until it is stable", incident.check_id)));
        }
        Ok(None)
    }

    /// Whether the incident's check flaps: by this replica's view of it, or by the incident's
    /// timeline, which the check's owner writes before anyone hears of the opening (so a replica
    /// whose view is a heartbeat old holds back too). Only a scheduled check with flap detection
    /// can flap: an alert's or a report's incident (an alert storm's thousands) costs no read.
    pub async fn flapping(&self, incident: &Incident, check_status: CheckStatus) -> anyhow::Result<bool> {
        if check_status == CheckStatus::Flapping {
            return Ok(true);
        }
        let can_flap = self.config.check(&incident.check_id).is_some_and(|c| c.flap_threshold > 0);
        Ok(can_flap && obsctl_core::incident::flapping_now(&self.store.events(&incident.id).await?))
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
        let imported = self.imported_policy(tool);
        (imported == Some(ToolPolicy::Deny)).then(|| format!("tool {tool} is denied by its [[mcp_server]] policy"))
    }

    /// The gate's refusal of `tool` whatever the incident, mode or budgets: not registered, or
    /// not allowed. A plan with such a step is refused before any of it is journaled.
    pub fn refusal(&self, tool: &str) -> Option<Decision> {
        if self.registry.get(tool).is_none() {
            return Some(Decision {
                verdict: Verdict::Deny,
                code: "tool_unknown",
                reason: format!("tool {tool} is not registered"),
            });
        }
        let why = self.tool_refused(tool)?;
        Some(Decision { verdict: Verdict::Deny, code: "tool_not_allowed", reason: why })
    }

    /// The `[[mcp_server]]` policy of an imported tool; `None` for builtin tools.
    fn imported_policy(&self, tool: &str) -> Option<ToolPolicy> {
        let (server, name) = tool.split_once('.')?;
        let server = self.config.mcp_servers.iter().find(|s| s.name == server)?;
        Some(server.policy_for(name))
    }

    /// The highest mode `tool` may run in: an imported tool whose policy is `approve` always
    /// waits for a person.
    fn tool_ceiling(&self, tool: &str) -> Mode {
        match self.imported_policy(tool) {
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
        Ok(PlanFacts { suppressed, cooldown_left, budget_overridden: plan.budget_override.is_some() })
    }

    /// Decides one step of a plan. `ceiling` caps the mode (e.g. `--dry-run`); so does the
    /// plan's own cap (an LLM's or remote memory's plan waits for a person). A step it lets run
    /// now comes with its permit.
    pub async fn decide(
        &self,
        incident: &Incident,
        plan: &Plan,
        step: &Step,
        ceiling: Mode,
        facts: &PlanFacts,
    ) -> anyhow::Result<Decided> {
        let (decision, mode) =
            self.decide_tool(incident, plan.mode, &step.tool, ceiling.min(plan.max_mode), facts).await?;
        let verdict = obsctl_core::metrics::VerdictLabels { verdict: decision.verdict.as_str() };
        obsctl_core::metrics::metrics().gate_decisions.get_or_create(&verdict).inc();
        let permit = (decision.verdict == Verdict::Execute).then(|| Permit::grant(&step.tool, &step.args));
        Ok(Decided { decision, mode, permit })
    }

    /// Decides again, right before it runs, on a journaled step that was approved (by a person,
    /// or by the gate for a plan left to the lease holder): the incident must still be open, and
    /// the silence, budgets, breaker, allow-list and mode in force now apply. `Execute` and
    /// `AwaitApproval` (the approval is the person's) give the step its permit; anything else
    /// is why it must not run.
    pub async fn regate(
        &self,
        incident: &Incident,
        action: &Action,
        check_status: CheckStatus,
        ceiling: Mode,
    ) -> anyhow::Result<Result<Permit, Decision>> {
        if incident.status != IncidentStatus::Open {
            return Ok(Err(Decision {
                verdict: Verdict::Deny,
                code: "incident_resolved",
                reason: format!("incident {} was resolved before the approved plan ran", incident.id),
            }));
        }
        if action.state != ActionState::Approved {
            return Ok(Err(Decision {
                verdict: Verdict::Deny,
                code: "not_approved",
                reason: format!("action {} is {}, not approved", action.id, action.state.as_str()),
            }));
        }
        let runbook = action.runbook.as_ref().and_then(|r| self.config.runbooks.iter().find(|x| &x.name == r));
        // The cooldown was the plan's to meet when it was queued; a person approved it since.
        let facts = PlanFacts {
            suppressed: self.suppression(incident, check_status).await?,
            cooldown_left: None,
            budget_overridden: self.budget_overridden(action).await?,
        };
        // A model's plan stays under its cap (`[llm] max_mode`) when it runs, too.
        let ceiling = match &self.config.llm {
            Some(llm) if action.planner == crate::agent::LLM_PLANNER => ceiling.min(llm.max_mode),
            _ => ceiling,
        };
        let (decision, _) =
            self.decide_tool(incident, runbook.and_then(|r| r.mode), &action.tool, ceiling, &facts).await?;
        Ok(match decision.verdict {
            Verdict::Execute | Verdict::AwaitApproval => Ok(Permit::grant(&action.tool, &action.args)),
            _ => Err(decision),
        })
    }

    /// Whether a person overrode the budgets for the plan of `action` when they proposed it:
    /// the override is on the incident's timeline, where every replica reads it.
    async fn budget_overridden(&self, action: &Action) -> anyhow::Result<bool> {
        if !action.planner.starts_with(crate::agent::controls::ONE_OFF_PROPOSAL) {
            return Ok(false);
        }
        let events = self.store.events(&action.incident_id).await?;
        Ok(events.iter().any(|e| {
            e.kind == EntryKind::BudgetOverride
                && data_of::<BudgetOverrideEntry>(&e.data).is_some_and(|o| o.plan_id == action.plan_id)
        }))
    }

    /// A permit to run read-only `tool` outside any plan (an MCP client's or the model's read),
    /// or why not: the tool must exist, be allowed, only read (a builtin tool's own word, an
    /// imported one's operator policy `read`), and the mode in force must not be `observe`.
    pub fn permit_read(&self, tool: &str, args: &Value, ceiling: Mode) -> Result<Permit, String> {
        let Some(found) = self.registry.get(tool) else {
            return Err(format!("tool {tool} is not registered"));
        };
        if let Some(why) = self.tool_refused(tool) {
            return Err(why);
        }
        if !found.spec().annotations.read_only_hint {
            return Err(format!("{tool} changes things: it runs only as a step of a plan that passed the gate"));
        }
        let a = &self.config.agent;
        if Mode::effective(a.mode, None, a.max_mode.min(ceiling)) == Mode::Observe {
            return Err("mode observe: no tool runs, read-only ones included".into());
        }
        Ok(Permit::grant(tool, args))
    }

    /// The permit for a notice that tells a person (an escalation): notices are not held back
    /// by mode, budgets or the breaker, since they are how the gate asks for help; only the
    /// configured notifiers pass this way.
    pub fn permit_notice(&self, tool: &str, args: &Value) -> Option<Permit> {
        let n = &self.config.notify;
        let configured = match tool {
            "notify.ntfy" => n.ntfy.is_some(),
            "notify.webhook" => n.webhook.is_some(),
            _ => false,
        };
        configured.then(|| Permit::grant(tool, args))
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
        let cap = a.max_mode.min(ceiling).min(self.tool_ceiling(tool_name));
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
            budget_overridden: facts.budget_overridden,
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
    /// A person overrode the budgets for this plan (their own proposal, on the record).
    pub budget_overridden: bool,
}

/// Gate codes after which a later retry may succeed (as opposed to once-per-incident refusals).
pub const RETRYABLE_CODES: &[&str] = &["budget_global", "budget_service", "cooldown"];

pub(crate) fn gate_data(decision: &Decision, mode: Mode, step: &Step) -> serde_json::Value {
    let entry = GateEntry { gate: decision.code.into(), verdict: decision.verdict, mode, tool: step.tool.clone() };
    obsctl_core::timeline::to_data(&entry)
}

#[cfg(test)]
mod tests;
