//! One Bolt 5.1+ connection: handshake, HELLO and LOGON, then auto-commit queries (RUN + PULL
//! pipelined). Every network step is bounded by the connection's timeout.

use std::sync::Arc;
use std::time::Duration;

use crate::Target;
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufStream};
use tokio::net::TcpStream;

use crate::BoltError;
use crate::packstream::{self, Value, entries, map};

const MAGIC: [u8; 4] = [0x60, 0x60, 0xB0, 0x17];
/// Bolt 5.4 down to 5.1 (a range of 3 minor versions), then 5.0 and 4.4, which take their
/// credentials in HELLO.
const PROPOSALS: [[u8; 4]; 4] = [[0, 3, 4, 5], [0, 0, 0, 5], [0, 0, 4, 4], [0; 4]];
/// Chunks are at most this long; a message is its chunks followed by an empty one.
const MAX_CHUNK: usize = 0xFFFF;
/// The largest message accepted from a server: a hostile or broken one cannot fill memory.
pub const MAX_MESSAGE: usize = 32 << 20;

const HELLO: u8 = 0x01;
const RESET: u8 = 0x0F;
const RUN: u8 = 0x10;
const PULL: u8 = 0x3F;
const LOGON: u8 = 0x6A;
const SUCCESS: u8 = 0x70;
const RECORD: u8 = 0x71;
const IGNORED: u8 = 0x7E;
const FAILURE: u8 = 0x7F;

/// One row of a query's answer, its values named by the query's `RETURN` columns.
#[derive(Debug, Clone)]
pub struct Record {
    pub columns: Arc<[String]>,
    pub values: Vec<Value>,
}

impl Record {
    pub fn get(&self, column: &str) -> Option<&Value> {
        self.columns.iter().position(|c| c == column).and_then(|i| self.values.get(i))
    }
}

pub struct Connection {
    stream: BufStream<TcpStream>,
    version: (u8, u8),
    timeout: Duration,
    database: Option<String>,
    /// Set when a query failed mid-way and the connection's state is unknown.
    broken: bool,
}

impl Connection {
    /// Connects, negotiates a version and authenticates.
    pub async fn open(target: &Target) -> Result<Self, BoltError> {
        bounded(target.timeout, "connect", Self::open_unbounded(target)).await
    }

    async fn open_unbounded(target: &Target) -> Result<Self, BoltError> {
        let tcp = TcpStream::connect(&target.address).await.map_err(|e| io("connect", e))?;
        tcp.set_nodelay(true).map_err(|e| io("connect", e))?;
        let mut stream = BufStream::new(tcp);
        stream.write_all(&MAGIC).await.map_err(|e| io("handshake", e))?;
        stream.write_all(&PROPOSALS.concat()).await.map_err(|e| io("handshake", e))?;
        stream.flush().await.map_err(|e| io("handshake", e))?;
        let mut chosen = [0u8; 4];
        stream.read_exact(&mut chosen).await.map_err(|e| io("handshake", e))?;
        let version = (chosen[3], chosen[2]);
        if version < (4, 4) {
            return Err(BoltError(format!(
                "bolt: {} speaks no Bolt version obsctl does (4.4 or 5.x); it answered {chosen:?}",
                target.address
            )));
        }
        let mut conn =
            Connection { stream, version, timeout: target.timeout, database: target.database.clone(), broken: false };
        conn.authenticate(target).await?;
        Ok(conn)
    }

    async fn authenticate(&mut self, target: &Target) -> Result<(), BoltError> {
        let agent = concat!("obsctl/", env!("CARGO_PKG_VERSION"));
        let credentials = match &target.password {
            Some(password) => entries([
                ("scheme", "basic".into()),
                ("principal", target.user.as_str().into()),
                ("credentials", password.expose().into()),
            ]),
            None => entries([("scheme", "none".into())]),
        };
        let mut hello = entries([("user_agent", agent.into())]);
        if self.version >= (5, 3) {
            hello.push(("bolt_agent".into(), map([("product", agent.into())])));
        }
        if self.version >= (5, 1) {
            self.send(HELLO, vec![Value::Map(hello)]).await?;
            self.send(LOGON, vec![Value::Map(credentials)]).await?;
            self.flush().await?;
            self.expect_success("hello").await?;
            self.expect_success("logon").await
        } else {
            hello.extend(credentials);
            self.send(HELLO, vec![Value::Map(hello)]).await?;
            self.flush().await?;
            self.expect_success("hello").await
        }
    }

    /// Whether the connection can take another query.
    pub fn is_usable(&self) -> bool {
        !self.broken
    }

    /// Runs one auto-commit query and returns its records.
    pub async fn query(&mut self, cypher: &str, params: Value) -> Result<Vec<Record>, BoltError> {
        let timeout = self.timeout;
        self.broken = true;
        let records = bounded(timeout, "query", self.query_unbounded(cypher, params)).await?;
        self.broken = false;
        Ok(records)
    }

    async fn query_unbounded(&mut self, cypher: &str, params: Value) -> Result<Vec<Record>, BoltError> {
        let extra = match &self.database {
            Some(db) => map([("db", db.as_str().into())]),
            None => Value::Map(Vec::new()),
        };
        self.send(RUN, vec![cypher.into(), params, extra]).await?;
        self.send(PULL, vec![map([("n", Value::Int(-1))])]).await?;
        self.flush().await?;
        let (tag, fields) = self.receive().await?;
        if tag != SUCCESS {
            return Err(self.refused(&fields, cypher).await);
        }
        let columns: Arc<[String]> = match fields.first().and_then(|meta| meta.get("fields")) {
            Some(Value::List(names)) => names.iter().map(|n| n.as_str().unwrap_or_default().to_owned()).collect(),
            _ => Arc::new([]),
        };
        let mut records = Vec::new();
        loop {
            match self.receive().await? {
                (RECORD, mut fields) => match fields.pop() {
                    Some(Value::List(values)) => records.push(Record { columns: columns.clone(), values }),
                    _ => return Err(protocol("a record without a list")),
                },
                (SUCCESS, _) => return Ok(records),
                (FAILURE, fields) => return Err(self.refused(&fields, cypher).await),
                (other, _) => return Err(protocol(&format!("unexpected message 0x{other:02X} during PULL"))),
            }
        }
    }

    /// The server refused a query: reset so the connection is usable again, and say why.
    async fn refused(&mut self, fields: &[Value], cypher: &str) -> BoltError {
        let failure = failure_text(fields);
        match self.reset().await {
            Ok(()) => {
                self.broken = false;
                BoltError(format!("bolt: {failure} (query: {cypher})"))
            }
            Err(e) => e,
        }
    }

    /// Clears a failure so the connection takes queries again; the pending PULL is IGNORED.
    async fn reset(&mut self) -> Result<(), BoltError> {
        self.send(RESET, Vec::new()).await?;
        self.flush().await?;
        loop {
            match self.receive().await? {
                (IGNORED, _) => continue,
                (SUCCESS, _) => return Ok(()),
                (_, fields) => return Err(protocol(&format!("reset refused: {}", failure_text(&fields)))),
            }
        }
    }

    async fn expect_success(&mut self, step: &str) -> Result<(), BoltError> {
        match self.receive().await? {
            (SUCCESS, _) => Ok(()),
            (_, fields) => Err(BoltError(format!("bolt: {step} refused: {}", failure_text(&fields)))),
        }
    }

    async fn send(&mut self, tag: u8, fields: Vec<Value>) -> Result<(), BoltError> {
        let mut body = Vec::new();
        packstream::encode(&Value::Struct(tag, fields), &mut body);
        for chunk in body.chunks(MAX_CHUNK) {
            self.stream.write_all(&(chunk.len() as u16).to_be_bytes()).await.map_err(|e| io("write", e))?;
            self.stream.write_all(chunk).await.map_err(|e| io("write", e))?;
        }
        self.stream.write_all(&[0, 0]).await.map_err(|e| io("write", e))
    }

    async fn flush(&mut self) -> Result<(), BoltError> {
        self.stream.flush().await.map_err(|e| io("write", e))
    }

    async fn receive(&mut self) -> Result<(u8, Vec<Value>), BoltError> {
        quick_ack(self.stream.get_ref());
        let mut body = Vec::new();
        loop {
            let len = usize::from(self.stream.read_u16().await.map_err(|e| io("read", e))?);
            if len == 0 {
                if body.is_empty() {
                    continue; // a NOOP keep-alive chunk
                }
                break;
            }
            let start = body.len();
            if start + len > MAX_MESSAGE {
                return Err(protocol(&format!("a message over {} MiB; refused", MAX_MESSAGE >> 20)));
            }
            body.resize(start + len, 0);
            self.stream.read_exact(&mut body[start..]).await.map_err(|e| io("read", e))?;
        }
        match packstream::decode(&body) {
            Ok((Value::Struct(tag, fields), [])) => Ok((tag, fields)),
            Ok(_) => Err(protocol("a message that is not one structure")),
            Err(e) => Err(protocol(&e.to_string())),
        }
    }
}

/// Acknowledges the server's segments at once. A server that writes an answer in several
/// segments without TCP_NODELAY otherwise waits for our delayed ACK: 40 ms per large answer.
fn quick_ack(tcp: &TcpStream) {
    #[cfg(target_os = "linux")]
    let _ = socket2::SockRef::from(tcp).set_tcp_quickack(true);
    #[cfg(not(target_os = "linux"))]
    let _ = tcp;
}

async fn bounded<T>(
    timeout: Duration,
    step: &str,
    work: impl Future<Output = Result<T, BoltError>>,
) -> Result<T, BoltError> {
    tokio::time::timeout(timeout, work)
        .await
        .unwrap_or_else(|_| Err(BoltError(format!("bolt: {step} timed out after {timeout:?}"))))
}

fn failure_text(fields: &[Value]) -> String {
    let meta = fields.first();
    let code = meta.and_then(|m| m.get("code")).and_then(Value::as_str).unwrap_or("unknown");
    let message = meta.and_then(|m| m.get("message")).and_then(Value::as_str).unwrap_or("no message");
    format!("{code}: {message}")
}

fn io(step: &str, e: std::io::Error) -> BoltError {
    BoltError(format!("bolt: {step}: {e}"))
}

fn protocol(what: &str) -> BoltError {
    BoltError(format!("bolt: protocol error: {what}"))
}
