//! The SQLite backend: one file in WAL mode, a single writer connection that every write goes
//! through (batched for observations), and a small pool of readers.

mod migrate;

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use obsctl_core::Timestamp;
use obsctl_core::action::{Action, ActionState, AuditRecord, ESCALATION_PLANNER};
use obsctl_core::alert::{AlertDelivery, AlertRecord, AlertSource};
use obsctl_core::check::Observation;
use obsctl_core::incident::{Incident, IncidentEvent, IncidentStatus, Silence};
use obsctl_core::memory::{Episode, LedgerEntry};
use obsctl_core::rollup::{HourLatency, SpanTally, Tally};
use obsctl_core::state::CheckStatus;
use obsctl_core::telemetry::Report as TelemetryReport;
use obsctl_core::timeline::EntryKind;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{AssertSqlSafe, Row};

use crate::error::{found, touched};
use crate::filters::{limit_or_default, state_list};
use crate::keys::{CheckKeys, Retargeting, TargetWrite};
use crate::rows;
use crate::{
    ActionFilter, AlertFilter, IncidentFilter, OpenedIncident, Result, Store, StoreError, StoredEpisode, Upserted,
};

pub struct SqliteStore {
    writer: SqlitePool,
    reader: SqlitePool,
    keys: CheckKeys,
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `sqlite://path` and applies migrations.
    pub async fn open(url: &str) -> Result<Self> {
        let path = url.strip_prefix("sqlite://").unwrap_or(url);
        if let Some(dir) = Path::new(path).parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .map_err(|e| StoreError::Backend(format!("cannot create {}: {e}", dir.display())))?;
        }
        let options = SqliteConnectOptions::from_str(&format!("sqlite://{path}"))?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(10))
            .foreign_keys(true);
        // Two processes opening a new file at once contend for switching it to WAL, which
        // SQLite answers "database is locked" at once rather than waiting: try again briefly.
        let mut attempt = 0;
        let writer = loop {
            let opened = async {
                let writer = SqlitePoolOptions::new().max_connections(1).connect_with(options.clone()).await?;
                migrate::migrate(&writer).await?;
                Ok::<_, StoreError>(writer)
            }
            .await;
            match opened {
                Err(e) if attempt < 20 && e.to_string().contains("database is locked") => {
                    attempt += 1;
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                other => break other?,
            }
        };
        let reader = SqlitePoolOptions::new().max_connections(4).connect_with(options.read_only(true)).await?;
        Ok(Self { writer, reader, keys: CheckKeys::default() })
    }

    async fn check_key(&self, check_id: &str) -> Result<i64> {
        if let Some(k) = self.keys.get(check_id)? {
            return Ok(k);
        }
        sqlx::query("INSERT INTO checks (id, target) VALUES (?, ?) ON CONFLICT(id) DO NOTHING")
            .bind(check_id)
            .bind(self.keys.expected_target(check_id)?)
            .execute(&self.writer)
            .await?;
        let key: i64 =
            sqlx::query_scalar("SELECT key FROM checks WHERE id = ?").bind(check_id).fetch_one(&self.writer).await?;
        self.keys.remember(check_id, key)?;
        Ok(key)
    }
}

/// Observations per INSERT statement (5 parameters each; SQLite allows 32,766).
const ROWS_PER_INSERT: usize = 100;

/// `INSERT … VALUES (?,?,?,?,?),…` for `rows` observations.
fn multi_row_insert(rows: usize) -> String {
    let mut sql = String::from("INSERT INTO observations (check_key, at, ok, latency_us, detail) VALUES ");
    sql.push_str(&vec!["(?, ?, ?, ?, ?)"; rows].join(", "));
    sql
}

impl SqliteStore {
    /// `remember` (`replace` false) and `upsert_episode` (true): see `episode_in_tx!`.
    async fn episode_in_tx(&self, e: &Episode, replace: bool, local: &str) -> Result<Upserted> {
        episode_in_tx!(
            self.writer.begin_with("BEGIN IMMEDIATE"),
            e,
            replace = replace,
            local = local,
            values = "(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            select = "SELECT * FROM ledger WHERE cluster = ? AND action_key = ?",
            upsert_values = "(?,?,?,?,?,?,?,?,?,?,?,?)",
            existing = "SELECT content_hash, cluster FROM episodes WHERE id = ?",
            delete_ledger = "DELETE FROM ledger WHERE cluster = ?",
            cluster_episodes = "SELECT * FROM episodes WHERE cluster = ? ORDER BY ended_at, id"
        )
    }
}

#[async_trait]
impl Store for SqliteStore {
    async fn record_observations(&self, batch: &[Observation], keep_per_check: u32) -> Result<()> {
        let mut keys = Vec::with_capacity(batch.len());
        for o in batch {
            keys.push(self.check_key(&o.check_id).await?);
        }
        let due = self.keys.due_for_prune(&keys, keep_per_check)?;
        let mut tx = self.writer.begin().await?;
        let rows: Vec<(&Observation, &i64)> = batch.iter().zip(&keys).collect();
        for chunk in rows.chunks(ROWS_PER_INSERT) {
            // One statement per chunk: SQL built from placeholders only; every value is bound.
            let mut q = sqlx::query(AssertSqlSafe(multi_row_insert(chunk.len())));
            for (o, key) in chunk {
                q = q.bind(**key).bind(o.at.millis()).bind(rows::outcome(o)).bind(o.latency_us as i64).bind(&o.detail);
            }
            q.execute(&mut *tx).await?;
        }
        for key in due {
            sqlx::query(
                "DELETE FROM observations WHERE check_key = ?1 AND seq <= \
                 (SELECT seq FROM observations WHERE check_key = ?1 ORDER BY seq DESC LIMIT 1 OFFSET ?2)",
            )
            .bind(key)
            .bind(i64::from(keep_per_check))
            .execute(&mut *tx)
            .await?;
        }
        let keys: std::collections::HashMap<&str, i64> =
            batch.iter().map(|o| o.check_id.as_str()).zip(keys.iter().copied()).collect();
        crate::rollups::rollup_sql!(@write sqlx::Sqlite, tx, self, batch, keys, p = ["?1", "?2"]);
        tx.commit().await?;
        Ok(())
    }

    async fn recent_observations(&self, check_id: &str, limit: u32) -> Result<Vec<Observation>> {
        let rows = sqlx::query(
            "SELECT c.id AS check_id, o.at, o.ok, o.latency_us, o.detail FROM observations o JOIN checks c ON c.key = o.check_key \
             WHERE c.id = ? ORDER BY o.seq DESC LIMIT ?",
        )
        .bind(check_id)
        .bind(limit_or_default(limit))
        .fetch_all(&self.reader)
        .await?;
        rows.iter().map(rows::observation).collect()
    }

    async fn check_tallies(&self, check_id: &str, span_ms: i64, since: Timestamp) -> Result<Vec<SpanTally>> {
        crate::rollups::rollup_sql!(@tallies self.reader, where = ["c.id = ", "?1", " AND r.span_ms = ", "?2", " AND r.start_ms >= ", "?3"], order = "r.start_ms", binds = [check_id, span_ms, since.millis()])
    }

    async fn all_tallies(&self, span_ms: i64, since: Timestamp) -> Result<Vec<SpanTally>> {
        crate::rollups::rollup_sql!(@tallies self.reader, where = ["r.span_ms = ", "?1", " AND r.start_ms >= ", "?2"], order = "r.check_key, r.start_ms", binds = [span_ms, since.millis()])
    }

    async fn tally_totals(&self, span_ms: i64, since: Timestamp) -> Result<Vec<(String, Tally)>> {
        crate::rollups::rollup_sql!(@totals self.reader, span_ms, since, int = "", p = ["?1", "?2"])
    }

    async fn latency_hours(&self, check_id: &str, since: Timestamp) -> Result<Vec<HourLatency>> {
        crate::rollups::rollup_sql!(@latency self.reader, check_id, since, p = ["?1", "?2"])
    }

    async fn latest_observations(&self) -> Result<Vec<Observation>> {
        let rows = sqlx::query(
            "SELECT c.id AS check_id, o.at, o.ok, o.latency_us, o.detail FROM checks c \
             JOIN observations o ON o.seq = (SELECT MAX(seq) FROM observations WHERE check_key = c.key) ORDER BY c.id",
        )
        .fetch_all(&self.reader)
        .await?;
        rows.iter().map(rows::observation).collect()
    }

    async fn save_check_status(&self, check_id: &str, status: CheckStatus, at: Timestamp) -> Result<()> {
        let key = self.check_key(check_id).await?;
        sqlx::query("UPDATE checks SET status = ?, status_at = ? WHERE key = ?")
            .bind(status.as_str())
            .bind(at.millis())
            .bind(key)
            .execute(&self.writer)
            .await?;
        Ok(())
    }

    async fn retarget_checks(&self, targets: &[(String, String)], now: Timestamp) -> Result<Vec<String>> {
        let mut tx = self.writer.begin().await?;
        let mut retargeting = Retargeting::default();
        for (id, target) in targets {
            let stored: Option<Option<String>> =
                sqlx::query_scalar("SELECT target FROM checks WHERE id = ?").bind(id).fetch_optional(&mut *tx).await?;
            let sql = match retargeting.decide(id, stored, target, now) {
                None => continue,
                Some(TargetWrite::Adopt(digest)) => {
                    sqlx::query("UPDATE checks SET target = ? WHERE id = ?").bind(digest)
                }
                Some(TargetWrite::SetAside(aside)) => sqlx::query("UPDATE checks SET id = ? WHERE id = ?").bind(aside),
            };
            sql.bind(id).execute(&mut *tx).await?;
        }
        tx.commit().await?;
        retargeting.finish(&self.keys)
    }

    async fn check_statuses(&self) -> Result<Vec<(String, CheckStatus, Timestamp)>> {
        let rows = sqlx::query("SELECT id, status, status_at FROM checks ORDER BY id").fetch_all(&self.reader).await?;
        rows.iter()
            .map(|r| {
                Ok((r.try_get("id")?, CheckStatus::parse(r.try_get("status")?), Timestamp(r.try_get("status_at")?)))
            })
            .collect()
    }

    async fn insert_incident(&self, i: &Incident) -> Result<()> {
        insert_incidents!(sqlx::Sqlite, &self.writer, [i]);
        Ok(())
    }

    async fn open_incident(&self, i: &Incident) -> Result<Option<Incident>> {
        // One statement on the one writer: nothing can come between the look and the insert.
        if insert_incident_unless_open!(sqlx::Sqlite, &self.writer, i) {
            return Ok(None);
        }
        crate::open_of_fingerprint(self, i).await
    }

    async fn alerts_by_fingerprint(&self, source: AlertSource, fingerprints: &[String]) -> Result<Vec<AlertRecord>> {
        let rows =
            sqlx::query("SELECT * FROM alerts WHERE source = ? AND fingerprint IN (SELECT value FROM json_each(?))")
                .bind(source.as_str())
                .bind(serde_json::to_string(fingerprints)?)
                .fetch_all(&self.reader)
                .await?;
        rows.iter().map(rows::alert).collect()
    }

    async fn save_alerts(
        &self,
        delivery: &AlertDelivery,
        records: &[AlertRecord],
        opened: &[OpenedIncident],
    ) -> Result<()> {
        let mut tx = self.writer.begin().await?;
        // As `open_incident`: none of the new incidents' fingerprints may be open already (on
        // the one writer nothing comes between this look and the inserts).
        let fingerprints: Vec<&str> = opened.iter().map(|o| o.incident.fingerprint.as_str()).collect();
        if !fingerprints.is_empty() {
            let open: Option<String> = sqlx::query_scalar(
                "SELECT fingerprint FROM incidents WHERE status = 'open' AND fingerprint IN (SELECT value FROM json_each(?)) LIMIT 1",
            )
            .bind(serde_json::to_string(&fingerprints)?)
            .fetch_optional(&mut *tx)
            .await?;
            if let Some(fingerprint) = open {
                return Err(crate::opened_meanwhile(&fingerprint));
            }
        }
        save_alerts_in_tx!(
            sqlx::Sqlite,
            tx,
            delivery,
            records,
            opened,
            "INSERT INTO alert_deliveries (source, received_at, receiver, group_key, alerts, truncated) VALUES (?,?,?,?,?,?)"
        );
        tx.commit().await?;
        Ok(())
    }

    async fn list_alerts(&self, f: &AlertFilter) -> Result<Vec<AlertRecord>> {
        let rows = sqlx::query("SELECT * FROM alerts WHERE (?1 IS NULL OR status = ?1) AND (?2 IS NULL OR source = ?2) AND (?3 IS NULL OR service = ?3) ORDER BY last_seen DESC, fingerprint LIMIT ?4")
            .bind(f.status.map(|s| s.as_str()))
            .bind(f.source.map(|s| s.as_str()))
            .bind(&f.service)
            .bind(limit_or_default(f.limit))
            .fetch_all(&self.reader)
            .await?;
        rows.iter().map(rows::alert).collect()
    }

    async fn alert_deliveries(&self, limit: u32) -> Result<Vec<AlertDelivery>> {
        let rows = sqlx::query("SELECT * FROM alert_deliveries ORDER BY id DESC LIMIT ?")
            .bind(limit_or_default(limit))
            .fetch_all(&self.reader)
            .await?;
        rows.iter().map(rows::alert_delivery).collect()
    }

    async fn update_incident(&self, i: &Incident, expected: IncidentStatus) -> Result<()> {
        update_incident_if!(
            self,
            &self.writer,
            "UPDATE incidents SET status = ?, kind = ?, title = ?, detail = ?, updated_at = ?, resolved_at = ?, \
             occurrences = ?, reopen_count = ?, upstream_incident = ?, resolution = ? WHERE id = ? AND status = ?",
            i,
            expected,
            "SELECT status FROM incidents WHERE id = ?"
        )
    }

    async fn incident(&self, id: &str) -> Result<Incident> {
        let row = sqlx::query("SELECT * FROM incidents WHERE id = ?").bind(id).fetch_one(&self.reader).await;
        rows::incident(&found(row, "incident", id)?)
    }

    async fn latest_incident_by_fingerprint(&self, fingerprint: &str) -> Result<Option<Incident>> {
        let row =
            sqlx::query("SELECT * FROM incidents WHERE fingerprint = ? ORDER BY opened_at DESC, rowid DESC LIMIT 1")
                .bind(fingerprint)
                .fetch_optional(&self.writer)
                .await?;
        row.as_ref().map(rows::incident).transpose()
    }

    async fn latest_incidents_by_fingerprint(&self, fingerprints: &[String]) -> Result<Vec<Incident>> {
        let rows = sqlx::query(
            "SELECT * FROM incidents WHERE fingerprint IN (SELECT value FROM json_each(?)) ORDER BY opened_at DESC, rowid DESC",
        )
        .bind(serde_json::to_string(fingerprints)?)
        .fetch_all(&self.writer)
        .await?;
        Ok(crate::latest_per_fingerprint(rows.iter().map(rows::incident).collect::<Result<_>>()?))
    }

    async fn list_incidents(&self, f: &IncidentFilter) -> Result<Vec<Incident>> {
        let rows = sqlx::query(
            "SELECT * FROM incidents WHERE (?1 IS NULL OR status = ?1) AND (?2 IS NULL OR service = ?2) \
             AND (?3 IS NULL OR kind = ?3) ORDER BY updated_at DESC, rowid DESC LIMIT ?4",
        )
        .bind(f.status.map(|s| s.as_str()))
        .bind(&f.service)
        .bind(&f.kind)
        .bind(limit_or_default(f.limit))
        .fetch_all(&self.reader)
        .await?;
        rows.iter().map(rows::incident).collect()
    }

    async fn add_event(
        &self,
        incident_id: &str,
        kind: EntryKind,
        message: &str,
        data: serde_json::Value,
    ) -> Result<IncidentEvent> {
        let at = Timestamp::now();
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO incident_events (incident_id, at, kind, message, data) VALUES (?, ?, ?, ?, ?) RETURNING id",
        )
        .bind(incident_id)
        .bind(at.millis())
        .bind(kind.as_str())
        .bind(message)
        .bind(data.to_string())
        .fetch_one(&self.writer)
        .await?;
        Ok(IncidentEvent { id, incident_id: incident_id.into(), at, kind, message: message.into(), data })
    }

    async fn events(&self, incident_id: &str) -> Result<Vec<IncidentEvent>> {
        let rows = sqlx::query("SELECT * FROM incident_events WHERE incident_id = ? ORDER BY id")
            .bind(incident_id)
            .fetch_all(&self.reader)
            .await?;
        rows.iter().map(rows::event).collect()
    }

    async fn insert_action(&self, a: &Action) -> Result<()> {
        bind_action_insert!(sqlx::query(
            "INSERT INTO actions (id, idempotency_key, incident_id, service, fingerprint, plan_id, planner, runbook, step, tool, \
             args, mode, state, reason, result, outcome, created_at, updated_at, decided_by, read_only, gate) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
        ), a)
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    async fn update_action(&self, a: &Action) -> Result<()> {
        let done = bind_action_update!(sqlx::query("UPDATE actions SET state = ?, reason = ?, result = ?, outcome = ?, updated_at = ?, decided_by = ? WHERE id = ?"), a)
            .execute(&self.writer)
            .await?;
        touched(done.rows_affected(), "action", &a.id)
    }

    async fn transition_action(
        &self,
        id: &str,
        from: ActionState,
        to: ActionState,
        reason: &str,
        by: &str,
    ) -> Result<Action> {
        let done = sqlx::query(
            "UPDATE actions SET state = ?, reason = ?, decided_by = ?, updated_at = ? WHERE id = ? AND state = ?",
        )
        .bind(to.as_str())
        .bind(reason)
        .bind(by)
        .bind(Timestamp::now().millis())
        .bind(id)
        .bind(from.as_str())
        .execute(&self.writer)
        .await?;
        let row = sqlx::query("SELECT * FROM actions WHERE id = ?").bind(id).fetch_one(&self.writer).await;
        let action = rows::action(&found(row, "action", id)?)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::Conflict(format!(
                "action {id} is {}, not {}",
                action.state.as_str(),
                from.as_str()
            )));
        }
        Ok(action)
    }

    async fn transition_plan(
        &self,
        plan_id: &str,
        from: &[ActionState],
        after_step: Option<u32>,
        to: ActionState,
        reason: &str,
        by: &str,
    ) -> Result<Vec<Action>> {
        let rows = sqlx::query(
            "UPDATE actions SET state = ?1, reason = ?2, decided_by = ?3, updated_at = ?4 \
             WHERE plan_id = ?5 AND instr(?6, ',' || state || ',') > 0 AND (?7 IS NULL OR step > ?7) RETURNING *",
        )
        .bind(to.as_str())
        .bind(reason)
        .bind(by)
        .bind(Timestamp::now().millis())
        .bind(plan_id)
        .bind(state_list(from))
        .bind(after_step.map(i64::from))
        .fetch_all(&self.writer)
        .await?;
        let mut moved = rows.iter().map(rows::action).collect::<Result<Vec<_>>>()?;
        moved.sort_by_key(|a| a.step);
        Ok(moved)
    }

    async fn action(&self, id: &str) -> Result<Action> {
        let row = sqlx::query("SELECT * FROM actions WHERE id = ?").bind(id).fetch_one(&self.reader).await;
        rows::action(&found(row, "action", id)?)
    }

    async fn list_actions(&self, f: &ActionFilter) -> Result<Vec<Action>> {
        let states = state_list(&f.states);
        let rows = sqlx::query(
            "SELECT * FROM actions WHERE (?1 IS NULL OR instr(?1, ',' || state || ',') > 0) AND (?2 IS NULL OR incident_id = ?2) \
             ORDER BY created_at DESC, rowid DESC LIMIT ?3",
        )
        .bind(states)
        .bind(&f.incident_id)
        .bind(limit_or_default(f.limit))
        .fetch_all(&self.reader)
        .await?;
        rows.iter().map(rows::action).collect()
    }

    async fn count_executed_since(&self, service: Option<&str>, since: Timestamp) -> Result<u32> {
        let n: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM actions WHERE state IN ('running', 'succeeded', 'failed') AND planner != ?3 AND read_only = 0 AND created_at >= ?1 AND (?2 IS NULL OR service = ?2) \
             AND NOT CASE WHEN json_valid(result) THEN coalesce(json_extract(result, '$.changed_nothing') IS 1, 0) ELSE 0 END",
        )
        .bind(since.millis())
        .bind(service)
        .bind(ESCALATION_PLANNER)
        .fetch_one(&self.writer)
        .await?;
        Ok(n as u32)
    }

    async fn last_runbook_run(&self, runbook: &str, service: &str) -> Result<Option<Timestamp>> {
        let at: Option<i64> = sqlx::query_scalar(
            "SELECT MAX(created_at) FROM actions WHERE runbook = ? AND service = ? AND read_only = 0 AND state IN ('running', 'succeeded', 'failed')",
        )
        .bind(runbook)
        .bind(service)
        .fetch_one(&self.writer)
        .await?;
        Ok(at.map(Timestamp))
    }

    async fn consecutive_failed_fixes(&self, fingerprint: &str) -> Result<u32> {
        let outcomes: Vec<(String, i64)> = sqlx::query_as(
            "SELECT plan_id, MAX(CASE WHEN outcome = 'fixed' THEN 1 ELSE 0 END) FROM actions WHERE fingerprint = ? AND outcome IS NOT NULL \
             GROUP BY plan_id ORDER BY MAX(updated_at) DESC, MAX(rowid) DESC LIMIT 100",
        )
        .bind(fingerprint)
        .fetch_all(&self.writer)
        .await?;
        // Per plan, whether any step was verified fixed; counted back to the last fix.
        Ok(outcomes.iter().take_while(|(_, fixed)| *fixed == 0).count() as u32)
    }

    async fn append_audit(&self, r: &AuditRecord) -> Result<i64> {
        let id: i64 = bind_audit_insert!(sqlx::query_scalar(
            "INSERT INTO audit (at, actor, action, subject, decision, reason, data) VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id",
        ), r)
        .fetch_one(&self.writer)
        .await?;
        Ok(id)
    }

    async fn audit_log(&self, limit: u32) -> Result<Vec<AuditRecord>> {
        let rows = sqlx::query("SELECT * FROM audit ORDER BY id DESC LIMIT ?")
            .bind(limit_or_default(limit))
            .fetch_all(&self.reader)
            .await?;
        rows.iter().map(rows::audit).collect()
    }

    async fn insert_silence(&self, s: &Silence) -> Result<()> {
        bind_silence_insert!(sqlx::query("INSERT INTO silences (id, service, kind, starts_at, ends_at, reason, created_by) VALUES (?, ?, ?, ?, ?, ?, ?)"), s)
            .execute(&self.writer)
            .await?;
        Ok(())
    }

    async fn silences(&self, active_at: Option<Timestamp>) -> Result<Vec<Silence>> {
        let rows = sqlx::query(
            "SELECT * FROM silences WHERE (?1 IS NULL OR (starts_at <= ?1 AND ends_at > ?1)) ORDER BY starts_at",
        )
        .bind(active_at.map(Timestamp::millis))
        .fetch_all(&self.writer)
        .await?;
        rows.iter().map(rows::silence).collect()
    }

    async fn save_telemetry_report(&self, r: &TelemetryReport) -> Result<()> {
        bind_telemetry_report!(sqlx::query("INSERT INTO telemetry_reports (service, received_at, ok, report) VALUES (?, ?, ?, ?) \
             ON CONFLICT (service) DO UPDATE SET received_at = excluded.received_at, ok = excluded.ok, report = excluded.report"), r)
            .execute(&self.writer)
            .await?;
        Ok(())
    }

    async fn telemetry_reports(&self) -> Result<Vec<TelemetryReport>> {
        let rows = sqlx::query("SELECT report FROM telemetry_reports ORDER BY service").fetch_all(&self.reader).await?;
        rows.iter().map(rows::telemetry_report).collect()
    }

    async fn remember(&self, e: &Episode) -> Result<bool> {
        // The agent's own episode: its origin is this instance.
        Ok(self.episode_in_tx(e, false, &e.origin).await? == Upserted::Added)
    }

    async fn upsert_episode(&self, e: &Episode, local_origin: &str) -> Result<Upserted> {
        self.episode_in_tx(e, true, local_origin).await
    }

    async fn episode(&self, id: &str) -> Result<Episode> {
        let row = sqlx::query("SELECT * FROM episodes WHERE id = ?").bind(id).fetch_one(&self.reader).await;
        rows::episode(&found(row, "episode", id)?)
    }

    async fn episode_count(&self) -> Result<u64> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM episodes").fetch_one(&self.reader).await?;
        Ok(n as u64)
    }

    async fn episodes_after(&self, after: Option<&str>, limit: u32) -> Result<Vec<Episode>> {
        let rows = sqlx::query("SELECT * FROM episodes WHERE (?1 IS NULL OR id > ?1) ORDER BY id LIMIT ?2")
            .bind(after)
            .bind(limit_or_default(limit))
            .fetch_all(&self.reader)
            .await?;
        rows.iter().map(rows::episode).collect()
    }

    async fn episodes_stored_after(&self, after: (Timestamp, &str), limit: u32) -> Result<Vec<StoredEpisode>> {
        let rows = sqlx::query("SELECT * FROM episodes WHERE stored_at > ?1 OR (stored_at = ?1 AND id > ?2) ORDER BY stored_at, id LIMIT ?3")
            .bind(after.0.millis())
            .bind(after.1)
            .bind(limit_or_default(limit))
            .fetch_all(&self.reader)
            .await?;
        rows.iter().map(rows::stored_episode).collect()
    }

    async fn episodes_backlog(&self, after: (Timestamp, &str), origin: &str) -> Result<u64> {
        let n: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM episodes WHERE (stored_at > ?1 OR (stored_at = ?1 AND id > ?2)) AND origin = ?3",
        )
        .bind(after.0.millis())
        .bind(after.1)
        .bind(origin)
        .fetch_one(&self.reader)
        .await?;
        Ok(n as u64)
    }

    async fn sync_state(&self, peer: &str) -> Result<Option<obsctl_core::memory::sync::SyncState>> {
        let row =
            sqlx::query("SELECT * FROM sync_peers WHERE peer = ?1").bind(peer).fetch_optional(&self.writer).await?;
        row.as_ref().map(rows::sync_state).transpose()
    }

    async fn save_sync_state(&self, state: &obsctl_core::memory::sync::SyncState) -> Result<()> {
        save_sync_state!(self.writer, state, values = "(?,?,?,?,?,?,?,?,?,?)")
    }

    async fn ledger(&self, cluster: Option<&str>) -> Result<Vec<LedgerEntry>> {
        let rows = sqlx::query("SELECT * FROM ledger WHERE (?1 IS NULL OR cluster = ?1)")
            .bind(cluster)
            .fetch_all(&self.writer)
            .await?;
        let mut entries = rows.iter().map(rows::ledger).collect::<Result<Vec<_>>>()?;
        rows::rank_ledger(&mut entries);
        Ok(entries)
    }

    async fn snapshot(&self, sink: &mut dyn crate::backup::SnapshotSink) -> Result<()> {
        let mut tx = self.reader.begin().await?;
        // A read transaction: WAL keeps its snapshot from the first read to the end.
        let done: Result<()> = backup_sql!(@snapshot tx, sink);
        done?;
        tx.rollback().await?;
        Ok(())
    }

    async fn restore_rows(
        &self,
        table: &'static crate::backup::Table,
        columns: &[String],
        rows: &[Vec<crate::backup::Cell>],
    ) -> Result<()> {
        backup_sql!(@restore sqlx::Sqlite, self.writer, table, columns, rows)
    }

    async fn finish_restore(&self) -> Result<()> {
        // INTEGER PRIMARY KEY columns continue after the largest value by themselves.
        Ok(())
    }

    async fn table_counts(&self) -> Result<Vec<(&'static str, u64)>> {
        backup_sql!(@counts self.reader)
    }

    async fn clear(&self) -> Result<()> {
        backup_sql!(@clear self.writer)
    }

    async fn heartbeat(
        &self,
        me: &obsctl_core::cluster::Replica,
        lease: std::time::Duration,
        grace: std::time::Duration,
    ) -> Result<Vec<obsctl_core::cluster::Replica>> {
        replica_sql!(@heartbeat self, writer, me, lease, grace, now = "CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)", p = ["?1", "?2", "?3", "?4", "?5", "?6", "?7", "?8", "?9"])
    }

    async fn leave(&self, id: &str) -> Result<()> {
        sqlx::query("DELETE FROM replicas WHERE id = ?1").bind(id).execute(&self.writer).await?;
        Ok(())
    }

    async fn replicas(&self) -> Result<(Vec<obsctl_core::cluster::Replica>, Timestamp)> {
        replica_sql!(@replicas self, writer, now = "CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)")
    }

    async fn try_lease(&self, name: &str, holder: &str, ttl: std::time::Duration) -> Result<bool> {
        replica_sql!(@try_lease self, writer, name, holder, ttl, now = "CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)", p = ["?1", "?2", "?3"])
    }

    async fn lease(&self, name: &str) -> Result<Option<crate::Lease>> {
        replica_sql!(@lease self, writer, name, now = "CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)", p = "?1")
    }

    async fn release_lease(&self, name: &str, holder: &str) -> Result<()> {
        sqlx::query("DELETE FROM leases WHERE name = ?1 AND holder = ?2")
            .bind(name)
            .bind(holder)
            .execute(&self.writer)
            .await?;
        Ok(())
    }

    async fn notify_replicas(&self, _payload: &str) -> Result<()> {
        Ok(())
    }

    async fn replica_notices(&self) -> Result<Option<tokio::sync::mpsc::Receiver<String>>> {
        Ok(None)
    }

    async fn close(&self) {
        // Closing both pools checkpoints the WAL on the last connection.
        self.reader.close().await;
        self.writer.close().await;
    }

    async fn delete_silence(&self, id: &str) -> Result<()> {
        let done = sqlx::query("DELETE FROM silences WHERE id = ?").bind(id).execute(&self.writer).await?;
        touched(done.rows_affected(), "silence", id)
    }
}

sql_graph_store!(SqliteStore, pool = writer, p1 = "?1", p2 = "?2", p3 = "?3", one = "1");
