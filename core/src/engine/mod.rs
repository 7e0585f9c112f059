//! The engine behind [`crate::Database`]: recovery, the group-commit write path,
//! reads, and the background flush and compaction threads.
//!
//! Lock order, to stay deadlock-free: `wal` → `sv_update` → `versions`.
//! Readers take none of them: they load the current [`SuperVersion`] atomically.
//!
//! This file holds the engine's state ([`DbInner`], the super-version, write requests),
//! its state checks, poisoning and shutdown. Each other concern has its own file:
//! `open` (lock, manifest, log replay, cleanup, as named steps), `write` (group commit
//! and memtable switches), `reads`, `snapshots`, `ingest` (batches and bulk loads written
//! as tables), `background` (flush, compaction, seek-index builds, periodic sync) and
//! `report` (statistics).

mod background;
mod guard;
mod healing;
mod ingest;
mod keys;
mod open;
mod reads;
mod report;
mod snapshots;
mod stages;
mod write;

pub use keys::KeyRotation;
pub(crate) use open::lock_existing_directory;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use parking_lot::{Condvar, Mutex};

use crate::audit::{AuditTrail, OperationResult, RiskLevel, SecurityEventType};
use crate::breaker::{CircuitBreaker, CircuitBreakerConfig};
use crate::clock::Clock;
use crate::config::{Durability, LightningDbConfig};
use crate::error::DatabaseError;
use crate::events::{
    BackgroundErrorInfo, BackgroundJob, CompactionInfo, FlushInfo, Listeners, RecoveryStage,
    RecoveryStageInfo, StagePhase, StallCause, WriteStallInfo,
};
use crate::measure::OpRecorder;
use crate::recovery_state::RecoveryState;
use crate::stats::{BreakerSummary, DbStats, LevelStats, RecoveryReport};
use crate::storage::cache::BlockCache;
use crate::storage::coding::key_prefix;
use crate::storage::compaction::{self, LevelTargets, RunContext, RunWriter, L0_STOP_WRITES};
use crate::storage::corruption::CorruptionListener;
use crate::storage::format::{self, DatabaseVersion, FormatRecord, VersionSource};
use crate::storage::fs::{DirLock, FileSystem};
use crate::storage::iter::Source;
use crate::storage::manifest::{self, ManifestWriter, VersionEdit};
use crate::storage::memtable::{MemTable, MemTableCursor};
use crate::storage::record::FinishedExtent;
use crate::storage::table::builder::{BuildOptions, TableMeta};
use crate::storage::table::reader::Table;
use crate::storage::table::table_file_name;
use crate::storage::value::PinnedValue;
use crate::storage::version::{Version, NUM_LEVELS};
use crate::storage::wal::{self, BatchOps, WalWriter, BATCH_HEADER_LEN};

/// Immutable memtables allowed to wait for flushing before writers stall.
const MAX_IMMUTABLE_MEMTABLES: usize = 2;
/// Upper bound on the bytes one write group gathers, to bound latency.
const MAX_GROUP_BYTES: usize = 4 << 20;
/// Batches with at least this many operations are sorted before they go into the
/// memtable, which then inserts them in one pass (see [`MemTable::insert_many`]).
const SORTED_INSERT_MIN: u64 = 64;

/// A batch's operations as versions (operation `i` gets sequence `first + i`), sorted in
/// internal order: key ascending, newest first. Keys are ordered by their 8-byte prefix
/// first, which settles most comparisons without a `memcmp`.
pub(super) fn internal_order<'a>(
    ops: impl Iterator<Item = wal::OpRef<'a>>,
    first: u64,
) -> Vec<crate::storage::VersionRef<'a>> {
    let mut keyed: Vec<(u64, crate::storage::VersionRef<'a>)> = ops
        .enumerate()
        .map(|(i, op)| (key_prefix(op.key), (op.key, first + i as u64, op.value)))
        .collect();
    keyed.sort_unstable_by(|(pa, a), (pb, b)| {
        pa.cmp(pb)
            .then_with(|| a.0.cmp(b.0))
            .then_with(|| b.1.cmp(&a.1))
    });
    keyed.into_iter().map(|(_, v)| v).collect()
}

/// Everything a reader needs, swapped atomically as a whole.
pub(crate) struct SuperVersion {
    pub mem: Arc<MemTable>,
    /// Immutable memtables, newest first.
    pub imms: Vec<Arc<MemTable>>,
    pub version: Arc<Version>,
}

impl SuperVersion {
    /// Cursors over every source, newest first.
    pub fn cursors(&self) -> Vec<Source> {
        let mut out: Vec<Source> = Vec::with_capacity(2 + self.imms.len() + NUM_LEVELS);
        // An empty memtable can only gain versions newer than any reader of this
        // super version can see (they are published after they are inserted).
        if !self.mem.is_empty() {
            out.push(Source::Mem(MemTableCursor::new(Arc::clone(&self.mem))));
        }
        for imm in &self.imms {
            out.push(Source::Mem(MemTableCursor::new(Arc::clone(imm))));
        }
        self.version.cursors(&mut out);
        out
    }

    /// Whether the live memtable may hold a key with this hash. An empty one (after a
    /// flush, in a database only read) is settled by its count, one cache line every read
    /// shares, rather than by a probe of its filter, a line of its own per key.
    #[inline]
    fn mem_may_contain(&self, hash: u64) -> bool {
        !self.mem.is_empty() && self.mem.may_contain(hash)
    }

    /// The newest version of `key` at or below `snapshot`: `(seq, value)`, value `None` for a tombstone.
    pub fn get_entry(
        &self,
        key: &[u8],
        snapshot: u64,
    ) -> Result<Option<crate::storage::FoundVersion>, DatabaseError> {
        let hash = crate::storage::table::bloom::key_hash(key);
        if self.mem_may_contain(hash) {
            if let Some(found) = self.mem.get(key, snapshot) {
                return Ok(Some(found));
            }
        }
        for imm in &self.imms {
            if imm.may_contain(hash) {
                if let Some(found) = imm.get(key, snapshot) {
                    return Ok(Some(found));
                }
            }
        }
        self.version.get(key, snapshot, hash)
    }

    /// The newest version of `key` at or below `snapshot` in the memtables.
    pub fn get_in_memory(&self, key: &[u8], snapshot: u64) -> Option<crate::storage::FoundVersion> {
        let hash = crate::storage::table::bloom::key_hash(key);
        if self.mem_may_contain(hash) {
            if let Some(found) = self.mem.get(key, snapshot) {
                return Some(found);
            }
        }
        self.imms
            .iter()
            .filter(|imm| imm.may_contain(hash))
            .find_map(|imm| imm.get(key, snapshot))
    }

    /// The newest version of `key` at or below `snapshot` in the tables alone.
    pub fn get_from_tables(
        &self,
        key: &[u8],
        snapshot: u64,
    ) -> Result<Option<crate::storage::FoundVersion>, DatabaseError> {
        let hash = crate::storage::table::bloom::key_hash(key);
        self.version.get(key, snapshot, hash)
    }

    /// [`get_entry`](Self::get_entry) without waiting for the disk: memtables always
    /// answer; tables answer when the block they need is in memory.
    pub fn get_entry_cached(
        &self,
        key: &[u8],
        snapshot: u64,
    ) -> Result<Result<Option<crate::storage::FoundVersion>, crate::storage::NeedsIo>, DatabaseError>
    {
        let hash = crate::storage::table::bloom::key_hash(key);
        if self.mem_may_contain(hash) {
            if let Some(found) = self.mem.get(key, snapshot) {
                return Ok(Ok(Some(found)));
            }
        }
        for imm in &self.imms {
            if imm.may_contain(hash) {
                if let Some(found) = imm.get(key, snapshot) {
                    return Ok(Ok(Some(found)));
                }
            }
        }
        self.version.get_cached(key, snapshot, hash)
    }
}

/// A transaction's request to check, at commit, that nobody wrote its keys since it began.
pub(crate) struct ConflictCheck {
    /// Each key with the sequence number after which a commit to it is a conflict.
    pub keys: Vec<(Vec<u8>, u64)>,
}

/// What a successful write reports back.
#[derive(Debug, Clone, Copy)]
pub(crate) struct WriteOutcome {
    /// For single deletes: whether the key held a value just before.
    pub existed: bool,
}

/// One caller's write, waiting in the group-commit queue.
pub(crate) struct WriteRequest {
    /// The batch in the log's encoding; the leader stamps its sequence number.
    pub payload: Vec<u8>,
    pub check: Option<ConflictCheck>,
    pub report_existing: bool,
    result: Mutex<Option<Result<WriteOutcome, DatabaseError>>>,
}

impl WriteRequest {
    pub fn new(payload: Vec<u8>) -> Self {
        Self {
            payload,
            check: None,
            report_existing: false,
            result: Mutex::new(None),
        }
    }

    fn set(&self, r: Result<WriteOutcome, DatabaseError>) {
        *self.result.lock() = Some(r);
    }

    fn bytes(&self) -> usize {
        self.payload.len()
    }

    fn ops(&self) -> BatchOps<'_> {
        BatchOps::new(self.payload.get(BATCH_HEADER_LEN..).unwrap_or_default())
    }

    fn count(&self) -> u64 {
        u64::from(wal::batch_count(&self.payload))
    }
}

#[derive(Default)]
struct WriteQueue {
    pending: Vec<Arc<WriteRequest>>,
    leader_active: bool,
}

/// State the flush and compaction threads wait on.
#[derive(Default)]
struct BackgroundState {
    shutdown: bool,
    compaction_requested: bool,
    /// A memtable's searches asked for a seek index (built by the flush thread).
    index_requested: bool,
    /// Set when background work failed for good; writers see it as poisoning.
    error: Option<String>,
    /// The flush thread is writing a memtable or telling listeners it did.
    flush_running: bool,
}

struct VersionSet {
    manifest: ManifestWriter,
    current: Arc<Version>,
}

/// Counters kept while the database is open.
#[derive(Default)]
pub(crate) struct Counters {
    pub puts: AtomicU64,
    pub deletes: AtomicU64,
    /// Point reads: striped, as every reader thread adds to it.
    pub gets: crate::striped::StripedCounter,
    pub batches: AtomicU64,
    pub bytes_written: AtomicU64,
    pub wal_syncs: AtomicU64,
    pub write_groups: AtomicU64,
    pub flushes: AtomicU64,
    pub compactions: AtomicU64,
    pub compaction_bytes_written: AtomicU64,
    pub stall_micros: AtomicU64,
    pub conflicts: AtomicU64,
    pub background_errors: AtomicU64,
    /// Flushes and compactions tried again after a transient failure.
    pub background_retries: AtomicU64,
    pub ingested_batches: AtomicU64,
}

/// The shared core of an open database.
pub(crate) struct DbInner {
    pub path: PathBuf,
    pub config: LightningDbConfig,
    pub fs: Arc<dyn FileSystem>,
    lock: Mutex<Option<Box<dyn DirLock>>>,
    pub cache: Arc<BlockCache>,
    super_version: ArcSwap<SuperVersion>,
    sv_update: Mutex<()>,
    last_seq: AtomicU64,
    next_file: AtomicU64,
    queue: Mutex<WriteQueue>,
    queue_cv: Condvar,
    wal: Mutex<WalWriter>,
    versions: Mutex<VersionSet>,
    /// The active log segment's and the manifest's finished lengths, for live checks.
    pub wal_extent: Arc<FinishedExtent>,
    pub manifest_extent: Arc<FinishedExtent>,
    /// This handle, for callbacks that must not keep it alive (memtable index wakers).
    weak_self: std::sync::OnceLock<std::sync::Weak<DbInner>>,
    bg: Mutex<BackgroundState>,
    bg_cv: Condvar,
    compaction_lock: Mutex<()>,
    snapshots: Mutex<BTreeMap<u64, usize>>,
    poisoned: Mutex<Option<String>>,
    is_poisoned: AtomicBool,
    closed: AtomicBool,
    /// The thread holding an open bulk load (which holds the log lock), if any.
    bulk_owner: Mutex<Option<std::thread::ThreadId>>,
    bulk_active: AtomicBool,
    threads: Mutex<Vec<JoinHandle<()>>>,
    targets: LevelTargets,
    pub counters: Counters,
    pub recovery: RecoveryReport,
    pub opened_at: Instant,
    /// Who hears the engine's events.
    pub listeners: Arc<Listeners>,
    /// The database's format version: new log segments are written in its log format.
    pub format_version: DatabaseVersion,
    /// How the open's recovery went, stage by stage.
    pub recovery_state: Mutex<RecoveryState>,
    /// Latency, errors and refusals of the facade's operations (also a listener).
    pub recorder: Arc<OpRecorder>,
    /// The database's audit log (`enable_audit_logging`), set once the open succeeded.
    pub audit: std::sync::OnceLock<Arc<AuditTrail>>,
    /// The same trail when it records data access (`AuditLevel::Comprehensive`); unset
    /// otherwise, so the read and write paths pay one check.
    pub audit_access: std::sync::OnceLock<Arc<AuditTrail>>,
    /// Where the engine's retries, breaker and self-healing read the time and wait (a
    /// `ManualClock` in tests).
    pub clock: Arc<dyn Clock>,
    /// With `circuit_breaker_enabled`: the breaker guarding the database's own I/O (see
    /// `guard`).
    pub breaker: Option<CircuitBreaker>,
    /// Self-healing state and the record of its actions (see `healing`).
    pub healing: healing::Healing,
    /// The key-encryption key of an encrypted database (it changes with `rewrap_key`);
    /// held while a rotation or re-wrap writes `KEYS`, so they run one at a time.
    kek: Mutex<Option<crate::config::EncryptionKey>>,
    /// Held by `rotate_key_now`: one at a time.
    key_change: Mutex<()>,
}

/// How the engine writes tables: the configuration's knobs, and the data keys of an
/// encrypted database (the block cache holds them), so every table writer seals.
pub(super) fn build_options(config: &LightningDbConfig, cache: &BlockCache) -> BuildOptions {
    BuildOptions {
        block_size: config.block_size,
        compress: config.compression_enabled,
        bloom_bits_per_key: config.bloom_bits_per_key,
        checksum: config.checksum_algorithm,
        durable: true,
        keys: cache.keys(),
    }
}

pub(super) fn parse_number(name: &str, suffix: &str) -> Option<u64> {
    name.strip_suffix(suffix)?.parse().ok()
}

impl DbInner {
    /// Records a security event in the database's audit log when it keeps one (nothing
    /// otherwise): the one entry point for the features that audit themselves (repair,
    /// quarantine, migration, key rotation and re-wrap, failed key checks, self-healing).
    /// The event is dropped when the configured `audit_level` does not record its kind.
    pub(crate) fn audit_record(
        &self,
        event_type: SecurityEventType,
        operation: &str,
        result: OperationResult,
        risk_level: RiskLevel,
        metadata: std::collections::HashMap<String, String>,
    ) -> Result<(), DatabaseError> {
        match self.audit.get() {
            Some(trail) => trail.record(event_type, operation, result, risk_level, metadata),
            None => Ok(()),
        }
    }

    // ----- state checks -------------------------------------------------------------

    /// Fails when the handle was closed.
    pub fn check_open(&self) -> Result<(), DatabaseError> {
        if self.closed.load(Ordering::Acquire) {
            return Err(DatabaseError::DatabaseClosed);
        }
        // Halted after corruption (CorruptionAction::Halt): refuse until reopened.
        self.cache.gate().check()
    }

    /// Refuses a write, flush or sync from the thread that holds an open bulk load: it
    /// holds the log lock, so waiting for the lock would wait forever.
    pub(super) fn refuse_in_bulk_thread(&self) -> Result<(), DatabaseError> {
        if self.bulk_active.load(Ordering::Acquire)
            && *self.bulk_owner.lock() == Some(std::thread::current().id())
        {
            return Err(DatabaseError::InvalidArgument {
                message: "this thread holds an open bulk load; finish or drop it before \
                          writing, flushing or syncing another way"
                    .to_string(),
            });
        }
        Ok(())
    }

    pub(super) fn check_writable(&self) -> Result<(), DatabaseError> {
        self.check_open()?;
        if self.is_poisoned.load(Ordering::Acquire) {
            let reason = self.poisoned.lock().clone().unwrap_or_default();
            return Err(DatabaseError::Poisoned { reason });
        }
        Ok(())
    }

    /// Refuses every later write until the database is reopened. An fsync that failed
    /// may have dropped dirty pages, so no later success can be trusted.
    pub(super) fn poison(&self, reason: String) {
        let mut p = self.poisoned.lock();
        if p.is_none() {
            *p = Some(reason);
        }
        self.is_poisoned.store(true, Ordering::Release);
        self.recorder.mark_refused();
        self.bg_cv.notify_all();
    }

    /// True once the handle was closed.
    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// Why writes are refused, if they are.
    pub fn poison_reason(&self) -> Option<String> {
        self.poisoned.lock().clone()
    }

    /// The sequence number of the newest visible write.
    pub fn last_sequence(&self) -> u64 {
        self.last_seq.load(Ordering::Acquire)
    }

    /// The current reader state.
    pub(crate) fn super_version(&self) -> Arc<SuperVersion> {
        self.super_version.load_full()
    }

    /// The current reader state and the newest sequence number it holds, for a read that
    /// registers no snapshot. The sequence number is read between two loads of the same
    /// super version, which makes the pair consistent: every write up to it is in that
    /// super version (writers insert, and ingestion installs its table, before they
    /// publish), and no flush or compaction behind its tables dropped a version it can
    /// see (their cut-off was taken before they were installed). Reading the sequence
    /// number first and the super version later could miss versions a newer flush
    /// dropped; the other way round could miss an ingested batch.
    pub(crate) fn read_view(&self) -> (arc_swap::Guard<Arc<SuperVersion>>, u64) {
        loop {
            let sv = self.super_version.load();
            let seq = self.last_sequence();
            if Arc::ptr_eq(&sv, &self.super_version.load()) {
                return (sv, seq);
            }
        }
    }

    pub(super) fn new_file_number(&self) -> u64 {
        self.next_file.fetch_add(1, Ordering::SeqCst)
    }

    // ----- shutdown and stats --------------------------------------------------------

    /// Syncs the log, stops the background threads and releases the directory lock.
    /// Later calls through any handle answer `DatabaseClosed`.
    pub fn shutdown(&self) -> Result<(), DatabaseError> {
        if self.closed.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        // Recorded while the directory lock is still held.
        if let Some(trail) = self.audit.get() {
            let _ = trail.close(&self.config);
        }
        // A clean close also trims the log's unused zeros (left alone after a failure:
        // the next open reads them as a clean end either way).
        let sync_result = if self.is_poisoned.load(Ordering::Acquire) {
            Ok(())
        } else {
            self.wal.lock().seal()
        };
        {
            let mut bg = self.bg.lock();
            bg.shutdown = true;
            self.bg_cv.notify_all();
        }
        let threads: Vec<JoinHandle<()>> = self.threads.lock().drain(..).collect();
        let me = std::thread::current().id();
        for t in threads {
            if t.thread().id() != me {
                let _ = t.join();
            }
        }
        // Before the directory is released: from now on it may become another database's.
        self.cache.mark_closed();
        self.lock.lock().take();
        sync_result
    }
}

pub(super) fn meta_of(t: &Table) -> TableMeta {
    TableMeta {
        number: t.number,
        file_size: t.file_size,
        smallest: t.props.smallest.clone(),
        largest: t.props.largest.clone(),
        min_seq: t.props.min_seq,
        max_seq: t.props.max_seq,
        entries: t.props.entries,
        tombstones: t.props.tombstones,
    }
}

pub(super) fn apply_edit_meta(
    levels: &mut [Vec<TableMeta>],
    edit: &VersionEdit,
) -> Result<(), DatabaseError> {
    for &(level, number) in &edit.deleted {
        if let Some(l) = levels.get_mut(level) {
            l.retain(|m| m.number != number);
        }
    }
    for (level, meta) in &edit.added {
        let l = levels
            .get_mut(*level)
            .ok_or_else(|| DatabaseError::ManifestCorrupted {
                details: format!(
                    "table {} is placed at level {level}, beyond the last level",
                    meta.number
                ),
                suggested_action: "run `lightning repair` to rebuild the manifest".to_string(),
            })?;
        l.push(meta.clone());
    }
    Ok(())
}
