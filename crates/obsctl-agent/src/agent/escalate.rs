//! Escalation: tell a person when the breaker opens or a fix fails, through the configured
//! notifiers. Notices are journaled and audited like any action, but are not held back by
//! mode or budgets: they are how the gate asks for help.

use obsctl_core::action::{Action, ActionState};
use obsctl_core::incident::Incident;
use obsctl_core::timeline::EntryKind;
use obsctl_store::new_id;
use serde_json::json;

use super::{Agent, step_action};

/// The `planner` of escalation notices.
pub(crate) use obsctl_core::action::ESCALATION_PLANNER as PLANNER;

impl Agent {
    /// Escalates unless this opening was escalated already with a reason that starts with
    /// `prefix`: a standing condition (a spent budget, a flapping check) is told once, not at
    /// every retry.
    pub(crate) async fn escalate_once(&self, incident: &Incident, prefix: &str, reason: &str) -> anyhow::Result<()> {
        let events = self.store.events(&incident.id).await?;
        let opened = obsctl_core::incident::opening_event_id(&events);
        let told =
            events.iter().any(|e| e.id > opened && e.kind == EntryKind::Escalated && e.message.starts_with(prefix));
        if !told {
            self.escalate(incident, &format!("{prefix}{reason}")).await?;
        }
        Ok(())
    }

    pub(crate) async fn escalate(&self, incident: &Incident, reason: &str) -> anyhow::Result<()> {
        self.store.add_event(&incident.id, EntryKind::Escalated, reason, json!({})).await?;
        self.gate.audit("agent", "escalate", &incident.id, "escalated", reason, json!({})).await;
        if !self.config.notify.has_receiver() {
            tracing::warn!(incident = %incident.id, reason, "needs a person, but no [notify] receiver is configured: nobody is told");
        } else {
            tracing::warn!(incident = %incident.id, reason, "escalating to a person");
        }
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
            let action = Action {
                reason: format!("escalation: {reason}"),
                ..step_action(incident, &plan_id, PLANNER, step, tool, args)
            };
            let Some(permit) = self.gate.permit_notice(tool, &action.args) else { continue };
            self.store.insert_action(&action).await?;
            let done = self.executor.execute(action, permit).await?;
            if done.is_some_and(|d| d.state == ActionState::Failed) {
                tracing::error!(incident = %incident.id, tool, "escalation notice failed");
            }
        }
        Ok(())
    }
}
