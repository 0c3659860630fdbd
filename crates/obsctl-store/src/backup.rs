//! Backup and restore: the tables a backup holds (the same names and columns on every
//! backend), a row as backend-neutral cells, and the SQL both backends run to read every table
//! in one snapshot and to write rows back. The archive file is `backup/archive.rs`.

pub mod archive;

use std::path::Path;

use serde::Serialize;

use crate::{Result, Store, StoreError};
use archive::{ArchiveReader, ArchiveWriter, ConfigFile, Header, Item, Progress, Summary, TableSum};

/// A column's type: every column obsctl stores is an integer or text, either nullable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Int,
    Text,
}

/// One table of the backup, in restore order (a table comes after those it references).
#[derive(Debug)]
pub struct Table {
    pub name: &'static str,
    pub columns: &'static [(&'static str, Kind)],
    /// The dump's order: deterministic, and the order rows are inserted back in.
    pub order: &'static str,
    /// A column a Postgres sequence fills, set past the restored rows afterwards.
    pub serial: Option<&'static str>,
}

use Kind::{Int, Text};

/// Every table of the journal and memory. Leases and replicas are left out: they belong to
/// running processes. Postgres' `seq` columns of incidents and actions are left out too: they only
/// order rows, and restoring in `order` fills them in the same order.
pub const TABLES: &[Table] = &[
    Table {
        name: "checks",
        columns: &[("key", Int), ("id", Text), ("status", Text), ("status_at", Int)],
        order: "key",
        serial: Some("key"),
    },
    Table {
        name: "observations",
        columns: &[("seq", Int), ("check_key", Int), ("at", Int), ("ok", Int), ("latency_us", Int), ("detail", Text)],
        order: "seq",
        serial: Some("seq"),
    },
    Table {
        name: "check_rollups",
        columns: &[
            ("check_key", Int),
            ("span_ms", Int),
            ("start_ms", Int),
            ("runs", Int),
            ("passes", Int),
            ("unknowns", Int),
            ("latency_sum_us", Int),
        ],
        order: "check_key, span_ms, start_ms",
        serial: None,
    },
    Table {
        name: "check_latency",
        columns: &[("check_key", Int), ("start_ms", Int), ("bucket", Int), ("n", Int)],
        order: "check_key, start_ms, bucket",
        serial: None,
    },
    Table {
        name: "incidents",
        columns: &[
            ("id", Text),
            ("fingerprint", Text),
            ("service", Text),
            ("check_id", Text),
            ("kind", Text),
            ("status", Text),
            ("title", Text),
            ("detail", Text),
            ("opened_at", Int),
            ("updated_at", Int),
            ("resolved_at", Int),
            ("occurrences", Int),
            ("reopen_count", Int),
            ("upstream_incident", Text),
            ("resolution", Text),
        ],
        order: "opened_at, id",
        serial: None,
    },
    Table {
        name: "incident_events",
        columns: &[("id", Int), ("incident_id", Text), ("at", Int), ("kind", Text), ("message", Text), ("data", Text)],
        order: "id",
        serial: Some("id"),
    },
    Table {
        name: "actions",
        columns: &[
            ("id", Text),
            ("idempotency_key", Text),
            ("incident_id", Text),
            ("service", Text),
            ("fingerprint", Text),
            ("plan_id", Text),
            ("planner", Text),
            ("runbook", Text),
            ("step", Int),
            ("tool", Text),
            ("args", Text),
            ("mode", Text),
            ("state", Text),
            ("reason", Text),
            ("result", Text),
            ("outcome", Text),
            ("created_at", Int),
            ("updated_at", Int),
            ("decided_by", Text),
            ("read_only", Int),
            ("gate", Text),
        ],
        order: "created_at, id",
        serial: None,
    },
    Table {
        name: "audit",
        columns: &[
            ("id", Int),
            ("at", Int),
            ("actor", Text),
            ("action", Text),
            ("subject", Text),
            ("decision", Text),
            ("reason", Text),
            ("data", Text),
        ],
        order: "id",
        serial: Some("id"),
    },
    Table {
        name: "silences",
        columns: &[
            ("id", Text),
            ("service", Text),
            ("kind", Text),
            ("starts_at", Int),
            ("ends_at", Int),
            ("reason", Text),
            ("created_by", Text),
        ],
        order: "id",
        serial: None,
    },
    Table {
        name: "telemetry_reports",
        columns: &[("service", Text), ("received_at", Int), ("ok", Int), ("report", Text)],
        order: "service",
        serial: None,
    },
    Table {
        name: "episodes",
        columns: &[
            ("id", Text),
            ("incident_id", Text),
            ("fingerprint", Text),
            ("cluster", Text),
            ("service", Text),
            ("kind", Text),
            ("labels", Text),
            ("text", Text),
            ("actions", Text),
            ("outcome", Text),
            ("opened_at", Int),
            ("ended_at", Int),
            ("time_to_recover_ms", Int),
            ("content_hash", Text),
            ("origin", Text),
            ("source", Text),
            ("stored_at", Int),
        ],
        order: "id",
        serial: None,
    },
    Table {
        name: "ledger",
        columns: &[
            ("cluster", Text),
            ("action_key", Text),
            ("steps", Text),
            ("attempts", Int),
            ("successes", Int),
            ("failures", Int),
            ("median_ttr_ms", Int),
            ("ttr_samples_ms", Text),
            ("last_used", Int),
            ("episodes", Text),
            ("remote_attempts", Int),
            ("remote_successes", Int),
        ],
        order: "cluster, action_key",
        serial: None,
    },
    Table {
        name: "service_dependencies",
        columns: &[("service", Text), ("depends_on", Text)],
        order: "service, depends_on",
        serial: None,
    },
    Table {
        name: "alerts",
        columns: &[
            ("source", Text),
            ("fingerprint", Text),
            ("status", Text),
            ("service", Text),
            ("kind", Text),
            ("labels", Text),
            ("annotations", Text),
            ("starts_at", Int),
            ("ends_at", Int),
            ("source_url", Text),
            ("incident_id", Text),
            ("first_seen", Int),
            ("last_seen", Int),
            ("deliveries", Int),
        ],
        order: "source, fingerprint",
        serial: None,
    },
    Table {
        name: "sync_peers",
        columns: &[
            ("peer", Text),
            ("pushed_at", Int),
            ("pushed_id", Text),
            ("pulled_at", Int),
            ("pulled_id", Text),
            ("pushed", Int),
            ("pulled", Int),
            ("last_attempt", Int),
            ("last_success", Int),
            ("last_error", Text),
        ],
        order: "peer",
        serial: None,
    },
    Table {
        name: "alert_deliveries",
        columns: &[
            ("id", Int),
            ("source", Text),
            ("received_at", Int),
            ("receiver", Text),
            ("group_key", Text),
            ("alerts", Int),
            ("truncated", Int),
        ],
        order: "id",
        serial: Some("id"),
    },
];

/// The table called `name`.
pub fn table(name: &str) -> Option<&'static Table> {
    TABLES.iter().find(|t| t.name == name)
}

impl Table {
    pub(crate) fn select_sql(&self) -> String {
        let cols: Vec<&str> = self.columns.iter().map(|(c, _)| *c).collect();
        format!("SELECT {} FROM {} ORDER BY {}", cols.join(", "), self.name, self.order)
    }

    pub(crate) fn insert_head(&self, columns: &[String]) -> String {
        format!("INSERT INTO {} ({}) ", self.name, columns.join(", "))
    }

    /// The kind of a column, if this table has it.
    pub fn kind(&self, column: &str) -> Option<Kind> {
        self.columns.iter().find(|(c, _)| *c == column).map(|(_, k)| *k)
    }
}

/// One value of a row: JSON `null`, a number or a string.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Cell {
    Null,
    Int(i64),
    Text(String),
}

impl Cell {
    /// Reads a JSON value as a cell of `kind`.
    pub fn from_json(value: &serde_json::Value, kind: Kind) -> Option<Cell> {
        match (value, kind) {
            (serde_json::Value::Null, _) => Some(Cell::Null),
            (serde_json::Value::Number(n), Kind::Int) => n.as_i64().map(Cell::Int),
            (serde_json::Value::String(s), Kind::Text) => Some(Cell::Text(s.clone())),
            _ => None,
        }
    }

    pub(crate) fn int(&self) -> Option<i64> {
        match self {
            Cell::Int(n) => Some(*n),
            _ => None,
        }
    }

    pub(crate) fn text(&self) -> Option<&str> {
        match self {
            Cell::Text(s) => Some(s),
            _ => None,
        }
    }
}

/// Where `Store::snapshot` puts what it reads: each table's name and row count, then its rows.
pub trait SnapshotSink: Send {
    fn table(&mut self, table: &'static Table, rows: u64) -> crate::Result<()>;
    fn row(&mut self, cells: Vec<Cell>) -> crate::Result<()>;
}

/// Rows per restore transaction.
const RESTORE_TRANSACTION: usize = 5000;

/// Writes a backup of `store` to `path`: every table in one snapshot, taken while the instance
/// keeps running. Returns each table's count and checksum.
pub async fn take(
    store: &dyn Store,
    path: &Path,
    backend: &str,
    config: Option<ConfigFile>,
    progress: Progress,
) -> Result<Vec<TableSum>> {
    let total = store.table_counts().await?.iter().map(|(_, n)| n).sum();
    let header = Header {
        format: archive::FORMAT.into(),
        version: archive::VERSION,
        schema: crate::SCHEMA_VERSION,
        created_at: obsctl_core::Timestamp::now().rfc3339(),
        obsctl: env!("CARGO_PKG_VERSION").into(),
        backend: backend.into(),
    };
    let mut writer = ArchiveWriter::create(path, &header, config, total, progress)?;
    store.snapshot(&mut writer).await?;
    writer.finish()
}

/// Tables a fresh store may already hold rows in: the dependencies `serve` and every command
/// write from the config at start. A restore replaces them.
const DERIVED: &[&str] = &["service_dependencies"];

/// Restores the archive at `path` into `store`, which must be empty: the whole archive is
/// verified first (counts, checksums, versions), so a bad one changes nothing. Rows go in
/// batches, each table in its order; `progress` gets rows restored of the total.
pub async fn restore(store: &dyn Store, path: &Path, mut progress: Progress) -> Result<Summary> {
    let summary = ArchiveReader::verify(path, crate::SCHEMA_VERSION)?;
    let occupied: Vec<String> = store
        .table_counts()
        .await?
        .into_iter()
        .filter(|(name, n)| *n > 0 && !DERIVED.contains(name))
        .map(|(name, n)| format!("{n} {name}"))
        .collect();
    if !occupied.is_empty() {
        return Err(StoreError::Invalid(format!(
            "the store is not empty ({}); restore into a new database or file, or run `obsctl reset` first",
            occupied.join(", ")
        )));
    }
    store.set_dependencies(&[]).await?;
    let total = summary.rows();
    let mut done = 0;
    let mut reader = ArchiveReader::open(path, crate::SCHEMA_VERSION)?;
    let mut current: Option<(&'static Table, Vec<String>)> = None;
    let mut batch: Vec<Vec<Cell>> = Vec::with_capacity(RESTORE_TRANSACTION);
    loop {
        let item = reader.next_item()?;
        let table_ends = matches!(item, None | Some(Item::Table(..)));
        if (table_ends || batch.len() >= RESTORE_TRANSACTION)
            && let Some((table, columns)) = &current
            && !batch.is_empty()
        {
            store.restore_rows(table, columns, &batch).await?;
            done += batch.len() as u64;
            progress(done, total);
            batch.clear();
        }
        match item {
            None => break,
            Some(Item::Table(table, columns)) => current = Some((table, columns)),
            Some(Item::Row(cells)) => batch.push(cells),
            Some(Item::Config(_)) => {}
        }
    }
    store.finish_restore().await?;
    Ok(summary)
}
