//! Whole-store reads and writes for backup, restore and reset, table by table in
//! `backup::TABLES` order.

use async_trait::async_trait;
use futures_util::TryStreamExt;

use super::statement::{ROWS_PER_INSERT, values};
use super::{Dialect, SqlStore, sql};
use crate::backup::{Cell, Kind, SnapshotSink, TABLES, Table};
use crate::rows::ColumnAt;
use crate::{Backups, Result};

#[async_trait]
impl<D: Dialect> Backups for SqlStore<D> {
    async fn snapshot(&self, sink: &mut dyn SnapshotSink) -> Result<()> {
        let mut tx = D::begin_snapshot(&self.reader).await?;
        let mut counts = Vec::with_capacity(TABLES.len());
        for t in TABLES {
            counts.push(sql::<D>(format!("SELECT COUNT(*) FROM {}", t.name)).int(&mut *tx).await? as u64);
        }
        for (t, n) in TABLES.iter().zip(counts) {
            sink.table(t, n)?;
            let mut rows = sql::<D>(t.select_sql()).fetch(&mut *tx);
            while let Some(row) = rows.try_next().await? {
                let cells = t
                    .columns
                    .iter()
                    .enumerate()
                    .map(|(i, (_, kind))| {
                        Ok(match kind {
                            Kind::Int => row.opt_int_at(i)?.map_or(Cell::Null, Cell::Int),
                            Kind::Text => row.opt_text_at(i)?.map_or(Cell::Null, Cell::Text),
                        })
                    })
                    .collect::<Result<Vec<_>>>()?;
                sink.row(cells)?;
            }
        }
        tx.rollback().await?;
        Ok(())
    }

    async fn restore_rows(&self, table: &'static Table, columns: &[String], rows: &[Vec<Cell>]) -> Result<()> {
        let mut tx = self.writer.begin().await?;
        for chunk in rows.chunks(ROWS_PER_INSERT) {
            let mut q = sql::<D>(table.insert_head(columns) + &values::<D>(chunk.len(), columns.len()));
            for row in chunk {
                for (cell, column) in row.iter().zip(columns) {
                    q = match table.kind(column) {
                        Some(Kind::Int) => q.bind(cell.int()),
                        _ => q.bind(cell.text()),
                    };
                }
            }
            q.execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn finish_restore(&self) -> Result<()> {
        D::finish_restore(&self.writer).await
    }

    async fn table_counts(&self) -> Result<Vec<(&'static str, u64)>> {
        let mut counts = Vec::with_capacity(TABLES.len());
        for t in TABLES {
            counts.push((t.name, sql::<D>(format!("SELECT COUNT(*) FROM {}", t.name)).int(&self.reader).await? as u64));
        }
        Ok(counts)
    }

    async fn clear(&self) -> Result<()> {
        let mut tx = self.writer.begin().await?;
        for t in TABLES.iter().rev() {
            sql::<D>(format!("DELETE FROM {}", t.name)).execute(&mut *tx).await?;
        }
        sql::<D>("DELETE FROM leases").execute(&mut *tx).await?;
        sql::<D>("DELETE FROM replicas").execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(())
    }
}
