//! The storage engine's parts: file-system layer, log, memtable, tables, manifest,
//! versions, compaction and the block cache.

pub mod cache;
pub mod coding;
pub mod compaction;
pub mod corruption;
pub mod crypto;
pub mod format;
pub mod fs;
pub mod iter;
pub mod manifest;
pub mod memtable;
pub(crate) mod prefetch;
pub mod record;
pub(crate) mod skiplist;
pub mod table;
pub mod value;
pub mod version;
pub mod wal;

/// A version found by a point lookup: its sequence number and its value (`None` for a tombstone).
pub type FoundVersion = (u64, Option<crate::storage::value::PinnedValue>);

/// A read that was told not to wait for the disk stopped because its answer needs a block
/// that is not in memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NeedsIo;

/// A borrowed version: key, sequence number and value (`None` for a tombstone).
pub type VersionRef<'a> = (&'a [u8], u64, Option<&'a [u8]>);
