//! The live side of the dashboard: recent latencies per check (fed by the event bus), and the
//! SSE messages every connected browser receives, each rendered once however many listen.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use obsctl_core::Timestamp;
use obsctl_core::event::Event;
use tokio::sync::{broadcast, watch};

use super::{cards, charts};
use crate::AppState;

/// Latency points kept per check for sparklines.
const POINTS: usize = 24;

/// One SSE message: its event name and its data (one line of HTML, or a word: browsers drop
/// events whose data is empty).
#[derive(Debug, Clone)]
pub struct Push {
    pub event: &'static str,
    pub data: Arc<str>,
}

/// A check's recent results, oldest first, and its sparkline, drawn on first use after a change
/// (checks change every few seconds; the overview draws ten thousand sparklines per view).
#[derive(Debug, Clone, Default)]
struct Recent {
    at: VecDeque<Timestamp>,
    latency_ms: VecDeque<f64>,
    spark: Option<Arc<str>>,
}

/// What a service's card shows of its checks' recent results.
pub struct Summary {
    /// The sparkline of the check with the most points (the service's main probe).
    pub spark: Arc<str>,
    pub last_latency_ms: Option<f64>,
    pub last_at: Option<Timestamp>,
}

pub struct Live {
    recent: Mutex<HashMap<String, Recent>>,
    pushes: broadcast::Sender<Push>,
}

impl Default for Live {
    fn default() -> Self {
        Live { recent: Mutex::new(HashMap::new()), pushes: broadcast::channel(1024).0 }
    }
}

impl Live {
    pub fn subscribe(&self) -> broadcast::Receiver<Push> {
        self.pushes.subscribe()
    }

    /// How many browsers are listening.
    pub fn listeners(&self) -> usize {
        self.pushes.receiver_count()
    }

    pub fn push(&self, event: &'static str, data: impl Into<Arc<str>>) {
        let _ = self.pushes.send(Push { event, data: data.into() });
    }

    pub fn record(&self, check_id: &str, at: Timestamp, latency_us: u64) {
        let mut recent = self.recent.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let r = recent.entry(check_id.to_string()).or_default();
        if r.at.len() == POINTS {
            r.at.pop_front();
            r.latency_ms.pop_front();
        }
        r.at.push_back(at);
        r.latency_ms.push_back(latency_us as f64 / 1000.0);
        r.spark = None;
    }

    /// A service's checks' recent results, as its card shows them.
    pub fn summary(&self, check_ids: &[&str]) -> Summary {
        let mut recent = self.recent.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let last_at = check_ids.iter().filter_map(|id| recent.get(*id)?.at.back().copied()).max();
        let main = check_ids.iter().copied().max_by_key(|id| recent.get(*id).map_or(0, |r| r.latency_ms.len()));
        let Some(r) = main.and_then(|id| recent.get_mut(id)) else {
            return Summary { spark: Arc::from(""), last_latency_ms: None, last_at };
        };
        let spark = r
            .spark
            .get_or_insert_with(|| {
                let points: Vec<f64> = r.latency_ms.iter().copied().collect();
                Arc::from(charts::sparkline(&points, 80, 18))
            })
            .clone();
        Summary { spark, last_latency_ms: r.latency_ms.back().copied(), last_at }
    }

    /// Follows the event bus until shutdown: records latencies, and pushes a re-rendered card
    /// when a service's state changes, and a nudge when incidents or approvals change.
    pub async fn run(
        self: Arc<Self>,
        state: AppState,
        mut events: broadcast::Receiver<Event>,
        mut shutdown: watch::Receiver<bool>,
    ) {
        loop {
            let event = tokio::select! {
                e = events.recv() => e,
                _ = shutdown.changed() => return,
            };
            match event {
                Ok(e) => self.handle(&state, e).await,
                Err(broadcast::error::RecvError::Lagged(missed)) => {
                    tracing::debug!(missed, "dashboard fell behind the event bus; lists refresh");
                    self.push("incidents", "changed");
                    self.push("approvals", "changed");
                }
                Err(broadcast::error::RecvError::Closed) => return,
            }
        }
    }

    async fn handle(&self, state: &AppState, event: Event) {
        match event {
            Event::Observed { observation, .. } => {
                self.record(&observation.check_id, observation.at, observation.latency_us);
            }
            Event::StatusChanged { check_id, .. } => {
                if let Some(spec) = state.config.check(&check_id) {
                    self.push_card(state, &spec.service).await;
                }
            }
            Event::IncidentOpened { incident_id }
            | Event::IncidentUpdated { incident_id }
            | Event::IncidentResolved { incident_id } => {
                if let Ok(incident) = state.store.incident(&incident_id).await {
                    self.push_card(state, &incident.service).await;
                }
                self.push("incidents", "changed");
            }
            Event::ActionChanged { .. } => {
                self.push("approvals", "changed");
                self.push_pending(state).await;
            }
        }
    }

    /// The overview's pending-approval count, swapped out of band like a card.
    async fn push_pending(&self, state: &AppState) {
        match crate::dashboard::pages::overview::pending_fragment(state).await {
            Ok(html) => self.push("card", html),
            Err(error) => tracing::warn!(%error, "could not count the pending approvals"),
        }
    }

    async fn push_card(&self, state: &AppState, service: &str) {
        match cards::one(state, service).await {
            Ok(Some(html)) => self.push("card", html),
            Ok(None) => {}
            Err(error) => tracing::warn!(%error, service, "could not render a service card"),
        }
    }
}
