//! Replicas on one store: heartbeats, leases and what replicas tell each other, all judged by
//! the store's clock (`Dialect::NOW_MS`), never by a replica's own.

use std::time::Duration;

use async_trait::async_trait;
use obsctl_core::Timestamp;
use obsctl_core::cluster::Replica;

use super::{Dialect, SqlStore, sql};
use crate::{Cluster, Lease, Result, rows};

/// A replica silent this long is forgotten.
const FORGET_AFTER_MS: i64 = 3_600_000;

#[async_trait]
impl<D: Dialect> Cluster for SqlStore<D> {
    async fn heartbeat(&self, me: &Replica, lease: Duration, grace: Duration) -> Result<Vec<Replica>> {
        let now = D::NOW_MS;
        let mut tx = self.writer.begin().await?;
        // A new row, or one whose heartbeat had lapsed, starts its share after the grace.
        sql::<D>(format!(
            "INSERT INTO replicas (id, host, pid, listen, started_at, heartbeat_at, checks, clock_offset_ms, active_from) \
             VALUES ($1, $2, $3, $4, $5, {now}, $6, $7 - {now}, {now} + $8) ON CONFLICT (id) DO UPDATE SET \
             heartbeat_at = excluded.heartbeat_at, checks = excluded.checks, listen = excluded.listen, \
             clock_offset_ms = excluded.clock_offset_ms, active_from = CASE WHEN replicas.heartbeat_at <= {now} - $9 \
             THEN excluded.active_from ELSE replicas.active_from END"
        ))
        .bind(&me.id)
        .bind(&me.host)
        .bind(i64::from(me.pid))
        .bind(&me.listen)
        .bind(me.started_at.millis())
        .bind(i64::from(me.checks))
        .bind(me.heartbeat_at.millis())
        .bind(grace.as_millis() as i64)
        .bind(lease.as_millis() as i64)
        .execute(&mut *tx)
        .await?;
        sql::<D>(format!("DELETE FROM replicas WHERE heartbeat_at < {now} - {FORGET_AFTER_MS}"))
            .execute(&mut *tx)
            .await?;
        let live = sql::<D>(format!("SELECT * FROM replicas WHERE heartbeat_at > {now} - $1 ORDER BY id"))
            .bind(lease.as_millis() as i64)
            .fetch_all(&mut *tx)
            .await?;
        tx.commit().await?;
        live.iter().map(rows::replica).collect()
    }

    async fn leave(&self, id: &str) -> Result<()> {
        sql::<D>("DELETE FROM replicas WHERE id = $1").bind(id).execute(&self.writer).await?;
        Ok(())
    }

    async fn replicas(&self) -> Result<(Vec<Replica>, Timestamp)> {
        let all = sql::<D>("SELECT * FROM replicas ORDER BY id").fetch_all(&self.writer).await?;
        let now = sql::<D>(format!("SELECT {}", D::NOW_MS)).int(&self.writer).await?;
        Ok((all.iter().map(rows::replica).collect::<Result<Vec<_>>>()?, Timestamp(now)))
    }

    async fn try_lease(&self, name: &str, holder: &str, ttl: Duration) -> Result<bool> {
        let now = D::NOW_MS;
        let taken = sql::<D>(format!(
            "INSERT INTO leases (name, holder, expires_at) VALUES ($1, $2, {now} + $3) ON CONFLICT (name) DO UPDATE \
             SET holder = excluded.holder, expires_at = excluded.expires_at \
             WHERE leases.holder = excluded.holder OR leases.expires_at < {now}"
        ))
        .bind(name)
        .bind(holder)
        .bind(ttl.as_millis() as i64)
        .execute(&self.writer)
        .await?;
        Ok(taken == 1)
    }

    async fn lease(&self, name: &str) -> Result<Option<Lease>> {
        let row = sql::<D>(format!(
            "SELECT holder, expires_at, CAST(CASE WHEN expires_at > {} THEN 1 ELSE 0 END AS BIGINT) AS live \
             FROM leases WHERE name = $1",
            D::NOW_MS
        ))
        .bind(name)
        .fetch_optional(&self.writer)
        .await?;
        use crate::rows::DbRow;
        row.map(|r| {
            Ok(Lease { holder: r.text("holder")?, until: Timestamp(r.int("expires_at")?), live: r.int("live")? == 1 })
        })
        .transpose()
    }

    async fn release_lease(&self, name: &str, holder: &str) -> Result<()> {
        sql::<D>("DELETE FROM leases WHERE name = $1 AND holder = $2")
            .bind(name)
            .bind(holder)
            .execute(&self.writer)
            .await?;
        Ok(())
    }

    async fn notify_replicas(&self, payload: &str) -> Result<()> {
        D::notify(&self.writer, payload).await
    }

    async fn replica_notices(&self) -> Result<Option<tokio::sync::mpsc::Receiver<String>>> {
        D::listen(&self.writer).await
    }
}
