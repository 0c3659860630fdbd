//! Human controls: approve or reject a queued plan, silence, resolve by hand, propose a plan.
//! The CLI, the API and the dashboard all call these, so each control has one code path, one
//! set of input checks and one audit.

use std::time::Duration;

use obsctl_config::Step;
use obsctl_core::Timestamp;
use obsctl_core::action::{Action, ActionState};
use obsctl_core::event::Event;
use obsctl_core::incident::{IncidentStatus, Silence};
use obsctl_core::policy::Mode;
use obsctl_core::timeline::{DecisionEntry, EntryKind, to_data};
use obsctl_store::{StoreError, new_id};
use serde_json::json;

use super::{Agent, PlanReport};
use crate::planner::Plan;

impl Agent {
    /// Moves every pending step of the action's plan from `pending_approval` to `to`, in one
    /// statement, so a racing approve, reject or resolve can never leave half a plan approved.
    /// A plan whose incident has ended is cancelled instead of approved.
    async fn decide_plan(
        &self,
        action_id: &str,
        to: ActionState,
        by: &str,
        reason: &str,
    ) -> Result<Vec<Action>, StoreError> {
        let action = self.store.action(action_id).await?;
        let not_pending = |a: &Action| {
            StoreError::Conflict(format!("action {action_id} is {}, not pending_approval", a.state.as_str()))
        };
        if action.state != ActionState::PendingApproval {
            return Err(not_pending(&action));
        }
        if to == ActionState::Approved && self.store.incident(&action.incident_id).await?.status != IncidentStatus::Open
        {
            let why = "the incident resolved before its plan was approved";
            self.cancel_plan(&action, None, why, json!({})).await.map_err(|e| StoreError::Backend(e.to_string()))?;
            return Err(StoreError::Conflict(format!(
                "incident {} is resolved; its pending plan was cancelled instead",
                action.incident_id
            )));
        }
        let pending = [ActionState::PendingApproval];
        let mut changed = self.store.transition_plan(&action.plan_id, &pending, None, to, reason, by).await?;
        if changed.is_empty() {
            return Err(not_pending(&self.store.action(action_id).await?));
        }
        changed.sort_by_key(|a| a.step);
        let (verb, control, kind) = if to == ActionState::Approved {
            ("approved", "approve", EntryKind::Approved)
        } else {
            ("rejected", "reject", EntryKind::Rejected)
        };
        let tools: Vec<&str> = changed.iter().map(|a| a.tool.as_str()).collect();
        self.gate.audit(by, control, action_id, verb, reason, json!({"plan_id": action.plan_id, "tools": tools})).await;
        let message = format!(
            "{verb} by {by}: {}{}",
            tools.join(" → "),
            if reason.is_empty() { String::new() } else { format!(" ({reason})") }
        );
        let data = to_data(&DecisionEntry { action_id: action_id.into(), by: by.into() });
        self.store.add_event(&action.incident_id, kind, &message, data).await?;
        let _ = self.bus.send(Event::ActionChanged { action_id: action_id.into(), state: to });
        Ok(changed)
    }

    /// Approves the action's whole plan; the agent loop executes it.
    pub async fn approve(&self, action_id: &str, by: &str, reason: &str) -> Result<Vec<Action>, StoreError> {
        self.decide_plan(action_id, ActionState::Approved, by, reason).await
    }

    pub async fn reject(&self, action_id: &str, by: &str, reason: &str) -> Result<Vec<Action>, StoreError> {
        self.decide_plan(action_id, ActionState::Rejected, by, reason).await
    }

    /// Silences a service and/or incident kind from `starts_at` (default now) for `duration`.
    pub async fn silence(
        &self,
        service: Option<String>,
        kind: Option<String>,
        starts_at: Option<Timestamp>,
        duration: Duration,
        reason: &str,
        by: &str,
    ) -> Result<Silence, StoreError> {
        let reason = reason.trim();
        if service.is_none() && kind.is_none() {
            return Err(invalid("name a service, an incident kind, or both: obsctl has no global silence"));
        }
        if let Some(svc) = service.as_deref().filter(|s| self.config.service(s).is_none()) {
            return Err(invalid(&format!("unknown service {svc:?}")));
        }
        if let Some((kind, meant)) = kind.as_deref().and_then(|k| Some((k, self.config.misspelt_kind(k)?))) {
            return Err(invalid(&format!(
                "unknown incident kind {kind:?}; did you mean {meant:?}? (a check's kind, or an alert's alertname)"
            )));
        }
        if duration.is_zero() {
            return Err(invalid("a silence needs a duration longer than zero, e.g. \"2h\""));
        }
        if reason.is_empty() {
            return Err(invalid("a silence needs a reason saying why"));
        }
        let starts_at = starts_at.unwrap_or_else(Timestamp::now);
        let silence = Silence {
            id: new_id("sil"),
            service,
            kind,
            starts_at,
            ends_at: starts_at.plus(duration),
            reason: reason.into(),
            created_by: by.into(),
        };
        self.store.insert_silence(&silence).await?;
        let what = format!("{}/{}", silence.service.as_deref().unwrap_or("*"), silence.kind.as_deref().unwrap_or("*"));
        self.gate
            .audit(
                by,
                "silence",
                &silence.id,
                "created",
                reason,
                json!({"match": what, "starts_at": silence.starts_at, "ends_at": silence.ends_at}),
            )
            .await;
        Ok(silence)
    }

    pub async fn unsilence(&self, id: &str, by: &str) -> Result<(), StoreError> {
        self.store.delete_silence(id).await?;
        self.gate.audit(by, "unsilence", id, "deleted", "", json!({})).await;
        Ok(())
    }

    /// Resolves an incident by hand with a note; its pending actions are rejected.
    pub async fn resolve_by_hand(&self, incident_id: &str, by: &str, note: &str) -> Result<(), StoreError> {
        let note = note.trim();
        if note.is_empty() {
            return Err(invalid("a note must say why the incident is resolved"));
        }
        let mut incident = self.store.incident(incident_id).await?;
        if incident.status != IncidentStatus::Open {
            return Err(StoreError::Conflict(format!("incident {incident_id} is already resolved")));
        }
        for a in self.waiting_plans(incident_id).await? {
            let why = "incident resolved by hand";
            self.store.transition_plan(&a.plan_id, &super::WAITING, None, ActionState::Rejected, why, by).await?;
        }
        let now = Timestamp::now();
        incident.status = IncidentStatus::Resolved;
        incident.resolved_at = Some(now);
        incident.updated_at = now;
        incident.resolution = Some(format!("resolved by {by}: {note}"));
        self.store.update_incident(&incident, IncidentStatus::Open).await?;
        self.store
            .add_event(incident_id, EntryKind::Resolved, &format!("resolved by {by}: {note}"), json!({"by": by}))
            .await?;
        self.gate.audit(by, "resolve", incident_id, "resolved", note, json!({})).await;
        let _ = self.bus.send(Event::IncidentResolved { incident_id: incident_id.into() });
        if let Err(error) = self.remember(incident_id).await {
            tracing::error!(%error, incident = incident_id, "could not remember incident");
        }
        Ok(())
    }

    /// A person proposes a plan for an open incident. It passes the same gate as the agent's
    /// own plans (in `approve` mode it waits in the queue; in `auto` it runs and is verified).
    /// Memory learns from it only when `remember` says so: a one-off fix (a command someone
    /// ran once) must not become an automatic one after two successes. `override_budget` is the
    /// person acting knowingly past a spent budget (which holds the agent back, not them), with
    /// why: audited and said on the timeline.
    pub async fn propose(
        &self,
        incident_id: &str,
        steps: Vec<Step>,
        by: &str,
        reason: &str,
        remember: bool,
        override_budget: Option<&str>,
    ) -> anyhow::Result<PlanReport> {
        let incident = self.store.incident(incident_id).await?;
        if incident.status != IncidentStatus::Open {
            return Err(StoreError::Conflict(format!("incident {incident_id} is resolved")).into());
        }
        if steps.is_empty() {
            return Err(invalid("a plan needs at least one step").into());
        }
        if override_budget.is_some_and(|why| why.trim().is_empty()) {
            return Err(invalid("overriding the budget needs a reason saying why (it is audited)").into());
        }
        if let Some(unknown) = steps.iter().find(|st| self.registry.get(&st.tool).is_none()) {
            return Err(invalid(&format!("unknown tool {:?}; GET /api/tools lists them", unknown.tool)).into());
        }
        let mut report = PlanReport {
            incident_id: incident_id.into(),
            plan: None,
            actions: Vec::new(),
            outcome: None,
            skipped: None,
            handed_to: None,
        };
        let Some(_guard) = self.busy.enter(incident_id) else {
            return Err(StoreError::Conflict(format!("incident {incident_id} is being handled; try again")).into());
        };
        let active = self.plan_actions(incident_id).await.map(|a| a.iter().any(|a| a.state.is_active()));
        let result = match active {
            Ok(true) => {
                Err(StoreError::Conflict(format!("incident {incident_id} has an action waiting or running")).into())
            }
            Ok(false) => {
                let plan = Plan {
                    planner: if remember { REMEMBERED_PROPOSAL } else { ONE_OFF_PROPOSAL },
                    runbook: None,
                    provenance: format!(
                        "proposed by {by}{}",
                        if reason.is_empty() { String::new() } else { format!(": {reason}") }
                    ),
                    confidence: 1.0,
                    steps,
                    mode: None,
                    max_mode: Mode::Auto,
                    cooldown: self.config.agent.default_cooldown,
                    evidence: Vec::new(),
                    budget_override: override_budget.map(|why| format!("by {by}: {}", why.trim())),
                };
                self.run_plan(&incident, plan, by, &mut report).await
            }
            Err(e) => Err(e),
        };
        result.map(|()| report)
    }
}

/// The planner of a person's proposal that memory does not learn from.
pub(crate) const ONE_OFF_PROPOSAL: &str = "operator";
/// The planner of a person's proposal to remember as a fix.
pub(crate) const REMEMBERED_PROPOSAL: &str = "operator:remember";

/// Input a control refuses, with what to change. Every surface (CLI, API, dashboard) gets the
/// same checks because they live here.
fn invalid(why: &str) -> StoreError {
    StoreError::Invalid(why.to_string())
}
