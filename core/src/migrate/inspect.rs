//! A read-only look at a database's files: its format, the checksum algorithms and
//! compression its files use, and its files per level. Takes no lock and writes nothing,
//! so it also works on a database another process has open (the picture is then as of
//! the moment each file was read).

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
    /// even with compression on).
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
    /// Encryption at rest (not in any format yet: always false).
    pub encrypted: bool,
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
        compressed_blocks += usize::from(kind[0] != 0);
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
    if pending {
        let next = format::FormatRecord::decode(
            &fs.read_all(&dir.join(format::FORMAT_NEXT_FILE))
                .map_err(|e| DatabaseError::io("read format switch record", dir, &e))?,
        )
        .map_err(|why| DatabaseError::DataCorruption {
            component: dir.join(format::FORMAT_NEXT_FILE).display().to_string(),
            details: why,
            recovery_possible: false,
        })?;
        if manifest::read_current(fs, dir)? == Some(next.switch_manifest) {
            return Ok((next.version, FormatSource::FormatFile, true));
        }
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
pub(super) fn inspect(fs: &Arc<dyn FileSystem>, dir: &Path) -> Result<DatabaseInfo, DatabaseError> {
    let (format_version, format_source, pending_switch) = detect(fs.as_ref(), dir)?;
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
        let edits = manifest::read_manifest(fs.as_ref(), dir, number)?;
        let cache = Arc::new(BlockCache::new(1 << 20));
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
        encrypted: false,
    })
}
