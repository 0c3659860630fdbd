//! What checks saw: observations (with their rollups), each check's status and target, and
//! the latest telemetry report per service.

use std::collections::HashMap;

use async_trait::async_trait;
use obsctl_core::Timestamp;
use obsctl_core::check::Observation;
use obsctl_core::rollup::{HourLatency, SpanTally, Tally};
use obsctl_core::state::CheckStatus;
use obsctl_core::telemetry::Report as TelemetryReport;

use super::statement::{ROWS_PER_INSERT, values};
use super::{Dialect, SqlStore, rollups, sql};
use crate::filters::limit_or_default;
use crate::keys::{Retargeting, TargetWrite};
use crate::rows::DbRow;
use crate::{CheckHistory, Result, StoreError, rows};

/// A check's key, stored on first sight (with the target `CheckKeys` expects of it) and kept.
async fn check_key<D: Dialect>(store: &SqlStore<D>, check_id: &str) -> Result<i64> {
    if let Some(k) = store.keys.get(check_id)? {
        return Ok(k);
    }
    sql::<D>("INSERT INTO checks (id, target) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING")
        .bind(check_id)
        .bind(store.keys.expected_target(check_id)?)
        .execute(&store.writer)
        .await?;
    let key = sql::<D>("SELECT key FROM checks WHERE id = $1").bind(check_id).int(&store.writer).await?;
    store.keys.remember(check_id, key)?;
    Ok(key)
}

#[async_trait]
impl<D: Dialect> CheckHistory for SqlStore<D> {
    async fn record_observations(&self, batch: &[Observation], keep_per_check: u32) -> Result<()> {
        let mut keys = Vec::with_capacity(batch.len());
        for o in batch {
            keys.push(check_key(self, &o.check_id).await?);
        }
        let due = self.keys.due_for_prune(&keys, keep_per_check)?;
        let mut tx = self.writer.begin().await?;
        let rows: Vec<(&Observation, i64)> = batch.iter().zip(keys.iter().copied()).collect();
        for chunk in rows.chunks(ROWS_PER_INSERT) {
            let mut q = sql::<D>(format!(
                "INSERT INTO observations (check_key, at, ok, latency_us, detail){}",
                values::<D>(chunk.len(), 5)
            ));
            for (o, key) in chunk {
                q = q.bind(*key).bind(o.at.millis()).bind(rows::outcome(o)).bind(o.latency_us as i64).bind(&o.detail);
            }
            q.execute(&mut *tx).await?;
        }
        for key in due {
            sql::<D>(
                "DELETE FROM observations WHERE check_key = $1 AND seq <= \
                 (SELECT seq FROM observations WHERE check_key = $1 ORDER BY seq DESC LIMIT 1 OFFSET $2)",
            )
            .bind(key)
            .bind(i64::from(keep_per_check))
            .execute(&mut *tx)
            .await?;
        }
        let keys: HashMap<&str, i64> = batch.iter().map(|o| o.check_id.as_str()).zip(keys.iter().copied()).collect();
        rollups::add_batch(self, &mut tx, batch, &keys).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn recent_observations(&self, check_id: &str, limit: u32) -> Result<Vec<Observation>> {
        let rows = sql::<D>(
            "SELECT c.id AS check_id, o.at, o.ok, o.latency_us, o.detail FROM observations o \
             JOIN checks c ON c.key = o.check_key WHERE c.id = $1 ORDER BY o.seq DESC LIMIT $2",
        )
        .bind(check_id)
        .bind(limit_or_default(limit))
        .fetch_all(&self.reader)
        .await?;
        rows.iter().map(rows::observation).collect()
    }

    async fn latest_observations(&self) -> Result<Vec<Observation>> {
        let rows = sql::<D>(format!(
            "SELECT c.id AS check_id, o.at, o.ok, o.latency_us, o.detail FROM checks c {} ORDER BY c.id",
            D::LATEST_OBSERVATION
        ))
        .fetch_all(&self.reader)
        .await?;
        rows.iter().map(rows::observation).collect()
    }

    async fn check_tallies(&self, check_id: &str, span_ms: i64, since: Timestamp) -> Result<Vec<SpanTally>> {
        rollups::tallies(self, Some(check_id), span_ms, since).await
    }

    async fn all_tallies(&self, span_ms: i64, since: Timestamp) -> Result<Vec<SpanTally>> {
        rollups::tallies(self, None, span_ms, since).await
    }

    async fn tally_totals(&self, span_ms: i64, since: Timestamp) -> Result<Vec<(String, Tally)>> {
        rollups::totals(self, span_ms, since).await
    }

    async fn latency_hours(&self, check_id: &str, since: Timestamp) -> Result<Vec<HourLatency>> {
        rollups::latency_hours(self, check_id, since).await
    }

    async fn save_check_status(&self, check_id: &str, status: CheckStatus, at: Timestamp) -> Result<()> {
        let key = check_key(self, check_id).await?;
        sql::<D>("UPDATE checks SET status = $1, status_at = $2 WHERE key = $3")
            .bind(status.as_str())
            .bind(at.millis())
            .bind(key)
            .execute(&self.writer)
            .await?;
        Ok(())
    }

    async fn retarget_checks(&self, targets: &[(String, String)], now: Timestamp) -> Result<Vec<String>> {
        let mut tx = D::begin_write(&self.writer).await?;
        let mut retargeting = Retargeting::default();
        for (id, target) in targets {
            let stored = sql::<D>(format!("SELECT target FROM checks WHERE id = $1{}", D::FOR_UPDATE))
                .bind(id)
                .fetch_optional(&mut *tx)
                .await?
                .map(|row| row.opt_text("target"))
                .transpose()?;
            let write = match retargeting.decide(id, stored, target, now) {
                None => continue,
                Some(TargetWrite::Adopt(digest)) => {
                    sql::<D>("UPDATE checks SET target = $1 WHERE id = $2").bind(digest)
                }
                Some(TargetWrite::SetAside(aside)) => sql::<D>("UPDATE checks SET id = $1 WHERE id = $2").bind(aside),
            };
            write.bind(id).execute(&mut *tx).await?;
        }
        tx.commit().await?;
        retargeting.finish(&self.keys)
    }

    async fn check_statuses(&self) -> Result<Vec<(String, CheckStatus, Timestamp)>> {
        let rows = sql::<D>("SELECT id, status, status_at FROM checks ORDER BY id").fetch_all(&self.reader).await?;
        rows.iter()
            .map(|r| Ok((r.text("id")?, CheckStatus::parse(&r.text("status")?), Timestamp(r.int("status_at")?))))
            .collect()
    }

    async fn save_telemetry_report(&self, r: &TelemetryReport) -> Result<()> {
        let at = r.received_at.ok_or_else(|| StoreError::Backend("a telemetry report is kept once received".into()))?;
        sql::<D>(
            "INSERT INTO telemetry_reports (service, received_at, ok, report) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (service) DO UPDATE SET received_at = excluded.received_at, ok = excluded.ok, \
             report = excluded.report",
        )
        .bind(&r.service)
        .bind(at.millis())
        .bind(r.ok)
        .bind(serde_json::to_string(r)?)
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    async fn telemetry_reports(&self) -> Result<Vec<TelemetryReport>> {
        let rows = sql::<D>("SELECT report FROM telemetry_reports ORDER BY service").fetch_all(&self.reader).await?;
        rows.iter().map(rows::telemetry_report).collect()
    }
}
