//! The rollups' SQL for both backends (`obsctl_core::rollup`): written with each observation
//! batch, in the same transaction, and read by the dashboard's uptime and latency views. A macro
//! because each backend's database type and placeholders differ; `$p1`, `$p2` are the
//! placeholders and `$int` the cast a sum needs to read back as an integer.

/// The upserts that add sums and histograms to what is stored.
pub(crate) const TALLY_UPSERT: &str = " ON CONFLICT (check_key, span_ms, start_ms) DO UPDATE SET \
     runs = check_rollups.runs + excluded.runs, passes = check_rollups.passes + excluded.passes, \
     unknowns = check_rollups.unknowns + excluded.unknowns, \
     latency_sum_us = check_rollups.latency_sum_us + excluded.latency_sum_us";
pub(crate) const LATENCY_UPSERT: &str =
    " ON CONFLICT (check_key, start_ms, bucket) DO UPDATE SET n = check_latency.n + excluded.n";

/// Rows per rollup INSERT (7 values each).
pub(crate) const ROLLUP_ROWS: usize = 500;

macro_rules! rollup_sql {
    // Adds a batch's sums (`$keys`: check id → key) on `$tx`, and prunes old rows once an hour.
    (@write $db:ty, $tx:ident, $self:ident, $batch:expr, $keys:expr, p = [$p1:literal, $p2:literal]) => {{
        use obsctl_core::rollup::{DAY_MS, HOUR_MS, KEEP_DAYS_MS, KEEP_HOURS_MS, of_batch};
        let key = |id: &str| $keys.get(id).copied().unwrap_or_default();
        let (tallies, latencies) = of_batch($batch);
        for chunk in tallies.chunks(crate::rollups::ROLLUP_ROWS) {
            let mut q = sqlx::QueryBuilder::<$db>::new(
                "INSERT INTO check_rollups (check_key, span_ms, start_ms, runs, passes, unknowns, latency_sum_us) ",
            );
            q.push_values(chunk, |mut b, t| {
                b.push_bind(key(&t.check_id))
                    .push_bind(t.span_ms)
                    .push_bind(t.start.millis())
                    .push_bind(t.tally.runs as i64)
                    .push_bind(t.tally.passes as i64)
                    .push_bind(t.tally.unknowns as i64)
                    .push_bind(t.tally.latency_sum_us as i64);
            });
            q.push(crate::rollups::TALLY_UPSERT);
            q.build().execute(&mut *$tx).await?;
        }
        let buckets: Vec<(i64, i64, i64, i64)> = latencies
            .iter()
            .flat_map(|l| {
                let k = key(&l.check_id);
                l.histogram.iter().map(move |(b, n)| (k, l.start.millis(), i64::from(*b), *n as i64))
            })
            .collect();
        for chunk in buckets.chunks(crate::rollups::ROLLUP_ROWS) {
            let mut q = sqlx::QueryBuilder::<$db>::new("INSERT INTO check_latency (check_key, start_ms, bucket, n) ");
            q.push_values(chunk, |mut b, (k, start, bucket, n)| {
                b.push_bind(*k).push_bind(*start).push_bind(*bucket).push_bind(*n);
            });
            q.push(crate::rollups::LATENCY_UPSERT);
            q.build().execute(&mut *$tx).await?;
        }
        let now = obsctl_core::Timestamp::now().millis();
        if $self.keys.rollups_due(now / HOUR_MS) {
            sqlx::query(concat!("DELETE FROM check_rollups WHERE span_ms = ", $p1, " AND start_ms < ", $p2))
                .bind(HOUR_MS)
                .bind(now - KEEP_HOURS_MS)
                .execute(&mut *$tx)
                .await?;
            sqlx::query(concat!("DELETE FROM check_rollups WHERE span_ms = ", $p1, " AND start_ms < ", $p2))
                .bind(DAY_MS)
                .bind(now - KEEP_DAYS_MS)
                .execute(&mut *$tx)
                .await?;
            sqlx::query(concat!("DELETE FROM check_latency WHERE start_ms < ", $p1))
                .bind(now - KEEP_HOURS_MS)
                .execute(&mut *$tx)
                .await?;
        }
    }};
    // One check's sums, or every check's: the same SELECT, filter pieces and binds differ.
    (@tallies $pool:expr, where = [$($w:literal),+], order = $order:literal, binds = [$($b:expr),+]) => {{
        let query = sqlx::query(concat!(
            "SELECT c.id, r.span_ms, r.start_ms, r.runs, r.passes, r.unknowns, r.latency_sum_us FROM check_rollups r ",
            "JOIN checks c ON c.key = r.check_key WHERE ", $($w,)+ " ORDER BY ", $order
        ));
        let rows = query$(.bind($b))+.fetch_all(&$pool).await?;
        rows.iter().map(crate::rows::span_tally).collect()
    }};
    (@totals $pool:expr, $span:expr, $since:expr, int = $int:literal, p = [$p1:literal, $p2:literal]) => {{
        let rows = sqlx::query(concat!(
            "SELECT c.id, SUM(r.runs)",
            $int,
            " AS runs, SUM(r.passes)",
            $int,
            " AS passes, SUM(r.unknowns)",
            $int,
            " AS unknowns, SUM(r.latency_sum_us)",
            $int,
            " AS latency_sum_us FROM check_rollups r ",
            "JOIN checks c ON c.key = r.check_key WHERE r.span_ms = ",
            $p1,
            " AND r.start_ms >= ",
            $p2,
            " GROUP BY c.id"
        ))
        .bind($span)
        .bind($since.millis())
        .fetch_all(&$pool)
        .await?;
        rows.iter().map(|r| Ok((crate::rows::DbRow::text(r, "id")?, crate::rows::tally(r)?))).collect()
    }};
    (@latency $pool:expr, $check:expr, $since:expr, p = [$p1:literal, $p2:literal]) => {{
        let rows = sqlx::query(concat!(
            "SELECT l.start_ms, l.bucket, l.n FROM check_latency l JOIN checks c ON c.key = l.check_key ",
            "WHERE c.id = ",
            $p1,
            " AND l.start_ms >= ",
            $p2,
            " ORDER BY l.start_ms, l.bucket"
        ))
        .bind($check)
        .bind($since.millis())
        .fetch_all(&$pool)
        .await?;
        let mut hours: Vec<obsctl_core::rollup::HourLatency> = Vec::new();
        for r in &rows {
            let start = obsctl_core::Timestamp(crate::rows::DbRow::int(r, "start_ms")?);
            if hours.last().is_none_or(|h| h.start != start) {
                hours.push(obsctl_core::rollup::HourLatency {
                    check_id: $check.to_string(),
                    start,
                    histogram: Default::default(),
                });
            }
            if let Some(h) = hours.last_mut() {
                h.histogram.insert(
                    u16::try_from(crate::rows::DbRow::int(r, "bucket")?).unwrap_or(u16::MAX),
                    crate::rows::DbRow::int(r, "n")?.max(0) as u64,
                );
            }
        }
        Ok(hours)
    }};
}
pub(crate) use rollup_sql;
