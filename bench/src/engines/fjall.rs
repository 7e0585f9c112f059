//! fjall: batches committed with `PersistMode::SyncAll`, block cache of the shared budget.

use std::path::Path;

use fjall::{Database, Keyspace, KeyspaceCreateOptions, PersistMode};

use super::{entry_checksum, value_digest, Engine, Op, Options, Reader, Result};

/// fjall under test.
pub struct Fjall {
    db: Database,
    keyspace: Keyspace,
}

impl Fjall {
    /// Opens a database in `dir`.
    pub fn open(dir: &Path, options: &Options) -> Result<Self> {
        let db = Database::builder(dir)
            .cache_size(options.cache_bytes)
            .open()?;
        let keyspace = db.keyspace("bench", KeyspaceCreateOptions::default)?;
        Ok(Fjall { db, keyspace })
    }
}

impl Engine for Fjall {
    fn write(&self, ops: &mut dyn Iterator<Item = Op>) -> Result<()> {
        let mut batch = self.db.batch().durability(Some(PersistMode::SyncAll));
        for op in ops {
            match op {
                Op::Put(k, v) => batch.insert(&self.keyspace, k.as_slice(), v.as_slice()),
                Op::Delete(k) => batch.remove(&self.keyspace, k.as_slice()),
            }
        }
        batch.commit()?;
        Ok(())
    }

    fn reader(&self, _threads: usize) -> Result<Box<dyn Reader + '_>> {
        Ok(Box::new(FjallReader {
            keyspace: &self.keyspace,
        }))
    }

    fn compact(&mut self) -> Result<bool> {
        self.keyspace.major_compact()?;
        Ok(true)
    }
}

struct FjallReader<'a> {
    keyspace: &'a Keyspace,
}

impl Reader for FjallReader<'_> {
    fn get(&mut self, key: &[u8], expected: &[u8]) -> Result<bool> {
        Ok(self
            .keyspace
            .get(key)?
            .is_some_and(|v| v.as_ref() == expected))
    }

    fn range(&mut self, start: &[u8], n: usize) -> Result<(usize, u64)> {
        let mut count = 0;
        let mut sum = 0u64;
        for guard in self.keyspace.range(start..).take(n) {
            let v = guard.value()?;
            count += 1;
            sum += u64::from(v[0]);
        }
        Ok((count, sum))
    }

    fn range_rev(&mut self, start: &[u8], n: usize) -> Result<(usize, u64)> {
        let mut count = 0;
        let mut sum = 0u64;
        for guard in self.keyspace.range(..=start).rev().take(n) {
            let v = guard.value()?;
            count += 1;
            sum += u64::from(v[0]);
        }
        Ok((count, sum))
    }

    fn scan(&mut self, reverse: bool) -> Result<(usize, u64)> {
        let mut count = 0;
        let mut sum = 0u64;
        let mut add = |guard: fjall::Guard| -> Result<()> {
            let (k, v) = guard.into_inner()?;
            count += 1;
            sum += entry_checksum(&k, &v);
            Ok(())
        };
        if reverse {
            for guard in self.keyspace.iter().rev() {
                add(guard)?;
            }
        } else {
            for guard in self.keyspace.iter() {
                add(guard)?;
            }
        }
        Ok((count, sum))
    }

    fn get_digest(&mut self, key: &[u8]) -> Result<Option<u64>> {
        Ok(self.keyspace.get(key)?.map(|v| value_digest(&v)))
    }
}
