//! Throwaway containers: run one command in a fresh container from a named image, limited in
//! CPU, memory and time, and remove it whatever happens. Each carries obsctl's label and its
//! owner's id, so leftovers of a killed obsctl are swept when it starts again.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use bollard::models::{ContainerCreateBody, HostConfig};
use bollard::query_parameters::{
    CreateContainerOptions, ListContainersOptions, RemoveContainerOptions, StartContainerOptions, WaitContainerOptions,
};
use tokio_stream::StreamExt;

use super::{CALL_TIMEOUT, Engine, EngineError};

/// Every throwaway container carries this label; its value is the owner's id.
pub const THROWAWAY_LABEL: &str = "dev.obsctl.throwaway";

/// One command to run in a throwaway container.
#[derive(Debug, Clone)]
pub struct ThrowawaySpec {
    pub image: String,
    pub command: Vec<String>,
    pub env: Vec<(String, String)>,
    /// `none` (the default), `bridge`, `host` or a network's name.
    pub network: String,
    /// `host:container[:ro]`, as `docker run -v` takes them.
    pub mounts: Vec<String>,
    pub cpus: f64,
    pub memory_bytes: u64,
    pub timeout: Duration,
    /// The value of `THROWAWAY_LABEL`: whose container this is.
    pub owner: String,
    /// The most output kept.
    pub max_output: usize,
}

/// How the command ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ThrowawayOutcome {
    Exited { code: i64, output: String, took: Duration },
    TimedOut { output: String },
}

impl Engine {
    /// Runs `spec` in a new container and removes it, also when the run fails or times out.
    /// An image that is not on the engine is a `NotFound` (obsctl never pulls).
    pub async fn run_throwaway(&self, spec: &ThrowawaySpec) -> Result<ThrowawayOutcome, EngineError> {
        let body = ContainerCreateBody {
            image: Some(spec.image.clone()),
            cmd: Some(spec.command.clone()),
            env: Some(spec.env.iter().map(|(k, v)| format!("{k}={v}")).collect()),
            labels: Some(HashMap::from([(THROWAWAY_LABEL.to_string(), spec.owner.clone())])),
            network_disabled: Some(spec.network == "none"),
            host_config: Some(HostConfig {
                network_mode: Some(spec.network.clone()),
                binds: Some(spec.mounts.clone()),
                nano_cpus: Some((spec.cpus * 1e9) as i64),
                memory: Some(spec.memory_bytes as i64),
                memory_swap: Some(spec.memory_bytes as i64),
                pids_limit: Some(256),
                ..Default::default()
            }),
            ..Default::default()
        };
        let created = self
            .call(CALL_TIMEOUT, |d| async move { d.create_container(None::<CreateContainerOptions>, body).await })
            .await
            .map_err(|e| match e {
                EngineError::NotFound(m) => EngineError::NotFound(format!(
                    "{m}; obsctl never pulls: run `docker pull {}` (or build it) on the engine first",
                    spec.image
                )),
                other => other,
            })?;
        let id = created.id;
        let outcome = self.start_and_wait(&id, spec).await;
        self.remove_forcibly(&id).await;
        outcome
    }

    async fn start_and_wait(&self, id: &str, spec: &ThrowawaySpec) -> Result<ThrowawayOutcome, EngineError> {
        let started = Instant::now();
        let name = id.to_string();
        self.call(CALL_TIMEOUT, |d| async move { d.start_container(&name, None::<StartContainerOptions>).await })
            .await?;
        let left = spec.timeout.saturating_sub(started.elapsed());
        let name = id.to_string();
        let waited = self
            .call(left, |d| async move {
                let mut stream = d.wait_container(&name, None::<WaitContainerOptions>);
                match stream.next().await {
                    Some(Ok(r)) => Ok(r.status_code),
                    // bollard reports a non-zero exit as an error carrying the code.
                    Some(Err(bollard::errors::Error::DockerContainerWaitError { code, .. })) => Ok(code),
                    Some(Err(e)) => Err(e),
                    None => Ok(-1),
                }
            })
            .await;
        let took = started.elapsed();
        let output = self.logs(id, super::logs::MAX_TAIL, spec.max_output).await.map(|t| t.lines.join("\n"));
        match waited {
            Ok(code) => Ok(ThrowawayOutcome::Exited { code, output: output.unwrap_or_default(), took }),
            Err(EngineError::Slow { .. }) => Ok(ThrowawayOutcome::TimedOut { output: output.unwrap_or_default() }),
            Err(e) => Err(e),
        }
    }

    async fn remove_forcibly(&self, id: &str) {
        let name = id.to_string();
        let options = RemoveContainerOptions { force: true, v: true, link: false };
        if let Err(error) =
            self.call(CALL_TIMEOUT, |d| async move { d.remove_container(&name, Some(options)).await }).await
        {
            tracing::warn!(%error, container = id, "could not remove a throwaway container; the next start sweeps it");
        }
    }

    /// Removes every throwaway container of `owner` left by an earlier run (killed mid-check);
    /// returns how many.
    pub async fn sweep_throwaways(&self, owner: &str) -> Result<usize, EngineError> {
        let filters = HashMap::from([("label".to_string(), vec![format!("{THROWAWAY_LABEL}={owner}")])]);
        let options = ListContainersOptions { all: true, filters: Some(filters), ..Default::default() };
        let left = self.call(CALL_TIMEOUT, |d| async move { d.list_containers(Some(options)).await }).await?;
        for c in &left {
            if let Some(id) = &c.id {
                self.remove_forcibly(id).await;
            }
        }
        Ok(left.len())
    }
}
