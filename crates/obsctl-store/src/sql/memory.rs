//! Incident memory: episodes, the fix ledger folded from them (never diverging: both change in
//! one transaction), and where sync is with each peer.

use std::collections::BTreeMap;

use async_trait::async_trait;
use obsctl_core::Timestamp;
use obsctl_core::memory::sync::SyncState;
use obsctl_core::memory::{Episode, LedgerEntry, learn};

use super::statement::Statement;
use super::{Dialect, SqlStore, sql};
use crate::error::found;
use crate::filters::limit_or_default;
use crate::rows::DbRow;
use crate::{Memory, Result, StoredEpisode, Upserted, rows};

const EPISODE_INSERT: &str = "INSERT INTO episodes (id, incident_id, fingerprint, cluster, service, kind, labels, \
     text, actions, outcome, opened_at, ended_at, time_to_recover_ms, content_hash, origin, source, stored_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17) ON CONFLICT (id) DO ";

const EPISODE_REPLACE: &str = "UPDATE SET incident_id = excluded.incident_id, fingerprint = excluded.fingerprint, \
     cluster = excluded.cluster, service = excluded.service, kind = excluded.kind, labels = excluded.labels, \
     text = excluded.text, actions = excluded.actions, outcome = excluded.outcome, opened_at = excluded.opened_at, \
     ended_at = excluded.ended_at, time_to_recover_ms = excluded.time_to_recover_ms, \
     content_hash = excluded.content_hash, origin = excluded.origin, source = excluded.source, \
     stored_at = excluded.stored_at";

const LEDGER_UPSERT: &str = "INSERT INTO ledger (cluster, action_key, steps, attempts, successes, failures, \
     median_ttr_ms, ttr_samples_ms, last_used, episodes, remote_attempts, remote_successes) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) ON CONFLICT (cluster, action_key) DO UPDATE SET \
     steps = excluded.steps, attempts = excluded.attempts, successes = excluded.successes, \
     failures = excluded.failures, median_ttr_ms = excluded.median_ttr_ms, ttr_samples_ms = excluded.ttr_samples_ms, \
     last_used = excluded.last_used, episodes = excluded.episodes, remote_attempts = excluded.remote_attempts, \
     remote_successes = excluded.remote_successes";

/// Binds an `Episode` in column order (16 values), then when it is stored.
fn bind_episode<D: Dialect>(q: Statement<D>, e: &Episode, stored_at: Timestamp) -> Result<Statement<D>> {
    Ok(q.bind(&e.id)
        .bind(&e.incident_id)
        .bind(&e.fingerprint)
        .bind(&e.cluster)
        .bind(&e.service)
        .bind(&e.kind)
        .bind(serde_json::to_string(&e.labels)?)
        .bind(&e.text)
        .bind(serde_json::to_string(&e.actions)?)
        .bind(e.outcome.as_str())
        .bind(e.opened_at.millis())
        .bind(e.ended_at.millis())
        .bind(e.time_to_recover_ms)
        .bind(&e.content_hash)
        .bind(&e.origin)
        .bind(&e.source)
        .bind(stored_at.millis()))
}

/// Writes a ledger entry.
async fn upsert_ledger<D: Dialect>(conn: &mut D::Connection, l: &LedgerEntry) -> Result<()> {
    sql::<D>(LEDGER_UPSERT)
        .bind(&l.cluster)
        .bind(&l.action_key)
        .bind(serde_json::to_string(&l.steps)?)
        .bind(i64::from(l.attempts))
        .bind(i64::from(l.successes))
        .bind(i64::from(l.failures))
        .bind(l.median_ttr_ms)
        .bind(serde_json::to_string(&l.ttr_samples_ms)?)
        .bind(l.last_used.millis())
        .bind(serde_json::to_string(&l.episodes)?)
        .bind(i64::from(l.remote_attempts))
        .bind(i64::from(l.remote_successes))
        .execute(conn)
        .await?;
    Ok(())
}

/// `remember` (`replace` false) and `upsert_episode` (true), in one transaction. A new
/// episode is inserted and each attempt folded into its ledger row. A known id changes
/// nothing for `remember`; for `upsert` an episode whose content hash differs replaces the
/// stored one, and the ledger of its old and new cluster is folded again from their episodes.
async fn episode_in_tx<D: Dialect>(store: &SqlStore<D>, e: &Episode, replace: bool, local: &str) -> Result<Upserted> {
    // An episode this deployment did not verify (learned elsewhere, imported, or claiming
    // to be ours): the ledger counts its attempts apart.
    let remote_of = |e: &Episode| !e.verified_here(local);
    // It reads before it writes.
    let mut tx = D::begin_write(&store.writer).await?;
    // Strictly after every episode written before, even within one millisecond: followers
    // of `(stored_at, id)` never miss a write that lands beside their cursor.
    let last = sql::<D>("SELECT COALESCE(MAX(stored_at), 0) FROM episodes").int(&mut *tx).await?;
    let now = Timestamp(Timestamp::now().millis().max(last + 1));
    let insert = bind_episode(sql::<D>(format!("{EPISODE_INSERT}NOTHING")), e, now)?;
    if insert.execute(&mut *tx).await? == 1 {
        for attempt in e.actions.iter().filter(|a| a.learn) {
            let previous =
                sql::<D>(format!("SELECT * FROM ledger WHERE cluster = $1 AND action_key = $2{}", D::FOR_UPDATE))
                    .bind(&e.cluster)
                    .bind(&attempt.action_key)
                    .fetch_optional(&mut *tx)
                    .await?;
            let previous = previous.as_ref().map(rows::ledger).transpose()?;
            let next = learn(previous, &e.cluster, attempt, &e.id, e.ended_at, remote_of(e));
            upsert_ledger::<D>(&mut tx, &next).await?;
        }
        tx.commit().await?;
        return Ok(Upserted::Added);
    }
    if !replace {
        return Ok(Upserted::Unchanged);
    }
    let existing = sql::<D>(format!("SELECT content_hash, cluster FROM episodes WHERE id = $1{}", D::FOR_UPDATE))
        .bind(&e.id)
        .fetch_one(&mut *tx)
        .await?;
    if existing.text("content_hash")? == e.content_hash {
        return Ok(Upserted::Unchanged);
    }
    bind_episode(sql::<D>(format!("{EPISODE_INSERT}{EPISODE_REPLACE}")), e, now)?.execute(&mut *tx).await?;
    let mut clusters = vec![existing.text("cluster")?];
    if !clusters.contains(&e.cluster) {
        clusters.push(e.cluster.clone());
    }
    for cluster in &clusters {
        sql::<D>("DELETE FROM ledger WHERE cluster = $1").bind(cluster).execute(&mut *tx).await?;
        let episodes = sql::<D>("SELECT * FROM episodes WHERE cluster = $1 ORDER BY ended_at, id")
            .bind(cluster)
            .fetch_all(&mut *tx)
            .await?;
        let mut entries: BTreeMap<String, LedgerEntry> = BTreeMap::new();
        for row in &episodes {
            let episode = rows::episode(row)?;
            for attempt in episode.actions.iter().filter(|a| a.learn) {
                let previous = entries.remove(&attempt.action_key);
                let next = learn(previous, cluster, attempt, &episode.id, episode.ended_at, remote_of(&episode));
                entries.insert(attempt.action_key.clone(), next);
            }
        }
        for entry in entries.values() {
            upsert_ledger::<D>(&mut tx, entry).await?;
        }
    }
    tx.commit().await?;
    Ok(Upserted::Replaced)
}

#[async_trait]
impl<D: Dialect> Memory for SqlStore<D> {
    async fn remember(&self, e: &Episode) -> Result<bool> {
        // The agent's own episode: its origin is this instance.
        Ok(episode_in_tx(self, e, false, &e.origin).await? == Upserted::Added)
    }

    async fn upsert_episode(&self, e: &Episode, local_origin: &str) -> Result<Upserted> {
        episode_in_tx(self, e, true, local_origin).await
    }

    async fn episodes_stored_after(&self, after: (Timestamp, &str), limit: u32) -> Result<Vec<StoredEpisode>> {
        let rows = sql::<D>(
            "SELECT * FROM episodes WHERE stored_at > $1 OR (stored_at = $1 AND id > $2) ORDER BY stored_at, id LIMIT $3",
        )
        .bind(after.0.millis())
        .bind(after.1)
        .bind(limit_or_default(limit))
        .fetch_all(&self.reader)
        .await?;
        rows.iter().map(rows::stored_episode).collect()
    }

    async fn episode(&self, id: &str) -> Result<Episode> {
        let row = sql::<D>("SELECT * FROM episodes WHERE id = $1").bind(id).fetch_one(&self.reader).await;
        rows::episode(&found(row, "episode", id)?)
    }

    async fn episode_count(&self) -> Result<u64> {
        Ok(sql::<D>("SELECT COUNT(*) FROM episodes").int(&self.reader).await? as u64)
    }

    async fn episodes_after(&self, after: Option<&str>, limit: u32) -> Result<Vec<Episode>> {
        let rows = sql::<D>("SELECT * FROM episodes WHERE (CAST($1 AS TEXT) IS NULL OR id > $1) ORDER BY id LIMIT $2")
            .bind(after)
            .bind(limit_or_default(limit))
            .fetch_all(&self.reader)
            .await?;
        rows.iter().map(rows::episode).collect()
    }

    async fn episodes_backlog(&self, after: (Timestamp, &str), origin: &str) -> Result<u64> {
        let n = sql::<D>(
            "SELECT COUNT(*) FROM episodes WHERE (stored_at > $1 OR (stored_at = $1 AND id > $2)) AND origin = $3",
        )
        .bind(after.0.millis())
        .bind(after.1)
        .bind(origin)
        .int(&self.reader)
        .await?;
        Ok(n as u64)
    }

    async fn sync_state(&self, peer: &str) -> Result<Option<SyncState>> {
        let row = sql::<D>("SELECT * FROM sync_peers WHERE peer = $1").bind(peer).fetch_optional(&self.writer).await?;
        row.as_ref().map(rows::sync_state).transpose()
    }

    async fn save_sync_state(&self, s: &SyncState) -> Result<()> {
        sql::<D>(
            "INSERT INTO sync_peers (peer, pushed_at, pushed_id, pulled_at, pulled_id, pushed, pulled, last_attempt, \
             last_success, last_error) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
             ON CONFLICT (peer) DO UPDATE SET pushed_at = excluded.pushed_at, pushed_id = excluded.pushed_id, \
             pulled_at = excluded.pulled_at, pulled_id = excluded.pulled_id, pushed = excluded.pushed, \
             pulled = excluded.pulled, last_attempt = excluded.last_attempt, last_success = excluded.last_success, \
             last_error = excluded.last_error",
        )
        .bind(&s.peer)
        .bind(s.pushed_to.stored_at)
        .bind(&s.pushed_to.id)
        .bind(s.pulled_to.stored_at)
        .bind(&s.pulled_to.id)
        .bind(s.pushed as i64)
        .bind(s.pulled as i64)
        .bind(s.last_attempt.map(|t| t.millis()))
        .bind(s.last_success.map(|t| t.millis()))
        .bind(&s.last_error)
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    async fn ledger(&self, cluster: Option<&str>) -> Result<Vec<LedgerEntry>> {
        let rows = sql::<D>("SELECT * FROM ledger WHERE (CAST($1 AS TEXT) IS NULL OR cluster = $1)")
            .bind(cluster)
            .fetch_all(&self.writer)
            .await?;
        let mut entries = rows.iter().map(rows::ledger).collect::<Result<Vec<_>>>()?;
        rows::rank_ledger(&mut entries);
        Ok(entries)
    }
}
