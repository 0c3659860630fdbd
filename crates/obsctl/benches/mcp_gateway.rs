//! Benchmark of the MCP gateway (not a test: it measures and prints).
//!
//! `OBSCTL_TEST_MCP_SERVERS=… cargo bench -p obsctl --bench mcp_gateway -- [--calls 2000]`
//!
//! The reference server `server-everything` runs over streamable HTTP; obsctl imports it as an
//! `[[mcp_server]]` and serves its gateway over streamable HTTP on loopback. One MCP client (the
//! official Rust SDK) makes `--calls` sequential `tools/call`s of:
//! 1. `obsctl.status` through the gateway (a read-only tool of obsctl's own);
//! 2. `everything.echo` through the gateway (imported, `read` by the operator's policy:
//!    gateway → server);
//! 3. `echo` on the server directly (the peer).
//!
//! The gateway's overhead on an imported tool is (2) − (3); each row gives p50, p99 and calls/s.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "common/measure.rs"]
mod measure;
use measure::arg;

use std::time::{Duration, Instant};

use obsctl::runtime::Runtime;
use obsctl_config::{LoadOptions, load};
use obsctl_core::check::LatencySummary;
use obsctl_core::policy::Mode;
use rmcp::ServiceExt;
use rmcp::model::{CallToolRequestParams, ClientCapabilities, ClientConfig, Implementation};
use rmcp::service::{RoleClient, RunningService};
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use serde_json::json;

/// The gateway's token (it opens only with one).
const TOKEN: &str = "bench-token-0123456789";

async fn client(url: &str, token: Option<&str>) -> RunningService<RoleClient, ClientConfig> {
    let mut headers = reqwest::header::HeaderMap::new();
    if let Some(t) = token {
        headers.insert(reqwest::header::AUTHORIZATION, format!("Bearer {t}").parse().unwrap());
    }
    let http = obsctl_host::http_client().default_headers(headers).build().unwrap();
    let transport =
        StreamableHttpClientTransport::with_client(http, StreamableHttpClientTransportConfig::with_uri(url));
    let info = ClientConfig::new(ClientCapabilities::default(), Implementation::new("bench", "1"));
    info.serve(transport).await.unwrap()
}

async fn measure(name: &str, c: &RunningService<RoleClient, ClientConfig>, tool: &str, calls: u64) {
    let args = json!({"message": "bench"});
    let args = if tool.ends_with("echo") { args.as_object().cloned() } else { None };
    let mut latencies = Vec::with_capacity(calls as usize);
    let started = Instant::now();
    for _ in 0..calls {
        let mut params = CallToolRequestParams::new(tool.to_string());
        if let Some(a) = &args {
            params = params.with_arguments(a.clone());
        }
        let t = Instant::now();
        let result = c.call_tool(params).await.unwrap();
        latencies.push(t.elapsed().as_micros() as u64);
        assert_ne!(result.is_error, Some(true), "{tool}: {result:?}");
    }
    let wall = started.elapsed();
    let s = LatencySummary::of(&latencies);
    println!("| {name} | {:.2} | {:.2} | {:.0} |", s.p50_ms, s.p99_ms, calls as f64 / wall.as_secs_f64());
}

fn main() {
    let calls = arg("--calls", 2000);
    let servers = std::env::var("OBSCTL_TEST_MCP_SERVERS").expect("OBSCTL_TEST_MCP_SERVERS: the reference servers");
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut everything = std::process::Command::new("node")
        .args([format!("{servers}/server-everything/dist/index.js"), "streamableHttp".into()])
        .env("PORT", port.to_string())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "server-everything did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let text = format!(
            "[store]\nurl = \"sqlite://{}/bench.db\"\n[mcp]\ntoken = \"{TOKEN}\"\n[agent]\nmode = \"approve\"\n[[mcp_server]]\nname = \"everything\"\nurl = \"http://127.0.0.1:{port}/mcp\"\ntools = {{ echo = \"read\" }}\n",
            dir.path().display()
        );
        let opts = LoadOptions { file: "bench.toml", known_tools: obsctl_agent::tools::BUILTIN_TOOLS };
        let mut obsctl = Runtime::build(load(&text, &Default::default(), &opts).unwrap(), Mode::Auto).await.unwrap();
        obsctl.connect_tools().await;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let gateway = format!("http://{}/mcp", listener.local_addr().unwrap());
        tokio::spawn(obsctl_server::mcp::serve_http(obsctl.app_state(), listener, std::future::pending()));

        let through = client(&gateway, Some(TOKEN)).await;
        let direct = client(&format!("http://127.0.0.1:{port}/mcp"), None).await;
        // Warm both paths (connections, first-call costs) before measuring.
        for c in [&through, &direct] {
            let tool = if std::ptr::eq(c, &through) { "everything.echo" } else { "echo" };
            let params = CallToolRequestParams::new(tool).with_arguments(json!({"message": "w"}).as_object().cloned().unwrap());
            for _ in 0..50 {
                c.call_tool(params.clone()).await.unwrap();
            }
        }
        println!("{calls} sequential tools/call over streamable HTTP on loopback, one client");
        println!("| call | p50 (ms) | p99 (ms) | calls/s |");
        println!("|---|---|---|---|");
        measure("gateway: obsctl.status (obsctl's own)", &through, "obsctl.status", calls).await;
        measure("gateway: everything.echo (imported)", &through, "everything.echo", calls).await;
        measure("direct: echo on server-everything", &direct, "echo", calls).await;
    });
    let _ = everything.kill();
    let _ = everything.wait();
}
