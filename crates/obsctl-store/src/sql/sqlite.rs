//! SQLite, the embedded default: one file in WAL mode, a single writer connection that every
//! write goes through, and a small pool of read-only connections.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::error::BoxDynError;
use sqlx::sqlite::{
    SqliteArguments, SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteQueryResult, SqliteSynchronous,
};
use sqlx::{Arguments, Pool, Sqlite, SqliteConnection, Transaction};

use super::{Dialect, SqlStore, SqliteStore};
use crate::keys::CheckKeys;
use crate::{Result, StoreError};

/// SQLite's schema, (version, SQL). Append only: never edit an entry that has shipped.
const MIGRATIONS: &[(i64, &str)] = &[
    (1, include_str!("../../migrations/sqlite/0001_init.sql")),
    (2, include_str!("../../migrations/sqlite/0002_memory.sql")),
    (3, include_str!("../../migrations/sqlite/0003_graph.sql")),
    (4, include_str!("../../migrations/sqlite/0004_action_read_only.sql")),
    (5, include_str!("../../migrations/sqlite/0005_change_feed.sql")),
    (6, include_str!("../../migrations/sqlite/0006_leases.sql")),
    (7, include_str!("../../migrations/sqlite/0007_action_gate.sql")),
    (8, include_str!("../../migrations/sqlite/0008_alerts.sql")),
    (9, include_str!("../../migrations/sqlite/0009_episode_origin.sql")),
    (10, include_str!("../../migrations/sqlite/0010_memory_sync.sql")),
    (11, include_str!("../../migrations/sqlite/0011_replicas.sql")),
    (12, include_str!("../../migrations/sqlite/0012_replica_clock_and_activation.sql")),
    (13, include_str!("../../migrations/sqlite/0013_check_rollups.sql")),
    (14, include_str!("../../migrations/sqlite/0014_telemetry_reports.sql")),
    (15, include_str!("../../migrations/sqlite/0015_check_target.sql")),
];
const _: () = assert!(MIGRATIONS.len() as i64 == crate::SCHEMA_VERSION, "SCHEMA_VERSION must count the migrations");

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
                super::migrate::migrate(&writer).await?;
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
        Ok(SqlStore { writer, reader, keys: CheckKeys::default() })
    }
}

#[async_trait::async_trait]
impl Dialect for Sqlite {
    const MIGRATIONS: &'static [(i64, &'static str)] = MIGRATIONS;
    const NOW_MS: &'static str = "CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)";
    const INSERTION_ORDER: &'static str = "rowid";
    const FOR_UPDATE: &'static str = "";
    const LATEST_OBSERVATION: &'static str =
        "JOIN observations o ON o.seq = (SELECT MAX(seq) FROM observations WHERE check_key = c.key)";

    fn push_placeholder(sql: &mut String, _: usize) {
        sql.push('?');
    }

    fn in_list(column: &str, placeholder: &str) -> String {
        format!("{column} IN (SELECT value FROM json_each({placeholder}))")
    }

    fn changed_nothing(column: &str) -> String {
        format!(
            "CASE WHEN json_valid({column}) THEN coalesce(json_extract({column}, '$.changed_nothing') IS 1, 0) ELSE 0 END"
        )
    }

    fn bind_list(args: &mut SqliteArguments, items: &[&str]) -> Result<(), BoxDynError> {
        args.add(serde_json::to_string(items)?)
    }

    fn rows_affected(result: &SqliteQueryResult) -> u64 {
        result.rows_affected()
    }

    async fn begin_write(pool: &Pool<Sqlite>) -> Result<Transaction<'static, Sqlite>> {
        Ok(pool.begin_with("BEGIN IMMEDIATE").await?)
    }

    async fn begin_migrations(pool: &Pool<Sqlite>) -> Result<Transaction<'static, Sqlite>> {
        Self::begin_write(pool).await
    }

    async fn begin_snapshot(pool: &Pool<Sqlite>) -> Result<Transaction<'static, Sqlite>> {
        // WAL keeps a read transaction's snapshot from its first read to its end.
        Ok(pool.begin().await?)
    }

    async fn lock_fingerprints(_: &mut SqliteConnection, _: &[&str]) -> Result<()> {
        Ok(())
    }

    async fn finish_restore(_: &Pool<Sqlite>) -> Result<()> {
        // INTEGER PRIMARY KEY columns continue after the largest value by themselves.
        Ok(())
    }

    async fn notify(_: &Pool<Sqlite>, _: &str) -> Result<()> {
        // SQLite serves one replica: there is no one to tell.
        Ok(())
    }

    async fn listen(_: &Pool<Sqlite>) -> Result<Option<tokio::sync::mpsc::Receiver<String>>> {
        Ok(None)
    }
}
