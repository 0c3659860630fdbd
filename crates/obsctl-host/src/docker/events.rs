//! The engine's event stream: which containers died on their own (a crash, not a stop that
//! someone asked for), and when the container list changed.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Mutex;
use std::time::Duration;

use bollard::models::EventMessageTypeEnum;
use bollard::query_parameters::EventsOptions;
use tokio_stream::StreamExt;

use super::{Engine, EngineError};

/// A death this soon after a `kill` or `stop` of the same container was asked for.
const DELIBERATE_WITHIN_SECS: i64 = 15;
/// Crashes older than this are forgotten.
const KEEP_SECS: i64 = 24 * 3600;

/// One container event, as the watcher passes it on.
#[derive(Debug, Clone)]
pub struct ContainerEvent {
    /// `start`, `die`, `health_status: unhealthy`, …
    pub action: String,
    pub id: String,
    pub name: String,
    /// The container's labels (and the event's own attributes, such as `exitCode`).
    pub attributes: BTreeMap<String, String>,
    /// Seconds since the epoch.
    pub at: i64,
    /// Nanoseconds since the epoch: the stream's order, and how a replayed event is recognised.
    pub at_nanos: i64,
}

impl ContainerEvent {
    /// Whether the event changes what a list call would say.
    pub fn changes_state(&self) -> bool {
        !self.action.starts_with("exec_") && !matches!(self.action.as_str(), "attach" | "detach" | "resize" | "top")
    }
}

#[derive(Default)]
struct Deaths {
    crashes: VecDeque<i64>,
    asked_at: Option<i64>,
}

/// Crashes per container name, from `die` events not preceded by a `kill` or `stop`.
#[derive(Default)]
pub struct RestartLog {
    state: Mutex<LogState>,
}

#[derive(Default)]
struct LogState {
    by_name: HashMap<String, Deaths>,
    /// Containers whose last word was `die`, with their exit code: the engine's list can say
    /// `running` for a moment after the event, and the event is the truth.
    dead: HashMap<String, i64>,
    /// The newest event recorded: a reconnected stream replays the window, and what it has
    /// already told is not counted twice.
    seen_until: i64,
}

impl RestartLog {
    /// Records one event; false when it was recorded before (a replay).
    pub fn record(&self, event: &ContainerEvent) -> bool {
        let Ok(mut state) = self.state.lock() else { return false };
        if event.at_nanos <= state.seen_until {
            return false;
        }
        state.seen_until = event.at_nanos;
        match event.action.as_str() {
            "die" => {
                let code = event.attributes.get("exitCode").and_then(|c| c.parse().ok()).unwrap_or(-1);
                state.dead.insert(event.name.clone(), code);
            }
            "start" | "destroy" => {
                state.dead.remove(&event.name);
            }
            _ => {}
        }
        let map = &mut state.by_name;
        match event.action.as_str() {
            "kill" | "stop" => map.entry(event.name.clone()).or_default().asked_at = Some(event.at),
            "die" => {
                let deaths = map.entry(event.name.clone()).or_default();
                if deaths.asked_at.is_some_and(|t| event.at - t <= DELIBERATE_WITHIN_SECS) {
                    deaths.asked_at = None;
                    return true;
                }
                deaths.crashes.push_back(event.at);
                while deaths.crashes.front().is_some_and(|t| event.at - t > KEEP_SECS) {
                    deaths.crashes.pop_front();
                }
            }
            "destroy" => {
                map.remove(&event.name);
            }
            _ => {}
        }
        true
    }

    /// The exit code of `name` when its last lifecycle event was a death.
    pub fn died(&self, name: &str) -> Option<i64> {
        self.state.lock().ok().and_then(|s| s.dead.get(name).copied())
    }

    /// How many times `name` crashed at or after `since` (seconds since the epoch).
    pub fn crashes_since(&self, name: &str, since: i64) -> usize {
        self.state
            .lock()
            .map(|s| s.by_name.get(name).map_or(0, |d| d.crashes.iter().filter(|t| **t >= since).count()))
            .unwrap_or(0)
    }
}

impl Engine {
    /// Follows container events from `replay` ago until the stream ends or fails, recording
    /// crashes, keeping the list cache honest and handing each event to `on_event`. Returns
    /// why it stopped; the caller reconnects.
    pub async fn follow_events(
        &self,
        replay: Duration,
        on_event: &mut (dyn FnMut(ContainerEvent) + Send),
    ) -> EngineError {
        let docker = match self.client().await {
            Ok(d) => d,
            Err(e) => return e,
        };
        let since = (std::time::SystemTime::now() - replay)
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or_default();
        let filters = HashMap::from([("type".to_string(), vec!["container".to_string()])]);
        let options = EventsOptions { since: Some(since.to_string()), until: None, filters: Some(filters) };
        self.calls.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let mut stream = docker.events(Some(options));
        // What happened while nobody listened is in the list, not the stream.
        self.invalidate();
        self.following.store(true, std::sync::atomic::Ordering::Relaxed);
        let stopped = loop {
            let message = match stream.next().await {
                Some(Ok(m)) => m,
                Some(Err(e)) => break self.sort(e),
                None => break self.unreachable("the event stream ended"),
            };
            if message.typ != Some(EventMessageTypeEnum::CONTAINER) {
                continue;
            }
            let actor = message.actor.unwrap_or_default();
            let attributes: BTreeMap<String, String> = actor.attributes.unwrap_or_default().into_iter().collect();
            let event = ContainerEvent {
                action: message.action.unwrap_or_default(),
                id: actor.id.unwrap_or_default(),
                name: attributes.get("name").cloned().unwrap_or_default(),
                attributes,
                at: message.time.unwrap_or_default(),
                at_nanos: message.time_nano.unwrap_or_else(|| message.time.unwrap_or_default() * 1_000_000_000),
            };
            if !self.restarts.record(&event) {
                continue;
            }
            if event.changes_state() {
                self.invalidate();
            }
            on_event(event);
        };
        self.following.store(false, std::sync::atomic::Ordering::Relaxed);
        self.disconnect().await;
        stopped
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(action: &str, at: i64) -> ContainerEvent {
        let (id, name, attributes) = ("c1".into(), "web".into(), BTreeMap::new());
        ContainerEvent { action: action.into(), id, name, attributes, at, at_nanos: at * 1_000_000_000 }
    }

    #[test]
    fn only_deaths_nobody_asked_for_count_as_crashes() {
        let log = RestartLog::default();
        for e in [event("die", 100), event("start", 101), event("kill", 200), event("die", 201), event("die", 300)] {
            log.record(&e);
        }
        assert_eq!(log.crashes_since("web", 0), 2, "the die after a kill was asked for");
        assert_eq!(log.crashes_since("web", 250), 1);
        // A reconnected stream replays the window: nothing counts twice.
        assert!(!log.record(&event("die", 300)));
        assert_eq!(log.crashes_since("web", 0), 2);
        assert_eq!(log.died("web"), Some(-1));
        log.record(&event("start", 350));
        assert_eq!(log.died("web"), None);
        log.record(&event("destroy", 400));
        assert_eq!(log.crashes_since("web", 0), 0);
    }
}
