//! Point-in-time views of the database.

use std::ops::RangeBounds;
use std::sync::Arc;

use crate::engine::DbInner;
use crate::error::DatabaseError;
use crate::iter::{owned_bounds, prefix_bounds, DbIterator};

/// A consistent, read-only view of the database as of one sequence number. Later writes
/// are invisible to it, and compaction keeps every version it can see until it is dropped
/// (so a long-lived snapshot holds disk space, as in RocksDB).
pub struct Snapshot {
    inner: Arc<DbInner>,
    seq: u64,
}

impl std::fmt::Debug for Snapshot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Snapshot")
            .field("sequence", &self.seq)
            .finish()
    }
}

impl Snapshot {
    pub(crate) fn new(inner: Arc<DbInner>) -> Self {
        let seq = inner.acquire_snapshot();
        Self { inner, seq }
    }

    /// The sequence number this snapshot reads at.
    pub fn sequence(&self) -> u64 {
        self.seq
    }

    /// The value of `key` as of the snapshot.
    pub fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, DatabaseError> {
        self.inner.get_at(key, self.seq)
    }

    /// True when `key` had a value as of the snapshot.
    pub fn contains_key(&self, key: &[u8]) -> Result<bool, DatabaseError> {
        Ok(self.get(key)?.is_some())
    }

    /// Every pair as of the snapshot, in key order.
    pub fn iter(&self) -> DbIterator {
        self.range::<std::ops::RangeFull>(..)
    }

    /// The pairs whose keys fall in `range`, as of the snapshot.
    pub fn range<'a, R: RangeBounds<&'a [u8]>>(&self, range: R) -> DbIterator {
        let (lo, hi) = owned_bounds(&range);
        DbIterator::new(self.inner.super_version(), self.seq, lo, hi)
    }

    /// The pairs whose keys start with `prefix`, as of the snapshot.
    pub fn scan_prefix(&self, prefix: &[u8]) -> DbIterator {
        let (lo, hi) = prefix_bounds(prefix);
        DbIterator::new(self.inner.super_version(), self.seq, lo, hi)
    }
}

impl Drop for Snapshot {
    fn drop(&mut self) {
        self.inner.release_snapshot(self.seq);
    }
}
