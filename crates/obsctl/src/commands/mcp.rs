//! `obsctl mcp`: the MCP gateway on stdin/stdout, for assistants that start obsctl themselves.
//! Beside a running `serve` on the same store, approved actions are left to it through the
//! journal (as `actions propose` does), so nothing runs as a child of this short-lived process.

use std::path::Path;

use obsctl_core::policy::Mode;

use super::handoff;
use crate::runtime::Runtime;

pub async fn run(config: Option<&Path>) -> anyhow::Result<u8> {
    let rt = Runtime::build(crate::settings::load_or_host(config)?, Mode::Auto).await?;
    if let Some(holder) = handoff::serve_holder(&rt).await? {
        tracing::info!(%holder, "a serve holds the agent lease: approved actions are left to it");
        rt.agent.hand_off_to(holder);
    }
    let served = obsctl_server::mcp::serve_stdio(rt.app_state()).await;
    rt.stop().await;
    served.map(|()| 0)
}
