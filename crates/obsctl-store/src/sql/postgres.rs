//! Postgres, for state shared across replicas: one pool; migrations, new incidents and leases
//! are serialised by advisory locks, and replicas tell each other what changed by `NOTIFY`.

use std::str::FromStr;
use std::time::Duration;

use sqlx::error::BoxDynError;
use sqlx::postgres::{PgArguments, PgConnectOptions, PgConnection, PgPoolOptions, PgQueryResult};
use sqlx::{Arguments, Pool, Postgres, Transaction};

use super::{Dialect, PostgresStore, SqlStore};
use crate::keys::CheckKeys;
use crate::{Result, StoreError, new_id};

/// The channel replicas tell each other what changed on (`Store::notify_replicas`).
const REPLICA_CHANNEL: &str = "obsctl_events";

/// Postgres' schema, (version, SQL). Append only: never edit an entry that has shipped.
const MIGRATIONS: &[(i64, &str)] = &[
    (1, include_str!("../../migrations/postgres/0001_init.sql")),
    (2, include_str!("../../migrations/postgres/0002_memory.sql")),
    (3, include_str!("../../migrations/postgres/0003_graph.sql")),
    (4, include_str!("../../migrations/postgres/0004_action_read_only.sql")),
    (5, include_str!("../../migrations/postgres/0005_change_feed.sql")),
    (6, include_str!("../../migrations/postgres/0006_leases.sql")),
    (7, include_str!("../../migrations/postgres/0007_action_gate.sql")),
    (8, include_str!("../../migrations/postgres/0008_alerts.sql")),
    (9, include_str!("../../migrations/postgres/0009_episode_origin.sql")),
    (10, include_str!("../../migrations/postgres/0010_memory_sync.sql")),
    (11, include_str!("../../migrations/postgres/0011_replicas.sql")),
    (12, include_str!("../../migrations/postgres/0012_replica_clock_and_activation.sql")),
    (13, include_str!("../../migrations/postgres/0013_check_rollups.sql")),
    (14, include_str!("../../migrations/postgres/0014_telemetry_reports.sql")),
    (15, include_str!("../../migrations/postgres/0015_check_target.sql")),
];
const _: () = assert!(MIGRATIONS.len() as i64 == crate::SCHEMA_VERSION, "SCHEMA_VERSION must count the migrations");

/// An arbitrary constant naming obsctl's migration lock.
const MIGRATION_LOCK: i64 = 0x6f62_7363_746c;

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
        super::migrate::migrate(&pool).await?;
        Ok(SqlStore { writer: pool.clone(), reader: pool, keys: CheckKeys::default() })
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
}

#[async_trait::async_trait]
impl Dialect for Postgres {
    const MIGRATIONS: &'static [(i64, &'static str)] = MIGRATIONS;
    const NOW_MS: &'static str = "(extract(epoch from clock_timestamp()) * 1000)::bigint";
    const INSERTION_ORDER: &'static str = "seq";
    const FOR_UPDATE: &'static str = " FOR UPDATE";
    const LATEST_OBSERVATION: &'static str =
        "JOIN LATERAL (SELECT * FROM observations WHERE check_key = c.key ORDER BY seq DESC LIMIT 1) o ON true";

    fn push_placeholder(sql: &mut String, n: usize) {
        sql.push('$');
        sql.push_str(&n.to_string());
    }

    fn in_list(column: &str, placeholder: &str) -> String {
        format!("{column} = ANY({placeholder}::text[])")
    }

    fn changed_nothing(column: &str) -> String {
        format!(
            "CASE WHEN left({column}, 1) = '{{' THEN coalesce(({column}::jsonb) ->> 'changed_nothing' = 'true', false) ELSE false END"
        )
    }

    fn bind_list(args: &mut PgArguments, items: &[&str]) -> Result<(), BoxDynError> {
        args.add(items.to_vec())
    }

    fn rows_affected(result: &PgQueryResult) -> u64 {
        result.rows_affected()
    }

    async fn begin_write(pool: &Pool<Postgres>) -> Result<Transaction<'static, Postgres>> {
        Ok(pool.begin().await?)
    }

    async fn begin_migrations(pool: &Pool<Postgres>) -> Result<Transaction<'static, Postgres>> {
        let mut tx = pool.begin().await?;
        sqlx::query("SELECT pg_advisory_xact_lock($1)").bind(MIGRATION_LOCK).execute(&mut *tx).await?;
        Ok(tx)
    }

    async fn begin_snapshot(pool: &Pool<Postgres>) -> Result<Transaction<'static, Postgres>> {
        let mut tx = pool.begin().await?;
        sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY").execute(&mut *tx).await?;
        Ok(tx)
    }

    async fn lock_fingerprints(conn: &mut PgConnection, fingerprints: &[&str]) -> Result<()> {
        // Under READ COMMITTED two transactions would both see no open incident; a lock per
        // fingerprint (the two-key space, apart from the migrations' one-key lock), taken in
        // order and held to the commit, puts them in turn.
        sqlx::query(
            "SELECT pg_advisory_xact_lock(1, hashtext(f)) FROM (SELECT DISTINCT f FROM unnest($1::text[]) AS t(f) ORDER BY f) AS s",
        )
        .bind(fingerprints)
        .execute(conn)
        .await?;
        Ok(())
    }

    async fn finish_restore(pool: &Pool<Postgres>) -> Result<()> {
        for t in crate::backup::TABLES {
            if let Some(col) = t.serial {
                let sql = format!(
                    "SELECT setval(pg_get_serial_sequence('{0}', '{1}'), COALESCE((SELECT MAX({1}) FROM {0}), 0) + 1, false)",
                    t.name, col
                );
                sqlx::query(sqlx::AssertSqlSafe(sql)).execute(pool).await?;
            }
        }
        Ok(())
    }

    async fn notify(pool: &Pool<Postgres>, payload: &str) -> Result<()> {
        sqlx::query("SELECT pg_notify($1, $2)").bind(REPLICA_CHANNEL).bind(payload).execute(pool).await?;
        Ok(())
    }

    async fn listen(pool: &Pool<Postgres>) -> Result<Option<tokio::sync::mpsc::Receiver<String>>> {
        let mut listener = sqlx::postgres::PgListener::connect_with(pool).await?;
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
}
