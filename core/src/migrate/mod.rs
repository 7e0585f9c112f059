//! Format migration: the reference's `MigrationManager`, above the `Database` facade.
//!
//! A database keeps the format it was made in (see
//! [`DatabaseVersion`](crate::DatabaseVersion)): this release reads every older format
//! and, unless `upgrade_format_on_open` says otherwise, keeps writing it, so the release
//! that wrote a database can still open it. Changing the format, or the checksum
//! algorithm or compression of the existing files, is a migration: a plan of
//! [`MigrationStep`]s run on the closed database, each of which rewrites into new files
//! and switches to them atomically, and any failure of which puts the database back as
//! it was.
//!
//! Encryption at rest is turned on or off the same way
//! ([`MigrationStep::EnableEncryption`], [`MigrationStep::DisableEncryption`], or
//! [`MigrationManager::encrypt_database`] and [`MigrationManager::decrypt_database`]):
//! every file is rewritten sealed or in the clear, and the key file `KEYS` appears or
//! goes in the same atomic switch. The other steps run on an encrypted database when the
//! plan carries its key ([`MigrationPlan::with_encryption_key`]), and keep it encrypted.
//!
//! ```
//! use lightning_db::{Database, DatabaseVersion, LightningDbConfig, MigrationManager};
//! # let dir = tempfile::tempdir().unwrap();
//! # let db = Database::open(dir.path(), LightningDbConfig::default())?;
//! # db.put(b"k", b"v")?;
//! # db.close()?;
//! let manager = MigrationManager::new();
//! let current = manager.detect_version(dir.path())?;
//! // Back to format 1 (for the release that wrote it), then forward again.
//! let plan = manager.create_migration_plan(current, DatabaseVersion::V1)?;
//! let result = manager.execute_migration_blocking(plan)?;
//! assert_eq!(result.to, DatabaseVersion::V1);
//! assert!(manager.needs_migration(dir.path())?);
//! let plan = manager.create_migration_plan_for(dir.path(), DatabaseVersion::Latest)?;
//! futures_lite::future::block_on(manager.execute_migration(plan))?;
//! let db = Database::open(dir.path(), LightningDbConfig::default())?;
//! assert_eq!(db.get(b"k")?, Some(b"v".to_vec()));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod inspect;
mod plan;
mod rewrite;

use crate::config::EncryptionKey;
use crate::storage::crypto::{self, KeyRing};
use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

pub use inspect::{DatabaseInfo, FileInfo, FormatSource, TableInfo};
pub use plan::{
    CompatibilityResult, MigrationError, MigrationPhase, MigrationPlan, MigrationProgress,
    MigrationProgressFn, MigrationResult, MigrationStep, StepReport,
};

use crate::checksum::ChecksumAlgorithm;
use crate::engine::lock_existing_directory;
use crate::error::DatabaseError;
use crate::storage::format::{self, DatabaseVersion};
use crate::storage::fs::{write_file_atomic, FileSystem, StdFileSystem};
use crate::storage::table::builder::{BuildOptions, TableBuilder};
use rewrite::StepTarget;

/// Bytes of rewriting assumed per second before one was measured here (a conservative
/// figure for a disk that syncs; `estimate_migration_time` measures the real one).
pub const ASSUMED_REWRITE_BYTES_PER_SEC: u64 = 32 << 20;
/// Free space a migration wants beyond what it writes, for the directory's own growth.
const SPACE_MARGIN: u64 = 4 << 20;
/// Size of the table written once to measure the rewrite rate.
const PROBE_BYTES: usize = 2 << 20;

/// Plans and runs format migrations (see the [module documentation](self)).
///
/// Cloning is cheap; clones share the measured rewrite rate, the progress callback and
/// the path of the last [`detect_version`](Self::detect_version).
#[derive(Clone)]
pub struct MigrationManager {
    fs: Arc<dyn FileSystem>,
    progress: Option<MigrationProgressFn>,
    shared: Arc<Mutex<Shared>>,
}

#[derive(Default)]
struct Shared {
    /// The path of the last `detect_version`: the path of a plan made from two versions.
    last_detected: Option<PathBuf>,
    /// Bytes per second of the last rewrite measured or run.
    rate: Option<u64>,
}

impl std::fmt::Debug for MigrationManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MigrationManager")
            .field("last_detected", &self.shared.lock().last_detected)
            .finish_non_exhaustive()
    }
}

impl Default for MigrationManager {
    fn default() -> Self {
        Self::new()
    }
}

impl MigrationManager {
    /// A manager working on the operating system's file system.
    pub fn new() -> Self {
        Self::with_fs(Arc::new(StdFileSystem))
    }

    /// A manager working through `fs` (a simulated file system in tests).
    pub fn with_fs(fs: Arc<dyn FileSystem>) -> Self {
        Self {
            fs,
            progress: None,
            shared: Arc::new(Mutex::new(Shared::default())),
        }
    }

    /// Calls `callback` as migrations go: each phase of each step, and bytes rewritten
    /// as they are.
    pub fn on_progress(
        mut self,
        callback: impl Fn(&MigrationProgress) + Send + Sync + 'static,
    ) -> Self {
        self.progress = Some(Arc::new(callback));
        self
    }

    /// Whether the database in `path` is in a format older than the newest: it opens as
    /// it is, and a migration moves it to the newest.
    /// An encrypted database is at the newest layout (format steps do not apply to it): `false`.
    pub fn needs_migration(&self, path: impl AsRef<Path>) -> Result<bool, DatabaseError> {
        if crypto::is_encrypted(self.fs.as_ref(), path.as_ref()) {
            return Ok(false);
        }
        Ok(self.detect_version(path)? < DatabaseVersion::Latest)
    }

    /// The format of the database in `path`, read from its files without opening it. A
    /// format newer than this build knows is `UnsupportedFormatVersion`; one older than it
    /// reads is `MigrationRequired`. Remembers `path` for
    /// [`create_migration_plan`](Self::create_migration_plan).
    ///
    /// An encrypted database (format number 3, `ENCRYPTED_FORMAT_NUMBER`) has no
    /// [`DatabaseVersion`] of its own: `InvalidArgument` saying so. It is migrated by
    /// [`decrypt_database`](Self::decrypt_database), or by a plan carrying its key (see
    /// [`MigrationPlan::with_encryption_key`]).
    pub fn detect_version(&self, path: impl AsRef<Path>) -> Result<DatabaseVersion, DatabaseError> {
        let path = path.as_ref();
        if crypto::is_encrypted(self.fs.as_ref(), path) {
            return Err(DatabaseError::InvalidArgument {
                message: format!(
                    "{} is an encrypted database (format {}): it has no plain format \
                     version; decrypt it (MigrationManager::decrypt_database, `lightning \
                     migrate PATH --decrypt`), or give a plan its key to rewrite it \
                     encrypted",
                    path.display(),
                    format::ENCRYPTED_FORMAT_NUMBER
                ),
            });
        }
        let (number, _, _) = inspect::detect(self.fs.as_ref(), path)?;
        let version =
            DatabaseVersion::from_number(number).ok_or_else(|| format::unreadable(path, number))?;
        self.shared.lock().last_detected = Some(path.to_path_buf());
        Ok(version)
    }

    /// What the database's files are: format, checksum algorithms, compression, files
    /// per level. Reads only; takes no lock.
    ///
    /// An encrypted database is reported as such (with its key generation), its log and
    /// manifest headers, but no tables: the manifest that lists them is sealed. Use
    /// [`inspect_with_key`](Self::inspect_with_key) to see them.
    pub fn inspect(&self, path: impl AsRef<Path>) -> Result<DatabaseInfo, DatabaseError> {
        inspect::inspect(&self.fs, path.as_ref(), None)
    }

    /// [`inspect`](Self::inspect) of an encrypted database with its key, tables included.
    /// A wrong key is `SecurityError::WrongKey`; a plain database ignores the key.
    pub fn inspect_with_key(
        &self,
        path: impl AsRef<Path>,
        key: &crate::config::EncryptionKey,
    ) -> Result<DatabaseInfo, DatabaseError> {
        inspect::inspect(&self.fs, path.as_ref(), Some(key))
    }

    /// A plan from format `from` to `to`, for the database of the last
    /// [`detect_version`](Self::detect_version) (as the reference's example uses it);
    /// [`MigrationPlan::with_path`] or [`create_migration_plan_for`](Self::create_migration_plan_for)
    /// name one explicitly.
    pub fn create_migration_plan(
        &self,
        from: DatabaseVersion,
        to: DatabaseVersion,
    ) -> Result<MigrationPlan, MigrationError> {
        Ok(MigrationPlan {
            path: self.shared.lock().last_detected.clone(),
            from: from.resolve(),
            to: to.resolve(),
            steps: self.list_required_migrations(from, to),
            backup_dir: None,
            key: None,
        })
    }

    /// A plan moving the database in `path` from its format to `to`.
    pub fn create_migration_plan_for(
        &self,
        path: impl AsRef<Path>,
        to: DatabaseVersion,
    ) -> Result<MigrationPlan, MigrationError> {
        let from = self.detect_version(path.as_ref())?;
        Ok(self.create_migration_plan(from, to)?.with_path(path))
    }

    /// A plan for the database in `path` that carries its key: for a plain database the
    /// format steps to `to` (as [`create_migration_plan_for`](Self::create_migration_plan_for)),
    /// for an encrypted one none (it keeps format 3, laid out as
    /// [`DatabaseVersion::Latest`]; `to` must be that: a format change needs it decrypted
    /// first, `InvalidArgument` otherwise). Add steps to it ([`MigrationPlan::with_checksum`],
    /// [`with_compression`](MigrationPlan::with_compression),
    /// [`with_encryption`](MigrationPlan::with_encryption)); the key opens an encrypted
    /// database's files and wraps the data keys of one being encrypted.
    pub fn create_migration_plan_with_key(
        &self,
        path: impl AsRef<Path>,
        to: DatabaseVersion,
        key: EncryptionKey,
    ) -> Result<MigrationPlan, MigrationError> {
        let path = path.as_ref();
        if !crypto::is_encrypted(self.fs.as_ref(), path) {
            return Ok(self
                .create_migration_plan_for(path, to)?
                .with_encryption_key(key));
        }
        let layout = format::ENCRYPTED_LAYOUT;
        if to.resolve() != layout {
            return Err(MigrationError::Database(DatabaseError::InvalidArgument {
                message: format!(
                    "{} is an encrypted database (format {}, laid out as {layout}): it \
                     cannot move to format {}; decrypt it first",
                    path.display(),
                    format::ENCRYPTED_FORMAT_NUMBER,
                    to.resolve()
                ),
            }));
        }
        Ok(MigrationPlan {
            path: Some(path.to_path_buf()),
            from: layout,
            to: layout,
            steps: Vec::new(),
            backup_dir: None,
            key: Some(key),
        })
    }

    /// How a database of format `db_version` stands with a library of format
    /// `api_version` (this release's is [`DatabaseVersion::Latest`]).
    pub fn check_compatibility(
        &self,
        db_version: DatabaseVersion,
        api_version: DatabaseVersion,
    ) -> CompatibilityResult {
        use std::cmp::Ordering;
        match db_version.cmp(&api_version) {
            Ordering::Equal => CompatibilityResult::FullyCompatible,
            // Every release reads every older format.
            Ordering::Less => CompatibilityResult::BackwardCompatible {
                warnings: vec![
                    format!(
                        "the database is format {}; a release of format {} reads it and \
                         keeps writing format {} until it is migrated",
                        db_version.resolve(),
                        api_version.resolve(),
                        db_version.resolve()
                    ),
                    format!(
                        "`lightning migrate PATH --to {}` moves it to format {} (after which \
                         releases of format {} cannot open it until it is migrated back)",
                        api_version.resolve(),
                        api_version.resolve(),
                        db_version.resolve()
                    ),
                ],
            },
            Ordering::Greater => CompatibilityResult::RequiresMigration {
                steps: self.list_required_migrations(db_version, api_version),
            },
        }
    }

    /// How the database in `path` stands with this release: like
    /// [`check_compatibility`](Self::check_compatibility) against `Latest`, and
    /// `Incompatible` for a format newer than this release knows or older than it reads
    /// (the reason then names the error's advice: a newer release, or the migration
    /// command to run with an older one).
    pub fn check_path_compatibility(
        &self,
        path: impl AsRef<Path>,
    ) -> Result<CompatibilityResult, DatabaseError> {
        if crypto::is_encrypted(self.fs.as_ref(), path.as_ref()) {
            // This build reads it as it is; only a decrypt changes its format.
            return Ok(CompatibilityResult::FullyCompatible);
        }
        let (number, _, _) = inspect::detect(self.fs.as_ref(), path.as_ref())?;
        Ok(match DatabaseVersion::from_number(number) {
            Some(v) => self.check_compatibility(v, DatabaseVersion::Latest),
            None => {
                let e = format::unreadable(path.as_ref(), number);
                CompatibilityResult::Incompatible {
                    reason: match e.suggested_action() {
                        Some(action) => format!("{e}. {action}"),
                        None => e.to_string(),
                    },
                }
            }
        })
    }

    /// The steps from format `from` to `to`: one format change per version between them,
    /// either way (none when they are the same).
    pub fn list_required_migrations(
        &self,
        from: DatabaseVersion,
        to: DatabaseVersion,
    ) -> Vec<MigrationStep> {
        let (a, b) = (from.number(), to.number());
        let mut steps = Vec::new();
        let mut at = a;
        while at != b {
            let next = if b > at { at + 1 } else { at - 1 };
            if let (Some(f), Some(t)) = (
                DatabaseVersion::from_number(at),
                DatabaseVersion::from_number(next),
            ) {
                steps.push(MigrationStep::ChangeFormat { from: f, to: t });
            }
            at = next;
        }
        steps
    }

    /// Bytes the plan reads and rewrites, step by step (the log for every step, every
    /// table for the steps that rewrite tables); 0 for a plan without a path (or for an
    /// encrypted database without its key).
    pub fn estimate_migration_bytes(&self, plan: &MigrationPlan) -> u64 {
        let Some(path) = plan.path() else {
            return 0;
        };
        let Ok(keys) = self.key_ring(path, plan) else {
            return 0;
        };
        let Ok(state) = rewrite::read_state(self.fs.as_ref(), path, keys.as_deref()) else {
            return 0;
        };
        let mut total = 0;
        let mut logs_left = true;
        for step in plan.steps() {
            // Only the first step has a log to rewrite; the ones after read tables.
            total += if logs_left {
                state.input_bytes(self.fs.as_ref(), path, step.rewrites_tables())
            } else if step.rewrites_tables() {
                state.input_bytes(self.fs.as_ref(), path, true)
                    - state.input_bytes(self.fs.as_ref(), path, false)
            } else {
                0
            };
            logs_left = false;
        }
        total
    }

    /// How long the plan should take: its bytes ([`estimate_migration_bytes`](Self::estimate_migration_bytes))
    /// at a rewrite rate measured once in the database's directory (a table of 2 MiB
    /// written and synced, then removed) or the last migration's real rate.
    pub fn estimate_migration_time(&self, plan: &MigrationPlan) -> Duration {
        let bytes = self.estimate_migration_bytes(plan);
        if bytes == 0 {
            return Duration::ZERO;
        }
        let rate = self.rewrite_rate(plan.path());
        Duration::from_secs_f64(bytes as f64 / rate.max(1) as f64)
    }

    /// The rewrite rate in bytes per second: the last one measured or run, else one
    /// measured now in `dir` (when given), else [`ASSUMED_REWRITE_BYTES_PER_SEC`].
    pub fn rewrite_rate(&self, dir: Option<&Path>) -> u64 {
        if let Some(rate) = self.shared.lock().rate {
            return rate;
        }
        let measured = dir.and_then(|d| self.measure_rate(d).ok());
        match measured {
            Some(rate) => {
                self.shared.lock().rate = Some(rate);
                rate
            }
            None => ASSUMED_REWRITE_BYTES_PER_SEC,
        }
    }

    /// Writes and syncs a table of [`PROBE_BYTES`] in `dir` under a temporary name (which
    /// an open removes if a crash leaves it), timing it; removes it.
    fn measure_rate(&self, dir: &Path) -> Result<u64, DatabaseError> {
        let path = dir.join("migration-probe.sst.tmp");
        let opts = BuildOptions {
            block_size: 4096,
            compress: true,
            bloom_bits_per_key: 10,
            checksum: ChecksumAlgorithm::Xxh64,
            durable: true,
            // The probe holds no user data and is removed at once.
            keys: None,
        };
        let started = Instant::now();
        let mut builder = TableBuilder::create(self.fs.as_ref(), &path, 0, opts)?;
        let value: Vec<u8> = (0..200u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
            .collect();
        let mut n = 0u64;
        while (n as usize) * (value.len() + 16) < PROBE_BYTES {
            builder.add(format!("probe-{n:010}").as_bytes(), n + 1, Some(&value))?;
            n += 1;
        }
        let meta = builder.finish(self.fs.as_ref())?;
        let elapsed = started.elapsed().as_secs_f64().max(1e-6);
        let _ = self.fs.remove_file(&path);
        let bytes = meta.map_or(PROBE_BYTES as u64, |m| m.file_size);
        Ok((bytes as f64 / elapsed) as u64)
    }

    /// Checks the plan can run safely: it names a database in the format it starts from;
    /// nobody has the database open (its lock is free); the disk has room for the files
    /// it writes (and the backup, when it asks for one), with a margin; and the rollback
    /// point is sound (no format switch half done: the next open settles one). The old
    /// files themselves are the rollback point: they are kept until each step's switch.
    ///
    /// For encryption: an encrypted database needs the plan's key, which must open its
    /// key file (`SecurityError::WrongKey` otherwise, read before anything is written);
    /// a step turning encryption on needs the key too and a database not encrypted at
    /// that step ([`MigrationError::AlreadyEncrypted`]); one turning it off, a database
    /// encrypted at that step ([`MigrationError::NotEncrypted`]); a format change, a
    /// plain one (an encrypted database stays at format 3).
    pub fn validate_migration_safety(&self, plan: &MigrationPlan) -> Result<(), MigrationError> {
        let path = plan.path().ok_or(MigrationError::NoDatabasePath)?;
        let (number, _, pending) = inspect::detect(self.fs.as_ref(), path)?;
        if pending {
            // First: until it is settled, the files do not say what the database is
            // (its format, whether it is encrypted).
            return Err(interrupted_switch(path));
        }
        let encrypted = crypto::is_encrypted(self.fs.as_ref(), path);
        self.check_encryption_steps(plan, path, encrypted)?;
        let found = if encrypted {
            format::ENCRYPTED_LAYOUT
        } else {
            DatabaseVersion::from_number(number)
                .ok_or_else(|| MigrationError::Database(format::unreadable(path, number)))?
        };
        if found != plan.from {
            return Err(MigrationError::VersionMismatch {
                path: path.to_path_buf(),
                expected: plan.from,
                found,
            });
        }
        let lock = self.lock(path)?;
        drop(lock);
        let mut required = self.estimate_migration_bytes(plan);
        if let Some(backup) = plan.backup_dir() {
            if self.fs.exists(backup) {
                return Err(MigrationError::BackupFailed {
                    path: backup.to_path_buf(),
                    reason: "the backup directory exists already".to_string(),
                });
            }
            required += self.database_bytes(path);
        }
        if required > 0 {
            let required = required + SPACE_MARGIN;
            if let Ok(Some(space)) = self.fs.disk_space(path) {
                let available = space.available;
                if available < required {
                    return Err(MigrationError::InsufficientDiskSpace {
                        required,
                        available,
                    });
                }
            }
        }
        Ok(())
    }

    /// The encryption checks of [`validate_migration_safety`](Self::validate_migration_safety):
    /// the steps against the database's encryption as it goes, and the key against its
    /// key file.
    fn check_encryption_steps(
        &self,
        plan: &MigrationPlan,
        path: &Path,
        encrypted: bool,
    ) -> Result<(), MigrationError> {
        let need_key = |reason: &str| MigrationError::EncryptionKeyRequired {
            path: path.to_path_buf(),
            reason: reason.to_string(),
        };
        if encrypted && plan.key.is_none() {
            return Err(need_key(
                "is an encrypted database: a migration reads its sealed files and seals \
                 what it writes with its key",
            ));
        }
        let mut now_encrypted = encrypted;
        for step in plan.steps() {
            match step {
                MigrationStep::EnableEncryption if now_encrypted => {
                    return Err(MigrationError::AlreadyEncrypted {
                        path: path.to_path_buf(),
                    })
                }
                MigrationStep::EnableEncryption if plan.key.is_none() => {
                    return Err(need_key(
                        "turning encryption on needs the key that will wrap the new data keys",
                    ))
                }
                MigrationStep::EnableEncryption => now_encrypted = true,
                MigrationStep::DisableEncryption if !now_encrypted => {
                    return Err(MigrationError::NotEncrypted {
                        path: path.to_path_buf(),
                    })
                }
                MigrationStep::DisableEncryption => now_encrypted = false,
                MigrationStep::ChangeFormat { to, .. } if now_encrypted => {
                    return Err(MigrationError::Database(DatabaseError::InvalidArgument {
                        message: format!(
                            "{} is an encrypted database at that step: it keeps format {} \
                             (laid out as {}); decrypt it before changing its format to {}",
                            path.display(),
                            format::ENCRYPTED_FORMAT_NUMBER,
                            format::ENCRYPTED_LAYOUT,
                            to.resolve()
                        ),
                    }))
                }
                _ => {}
            }
        }
        if encrypted {
            // A wrong key stops here, before the lock or any write.
            self.key_ring(path, plan)?;
        }
        Ok(())
    }

    /// The data keys of the database in `path` unwrapped with the plan's key; `None` for
    /// a plain database (or a plan without a key).
    fn key_ring(
        &self,
        path: &Path,
        plan: &MigrationPlan,
    ) -> Result<Option<Arc<KeyRing>>, DatabaseError> {
        match &plan.key {
            Some(key) => Ok(KeyRing::read(self.fs.as_ref(), path, key)?.map(Arc::new)),
            None => Ok(None),
        }
    }

    fn database_bytes(&self, path: &Path) -> u64 {
        self.fs
            .list_dir(path)
            .map(|names| {
                names
                    .iter()
                    .map(|n| self.fs.file_size(&path.join(n)).unwrap_or(0))
                    .sum()
            })
            .unwrap_or(0)
    }

    fn lock(&self, path: &Path) -> Result<Box<dyn crate::storage::fs::DirLock>, MigrationError> {
        lock_existing_directory(self.fs.as_ref(), path).map_err(|e| match e {
            DatabaseError::DatabaseLocked { .. } => MigrationError::DatabaseInUse {
                path: path.to_path_buf(),
            },
            e => MigrationError::Database(e),
        })
    }

    fn report(&self, p: MigrationProgress) {
        if let Some(cb) = &self.progress {
            // A panicking callback must not leave a step half done.
            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| cb(&p)));
        }
    }

    /// Runs the plan on the current thread: the safety check, the backup if the plan asks
    /// for one, then each step. The database is locked throughout. A failed step is
    /// rolled back (the database is then exactly as before the migration, in its old
    /// format: [`MigrationError::StepFailed`]); steps done before it stay done (each is a
    /// complete migration of its own), and the error names the failed one.
    pub fn execute_migration_blocking(
        &self,
        plan: MigrationPlan,
    ) -> Result<MigrationResult, MigrationError> {
        let path = plan.path().map(Path::to_path_buf);
        let summary = plan
            .steps()
            .iter()
            .map(|s| s.to_string())
            .collect::<Vec<_>>()
            .join("; ");
        let result = self.execute_unaudited(plan);
        if let Some(path) = path {
            self.audit_migration(&path, &summary, &result);
        }
        result
    }

    /// Records a migration's outcome in the database's audit log when it keeps one. A
    /// failure to record does not change the migration's result (it is done or rolled
    /// back by now).
    fn audit_migration(
        &self,
        path: &Path,
        summary: &str,
        result: &Result<MigrationResult, MigrationError>,
    ) {
        use crate::audit::{OperationResult, SecurityEventType};
        let mut meta = std::collections::HashMap::from([("plan".to_string(), summary.to_string())]);
        let outcome = match result {
            Ok(r) => {
                meta.insert("from".into(), r.from.to_string());
                meta.insert("to".into(), r.to.to_string());
                meta.insert("bytes_rewritten".into(), r.bytes_rewritten.to_string());
                OperationResult::Success
            }
            Err(e) => OperationResult::Failure(e.to_string()),
        };
        let _ = crate::audit::record_offline(
            Arc::clone(&self.fs),
            path,
            SecurityEventType::Migration,
            "migrate",
            outcome,
            meta,
        );
    }

    fn execute_unaudited(&self, plan: MigrationPlan) -> Result<MigrationResult, MigrationError> {
        let started = Instant::now();
        self.validate_migration_safety(&plan)?;
        let path = plan
            .path()
            .ok_or(MigrationError::NoDatabasePath)?
            .to_path_buf();
        let _lock = self.lock(&path)?;
        // Read again under the lock: the key file the steps start from.
        let mut keys = self.key_ring(&path, &plan)?;
        let encrypted_before = keys.is_some();
        let step_count = plan.steps().len();
        if let Some(backup) = plan.backup_dir() {
            self.report(MigrationProgress {
                step_index: 0,
                step_count,
                step: format!("backup into {}", backup.display()),
                phase: MigrationPhase::Backup,
                bytes_done: 0,
                bytes_total: self.database_bytes(&path),
            });
            self.backup(&path, backup)?;
        }
        let mut version = plan.from;
        let mut reports = Vec::new();
        let mut warnings = Vec::new();
        for (i, step) in plan.steps().iter().enumerate() {
            let step_started = Instant::now();
            let keep = StepTarget {
                version,
                checksum: None,
                compress: None,
                rewrite_tables: true,
                read_keys: keys.clone(),
                write_keys: keys.clone(),
                new_key_file: None,
            };
            let target = match step {
                MigrationStep::ChangeFormat { to, .. } => StepTarget {
                    version: to.resolve(),
                    rewrite_tables: false,
                    ..keep
                },
                MigrationStep::ChangeChecksum { to } => StepTarget {
                    checksum: Some(*to),
                    ..keep
                },
                MigrationStep::SetCompression { enabled } => StepTarget {
                    compress: Some(*enabled),
                    ..keep
                },
                MigrationStep::EnableEncryption => {
                    let key =
                        plan.key
                            .clone()
                            .ok_or_else(|| MigrationError::EncryptionKeyRequired {
                                path: path.clone(),
                                reason: "turning encryption on needs a key".to_string(),
                            })?;
                    StepTarget {
                        version: format::ENCRYPTED_LAYOUT,
                        write_keys: Some(Arc::new(KeyRing::create(now_secs())?)),
                        new_key_file: Some(key),
                        ..keep
                    }
                }
                MigrationStep::DisableEncryption => StepTarget {
                    version: DatabaseVersion::Latest.resolve(),
                    write_keys: None,
                    ..keep
                },
            };
            let label = step.to_string();
            let mut on_progress = |phase, done, total| {
                self.report(MigrationProgress {
                    step_index: i,
                    step_count,
                    step: label.clone(),
                    phase,
                    bytes_done: done,
                    bytes_total: total,
                });
            };
            match rewrite::run_step(&self.fs, &path, &target, &mut on_progress) {
                Ok(outcome) => {
                    on_progress(MigrationPhase::Done, 0, 0);
                    version = target.version;
                    keys = target.write_keys;
                    warnings.extend(outcome.warnings);
                    reports.push(StepReport {
                        step: step.clone(),
                        bytes_rewritten: outcome.bytes_written,
                        tables_written: outcome.tables_written,
                        files_removed: outcome.files_removed,
                        duration: step_started.elapsed(),
                    });
                }
                Err(failure) => {
                    let (cause, rollback) = *failure;
                    let cause = Box::new(cause);
                    return Err(match rollback {
                        None => MigrationError::StepFailed { step: label, cause },
                        Some(rollback) => MigrationError::RollbackFailed {
                            step: label,
                            cause,
                            rollback: Box::new(rollback),
                        },
                    });
                }
            }
        }
        let bytes_rewritten: u64 = reports.iter().map(|r| r.bytes_rewritten).sum();
        let duration = started.elapsed();
        if bytes_rewritten > PROBE_BYTES as u64 {
            self.shared.lock().rate =
                Some((bytes_rewritten as f64 / duration.as_secs_f64().max(1e-6)) as u64);
        }
        Ok(MigrationResult {
            path,
            from: plan.from,
            to: version,
            encrypted_before,
            encrypted_after: keys.is_some(),
            steps: reports,
            bytes_rewritten,
            duration,
            backup_dir: plan.backup_dir.clone(),
            warnings,
        })
    }

    /// Copies every file of the database (but the lock file) into `backup`, each synced,
    /// then the directory.
    fn backup(&self, path: &Path, backup: &Path) -> Result<(), MigrationError> {
        let fail = |reason: String| MigrationError::BackupFailed {
            path: backup.to_path_buf(),
            reason,
        };
        let fs = self.fs.as_ref();
        fs.create_dir_all(backup).map_err(|e| fail(e.to_string()))?;
        let names = fs.list_dir(path).map_err(|e| fail(e.to_string()))?;
        for name in names.iter().filter(|n| *n != "LOCK") {
            // A folder (the audit log, quarantine) is copied with its files.
            if let Ok(inner) = fs.list_dir(&path.join(name)) {
                fs.create_dir_all(&backup.join(name))
                    .map_err(|e| fail(format!("{name}: {e}")))?;
                for file in inner {
                    let data = fs
                        .read_all(&path.join(name).join(&file))
                        .map_err(|e| fail(format!("{name}/{file}: {e}")))?;
                    write_file_atomic(fs, &backup.join(name).join(&file), &data)
                        .map_err(|e| fail(format!("{name}/{file}: {e}")))?;
                }
                continue;
            }
            let data = fs
                .read_all(&path.join(name))
                .map_err(|e| fail(format!("{name}: {e}")))?;
            write_file_atomic(fs, &backup.join(name), &data)
                .map_err(|e| fail(format!("{name}: {e}")))?;
        }
        Ok(())
    }

    /// [`execute_migration_blocking`](Self::execute_migration_blocking) as a future that
    /// needs no particular runtime: the migration runs on a thread of its own, and the
    /// future wakes its task when it ends (tokio, async-std, smol or
    /// `futures_lite::future::block_on` alike).
    pub async fn execute_migration(
        &self,
        plan: MigrationPlan,
    ) -> Result<MigrationResult, MigrationError> {
        let me = self.clone();
        let work = move || {
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                me.execute_migration_blocking(plan)
            }))
            .unwrap_or_else(|_| {
                Err(MigrationError::Database(DatabaseError::Internal {
                    message: "the migration panicked".to_string(),
                }))
            })
        };
        match on_thread(work) {
            Ok(done) => done.await,
            Err(e) => Err(MigrationError::Database(DatabaseError::Internal {
                message: format!("could not start the migration thread: {e}"),
            })),
        }
    }
}

impl MigrationManager {
    /// Turns encryption at rest on for the closed, plain database in `path`: a plan of one
    /// [`MigrationStep::EnableEncryption`] step with `key` as its key-encryption key, run
    /// at once. From then on the database opens only with `key` (`enable_encryption` and
    /// `encryption_key`). An encrypted database is [`MigrationError::AlreadyEncrypted`];
    /// any failure leaves it plain and as it was.
    ///
    /// ```
    /// use lightning_db::{Database, EncryptionKey, LightningDbConfig, MigrationManager};
    /// # let dir = tempfile::tempdir()?;
    /// # let db = Database::open(dir.path(), LightningDbConfig::default())?;
    /// # db.put(b"k", b"v")?;
    /// # db.close()?;
    /// let key = EncryptionKey::from_bytes(&[7; 32]); // or from_file / from_env
    /// MigrationManager::new().encrypt_database(dir.path(), &key)?;
    ///
    /// let mut config = LightningDbConfig::default();
    /// config.security.enable_encryption = true;
    /// config.security.encryption_key = Some(key.clone());
    /// let db = Database::open(dir.path(), config)?;
    /// assert!(db.is_encrypted());
    /// assert_eq!(db.get(b"k")?, Some(b"v".to_vec()));
    /// db.close()?;
    ///
    /// // And back: plain again, the key file gone.
    /// MigrationManager::new().decrypt_database(dir.path(), &key)?;
    /// assert!(!Database::open(dir.path(), LightningDbConfig::default())?.is_encrypted());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn encrypt_database(
        &self,
        path: impl AsRef<Path>,
        key: &EncryptionKey,
    ) -> Result<MigrationResult, MigrationError> {
        let path = path.as_ref();
        if inspect::detect(self.fs.as_ref(), path)?.2 {
            return Err(interrupted_switch(path));
        }
        if crypto::is_encrypted(self.fs.as_ref(), path) {
            return Err(MigrationError::AlreadyEncrypted {
                path: path.to_path_buf(),
            });
        }
        // No format step first: an encrypted database is laid out in the newest format
        // whatever it was, and the encrypting step writes the log into a table anyway.
        let now = self.detect_version(path)?;
        let plan = self
            .create_migration_plan_with_key(path, now, key.clone())?
            .with_encryption(true);
        self.execute_migration_blocking(plan)
    }

    /// Turns encryption at rest off for the closed, encrypted database in `path`, whose
    /// key is `key`: a plan of one [`MigrationStep::DisableEncryption`] step, run at once.
    /// A wrong key is `SecurityError::WrongKey` (inside [`MigrationError::Database`]) and
    /// changes nothing; a plain database is [`MigrationError::NotEncrypted`].
    pub fn decrypt_database(
        &self,
        path: impl AsRef<Path>,
        key: &EncryptionKey,
    ) -> Result<MigrationResult, MigrationError> {
        let path = path.as_ref();
        // No database at all is `detect`'s error.
        if inspect::detect(self.fs.as_ref(), path)?.2 {
            return Err(interrupted_switch(path));
        }
        if !crypto::is_encrypted(self.fs.as_ref(), path) {
            return Err(MigrationError::NotEncrypted {
                path: path.to_path_buf(),
            });
        }
        let plan = self
            .create_migration_plan_with_key(path, DatabaseVersion::Latest, key.clone())?
            .with_encryption(false);
        self.execute_migration_blocking(plan)
    }
}

/// The refusal of a database holding an interrupted format switch (`FORMAT.next`).
fn interrupted_switch(path: &Path) -> MigrationError {
    MigrationError::Database(DatabaseError::InconsistentState {
        details: format!(
            "{} holds an interrupted format switch ({})",
            path.display(),
            format::FORMAT_NEXT_FILE
        ),
        suggested_action: "open the database once (the open finishes or undoes the switch), \
                           close it, then migrate"
            .to_string(),
    })
}

/// Wall-clock seconds: a new key ring records when its first data key was made (the
/// rotation schedule counts days from it).
fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The outcome of work on another thread, and the task to wake when it is there.
struct Slot<T> {
    value: Option<T>,
    waker: Option<Waker>,
}

/// Resolves to what the thread's work returned.
struct ThreadDone<T> {
    slot: Arc<Mutex<Slot<T>>>,
}

impl<T> Future for ThreadDone<T> {
    type Output = T;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        let mut slot = self.slot.lock();
        match slot.value.take() {
            Some(v) => Poll::Ready(v),
            None => {
                slot.waker = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    }
}

fn on_thread<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> std::io::Result<ThreadDone<T>> {
    let slot = Arc::new(Mutex::new(Slot {
        value: None,
        waker: None,
    }));
    let theirs = Arc::clone(&slot);
    std::thread::Builder::new()
        .name("lightning-migrate".to_string())
        .spawn(move || {
            let v = work();
            let waker = {
                let mut s = theirs.lock();
                s.value = Some(v);
                s.waker.take()
            };
            if let Some(w) = waker {
                w.wake();
            }
        })?;
    Ok(ThreadDone { slot })
}
