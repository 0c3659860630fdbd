//! Remembering: when an incident opening has ended and its fixes are verified, record what it
//! teaches as an episode (the store folds it into the fix-efficacy ledger).

use std::collections::BTreeMap;

use obsctl_core::Timestamp;
use obsctl_core::action::{Action, Outcome};
use obsctl_core::incident::{Incident, IncidentStatus};
use obsctl_core::memory::{Episode, EpisodeAction, EpisodeOutcome, FixStep, action_key, cluster};
use obsctl_core::secret::{redact, redact_value};
use obsctl_core::timeline::{DecisionEntry, EntryKind, data_of};
use obsctl_core::trace::incident_trace;
use obsctl_store::{ActionFilter, IncidentFilter, RecallHit, RecallQuery};
use serde_json::json;

use super::controls::ONE_OFF_PROPOSAL;
use super::{Agent, episode_key};

/// How many of the newest resolved incidents `catch_up` looks at.
const CATCH_UP: u32 = 500;

/// The episode of an incident's latest opening.
fn episode_id(incident: &Incident) -> String {
    format!("ep-{}-r{}", incident.id, incident.reopen_count)
}

/// Timeline events whose text describes the trouble (not what obsctl did about it).
/// How long plans waited for a person's approval or rejection before `until`: from the plan's
/// first journal entry to the `approved` / `rejected` event naming one of its steps.
fn waited_for_people(
    actions: &[&Action],
    events: &[obsctl_core::incident::IncidentEvent],
    until: Timestamp,
) -> std::time::Duration {
    let plan_of: BTreeMap<&str, &str> = actions.iter().map(|a| (a.id.as_str(), a.plan_id.as_str())).collect();
    let mut proposed: BTreeMap<&str, Timestamp> = BTreeMap::new();
    for a in actions {
        let at = proposed.entry(a.plan_id.as_str()).or_insert(a.created_at);
        *at = (*at).min(a.created_at);
    }
    events
        .iter()
        .filter(|e| matches!(e.kind, EntryKind::Approved | EntryKind::Rejected) && e.at <= until)
        .filter_map(|e| {
            let plan = plan_of.get(data_of::<DecisionEntry>(&e.data)?.action_id.as_str())?;
            Some(e.at.since(*proposed.get(plan)?))
        })
        .sum()
}

const SYMPTOM_EVENTS: &[EntryKind] = &[
    EntryKind::Opened,
    EntryKind::Reopened,
    EntryKind::Flapping,
    EntryKind::Suppressed,
    EntryKind::Note,
    EntryKind::Alert,
];

impl Agent {
    /// Remembers the incident's latest opening if it has ended and nothing is left to verify.
    /// Returns the episode when one was newly recorded.
    pub async fn remember(&self, incident_id: &str) -> anyhow::Result<Option<Episode>> {
        let incident = self.store.incident(incident_id).await?;
        if incident.status != IncidentStatus::Resolved {
            return Ok(None);
        }
        let episode_prefix = format!("{}/", episode_key(&incident));
        let mut all = self.opening_actions(&incident, &episode_prefix).await?;
        // Not yet: a fix is still waiting or running; its owner remembers when it is done.
        if all.iter().any(|a| a.state.is_active()) {
            return Ok(None);
        }
        // Steps that ran but were never verified (their plan was cut short by a crash) and that
        // no task owns any more: verify them now, unless this incident is being handled (its
        // handler records the outcome and remembers).
        let mut unverified: Vec<String> =
            all.iter().filter(|a| a.state.was_executed() && a.outcome.is_none()).map(|a| a.plan_id.clone()).collect();
        if !unverified.is_empty() {
            let Some(_handling) = self.busy.enter(&incident.id) else { return Ok(None) };
            unverified.dedup();
            for plan_id in &unverified {
                Box::pin(self.settle_plan(&incident, plan_id)).await?;
            }
            all = self.opening_actions(&incident, &episode_prefix).await?;
        }
        let mine: Vec<&Action> = all.iter().collect();
        let events = self.store.events(&incident.id).await?;
        let labels = self.labels(&incident).await?;
        let episode = self.episode_of(&incident, &mine, &events, labels);
        if self.store.remember(&episode).await? {
            tracing::info!(episode = %episode.id, outcome = episode.outcome.as_str(), "remembered incident");
            if let Some(exporter) = &self.traces {
                let secrets = self.config.secrets();
                let trace = incident_trace(&episode.id, &incident, &events, &all, episode.outcome, &secrets);
                tracing::info!(episode = %episode.id, trace_id = %trace.trace_id_hex(), "incident trace queued for export");
                exporter.offer(trace);
            }
            if let Some(index) = &self.recall
                && let Err(error) = index.add(std::slice::from_ref(&episode))
            {
                tracing::warn!(%error, "could not index episode; `obsctl memory reindex` rebuilds the index");
            }
            Ok(Some(episode))
        } else {
            Ok(None)
        }
    }

    /// The actions of the incident's current opening, escalation notices left out.
    async fn opening_actions(&self, incident: &Incident, episode_prefix: &str) -> anyhow::Result<Vec<Action>> {
        let all = self
            .store
            .list_actions(&ActionFilter { incident_id: Some(incident.id.clone()), limit: 1000, ..Default::default() })
            .await?;
        Ok(all
            .into_iter()
            .filter(|a| a.idempotency_key.starts_with(episode_prefix) && a.planner != super::escalate::PLANNER)
            .collect())
    }

    /// After a restart or on taking the lease: incidents that ended while no agent finished with
    /// them (killed between the resolve and the remember) get their waiting plans withdrawn and
    /// their episode recorded now (`remember` verifies what ran unverified). Looks at the newest
    /// `CATCH_UP` resolved incidents.
    pub(crate) async fn catch_up(&self) -> anyhow::Result<()> {
        let filter = IncidentFilter { status: Some(IncidentStatus::Resolved), limit: CATCH_UP, ..Default::default() };
        for incident in self.store.list_incidents(&filter).await? {
            if self.store.episode(&episode_id(&incident)).await.is_ok() {
                continue;
            }
            self.cancel_waiting(&incident.id, "the incident resolved before its plan ran").await?;
            if let Some(episode) = self.remember(&incident.id).await? {
                tracing::info!(episode = %episode.id, "remembered an incident that ended during a restart");
            }
        }
        Ok(())
    }

    /// Puts the most similar past episodes on the timeline, once per opening.
    pub(crate) async fn note_recall(
        &self,
        incident: &Incident,
        labels: &BTreeMap<String, String>,
    ) -> anyhow::Result<()> {
        let Some(index) = &self.recall else { return Ok(()) };
        let events = self.store.events(&incident.id).await?;
        let opened = obsctl_core::incident::opening_event_id(&events);
        if events.iter().any(|e| e.kind == EntryKind::Recall && e.id > opened) {
            return Ok(());
        }
        let query = RecallQuery {
            text: format!("{}\n{}", incident.title, incident.detail),
            service: Some(incident.service.clone()),
            kind: Some(incident.kind.clone()),
            labels: labels.clone(),
            strict: false,
            limit: 4,
        };
        // Earlier openings of this same incident are fair evidence; only this opening is not.
        let own = format!("ep-{}-r{}", incident.id, incident.reopen_count);
        let started = std::time::Instant::now();
        let found = index.search(&query, Timestamp::now())?;
        obsctl_core::metrics::metrics().recall_duration.observe(started.elapsed().as_secs_f64());
        let hits: Vec<RecallHit> = found.into_iter().filter(|h| h.episode_id != own).take(3).collect();
        if hits.is_empty() {
            return Ok(());
        }
        let summary: Vec<String> =
            hits.iter().map(|h| format!("{} ({:.2}: {})", h.episode_id, h.score, h.why)).collect();
        self.store
            .add_event(
                &incident.id,
                EntryKind::Recall,
                &format!("similar past incidents: {}", summary.join("; ")),
                json!({"hits": hits}),
            )
            .await?;
        Ok(())
    }

    fn episode_of(
        &self,
        incident: &Incident,
        actions: &[&Action],
        events: &[obsctl_core::incident::IncidentEvent],
        labels: BTreeMap<String, String>,
    ) -> Episode {
        let secrets = self.config.secrets();
        let mut plans: BTreeMap<&str, Vec<&Action>> = BTreeMap::new();
        for a in actions.iter().filter(|a| a.state.was_executed()) {
            plans.entry(a.plan_id.as_str()).or_default().push(a);
        }
        let attempts: Vec<EpisodeAction> = plans
            .into_values()
            .map(|mut steps| {
                steps.sort_by_key(|a| a.step);
                // Verification gives every executed step of a plan the same outcome.
                let outcome = steps.iter().find_map(|a| a.outcome).unwrap_or(Outcome::NotFixed);
                let fixed_at = steps.iter().map(|a| a.updated_at).max().unwrap_or(incident.opened_at);
                // The time a person took to decide on a plan is not time the fix took.
                let waited = waited_for_people(actions, events, fixed_at);
                let learn = steps.first().is_none_or(|a| a.planner != ONE_OFF_PROPOSAL);
                let steps: Vec<FixStep> = steps
                    .iter()
                    .map(|a| FixStep { tool: a.tool.clone(), args: redact_value(&a.args, &secrets) })
                    .collect();
                EpisodeAction {
                    learn,
                    action_key: action_key(&steps),
                    steps,
                    outcome,
                    time_to_recover_ms: (outcome == Outcome::Fixed)
                        .then(|| fixed_at.since(incident.opened_at).saturating_sub(waited).as_millis() as i64),
                }
            })
            .collect();
        let outcome = if attempts.iter().any(|a| a.outcome == Outcome::Fixed) {
            EpisodeOutcome::Fixed
        } else if events.iter().any(|e| e.kind == EntryKind::Escalated) {
            EpisodeOutcome::Escalated
        } else if attempts.is_empty() {
            EpisodeOutcome::SelfResolved
        } else {
            EpisodeOutcome::NotFixed
        };
        let mut text = vec![incident.title.clone(), incident.detail.clone()];
        text.extend(events.iter().filter(|e| SYMPTOM_EVENTS.contains(&e.kind)).map(|e| e.message.clone()));
        text.dedup();
        let ended_at = incident.resolved_at.unwrap_or(incident.updated_at);
        let mut episode = Episode {
            id: episode_id(incident),
            incident_id: incident.id.clone(),
            fingerprint: incident.fingerprint.clone(),
            cluster: cluster(&incident.kind, &incident.service),
            service: incident.service.clone(),
            kind: incident.kind.clone(),
            labels,
            text: redact(&text.join("\n"), &secrets),
            actions: attempts,
            outcome,
            opened_at: incident.opened_at,
            ended_at,
            time_to_recover_ms: ended_at.since(incident.opened_at).as_millis() as i64,
            content_hash: String::new(),
            origin: self.origin(),
            source: obsctl_core::memory::SOURCE_INCIDENT.into(),
        };
        episode.content_hash = episode.compute_hash();
        episode
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use obsctl_core::incident::IncidentEvent;

    fn step(id: &str, plan: &str, created: i64) -> Action {
        let mut a: Action = serde_json::from_value(json!({
            "id": id, "idempotency_key": id, "incident_id": "inc", "service": "api", "fingerprint": "f",
            "plan_id": plan, "planner": "runbook", "runbook": null, "step": 0, "tool": "t", "args": {},
            "mode": "approve", "state": "succeeded", "reason": "", "result": null, "outcome": "fixed",
            "created_at": 0, "updated_at": 0, "decided_by": null
        }))
        .unwrap();
        a.created_at = Timestamp(created);
        a
    }

    fn event(kind: &str, at: i64, action: &str) -> IncidentEvent {
        serde_json::from_value(json!({"id": 1, "incident_id": "inc", "at": at, "kind": kind, "message": "", "data": {"action_id": action}}))
            .unwrap()
    }

    /// A plan proposed at 10 s and approved at 70 s waited a minute for a person; a rejected
    /// plan's wait counts too, an approval after the fix does not.
    #[test]
    fn approval_waits_are_not_recovery_time() {
        let (a1, a2, b1) = (step("a1", "pa", 10_000), step("a2", "pa", 10_500), step("b1", "pb", 80_000));
        let actions = [&a1, &a2, &b1];
        let events =
            [event("approved", 70_000, "a2"), event("rejected", 85_000, "b1"), event("approved", 99_000, "b1")];
        assert_eq!(waited_for_people(&actions, &events, Timestamp(90_000)), std::time::Duration::from_secs(65));
        assert_eq!(waited_for_people(&actions, &events[..1], Timestamp(60_000)), std::time::Duration::ZERO);
    }
}
