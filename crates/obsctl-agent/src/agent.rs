//! The agent loop: for each open incident, plan (runbook → …), gate each step, journal it,
//! execute or queue it, verify the fix and record the outcome; escalate when it cannot.

pub(crate) mod controls;
mod escalate;
mod remember;

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use obsctl_core::Timestamp;
use obsctl_core::action::{Action, ActionState, Outcome};
use obsctl_core::config::Config;
use obsctl_core::event::Event;
use obsctl_core::incident::{Incident, IncidentStatus};
use obsctl_core::policy::{Mode, Verdict};
use obsctl_store::{ActionFilter, IncidentFilter, RecallIndex, Store, new_id};
use serde::Serialize;
use serde_json::json;
use tokio::sync::{broadcast, watch};

use crate::executor::Executor;
use crate::gate::{Gate, RETRYABLE_CODES, gate_data};
use crate::leadership::Leadership;
use crate::planner::{MemoryPlanner, Plan, PlanContext, PlannerChain, RunbookPlanner};
use crate::tools::ToolRegistry;
use crate::verify::{CheckRunner, verify};

/// What one pass over an incident did, for the CLI and tests.
#[derive(Debug, Clone, Serialize)]
pub struct PlanReport {
    pub incident_id: String,
    pub plan: Option<Plan>,
    pub actions: Vec<Action>,
    pub outcome: Option<Outcome>,
    /// Why nothing was planned, when nothing was.
    pub skipped: Option<String>,
    /// The process (holder of the agent lease) the approved steps were left to, if not run here.
    pub handed_to: Option<String>,
}

pub struct Agent {
    config: Arc<Config>,
    store: Arc<dyn Store>,
    planners: PlannerChain,
    gate: Gate,
    executor: Executor,
    runner: Arc<dyn CheckRunner>,
    bus: broadcast::Sender<Event>,
    /// No action goes above this mode (`--dry-run` lowers it).
    ceiling: Mode,
    busy: Busy,
    recall: Option<Arc<RecallIndex>>,
    registry: Arc<ToolRegistry>,
    /// In `serve`: act only while holding the agent lease.
    leadership: std::sync::OnceLock<Arc<Leadership>>,
    /// Whether `running` actions were recovered since the lease was last taken.
    recovered: std::sync::atomic::AtomicBool,
    /// A sweep is under way (they never overlap).
    sweeping: std::sync::atomic::AtomicBool,
    /// In a CLI beside a `serve`: approved steps are journaled for it, never run here.
    hand_off: std::sync::OnceLock<String>,
}

impl Agent {
    pub fn new(
        config: Arc<Config>,
        store: Arc<dyn Store>,
        registry: Arc<ToolRegistry>,
        runner: Arc<dyn CheckRunner>,
        bus: broadcast::Sender<Event>,
        ceiling: Mode,
    ) -> Self {
        let planners = PlannerChain::new(vec![
            Box::new(RunbookPlanner::new(config.runbooks.clone())),
            Box::new(MemoryPlanner::new(store.clone(), registry.clone(), &config.agent)),
        ]);
        let gate = Gate::new(config.clone(), store.clone(), registry.clone());
        let secrets = config.secrets().into_iter().cloned().collect();
        let executor = Executor::new(store.clone(), registry.clone(), bus.clone(), secrets);
        Self {
            config,
            store,
            planners,
            gate,
            executor,
            runner,
            bus,
            ceiling,
            busy: Busy::default(),
            recall: None,
            registry,
            leadership: std::sync::OnceLock::new(),
            recovered: std::sync::atomic::AtomicBool::new(false),
            sweeping: std::sync::atomic::AtomicBool::new(false),
            hand_off: std::sync::OnceLock::new(),
        }
    }

    /// Adds the recall index: remembered episodes are indexed, and each incident opening gets
    /// the most similar past episodes on its timeline.
    pub fn with_recall(mut self, index: Arc<RecallIndex>) -> Self {
        self.recall = Some(index);
        self
    }

    pub fn recall(&self) -> Option<&Arc<RecallIndex>> {
        self.recall.as_ref()
    }

    /// Makes this agent act only while `leadership` holds the agent lease (set once, by `serve`).
    pub fn lead_with(&self, leadership: Arc<Leadership>) {
        let _ = self.leadership.set(leadership);
    }

    /// Leaves every approved step to `holder` (a `serve` holding the agent lease) instead of
    /// running it here: the CLI's way to act beside a running `serve`.
    pub fn hand_off_to(&self, holder: String) {
        let _ = self.hand_off.set(holder);
    }

    /// Whether this process may act now; on taking the lease, in-flight actions are recovered first.
    async fn acting(&self) -> bool {
        use std::sync::atomic::Ordering;
        let Some(leadership) = self.leadership.get() else {
            return true;
        };
        if !leadership.held() {
            self.recovered.store(false, Ordering::SeqCst);
            return false;
        }
        if !self.recovered.swap(true, Ordering::SeqCst)
            && let Err(error) = self.recover().await
        {
            self.recovered.store(false, Ordering::SeqCst);
            tracing::error!(%error, "could not recover in-flight actions");
            return false;
        }
        true
    }

    /// Runs until shutdown: resumes in-flight work, then reacts to incidents and approvals,
    /// with a periodic sweep as a safety net for missed events.
    pub async fn run(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        let mut events = self.bus.subscribe();
        if self.leadership.get().is_none()
            && let Err(error) = self.recover().await
        {
            tracing::error!(%error, "could not recover in-flight actions");
        }
        let mut sweep = tokio::time::interval(Duration::from_secs(2));
        loop {
            tokio::select! {
                ev = events.recv() => if !self.acting().await { continue } else { match ev {
                    Ok(Event::IncidentOpened { incident_id } | Event::IncidentUpdated { incident_id }) => {
                        let me = self.clone();
                        tokio::spawn(async move { me.handle_logged(&incident_id).await });
                    }
                    Ok(Event::IncidentResolved { incident_id }) => {
                        let me = self.clone();
                        tokio::spawn(async move {
                            let why = "the incident resolved before its plan ran";
                            if let Err(error) = me.cancel_waiting(&incident_id, why).await {
                                tracing::error!(%error, incident = %incident_id, "could not cancel waiting plans");
                            }
                            if let Err(error) = me.remember(&incident_id).await {
                                tracing::error!(%error, incident = %incident_id, "could not remember incident");
                            }
                        });
                    }
                    Ok(Event::ActionChanged { state, .. }) if state == ActionState::Approved.as_str() => {
                        let me = self.clone();
                        tokio::spawn(async move { me.run_approved_logged().await });
                    }
                    Ok(_) => {}
                    Err(broadcast::error::RecvError::Lagged(_)) => self.spawn_sweep(),
                    Err(broadcast::error::RecvError::Closed) => return,
                }},
                _ = sweep.tick() => if self.acting().await { self.spawn_sweep() },
                _ = shutdown.changed() => return,
            }
        }
    }

    /// Sweeps off the select loop (tools and verification can take long; the loop must keep
    /// hearing events and shutdown), one sweep at a time.
    fn spawn_sweep(self: &Arc<Self>) {
        use std::sync::atomic::Ordering;
        if self.sweeping.swap(true, Ordering::SeqCst) {
            return;
        }
        let me = self.clone();
        tokio::spawn(async move {
            me.sweep().await;
            me.sweeping.store(false, Ordering::SeqCst);
        });
    }

    async fn handle_logged(&self, incident_id: &str) {
        if let Err(error) = self.handle_incident(incident_id).await {
            tracing::error!(%error, incident = incident_id, "agent could not handle incident");
        }
    }

    async fn run_approved_logged(&self) {
        if let Err(error) = self.run_approved().await {
            tracing::error!(%error, "agent could not run approved actions");
        }
    }

    /// One pass over every open incident and every approved action.
    pub async fn sweep(&self) {
        self.run_approved_logged().await;
        match self
            .store
            .list_incidents(&IncidentFilter { status: Some(IncidentStatus::Open), limit: 1000, ..Default::default() })
            .await
        {
            Ok(open) => {
                for i in open {
                    self.handle_logged(&i.id).await;
                }
            }
            Err(error) => tracing::error!(%error, "could not list open incidents"),
        }
    }

    /// Actions of this incident the agent made (escalation notices excluded), newest first.
    async fn plan_actions(&self, incident_id: &str) -> anyhow::Result<Vec<Action>> {
        let all = self
            .store
            .list_actions(&ActionFilter { incident_id: Some(incident_id.into()), limit: 200, ..Default::default() })
            .await?;
        Ok(all.into_iter().filter(|a| a.planner != escalate::PLANNER).collect())
    }

    /// Whether to plan now, or why not. Executed fixes and budget or cooldown refusals are
    /// retried after the cooldown while the incident stays open; a suppressed plan is redone
    /// once the suppression lifts; an observe or dry-run plan is redone when the mode in force
    /// changes; other refusals and rejections hold for the rest of this opening.
    async fn why_not_plan(&self, incident: &Incident) -> anyhow::Result<Option<String>> {
        let actions = self.plan_actions(&incident.id).await?;
        if actions.iter().any(|a| a.state.is_active()) {
            return Ok(Some("an action is waiting or running".into()));
        }
        let episode = episode_key(incident);
        // A cancelled step never ran: the plan's last word is the step before it.
        let latest = actions.iter().find(|a| a.state != ActionState::Cancelled);
        let Some(latest) = latest.filter(|a| a.idempotency_key.starts_with(&episode)) else {
            return Ok(None);
        };
        let code = latest.result.as_ref().and_then(|r| r["gate"].as_str()).unwrap_or("");
        let runbook = latest.runbook.as_ref().and_then(|r| self.config.runbooks.iter().find(|x| &x.name == r));
        let handled = || Ok(Some(format!("already handled this opening ({})", latest.state.as_str())));
        match latest.state {
            ActionState::Succeeded | ActionState::Failed => {}
            ActionState::Denied if RETRYABLE_CODES.contains(&code) => {}
            ActionState::Observed if code == "suppressed" => {
                let now = self.gate.suppression(incident, self.runner.status(&incident.check_id)).await?;
                return Ok(now.map(|why| format!("still suppressed: {why}")));
            }
            ActionState::Observed | ActionState::DryRun => {
                let a = &self.config.agent;
                let mode = Mode::effective(a.mode, runbook.and_then(|r| r.mode), a.max_mode.min(self.ceiling));
                return if mode == latest.mode { handled() } else { Ok(None) };
            }
            _ => return handled(),
        }
        let cooldown = runbook.map(|r| r.cooldown).unwrap_or(self.config.agent.default_cooldown);
        let since = Timestamp::now().since(latest.updated_at);
        Ok((since < cooldown)
            .then(|| format!("last attempt {}s ago; cooldown {}s", since.as_secs(), cooldown.as_secs())))
    }

    fn labels(&self, incident: &Incident) -> BTreeMap<String, String> {
        let mut labels = self.config.service(&incident.service).map(|s| s.labels.clone()).unwrap_or_default();
        if let Some(check) = self.config.check(&incident.check_id) {
            labels.extend(check.labels.clone());
        }
        labels
    }

    /// Decides and acts on one incident once: the core of `periodic-check` and the loop.
    pub async fn handle_incident(&self, incident_id: &str) -> anyhow::Result<PlanReport> {
        let mut report = PlanReport {
            incident_id: incident_id.into(),
            plan: None,
            actions: Vec::new(),
            outcome: None,
            skipped: None,
            handed_to: None,
        };
        let Some(_guard) = self.busy.enter(incident_id) else {
            report.skipped = Some("already being handled".into());
            return Ok(report);
        };
        self.handle_unlocked(incident_id, &mut report).await.map(|()| report)
    }

    async fn handle_unlocked(&self, incident_id: &str, report: &mut PlanReport) -> anyhow::Result<()> {
        let incident = self.store.incident(incident_id).await?;
        if incident.status != IncidentStatus::Open {
            report.skipped = Some("incident is resolved".into());
            return Ok(());
        }
        if let Some(why) = self.why_not_plan(&incident).await? {
            report.skipped = Some(why);
            return Ok(());
        }
        let labels = self.labels(&incident);
        self.note_recall(&incident, &labels).await?;
        let Some(plan) = self.planners.plan(&PlanContext { incident: &incident, labels: &labels }).await? else {
            self.note_no_plan(&incident).await?;
            report.skipped = Some("no runbook matches and memory has no proven fix".into());
            return Ok(());
        };
        self.run_plan(&incident, plan, "agent", report).await
    }

    /// Gates, journals and runs a plan's steps in order, then verifies and records the outcome.
    /// `actor` is who the gate decisions are audited for (`agent`, or the operator proposing).
    async fn run_plan(
        &self,
        incident: &Incident,
        plan: Plan,
        actor: &str,
        report: &mut PlanReport,
    ) -> anyhow::Result<()> {
        let incident = incident.clone();
        let suppressed = self.gate.suppression(&incident, self.runner.status(&incident.check_id)).await?;
        let facts = self.gate.plan_facts(&incident, &plan, suppressed).await?;
        let plan_id = new_id("plan");
        let steps: Vec<String> = plan.steps.iter().map(|s| s.tool.clone()).collect();
        self.store
            .add_event(
                &incident.id,
                "plan",
                &format!("{} (confidence {:.2}): {}", plan.provenance, plan.confidence, steps.join(" → ")),
                self.executor.scrub(json!({"plan_id": plan_id, "plan": plan})),
            )
            .await?;
        for (i, step) in plan.steps.iter().enumerate() {
            let (decision, mode) = self.gate.decide(&incident, &plan, step, self.ceiling, &facts).await?;
            let data = gate_data(&decision, mode, step);
            self.gate
                .audit(
                    actor,
                    "gate",
                    &incident.id,
                    &format!("{:?}", decision.verdict).to_lowercase(),
                    &decision.reason,
                    data.clone(),
                )
                .await;
            self.store
                .add_event(&incident.id, "gate", &format!("{}: {}", step.tool, decision.reason), data.clone())
                .await?;
            let state = match decision.verdict {
                Verdict::Execute => ActionState::Approved,
                Verdict::DryRun => ActionState::DryRun,
                Verdict::Observe => ActionState::Observed,
                Verdict::AwaitApproval => ActionState::PendingApproval,
                Verdict::Deny | Verdict::Escalate => ActionState::Denied,
            };
            let mut action = self.new_action(&incident, &plan, &plan_id, i, mode, state, &decision.reason);
            if matches!(state, ActionState::Denied | ActionState::Observed) {
                action.result = Some(data);
            } else if state == ActionState::PendingApproval {
                // The approval queue shows this, computed once here rather than on every view.
                action.result = Some(self.executor.preview(&action).await);
            }
            // Journal before act: the row is committed before any tool runs.
            self.store.insert_action(&action).await?;
            let _ = self.bus.send(Event::ActionChanged { action_id: action.id.clone(), state: state.as_str().into() });
            match decision.verdict {
                Verdict::Execute if self.hand_off.get().is_some() => {
                    // Journaled `approved` for the lease holder, which runs the plan in order.
                    report.actions.push(action);
                }
                Verdict::Execute => {
                    let Some(done) = self.executor.execute(action).await? else {
                        break; // another worker claimed it and owns the rest of the plan
                    };
                    let failed = done.state == ActionState::Failed;
                    report.actions.push(done);
                    if failed {
                        break;
                    }
                }
                Verdict::DryRun => report.actions.push(self.executor.dry_run(action).await?),
                Verdict::Observe => report.actions.push(action),
                Verdict::AwaitApproval => {
                    report.actions.push(action);
                    for j in i + 1..plan.steps.len() {
                        let mut queued = self.new_action(
                            &incident,
                            &plan,
                            &plan_id,
                            j,
                            mode,
                            ActionState::PendingApproval,
                            &decision.reason,
                        );
                        queued.result = Some(self.executor.preview(&queued).await);
                        self.store.insert_action(&queued).await?;
                        report.actions.push(queued);
                    }
                    break;
                }
                Verdict::Deny => {
                    report.actions.push(action);
                    break;
                }
                Verdict::Escalate => {
                    report.actions.push(action);
                    self.escalate(&incident, &decision.reason).await?;
                    break;
                }
            }
        }
        report.plan = Some(plan);
        if let Some(holder) =
            self.hand_off.get().filter(|_| report.actions.iter().any(|a| a.state == ActionState::Approved))
        {
            let message = format!("approved steps left to {holder}, which holds the agent lease and runs them");
            self.store.add_event(&incident.id, "handed_off", &message, json!({"holder": holder})).await?;
            report.handed_to = Some(holder.clone());
            return Ok(());
        }
        report.outcome = self.finish_plan(&incident, &report.actions).await?;
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn new_action(
        &self,
        incident: &Incident,
        plan: &Plan,
        plan_id: &str,
        step: usize,
        mode: Mode,
        state: ActionState,
        reason: &str,
    ) -> Action {
        let now = Timestamp::now();
        Action {
            id: new_id("act"),
            idempotency_key: format!("{}/{plan_id}/{step}", episode_key(incident)),
            incident_id: incident.id.clone(),
            service: incident.service.clone(),
            fingerprint: incident.fingerprint.clone(),
            plan_id: plan_id.into(),
            planner: plan.planner.into(),
            runbook: plan.runbook.clone(),
            step: step as u32,
            tool: plan.steps[step].tool.clone(),
            args: plan.steps[step].args.clone(),
            read_only: self.registry.get(&plan.steps[step].tool).is_some_and(|t| t.spec().annotations.read_only_hint),
            mode,
            state,
            reason: reason.into(),
            result: None,
            outcome: None,
            created_at: now,
            updated_at: now,
            decided_by: Some("agent".into()),
        }
    }

    async fn note_no_plan(&self, incident: &Incident) -> anyhow::Result<()> {
        let events = self.store.events(&incident.id).await?;
        if !events.iter().any(|e| e.kind == "no_plan" && e.at >= incident.updated_at.minus(Duration::from_secs(3600))) {
            self.store
                .add_event(&incident.id, "no_plan", "no runbook matches this incident; a person must look", json!({}))
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
    async fn run_plan_actions(&self, incident_id: &str, actions: Vec<Action>) -> anyhow::Result<()> {
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
        let status = self.runner.status(&incident.check_id);
        if let Some(refusal) = self.gate.regate(&incident, first, status, self.ceiling).await? {
            let why = format!("re-gated before running: {}", refusal.reason);
            self.cancel_plan(first, None, &why, json!({"gate": refusal.code})).await?;
            self.settle_plan(&incident, &first.plan_id).await?;
            return Ok(());
        }
        // Earlier steps that ran before a restart are verified with the rest.
        let mut done: Vec<Action> = earlier.into_iter().filter(|a| a.outcome.is_none()).collect();
        for a in actions {
            let Some(finished) = self.executor.execute(a).await? else {
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
    async fn plan_steps(&self, incident_id: &str, plan_id: &str) -> anyhow::Result<Vec<Action>> {
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
    async fn cancel_plan(
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
            .add_event(&action.incident_id, "cancelled", &message, json!({"plan_id": action.plan_id, "why": data}))
            .await?;
        self.gate
            .audit("agent", "cancel", &action.plan_id, "cancelled", why, json!({"tools": tools, "data": data}))
            .await;
        for a in &cancelled {
            let _ = self.bus.send(Event::ActionChanged { action_id: a.id.clone(), state: a.state.as_str().into() });
        }
        Ok(cancelled)
    }

    /// One step of each of the incident's plans that still wait (for approval or to run).
    async fn waiting_plans(&self, incident_id: &str) -> Result<Vec<Action>, obsctl_store::StoreError> {
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
    async fn cancel_waiting(&self, incident_id: &str, why: &str) -> anyhow::Result<()> {
        for a in self.waiting_plans(incident_id).await? {
            self.cancel_plan(&a, None, why, json!({})).await?;
        }
        Ok(())
    }

    /// After a plan's steps ran: verify if any tool ran, record the outcome, escalate a failure.
    async fn finish_plan(&self, incident: &Incident, actions: &[Action]) -> anyhow::Result<Option<Outcome>> {
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
            .add_event(&incident.id, "outcome", &message, json!({"outcome": outcome, "attempts": attempts}))
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
            self.store.update_action(&a).await?;
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

    /// Resumes after a restart: an action found `running` is verified, never re-run.
    pub async fn recover(&self) -> anyhow::Result<()> {
        let running = self
            .store
            .list_actions(&ActionFilter { states: vec![ActionState::Running], limit: 1000, ..Default::default() })
            .await?;
        for mut a in running {
            let incident = self.store.incident(&a.incident_id).await?;
            let (outcome, attempts) = verify(self.runner.as_ref(), &incident.check_id, &self.config.agent.verify).await;
            a.state = if outcome == Outcome::Fixed { ActionState::Succeeded } else { ActionState::Failed };
            a.outcome = Some(outcome);
            a.result = Some(
                json!({"recovered": "found running at start-up; not re-run", "verified": outcome, "attempts": attempts}),
            );
            a.updated_at = Timestamp::now();
            self.store.update_action(&a).await?;
            let message =
                format!("{} was interrupted by a restart; not re-run; verification: {}", a.tool, outcome.as_str());
            self.store.add_event(&a.incident_id, "outcome", &message, json!({"action_id": a.id})).await?;
            self.gate.audit("agent", "recover", &a.id, outcome.as_str(), &message, json!({})).await;
            let why = format!("step {} ({}) was interrupted by a restart", a.step, a.tool);
            self.cancel_plan(&a, Some(a.step), &why, json!({})).await?;
            self.settle_plan(&incident, &a.plan_id).await?;
            tracing::warn!(action = %a.id, outcome = outcome.as_str(), "recovered interrupted action");
        }
        self.catch_up().await
    }
}

/// States of a step that has not run yet.
const WAITING: [ActionState; 2] = [ActionState::PendingApproval, ActionState::Approved];

/// The incidents being handled in this process, so two tasks never work one incident at once.
/// Entering returns a guard that leaves on drop, even if the task panics.
#[derive(Default)]
struct Busy(std::sync::Mutex<HashSet<String>>);

struct BusyGuard<'a> {
    busy: &'a Busy,
    incident_id: String,
}

impl Busy {
    fn enter(&self, incident_id: &str) -> Option<BusyGuard<'_>> {
        let mut set = self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        set.insert(incident_id.to_string()).then(|| BusyGuard { busy: self, incident_id: incident_id.to_string() })
    }
}

impl Drop for BusyGuard<'_> {
    fn drop(&mut self) {
        self.busy.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner).remove(&self.incident_id);
    }
}

/// Identifies one opening of an incident (a reopen starts a new episode).
fn episode_key(incident: &Incident) -> String {
    format!("{}/r{}", incident.id, incident.reopen_count)
}
