//! Alerts received by webhook and the deliveries that brought them, written with the incidents
//! they open in one transaction.

use async_trait::async_trait;
use obsctl_core::Timestamp;
use obsctl_core::alert::{AlertDelivery, AlertRecord, AlertSource};
use obsctl_core::incident::Incident;

use super::incidents::insert_incidents;
use super::statement::{ROWS_PER_INSERT, values};
use super::{Dialect, SqlStore, sql};
use crate::filters::limit_or_default;
use crate::{AlertFilter, AlertLog, NewEvent, OpenedIncident, Result, rows};

const ALERT_COLUMNS: &str = "INSERT INTO alerts (source, fingerprint, status, service, kind, labels, annotations, \
     starts_at, ends_at, source_url, incident_id, first_seen, last_seen, deliveries)";

const ALERT_UPSERT: &str = " ON CONFLICT (source, fingerprint) DO UPDATE SET status = excluded.status, \
     service = excluded.service, kind = excluded.kind, labels = excluded.labels, annotations = excluded.annotations, \
     starts_at = excluded.starts_at, ends_at = excluded.ends_at, source_url = excluded.source_url, \
     incident_id = excluded.incident_id, last_seen = excluded.last_seen, deliveries = excluded.deliveries";

#[async_trait]
impl<D: Dialect> AlertLog for SqlStore<D> {
    async fn alerts_by_fingerprint(&self, source: AlertSource, fingerprints: &[String]) -> Result<Vec<AlertRecord>> {
        let rows = sql::<D>(format!("SELECT * FROM alerts WHERE source = $1 AND {}", D::in_list("fingerprint", "$2")))
            .bind(source.as_str())
            .bind(fingerprints)
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
        // As `open_incident`: the new incidents' fingerprints locked, then none may be open
        // already, or the delivery is refused whole for the intake to apply again.
        let fingerprints: Vec<&str> = opened.iter().map(|o| o.incident.fingerprint.as_str()).collect();
        if !fingerprints.is_empty() {
            D::lock_fingerprints(&mut tx, &fingerprints).await?;
            let open = sql::<D>(format!(
                "SELECT fingerprint FROM incidents WHERE status = 'open' AND {} LIMIT 1",
                D::in_list("fingerprint", "$1")
            ))
            .bind(fingerprints.as_slice())
            .fetch_optional(&mut *tx)
            .await?;
            if let Some(row) = open {
                return Err(opened_meanwhile(&crate::rows::DbRow::text(&row, "fingerprint")?));
            }
        }
        sql::<D>(
            "INSERT INTO alert_deliveries (source, received_at, receiver, group_key, alerts, truncated) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(delivery.source.as_str())
        .bind(delivery.received_at.millis())
        .bind(&delivery.receiver)
        .bind(&delivery.group_key)
        .bind(i64::from(delivery.alerts))
        .bind(i64::from(delivery.truncated))
        .execute(&mut *tx)
        .await?;
        let incidents: Vec<&Incident> = opened.iter().map(|o| &o.incident).collect();
        insert_incidents::<D>(&mut tx, &incidents).await?;
        // Each in multi-row statements: a round trip per row is what a delivery of new alerts
        // would otherwise spend its time on.
        let at = Timestamp::now().millis();
        let events: Vec<(&str, &NewEvent)> =
            opened.iter().flat_map(|o| o.events.iter().map(move |e| (o.incident.id.as_str(), e))).collect();
        for chunk in events.chunks(ROWS_PER_INSERT) {
            let mut q = sql::<D>(format!(
                "INSERT INTO incident_events (incident_id, at, kind, message, data){}",
                values::<D>(chunk.len(), 5)
            ));
            for (id, e) in chunk {
                q = q.bind(*id).bind(at).bind(e.kind.as_str()).bind(&e.message).bind(e.data.to_string());
            }
            q.execute(&mut *tx).await?;
        }
        for chunk in records.chunks(ROWS_PER_INSERT) {
            let mut q = sql::<D>(format!("{ALERT_COLUMNS}{}{ALERT_UPSERT}", values::<D>(chunk.len(), 14)));
            for r in chunk {
                q = q
                    .bind(r.alert.source.as_str())
                    .bind(&r.alert.fingerprint)
                    .bind(r.alert.status.as_str())
                    .bind(&r.service)
                    .bind(&r.kind)
                    .bind(serde_json::to_string(&r.alert.labels)?)
                    .bind(serde_json::to_string(&r.alert.annotations)?)
                    .bind(r.alert.starts_at.map(|t| t.millis()))
                    .bind(r.alert.ends_at.map(|t| t.millis()))
                    .bind(&r.alert.source_url)
                    .bind(&r.incident_id)
                    .bind(r.first_seen.millis())
                    .bind(r.last_seen.millis())
                    .bind(i64::from(r.deliveries));
            }
            q.execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn list_alerts(&self, f: &AlertFilter) -> Result<Vec<AlertRecord>> {
        let rows = sql::<D>(
            "SELECT * FROM alerts WHERE (CAST($1 AS TEXT) IS NULL OR status = $1) \
             AND (CAST($2 AS TEXT) IS NULL OR source = $2) AND (CAST($3 AS TEXT) IS NULL OR service = $3) \
             ORDER BY last_seen DESC, fingerprint LIMIT $4",
        )
        .bind(f.status.map(|s| s.as_str()))
        .bind(f.source.map(|s| s.as_str()))
        .bind(&f.service)
        .bind(limit_or_default(f.limit))
        .fetch_all(&self.reader)
        .await?;
        rows.iter().map(rows::alert).collect()
    }

    async fn alert_deliveries(&self, limit: u32) -> Result<Vec<AlertDelivery>> {
        let rows = sql::<D>("SELECT * FROM alert_deliveries ORDER BY id DESC LIMIT $1")
            .bind(limit_or_default(limit))
            .fetch_all(&self.reader)
            .await?;
        rows.iter().map(rows::alert_delivery).collect()
    }
}

/// The refusal of a new incident whose fingerprint has an open one already (written by another
/// replica since the caller looked): the caller looks again.
fn opened_meanwhile(fingerprint: &str) -> crate::StoreError {
    crate::StoreError::Conflict(format!("an incident of {fingerprint} is open already"))
}
