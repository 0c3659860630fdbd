//! Replicas on one Postgres: who is in the cluster, and which replica runs which check
//! (rendezvous hashing over the live replicas, so a replica joining or leaving moves only its
//! share of the checks).

use serde::{Deserialize, Serialize};

use crate::time::Timestamp;

/// One `obsctl serve` of the cluster, as its heartbeat row says.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Replica {
    pub id: String,
    pub host: String,
    pub pid: u32,
    /// Its API address.
    pub listen: String,
    pub started_at: Timestamp,
    /// The store's clock at its last heartbeat (every replica is judged by the same clock).
    /// In a heartbeat being written: the replica's own clock as it sends it.
    pub heartbeat_at: Timestamp,
    /// Checks it ran, by its own count at its last heartbeat.
    pub checks: u32,
    /// Its own clock less the store's at its last heartbeat, in milliseconds (give or take the
    /// heartbeat's round trip): what the times it writes itself are off by.
    pub clock_offset_ms: i64,
    /// From when, by the store's clock, it runs its share: a grace after it joined or came
    /// back, so that every replica hands the share over at the same instant.
    pub active_from: Timestamp,
}

/// The replica (of `active`, ids) that runs `check_id`: the highest hash of (replica, check).
pub fn owner<'a>(check_id: &str, active: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    active.into_iter().max_by_key(|r| {
        let seed = crate::hash::fnv1a(crate::hash::FNV_OFFSET, r.bytes());
        mix(crate::hash::fnv1a(seed, check_id.bytes()))
    })
}

/// The cluster's clock (the store's) as a process whose own clock is `offset_ms` ahead of it
/// reckons it now.
pub fn cluster_now(offset_ms: i64) -> Timestamp {
    Timestamp(Timestamp::now().millis() - offset_ms)
}

/// The ids of `live` replicas active at `now` (store clock): those that run a share.
pub fn active(live: &[Replica], now: Timestamp) -> impl Iterator<Item = &str> {
    live.iter().filter(move |r| r.active_from <= now).map(|r| r.id.as_str())
}

/// MurmurHash3's finaliser: FNV of similar strings differs in few bits; this spreads them.
fn mix(mut h: u64) -> u64 {
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^ (h >> 33)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("r-{i}")).collect()
    }

    #[test]
    fn checks_spread_evenly_and_a_leaving_replica_moves_only_its_own() {
        let checks: Vec<String> = (0..3000).map(|i| format!("svc{}/check{i}", i % 40)).collect();
        let three = ids(3);
        let mut counts = [0usize; 3];
        for c in &checks {
            let o = owner(c, three.iter().map(String::as_str)).unwrap();
            counts[three.iter().position(|r| r == o).unwrap()] += 1;
        }
        assert!(counts.iter().all(|n| (850..1150).contains(n)), "{counts:?}");
        let two: Vec<String> = vec![three[0].clone(), three[2].clone()];
        for c in &checks {
            let before = owner(c, three.iter().map(String::as_str)).unwrap();
            let after = owner(c, two.iter().map(String::as_str)).unwrap();
            if before != "r-1" {
                assert_eq!(before, after, "{c} moved though its replica stayed");
            }
        }
        assert_eq!(owner("x", []), None);
    }
}
