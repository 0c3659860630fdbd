//! The store's error type; driver errors are translated where they enter.

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{0} not found")]
    NotFound(String),
    #[error("conflict: {0}")]
    Conflict(String),
    /// A control's input is not acceptable; the message says what to change.
    #[error("{0}")]
    Invalid(String),
    #[error("store backend: {0}")]
    Backend(String),
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        match &e {
            sqlx::Error::RowNotFound => StoreError::NotFound("row".into()),
            sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::Conflict(db.message().to_string()),
            _ => StoreError::Backend(e.to_string()),
        }
    }
}

impl From<serde_json::Error> for StoreError {
    fn from(e: serde_json::Error) -> Self {
        StoreError::Backend(format!("stored json is invalid: {e}"))
    }
}

/// `NotFound` when a write touched no row.
pub(crate) fn touched(rows_affected: u64, what: &str, id: &str) -> Result<(), StoreError> {
    if rows_affected == 0 {
        return Err(StoreError::NotFound(format!("{what} {id}")));
    }
    Ok(())
}

/// A single-row read, with "not found" naming what was looked for.
pub(crate) fn found<T>(row: Result<T, sqlx::Error>, what: &str, id: &str) -> Result<T, StoreError> {
    row.map_err(|e| match e {
        sqlx::Error::RowNotFound => StoreError::NotFound(format!("{what} {id}")),
        other => other.into(),
    })
}
