//! Escalation: tell a person when the breaker opens or a fix fails, through the configured
//! notifiers. Notices are journaled and audited like any action, but are not held back by
//! mode or budgets: they are how the gate asks for help.

use obsctl_core::Timestamp;
use obsctl_core::action::{Action, ActionState};
use obsctl_core::incident::Incident;
use obsctl_core::policy::Mode;
use obsctl_store::new_id;
use serde_json::json;

use super::{Agent, episode_key};

/// The `planner` of escalation notices.
pub(crate) use obsctl_core::action::ESCALATION_PLANNER as PLANNER;

impl Agent {
    pub(crate) async fn escalate(&self, incident: &Incident, reason: &str) -> anyhow::Result<()> {
        self.store.add_event(&incident.id, "escalated", reason, json!({})).await?;
        self.gate.audit("agent", "escalate", &incident.id, "escalated", reason, json!({})).await;
        tracing::warn!(incident = %incident.id, reason, "escalating to a person");
        let title = format!("obsctl: {} needs a person", incident.title);
        let message = format!("{}\n{}\nincident {}", reason, incident.detail, incident.id);
        let mut notices = Vec::new();
        if self.config.notify.ntfy.is_some() {
            notices.push((
                "notify.ntfy",
                json!({"title": title, "message": message, "priority": 4, "tags": ["warning", "obsctl"]}),
            ));
        }
        if self.config.notify.webhook.is_some() {
            notices.push(("notify.webhook", json!({"title": title, "message": message, "data": {"incident_id": incident.id, "service": incident.service, "kind": incident.kind}})));
        }
        let plan_id = new_id("esc");
        for (step, (tool, args)) in notices.into_iter().enumerate() {
            let now = Timestamp::now();
            let action = Action {
                id: new_id("act"),
                idempotency_key: format!("{}/{plan_id}/{step}", episode_key(incident)),
                incident_id: incident.id.clone(),
                service: incident.service.clone(),
                fingerprint: incident.fingerprint.clone(),
                plan_id: plan_id.clone(),
                planner: PLANNER.into(),
                runbook: None,
                step: step as u32,
                tool: tool.into(),
                args,
                read_only: false,
                mode: Mode::Auto,
                state: ActionState::Approved,
                reason: format!("escalation: {reason}"),
                result: None,
                outcome: None,
                created_at: now,
                updated_at: now,
                decided_by: Some("agent".into()),
            };
            self.store.insert_action(&action).await?;
            let done = self.executor.execute(action).await?;
            if done.is_some_and(|d| d.state == ActionState::Failed) {
                tracing::error!(incident = %incident.id, tool, "escalation notice failed");
            }
        }
        Ok(())
    }
}
