//! What the SQL backends share, as macros because each backend's query type differs: the bind
//! list of each write (their SQL differs only in placeholder syntax), the conditional incident
//! update, the one transaction that remembers an episode, and the graph and change-feed queries.

/// Binds an `Incident` in the column order of `INCIDENT_INSERT`: id … resolution (15 values).
/// `$bind` is `push_bind` on a multi-row insert's row.
macro_rules! bind_incident_insert {
    ($q:expr, $i:expr, $bind:ident) => {
        $q.$bind(&$i.id)
            .$bind(&$i.fingerprint)
            .$bind(&$i.service)
            .$bind(&$i.check_id)
            .$bind(&$i.kind)
            .$bind($i.status.as_str())
            .$bind(&$i.title)
            .$bind(&$i.detail)
            .$bind($i.opened_at.millis())
            .$bind($i.updated_at.millis())
            .$bind($i.resolved_at.map(Timestamp::millis))
            .$bind(i64::from($i.occurrences))
            .$bind(i64::from($i.reopen_count))
            .$bind(&$i.upstream_incident)
            .$bind(&$i.resolution)
    };
}

/// Rows in one multi-row INSERT: 15 columns × 500 rows stays far under SQLite's 32,766 and
/// Postgres' 65,535 bound values.
pub(crate) const ROWS_PER_INSERT: usize = 500;

pub(crate) const INCIDENT_INSERT: &str = "INSERT INTO incidents (id, fingerprint, service, check_id, kind, status, \
     title, detail, opened_at, updated_at, resolved_at, occurrences, reopen_count, upstream_incident, resolution) ";

/// Inserts incidents (`&Incident`s) on `$exec` (evaluated per statement), 500 rows a statement.
macro_rules! insert_incidents {
    ($db:ty, $exec:expr, $incidents:expr) => {
        for chunk in $incidents.chunks(crate::binds::ROWS_PER_INSERT) {
            let mut q = sqlx::QueryBuilder::<$db>::new(crate::binds::INCIDENT_INSERT);
            q.push_values(chunk, |mut b, i| {
                bind_incident_insert!(b, i, push_bind);
            });
            q.build().execute($exec).await?;
        }
    };
}

/// Inserts the open incident `$i` on `$exec` unless an incident of its fingerprint is open, in
/// one statement; true when it inserted.
macro_rules! insert_incident_unless_open {
    ($db:ty, $exec:expr, $i:expr) => {{
        let mut q = sqlx::QueryBuilder::<$db>::new(crate::binds::INCIDENT_INSERT);
        q.push("SELECT ");
        {
            let mut values = q.separated(", ");
            bind_incident_insert!(values, $i, push_bind);
        }
        q.push(" WHERE NOT EXISTS (SELECT 1 FROM incidents WHERE status = 'open' AND fingerprint = ");
        q.push_bind(&$i.fingerprint);
        q.push(")");
        q.build().execute($exec).await?.rows_affected() == 1
    }};
}

/// Binds an `Incident` for the update: status … resolution, then id (10 values).
macro_rules! bind_incident_update {
    ($q:expr, $i:expr) => {
        $q.bind($i.status.as_str())
            .bind(&$i.kind)
            .bind(&$i.title)
            .bind(&$i.detail)
            .bind($i.updated_at.millis())
            .bind($i.resolved_at.map(Timestamp::millis))
            .bind(i64::from($i.occurrences))
            .bind(i64::from($i.reopen_count))
            .bind(&$i.upstream_incident)
            .bind(&$i.resolution)
            .bind(&$i.id)
    };
}

/// `update_incident` for a backend: the conditional update, then `NotFound` or `Conflict` when
/// it touched nothing.
macro_rules! update_incident_if {
    ($self:ident, $pool:expr, $sql:literal, $i:expr, $expected:expr, $exists:literal) => {{
        let done = bind_incident_update!(sqlx::query($sql), $i).bind($expected.as_str()).execute($pool).await?;
        if done.rows_affected() == 1 {
            return Ok(());
        }
        let status: Option<String> = sqlx::query_scalar($exists).bind(&$i.id).fetch_optional($pool).await?;
        match status {
            None => Err(StoreError::NotFound(format!("incident {}", $i.id))),
            Some(now) => Err(StoreError::Conflict(format!(
                "incident {} is {now} now, not {}; it changed meanwhile",
                $i.id,
                $expected.as_str()
            ))),
        }
    }};
}

/// Binds an `Action` in the column order of the insert: id … read_only, gate (21 values).
macro_rules! bind_action_insert {
    ($q:expr, $a:expr) => {
        $q.bind(&$a.id)
            .bind(&$a.idempotency_key)
            .bind(&$a.incident_id)
            .bind(&$a.service)
            .bind(&$a.fingerprint)
            .bind(&$a.plan_id)
            .bind(&$a.planner)
            .bind(&$a.runbook)
            .bind(i64::from($a.step))
            .bind(&$a.tool)
            .bind($a.args.to_string())
            .bind($a.mode.as_str())
            .bind($a.state.as_str())
            .bind(&$a.reason)
            .bind($a.result.as_ref().map(|r| r.to_string()))
            .bind($a.outcome.map(|o| o.as_str()))
            .bind($a.created_at.millis())
            .bind($a.updated_at.millis())
            .bind(&$a.decided_by)
            .bind(i64::from($a.read_only))
            .bind(&$a.gate)
    };
}

/// Binds an `Action` for the update: state, reason, result, outcome, updated_at, decided_by, id.
macro_rules! bind_action_update {
    ($q:expr, $a:expr) => {
        $q.bind($a.state.as_str())
            .bind(&$a.reason)
            .bind($a.result.as_ref().map(|r| r.to_string()))
            .bind($a.outcome.map(|o| o.as_str()))
            .bind($a.updated_at.millis())
            .bind(&$a.decided_by)
            .bind(&$a.id)
    };
}

/// Binds an `AuditRecord`: at, actor, action, subject, decision, reason, data.
macro_rules! bind_audit_insert {
    ($q:expr, $r:expr) => {
        $q.bind($r.at.millis())
            .bind(&$r.actor)
            .bind(&$r.action)
            .bind(&$r.subject)
            .bind(&$r.decision)
            .bind(&$r.reason)
            .bind($r.data.to_string())
    };
}

/// Binds a `Silence`: id, service, kind, starts_at, ends_at, reason, created_by.
macro_rules! bind_silence_insert {
    ($q:expr, $s:expr) => {
        $q.bind(&$s.id)
            .bind(&$s.service)
            .bind(&$s.kind)
            .bind($s.starts_at.millis())
            .bind($s.ends_at.millis())
            .bind(&$s.reason)
            .bind(&$s.created_by)
    };
}

/// Binds a received telemetry report: service, received_at, ok, the report as JSON.
macro_rules! bind_telemetry_report {
    ($q:expr, $r:expr) => {{
        let at =
            $r.received_at.ok_or_else(|| StoreError::Backend("a telemetry report is kept once received".into()))?;
        $q.bind(&$r.service).bind(at.millis()).bind(i64::from($r.ok)).bind(serde_json::to_string($r)?)
    }};
}

/// Binds an `AlertDelivery`: source, received_at, receiver, group_key, alerts, truncated.
macro_rules! bind_alert_delivery {
    ($q:expr, $d:expr) => {
        $q.bind($d.source.as_str())
            .bind($d.received_at.millis())
            .bind(&$d.receiver)
            .bind(&$d.group_key)
            .bind(i64::from($d.alerts))
            .bind(i64::from($d.truncated))
    };
}

pub(crate) const ALERT_INSERT: &str = "INSERT INTO alerts (source, fingerprint, status, service, kind, labels, \
     annotations, starts_at, ends_at, source_url, incident_id, first_seen, last_seen, deliveries) ";

pub(crate) const ALERT_UPSERT: &str = " ON CONFLICT (source, fingerprint) DO UPDATE SET status = excluded.status, \
     service = excluded.service, kind = excluded.kind, labels = excluded.labels, annotations = excluded.annotations, \
     starts_at = excluded.starts_at, ends_at = excluded.ends_at, source_url = excluded.source_url, \
     incident_id = excluded.incident_id, last_seen = excluded.last_seen, deliveries = excluded.deliveries";

pub(crate) const EVENT_INSERT: &str = "INSERT INTO incident_events (incident_id, at, kind, message, data) ";

/// The body of `save_alerts` inside the backend's transaction `$tx`: the delivery, then the new
/// incidents, their timeline entries and the alert records, each in multi-row statements (a
/// round trip per statement is what a delivery of new alerts would otherwise spend its time on).
macro_rules! save_alerts_in_tx {
    ($db:ty, $tx:ident, $delivery:expr, $records:expr, $opened:expr, $delivery_sql:expr) => {{
        use crate::binds::{ALERT_INSERT, ALERT_UPSERT, EVENT_INSERT, ROWS_PER_INSERT};
        bind_alert_delivery!(sqlx::query($delivery_sql), $delivery).execute(&mut *$tx).await?;
        let incidents: Vec<&Incident> = $opened.iter().map(|o| &o.incident).collect();
        insert_incidents!($db, &mut *$tx, incidents);
        let at = Timestamp::now().millis();
        let events: Vec<(&str, &crate::NewEvent, String)> = $opened
            .iter()
            .flat_map(|o| o.events.iter().map(move |e| (o.incident.id.as_str(), e, e.data.to_string())))
            .collect();
        for chunk in events.chunks(ROWS_PER_INSERT) {
            let mut q = sqlx::QueryBuilder::<$db>::new(EVENT_INSERT);
            q.push_values(chunk, |mut b, (id, e, data)| {
                b.push_bind(*id).push_bind(at).push_bind(e.kind.as_str()).push_bind(&e.message).push_bind(data);
            });
            q.build().execute(&mut *$tx).await?;
        }
        let maps: Vec<(String, String)> = $records
            .iter()
            .map(|r| Ok((serde_json::to_string(&r.alert.labels)?, serde_json::to_string(&r.alert.annotations)?)))
            .collect::<Result<_>>()?;
        for (chunk, maps) in $records.chunks(ROWS_PER_INSERT).zip(maps.chunks(ROWS_PER_INSERT)) {
            let mut q = sqlx::QueryBuilder::<$db>::new(ALERT_INSERT);
            q.push_values(chunk.iter().zip(maps), |mut b, (r, (labels, annotations))| {
                b.push_bind(r.alert.source.as_str())
                    .push_bind(&r.alert.fingerprint)
                    .push_bind(r.alert.status.as_str())
                    .push_bind(&r.service)
                    .push_bind(&r.kind)
                    .push_bind(labels)
                    .push_bind(annotations)
                    .push_bind(r.alert.starts_at.map(|t| t.millis()))
                    .push_bind(r.alert.ends_at.map(|t| t.millis()))
                    .push_bind(&r.alert.source_url)
                    .push_bind(&r.incident_id)
                    .push_bind(r.first_seen.millis())
                    .push_bind(r.last_seen.millis())
                    .push_bind(i64::from(r.deliveries));
            });
            q.push(ALERT_UPSERT);
            q.build().execute(&mut *$tx).await?;
        }
    }};
}

/// Binds an `Episode` in column order: id … source (16 values), then `$stored_at`.
macro_rules! bind_episode_insert {
    ($q:expr, $e:expr, $stored_at:expr) => {
        $q.bind(&$e.id)
            .bind(&$e.incident_id)
            .bind(&$e.fingerprint)
            .bind(&$e.cluster)
            .bind(&$e.service)
            .bind(&$e.kind)
            .bind(serde_json::to_string(&$e.labels)?)
            .bind(&$e.text)
            .bind(serde_json::to_string(&$e.actions)?)
            .bind($e.outcome.as_str())
            .bind($e.opened_at.millis())
            .bind($e.ended_at.millis())
            .bind($e.time_to_recover_ms)
            .bind(&$e.content_hash)
            .bind(&$e.origin)
            .bind(&$e.source)
            .bind($stored_at.millis())
    };
}

/// The episode insert with a backend's VALUES placeholder list and what to do on a duplicate id.
macro_rules! episode_insert_sql {
    ($values:literal, $on_conflict:literal) => {
        concat!(
            "INSERT INTO episodes (id, incident_id, fingerprint, cluster, service, kind, labels, text, actions, ",
            "outcome, opened_at, ended_at, time_to_recover_ms, content_hash, origin, source, stored_at) VALUES ",
            $values,
            " ON CONFLICT (id) DO ",
            $on_conflict
        )
    };
}

/// Binds a `LedgerEntry` in column order: cluster … remote_successes (12 values).
macro_rules! bind_ledger_upsert {
    ($q:expr, $l:expr) => {
        $q.bind(&$l.cluster)
            .bind(&$l.action_key)
            .bind(serde_json::to_string(&$l.steps)?)
            .bind(i64::from($l.attempts))
            .bind(i64::from($l.successes))
            .bind(i64::from($l.failures))
            .bind($l.median_ttr_ms)
            .bind(serde_json::to_string(&$l.ttr_samples_ms)?)
            .bind($l.last_used.millis())
            .bind(serde_json::to_string(&$l.episodes)?)
            .bind(i64::from($l.remote_attempts))
            .bind(i64::from($l.remote_successes))
    };
}

/// The ledger upsert, with a backend's VALUES placeholder list: the rest is the same SQL.
macro_rules! ledger_upsert_sql {
    ($values:literal) => {
        concat!(
            "INSERT INTO ledger (cluster, action_key, steps, attempts, successes, failures, median_ttr_ms, ",
            "ttr_samples_ms, last_used, episodes, remote_attempts, remote_successes) VALUES ",
            $values,
            " ON CONFLICT (cluster, action_key) DO UPDATE SET steps = excluded.steps, attempts = excluded.attempts, ",
            "successes = excluded.successes, failures = excluded.failures, median_ttr_ms = excluded.median_ttr_ms, ",
            "ttr_samples_ms = excluded.ttr_samples_ms, last_used = excluded.last_used, episodes = excluded.episodes, ",
            "remote_attempts = excluded.remote_attempts, remote_successes = excluded.remote_successes"
        )
    };
}

/// `Store::remember` and `Store::upsert_episode` for a backend, in one transaction. A new
/// episode is inserted and each attempt folded into its ledger row (read with `$select`, which
/// locks the row where the backend can, written with `$upsert`). A known id changes nothing for
/// `remember` (`Upserted::Unchanged`); for `upsert` an episode whose content hash differs
/// replaces the stored one, and the ledger of its old and new cluster is folded again from their
/// episodes (`$cluster_episodes`), so the ledger never diverges from the episodes.
macro_rules! episode_in_tx {
    (
        $begin:expr, $e:expr, replace = $replace:expr, local = $local:expr,
        values = $values:literal, select = $select:literal, upsert_values = $upsert:literal,
        existing = $existing:literal, delete_ledger = $delete_ledger:literal, cluster_episodes = $cluster_episodes:literal
    ) => {{
        let e = $e;
        let local: &str = $local;
        // An episode this deployment did not verify (learned elsewhere, imported, or claiming
        // to be ours): the ledger counts its attempts apart.
        let remote_of = |e: &obsctl_core::memory::Episode| !e.verified_here(local);
        // It reads before it writes: SQLite must take the write lock first (`BEGIN IMMEDIATE`),
        // or another process writing in between fails it instead of making it wait.
        let mut tx = $begin.await?;
        // Strictly after every episode written before, even within one millisecond: followers
        // of `(stored_at, id)` never miss a write that lands beside their cursor.
        let last: i64 =
            sqlx::query_scalar("SELECT COALESCE(MAX(stored_at), 0) FROM episodes").fetch_one(&mut *tx).await?;
        let now = obsctl_core::Timestamp(obsctl_core::Timestamp::now().millis().max(last + 1));
        let inserted = bind_episode_insert!(sqlx::query(episode_insert_sql!($values, "NOTHING")), e, now)
            .execute(&mut *tx)
            .await?;
        if inserted.rows_affected() == 1 {
            for attempt in e.actions.iter().filter(|a| a.learn) {
                let previous =
                    sqlx::query($select).bind(&e.cluster).bind(&attempt.action_key).fetch_optional(&mut *tx).await?;
                let previous = previous.as_ref().map(rows::ledger).transpose()?;
                let next = obsctl_core::memory::learn(previous, &e.cluster, attempt, &e.id, e.ended_at, remote_of(e));
                bind_ledger_upsert!(sqlx::query(ledger_upsert_sql!($upsert)), next).execute(&mut *tx).await?;
            }
            tx.commit().await?;
            return Ok(crate::Upserted::Added);
        }
        if !$replace {
            return Ok(crate::Upserted::Unchanged);
        }
        let (hash, old_cluster): (String, String) = sqlx::query_as($existing).bind(&e.id).fetch_one(&mut *tx).await?;
        if hash == e.content_hash {
            return Ok(crate::Upserted::Unchanged);
        }
        bind_episode_insert!(
            sqlx::query(episode_insert_sql!(
                $values,
                "UPDATE SET incident_id = excluded.incident_id, fingerprint = excluded.fingerprint, \
                 cluster = excluded.cluster, service = excluded.service, kind = excluded.kind, \
                 labels = excluded.labels, text = excluded.text, actions = excluded.actions, \
                 outcome = excluded.outcome, opened_at = excluded.opened_at, ended_at = excluded.ended_at, \
                 time_to_recover_ms = excluded.time_to_recover_ms, content_hash = excluded.content_hash, \
                 origin = excluded.origin, source = excluded.source, stored_at = excluded.stored_at"
            )),
            e,
            now
        )
        .execute(&mut *tx)
        .await?;
        let mut clusters = vec![old_cluster];
        if !clusters.contains(&e.cluster) {
            clusters.push(e.cluster.clone());
        }
        for cluster in &clusters {
            sqlx::query($delete_ledger).bind(cluster).execute(&mut *tx).await?;
            let episodes = sqlx::query($cluster_episodes).bind(cluster).fetch_all(&mut *tx).await?;
            let mut entries: std::collections::BTreeMap<String, obsctl_core::memory::LedgerEntry> = Default::default();
            for row in &episodes {
                let episode = rows::episode(row)?;
                for attempt in episode.actions.iter().filter(|a| a.learn) {
                    let previous = entries.remove(&attempt.action_key);
                    let remote = remote_of(&episode);
                    let next =
                        obsctl_core::memory::learn(previous, cluster, attempt, &episode.id, episode.ended_at, remote);
                    entries.insert(attempt.action_key.clone(), next);
                }
            }
            for entry in entries.values() {
                bind_ledger_upsert!(sqlx::query(ledger_upsert_sql!($upsert)), entry).execute(&mut *tx).await?;
            }
        }
        tx.commit().await?;
        Ok(crate::Upserted::Replaced)
    }};
}

/// `GraphStore` and `ChangeFeed` for a SQL backend: the same recursive CTEs and keyset reads,
/// with the backend's placeholders (`$p1`..`$p3`), its integer literal for depth and its executor.
macro_rules! sql_graph_store {
    // One table's rows changed after the keyset `after`, in change order.
    (@changed $self:ident, $pool:ident, $table:literal, $map:path, $after:ident, $limit:ident, $p1:literal, $p2:literal, $p3:literal) => {{
        let rows = sqlx::query(concat!(
            "SELECT * FROM ", $table, " WHERE updated_at > ", $p1, " OR (updated_at = ", $p1, " AND id > ", $p2,
            ") ORDER BY updated_at, id LIMIT ", $p3
        ))
        .bind($after.0.millis())
        .bind($after.1)
        .bind(crate::filters::limit_or_default($limit))
        .fetch_all(&$self.$pool)
        .await?;
        rows.iter().map($map).collect()
    }};
    ($ty:ty, pool = $pool:ident, p1 = $p1:literal, p2 = $p2:literal, p3 = $p3:literal, one = $one:literal) => {
        #[async_trait::async_trait]
        impl crate::ChangeFeed for $ty {
            async fn incidents_changed(
                &self,
                after: (obsctl_core::Timestamp, &str),
                limit: u32,
            ) -> crate::Result<Vec<obsctl_core::incident::Incident>> {
                sql_graph_store!(@changed self, $pool, "incidents", crate::rows::incident, after, limit, $p1, $p2, $p3)
            }

            async fn actions_changed(
                &self,
                after: (obsctl_core::Timestamp, &str),
                limit: u32,
            ) -> crate::Result<Vec<obsctl_core::action::Action>> {
                sql_graph_store!(@changed self, $pool, "actions", crate::rows::action, after, limit, $p1, $p2, $p3)
            }
        }

        #[async_trait::async_trait]
        impl crate::GraphStore for $ty {
            async fn set_dependencies(&self, edges: &[(String, String)]) -> crate::Result<()> {
                let mut tx = self.$pool.begin().await?;
                sqlx::query("DELETE FROM service_dependencies").execute(&mut *tx).await?;
                for (service, depends_on) in edges {
                    sqlx::query(concat!("INSERT INTO service_dependencies (service, depends_on) VALUES (", $p1, ", ", $p2, ") ON CONFLICT DO NOTHING"))
                        .bind(service)
                        .bind(depends_on)
                        .execute(&mut *tx)
                        .await?;
                }
                tx.commit().await?;
                Ok(())
            }

            async fn fix_history(&self, service: &str, limit: u32) -> crate::Result<Vec<obsctl_core::graph::FixRecord>> {
                let rows = sqlx::query(concat!(
                    "SELECT a.incident_id, i.kind, i.opened_at, a.id AS action_id, a.tool, a.args, a.state, a.outcome, ",
                    "a.updated_at AS at FROM actions a JOIN incidents i ON i.id = a.incident_id ",
                    "WHERE a.service = ", $p1, " AND a.planner != ", $p3, " ORDER BY a.created_at DESC, a.id DESC LIMIT ", $p2
                ))
                .bind(service)
                .bind(crate::filters::limit_or_default(limit))
                .bind(obsctl_core::action::ESCALATION_PLANNER)
                .fetch_all(&self.$pool)
                .await?;
                rows.iter().map(crate::rows::fix_record).collect()
            }

            async fn upstream_failures(&self, incident_id: &str) -> crate::Result<Vec<obsctl_core::graph::UpstreamFailure>> {
                let rows = sqlx::query(concat!(
                    "WITH RECURSIVE up(service, depth) AS (",
                    "SELECT d.depends_on, ", $one, " FROM service_dependencies d JOIN incidents i ON i.service = d.service WHERE i.id = ", $p1,
                    " UNION SELECT d.depends_on, up.depth + 1 FROM service_dependencies d JOIN up ON d.service = up.service WHERE up.depth < 32) ",
                    "SELECT up.service, MIN(up.depth) AS depth, inc.id AS incident_id, inc.kind FROM up ",
                    "JOIN incidents inc ON inc.service = up.service AND inc.status = 'open' ",
                    "GROUP BY up.service, inc.id, inc.kind ORDER BY depth, up.service, inc.id"
                ))
                .bind(incident_id)
                .fetch_all(&self.$pool)
                .await?;
                rows.iter().map(crate::rows::upstream).collect()
            }

            async fn blast_radius(&self, service: &str) -> crate::Result<Vec<obsctl_core::graph::Reached>> {
                let rows = sqlx::query(concat!(
                    "WITH RECURSIVE down(service, depth) AS (",
                    "SELECT service, ", $one, " FROM service_dependencies WHERE depends_on = ", $p1,
                    " UNION SELECT d.service, down.depth + 1 FROM service_dependencies d JOIN down ON d.depends_on = down.service ",
                    "WHERE down.depth < 32) SELECT service, MIN(depth) AS depth FROM down GROUP BY service ORDER BY depth, service"
                ))
                .bind(service)
                .fetch_all(&self.$pool)
                .await?;
                rows.iter().map(crate::rows::reached).collect()
            }
        }
    };
}

/// `Store::save_sync_state` for a backend, with its VALUES placeholder list (10 values).
macro_rules! save_sync_state {
    ($pool:expr, $s:expr, values = $values:literal) => {{
        let s = $s;
        sqlx::query(concat!(
            "INSERT INTO sync_peers (peer, pushed_at, pushed_id, pulled_at, pulled_id, pushed, pulled, last_attempt, ",
            "last_success, last_error) VALUES ",
            $values,
            " ON CONFLICT (peer) DO UPDATE SET pushed_at = excluded.pushed_at, pushed_id = excluded.pushed_id, ",
            "pulled_at = excluded.pulled_at, pulled_id = excluded.pulled_id, pushed = excluded.pushed, ",
            "pulled = excluded.pulled, last_attempt = excluded.last_attempt, last_success = excluded.last_success, ",
            "last_error = excluded.last_error"
        ))
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
        .execute(&$pool)
        .await?;
        Ok(())
    }};
}

/// `Store::heartbeat`, `replicas`, `try_lease` and `lease` for a backend, all judged by the
/// store's clock: `$now` is the backend's SQL for it in unix milliseconds, `$p1`.. its placeholders.
macro_rules! replica_sql {
    (@heartbeat $self:ident, $pool:ident, $me:ident, $lease:ident, $grace:ident, now = $now:literal, p = [$p1:literal, $p2:literal, $p3:literal, $p4:literal, $p5:literal, $p6:literal, $p7:literal, $p8:literal, $p9:literal]) => {{
        let mut tx = $self.$pool.begin().await?;
        // A new row, or one whose heartbeat had lapsed, starts its share after the grace.
        sqlx::query(concat!(
            "INSERT INTO replicas (id, host, pid, listen, started_at, heartbeat_at, checks, clock_offset_ms, active_from) ",
            "VALUES (", $p1, ", ", $p2, ", ", $p3, ", ", $p4, ", ", $p5, ", ", $now, ", ", $p6, ", ", $p7, " - ", $now, ", ",
            $now, " + ", $p8, ") ON CONFLICT (id) DO UPDATE SET heartbeat_at = excluded.heartbeat_at, ",
            "checks = excluded.checks, listen = excluded.listen, clock_offset_ms = excluded.clock_offset_ms, ",
            "active_from = CASE WHEN replicas.heartbeat_at <= ", $now, " - ", $p9,
            " THEN excluded.active_from ELSE replicas.active_from END"
        ))
        .bind(&$me.id)
        .bind(&$me.host)
        .bind(i64::from($me.pid))
        .bind(&$me.listen)
        .bind($me.started_at.millis())
        .bind(i64::from($me.checks))
        .bind($me.heartbeat_at.millis())
        .bind($grace.as_millis() as i64)
        .bind($lease.as_millis() as i64)
        .execute(&mut *tx)
        .await?;
        sqlx::query(concat!("DELETE FROM replicas WHERE heartbeat_at < ", $now, " - 3600000"))
            .execute(&mut *tx)
            .await?;
        let rows =
            sqlx::query(concat!("SELECT * FROM replicas WHERE heartbeat_at > ", $now, " - ", $p1, " ORDER BY id"))
                .bind($lease.as_millis() as i64)
                .fetch_all(&mut *tx)
                .await?;
        tx.commit().await?;
        rows.iter().map(crate::rows::replica).collect()
    }};
    (@try_lease $self:ident, $pool:ident, $name:ident, $holder:ident, $ttl:ident, now = $now:literal, p = [$p1:literal, $p2:literal, $p3:literal]) => {{
        let done = sqlx::query(concat!(
            "INSERT INTO leases (name, holder, expires_at) VALUES (",
            $p1,
            ", ",
            $p2,
            ", ",
            $now,
            " + ",
            $p3,
            ") ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at ",
            "WHERE leases.holder = excluded.holder OR leases.expires_at < ",
            $now
        ))
        .bind($name)
        .bind($holder)
        .bind($ttl.as_millis() as i64)
        .execute(&$self.$pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }};
    (@lease $self:ident, $pool:ident, $name:ident, now = $now:literal, p = $p1:literal) => {{
        let row: Option<(String, i64, bool)> = sqlx::query_as(concat!(
            "SELECT holder, expires_at, expires_at > ",
            $now,
            " FROM leases WHERE name = ",
            $p1
        ))
        .bind($name)
        .fetch_optional(&$self.$pool)
        .await?;
        Ok(row.map(|(holder, until, live)| crate::Lease { holder, until: obsctl_core::Timestamp(until), live }))
    }};
    (@replicas $self:ident, $pool:ident, now = $now:literal) => {{
        let rows = sqlx::query("SELECT * FROM replicas ORDER BY id").fetch_all(&$self.$pool).await?;
        let now: i64 = sqlx::query_scalar(concat!("SELECT ", $now)).fetch_one(&$self.$pool).await?;
        Ok((rows.iter().map(crate::rows::replica).collect::<crate::Result<Vec<_>>>()?, obsctl_core::Timestamp(now)))
    }};
}
