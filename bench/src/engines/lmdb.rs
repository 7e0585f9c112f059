//! LMDB through heed: default (synchronous) environment flags, so every commit is durable.
//! LMDB has no cache of its own: it reads through the OS page cache (mmap).

use std::fs::File;
use std::path::{Path, PathBuf};

use heed::types::Bytes;
use heed::{CommitOrAbort, CompactionOption, Database, Env, EnvOpenOptions, RoTxn, WithTls};

use super::{entry_checksum, value_digest, Engine, Op, Options, Reader, Result};

/// Largest size the memory map may grow to (address space only, not memory).
const MAP_SIZE: usize = 64 << 30;

/// The map size: [`MAP_SIZE`], or `LIGHTNING_BENCH_LMDB_MAP_GIB` GiB (valgrind, which
/// `scripts/cpu-per-op.sh` runs the engines under, cannot reserve 64 GiB of address space).
fn map_size() -> usize {
    std::env::var("LIGHTNING_BENCH_LMDB_MAP_GIB")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        .map_or(MAP_SIZE, |gib| gib << 30)
}

/// LMDB under test.
pub struct Lmdb {
    dir: PathBuf,
    env: Env,
    db: Database<'static, Bytes, Bytes>,
}

impl Lmdb {
    /// Opens an environment in `dir`.
    pub fn open(dir: &Path, _options: &Options) -> Result<Self> {
        // SAFETY: the benchmark opens each environment once, in its own directory, from one
        // process, which is what heed's `open` asks callers to ensure.
        let env = unsafe { EnvOpenOptions::new().map_size(map_size()).open(dir)? };
        let wtxn = env.write_txn()?;
        let db = env
            .create_databases_and_commit(wtxn, |opener, wtxn| {
                opener
                    .create_database::<Bytes, Bytes>(wtxn, None)
                    .map(CommitOrAbort::<_, ()>::Commit)
            })?
            .unwrap_commit();
        Ok(Lmdb {
            dir: dir.to_path_buf(),
            env,
            db,
        })
    }
}

impl Engine for Lmdb {
    fn write(&self, ops: &mut dyn Iterator<Item = Op>) -> Result<()> {
        let mut txn = self.env.write_txn()?;
        for op in ops {
            match op {
                Op::Put(k, v) => self.db.put(&mut txn, &k, &v)?,
                Op::Delete(k) => {
                    self.db.delete(&mut txn, &k)?;
                }
            }
        }
        txn.commit()?;
        Ok(())
    }

    fn reader(&self, _threads: usize) -> Result<Box<dyn Reader + '_>> {
        let txn = self.env.read_txn()?;
        Ok(Box::new(LmdbReader {
            env: &self.env,
            txn: Some(txn),
            db: self.db,
        }))
    }

    /// LMDB compacts by copying: `mdb_env_copy2` with `MDB_CP_COMPACT` writes a compacted
    /// copy, which is renamed over `data.mdb`. The open environment keeps its mapping of the
    /// old, now unlinked, file until the end of the run, so the directory's size is the
    /// compacted file's.
    fn compact(&mut self) -> Result<bool> {
        let copy = self.dir.join("compacted.mdb");
        let mut file = File::create_new(&copy)?;
        self.env
            .copy_to_file(&mut file, CompactionOption::Enabled)?;
        file.sync_all()?;
        drop(file);
        std::fs::rename(&copy, self.dir.join("data.mdb"))?;
        Ok(true)
    }
}

struct LmdbReader<'e> {
    env: &'e Env,
    // Always `Some` but inside `refresh`, which must end the old read transaction before
    // it begins the new one (one read transaction per thread, with LMDB's thread-local
    // reader slots).
    txn: Option<RoTxn<'e, WithTls>>,
    db: Database<'static, Bytes, Bytes>,
}

impl LmdbReader<'_> {
    fn txn(&self) -> Result<&RoTxn<'_, WithTls>> {
        self.txn
            .as_ref()
            .ok_or_else(|| "the LMDB read transaction failed to restart".into())
    }
}

impl Reader for LmdbReader<'_> {
    fn get(&mut self, key: &[u8], expected: &[u8]) -> Result<bool> {
        Ok(self
            .db
            .get(self.txn()?, key)?
            .is_some_and(|v| v == expected))
    }

    fn range(&mut self, start: &[u8], n: usize) -> Result<(usize, u64)> {
        let mut count = 0;
        let mut sum = 0u64;
        let bounds = (std::ops::Bound::Included(start), std::ops::Bound::Unbounded);
        for item in self.db.range(self.txn()?, &bounds)?.take(n) {
            let (_, v) = item?;
            count += 1;
            sum += u64::from(v[0]);
        }
        Ok((count, sum))
    }

    fn range_rev(&mut self, start: &[u8], n: usize) -> Result<(usize, u64)> {
        let mut count = 0;
        let mut sum = 0u64;
        let bounds = (std::ops::Bound::Unbounded, std::ops::Bound::Included(start));
        for item in self.db.rev_range(self.txn()?, &bounds)?.take(n) {
            let (_, v) = item?;
            count += 1;
            sum += u64::from(v[0]);
        }
        Ok((count, sum))
    }

    fn scan(&mut self, reverse: bool) -> Result<(usize, u64)> {
        let mut count = 0;
        let mut sum = 0u64;
        let txn = self.txn()?;
        if reverse {
            for item in self.db.rev_iter(txn)? {
                let (k, v) = item?;
                count += 1;
                sum += entry_checksum(k, v);
            }
        } else {
            for item in self.db.iter(txn)? {
                let (k, v) = item?;
                count += 1;
                sum += entry_checksum(k, v);
            }
        }
        Ok((count, sum))
    }

    fn get_digest(&mut self, key: &[u8]) -> Result<Option<u64>> {
        Ok(self.db.get(self.txn()?, key)?.map(value_digest))
    }

    fn refresh(&mut self) -> Result<()> {
        self.txn = None;
        self.txn = Some(self.env.read_txn()?);
        Ok(())
    }
}
