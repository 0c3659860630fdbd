//! The Docker Engine API (and Podman's Docker-compatible socket) through `bollard`: one
//! lazily connected client, every call bounded, errors sorted into "the engine is not
//! there" (checks say `unknown`) and "the engine said no" (a check fails, a tool refuses).

mod containers;
mod disk;
mod events;
mod logs;
mod throwaway;

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use bollard::Docker;

pub use containers::{COMPOSE_PROJECT, COMPOSE_SERVICE, ContainerInfo, Health, Lifecycle};
pub use disk::{DiskUsage, EngineReported, PruneItem, PrunePlan, PruneReport, PruneScope, Usage};
pub use events::{ContainerEvent, RestartLog};
pub use logs::{LogTail, MAX_TAIL as MAX_LOG_TAIL};
pub use throwaway::{THROWAWAY_LABEL, ThrowawayOutcome, ThrowawaySpec};

/// Where the engine is: `unix:///…`, `tcp://host:port` or `http(s)://…`, with client
/// certificates for TLS (the files `DOCKER_CERT_PATH` holds).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EngineAddress {
    pub host: String,
    pub tls: Option<TlsFiles>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
}

#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum EngineError {
    /// No engine answered: checks report `unknown`, tools are unavailable.
    #[error("docker engine at {host} is unreachable: {reason}")]
    Unreachable { host: String, reason: String },
    #[error("docker engine at {host} did not answer within {seconds}s")]
    Slow { host: String, seconds: u64 },
    /// The engine answered 404: no such container or image.
    #[error("{0}")]
    NotFound(String),
    /// The engine answered with another error.
    #[error("docker engine refused: {0}")]
    Refused(String),
}

impl EngineError {
    /// Whether the engine itself could not be asked (as opposed to answering no).
    pub fn is_unreachable(&self) -> bool {
        matches!(self, EngineError::Unreachable { .. } | EngineError::Slow { .. })
    }
}

/// The API versions below this one lack what obsctl reads (Docker 20.10 speaks 1.41).
const OLDEST_API: (usize, usize) = (1, 41);

/// One engine, shared by the checks, the tools and the dashboard.
pub struct Engine {
    address: EngineAddress,
    /// Connected and with its API version agreed; dropped when the engine goes away.
    client: tokio::sync::Mutex<Option<Docker>>,
    list: containers::ListCache,
    restarts: RestartLog,
    calls: AtomicU64,
    /// Whether an event stream is connected (so the list cache hears of every change).
    following: AtomicBool,
    /// The last disk usage, for pages that show it (it makes the engine size every container).
    disk: std::sync::Mutex<Option<(std::time::Instant, DiskUsage)>>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine").field("host", &self.address.host).finish_non_exhaustive()
    }
}

/// Whether labels (looked up by `get`) match a selector `key` or `key=value`: the one reading
/// of a label selector, for list filters and prune scopes alike.
pub fn label_selected<'a>(selector: &str, get: impl Fn(&str) -> Option<&'a str>) -> bool {
    let (key, value) = selector.split_once('=').map_or((selector, None), |(k, v)| (k, Some(v)));
    get(key.trim()).is_some_and(|found| value.is_none_or(|v| v.trim() == found))
}

/// The bound of a call that answers at once (list, inspect, start); slow work sets its own.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(10);

impl Engine {
    pub fn new(address: EngineAddress) -> Arc<Self> {
        Arc::new(Self {
            address,
            client: tokio::sync::Mutex::new(None),
            list: containers::ListCache::default(),
            restarts: RestartLog::default(),
            calls: AtomicU64::new(0),
            following: AtomicBool::new(false),
            disk: std::sync::Mutex::new(None),
        })
    }

    pub fn host(&self) -> &str {
        &self.address.host
    }

    /// Engine API requests made so far (for benchmarks and `/metrics`).
    pub fn api_calls(&self) -> u64 {
        self.calls.load(Ordering::Relaxed)
    }

    /// Deaths and deliberate stops seen on the events stream.
    pub fn restarts(&self) -> &RestartLog {
        &self.restarts
    }

    fn unreachable(&self, reason: impl std::fmt::Display) -> EngineError {
        EngineError::Unreachable { host: self.address.host.clone(), reason: reason.to_string() }
    }

    /// The connected client, connecting (and agreeing on the API version) when there is none.
    async fn client(&self) -> Result<Docker, EngineError> {
        let mut slot = self.client.lock().await;
        if let Some(c) = slot.as_ref() {
            return Ok(c.clone());
        }
        let docker = self.connect().map_err(|e| self.unreachable(describe(&e)))?;
        self.calls.fetch_add(1, Ordering::Relaxed);
        let docker = match tokio::time::timeout(CALL_TIMEOUT, docker.negotiate_version()).await {
            Ok(Ok(d)) => d,
            Ok(Err(e)) => return Err(self.unreachable(describe(&e))),
            Err(_) => {
                return Err(EngineError::Slow { host: self.address.host.clone(), seconds: CALL_TIMEOUT.as_secs() });
            }
        };
        let v = docker.client_version();
        if (v.major_version, v.minor_version) < OLDEST_API {
            return Err(self.unreachable(format!(
                "it speaks API {}.{}; obsctl needs {}.{} or later (Docker 20.10+, Podman 3+)",
                v.major_version, v.minor_version, OLDEST_API.0, OLDEST_API.1
            )));
        }
        *slot = Some(docker.clone());
        Ok(docker)
    }

    fn connect(&self) -> Result<Docker, bollard::errors::Error> {
        let host = self.address.host.as_str();
        // bollard's own bound on a response's headers; `call` sets the real one per request.
        let timeout = 120;
        let version = bollard::API_DEFAULT_VERSION;
        match (&self.address.tls, host) {
            (Some(tls), _) => Docker::connect_with_ssl(host, &tls.key, &tls.cert, &tls.ca, timeout, version),
            (None, h) if h.starts_with("unix://") => Docker::connect_with_unix(h, timeout, version),
            (None, h) => Docker::connect_with_http(h, timeout, version),
        }
    }

    /// Runs one API request bounded by `bound`; a failure to reach the engine forgets the client,
    /// so the next call connects again (the engine may come back on another version).
    pub(crate) async fn call<T, F, Fut>(&self, bound: Duration, f: F) -> Result<T, EngineError>
    where
        F: FnOnce(Docker) -> Fut,
        Fut: Future<Output = Result<T, bollard::errors::Error>>,
    {
        let docker = self.client().await?;
        self.calls.fetch_add(1, Ordering::Relaxed);
        let result = match tokio::time::timeout(bound, f(docker)).await {
            Ok(r) => r.map_err(|e| self.sort(e)),
            Err(_) => Err(EngineError::Slow { host: self.address.host.clone(), seconds: bound.as_secs().max(1) }),
        };
        if let Err(e) = &result
            && e.is_unreachable()
        {
            self.disconnect().await;
        }
        result
    }

    /// Forgets the client and what it listed: the engine went away (or its stream ended), so
    /// the next call connects and asks again.
    async fn disconnect(&self) {
        self.list.forget();
        *self.client.lock().await = None;
    }

    fn sort(&self, e: bollard::errors::Error) -> EngineError {
        use bollard::errors::Error as E;
        match e {
            E::DockerResponseServerError { status_code: 404, message } => EngineError::NotFound(message),
            E::DockerResponseServerError { status_code, message } => {
                EngineError::Refused(format!("{message} (status {status_code})"))
            }
            E::JsonDataError { message, .. } => EngineError::Refused(format!("unexpected answer: {message}")),
            E::JsonSerdeError { err } => EngineError::Refused(format!("unexpected answer: {err}")),
            other => self.unreachable(describe(&other)),
        }
    }

    /// Answers whether the engine is there, with its version.
    pub async fn ping(&self) -> Result<String, EngineError> {
        let v = self.call(CALL_TIMEOUT, |d| async move { d.version().await }).await?;
        Ok(format!("{} (API {})", v.version.unwrap_or_default(), v.api_version.unwrap_or_default()))
    }
}

/// A bollard error as one line, with its cause.
fn describe(e: &bollard::errors::Error) -> String {
    use bollard::errors::Error as E;
    match e {
        E::SocketNotFoundError(path) => format!("no socket at {path}; is the engine running? (set DOCKER_HOST)"),
        E::RequestTimeoutError => "no answer in time".to_string(),
        other => {
            let mut text = other.to_string();
            let mut source = std::error::Error::source(other);
            while let Some(cause) = source {
                let cause_text = cause.to_string();
                if !text.contains(&cause_text) {
                    text = format!("{text}: {cause_text}");
                }
                source = cause.source();
            }
            text
        }
    }
}
