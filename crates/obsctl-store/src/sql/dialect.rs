//! What differs between the two SQL databases, and nothing else: the `Dialect` each implements,
//! over `Driver`, the few generic calls into sqlx that every database with the schema's column
//! types answers.

use futures_util::future::BoxFuture;
use futures_util::stream::BoxStream;
use futures_util::{FutureExt, StreamExt};
use sqlx::error::BoxDynError;
use sqlx::{Arguments, AssertSqlSafe, Database, Encode, Executor, IntoArguments, Pool, Transaction, Type};

use super::statement::{On, Param};
use crate::Result;
use crate::rows::{ColumnAt, DbRow};

/// A SQL database the store runs on: its SQL where the two differ, and how it locks, listens
/// and numbers rows. Everything else is the shared SQL in `sql/`.
#[async_trait::async_trait]
pub(crate) trait Dialect: Driver + Database<Row: DbRow + ColumnAt> {
    /// Its schema, (version, SQL), append only.
    const MIGRATIONS: &'static [(i64, &'static str)];
    /// The store's clock, in unix milliseconds: leases and heartbeats are judged by it, never by
    /// a replica's own clock.
    const NOW_MS: &'static str;
    /// A column that orders a table's rows as they were inserted (ties of a timestamp).
    const INSERTION_ORDER: &'static str;
    /// Locks the rows a read in a transaction returns, where the database can (Postgres); SQLite
    /// needs none: its one writer holds the database from `begin_write`.
    const FOR_UPDATE: &'static str;
    /// Joins each check `c` to its newest observation `o`, the way this database plans well.
    const LATEST_OBSERVATION: &'static str;

    /// Appends the `n`th placeholder of a multi-row insert (`statement::values`). SQLite's
    /// are anonymous (`?`, bound in order): sqlx reads each named one's name back, which SQLite
    /// finds by a scan of all names, so thousands of `$n` cost quadratic time on every run.
    fn push_placeholder(sql: &mut String, n: usize);
    /// `column IN (…)` over a `Param::List` bound at `placeholder`.
    fn in_list(column: &str, placeholder: &str) -> String;
    /// Whether the JSON text in `column` says `"changed_nothing": true` (false for no JSON).
    fn changed_nothing(column: &str) -> String;
    /// Binds a list of texts (a JSON array on SQLite, a `text[]` on Postgres).
    fn bind_list(args: &mut Self::Arguments, items: &[&str]) -> Result<(), BoxDynError>;
    fn rows_affected(result: &Self::QueryResult) -> u64;

    /// A transaction that reads, then writes what it read: SQLite takes the write lock first
    /// (`BEGIN IMMEDIATE`), or another process writing in between fails it instead of waiting.
    async fn begin_write(pool: &Pool<Self>) -> Result<Transaction<'static, Self>>;
    /// The transaction migrations run in, which one process or replica at a time can hold.
    async fn begin_migrations(pool: &Pool<Self>) -> Result<Transaction<'static, Self>>;
    /// A read-only transaction that sees one snapshot of every table from its first read on.
    async fn begin_snapshot(pool: &Pool<Self>) -> Result<Transaction<'static, Self>>;
    /// Holds each fingerprint's lock to the end of the transaction, in order, so two
    /// transactions opening incidents of one fingerprint take turns (a no-op on SQLite, whose
    /// one writer already serialises them).
    async fn lock_fingerprints(conn: &mut Self::Connection, fingerprints: &[&str]) -> Result<()>;
    /// After a restore: what numbers new rows moves past the restored ones.
    async fn finish_restore(pool: &Pool<Self>) -> Result<()>;
    /// Tells the other replicas on this database what changed.
    async fn notify(pool: &Pool<Self>, payload: &str) -> Result<()>;
    /// What the other replicas tell, as it comes; `None` where there are none to hear.
    async fn listen(pool: &Pool<Self>) -> Result<Option<tokio::sync::mpsc::Receiver<String>>>;
}

/// The calls into sqlx that the shared SQL makes, for every database that can run statements
/// on its connections and bind the schema's integers and texts. Implemented once for all:
/// sqlx's bounds live here, not on every function of the store.
pub(crate) trait Driver: Database {
    fn bind(args: &mut Self::Arguments, value: Param<'_>) -> Result<(), BoxDynError>;
    /// Runs a script of statements without binds (a migration).
    fn script<'e>(conn: &'e mut Self::Connection, sql: &'static str) -> BoxFuture<'e, sqlx::Result<()>>;
    fn run<'e>(on: On<'e, Self>, sql: String, args: Self::Arguments) -> BoxFuture<'e, sqlx::Result<Self::QueryResult>>;
    fn all<'e>(on: On<'e, Self>, sql: String, args: Self::Arguments) -> BoxFuture<'e, sqlx::Result<Vec<Self::Row>>>;
    fn optional<'e>(
        on: On<'e, Self>,
        sql: String,
        args: Self::Arguments,
    ) -> BoxFuture<'e, sqlx::Result<Option<Self::Row>>>;
    fn stream<'e>(on: On<'e, Self>, sql: String, args: Self::Arguments) -> BoxStream<'e, sqlx::Result<Self::Row>>;
}

impl<D> Driver for D
where
    D: Database,
    D::Arguments: IntoArguments<D>,
    for<'c> &'c mut D::Connection: Executor<'c, Database = D>,
    for<'q> i64: Encode<'q, D> + Type<D>,
    for<'q> &'q str: Encode<'q, D> + Type<D>,
    for<'q> Option<i64>: Encode<'q, D>,
    for<'q> Option<&'q str>: Encode<'q, D>,
{
    fn bind(args: &mut D::Arguments, value: Param<'_>) -> Result<(), BoxDynError> {
        match value {
            Param::Int(v) => args.add(v),
            Param::Text(v) => args.add(v.as_deref()),
            Param::List(_) => Err("a list binds through its dialect".into()),
        }
    }

    fn script<'e>(conn: &'e mut D::Connection, sql: &'static str) -> BoxFuture<'e, sqlx::Result<()>> {
        sqlx::raw_sql(sql).execute(conn).map(|done| done.map(drop)).boxed()
    }

    fn run<'e>(on: On<'e, D>, sql: String, args: D::Arguments) -> BoxFuture<'e, sqlx::Result<D::QueryResult>> {
        let q = sqlx::query_with(AssertSqlSafe(sql), args);
        match on {
            On::Pool(p) => q.execute(p).boxed(),
            On::Conn(c) => q.execute(c).boxed(),
        }
    }

    fn all<'e>(on: On<'e, D>, sql: String, args: D::Arguments) -> BoxFuture<'e, sqlx::Result<Vec<D::Row>>> {
        let q = sqlx::query_with(AssertSqlSafe(sql), args);
        match on {
            On::Pool(p) => q.fetch_all(p).boxed(),
            On::Conn(c) => q.fetch_all(c).boxed(),
        }
    }

    fn optional<'e>(on: On<'e, D>, sql: String, args: D::Arguments) -> BoxFuture<'e, sqlx::Result<Option<D::Row>>> {
        let q = sqlx::query_with(AssertSqlSafe(sql), args);
        match on {
            On::Pool(p) => q.fetch_optional(p).boxed(),
            On::Conn(c) => q.fetch_optional(c).boxed(),
        }
    }

    fn stream<'e>(on: On<'e, D>, sql: String, args: D::Arguments) -> BoxStream<'e, sqlx::Result<D::Row>> {
        let q = sqlx::query_with(AssertSqlSafe(sql), args);
        match on {
            On::Pool(p) => q.fetch(p),
            On::Conn(c) => q.fetch(c),
        }
        .boxed()
    }
}
