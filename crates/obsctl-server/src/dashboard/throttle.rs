//! Login throttling: password checks (argon2, deliberately slow) run off the async workers, at
//! most two at once, and a user name that keeps failing is locked out with a growing backoff,
//! so a flood of logins can neither exhaust the server nor guess a password quickly.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Failures allowed before a name is locked out.
const FREE_FAILURES: u32 = 5;
const FIRST_LOCKOUT: Duration = Duration::from_secs(30);
const MAX_LOCKOUT: Duration = Duration::from_secs(15 * 60);
/// Password checks running at once; more are refused, not queued.
const CONCURRENT_CHECKS: usize = 2;

pub struct Throttle {
    checks: std::sync::Arc<Semaphore>,
    failures: Mutex<HashMap<String, (u32, Option<Instant>)>>,
}

impl Default for Throttle {
    fn default() -> Self {
        Self { checks: std::sync::Arc::new(Semaphore::new(CONCURRENT_CHECKS)), failures: Mutex::default() }
    }
}

/// Why a login was not even tried.
#[derive(Debug, PartialEq)]
pub enum Refused {
    /// Too many failures for this name: try again after this long.
    LockedOut(Duration),
    /// Every password-check slot is busy.
    Busy,
}

impl Throttle {
    /// A slot to check `user`'s password in, or why there is none.
    pub fn admit(&self, user: &str) -> Result<OwnedSemaphorePermit, Refused> {
        let map = self.failures.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some((_, Some(until))) = map.get(user) {
            let left = until.saturating_duration_since(Instant::now());
            if !left.is_zero() {
                return Err(Refused::LockedOut(left));
            }
        }
        drop(map);
        self.checks.clone().try_acquire_owned().map_err(|_| Refused::Busy)
    }

    /// Records the result of a check: success forgets the name's failures.
    pub fn record(&self, user: &str, ok: bool) {
        let mut map = self.failures.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if ok {
            map.remove(user);
            return;
        }
        if map.len() > 10_000 {
            map.retain(|_, (_, until)| until.is_some_and(|u| u > Instant::now()));
        }
        let entry = map.entry(user.to_string()).or_insert((0, None));
        entry.0 += 1;
        if entry.0 >= FREE_FAILURES {
            let doublings = (entry.0 - FREE_FAILURES).min(10);
            entry.1 = Some(Instant::now() + (FIRST_LOCKOUT * 2u32.pow(doublings)).min(MAX_LOCKOUT));
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn a_failing_name_is_locked_out_and_slots_are_bounded() {
        let t = Throttle::default();
        for _ in 0..FREE_FAILURES {
            drop(t.admit("alice").unwrap());
            t.record("alice", false);
        }
        assert!(matches!(t.admit("alice"), Err(Refused::LockedOut(d)) if d > Duration::from_secs(25)));
        // Another name is unaffected; slots run out at two.
        let (a, b) = (t.admit("bob").unwrap(), t.admit("carol").unwrap());
        assert_eq!(t.admit("dave").unwrap_err(), Refused::Busy);
        drop((a, b));
        t.record("bob", true);
        assert!(t.admit("bob").is_ok());
    }
}
