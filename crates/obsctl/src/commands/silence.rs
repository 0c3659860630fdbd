//! `obsctl silence add|list|rm`.

use std::path::Path;

use obsctl_core::Timestamp;
use obsctl_core::policy::Mode;
use obsctl_core::quantity::parse_duration;

use crate::cli::SilenceCommand;
use crate::render::table;
use crate::runtime::Runtime;

pub async fn run(config: Option<&Path>, cmd: SilenceCommand) -> anyhow::Result<u8> {
    let rt = Runtime::build(crate::settings::load_or_host(config)?, Mode::Auto).await?;
    match cmd {
        SilenceCommand::Add { service, kind, duration, starts_at, reason } => {
            let d = parse_duration(&duration).map_err(|e| anyhow::anyhow!("--for {e}"))?;
            let starts =
                match starts_at.as_deref() {
                    None => None,
                    Some(t) => Some(Timestamp::parse_rfc3339(t).ok_or_else(|| {
                        anyhow::anyhow!("--starts-at {t:?} is not RFC 3339, e.g. 2026-11-28T22:00:00Z")
                    })?),
                };
            let s = rt.agent.silence(service, kind, starts, d, &reason, "cli").await?;
            println!("silenced {} from {} until {}", s.id, s.starts_at, s.ends_at);
        }
        SilenceCommand::List { json } => {
            let list = rt.store.silences(None).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&list)?);
            } else {
                let now = Timestamp::now();
                let rows: Vec<Vec<String>> = list
                    .iter()
                    .map(|s| {
                        let state = if s.is_active(now) {
                            "active"
                        } else if s.starts_at > now {
                            "scheduled"
                        } else {
                            "expired"
                        };
                        vec![
                            s.id.clone(),
                            state.into(),
                            s.service.clone().unwrap_or("*".into()),
                            s.kind.clone().unwrap_or("*".into()),
                            s.starts_at.to_string(),
                            s.ends_at.to_string(),
                            s.reason.clone(),
                        ]
                    })
                    .collect();
                print!("{}", table(&["ID", "STATE", "SERVICE", "KIND", "FROM", "UNTIL", "REASON"], &rows));
            }
        }
        SilenceCommand::Rm { id } => {
            rt.agent.unsilence(&id, "cli").await?;
            println!("removed {id}");
        }
    }
    rt.stop().await;
    Ok(0)
}
