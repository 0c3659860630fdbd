//! `obsctl actions list|approve|reject|propose`. Approving with `--now` and proposing exit 1
//! when a step was refused, failed or did not fix what it was for (the README's contract).

use std::path::Path;

use obsctl_core::action::ActionState;
use obsctl_core::policy::Mode;
use obsctl_store::ActionFilter;

use super::handoff;
use crate::cli::ActionsCommand;
use crate::render::table;
use crate::runtime::Runtime;

pub async fn run(config: Option<&Path>, cmd: ActionsCommand) -> anyhow::Result<u8> {
    let mut rt = Runtime::build(crate::settings::load_or_host(config)?, Mode::Auto).await?;
    let code = match cmd {
        ActionsCommand::List { pending, json } => {
            let states = if pending { vec![ActionState::PendingApproval] } else { Vec::new() };
            let list = rt.store.list_actions(&ActionFilter { states, limit: 100, ..Default::default() }).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&list)?);
            } else {
                let rows: Vec<Vec<String>> = list
                    .iter()
                    .map(|a| {
                        vec![
                            a.id.clone(),
                            a.state.as_str().into(),
                            a.service.clone(),
                            a.tool.clone(),
                            a.args.to_string(),
                            a.outcome.map(|o| o.as_str()).unwrap_or("").into(),
                            a.reason.clone(),
                        ]
                    })
                    .collect();
                print!("{}", table(&["ID", "STATE", "SERVICE", "TOOL", "ARGS", "OUTCOME", "REASON"], &rows));
            }
            0
        }
        ActionsCommand::Approve { id, reason, now } => {
            let approved = rt.agent.approve(&id, "cli", &reason).await?;
            println!(
                "approved {} action(s): {}",
                approved.len(),
                approved.iter().map(|a| a.tool.as_str()).collect::<Vec<_>>().join(" → ")
            );
            if now {
                let ids: Vec<String> = approved.iter().map(|a| a.id.clone()).collect();
                match handoff::serve_holder(&rt).await? {
                    Some(holder) => handoff::announce(&holder),
                    None => {
                        rt.connect_tools().await;
                        rt.agent.run_approved().await?
                    }
                }
                let done = handoff::wait_for(&rt, &ids).await?;
                handoff::print(&done);
                exit_code(&done, None)
            } else {
                println!("a running `obsctl serve` executes it within seconds (or pass --now)");
                0
            }
        }
        ActionsCommand::Propose { incident, tool, args, reason, remember, override_budget } => {
            let args: serde_json::Value =
                serde_json::from_str(&args).map_err(|e| anyhow::anyhow!("--args is not JSON: {e}"))?;
            let steps = vec![obsctl_config::Step { tool, args }];
            if let Some(holder) = handoff::serve_holder(&rt).await? {
                rt.agent.hand_off_to(holder);
            } else {
                rt.connect_tools().await;
            }
            let report =
                rt.agent.propose(&incident, steps, "cli", &reason, remember, override_budget.as_deref()).await?;
            for a in &report.actions {
                println!("{} {} [{}] {}", a.tool, a.args, a.state.as_str(), a.reason);
            }
            if report.actions.iter().any(|a| matches!(a.gate.as_deref(), Some("budget_service" | "budget_global"))) {
                println!("the budget holds the agent back; to act anyway, knowingly: add --override-budget \"why\"");
            }
            let mut actions = report.actions.clone();
            if let Some(holder) = &report.handed_to {
                handoff::announce(holder);
                let ids: Vec<String> = report.actions.iter().map(|a| a.id.clone()).collect();
                actions = handoff::wait_for(&rt, &ids).await?;
                handoff::print(&actions);
            }
            if let Some(o) = report.outcome {
                println!("outcome: {}", o.as_str());
            }
            exit_code(&actions, report.outcome)
        }
        ActionsCommand::Reject { id, reason } => {
            let rejected = rt.agent.reject(&id, "cli", &reason).await?;
            println!("rejected {} action(s)", rejected.len());
            0
        }
    };
    rt.stop().await;
    Ok(code)
}

/// 1 when any step was refused, rejected, cancelled or failed, or the plan ran without fixing
/// what it was for (a verified `outcome`, the plan's or a step's, not `fixed`); else 0 (a step
/// still waiting for a person is not a failure).
fn exit_code(actions: &[obsctl_core::action::Action], outcome: Option<obsctl_core::action::Outcome>) -> u8 {
    use obsctl_core::action::Outcome;
    let not_fixed = |o: Option<Outcome>| o.is_some_and(|o| o != Outcome::Fixed);
    let failed = not_fixed(outcome)
        || actions.iter().any(|a| {
            matches!(
                a.state,
                ActionState::Denied | ActionState::Failed | ActionState::Rejected | ActionState::Cancelled
            ) || not_fixed(a.outcome)
        });
    u8::from(failed)
}
