//! What every SQL backend keeps in memory for the observation path: check id → integer key (and
//! the target a check's first row gets), how many observations each check has had since its
//! history was last pruned, and when the rollups were.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, Ordering};

use crate::{Result, StoreError};

#[derive(Default)]
pub(crate) struct CheckKeys {
    keys: Mutex<HashMap<String, i64>>,
    /// The target digest a check with no row yet gets when its first run writes the row.
    targets: Mutex<HashMap<String, String>>,
    unpruned: Mutex<HashMap<i64, u32>>,
    /// The hour whose writes last pruned the rollups.
    rollups_pruned: AtomicI64,
}

fn poisoned<T>(_: T) -> StoreError {
    StoreError::Backend("a store lock was poisoned by an earlier panic".into())
}

impl CheckKeys {
    pub(crate) fn get(&self, check_id: &str) -> Result<Option<i64>> {
        Ok(self.keys.lock().map_err(poisoned)?.get(check_id).copied())
    }

    pub(crate) fn expect_targets(&self, targets: Vec<(String, String)>) -> Result<()> {
        self.targets.lock().map_err(poisoned)?.extend(targets);
        Ok(())
    }

    pub(crate) fn expected_target(&self, check_id: &str) -> Result<Option<String>> {
        Ok(self.targets.lock().map_err(poisoned)?.get(check_id).cloned())
    }

    pub(crate) fn forget<'a>(&self, check_ids: impl Iterator<Item = &'a str>) -> Result<()> {
        let mut keys = self.keys.lock().map_err(poisoned)?;
        for id in check_ids {
            keys.remove(id);
        }
        Ok(())
    }

    pub(crate) fn remember(&self, check_id: &str, key: i64) -> Result<()> {
        self.keys.lock().map_err(poisoned)?.insert(check_id.to_string(), key);
        Ok(())
    }

    /// Counts one write per key; returns the keys that reached a tenth of `keep` since their
    /// last prune (so pruning costs one DELETE per check per `keep / 10` writes).
    pub(crate) fn due_for_prune(&self, keys: &[i64], keep: u32) -> Result<Vec<i64>> {
        let mut counts = self.unpruned.lock().map_err(poisoned)?;
        let threshold = (keep / 10).max(1);
        let mut due = Vec::new();
        for k in keys {
            let c = counts.entry(*k).or_default();
            *c += 1;
            if *c >= threshold {
                *c = 0;
                due.push(*k);
            }
        }
        due.sort_unstable();
        due.dedup();
        Ok(due)
    }

    /// Whether the rollups are due for pruning at `hour` (once per hour per process).
    pub(crate) fn rollups_due(&self, hour: i64) -> bool {
        self.rollups_pruned.fetch_max(hour, Ordering::Relaxed) < hour
    }
}

/// What one `Store::retarget_checks` does, the same on every backend: each check's stored target
/// decides a write (`decide`), which the backend runs in its own SQL; `finish` then tells the
/// key cache and returns the names histories were set aside under.
#[derive(Default)]
pub(crate) struct Retargeting {
    /// (check id, the name its old history now has).
    moved: Vec<(String, String)>,
    /// (check id, target digest) of checks whose next row is new: its first run writes it.
    first_runs: Vec<(String, String)>,
}

/// A write `Retargeting::decide` asks of the backend.
pub(crate) enum TargetWrite {
    /// `UPDATE checks SET target = digest WHERE id = …`: a row kept from before targets were.
    Adopt(String),
    /// `UPDATE checks SET id = aside WHERE id = …`: the target changed; the history moves aside.
    SetAside(String),
}

impl Retargeting {
    /// The write for check `id`, given its stored target (`None`: no row; `Some(None)`: a row
    /// without one) and what it looks at now.
    pub(crate) fn decide(
        &mut self,
        id: &str,
        stored: Option<Option<String>>,
        target: &str,
        now: crate::Timestamp,
    ) -> Option<TargetWrite> {
        let digest = target_digest(target);
        match stored {
            None => {
                self.first_runs.push((id.to_string(), digest));
                None
            }
            Some(None) => Some(TargetWrite::Adopt(digest)),
            Some(Some(old)) if old == digest => None,
            Some(Some(_)) => {
                let aside = retired_name(id, now);
                self.moved.push((id.to_string(), aside.clone()));
                self.first_runs.push((id.to_string(), digest));
                Some(TargetWrite::SetAside(aside))
            }
        }
    }

    /// After the writes committed: the moved ids name new rows, so their cached keys (pointing
    /// at the history set aside) go; returns the names the histories now have.
    pub(crate) fn finish(self, keys: &CheckKeys) -> Result<Vec<String>> {
        keys.forget(self.moved.iter().map(|(id, _)| id.as_str()))?;
        keys.expect_targets(self.first_runs)?;
        Ok(self.moved.into_iter().map(|(_, aside)| aside).collect())
    }
}

/// The name a check's history is kept under once its target changed at `now`.
fn retired_name(check_id: &str, now: crate::Timestamp) -> String {
    format!("{check_id} (until {})", now.rfc3339_millis())
}

/// What the store keeps of a check's target: a digest, since a target may hold a secret (a URL's
/// query, a header).
fn target_digest(target: &str) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(target.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}
