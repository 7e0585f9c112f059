//! What a validation found: a serializable report (printed as JSON by `lightning check` and
//! `lightning_db_check`) listing what was verified and every problem with file and offset.

use std::fmt;
use std::str::FromStr;

use serde::Serialize;

use crate::config::ValidationLevel;
use crate::error::DatabaseError;

/// The parts of a database a validation can be limited to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Component {
    /// The write-ahead log segments still needed by recovery.
    Wal,
    /// The table files: data blocks plus their index structures.
    Tables,
    /// `CURRENT` and the live manifest.
    Manifest,
    /// The on-disk index structures of the table files only: footer, index block, bloom
    /// filter and properties (and, from `Standard` on, their agreement with the data
    /// blocks). `"btree"`, the reference's name, is accepted as an alias.
    Index,
    /// Everything.
    All,
}

impl Component {
    /// The name used in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Wal => "wal",
            Self::Tables => "tables",
            Self::Manifest => "manifest",
            Self::Index => "index",
            Self::All => "all",
        }
    }

    /// Whether validating `self` includes `part` (a concrete component).
    pub fn covers(self, part: Component) -> bool {
        self == Self::All || self == part || (self == Self::Tables && part == Self::Index)
    }
}

impl fmt::Display for Component {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Component {
    type Err = DatabaseError;

    /// Parses `"wal"`, `"tables"`, `"manifest"`, `"index"`, `"btree"` (alias of `"index"`)
    /// or `"all"`, ignoring case; anything else is `InvalidArgument`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "wal" => Ok(Self::Wal),
            "tables" => Ok(Self::Tables),
            "manifest" => Ok(Self::Manifest),
            "index" | "btree" => Ok(Self::Index),
            "all" => Ok(Self::All),
            _ => Err(DatabaseError::InvalidArgument {
                message: format!(
                    "unknown integrity component '{s}': expected wal, tables, manifest, index \
                     (alias btree) or all"
                ),
            }),
        }
    }
}

/// Which kind of check a problem failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CheckKind {
    /// A stored checksum does not match the bytes (`Basic`).
    Checksum,
    /// Bytes that pass their checksum but break the format: bounds, order, counts (`Standard`).
    Structure,
    /// Files that disagree with each other: manifest against tables, sequence numbers,
    /// overlapping ranges, unreachable keys (`Comprehensive`).
    Logical,
    /// A file that should exist does not.
    Missing,
    /// The file could not be read.
    Io,
    /// A sealed block or record of an encrypted database whose checksum holds but which
    /// fails authentication: tampered with, moved, swapped, or sealed for another place.
    Authentication,
}

/// One problem found, with where it is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IntegrityProblem {
    /// The component it belongs to (`"wal"`, `"tables"`, `"index"`, `"manifest"`).
    pub component: Component,
    /// The file (full path).
    pub file: String,
    /// Byte offset of the damaged block, record or field, when it has one.
    pub offset: Option<u64>,
    /// Which kind of check failed.
    pub check: CheckKind,
    /// What is wrong.
    pub details: String,
    /// Whether a repair can fix it without losing data (an index or filter rebuilt from
    /// intact data blocks, a manifest rebuilt from intact tables). Damage to data itself is
    /// not repairable without loss: repair sets the damaged part aside and lists it.
    pub repairable: bool,
}

impl fmt::Display for IntegrityProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.offset {
            Some(off) => write!(f, "{} at offset {off}: {}", self.file, self.details),
            None => write!(f, "{}: {}", self.file, self.details),
        }
    }
}

/// What a validation checked and found; serializes to JSON with [`IntegrityReport::to_json`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct IntegrityReport {
    /// The database directory.
    pub path: String,
    /// The level validated at.
    pub level: ValidationLevel,
    /// The components validated.
    pub components: Vec<Component>,
    /// Files read.
    pub files_checked: u64,
    /// Table files read.
    pub tables_checked: u64,
    /// Log segments read.
    pub wal_segments_checked: u64,
    /// Blocks verified (data, index, filter and properties blocks).
    pub blocks_checked: u64,
    /// Entries decoded from data blocks and log records.
    pub entries_checked: u64,
    /// Log and manifest records verified.
    pub records_checked: u64,
    /// Bytes read.
    pub bytes_checked: u64,
    /// Everything found wrong, in the order found.
    pub problems: Vec<IntegrityProblem>,
    /// Observations that are not corruption: a torn log tail recovery will cut off, orphan
    /// files the next open removes, a validation stopped early.
    pub notes: Vec<String>,
    /// Wall time of the validation in milliseconds.
    pub elapsed_ms: u64,
}

impl IntegrityReport {
    /// True when no problem was found.
    pub fn is_clean(&self) -> bool {
        self.problems.is_empty()
    }

    /// True when every problem found is repairable without loss.
    pub fn is_repairable(&self) -> bool {
        self.problems.iter().all(|p| p.repairable)
    }

    /// The report as pretty-printed JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
    }

    /// One line per problem (`file at offset N: details`), for error messages.
    pub fn summary(&self) -> String {
        if self.problems.is_empty() {
            return "no problems found".to_string();
        }
        let mut lines: Vec<String> = self
            .problems
            .iter()
            .take(20)
            .map(|p| p.to_string())
            .collect();
        if self.problems.len() > 20 {
            lines.push(format!("... and {} more", self.problems.len() - 20));
        }
        lines.join("; ")
    }
}
