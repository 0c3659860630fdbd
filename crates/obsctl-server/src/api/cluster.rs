//! `GET /api/cluster`: the replicas on this store, their heartbeats, and the checks each runs.

use axum::Json;
use axum::extract::State;
use obsctl_core::cluster::{Replica, owner};
use obsctl_engine::cluster::LEASE;
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
}

#[derive(Serialize, JsonSchema)]
pub struct ReplicaView {
    #[serde(flatten)]
    pub replica: Replica,
    pub live: bool,
    /// Since its last heartbeat, by the store's clock.
    pub heartbeat_age_ms: i64,
    /// The configured checks it runs (live replicas only).
    pub runs: Vec<String>,
}

pub async fn cluster(State(s): State<AppState>) -> Result<Json<ClusterView>, ApiError> {
    Ok(Json(view(&s).await?))
}

/// The cluster as the API and the dashboard's Resources page show it.
pub(crate) async fn view(s: &AppState) -> Result<ClusterView, obsctl_store::StoreError> {
    let (replicas, now) = s.store.replicas().await?;
    let lease = LEASE.as_millis() as i64;
    let live: Vec<String> =
        replicas.iter().filter(|r| now.millis() - r.heartbeat_at.millis() < lease).map(|r| r.id.clone()).collect();
    let views = replicas
        .into_iter()
        .map(|replica| {
            let is_live = live.contains(&replica.id);
            let runs = if is_live {
                s.config
                    .checks
                    .iter()
                    .filter(|c| owner(&c.id, &live) == Some(replica.id.as_str()))
                    .map(|c| c.id.clone())
                    .collect()
            } else {
                Vec::new()
            };
            ReplicaView { heartbeat_age_ms: now.millis() - replica.heartbeat_at.millis(), live: is_live, runs, replica }
        })
        .collect();
    Ok(ClusterView { backend: obsctl_store::backend_of(&s.config.store.url), lease_ms: lease as u64, replicas: views })
}
