//! Cursors over sorted runs of versions, and the merge of several runs.
//!
//! Every source (memtable, table file, level) presents the same [`Cursor`]:
//! versions in internal order, user key ascending and, within one key, newest first.

use std::cmp::Ordering;

use super::coding::key_prefix;
use super::memtable::MemTableCursor;
use super::table::reader::{LevelCursor, TableCursor};
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
    /// Everything about the current version in one call (`None` when not valid); sources
    /// override it to find their position once instead of once per field.
    #[inline]
    fn current(&self) -> Option<Current<'_>> {
        self.valid().then(|| Current {
            key: self.key(),
            seq: self.seq(),
            value: self.value(),
            prefix: key_prefix(self.key()),
        })
    }
    /// [`Current::prefix`] and [`Current::seq`] alone; sources that keep them override it
    /// to skip finding the key and value bytes.
    #[inline]
    fn head(&self) -> HeadKey {
        self.current().map(|c| (c.prefix, c.seq))
    }
}

/// The prefix and sequence number of the version a cursor rests on: what a merge
/// compares (`None` when not valid).
pub type HeadKey = Option<(u64, u64)>;

/// The version a cursor rests on.
#[derive(Debug, Clone, Copy)]
pub struct Current<'a> {
    /// User key.
    pub key: &'a [u8],
    /// Sequence number.
    pub seq: u64,
    /// Value, `None` for a tombstone.
    pub value: Option<&'a [u8]>,
    /// [`key_prefix`] of the key.
    pub prefix: u64,
}

/// Compares two versions in internal order.
#[inline]
pub fn internal_cmp(a_key: &[u8], a_seq: u64, b_key: &[u8], b_seq: u64) -> Ordering {
    a_key.cmp(b_key).then_with(|| b_seq.cmp(&a_seq))
}

/// One source of a merge. An enum rather than a trait object, so the per-step calls of
/// a scan are direct and inlined.
pub enum Source {
    /// A memtable.
    Mem(MemTableCursor),
    /// One table file (level 0, or a compaction input).
    Table(TableCursor),
    /// The sorted, non-overlapping files of one deeper level.
    Level(LevelCursor),
}

macro_rules! each_source {
    ($self:expr, $c:ident => $body:expr) => {
        match $self {
            Source::Mem($c) => $body,
            Source::Table($c) => $body,
            Source::Level($c) => $body,
        }
    };
}

impl Cursor for Source {
    #[inline]
    fn valid(&self) -> bool {
        each_source!(self, c => c.valid())
    }
    #[inline]
    fn key(&self) -> &[u8] {
        each_source!(self, c => c.key())
    }
    #[inline]
    fn seq(&self) -> u64 {
        each_source!(self, c => c.seq())
    }
    #[inline]
    fn value(&self) -> Option<&[u8]> {
        each_source!(self, c => c.value())
    }
    #[inline]
    fn current(&self) -> Option<Current<'_>> {
        each_source!(self, c => c.current())
    }
    #[inline]
    fn head(&self) -> HeadKey {
        each_source!(self, c => c.head())
    }
    fn seek(&mut self, key: &[u8]) -> Result<(), DatabaseError> {
        each_source!(self, c => c.seek(key))
    }
    fn seek_for_prev(&mut self, key: &[u8]) -> Result<(), DatabaseError> {
        each_source!(self, c => c.seek_for_prev(key))
    }
    fn seek_to_first(&mut self) -> Result<(), DatabaseError> {
        each_source!(self, c => c.seek_to_first())
    }
    fn seek_to_last(&mut self) -> Result<(), DatabaseError> {
        each_source!(self, c => c.seek_to_last())
    }
    #[inline]
    fn next(&mut self) -> Result<(), DatabaseError> {
        each_source!(self, c => c.next())
    }
    fn prev(&mut self) -> Result<(), DatabaseError> {
        each_source!(self, c => c.prev())
    }
}

/// What the merge remembers of a child's position, so choosing the next child compares
/// plain integers and touches a child's key bytes only when two prefixes tie.
#[derive(Clone, Copy)]
struct Head {
    valid: bool,
    prefix: u64,
    seq: u64,
}

impl Head {
    #[inline]
    fn of(c: &Source) -> Self {
        match c.head() {
            Some((prefix, seq)) => Head {
                valid: true,
                prefix,
                seq,
            },
            None => Head {
                valid: false,
                prefix: 0,
                seq: 0,
            },
        }
    }
}

/// Merges several cursors, moving in one direction only (chosen at creation).
///
/// The number of children is small (memtables, level-0 files, one per deeper level), so
/// the current child is found by a linear scan over cached heads rather than a heap; and
/// the best of the other children (the runner-up) is remembered, so a step that leaves
/// the current child in front costs one comparison however many children there are.
pub struct MergingCursor {
    children: Vec<Source>,
    heads: Vec<Head>,
    reverse: bool,
    current: Option<usize>,
    runner_up: Option<usize>,
}

impl MergingCursor {
    /// Merges `children`; `reverse` makes it walk from the largest version down.
    pub fn new(children: Vec<Source>, reverse: bool) -> Self {
        let heads = vec![
            Head {
                valid: false,
                prefix: 0,
                seq: 0
            };
            children.len()
        ];
        Self {
            children,
            heads,
            reverse,
            current: None,
            runner_up: None,
        }
    }

    /// True when child `a`'s version comes before child `b`'s in this walk's direction.
    #[inline]
    fn before(&self, a: usize, b: usize) -> bool {
        let (ha, hb) = (self.heads[a], self.heads[b]);
        let ord = if ha.prefix != hb.prefix {
            ha.prefix.cmp(&hb.prefix)
        } else {
            self.children[a]
                .key()
                .cmp(self.children[b].key())
                .then_with(|| hb.seq.cmp(&ha.seq))
        };
        if self.reverse {
            ord == Ordering::Greater
        } else {
            ord == Ordering::Less
        }
    }

    /// Finds the first and second children in walk order by a full scan.
    fn pick(&mut self) {
        let mut first: Option<usize> = None;
        let mut second: Option<usize> = None;
        for i in 0..self.heads.len() {
            if !self.heads[i].valid {
                continue;
            }
            match first {
                None => first = Some(i),
                Some(f) if self.before(i, f) => {
                    second = first;
                    first = Some(i);
                }
                Some(_) => {
                    if second.is_none_or(|s| self.before(i, s)) {
                        second = Some(i);
                    }
                }
            }
        }
        self.current = first;
        self.runner_up = second;
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
        // Read the heads only once every child has sought: a memtable seek prefetches the
        // node it lands on, and that load then overlaps the table seeks after it.
        for (child, head) in self.children.iter().zip(self.heads.iter_mut()) {
            *head = Head::of(child);
        }
        self.pick();
        Ok(())
    }

    /// The current version: key, sequence number and value (`None` for a tombstone).
    #[inline]
    pub fn entry(&self) -> Option<super::VersionRef<'_>> {
        let cur = self.current()?;
        Some((cur.key, cur.seq, cur.value))
    }

    /// The current version whole, its key prefix included.
    #[inline]
    pub fn current(&self) -> Option<Current<'_>> {
        self.children[self.current?].current()
    }

    /// Steps to the next version in this cursor's direction.
    #[inline]
    pub fn advance(&mut self) -> Result<(), DatabaseError> {
        let Some(i) = self.current else {
            return Ok(());
        };
        let child = &mut self.children[i];
        let moved = if self.reverse {
            child.prev()
        } else {
            child.next()
        };
        self.heads[i] = Head::of(child);
        if let Err(e) = moved {
            // The child is left where it was or invalid; either way its head says so.
            self.pick();
            return Err(e);
        }
        if !self.heads[i].valid {
            self.pick();
            return Ok(());
        }
        match self.runner_up {
            // Still ahead of every other child: nothing else changes.
            Some(r) if !self.before(i, r) => self.pick(),
            _ => {}
        }
        Ok(())
    }
}
