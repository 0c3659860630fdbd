//! A small pool of Bolt connections. Connections are kept, never closed with GOODBYE between
//! queries (FalkorDB does not answer the handshake that follows one), and a query that loses its
//! connection is retried once on a fresh one; graph writes are MERGEs, so a retry is harmless.

use std::sync::Mutex;

use tokio::sync::Semaphore;

use crate::Target;

use crate::BoltError;
use crate::connection::{Connection, Record};
use crate::packstream::Value;

/// Attempts at opening a connection before a query gives up.
const CONNECT_ATTEMPTS: u32 = 3;

pub struct Pool {
    target: Target,
    idle: Mutex<Vec<Connection>>,
    slots: Semaphore,
}

impl Pool {
    pub fn new(target: Target, size: usize) -> Self {
        Pool { target, idle: Mutex::new(Vec::new()), slots: Semaphore::new(size.max(1)) }
    }

    pub fn target(&self) -> &Target {
        &self.target
    }

    /// Runs one query on a pooled connection.
    pub async fn query(&self, cypher: &str, params: Value) -> Result<Vec<Record>, BoltError> {
        let _slot = self.slots.acquire().await.map_err(|_| BoltError("bolt: pool closed".into()))?;
        let mut retried = false;
        loop {
            let (mut conn, pooled) = match self.take_idle() {
                Some(conn) => (conn, true),
                None => (self.connect().await?, false),
            };
            let result = conn.query(cypher, params.clone()).await;
            if conn.is_usable() {
                self.give_back(conn);
                return result;
            }
            // The connection is gone. A pooled one may simply have gone stale: try once more.
            if pooled && !retried {
                retried = true;
                continue;
            }
            return result;
        }
    }

    async fn connect(&self) -> Result<Connection, BoltError> {
        let mut attempt = 1;
        loop {
            match Connection::open(&self.target).await {
                Ok(conn) => return Ok(conn),
                Err(e) if attempt >= CONNECT_ATTEMPTS => return Err(e),
                Err(e) => tracing::debug!(error = %e, attempt, "bolt connect failed, retrying"),
            }
            attempt += 1;
        }
    }

    fn take_idle(&self) -> Option<Connection> {
        self.idle.lock().ok()?.pop()
    }

    fn give_back(&self, conn: Connection) {
        if let Ok(mut idle) = self.idle.lock() {
            idle.push(conn);
        }
    }

    /// Drops every idle connection (after the server went away, say).
    pub fn clear(&self) {
        if let Ok(mut idle) = self.idle.lock() {
            idle.clear();
        }
    }
}
