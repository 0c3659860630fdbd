//! `obsctl memory stats|show|search|reindex` (export and import are in `memory_io.rs`).

use std::path::Path;

use obsctl_core::Timestamp;
use obsctl_core::policy::Mode;
use obsctl_store::RecallQuery;

use crate::cli::MemoryCommand;
use crate::render::table;
use crate::runtime::Runtime;

pub async fn run(config: Option<&Path>, cmd: MemoryCommand) -> anyhow::Result<u8> {
    // Checked before anything is opened: a typo gets its message, not a half-started runtime.
    let since = match &cmd {
        MemoryCommand::Export { since: Some(text) } => Some(super::memory_io::parse_since(text)?),
        _ => None,
    };
    let rt = Runtime::build(crate::settings::load_or_host(config)?, Mode::Auto).await?;
    let mut code = 0;
    match cmd {
        MemoryCommand::Stats { cluster, json } => {
            let ledger = rt.store.ledger(cluster.as_deref()).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&ledger)?);
            } else {
                let rows: Vec<Vec<String>> = ledger
                    .iter()
                    .map(|e| {
                        vec![
                            e.cluster.clone(),
                            e.steps.iter().map(|s| s.tool.as_str()).collect::<Vec<_>>().join(" → "),
                            format!("{}/{}", e.successes, e.attempts),
                            format!("{:.0}%", e.success_rate() * 100.0),
                            e.median_ttr_ms
                                .map(|ms| format!("{:.1}s", ms as f64 / 1000.0))
                                .unwrap_or_else(|| "-".into()),
                            e.last_used.to_string(),
                            e.action_key.clone(),
                        ]
                    })
                    .collect();
                print!("{}", table(&["CLUSTER", "FIX", "FIXED", "RATE", "MEDIAN TTR", "LAST USED", "KEY"], &rows));
            }
        }
        MemoryCommand::Show { id } => println!("{}", serde_json::to_string_pretty(&rt.store.episode(&id).await?)?),
        MemoryCommand::Search { text, service, kind, labels, limit, json } => {
            let index = rt
                .agent
                .recall()
                .ok_or_else(|| anyhow::anyhow!("the recall index is unavailable; see the log above"))?;
            let labels =
                obsctl_store::parse_labels(labels.iter().map(String::as_str)).map_err(|e| anyhow::anyhow!("--{e}"))?;
            let strict = service.is_some() || kind.is_some();
            let query = RecallQuery { text, service, kind, labels, strict, limit };
            let hits = index.search(&query, Timestamp::now())?;
            if json {
                println!("{}", serde_json::to_string_pretty(&hits)?);
            } else {
                let rows: Vec<Vec<String>> = hits
                    .iter()
                    .map(|h| vec![h.episode_id.clone(), format!("{:.2}", h.score), h.origin.clone(), h.why.clone()])
                    .collect();
                print!("{}", table(&["EPISODE", "SCORE", "ORIGIN", "WHY"], &rows));
            }
        }
        MemoryCommand::Reindex => {
            let index = rt
                .agent
                .recall()
                .ok_or_else(|| anyhow::anyhow!("the recall index is unavailable; see the log above"))?;
            let n = index.rebuild(rt.store.as_ref()).await?;
            println!("reindexed {n} episodes into {}", rt.config.memory_index.display());
        }
        MemoryCommand::Sync { json } => code = sync(&rt, json).await?,
        MemoryCommand::Export { .. } => code = super::memory_io::export(&rt, since).await?,
        MemoryCommand::Import { files, strict } => code = super::memory_io::import(&rt, &files, strict).await?,
    }
    rt.stop().await;
    Ok(code)
}

/// One sync now, beside or without a running `serve` (both are idempotent and resume).
async fn sync(rt: &Runtime, json: bool) -> anyhow::Result<u8> {
    let Some(sync) = &rt.memory_sync else {
        anyhow::bail!(
            "memory sync is off: set [memory.sync] url = \"https://central:5555\" (or MEMORY_SYNC_ENABLED=true and MEMORY_SYNC_URL)"
        );
    };
    let done = sync.sync().await;
    let (state, backlog) = sync.status().await?;
    if json {
        let report = done.as_ref().ok();
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({"report": report, "state": state, "backlog": backlog}))?
        );
    } else {
        match &done {
            Ok(r) => println!(
                "synced with {}: pushed {}, pulled {}, {} already here",
                state.peer, r.pushed, r.pulled, r.unchanged
            ),
            Err(e) => println!("sync with {} failed: {e:#}", state.peer),
        }
        println!("in all: pushed {}, pulled {}; {backlog} own episodes wait to be pushed", state.pushed, state.pulled);
    }
    Ok(u8::from(done.is_err()))
}
