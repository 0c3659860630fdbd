//! The HTTP probe: status, body contains, JSON pointer equals, latency and TLS certificate expiry.

use std::time::{Duration, Instant};

use obsctl_core::Timestamp;
use obsctl_core::check::{Connection, HttpProbe};
use obsctl_core::der::cert_not_after;

use super::{ProbeContext, ProbeOutcome};
pub(super) use obsctl_host::describe_error as describe;

pub(super) async fn probe(p: &HttpProbe, timeout: Duration, ctx: &ProbeContext) -> ProbeOutcome {
    let method = reqwest::Method::from_bytes(p.method.as_bytes()).unwrap_or(reqwest::Method::GET);
    let client = match ctx.client(p.ca_file.as_deref()) {
        Ok(c) => c,
        Err(e) => return ProbeOutcome::fail(e),
    };
    let mut req = client.request(method, &p.url).timeout(timeout);
    for (k, v) in &p.headers {
        req = req.header(k, v.expose());
    }
    if p.connection == Connection::Fresh {
        // The connection is not pooled after this response, and the server closes first, so
        // the probing side keeps no TIME_WAIT socket per run.
        req = req.header(reqwest::header::CONNECTION, "close");
    }
    let started = Instant::now();
    let mut resp = match req.send().await {
        Ok(r) => r,
        Err(e) => return ProbeOutcome::fail(describe(&e)),
    };
    let latency = started.elapsed();
    let status = resp.status().as_u16();
    let cert_expiry =
        resp.extensions().get::<reqwest::tls::TlsInfo>().and_then(|t| t.peer_certificate()).and_then(cert_not_after);

    // Read the body (up to the cap) even when no expectation needs it: a fully read response
    // returns its connection to the pool, so steady probing reuses connections instead of
    // opening one per run.
    let mut body = Vec::new();
    let mut truncated = false;
    loop {
        match resp.chunk().await {
            Ok(Some(chunk)) => {
                let room = p.max_body_bytes.saturating_sub(body.len());
                body.extend_from_slice(&chunk[..chunk.len().min(room)]);
                if chunk.len() > room {
                    truncated = true;
                    break;
                }
            }
            Ok(None) => break,
            Err(e) => {
                return ProbeOutcome::fail(format!("status {status}, body unreadable: {}", describe(&e)));
            }
        }
    }
    drop(resp);

    let mut problems = Vec::new();
    if let Some(want) = p.expect_status
        && status != want
    {
        problems.push(format!("status {status} (expected {want})"));
    }
    if let Some(needle) = &p.body_contains
        && !String::from_utf8_lossy(&body).contains(needle.as_str())
    {
        let scope = if truncated { format!(" in the first {} bytes", p.max_body_bytes) } else { String::new() };
        problems.push(format!("body does not contain {needle:?}{scope}"));
    }
    if let Some((pointer, want)) = &p.json_pointer {
        match serde_json::from_slice::<serde_json::Value>(&body) {
            Ok(doc) => match doc.pointer(pointer) {
                Some(got) if got == want => {}
                Some(got) => problems.push(format!("json {pointer} is {got} (expected {want})")),
                None => problems.push(format!("json {pointer} is missing")),
            },
            Err(_) if truncated => {
                problems.push(format!("body is larger than {} bytes; raise max_body", p.max_body_bytes))
            }
            Err(e) => problems.push(format!("body is not json: {e}")),
        }
    }
    if let Some(max) = p.latency_under
        && latency > max
    {
        problems.push(format!("latency {}ms (max {}ms)", latency.as_millis(), max.as_millis()));
    }
    if let Some(min_days) = p.cert_days_left_over {
        match cert_expiry {
            Some(not_after) => {
                let days = (not_after.millis() - Timestamp::now().millis()) / 86_400_000;
                if days <= i64::from(min_days) {
                    problems.push(format!("certificate expires in {days} days (want more than {min_days})"));
                }
            }
            None => problems.push("no TLS certificate seen".into()),
        }
    }
    if problems.is_empty() {
        ProbeOutcome::pass(format!("status {status} in {}ms", latency.as_millis()))
    } else {
        ProbeOutcome::fail(problems.join("; "))
    }
}
