//! Applies the embedded Postgres migrations in order, each once, under an advisory lock so
//! replicas starting together do not race.

use sqlx::PgPool;

use crate::Result;

/// (version, SQL). Append only: never edit an entry that has shipped.
const MIGRATIONS: &[(i64, &str)] = &[
    (1, include_str!("../../../migrations/postgres/0001_init.sql")),
    (2, include_str!("../../../migrations/postgres/0002_memory.sql")),
    (3, include_str!("../../../migrations/postgres/0003_graph.sql")),
    (4, include_str!("../../../migrations/postgres/0004_action_read_only.sql")),
    (5, include_str!("../../../migrations/postgres/0005_change_feed.sql")),
    (6, include_str!("../../../migrations/postgres/0006_leases.sql")),
    (7, include_str!("../../../migrations/postgres/0007_action_gate.sql")),
    (8, include_str!("../../../migrations/postgres/0008_alerts.sql")),
    (9, include_str!("../../../migrations/postgres/0009_episode_origin.sql")),
    (10, include_str!("../../../migrations/postgres/0010_memory_sync.sql")),
    (11, include_str!("../../../migrations/postgres/0011_replicas.sql")),
    (12, include_str!("../../../migrations/postgres/0012_replica_clock_and_activation.sql")),
    (13, include_str!("../../../migrations/postgres/0013_check_rollups.sql")),
    (14, include_str!("../../../migrations/postgres/0014_telemetry_reports.sql")),
    (15, include_str!("../../../migrations/postgres/0015_check_target.sql")),
];
const _: () = assert!(MIGRATIONS.len() as i64 == crate::SCHEMA_VERSION, "SCHEMA_VERSION must count the migrations");

/// An arbitrary constant naming obsctl's migration lock.
const LOCK_KEY: i64 = 0x6f62_7363_746c;

pub(crate) async fn migrate(pool: &PgPool) -> Result<()> {
    let mut tx = pool.begin().await?;
    sqlx::query("SELECT pg_advisory_xact_lock($1)").bind(LOCK_KEY).execute(&mut *tx).await?;
    sqlx::query(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, applied_at BIGINT NOT NULL)",
    )
    .execute(&mut *tx)
    .await?;
    let applied: Vec<i64> = sqlx::query_scalar("SELECT version FROM schema_migrations").fetch_all(&mut *tx).await?;
    for (version, sql) in MIGRATIONS {
        if applied.contains(version) {
            continue;
        }
        sqlx::raw_sql(*sql).execute(&mut *tx).await?;
        sqlx::query("INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)")
            .bind(version)
            .bind(obsctl_core::Timestamp::now().millis())
            .execute(&mut *tx)
            .await?;
        tracing::info!(version, "applied store migration");
    }
    tx.commit().await?;
    Ok(())
}
