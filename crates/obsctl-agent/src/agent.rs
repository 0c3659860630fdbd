//! The agent loop: acts only while it may (the agent lease), and for each open incident decides
//! whether to plan, asks the planners (runbook → memory), and hands the plan to `execute`
//! (gate, journal, run or queue, verify, record); `remember`, `controls` and `escalate` do the rest.

pub(crate) mod controls;
pub(crate) use llm_plan::PLANNER as LLM_PLANNER;
mod escalate;
mod execute;
mod investigate;
mod llm_plan;
mod remember;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use obsctl_config::Config;
use obsctl_core::Timestamp;
use obsctl_core::action::{Action, ActionState, Outcome};
use obsctl_core::event::Event;
use obsctl_core::incident::{Incident, IncidentStatus};
use obsctl_core::policy::Mode;
use obsctl_store::{ActionFilter, IncidentFilter, RecallIndex, Store};
use serde::Serialize;
use tokio::sync::{broadcast, watch};

use crate::executor::Executor;
use crate::gate::{Gate, RETRYABLE_CODES};
use crate::leadership::Leadership;
use crate::planner::{MemoryPlanner, Plan, PlanContext, PlannerChain, RunbookPlanner};
use crate::tools::ToolRegistry;
use crate::verify::CheckRunner;

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
    /// The lease term whose start recovered the `running` actions (0: none yet).
    recovered: std::sync::atomic::AtomicU64,
    /// A sweep is under way (they never overlap).
    sweeping: std::sync::atomic::AtomicBool,
    /// In a CLI beside a `serve`: approved steps are journaled for it, never run here.
    hand_off: std::sync::OnceLock<String>,
    /// The LLM planner's model, when `[llm]` is configured.
    llm: Option<crate::llm::LlmClient>,
    /// Where each remembered opening's trace goes, when `OTEL_EXPORTER_OTLP_ENDPOINT` is set.
    traces: Option<crate::trace_export::TraceExporter>,
    /// Open incidents nothing could plan for at their last look, and when: sweeps pass them by
    /// for `QUIET` (an alert storm leaves thousands open); a change to one is heard at once.
    quiet: std::sync::Mutex<HashMap<String, std::time::Instant>>,
}

/// An instance's name on what it remembers: `[memory] instance`, else the host name.
fn origin_of(config: &Config) -> String {
    config.memory_instance.clone().unwrap_or_else(obsctl_host::host_name)
}

/// How long a sweep leaves an incident that had no plan.
const QUIET: Duration = Duration::from_secs(30);

/// Incidents the event loop plans at the same time.
const PLANNING_AT_ONCE: usize = 4;

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
            Box::new(MemoryPlanner::new(store.clone(), registry.clone(), &config.agent, origin_of(&config))),
        ]);
        let gate = Gate::new(config.clone(), store.clone(), registry.clone());
        let secrets = config.secrets().into_iter().cloned().collect();
        let executor = Executor::new(store.clone(), registry.clone(), bus.clone(), secrets);
        let llm = config.llm.clone().and_then(|c| match crate::llm::LlmClient::new(c) {
            Ok(client) => Some(client),
            Err(error) => {
                tracing::error!(%error, "cannot build the LLM client; the LLM planner is off");
                None
            }
        });
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
            recovered: std::sync::atomic::AtomicU64::new(0),
            sweeping: std::sync::atomic::AtomicBool::new(false),
            hand_off: std::sync::OnceLock::new(),
            llm,
            traces: None,
            quiet: std::sync::Mutex::default(),
        }
    }

    /// Adds the recall index: remembered episodes are indexed, and each incident opening gets
    /// the most similar past episodes on its timeline.
    pub fn with_recall(mut self, index: Arc<RecallIndex>) -> Self {
        self.recall = Some(index);
        self
    }

    /// Adds the trace exporter: every opening remembered here is sent as one trace.
    pub fn with_traces(mut self, exporter: crate::trace_export::TraceExporter) -> Self {
        self.traces = Some(exporter);
        self
    }

    /// This instance's name on what it remembers: `[memory] instance`, else the host name.
    pub fn origin(&self) -> String {
        origin_of(&self.config)
    }

    pub fn recall(&self) -> Option<&Arc<RecallIndex>> {
        self.recall.as_ref()
    }

    /// Makes this agent act only while `leadership` holds the agent lease (set once, by `serve`);
    /// its executor checks the lease again just before each tool runs.
    pub fn lead_with(&self, leadership: Arc<Leadership>) {
        self.executor.fence_with(leadership.clone());
        let _ = self.leadership.set(leadership);
    }

    /// Leaves every approved step to `holder` (a `serve` holding the agent lease) instead of
    /// running it here: the CLI's way to act beside a running `serve`.
    pub fn hand_off_to(&self, holder: String) {
        let _ = self.hand_off.set(holder);
    }

    /// Whether this process may act now; at the start of each lease term (taken, or renewed
    /// after it lapsed), actions left `running` by whoever held it before are recovered first.
    async fn acting(&self) -> bool {
        use std::sync::atomic::Ordering;
        let Some(leadership) = self.leadership.get() else {
            return true;
        };
        let Some(term) = leadership.term() else {
            return false;
        };
        if self.recovered.swap(term, Ordering::SeqCst) != term
            && let Err(error) = self.recover().await
        {
            self.recovered.store(0, Ordering::SeqCst);
            tracing::error!(%error, "could not recover in-flight actions");
            return false;
        }
        true
    }

    /// Runs until shutdown: resumes in-flight work, then reacts to incidents and approvals,
    /// with a periodic sweep as a safety net for missed events. The work it starts is its own:
    /// at shutdown it waits for that work to end, so nothing of it outlives the store.
    pub async fn run(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        let mut events = self.bus.subscribe();
        if self.leadership.get().is_none()
            && let Err(error) = self.recover().await
        {
            tracing::error!(%error, "could not recover in-flight actions");
        }
        let mut sweep = tokio::time::interval(Duration::from_secs(2));
        // Incidents planned at once: an alert storm opens thousands in seconds, and planning
        // them all together would queue the intake's writes behind theirs.
        let planning = Arc::new(tokio::sync::Semaphore::new(PLANNING_AT_ONCE));
        let mut work = tokio::task::JoinSet::new();
        loop {
            while work.try_join_next().is_some() {}
            tokio::select! {
                ev = events.recv() => if !self.acting().await { continue } else { match ev {
                    Ok(Event::IncidentOpened { incident_id } | Event::IncidentUpdated { incident_id }) => {
                        let (me, planning) = (self.clone(), planning.clone());
                        work.spawn(async move {
                            let Ok(_permit) = planning.acquire_owned().await else { return };
                            me.handle_logged(&incident_id).await
                        });
                    }
                    Ok(Event::IncidentResolved { incident_id }) => {
                        let me = self.clone();
                        work.spawn(async move {
                            let why = "the incident resolved before its plan ran";
                            if let Err(error) = me.cancel_waiting(&incident_id, why).await {
                                tracing::error!(%error, incident = %incident_id, "could not cancel waiting plans");
                            }
                            if let Err(error) = me.remember(&incident_id).await {
                                tracing::error!(%error, incident = %incident_id, "could not remember incident");
                            }
                        });
                    }
                    Ok(Event::ActionChanged { state: ActionState::Approved, .. }) => {
                        let me = self.clone();
                        work.spawn(async move { me.run_approved_logged().await });
                    }
                    Ok(_) => {}
                    Err(broadcast::error::RecvError::Lagged(_)) => self.spawn_sweep(&mut work),
                    Err(broadcast::error::RecvError::Closed) => break,
                }},
                _ = sweep.tick() => if self.acting().await { self.spawn_sweep(&mut work) },
                _ = shutdown.changed() => break,
            }
        }
        while work.join_next().await.is_some() {}
    }

    /// Sweeps off the select loop (tools and verification can take long; the loop must keep
    /// hearing events and shutdown), one sweep at a time.
    fn spawn_sweep(self: &Arc<Self>, work: &mut tokio::task::JoinSet<()>) {
        use std::sync::atomic::Ordering;
        if self.sweeping.swap(true, Ordering::SeqCst) {
            return;
        }
        let me = self.clone();
        work.spawn(async move {
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

    /// One pass over every approved action and every open incident (but those that had no plan
    /// less than `QUIET` ago).
    pub async fn sweep(&self) {
        self.run_approved_logged().await;
        match self
            .store
            .list_incidents(&IncidentFilter { status: Some(IncidentStatus::Open), limit: 1000, ..Default::default() })
            .await
        {
            Ok(open) => {
                let due: Vec<String> = {
                    let mut quiet = self.quiet.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                    let ids: HashSet<&str> = open.iter().map(|i| i.id.as_str()).collect();
                    quiet.retain(|id, since| ids.contains(id.as_str()) && since.elapsed() < QUIET);
                    open.into_iter().map(|i| i.id).filter(|id| !quiet.contains_key(id)).collect()
                };
                for id in due {
                    self.handle_logged(&id).await;
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
        let code = latest.gate.as_deref().unwrap_or("");
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
        let counted_at_fix = latest.result.as_ref().and_then(|r| r[execute::OCCURRENCES_AT_VERIFICATION].as_u64());
        if latest.outcome == Some(obsctl_core::action::Outcome::Fixed)
            && counted_at_fix.is_some_and(|n| u64::from(incident.occurrences) <= n)
        {
            // Verified fixed and no failure counted since: the check's own next run (on another
            // replica, perhaps) resolves the incident; planning again would fix it twice.
            return Ok(Some("the last fix was verified; waiting for the check to confirm it".into()));
        }
        let cooldown = runbook.map(|r| r.cooldown).unwrap_or(self.config.agent.default_cooldown);
        let since = Timestamp::now().since(latest.updated_at);
        Ok((since < cooldown)
            .then(|| format!("last attempt {}s ago; cooldown {}s", since.as_secs(), cooldown.as_secs())))
    }

    /// The labels runbooks match: the service's, then the check's or the alert's over them.
    async fn labels(&self, incident: &Incident) -> anyhow::Result<BTreeMap<String, String>> {
        let mut labels = self.config.service(&incident.service).map(|s| s.labels.clone()).unwrap_or_default();
        if let Some(check) = self.config.check(&incident.check_id) {
            labels.extend(check.labels.clone());
        } else if let Some((source, fingerprint)) = obsctl_core::alert::parse_check_id(&incident.check_id) {
            let alert = self.store.alerts_by_fingerprint(source, &[fingerprint.to_string()]).await?;
            labels.extend(alert.into_iter().flat_map(|r| r.alert.labels));
        }
        Ok(labels)
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
        // Flapping holds actions back, never visibility: a person hears of it, once an opening.
        if self.gate.flapping(&incident, self.runner.status(&incident.check_id)).await? {
            let why = format!("{} is flapping; the agent holds back until it is stable", incident.check_id);
            self.escalate_once(&incident, FLAPPING_HELD, &why).await?;
        }
        if let Some(why) = self.why_not_plan(&incident).await? {
            report.skipped = Some(why);
            return Ok(());
        }
        let labels = self.labels(&incident).await?;
        self.note_recall(&incident, &labels).await?;
        let mut plan = self.planners.plan(&PlanContext { incident: &incident, labels: &labels }).await?;
        if plan.is_none() {
            // The model comes last: consulted only when runbooks and memory have nothing.
            plan = self.llm_plan(&incident).await.unwrap_or_else(|error| {
                tracing::error!(%error, incident = %incident.id, "the LLM planner failed");
                None
            });
        }
        let Some(plan) = plan else {
            self.quiet
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .insert(incident.id.clone(), std::time::Instant::now());
            self.note_no_plan(&incident).await?;
            report.skipped = Some("no runbook matches, memory has no proven fix and no model proposed one".into());
            return Ok(());
        };
        self.run_plan(&incident, plan, "agent", report).await
    }
}

/// How the escalation of a flapping check begins (said once per opening).
const FLAPPING_HELD: &str = "a person must look: ";

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

/// A new journal entry for `step` of plan `plan_id` on the incident's current opening:
/// `approved` in `auto` mode, decided by the agent, until the caller says otherwise.
fn step_action(
    incident: &Incident,
    plan_id: &str,
    planner: &str,
    step: usize,
    tool: &str,
    args: serde_json::Value,
) -> Action {
    let now = Timestamp::now();
    Action {
        id: obsctl_store::new_id("act"),
        idempotency_key: format!("{}/{plan_id}/{step}", episode_key(incident)),
        incident_id: incident.id.clone(),
        service: incident.service.clone(),
        fingerprint: incident.fingerprint.clone(),
        plan_id: plan_id.into(),
        planner: planner.into(),
        runbook: None,
        step: step as u32,
        tool: tool.into(),
        args,
        read_only: false,
        mode: Mode::Auto,
        state: ActionState::Approved,
        reason: String::new(),
        gate: None,
        result: None,
        outcome: None,
        created_at: now,
        updated_at: now,
        decided_by: Some("agent".into()),
    }
}

/// Identifies one opening of an incident (a reopen starts a new episode).
fn episode_key(incident: &Incident) -> String {
    format!("{}/r{}", incident.id, incident.reopen_count)
}
