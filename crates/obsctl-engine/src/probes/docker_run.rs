//! The docker_run probe: a command in a throwaway container from a named image must exit 0,
//! so a check's tools need not be installed on the host. The container is removed whatever
//! happens; the run is detached from the check's timeout so removal is never cut short.

use std::time::Duration;

use obsctl_config::names_a_secret;
use obsctl_core::check::DockerRunProbe;
use obsctl_core::secret::{Secret, redact};
use obsctl_host::docker::{ThrowawayOutcome, ThrowawaySpec};

use super::{ProbeContext, ProbeOutcome, truncate};

/// Time kept back from the check's timeout for creating and removing the container.
const MARGIN: Duration = Duration::from_millis(1500);

pub(super) async fn probe(p: &DockerRunProbe, timeout: Duration, ctx: &ProbeContext) -> ProbeOutcome {
    // Credential-named values: what the command prints of them is masked in the detail.
    let secrets: Vec<&Secret> =
        p.env.iter().filter(|(k, _)| names_a_secret(&k.to_ascii_uppercase())).map(|(_, v)| v).collect();
    let spec = ThrowawaySpec {
        image: p.image.clone(),
        command: p.run.clone(),
        env: p.env.iter().map(|(k, v)| (k.clone(), v.expose().to_string())).collect(),
        network: p.network.clone(),
        mounts: p.mounts.clone(),
        cpus: p.cpus,
        memory_bytes: p.memory,
        timeout: timeout.saturating_sub(MARGIN).max(timeout / 2),
        owner: ctx.owner.clone(),
        max_output: 4096,
    };
    let engine = ctx.docker.clone();
    // Its own task: if the engine is too slow for the check, the run goes on and removes the
    // container once the engine answers.
    let run = tokio::spawn(async move { engine.run_throwaway(&spec).await });
    let outcome = match tokio::time::timeout(super::docker::within(timeout), run).await {
        Ok(Ok(result)) => result,
        Ok(Err(e)) => return ProbeOutcome::fail(format!("probe task failed: {e}")),
        Err(_) => return ProbeOutcome::unknown(super::docker::slow(ctx, timeout)),
    };
    let last_lines = |output: &str| {
        let lines: Vec<&str> = output.lines().collect();
        let mut text = redact(&lines[lines.len().saturating_sub(3)..].join(" | "), &secrets);
        truncate(&mut text, 300);
        text
    };
    match outcome {
        Ok(ThrowawayOutcome::Exited { code: 0, output, took }) => {
            ProbeOutcome::pass(format!("exit 0 in {}ms {}", took.as_millis(), last_lines(&output)).trim().to_string())
        }
        Ok(ThrowawayOutcome::Exited { code, output, .. }) => {
            ProbeOutcome::fail(format!("exit {code} {}", last_lines(&output)).trim().to_string())
        }
        Ok(ThrowawayOutcome::TimedOut { output }) => ProbeOutcome::fail(
            format!("timed out in {}; container removed {}", p.image, last_lines(&output)).trim().to_string(),
        ),
        Err(e) if e.is_unreachable() => ProbeOutcome::unknown(e.to_string()),
        Err(e) => ProbeOutcome::fail(e.to_string()),
    }
}
