//! Verification: after a fix, re-run the check with backoff until it recovers or the budget ends.

use std::time::Duration;

use async_trait::async_trait;
use obsctl_config::VerifyConfig;
use obsctl_core::action::Outcome;
use obsctl_core::state::CheckStatus;

/// Runs a check now through the same path as the scheduler (so the incident manager sees it).
#[async_trait]
pub trait CheckRunner: Send + Sync {
    /// Whether this run passed, and the check's status after it; `None` for an unknown check.
    async fn run_check(&self, check_id: &str) -> Option<(bool, CheckStatus)>;
    /// The check's current status, without running it.
    fn status(&self, check_id: &str) -> CheckStatus;
}

/// Re-runs `check_id` until its status is ok (`Fixed`), or gives up after the configured
/// attempts: `Partial` if any run passed, else `NotFixed`. The check runs at once, then
/// after `backoff`, doubling up to `max_backoff`.
pub async fn verify(runner: &dyn CheckRunner, check_id: &str, cfg: &VerifyConfig) -> (Outcome, u32) {
    let mut delay = cfg.backoff;
    let mut any_pass = false;
    for attempt in 1..=cfg.attempts {
        match runner.run_check(check_id).await {
            Some((_, CheckStatus::Ok)) => return (Outcome::Fixed, attempt),
            Some((passed, _)) => any_pass |= passed,
            None => return (Outcome::NotFixed, attempt),
        }
        if attempt < cfg.attempts {
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(cfg.max_backoff.max(Duration::from_millis(1)));
        }
    }
    (if any_pass { Outcome::Partial } else { Outcome::NotFixed }, cfg.attempts)
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    /// A check whose runs answer from a script: each entry is (passed, status after the run).
    struct Scripted(Mutex<Vec<(bool, CheckStatus)>>);

    #[async_trait]
    impl CheckRunner for Scripted {
        async fn run_check(&self, check_id: &str) -> Option<(bool, CheckStatus)> {
            let mut runs = self.0.lock().ok()?;
            (check_id == "api/health" && !runs.is_empty()).then(|| runs.remove(0))
        }

        fn status(&self, _check_id: &str) -> CheckStatus {
            CheckStatus::Unknown
        }
    }

    fn config(attempts: u32) -> VerifyConfig {
        VerifyConfig { attempts, backoff: Duration::from_secs(1), max_backoff: Duration::from_secs(3) }
    }

    /// Runs `verify` over `script` on the paused clock; returns its answer and the time it took.
    async fn run(script: Vec<(bool, CheckStatus)>, attempts: u32) -> ((Outcome, u32), Duration) {
        let runner = Scripted(Mutex::new(script));
        let started = tokio::time::Instant::now();
        let answer = verify(&runner, "api/health", &config(attempts)).await;
        (answer, started.elapsed())
    }

    use CheckStatus::{Failing, Ok as Passing};

    #[tokio::test(start_paused = true)]
    async fn fixed_at_the_first_passing_run_after_backoffs_that_double_up_to_the_cap() {
        let script = vec![(false, Failing), (false, Failing), (false, Failing), (true, Passing)];
        // Waits 1 s, 2 s, then 3 s (capped), then the fourth run passes.
        assert_eq!(run(script, 5).await, ((Outcome::Fixed, 4), Duration::from_secs(6)));
    }

    #[tokio::test(start_paused = true)]
    async fn a_pass_that_does_not_settle_the_check_is_partial_and_no_pass_is_not_fixed() {
        // A run passed, but the thresholds never reported ok within the attempts.
        let flaky = vec![(true, Failing), (false, Failing), (true, Failing)];
        assert_eq!(run(flaky, 3).await, ((Outcome::Partial, 3), Duration::from_secs(3)));
        let down = vec![(false, Failing); 3];
        assert_eq!(run(down, 3).await, ((Outcome::NotFixed, 3), Duration::from_secs(3)));
    }

    #[tokio::test(start_paused = true)]
    async fn an_unknown_check_is_not_fixed_at_once() {
        assert_eq!(run(Vec::new(), 5).await, ((Outcome::NotFixed, 1), Duration::ZERO));
    }
}
