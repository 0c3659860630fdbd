//! The fix-history graph answered from the journal (recursive CTEs over DEPENDS_ON), and the
//! journal's change feed that the Bolt mirror follows.

use async_trait::async_trait;
use obsctl_core::Timestamp;
use obsctl_core::action::{Action, ESCALATION_PLANNER};
use obsctl_core::graph::{FixRecord, Reached, UpstreamFailure};
use obsctl_core::incident::Incident;

use super::{Dialect, SqlStore, sql};
use crate::filters::limit_or_default;
use crate::{ChangeFeed, GraphStore, Result, rows};

/// How far a walk over DEPENDS_ON goes: a cycle in the configured dependencies ends there.
const MAX_DEPTH: i64 = 32;

/// One table's rows changed after the keyset `after`, in change order.
async fn changed<D: Dialect>(
    store: &SqlStore<D>,
    table: &str,
    after: (Timestamp, &str),
    limit: u32,
) -> Result<Vec<D::Row>> {
    sql::<D>(format!(
        "SELECT * FROM {table} WHERE updated_at > $1 OR (updated_at = $1 AND id > $2) ORDER BY updated_at, id LIMIT $3"
    ))
    .bind(after.0.millis())
    .bind(after.1)
    .bind(limit_or_default(limit))
    .fetch_all(&store.writer)
    .await
}

#[async_trait]
impl<D: Dialect> ChangeFeed for SqlStore<D> {
    async fn incidents_changed(&self, after: (Timestamp, &str), limit: u32) -> Result<Vec<Incident>> {
        changed(self, "incidents", after, limit).await?.iter().map(rows::incident).collect()
    }

    async fn actions_changed(&self, after: (Timestamp, &str), limit: u32) -> Result<Vec<Action>> {
        changed(self, "actions", after, limit).await?.iter().map(rows::action).collect()
    }
}

#[async_trait]
impl<D: Dialect> GraphStore for SqlStore<D> {
    async fn set_dependencies(&self, edges: &[(String, String)]) -> Result<()> {
        let mut tx = self.writer.begin().await?;
        sql::<D>("DELETE FROM service_dependencies").execute(&mut *tx).await?;
        for (service, depends_on) in edges {
            sql::<D>("INSERT INTO service_dependencies (service, depends_on) VALUES ($1, $2) ON CONFLICT DO NOTHING")
                .bind(service)
                .bind(depends_on)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn fix_history(&self, service: &str, limit: u32) -> Result<Vec<FixRecord>> {
        let rows = sql::<D>(
            "SELECT a.incident_id, i.kind, i.opened_at, a.id AS action_id, a.tool, a.args, a.state, a.outcome, \
             a.updated_at AS at FROM actions a JOIN incidents i ON i.id = a.incident_id \
             WHERE a.service = $1 AND a.planner != $3 ORDER BY a.created_at DESC, a.id DESC LIMIT $2",
        )
        .bind(service)
        .bind(limit_or_default(limit))
        .bind(ESCALATION_PLANNER)
        .fetch_all(&self.writer)
        .await?;
        rows.iter().map(rows::fix_record).collect()
    }

    async fn upstream_failures(&self, incident_id: &str) -> Result<Vec<UpstreamFailure>> {
        let rows = sql::<D>(format!(
            "WITH RECURSIVE up(service, depth) AS (\
             SELECT d.depends_on, CAST(1 AS BIGINT) FROM service_dependencies d JOIN incidents i ON i.service = d.service \
             WHERE i.id = $1 \
             UNION SELECT d.depends_on, up.depth + 1 FROM service_dependencies d JOIN up ON d.service = up.service \
             WHERE up.depth < {MAX_DEPTH}) \
             SELECT up.service, MIN(up.depth) AS depth, inc.id AS incident_id, inc.kind FROM up \
             JOIN incidents inc ON inc.service = up.service AND inc.status = 'open' \
             GROUP BY up.service, inc.id, inc.kind ORDER BY depth, up.service, inc.id"
        ))
        .bind(incident_id)
        .fetch_all(&self.writer)
        .await?;
        rows.iter().map(rows::upstream).collect()
    }

    async fn blast_radius(&self, service: &str) -> Result<Vec<Reached>> {
        let rows = sql::<D>(format!(
            "WITH RECURSIVE down(service, depth) AS (\
             SELECT service, CAST(1 AS BIGINT) FROM service_dependencies WHERE depends_on = $1 \
             UNION SELECT d.service, down.depth + 1 FROM service_dependencies d JOIN down ON d.depends_on = down.service \
             WHERE down.depth < {MAX_DEPTH}) \
             SELECT service, MIN(depth) AS depth FROM down GROUP BY service ORDER BY depth, service"
        ))
        .bind(service)
        .fetch_all(&self.writer)
        .await?;
        rows.iter().map(rows::reached).collect()
    }
}
