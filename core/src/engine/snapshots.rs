//! Snapshots: the sequence numbers readers pin, and the oldest one compaction must keep.

use super::*;

impl DbInner {
    // ----- snapshots ---------------------------------------------------------------

    /// Releases a registration made by [`Self::acquire_snapshot`].
    pub fn release_snapshot(&self, seq: u64) {
        let mut snaps = self.snapshots.lock();
        if let Some(count) = snaps.get_mut(&seq) {
            *count -= 1;
            if *count == 0 {
                snaps.remove(&seq);
            }
        }
    }

    /// Takes a registered snapshot of the newest state.
    pub fn acquire_snapshot(&self) -> u64 {
        // Registering under the lock keeps a compaction from computing its cut-off
        // between reading the sequence number and registering it.
        let mut snaps = self.snapshots.lock();
        let seq = self.last_sequence();
        *snaps.entry(seq).or_insert(0) += 1;
        seq
    }

    pub(super) fn smallest_snapshot(&self) -> u64 {
        let snaps = self.snapshots.lock();
        let last = self.last_sequence();
        snaps.keys().next().copied().unwrap_or(last).min(last)
    }
}
