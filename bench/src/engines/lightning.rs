//! Lightning DB: durable commits (`Durability::Sync`), block cache of the shared budget.

use std::path::Path;

use lightning_db::{Database, Durability, LightningDbConfig};

use super::{entry_checksum, value_digest, Engine, Op, Options, Reader, Result};

/// Lightning DB under test.
pub struct Lightning {
    db: Database,
}

impl Lightning {
    /// Opens a database in `dir`; `statistics` is `enable_statistics` (the latency
    /// histograms; on by default, off for the `lightning-nostats` engine that measures
    /// their cost).
    pub fn open(dir: &Path, options: &Options, statistics: bool) -> Result<Self> {
        let config = LightningDbConfig {
            cache_size: options.cache_bytes,
            durability: Durability::Sync,
            enable_statistics: statistics,
            ..LightningDbConfig::default()
        };
        Ok(Lightning {
            db: Database::open(dir, config)?,
        })
    }
}

impl Engine for Lightning {
    fn write(&self, ops: &mut dyn Iterator<Item = Op>) -> Result<()> {
        if ops.size_hint().0 >= BULK_LOAD_MIN_OPS {
            // Large commits (the bulk load, the removals) stream through a bulk load:
            // atomic and durable when `finish` returns, like a batch, with memory bounded
            // by three write buffers instead of a batch holding every operation.
            let mut load = self.db.bulk_load()?;
            for op in ops {
                match op {
                    Op::Put(k, v) => load.put(&k, &v)?,
                    Op::Delete(k) => load.delete(&k)?,
                }
            }
            load.finish()?;
            return Ok(());
        }
        let mut batch = self.db.new_batch();
        for op in ops {
            match op {
                Op::Put(k, v) => batch.put(&k, &v)?,
                Op::Delete(k) => batch.delete(&k)?,
            }
        }
        self.db.write_batch(&batch)?;
        Ok(())
    }

    fn reader(&self, _threads: usize) -> Result<Box<dyn Reader + '_>> {
        Ok(Box::new(LightningReader { db: &self.db }))
    }

    fn compact(&mut self) -> Result<bool> {
        self.db.compact()?;
        Ok(true)
    }
}

/// Commits of at least this many operations go through `Database::bulk_load`.
const BULK_LOAD_MIN_OPS: usize = 100_000;

struct LightningReader<'a> {
    db: &'a Database,
}

impl Reader for LightningReader<'_> {
    fn get(&mut self, key: &[u8], expected: &[u8]) -> Result<bool> {
        // Zero-copy read, as the redb and LMDB adapters do with their guards and slices.
        Ok(self.db.get_pinned(key)?.is_some_and(|v| &*v == expected))
    }

    fn range(&mut self, start: &[u8], n: usize) -> Result<(usize, u64)> {
        let mut count = 0;
        let mut sum = 0u64;
        // Borrowed pairs, as the redb and LMDB adapters read theirs.
        let mut it = self.db.range(start..);
        while count < n {
            let Some(item) = it.next_borrowed() else {
                break;
            };
            let (_, v) = item?;
            count += 1;
            sum += u64::from(v[0]);
        }
        Ok((count, sum))
    }

    fn range_rev(&mut self, start: &[u8], n: usize) -> Result<(usize, u64)> {
        let mut count = 0;
        let mut sum = 0u64;
        // Borrowed pairs walking backwards, as forwards.
        let mut it = self.db.range(..=start);
        while count < n {
            let Some(item) = it.next_back_borrowed() else {
                break;
            };
            let (_, v) = item?;
            count += 1;
            sum += u64::from(v[0]);
        }
        Ok((count, sum))
    }

    fn scan(&mut self, reverse: bool) -> Result<(usize, u64)> {
        let mut count = 0;
        let mut sum = 0u64;
        if reverse {
            let mut it = self.db.iter();
            while let Some(item) = it.next_back_borrowed() {
                let (k, v) = item?;
                count += 1;
                sum += entry_checksum(k, v);
            }
        } else {
            let mut it = self.db.iter();
            while let Some(item) = it.next_borrowed() {
                let (k, v) = item?;
                count += 1;
                sum += entry_checksum(k, v);
            }
        }
        Ok((count, sum))
    }

    fn get_digest(&mut self, key: &[u8]) -> Result<Option<u64>> {
        Ok(self.db.get_pinned(key)?.map(|v| value_digest(&v)))
    }
}
