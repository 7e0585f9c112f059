//! A read-only look at a database's files: its format, the checksum algorithms and
//! compression its files use, and its files per level. Takes no lock and writes nothing,
//! so it also works on a database another process has open (the picture is then as of
//! the moment each file was read).

use crate::config::EncryptionKey;
use crate::storage::crypto::{self, KeyRing};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::checksum::ChecksumAlgorithm;
use crate::error::DatabaseError;
use crate::storage::cache::BlockCache;
use crate::storage::format::{self, DatabaseVersion, VersionSource};
use crate::storage::fs::FileSystem;
use crate::storage::manifest::{self, VersionEdit, MANIFEST_MAGIC};
use crate::storage::record::{decode_file_header, FILE_HEADER_LEN};
use crate::storage::table::block::BLOCK_TRAILER_LEN;
use crate::storage::table::format::Footer;
use crate::storage::table::reader::Table;
use crate::storage::table::{table_file_name, FOOTER_LEN};
use crate::storage::version::NUM_LEVELS;
use crate::storage::wal::WAL_MAGIC;

/// How a database's format version was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum FormatSource {
    /// Its `FORMAT` file.
    FormatFile,
    /// Its log segments' headers (a database made before `FORMAT` existed).
    LogHeaders,
    /// Neither: a manifest only, read the same way by every format; the oldest is assumed.
    Assumed,
}

/// One log segment or manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileInfo {
    /// The file name.
    pub name: String,
    /// Its size in bytes.
    pub size: u64,
    /// The format version in its header.
    pub format_version: u32,
    /// The checksum algorithm its header names.
    pub checksum: ChecksumAlgorithm,
}

/// One table file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableInfo {
    /// The file name.
    pub name: String,
    /// Its size in bytes.
    pub size: u64,
    /// Versions it holds (values and tombstones).
    pub entries: u64,
    /// The table format version in its footer.
    pub format_version: u32,
    /// The checksum algorithm of its blocks.
    pub checksum: ChecksumAlgorithm,
    /// Data blocks.
    pub blocks: usize,
    /// Data blocks stored LZ4-compressed (a block that does not shrink is stored plain
    /// even with compression on). An encrypted table's blocks are sealed, which hides
    /// whether they are compressed: 0.
    pub compressed_blocks: usize,
}

/// What [`MigrationManager::inspect`](super::MigrationManager::inspect) found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatabaseInfo {
    /// The database directory.
    pub path: PathBuf,
    /// The database format version number.
    pub format_version: u32,
    /// That version, when this build knows it.
    pub version: Option<DatabaseVersion>,
    /// Where the version came from.
    pub format_source: FormatSource,
    /// Whether a format switch was interrupted (the next open finishes or undoes it).
    pub pending_switch: bool,
    /// The live manifest.
    pub manifest: Option<FileInfo>,
    /// The log segments.
    pub logs: Vec<FileInfo>,
    /// The live tables per level (index = level).
    pub levels: Vec<Vec<TableInfo>>,
    /// Encryption at rest: the database has a key file (`KEYS`) and records format
    /// number 3 (`ENCRYPTED_FORMAT_NUMBER`).
    pub encrypted: bool,
    /// For an encrypted database, the generation of its current data key as its key file
    /// records it (read without the key; for display). `None` for a plain database.
    pub key_generation: Option<u32>,
    /// For an encrypted database inspected without its key: the tables could not be
    /// listed (the manifest is sealed), so `levels` is empty.
    pub tables_hidden: bool,
}

impl DatabaseInfo {
    /// Every checksum algorithm the database's files use.
    pub fn checksum_algorithms(&self) -> BTreeSet<String> {
        let tables = self.levels.iter().flatten().map(|t| t.checksum);
        let others = self
            .logs
            .iter()
            .chain(self.manifest.iter())
            .map(|f| f.checksum);
        tables.chain(others).map(|c| format!("{c:?}")).collect()
    }

    /// `"on"` when the tables hold compressed blocks, `"off"` when none do,
    /// `"none (no tables)"` with no tables.
    pub fn compression(&self) -> &'static str {
        let tables: Vec<&TableInfo> = self.levels.iter().flatten().collect();
        if tables.is_empty() {
            "none (no tables)"
        } else if tables.iter().any(|t| t.compressed_blocks > 0) {
            "on"
        } else {
            "off"
        }
    }

    /// Bytes of every table, log segment and the manifest.
    pub fn total_bytes(&self) -> u64 {
        let tables: u64 = self.levels.iter().flatten().map(|t| t.size).sum();
        let others: u64 = self
            .logs
            .iter()
            .chain(self.manifest.iter())
            .map(|f| f.size)
            .sum();
        tables + others
    }
}

fn header_info(
    fs: &dyn FileSystem,
    dir: &Path,
    name: &str,
    magic: u32,
) -> Result<FileInfo, DatabaseError> {
    let path = dir.join(name);
    let file = fs
        .open_read(&path)
        .map_err(|e| DatabaseError::io("open file", &path, &e))?;
    let size = file
        .size()
        .map_err(|e| DatabaseError::io("size file", &path, &e))?;
    let mut head = [0u8; FILE_HEADER_LEN];
    file.read_exact_at(&mut head, 0)
        .map_err(|e| DatabaseError::io("read file header", &path, &e))?;
    let h = decode_file_header(&head, magic).map_err(|e| DatabaseError::DataCorruption {
        component: path.display().to_string(),
        details: format!("bad file header: {e:?}"),
        recovery_possible: false,
    })?;
    Ok(FileInfo {
        name: name.to_string(),
        size,
        format_version: u32::from(h.version),
        checksum: h.checksum,
    })
}

/// The footer's format version and, for each data block, whether it is compressed.
pub(super) fn table_info(
    fs: &Arc<dyn FileSystem>,
    dir: &Path,
    number: u64,
    cache: &Arc<BlockCache>,
) -> Result<TableInfo, DatabaseError> {
    let table = Table::open(Arc::clone(fs), dir, number, Arc::clone(cache))?;
    let path = dir.join(table_file_name(number));
    let file = fs
        .open_read(&path)
        .map_err(|e| DatabaseError::io("open table", &path, &e))?;
    let mut footer = [0u8; FOOTER_LEN];
    file.read_exact_at(&mut footer, table.file_size - FOOTER_LEN as u64)
        .map_err(|e| DatabaseError::io("read table footer", &path, &e))?;
    // Table::open verified the footer already.
    let format_version = Footer::decode(&footer).map_or(0, |f| f.format_version);
    let mut compressed_blocks = 0;
    for entry in table.index() {
        let mut kind = [0u8; 1];
        file.read_exact_at(
            &mut kind,
            entry.offset + entry.len - BLOCK_TRAILER_LEN as u64,
        )
        .map_err(|e| DatabaseError::io("read block trailer", &path, &e))?;
        // A sealed block (2) hides whether it is compressed: not counted.
        compressed_blocks += usize::from(kind[0] == 1);
    }
    Ok(TableInfo {
        name: table_file_name(number),
        size: table.file_size,
        entries: table.props.entries,
        format_version,
        checksum: table.checksum,
        blocks: table.index().len(),
        compressed_blocks,
    })
}

/// The live tables per level, as the manifest's edits leave them.
pub(super) fn live_tables(
    edits: &[VersionEdit],
) -> Vec<Vec<crate::storage::table::builder::TableMeta>> {
    let mut levels = vec![Vec::new(); NUM_LEVELS];
    for edit in edits {
        for &(level, number) in &edit.deleted {
            if let Some(l) = levels.get_mut(level) {
                l.retain(|m: &crate::storage::table::builder::TableMeta| m.number != number);
            }
        }
        for (level, meta) in &edit.added {
            if let Some(l) = levels.get_mut(*level) {
                l.push(meta.clone());
            }
        }
    }
    levels
}

/// The record of a format switch that reached its commit point (`CURRENT` names its
/// manifest) but not its end: the next open completes it. `None` without one.
fn committed_switch(
    fs: &dyn FileSystem,
    dir: &Path,
) -> Result<Option<format::FormatRecord>, DatabaseError> {
    let path = dir.join(format::FORMAT_NEXT_FILE);
    if !fs.exists(&path) {
        return Ok(None);
    }
    let next = format::FormatRecord::decode(
        &fs.read_all(&path)
            .map_err(|e| DatabaseError::io("read format switch record", dir, &e))?,
    )
    .map_err(|why| DatabaseError::DataCorruption {
        component: path.display().to_string(),
        details: why,
        recovery_possible: false,
    })?;
    Ok((next.switch_manifest != 0
        && manifest::read_current(fs, dir)? == Some(next.switch_manifest))
    .then_some(next))
}

/// Whether the database is encrypted as the next open will find it (an interrupted
/// encryption switch settled), and the key file that holds its data keys then: `KEYS`,
/// or the `KEYS.next` a committed encrypting switch staged (`None` when it is lost).
fn settled_encryption(
    fs: &dyn FileSystem,
    dir: &Path,
) -> Result<(bool, Option<PathBuf>), DatabaseError> {
    let keys = dir.join(crypto::KEY_FILE);
    let staged = dir.join(crypto::KEY_FILE_NEXT);
    match committed_switch(fs, dir)? {
        Some(next) if next.version == format::ENCRYPTED_FORMAT_NUMBER => {
            let file = [staged, keys].into_iter().find(|p| fs.exists(p));
            Ok((true, file))
        }
        // Completing a switch to a plain format removes `KEYS`.
        Some(_) => Ok((false, None)),
        None => {
            let encrypted = fs.exists(&keys);
            Ok((encrypted, encrypted.then_some(keys)))
        }
    }
}

/// The database's format: a committed pending switch counts (the next open installs
/// it), then `FORMAT`, then the log headers. An empty directory is no database.
pub(super) fn detect(
    fs: &dyn FileSystem,
    dir: &Path,
) -> Result<(u32, FormatSource, bool), DatabaseError> {
    let names = fs
        .list_dir(dir)
        .map_err(|e| DatabaseError::io("list database directory", dir, &e))?;
    let pending = names.iter().any(|n| n == format::FORMAT_NEXT_FILE);
    if let Some(next) = committed_switch(fs, dir)? {
        return Ok((next.version, FormatSource::FormatFile, true));
    }
    let found = format::detect_from_files(fs, dir, &names)?;
    let source = match found.source {
        VersionSource::FormatFile => FormatSource::FormatFile,
        VersionSource::LogHeaders => FormatSource::LogHeaders,
        VersionSource::Assumed => FormatSource::Assumed,
        VersionSource::Empty => {
            return Err(DatabaseError::InvalidArgument {
                message: format!("{} holds no Lightning DB database", dir.display()),
            })
        }
    };
    Ok((found.version, source, pending))
}

/// Reads what [`DatabaseInfo`] reports.
/// With `key`, an encrypted database's manifest and tables are read too.
pub(super) fn inspect(
    fs: &Arc<dyn FileSystem>,
    dir: &Path,
    key: Option<&EncryptionKey>,
) -> Result<DatabaseInfo, DatabaseError> {
    let (format_version, format_source, pending_switch) = detect(fs.as_ref(), dir)?;
    // As the next open will find it: an interrupted encryption switch counts.
    let (encrypted, key_file) = settled_encryption(fs.as_ref(), dir)?;
    let keys = match (key.filter(|_| encrypted), &key_file) {
        (Some(k), Some(path)) => {
            let data = fs
                .read_all(path)
                .map_err(|e| DatabaseError::io("read key file", path, &e))?;
            Some(Arc::new(KeyRing::decode(path, &data, k)?))
        }
        _ => None,
    };
    let tables_hidden = encrypted && keys.is_none();
    let names = fs
        .list_dir(dir)
        .map_err(|e| DatabaseError::io("list database directory", dir, &e))?;
    let mut logs = Vec::new();
    let mut log_names: Vec<&String> = names
        .iter()
        .filter(|n| {
            n.strip_suffix(".log")
                .is_some_and(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
        })
        .collect();
    log_names.sort();
    for name in log_names {
        logs.push(header_info(fs.as_ref(), dir, name, WAL_MAGIC)?);
    }
    let mut levels = vec![Vec::new(); NUM_LEVELS];
    let mut manifest_info = None;
    if let Some(number) = manifest::read_current(fs.as_ref(), dir)? {
        let name = manifest::manifest_file_name(number);
        manifest_info = Some(header_info(fs.as_ref(), dir, &name, MANIFEST_MAGIC)?);
        let edits = if tables_hidden {
            Vec::new()
        } else {
            manifest::read_manifest_keyed(fs.as_ref(), dir, number, keys.as_deref())?
        };
        let cache = Arc::new(BlockCache::new(1 << 20));
        cache.set_keys(keys.clone());
        for (level, metas) in live_tables(&edits).into_iter().enumerate() {
            for meta in metas {
                levels[level].push(table_info(fs, dir, meta.number, &cache)?);
            }
        }
    }
    while levels.len() > 1 && levels.last().is_some_and(Vec::is_empty) {
        levels.pop();
    }
    Ok(DatabaseInfo {
        path: dir.to_path_buf(),
        format_version,
        version: DatabaseVersion::from_number(format_version),
        format_source,
        pending_switch,
        manifest: manifest_info,
        logs,
        levels,
        encrypted,
        key_generation: match &keys {
            Some(ring) => Some(ring.current_generation()),
            // Read without the key, from `KEYS` (for display; a staged file is not read).
            None if encrypted => crypto::recorded_generation(fs.as_ref(), dir),
            None => None,
        },
        tables_hidden,
    })
}
