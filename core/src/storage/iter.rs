//! Cursors over sorted runs of versions, and the merge of several runs.
//!
//! Every source (memtable, table file, level) presents the same [`Cursor`]:
//! versions in internal order, user key ascending and, within one key, newest first.

use std::cmp::Ordering;

use crate::error::DatabaseError;

/// A positioned reader over versions in internal order.
pub trait Cursor: Send {
    /// True while positioned on a version.
    fn valid(&self) -> bool;
    /// The current user key (empty when not valid).
    fn key(&self) -> &[u8];
    /// The current sequence number.
    fn seq(&self) -> u64;
    /// The current value, `None` for a tombstone.
    fn value(&self) -> Option<&[u8]>;
    /// Positions at the first version whose user key is at least `key`.
    fn seek(&mut self, key: &[u8]) -> Result<(), DatabaseError>;
    /// Positions at the last version whose user key is at most `key`.
    fn seek_for_prev(&mut self, key: &[u8]) -> Result<(), DatabaseError>;
    /// Positions at the first version.
    fn seek_to_first(&mut self) -> Result<(), DatabaseError>;
    /// Positions at the last version.
    fn seek_to_last(&mut self) -> Result<(), DatabaseError>;
    /// Moves to the following version.
    fn next(&mut self) -> Result<(), DatabaseError>;
    /// Moves to the preceding version.
    fn prev(&mut self) -> Result<(), DatabaseError>;
}

/// Compares two versions in internal order.
#[inline]
pub fn internal_cmp(a_key: &[u8], a_seq: u64, b_key: &[u8], b_seq: u64) -> Ordering {
    a_key.cmp(b_key).then_with(|| b_seq.cmp(&a_seq))
}

/// Merges several cursors, moving in one direction only (chosen at creation).
///
/// The number of children is small (memtables, level-0 files, one per deeper level),
/// so the current child is found by a linear scan rather than a heap.
pub struct MergingCursor {
    children: Vec<Box<dyn Cursor>>,
    reverse: bool,
    current: Option<usize>,
}

impl MergingCursor {
    /// Merges `children`; `reverse` makes it walk from the largest version down.
    pub fn new(children: Vec<Box<dyn Cursor>>, reverse: bool) -> Self {
        Self {
            children,
            reverse,
            current: None,
        }
    }

    fn pick(&mut self) {
        let mut best: Option<usize> = None;
        for (i, child) in self.children.iter().enumerate() {
            if !child.valid() {
                continue;
            }
            best = match best {
                None => Some(i),
                Some(b) => {
                    let cur = &self.children[b];
                    let ord = internal_cmp(child.key(), child.seq(), cur.key(), cur.seq());
                    let better = if self.reverse {
                        ord == Ordering::Greater
                    } else {
                        ord == Ordering::Less
                    };
                    if better {
                        Some(i)
                    } else {
                        Some(b)
                    }
                }
            };
        }
        self.current = best;
    }

    /// Positions every child at the start of this cursor's walk, bounded by `from` if given.
    pub fn start(&mut self, from: Option<&[u8]>) -> Result<(), DatabaseError> {
        for child in &mut self.children {
            match (from, self.reverse) {
                (Some(k), false) => child.seek(k)?,
                (Some(k), true) => child.seek_for_prev(k)?,
                (None, false) => child.seek_to_first()?,
                (None, true) => child.seek_to_last()?,
            }
        }
        self.pick();
        Ok(())
    }

    /// True while positioned on a version.
    pub fn valid(&self) -> bool {
        self.current.is_some()
    }

    /// The current version: key, sequence number and value (`None` for a tombstone).
    pub fn entry(&self) -> Option<super::VersionRef<'_>> {
        let c = &self.children[self.current?];
        Some((c.key(), c.seq(), c.value()))
    }

    /// Steps to the next version in this cursor's direction.
    pub fn advance(&mut self) -> Result<(), DatabaseError> {
        if let Some(i) = self.current {
            if self.reverse {
                self.children[i].prev()?;
            } else {
                self.children[i].next()?;
            }
            self.pick();
        }
        Ok(())
    }
}
