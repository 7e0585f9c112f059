//! Atomic bulk loads larger than memory ([`crate::Database::bulk_load`]).
//!
//! Operations are buffered up to a budget, then sorted and written as a run of table
//! files that no version names yet (a spill). `finish` merges the runs into one sorted
//! run, keeping the newest operation on each key, and makes it part of the database in
//! one manifest edit, as a large batch's ingestion does: the load is all or nothing,
//! across crashes too (runs left by a crash are orphans the next open removes).

use std::sync::Arc;

use parking_lot::MutexGuard;

use crate::batch::{check_key, check_value};
use crate::engine::DbInner;
use crate::error::DatabaseError;
use crate::storage::cache::BlockCache;
use crate::storage::iter::{MergingCursor, Source};
use crate::storage::table::reader::{Table, TableCursor};
use crate::storage::table::table_file_name;
use crate::storage::wal::{self, OpRef, WalWriter};

/// Bytes of decoded blocks the merge of spilled runs may cache; the runs are read once,
/// in order, so a little is enough.
const MERGE_CACHE_BYTES: u64 = 4 << 20;

/// An atomic load of any number of puts and deletes, made by
/// [`crate::Database::bulk_load`]. Nothing of it is visible until [`BulkLoad::finish`]
/// returns, and then all of it is; dropping it unfinished discards everything.
///
/// It holds the database's write lock from start to finish: writes from other threads
/// wait until it is finished or dropped, and writes, flushes and syncs from the thread
/// that holds it are refused with `InvalidArgument` rather than left waiting forever.
/// Reads go on as usual and see the database as it was before the load.
///
/// Memory stays bounded: operations are buffered up to three write buffers
/// (`3 × write_buffer_size`), then sorted and written to disk, and `finish` merges what
/// was written. A load that fits the buffer costs one write of its data; a larger one
/// costs two.
pub struct BulkLoad<'a> {
    inner: &'a DbInner,
    /// The log lock: no other write may take sequence numbers while the load runs.
    _wal: MutexGuard<'a, WalWriter>,
    first: u64,
    /// Sequence number of the first buffered operation.
    chunk_first: u64,
    /// Buffered operations, encoded as in a batch.
    chunk: Vec<u8>,
    chunk_count: u64,
    budget: usize,
    /// Runs written so far, read back (without memory maps) by the merge.
    spilled: Vec<Arc<Table>>,
    /// Key and value bytes of every operation.
    bytes: u64,
    /// A spill failed: the load can only be dropped.
    failed: Option<DatabaseError>,
}

impl std::fmt::Debug for BulkLoad<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BulkLoad")
            .field("operations", &self.len())
            .field("spilled_runs", &self.spilled.len())
            .finish()
    }
}

impl<'a> BulkLoad<'a> {
    pub(crate) fn start(inner: &'a DbInner) -> Result<Self, DatabaseError> {
        let (wal, first) = inner.begin_ingest()?;
        inner.set_bulk_owner(true);
        Ok(Self {
            inner,
            _wal: wal,
            first,
            chunk_first: first,
            chunk: Vec::new(),
            chunk_count: 0,
            budget: inner.config.write_buffer_size.saturating_mul(3),
            spilled: Vec::new(),
            bytes: 0,
            failed: None,
        })
    }

    /// Adds a put; a later operation on the same key in this load wins. An empty or
    /// oversized key or value is refused and nothing is added.
    pub fn put(&mut self, key: &[u8], value: &[u8]) -> Result<(), DatabaseError> {
        check_key(key, self.inner.config.max_key_size)?;
        check_value(value, self.inner.config.max_value_size)?;
        self.push(OpRef {
            key,
            value: Some(value),
        })
    }

    /// Adds a delete. An empty or oversized key is refused and nothing is added.
    pub fn delete(&mut self, key: &[u8]) -> Result<(), DatabaseError> {
        check_key(key, self.inner.config.max_key_size)?;
        self.push(OpRef { key, value: None })
    }

    /// Operations added so far.
    pub fn len(&self) -> u64 {
        self.chunk_first - self.first + self.chunk_count
    }

    /// True when nothing was added.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn push(&mut self, op: OpRef<'_>) -> Result<(), DatabaseError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        self.bytes += (op.key.len() + op.value.map_or(0, <[u8]>::len)) as u64;
        wal::encode_op(&mut self.chunk, op);
        self.chunk_count += 1;
        if self.chunk.len() >= self.budget {
            self.spill()
                .inspect_err(|e| self.failed = Some(e.clone()))?;
        }
        Ok(())
    }

    /// Sorts the buffered operations and writes them as a run of table files. The run is
    /// scratch (the merge reads it back, then it is deleted; a crash leaves an orphan),
    /// so it is not synced: with luck its pages never reach the disk at all.
    fn spill(&mut self) -> Result<(), DatabaseError> {
        let metas = self.write_chunk(false)?;
        for meta in &metas {
            // Read back once, in order, by the merge: through a small cache of its own,
            // without a memory map, so the merge's pages do not pile up in memory. An
            // encrypted database's runs are sealed like every table: the cache gets the keys.
            let cache = Arc::new(BlockCache::new(MERGE_CACHE_BYTES));
            cache.set_keys(self.inner.cache.keys());
            let table = Table::open(
                Arc::clone(&self.inner.fs),
                &self.inner.path,
                meta.number,
                cache,
            )?;
            self.spilled.push(Arc::new(table));
        }
        self.chunk_first += self.chunk_count;
        self.chunk_count = 0;
        self.chunk.clear();
        Ok(())
    }

    /// Writes the buffered operations, newest per key, as a sorted run.
    fn write_chunk(
        &self,
        durable: bool,
    ) -> Result<Vec<crate::storage::table::builder::TableMeta>, DatabaseError> {
        self.inner
            .write_ops_run(&self.chunk, self.chunk_first, durable)
            .map(|(metas, _)| metas)
    }

    /// Makes every operation of the load visible at once, and durable: the tables are
    /// synced before the manifest edit that names them.
    pub fn finish(mut self) -> Result<(), DatabaseError> {
        if let Some(e) = self.failed.take() {
            return Err(e);
        }
        let total = self.len();
        if total == 0 {
            return Ok(());
        }
        let last = self.first + total - 1;
        let metas = if self.spilled.is_empty() {
            self.write_chunk(true)?
        } else {
            if self.chunk_count > 0 {
                self.spill()?;
            }
            let children = self
                .spilled
                .iter()
                .map(|t| Source::Table(TableCursor::rechecking(Arc::clone(t))))
                .collect();
            let mut merged = MergingCursor::new(children, false);
            self.inner.write_run(true, |add| {
                merged.start(None)?;
                // Runs hold one version per key each; across runs the newest comes first
                // in internal order, and it is the one kept.
                let mut previous: Option<Vec<u8>> = None;
                while let Some((key, seq, value)) = merged.entry() {
                    if previous.as_deref() != Some(key) {
                        add(key, seq, value)?;
                        let mut kept = previous.take().unwrap_or_default();
                        kept.clear();
                        kept.extend_from_slice(key);
                        previous = Some(kept);
                    }
                    merged.advance()?;
                }
                Ok(())
            })?
        };
        self.inner.install_ingested(&metas, last, self.bytes)
    }
}

impl Drop for BulkLoad<'_> {
    fn drop(&mut self) {
        // The spilled runs were never part of a version: remove them (best effort; what
        // is left behind is an orphan the next open removes).
        for table in self.spilled.drain(..) {
            let number = table.number;
            drop(table);
            let _ = self
                .inner
                .fs
                .remove_file(&self.inner.path.join(table_file_name(number)));
        }
        self.inner.set_bulk_owner(false);
    }
}
