//! `Database`: the handle programs hold, and every `impl Database`: this file holds the
//! handle, opening and closing, reads, writes, snapshots and transactions;
//! [`integrity`] validation and corruption events; [`monitoring`] performance metrics
//! and health; `async_ops` the `AsyncDatabase` handle whose methods are futures (with
//! the `async` feature).

#[cfg(feature = "async")]
mod async_ops;
#[cfg(feature = "async")]
pub use async_ops::AsyncDatabase;
mod healing;
mod integrity;
mod monitoring;

use std::ops::RangeBounds;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use crate::audit::AuditTrail;
use crate::batch::{check_key, check_value, WriteBatch};
use crate::breaker::{CircuitBreaker, CircuitBreakerStats, CircuitState};
use crate::bulk::BulkLoad;
use crate::clock::{Clock, SystemClock};
use crate::config::LightningDbConfig;
use crate::engine::{DbInner, WriteRequest};
use crate::error::DatabaseError;
use crate::events::{EventListener, Listeners};
use crate::integrity::CorruptionMonitor;
use crate::iter::{owned_bounds, prefix_bounds, DbIterator};
use crate::recovery_state::RecoveryState;
use crate::snapshot::Snapshot;
use crate::stats::DbStats;
use crate::storage::fs::{FileSystem, StdFileSystem};
use crate::storage::value::PinnedValue;
use crate::storage::wal::{encode_batch, OpRef};
use crate::txn::{Transaction, TransactionOptions, TxnRegistry};

/// What [`Database::get_if_cached`] found without waiting for the disk.
#[derive(Debug)]
pub enum CachedRead {
    /// The key's value.
    Found(PinnedValue),
    /// The key holds no value.
    Missing,
    /// The answer needs a block that is not in memory; nothing was read.
    NeedsIo,
}

/// An open database. Share one handle between threads with `Arc<Database>`: every
/// method takes `&self`, readers never wait for writers, and concurrent writers are
/// committed together (one log write and one sync for the whole group).
///
/// Dropping the handle closes it as [`Database::close`] does, ignoring errors.
pub struct Database {
    pub(crate) inner: Arc<DbInner>,
    /// Applies the corruption action to what the engine's reads report.
    monitor: Arc<CorruptionMonitor>,
    /// Key locks and ids of this database's transactions.
    txns: Arc<TxnRegistry>,
    /// The database's own metrics window and health monitoring.
    monitoring: monitoring::Monitoring,
}

impl std::fmt::Debug for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Database")
            .field("path", &self.inner.path)
            .finish()
    }
}

impl Database {
    /// Opens the database in directory `path` (created if missing) with `config`
    /// (its `path` field is ignored in favour of the argument).
    ///
    /// Errors: `ConfigurationError` for an invalid config (naming the field),
    /// `DatabaseLocked` when another process or handle has it open, corruption and
    /// recovery errors when its files are damaged, `Io` for the rest.
    pub fn open(
        path: impl AsRef<Path>,
        config: LightningDbConfig,
    ) -> Result<Database, DatabaseError> {
        Self::open_with_fs(path, config, Arc::new(StdFileSystem))
    }

    /// Opens the database at `config.path` (default `./lightning-data`).
    pub fn new_with_config(config: LightningDbConfig) -> Result<Database, DatabaseError> {
        let path = config.path.clone();
        Self::open(path, config)
    }

    /// Opens through a custom file-system layer (used by fault-injection tests).
    pub fn open_with_fs(
        path: impl AsRef<Path>,
        config: LightningDbConfig,
        fs: Arc<dyn FileSystem>,
    ) -> Result<Database, DatabaseError> {
        Self::open_with_fs_and_listeners(path, config, fs, Vec::new())
    }

    /// Opens like [`Self::open`] with `listeners` registered from the start, so they hear
    /// the open's own recovery stages as well as every later event (see [`EventListener`]).
    pub fn open_with_listeners(
        path: impl AsRef<Path>,
        config: LightningDbConfig,
        listeners: Vec<Arc<dyn EventListener>>,
    ) -> Result<Database, DatabaseError> {
        Self::open_with_fs_and_listeners(path, config, Arc::new(StdFileSystem), listeners)
    }

    /// Opens like [`Self::open`], calling `progress` with the [`RecoveryState`] at every
    /// step of the recovery (each stage's start and end, and at least every 1% of a long
    /// log replay), on the opening thread. [`Self::recovery_state`] gives the final state.
    pub fn open_with_progress(
        path: impl AsRef<Path>,
        config: LightningDbConfig,
        progress: impl FnMut(&RecoveryState) + Send + 'static,
    ) -> Result<Database, DatabaseError> {
        Self::open_with_listeners(path, config, vec![RecoveryState::listener(progress)])
    }

    /// How this handle's open recovered: every stage completed, with how long it took.
    pub fn recovery_state(&self) -> RecoveryState {
        self.inner.recovery_state.lock().clone()
    }

    /// Opens through a custom file-system layer with `listeners` registered from the start.
    pub fn open_with_fs_and_listeners(
        path: impl AsRef<Path>,
        config: LightningDbConfig,
        fs: Arc<dyn FileSystem>,
        listeners: Vec<Arc<dyn EventListener>>,
    ) -> Result<Database, DatabaseError> {
        Self::open_full(path, config, fs, listeners, Arc::new(SystemClock))
    }

    /// Opens through a custom file-system layer with `clock` as the time of the
    /// database's own reliability work: the circuit breaker's recovery timeout
    /// (`circuit_breaker_enabled`), the backoff of retried background work
    /// (`reliability.retry_backoff_strategy`), including the retries of the open's own
    /// recovery stages, and the self-healing rounds. With a
    /// [`ManualClock`](crate::ManualClock), a test drives all of them without sleeping.
    pub fn open_with_fs_and_clock(
        path: impl AsRef<Path>,
        config: LightningDbConfig,
        fs: Arc<dyn FileSystem>,
        clock: Arc<dyn Clock>,
    ) -> Result<Database, DatabaseError> {
        Self::open_full(path, config, fs, Vec::new(), clock)
    }

    /// [`Self::open_with_fs_and_clock`] with `listeners` registered from the start, so they
    /// hear the open's recovery stages (and their retries on `clock`).
    pub fn open_with_fs_clock_and_listeners(
        path: impl AsRef<Path>,
        config: LightningDbConfig,
        fs: Arc<dyn FileSystem>,
        clock: Arc<dyn Clock>,
        listeners: Vec<Arc<dyn EventListener>>,
    ) -> Result<Database, DatabaseError> {
        Self::open_full(path, config, fs, listeners, clock)
    }

    fn open_full(
        path: impl AsRef<Path>,
        mut config: LightningDbConfig,
        fs: Arc<dyn FileSystem>,
        listeners: Vec<Arc<dyn EventListener>>,
        clock: Arc<dyn Clock>,
    ) -> Result<Database, DatabaseError> {
        config.path = path.as_ref().to_path_buf();
        // The audit trail hears the open's own corruption events; its log is opened once
        // the open holds the directory lock.
        let audit = {
            let c = config.reconciled();
            c.enable_audit_logging
                .then(|| AuditTrail::new(path.as_ref(), c.security.audit_level))
        };
        let mut listeners = listeners;
        if let Some(trail) = &audit {
            listeners.push(Arc::clone(trail) as Arc<dyn EventListener>);
        }
        let listeners = Arc::new(Listeners::new(listeners));
        // Applies the configured corruption action to what opening meets.
        let opened = crate::integrity::monitor::open_with_actions(
            path.as_ref(),
            config,
            fs,
            &listeners,
            &clock,
        )?;
        if let Some(trail) = audit {
            if let Err(e) = trail.attach(Arc::clone(&opened.inner.fs), &opened.inner.config) {
                let _ = opened.inner.shutdown();
                return Err(e);
            }
            if trail.records_access() {
                let _ = opened.inner.audit_access.set(Arc::clone(&trail));
            }
            let _ = opened.inner.audit.set(trail);
        }
        crate::monitor::register(&opened.inner);
        let monitoring = match monitoring::Monitoring::start(&opened.inner, &opened.monitor) {
            Ok(m) => m,
            Err(e) => {
                // The monitoring thread could not start: close what was opened.
                let _ = opened.inner.shutdown();
                return Err(e);
            }
        };
        Ok(Database {
            inner: opened.inner,
            monitor: opened.monitor,
            txns: Arc::default(),
            monitoring,
        })
    }

    /// Registers `listener`: it hears every event from now on (flushes, compactions,
    /// background errors, corruption, write stalls). To hear the open's recovery stages
    /// too, pass it to [`Self::open_with_listeners`] instead.
    pub fn add_listener(&self, listener: Arc<dyn EventListener>) {
        self.inner.listeners.add(listener);
    }

    /// The configuration in force (after reconciling the reference's duplicate fields).
    pub fn config(&self) -> &LightningDbConfig {
        &self.inner.config
    }

    /// The database directory.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// The database's format version: the format its new files are written in, which is
    /// an older one for a database made by an earlier release until it is migrated (or
    /// opened with `upgrade_format_on_open`).
    /// (An encrypted database reports the plain format whose layout its sealed files
    /// use; its `FORMAT` file records `ENCRYPTED_FORMAT_NUMBER`.)
    pub fn format_version(&self) -> crate::storage::format::DatabaseVersion {
        self.inner.format_version
    }

    /// Rotates the data key of an encrypted database: a new random data key (the next
    /// generation) is added to the key file, wrapped by the key-encryption key, before
    /// anything is sealed with it; from then on the log, the manifest and new tables use
    /// it. Files sealed with older keys stay readable (their keys are kept) and are
    /// re-sealed when compaction rewrites them. A crash at any instant leaves a database
    /// that opens with the same key-encryption key and all its data. Returns the new
    /// generation. A plain database: `InvalidArgument`; a failure to write the key file:
    /// `SecurityError::KeyRotationFailed` (the previous key stays current).
    pub fn rotate_key(&self) -> Result<u32, DatabaseError> {
        self.inner.rotate_key()
    }

    /// Replaces the key-encryption key of an encrypted database by `new_kek`: the data
    /// keys are re-wrapped and the key file rewritten (temporary name, sync, rename), and
    /// no data file changes. Before the rename the database opens with the old key only,
    /// after it with `new_kek` only; a crash leaves one or the other. A plain database:
    /// `InvalidArgument`.
    pub fn rewrap_key(&self, new_kek: crate::config::EncryptionKey) -> Result<(), DatabaseError> {
        self.inner.rewrap_key(new_kek)
    }

    /// [`Self::rotate_key`], then every file re-sealed under the new key: the log and the
    /// memtable move to it (a flush), every table is rewritten, the manifest is rolled, and
    /// the older generations are removed from the key file once nothing reads a file
    /// sealed with them (an iterator still reading older tables defers that to the next
    /// call; see [`KeyRotation::retired_generations`](crate::KeyRotation)). A crash at any
    /// instant leaves a database that opens with its key and holds every acknowledged
    /// write. `InvalidArgument` for a plain database.
    pub fn rotate_key_now(&self) -> Result<crate::KeyRotation, DatabaseError> {
        self.inner.rotate_key_now()
    }

    /// Whether the database is encrypted at rest (`security.enable_encryption`).
    pub fn is_encrypted(&self) -> bool {
        self.inner.cache.keys().is_some()
    }

    /// The generation of the data key new files are sealed with; `None` for a plain
    /// database. A new encrypted database starts at generation 1.
    pub fn key_generation(&self) -> Option<u32> {
        self.inner.cache.keys().map(|k| k.current_generation())
    }

    /// Stores `value` under `key`, durably per the configured `Durability`.
    /// Keys must be 1..=`max_key_size` bytes (`EmptyKey`, `KeyTooLarge`), values at most
    /// `max_value_size` bytes (`ValueTooLarge`); a refused call writes nothing.
    pub fn put(&self, key: &[u8], value: &[u8]) -> Result<(), DatabaseError> {
        put(&self.inner, key, value)
    }

    /// The value stored under `key`, or `None`.
    pub fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, DatabaseError> {
        get(&self.inner, key)
    }

    /// Like [`Self::get`], but a value found in a table is handed out inside its cached
    /// block instead of copied into a new vector: a read costs no allocation. The
    /// [`PinnedValue`] dereferences to `[u8]`.
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = lightning_db::Database::open(dir.path(), Default::default()).unwrap();
    /// db.put(b"k", b"value")?;
    /// let v = db.get_pinned(b"k")?.expect("present");
    /// assert_eq!(&*v, b"value");
    /// assert!(db.get_pinned(b"absent")?.is_none());
    /// # Ok::<(), lightning_db::DatabaseError>(())
    /// ```
    pub fn get_pinned(&self, key: &[u8]) -> Result<Option<PinnedValue>, DatabaseError> {
        if key.is_empty() {
            return Err(DatabaseError::EmptyKey);
        }
        let rec = &self.inner.recorder;
        let start = rec.read_start();
        let result = self.inner.get_latest_pinned(key);
        rec.read_done(start, &result);
        if let Some(trail) = self.inner.audit_access.get() {
            trail.access("read", key, result.is_ok());
        }
        result
    }

    /// [`Self::get_pinned`] for a caller that must not wait for the disk, such as an event
    /// loop thread deciding whether to answer in place or hand the read to a worker: the
    /// answer comes from the memtables, the block cache and, for memory-mapped tables,
    /// pages the OS has in memory (`mincore`; a block seen resident is trusted for a
    /// quarter of a second before the kernel is asked again), or is
    /// [`CachedRead::NeedsIo`] without reading anything. The Node binding's
    /// `await db.get(key)` resolves this way in place and goes to the thread pool only on
    /// `NeedsIo` (RocksDB's `kBlockCacheTier` reads follow the same idea).
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = lightning_db::Database::open(dir.path(), Default::default()).unwrap();
    /// use lightning_db::CachedRead;
    /// db.put(b"k", b"value")?;
    /// match db.get_if_cached(b"k")? {
    ///     CachedRead::Found(v) => assert_eq!(&*v, b"value"),
    ///     CachedRead::Missing => unreachable!("just written"),
    ///     CachedRead::NeedsIo => { /* read with db.get_pinned on a worker thread */ }
    /// }
    /// # Ok::<(), lightning_db::DatabaseError>(())
    /// ```
    pub fn get_if_cached(&self, key: &[u8]) -> Result<CachedRead, DatabaseError> {
        if key.is_empty() {
            return Err(DatabaseError::EmptyKey);
        }
        // An answer given here is a read like any other for the metrics; `NeedsIo` is
        // not (the caller reads again, and that read is measured).
        let rec = &self.inner.recorder;
        let start = rec.read_start();
        let answer = match self.inner.get_latest_cached(key) {
            Ok(Err(crate::storage::NeedsIo)) => return Ok(CachedRead::NeedsIo),
            Ok(Ok(Some(v))) => Ok(CachedRead::Found(v)),
            Ok(Ok(None)) => Ok(CachedRead::Missing),
            Err(e) => Err(e),
        };
        rec.read_done(start, &answer);
        answer
    }

    /// True when `key` holds a value.
    pub fn contains_key(&self, key: &[u8]) -> Result<bool, DatabaseError> {
        Ok(self.get(key)?.is_some())
    }

    /// Removes `key`; returns whether it held a value just before (decided atomically
    /// with the delete).
    pub fn delete(&self, key: &[u8]) -> Result<bool, DatabaseError> {
        delete(&self.inner, key)
    }

    /// An empty batch checking sizes against this database's limits.
    pub fn new_batch(&self) -> WriteBatch {
        WriteBatch::with_limits(
            self.inner.config.max_key_size,
            self.inner.config.max_value_size,
        )
    }

    /// Applies every operation of `batch` atomically: all or nothing, after a crash as
    /// well, and readers never see part of it. Sizes are checked against this
    /// database's limits first; one oversized entry refuses the whole batch.
    pub fn write_batch(&self, batch: &WriteBatch) -> Result<(), DatabaseError> {
        write_batch(&self.inner, batch)
    }

    /// Every pair in key order, as of now.
    pub fn iter(&self) -> DbIterator {
        self.range::<std::ops::RangeFull>(..)
    }

    /// Starts an atomic bulk load: any number of puts and deletes, made visible together
    /// by [`BulkLoad::finish`] (and discarded if it is dropped unfinished), with memory
    /// bounded by three write buffers however large the load; see [`BulkLoad`]. While it
    /// is open, writes from other threads wait, and writes from this thread are refused.
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = lightning_db::Database::open(dir.path(), Default::default()).unwrap();
    /// let mut load = db.bulk_load()?;
    /// for i in 0..1000u32 {
    ///     load.put(format!("key{i:04}").as_bytes(), b"value")?;
    /// }
    /// load.finish()?;
    /// assert_eq!(db.get(b"key0999")?, Some(b"value".to_vec()));
    /// # Ok::<(), lightning_db::DatabaseError>(())
    /// ```
    pub fn bulk_load(&self) -> Result<BulkLoad<'_>, DatabaseError> {
        BulkLoad::start(&self.inner)
    }

    /// The pairs whose keys fall in `range` (`db.range(lo..hi)`, `db.range(lo..)`, ...), as of now.
    pub fn range<'a, R: RangeBounds<&'a [u8]>>(&self, range: R) -> DbIterator {
        let (lo, hi) = owned_bounds(&range);
        let (sv, seq) = self.inner.read_view();
        DbIterator::new(arc_swap::Guard::into_inner(sv), seq, lo, hi)
    }

    /// The pairs whose keys start with `prefix`, as of now.
    pub fn scan_prefix(&self, prefix: &[u8]) -> DbIterator {
        let (lo, hi) = prefix_bounds(prefix);
        let (sv, seq) = self.inner.read_view();
        DbIterator::new(arc_swap::Guard::into_inner(sv), seq, lo, hi)
    }

    /// A consistent read-only view as of now.
    pub fn snapshot(&self) -> Snapshot {
        Snapshot::new(Arc::clone(&self.inner))
    }

    /// Starts an optimistic transaction.
    pub fn begin_transaction(&self) -> Result<Transaction, DatabaseError> {
        self.begin_transaction_with(TransactionOptions::default())
    }

    /// Starts a transaction with explicit options (for example pessimistic locking).
    pub fn begin_transaction_with(
        &self,
        options: TransactionOptions,
    ) -> Result<Transaction, DatabaseError> {
        Transaction::begin(Arc::clone(&self.inner), Arc::clone(&self.txns), options)
    }

    /// Writes every memtable to table files and waits for it.
    pub fn flush(&self) -> Result<(), DatabaseError> {
        self.inner.flush()?;
        self.inner.rotate_key_if_due();
        Ok(())
    }

    /// Flushes, then compacts every table into one level, dropping overwritten versions
    /// and tombstones no snapshot needs. Returns when done.
    pub fn compact(&self) -> Result<(), DatabaseError> {
        self.inner.compact_all()?;
        self.inner.rotate_key_if_due();
        Ok(())
    }

    /// Makes every acknowledged write durable now (useful with `Periodic` or `NoSync`).
    pub fn sync(&self) -> Result<(), DatabaseError> {
        self.inner.sync_wal()
    }

    /// Where the database's own circuit breaker stands, with `circuit_breaker_enabled`
    /// (`None` without it): it counts the I/O failures of writes, flushes, compactions and
    /// reads that go to table files, and while open those operations fail at once with
    /// `CircuitBreakerOpen` (see the README's "Circuit breaker and retries").
    pub fn circuit_breaker_state(&self) -> Option<CircuitState> {
        self.inner.breaker.as_ref().map(CircuitBreaker::state)
    }

    /// The counts of the database's own circuit breaker (calls, failures, refusals,
    /// openings), with `circuit_breaker_enabled`.
    pub fn circuit_breaker_stats(&self) -> Option<CircuitBreakerStats> {
        self.inner.breaker.as_ref().map(CircuitBreaker::stats)
    }

    /// Sizes, counters, latency percentiles, throughput over the last interval (see
    /// [`Self::metrics`]) and what recovery did at open.
    pub fn stats(&self) -> DbStats {
        self.monitoring.stats(&self.inner)
    }

    /// Syncs the log, stops background work and releases the directory lock, reporting
    /// a final sync failure. Snapshots, iterators and transactions still alive answer
    /// `DatabaseClosed` to new operations.
    pub fn close(self) -> Result<(), DatabaseError> {
        self.close_shared()
    }

    /// [`Self::close`] through a shared handle (an `AsyncDatabase` whose clones are still
    /// alive): later calls answer `DatabaseClosed`, a second close `Ok`.
    #[cfg_attr(not(feature = "async"), allow(dead_code))]
    pub(crate) fn close_shared(&self) -> Result<(), DatabaseError> {
        self.monitoring.stop();
        self.inner.shutdown()
    }
}

impl Drop for Database {
    fn drop(&mut self) {
        self.monitoring.stop();
        let _ = self.inner.shutdown();
    }
}

// The operations as free functions over the shared core (`AsyncDatabase` shares the
// whole handle instead, so these only serve the methods above).

pub(crate) fn put(inner: &DbInner, key: &[u8], value: &[u8]) -> Result<(), DatabaseError> {
    let cfg = &inner.config;
    check_key(key, cfg.max_key_size)?;
    check_value(value, cfg.max_value_size)?;
    let op = OpRef {
        key,
        value: Some(value),
    };
    let start = inner.recorder.write_start();
    let result = inner.submit(WriteRequest::new(encode_batch(0, std::iter::once(op))));
    inner.recorder.write_done(start, &result);
    if let Some(trail) = inner.audit_access.get() {
        trail.access("write", key, result.is_ok());
    }
    result?;
    inner.counters.puts.fetch_add(1, Ordering::Relaxed);
    Ok(())
}

pub(crate) fn get(inner: &DbInner, key: &[u8]) -> Result<Option<Vec<u8>>, DatabaseError> {
    if key.is_empty() {
        return Err(DatabaseError::EmptyKey);
    }
    let start = inner.recorder.read_start();
    let result = inner.get_latest(key);
    inner.recorder.read_done(start, &result);
    if let Some(trail) = inner.audit_access.get() {
        trail.access("read", key, result.is_ok());
    }
    result
}

pub(crate) fn delete(inner: &DbInner, key: &[u8]) -> Result<bool, DatabaseError> {
    check_key(key, inner.config.max_key_size)?;
    let op = OpRef { key, value: None };
    let mut req = WriteRequest::new(encode_batch(0, std::iter::once(op)));
    req.report_existing = true;
    let start = inner.recorder.write_start();
    let result = inner.submit(req);
    inner.recorder.write_done(start, &result);
    if let Some(trail) = inner.audit_access.get() {
        trail.access("delete", key, result.is_ok());
    }
    let outcome = result?;
    inner.counters.deletes.fetch_add(1, Ordering::Relaxed);
    Ok(outcome.existed)
}

pub(crate) fn write_batch(inner: &DbInner, batch: &WriteBatch) -> Result<(), DatabaseError> {
    let cfg = &inner.config;
    batch.check_limits(cfg.max_key_size, cfg.max_value_size)?;
    let payload = batch.to_payload();
    let start = inner.recorder.write_start();
    // A batch of half a write buffer or more would only pass through the memtable on
    // its way to a table file: it is written as a table directly.
    let result = if payload.len() >= cfg.write_buffer_size / 2 {
        inner.ingest_batch(&payload)
    } else {
        inner.submit(WriteRequest::new(payload)).map(|_| ())
    };
    inner.recorder.write_done(start, &result);
    if let Some(trail) = inner.audit_access.get() {
        trail.access("write_batch", &[], result.is_ok());
    }
    result?;
    inner.counters.batches.fetch_add(1, Ordering::Relaxed);
    Ok(())
}
