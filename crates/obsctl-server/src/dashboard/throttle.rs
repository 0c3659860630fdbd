//! Login throttling: password checks (argon2, deliberately slow) run off the async workers, at
//! most two at once; a user name that keeps failing, and a client address that keeps failing
//! (whatever names it tries), is locked out with a growing backoff. A flood of logins can
//! neither exhaust the server nor guess a password quickly, and rotating names does not help.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Failures a name may have before it is locked out.
const FREE_NAME_FAILURES: u32 = 5;
/// Failures one client address may have (over every name) before it is locked out. Higher than
/// a name's: several people may share an address behind one proxy.
const FREE_PEER_FAILURES: u32 = 20;
const FIRST_LOCKOUT: Duration = Duration::from_secs(30);
const MAX_LOCKOUT: Duration = Duration::from_secs(15 * 60);
/// Failures older than this, with no lockout running, are forgotten.
const FORGET_AFTER: Duration = Duration::from_secs(15 * 60);
/// Password checks running at once; more are refused, not queued.
const CONCURRENT_CHECKS: usize = 2;
/// Entries kept before expired ones are swept.
const SWEEP_ABOVE: usize = 10_000;

/// Who failed: a user name, or the address a login came from.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    Name(String),
    Peer(IpAddr),
}

impl Key {
    fn free_failures(&self) -> u32 {
        match self {
            Self::Name(_) => FREE_NAME_FAILURES,
            Self::Peer(_) => FREE_PEER_FAILURES,
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Failures {
    count: u32,
    first: Instant,
    locked_until: Option<Instant>,
}

impl Failures {
    fn stale(&self, now: Instant) -> bool {
        self.locked_until.is_none_or(|until| until <= now) && now.duration_since(self.first) > FORGET_AFTER
    }
}

pub struct Throttle {
    checks: std::sync::Arc<Semaphore>,
    failures: Mutex<HashMap<Key, Failures>>,
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
    NameLockedOut(Duration),
    /// Too many failures from this address: try again after this long.
    PeerLockedOut(Duration),
    /// Every password-check slot is busy.
    Busy,
}

impl Refused {
    /// Seconds a client should wait (for `Retry-After`).
    pub fn retry_after(&self) -> u64 {
        match self {
            Self::NameLockedOut(left) | Self::PeerLockedOut(left) => left.as_secs() + 1,
            Self::Busy => 1,
        }
    }
}

fn keys(user: &str, peer: Option<IpAddr>) -> impl Iterator<Item = Key> {
    std::iter::once(Key::Name(user.to_string())).chain(peer.map(Key::Peer))
}

impl Throttle {
    /// A slot to check `user`'s password in, for a login from `peer` (when known), or why there
    /// is none.
    pub fn admit(&self, user: &str, peer: Option<IpAddr>) -> Result<OwnedSemaphorePermit, Refused> {
        let map = self.failures.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let now = Instant::now();
        for key in keys(user, peer) {
            let left = map.get(&key).and_then(|f| f.locked_until).map(|u| u.saturating_duration_since(now));
            match (key, left) {
                (Key::Name(_), Some(left)) if !left.is_zero() => return Err(Refused::NameLockedOut(left)),
                (Key::Peer(_), Some(left)) if !left.is_zero() => return Err(Refused::PeerLockedOut(left)),
                _ => {}
            }
        }
        drop(map);
        self.checks.clone().try_acquire_owned().map_err(|_| Refused::Busy)
    }

    /// Records the result of a check. Success forgets the name's failures, not the address's
    /// (one good account must not reset a guesser's count).
    pub fn record(&self, user: &str, peer: Option<IpAddr>, ok: bool) {
        let mut map = self.failures.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let now = Instant::now();
        if ok {
            map.remove(&Key::Name(user.to_string()));
            return;
        }
        if map.len() > SWEEP_ABOVE {
            map.retain(|_, f| !f.stale(now));
        }
        for key in keys(user, peer) {
            let free = key.free_failures();
            let entry = map.entry(key).or_insert(Failures { count: 0, first: now, locked_until: None });
            if entry.stale(now) {
                *entry = Failures { count: 0, first: now, locked_until: None };
            }
            entry.count += 1;
            if entry.count >= free {
                let doublings = (entry.count - free).min(10);
                entry.locked_until = Some(now + (FIRST_LOCKOUT * 2u32.pow(doublings)).min(MAX_LOCKOUT));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    const HOME: Option<IpAddr> = Some(IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 1)));
    const AWAY: Option<IpAddr> = Some(IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 2)));

    #[test]
    fn a_failing_name_is_locked_out_and_slots_are_bounded() {
        let t = Throttle::default();
        for _ in 0..FREE_NAME_FAILURES {
            drop(t.admit("alice", HOME).unwrap());
            t.record("alice", HOME, false);
        }
        assert!(matches!(t.admit("alice", AWAY), Err(Refused::NameLockedOut(d)) if d > Duration::from_secs(25)));
        // Another name is unaffected; slots run out at two.
        let (a, b) = (t.admit("bob", HOME).unwrap(), t.admit("carol", HOME).unwrap());
        assert_eq!(t.admit("dave", HOME).unwrap_err(), Refused::Busy);
        drop((a, b));
        t.record("bob", HOME, true);
        assert!(t.admit("bob", HOME).is_ok());
    }

    #[test]
    fn an_address_rotating_names_is_locked_out_and_others_are_not() {
        let t = Throttle::default();
        for i in 0..FREE_PEER_FAILURES {
            drop(t.admit(&format!("guess{i}"), HOME).unwrap());
            t.record(&format!("guess{i}"), HOME, false);
            // A good login from the same address in between does not reset its count.
            t.record("victor", HOME, true);
        }
        let refused = t.admit("victor", HOME).unwrap_err();
        assert!(matches!(refused, Refused::PeerLockedOut(d) if d > Duration::from_secs(25)), "{refused:?}");
        assert!(refused.retry_after() > 25);
        // The same name from another address still gets its password checked.
        assert!(t.admit("victor", AWAY).is_ok());
        // Without a known address only the name counts.
        assert!(t.admit("victor", None).is_ok());
    }

    #[test]
    fn old_failures_are_forgotten() {
        let long_ago = Instant::now().checked_sub(FORGET_AFTER + Duration::from_secs(1)).unwrap();
        let old = Failures { count: 4, first: long_ago, locked_until: None };
        assert!(old.stale(Instant::now()));
        let locked = Failures { locked_until: Some(Instant::now() + FIRST_LOCKOUT), ..old };
        assert!(!locked.stale(Instant::now()));
        let t = Throttle::default();
        t.failures.lock().unwrap().insert(Key::Name("alice".into()), old);
        t.record("alice", None, false);
        // The four old failures did not count: one more is not a lockout.
        assert!(t.admit("alice", None).is_ok());
        assert_eq!(t.failures.lock().unwrap()[&Key::Name("alice".into())].count, 1);
    }
}
