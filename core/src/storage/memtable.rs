//! The in-memory, ordered, concurrent write buffer.
//!
//! Entries are keyed by (user key ascending, sequence number descending), so the
//! first entry at or after `(key, snapshot)` is the newest version a snapshot can see.
//! The skiplist is lock-free: readers never wait for the single writer.

use std::sync::atomic::{AtomicU64, Ordering as AtomicOrdering};
use std::sync::Arc;

use super::iter::{Current, Cursor};
use super::skiplist::{SkipCursor, SkipList};

#[doc(hidden)]
use crate::error::DatabaseError;
use crate::storage::value::PinnedValue;

/// An ordered write buffer; `None` values are tombstones.
pub struct MemTable {
    list: Arc<SkipList>,
    /// A bloom filter over the keys inserted, so most point reads of keys the memtable
    /// does not hold skip the skiplist walk (empty: no filter).
    filter: Vec<AtomicU64>,
    /// The log segment whose records this memtable holds.
    pub wal_number: u64,
}

/// Probes per key in a memtable's filter.
const FILTER_PROBES: u32 = 6;

impl MemTable {
    /// An empty memtable fed by log segment `wal_number`.
    pub fn new(wal_number: u64) -> Self {
        Self {
            list: Arc::new(SkipList::new()),
            filter: Vec::new(),
            wal_number,
        }
    }

    /// An empty memtable with a key filter sized for `buffer_bytes` of writes (one bit per
    /// eight bytes of buffer: at least ten bits per key for entries of 80 bytes or more),
    /// whose searches ask for a seek index from `index_min_versions` versions.
    pub fn with_filter(wal_number: u64, buffer_bytes: usize, index_min_versions: usize) -> Self {
        // Whole 64-byte lines: every probe of one key falls in the same line.
        let words = (buffer_bytes / 8 / 64)
            .clamp(1024, 1 << 24)
            .next_multiple_of(8);
        Self {
            filter: (0..words).map(|_| AtomicU64::new(0)).collect(),
            list: Arc::new(SkipList::with_index_min_len(index_min_versions)),
            wal_number,
        }
    }

    /// The (word, mask) pairs of a key's bits: all within one cache line, chosen by the
    /// low half of the hash, so a probe or an insert touches one line, not six.
    #[inline]
    fn filter_bits(&self, hash: u64) -> impl Iterator<Item = (usize, u64)> {
        let lines = (self.filter.len() / 8) as u64;
        let line = ((((hash & 0xFFFF_FFFF) * lines) >> 32) * 8) as usize;
        let mut h = (hash >> 32) as u32;
        let delta = h.rotate_right(17) | 1;
        (0..FILTER_PROBES).map(move |_| {
            let bit = (h % 512) as usize;
            h = h.wrapping_add(delta);
            (line + bit / 64, 1u64 << (bit % 64))
        })
    }

    /// False when the memtable certainly holds no version of the key whose
    /// [`crate::storage::table::bloom::key_hash`] is `hash`.
    #[inline]
    pub fn may_contain(&self, hash: u64) -> bool {
        if self.filter.is_empty() {
            return true;
        }
        // Bits are set before the version is published (the sequence number is stored
        // with Release after the insert), so a reader that can see a version sees its bits.
        self.filter_bits(hash)
            .all(|(word, mask)| self.filter[word].load(AtomicOrdering::Relaxed) & mask != 0)
    }

    fn add_to_filter(&self, key: &[u8]) {
        if !self.filter.is_empty() {
            let hash = crate::storage::table::bloom::key_hash(key);
            for (word, mask) in self.filter_bits(hash) {
                self.filter[word].fetch_or(mask, AtomicOrdering::Relaxed);
            }
        }
    }

    /// Inserts one version. Sequence numbers are unique, so nothing is replaced.
    pub fn insert(&self, key: &[u8], seq: u64, value: Option<&[u8]>) {
        self.add_to_filter(key);
        self.list.insert(key, seq, value);
    }

    /// Inserts many versions; much faster when they come in internal order (key
    /// ascending, then sequence descending), correct in any order.
    pub fn insert_many(&self, versions: &[super::VersionRef<'_>]) {
        for (key, _, _) in versions {
            self.add_to_filter(key);
        }
        self.list.insert_sorted(versions.iter().copied());
    }

    /// The newest version of `key` with a sequence number at most `snapshot`:
    /// `Some((seq, None))` for a tombstone, `None` when the memtable has no version.
    pub fn get(&self, key: &[u8], snapshot: u64) -> Option<crate::storage::FoundVersion> {
        self.list
            .get(key, snapshot)
            .map(|(seq, value)| (seq, value.map(|v| PinnedValue::owned(v.to_vec()))))
    }

    /// Sets what the memtable calls when its searches want a seek index built (see
    /// [`SkipList::set_index_waker`]).
    pub fn set_index_waker(&self, waker: super::skiplist::IndexWaker) {
        self.list.set_index_waker(waker);
    }

    /// Builds the seek index if searches asked for one; returns whether it built (see
    /// [`SkipList::build_index_if_wanted`]).
    pub fn build_index_if_wanted(&self, give_way: &dyn Fn() -> bool) -> bool {
        self.list.build_index_if_wanted(give_way)
    }

    /// Rebuilds an index that is not exact once inserts have paused (see
    /// [`SkipList::refresh_index_if_quiet`]).
    pub fn refresh_index_if_quiet(&self, give_way: &dyn Fn() -> bool) -> bool {
        self.list.refresh_index_if_quiet(give_way)
    }

    /// Bytes the seek index takes, beyond [`approximate_bytes`](Self::approximate_bytes).
    pub fn index_memory_bytes(&self) -> usize {
        self.list.index_memory_bytes()
    }

    /// Memory the versions take, used to decide when to flush.
    pub fn approximate_bytes(&self) -> usize {
        self.list.memory_bytes()
    }

    /// Number of versions held.
    pub fn len(&self) -> usize {
        self.list.len()
    }

    /// True when nothing was written.
    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// Every version in internal order (for flushing): key, sequence, value.
    pub fn entries(&self) -> impl Iterator<Item = super::VersionRef<'_>> + '_ {
        self.list.iter()
    }
}

/// A two-way cursor over a memtable; it keeps the memtable's list alive, and a step is
/// one pointer load.
pub struct MemTableCursor {
    cursor: SkipCursor,
}

impl MemTableCursor {
    /// A cursor over `table`, not yet positioned.
    pub fn new(table: Arc<MemTable>) -> Self {
        Self {
            cursor: SkipCursor::new(Arc::clone(&table.list)),
        }
    }
}

impl Cursor for MemTableCursor {
    #[inline]
    fn valid(&self) -> bool {
        self.cursor.valid()
    }

    #[inline]
    fn key(&self) -> &[u8] {
        self.cursor.current().map_or(&[], |c| c.key)
    }

    #[inline]
    fn seq(&self) -> u64 {
        self.cursor.current().map_or(0, |c| c.seq)
    }

    #[inline]
    fn value(&self) -> Option<&[u8]> {
        self.cursor.current().and_then(|c| c.value)
    }

    #[inline]
    fn current(&self) -> Option<Current<'_>> {
        self.cursor.current()
    }

    fn seek(&mut self, key: &[u8]) -> Result<(), DatabaseError> {
        self.cursor.seek(key, u64::MAX);
        Ok(())
    }

    fn seek_for_prev(&mut self, key: &[u8]) -> Result<(), DatabaseError> {
        self.cursor.seek_for_prev(key, 0);
        Ok(())
    }

    fn seek_to_first(&mut self) -> Result<(), DatabaseError> {
        self.cursor.seek_to_first();
        Ok(())
    }

    fn seek_to_last(&mut self) -> Result<(), DatabaseError> {
        self.cursor.seek_to_last();
        Ok(())
    }

    #[inline]
    fn next(&mut self) -> Result<(), DatabaseError> {
        self.cursor.next();
        Ok(())
    }

    fn prev(&mut self) -> Result<(), DatabaseError> {
        self.cursor.prev();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn get_respects_snapshot_and_tombstones() {
        let m = MemTable::new(1);
        m.insert(b"a", 1, Some(b"v1"));
        m.insert(b"a", 3, Some(b"v3"));
        m.insert(b"a", 5, None);
        m.insert(b"b", 2, Some(b""));
        let get = |k: &[u8], s| {
            m.get(k, s)
                .map(|(seq, v)| (seq, v.map(PinnedValue::into_vec)))
        };
        assert_eq!(get(b"a", 0), None);
        assert_eq!(get(b"a", 2), Some((1, Some(b"v1".to_vec()))));
        assert_eq!(get(b"a", 4), Some((3, Some(b"v3".to_vec()))));
        assert_eq!(get(b"a", 9), Some((5, None)));
        assert_eq!(get(b"b", 9), Some((2, Some(Vec::new()))));
        assert_eq!(get(b"c", 9), None);
        assert_eq!(get(b"", 9), None);
    }

    #[test]
    fn filter_never_hides_an_inserted_key() {
        use crate::storage::table::bloom::key_hash;
        let m = MemTable::with_filter(1, 64 * 1024, 4096);
        for i in 0..2_000u32 {
            m.insert(&i.to_be_bytes(), u64::from(i), Some(b"v"));
        }
        assert!((0..2_000u32).all(|i| m.may_contain(key_hash(&i.to_be_bytes()))));
        let false_positives = (2_000..12_000u32)
            .filter(|i| m.may_contain(key_hash(&i.to_be_bytes())))
            .count();
        assert!(false_positives < 2_000, "{false_positives} of 10,000");
        assert!(MemTable::new(1).may_contain(key_hash(b"anything")));
    }

    #[test]
    fn cursor_walks_both_ways_in_internal_order() {
        let m = Arc::new(MemTable::new(1));
        m.insert(b"a", 1, Some(b"1"));
        m.insert(b"a", 4, Some(b"4"));
        m.insert(b"c", 2, None);
        let mut c = MemTableCursor::new(Arc::clone(&m));
        c.seek_to_first().expect("seek");
        let mut seen = Vec::new();
        while c.valid() {
            seen.push((c.key().to_vec(), c.seq()));
            c.next().expect("next");
        }
        assert_eq!(
            seen,
            vec![(b"a".to_vec(), 4), (b"a".to_vec(), 1), (b"c".to_vec(), 2)]
        );
        c.seek_for_prev(b"b").expect("seek");
        assert_eq!((c.key(), c.seq()), (&b"a"[..], 1));
        c.prev().expect("prev");
        assert_eq!((c.key(), c.seq()), (&b"a"[..], 4));
        c.prev().expect("prev");
        assert!(!c.valid());
        c.seek(b"b").expect("seek");
        assert_eq!(c.key(), b"c");
        assert_eq!(c.value(), None);
    }
}
