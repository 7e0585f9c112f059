//! What a migration is made of: its steps, its plan, what it reports as it goes and when
//! it ends, and the errors it answers.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::checksum::ChecksumAlgorithm;
use crate::config::EncryptionKey;
use crate::error::DatabaseError;
use crate::storage::format::DatabaseVersion;

/// One change a migration makes to a database's files. Each step rewrites what it
/// changes into new files and switches to them atomically (a new manifest named by
/// `CURRENT`), so a crash leaves the database before or after the step, never between.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum MigrationStep {
    /// Moves the database from one format version to the next (or the previous): what
    /// its log holds is written into a table, and from then on its log is written in the
    /// format of `to`. Tables and the manifest are the same in every format so far.
    ChangeFormat {
        /// The format before the step.
        from: DatabaseVersion,
        /// The format after the step.
        to: DatabaseVersion,
    },
    /// Rewrites every table and the manifest (and the log, into a table) with checksum
    /// algorithm `to`.
    ChangeChecksum {
        /// The algorithm of the rewritten files.
        to: ChecksumAlgorithm,
    },
    /// Rewrites every table (and the log, into a table) with LZ4 block compression on or
    /// off.
    SetCompression {
        /// Whether the rewritten tables compress their blocks.
        enabled: bool,
    },
    /// Turns encryption at rest on: a new key file (`KEYS`) of random data keys wrapped by
    /// the plan's key ([`MigrationPlan::with_encryption_key`]), every table rewritten with
    /// its blocks sealed, the log written into a sealed table, the manifest rewritten
    /// sealed, and the database recorded as format 3 (`ENCRYPTED_FORMAT_NUMBER`). The key
    /// file appears in the same atomic switch as the sealed manifest.
    EnableEncryption,
    /// Turns encryption at rest off: every table, the log (into a table) and the manifest
    /// read with the plan's key and rewritten in the clear, the database recorded at the
    /// newest plain format, and its key file removed in the same atomic switch.
    DisableEncryption,
}

impl MigrationStep {
    /// Whether the step rewrites every table (the format steps keep the tables, whose
    /// format has not changed).
    pub fn rewrites_tables(&self) -> bool {
        !matches!(self, Self::ChangeFormat { .. })
    }
}

impl fmt::Display for MigrationStep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::ChangeFormat { from, to } => write!(
                f,
                "change format {} -> {}: write the log into a table, then write log format {}",
                from.resolve(),
                to.resolve(),
                to.log_format_version()
            ),
            Self::ChangeChecksum { to } => {
                write!(
                    f,
                    "rewrite every table and the manifest with checksum {to:?}"
                )
            }
            Self::SetCompression { enabled } => write!(
                f,
                "rewrite every table with compression {}",
                if *enabled { "on (LZ4)" } else { "off" }
            ),
            Self::EnableEncryption => write!(
                f,
                "encrypt: rewrite every table, the log and the manifest sealed under a new \
                 key file (format 3)"
            ),
            Self::DisableEncryption => write!(
                f,
                "decrypt: rewrite every table, the log and the manifest in the clear and \
                 remove the key file (format {})",
                DatabaseVersion::Latest.number()
            ),
        }
    }
}

/// A migration to run: the database, its format now and the one wanted, and the steps
/// between. Made by [`MigrationManager::create_migration_plan`](super::MigrationManager::create_migration_plan)
/// (or `create_migration_plan_for`); executed by `execute_migration`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationPlan {
    pub(super) path: Option<PathBuf>,
    pub(super) from: DatabaseVersion,
    pub(super) to: DatabaseVersion,
    pub(super) steps: Vec<MigrationStep>,
    pub(super) backup_dir: Option<PathBuf>,
    /// The key-encryption key: an encrypted database's files are read (and rewritten)
    /// with it, and [`MigrationStep::EnableEncryption`] wraps the new data keys with it.
    pub(super) key: Option<EncryptionKey>,
}

impl MigrationPlan {
    /// The database directory the plan runs on, when it knows one.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// The format the database is in before the migration.
    pub fn from_version(&self) -> DatabaseVersion {
        self.from
    }

    /// The format it is in after.
    pub fn to_version(&self) -> DatabaseVersion {
        self.to
    }

    /// The steps, in the order they run.
    pub fn steps(&self) -> &[MigrationStep] {
        &self.steps
    }

    /// Where the database's files are copied before the first step, if anywhere.
    pub fn backup_dir(&self) -> Option<&Path> {
        self.backup_dir.as_deref()
    }

    /// The plan for the database in `path` (a plan made from two versions alone learns its
    /// path this way, or from the manager's last `detect_version`).
    pub fn with_path(mut self, path: impl AsRef<Path>) -> Self {
        self.path = Some(path.as_ref().to_path_buf());
        self
    }

    /// Copies every file of the database into `dir` (which must not exist yet) before the
    /// first step: a backup kept after the migration, beside the rollback every step has.
    pub fn with_backup(mut self, dir: impl AsRef<Path>) -> Self {
        self.backup_dir = Some(dir.as_ref().to_path_buf());
        self
    }

    /// Adds a step rewriting the existing files with checksum algorithm `algorithm`.
    pub fn with_checksum(mut self, algorithm: ChecksumAlgorithm) -> Self {
        self.steps
            .push(MigrationStep::ChangeChecksum { to: algorithm });
        self
    }

    /// Adds a step rewriting the existing tables with compression on or off.
    pub fn with_compression(mut self, enabled: bool) -> Self {
        self.steps.push(MigrationStep::SetCompression { enabled });
        self
    }

    /// The database's key-encryption key. An encrypted database is migrated only with
    /// it (every step reads its sealed files, and the rewritten ones are sealed again),
    /// and [`with_encryption(true)`](Self::with_encryption) wraps the new data keys with
    /// it. The plan keeps it until dropped (zeroized then); its `Debug` shows nothing.
    pub fn with_encryption_key(mut self, key: EncryptionKey) -> Self {
        self.key = Some(key);
        self
    }

    /// Whether the plan carries a key ([`with_encryption_key`](Self::with_encryption_key)).
    pub fn has_encryption_key(&self) -> bool {
        self.key.is_some()
    }

    /// Adds a step turning encryption at rest on ([`MigrationStep::EnableEncryption`])
    /// or off ([`MigrationStep::DisableEncryption`]); both need the plan's key.
    pub fn with_encryption(mut self, enabled: bool) -> Self {
        self.steps.push(if enabled {
            MigrationStep::EnableEncryption
        } else {
            MigrationStep::DisableEncryption
        });
        self
    }
}

/// Where a running migration is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum MigrationPhase {
    /// Copying the database into the plan's backup directory.
    Backup,
    /// Writing the step's new files.
    Rewriting,
    /// Switching to them (the step's commit point).
    Switching,
    /// Removing the files the step replaced.
    Cleanup,
    /// Putting the database back after a failure.
    RollingBack,
    /// The step is done.
    Done,
}

/// A progress report, given to the manager's progress callback as the migration goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationProgress {
    /// The step's position, from 0 (backups report step 0 too).
    pub step_index: usize,
    /// How many steps the plan has.
    pub step_count: usize,
    /// What the step does.
    pub step: String,
    /// The phase.
    pub phase: MigrationPhase,
    /// Bytes of the step's input read and rewritten so far.
    pub bytes_done: u64,
    /// Bytes of the step's input in all.
    pub bytes_total: u64,
}

/// The callback that hears [`MigrationProgress`].
pub type MigrationProgressFn = Arc<dyn Fn(&MigrationProgress) + Send + Sync>;

/// What one step did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepReport {
    /// The step.
    pub step: MigrationStep,
    /// Bytes of new files written.
    pub bytes_rewritten: u64,
    /// New table files written.
    pub tables_written: usize,
    /// Old files removed after the switch.
    pub files_removed: usize,
    /// How long the step took.
    pub duration: Duration,
}

/// What a finished migration did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationResult {
    /// The database.
    pub path: PathBuf,
    /// Its format before.
    pub from: DatabaseVersion,
    /// Its format after. An encrypted database reports the plain format its files are
    /// laid out in (`V2`); it records format number 3 (see `encrypted_after`).
    pub to: DatabaseVersion,
    /// Whether the database was encrypted before the migration.
    pub encrypted_before: bool,
    /// Whether it is encrypted after it.
    pub encrypted_after: bool,
    /// Each step's report, in order.
    pub steps: Vec<StepReport>,
    /// Bytes of new files written by all steps.
    pub bytes_rewritten: u64,
    /// How long the whole migration took.
    pub duration: Duration,
    /// Where the backup went, when the plan asked for one.
    pub backup_dir: Option<PathBuf>,
    /// Things that did not stop the migration (an old file that could not be removed
    /// after a switch: the next open removes it).
    pub warnings: Vec<String>,
}

impl MigrationResult {
    /// The result as one line of JSON, the report the C API and the bindings hand out:
    /// `path`, `from` and `to` (format numbers as recorded in `FORMAT`: 3 for an
    /// encrypted database), `encrypted_before`, `encrypted_after`, `steps` (each `step` described,
    /// `bytes_rewritten`, `tables_written`, `files_removed`, `seconds`),
    /// `bytes_rewritten`, `seconds`, `warnings` and `backup_dir` (`null` without one).
    pub fn to_json(&self) -> String {
        let steps: Vec<serde_json::Value> = self
            .steps
            .iter()
            .map(|s| {
                serde_json::json!({
                    "step": s.step.to_string(),
                    "bytes_rewritten": s.bytes_rewritten,
                    "tables_written": s.tables_written,
                    "files_removed": s.files_removed,
                    "seconds": s.duration.as_secs_f64(),
                })
            })
            .collect();
        serde_json::json!({
            "path": self.path.display().to_string(),
            "from": recorded_number(self.from, self.encrypted_before),
            "to": recorded_number(self.to, self.encrypted_after),
            "encrypted_before": self.encrypted_before,
            "encrypted_after": self.encrypted_after,
            "steps": steps,
            "bytes_rewritten": self.bytes_rewritten,
            "seconds": self.duration.as_secs_f64(),
            "warnings": self.warnings,
            "backup_dir": self.backup_dir.as_ref().map(|d| d.display().to_string()),
        })
        .to_string()
    }
}

/// The format number `FORMAT` records for a database of `version`, encrypted or not.
fn recorded_number(version: DatabaseVersion, encrypted: bool) -> u32 {
    if encrypted {
        crate::storage::format::ENCRYPTED_FORMAT_NUMBER
    } else {
        version.resolve().number()
    }
}

/// What [`check_compatibility`](super::MigrationManager::check_compatibility) says about a
/// database format and the format a library reads and writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CompatibilityResult {
    /// The same format: nothing to do.
    FullyCompatible,
    /// The library reads the older database as it is (and keeps writing its format until
    /// it is migrated); the warnings say what that means.
    BackwardCompatible {
        /// What the user should know.
        warnings: Vec<String>,
    },
    /// The library cannot read the database until these steps have run (by a release that
    /// knows both formats, such as this one).
    RequiresMigration {
        /// The steps.
        steps: Vec<MigrationStep>,
    },
    /// No migration makes them meet.
    Incompatible {
        /// Why.
        reason: String,
    },
}

/// Why a migration could not be planned, was refused, or failed.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum MigrationError {
    /// The plan names no database: give it one with `MigrationPlan::with_path`, or make
    /// it with `create_migration_plan_for` or after `detect_version`.
    #[error("the migration plan names no database directory (use MigrationPlan::with_path)")]
    NoDatabasePath,
    /// The database is not in the format the plan starts from.
    #[error("{path} is in format {found}, the plan starts from {expected}")]
    VersionMismatch {
        /// The database.
        path: PathBuf,
        /// The plan's starting format.
        expected: DatabaseVersion,
        /// The database's format.
        found: DatabaseVersion,
    },
    /// The database is open (in this process or another).
    #[error("{path} is open elsewhere; close it before migrating")]
    DatabaseInUse {
        /// The database.
        path: PathBuf,
    },
    /// The disk lacks room for the files the migration writes.
    #[error(
        "not enough free disk space for the migration: {required} bytes needed, {available} \
         available"
    )]
    InsufficientDiskSpace {
        /// Bytes the migration writes (and the backup, if any), with a margin.
        required: u64,
        /// Bytes free.
        available: u64,
    },
    /// The backup the plan asked for could not be made (nothing was changed).
    #[error("the backup into {path} could not be made: {reason}")]
    BackupFailed {
        /// The backup directory.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// A step failed and the database was rolled back: its files are exactly as they
    /// were before the migration, in the old format.
    #[error("migration step '{step}' failed and was rolled back: {cause}")]
    StepFailed {
        /// The step.
        step: String,
        /// Why it failed.
        cause: Box<DatabaseError>,
    },
    /// A step failed and putting the database back failed too.
    #[error("migration step '{step}' failed ({cause}) and its rollback failed: {rollback}")]
    RollbackFailed {
        /// The step.
        step: String,
        /// Why the step failed.
        cause: Box<DatabaseError>,
        /// Why the rollback failed.
        rollback: Box<DatabaseError>,
    },
    /// The plan needs the database's key and carries none: the database is encrypted
    /// (its files are read with the key), or a step turns encryption on (the key wraps
    /// the new data keys). Nothing was changed.
    #[error(
        "{path}: {reason}; give the key with MigrationPlan::with_encryption_key (`--key-file \
         FILE` or LIGHTNING_KEY on the command line)"
    )]
    EncryptionKeyRequired {
        /// The database.
        path: PathBuf,
        /// Why the key is needed.
        reason: String,
    },
    /// A step turns encryption on for a database that is encrypted already (at that
    /// step). Nothing was changed.
    #[error("{path} is encrypted already: there is nothing to encrypt")]
    AlreadyEncrypted {
        /// The database.
        path: PathBuf,
    },
    /// A step turns encryption off for a database that is not encrypted (at that step).
    /// Nothing was changed.
    #[error("{path} is not encrypted: there is nothing to decrypt")]
    NotEncrypted {
        /// The database.
        path: PathBuf,
    },
    /// Reading the database failed before anything was changed.
    #[error(transparent)]
    Database(#[from] DatabaseError),
}

impl MigrationError {
    /// The stable code of this error: the code of the [`DatabaseError`] it converts into.
    pub fn error_code(&self) -> i32 {
        DatabaseError::from(self.clone()).error_code()
    }

    /// Whether the database is exactly as it was before the migration (every error but a
    /// failed rollback).
    pub fn database_unchanged(&self) -> bool {
        !matches!(self, Self::RollbackFailed { .. })
    }
}

impl From<MigrationError> for DatabaseError {
    fn from(err: MigrationError) -> Self {
        match err {
            MigrationError::NoDatabasePath
            | MigrationError::VersionMismatch { .. }
            | MigrationError::EncryptionKeyRequired { .. }
            | MigrationError::AlreadyEncrypted { .. }
            | MigrationError::NotEncrypted { .. } => DatabaseError::InvalidArgument {
                message: err.to_string(),
            },
            MigrationError::DatabaseInUse { path } => DatabaseError::DatabaseLocked {
                path: path.display().to_string(),
            },
            MigrationError::InsufficientDiskSpace {
                required,
                available,
            } => DatabaseError::InsufficientResources {
                resource: "disk".to_string(),
                required,
                available,
            },
            MigrationError::BackupFailed { path, reason } => DatabaseError::MigrationFailed {
                step: format!("backup into {}", path.display()),
                reason,
                rolled_back: true,
            },
            MigrationError::StepFailed { step, cause } => DatabaseError::MigrationFailed {
                step,
                reason: cause.to_string(),
                rolled_back: true,
            },
            MigrationError::RollbackFailed {
                step,
                cause,
                rollback,
            } => DatabaseError::RollbackFailed {
                stage: format!("migration step '{step}'"),
                reason: format!("the step failed ({cause}); undoing it failed: {rollback}"),
            },
            MigrationError::Database(e) => e,
        }
    }
}
