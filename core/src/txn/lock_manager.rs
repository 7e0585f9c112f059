//! Key locks for pessimistic transactions, with wait-for-graph deadlock detection.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

use crate::error::DatabaseError;

#[derive(Default)]
struct LockTable {
    /// Key → transaction holding its lock.
    owners: HashMap<Vec<u8>, u64>,
    /// Waiting transaction → (transaction it waits for, key it wants).
    waits_for: HashMap<u64, (u64, Vec<u8>)>,
}

/// Exclusive per-key locks held until a transaction ends.
#[derive(Default)]
pub struct LockManager {
    table: Mutex<LockTable>,
    released: Condvar,
}

fn printable(key: &[u8]) -> String {
    key.iter()
        .take(64)
        .flat_map(|&b| std::ascii::escape_default(b))
        .map(char::from)
        .collect()
}

impl LockManager {
    /// Takes the lock on `key` for transaction `tx`, waiting up to `timeout`. With
    /// `detect_deadlocks`, a wait that would close a cycle fails at once with
    /// `DeadlockDetected` instead of waiting out the timeout.
    pub fn lock(
        &self,
        tx: u64,
        key: &[u8],
        timeout: Duration,
        detect_deadlocks: bool,
    ) -> Result<(), DatabaseError> {
        let start = Instant::now();
        let mut table = self.table.lock();
        loop {
            let holder = match table.owners.get(key) {
                None => {
                    table.owners.insert(key.to_vec(), tx);
                    table.waits_for.remove(&tx);
                    return Ok(());
                }
                Some(&h) if h == tx => return Ok(()),
                Some(&h) => h,
            };
            if detect_deadlocks {
                if let Some(cycle) = Self::cycle_through(&table, tx, holder, key) {
                    table.waits_for.remove(&tx);
                    return Err(DatabaseError::DeadlockDetected {
                        resources: cycle,
                        suggested_action: "roll back this transaction and retry it; take keys in a consistent order to avoid the cycle".to_string(),
                    });
                }
            }
            let elapsed = start.elapsed();
            if elapsed >= timeout {
                table.waits_for.remove(&tx);
                return Err(DatabaseError::LockTimeout {
                    key: key.to_vec(),
                    waited: elapsed,
                });
            }
            table.waits_for.insert(tx, (holder, key.to_vec()));
            self.released.wait_for(&mut table, timeout - elapsed);
        }
    }

    /// The keys on the wait-for cycle that `tx` waiting for `holder` would close, if any.
    fn cycle_through(table: &LockTable, tx: u64, holder: u64, key: &[u8]) -> Option<Vec<String>> {
        let mut resources = vec![printable(key)];
        let mut current = holder;
        for _ in 0..=table.waits_for.len() {
            if current == tx {
                return Some(resources);
            }
            let (next, wanted) = table.waits_for.get(&current)?;
            resources.push(printable(wanted));
            current = *next;
        }
        None
    }

    /// Releases every lock `tx` holds and wakes the waiters.
    pub fn release_all(&self, tx: u64, keys: &[Vec<u8>]) {
        let mut table = self.table.lock();
        for key in keys {
            if table.owners.get(key) == Some(&tx) {
                table.owners.remove(key);
            }
        }
        table.waits_for.remove(&tx);
        self.released.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn lock_is_exclusive_and_reentrant() {
        let lm = LockManager::default();
        lm.lock(1, b"k", Duration::from_millis(10), true)
            .expect("first");
        lm.lock(1, b"k", Duration::from_millis(10), true)
            .expect("reentrant");
        assert!(matches!(
            lm.lock(2, b"k", Duration::from_millis(20), true),
            Err(DatabaseError::LockTimeout { .. })
        ));
        lm.release_all(1, &[b"k".to_vec()]);
        lm.lock(2, b"k", Duration::from_millis(10), true)
            .expect("after release");
    }

    #[test]
    fn a_cycle_is_refused_at_once() {
        let lm = Arc::new(LockManager::default());
        lm.lock(1, b"a", Duration::from_secs(1), true)
            .expect("1 takes a");
        lm.lock(2, b"b", Duration::from_secs(1), true)
            .expect("2 takes b");
        let lm2 = Arc::clone(&lm);
        // 1 waits for b (held by 2) in the background.
        let waiter = std::thread::spawn(move || lm2.lock(1, b"b", Duration::from_secs(10), true));
        let deadline = Instant::now() + Duration::from_secs(5);
        while !lm.table.lock().waits_for.contains_key(&1) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
        // 2 asking for a closes the cycle.
        let err = lm
            .lock(2, b"a", Duration::from_secs(10), true)
            .expect_err("deadlock");
        assert!(
            matches!(err, DatabaseError::DeadlockDetected { ref resources, .. } if resources.len() == 2)
        );
        lm.release_all(2, &[b"b".to_vec()]);
        waiter
            .join()
            .expect("join")
            .expect("1 gets b once 2 lets go");
    }
}
