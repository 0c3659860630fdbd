//! `obsctl graph history|upstream|blast-radius|similar-fixes`.

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
    let store = rt.store.as_ref();
    match cmd {
        GraphCommand::History { service, limit, json } => print(
            &store.fix_history(&service, limit).await?,
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
            print(&store.upstream_failures(&incident).await?, json, &["DEPTH", "SERVICE", "INCIDENT", "KIND"], |u| {
                vec![u.depth.to_string(), u.service.clone(), u.incident_id.clone(), u.kind.clone()]
            })?
        }
        GraphCommand::BlastRadius { service, json } => {
            anyhow::ensure!(rt.config.service(&service).is_some(), "unknown service {service:?}");
            print(&store.blast_radius(&service).await?, json, &["DEPTH", "SERVICE"], |r| {
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
    }
    rt.stop().await;
    Ok(0)
}
