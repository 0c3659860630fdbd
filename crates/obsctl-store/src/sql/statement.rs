//! One statement of the shared SQL: written once with `$1`-style placeholders (both drivers read
//! them by number), bound with domain values, and run on a backend's pool or transaction.

use std::borrow::Cow;

use futures_util::stream::BoxStream;
use futures_util::{StreamExt, TryStreamExt};
use sqlx::{Database, Pool};

use super::dialect::Dialect;
use crate::{Result, StoreError};

/// A value for a placeholder: the schema's two column types, or a list of texts that a
/// `Dialect::in_list` fragment reads.
pub(crate) enum Param<'a> {
    Int(Option<i64>),
    Text(Option<Cow<'a, str>>),
    List(Vec<&'a str>),
}

impl From<i64> for Param<'_> {
    fn from(v: i64) -> Self {
        Param::Int(Some(v))
    }
}

impl From<Option<i64>> for Param<'_> {
    fn from(v: Option<i64>) -> Self {
        Param::Int(v)
    }
}

impl From<bool> for Param<'_> {
    fn from(v: bool) -> Self {
        Param::Int(Some(i64::from(v)))
    }
}

impl<'a> From<&'a str> for Param<'a> {
    fn from(v: &'a str) -> Self {
        Param::Text(Some(Cow::Borrowed(v)))
    }
}

impl<'a> From<&'a String> for Param<'a> {
    fn from(v: &'a String) -> Self {
        Param::Text(Some(Cow::Borrowed(v)))
    }
}

impl From<String> for Param<'_> {
    fn from(v: String) -> Self {
        Param::Text(Some(Cow::Owned(v)))
    }
}

impl<'a> From<Option<&'a str>> for Param<'a> {
    fn from(v: Option<&'a str>) -> Self {
        Param::Text(v.map(Cow::Borrowed))
    }
}

impl<'a> From<&'a Option<String>> for Param<'a> {
    fn from(v: &'a Option<String>) -> Self {
        Param::Text(v.as_deref().map(Cow::Borrowed))
    }
}

impl From<Option<String>> for Param<'_> {
    fn from(v: Option<String>) -> Self {
        Param::Text(v.map(Cow::Owned))
    }
}

impl<'a> From<&'a [String]> for Param<'a> {
    fn from(v: &'a [String]) -> Self {
        Param::List(v.iter().map(String::as_str).collect())
    }
}

impl<'a> From<&'a [&'a str]> for Param<'a> {
    fn from(v: &'a [&'a str]) -> Self {
        Param::List(v.to_vec())
    }
}

/// Rows in one multi-row INSERT: at 21 columns (the widest table) 10,500 values, under
/// SQLite's 32,766 and Postgres' 65,535.
pub(crate) const ROWS_PER_INSERT: usize = 500;

/// `VALUES ($1, $2), ($3, $4)…` for `rows` rows of `columns` values each, in the database's
/// placeholders for long lists (`Dialect::push_placeholder`).
pub(crate) fn values<D: Dialect>(rows: usize, columns: usize) -> String {
    let mut sql = String::from(" VALUES ");
    for r in 0..rows {
        sql.push_str(if r == 0 { "(" } else { ", (" });
        for c in 0..columns {
            if c > 0 {
                sql.push_str(", ");
            }
            D::push_placeholder(&mut sql, r * columns + c + 1);
        }
        sql.push(')');
    }
    sql
}

/// Where a statement runs: on a pool, or on the connection of an open transaction (`&mut *tx`).
pub(crate) enum On<'e, D: Database> {
    Pool(&'e Pool<D>),
    Conn(&'e mut D::Connection),
}

impl<'e, D: Database> From<&'e Pool<D>> for On<'e, D> {
    fn from(pool: &'e Pool<D>) -> Self {
        On::Pool(pool)
    }
}

impl<'e, D: Database> From<&'e mut D::Connection> for On<'e, D> {
    fn from(conn: &'e mut D::Connection) -> Self {
        On::Conn(conn)
    }
}

/// A statement and its bound values. A value the driver cannot encode fails the statement when
/// it runs, as sqlx's own `bind` does.
pub(crate) struct Statement<D: Dialect> {
    sql: Cow<'static, str>,
    args: D::Arguments,
    unbound: Option<String>,
}

/// Starts a statement.
pub(crate) fn sql<D: Dialect>(sql: impl Into<Cow<'static, str>>) -> Statement<D> {
    Statement { sql: sql.into(), args: Default::default(), unbound: None }
}

impl<D: Dialect> Statement<D> {
    /// Binds the next placeholder.
    pub(crate) fn bind<'a>(mut self, value: impl Into<Param<'a>>) -> Self {
        let bound = match value.into() {
            Param::List(items) => D::bind_list(&mut self.args, &items),
            other => D::bind(&mut self.args, other),
        };
        if let Err(e) = bound {
            self.unbound.get_or_insert(e.to_string());
        }
        self
    }

    fn ready(self) -> Result<(String, D::Arguments)> {
        match self.unbound {
            Some(e) => Err(StoreError::Backend(format!("cannot bind a value: {e}"))),
            None => Ok((self.sql.into_owned(), self.args)),
        }
    }

    /// Runs it; the rows it changed.
    pub(crate) async fn execute<'e>(self, on: impl Into<On<'e, D>>) -> Result<u64> {
        let (sql, args) = self.ready()?;
        Ok(D::rows_affected(&D::run(on.into(), sql, args).await?))
    }

    pub(crate) async fn fetch_all<'e>(self, on: impl Into<On<'e, D>>) -> Result<Vec<D::Row>> {
        let (sql, args) = self.ready()?;
        Ok(D::all(on.into(), sql, args).await?)
    }

    pub(crate) async fn fetch_optional<'e>(self, on: impl Into<On<'e, D>>) -> Result<Option<D::Row>> {
        let (sql, args) = self.ready()?;
        Ok(D::optional(on.into(), sql, args).await?)
    }

    /// The one row it reads: `sqlx::Error::RowNotFound` when none (for `error::found`).
    pub(crate) async fn fetch_one<'e>(self, on: impl Into<On<'e, D>>) -> Result<D::Row, sqlx::Error> {
        let (sql, args) = self.ready().map_err(|e| sqlx::Error::Protocol(e.to_string()))?;
        D::optional(on.into(), sql, args).await?.ok_or(sqlx::Error::RowNotFound)
    }

    /// Its rows as they come.
    pub(crate) fn fetch<'e>(self, on: impl Into<On<'e, D>>) -> BoxStream<'e, Result<D::Row>> {
        match self.ready() {
            Ok((sql, args)) => D::stream(on.into(), sql, args).map_err(StoreError::from).boxed(),
            Err(e) => futures_util::stream::once(async { Err(e) }).boxed(),
        }
    }

    /// The integer in the first column of the one row it reads.
    pub(crate) async fn int<'e>(self, on: impl Into<On<'e, D>>) -> Result<i64> {
        let row = self.fetch_one(on).await?;
        crate::rows::ColumnAt::int_at(&row, 0)
    }

    /// The integer (or NULL) in the first column of the row it reads, if any.
    pub(crate) async fn opt_int<'e>(self, on: impl Into<On<'e, D>>) -> Result<Option<i64>> {
        match self.fetch_optional(on).await? {
            Some(row) => crate::rows::ColumnAt::opt_int_at(&row, 0),
            None => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn values_number_every_placeholder_in_order() {
        assert_eq!(super::values::<sqlx::Postgres>(2, 3), " VALUES ($1, $2, $3), ($4, $5, $6)");
        assert_eq!(super::values::<sqlx::Sqlite>(1, 2), " VALUES (?, ?)");
    }
}
