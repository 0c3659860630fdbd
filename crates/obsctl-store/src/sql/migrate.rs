//! Applies a database's embedded migrations (`Dialect::MIGRATIONS`) in order, each once,
//! recording them in `schema_migrations`, all in one transaction that processes and replicas
//! starting together take in turn (`Dialect::begin_migrations`): the second finds the work done.

use sqlx::Pool;

use super::{Dialect, sql};
use crate::Result;
use crate::rows::ColumnAt;

pub(super) async fn migrate<D: Dialect>(pool: &Pool<D>) -> Result<()> {
    let mut tx = D::begin_migrations(pool).await?;
    sql::<D>("CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, applied_at BIGINT NOT NULL)")
        .execute(&mut *tx)
        .await?;
    let applied = sql::<D>("SELECT version FROM schema_migrations")
        .fetch_all(&mut *tx)
        .await?
        .iter()
        .map(|row| row.int_at(0))
        .collect::<Result<Vec<i64>>>()?;
    for (version, script) in D::MIGRATIONS {
        if applied.contains(version) {
            continue;
        }
        D::script(&mut tx, script).await?;
        sql::<D>("INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)")
            .bind(*version)
            .bind(obsctl_core::Timestamp::now().millis())
            .execute(&mut *tx)
            .await?;
        tracing::info!(version, "applied store migration");
    }
    tx.commit().await?;
    Ok(())
}
