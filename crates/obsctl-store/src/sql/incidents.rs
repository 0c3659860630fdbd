//! Incidents, their timelines, and silences.

use async_trait::async_trait;
use obsctl_core::Timestamp;
use obsctl_core::incident::{Incident, IncidentEvent, IncidentStatus, Silence};
use obsctl_core::timeline::EntryKind;

use super::statement::{On, ROWS_PER_INSERT, Statement, values};
use super::{Dialect, SqlStore, sql};
use crate::error::{found, touched};
use crate::filters::limit_or_default;
use crate::{IncidentFilter, IncidentLog, Result, StoreError, rows};

const INCIDENT_COLUMNS: &str = "INSERT INTO incidents (id, fingerprint, service, check_id, kind, status, title, detail, \
     opened_at, updated_at, resolved_at, occurrences, reopen_count, upstream_incident, resolution)";
const INCIDENT_VALUES: usize = 15;

/// Binds an `Incident` in the column order of `INCIDENT_COLUMNS`.
fn bind_incident<D: Dialect>(q: Statement<D>, i: &Incident) -> Statement<D> {
    q.bind(&i.id)
        .bind(&i.fingerprint)
        .bind(&i.service)
        .bind(&i.check_id)
        .bind(&i.kind)
        .bind(i.status.as_str())
        .bind(&i.title)
        .bind(&i.detail)
        .bind(i.opened_at.millis())
        .bind(i.updated_at.millis())
        .bind(i.resolved_at.map(Timestamp::millis))
        .bind(i64::from(i.occurrences))
        .bind(i64::from(i.reopen_count))
        .bind(&i.upstream_incident)
        .bind(&i.resolution)
}

/// Inserts incidents, `ROWS_PER_INSERT` a statement, on a transaction's connection.
pub(super) async fn insert_incidents<D: Dialect>(conn: &mut D::Connection, incidents: &[&Incident]) -> Result<()> {
    for chunk in incidents.chunks(ROWS_PER_INSERT) {
        let mut q = sql::<D>(format!("{INCIDENT_COLUMNS}{}", values::<D>(chunk.len(), INCIDENT_VALUES)));
        for i in chunk {
            q = bind_incident(q, i);
        }
        q.execute(&mut *conn).await?;
    }
    Ok(())
}

/// The latest incident of a fingerprint, newest first by opening.
async fn latest_of<'e, D: Dialect>(on: impl Into<On<'e, D>>, fingerprint: &str) -> Result<Option<Incident>> {
    let row = sql::<D>(format!(
        "SELECT * FROM incidents WHERE fingerprint = $1 ORDER BY opened_at DESC, {} DESC LIMIT 1",
        D::INSERTION_ORDER
    ))
    .bind(fingerprint)
    .fetch_optional(on)
    .await?;
    row.as_ref().map(rows::incident).transpose()
}

#[async_trait]
impl<D: Dialect> IncidentLog for SqlStore<D> {
    async fn insert_incident(&self, i: &Incident) -> Result<()> {
        // One statement: no transaction to open around it.
        let insert = sql::<D>(format!("{INCIDENT_COLUMNS}{}", values::<D>(1, INCIDENT_VALUES)));
        bind_incident(insert, i).execute(&self.writer).await?;
        Ok(())
    }

    async fn open_incident(&self, i: &Incident) -> Result<Option<Incident>> {
        let mut tx = self.writer.begin().await?;
        D::lock_fingerprints(&mut tx, &[i.fingerprint.as_str()]).await?;
        // One statement: the look for an open incident and the insert.
        let insert = sql::<D>(format!(
            "{INCIDENT_COLUMNS} SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15 \
             WHERE NOT EXISTS (SELECT 1 FROM incidents WHERE status = 'open' AND fingerprint = $16)"
        ));
        let opened = bind_incident(insert, i).bind(&i.fingerprint).execute(&mut *tx).await? == 1;
        tx.commit().await?;
        if opened {
            return Ok(None);
        }
        // The open incident that kept it from opening; a `Conflict` if that ended in the moment
        // between, for the caller to try again.
        match latest_of::<D>(&self.writer, &i.fingerprint).await? {
            Some(open) if open.status == IncidentStatus::Open => Ok(Some(open)),
            _ => Err(StoreError::Conflict(format!("the open incident of {} ended meanwhile", i.fingerprint))),
        }
    }

    async fn update_incident(&self, i: &Incident, expected: IncidentStatus) -> Result<()> {
        let done = sql::<D>(
            "UPDATE incidents SET status = $1, kind = $2, title = $3, detail = $4, updated_at = $5, resolved_at = $6, \
             occurrences = $7, reopen_count = $8, upstream_incident = $9, resolution = $10 WHERE id = $11 AND status = $12",
        )
        .bind(i.status.as_str())
        .bind(&i.kind)
        .bind(&i.title)
        .bind(&i.detail)
        .bind(i.updated_at.millis())
        .bind(i.resolved_at.map(Timestamp::millis))
        .bind(i64::from(i.occurrences))
        .bind(i64::from(i.reopen_count))
        .bind(&i.upstream_incident)
        .bind(&i.resolution)
        .bind(&i.id)
        .bind(expected.as_str())
        .execute(&self.writer)
        .await?;
        if done == 1 {
            return Ok(());
        }
        let now =
            sql::<D>("SELECT status FROM incidents WHERE id = $1").bind(&i.id).fetch_optional(&self.writer).await?;
        match now {
            None => Err(StoreError::NotFound(format!("incident {}", i.id))),
            Some(row) => Err(StoreError::Conflict(format!(
                "incident {} is {} now, not {}; it changed meanwhile",
                i.id,
                crate::rows::DbRow::text(&row, "status")?,
                expected.as_str()
            ))),
        }
    }

    async fn incident(&self, id: &str) -> Result<Incident> {
        let row = sql::<D>("SELECT * FROM incidents WHERE id = $1").bind(id).fetch_one(&self.reader).await;
        rows::incident(&found(row, "incident", id)?)
    }

    async fn latest_incident_by_fingerprint(&self, fingerprint: &str) -> Result<Option<Incident>> {
        latest_of::<D>(&self.writer, fingerprint).await
    }

    async fn latest_incidents_by_fingerprint(&self, fingerprints: &[String]) -> Result<Vec<Incident>> {
        let rows = sql::<D>(format!(
            "SELECT * FROM incidents WHERE {} ORDER BY opened_at DESC, {} DESC",
            D::in_list("fingerprint", "$1"),
            D::INSERTION_ORDER
        ))
        .bind(fingerprints)
        .fetch_all(&self.writer)
        .await?;
        Ok(latest_per_fingerprint(rows.iter().map(rows::incident).collect::<Result<_>>()?))
    }

    async fn list_incidents(&self, f: &IncidentFilter) -> Result<Vec<Incident>> {
        let rows = sql::<D>(format!(
            "SELECT * FROM incidents WHERE (CAST($1 AS TEXT) IS NULL OR status = $1) \
             AND (CAST($2 AS TEXT) IS NULL OR service = $2) AND (CAST($3 AS TEXT) IS NULL OR kind = $3) \
             ORDER BY updated_at DESC, {} DESC LIMIT $4",
            D::INSERTION_ORDER
        ))
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
        let id = sql::<D>(
            "INSERT INTO incident_events (incident_id, at, kind, message, data) VALUES ($1, $2, $3, $4, $5) RETURNING id",
        )
        .bind(incident_id)
        .bind(at.millis())
        .bind(kind.as_str())
        .bind(message)
        .bind(data.to_string())
        .int(&self.writer)
        .await?;
        Ok(IncidentEvent { id, incident_id: incident_id.into(), at, kind, message: message.into(), data })
    }

    async fn events(&self, incident_id: &str) -> Result<Vec<IncidentEvent>> {
        let rows = sql::<D>("SELECT * FROM incident_events WHERE incident_id = $1 ORDER BY id")
            .bind(incident_id)
            .fetch_all(&self.reader)
            .await?;
        rows.iter().map(rows::event).collect()
    }

    async fn insert_silence(&self, s: &Silence) -> Result<()> {
        sql::<D>(
            "INSERT INTO silences (id, service, kind, starts_at, ends_at, reason, created_by) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&s.id)
        .bind(&s.service)
        .bind(&s.kind)
        .bind(s.starts_at.millis())
        .bind(s.ends_at.millis())
        .bind(&s.reason)
        .bind(&s.created_by)
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    async fn silences(&self, active_at: Option<Timestamp>) -> Result<Vec<Silence>> {
        let rows = sql::<D>(
            "SELECT * FROM silences WHERE (CAST($1 AS BIGINT) IS NULL OR (starts_at <= $1 AND ends_at > $1)) \
             ORDER BY starts_at",
        )
        .bind(active_at.map(Timestamp::millis))
        .fetch_all(&self.writer)
        .await?;
        rows.iter().map(rows::silence).collect()
    }

    async fn delete_silence(&self, id: &str) -> Result<()> {
        let done = sql::<D>("DELETE FROM silences WHERE id = $1").bind(id).execute(&self.writer).await?;
        touched(done, "silence", id)
    }
}

/// The latest of `incidents` per fingerprint, given them newest first.
fn latest_per_fingerprint(incidents: Vec<Incident>) -> Vec<Incident> {
    let mut seen = std::collections::HashSet::new();
    incidents.into_iter().filter(|i| seen.insert(i.fingerprint.clone())).collect()
}
