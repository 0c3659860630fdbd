//! Benchmark of the LLM planner's own overhead (not a test: it measures and prints).
//!
//! `cargo bench -p obsctl --bench llm_planner -- [--incidents 200]`
//!
//! `--incidents` services each fail their check and hold an open incident; no runbook matches,
//! so each incident is planned by the model: a scripted OpenAI-compatible server on loopback
//! that answers at once, first with a read-only `fs.usage` call, then with a fix. For each
//! incident the time of `handle_incident` (context, investigation, gate, journal) is measured,
//! and the model's own time (the two requests, as the client timed them) taken out of it.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "common/measure.rs"]
mod measure;
use measure::arg;

use std::time::Instant;

use obsctl::runtime::Runtime;
use obsctl_config::{LoadOptions, load};
use obsctl_core::check::LatencySummary;
use obsctl_core::incident::IncidentStatus;
use obsctl_core::policy::Mode;
use obsctl_store::IncidentFilter;
use serde_json::{Value, json};

/// A chat completion calling `function` with `arguments`.
fn call(function: &str, arguments: Value) -> Value {
    json!({
        "id": "chatcmpl-b", "object": "chat.completion", "created": 1_790_000_000, "model": "scripted",
        "choices": [{"index": 0, "finish_reason": "tool_calls", "message": {"role": "assistant", "content": "bench",
            "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": function, "arguments": arguments.to_string()}}]}}],
        "usage": {"prompt_tokens": 900, "completion_tokens": 30, "total_tokens": 930},
    })
}

async fn scripted_model(dir: String, fix_url: String) -> String {
    let answer = move |body: axum::Json<Value>| {
        let (dir, fix_url) = (dir.clone(), fix_url.clone());
        async move {
            let investigated = body["messages"].as_array().is_some_and(|m| m.iter().any(|m| m["role"] == "tool"));
            axum::Json(if investigated {
                call("http__request", json!({"url": fix_url, "method": "POST"}))
            } else {
                call("fs__usage", json!({"path": dir}))
            })
        }
    };
    let app = axum::Router::new().route("/v1/chat/completions", axum::routing::post(answer));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/v1", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    url
}

fn main() {
    let incidents = arg("--incidents", 200);
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
        let model = scripted_model(dir.path().display().to_string(), format!("http://{closed}/fix")).await;
        let mut text = format!(
            "[store]\nurl = \"sqlite://{d}/bench.db\"\n[memory]\nindex = \"{d}/memory-index\"\n[agent]\nmode = \"approve\"\n\
             [fs]\nallowed_roots = [\"{d}\"]\n[llm]\nbase_url = \"{model}\"\nmodel = \"scripted\"\n",
            d = dir.path().display()
        );
        for i in 0..incidents {
            text.push_str(&format!(
                "[[service]]\nname = \"svc-{i:04}\"\n  [[service.check]]\n  name = \"port\"\n  kind = \"tcp\"\n  address = \"{closed}\"\n  fail_after = 1\n"
            ));
        }
        let opts = LoadOptions { file: "bench.toml", known_tools: obsctl_agent::tools::BUILTIN_TOOLS };
        let obsctl = Runtime::build(load(&text, &Default::default(), &opts).unwrap(), Mode::Auto).await.unwrap();
        for c in obsctl.config.checks.clone() {
            obsctl.monitor.run_check(&c.id).await.unwrap();
        }
        let filter = IncidentFilter { status: Some(IncidentStatus::Open), limit: 10_000, ..Default::default() };
        let open = obsctl.store.list_incidents(&filter).await.unwrap();
        assert_eq!(open.len() as u64, incidents);
        let (mut totals, mut overheads, mut model_us_sum) = (Vec::new(), Vec::new(), 0u64);
        for incident in &open {
            let started = Instant::now();
            let report = obsctl.agent.handle_incident(&incident.id).await.unwrap();
            let total = started.elapsed().as_micros() as u64;
            assert_eq!(report.plan.as_ref().map(|p| p.planner), Some("llm"), "{:?}", report.skipped);
            let events = obsctl.store.events(&incident.id).await.unwrap();
            let llm = events.iter().find(|e| e.kind == obsctl_core::timeline::EntryKind::Llm).unwrap();
            let entry: obsctl_core::timeline::LlmEntry = obsctl_core::timeline::data_of(&llm.data).unwrap();
            let model_us = (entry.latency_ms * 1000.0) as u64;
            model_us_sum += model_us;
            totals.push(total);
            overheads.push(total.saturating_sub(model_us));
        }
        let (t, o) = (LatencySummary::of(&totals), LatencySummary::of(&overheads));
        println!("{incidents} incidents, each planned by the model in 2 turns (a read-only fs.usage call, then a fix queued for approval)");
        println!("| measure | p50 (ms) | p99 (ms) |");
        println!("|---|---|---|");
        println!("| handle_incident, whole | {:.2} | {:.2} |", t.p50_ms, t.p99_ms);
        println!("| the planner's own overhead (whole minus model time) | {:.2} | {:.2} |", o.p50_ms, o.p99_ms);
        println!("(model time, both requests on loopback, averaged {:.2} ms per incident)", model_us_sum as f64 / 1000.0 / incidents as f64);
        obsctl.stop().await;
    });
}
