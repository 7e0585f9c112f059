//! sled 0.34: a batch applied and then `flush()`ed, so each commit is durable; page cache of
//! the shared budget. sled has no compaction call.

use std::path::Path;

use super::{entry_checksum, value_digest, Engine, Op, Options, Reader, Result};

/// sled under test.
pub struct Sled {
    db: sled::Db,
}

impl Sled {
    /// Opens a database in `dir`.
    pub fn open(dir: &Path, options: &Options) -> Result<Self> {
        let db = sled::Config::new()
            .path(dir)
            .cache_capacity(options.cache_bytes)
            .open()?;
        Ok(Sled { db })
    }
}

impl Engine for Sled {
    fn write(&self, ops: &mut dyn Iterator<Item = Op>) -> Result<()> {
        let mut batch = sled::Batch::default();
        for op in ops {
            match op {
                Op::Put(k, v) => batch.insert(k.as_slice(), v.as_slice()),
                Op::Delete(k) => batch.remove(k.as_slice()),
            }
        }
        self.db.apply_batch(batch)?;
        self.db.flush()?;
        Ok(())
    }

    fn reader(&self, _threads: usize) -> Result<Box<dyn Reader + '_>> {
        Ok(Box::new(SledReader { db: &self.db }))
    }

    fn compact(&mut self) -> Result<bool> {
        Ok(false)
    }
}

struct SledReader<'a> {
    db: &'a sled::Db,
}

impl Reader for SledReader<'_> {
    fn get(&mut self, key: &[u8], expected: &[u8]) -> Result<bool> {
        Ok(self.db.get(key)?.is_some_and(|v| v.as_ref() == expected))
    }

    fn range(&mut self, start: &[u8], n: usize) -> Result<(usize, u64)> {
        let mut count = 0;
        let mut sum = 0u64;
        for item in self.db.range(start..).take(n) {
            let (_, v) = item?;
            count += 1;
            sum += u64::from(v[0]);
        }
        Ok((count, sum))
    }

    fn range_rev(&mut self, start: &[u8], n: usize) -> Result<(usize, u64)> {
        let mut count = 0;
        let mut sum = 0u64;
        for item in self.db.range(..=start).rev().take(n) {
            let (_, v) = item?;
            count += 1;
            sum += u64::from(v[0]);
        }
        Ok((count, sum))
    }

    fn scan(&mut self, reverse: bool) -> Result<(usize, u64)> {
        let mut count = 0;
        let mut sum = 0u64;
        let mut add = |item: sled::Result<(sled::IVec, sled::IVec)>| -> Result<()> {
            let (k, v) = item?;
            count += 1;
            sum += entry_checksum(&k, &v);
            Ok(())
        };
        if reverse {
            for item in self.db.iter().rev() {
                add(item)?;
            }
        } else {
            for item in self.db.iter() {
                add(item)?;
            }
        }
        Ok((count, sum))
    }

    fn get_digest(&mut self, key: &[u8]) -> Result<Option<u64>> {
        Ok(self.db.get(key)?.map(|v| value_digest(&v)))
    }
}
