//! SQLite (rusqlite, bundled): a `WITHOUT ROWID` table keyed by the blob key,
//! `journal_mode=WAL`, `synchronous=FULL`; page cache of the shared budget, split between
//! the connections that read at once. Compaction is `VACUUM`.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use rusqlite::{Connection, OpenFlags, OptionalExtension};

use super::{entry_checksum, value_digest, Engine, Op, Options, Reader, Result};

/// SQLite under test.
pub struct Sqlite {
    path: PathBuf,
    cache_kib: u64,
    writer: Mutex<Connection>,
}

fn set_cache(conn: &Connection, kib: u64) -> Result<()> {
    // A negative cache_size is a size in KiB rather than in pages.
    conn.execute_batch(&format!("PRAGMA cache_size = -{};", kib.max(64)))?;
    Ok(())
}

impl Sqlite {
    /// Creates `dir/bench.sqlite`.
    pub fn open(dir: &Path, options: &Options) -> Result<Self> {
        let path = dir.join("bench.sqlite");
        let conn = Connection::open(&path)?;
        let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(format!("SQLite refused WAL mode (got {mode})").into());
        }
        conn.execute_batch(
            "PRAGMA synchronous = FULL;
             CREATE TABLE IF NOT EXISTS kv (k BLOB PRIMARY KEY, v BLOB NOT NULL) WITHOUT ROWID;",
        )?;
        let cache_kib = options.cache_bytes / 1024;
        set_cache(&conn, cache_kib)?;
        Ok(Sqlite {
            path,
            cache_kib,
            writer: Mutex::new(conn),
        })
    }

    fn writer(&self) -> Result<std::sync::MutexGuard<'_, Connection>> {
        self.writer
            .lock()
            .map_err(|_| "the SQLite writer connection was poisoned".into())
    }
}

impl Engine for Sqlite {
    fn write(&self, ops: &mut dyn Iterator<Item = Op>) -> Result<()> {
        let mut conn = self.writer()?;
        let txn = conn.transaction()?;
        {
            let mut put = txn.prepare_cached("INSERT OR REPLACE INTO kv (k, v) VALUES (?1, ?2)")?;
            let mut del = txn.prepare_cached("DELETE FROM kv WHERE k = ?1")?;
            for op in ops {
                match op {
                    Op::Put(k, v) => {
                        put.execute((k.as_slice(), v.as_slice()))?;
                    }
                    Op::Delete(k) => {
                        del.execute([k.as_slice()])?;
                    }
                }
            }
        }
        txn.commit()?;
        Ok(())
    }

    fn reader(&self, threads: usize) -> Result<Box<dyn Reader + '_>> {
        let conn = Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        set_cache(&conn, self.cache_kib / threads.max(1) as u64)?;
        Ok(Box::new(SqliteReader { conn }))
    }

    fn compact(&mut self) -> Result<bool> {
        let conn = self.writer()?;
        conn.execute_batch("VACUUM; PRAGMA wal_checkpoint(TRUNCATE);")?;
        Ok(true)
    }
}

struct SqliteReader {
    conn: Connection,
}

impl Reader for SqliteReader {
    fn get(&mut self, key: &[u8], expected: &[u8]) -> Result<bool> {
        let mut stmt = self.conn.prepare_cached("SELECT v FROM kv WHERE k = ?1")?;
        let same = stmt
            .query_row([key], |row| Ok(row.get_ref(0)?.as_blob()? == expected))
            .optional()?;
        Ok(same == Some(true))
    }

    fn range(&mut self, start: &[u8], n: usize) -> Result<(usize, u64)> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT v FROM kv WHERE k >= ?1 ORDER BY k LIMIT ?2")?;
        let mut rows = stmt.query((start, i64::try_from(n)?))?;
        let mut count = 0;
        let mut sum = 0u64;
        while let Some(row) = rows.next()? {
            let v = row.get_ref(0)?.as_blob()?;
            count += 1;
            sum += u64::from(v.first().copied().unwrap_or(0));
        }
        Ok((count, sum))
    }

    fn range_rev(&mut self, start: &[u8], n: usize) -> Result<(usize, u64)> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT v FROM kv WHERE k <= ?1 ORDER BY k DESC LIMIT ?2")?;
        let mut rows = stmt.query((start, i64::try_from(n)?))?;
        let mut count = 0;
        let mut sum = 0u64;
        while let Some(row) = rows.next()? {
            let v = row.get_ref(0)?.as_blob()?;
            count += 1;
            sum += u64::from(v.first().copied().unwrap_or(0));
        }
        Ok((count, sum))
    }

    fn scan(&mut self, reverse: bool) -> Result<(usize, u64)> {
        let sql = if reverse {
            "SELECT k, v FROM kv ORDER BY k DESC"
        } else {
            "SELECT k, v FROM kv ORDER BY k"
        };
        let mut stmt = self.conn.prepare_cached(sql)?;
        let mut rows = stmt.query([])?;
        let mut count = 0;
        let mut sum = 0u64;
        while let Some(row) = rows.next()? {
            let k = row.get_ref(0)?.as_blob()?;
            let v = row.get_ref(1)?.as_blob()?;
            count += 1;
            sum += entry_checksum(k, v);
        }
        Ok((count, sum))
    }

    fn get_digest(&mut self, key: &[u8]) -> Result<Option<u64>> {
        let mut stmt = self.conn.prepare_cached("SELECT v FROM kv WHERE k = ?1")?;
        Ok(stmt
            .query_row([key], |row| Ok(value_digest(row.get_ref(0)?.as_blob()?)))
            .optional()?)
    }
}
