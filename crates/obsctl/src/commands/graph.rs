//! `obsctl graph history|upstream|blast-radius|similar-fixes|sync`.

use std::path::Path;

use obsctl_core::policy::Mode;
use serde::Serialize;

use crate::cli::GraphCommand;
use crate::render::table;
use crate::runtime::Runtime;

/// Prints `items` as JSON, or as a table of `header` and `row(item)`.
fn print<T: Serialize>(
    items: &[T],
    json: bool,
    header: &[&str],
    row: impl Fn(&T) -> Vec<String>,
) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(items)?);
    } else {
        print!("{}", table(header, &items.iter().map(row).collect::<Vec<_>>()));
    }
    Ok(())
}

pub async fn run(config: Option<&Path>, cmd: GraphCommand) -> anyhow::Result<u8> {
    let rt = Runtime::build(crate::settings::load_or_host(config)?, Mode::Auto).await?;
    if !matches!(cmd, GraphCommand::Sync { .. }) {
        rt.sync_graph().await;
    }
    let store = rt.store.as_ref();
    let graph = rt.graph.as_ref();
    let mut code = 0;
    match cmd {
        GraphCommand::History { service, limit, json } => print(
            &graph.fix_history(&service, limit).await?,
            json,
            &["AT", "INCIDENT", "KIND", "TOOL", "STATE", "OUTCOME"],
            |f| {
                let outcome = f.outcome.map(|o| o.as_str()).unwrap_or("-");
                vec![
                    f.at.to_string(),
                    f.incident_id.clone(),
                    f.kind.clone(),
                    f.tool.clone(),
                    f.state.clone(),
                    outcome.into(),
                ]
            },
        )?,
        GraphCommand::Upstream { incident, json } => {
            store.incident(&incident).await?;
            print(&graph.upstream_failures(&incident).await?, json, &["DEPTH", "SERVICE", "INCIDENT", "KIND"], |u| {
                vec![u.depth.to_string(), u.service.clone(), u.incident_id.clone(), u.kind.clone()]
            })?
        }
        GraphCommand::BlastRadius { service, json } => {
            anyhow::ensure!(rt.config.service(&service).is_some(), "unknown service {service:?}");
            print(&graph.blast_radius(&service).await?, json, &["DEPTH", "SERVICE"], |r| {
                vec![r.depth.to_string(), r.service.clone()]
            })?
        }
        GraphCommand::SimilarFixes { incident, json } => print(
            &obsctl_store::similar_fixes(store, &incident).await?,
            json,
            &["FIX", "FIXED", "MEDIAN TTR", "EVIDENCE"],
            |e| {
                vec![
                    e.steps.iter().map(|s| s.tool.as_str()).collect::<Vec<_>>().join(" → "),
                    format!("{}/{}", e.successes, e.attempts),
                    e.median_ttr_ms.map(|ms| format!("{:.1}s", ms as f64 / 1000.0)).unwrap_or_else(|| "-".into()),
                    e.episodes.iter().take(3).cloned().collect::<Vec<_>>().join(", "),
                ]
            },
        )?,
        GraphCommand::Sync { json } => code = sync(&rt, json).await?,
    }
    rt.stop().await;
    Ok(code)
}

/// `obsctl graph sync`: one sync, and what it copied.
async fn sync(rt: &Runtime, json: bool) -> anyhow::Result<u8> {
    let Some(mirror) = &rt.mirror else {
        anyhow::bail!(
            "no graph server configured: the embedded graph is the journal itself and needs no sync; set [graph] url = \"bolt://host:7687\" to mirror it"
        );
    };
    let result = mirror.sync().await;
    let status = mirror.status();
    if json {
        let report = result.as_ref().ok();
        println!("{}", serde_json::to_string_pretty(&serde_json::json!({ "copied": report, "status": status }))?);
    } else {
        match &result {
            Ok(r) => println!(
                "synced {}: {} incidents and {} actions copied{}",
                status.address,
                r.incidents,
                r.actions,
                if r.dependencies { ", dependencies replaced" } else { "" }
            ),
            Err(e) => eprintln!(
                "graph server {} unreachable: {e}; the embedded graph answers until it returns",
                status.address
            ),
        }
    }
    Ok(u8::from(result.is_err()))
}
