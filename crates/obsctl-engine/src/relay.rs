//! Events between replicas: each replica tells the others, through the store (Postgres
//! `NOTIFY`), of the incidents and actions that changed on it, and puts what they tell on its
//! own bus, so the agent (on whichever replica holds its lease) and every live dashboard hear
//! them at once. Check statuses travel by `Membership`'s poll instead (they are state, read
//! every second); what a lost notice misses, the agent's sweep and a page's next load make up.

use std::sync::Arc;

use obsctl_core::event::Event;
use obsctl_store::Store;
use serde::{Deserialize, Serialize};
use tokio::sync::{broadcast, watch};

/// What replicas tell each other: the events about incidents and actions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Shared {
    IncidentOpened { incident_id: String },
    IncidentUpdated { incident_id: String },
    IncidentResolved { incident_id: String },
    ActionChanged { action_id: String, state: obsctl_core::action::ActionState },
}

impl Shared {
    fn of(event: &Event) -> Option<Self> {
        Some(match event.clone() {
            Event::IncidentOpened { incident_id } => Self::IncidentOpened { incident_id },
            Event::IncidentUpdated { incident_id } => Self::IncidentUpdated { incident_id },
            Event::IncidentResolved { incident_id } => Self::IncidentResolved { incident_id },
            Event::ActionChanged { action_id, state } => Self::ActionChanged { action_id, state },
            Event::Observed { .. } | Event::StatusChanged { .. } => return None,
        })
    }

    fn event(self) -> Event {
        match self {
            Self::IncidentOpened { incident_id } => Event::IncidentOpened { incident_id },
            Self::IncidentUpdated { incident_id } => Event::IncidentUpdated { incident_id },
            Self::IncidentResolved { incident_id } => Event::IncidentResolved { incident_id },
            Self::ActionChanged { action_id, state } => Event::ActionChanged { action_id, state },
        }
    }
}

#[derive(Serialize, Deserialize)]
struct Notice {
    /// The replica that tells.
    from: String,
    event: Shared,
}

/// At most this many events heard from others wait to be recognised on this replica's bus.
const ECHOES: usize = 1024;

/// Relays until `shutdown`: this replica's (`me`) incident and action events out, the others'
/// in. Does nothing on a store with no other replicas to hear (SQLite).
pub async fn run(
    store: Arc<dyn Store>,
    bus: broadcast::Sender<Event>,
    me: String,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut heard = match store.replica_notices().await {
        Ok(Some(heard)) => heard,
        Ok(None) => return,
        Err(error) => {
            tracing::warn!(%error, "cannot listen to the other replicas; their changes show at the next poll");
            return;
        }
    };
    let mut local = bus.subscribe();
    // Heard from others and put on this bus: not to be told back when the bus hands them over.
    let mut echoes: Vec<Shared> = Vec::new();
    loop {
        tokio::select! {
            event = local.recv() => match event {
                Ok(event) => {
                    let Some(shared) = Shared::of(&event) else { continue };
                    if let Some(i) = echoes.iter().position(|e| *e == shared) {
                        echoes.swap_remove(i);
                        continue;
                    }
                    let notice = Notice { from: me.clone(), event: shared };
                    let Ok(payload) = serde_json::to_string(&notice) else { continue };
                    if let Err(error) = store.notify_replicas(&payload).await {
                        tracing::debug!(%error, "could not tell the other replicas; they see it at their next poll");
                    }
                }
                Err(broadcast::error::RecvError::Lagged(_)) => echoes.clear(),
                Err(broadcast::error::RecvError::Closed) => return,
            },
            payload = heard.recv() => match payload.map(|p| serde_json::from_str::<Notice>(&p)) {
                Some(Ok(notice)) if notice.from != me => {
                    if echoes.len() == ECHOES {
                        echoes.remove(0);
                    }
                    echoes.push(notice.event.clone());
                    let _ = bus.send(notice.event.event());
                }
                Some(Ok(_)) => {}
                Some(Err(error)) => tracing::debug!(%error, "a replica's notice that this one cannot read"),
                None => return,
            },
            _ = shutdown.changed() => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn incident_and_action_events_travel_and_come_back_the_same() {
        let events = [
            Event::IncidentOpened { incident_id: "inc-1".into() },
            Event::IncidentUpdated { incident_id: "inc-1".into() },
            Event::IncidentResolved { incident_id: "inc-1".into() },
            Event::ActionChanged { action_id: "act-1".into(), state: obsctl_core::action::ActionState::Approved },
        ];
        for event in events {
            let shared = Shared::of(&event).unwrap();
            let told = serde_json::to_string(&Notice { from: "r".into(), event: shared }).unwrap();
            let heard: Notice = serde_json::from_str(&told).unwrap();
            assert_eq!(format!("{:?}", heard.event.event()), format!("{event:?}"));
        }
        let status = Event::StatusChanged {
            check_id: "a/b".into(),
            from: obsctl_core::state::CheckStatus::Ok,
            to: obsctl_core::state::CheckStatus::Failing,
        };
        assert!(Shared::of(&status).is_none());
    }
}
