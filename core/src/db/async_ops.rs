//! [`AsyncDatabase`]: the database for programs already running an executor.
//!
//! Each call that may wait for the disk hands its work to a small shared thread pool (the
//! `blocking` crate) and resolves when it is done, so it never stalls the caller's
//! executor thread and works under any runtime (tokio, async-std, smol, or a plain
//! `block_on`). A point read whose answer is already in memory resolves in place, without
//! the trip to the pool. Enabled by the `async` cargo feature; programs that don't use it
//! get no runtime and no thread pool.

use std::path::Path;
use std::sync::Arc;

use crate::config::LightningDbConfig;
use crate::db::{CachedRead, Database};
use crate::error::DatabaseError;
use crate::monitor::{HealthReport, PerformanceMetrics};
use crate::recovery_state::RecoveryState;
use crate::stats::DbStats;
use crate::txn::{Transaction, TransactionOptions};
use crate::WriteBatch;

/// An open database whose methods have [`Database`]'s names and return futures.
///
/// Cheap to clone (one reference count): every clone is the same database. No runtime
/// is required or started: the futures run the blocking work on a small shared thread
/// pool and any executor, or `futures::executor::block_on`, can drive them. `get` answers
/// in place when the value (or its absence) is in memory, and goes to the pool only for
/// a read from disk.
///
/// ```
/// # futures_lite::future::block_on(async {
/// use lightning_db::{AsyncDatabase, LightningDbConfig};
/// # let dir = tempfile::tempdir().unwrap();
/// let config = LightningDbConfig { path: dir.path().into(), ..Default::default() };
/// let db = AsyncDatabase::new_with_config(config).await?;
/// db.put(b"hello", b"world").await?;
/// assert_eq!(db.get(b"hello").await?, Some(b"world".to_vec()));
/// let writer = db.clone(); // the same database
/// assert!(writer.delete(b"hello").await?);
/// db.close().await?;
/// # Ok::<(), lightning_db::DatabaseError>(())
/// # }).unwrap();
/// ```
///
/// Dropping a future before it resolves abandons waiting for it: a write already handed
/// to the pool still completes (or fails) on its own. Dropping the last clone closes the
/// database on the thread that drops it, as dropping a [`Database`] does; call
/// [`Self::close`] to close on the pool and hear a final sync failure.
#[derive(Clone)]
pub struct AsyncDatabase {
    db: Arc<Database>,
}

impl std::fmt::Debug for AsyncDatabase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AsyncDatabase")
            .field("path", &self.db.path())
            .finish()
    }
}

impl From<Database> for AsyncDatabase {
    fn from(db: Database) -> Self {
        AsyncDatabase { db: Arc::new(db) }
    }
}

impl AsyncDatabase {
    /// [`Database::open`] as a future: opens (and recovers) the database in `path`.
    pub async fn open(
        path: impl AsRef<Path>,
        config: LightningDbConfig,
    ) -> Result<AsyncDatabase, DatabaseError> {
        let path = path.as_ref().to_path_buf();
        let db = blocking::unblock(move || Database::open(path, config)).await?;
        Ok(db.into())
    }

    /// [`Database::new_with_config`] as a future: opens the database at `config.path`.
    pub async fn new_with_config(
        config: LightningDbConfig,
    ) -> Result<AsyncDatabase, DatabaseError> {
        let db = blocking::unblock(move || Database::new_with_config(config)).await?;
        Ok(db.into())
    }

    /// [`Database::open_with_progress`] as a future: `progress` is called on the pool
    /// thread that runs the open, at every step of its recovery.
    pub async fn open_with_progress(
        path: impl AsRef<Path>,
        config: LightningDbConfig,
        progress: impl FnMut(&RecoveryState) + Send + 'static,
    ) -> Result<AsyncDatabase, DatabaseError> {
        let path = path.as_ref().to_path_buf();
        let db =
            blocking::unblock(move || Database::open_with_progress(path, config, progress)).await?;
        Ok(db.into())
    }

    /// The synchronous handle underneath, for what has no future here (iterators,
    /// snapshots, bulk loads, listeners). Its calls block the calling thread.
    pub fn database(&self) -> &Database {
        &self.db
    }

    /// The [`Database`] itself when this is the last clone; `self` back otherwise.
    pub fn into_database(self) -> Result<Database, AsyncDatabase> {
        Arc::try_unwrap(self.db).map_err(|db| AsyncDatabase { db })
    }

    /// The value stored under `key`, or `None`. Resolves in place when the answer is in
    /// memory (the memtables, the block cache or mapped pages the OS holds); reads the
    /// disk on the thread pool otherwise.
    pub async fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, DatabaseError> {
        match self.db.get_if_cached(key)? {
            CachedRead::Found(v) => return Ok(Some(v.into_vec())),
            CachedRead::Missing => return Ok(None),
            CachedRead::NeedsIo => {}
        }
        let db = Arc::clone(&self.db);
        let key = key.to_vec();
        blocking::unblock(move || db.get(&key)).await
    }

    /// True when `key` holds a value (as [`Self::get`] reads).
    pub async fn contains_key(&self, key: &[u8]) -> Result<bool, DatabaseError> {
        Ok(self.get(key).await?.is_some())
    }

    /// [`Database::put`] as a future: stores `value` under `key`, durably per the
    /// configured `Durability` when it resolves.
    pub async fn put(&self, key: &[u8], value: &[u8]) -> Result<(), DatabaseError> {
        let db = Arc::clone(&self.db);
        let (key, value) = (key.to_vec(), value.to_vec());
        blocking::unblock(move || db.put(&key, &value)).await
    }

    /// [`Database::delete`] as a future: whether `key` held a value just before.
    pub async fn delete(&self, key: &[u8]) -> Result<bool, DatabaseError> {
        let db = Arc::clone(&self.db);
        let key = key.to_vec();
        blocking::unblock(move || db.delete(&key)).await
    }

    /// An empty batch checking sizes against this database's limits.
    pub fn new_batch(&self) -> WriteBatch {
        self.db.new_batch()
    }

    /// [`Database::write_batch`] as a future: every operation of `batch`, atomically.
    pub async fn write_batch(&self, batch: &WriteBatch) -> Result<(), DatabaseError> {
        let db = Arc::clone(&self.db);
        let batch = batch.clone();
        blocking::unblock(move || db.write_batch(&batch)).await
    }

    /// Starts an optimistic transaction (no I/O: it takes a snapshot); commit it with
    /// [`Transaction::commit_async`].
    pub fn begin_transaction(&self) -> Result<Transaction, DatabaseError> {
        self.db.begin_transaction()
    }

    /// Starts a transaction with explicit options (for example pessimistic locking).
    pub fn begin_transaction_with(
        &self,
        options: TransactionOptions,
    ) -> Result<Transaction, DatabaseError> {
        self.db.begin_transaction_with(options)
    }

    /// [`Database::flush`] as a future: every memtable written to table files.
    pub async fn flush(&self) -> Result<(), DatabaseError> {
        self.run(Database::flush).await
    }

    /// [`Database::compact`] as a future.
    pub async fn compact(&self) -> Result<(), DatabaseError> {
        self.run(Database::compact).await
    }

    /// [`Database::sync`] as a future: everything acknowledged so far made durable.
    pub async fn sync(&self) -> Result<(), DatabaseError> {
        self.run(Database::sync).await
    }

    /// [`Database::metrics`] as a future (it measures the database folder on disk).
    pub async fn metrics(&self) -> PerformanceMetrics {
        self.run(Database::metrics).await
    }

    /// [`Database::health`] as a future (without `enable_health_monitoring` it runs a
    /// round of checks, which reads table blocks).
    pub async fn health(&self) -> HealthReport {
        self.run(Database::health).await
    }

    /// [`Database::stats`] as a future (it lists the database folder).
    pub async fn stats(&self) -> DbStats {
        self.run(Database::stats).await
    }

    /// How this database's open recovered (kept in memory: no I/O).
    pub fn recovery_state(&self) -> RecoveryState {
        self.db.recovery_state()
    }

    /// The configuration in force.
    pub fn config(&self) -> &LightningDbConfig {
        self.db.config()
    }

    /// The database directory.
    pub fn path(&self) -> &Path {
        self.db.path()
    }

    /// [`Database::close`] as a future: syncs the log, stops background work and
    /// releases the directory lock, reporting a final sync failure. It closes the
    /// database for every clone: their later calls answer `DatabaseClosed` (and their
    /// `close` `Ok`).
    pub async fn close(self) -> Result<(), DatabaseError> {
        blocking::unblock(move || match Arc::try_unwrap(self.db) {
            Ok(db) => db.close(),
            Err(shared) => shared.close_shared(),
        })
        .await
    }

    /// Runs `f` on the thread pool with a handle to the database.
    async fn run<T: Send + 'static>(&self, f: fn(&Database) -> T) -> T {
        let db = Arc::clone(&self.db);
        blocking::unblock(move || f(&db)).await
    }
}

impl Transaction {
    /// [`Transaction::commit`] as a future (the commit's log write and sync run on the
    /// thread pool).
    pub async fn commit_async(self) -> Result<(), DatabaseError> {
        blocking::unblock(move || self.commit()).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn async_round_trip_under_tokio() {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = AsyncDatabase::open(dir.path(), LightningDbConfig::default())
            .await
            .expect("open");
        db.put(b"k", b"v").await.expect("put");
        assert_eq!(db.get(b"k").await.expect("get"), Some(b"v".to_vec()));
        let mut batch = db.new_batch();
        batch.put(b"a", b"1").expect("batch put");
        batch.delete(b"k").expect("batch delete");
        db.write_batch(&batch).await.expect("batch");
        assert_eq!(db.get(b"k").await.expect("get"), None);
        assert!(!db.delete(b"k").await.expect("delete"));
        let mut tx = db.begin_transaction().expect("begin");
        tx.put(b"t", b"x").expect("tx put");
        tx.commit_async().await.expect("commit");
        assert_eq!(db.get(b"t").await.expect("get"), Some(b"x".to_vec()));
        assert!(matches!(
            db.put(b"", b"v").await,
            Err(DatabaseError::EmptyKey)
        ));
        assert!(matches!(db.get(b"").await, Err(DatabaseError::EmptyKey)));
        db.close().await.expect("close");
    }

    #[test]
    fn async_works_without_any_runtime() {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = futures_lite::future::block_on(AsyncDatabase::open(
            dir.path(),
            LightningDbConfig::default(),
        ))
        .expect("open");
        futures_lite::future::block_on(db.put(b"k", b"v")).expect("put");
        assert_eq!(db.database().get(b"k").expect("get"), Some(b"v".to_vec()));
        let db = db.into_database().expect("the only clone");
        db.close().expect("close");
    }

    /// A value in memory is answered on the future's first poll, without the thread
    /// pool; a block on disk is read on the pool, which leaves it cached for the next.
    #[test]
    fn get_resolves_in_place_from_memory_and_reads_the_disk_on_the_pool() {
        use futures_lite::future::{block_on, poll_once};
        let dir = tempfile::tempdir().expect("tempdir");
        let config = LightningDbConfig {
            // Table blocks come from the block cache only, so a fresh table needs I/O.
            mmap_reads: false,
            ..LightningDbConfig::default()
        };
        let db = block_on(AsyncDatabase::open(dir.path(), config)).expect("open");
        let mut batch = db.new_batch();
        for i in 0..2000u32 {
            batch
                .put(format!("key{i:06}").as_bytes(), &i.to_le_bytes())
                .expect("batch put");
        }
        block_on(db.write_batch(&batch)).expect("batch");
        block_on(db.flush()).expect("flush");
        block_on(db.put(b"fresh", b"in the memtable")).expect("put");

        let in_memory = block_on(poll_once(db.get(b"fresh"))).expect("resolved in place");
        assert_eq!(in_memory.expect("get"), Some(b"in the memtable".to_vec()));
        let gets = db.database().stats().gets;

        let k = b"key000777";
        assert!(matches!(
            db.database().get_if_cached(k).expect("cached"),
            CachedRead::NeedsIo
        ));
        assert_eq!(
            block_on(db.get(k)).expect("get"),
            Some(777u32.to_le_bytes().to_vec())
        );
        assert!(matches!(
            db.database().get_if_cached(k).expect("cached"),
            CachedRead::Found(_)
        ));
        let now_cached = block_on(poll_once(db.get(b"key000778"))).expect("resolved in place");
        assert_eq!(
            now_cached.expect("get"),
            Some(778u32.to_le_bytes().to_vec())
        );
        // Counted: the disk read, the `Found` answer and the in-place read; the `NeedsIo`
        // answer is not a read.
        assert_eq!(db.database().stats().gets, gets + 3);
    }

    #[test]
    fn closing_one_clone_closes_the_database_for_all() {
        let dir = tempfile::tempdir().expect("tempdir");
        futures_lite::future::block_on(async {
            let db = AsyncDatabase::open(dir.path(), LightningDbConfig::default())
                .await
                .expect("open");
            let other = db.clone();
            let other = other.into_database().expect_err("two clones");
            db.close().await.expect("close");
            assert!(matches!(
                other.put(b"k", b"v").await,
                Err(DatabaseError::DatabaseClosed)
            ));
            assert!(matches!(
                other.get(b"k").await,
                Err(DatabaseError::DatabaseClosed)
            ));
            other.close().await.expect("closing again is not an error");
            // The directory lock is free: the database opens again.
            let again = AsyncDatabase::open(dir.path(), LightningDbConfig::default())
                .await
                .expect("reopen");
            again.close().await.expect("close");
        });
    }
}
