//! What the dashboard shows of containers: those a service's `docker` checks watch (state,
//! health, crashes, last log lines) and the engine's disk usage. The engine is asked with a
//! short bound, so a slow or absent one costs a page a line of text, not its load time.

use std::time::Duration;

use obsctl_core::check::Probe;
use obsctl_core::quantity::format_size;
use obsctl_host::docker::{Engine, EngineError, Health, Lifecycle};

use crate::AppState;

/// The longest a page waits for the engine.
const PAGE_BOUND: Duration = Duration::from_secs(3);
/// How old the engine's disk usage on the Resources page may be.
const DISK_AGE: Duration = Duration::from_secs(60);
/// Containers shown with their log lines per service; the rest get a line each.
const WITH_LOGS: usize = 10;
const LOG_LINES: usize = 5;

pub struct ContainerRow {
    pub name: String,
    pub image: String,
    pub state: &'static str,
    /// `ok`, `failing` or `unknown`: the badge's colour.
    pub tone: &'static str,
    pub health: &'static str,
    pub status: String,
    pub crashes: usize,
    pub logs: Vec<String>,
}

/// The containers that `service`'s docker checks select, or why they cannot be shown; `None`
/// when the service has no docker check.
pub async fn for_service(s: &AppState, service: &str) -> Option<Result<Vec<ContainerRow>, String>> {
    let probes: Vec<_> = s
        .config
        .checks
        .iter()
        .filter(|c| c.service == service)
        .filter_map(|c| match &c.probe {
            Probe::Docker(p) => Some(p),
            _ => None,
        })
        .collect();
    if probes.is_empty() {
        return None;
    }
    let engine = &s.monitor.probes().docker;
    let list = match tokio::time::timeout(PAGE_BOUND, engine.containers(Duration::from_secs(2))).await {
        Ok(Ok(list)) => list,
        Ok(Err(e)) => return Some(Err(e.to_string())),
        Err(_) => return Some(Err(slow(engine))),
    };
    let window = probes.iter().map(|p| p.restart_window).max().unwrap_or_default();
    let since = obsctl_core::Timestamp::now().minus(window).0 / 1000;
    let secrets = s.config.secrets();
    let mut rows = Vec::new();
    for c in list.iter().filter(|c| {
        probes.iter().any(|p| obsctl_engine::probes::selects(&p.select, &c.name, &|k| c.labels.get(k).cloned()))
    }) {
        let tone = match (c.state, c.health) {
            (Lifecycle::Running, Health::Unhealthy) => "failing",
            (Lifecycle::Running, _) => "ok",
            (Lifecycle::Restarting | Lifecycle::Exited | Lifecycle::Dead, _) => "failing",
            _ => "unknown",
        };
        rows.push(ContainerRow {
            name: c.name.clone(),
            image: c.image.clone(),
            state: c.state.as_str(),
            tone,
            health: c.health.as_str(),
            status: c.status.clone(),
            crashes: engine.restarts().crashes_since(&c.name, since),
            logs: Vec::new(),
        });
    }
    // The first rows' log lines, fetched together and bounded as a whole.
    let mut tails = tokio::task::JoinSet::new();
    for (i, row) in rows.iter().take(WITH_LOGS).enumerate() {
        let (engine, name) = (engine.clone(), row.name.clone());
        tails.spawn(async move { (i, engine.logs(&name, LOG_LINES, 16 * 1024).await) });
    }
    let deadline = tokio::time::Instant::now() + PAGE_BOUND;
    loop {
        match tokio::time::timeout_at(deadline, tails.join_next()).await {
            Ok(Some(Ok((i, Ok(tail))))) => {
                rows[i].logs = tail
                    .lines
                    .iter()
                    .map(|l| obsctl_core::secret::redact(&obsctl_agent::tools::docker::mask_credentials(l), &secrets))
                    .collect();
            }
            // One container's logs failed: the others may still come.
            Ok(Some(_)) => {}
            // All in, or out of time (the rest are dropped with the set).
            Ok(None) | Err(_) => break,
        }
    }
    Some(Ok(rows))
}

fn slow(engine: &Engine) -> String {
    EngineError::Slow { host: engine.host().to_string(), seconds: PAGE_BOUND.as_secs() }.to_string()
}

/// The engine's disk usage as rows (category, count, size, reclaimable), or why not.
pub async fn disk_usage(s: &AppState) -> Result<Vec<(&'static str, usize, String, String)>, String> {
    let engine = &s.monitor.probes().docker;
    let usage = match tokio::time::timeout(PAGE_BOUND, engine.disk_usage_within(DISK_AGE)).await {
        Ok(Ok(u)) => u,
        Ok(Err(e)) => return Err(e.to_string()),
        Err(_) => return Err(slow(engine)),
    };
    let row =
        |name, u: &obsctl_host::docker::Usage| (name, u.count, format_size(u.bytes), format_size(u.reclaimable_bytes));
    Ok(vec![
        row("images", &usage.images),
        row("containers", &usage.containers),
        row("volumes", &usage.volumes),
        row("build cache", &usage.build_cache),
    ])
}
