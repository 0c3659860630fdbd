//! The command probe: an allow-listed command (checked at config load) that must exit 0,
//! run like `command.run` (no shell, cleared environment, bounded output).

use super::{ProbeOutcome, truncate};

pub(super) async fn probe(run: &[String], timeout: std::time::Duration) -> ProbeOutcome {
    match obsctl_host::run_bounded(run, &[], timeout, 4096).await {
        Ok(out) => {
            let text = if out.stdout.is_empty() { &out.stderr } else { &out.stdout };
            let mut first = text.lines().next().unwrap_or("").trim().to_string();
            truncate(&mut first, 200);
            match out.status.code() {
                Some(0) => ProbeOutcome::pass(format!("exit 0 {first}").trim().to_string()),
                Some(code) => ProbeOutcome::fail(format!("exit {code} {first}").trim().to_string()),
                None => ProbeOutcome::fail("killed by a signal"),
            }
        }
        Err(e) => ProbeOutcome::fail(e.to_string()),
    }
}
