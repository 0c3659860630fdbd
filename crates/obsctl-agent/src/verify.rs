//! Verification: after a fix, re-run the check with backoff until it recovers or the budget ends.

use std::time::Duration;

use async_trait::async_trait;
use obsctl_core::action::Outcome;
use obsctl_core::config::VerifyConfig;
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
