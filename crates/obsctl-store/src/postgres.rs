//! The Postgres backend: the same `Store` as SQLite, for state shared across replicas.
//! Observation batches go in as one `UNNEST` insert; migrations run under an advisory lock.

mod migrate;

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
use sqlx::Row;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};

use crate::error::{found, touched};
use crate::filters::{limit_or_default, state_list};
use crate::keys::{CheckKeys, Retargeting, TargetWrite};
use crate::rows;
use crate::{
    ActionFilter, AlertFilter, IncidentFilter, OpenedIncident, Result, Store, StoreError, StoredEpisode, Upserted,
    new_id,
};

/// The channel replicas tell each other what changed on (`Store::notify_replicas`).
const REPLICA_CHANNEL: &str = "obsctl_events";

pub struct PostgresStore {
    pool: PgPool,
    keys: CheckKeys,
}

impl PostgresStore {
    /// Connects to `postgres://user@host:port/db` (`password`, if given, overrides the URL's)
    /// and applies migrations.
    pub async fn open(url: &str, password: Option<&str>) -> Result<Self> {
        let mut options = PgConnectOptions::from_str(url)?;
        if let Some(p) = password {
            options = options.password(p);
        }
        Self::connect(options).await
    }

    /// Connects with prepared options (e.g. a `search_path` for an isolated schema).
    pub async fn connect(options: PgConnectOptions) -> Result<Self> {
        let pool = PgPoolOptions::new()
            .max_connections(8)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options)
            .await?;
        migrate::migrate(&pool).await?;
        Ok(Self { pool, keys: CheckKeys::default() })
    }

    /// Connects in a new, empty schema of its own (named `<prefix>_<unique id>`), so tests and
    /// benchmarks can share one server without seeing each other; returns the schema's name.
    pub async fn open_in_new_schema(url: &str, prefix: &str) -> Result<(Self, String)> {
        let schema = new_id(prefix).replace('-', "_");
        Self::admin_execute(url, &format!("CREATE SCHEMA {schema}")).await?;
        let options = PgConnectOptions::from_str(url)?.options([("search_path", schema.as_str())]);
        Ok((Self::connect(options).await?, schema))
    }

    /// Creates a new, empty database (named `<prefix>_<unique id>`) on the server `url` names,
    /// for tests and benchmarks that run whole processes on one; returns its URL.
    pub async fn create_database(url: &str, prefix: &str) -> Result<String> {
        let name = new_id(prefix).replace('-', "_");
        Self::admin_execute(url, &format!("CREATE DATABASE {name}")).await?;
        let (server, _) = url
            .rsplit_once('/')
            .ok_or_else(|| StoreError::Backend(format!("{url:?} names no database (postgres://host/db)")))?;
        Ok(format!("{server}/{name}"))
    }

    /// Runs one statement on a short-lived connection (test and admin setup, e.g. CREATE SCHEMA).
    pub async fn admin_execute(url: &str, sql: &str) -> Result<()> {
        use sqlx::Connection;
        let mut conn = sqlx::PgConnection::connect(url).await?;
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_string())).execute(&mut conn).await?;
        conn.close().await?;
        Ok(())
    }

    async fn check_key(&self, check_id: &str) -> Result<i64> {
        if let Some(k) = self.keys.get(check_id)? {
            return Ok(k);
        }
        sqlx::query("INSERT INTO checks (id, target) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING")
            .bind(check_id)
            .bind(self.keys.expected_target(check_id)?)
            .execute(&self.pool)
            .await?;
        let key: i64 =
            sqlx::query_scalar("SELECT key FROM checks WHERE id = $1").bind(check_id).fetch_one(&self.pool).await?;
        self.keys.remember(check_id, key)?;
        Ok(key)
    }

    async fn fetch_action(&self, id: &str) -> Result<Action> {
        let row = sqlx::query("SELECT * FROM actions WHERE id = $1").bind(id).fetch_one(&self.pool).await;
        rows::action(&found(row, "action", id)?)
    }
}

impl PostgresStore {
    /// `remember` (`replace` false) and `upsert_episode` (true): see `episode_in_tx!`.
    async fn episode_in_tx(&self, e: &Episode, replace: bool, local: &str) -> Result<Upserted> {
        episode_in_tx!(
            self.pool.begin(),
            e,
            replace = replace,
            local = local,
            values = "($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17)",
            select = "SELECT * FROM ledger WHERE cluster = $1 AND action_key = $2 FOR UPDATE",
            upsert_values = "($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12)",
            existing = "SELECT content_hash, cluster FROM episodes WHERE id = $1 FOR UPDATE",
            delete_ledger = "DELETE FROM ledger WHERE cluster = $1",
            cluster_episodes = "SELECT * FROM episodes WHERE cluster = $1 ORDER BY ended_at, id"
        )
    }
}

#[async_trait]
impl Store for PostgresStore {
    async fn record_observations(&self, batch: &[Observation], keep_per_check: u32) -> Result<()> {
        let mut keys = Vec::with_capacity(batch.len());
        for o in batch {
            keys.push(self.check_key(&o.check_id).await?);
        }
        let due = self.keys.due_for_prune(&keys, keep_per_check)?;
        let at: Vec<i64> = batch.iter().map(|o| o.at.millis()).collect();
        let ok: Vec<i64> = batch.iter().map(rows::outcome).collect();
        let latency: Vec<i64> = batch.iter().map(|o| o.latency_us as i64).collect();
        let detail: Vec<&str> = batch.iter().map(|o| o.detail.as_str()).collect();
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO observations (check_key, at, ok, latency_us, detail) \
             SELECT * FROM UNNEST($1::bigint[], $2::bigint[], $3::bigint[], $4::bigint[], $5::text[])",
        )
        .bind(&keys)
        .bind(&at)
        .bind(&ok)
        .bind(&latency)
        .bind(&detail)
        .execute(&mut *tx)
        .await?;
        for key in due {
            sqlx::query(
                "DELETE FROM observations WHERE check_key = $1 AND seq <= \
                 (SELECT seq FROM observations WHERE check_key = $1 ORDER BY seq DESC LIMIT 1 OFFSET $2)",
            )
            .bind(key)
            .bind(i64::from(keep_per_check))
            .execute(&mut *tx)
            .await?;
        }
        let keys: std::collections::HashMap<&str, i64> =
            batch.iter().map(|o| o.check_id.as_str()).zip(keys.iter().copied()).collect();
        crate::rollups::rollup_sql!(@write sqlx::Postgres, tx, self, batch, keys, p = ["$1", "$2"]);
        tx.commit().await?;
        Ok(())
    }

    async fn recent_observations(&self, check_id: &str, limit: u32) -> Result<Vec<Observation>> {
        let rows = sqlx::query(
            "SELECT c.id AS check_id, o.at, o.ok, o.latency_us, o.detail FROM observations o JOIN checks c ON c.key = o.check_key \
             WHERE c.id = $1 ORDER BY o.seq DESC LIMIT $2",
        )
        .bind(check_id)
        .bind(limit_or_default(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(rows::observation).collect()
    }

    async fn check_tallies(&self, check_id: &str, span_ms: i64, since: Timestamp) -> Result<Vec<SpanTally>> {
        crate::rollups::rollup_sql!(@tallies self.pool, where = ["c.id = ", "$1", " AND r.span_ms = ", "$2", " AND r.start_ms >= ", "$3"], order = "r.start_ms", binds = [check_id, span_ms, since.millis()])
    }

    async fn all_tallies(&self, span_ms: i64, since: Timestamp) -> Result<Vec<SpanTally>> {
        crate::rollups::rollup_sql!(@tallies self.pool, where = ["r.span_ms = ", "$1", " AND r.start_ms >= ", "$2"], order = "r.check_key, r.start_ms", binds = [span_ms, since.millis()])
    }

    async fn tally_totals(&self, span_ms: i64, since: Timestamp) -> Result<Vec<(String, Tally)>> {
        crate::rollups::rollup_sql!(@totals self.pool, span_ms, since, int = "::bigint", p = ["$1", "$2"])
    }

    async fn latency_hours(&self, check_id: &str, since: Timestamp) -> Result<Vec<HourLatency>> {
        crate::rollups::rollup_sql!(@latency self.pool, check_id, since, p = ["$1", "$2"])
    }

    async fn latest_observations(&self) -> Result<Vec<Observation>> {
        let rows = sqlx::query(
            "SELECT c.id AS check_id, o.at, o.ok, o.latency_us, o.detail FROM checks c \
             JOIN LATERAL (SELECT * FROM observations WHERE check_key = c.key ORDER BY seq DESC LIMIT 1) o ON true ORDER BY c.id",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(rows::observation).collect()
    }

    async fn save_check_status(&self, check_id: &str, status: CheckStatus, at: Timestamp) -> Result<()> {
        let key = self.check_key(check_id).await?;
        sqlx::query("UPDATE checks SET status = $1, status_at = $2 WHERE key = $3")
            .bind(status.as_str())
            .bind(at.millis())
            .bind(key)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn retarget_checks(&self, targets: &[(String, String)], now: Timestamp) -> Result<Vec<String>> {
        let mut tx = self.pool.begin().await?;
        let mut retargeting = Retargeting::default();
        for (id, target) in targets {
            let stored: Option<Option<String>> =
                sqlx::query_scalar("SELECT target FROM checks WHERE id = $1 FOR UPDATE")
                    .bind(id)
                    .fetch_optional(&mut *tx)
                    .await?;
            let sql = match retargeting.decide(id, stored, target, now) {
                None => continue,
                Some(TargetWrite::Adopt(digest)) => {
                    sqlx::query("UPDATE checks SET target = $1 WHERE id = $2").bind(digest)
                }
                Some(TargetWrite::SetAside(aside)) => {
                    sqlx::query("UPDATE checks SET id = $1 WHERE id = $2").bind(aside)
                }
            };
            sql.bind(id).execute(&mut *tx).await?;
        }
        tx.commit().await?;
        retargeting.finish(&self.keys)
    }

    async fn check_statuses(&self) -> Result<Vec<(String, CheckStatus, Timestamp)>> {
        let rows = sqlx::query("SELECT id, status, status_at FROM checks ORDER BY id").fetch_all(&self.pool).await?;
        rows.iter()
            .map(|r| {
                Ok((r.try_get("id")?, CheckStatus::parse(r.try_get("status")?), Timestamp(r.try_get("status_at")?)))
            })
            .collect()
    }

    async fn insert_incident(&self, i: &Incident) -> Result<()> {
        insert_incidents!(sqlx::Postgres, &self.pool, [i]);
        Ok(())
    }

    async fn open_incident(&self, i: &Incident) -> Result<Option<Incident>> {
        // Under READ COMMITTED two such inserts would both see none open; a lock on the
        // fingerprint, held to the commit, puts them in turn (the two-key space, apart from the
        // migrations' one-key lock).
        let mut tx = self.pool.begin().await?;
        sqlx::query("SELECT pg_advisory_xact_lock(1, hashtext($1))").bind(&i.fingerprint).execute(&mut *tx).await?;
        let opened = insert_incident_unless_open!(sqlx::Postgres, &mut *tx, i);
        tx.commit().await?;
        if opened {
            return Ok(None);
        }
        crate::open_of_fingerprint(self, i).await
    }

    async fn alerts_by_fingerprint(&self, source: AlertSource, fingerprints: &[String]) -> Result<Vec<AlertRecord>> {
        let rows = sqlx::query("SELECT * FROM alerts WHERE source = $1 AND fingerprint = ANY($2::text[])")
            .bind(source.as_str())
            .bind(fingerprints)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(rows::alert).collect()
    }

    async fn save_alerts(
        &self,
        delivery: &AlertDelivery,
        records: &[AlertRecord],
        opened: &[OpenedIncident],
    ) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        // As `open_incident`: the new incidents' fingerprints locked (in order), then none may
        // be open already, or the delivery is refused whole for the intake to apply again.
        let fingerprints: Vec<&str> = opened.iter().map(|o| o.incident.fingerprint.as_str()).collect();
        if !fingerprints.is_empty() {
            sqlx::query(
                "SELECT pg_advisory_xact_lock(1, hashtext(f)) FROM (SELECT DISTINCT f FROM unnest($1::text[]) AS t(f) ORDER BY f) AS s",
            )
            .bind(&fingerprints)
            .execute(&mut *tx)
            .await?;
            let open: Option<String> = sqlx::query_scalar(
                "SELECT fingerprint FROM incidents WHERE status = 'open' AND fingerprint = ANY($1::text[]) LIMIT 1",
            )
            .bind(&fingerprints)
            .fetch_optional(&mut *tx)
            .await?;
            if let Some(fingerprint) = open {
                return Err(crate::opened_meanwhile(&fingerprint));
            }
        }
        save_alerts_in_tx!(
            sqlx::Postgres,
            tx,
            delivery,
            records,
            opened,
            "INSERT INTO alert_deliveries (source, received_at, receiver, group_key, alerts, truncated) VALUES ($1,$2,$3,$4,$5,$6)"
        );
        tx.commit().await?;
        Ok(())
    }

    async fn list_alerts(&self, f: &AlertFilter) -> Result<Vec<AlertRecord>> {
        let rows = sqlx::query("SELECT * FROM alerts WHERE ($1::text IS NULL OR status = $1) AND ($2::text IS NULL OR source = $2) AND ($3::text IS NULL OR service = $3) ORDER BY last_seen DESC, fingerprint LIMIT $4")
            .bind(f.status.map(|s| s.as_str()))
            .bind(f.source.map(|s| s.as_str()))
            .bind(&f.service)
            .bind(limit_or_default(f.limit))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(rows::alert).collect()
    }

    async fn alert_deliveries(&self, limit: u32) -> Result<Vec<AlertDelivery>> {
        let rows = sqlx::query("SELECT * FROM alert_deliveries ORDER BY id DESC LIMIT $1")
            .bind(limit_or_default(limit))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(rows::alert_delivery).collect()
    }

    async fn update_incident(&self, i: &Incident, expected: IncidentStatus) -> Result<()> {
        update_incident_if!(
            self,
            &self.pool,
            "UPDATE incidents SET status = $1, kind = $2, title = $3, detail = $4, updated_at = $5, resolved_at = $6, \
             occurrences = $7, reopen_count = $8, upstream_incident = $9, resolution = $10 WHERE id = $11 AND status = $12",
            i,
            expected,
            "SELECT status FROM incidents WHERE id = $1"
        )
    }

    async fn incident(&self, id: &str) -> Result<Incident> {
        let row = sqlx::query("SELECT * FROM incidents WHERE id = $1").bind(id).fetch_one(&self.pool).await;
        rows::incident(&found(row, "incident", id)?)
    }

    async fn latest_incident_by_fingerprint(&self, fingerprint: &str) -> Result<Option<Incident>> {
        let row =
            sqlx::query("SELECT * FROM incidents WHERE fingerprint = $1 ORDER BY opened_at DESC, seq DESC LIMIT 1")
                .bind(fingerprint)
                .fetch_optional(&self.pool)
                .await?;
        row.as_ref().map(rows::incident).transpose()
    }

    async fn latest_incidents_by_fingerprint(&self, fingerprints: &[String]) -> Result<Vec<Incident>> {
        let rows = sqlx::query(
            "SELECT * FROM incidents WHERE fingerprint = ANY($1::text[]) ORDER BY opened_at DESC, seq DESC",
        )
        .bind(fingerprints)
        .fetch_all(&self.pool)
        .await?;
        Ok(crate::latest_per_fingerprint(rows.iter().map(rows::incident).collect::<Result<_>>()?))
    }

    async fn list_incidents(&self, f: &IncidentFilter) -> Result<Vec<Incident>> {
        let rows = sqlx::query(
            "SELECT * FROM incidents WHERE ($1::text IS NULL OR status = $1) AND ($2::text IS NULL OR service = $2) \
             AND ($3::text IS NULL OR kind = $3) ORDER BY updated_at DESC, seq DESC LIMIT $4",
        )
        .bind(f.status.map(|s| s.as_str()))
        .bind(&f.service)
        .bind(&f.kind)
        .bind(limit_or_default(f.limit))
        .fetch_all(&self.pool)
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
        let id: i64 = sqlx::query_scalar("INSERT INTO incident_events (incident_id, at, kind, message, data) VALUES ($1, $2, $3, $4, $5) RETURNING id")
            .bind(incident_id)
            .bind(at.millis())
            .bind(kind.as_str())
            .bind(message)
            .bind(data.to_string())
            .fetch_one(&self.pool)
            .await?;
        Ok(IncidentEvent { id, incident_id: incident_id.into(), at, kind, message: message.into(), data })
    }

    async fn events(&self, incident_id: &str) -> Result<Vec<IncidentEvent>> {
        let rows = sqlx::query("SELECT * FROM incident_events WHERE incident_id = $1 ORDER BY id")
            .bind(incident_id)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(rows::event).collect()
    }

    async fn insert_action(&self, a: &Action) -> Result<()> {
        bind_action_insert!(sqlx::query(
            "INSERT INTO actions (id, idempotency_key, incident_id, service, fingerprint, plan_id, planner, runbook, step, tool, \
             args, mode, state, reason, result, outcome, created_at, updated_at, decided_by, read_only, gate) \
             VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18,$19,$20,$21)",
        ), a)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn update_action(&self, a: &Action) -> Result<()> {
        let done = bind_action_update!(sqlx::query("UPDATE actions SET state = $1, reason = $2, result = $3, outcome = $4, updated_at = $5, decided_by = $6 WHERE id = $7"), a)
            .execute(&self.pool)
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
            "UPDATE actions SET state = $1, reason = $2, decided_by = $3, updated_at = $4 WHERE id = $5 AND state = $6",
        )
        .bind(to.as_str())
        .bind(reason)
        .bind(by)
        .bind(Timestamp::now().millis())
        .bind(id)
        .bind(from.as_str())
        .execute(&self.pool)
        .await?;
        let action = self.fetch_action(id).await?;
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
            "UPDATE actions SET state = $1, reason = $2, decided_by = $3, updated_at = $4 \
             WHERE plan_id = $5 AND position(',' || state || ',' in $6) > 0 AND ($7::bigint IS NULL OR step > $7) RETURNING *",
        )
        .bind(to.as_str())
        .bind(reason)
        .bind(by)
        .bind(Timestamp::now().millis())
        .bind(plan_id)
        .bind(state_list(from))
        .bind(after_step.map(i64::from))
        .fetch_all(&self.pool)
        .await?;
        let mut moved = rows.iter().map(rows::action).collect::<Result<Vec<_>>>()?;
        moved.sort_by_key(|a| a.step);
        Ok(moved)
    }

    async fn action(&self, id: &str) -> Result<Action> {
        self.fetch_action(id).await
    }

    async fn list_actions(&self, f: &ActionFilter) -> Result<Vec<Action>> {
        let states = state_list(&f.states);
        let rows = sqlx::query(
            "SELECT * FROM actions WHERE ($1::text IS NULL OR position(',' || state || ',' in $1) > 0) \
             AND ($2::text IS NULL OR incident_id = $2) ORDER BY created_at DESC, seq DESC LIMIT $3",
        )
        .bind(states)
        .bind(&f.incident_id)
        .bind(limit_or_default(f.limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(rows::action).collect()
    }

    async fn count_executed_since(&self, service: Option<&str>, since: Timestamp) -> Result<u32> {
        let n: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM actions WHERE state IN ('running', 'succeeded', 'failed') AND planner != $3 AND read_only = 0 \
             AND created_at >= $1 AND ($2::text IS NULL OR service = $2) \
             AND NOT CASE WHEN left(result, 1) = '{' THEN coalesce((result::jsonb) ->> 'changed_nothing' = 'true', false) ELSE false END",
        )
        .bind(since.millis())
        .bind(service)
        .bind(ESCALATION_PLANNER)
        .fetch_one(&self.pool)
        .await?;
        Ok(n as u32)
    }

    async fn last_runbook_run(&self, runbook: &str, service: &str) -> Result<Option<Timestamp>> {
        let at: Option<i64> = sqlx::query_scalar(
            "SELECT MAX(created_at) FROM actions WHERE runbook = $1 AND service = $2 AND read_only = 0 AND state IN ('running', 'succeeded', 'failed')",
        )
        .bind(runbook)
        .bind(service)
        .fetch_one(&self.pool)
        .await?;
        Ok(at.map(Timestamp))
    }

    async fn consecutive_failed_fixes(&self, fingerprint: &str) -> Result<u32> {
        let outcomes: Vec<(String, i64)> = sqlx::query_as(
            "SELECT plan_id, MAX(CASE WHEN outcome = 'fixed' THEN 1::bigint ELSE 0::bigint END) FROM actions WHERE fingerprint = $1 AND outcome IS NOT NULL \
             GROUP BY plan_id ORDER BY MAX(updated_at) DESC, MAX(seq) DESC LIMIT 100",
        )
        .bind(fingerprint)
        .fetch_all(&self.pool)
        .await?;
        // Per plan, whether any step was verified fixed; counted back to the last fix.
        Ok(outcomes.iter().take_while(|(_, fixed)| *fixed == 0).count() as u32)
    }

    async fn append_audit(&self, r: &AuditRecord) -> Result<i64> {
        let id: i64 = bind_audit_insert!(sqlx::query_scalar(
            "INSERT INTO audit (at, actor, action, subject, decision, reason, data) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
        ), r)
        .fetch_one(&self.pool)
        .await?;
        Ok(id)
    }

    async fn audit_log(&self, limit: u32) -> Result<Vec<AuditRecord>> {
        let rows = sqlx::query("SELECT * FROM audit ORDER BY id DESC LIMIT $1")
            .bind(limit_or_default(limit))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(rows::audit).collect()
    }

    async fn insert_silence(&self, s: &Silence) -> Result<()> {
        bind_silence_insert!(sqlx::query("INSERT INTO silences (id, service, kind, starts_at, ends_at, reason, created_by) VALUES ($1, $2, $3, $4, $5, $6, $7)"), s)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn silences(&self, active_at: Option<Timestamp>) -> Result<Vec<Silence>> {
        let rows = sqlx::query("SELECT * FROM silences WHERE ($1::bigint IS NULL OR (starts_at <= $1 AND ends_at > $1)) ORDER BY starts_at")
            .bind(active_at.map(Timestamp::millis))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(rows::silence).collect()
    }

    async fn delete_silence(&self, id: &str) -> Result<()> {
        let done = sqlx::query("DELETE FROM silences WHERE id = $1").bind(id).execute(&self.pool).await?;
        touched(done.rows_affected(), "silence", id)
    }

    async fn save_telemetry_report(&self, r: &TelemetryReport) -> Result<()> {
        bind_telemetry_report!(sqlx::query("INSERT INTO telemetry_reports (service, received_at, ok, report) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (service) DO UPDATE SET received_at = excluded.received_at, ok = excluded.ok, report = excluded.report"), r)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn telemetry_reports(&self) -> Result<Vec<TelemetryReport>> {
        let rows = sqlx::query("SELECT report FROM telemetry_reports ORDER BY service").fetch_all(&self.pool).await?;
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
        let row = sqlx::query("SELECT * FROM episodes WHERE id = $1").bind(id).fetch_one(&self.pool).await;
        rows::episode(&found(row, "episode", id)?)
    }

    async fn episode_count(&self) -> Result<u64> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM episodes").fetch_one(&self.pool).await?;
        Ok(n as u64)
    }

    async fn episodes_after(&self, after: Option<&str>, limit: u32) -> Result<Vec<Episode>> {
        let rows = sqlx::query("SELECT * FROM episodes WHERE ($1::text IS NULL OR id > $1) ORDER BY id LIMIT $2")
            .bind(after)
            .bind(limit_or_default(limit))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(rows::episode).collect()
    }

    async fn episodes_stored_after(&self, after: (Timestamp, &str), limit: u32) -> Result<Vec<StoredEpisode>> {
        let rows = sqlx::query("SELECT * FROM episodes WHERE stored_at > $1 OR (stored_at = $1 AND id > $2) ORDER BY stored_at, id LIMIT $3")
            .bind(after.0.millis())
            .bind(after.1)
            .bind(limit_or_default(limit))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(rows::stored_episode).collect()
    }

    async fn episodes_backlog(&self, after: (Timestamp, &str), origin: &str) -> Result<u64> {
        let n: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM episodes WHERE (stored_at > $1 OR (stored_at = $1 AND id > $2)) AND origin = $3",
        )
        .bind(after.0.millis())
        .bind(after.1)
        .bind(origin)
        .fetch_one(&self.pool)
        .await?;
        Ok(n as u64)
    }

    async fn sync_state(&self, peer: &str) -> Result<Option<obsctl_core::memory::sync::SyncState>> {
        let row = sqlx::query("SELECT * FROM sync_peers WHERE peer = $1").bind(peer).fetch_optional(&self.pool).await?;
        row.as_ref().map(rows::sync_state).transpose()
    }

    async fn save_sync_state(&self, state: &obsctl_core::memory::sync::SyncState) -> Result<()> {
        save_sync_state!(self.pool, state, values = "($1,$2,$3,$4,$5,$6,$7,$8,$9,$10)")
    }

    async fn ledger(&self, cluster: Option<&str>) -> Result<Vec<LedgerEntry>> {
        let rows = sqlx::query("SELECT * FROM ledger WHERE ($1::text IS NULL OR cluster = $1)")
            .bind(cluster)
            .fetch_all(&self.pool)
            .await?;
        let mut entries = rows.iter().map(rows::ledger).collect::<Result<Vec<_>>>()?;
        rows::rank_ledger(&mut entries);
        Ok(entries)
    }

    async fn snapshot(&self, sink: &mut dyn crate::backup::SnapshotSink) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY").execute(&mut *tx).await?;
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
        backup_sql!(@restore sqlx::Postgres, self.pool, table, columns, rows)
    }

    async fn finish_restore(&self) -> Result<()> {
        for t in crate::backup::TABLES {
            if let Some(col) = t.serial {
                let sql = format!(
                    "SELECT setval(pg_get_serial_sequence('{0}', '{1}'), COALESCE((SELECT MAX({1}) FROM {0}), 0) + 1, false)",
                    t.name, col
                );
                sqlx::query(sqlx::AssertSqlSafe(sql)).execute(&self.pool).await?;
            }
        }
        Ok(())
    }

    async fn table_counts(&self) -> Result<Vec<(&'static str, u64)>> {
        backup_sql!(@counts self.pool)
    }

    async fn clear(&self) -> Result<()> {
        backup_sql!(@clear self.pool)
    }

    async fn heartbeat(
        &self,
        me: &obsctl_core::cluster::Replica,
        lease: std::time::Duration,
        grace: std::time::Duration,
    ) -> Result<Vec<obsctl_core::cluster::Replica>> {
        replica_sql!(@heartbeat self, pool, me, lease, grace, now = "(extract(epoch from clock_timestamp()) * 1000)::bigint", p = ["$1", "$2", "$3", "$4", "$5", "$6", "$7", "$8", "$9"])
    }

    async fn leave(&self, id: &str) -> Result<()> {
        sqlx::query("DELETE FROM replicas WHERE id = $1").bind(id).execute(&self.pool).await?;
        Ok(())
    }

    async fn replicas(&self) -> Result<(Vec<obsctl_core::cluster::Replica>, Timestamp)> {
        replica_sql!(@replicas self, pool, now = "(extract(epoch from clock_timestamp()) * 1000)::bigint")
    }

    async fn try_lease(&self, name: &str, holder: &str, ttl: std::time::Duration) -> Result<bool> {
        replica_sql!(@try_lease self, pool, name, holder, ttl, now = "(extract(epoch from clock_timestamp()) * 1000)::bigint", p = ["$1", "$2", "$3"])
    }

    async fn lease(&self, name: &str) -> Result<Option<crate::Lease>> {
        replica_sql!(@lease self, pool, name, now = "(extract(epoch from clock_timestamp()) * 1000)::bigint", p = "$1")
    }

    async fn release_lease(&self, name: &str, holder: &str) -> Result<()> {
        sqlx::query("DELETE FROM leases WHERE name = $1 AND holder = $2")
            .bind(name)
            .bind(holder)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn notify_replicas(&self, payload: &str) -> Result<()> {
        sqlx::query("SELECT pg_notify($1, $2)").bind(REPLICA_CHANNEL).bind(payload).execute(&self.pool).await?;
        Ok(())
    }

    async fn replica_notices(&self) -> Result<Option<tokio::sync::mpsc::Receiver<String>>> {
        let mut listener = sqlx::postgres::PgListener::connect_with(&self.pool).await?;
        listener.listen(REPLICA_CHANNEL).await?;
        let (tx, rx) = tokio::sync::mpsc::channel(1024);
        tokio::spawn(async move {
            loop {
                match listener.try_recv().await {
                    Ok(Some(notice)) => {
                        if tx.send(notice.payload().to_string()).await.is_err() {
                            return;
                        }
                    }
                    Ok(None) => tracing::warn!("lost the connection that hears the other replicas; making it again"),
                    Err(sqlx::Error::PoolClosed) => return,
                    Err(error) => {
                        tracing::warn!(%error, "cannot hear the other replicas; trying again in a second");
                        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                    }
                }
                if tx.is_closed() {
                    return;
                }
            }
        });
        Ok(Some(rx))
    }

    async fn close(&self) {
        self.pool.close().await;
    }
}

sql_graph_store!(PostgresStore, pool = pool, p1 = "$1", p2 = "$2", p3 = "$3", one = "1::bigint");
