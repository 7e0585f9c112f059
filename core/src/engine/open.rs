//! Opening: taking the lock, reading the manifest, replaying the log, and starting the
//! background threads.

use super::stages::{verify_recovered, StageReporter};
use super::*;
use crate::storage::crypto::{self, KeyRing};

impl DbInner {
    /// Opens (or creates) the database at `path`, recovering from its log: the steps
    /// below, in order, each a function of this file.
    pub fn open(
        path: &Path,
        config: LightningDbConfig,
        fs: Arc<dyn FileSystem>,
        corruption: Arc<dyn CorruptionListener>,
        verify_every_read: bool,
        listeners: Arc<Listeners>,
        clock: Arc<dyn Clock>,
    ) -> Result<Arc<DbInner>, DatabaseError> {
        config.validate()?;
        let config = config.reconciled();
        let recorder = Arc::new(OpRecorder::new(config.enable_statistics));
        listeners.add(Arc::clone(&recorder) as Arc<dyn crate::events::EventListener>);
        let heard = Arc::clone(&listeners);
        let stages = StageReporter::new(&heard, path, &config, Arc::clone(&clock));
        let lock = stages.run(RecoveryStage::Lock, || lock_directory(fs.as_ref(), path))?;
        let cache =
            Arc::new(BlockCache::new(config.cache_size).with_mapped_tables(config.mmap_reads));
        cache.gate().configure(corruption, verify_every_read);

        // 1. The manifest says which tables are live.
        let (names, mut state, mut version, format_version) =
            stages.run(RecoveryStage::Manifest, || {
                // A format switch a crash interrupted is settled first: an encryption
                // migration moves the key file with its switch, so which way it went
                // decides whether the database is encrypted (the outcome does not depend
                // on the key given).
                format::settle_pending_switch(fs.as_ref(), path)?;
                // Then encryption: a missing or wrong key, or a key for a plain database,
                // must stop the open before any other file is touched (not even `FORMAT`).
                let keys = settle_encryption(fs.as_ref(), path, &config)
                    .inspect_err(|e| audit_failed_key_check(&fs, path, e))?;
                cache.set_keys(keys.clone());
                // Then the database's format: it decides how the files are written from
                // now on, and a format this build does not know must stop the open before
                // any file is touched.
                let format_version = settle_format(fs.as_ref(), path, &config, keys.is_some())?;
                let names = fs
                    .list_dir(path)
                    .map_err(|e| DatabaseError::io("list database directory", path, &e))?;
                let state = read_manifest_state(fs.as_ref(), path, &names, keys.as_deref())?;
                let version = open_live_tables(&fs, path, &state.levels, &cache)?;
                Ok((names, state, version, format_version))
            })?;
        // 2. Replay the log segments the tables do not cover yet (each attempt from the
        // manifest's state, so a retried replay counts nothing twice).
        let replayed_from = state.last_seq;
        let (recovered, mut report) = stages.run(RecoveryStage::LogReplay, || {
            let mut report = RecoveryReport::default();
            state.last_seq = replayed_from;
            let recovered = replay_logs(
                fs.as_ref(),
                path,
                &names,
                &mut state,
                &mut report,
                &stages,
                cache.keys().as_deref(),
            )?;
            Ok((recovered, report))
        })?;
        let next_file = AtomicU64::new(state.next_file);
        let new_number = || next_file.fetch_add(1, Ordering::SeqCst);
        // 3. Write what the log held into a level-0 table, so the old segments can go.
        let recovery = RecoveryContext {
            fs: &fs,
            path,
            config: &config,
            cache: &cache,
            last_seq: state.last_seq,
            new_number: &new_number,
            log_version: format_version.log_format_version(),
        };
        version = stages.run(RecoveryStage::FlushRecovered, || {
            let mut with_recovered = version.clone();
            flush_recovered(&recovery, &recovered, &mut with_recovered)?;
            Ok(with_recovered)
        })?;
        drop(recovered);
        stages.run(RecoveryStage::Verification, || {
            verify_recovered(&state.levels, &version, state.last_seq)
        })?;
        // 4. A fresh manifest holding the whole state, then a fresh log segment; 5. the
        // files nothing refers to any more go.
        let (manifest_writer, wal_writer, wal_extent, manifest_extent) =
            stages.run(RecoveryStage::Cleanup, || {
                // Listed again: tables a failed attempt of an earlier stage left go too.
                let names = fs
                    .list_dir(path)
                    .map_err(|e| DatabaseError::io("list database directory", path, &e))?;
                start_fresh_files(&recovery, &next_file, &version, &names, &mut report)
            })?;
        report.recovery_time = stages.started.elapsed();

        let version = Arc::new(version);
        let targets = LevelTargets::from_write_buffer(config.write_buffer_size);
        let wal_number = wal_writer.number;
        // The key-encryption key, kept for rotations and re-wraps (encrypted databases).
        let kek = cache.keys().and(config.security.encryption_key.clone());
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
            last_seq: AtomicU64::new(state.last_seq),
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
            listeners,
            recovery_state: Mutex::new(RecoveryState::default()),
            format_version,
            recorder,
            audit: std::sync::OnceLock::new(),
            audit_access: std::sync::OnceLock::new(),
            breaker: config.circuit_breaker_enabled.then(|| {
                CircuitBreaker::with_clock(
                    CircuitBreakerConfig::from(&config.reliability),
                    Arc::clone(&clock),
                )
                .named(format!("database I/O at {}", path.display()))
            }),
            clock,
            healing: super::healing::Healing::default(),
            kek: Mutex::new(kek),
            key_change: Mutex::new(()),
            config,
        });
        let _ = inner.weak_self.set(Arc::downgrade(&inner));
        inner
            .super_version
            .load()
            .mem
            .set_index_waker(inner.index_waker());
        stages.run(RecoveryStage::Start, || inner.start_background_threads())?;
        *inner.recovery_state.lock() = stages.state();
        inner.rotate_key_if_due();
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
        let handle = std::thread::Builder::new()
            .name(name.to_string())
            .spawn(work)
            .map_err(|e| DatabaseError::InitializationFailed {
                stage: "start background threads".to_string(),
                reason: e.to_string(),
            })?;
        self.threads.lock().push(handle);
        Ok(())
    }

    pub(super) fn start_background_threads(self: &Arc<Self>) -> Result<(), DatabaseError> {
        let me = Arc::clone(self);
        self.spawn_background("lightning-flush", Box::new(move || me.flush_loop()))?;
        let me = Arc::clone(self);
        self.spawn_background("lightning-compact", Box::new(move || me.compaction_loop()))?;
        if let Durability::Periodic(ms) = self.config.durability {
            let me = Arc::clone(self);
            self.spawn_background(
                "lightning-sync",
                Box::new(move || me.periodic_sync_loop(ms)),
            )?;
        }
        Ok(())
    }
}

/// What the manifest (and the names in the directory) say at open.
struct ManifestState {
    /// The live tables per level.
    levels: Vec<Vec<TableMeta>>,
    /// The oldest log segment the tables do not cover.
    log_number: u64,
    /// Above every file number in use, on disk or in the manifest.
    next_file: u64,
    /// The newest sequence number known so far (the log replay raises it).
    last_seq: u64,
    /// Whether a manifest was found (a new database has none).
    has_manifest: bool,
}

/// What flushing the replayed log needs.
struct RecoveryContext<'a> {
    fs: &'a Arc<dyn FileSystem>,
    path: &'a Path,
    config: &'a LightningDbConfig,
    cache: &'a Arc<BlockCache>,
    last_seq: u64,
    new_number: &'a dyn Fn() -> u64,
    /// The log format new segments are written in.
    log_version: u16,
}

/// The files a freshly opened database writes to, with their published extents.
type FreshFiles = (
    ManifestWriter,
    WalWriter,
    Arc<FinishedExtent>,
    Arc<FinishedExtent>,
);

/// Writes a fresh manifest holding the whole state and opens a fresh log segment, then
/// removes what nothing refers to any more: old logs and manifests, orphan tables.
fn start_fresh_files(
    ctx: &RecoveryContext<'_>,
    next_file: &AtomicU64,
    version: &Version,
    names: &[String],
    report: &mut RecoveryReport,
) -> Result<FreshFiles, DatabaseError> {
    let (fs, path) = (ctx.fs.as_ref(), ctx.path);
    let wal_number = (ctx.new_number)();
    let manifest_number = (ctx.new_number)();
    let snapshot = VersionEdit {
        log_number: Some(wal_number),
        next_file_number: Some(next_file.load(Ordering::SeqCst)),
        last_sequence: Some(ctx.last_seq),
        deleted: Vec::new(),
        added: version.all_tables().map(|(l, t)| (l, meta_of(t))).collect(),
    };
    let mut manifest_writer = ManifestWriter::create_keyed(
        fs,
        path,
        manifest_number,
        ctx.config.checksum_algorithm,
        &snapshot,
        ctx.cache.keys(),
    )?;
    let manifest_extent = Arc::new(FinishedExtent::default());
    manifest_writer.publish_to(Arc::clone(&manifest_extent));
    let mut wal_writer = WalWriter::create_keyed(
        fs,
        path,
        wal_number,
        ctx.config.checksum_algorithm,
        ctx.log_version,
        ctx.cache.keys(),
    )?;
    let wal_extent = Arc::new(FinishedExtent::default());
    wal_writer.publish_to(Arc::clone(&wal_extent));
    report.orphan_tables_removed =
        remove_obsolete(fs, path, names, version, wal_number, manifest_number);
    fs.sync_dir(path)
        .map_err(|e| DatabaseError::io("sync directory", path, &e))?;
    Ok((manifest_writer, wal_writer, wal_extent, manifest_extent))
}

/// Creates the directory and takes its lock; another holder answers `DatabaseLocked`.
fn lock_directory(fs: &dyn FileSystem, path: &Path) -> Result<Box<dyn DirLock>, DatabaseError> {
    fs.create_dir_all(path)
        .map_err(|e| DatabaseError::io("create database directory", path, &e))?;
    lock_existing_directory(fs, path)
}

/// Takes the `LOCK` of the database directory `path`, which must exist; another holder
/// (a process or an open handle) answers `DatabaseLocked`.
pub(crate) fn lock_existing_directory(
    fs: &dyn FileSystem,
    path: &Path,
) -> Result<Box<dyn DirLock>, DatabaseError> {
    let lock_path = path.join("LOCK");
    fs.lock(&lock_path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::WouldBlock {
            DatabaseError::DatabaseLocked {
                path: path.display().to_string(),
            }
        } else {
            DatabaseError::io("lock database", &lock_path, &e)
        }
    })
}

/// Settles the database's format before anything else reads its files (a format switch
/// a crash interrupted was finished or undone just before): refuses a format newer than this build
/// knows (`UnsupportedFormatVersion`) or older than it reads (`MigrationRequired`), and
/// records the format in `FORMAT` when the database has none yet (a new one
/// at the newest format; one made before `FORMAT` existed at the format its files are
/// in). An older format stays as it is unless `upgrade_format_on_open` asks otherwise.
///
/// An encrypted database (`encrypted`, settled by [`settle_encryption`]) records
/// [`format::ENCRYPTED_FORMAT_NUMBER`] instead: its files are laid out as in the newest
/// plain format, sealed, and builds that predate encryption refuse the number rather
/// than read sealed bytes as garbage.
fn settle_format(
    fs: &dyn FileSystem,
    path: &Path,
    config: &LightningDbConfig,
    encrypted: bool,
) -> Result<DatabaseVersion, DatabaseError> {
    let names = fs
        .list_dir(path)
        .map_err(|e| DatabaseError::io("list database directory", path, &e))?;
    let found = format::detect_from_files(fs, path, &names)?;
    if encrypted {
        if found.source != VersionSource::FormatFile
            || found.version != format::ENCRYPTED_FORMAT_NUMBER
        {
            format::write_format(
                fs,
                path,
                &FormatRecord {
                    version: format::ENCRYPTED_FORMAT_NUMBER,
                    switch_manifest: 0,
                },
            )?;
        }
        return Ok(format::ENCRYPTED_LAYOUT);
    }
    let Some(version) = DatabaseVersion::from_number(found.version) else {
        return Err(format::unreadable(path, found.version));
    };
    let wanted = if config.upgrade_format_on_open {
        DatabaseVersion::Latest.resolve()
    } else {
        version
    };
    if found.source != VersionSource::FormatFile || wanted != version {
        format::write_format(fs, path, &FormatRecord::of(wanted))?;
    }
    Ok(wanted)
}

/// Decides whether the database at `path` is encrypted and, when it is, unwraps its data
/// keys with the configured key. Reads only; nothing is written unless a new database
/// is created with encryption (its `KEYS` file, before any other file):
///
/// - a key file present: the configured key must unwrap it (`WrongKey` otherwise); no
///   key configured is a `ConfigurationError` naming `security.encryption_key`;
/// - no key file but a database recorded as encrypted: the key file was lost
///   (`DataCorruption`, nothing can be read without it);
/// - no key file, an existing plain database, `enable_encryption` set: a
///   `ConfigurationError` naming `security.enable_encryption` (encryption is chosen at
///   creation, or turned on later by a migration);
/// - no database yet and `enable_encryption` set: a new key ring, written wrapped by
///   the key.
fn settle_encryption(
    fs: &dyn FileSystem,
    path: &Path,
    config: &LightningDbConfig,
) -> Result<Option<Arc<KeyRing>>, DatabaseError> {
    let security = &config.security;
    let kek = security
        .encryption_key
        .as_ref()
        .filter(|_| security.enable_encryption);
    if crypto::is_encrypted(fs, path) {
        let Some(kek) = kek else {
            return Err(crypto::key_needed(path));
        };
        return Ok(KeyRing::read(fs, path, kek)?.map(Arc::new));
    }
    let names = fs
        .list_dir(path)
        .map_err(|e| DatabaseError::io("list database directory", path, &e))?;
    let found = format::detect_from_files(fs, path, &names)?;
    if found.version == format::ENCRYPTED_FORMAT_NUMBER {
        return Err(crypto::key_file_missing(path));
    }
    let Some(kek) = kek else {
        return Ok(None);
    };
    if found.source != VersionSource::Empty {
        return Err(DatabaseError::ConfigurationError {
            field: "security.enable_encryption".to_string(),
            reason: format!(
                "{} is a database that is not encrypted; open it without \
                 enable_encryption and encryption_key, or encrypt it first with a \
                 migration (`lightning migrate {} --encrypt`, \
                 MigrationManager::encrypt_database)",
                path.display(),
                path.display()
            ),
        });
    }
    // Wall-clock time: the rotation schedule counts days from it across restarts.
    let now_secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let ring = KeyRing::create(now_secs)?;
    ring.write(fs, path, kek)?;
    Ok(Some(Arc::new(ring)))
}

/// Records a refused open of an encrypted database (no key, or a wrong one) in the
/// audit log the database keeps, if it keeps one: one `KeyCheckFailed` entry, which names
/// nothing secret. The database's own files stay byte-identical; a failure to record is
/// not the caller's error (the open's refusal is).
fn audit_failed_key_check(fs: &Arc<dyn FileSystem>, path: &Path, e: &DatabaseError) {
    use crate::audit::{OperationResult, SecurityEventType};
    let reason = match e {
        DatabaseError::SecurityError(crate::error::SecurityError::WrongKey) => "wrong key",
        DatabaseError::ConfigurationError { field, .. } if field == "security.encryption_key" => {
            "no key"
        }
        _ => return,
    };
    let metadata = std::collections::HashMap::from([
        ("reason".to_string(), reason.to_string()),
        ("code".to_string(), e.error_code().to_string()),
    ]);
    let _ = crate::audit::record_offline(
        Arc::clone(fs),
        path,
        SecurityEventType::KeyCheckFailed,
        "open",
        OperationResult::Denied,
        metadata,
    );
}

/// Reads `CURRENT` and the manifest it names; a directory with tables but no `CURRENT`
/// is refused. File numbers found on disk are never reused, whatever the manifest last
/// recorded.
fn read_manifest_state(
    fs: &dyn FileSystem,
    path: &Path,
    names: &[String],
    keys: Option<&KeyRing>,
) -> Result<ManifestState, DatabaseError> {
    let mut state = ManifestState {
        levels: vec![Vec::new(); NUM_LEVELS],
        log_number: 0,
        next_file: 1,
        last_seq: 0,
        has_manifest: false,
    };
    match manifest::read_current(fs, path)? {
        Some(number) => {
            state.has_manifest = true;
            for edit in manifest::read_manifest_keyed(fs, path, number, keys)? {
                apply_edit_meta(&mut state.levels, &edit)?;
                if let Some(n) = edit.log_number {
                    state.log_number = n;
                }
                if let Some(n) = edit.next_file_number {
                    state.next_file = state.next_file.max(n);
                }
                if let Some(n) = edit.last_sequence {
                    state.last_seq = state.last_seq.max(n);
                }
            }
        }
        None => {
            if names.iter().any(|n| n.ends_with(".sst")) {
                return Err(DatabaseError::CurrentFileInvalid {
                    details: format!("{} holds table files but no CURRENT file", path.display()),
                });
            }
        }
    }
    for name in names {
        let base = name.strip_suffix(".tmp").unwrap_or(name);
        let n = parse_number(base, ".sst")
            .or_else(|| parse_number(base, ".log"))
            .or_else(|| base.strip_prefix("MANIFEST-").and_then(|n| n.parse().ok()));
        if let Some(n) = n {
            state.next_file = state.next_file.max(n + 1);
        }
    }
    Ok(state)
}

/// Opens every table the manifest names; a missing one is `TableFileMissing`.
fn open_live_tables(
    fs: &Arc<dyn FileSystem>,
    path: &Path,
    levels: &[Vec<TableMeta>],
    cache: &Arc<BlockCache>,
) -> Result<Version, DatabaseError> {
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
            let table = Table::open(Arc::clone(fs), path, meta.number, Arc::clone(cache))?;
            version.levels[level].push(Arc::new(table));
        }
    }
    version.normalize();
    Ok(version)
}

/// Replays the log segments from the manifest's own into a memtable, raising
/// `state.last_seq` and recording what it did in `report`.
fn replay_logs(
    fs: &dyn FileSystem,
    path: &Path,
    names: &[String],
    state: &mut ManifestState,
    report: &mut RecoveryReport,
    stages: &StageReporter<'_>,
    keys: Option<&KeyRing>,
) -> Result<MemTable, DatabaseError> {
    let log_number = state.log_number;
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
    if state.has_manifest && segments.first().is_some_and(|&n| n > log_number) {
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
    let mut last_seq = state.last_seq;
    // Progress is reported in bytes of log read, every half percent of the whole.
    let sizes: Vec<u64> = segments
        .iter()
        .map(|&n| fs.file_size(&path.join(wal::wal_file_name(n))).unwrap_or(0))
        .collect();
    let total: u64 = sizes.iter().sum();
    let segment_count = segments.len() as u64;
    let step = (total / 200).max(1);
    let mut before = 0u64;
    let mut reported = 0u64;
    for (i, &segment) in segments.iter().enumerate() {
        let seg_path = path.join(wal::wal_file_name(segment));
        let is_last = i + 1 == segments.len();
        let replay =
            wal::replay_segment_keyed(fs, &seg_path, is_last, keys, |first_seq, ops, end| {
                let done = before + end;
                if done >= reported + step {
                    reported = done;
                    stages.replay_progress(done.min(total), total, (i as u64, segment_count));
                }
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
        before += sizes[i];
        stages.replay_progress(before.min(total), total, (i as u64 + 1, segment_count));
        report.wal_segments_replayed += 1;
        report.wal_records_replayed += replay.records;
        if replay.torn_tail_bytes > 0 {
            report.torn_tail_bytes_truncated += replay.torn_tail_bytes;
            report.torn_tail_segment = Some(seg_path.display().to_string());
        }
    }
    state.last_seq = last_seq;
    report.wal_entries_replayed = recovered.len() as u64;
    Ok(recovered)
}

/// Writes the replayed versions into level-0 tables and adds them to `version`.
fn flush_recovered(
    ctx: &RecoveryContext<'_>,
    recovered: &MemTable,
    version: &mut Version,
) -> Result<(), DatabaseError> {
    if recovered.is_empty() {
        return Ok(());
    }
    let never_bottom = |_: &[u8]| false;
    let run = RunContext {
        fs: ctx.fs.as_ref(),
        dir: ctx.path,
        build: build_options(ctx.config, ctx.cache),
        target_file_bytes: u64::MAX,
        smallest_snapshot: ctx.last_seq,
        next_file_number: ctx.new_number,
    };
    let mut writer = RunWriter::new(run, &never_bottom);
    for (key, seq, value) in recovered.entries() {
        writer.add(key, seq, value)?;
    }
    for meta in writer.finish()? {
        let table = Table::open(
            Arc::clone(ctx.fs),
            ctx.path,
            meta.number,
            Arc::clone(ctx.cache),
        )?;
        version.levels[0].push(Arc::new(table));
    }
    version.normalize();
    Ok(())
}

/// Removes temporary files, log segments before `wal_number`, manifests other than
/// `manifest_number` and tables `version` does not hold; returns how many tables went.
fn remove_obsolete(
    fs: &dyn FileSystem,
    path: &Path,
    names: &[String],
    version: &Version,
    wal_number: u64,
    manifest_number: u64,
) -> u64 {
    let live: std::collections::HashSet<u64> =
        version.all_tables().map(|(_, t)| t.number).collect();
    let mut tables_removed = 0;
    for name in names {
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
                tables_removed += 1;
            }
        }
    }
    tables_removed
}
