//! RocksDB (the `rocksdb` crate linked to the system's librocksdb): `sync = true` write
//! options, an LRU block cache of the shared budget, 10-bit bloom filters, index and filter
//! blocks in the cache.

use std::path::Path;

use rocksdb::{BlockBasedOptions, Cache, Options as RocksOptions, WriteBatch, WriteOptions, DB};

use super::{entry_checksum, value_digest, Engine, Op, Options, Reader, Result};

/// RocksDB under test.
pub struct Rocks {
    db: DB,
    sync: WriteOptions,
    // Kept alive as long as the database that uses it.
    _cache: Cache,
}

impl Rocks {
    /// Opens a database in `dir`.
    pub fn open(dir: &Path, options: &Options) -> Result<Self> {
        let cache = Cache::new_lru_cache(usize::try_from(options.cache_bytes)?)?;
        let mut table = BlockBasedOptions::default();
        table.set_block_cache(&cache);
        table.set_bloom_filter(10.0, false);
        // Index and filter blocks live beside the table readers, outside the block cache
        // (RocksDB's default), as Lightning DB keeps its indexes and filters outside its
        // cache. Charged to the 256 MiB cache they were evicted by data blocks at 5M
        // elements and reread on every lookup.
        table.set_cache_index_and_filter_blocks(false);
        let mut opts = RocksOptions::default();
        opts.create_if_missing(true);
        opts.set_block_based_table_factory(&table);
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        opts.increase_parallelism(i32::try_from(cores).unwrap_or(2));
        let db = DB::open(&opts, dir)?;
        let mut sync = WriteOptions::default();
        sync.set_sync(true);
        Ok(Rocks {
            db,
            sync,
            _cache: cache,
        })
    }
}

impl Engine for Rocks {
    fn write(&self, ops: &mut dyn Iterator<Item = Op>) -> Result<()> {
        let mut batch = WriteBatch::default();
        for op in ops {
            match op {
                Op::Put(k, v) => batch.put(k, v),
                Op::Delete(k) => batch.delete(k),
            }
        }
        self.db.write_opt(batch, &self.sync)?;
        Ok(())
    }

    fn reader(&self, _threads: usize) -> Result<Box<dyn Reader + '_>> {
        Ok(Box::new(RocksReader { db: &self.db }))
    }

    fn compact(&mut self) -> Result<bool> {
        self.db.compact_range::<&[u8], &[u8]>(None, None);
        Ok(true)
    }
}

struct RocksReader<'a> {
    db: &'a DB,
}

impl Reader for RocksReader<'_> {
    fn get(&mut self, key: &[u8], expected: &[u8]) -> Result<bool> {
        Ok(self
            .db
            .get_pinned(key)?
            .is_some_and(|v| v.as_ref() == expected))
    }

    fn range(&mut self, start: &[u8], n: usize) -> Result<(usize, u64)> {
        let mut iter = self.db.raw_iterator();
        iter.seek(start);
        let mut count = 0;
        let mut sum = 0u64;
        while count < n && iter.valid() {
            if let Some(v) = iter.value() {
                sum += u64::from(v[0]);
            }
            count += 1;
            iter.next();
        }
        iter.status()?;
        Ok((count, sum))
    }

    fn range_rev(&mut self, start: &[u8], n: usize) -> Result<(usize, u64)> {
        let mut iter = self.db.raw_iterator();
        iter.seek_for_prev(start);
        let mut count = 0;
        let mut sum = 0u64;
        while count < n && iter.valid() {
            if let Some(v) = iter.value() {
                sum += u64::from(v[0]);
            }
            count += 1;
            iter.prev();
        }
        iter.status()?;
        Ok((count, sum))
    }

    fn scan(&mut self, reverse: bool) -> Result<(usize, u64)> {
        let mut iter = self.db.raw_iterator();
        if reverse {
            iter.seek_to_last();
        } else {
            iter.seek_to_first();
        }
        let mut count = 0;
        let mut sum = 0u64;
        while iter.valid() {
            if let (Some(k), Some(v)) = (iter.key(), iter.value()) {
                sum += entry_checksum(k, v);
            }
            count += 1;
            if reverse {
                iter.prev();
            } else {
                iter.next();
            }
        }
        iter.status()?;
        Ok((count, sum))
    }

    fn get_digest(&mut self, key: &[u8]) -> Result<Option<u64>> {
        Ok(self.db.get_pinned(key)?.map(|v| value_digest(&v)))
    }
}
