//! Values handed out by point reads without copying them.

use std::sync::Arc;

use crate::storage::table::block::Block;
use crate::storage::table::reader::Table;

/// A value read by [`crate::Database::get_pinned`]. A value found in a table stays where
/// it lies, in the table's memory map or in its cached block, which this handle keeps
/// alive (like RocksDB's `PinnableSlice`), so reading it costs no allocation or copy; a
/// value found in the write buffer is copied. It dereferences to `[u8]`.
///
/// Holding many pinned values keeps their blocks in memory even after the cache evicts
/// them, and keeps table files that compaction replaced on disk until the last value
/// from them is dropped; copy out (`to_vec`) what you keep for long.
#[derive(Clone)]
pub struct PinnedValue(Repr);

#[derive(Clone)]
enum Repr {
    Owned(Vec<u8>),
    InBlock {
        block: Arc<Block>,
        entry: usize,
    },
    /// `len` bytes at `start` of a table file read through its memory map.
    Mapped {
        table: Arc<Table>,
        start: usize,
        len: usize,
    },
}

impl PinnedValue {
    pub(crate) fn owned(value: Vec<u8>) -> Self {
        Self(Repr::Owned(value))
    }

    /// Entry `entry` of `block`, which must hold a value (not a tombstone).
    pub(crate) fn in_block(block: Arc<Block>, entry: usize) -> Self {
        Self(Repr::InBlock { block, entry })
    }

    /// `len` bytes at `start` of `table`'s mapped file.
    pub(crate) fn mapped(table: Arc<Table>, start: usize, len: usize) -> Self {
        Self(Repr::Mapped { table, start, len })
    }

    /// The value's bytes.
    pub fn as_slice(&self) -> &[u8] {
        match &self.0 {
            Repr::Owned(v) => v,
            Repr::InBlock { block, entry } => block.value(*entry).unwrap_or_default(),
            Repr::Mapped { table, start, len } => table.mapped_bytes(*start, *len),
        }
    }

    /// The value as an owned vector (no copy when it was already one).
    pub fn into_vec(self) -> Vec<u8> {
        match self.0 {
            Repr::Owned(v) => v,
            Repr::InBlock { .. } | Repr::Mapped { .. } => self.as_slice().to_vec(),
        }
    }
}

impl std::ops::Deref for PinnedValue {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        self.as_slice()
    }
}

impl AsRef<[u8]> for PinnedValue {
    fn as_ref(&self) -> &[u8] {
        self.as_slice()
    }
}

impl PartialEq for PinnedValue {
    fn eq(&self, other: &Self) -> bool {
        self.as_slice() == other.as_slice()
    }
}

impl Eq for PinnedValue {}

impl PartialEq<[u8]> for PinnedValue {
    fn eq(&self, other: &[u8]) -> bool {
        self.as_slice() == other
    }
}

impl PartialEq<&[u8]> for PinnedValue {
    fn eq(&self, other: &&[u8]) -> bool {
        self.as_slice() == *other
    }
}

impl std::fmt::Debug for PinnedValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("PinnedValue")
            .field(&self.as_slice())
            .finish()
    }
}
