//! File-level checks shared by validation, repair and the background verifier.
//!
//! Everything here reads through the [`FileSystem`] layer, bypasses the block cache, and
//! records what it finds in an [`IntegrityReport`] instead of stopping at the first error,
//! so one pass lists every damaged block, record and field with its file and offset.

// One file per file kind, plus the checks across files.
mod cross;
mod incremental;
mod logs;
mod manifests;
mod tables;

pub(crate) use cross::*;
pub(crate) use incremental::*;
pub(crate) use logs::*;
pub(crate) use manifests::*;
pub(crate) use tables::*;

use std::collections::BTreeSet;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::report::{CheckKind, Component, IntegrityProblem, IntegrityReport};
use crate::checksum::checksum64_parts;
use crate::config::{ChecksumAlgorithm, ValidationLevel};
use crate::error::DatabaseError;
use crate::storage::cache::BlockCache;
use crate::storage::coding::get_u64;
use crate::storage::crypto::KeyRing;
use crate::storage::fs::FileSystem;
use crate::storage::manifest::{self, VersionEdit, MANIFEST_MAGIC};
use crate::storage::record::{
    decode_file_header, read_record, FinishedExtent, RecordRead, FILE_HEADER_LEN,
};
use crate::storage::table::block::{
    decode_from_disk, decode_sealed, Block, BlockError, SealedBlockError, BLOCK_TRAILER_LEN,
};
use crate::storage::table::bloom;
use crate::storage::table::builder::TableMeta;
use crate::storage::table::format::{
    decode_index, Footer, FooterProblem, IndexEntry, TableProperties,
};
use crate::storage::table::reader::Table;
use crate::storage::table::{table_file_name, FOOTER_LEN};
use crate::storage::version::NUM_LEVELS;
use crate::storage::wal::{self, WAL_MAGIC};

/// Collects findings while files are checked.
pub(crate) struct Checker {
    pub fs: Arc<dyn FileSystem>,
    pub dir: PathBuf,
    pub level: ValidationLevel,
    /// Stop at the first problem.
    pub fail_fast: bool,
    pub report: IntegrityReport,
    /// The data keys of an encrypted database: sealed blocks and records are opened (and
    /// authenticated) with them, and keys in findings are shown by length only, since
    /// reports are written beside the data in the clear.
    pub keys: Option<Arc<KeyRing>>,
}

/// What opens the sealed blocks of one table: its number and its file's instance id (from
/// its footer; without the footer its sealed blocks cannot be opened), and whether its
/// blocks must be sealed (its footer says table format 2; without the footer, whenever the
/// database is encrypted).
#[derive(Debug, Clone, Copy)]
pub(crate) struct TableSeal {
    pub number: u64,
    pub instance: Option<u64>,
    pub sealed: bool,
}

impl TableSeal {
    /// Table `number` as its footer `f` (if usable) describes it, in a database that is
    /// encrypted when `encrypted`.
    pub fn of(number: u64, f: Option<&Footer>, encrypted: bool) -> Self {
        TableSeal {
            number,
            instance: f.map(|f| f.instance),
            sealed: f.map_or(encrypted, |f| {
                f.format_version == crate::storage::table::format::SEALED_TABLE_FORMAT_VERSION
            }),
        }
    }
}

impl Checker {
    pub fn new(fs: Arc<dyn FileSystem>, dir: &Path, level: ValidationLevel) -> Self {
        Self {
            fs,
            dir: dir.to_path_buf(),
            level,
            fail_fast: false,
            keys: None,
            report: IntegrityReport {
                path: dir.display().to_string(),
                level,
                ..Default::default()
            },
        }
    }

    /// The same checker, opening sealed blocks and records with `keys` (an encrypted
    /// database).
    pub fn with_keys(mut self, keys: Option<Arc<KeyRing>>) -> Self {
        self.keys = keys;
        self
    }

    /// A key for a finding: [`show_key`], or only its length in an encrypted database.
    pub fn show_key(&self, key: &[u8]) -> String {
        show_key_sealed(key, self.keys.is_some())
    }

    /// Verifies block bytes read from `offset` of table `table` (checksum first, so
    /// damage is found the same way with or without keys), opens them when sealed, and
    /// returns the uncompressed payload. A sealed block whose checksum holds but which
    /// fails authentication (tampered with, moved, or sealed for another place) is an
    /// `Authentication` finding.
    pub fn open_block(
        &self,
        raw: Vec<u8>,
        algorithm: ChecksumAlgorithm,
        offset: u64,
        table: TableSeal,
        what: &str,
    ) -> Result<Vec<u8>, (CheckKind, String)> {
        let framing = crate::storage::table::block::verify_frame(&raw, algorithm, offset)
            .map_err(|e| block_error(e, what))?
            .0;
        let sealed = framing == crate::storage::table::block::Framing::Sealed;
        if sealed != table.sealed {
            // A plain block in a sealed table passes its (unkeyed) checksum, but only a
            // forger without the key writes one; a sealed block in a plain table is damage.
            return Err(if table.sealed {
                (
                    CheckKind::Authentication,
                    format!("{what} block of an encrypted table is stored unencrypted"),
                )
            } else {
                (
                    CheckKind::Structure,
                    format!("{what} block of a plain table is stored encrypted"),
                )
            });
        }
        if !sealed {
            return decode_from_disk(raw, algorithm, offset).map_err(|e| block_error(e, what));
        }
        let Some(keys) = self.keys.as_deref() else {
            return Err((
                CheckKind::Structure,
                format!("{what} block is encrypted and no key was given to open it"),
            ));
        };
        let Some(instance) = table.instance else {
            return Err((
                CheckKind::Structure,
                format!(
                    "{what} block is encrypted and the table's footer (which names the file \
                     instance it is sealed for) is unusable"
                ),
            ));
        };
        let path = self.dir.join(table_file_name(table.number));
        let place = crate::storage::table::reader::table_place(table.number, instance, offset);
        decode_sealed(&raw, algorithm, keys, &path, place).map_err(|e| match e {
            SealedBlockError::Block(e) => block_error(e, what),
            SealedBlockError::Security(e) => (
                CheckKind::Authentication,
                format!("{what} block failed authentication: {e}"),
            ),
        })
    }

    /// Opens the payload of a record of a sealed log segment or manifest (`sealed`: its
    /// header's version says so) at `place`; a plain file's payload is returned as it is.
    pub fn open_record<'a>(
        &self,
        path: &Path,
        sealed: bool,
        place: crate::storage::crypto::SealPlace,
        payload: &'a [u8],
    ) -> Result<std::borrow::Cow<'a, [u8]>, (CheckKind, String)> {
        if !sealed {
            return Ok(std::borrow::Cow::Borrowed(payload));
        }
        let Some(keys) = self.keys.as_deref() else {
            return Err((
                CheckKind::Structure,
                "the record is encrypted and no key was given to open it".to_string(),
            ));
        };
        keys.open(path, place, payload)
            .map(std::borrow::Cow::Owned)
            .map_err(|e| {
                (
                    CheckKind::Authentication,
                    format!("record failed authentication: {e}"),
                )
            })
    }

    /// Records a problem.
    #[allow(clippy::too_many_arguments)]
    pub fn problem(
        &mut self,
        component: Component,
        file: &Path,
        offset: Option<u64>,
        check: CheckKind,
        details: impl Into<String>,
        repairable: bool,
    ) {
        self.report.problems.push(IntegrityProblem {
            component,
            file: file.display().to_string(),
            offset,
            check,
            details: details.into(),
            repairable,
        });
    }

    /// Records a note (not corruption).
    pub fn note(&mut self, note: impl Into<String>) {
        self.report.notes.push(note.into());
    }

    /// True once a fail-fast validation found something.
    pub fn stopped(&self) -> bool {
        self.fail_fast && !self.report.problems.is_empty()
    }

    fn at_least(&self, level: ValidationLevel) -> bool {
        self.level >= level
    }
}

pub(super) fn io_check(e: &io::Error) -> CheckKind {
    if e.kind() == io::ErrorKind::NotFound {
        CheckKind::Missing
    } else {
        CheckKind::Io
    }
}

/// A key for a message; with `sealed` (an encrypted database, whose findings are written
/// beside its data in the clear) only its length.
pub(crate) fn show_key_sealed(key: &[u8], sealed: bool) -> String {
    if sealed {
        format!("<{} bytes>", key.len())
    } else {
        show_key(key)
    }
}

/// The number in a file name such as `000012.log`, for the place its sealed units are
/// bound to (the name, not a header a copy would keep: a file copied under another
/// number fails authentication).
pub(crate) fn file_number(path: &Path, suffix: &str) -> Option<u64> {
    path.file_name()?
        .to_str()?
        .strip_suffix(suffix)?
        .parse()
        .ok()
}

/// A key for a message: text when printable, else hex, cut at 64 bytes.
pub(crate) fn show_key(key: &[u8]) -> String {
    let k = &key[..key.len().min(64)];
    let more = if key.len() > 64 { "…" } else { "" };
    if k.iter().all(|b| b.is_ascii_graphic() || *b == b' ') {
        format!("\"{}\"{more}", String::from_utf8_lossy(k))
    } else {
        let hex: String = k.iter().map(|b| format!("{b:02x}")).collect();
        format!("0x{hex}{more}")
    }
}
