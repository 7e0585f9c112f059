//! The engine behind [`crate::Database`]: recovery, the group-commit write path,
//! reads, and the background flush and compaction threads.
//!
//! Lock order, to stay deadlock-free: `wal` → `sv_update` → `versions`.
//! Readers take none of them: they load the current [`SuperVersion`] atomically.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use parking_lot::{Condvar, Mutex};

use crate::config::{Durability, LightningDbConfig};
use crate::error::DatabaseError;
use crate::stats::{DbStats, LevelStats, RecoveryReport};
use crate::storage::cache::BlockCache;
use crate::storage::coding::key_prefix;
use crate::storage::compaction::{self, LevelTargets, RunContext, RunWriter, L0_STOP_WRITES};
use crate::storage::corruption::CorruptionListener;
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
fn internal_order<'a>(
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

    /// The newest version of `key` at or below `snapshot`: `(seq, value)`, value `None` for a tombstone.
    pub fn get_entry(
        &self,
        key: &[u8],
        snapshot: u64,
    ) -> Result<Option<crate::storage::FoundVersion>, DatabaseError> {
        let hash = crate::storage::table::bloom::key_hash(key);
        if self.mem.may_contain(hash) {
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
    pub gets: AtomicU64,
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
}

/// Starts a named thread; failing to is an initialization error.
fn spawn_named(
    name: &str,
    work: Box<dyn FnOnce() + Send>,
) -> Result<JoinHandle<()>, DatabaseError> {
    std::thread::Builder::new()
        .name(name.to_string())
        .spawn(work)
        .map_err(|e| DatabaseError::InitializationFailed {
            stage: "start background threads".to_string(),
            reason: e.to_string(),
        })
}

fn build_options(config: &LightningDbConfig) -> BuildOptions {
    BuildOptions {
        block_size: config.block_size,
        compress: config.compression_enabled,
        bloom_bits_per_key: config.bloom_bits_per_key,
        checksum: config.checksum_algorithm,
        durable: true,
    }
}

fn parse_number(name: &str, suffix: &str) -> Option<u64> {
    name.strip_suffix(suffix)?.parse().ok()
}

impl DbInner {
    /// Opens (or creates) the database at `path`, recovering from its log.
    pub fn open(
        path: &Path,
        config: LightningDbConfig,
        fs: Arc<dyn FileSystem>,
        corruption: Arc<dyn CorruptionListener>,
        verify_every_read: bool,
    ) -> Result<Arc<DbInner>, DatabaseError> {
        config.validate()?;
        let config = config.reconciled();
        let started = Instant::now();
        fs.create_dir_all(path)
            .map_err(|e| DatabaseError::io("create database directory", path, &e))?;
        let lock_path = path.join("LOCK");
        let lock = fs.lock(&lock_path).map_err(|e| {
            if e.kind() == std::io::ErrorKind::WouldBlock {
                DatabaseError::DatabaseLocked {
                    path: path.display().to_string(),
                }
            } else {
                DatabaseError::io("lock database", &lock_path, &e)
            }
        })?;
        let cache =
            Arc::new(BlockCache::new(config.cache_size).with_mapped_tables(config.mmap_reads));
        cache.gate().configure(corruption, verify_every_read);
        let names = fs
            .list_dir(path)
            .map_err(|e| DatabaseError::io("list database directory", path, &e))?;

        // 1. The manifest says which tables are live.
        let mut levels: Vec<Vec<TableMeta>> = vec![Vec::new(); NUM_LEVELS];
        let mut log_number = 0u64;
        let mut next_file = 1u64;
        let mut last_seq = 0u64;
        let mut old_manifest = None;
        match manifest::read_current(fs.as_ref(), path)? {
            Some(number) => {
                old_manifest = Some(number);
                for edit in manifest::read_manifest(fs.as_ref(), path, number)? {
                    apply_edit_meta(&mut levels, &edit)?;
                    if let Some(n) = edit.log_number {
                        log_number = n;
                    }
                    if let Some(n) = edit.next_file_number {
                        next_file = next_file.max(n);
                    }
                    if let Some(n) = edit.last_sequence {
                        last_seq = last_seq.max(n);
                    }
                }
            }
            None => {
                if names.iter().any(|n| n.ends_with(".sst")) {
                    return Err(DatabaseError::CurrentFileInvalid {
                        details: format!(
                            "{} holds table files but no CURRENT file",
                            path.display()
                        ),
                    });
                }
            }
        }
        // File numbers on disk are never reused, whatever the manifest last recorded.
        for name in &names {
            let base = name.strip_suffix(".tmp").unwrap_or(name);
            let n = parse_number(base, ".sst")
                .or_else(|| parse_number(base, ".log"))
                .or_else(|| base.strip_prefix("MANIFEST-").and_then(|n| n.parse().ok()));
            if let Some(n) = n {
                next_file = next_file.max(n + 1);
            }
        }

        let mut version = Version::default();
        for (level, metas) in levels.iter().enumerate() {
            for meta in metas {
                let table_path = path.join(table_file_name(meta.number));
                if !fs.exists(&table_path) {
                    return Err(DatabaseError::TableFileMissing {
                        file: table_path.display().to_string(),
                        suggested_action: "restore the file from a backup, or run `lightning repair` to drop it from the manifest".to_string(),
                    });
                }
                let table = Table::open(Arc::clone(&fs), path, meta.number, Arc::clone(&cache))?;
                version.levels[level].push(Arc::new(table));
            }
        }
        version.normalize();

        // 2. Replay the log segments the tables do not cover yet.
        let mut segments: Vec<u64> = names
            .iter()
            .filter_map(|n| parse_number(n, ".log"))
            .filter(|&n| n >= log_number)
            .collect();
        segments.sort_unstable();
        // Old segments are removed only after the edit that retired them is durable, so
        // the manifest's own segment can be missing while later ones exist only if that
        // edit was lost since (a damaged last manifest record dropped as if torn): the
        // tables it named would otherwise be deleted below as orphans, silently.
        if old_manifest.is_some() && segments.first().is_some_and(|&n| n > log_number) {
            return Err(DatabaseError::ManifestCorrupted {
                details: format!(
                    "the manifest's log segment {} is missing while later segments exist: a \
                     manifest edit was lost",
                    wal::wal_file_name(log_number)
                ),
                suggested_action: "restore the database from a backup, or run `lightning \
                                   repair` to rebuild the manifest from the table files"
                    .to_string(),
            });
        }
        let recovered = MemTable::new(0);
        let mut report = RecoveryReport::default();
        for (i, &segment) in segments.iter().enumerate() {
            let seg_path = path.join(wal::wal_file_name(segment));
            let is_last = i + 1 == segments.len();
            let replay = wal::replay_segment(fs.as_ref(), &seg_path, is_last, |first_seq, ops| {
                // Sequence numbers are handed out without holes, and everything before
                // the log is in the tables: a jump means history went missing (such as
                // an ingested batch whose manifest edit was lost).
                if first_seq > last_seq + 1 {
                    return Err(DatabaseError::SequenceGap {
                        expected: last_seq + 1,
                        found: first_seq,
                    });
                }
                for (j, op) in ops.iter().enumerate() {
                    recovered.insert(op.key, first_seq + j as u64, op.value);
                }
                let end = first_seq + ops.len() as u64;
                last_seq = last_seq.max(end.saturating_sub(1));
                Ok(())
            })?;
            report.wal_segments_replayed += 1;
            report.wal_records_replayed += replay.records;
            if replay.torn_tail_bytes > 0 {
                report.torn_tail_bytes_truncated += replay.torn_tail_bytes;
                report.torn_tail_segment = Some(seg_path.display().to_string());
            }
        }
        report.wal_entries_replayed = recovered.len() as u64;

        let next_file = AtomicU64::new(next_file);
        let new_number = || next_file.fetch_add(1, Ordering::SeqCst);

        // 3. Write what the log held into a level-0 table, so the old segments can go.
        let mut edit_added: Vec<(usize, TableMeta)> = Vec::new();
        if !recovered.is_empty() {
            let never_bottom = |_: &[u8]| false;
            let ctx = RunContext {
                fs: fs.as_ref(),
                dir: path,
                build: build_options(&config),
                target_file_bytes: u64::MAX,
                smallest_snapshot: last_seq,
                next_file_number: &new_number,
            };
            let mut writer = RunWriter::new(ctx, &never_bottom);
            for (key, seq, value) in recovered.entries() {
                writer.add(key, seq, value)?;
            }
            for meta in writer.finish()? {
                let table = Table::open(Arc::clone(&fs), path, meta.number, Arc::clone(&cache))?;
                version.levels[0].push(Arc::new(table));
                edit_added.push((0, meta));
            }
            version.normalize();
        }
        drop(recovered);

        // 4. A fresh manifest holding the whole state, then a fresh log segment.
        let wal_number = new_number();
        let manifest_number = new_number();
        let snapshot = VersionEdit {
            log_number: Some(wal_number),
            next_file_number: Some(next_file.load(Ordering::SeqCst)),
            last_sequence: Some(last_seq),
            deleted: Vec::new(),
            added: version.all_tables().map(|(l, t)| (l, meta_of(t))).collect(),
        };
        let mut manifest_writer = ManifestWriter::create(
            fs.as_ref(),
            path,
            manifest_number,
            config.checksum_algorithm,
            &snapshot,
        )?;
        let manifest_extent = Arc::new(FinishedExtent::default());
        manifest_writer.publish_to(Arc::clone(&manifest_extent));
        let mut wal_writer =
            WalWriter::create(fs.as_ref(), path, wal_number, config.checksum_algorithm)?;
        let wal_extent = Arc::new(FinishedExtent::default());
        wal_writer.publish_to(Arc::clone(&wal_extent));

        // 5. Remove what nothing refers to any more: old logs and manifests, orphan tables.
        let live: std::collections::HashSet<u64> =
            version.all_tables().map(|(_, t)| t.number).collect();
        for name in &names {
            let obsolete = name.ends_with(".tmp")
                || parse_number(name, ".log").is_some_and(|n| n < wal_number)
                || parse_number(name, ".sst").is_some_and(|n| !live.contains(&n))
                || name
                    .strip_prefix("MANIFEST-")
                    .and_then(|n| n.parse::<u64>().ok())
                    .is_some_and(|n| n != manifest_number);
            if obsolete {
                let _ = fs.remove_file(&path.join(name));
                if parse_number(name, ".sst").is_some() {
                    report.orphan_tables_removed += 1;
                }
            }
        }
        fs.sync_dir(path)
            .map_err(|e| DatabaseError::io("sync directory", path, &e))?;
        report.recovery_time = started.elapsed();

        let version = Arc::new(version);
        let targets = LevelTargets::from_write_buffer(config.write_buffer_size);
        let inner = Arc::new(DbInner {
            path: path.to_path_buf(),
            fs,
            lock: Mutex::new(Some(lock)),
            cache,
            super_version: ArcSwap::from_pointee(SuperVersion {
                mem: Arc::new(MemTable::with_filter(
                    wal_number,
                    config.write_buffer_size,
                    config.memtable_index_min_versions,
                )),
                imms: Vec::new(),
                version: Arc::clone(&version),
            }),
            sv_update: Mutex::new(()),
            last_seq: AtomicU64::new(last_seq),
            next_file: AtomicU64::new(next_file.load(Ordering::SeqCst)),
            queue: Mutex::new(WriteQueue::default()),
            queue_cv: Condvar::new(),
            wal: Mutex::new(wal_writer),
            wal_extent,
            manifest_extent,
            weak_self: std::sync::OnceLock::new(),
            bulk_owner: Mutex::new(None),
            bulk_active: AtomicBool::new(false),
            versions: Mutex::new(VersionSet {
                manifest: manifest_writer,
                current: version,
            }),
            bg: Mutex::new(BackgroundState {
                compaction_requested: true,
                ..Default::default()
            }),
            bg_cv: Condvar::new(),
            compaction_lock: Mutex::new(()),
            snapshots: Mutex::new(BTreeMap::new()),
            poisoned: Mutex::new(None),
            is_poisoned: AtomicBool::new(false),
            closed: AtomicBool::new(false),
            threads: Mutex::new(Vec::new()),
            targets,
            counters: Counters::default(),
            recovery: report,
            opened_at: Instant::now(),
            config,
        });
        let _ = inner.weak_self.set(Arc::downgrade(&inner));
        inner
            .super_version
            .load()
            .mem
            .set_index_waker(inner.index_waker());
        inner.start_background_threads()?;
        Ok(inner)
    }

    /// Runs `work` on a thread of its own named `name`, joined when the database closes
    /// (the work must return once [`Self::check_open`] fails). The layers above the
    /// engine start their background work this way (the `Paranoid` verifier).
    pub fn spawn_background(
        &self,
        name: &str,
        work: Box<dyn FnOnce() + Send>,
    ) -> Result<(), DatabaseError> {
        let handle = spawn_named(name, work)?;
        self.threads.lock().push(handle);
        Ok(())
    }

    fn start_background_threads(self: &Arc<Self>) -> Result<(), DatabaseError> {
        let mut threads = self.threads.lock();
        let spawn = spawn_named;
        let me = Arc::clone(self);
        threads.push(spawn("lightning-flush", Box::new(move || me.flush_loop()))?);
        let me = Arc::clone(self);
        threads.push(spawn(
            "lightning-compact",
            Box::new(move || me.compaction_loop()),
        )?);
        if let Durability::Periodic(ms) = self.config.durability {
            let me = Arc::clone(self);
            threads.push(spawn(
                "lightning-sync",
                Box::new(move || me.periodic_sync_loop(ms)),
            )?);
        }
        Ok(())
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
    fn refuse_in_bulk_thread(&self) -> Result<(), DatabaseError> {
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

    fn check_writable(&self) -> Result<(), DatabaseError> {
        self.check_open()?;
        if self.is_poisoned.load(Ordering::Acquire) {
            let reason = self.poisoned.lock().clone().unwrap_or_default();
            return Err(DatabaseError::Poisoned { reason });
        }
        Ok(())
    }

    /// Refuses every later write until the database is reopened. An fsync that failed
    /// may have dropped dirty pages, so no later success can be trusted.
    fn poison(&self, reason: String) {
        let mut p = self.poisoned.lock();
        if p.is_none() {
            *p = Some(reason);
        }
        self.is_poisoned.store(true, Ordering::Release);
        self.bg_cv.notify_all();
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

    fn new_file_number(&self) -> u64 {
        self.next_file.fetch_add(1, Ordering::SeqCst)
    }

    // ----- snapshots ---------------------------------------------------------------

    /// Releases a registration made by [`Self::acquire_snapshot`].
    pub fn release_snapshot(&self, seq: u64) {
        let mut snaps = self.snapshots.lock();
        if let Some(count) = snaps.get_mut(&seq) {
            *count -= 1;
            if *count == 0 {
                snaps.remove(&seq);
            }
        }
    }

    /// Takes a registered snapshot of the newest state.
    pub fn acquire_snapshot(&self) -> u64 {
        // Registering under the lock keeps a compaction from computing its cut-off
        // between reading the sequence number and registering it.
        let mut snaps = self.snapshots.lock();
        let seq = self.last_sequence();
        *snaps.entry(seq).or_insert(0) += 1;
        seq
    }

    fn smallest_snapshot(&self) -> u64 {
        let snaps = self.snapshots.lock();
        let last = self.last_sequence();
        snaps.keys().next().copied().unwrap_or(last).min(last)
    }

    // ----- reads -------------------------------------------------------------------

    /// The value of `key` as of `snapshot`.
    pub fn get_at(&self, key: &[u8], snapshot: u64) -> Result<Option<Vec<u8>>, DatabaseError> {
        self.check_open()?;
        self.counters.gets.fetch_add(1, Ordering::Relaxed);
        let sv = self.super_version.load();
        Ok(sv
            .get_entry(key, snapshot)?
            .and_then(|(_, v)| v)
            .map(PinnedValue::into_vec))
    }

    /// The newest value of `key` (see [`Self::read_view`]).
    pub fn get_latest(&self, key: &[u8]) -> Result<Option<Vec<u8>>, DatabaseError> {
        Ok(self.get_latest_pinned(key)?.map(PinnedValue::into_vec))
    }

    /// The newest value of `key`, left in its cached block when it comes from a table.
    pub fn get_latest_pinned(&self, key: &[u8]) -> Result<Option<PinnedValue>, DatabaseError> {
        self.check_open()?;
        self.counters.gets.fetch_add(1, Ordering::Relaxed);
        let (sv, seq) = self.read_view();
        Ok(sv.get_entry(key, seq)?.and_then(|(_, v)| v))
    }

    // ----- writes ------------------------------------------------------------------

    /// Queues `req` for group commit and waits for its outcome.
    pub fn submit(&self, req: WriteRequest) -> Result<WriteOutcome, DatabaseError> {
        self.refuse_in_bulk_thread()?;
        self.check_writable()?;
        let req = Arc::new(req);
        let mut queue = self.queue.lock();
        queue.pending.push(Arc::clone(&req));
        loop {
            if let Some(result) = req.result.lock().take() {
                return result;
            }
            if !queue.leader_active {
                queue.leader_active = true;
                let mut bytes = 0;
                let mut take = 0;
                for r in &queue.pending {
                    if take > 0 && bytes + r.bytes() > MAX_GROUP_BYTES {
                        break;
                    }
                    bytes += r.bytes();
                    take += 1;
                }
                let group: Vec<Arc<WriteRequest>> = queue.pending.drain(..take).collect();
                drop(queue);
                self.write_group(&group);
                queue = self.queue.lock();
                queue.leader_active = false;
                self.queue_cv.notify_all();
                continue;
            }
            self.queue_cv.wait(&mut queue);
        }
    }

    fn write_group(&self, group: &[Arc<WriteRequest>]) {
        let fail_all = |e: DatabaseError| {
            for r in group {
                r.set(Err(e.clone()));
            }
        };
        let mut wal = self.wal.lock();
        if let Err(e) = self.check_writable() {
            return fail_all(e);
        }
        if let Err(e) = self.make_room(&mut wal) {
            return fail_all(e);
        }
        let sv = self.super_version.load_full();
        let mut seq = self.last_sequence();
        let track_keys = group.iter().any(|r| r.check.is_some() || r.report_existing);
        // Keys written by earlier members of this group: (sequence, still has a value).
        let mut group_keys: HashMap<&[u8], (u64, bool)> = HashMap::new();
        let mut framed = Vec::new();
        let mut accepted: Vec<(&Arc<WriteRequest>, u64, bool)> = Vec::with_capacity(group.len());
        for req in group {
            if let Some(check) = &req.check {
                if let Err(e) = self.validate(check, &sv, &group_keys) {
                    req.set(Err(e));
                    continue;
                }
            }
            let existed = if req.report_existing {
                match req.ops().next() {
                    Some(op) => match group_keys.get(op.key) {
                        Some(&(_, present)) => present,
                        None => match sv.get_entry(op.key, u64::MAX) {
                            Ok(found) => found.is_some_and(|(_, v)| v.is_some()),
                            Err(e) => {
                                req.set(Err(e));
                                continue;
                            }
                        },
                    },
                    None => false,
                }
            } else {
                false
            };
            let count = req.count();
            if count == 0 {
                req.set(Ok(WriteOutcome { existed }));
                continue;
            }
            let first = seq + 1;
            wal.frame_batch(&mut framed, &req.payload, first);
            seq += count;
            if track_keys {
                for (i, op) in req.ops().enumerate() {
                    group_keys.insert(op.key, (first + i as u64, op.value.is_some()));
                }
            }
            accepted.push((req, first, existed));
        }
        if accepted.is_empty() {
            return;
        }
        let durable = wal.append(&framed).and_then(|()| {
            if self.config.durability == Durability::Sync {
                self.counters.wal_syncs.fetch_add(1, Ordering::Relaxed);
                wal.sync()
            } else {
                Ok(())
            }
        });
        if let Err(e) = durable {
            self.poison(format!("writing the log failed: {e}"));
            for (req, _, _) in &accepted {
                req.set(Err(e.clone()));
            }
            return;
        }
        let mut bytes = 0u64;
        for (req, first, _) in &accepted {
            if req.count() >= SORTED_INSERT_MIN {
                let versions = internal_order(req.ops(), *first);
                bytes += versions
                    .iter()
                    .map(|(k, _, v)| (k.len() + v.map_or(0, <[u8]>::len)) as u64)
                    .sum::<u64>();
                sv.mem.insert_many(&versions);
                continue;
            }
            for (i, op) in req.ops().enumerate() {
                sv.mem.insert(op.key, first + i as u64, op.value);
                bytes += (op.key.len() + op.value.map_or(0, <[u8]>::len)) as u64;
            }
        }
        // Publishing after every insert makes each batch appear to readers all at once.
        self.last_seq.store(seq, Ordering::Release);
        self.counters.write_groups.fetch_add(1, Ordering::Relaxed);
        self.counters
            .bytes_written
            .fetch_add(bytes, Ordering::Relaxed);
        for (req, _, existed) in accepted {
            req.set(Ok(WriteOutcome { existed }));
        }
    }

    fn validate(
        &self,
        check: &ConflictCheck,
        sv: &SuperVersion,
        group_keys: &HashMap<&[u8], (u64, bool)>,
    ) -> Result<(), DatabaseError> {
        for (key, since) in &check.keys {
            let latest = match group_keys.get(key.as_slice()) {
                Some(&(seq, _)) => Some(seq),
                None => sv.get_entry(key, u64::MAX)?.map(|(seq, _)| seq),
            };
            if let Some(seq) = latest.filter(|s| s > since) {
                self.counters.conflicts.fetch_add(1, Ordering::Relaxed);
                return Err(DatabaseError::TransactionConflict {
                    key: key.clone(),
                    conflicting_tx: seq,
                });
            }
        }
        Ok(())
    }

    /// Switches to a fresh memtable when the current one is full, first waiting
    /// (a write stall) while too many are queued for flushing or level 0 is too deep.
    fn make_room(&self, wal: &mut WalWriter) -> Result<(), DatabaseError> {
        let mut stalled: Option<Instant> = None;
        loop {
            let sv = self.super_version.load();
            let full = sv.mem.approximate_bytes() >= self.config.write_buffer_size;
            let l0_stop = sv.version.levels[0].len() >= L0_STOP_WRITES;
            if !full && !l0_stop {
                break;
            }
            if full && !l0_stop && sv.imms.len() < MAX_IMMUTABLE_MEMTABLES {
                self.switch_memtable(wal)?;
                break;
            }
            self.check_writable()?;
            if self.closed.load(Ordering::Acquire) {
                return Err(DatabaseError::DatabaseClosed);
            }
            stalled.get_or_insert_with(Instant::now);
            let mut bg = self.bg.lock();
            bg.compaction_requested = true;
            self.bg_cv.notify_all();
            self.bg_cv.wait_for(&mut bg, Duration::from_millis(50));
            if let Some(err) = bg.error.clone() {
                return Err(DatabaseError::Poisoned { reason: err });
            }
        }
        if let Some(start) = stalled {
            self.counters
                .stall_micros
                .fetch_add(start.elapsed().as_micros() as u64, Ordering::Relaxed);
        }
        Ok(())
    }

    fn switch_memtable(&self, wal: &mut WalWriter) -> Result<(), DatabaseError> {
        // The finished segment is made durable whatever the durability mode, and its
        // unused pre-extension zeros are cut off, before the next one exists: only the
        // newest segment can ever end in a torn record or in zeros.
        if let Err(e) = wal.seal() {
            self.poison(format!("syncing the log failed: {e}"));
            return Err(e);
        }
        let number = self.new_file_number();
        // Creating a segment syncs its header and the directory: a failure there is a
        // failed fsync like any other, so it poisons (never retried and trusted).
        let mut new_wal = WalWriter::create(
            self.fs.as_ref(),
            &self.path,
            number,
            self.config.checksum_algorithm,
        )
        .inspect_err(|e| self.poison(format!("creating a log segment failed: {e}")))?;
        new_wal.publish_to(Arc::clone(&self.wal_extent));
        *wal = new_wal;
        let _guard = self.sv_update.lock();
        let sv = self.super_version.load_full();
        let mut imms = Vec::with_capacity(sv.imms.len() + 1);
        imms.push(Arc::clone(&sv.mem));
        imms.extend(sv.imms.iter().cloned());
        let mem = Arc::new(MemTable::with_filter(
            number,
            self.config.write_buffer_size,
            self.config.memtable_index_min_versions,
        ));
        mem.set_index_waker(self.index_waker());
        self.super_version.store(Arc::new(SuperVersion {
            mem,
            imms,
            version: Arc::clone(&sv.version),
        }));
        self.bg_cv.notify_all();
        Ok(())
    }

    /// Makes every acknowledged write durable now.
    pub fn sync_wal(&self) -> Result<(), DatabaseError> {
        self.check_open()?;
        self.refuse_in_bulk_thread()?;
        let mut wal = self.wal.lock();
        wal.sync()
            .inspect_err(|e| self.poison(format!("syncing the log failed: {e}")))
    }

    /// Moves the current memtable to disk and waits until every memtable is flushed.
    pub fn flush(&self) -> Result<(), DatabaseError> {
        self.refuse_in_bulk_thread()?;
        self.check_writable()?;
        {
            let mut wal = self.wal.lock();
            if !self.super_version.load().mem.is_empty() {
                self.switch_memtable(&mut wal)?;
            }
        }
        self.wait_for_flushes(|| self.check_open())
    }

    /// Waits until every immutable memtable is flushed, failing when background work
    /// failed for good or when `still_allowed` says the caller may not go on waiting.
    fn wait_for_flushes(
        &self,
        still_allowed: impl Fn() -> Result<(), DatabaseError>,
    ) -> Result<(), DatabaseError> {
        let mut bg = self.bg.lock();
        loop {
            if let Some(err) = bg.error.clone() {
                return Err(DatabaseError::Poisoned { reason: err });
            }
            if self.super_version.load().imms.is_empty() {
                return Ok(());
            }
            still_allowed()?;
            self.bg_cv.notify_all();
            self.bg_cv.wait_for(&mut bg, Duration::from_millis(20));
        }
    }

    /// Flushes, then merges every table into one level, dropping every overwritten
    /// version and tombstone that no snapshot needs.
    pub fn compact_all(&self) -> Result<(), DatabaseError> {
        self.flush()?;
        let _c = self.compaction_lock.lock();
        let version = self.versions.lock().current.clone();
        if let Some(job) = compaction::full(&version) {
            self.run_compaction(&job, &version)?;
        }
        Ok(())
    }

    /// Writes a large batch straight into tables instead of through the log
    /// and memtable (ingestion). The table is durable before the manifest names it, and
    /// the manifest edit is one record, so the batch is all or nothing after a crash.
    ///
    /// Memtables are flushed first: reads look in memory before tables, so no older
    /// version of an ingested key may remain in a memtable.
    pub fn ingest_batch(&self, payload: &[u8]) -> Result<(), DatabaseError> {
        let count = u64::from(wal::batch_count(payload));
        if count == 0 {
            self.check_writable()?;
            return Ok(());
        }
        let (wal, first) = self.begin_ingest()?;
        let last = first + count - 1;
        let (metas, bytes) = self.write_ops_run(
            payload.get(BATCH_HEADER_LEN..).unwrap_or_default(),
            first,
            true,
        )?;
        self.install_ingested(&metas, last, bytes)?;
        drop(wal);
        Ok(())
    }

    /// Writes encoded batch operations (operation `i` taking sequence `first + i`) as a
    /// sorted run, keeping the last operation on each key; returns the run and the key and
    /// value bytes kept.
    pub(crate) fn write_ops_run(
        &self,
        ops: &[u8],
        first: u64,
        durable: bool,
    ) -> Result<(Vec<TableMeta>, u64), DatabaseError> {
        // Later operations on a key win: in internal order the newest version of each key
        // comes first, and only it is kept.
        let mut ops = internal_order(BatchOps::new(ops), first);
        ops.dedup_by(|later, earlier| later.0 == earlier.0);
        let metas = self.write_run(durable, |add| {
            for &(key, seq, value) in &ops {
                add(key, seq, value)?;
            }
            Ok(())
        })?;
        let bytes = ops
            .iter()
            .map(|(key, _, value)| (key.len() + value.map_or(0, <[u8]>::len)) as u64)
            .sum();
        Ok((metas, bytes))
    }

    /// Takes the log lock for an ingestion (a batch or a bulk load) and returns it with
    /// the first sequence number the ingestion may use. Memtables are flushed first:
    /// reads look in memory before tables, so no older version of an ingested key may
    /// remain in a memtable.
    pub(crate) fn begin_ingest(
        &self,
    ) -> Result<(parking_lot::MutexGuard<'_, WalWriter>, u64), DatabaseError> {
        self.refuse_in_bulk_thread()?;
        self.check_writable()?;
        // Holding the log lock keeps every other writer out until the data is visible.
        let mut wal = self.wal.lock();
        self.check_writable()?;
        if !self.super_version.load().mem.is_empty() {
            self.switch_memtable(&mut wal)?;
        }
        self.wait_for_flushes(|| self.check_writable())?;
        Ok((wal, self.last_sequence() + 1))
    }

    /// Marks the calling thread as the holder of an open bulk load (`true`) or clears it.
    pub(crate) fn set_bulk_owner(&self, held: bool) {
        *self.bulk_owner.lock() = held.then(|| std::thread::current().id());
        self.bulk_active.store(held, Ordering::Release);
    }

    /// Writes the versions `feed` hands over (in internal order, one per key) as a sorted
    /// run of new table files, not yet part of any version. Tombstones are kept: older
    /// versions of their keys may sit in deeper levels.
    pub(crate) fn write_run(
        &self,
        durable: bool,
        feed: impl FnOnce(
            &mut dyn FnMut(&[u8], u64, Option<&[u8]>) -> Result<(), DatabaseError>,
        ) -> Result<(), DatabaseError>,
    ) -> Result<Vec<TableMeta>, DatabaseError> {
        let never_bottom = |_: &[u8]| false;
        let new_number = || self.new_file_number();
        let ctx = RunContext {
            fs: self.fs.as_ref(),
            dir: &self.path,
            build: BuildOptions {
                durable,
                ..build_options(&self.config)
            },
            target_file_bytes: self.targets.target_file_bytes.max(64 << 20),
            smallest_snapshot: 0,
            next_file_number: &new_number,
        };
        let mut writer = RunWriter::new(ctx, &never_bottom);
        let fed = feed(&mut |key, seq, value| writer.add(key, seq, value));
        match fed {
            Ok(()) => writer.finish(),
            Err(e) => {
                writer.abandon();
                Err(e)
            }
        }
    }

    /// Makes the tables of an ingestion (written by [`Self::write_run`], holding
    /// sequence numbers up to `last`) part of the database in one manifest edit. The
    /// caller holds the log lock taken by [`Self::begin_ingest`].
    pub(crate) fn install_ingested(
        &self,
        metas: &[TableMeta],
        last: u64,
        bytes: u64,
    ) -> Result<(), DatabaseError> {
        let tables = self.open_tables(metas)?;
        // Each table goes to the deepest level nothing at or above overlaps (as RocksDB
        // places ingested files), so bulk-loaded data is read as one sorted run rather
        // than as level-0 files every read must probe. Only while no compaction runs: one
        // could otherwise write overlapping output behind the choice.
        let compaction_idle = self.compaction_lock.try_lock();
        let _guard = self.sv_update.lock();
        let current = self.versions.lock().current.clone();
        let placed = metas
            .iter()
            .map(|m| {
                let level = match compaction_idle {
                    Some(_) => current.deepest_free_level(&m.smallest, &m.largest),
                    None => 0,
                };
                (level, m.clone())
            })
            .collect();
        let edit = VersionEdit {
            log_number: None,
            next_file_number: Some(self.next_file.load(Ordering::SeqCst)),
            last_sequence: Some(last),
            deleted: Vec::new(),
            added: placed,
        };
        let version = self.install_edit(&edit, tables, &[])?;
        self.publish_version(version);
        self.last_seq.store(last, Ordering::Release);
        drop(_guard);
        drop(compaction_idle);
        self.counters
            .bytes_written
            .fetch_add(bytes, Ordering::Relaxed);
        self.counters
            .ingested_batches
            .fetch_add(1, Ordering::Relaxed);
        let mut bg = self.bg.lock();
        bg.compaction_requested = true;
        self.bg_cv.notify_all();
        Ok(())
    }

    // ----- background work -----------------------------------------------------------

    /// What a memtable calls when its searches want a seek index: the flush thread
    /// builds it, so no reader waits for the walk.
    fn index_waker(&self) -> crate::storage::skiplist::IndexWaker {
        let me = self.weak_self.get().cloned().unwrap_or_default();
        Box::new(move || {
            if let Some(inner) = me.upgrade() {
                inner.bg.lock().index_requested = true;
                inner.bg_cv.notify_all();
            }
        })
    }

    /// Builds the active memtable's seek index if its searches asked for one, or (with
    /// `quiet`) if its index missed inserts that raced the build and none came since the
    /// last tick, so a rebuild now is exact. Immutable memtables are not indexed: they
    /// are about to be flushed. A build gives way when a memtable waits to be flushed or
    /// the database closes. Returns whether an index was built.
    fn build_memtable_index(&self, quiet: bool) -> bool {
        let mem = Arc::clone(&self.super_version.load().mem);
        let give_way =
            || self.closed.load(Ordering::Acquire) || !self.super_version.load().imms.is_empty();
        if quiet {
            mem.refresh_index_if_quiet(&give_way)
        } else {
            mem.build_index_if_wanted(&give_way)
        }
    }

    fn flush_loop(self: Arc<Self>) {
        enum Work {
            Flush,
            Index,
            Tick,
        }
        // Index builds are paced to take at most a tenth of this thread's time, so a
        // workload that writes fast and reads now and then does not rebuild endlessly.
        let mut index_not_before = Instant::now();
        loop {
            let work = {
                let mut bg = self.bg.lock();
                loop {
                    if bg.shutdown || bg.error.is_some() {
                        return;
                    }
                    if !self.super_version.load().imms.is_empty() {
                        break Work::Flush;
                    }
                    let now = Instant::now();
                    if bg.index_requested {
                        if now >= index_not_before {
                            bg.index_requested = false;
                            break Work::Index;
                        }
                        self.bg_cv.wait_for(&mut bg, index_not_before - now);
                        continue;
                    }
                    if self
                        .bg_cv
                        .wait_for(&mut bg, Duration::from_millis(200))
                        .timed_out()
                        && now >= index_not_before
                    {
                        break Work::Tick;
                    }
                }
            };
            match work {
                Work::Index | Work::Tick => {
                    let started = Instant::now();
                    if self.build_memtable_index(matches!(work, Work::Tick)) {
                        index_not_before = Instant::now() + started.elapsed() * 9;
                    }
                    continue;
                }
                Work::Flush => {}
            }
            if let Err(e) = self.flush_oldest() {
                self.counters
                    .background_errors
                    .fetch_add(1, Ordering::Relaxed);
                let reason = format!("flushing a memtable failed: {e}");
                self.poison(reason.clone());
                self.bg.lock().error = Some(reason);
                self.bg_cv.notify_all();
                return;
            }
            let mut bg = self.bg.lock();
            bg.compaction_requested = true;
            self.bg_cv.notify_all();
        }
    }

    fn flush_oldest(&self) -> Result<(), DatabaseError> {
        let Some(imm) = self.super_version.load().imms.last().cloned() else {
            return Ok(());
        };
        let smallest_snapshot = self.smallest_snapshot();
        let never_bottom = |_: &[u8]| false;
        let new_number = || self.new_file_number();
        let ctx = RunContext {
            fs: self.fs.as_ref(),
            dir: &self.path,
            build: build_options(&self.config),
            target_file_bytes: u64::MAX,
            smallest_snapshot,
            next_file_number: &new_number,
        };
        let mut writer = RunWriter::new(ctx, &never_bottom);
        for (key, seq, value) in imm.entries() {
            if let Err(e) = writer.add(key, seq, value) {
                writer.abandon();
                return Err(e);
            }
        }
        let metas = writer.finish()?;
        let tables = self.open_tables(&metas)?;

        let _guard = self.sv_update.lock();
        let sv = self.super_version.load_full();
        let imms: Vec<Arc<MemTable>> = sv
            .imms
            .iter()
            .filter(|m| !Arc::ptr_eq(m, &imm))
            .cloned()
            .collect();
        let log_number = imms
            .iter()
            .map(|m| m.wal_number)
            .chain(std::iter::once(sv.mem.wal_number))
            .min()
            .unwrap_or(sv.mem.wal_number);
        let edit = VersionEdit {
            log_number: Some(log_number),
            next_file_number: Some(self.next_file.load(Ordering::SeqCst)),
            last_sequence: Some(self.last_sequence()),
            deleted: Vec::new(),
            added: metas.iter().map(|m| (0, m.clone())).collect(),
        };
        let version = self.install_edit(&edit, tables, &[])?;
        self.super_version.store(Arc::new(SuperVersion {
            mem: Arc::clone(&sv.mem),
            imms,
            version,
        }));
        drop(_guard);
        self.counters.flushes.fetch_add(1, Ordering::Relaxed);
        self.remove_logs_below(log_number);
        Ok(())
    }

    fn open_tables(&self, metas: &[TableMeta]) -> Result<Vec<Arc<Table>>, DatabaseError> {
        metas
            .iter()
            .map(|m| {
                Table::open(
                    Arc::clone(&self.fs),
                    &self.path,
                    m.number,
                    Arc::clone(&self.cache),
                )
                .map(Arc::new)
            })
            .collect()
    }

    /// Records `edit` in the manifest and makes the resulting version current.
    /// Callers hold `sv_update`. A manifest that cannot be written poisons the database.
    fn install_edit(
        &self,
        edit: &VersionEdit,
        added: Vec<Arc<Table>>,
        removed: &[Arc<Table>],
    ) -> Result<Arc<Version>, DatabaseError> {
        let mut versions = self.versions.lock();
        if let Err(e) = versions.manifest.append(edit) {
            self.poison(format!("writing the manifest failed: {e}"));
            return Err(e);
        }
        let mut next = (*versions.current).clone();
        for level in next.levels.iter_mut() {
            level.retain(|t| !removed.iter().any(|r| r.number == t.number));
        }
        let levels_of: HashMap<u64, usize> =
            edit.added.iter().map(|(l, m)| (m.number, *l)).collect();
        for table in added {
            let level = levels_of.get(&table.number).copied().unwrap_or(0);
            next.levels[level].push(table);
        }
        next.normalize();
        for t in removed {
            // A moved table is removed from one level and added to another: still live.
            if !levels_of.contains_key(&t.number) {
                t.mark_obsolete();
            }
        }
        let next = Arc::new(next);
        versions.current = Arc::clone(&next);
        Ok(next)
    }

    /// Deletes log segments whose records are all in tables. `log_number` comes from
    /// the oldest live memtable, so the segment being written is never below it (and
    /// this must not take the `wal` lock: an ingesting writer holds it while waiting
    /// for flushes).
    fn remove_logs_below(&self, log_number: u64) {
        if let Ok(names) = self.fs.list_dir(&self.path) {
            for name in names {
                if let Some(n) = parse_number(&name, ".log") {
                    if n < log_number {
                        let _ = self.fs.remove_file(&self.path.join(name));
                    }
                }
            }
        }
    }

    fn compaction_loop(self: Arc<Self>) {
        let mut failures = 0u32;
        loop {
            {
                let mut bg = self.bg.lock();
                while !bg.shutdown && bg.error.is_none() && !bg.compaction_requested {
                    self.bg_cv.wait_for(&mut bg, Duration::from_millis(500));
                }
                if bg.shutdown || bg.error.is_some() {
                    return;
                }
                bg.compaction_requested = false;
            }
            loop {
                let _c = self.compaction_lock.lock();
                let version = self.versions.lock().current.clone();
                let Some(job) = compaction::pick(&version, &self.targets) else {
                    break;
                };
                let outcome = if job.is_trivial_move() {
                    self.move_tables(&job)
                } else {
                    self.run_compaction(&job, &version)
                };
                match outcome {
                    Ok(()) => failures = 0,
                    Err(e) => {
                        self.counters
                            .background_errors
                            .fetch_add(1, Ordering::Relaxed);
                        failures += 1;
                        if self.is_poisoned.load(Ordering::Acquire) {
                            return;
                        }
                        // A failed compaction loses nothing (its inputs stay live); back
                        // off and let the next request retry it.
                        drop(_c);
                        let _ = e;
                        std::thread::sleep(Duration::from_millis(
                            100 * u64::from(failures.min(50)),
                        ));
                        break;
                    }
                }
                if self.bg.lock().shutdown {
                    return;
                }
            }
        }
    }

    /// Makes `version` the one readers see, keeping the current memtables. Callers hold
    /// `sv_update`, so no other change to the super version can interleave.
    fn publish_version(&self, version: Arc<Version>) {
        let sv = self.super_version.load_full();
        self.super_version.store(Arc::new(SuperVersion {
            mem: Arc::clone(&sv.mem),
            imms: sv.imms.clone(),
            version,
        }));
    }

    /// Carries out a trivial-move job: the manifest relabels the input files to the output
    /// level, and no byte of table data is rewritten.
    fn move_tables(&self, job: &compaction::CompactionJob) -> Result<(), DatabaseError> {
        let moved: Vec<Arc<Table>> = job.inputs.iter().map(|(_, t)| Arc::clone(t)).collect();
        let edit = VersionEdit {
            log_number: None,
            next_file_number: None,
            last_sequence: None,
            deleted: job.inputs.iter().map(|(l, t)| (*l, t.number)).collect(),
            added: moved
                .iter()
                .map(|t| (job.output_level, meta_of(t)))
                .collect(),
        };
        let _guard = self.sv_update.lock();
        let version = self.install_edit(&edit, moved.clone(), &moved)?;
        self.publish_version(version);
        self.counters.compactions.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    fn run_compaction(
        &self,
        job: &compaction::CompactionJob,
        version: &Version,
    ) -> Result<(), DatabaseError> {
        let new_number = || self.new_file_number();
        let ctx = RunContext {
            fs: self.fs.as_ref(),
            dir: &self.path,
            build: build_options(&self.config),
            target_file_bytes: self.targets.target_file_bytes,
            smallest_snapshot: self.smallest_snapshot(),
            next_file_number: &new_number,
        };
        let metas = compaction::run(job, version, ctx)?;
        let tables = self.open_tables(&metas)?;
        let removed: Vec<Arc<Table>> = job.inputs.iter().map(|(_, t)| Arc::clone(t)).collect();
        let edit = VersionEdit {
            log_number: None,
            next_file_number: Some(self.next_file.load(Ordering::SeqCst)),
            last_sequence: None,
            deleted: job.inputs.iter().map(|(l, t)| (*l, t.number)).collect(),
            added: metas
                .iter()
                .map(|m| (job.output_level, m.clone()))
                .collect(),
        };
        let _guard = self.sv_update.lock();
        let version = self.install_edit(&edit, tables, &removed)?;
        self.publish_version(version);
        self.counters.compactions.fetch_add(1, Ordering::Relaxed);
        self.counters
            .compaction_bytes_written
            .fetch_add(metas.iter().map(|m| m.file_size).sum(), Ordering::Relaxed);
        Ok(())
    }

    fn periodic_sync_loop(self: Arc<Self>, ms: u64) {
        let period = Duration::from_millis(ms.max(1));
        loop {
            {
                let mut bg = self.bg.lock();
                if !bg.shutdown {
                    self.bg_cv.wait_for(&mut bg, period);
                }
                if bg.shutdown {
                    return;
                }
            }
            let mut wal = self.wal.lock();
            if let Err(e) = wal.sync() {
                self.poison(format!("periodic log sync failed: {e}"));
                return;
            }
        }
    }

    // ----- shutdown and stats --------------------------------------------------------

    /// Syncs the log, stops the background threads and releases the directory lock.
    /// Later calls through any handle answer `DatabaseClosed`.
    pub fn shutdown(&self) -> Result<(), DatabaseError> {
        if self.closed.swap(true, Ordering::AcqRel) {
            return Ok(());
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

    /// A consistent picture of sizes, counters and recovery.
    pub fn stats(&self) -> DbStats {
        let sv = self.super_version.load_full();
        let levels: Vec<LevelStats> = sv
            .version
            .levels
            .iter()
            .enumerate()
            .map(|(level, tables)| LevelStats {
                level,
                files: tables.len(),
                bytes: tables.iter().map(|t| t.file_size).sum(),
                entries: tables.iter().map(|t| t.props.entries).sum(),
                tombstones: tables.iter().map(|t| t.props.tombstones).sum(),
            })
            .collect();
        let table_bytes = levels.iter().map(|l| l.bytes).sum();
        let wal_bytes = self.wal.try_lock().map_or(0, |w| w.len());
        let (cache_hits, cache_misses) = self.cache.hit_miss();
        let c = &self.counters;
        DbStats {
            path: self.path.display().to_string(),
            last_sequence: self.last_sequence(),
            memtable_bytes: sv.mem.approximate_bytes() as u64,
            immutable_memtables: sv.imms.len(),
            immutable_memtable_bytes: sv.imms.iter().map(|m| m.approximate_bytes() as u64).sum(),
            table_files: levels.iter().map(|l| l.files).sum(),
            table_bytes,
            estimated_entries: levels.iter().map(|l| l.entries).sum::<u64>()
                + sv.mem.len() as u64
                + sv.imms.iter().map(|m| m.len() as u64).sum::<u64>(),
            levels,
            wal_bytes,
            disk_bytes: table_bytes + wal_bytes,
            cache_capacity_bytes: self.cache.capacity(),
            cache_usage_bytes: self.cache.usage(),
            table_memory_bytes: sv
                .version
                .levels
                .iter()
                .flatten()
                .map(|t| t.memory_bytes())
                .sum(),
            memtable_index_bytes: std::iter::once(&sv.mem)
                .chain(sv.imms.iter())
                .map(|m| m.index_memory_bytes() as u64)
                .sum(),
            cache_hits,
            cache_misses,
            puts: c.puts.load(Ordering::Relaxed),
            deletes: c.deletes.load(Ordering::Relaxed),
            gets: c.gets.load(Ordering::Relaxed),
            batches: c.batches.load(Ordering::Relaxed),
            bytes_written: c.bytes_written.load(Ordering::Relaxed),
            write_groups: c.write_groups.load(Ordering::Relaxed),
            wal_syncs: c.wal_syncs.load(Ordering::Relaxed),
            flushes: c.flushes.load(Ordering::Relaxed),
            compactions: c.compactions.load(Ordering::Relaxed),
            compaction_bytes_written: c.compaction_bytes_written.load(Ordering::Relaxed),
            write_stall_micros: c.stall_micros.load(Ordering::Relaxed),
            transaction_conflicts: c.conflicts.load(Ordering::Relaxed),
            background_errors: c.background_errors.load(Ordering::Relaxed),
            ingested_batches: c.ingested_batches.load(Ordering::Relaxed),
            live_snapshots: self.snapshots.lock().values().sum(),
            poisoned: self.poison_reason(),
            recovery: self.recovery.clone(),
            uptime: self.opened_at.elapsed(),
        }
    }
}

fn meta_of(t: &Table) -> TableMeta {
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

fn apply_edit_meta(levels: &mut [Vec<TableMeta>], edit: &VersionEdit) -> Result<(), DatabaseError> {
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
