//! Lazy, ordered, two-way iteration over a consistent view of the database.

use std::ops::{Bound, RangeBounds};
use std::sync::Arc;

use crate::engine::SuperVersion;
use crate::error::DatabaseError;
use crate::storage::iter::MergingCursor;

/// One item of a scan: a key and its value.
pub type KvPair = (Vec<u8>, Vec<u8>);

/// A key and its value lent by [`DbIterator::next_borrowed`].
pub type BorrowedPair<'a> = (&'a [u8], &'a [u8]);

/// Converts any `RangeBounds<&[u8]>` into owned bounds.
pub(crate) fn owned_bounds<'a, R: RangeBounds<&'a [u8]>>(
    r: &R,
) -> (Bound<Vec<u8>>, Bound<Vec<u8>>) {
    let own = |b: Bound<&&[u8]>| match b {
        Bound::Included(k) => Bound::Included(k.to_vec()),
        Bound::Excluded(k) => Bound::Excluded(k.to_vec()),
        Bound::Unbounded => Bound::Unbounded,
    };
    (own(r.start_bound()), own(r.end_bound()))
}

/// The smallest key greater than every key starting with `prefix`, or `None` when no
/// such key exists (the prefix is empty or all 0xFF bytes).
pub(crate) fn prefix_successor(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last != 0xff {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}

/// True when no key can fall between `lower` and `upper` (an inverted or empty range).
pub(crate) fn bounds_are_empty(lower: &Bound<Vec<u8>>, upper: &Bound<Vec<u8>>) -> bool {
    match (lower, upper) {
        (Bound::Included(l), Bound::Included(u)) => l > u,
        (Bound::Included(l) | Bound::Excluded(l), Bound::Included(u) | Bound::Excluded(u)) => {
            l >= u
        }
        _ => false,
    }
}

/// Bounds covering exactly the keys that start with `prefix`.
pub(crate) fn prefix_bounds(prefix: &[u8]) -> (Bound<Vec<u8>>, Bound<Vec<u8>>) {
    let upper = prefix_successor(prefix).map_or(Bound::Unbounded, Bound::Excluded);
    (Bound::Included(prefix.to_vec()), upper)
}

/// Capacity a walk's key buffer starts with: room for most keys, so it is allocated once
/// per iterator rather than grown.
const KEY_BUFFER_MIN: usize = 64;
/// Capacity the backward walk's value buffer starts with.
const VALUE_BUFFER_MIN: usize = 256;

/// Replaces `buf`'s contents with `bytes`; an empty buffer is first given room for at
/// least `min` bytes in one allocation (growing it from nothing takes a slower path).
#[inline]
fn copy_into(buf: &mut Vec<u8>, bytes: &[u8], min: usize) {
    if buf.capacity() < bytes.len() {
        *buf = Vec::with_capacity(bytes.len().max(min));
    }
    buf.clear();
    buf.extend_from_slice(bytes);
}

fn above(upper: &Bound<Vec<u8>>, key: &[u8]) -> bool {
    match upper {
        Bound::Included(u) => key > u.as_slice(),
        Bound::Excluded(u) => key >= u.as_slice(),
        Bound::Unbounded => false,
    }
}

fn below(lower: &Bound<Vec<u8>>, key: &[u8]) -> bool {
    match lower {
        Bound::Included(l) => key < l.as_slice(),
        Bound::Excluded(l) => key <= l.as_slice(),
        Bound::Unbounded => false,
    }
}

/// An iterator over key-value pairs in key order, seeing the database as it was when the
/// iterator (or its snapshot) was made; later writes are invisible to it. It reads lazily,
/// block by block, and `.rev()` walks from the end. Files it reads stay alive until it is
/// dropped. An I/O or corruption error is yielded once, and the iterator then ends.
pub struct DbIterator {
    sv: Arc<SuperVersion>,
    snapshot: u64,
    lower: Bound<Vec<u8>>,
    upper: Bound<Vec<u8>>,
    front: Option<MergingCursor>,
    back: Option<MergingCursor>,
    /// The largest key the front has decided on (emitted or skipped as deleted).
    front_pos: Option<Vec<u8>>,
    /// `front_pos`'s 8-byte prefix, compared before its bytes.
    front_pos_prefix: u64,
    /// The smallest key the back has decided on (emitted or skipped as deleted), valid
    /// when `back_decided`; with `back_value`, the pair the back walk last found, copied
    /// out (walking backwards meets a key's versions oldest first, so the cursor has moved
    /// past the visible one by the time it is known). The buffers are reused from step to
    /// step, so a reverse step allocates nothing.
    back_pos: Vec<u8>,
    back_decided: bool,
    back_value: Vec<u8>,
    /// The key the back walk is deciding on, swapped into `back_pos` once decided.
    back_scratch: Vec<u8>,
    /// The front rests on the pair it last returned and must step past it first.
    front_pending: bool,
    done: bool,
}

impl std::fmt::Debug for DbIterator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DbIterator")
            .field("snapshot", &self.snapshot)
            .field("lower", &self.lower)
            .field("upper", &self.upper)
            .field("done", &self.done)
            .finish()
    }
}

impl DbIterator {
    pub(crate) fn new(
        sv: Arc<SuperVersion>,
        snapshot: u64,
        lower: Bound<Vec<u8>>,
        upper: Bound<Vec<u8>>,
    ) -> Self {
        let empty = bounds_are_empty(&lower, &upper);
        Self {
            sv,
            snapshot,
            lower,
            upper,
            front: None,
            back: None,
            front_pos: None,
            front_pos_prefix: 0,
            back_pos: Vec::new(),
            back_decided: false,
            back_value: Vec::new(),
            back_scratch: Vec::new(),
            front_pending: false,
            done: empty,
        }
    }

    fn fail(&mut self, e: DatabaseError) -> Option<Result<KvPair, DatabaseError>> {
        self.done = true;
        Some(Err(e))
    }

    /// Moves the front walk onto the next visible pair and leaves it there (the step past
    /// it is taken at the next call), so the caller can read the pair in place.
    fn seek_front_visible(&mut self) -> Result<bool, DatabaseError> {
        let front = match &mut self.front {
            Some(front) => {
                if self.front_pending {
                    self.front_pending = false;
                    front.advance()?;
                }
                front
            }
            None => {
                let mut m = MergingCursor::new(self.sv.cursors(), false);
                match &self.lower {
                    Bound::Included(k) | Bound::Excluded(k) => m.start(Some(k))?,
                    Bound::Unbounded => m.start(None)?,
                }
                self.front.insert(m)
            }
        };
        loop {
            let Some(cur) = front.current() else {
                return Ok(false);
            };
            let key = cur.key;
            if above(&self.upper, key) || (self.back_decided && key >= self.back_pos.as_slice()) {
                return Ok(false);
            }
            // Once a key has passed the lower bound every later one does too.
            let skip = cur.seq > self.snapshot
                || match self.front_pos.as_deref() {
                    None => below(&self.lower, key),
                    Some(pos) => cur.prefix == self.front_pos_prefix && pos == key,
                };
            if !skip {
                // Reuse the buffer: this runs once per key walked.
                let mut pos = self.front_pos.take().unwrap_or_default();
                copy_into(&mut pos, key, KEY_BUFFER_MIN);
                self.front_pos = Some(pos);
                self.front_pos_prefix = cur.prefix;
                if cur.value.is_some() {
                    self.front_pending = true;
                    return Ok(true);
                }
            }
            front.advance()?;
        }
    }

    /// The pair the front walk rests on.
    fn front_pair(&self) -> Option<BorrowedPair<'_>> {
        let (key, _, value) = self.front.as_ref()?.entry()?;
        Some((key, value?))
    }

    fn step_front(&mut self) -> Result<Option<KvPair>, DatabaseError> {
        if !self.seek_front_visible()? {
            return Ok(None);
        }
        Ok(self.front_pair().map(|(k, v)| (k.to_vec(), v.to_vec())))
    }

    /// Like [`Iterator::next`], but lends the key and value instead of copying them: they
    /// stay valid until the iterator is used again. Scans that only look at each pair
    /// (sum, compare, serialize) skip two allocations per pair this way.
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = lightning_db::Database::open(dir.path(), Default::default()).unwrap();
    /// db.put(b"a", b"1")?;
    /// db.put(b"b", b"22")?;
    /// let mut it = db.range(&b"a"[..]..);
    /// let mut bytes = 0;
    /// while let Some(pair) = it.next_borrowed() {
    ///     let (key, value) = pair?;
    ///     bytes += key.len() + value.len();
    /// }
    /// assert_eq!(bytes, 5);
    /// # Ok::<(), lightning_db::DatabaseError>(())
    /// ```
    pub fn next_borrowed(&mut self) -> Option<Result<BorrowedPair<'_>, DatabaseError>> {
        if self.done {
            return None;
        }
        match self.seek_front_visible() {
            Ok(true) => self.front_pair().map(Ok),
            Ok(false) => {
                self.done = true;
                None
            }
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }

    /// Moves the iterator to the first pair whose key is at or after `key`, as if it had
    /// just been made with that lower bound: the same view (its snapshot), the same upper
    /// bound, and a target below the iterator's own lower bound starts at that bound.
    /// A reverse walk already begun starts again from the upper end.
    ///
    /// This is the reuse form of short range reads: seeking one iterator costs a seek of
    /// its cursors, where a new iterator also takes the current view and sets up a cursor
    /// per memtable and table (LMDB's `MDB_SET_RANGE` on a kept cursor is the same idea).
    /// A failed seek (an I/O or corruption error) ends the iterator.
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = lightning_db::Database::open(dir.path(), Default::default()).unwrap();
    /// for k in [&b"a"[..], b"b", b"c", b"d"] {
    ///     db.put(k, b"v")?;
    /// }
    /// let mut it = db.iter();
    /// it.seek(b"c")?;
    /// assert_eq!(it.next().transpose()?.map(|(k, _)| k), Some(b"c".to_vec()));
    /// it.seek(b"a")?;
    /// assert_eq!(it.next().transpose()?.map(|(k, _)| k), Some(b"a".to_vec()));
    /// # Ok::<(), lightning_db::DatabaseError>(())
    /// ```
    pub fn seek(&mut self, key: &[u8]) -> Result<(), DatabaseError> {
        self.back = None;
        self.back_decided = false;
        self.back_pos.clear();
        self.front_pos = None;
        self.front_pending = false;
        self.done = bounds_are_empty(&self.lower, &self.upper);
        if self.done {
            return Ok(());
        }
        let from = match &self.lower {
            Bound::Included(l) | Bound::Excluded(l) if key < l.as_slice() => l.as_slice(),
            _ => key,
        };
        let front = match &mut self.front {
            Some(front) => front,
            None => self
                .front
                .insert(MergingCursor::new(self.sv.cursors(), false)),
        };
        if let Err(e) = front.start(Some(from)) {
            self.done = true;
            return Err(e);
        }
        Ok(())
    }

    /// The reverse twin of [`Self::seek`]: moves the iterator's back walk to the last pair
    /// whose key is at or before `key` (a target above the iterator's own upper bound starts
    /// at that bound), on the same view; a forward walk already begun starts again from the
    /// lower end. A failed seek ends the iterator.
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = lightning_db::Database::open(dir.path(), Default::default()).unwrap();
    /// for k in [&b"a"[..], b"b", b"d"] {
    ///     db.put(k, b"v")?;
    /// }
    /// let mut it = db.iter();
    /// it.seek_for_prev(b"c")?;
    /// assert_eq!(it.next_back().transpose()?.map(|(k, _)| k), Some(b"b".to_vec()));
    /// # Ok::<(), lightning_db::DatabaseError>(())
    /// ```
    pub fn seek_for_prev(&mut self, key: &[u8]) -> Result<(), DatabaseError> {
        self.front = None;
        self.front_pos = None;
        self.front_pending = false;
        self.back_decided = false;
        self.back_pos.clear();
        self.done = bounds_are_empty(&self.lower, &self.upper);
        if self.done {
            return Ok(());
        }
        let from = match &self.upper {
            Bound::Included(u) | Bound::Excluded(u) if key > u.as_slice() => u.as_slice(),
            _ => key,
        };
        let back = match &mut self.back {
            Some(back) => back,
            None => self
                .back
                .insert(MergingCursor::new(self.sv.cursors(), true)),
        };
        if let Err(e) = back.start(Some(from)) {
            self.done = true;
            return Err(e);
        }
        Ok(())
    }

    /// Moves the back walk onto the previous visible pair and copies it into
    /// `back_key`/`back_value`; false at the end.
    fn seek_back_visible(&mut self) -> Result<bool, DatabaseError> {
        let back = match &mut self.back {
            Some(back) => back,
            None => {
                let mut m = MergingCursor::new(self.sv.cursors(), true);
                match &self.upper {
                    Bound::Included(k) | Bound::Excluded(k) => m.start(Some(k))?,
                    Bound::Unbounded => m.start(None)?,
                }
                self.back.insert(m)
            }
        };
        let snapshot = self.snapshot;
        let mut cur = back.current();
        loop {
            let Some(first) = cur else {
                return Ok(false);
            };
            if below(&self.lower, first.key)
                || self.front_pos.as_deref().is_some_and(|f| first.key <= f)
            {
                return Ok(false);
            }
            let prefix = first.prefix;
            copy_into(&mut self.back_scratch, first.key, KEY_BUFFER_MIN);
            // Walking backwards meets a key's versions oldest first: the last one at or
            // below the snapshot is the one this view sees (`Some(false)`: a tombstone).
            let mut visible: Option<bool> = None;
            let mut v = first;
            loop {
                if v.seq <= snapshot {
                    visible = Some(match v.value {
                        Some(value) => {
                            copy_into(&mut self.back_value, value, VALUE_BUFFER_MIN);
                            true
                        }
                        None => false,
                    });
                }
                back.advance()?;
                // The version after it either is an older one of the same key or starts
                // the next key (whose look here serves the outer loop's next turn).
                match back.current() {
                    Some(next)
                        if next.prefix == prefix && next.key == self.back_scratch.as_slice() =>
                    {
                        v = next;
                    }
                    next => {
                        cur = next;
                        break;
                    }
                }
            }
            if above(&self.upper, &self.back_scratch) {
                continue;
            }
            let Some(has_value) = visible else {
                continue;
            };
            std::mem::swap(&mut self.back_pos, &mut self.back_scratch);
            self.back_decided = true;
            if has_value {
                return Ok(true);
            }
        }
    }

    fn step_back(&mut self) -> Result<Option<KvPair>, DatabaseError> {
        if !self.seek_back_visible()? {
            return Ok(None);
        }
        Ok(Some((self.back_pos.clone(), self.back_value.clone())))
    }

    /// Like [`DoubleEndedIterator::next_back`], but lends the key and value instead of
    /// handing out new vectors: they stay valid until the iterator is used again. A
    /// reverse scan this way allocates nothing per pair.
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = lightning_db::Database::open(dir.path(), Default::default()).unwrap();
    /// db.put(b"a", b"1")?;
    /// db.put(b"b", b"22")?;
    /// let mut it = db.iter();
    /// let mut keys = Vec::new();
    /// while let Some(pair) = it.next_back_borrowed() {
    ///     let (key, _value) = pair?;
    ///     keys.push(key.to_vec());
    /// }
    /// assert_eq!(keys, [b"b".to_vec(), b"a".to_vec()]);
    /// # Ok::<(), lightning_db::DatabaseError>(())
    /// ```
    pub fn next_back_borrowed(&mut self) -> Option<Result<BorrowedPair<'_>, DatabaseError>> {
        if self.done {
            return None;
        }
        match self.seek_back_visible() {
            Ok(true) => Some(Ok((&self.back_pos, &self.back_value))),
            Ok(false) => {
                self.done = true;
                None
            }
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}

impl Iterator for DbIterator {
    type Item = Result<KvPair, DatabaseError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        match self.step_front() {
            Ok(Some(item)) => Some(Ok(item)),
            Ok(None) => {
                self.done = true;
                None
            }
            Err(e) => self.fail(e),
        }
    }
}

impl DoubleEndedIterator for DbIterator {
    fn next_back(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        match self.step_back() {
            Ok(Some(item)) => Some(Ok(item)),
            Ok(None) => {
                self.done = true;
                None
            }
            Err(e) => self.fail(e),
        }
    }
}

impl std::iter::FusedIterator for DbIterator {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_successor_handles_ff() {
        assert_eq!(prefix_successor(b"ab"), Some(b"ac".to_vec()));
        assert_eq!(prefix_successor(&[1, 0xff]), Some(vec![2]));
        assert_eq!(prefix_successor(&[0xff, 0xff]), None);
        assert_eq!(prefix_successor(b""), None);
    }
}
