//! The SQL store: every part of `Store` implemented once, over either database. Its SQL is
//! written once with `$1` placeholders (`statement`); what really differs (locks, lists, the
//! clock, listening) is each database's `Dialect`.

mod actions;
mod alerts;
mod backups;
mod checks;
mod cluster;
mod dialect;
mod graph;
mod incidents;
mod memory;
mod migrate;
mod postgres;
mod rollups;
mod sqlite;
mod statement;

use async_trait::async_trait;
use sqlx::{Database, Pool};

pub(crate) use dialect::Dialect;
pub(crate) use statement::sql;

use crate::keys::CheckKeys;

/// A store on a SQL database: `SqliteStore` (the embedded default) or `PostgresStore` (state
/// shared by replicas).
pub struct SqlStore<D: Database> {
    /// Where writes go, and the reads a decision rests on (the gate's counts, a lookup before
    /// an insert): on SQLite its one connection queues them behind every write this process has
    /// begun, so they see those writes.
    pub(crate) writer: Pool<D>,
    /// Where the other reads go (SQLite: read-only connections that never wait for the
    /// writer; Postgres: the same pool as `writer`).
    pub(crate) reader: Pool<D>,
    /// Each check's key, and when its observations are next pruned.
    pub(crate) keys: CheckKeys,
}

pub type SqliteStore = SqlStore<sqlx::Sqlite>;
pub type PostgresStore = SqlStore<sqlx::Postgres>;

#[async_trait]
impl<D: Dialect> crate::Store for SqlStore<D> {
    async fn close(&self) {
        // On SQLite, closing the last connection checkpoints the WAL.
        self.reader.close().await;
        self.writer.close().await;
    }
}
