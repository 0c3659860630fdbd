//! The HTTP listener: HTTP/1.1 connections with a deadline for reading request headers (a
//! slow-loris client cannot hold a connection open for ever), at most `MAX_CONNECTIONS` at once
//! (more are closed at accept), and a bounded graceful stop.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tower_http::add_extension::AddExtension;

/// Connections served at once; the dashboard's live stream holds one per open browser tab.
pub const MAX_CONNECTIONS: usize = 1024;
/// How long a client has to send a request's headers.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// How long stopping waits for requests in flight before closing their connections.
const STOP_GRACE: Duration = Duration::from_secs(5);

/// What one client may take of the server.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub header_read_timeout: Duration,
    pub max_connections: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self { header_read_timeout: HEADER_READ_TIMEOUT, max_connections: MAX_CONNECTIONS }
    }
}

/// Serves `app` on `listener` until `shutdown` resolves, with the default `Limits`.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_with(listener, app, shutdown, Limits::default()).await
}

pub async fn serve_with(
    listener: TcpListener,
    app: Router,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    limits: Limits,
) -> std::io::Result<()> {
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let mut connections = JoinSet::new();
    let mut shutdown = std::pin::pin!(shutdown);
    let (stopping, stop_seen) = tokio::sync::watch::channel(false);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(error) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = &mut shutdown => break,
            Some(_) = connections.join_next(), if !connections.is_empty() => continue,
        };
        // Answers go out at once: without this, a response written in two pieces (headers,
        // then a streamed body, as MCP's streamable HTTP does) waits 40 ms for the client's
        // delayed ACK (Nagle's algorithm).
        let _ = stream.set_nodelay(true);
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            tracing::warn!(max = limits.max_connections, "connection limit reached; closing a new connection");
            continue;
        };
        // Every request carries its client's address, as `ConnectInfo` (login throttling).
        let service = TowerToHyperService::new(AddExtension::new(app.clone(), ConnectInfo(peer)));
        let connection = http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(limits.header_read_timeout)
            .serve_connection(TokioIo::new(stream), service);
        let mut stop_seen = stop_seen.clone();
        connections.spawn(async move {
            let mut connection = std::pin::pin!(connection);
            tokio::select! {
                _ = connection.as_mut() => {}
                _ = stop_seen.changed() => {
                    // Idle keep-alive connections close now; a request in flight may finish.
                    connection.as_mut().graceful_shutdown();
                    let _ = connection.await;
                }
            }
            drop(slot);
        });
    }
    drop(listener);
    let _ = stopping.send(true);
    let drained = tokio::time::timeout(STOP_GRACE, async { while connections.join_next().await.is_some() {} }).await;
    if drained.is_err() {
        connections.abort_all();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::time::Instant;

    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpStream;

    use super::*;

    async fn start(limits: Limits) -> (std::net::SocketAddr, tokio::sync::oneshot::Sender<()>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        // Answers with the client's address the listener saw.
        let app = Router::new().route(
            "/",
            axum::routing::get(|peer: axum::Extension<ConnectInfo<std::net::SocketAddr>>| async move {
                format!("from {}", peer.0.0)
            }),
        );
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(serve_with(listener, app, async move { drop(stopped.await) }, limits));
        (addr, stop)
    }

    /// Reads until the server closes the connection or `within` passes; true when it closed.
    async fn closed_within(socket: &mut TcpStream, within: Duration) -> bool {
        let mut sink = Vec::new();
        tokio::time::timeout(within, socket.read_to_end(&mut sink)).await.is_ok()
    }

    async fn get(socket: &mut TcpStream) -> String {
        socket.write_all(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").await.unwrap();
        let mut buf = [0u8; 512];
        let n = socket.read(&mut buf).await.unwrap();
        String::from_utf8_lossy(&buf[..n]).into_owned()
    }

    #[tokio::test]
    async fn a_client_that_never_finishes_its_headers_is_cut_off() {
        let limits = Limits { header_read_timeout: Duration::from_millis(300), max_connections: 8 };
        let (addr, _stop) = start(limits).await;
        let mut slow = TcpStream::connect(addr).await.unwrap();
        slow.write_all(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ").await.unwrap();
        let started = Instant::now();
        assert!(closed_within(&mut slow, Duration::from_secs(5)).await, "the slow client was never cut off");
        assert!(started.elapsed() < Duration::from_secs(3), "{:?}", started.elapsed());
    }

    #[tokio::test]
    async fn connections_past_the_limit_are_closed_and_the_others_keep_working() {
        let limits = Limits { header_read_timeout: Duration::from_secs(10), max_connections: 2 };
        let (addr, stop) = start(limits).await;
        let mut first = TcpStream::connect(addr).await.unwrap();
        let mut second = TcpStream::connect(addr).await.unwrap();
        let answer = get(&mut first).await;
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        // Every request carries the client's address (what login throttling counts by).
        assert!(answer.ends_with(&format!("from {}", first.local_addr().unwrap())), "{answer}");
        assert!(get(&mut second).await.starts_with("HTTP/1.1 200"));
        let mut third = TcpStream::connect(addr).await.unwrap();
        assert!(closed_within(&mut third, Duration::from_secs(2)).await, "a third connection was kept");
        // The two kept-alive connections still answer; stopping closes idle ones at once.
        assert!(get(&mut first).await.starts_with("HTTP/1.1 200"));
        drop(stop);
        assert!(closed_within(&mut second, Duration::from_secs(1)).await);
    }
}
