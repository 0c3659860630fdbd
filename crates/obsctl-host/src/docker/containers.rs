//! Containers: one list call serves every check of a pass (cached until an event or its
//! age says otherwise), inspect with secrets masked, and start, stop, restart.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use bollard::models::{
    ContainerSummary, ContainerSummaryHealthStatusEnum as HealthStatusEnum, ContainerSummaryStateEnum,
};
use bollard::query_parameters::{
    ListContainersOptions, RestartContainerOptions, StartContainerOptions, StopContainerOptions,
};
use serde::Serialize;
use serde_json::Value;

use super::{CALL_TIMEOUT, Engine, EngineError};

/// Docker Compose's labels for a container's project and service.
pub const COMPOSE_PROJECT: &str = "com.docker.compose.project";
pub const COMPOSE_SERVICE: &str = "com.docker.compose.service";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Lifecycle {
    Created,
    Running,
    Paused,
    Restarting,
    Removing,
    Exited,
    Dead,
    Unknown,
}

impl Lifecycle {
    pub fn as_str(self) -> &'static str {
        match self {
            Lifecycle::Created => "created",
            Lifecycle::Running => "running",
            Lifecycle::Paused => "paused",
            Lifecycle::Restarting => "restarting",
            Lifecycle::Removing => "removing",
            Lifecycle::Exited => "exited",
            Lifecycle::Dead => "dead",
            Lifecycle::Unknown => "unknown",
        }
    }
}

/// A container's healthcheck verdict; `None` when its image defines no healthcheck.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Health {
    None,
    Starting,
    Healthy,
    Unhealthy,
}

impl Health {
    pub fn as_str(self) -> &'static str {
        match self {
            Health::None => "none",
            Health::Starting => "starting",
            Health::Healthy => "healthy",
            Health::Unhealthy => "unhealthy",
        }
    }
}

/// What one list call says of a container.
#[derive(Debug, Clone, Serialize)]
pub struct ContainerInfo {
    pub id: String,
    /// Without the leading slash.
    pub name: String,
    pub image: String,
    pub state: Lifecycle,
    pub health: Health,
    /// The engine's own words, e.g. `Exited (1) 3 seconds ago`.
    pub status: String,
    pub labels: BTreeMap<String, String>,
    /// Seconds since the epoch.
    pub created: i64,
}

impl ContainerInfo {
    pub fn compose_project(&self) -> Option<&str> {
        self.labels.get(COMPOSE_PROJECT).map(String::as_str)
    }

    pub fn compose_service(&self) -> Option<&str> {
        self.labels.get(COMPOSE_SERVICE).map(String::as_str)
    }

    fn from_summary(s: ContainerSummary) -> Self {
        let status = s.status.unwrap_or_default();
        let health = match s.health.and_then(|h| h.status) {
            Some(HealthStatusEnum::HEALTHY) => Health::Healthy,
            Some(HealthStatusEnum::UNHEALTHY) => Health::Unhealthy,
            Some(HealthStatusEnum::STARTING) => Health::Starting,
            Some(_) => Health::None,
            // Engines before API 1.52 only say it in the status text.
            None => health_in_status(&status),
        };
        let state = match s.state {
            Some(ContainerSummaryStateEnum::CREATED) => Lifecycle::Created,
            Some(ContainerSummaryStateEnum::RUNNING) => Lifecycle::Running,
            Some(ContainerSummaryStateEnum::PAUSED) => Lifecycle::Paused,
            Some(ContainerSummaryStateEnum::RESTARTING) => Lifecycle::Restarting,
            Some(ContainerSummaryStateEnum::REMOVING) => Lifecycle::Removing,
            Some(ContainerSummaryStateEnum::EXITED) => Lifecycle::Exited,
            Some(ContainerSummaryStateEnum::DEAD) => Lifecycle::Dead,
            _ => Lifecycle::Unknown,
        };
        let name = s
            .names
            .and_then(|n| n.into_iter().next())
            .map(|n| n.trim_start_matches('/').to_string())
            .unwrap_or_default();
        Self {
            id: s.id.unwrap_or_default(),
            name,
            image: s.image.unwrap_or_default(),
            state,
            health,
            status,
            labels: s.labels.map(|l| l.into_iter().collect()).unwrap_or_default(),
            created: s.created.unwrap_or_default(),
        }
    }
}

/// `Up 3 minutes (unhealthy)` → unhealthy; `(health: starting)` → starting.
fn health_in_status(status: &str) -> Health {
    if status.contains("(unhealthy)") {
        Health::Unhealthy
    } else if status.contains("(healthy)") {
        Health::Healthy
    } else if status.contains("(health: starting)") {
        Health::Starting
    } else {
        Health::None
    }
}

/// How long a list answer serves when no event stream would say it changed.
const UNWATCHED_AGE: Duration = Duration::from_millis(500);

/// The last list answer, reused while it is young and no event made it stale.
#[derive(Default)]
pub(crate) struct ListCache {
    last: tokio::sync::Mutex<Option<(Instant, Arc<Vec<ContainerInfo>>)>>,
    stale: AtomicBool,
}

impl ListCache {
    /// Makes the next `containers` call ask the engine.
    pub(crate) fn forget(&self) {
        self.stale.store(true, Ordering::Relaxed);
    }
}

impl Engine {
    /// Every container (running or not), from a list answer at most `max_age` old. Callers
    /// that arrive together share one request: the lock is held across it.
    /// Without a live event stream to say when it changed, a list is kept half a second at most.
    pub async fn containers(&self, max_age: Duration) -> Result<Arc<Vec<ContainerInfo>>, EngineError> {
        let max_age = if self.following.load(Ordering::Relaxed) { max_age } else { max_age.min(UNWATCHED_AGE) };
        let mut last = self.list.last.lock().await;
        let stale = self.list.stale.swap(false, Ordering::Relaxed);
        if let Some((at, list)) = last.as_ref()
            && !stale
            && at.elapsed() <= max_age
        {
            return Ok(list.clone());
        }
        let started = Instant::now();
        tracing::debug!(stale, max_age_ms = max_age.as_millis() as u64, "listing containers");
        let options = ListContainersOptions { all: true, ..Default::default() };
        let answer = self.call(CALL_TIMEOUT, |d| async move { d.list_containers(Some(options)).await }).await;
        let list = match answer {
            Ok(list) => {
                Arc::new(list.into_iter().map(|s| self.with_events(ContainerInfo::from_summary(s))).collect::<Vec<_>>())
            }
            Err(e) => {
                *last = None;
                return Err(e);
            }
        };
        *last = Some((started, list.clone()));
        Ok(list)
    }

    /// A container as the list says, unless a newer `die` event says it is gone: the engine
    /// updates what it lists a moment after it announces the death.
    fn with_events(&self, mut c: ContainerInfo) -> ContainerInfo {
        if c.state == Lifecycle::Running
            && let Some(code) = self.restarts.died(&c.name)
        {
            c.state = Lifecycle::Exited;
            c.health = Health::None;
            c.status = format!("Exited ({code}) just now");
        }
        c
    }

    /// Makes the next `containers` call ask the engine (something changed).
    pub fn invalidate(&self) {
        self.list.forget();
    }

    /// The engine's whole record of a container, with the values of its environment masked:
    /// they often carry credentials.
    pub async fn inspect(&self, container: &str) -> Result<Value, EngineError> {
        let name = container.to_string();
        let answer = self.call(CALL_TIMEOUT, |d| async move { d.inspect_container(&name, None).await }).await?;
        let mut value = serde_json::to_value(answer).map_err(|e| EngineError::Refused(e.to_string()))?;
        if let Some(env) = value.pointer_mut("/Config/Env").and_then(Value::as_array_mut) {
            for var in env.iter_mut() {
                if let Some((key, _)) = var.as_str().and_then(|v| v.split_once('=')) {
                    *var = Value::String(format!("{key}=***"));
                }
            }
        }
        Ok(value)
    }

    pub async fn start(&self, container: &str) -> Result<(), EngineError> {
        let name = container.to_string();
        self.call(CALL_TIMEOUT, |d| async move { d.start_container(&name, None::<StartContainerOptions>).await })
            .await?;
        self.invalidate();
        Ok(())
    }

    /// Stops a container, killing it after `grace`.
    pub async fn stop(&self, container: &str, grace: Duration) -> Result<(), EngineError> {
        let name = container.to_string();
        let options = StopContainerOptions { t: Some(grace.as_secs() as i32), signal: None };
        self.call(CALL_TIMEOUT + grace, |d| async move { d.stop_container(&name, Some(options)).await }).await?;
        self.invalidate();
        Ok(())
    }

    /// Restarts a container, killing it after `grace` if it does not stop.
    pub async fn restart(&self, container: &str, grace: Duration) -> Result<(), EngineError> {
        let name = container.to_string();
        let options = RestartContainerOptions { t: Some(grace.as_secs() as i32), signal: None };
        self.call(CALL_TIMEOUT + grace, |d| async move { d.restart_container(&name, Some(options)).await }).await?;
        self.invalidate();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn health_is_read_from_old_engines_status_text() {
        let cases = [
            ("Up 3 minutes (unhealthy)", Health::Unhealthy),
            ("Up 3 minutes (healthy)", Health::Healthy),
            ("Up 1 second (health: starting)", Health::Starting),
            ("Exited (1) 2 seconds ago", Health::None),
        ];
        for (status, want) in cases {
            assert_eq!(health_in_status(status), want, "{status}");
        }
    }
}
