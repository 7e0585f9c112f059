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
use crate::storage::fs::FileSystem;
use crate::storage::manifest::{self, VersionEdit, MANIFEST_MAGIC};
use crate::storage::record::{
    decode_file_header, read_record, FinishedExtent, RecordRead, FILE_HEADER_LEN,
};
use crate::storage::table::block::{decode_from_disk, Block, BlockError, BLOCK_TRAILER_LEN};
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
}

impl Checker {
    pub fn new(fs: Arc<dyn FileSystem>, dir: &Path, level: ValidationLevel) -> Self {
        Self {
            fs,
            dir: dir.to_path_buf(),
            level,
            fail_fast: false,
            report: IntegrityReport {
                path: dir.display().to_string(),
                level,
                ..Default::default()
            },
        }
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
