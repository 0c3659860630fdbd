//! The TCP probe: can a connection be opened.

use std::time::Instant;

use super::ProbeOutcome;

pub(super) async fn probe(address: &str) -> ProbeOutcome {
    let started = Instant::now();
    match tokio::net::TcpStream::connect(address).await {
        Ok(_) => ProbeOutcome::pass(format!("connected in {}ms", started.elapsed().as_millis())),
        Err(e) => ProbeOutcome::fail(format!("connect {address}: {e}")),
    }
}
