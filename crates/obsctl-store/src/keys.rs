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
