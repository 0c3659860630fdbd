//! Executing plans: each step gated and journaled before it runs, approved steps run in order
//! and claimed one by one, a failed or interrupted step cancelling the rest, plans that ended
//! early settled (their executed steps verified), outcomes recorded, and recovery after a
//! restart (running actions verified, never re-run).

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use obsctl_core::Timestamp;
use obsctl_core::action::{Action, ActionState, Outcome};
use obsctl_core::event::Event;
use obsctl_core::incident::{Incident, IncidentStatus};
use obsctl_core::policy::{Decision, Mode, Verdict};
use obsctl_core::timeline::{BudgetOverrideEntry, EntryKind, OutcomeEntry, PlanEntry, to_data};
use obsctl_store::{ActionFilter, new_id};
use serde_json::json;

use super::{Agent, PlanReport, WAITING, escalate, step_action};
use crate::gate::{Decided, gate_data};
use crate::planner::Plan;
use crate::verify::verify;

/// How an escalation for a spent budget begins (said once per opening, not at every retry).
const BUDGET_STOPPED: &str = "the agent stopped: ";

/// The key, in a verified action's result, of how many failures its incident had counted then.
pub(super) const OCCURRENCES_AT_VERIFICATION: &str = "occurrences_at_verification";

/// One plan being run: what every step of it shares.
struct PlanRun<'a> {
    incident: &'a Incident,
    plan: &'a Plan,
    plan_id: String,
    /// Who the gate's decisions are audited for (`agent`, or the person proposing).
    actor: &'a str,
    facts: crate::gate::PlanFacts,
}

/// What a plan does after a step: go on, or stop (with the step's entry, when it has one).
enum Next {
    Step(Action),
    Stop(Option<Action>),
}

impl Agent {
    /// Gates, journals and runs a plan's steps in order, then verifies and records the outcome.
    /// `actor` is who the gate decisions are audited for (`agent`, or the operator proposing).
    pub(super) async fn run_plan(
        &self,
        incident: &Incident,
        plan: Plan,
        actor: &str,
        report: &mut PlanReport,
    ) -> anyhow::Result<()> {
        let suppressed = self.gate.suppression(incident, self.runner.status(&incident.check_id)).await?;
        let facts = self.gate.plan_facts(incident, &plan, suppressed).await?;
        let run = PlanRun { incident, plan: &plan, plan_id: new_id("plan"), actor, facts };
        self.record_plan(&run).await?;
        // A plan with a step the gate refuses outright (unknown, not allowed, denied by its
        // server's policy) cannot be carried out: it is refused before any step is journaled.
        let refused = plan.steps.iter().enumerate().find_map(|(i, s)| self.gate.refusal(&s.tool).map(|d| (i, d)));
        if let Some((i, decision)) = refused {
            let a = &self.config.agent;
            let mode = Mode::effective(a.mode, plan.mode, a.max_mode.min(self.ceiling).min(plan.max_mode));
            report.actions.push(self.gate_step(&run, i, &decision, mode).await?);
            report.plan = Some(plan);
            return Ok(());
        }
        for (i, step) in plan.steps.iter().enumerate() {
            let Decided { decision, mode, permit } =
                self.gate.decide(incident, &plan, step, self.ceiling, &run.facts).await?;
            let action = self.gate_step(&run, i, &decision, mode).await?;
            let next = match (decision.verdict, permit) {
                // Journaled `approved` for the lease holder, which gates it again and runs it.
                (Verdict::Execute, _) if self.hand_off.get().is_some() => Next::Step(action),
                (Verdict::Execute, Some(permit)) => self.run_step(action, permit).await?,
                (Verdict::DryRun, _) => Next::Step(self.executor.dry_run(action).await?),
                (Verdict::Observe | Verdict::Execute, _) => Next::Step(action),
                (Verdict::AwaitApproval, _) => self.queue_rest(&run, i, mode, action, report).await?,
                (Verdict::Deny, _) => self.denied(&run, &decision, action).await?,
                (Verdict::Escalate, _) => {
                    self.escalate(incident, &decision.reason).await?;
                    Next::Stop(Some(action))
                }
            };
            match next {
                Next::Step(done) => report.actions.push(done),
                Next::Stop(last) => {
                    report.actions.extend(last);
                    break;
                }
            }
        }
        report.plan = Some(plan);
        if let Some(holder) =
            self.hand_off.get().filter(|_| report.actions.iter().any(|a| a.state == ActionState::Approved))
        {
            let message = format!("approved steps left to {holder}, which holds the agent lease and runs them");
            self.store.add_event(&incident.id, EntryKind::HandedOff, &message, json!({"holder": holder})).await?;
            report.handed_to = Some(holder.clone());
            return Ok(());
        }
        report.outcome = self.finish_plan(incident, &report.actions).await?;
        Ok(())
    }

    /// Says on the timeline what the plan is (and a person's budget override, audited).
    async fn record_plan(&self, run: &PlanRun<'_>) -> anyhow::Result<()> {
        let (incident, plan) = (run.incident, run.plan);
        if let Some(words) = &plan.budget_override {
            let message = format!("budget overridden {words}");
            let data = to_data(&BudgetOverrideEntry { plan_id: run.plan_id.clone(), by: run.actor.to_string() });
            self.store.add_event(&incident.id, EntryKind::BudgetOverride, &message, data.clone()).await?;
            self.gate.audit(run.actor, "override_budget", &run.plan_id, "overridden", words, data).await;
        }
        let steps: Vec<&str> = plan.steps.iter().map(|s| s.tool.as_str()).collect();
        let summary = format!("{} (confidence {:.2}): {}", plan.provenance, plan.confidence, steps.join(" → "));
        let data = self.executor.scrub(to_data(&PlanEntry { plan_id: run.plan_id.clone(), plan: json!(plan) }));
        self.store.add_event(&incident.id, EntryKind::Plan, &summary, data).await?;
        Ok(())
    }

    /// `Execute`: runs the step now. A failed step, or one another worker claimed (it owns the
    /// rest of the plan then), ends the plan.
    async fn run_step(&self, action: Action, permit: crate::gate::Permit) -> anyhow::Result<Next> {
        Ok(match self.executor.execute(action, permit).await? {
            None => Next::Stop(None),
            Some(done) if done.state == ActionState::Failed => Next::Stop(Some(done)),
            Some(done) => Next::Step(done),
        })
    }

    /// `AwaitApproval`: the rest of the plan waits with this step, each later step gated on its
    /// own now (and again right before it runs): a later step never rides on the first's verdict.
    /// A step its own tool refuses makes the plan one that cannot run: nobody is asked to approve
    /// the rest of it.
    async fn queue_rest(
        &self,
        run: &PlanRun<'_>,
        i: usize,
        mode: Mode,
        first: Action,
        report: &mut PlanReport,
    ) -> anyhow::Result<Next> {
        report.actions.push(first);
        for (j, later) in run.plan.steps.iter().enumerate().skip(i + 1) {
            let Decided { decision, .. } =
                self.gate.decide(run.incident, run.plan, later, self.ceiling, &run.facts).await?;
            let queued = Decision { verdict: Verdict::AwaitApproval, ..decision };
            report.actions.push(self.gate_step(run, j, &queued, mode).await?);
        }
        if let Some(refused) = report.actions.iter().find(|a| a.state == ActionState::Denied).cloned() {
            let why = format!("step {} ({}) cannot run: {}", refused.step, refused.tool, refused.reason);
            for c in self.cancel_plan(&refused, None, &why, json!({"gate": "tool_refuses"})).await? {
                if let Some(a) = report.actions.iter_mut().find(|a| a.id == c.id) {
                    *a = c;
                }
            }
        }
        Ok(Next::Stop(None))
    }

    /// `Deny`: the plan ends here. A budget that stops the agent leaves a failing service to a
    /// person: one is told, once per opening (a person's own proposal is answered directly).
    async fn denied(&self, run: &PlanRun<'_>, decision: &Decision, action: Action) -> anyhow::Result<Next> {
        if run.actor == "agent" && matches!(decision.code, "budget_service" | "budget_global") {
            let why = format!("{}; a person must look", decision.reason);
            self.escalate_once(run.incident, BUDGET_STOPPED, &why).await?;
        }
        Ok(Next::Stop(Some(action)))
    }

    /// Audits a step's decision, writes it on the timeline and journals the step in the state
    /// its verdict gives (a step waiting for a person carries its dry-run for the card).
    async fn gate_step(&self, run: &PlanRun<'_>, i: usize, decision: &Decision, mode: Mode) -> anyhow::Result<Action> {
        let (incident, step) = (run.incident, &run.plan.steps[i]);
        let data = gate_data(decision, mode, step);
        self.gate
            .audit(run.actor, "gate", &incident.id, decision.verdict.as_str(), &decision.reason, data.clone())
            .await;
        self.store
            .add_event(&incident.id, EntryKind::Gate, &format!("{}: {}", step.tool, decision.reason), data.clone())
            .await?;
        let state = match decision.verdict {
            Verdict::Execute => ActionState::Approved,
            Verdict::DryRun => ActionState::DryRun,
            Verdict::Observe => ActionState::Observed,
            Verdict::AwaitApproval => ActionState::PendingApproval,
            Verdict::Deny | Verdict::Escalate => ActionState::Denied,
        };
        let mut action = self.new_action(run, i, mode, state, decision);
        if matches!(state, ActionState::Denied | ActionState::Observed) {
            action.result = Some(data);
        } else if state == ActionState::PendingApproval {
            // The approval queue shows this, computed once here rather than on every view.
            let (preview, refused) = self.executor.preview(&action).await;
            action.result = Some(preview);
            if let Some(why) = refused {
                // A step its own tool refuses (a cleanup outside the allowed roots) could never
                // run: a person is not asked to approve it.
                action.state = ActionState::Denied;
                action.gate = Some("tool_refuses".into());
                action.reason = format!("{} refuses it: {why}", step.tool);
                let refused = Decision { verdict: Verdict::Deny, code: "tool_refuses", reason: action.reason.clone() };
                self.store
                    .add_event(&incident.id, EntryKind::Gate, &action.reason, gate_data(&refused, mode, step))
                    .await?;
            }
        }
        // Journal before act: the row is committed before any tool runs.
        self.store.insert_action(&action).await?;
        let _ = self.bus.send(Event::ActionChanged { action_id: action.id.clone(), state: action.state });
        Ok(action)
    }

    /// Step `step` of the run's plan as a journal entry in `state`, with the gate's decision.
    fn new_action(
        &self,
        run: &PlanRun<'_>,
        step: usize,
        mode: Mode,
        state: ActionState,
        decision: &Decision,
    ) -> Action {
        let (plan, tool) = (run.plan, &run.plan.steps[step].tool);
        Action {
            runbook: plan.runbook.clone(),
            read_only: self.registry.get(tool).is_some_and(|t| t.spec().annotations.read_only_hint),
            mode,
            state,
            reason: decision.reason.clone(),
            gate: Some(decision.code.into()),
            ..step_action(run.incident, &run.plan_id, plan.planner, step, tool, plan.steps[step].args.clone())
        }
    }

    pub(super) async fn note_no_plan(&self, incident: &Incident) -> anyhow::Result<()> {
        let events = self.store.events(&incident.id).await?;
        if !events
            .iter()
            .any(|e| e.kind == EntryKind::NoPlan && e.at >= incident.updated_at.minus(Duration::from_secs(3600)))
        {
            self.store
                .add_event(
                    &incident.id,
                    EntryKind::NoPlan,
                    "no runbook matches this incident; a person must look",
                    json!({}),
                )
                .await?;
        }
        Ok(())
    }

    /// Executes approved actions plan by plan, in step order (after approval, or found at start-up).
    pub async fn run_approved(&self) -> anyhow::Result<()> {
        let approved = self
            .store
            .list_actions(&ActionFilter { states: vec![ActionState::Approved], limit: 1000, ..Default::default() })
            .await?;
        let mut plans: BTreeMap<String, Vec<Action>> = BTreeMap::new();
        for a in approved.into_iter().filter(|a| a.planner != escalate::PLANNER) {
            plans.entry(a.plan_id.clone()).or_default().push(a);
        }
        for (_, mut actions) in plans {
            actions.sort_by_key(|a| a.step);
            let incident_id = actions[0].incident_id.clone();
            let Some(_guard) = self.busy.enter(&incident_id) else {
                continue;
            };
            self.run_plan_actions(&incident_id, actions).await?;
        }
        Ok(())
    }

    /// Runs a plan's approved steps in order. The first is re-gated (the incident must still be
    /// open, and silences, budgets, breaker and mode are those in force now); each is claimed
    /// before it runs; a failed step cancels the rest of the plan in one statement.
    pub(super) async fn run_plan_actions(&self, incident_id: &str, actions: Vec<Action>) -> anyhow::Result<()> {
        let incident = self.store.incident(incident_id).await?;
        let first = &actions[0];
        // Steps run in order: while an earlier step is still waiting or running, its owner
        // continues the plan; after one that did not succeed, nothing more runs.
        let earlier: Vec<Action> =
            self.plan_steps(&incident.id, &first.plan_id).await?.into_iter().filter(|a| a.step < first.step).collect();
        if let Some(blocker) = earlier.iter().find(|a| a.state != ActionState::Succeeded) {
            if !blocker.state.is_active() {
                let why = format!("step {} ({}) is {}", blocker.step, blocker.tool, blocker.state.as_str());
                self.cancel_plan(blocker, Some(blocker.step), &why, json!({})).await?;
                self.settle_plan(&incident, &first.plan_id).await?;
            }
            return Ok(());
        }
        // Earlier steps that ran before a restart are verified with the rest.
        let mut done: Vec<Action> = earlier.into_iter().filter(|a| a.outcome.is_none()).collect();
        for a in actions {
            // Each step is gated again right before it runs: what holds now decides, and only
            // then does it get its permit.
            let status = self.runner.status(&incident.check_id);
            let permit = match self.gate.regate(&incident, &a, status, self.ceiling).await? {
                Ok(permit) => permit,
                Err(refusal) => {
                    let why = format!("re-gated before running step {} ({}): {}", a.step, a.tool, refusal.reason);
                    let after = a.step.checked_sub(1);
                    self.cancel_plan(&a, after, &why, json!({"gate": refusal.code})).await?;
                    break;
                }
            };
            let Some(finished) = self.executor.execute(a, permit).await? else {
                break; // another worker claimed this step and owns the rest of the plan
            };
            let failed = finished.state == ActionState::Failed;
            if failed {
                let why = format!("step {} ({}) failed", finished.step, finished.tool);
                self.cancel_plan(&finished, Some(finished.step), &why, json!({})).await?;
            }
            done.push(finished);
            if failed {
                break;
            }
        }
        self.finish_plan(&incident, &done).await?;
        Ok(())
    }

    /// A plan's steps in step order.
    pub(super) async fn plan_steps(&self, incident_id: &str, plan_id: &str) -> anyhow::Result<Vec<Action>> {
        let mut steps: Vec<Action> = self
            .store
            .list_actions(&ActionFilter { incident_id: Some(incident_id.into()), limit: 1000, ..Default::default() })
            .await?
            .into_iter()
            .filter(|a| a.plan_id == plan_id)
            .collect();
        steps.sort_by_key(|a| a.step);
        Ok(steps)
    }

    /// A plan that ended early (cancelled, or cut short by a crash) may have run steps whose
    /// effect was never verified: verify them now, so the outcome is recorded and the opening
    /// can be remembered.
    pub(crate) async fn settle_plan(&self, incident: &Incident, plan_id: &str) -> anyhow::Result<()> {
        let unverified: Vec<Action> = self
            .plan_steps(&incident.id, plan_id)
            .await?
            .into_iter()
            .filter(|a| a.planner != escalate::PLANNER && a.state.was_executed() && a.outcome.is_none())
            .collect();
        if !unverified.is_empty() && !unverified.iter().any(|a| a.state == ActionState::Running) {
            self.finish_plan(incident, &unverified).await?;
        }
        Ok(())
    }

    /// Cancels the steps of `action`'s plan that have not run (those after `after_step`, or
    /// all), atomically, and says so on the timeline and in the audit log.
    pub(super) async fn cancel_plan(
        &self,
        action: &Action,
        after_step: Option<u32>,
        why: &str,
        data: serde_json::Value,
    ) -> anyhow::Result<Vec<Action>> {
        let cancelled = self
            .store
            .transition_plan(&action.plan_id, &WAITING, after_step, ActionState::Cancelled, why, "agent")
            .await?;
        if cancelled.is_empty() {
            return Ok(cancelled);
        }
        let tools: Vec<&str> = cancelled.iter().map(|a| a.tool.as_str()).collect();
        let message = format!("cancelled {}: {why}", tools.join(" → "));
        self.store
            .add_event(
                &action.incident_id,
                EntryKind::Cancelled,
                &message,
                json!({"plan_id": action.plan_id, "why": data}),
            )
            .await?;
        self.gate
            .audit("agent", "cancel", &action.plan_id, "cancelled", why, json!({"tools": tools, "data": data}))
            .await;
        for a in &cancelled {
            let _ = self.bus.send(Event::ActionChanged { action_id: a.id.clone(), state: a.state });
        }
        Ok(cancelled)
    }

    /// One step of each of the incident's plans that still wait (for approval or to run).
    pub(super) async fn waiting_plans(&self, incident_id: &str) -> Result<Vec<Action>, obsctl_store::StoreError> {
        let waiting = self
            .store
            .list_actions(&ActionFilter {
                incident_id: Some(incident_id.into()),
                states: WAITING.to_vec(),
                limit: 1000,
            })
            .await?;
        let mut plans = HashSet::new();
        Ok(waiting.into_iter().filter(|a| plans.insert(a.plan_id.clone())).collect())
    }

    /// An incident that ended while a plan waited for approval: nothing of it may run.
    pub(super) async fn cancel_waiting(&self, incident_id: &str, why: &str) -> anyhow::Result<()> {
        for a in self.waiting_plans(incident_id).await? {
            self.cancel_plan(&a, None, why, json!({})).await?;
        }
        Ok(())
    }

    /// After a plan's steps ran: verify if any tool ran, record the outcome, escalate a failure.
    pub(super) async fn finish_plan(&self, incident: &Incident, actions: &[Action]) -> anyhow::Result<Option<Outcome>> {
        let executed: Vec<&Action> = actions.iter().filter(|a| a.state.was_executed()).collect();
        if executed.is_empty() {
            return Ok(None);
        }
        let any_failed = executed.iter().any(|a| a.state == ActionState::Failed);
        let (outcome, attempts) = if any_failed {
            (Outcome::NotFixed, 0)
        } else {
            verify(self.runner.as_ref(), &incident.check_id, &self.config.agent.verify).await
        };
        let tools: Vec<&str> = executed.iter().map(|a| a.tool.as_str()).collect();
        let message = match outcome {
            Outcome::Fixed => format!("verified fixed after {attempts} check run(s) by {}", tools.join(", ")),
            Outcome::Partial => {
                format!("partially fixed: the check passed at times but did not recover within {attempts} runs")
            }
            Outcome::NotFixed if any_failed => "not fixed: a step failed".to_string(),
            Outcome::NotFixed => format!("not fixed: the check still fails after {attempts} runs"),
        };
        self.store
            .add_event(&incident.id, EntryKind::Outcome, &message, to_data(&OutcomeEntry { outcome, attempts }))
            .await?;
        tracing::info!(incident = %incident.id, outcome = outcome.as_str(), "fix verified");
        let mut current = self.store.incident(&incident.id).await?;
        if outcome == Outcome::Fixed && current.status == IncidentStatus::Resolved {
            current.resolution = Some(format!(
                "fixed by {}: {}",
                executed[0].runbook.as_deref().unwrap_or(executed[0].planner.as_str()),
                tools.join(", ")
            ));
            self.store.update_incident(&current, IncidentStatus::Resolved).await?;
        }
        // The actions' outcome is what observers (the ledger, the demo, the breaker) key on,
        // so it is written after the timeline and the resolution it summarises.
        for a in &executed {
            let mut a = (*a).clone();
            a.outcome = Some(outcome);
            a.updated_at = Timestamp::now();
            // How many failures the incident had counted: the agent plans this opening again
            // only once the check has failed after that (counts, unlike clocks, agree across replicas).
            let mut result = a.result.take().unwrap_or_else(|| json!({}));
            if let Some(fields) = result.as_object_mut() {
                fields.insert(OCCURRENCES_AT_VERIFICATION.into(), current.occurrences.into());
            }
            a.result = Some(result);
            self.store.update_action(&a).await?;
            // A page following the plan (the approval card) shows its outcome now.
            let _ = self.bus.send(Event::ActionChanged { action_id: a.id.clone(), state: a.state });
        }
        if outcome == Outcome::Fixed && current.status == IncidentStatus::Resolved {
            let _ = self.bus.send(Event::IncidentResolved { incident_id: current.id.clone() });
        }
        if outcome != Outcome::Fixed {
            self.escalate(&current, &message).await?;
        }
        if current.status == IncidentStatus::Resolved {
            self.remember(&current.id).await?;
        }
        Ok(Some(outcome))
    }

    /// Resumes after a restart: an action found `running` is verified, never re-run. It is
    /// marked interrupted at once (and the rest of its plan cancelled), so nobody sees it
    /// `running` while its check is verified, which may take the verification's whole budget.
    pub async fn recover(&self) -> anyhow::Result<()> {
        let running = self
            .store
            .list_actions(&ActionFilter { states: vec![ActionState::Running], limit: 1000, ..Default::default() })
            .await?;
        for mut a in running.into_iter().filter(|a| !self.executor.runs_here(&a.id)) {
            let incident = self.store.incident(&a.incident_id).await?;
            a.state = ActionState::Failed;
            a.result =
                Some(json!({"recovered": "found running when the agent lease was taken; not re-run; verifying"}));
            a.updated_at = Timestamp::now();
            self.store.update_action(&a).await?;
            let _ = self.bus.send(Event::ActionChanged { action_id: a.id.clone(), state: a.state });
            let message = format!(
                "{} was interrupted (a restart, or its process lost the agent lease); not re-run; verifying the check",
                a.tool
            );
            self.store.add_event(&a.incident_id, EntryKind::Interrupted, &message, json!({"action_id": a.id})).await?;
            let why = format!("step {} ({}) was interrupted", a.step, a.tool);
            self.cancel_plan(&a, Some(a.step), &why, json!({})).await?;

            let (outcome, attempts) = verify(self.runner.as_ref(), &incident.check_id, &self.config.agent.verify).await;
            a.state = if outcome == Outcome::Fixed { ActionState::Succeeded } else { ActionState::Failed };
            a.outcome = Some(outcome);
            a.result = Some(
                json!({"recovered": "found running when the agent lease was taken; not re-run", "verified": outcome, "attempts": attempts}),
            );
            a.updated_at = Timestamp::now();
            self.store.update_action(&a).await?;
            let _ = self.bus.send(Event::ActionChanged { action_id: a.id.clone(), state: a.state });
            let message = format!("{} was interrupted; verification: {}", a.tool, outcome.as_str());
            self.store.add_event(&a.incident_id, EntryKind::Outcome, &message, json!({"action_id": a.id})).await?;
            self.gate.audit("agent", "recover", &a.id, outcome.as_str(), &message, json!({})).await;
            self.settle_plan(&incident, &a.plan_id).await?;
            tracing::warn!(action = %a.id, outcome = outcome.as_str(), "recovered interrupted action");
        }
        self.catch_up().await
    }
}
