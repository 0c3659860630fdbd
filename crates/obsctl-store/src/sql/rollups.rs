//! The rollups (`obsctl_core::rollup`): each observation batch's hourly and daily sums and
//! latency histograms, added in the batch's transaction; and their reads for the dashboard's
//! uptime and latency views.

use std::collections::HashMap;

use obsctl_core::Timestamp;
use obsctl_core::check::Observation;
use obsctl_core::rollup::{DAY_MS, HOUR_MS, HourLatency, KEEP_DAYS_MS, KEEP_HOURS_MS, SpanTally, Tally, of_batch};

use super::statement::{ROWS_PER_INSERT, values};
use super::{Dialect, SqlStore, sql};
use crate::Result;
use crate::rows::{self, DbRow};

const TALLY_UPSERT: &str = " ON CONFLICT (check_key, span_ms, start_ms) DO UPDATE SET \
     runs = check_rollups.runs + excluded.runs, passes = check_rollups.passes + excluded.passes, \
     unknowns = check_rollups.unknowns + excluded.unknowns, \
     latency_sum_us = check_rollups.latency_sum_us + excluded.latency_sum_us";
const LATENCY_UPSERT: &str =
    " ON CONFLICT (check_key, start_ms, bucket) DO UPDATE SET n = check_latency.n + excluded.n";

/// Adds a batch's sums (`keys`: check id → key) on a transaction's connection, and prunes old
/// rows once an hour.
pub(super) async fn add_batch<D: Dialect>(
    store: &SqlStore<D>,
    conn: &mut D::Connection,
    batch: &[Observation],
    keys: &HashMap<&str, i64>,
) -> Result<()> {
    let key = |id: &str| keys.get(id).copied().unwrap_or_default();
    let (tallies, latencies) = of_batch(batch);
    for chunk in tallies.chunks(ROWS_PER_INSERT) {
        let mut q = sql::<D>(format!(
            "INSERT INTO check_rollups (check_key, span_ms, start_ms, runs, passes, unknowns, latency_sum_us){}{TALLY_UPSERT}",
            values::<D>(chunk.len(), 7)
        ));
        for t in chunk {
            q = q
                .bind(key(&t.check_id))
                .bind(t.span_ms)
                .bind(t.start.millis())
                .bind(t.tally.runs as i64)
                .bind(t.tally.passes as i64)
                .bind(t.tally.unknowns as i64)
                .bind(t.tally.latency_sum_us as i64);
        }
        q.execute(&mut *conn).await?;
    }
    let buckets: Vec<(i64, i64, i64, i64)> = latencies
        .iter()
        .flat_map(|l| {
            let k = key(&l.check_id);
            l.histogram.iter().map(move |(b, n)| (k, l.start.millis(), i64::from(*b), *n as i64))
        })
        .collect();
    for chunk in buckets.chunks(ROWS_PER_INSERT) {
        let mut q = sql::<D>(format!(
            "INSERT INTO check_latency (check_key, start_ms, bucket, n){}{LATENCY_UPSERT}",
            values::<D>(chunk.len(), 4)
        ));
        for (k, start, bucket, n) in chunk {
            q = q.bind(*k).bind(*start).bind(*bucket).bind(*n);
        }
        q.execute(&mut *conn).await?;
    }
    let now = Timestamp::now().millis();
    if store.keys.rollups_due(now / HOUR_MS) {
        for (span, keep) in [(HOUR_MS, KEEP_HOURS_MS), (DAY_MS, KEEP_DAYS_MS)] {
            sql::<D>("DELETE FROM check_rollups WHERE span_ms = $1 AND start_ms < $2")
                .bind(span)
                .bind(now - keep)
                .execute(&mut *conn)
                .await?;
        }
        sql::<D>("DELETE FROM check_latency WHERE start_ms < $1").bind(now - KEEP_HOURS_MS).execute(&mut *conn).await?;
    }
    Ok(())
}

/// Sums per span from `since` of one check (`check_id`) or of all, oldest first per check.
pub(super) async fn tallies<D: Dialect>(
    store: &SqlStore<D>,
    check_id: Option<&str>,
    span_ms: i64,
    since: Timestamp,
) -> Result<Vec<SpanTally>> {
    let rows = sql::<D>(
        "SELECT c.id, r.span_ms, r.start_ms, r.runs, r.passes, r.unknowns, r.latency_sum_us FROM check_rollups r \
         JOIN checks c ON c.key = r.check_key WHERE (CAST($1 AS TEXT) IS NULL OR c.id = $1) \
         AND r.span_ms = $2 AND r.start_ms >= $3 ORDER BY r.check_key, r.start_ms",
    )
    .bind(check_id)
    .bind(span_ms)
    .bind(since.millis())
    .fetch_all(&store.reader)
    .await?;
    rows.iter().map(rows::span_tally).collect()
}

/// Every check's sums over spans from `since` added up.
pub(super) async fn totals<D: Dialect>(
    store: &SqlStore<D>,
    span_ms: i64,
    since: Timestamp,
) -> Result<Vec<(String, Tally)>> {
    let rows = sql::<D>(
        "SELECT c.id, CAST(SUM(r.runs) AS BIGINT) AS runs, CAST(SUM(r.passes) AS BIGINT) AS passes, \
         CAST(SUM(r.unknowns) AS BIGINT) AS unknowns, CAST(SUM(r.latency_sum_us) AS BIGINT) AS latency_sum_us \
         FROM check_rollups r JOIN checks c ON c.key = r.check_key WHERE r.span_ms = $1 AND r.start_ms >= $2 \
         GROUP BY c.id",
    )
    .bind(span_ms)
    .bind(since.millis())
    .fetch_all(&store.reader)
    .await?;
    rows.iter().map(|r| Ok((r.text("id")?, rows::tally(r)?))).collect()
}

/// One check's latency histograms per hour from `since`, oldest first.
pub(super) async fn latency_hours<D: Dialect>(
    store: &SqlStore<D>,
    check_id: &str,
    since: Timestamp,
) -> Result<Vec<HourLatency>> {
    let rows = sql::<D>(
        "SELECT l.start_ms, l.bucket, l.n FROM check_latency l JOIN checks c ON c.key = l.check_key \
         WHERE c.id = $1 AND l.start_ms >= $2 ORDER BY l.start_ms, l.bucket",
    )
    .bind(check_id)
    .bind(since.millis())
    .fetch_all(&store.reader)
    .await?;
    let mut hours: Vec<HourLatency> = Vec::new();
    for r in &rows {
        let start = Timestamp(r.int("start_ms")?);
        if hours.last().is_none_or(|h| h.start != start) {
            hours.push(HourLatency { check_id: check_id.to_string(), start, histogram: Default::default() });
        }
        if let Some(h) = hours.last_mut() {
            h.histogram.insert(u16::try_from(r.int("bucket")?).unwrap_or(u16::MAX), r.int("n")?.max(0) as u64);
        }
    }
    Ok(hours)
}
