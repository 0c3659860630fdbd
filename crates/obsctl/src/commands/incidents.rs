//! `obsctl incidents list|show|resolve`.

use std::path::Path;

use obsctl_core::incident::IncidentStatus;
use obsctl_core::policy::Mode;
use obsctl_store::{ActionFilter, IncidentFilter};

use crate::cli::IncidentsCommand;
use crate::render::{table, timeline};
use crate::runtime::Runtime;

pub async fn run(config: Option<&Path>, cmd: IncidentsCommand) -> anyhow::Result<u8> {
    let rt = Runtime::build(crate::settings::load_or_host(config)?, Mode::Auto).await?;
    let code = match cmd {
        IncidentsCommand::List { status, service, limit, json } => {
            let status = match status.as_deref() {
                None => None,
                Some(s) => {
                    Some(IncidentStatus::parse(s).ok_or_else(|| anyhow::anyhow!("--status must be open or resolved"))?)
                }
            };
            let list = rt.store.list_incidents(&IncidentFilter { status, service, kind: None, limit }).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&list)?);
            } else {
                let rows: Vec<Vec<String>> = list
                    .iter()
                    .map(|i| {
                        vec![
                            i.id.clone(),
                            i.status.as_str().into(),
                            i.service.clone(),
                            i.kind.clone(),
                            i.opened_at.to_string(),
                            i.occurrences.to_string(),
                            i.detail.clone(),
                        ]
                    })
                    .collect();
                print!("{}", table(&["ID", "STATUS", "SERVICE", "KIND", "OPENED", "SEEN", "DETAIL"], &rows));
            }
            0
        }
        IncidentsCommand::Show { id, json } => {
            let incident = rt.store.incident(&id).await?;
            let events = rt.store.events(&id).await?;
            let actions = rt
                .store
                .list_actions(&ActionFilter { incident_id: Some(id), limit: 1000, ..Default::default() })
                .await?;
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(
                        &serde_json::json!({"incident": incident, "events": events, "actions": actions})
                    )?
                );
            } else {
                print!("{}", timeline(&incident, &events));
            }
            0
        }
        IncidentsCommand::Resolve { id, note } => {
            rt.agent.resolve_by_hand(&id, "cli", &note).await?;
            println!("resolved {id}");
            0
        }
    };
    rt.stop().await;
    Ok(code)
}
