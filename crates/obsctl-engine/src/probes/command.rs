//! The command probe: an allow-listed command (checked at config load) that must exit 0.

use std::process::Stdio;

use super::{ProbeOutcome, truncate};

pub(super) async fn probe(run: &[String]) -> ProbeOutcome {
    let Some((program, args)) = run.split_first() else {
        return ProbeOutcome::fail("empty command");
    };
    let child = tokio::process::Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .output()
        .await;
    match child {
        Ok(out) => {
            let text = if out.stdout.is_empty() { &out.stderr } else { &out.stdout };
            let mut first = String::from_utf8_lossy(text).lines().next().unwrap_or("").trim().to_string();
            truncate(&mut first, 200);
            match out.status.code() {
                Some(0) => ProbeOutcome::pass(format!("exit 0 {first}").trim().to_string()),
                Some(code) => ProbeOutcome::fail(format!("exit {code} {first}").trim().to_string()),
                None => ProbeOutcome::fail("killed by a signal"),
            }
        }
        Err(e) => ProbeOutcome::fail(format!("cannot run {program}: {e}")),
    }
}
