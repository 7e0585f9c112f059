//! One migration step on a closed database: rewrite into new files, switch, clean up;
//! or, on failure before the switch is complete, put everything back.
//!
//! The protocol (the crash cases are in `storage::format`'s documentation):
//!
//! 1. read the live state: `CURRENT`, the manifest, the log segments it does not cover;
//! 2. write new files under fresh numbers: a level-0 table holding what the log held,
//!    and, when the step changes the tables, a copy of every table (all versions, so
//!    nothing a reader could see changes); each synced, then the directory;
//! 3. write the new manifest (synced) naming them, with a log number no segment has yet,
//!    so the database starts a fresh segment in its (possibly new) log format at open;
//! 4. write `FORMAT.next` naming that manifest (a step turning encryption on first
//!    writes the new key file as `KEYS.next`);
//! 5. point `CURRENT` at it: the commit point;
//! 6. make the key file follow (`KEYS.next` becomes `KEYS` when turning encryption on;
//!    `KEYS` goes when turning it off), then rename `FORMAT.next` over `FORMAT`;
//! 7. remove what the step replaced (old segments, manifest, tables).
//!
//! Old files are never written to: until step 5 the old database is whole and a rollback
//! only has to remove new files and put `CURRENT`, `FORMAT` and `KEYS` back as they were
//! (the same bytes), so the directory is exactly as before. A crash anywhere leaves the
//! old database (before 5: new files are orphans the next open removes) or the new one
//! (after 5: the next open finishes step 6, `format::settle_pending_switch`).
//!
//! An encrypted database's files are read with its data keys (`StepTarget::read_keys`)
//! and the new files sealed with `write_keys`: the same ring for a step that keeps the
//! database encrypted, a new one for encrypting, none for decrypting.

use std::collections::HashSet;
use std::path::Path;
use std::sync::Arc;

use crate::checksum::ChecksumAlgorithm;
use crate::config::EncryptionKey;
use crate::error::DatabaseError;
use crate::storage::cache::BlockCache;
use crate::storage::crypto::{self, KeyRing};
use crate::storage::format::{self, DatabaseVersion, FormatRecord};
use crate::storage::fs::{write_file_atomic, FileSystem};
use crate::storage::iter::Cursor;
use crate::storage::manifest::{self, ManifestWriter, VersionEdit, MANIFEST_MAGIC};
use crate::storage::memtable::MemTable;
use crate::storage::record::{decode_file_header, FILE_HEADER_LEN};
use crate::storage::table::builder::{BuildOptions, TableBuilder, TableMeta};
use crate::storage::table::format::SEALED_TABLE_FORMAT_VERSION;
use crate::storage::table::reader::{Table, TableCursor};
use crate::storage::table::table_file_name;
use crate::storage::wal::{self, WAL_MAGIC};

use super::inspect::{live_tables, table_info};

/// Table block size and bloom bits of the files a migration writes (the defaults; a
/// migration runs without the database's configuration).
const BLOCK_SIZE: usize = 4096;
const BLOOM_BITS: u32 = 10;

/// What a step changes.
#[derive(Clone)]
pub(super) struct StepTarget {
    /// The database format after the step.
    pub version: DatabaseVersion,
    /// The checksum of rewritten files (`None`: each keeps its own).
    pub checksum: Option<ChecksumAlgorithm>,
    /// Compression of rewritten tables (`None`: each keeps its own).
    pub compress: Option<bool>,
    /// Whether every table is rewritten.
    pub rewrite_tables: bool,
    /// The data keys the database's files are sealed with now (`None`: plain).
    pub read_keys: Option<Arc<KeyRing>>,
    /// The data keys the new files are sealed with (`None`: written in the clear).
    pub write_keys: Option<Arc<KeyRing>>,
    /// For a step turning encryption on: the key-encryption key that wraps `write_keys`
    /// in the key file the switch installs.
    pub new_key_file: Option<EncryptionKey>,
}

/// The database as a step found it.
pub(super) struct LiveState {
    /// `CURRENT`'s bytes, put back by a rollback.
    current_bytes: Vec<u8>,
    /// `FORMAT`'s bytes, if it had one.
    format_bytes: Option<Vec<u8>>,
    /// `KEYS`'s bytes, if it had one (an encrypted database).
    keys_bytes: Option<Vec<u8>>,
    manifest_number: u64,
    manifest_checksum: ChecksumAlgorithm,
    levels: Vec<Vec<TableMeta>>,
    last_seq: u64,
    /// Above every number in the manifest and on disk.
    next_file: u64,
    /// Log segments at or after `log_number`, oldest first.
    segments: Vec<u64>,
    /// Every file name in the directory.
    names: Vec<String>,
}

impl LiveState {
    /// Bytes the step reads: the live log segments, and the tables when it rewrites them.
    pub fn input_bytes(&self, fs: &dyn FileSystem, dir: &Path, rewrite_tables: bool) -> u64 {
        let logs: u64 = self
            .segments
            .iter()
            .map(|&n| fs.file_size(&dir.join(wal::wal_file_name(n))).unwrap_or(0))
            .sum();
        let tables: u64 = if rewrite_tables {
            self.levels.iter().flatten().map(|m| m.file_size).sum()
        } else {
            0
        };
        logs + tables
    }
}

fn number_of(name: &str) -> Option<u64> {
    let base = name.strip_suffix(".tmp").unwrap_or(name);
    base.strip_suffix(".sst")
        .or_else(|| base.strip_suffix(".log"))
        .or_else(|| base.strip_prefix("MANIFEST-"))
        .and_then(|n| n.parse().ok())
}

/// Reads the live state of the closed database in `dir` (an encrypted one's manifest
/// with its data keys `keys`).
pub(super) fn read_state(
    fs: &dyn FileSystem,
    dir: &Path,
    keys: Option<&KeyRing>,
) -> Result<LiveState, DatabaseError> {
    let names = fs
        .list_dir(dir)
        .map_err(|e| DatabaseError::io("list database directory", dir, &e))?;
    let manifest_number =
        manifest::read_current(fs, dir)?.ok_or_else(|| DatabaseError::InvalidArgument {
            message: format!(
                "{} has no CURRENT file: nothing to migrate (a database that was never \
                 closed after creation opens as it is)",
                dir.display()
            ),
        })?;
    let current = dir.join(manifest::CURRENT_FILE);
    let current_bytes = fs
        .read_all(&current)
        .map_err(|e| DatabaseError::io("read CURRENT", &current, &e))?;
    let format_path = dir.join(format::FORMAT_FILE);
    let format_bytes = if fs.exists(&format_path) {
        Some(
            fs.read_all(&format_path)
                .map_err(|e| DatabaseError::io("read FORMAT", &format_path, &e))?,
        )
    } else {
        None
    };
    let keys_path = dir.join(crypto::KEY_FILE);
    let keys_bytes = if fs.exists(&keys_path) {
        Some(
            fs.read_all(&keys_path)
                .map_err(|e| DatabaseError::io("read key file", &keys_path, &e))?,
        )
    } else {
        None
    };
    let manifest_path = dir.join(manifest::manifest_file_name(manifest_number));
    let head = fs
        .read_all(&manifest_path)
        .map_err(|e| DatabaseError::io("read manifest", &manifest_path, &e))?;
    let manifest_checksum =
        decode_file_header(&head[..head.len().min(FILE_HEADER_LEN)], MANIFEST_MAGIC)
            .map(|h| h.checksum)
            .unwrap_or(ChecksumAlgorithm::Xxh64);
    let edits = manifest::read_manifest_keyed(fs, dir, manifest_number, keys)?;
    let mut log_number = 0;
    let mut next_file = 1;
    let mut last_seq = 0;
    for edit in &edits {
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
    let levels = live_tables(&edits);
    for name in &names {
        if let Some(n) = number_of(name) {
            next_file = next_file.max(n + 1);
        }
    }
    for m in levels.iter().flatten() {
        next_file = next_file.max(m.number + 1);
    }
    let mut segments: Vec<u64> = names
        .iter()
        .filter_map(|n| n.strip_suffix(".log")?.parse().ok())
        .filter(|&n| n >= log_number)
        .collect();
    segments.sort_unstable();
    Ok(LiveState {
        current_bytes,
        format_bytes,
        keys_bytes,
        manifest_number,
        manifest_checksum,
        levels,
        last_seq,
        next_file,
        segments,
        names,
    })
}

/// What a finished step did.
#[derive(Debug, Default)]
pub(super) struct StepOutcome {
    pub bytes_written: u64,
    pub tables_written: usize,
    pub files_removed: usize,
    pub warnings: Vec<String>,
}

/// The step's progress: `(phase, bytes done, bytes total)`.
pub(super) type Progress<'a> = &'a mut dyn FnMut(super::MigrationPhase, u64, u64);

/// New files written so far (removed by a rollback), and how far the switch went.
#[derive(Default)]
struct Written {
    files: Vec<String>,
    switched_current: bool,
}

/// Why a step failed, and (when it failed too) why its rollback did.
pub(super) type StepFailure = Box<(DatabaseError, Option<DatabaseError>)>;

/// Runs one step on the closed, locked database in `dir`. On failure the database is
/// put back as it was; the error says whether that worked: `Err((cause, None))` rolled
/// back, `Err((cause, Some(rollback_error)))` did not.
pub(super) fn run_step(
    fs: &Arc<dyn FileSystem>,
    dir: &Path,
    target: &StepTarget,
    progress: Progress<'_>,
) -> Result<StepOutcome, StepFailure> {
    let state = read_state(fs.as_ref(), dir, target.read_keys.as_deref())
        .map_err(|e| Box::new((e, None)))?;
    let mut written = Written::default();
    match write_and_switch(fs, dir, &state, target, &mut written, progress) {
        Ok(mut outcome) => {
            progress(super::MigrationPhase::Cleanup, 0, 0);
            remove_replaced(fs.as_ref(), dir, &state, &written, target, &mut outcome);
            Ok(outcome)
        }
        Err(cause) => {
            progress(super::MigrationPhase::RollingBack, 0, 0);
            match roll_back(fs.as_ref(), dir, &state, &written) {
                Ok(()) => Err(Box::new((cause, None))),
                Err(rollback) => Err(Box::new((cause, Some(rollback)))),
            }
        }
    }
}

fn build_options(
    checksum: ChecksumAlgorithm,
    compress: bool,
    keys: Option<Arc<KeyRing>>,
) -> BuildOptions {
    BuildOptions {
        block_size: BLOCK_SIZE,
        compress,
        bloom_bits_per_key: BLOOM_BITS,
        checksum,
        durable: true,
        keys,
    }
}

/// Whether a table's blocks are compressed, as far as its files tell: a sealed table
/// hides it, and counts as compressed (the default, and LZ4 stores a block that does not
/// shrink plain anyway).
fn compresses(info: &super::TableInfo) -> bool {
    info.format_version == SEALED_TABLE_FORMAT_VERSION || info.compressed_blocks > 0
}

/// Steps 2 to 6 of the protocol.
fn write_and_switch(
    fs: &Arc<dyn FileSystem>,
    dir: &Path,
    state: &LiveState,
    target: &StepTarget,
    written: &mut Written,
    progress: Progress<'_>,
) -> Result<StepOutcome, DatabaseError> {
    let total = state.input_bytes(fs.as_ref(), dir, target.rewrite_tables);
    let mut done = 0u64;
    progress(super::MigrationPhase::Rewriting, 0, total);
    let mut next = state.next_file;
    let mut new_number = || {
        next += 1;
        next - 1
    };
    let cache = Arc::new(BlockCache::new(8 << 20));
    cache.set_keys(target.read_keys.clone());
    let mut outcome = StepOutcome::default();
    // Compression of the files the step does not say otherwise about: what the
    // database's tables use (on when it has none, as a new database is).
    let mut db_compress = true;
    let mut any_table = false;
    for meta in state.levels.iter().flatten() {
        let info = table_info(fs, dir, meta.number, &cache)?;
        any_table = true;
        if compresses(&info) {
            db_compress = true;
            break;
        }
        db_compress = false;
    }
    if !any_table {
        db_compress = true;
    }

    // The log, into one level-0 table.
    let recovered = MemTable::new(0);
    let mut last_seq = state.last_seq;
    let mut log_checksum = state.manifest_checksum;
    for (i, &segment) in state.segments.iter().enumerate() {
        let path = dir.join(wal::wal_file_name(segment));
        if let Ok(data) = fs.read_all(&path) {
            if let Ok(h) = decode_file_header(&data, WAL_MAGIC) {
                log_checksum = h.checksum;
            }
        }
        let is_last = i + 1 == state.segments.len();
        let keys = target.read_keys.as_deref();
        wal::replay_segment_keyed(fs.as_ref(), &path, is_last, keys, |first_seq, ops, _| {
            if first_seq > last_seq + 1 {
                return Err(DatabaseError::SequenceGap {
                    expected: last_seq + 1,
                    found: first_seq,
                });
            }
            for (j, op) in ops.iter().enumerate() {
                recovered.insert(op.key, first_seq + j as u64, op.value);
            }
            last_seq = last_seq.max((first_seq + ops.len() as u64).saturating_sub(1));
            Ok(())
        })?;
        done += fs.file_size(&path).unwrap_or(0);
        progress(super::MigrationPhase::Rewriting, done, total);
    }
    let mut levels = state.levels.clone();
    if !recovered.is_empty() {
        let number = new_number();
        let name = table_file_name(number);
        let opts = build_options(
            target.checksum.unwrap_or(log_checksum),
            target.compress.unwrap_or(db_compress),
            target.write_keys.clone(),
        );
        let mut builder = TableBuilder::create(fs.as_ref(), &dir.join(&name), number, opts)?;
        written.files.push(name);
        for (key, seq, value) in recovered.entries() {
            builder.add(key, seq, value)?;
        }
        if let Some(meta) = builder.finish(fs.as_ref())? {
            outcome.bytes_written += meta.file_size;
            outcome.tables_written += 1;
            levels[0].push(meta);
        }
    }
    drop(recovered);

    if target.rewrite_tables {
        for level in levels.iter_mut() {
            for meta in level.iter_mut() {
                if written.files.contains(&table_file_name(meta.number)) {
                    // The table just written from the log is already in the target form.
                    continue;
                }
                let old = Arc::new(Table::open(
                    Arc::clone(fs),
                    dir,
                    meta.number,
                    Arc::clone(&cache),
                )?);
                let info = table_info(fs, dir, meta.number, &cache)?;
                let number = new_number();
                let name = table_file_name(number);
                let opts = build_options(
                    target.checksum.unwrap_or(old.checksum),
                    target.compress.unwrap_or(compresses(&info)),
                    target.write_keys.clone(),
                );
                let mut builder =
                    TableBuilder::create(fs.as_ref(), &dir.join(&name), number, opts)?;
                written.files.push(name);
                let mut cursor = TableCursor::rechecking(Arc::clone(&old));
                cursor.seek_to_first()?;
                while cursor.valid() {
                    builder.add(cursor.key(), cursor.seq(), cursor.value())?;
                    cursor.next()?;
                }
                let new_meta = builder.finish(fs.as_ref())?.ok_or_else(|| {
                    DatabaseError::InconsistentState {
                        details: format!("{} holds no entries", table_file_name(meta.number)),
                        suggested_action: "run `lightning check`".to_string(),
                    }
                })?;
                done += meta.file_size;
                progress(super::MigrationPhase::Rewriting, done, total);
                outcome.bytes_written += new_meta.file_size;
                outcome.tables_written += 1;
                *meta = new_meta;
            }
        }
    }
    fs.sync_dir(dir)
        .map_err(|e| DatabaseError::io("sync directory", dir, &e))?;

    // The manifest. Its log number belongs to no segment: the open after the switch
    // starts a fresh one, in the format the switch installs.
    let log_number = new_number();
    let manifest_number = new_number();
    let snapshot = VersionEdit {
        log_number: Some(log_number),
        next_file_number: Some(new_number()),
        last_sequence: Some(last_seq),
        deleted: Vec::new(),
        added: levels
            .iter()
            .enumerate()
            .flat_map(|(l, metas)| metas.iter().map(move |m| (l, m.clone())))
            .collect(),
    };
    let manifest_name = manifest::manifest_file_name(manifest_number);
    written.files.push(manifest_name);
    let checksum = target.checksum.unwrap_or(state.manifest_checksum);
    drop(ManifestWriter::create_unlinked_keyed(
        fs.as_ref(),
        dir,
        manifest_number,
        checksum,
        &snapshot,
        target.write_keys.clone(),
    )?);
    fs.sync_dir(dir)
        .map_err(|e| DatabaseError::io("sync directory", dir, &e))?;
    outcome.bytes_written += fs
        .file_size(&dir.join(manifest::manifest_file_name(manifest_number)))
        .unwrap_or(0);

    progress(super::MigrationPhase::Switching, done, total);
    if let (Some(kek), Some(ring)) = (&target.new_key_file, &target.write_keys) {
        // Staged under its own name: `KEYS` would make the database count as encrypted
        // before its manifest is; the switch installs it (`format` module).
        let staged = dir.join(crypto::KEY_FILE_NEXT);
        written.files.push(crypto::KEY_FILE_NEXT.to_string());
        write_file_atomic(fs.as_ref(), &staged, &ring.encode(kek)?)
            .map_err(|e| DatabaseError::io("write staged key file", &staged, &e))?;
    }
    let version = if target.write_keys.is_some() {
        format::ENCRYPTED_FORMAT_NUMBER
    } else {
        target.version.number()
    };
    format::write_pending_switch(
        fs.as_ref(),
        dir,
        &FormatRecord {
            version,
            switch_manifest: manifest_number,
        },
    )?;
    written.switched_current = true;
    manifest::set_current(fs.as_ref(), dir, manifest_number)?;
    format::complete_pending_switch(fs.as_ref(), dir)?;
    Ok(outcome)
}

/// Step 7: the files the switch replaced go. A failure here is only a warning: the
/// switch is done, and the next open removes what nothing refers to.
fn remove_replaced(
    fs: &dyn FileSystem,
    dir: &Path,
    state: &LiveState,
    written: &Written,
    target: &StepTarget,
    outcome: &mut StepOutcome,
) {
    let new: HashSet<&str> = written.files.iter().map(String::as_str).collect();
    let mut old: Vec<String> = state
        .segments
        .iter()
        .map(|&n| wal::wal_file_name(n))
        .collect();
    old.push(manifest::manifest_file_name(state.manifest_number));
    if target.rewrite_tables {
        old.extend(
            state
                .levels
                .iter()
                .flatten()
                .map(|m| table_file_name(m.number)),
        );
    }
    for name in old {
        if new.contains(name.as_str()) {
            continue;
        }
        match fs.remove_file(&dir.join(&name)) {
            Ok(()) => outcome.files_removed += 1,
            Err(e) => outcome
                .warnings
                .push(format!("could not remove the replaced file {name}: {e}")),
        }
    }
    if let Err(e) = fs.sync_dir(dir) {
        outcome.warnings.push(format!(
            "could not sync the directory after removing replaced files: {e}"
        ));
    }
}

/// Puts the directory back exactly as `state` found it: `KEYS`, `CURRENT` and `FORMAT`
/// with their old bytes, no `FORMAT.next` or `KEYS.next`, none of the new files.
fn roll_back(
    fs: &dyn FileSystem,
    dir: &Path,
    state: &LiveState,
    written: &Written,
) -> Result<(), DatabaseError> {
    if written.switched_current {
        // The key file first, while `CURRENT` still names the new manifest: a crash from
        // here on finds `FORMAT.next` and settles the key file with the switch either way
        // (a new key file goes back to its staged name, which completing installs and
        // undoing removes; an old one removed by a decrypting switch comes back, which
        // completing removes again).
        let keys = dir.join(crypto::KEY_FILE);
        let now = fs.read_all(&keys).ok();
        if now != state.keys_bytes {
            match &state.keys_bytes {
                Some(bytes) => write_file_atomic(fs, &keys, bytes)
                    .map_err(|e| DatabaseError::io("restore KEYS", &keys, &e))?,
                None => {
                    let staged = dir.join(crypto::KEY_FILE_NEXT);
                    fs.rename(&keys, &staged)
                        .and_then(|()| fs.sync_dir(dir))
                        .map_err(|e| DatabaseError::io("unstage KEYS", &keys, &e))?;
                }
            }
        }
        let current = dir.join(manifest::CURRENT_FILE);
        let now = fs.read_all(&current).ok();
        if now.as_deref() != Some(state.current_bytes.as_slice()) {
            write_file_atomic(fs, &current, &state.current_bytes)
                .map_err(|e| DatabaseError::io("restore CURRENT", &current, &e))?;
        }
        let format_path = dir.join(format::FORMAT_FILE);
        let now = fs.read_all(&format_path).ok();
        if now != state.format_bytes {
            match &state.format_bytes {
                Some(bytes) => write_file_atomic(fs, &format_path, bytes)
                    .map_err(|e| DatabaseError::io("restore FORMAT", &format_path, &e))?,
                None => fs
                    .remove_file(&format_path)
                    .map_err(|e| DatabaseError::io("remove FORMAT", &format_path, &e))?,
            }
        }
    }
    format::discard_pending_switch(fs, dir)?;
    let before: HashSet<&str> = state.names.iter().map(String::as_str).collect();
    let names = fs
        .list_dir(dir)
        .map_err(|e| DatabaseError::io("list database directory", dir, &e))?;
    for name in names {
        // Every file that was not there before: the step's new files and the temporary
        // names of any write it did not finish.
        if before.contains(name.as_str()) || name == "LOCK" {
            continue;
        }
        let path = dir.join(&name);
        fs.remove_file(&path)
            .map_err(|e| DatabaseError::io("remove a new file", &path, &e))?;
    }
    fs.sync_dir(dir)
        .map_err(|e| DatabaseError::io("sync directory", dir, &e))?;
    Ok(())
}
