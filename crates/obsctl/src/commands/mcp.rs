//! `obsctl mcp`: the MCP gateway on stdin/stdout, for assistants that start obsctl themselves.
//! Beside a running `serve` on the same store, approved actions are left to it through the
//! journal (as `actions propose` does), so nothing runs as a child of this short-lived process.
//! `obsctl mcp servers`: the external MCP servers, each connected once, up or down.

use std::path::Path;

use obsctl_core::policy::Mode;

use super::handoff;
use crate::render::table;
use crate::runtime::Runtime;

pub async fn run(config: Option<&Path>) -> anyhow::Result<u8> {
    let mut rt = Runtime::build(crate::settings::load_or_host(config)?, Mode::Auto).await?;
    if let Some(holder) = handoff::serve_holder(&rt).await? {
        tracing::info!(%holder, "a serve holds the agent lease: approved actions are left to it");
        rt.agent.hand_off_to(holder);
    }
    // The external servers' tools are offered here too (obsctl as the one gated front door).
    rt.connect_tools().await;
    let served = obsctl_server::mcp::serve_stdio(rt.app_state()).await;
    rt.stop().await;
    served.map(|()| 0)
}

pub async fn servers(config: Option<&Path>, json: bool) -> anyhow::Result<u8> {
    let mut rt = Runtime::build(crate::settings::load_or_host(config)?, Mode::Auto).await?;
    rt.connect_tools().await;
    let statuses = rt.mcp_servers.statuses();
    if json {
        println!("{}", serde_json::to_string_pretty(&statuses)?);
    } else if statuses.is_empty() {
        println!("no [[mcp_server]] configured");
    } else {
        let rows: Vec<Vec<String>> = statuses
            .iter()
            .map(|s| {
                let detail = match &s.error {
                    Some(e) => e.clone(),
                    None => s.tools.join(", "),
                };
                vec![s.name.clone(), s.transport.into(), s.state.into(), s.tools.len().to_string(), detail]
            })
            .collect();
        print!("{}", table(&["SERVER", "TRANSPORT", "STATE", "TOOLS", "TOOLS / ERROR"], &rows));
    }
    let down = statuses.iter().any(|s| s.state != "up");
    rt.stop().await;
    Ok(u8::from(down))
}
