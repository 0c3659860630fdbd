//! Applies the embedded SQLite migrations in order, each once, recording them in `schema_migrations`.

use sqlx::SqlitePool;

use crate::Result;

/// (version, SQL). Append only: never edit an entry that has shipped.
const MIGRATIONS: &[(i64, &str)] = &[
    (1, include_str!("../../../migrations/sqlite/0001_init.sql")),
    (2, include_str!("../../../migrations/sqlite/0002_memory.sql")),
    (3, include_str!("../../../migrations/sqlite/0003_graph.sql")),
    (4, include_str!("../../../migrations/sqlite/0004_action_read_only.sql")),
    (5, include_str!("../../../migrations/sqlite/0005_change_feed.sql")),
    (6, include_str!("../../../migrations/sqlite/0006_leases.sql")),
    (7, include_str!("../../../migrations/sqlite/0007_action_gate.sql")),
    (8, include_str!("../../../migrations/sqlite/0008_alerts.sql")),
    (9, include_str!("../../../migrations/sqlite/0009_episode_origin.sql")),
    (10, include_str!("../../../migrations/sqlite/0010_memory_sync.sql")),
    (11, include_str!("../../../migrations/sqlite/0011_replicas.sql")),
    (12, include_str!("../../../migrations/sqlite/0012_replica_clock_and_activation.sql")),
    (13, include_str!("../../../migrations/sqlite/0013_check_rollups.sql")),
    (14, include_str!("../../../migrations/sqlite/0014_telemetry_reports.sql")),
    (15, include_str!("../../../migrations/sqlite/0015_check_target.sql")),
];
const _: () = assert!(MIGRATIONS.len() as i64 == crate::SCHEMA_VERSION, "SCHEMA_VERSION must count the migrations");

/// All in one `BEGIN IMMEDIATE` transaction: two processes opening a new file at once (a CLI
/// started beside a starting `serve`) take turns, and the second finds the work done.
pub(crate) async fn migrate(pool: &SqlitePool) -> Result<()> {
    let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
    sqlx::query(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)",
    )
    .execute(&mut *tx)
    .await?;
    let applied: Vec<i64> = sqlx::query_scalar("SELECT version FROM schema_migrations").fetch_all(&mut *tx).await?;
    for (version, sql) in MIGRATIONS {
        if applied.contains(version) {
            continue;
        }
        sqlx::raw_sql(*sql).execute(&mut *tx).await?;
        sqlx::query("INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)")
            .bind(version)
            .bind(obsctl_core::Timestamp::now().millis())
            .execute(&mut *tx)
            .await?;
        tracing::info!(version, "applied store migration");
    }
    tx.commit().await?;
    Ok(())
}
