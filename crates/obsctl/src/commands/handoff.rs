//! Acting beside a running `serve`: when another process holds the store's agent lease, the
//! acting commands (`actions approve --now`, `actions propose`, `agent periodic-check`) leave
//! the work to it through the journal, say so, and wait for what it does.

use std::time::{Duration, Instant};

use obsctl_core::action::{Action, ActionState};

use crate::runtime::Runtime;

/// How long a command waits for `serve` to run what it left it.
const WAIT: Duration = Duration::from_secs(120);

/// The holder of a live agent lease on this store (a `serve`), if there is one.
pub async fn serve_holder(rt: &Runtime) -> anyhow::Result<Option<String>> {
    obsctl_agent::live_holder(rt.store.as_ref()).await
}

pub fn announce(holder: &str) {
    println!("{holder} holds the agent lease on this store: it runs the approved steps; waiting for it");
}

/// Polls the journal until every action has run (or will not), and the executed ones have
/// their verified outcome; gives up after `WAIT` with what it has.
pub async fn wait_for(rt: &Runtime, ids: &[String]) -> anyhow::Result<Vec<Action>> {
    let deadline = Instant::now() + WAIT;
    loop {
        let mut current = Vec::with_capacity(ids.len());
        for id in ids {
            current.push(rt.store.action(id).await?);
        }
        let settled = |a: &Action| match a.state {
            ActionState::Succeeded => a.outcome.is_some(),
            ActionState::PendingApproval | ActionState::Approved | ActionState::Running => false,
            _ => true,
        };
        let failed = current.iter().any(|a| a.state == ActionState::Failed);
        if current.iter().all(settled) || failed && current.iter().all(|a| !a.state.is_active()) {
            return Ok(current);
        }
        if Instant::now() >= deadline {
            println!("still not finished after {}s; see `obsctl actions list`", WAIT.as_secs());
            return Ok(current);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Prints one line per action: tool, state, outcome.
pub fn print(actions: &[Action]) {
    for a in actions {
        println!("  {} [{}] outcome {}", a.tool, a.state.as_str(), a.outcome.map(|o| o.as_str()).unwrap_or("-"));
    }
}
