//! `GET /api/cluster`: the replicas on this store, their heartbeats and clocks, the checks each
//! runs, and which one holds the agent lease (plans and acts).

use axum::Json;
use axum::extract::State;
use obsctl_core::cluster::{Replica, active, owner};
use obsctl_engine::cluster::{LEASE, SKEW_WARNING};
use schemars::JsonSchema;
use serde::Serialize;

use crate::{ApiError, AppState};

#[derive(Serialize, JsonSchema)]
pub struct ClusterView {
    /// `postgres` (replicas share the checks) or `sqlite` (one replica).
    pub backend: &'static str,
    /// A replica whose heartbeat is older than this is gone.
    pub lease_ms: u64,
    pub replicas: Vec<ReplicaView>,
    /// The agent lease: the one process that plans and acts, if any holds it.
    pub agent_lease: Option<AgentLeaseView>,
}

#[derive(Serialize, JsonSchema)]
pub struct AgentLeaseView {
    /// `serve:<host>:<pid>:<nonce>`.
    pub holder: String,
    /// Whether it is still ahead of the store's clock.
    pub live: bool,
    /// Until it ends unless renewed, by the store's clock (negative: ended that long ago).
    pub expires_in_ms: i64,
}

#[derive(Serialize, JsonSchema)]
pub struct ReplicaView {
    #[serde(flatten)]
    pub replica: Replica,
    pub live: bool,
    /// Since its last heartbeat, by the store's clock.
    pub heartbeat_age_ms: i64,
    /// The configured checks it runs (live replicas past their `active_from` only).
    pub runs: Vec<String>,
    /// It holds the live agent lease: it is the one that plans and acts.
    pub acts: bool,
    /// Its clock is off the store's by more than 2 s (`clock_offset_ms`): the times it writes are too.
    pub clock_skewed: bool,
}

pub async fn cluster(State(s): State<AppState>) -> Result<Json<ClusterView>, ApiError> {
    Ok(Json(view(&s).await?))
}

/// The cluster as the API and the dashboard's Resources page show it.
pub(crate) async fn view(s: &AppState) -> Result<ClusterView, obsctl_store::StoreError> {
    let (replicas, now) = s.store.replicas().await?;
    let agent_lease = s.store.lease(obsctl_agent::leadership::AGENT_LEASE).await?.map(|l| AgentLeaseView {
        expires_in_ms: l.until.millis() - now.millis(),
        live: l.live,
        holder: l.holder,
    });
    let acting = |r: &Replica| {
        agent_lease.as_ref().is_some_and(|l| l.live && l.holder.starts_with(&format!("serve:{}:{}:", r.host, r.pid)))
    };
    let lease = LEASE.as_millis() as i64;
    let live: Vec<Replica> =
        replicas.iter().filter(|r| now.millis() - r.heartbeat_at.millis() < lease).cloned().collect();
    let views = replicas
        .into_iter()
        .map(|replica| {
            let is_live = live.iter().any(|r| r.id == replica.id);
            let runs = s
                .config
                .checks
                .iter()
                .filter(|c| owner(&c.id, active(&live, now)) == Some(replica.id.as_str()))
                .map(|c| c.id.clone())
                .collect();
            let heartbeat_age_ms = now.millis() - replica.heartbeat_at.millis();
            let clock_skewed = replica.clock_offset_ms.unsigned_abs() > SKEW_WARNING.as_millis() as u64;
            let acts = is_live && acting(&replica);
            ReplicaView { heartbeat_age_ms, live: is_live, runs, acts, clock_skewed, replica }
        })
        .collect();
    let backend = obsctl_store::backend_of(&s.config.store.url);
    Ok(ClusterView { backend, lease_ms: lease as u64, replicas: views, agent_lease })
}
