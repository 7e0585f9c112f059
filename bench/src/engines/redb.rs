//! redb: `Durability::Immediate` commits, cache of the shared budget.

use std::path::Path;

use redb::{
    Database, Durability, ReadOnlyTable, ReadTransaction, ReadableDatabase, ReadableTable,
    TableDefinition,
};

use super::{entry_checksum, value_digest, Engine, Op, Options, Reader, Result};

const TABLE: TableDefinition<&[u8], &[u8]> = TableDefinition::new("bench");

/// redb under test.
pub struct Redb {
    db: Database,
}

impl Redb {
    /// Creates `dir/bench.redb`.
    pub fn open(dir: &Path, options: &Options) -> Result<Self> {
        let db = Database::builder()
            .set_cache_size(usize::try_from(options.cache_bytes)?)
            .create(dir.join("bench.redb"))?;
        // Create the table so readers can open it before the first write.
        let txn = db.begin_write()?;
        txn.open_table(TABLE)?;
        txn.commit()?;
        Ok(Redb { db })
    }
}

impl Engine for Redb {
    fn write(&self, ops: &mut dyn Iterator<Item = Op>) -> Result<()> {
        let mut txn = self.db.begin_write()?;
        txn.set_durability(Durability::Immediate)?;
        {
            let mut table = txn.open_table(TABLE)?;
            for op in ops {
                match op {
                    Op::Put(k, v) => {
                        table.insert(k.as_slice(), v.as_slice())?;
                    }
                    Op::Delete(k) => {
                        table.remove(k.as_slice())?;
                    }
                }
            }
        }
        txn.commit()?;
        Ok(())
    }

    fn reader(&self, _threads: usize) -> Result<Box<dyn Reader + '_>> {
        let txn = self.db.begin_read()?;
        let table = txn.open_table(TABLE)?;
        Ok(Box::new(RedbReader {
            db: &self.db,
            _txn: txn,
            table,
        }))
    }

    fn compact(&mut self) -> Result<bool> {
        self.db.compact()?;
        Ok(true)
    }
}

struct RedbReader<'a> {
    db: &'a Database,
    _txn: ReadTransaction,
    table: ReadOnlyTable<&'static [u8], &'static [u8]>,
}

impl Reader for RedbReader<'_> {
    fn get(&mut self, key: &[u8], expected: &[u8]) -> Result<bool> {
        Ok(self.table.get(key)?.is_some_and(|v| v.value() == expected))
    }

    fn range(&mut self, start: &[u8], n: usize) -> Result<(usize, u64)> {
        let mut count = 0;
        let mut sum = 0u64;
        for item in self.table.range(start..)?.take(n) {
            let (_, v) = item?;
            count += 1;
            sum += u64::from(v.value()[0]);
        }
        Ok((count, sum))
    }

    fn range_rev(&mut self, start: &[u8], n: usize) -> Result<(usize, u64)> {
        let mut count = 0;
        let mut sum = 0u64;
        for item in self.table.range(..=start)?.rev().take(n) {
            let (_, v) = item?;
            count += 1;
            sum += u64::from(v.value()[0]);
        }
        Ok((count, sum))
    }

    fn scan(&mut self, reverse: bool) -> Result<(usize, u64)> {
        let mut count = 0;
        let mut sum = 0u64;
        let mut add = |item: std::result::Result<_, redb::StorageError>| -> Result<()> {
            let (k, v): (redb::AccessGuard<&[u8]>, redb::AccessGuard<&[u8]>) = item?;
            count += 1;
            sum += entry_checksum(k.value(), v.value());
            Ok(())
        };
        if reverse {
            for item in self.table.iter()?.rev() {
                add(item)?;
            }
        } else {
            for item in self.table.iter()? {
                add(item)?;
            }
        }
        Ok((count, sum))
    }

    fn get_digest(&mut self, key: &[u8]) -> Result<Option<u64>> {
        Ok(self.table.get(key)?.map(|v| value_digest(v.value())))
    }

    fn refresh(&mut self) -> Result<()> {
        let txn = self.db.begin_read()?;
        self.table = txn.open_table(TABLE)?;
        self._txn = txn;
        Ok(())
    }
}
