//! Raw TCP servers that misbehave on purpose: slow, endless, huge headers.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// Serves every connection with `respond`, after reading the request head.
pub async fn raw<F, Fut>(respond: F) -> String
where
    F: Fn(tokio::net::TcpStream) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let respond = std::sync::Arc::new(respond);
    tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = listener.accept().await else {
                return;
            };
            let respond = respond.clone();
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let _ = sock.read(&mut buf).await;
                respond(sock).await;
            });
        }
    });
    format!("http://{addr}")
}

/// A 200 whose body never ends.
pub async fn endless_body() -> String {
    raw(|mut s| async move {
        let _ = s.write_all(b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\n\r\n").await;
        let chunk = vec![b'a'; 16 * 1024];
        while s.write_all(&chunk).await.is_ok() {}
    })
    .await
}

/// Accepts, then says nothing for a long time.
pub async fn silent() -> String {
    raw(|s| async move {
        tokio::time::sleep(Duration::from_secs(30)).await;
        drop(s);
    })
    .await
}

/// A response head with 1 MB of headers.
pub async fn huge_headers() -> String {
    raw(|mut s| async move {
        let mut head = String::from("HTTP/1.1 200 OK\r\n");
        for i in 0..10_000 {
            head.push_str(&format!("x-filler-{i}: {}\r\n", "y".repeat(90)));
        }
        head.push_str("content-length: 2\r\n\r\nok");
        let _ = s.write_all(head.as_bytes()).await;
    })
    .await
}

/// A fixed, well-formed response.
pub async fn fixed(status: u16, body: &'static str) -> String {
    raw(move |mut s| async move {
        let resp = format!("HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}", body.len());
        let _ = s.write_all(resp.as_bytes()).await;
    })
    .await
}

/// A keep-alive HTTP/1.1 server answering 200 to every request; it counts the connections it
/// accepted and closes one when its request says `connection: close`.
pub async fn counting() -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let accepted = std::sync::Arc::new(AtomicUsize::new(0));
    let count = accepted.clone();
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            count.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                while let Ok(n @ 1..) = sock.read(&mut chunk).await {
                    buf.extend_from_slice(&chunk[..n]);
                    while let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
                        buf.drain(..end + 4);
                        let close = head.contains("connection: close");
                        let reply = if close { "connection: close\r\n" } else { "" };
                        let resp = format!("HTTP/1.1 200 OK\r\ncontent-length: 2\r\n{reply}\r\nok");
                        if sock.write_all(resp.as_bytes()).await.is_err() || close {
                            return;
                        }
                    }
                }
            });
        }
    });
    (format!("http://{addr}"), accepted)
}
