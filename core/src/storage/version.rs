//! A version: the immutable set of table files, by level, that readers see.
//!
//! Level 0 holds flushed memtables, which may overlap, newest first. Deeper levels hold
//! sorted, non-overlapping files. A new version is made for every flush or compaction;
//! readers keep the one they started with, so files stay alive while anyone reads them.

use std::sync::Arc;

use super::iter::Source;
use super::table::reader::{LevelCursor, Table, TableCursor};
use super::{FoundVersion, NeedsIo};
use crate::error::DatabaseError;

/// Number of levels.
pub const NUM_LEVELS: usize = 7;

/// The live table files.
#[derive(Debug, Clone)]
pub struct Version {
    /// Tables per level; level 0 newest first, others sorted by smallest key.
    pub levels: Vec<Vec<Arc<Table>>>,
}

impl Default for Version {
    fn default() -> Self {
        Self {
            levels: vec![Vec::new(); NUM_LEVELS],
        }
    }
}

impl Version {
    /// Sorts each level into its reading order.
    pub fn normalize(&mut self) {
        if let Some(l0) = self.levels.first_mut() {
            l0.sort_by(|a, b| {
                b.props
                    .max_seq
                    .cmp(&a.props.max_seq)
                    .then(b.number.cmp(&a.number))
            });
        }
        for level in self.levels.iter_mut().skip(1) {
            level.sort_by(|a, b| a.props.smallest.cmp(&b.props.smallest));
        }
    }

    /// The newest version of `key` at or below `snapshot` in the tables; `hash` is the
    /// key's [`crate::storage::table::bloom::key_hash`], computed once by the caller for every filter it probes.
    #[inline]
    pub fn get(
        &self,
        key: &[u8],
        snapshot: u64,
        hash: u64,
    ) -> Result<Option<FoundVersion>, DatabaseError> {
        match self.lookup::<false>(key, snapshot, hash)? {
            Ok(found) => Ok(found),
            // Unreachable: only a read that may not wait answers `NeedsIo`.
            Err(NeedsIo) => Ok(None),
        }
    }

    /// [`get`](Self::get) without waiting for the disk (see [`Table::get_cached`]).
    pub fn get_cached(
        &self,
        key: &[u8],
        snapshot: u64,
        hash: u64,
    ) -> Result<Result<Option<FoundVersion>, NeedsIo>, DatabaseError> {
        self.lookup::<true>(key, snapshot, hash)
    }

    #[inline]
    fn lookup<const NO_IO: bool>(
        &self,
        key: &[u8],
        snapshot: u64,
        hash: u64,
    ) -> Result<Result<Option<FoundVersion>, NeedsIo>, DatabaseError> {
        let probe = |table: &Arc<Table>| {
            if NO_IO {
                table.get_cached(key, snapshot, hash)
            } else {
                table.get(key, snapshot, hash).map(Ok)
            }
        };
        let mut best: Option<FoundVersion> = None;
        // Level-0 files may overlap; the newest file holding the key wins, but a file's
        // version only counts if it is newer than what was found so far.
        for table in &self.levels[0] {
            if best.as_ref().is_some_and(|(s, _)| *s > table.props.max_seq) {
                break;
            }
            let found = match probe(table)? {
                Ok(found) => found,
                Err(NeedsIo) => return Ok(Err(NeedsIo)),
            };
            if let Some(found) = found {
                if best.as_ref().is_none_or(|(s, _)| found.0 > *s) {
                    best = Some(found);
                }
            }
        }
        if best.is_some() {
            return Ok(Ok(best));
        }
        for level in self.levels.iter().skip(1) {
            let i = level.partition_point(|t| t.props.largest.as_slice() < key);
            if let Some(table) = level.get(i) {
                match probe(table)? {
                    Ok(Some(found)) => return Ok(Ok(Some(found))),
                    Ok(None) => {}
                    Err(NeedsIo) => return Ok(Err(NeedsIo)),
                }
            }
        }
        Ok(Ok(None))
    }

    /// One cursor per level-0 file and one per deeper non-empty level.
    pub fn cursors(self: &Arc<Self>, out: &mut Vec<Source>) {
        for table in &self.levels[0] {
            out.push(Source::Table(TableCursor::new(Arc::clone(table))));
        }
        for (level, tables) in self.levels.iter().enumerate().skip(1) {
            if !tables.is_empty() {
                out.push(Source::Level(LevelCursor::new(Arc::clone(self), level)));
            }
        }
    }

    /// Total bytes of table files in `level`.
    pub fn level_bytes(&self, level: usize) -> u64 {
        self.levels[level].iter().map(|t| t.file_size).sum()
    }

    /// Tables of `level` whose key range meets `[smallest, largest]`.
    pub fn overlapping(&self, level: usize, smallest: &[u8], largest: &[u8]) -> Vec<Arc<Table>> {
        self.levels[level]
            .iter()
            .filter(|t| {
                t.props.largest.as_slice() >= smallest && t.props.smallest.as_slice() <= largest
            })
            .cloned()
            .collect()
    }

    /// The deepest level a new table spanning `[smallest, largest]` can join while every
    /// level at or above it stays free of overlap, so its data still sits above all older
    /// versions of the same keys (level 0 when a level-0 file overlaps).
    pub fn deepest_free_level(&self, smallest: &[u8], largest: &[u8]) -> usize {
        let overlaps = |t: &Arc<Table>| {
            t.props.largest.as_slice() >= smallest && t.props.smallest.as_slice() <= largest
        };
        let mut free = 0;
        for (level, tables) in self.levels.iter().enumerate() {
            if tables.iter().any(overlaps) {
                break;
            }
            free = level;
        }
        free
    }

    /// All tables.
    pub fn all_tables(&self) -> impl Iterator<Item = (usize, &Arc<Table>)> {
        self.levels
            .iter()
            .enumerate()
            .flat_map(|(l, ts)| ts.iter().map(move |t| (l, t)))
    }
}
