//! The in-memory, ordered, concurrent write buffer.
//!
//! Entries are keyed by (user key ascending, sequence number descending), so the
//! first entry at or after `(key, snapshot)` is the newest version a snapshot can see.
//! The skiplist is lock-free: readers never wait for the single writer.

use std::cmp::Ordering;
use std::ops::Bound;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering as AtomicOrdering};
use std::sync::Arc;

use crossbeam_skiplist::SkipMap;

use super::iter::Cursor;
use crate::error::DatabaseError;

/// A user key with the sequence number of the write that produced this version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemKey {
    /// The user's key.
    pub key: Vec<u8>,
    /// The sequence number of the write.
    pub seq: u64,
}

impl Ord for MemKey {
    fn cmp(&self, other: &Self) -> Ordering {
        self.key
            .cmp(&other.key)
            .then_with(|| other.seq.cmp(&self.seq))
    }
}

impl PartialOrd for MemKey {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// A (user key, sequence) pair seen through a trait object, so lookups can probe the
/// skiplist with a borrowed key instead of allocating a [`MemKey`].
pub trait KeyView {
    /// The user key.
    fn user_key(&self) -> &[u8];
    /// The sequence number.
    fn sequence(&self) -> u64;
}

impl KeyView for MemKey {
    fn user_key(&self) -> &[u8] {
        &self.key
    }
    fn sequence(&self) -> u64 {
        self.seq
    }
}

/// A borrowed lookup key.
struct Probe<'a> {
    key: &'a [u8],
    seq: u64,
}

impl KeyView for Probe<'_> {
    fn user_key(&self) -> &[u8] {
        self.key
    }
    fn sequence(&self) -> u64 {
        self.seq
    }
}

impl PartialEq for dyn KeyView + '_ {
    fn eq(&self, other: &Self) -> bool {
        self.user_key() == other.user_key() && self.sequence() == other.sequence()
    }
}

impl Eq for dyn KeyView + '_ {}

impl PartialOrd for dyn KeyView + '_ {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for dyn KeyView + '_ {
    fn cmp(&self, other: &Self) -> Ordering {
        self.user_key()
            .cmp(other.user_key())
            .then_with(|| other.sequence().cmp(&self.sequence()))
    }
}

impl<'a> std::borrow::Borrow<dyn KeyView + 'a> for MemKey {
    fn borrow(&self) -> &(dyn KeyView + 'a) {
        self
    }
}

/// Bytes charged per entry beyond key and value, for the skiplist node and its tower.
const ENTRY_OVERHEAD: usize = 64;

/// An ordered write buffer; `None` values are tombstones.
pub struct MemTable {
    map: SkipMap<MemKey, Option<Vec<u8>>>,
    approximate_bytes: AtomicUsize,
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
            map: SkipMap::new(),
            approximate_bytes: AtomicUsize::new(0),
            filter: Vec::new(),
            wal_number,
        }
    }

    /// An empty memtable with a key filter sized for `buffer_bytes` of writes (one bit per
    /// eight bytes of buffer: at least ten bits per key for entries of 80 bytes or more).
    pub fn with_filter(wal_number: u64, buffer_bytes: usize) -> Self {
        let words = (buffer_bytes / 8 / 64).clamp(1024, 1 << 24);
        Self {
            filter: (0..words).map(|_| AtomicU64::new(0)).collect(),
            ..Self::new(wal_number)
        }
    }

    #[inline]
    fn filter_bits(&self, hash: u64) -> impl Iterator<Item = (usize, u64)> {
        let bits = (self.filter.len() as u64) * 64;
        let mut h = hash;
        let delta = hash.rotate_right(33) | 1;
        (0..FILTER_PROBES).map(move |_| {
            let bit = h % bits;
            h = h.wrapping_add(delta);
            ((bit / 64) as usize, 1u64 << (bit % 64))
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

    /// Inserts one version. Sequence numbers are unique, so nothing is replaced.
    pub fn insert(&self, key: &[u8], seq: u64, value: Option<&[u8]>) {
        if !self.filter.is_empty() {
            let hash = crate::storage::table::bloom::key_hash(key);
            for (word, mask) in self.filter_bits(hash) {
                self.filter[word].fetch_or(mask, AtomicOrdering::Relaxed);
            }
        }
        let bytes = key.len() + value.map_or(0, <[u8]>::len) + ENTRY_OVERHEAD;
        self.approximate_bytes
            .fetch_add(bytes, AtomicOrdering::Relaxed);
        self.map.insert(
            MemKey {
                key: key.to_vec(),
                seq,
            },
            value.map(<[u8]>::to_vec),
        );
    }

    /// The newest version of `key` with a sequence number at most `snapshot`:
    /// `Some((seq, None))` for a tombstone, `None` when the memtable has no version.
    pub fn get(&self, key: &[u8], snapshot: u64) -> Option<(u64, Option<Vec<u8>>)> {
        let probe = Probe { key, seq: snapshot };
        let entry = self
            .map
            .lower_bound(Bound::Included(&probe as &dyn KeyView))?;
        if entry.key().key == key {
            Some((entry.key().seq, entry.value().clone()))
        } else {
            None
        }
    }

    /// Approximate memory held, used to decide when to flush.
    pub fn approximate_bytes(&self) -> usize {
        self.approximate_bytes.load(AtomicOrdering::Relaxed)
    }

    /// Number of versions held.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// True when nothing was written.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Every version in internal order (for flushing).
    pub fn entries(&self) -> impl Iterator<Item = (MemKey, Option<Vec<u8>>)> + '_ {
        self.map
            .iter()
            .map(|e| (e.key().clone(), e.value().clone()))
    }
}

/// A cursor over a memtable that re-seeks from its current key on each step,
/// so it holds no borrow of the skiplist and can live inside long-lived iterators.
pub struct MemTableCursor {
    table: Arc<MemTable>,
    current: Option<(MemKey, Option<Vec<u8>>)>,
}

impl MemTableCursor {
    /// A cursor over `table`, not yet positioned.
    pub fn new(table: Arc<MemTable>) -> Self {
        Self {
            table,
            current: None,
        }
    }

    fn set(&mut self, entry: Option<crossbeam_skiplist::map::Entry<'_, MemKey, Option<Vec<u8>>>>) {
        self.current = entry.map(|e| (e.key().clone(), e.value().clone()));
    }
}

impl Cursor for MemTableCursor {
    fn valid(&self) -> bool {
        self.current.is_some()
    }

    fn key(&self) -> &[u8] {
        self.current.as_ref().map_or(&[], |(k, _)| &k.key)
    }

    fn seq(&self) -> u64 {
        self.current.as_ref().map_or(0, |(k, _)| k.seq)
    }

    fn value(&self) -> Option<&[u8]> {
        self.current.as_ref().and_then(|(_, v)| v.as_deref())
    }

    fn seek(&mut self, key: &[u8]) -> Result<(), DatabaseError> {
        let probe = Probe { key, seq: u64::MAX };
        let table = Arc::clone(&self.table);
        self.set(
            table
                .map
                .lower_bound(Bound::Included(&probe as &dyn KeyView)),
        );
        Ok(())
    }

    fn seek_for_prev(&mut self, key: &[u8]) -> Result<(), DatabaseError> {
        let probe = Probe { key, seq: 0 };
        let table = Arc::clone(&self.table);
        self.set(
            table
                .map
                .upper_bound(Bound::Included(&probe as &dyn KeyView)),
        );
        Ok(())
    }

    fn seek_to_first(&mut self) -> Result<(), DatabaseError> {
        let table = Arc::clone(&self.table);
        self.set(table.map.front());
        Ok(())
    }

    fn seek_to_last(&mut self) -> Result<(), DatabaseError> {
        let table = Arc::clone(&self.table);
        self.set(table.map.back());
        Ok(())
    }

    fn next(&mut self) -> Result<(), DatabaseError> {
        if let Some((key, _)) = self.current.take() {
            let table = Arc::clone(&self.table);
            self.set(table.map.lower_bound(Bound::Excluded(&key)));
        }
        Ok(())
    }

    fn prev(&mut self) -> Result<(), DatabaseError> {
        if let Some((key, _)) = self.current.take() {
            let table = Arc::clone(&self.table);
            self.set(table.map.upper_bound(Bound::Excluded(&key)));
        }
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
        assert_eq!(m.get(b"a", 0), None);
        assert_eq!(m.get(b"a", 2), Some((1, Some(b"v1".to_vec()))));
        assert_eq!(m.get(b"a", 4), Some((3, Some(b"v3".to_vec()))));
        assert_eq!(m.get(b"a", 9), Some((5, None)));
        assert_eq!(m.get(b"b", 9), Some((2, Some(Vec::new()))));
        assert_eq!(m.get(b"c", 9), None);
        assert_eq!(m.get(b"", 9), None);
    }

    #[test]
    fn filter_never_hides_an_inserted_key() {
        use crate::storage::table::bloom::key_hash;
        let m = MemTable::with_filter(1, 64 * 1024);
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
