//! The integrity validator of the API reference: checksums, validation of a database's
//! files by component and level, and repair.
//!
//! # Standalone or attached
//!
//! [`IntegrityValidator::new`] builds a validator without a database, as the reference does:
//! it computes and verifies [`Checksum`]s. To validate files it needs a database:
//!
//! * [`Database::integrity_validator`] (or [`IntegrityValidator::attach`]) validates an
//!   **open** database while it keeps serving: it pins the current set of table files so
//!   none is deleted under it and reads every byte again through the file-system layer,
//!   bypassing the block cache.
//! * [`IntegrityValidator::for_path`] validates a **closed** database directory (what
//!   `lightning check` does). It takes the directory lock, so it refuses a database another
//!   handle has open ([`DatabaseError::DatabaseLocked`]); it never writes.
//!
//! ```
//! use lightning_db::{ChecksumAlgorithm, Database, LightningDbConfig, ValidationLevel};
//! use lightning_db::{IntegrityValidator, ValidationConfig, ValidationResult};
//! # let dir = tempfile::tempdir().unwrap();
//! let db = Database::open(dir.path(), LightningDbConfig::default())?;
//! db.put(b"k", b"v")?;
//! db.flush()?;
//! let validator = db.integrity_validator(ValidationConfig {
//!     algorithm: ChecksumAlgorithm::Blake3,
//!     validation_level: ValidationLevel::Comprehensive,
//!     fail_on_corruption: false,
//!     enable_repair: false,
//! });
//! assert_eq!(validator.validate_component("btree")?, ValidationResult::Valid);
//! let sum = validator.compute_checksum(b"data")?;
//! assert!(validator.verify_checksum(b"data", &sum)?);
//! # Ok::<(), lightning_db::DatabaseError>(())
//! ```
//!
//! # Levels
//!
//! * `Basic`: every checksum: table footers, data, index, filter and properties blocks, log
//!   and manifest records and headers.
//! * `Standard`: plus structure: key order inside and across blocks, block bounds, index
//!   entries against their blocks, the bloom filter against every key, properties and
//!   footer fields against the blocks, manifest edits that make sense.
//! * `Comprehensive`: plus logical checks: the manifest against the files on disk (sizes,
//!   key and sequence ranges, counts), sequence numbers (log records ascending, tables not
//!   beyond the last sequence), no overlapping ranges in levels 1 and deeper, and every key
//!   reachable through the index and filter as the engine reads it.
//! * `Paranoid`: the same checks for one validation; as the database's level it also
//!   verifies every block on every read and runs the background verifier.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use serde::Serialize;

use super::report::{Component, IntegrityReport};
use super::verify::{self, Checker, TableScan, TableScope};
use crate::config::{ChecksumAlgorithm, EncryptionKey, LightningDbConfig, ValidationLevel};
use crate::engine::DbInner;
use crate::error::DatabaseError;
use crate::storage::crypto::KeyRing;
use crate::storage::fs::{DirLock, FileSystem, StdFileSystem};
use crate::storage::record::FinishedExtent;
use crate::storage::version::Version;

/// The error type of the validator's methods. The reference writes
/// `Result<_, IntegrityError>`; it is [`DatabaseError`] itself, so `?` works across the
/// validator and the rest of the API, and corruption keeps its typed variants
/// (`DataCorruption`, `WalCorrupted`, `ManifestCorrupted`, `RepairFailed`, ...).
pub type IntegrityError = DatabaseError;

/// A checksum together with the algorithm that made it.
///
/// `bytes` holds the full digest: 32 bytes for Blake3, 8 for XXH64 (little-endian), 4 for
/// CRC-32 (little-endian). On disk the engine stores 64 bits: [`Checksum::to_u64`] gives
/// that form (Blake3 truncated to its first 8 bytes).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct Checksum {
    /// The algorithm.
    pub algorithm: ChecksumAlgorithm,
    /// The digest.
    pub bytes: Vec<u8>,
}

impl Checksum {
    /// The checksum of `data` with `algorithm`.
    pub fn compute(algorithm: ChecksumAlgorithm, data: &[u8]) -> Checksum {
        let bytes = match algorithm {
            ChecksumAlgorithm::Blake3 => blake3::hash(data).as_bytes().to_vec(),
            ChecksumAlgorithm::Xxh64 | ChecksumAlgorithm::Crc32 => {
                let v = crate::checksum::checksum64(algorithm, data);
                let len = Self::digest_len(algorithm);
                v.to_le_bytes()[..len].to_vec()
            }
        };
        Checksum { algorithm, bytes }
    }

    /// Bytes of a full digest of `algorithm`.
    pub fn digest_len(algorithm: ChecksumAlgorithm) -> usize {
        match algorithm {
            ChecksumAlgorithm::Blake3 => 32,
            ChecksumAlgorithm::Xxh64 => 8,
            ChecksumAlgorithm::Crc32 => 4,
        }
    }

    /// The 64-bit form stored in the engine's files.
    pub fn to_u64(&self) -> u64 {
        let mut b = [0u8; 8];
        let n = self.bytes.len().min(8);
        b[..n].copy_from_slice(&self.bytes[..n]);
        u64::from_le_bytes(b)
    }

    /// The digest in lowercase hex.
    pub fn to_hex(&self) -> String {
        self.bytes.iter().map(|b| format!("{b:02x}")).collect()
    }
}

impl fmt::Display for Checksum {
    /// `blake3:…`, `xxh64:…` or `crc32:…` with the digest in hex.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self.algorithm {
            ChecksumAlgorithm::Blake3 => "blake3",
            ChecksumAlgorithm::Xxh64 => "xxh64",
            ChecksumAlgorithm::Crc32 => "crc32",
        };
        write!(f, "{name}:{}", self.to_hex())
    }
}

/// How an [`IntegrityValidator`] works.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ValidationConfig {
    /// Algorithm of [`IntegrityValidator::compute_checksum`]. Files are always verified with
    /// the algorithm recorded in them, whatever this says.
    pub algorithm: ChecksumAlgorithm,
    /// How thoroughly files are checked (see the [module documentation](self)).
    pub validation_level: ValidationLevel,
    /// `true`: a validation stops at the first problem (fail fast; the result then names
    /// that one). `false`: every file is read and every problem listed.
    pub fail_on_corruption: bool,
    /// Allows [`IntegrityValidator::repair_component`]; when `false` it answers
    /// `RepairResult::RepairFailed` without touching anything.
    pub enable_repair: bool,
}

impl Default for ValidationConfig {
    /// XXH64, `Standard`, check everything, repair not allowed.
    fn default() -> Self {
        Self {
            algorithm: ChecksumAlgorithm::Xxh64,
            validation_level: ValidationLevel::Standard,
            fail_on_corruption: false,
            enable_repair: false,
        }
    }
}

impl ValidationConfig {
    /// The database configuration's algorithm and level, every problem listed, repair
    /// allowed when its corruption action is `Repair`.
    pub fn from_config(config: &LightningDbConfig) -> Self {
        let c = config.reconciled();
        Self {
            algorithm: c.checksum_algorithm,
            validation_level: c.integrity_validation_level,
            fail_on_corruption: false,
            enable_repair: c.security.corruption_action == crate::config::CorruptionAction::Repair,
        }
    }
}

/// The verdict on one component.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ValidationResult {
    /// Nothing wrong found.
    Valid,
    /// Something is damaged.
    Corrupted {
        /// Every problem, `file at offset N: what` separated by `; `.
        details: String,
        /// Whether [`IntegrityValidator::repair_component`] can fix everything without
        /// losing data (rebuilding an index, a filter or the manifest).
        repairable: bool,
    },
}

/// What a repair did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RepairResult {
    /// Everything found was repaired (or nothing needed it).
    Repaired {
        /// The actions really taken, one line each.
        actions_taken: Vec<String>,
    },
    /// Some things were repaired, others could not be.
    PartiallyRepaired {
        /// Actions that succeeded.
        successful: Vec<String>,
        /// What could not be repaired, and why.
        failed: Vec<String>,
    },
    /// Nothing could be repaired; the files are as they were.
    RepairFailed {
        /// Why.
        reason: String,
    },
}

enum Target {
    None,
    Db(Arc<DbInner>),
    Dir {
        path: PathBuf,
        fs: Arc<dyn FileSystem>,
        /// The key-encryption key of an encrypted database.
        key: Option<EncryptionKey>,
    },
}

/// A progress callback: called with the bytes checked so far after each file.
pub type ProgressFn = Arc<dyn Fn(u64) + Send + Sync>;

/// Checksums, validation and repair (see the [module documentation](self)).
pub struct IntegrityValidator {
    config: ValidationConfig,
    target: Target,
    progress: Option<ProgressFn>,
}

impl fmt::Debug for IntegrityValidator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let target = match &self.target {
            Target::None => "none".to_string(),
            Target::Db(inner) => format!("open database {}", inner.path.display()),
            Target::Dir { path, .. } => format!("directory {}", path.display()),
        };
        f.debug_struct("IntegrityValidator")
            .field("config", &self.config)
            .field("target", &target)
            .finish()
    }
}

/// Everything one validation pass needs, resolved from the target.
pub(crate) struct Resolved {
    pub fs: Arc<dyn FileSystem>,
    pub dir: PathBuf,
    /// The open database's live tables, held so none is deleted while being read.
    pub pinned: Option<Arc<Version>>,
    pub live_last_seq: Option<u64>,
    pub wal_floor: Option<u64>,
    /// The open database's finished log and manifest lengths: a live check reads no
    /// further, since an append may be in progress beyond them.
    pub wal_extent: Option<Arc<FinishedExtent>>,
    pub manifest_extent: Option<Arc<FinishedExtent>>,
    pub _lock: Option<Box<dyn DirLock>>,
    pub progress: Option<ProgressFn>,
    /// The data keys of an encrypted database.
    pub keys: Option<Arc<KeyRing>>,
}

impl IntegrityValidator {
    /// A validator without a database: for checksums. Give it a database with
    /// [`attach`](Self::attach) (an open one) or use [`for_path`](Self::for_path).
    pub fn new(config: ValidationConfig) -> Self {
        Self {
            config,
            target: Target::None,
            progress: None,
        }
    }

    /// The same validator, validating the open engine `inner` (what
    /// `IntegrityValidator::attach` does with a database handle).
    pub(crate) fn attach_engine(mut self, inner: Arc<DbInner>) -> Self {
        self.target = Target::Db(inner);
        self
    }

    /// A validator for the closed database in directory `path` (the real file system).
    pub fn for_path(config: ValidationConfig, path: impl AsRef<Path>) -> Self {
        Self::for_path_with_fs(config, path, Arc::new(StdFileSystem))
    }

    /// A validator for the closed database in `path`, read through `fs`.
    pub fn for_path_with_fs(
        config: ValidationConfig,
        path: impl AsRef<Path>,
        fs: Arc<dyn FileSystem>,
    ) -> Self {
        Self {
            config,
            target: Target::Dir {
                path: path.as_ref().to_path_buf(),
                fs,
                key: None,
            },
            progress: None,
        }
    }

    /// The same validator, opening the closed encrypted database it was made for (with
    /// [`for_path`](Self::for_path)) with `key`, its key-encryption key: every sealed
    /// block and record is then opened and authenticated, and a block or record that fails
    /// authentication is an [`Authentication`](super::CheckKind::Authentication) finding.
    /// A plain database ignores the key; without it an encrypted database is refused
    /// (`ConfigurationError` naming `security.encryption_key`), a wrong one is
    /// `SecurityError::WrongKey`. A validator attached to an open database uses the keys it
    /// was opened with.
    pub fn with_key(mut self, key: EncryptionKey) -> Self {
        if let Target::Dir { key: k, .. } = &mut self.target {
            *k = Some(key);
        }
        self
    }

    /// The same validator, calling `progress` with the bytes checked so far after each file
    /// it reads (for a progress bar).
    pub fn with_progress(mut self, progress: impl Fn(u64) + Send + Sync + 'static) -> Self {
        self.progress = Some(Arc::new(progress));
        self
    }

    /// The configuration.
    pub fn config(&self) -> &ValidationConfig {
        &self.config
    }

    /// The checksum of `data` with the configured algorithm.
    pub fn compute_checksum(&self, data: &[u8]) -> Result<Checksum, IntegrityError> {
        Ok(Checksum::compute(self.config.algorithm, data))
    }

    /// Whether `data` has checksum `expected` (computed with `expected`'s own algorithm).
    /// A digest of the wrong length for its algorithm is `InvalidArgument`.
    pub fn verify_checksum(
        &self,
        data: &[u8],
        expected: &Checksum,
    ) -> Result<bool, IntegrityError> {
        let want = Checksum::digest_len(expected.algorithm);
        if expected.bytes.len() != want {
            return Err(DatabaseError::InvalidArgument {
                message: format!(
                    "a {:?} checksum has {want} bytes, this one has {}",
                    expected.algorithm,
                    expected.bytes.len()
                ),
            });
        }
        Ok(Checksum::compute(expected.algorithm, data) == *expected)
    }

    /// Validates `component` (`"wal"`, `"tables"`, `"manifest"`, `"index"`, `"btree"` or
    /// `"all"`) at the configured level. An unknown component is `InvalidArgument`; a
    /// validator without a database is `InvalidArgument` too.
    pub fn validate_component(&self, component: &str) -> Result<ValidationResult, IntegrityError> {
        let report = self.validate_report(component)?;
        Ok(if report.is_clean() {
            ValidationResult::Valid
        } else {
            ValidationResult::Corrupted {
                details: report.summary(),
                repairable: report.is_repairable(),
            }
        })
    }

    /// Validates everything at the configured level and returns the full report.
    pub fn validate(&self) -> Result<IntegrityReport, IntegrityError> {
        self.validate_report("all")
    }

    /// Validates `component` and returns the full report.
    pub fn validate_report(&self, component: &str) -> Result<IntegrityReport, IntegrityError> {
        let component: Component = component.parse()?;
        let mut resolved = self.resolve()?;
        resolved.progress = self.progress.clone();
        Ok(run_validation(
            resolved,
            self.config.validation_level,
            component,
            self.config.fail_on_corruption,
        ))
    }

    /// Repairs what validating `component` finds (see [`crate::integrity::repair`]): a
    /// table whose index, filter, properties or footer is damaged is rebuilt from its data
    /// blocks; a table with damaged data blocks is rewritten from its readable blocks and
    /// the damaged ones are set aside (listed, and the original file kept in
    /// `quarantine/`); a damaged manifest is rebuilt from the table files; a log segment
    /// damaged in the middle keeps the records before the damage and the rest is set
    /// aside. Repair never invents a value.
    ///
    /// Only a closed database can be repaired ([`for_path`](Self::for_path)); an attached
    /// validator answers `RepairFailed` naming what to do. With `enable_repair` off it
    /// answers `RepairFailed` without touching anything.
    pub fn repair_component(&self, component: &str) -> Result<RepairResult, IntegrityError> {
        let component: Component = component.parse()?;
        if !self.config.enable_repair {
            return Ok(RepairResult::RepairFailed {
                reason: "repair is disabled (ValidationConfig::enable_repair is false)".into(),
            });
        }
        match &self.target {
            Target::None => Err(no_target()),
            Target::Db(inner) => Ok(RepairResult::RepairFailed {
                reason: format!(
                    "{} is open: close it and run `lightning repair {}` (or \
                     lightning_db::integrity::repair_database), which rebuilds what can be \
                     rebuilt and sets aside what cannot",
                    inner.path.display(),
                    inner.path.display()
                ),
            }),
            Target::Dir { path, fs, key } => {
                let report = super::repair::repair_with_fs(
                    path,
                    Arc::clone(fs),
                    component,
                    self.config.validation_level,
                    key.clone(),
                )?;
                Ok(report.as_result())
            }
        }
    }

    /// The reference's other name for [`repair_component`](Self::repair_component).
    pub fn repair_corruption(&self, component: &str) -> Result<RepairResult, IntegrityError> {
        self.repair_component(component)
    }

    fn resolve(&self) -> Result<Resolved, DatabaseError> {
        match &self.target {
            Target::None => Err(no_target()),
            Target::Db(inner) => {
                inner.check_open()?;
                let sv = inner.super_version();
                let floor = sv
                    .imms
                    .iter()
                    .map(|m| m.wal_number)
                    .chain(std::iter::once(sv.mem.wal_number))
                    .min();
                Ok(Resolved {
                    fs: Arc::clone(&inner.fs),
                    dir: inner.path.clone(),
                    live_last_seq: Some(inner.last_sequence()),
                    pinned: Some(Arc::clone(&sv.version)),
                    wal_floor: floor,
                    wal_extent: Some(Arc::clone(&inner.wal_extent)),
                    manifest_extent: Some(Arc::clone(&inner.manifest_extent)),
                    _lock: None,
                    progress: None,
                    keys: inner.cache.keys(),
                })
            }
            Target::Dir { path, fs, key } => {
                let lock = lock_dir(fs.as_ref(), path)?;
                // A format this build does not know is refused, never reported as damage.
                crate::storage::format::check_readable(fs.as_ref(), path)?;
                Ok(Resolved {
                    _lock: Some(lock),
                    keys: crate::storage::crypto::offline_ring(fs.as_ref(), path, key.as_ref())?,
                    fs: Arc::clone(fs),
                    dir: path.clone(),
                    pinned: None,
                    live_last_seq: None,
                    wal_floor: None,
                    wal_extent: None,
                    manifest_extent: None,
                    progress: None,
                })
            }
        }
    }
}

fn no_target() -> DatabaseError {
    DatabaseError::InvalidArgument {
        message: "this validator has no database: use Database::integrity_validator, \
                  IntegrityValidator::attach or IntegrityValidator::for_path"
            .into(),
    }
}

/// Takes the directory lock of a closed database (validation and repair must not race an
/// open handle).
pub(crate) fn lock_dir(
    fs: &dyn FileSystem,
    path: &Path,
) -> Result<Box<dyn DirLock>, DatabaseError> {
    if !fs.exists(path) {
        return Err(DatabaseError::InvalidArgument {
            message: format!("no database at {}", path.display()),
        });
    }
    crate::engine::lock_existing_directory(fs, path)
}

/// One validation pass over `r` (see the module documentation for what each level checks).
pub(crate) fn run_validation(
    r: Resolved,
    level: ValidationLevel,
    component: Component,
    fail_fast: bool,
) -> IntegrityReport {
    let started = Instant::now();
    let mut ck = Checker::new(Arc::clone(&r.fs), &r.dir, level).with_keys(r.keys.clone());
    ck.fail_fast = fail_fast;
    ck.report.components = vec![component];
    let manifest = verify::scan_manifest(
        &mut ck,
        component.covers(Component::Manifest),
        r.manifest_extent.as_deref(),
    );
    let mut scans: Vec<TableScan> = Vec::new();
    if component.covers(Component::Index) {
        let numbers: Vec<u64> = match (&r.pinned, &manifest) {
            (Some(v), _) => v.all_tables().map(|(_, t)| t.number).collect(),
            (None, Some(m)) if !m.damaged => m.live.iter().map(|(_, t)| t.number).collect(),
            _ => verify::table_numbers_on_disk(r.fs.as_ref(), &r.dir),
        };
        let scope = TableScope {
            data: component != Component::Index,
            component: if component == Component::Index {
                Component::Index
            } else {
                Component::Tables
            },
        };
        for n in numbers {
            if ck.stopped() {
                break;
            }
            scans.push(verify::scan_table(&mut ck, n, scope, &mut |_| {}));
            if let Some(p) = &r.progress {
                p(ck.report.bytes_checked);
            }
        }
    }
    // The manifest alone, at Comprehensive: against the tables' footers and properties (a
    // Basic pass over their index structures only; their own damage is the `tables`
    // component's business, a missing one is the manifest's).
    if !component.covers(Component::Index)
        && component.covers(Component::Manifest)
        && level >= ValidationLevel::Comprehensive
    {
        if let Some(m) = manifest.as_ref().filter(|m| !m.damaged) {
            let mut meta = Checker::new(Arc::clone(&r.fs), &r.dir, ValidationLevel::Basic)
                .with_keys(r.keys.clone());
            let scope = TableScope {
                data: false,
                component: Component::Index,
            };
            for (level, t) in &m.live {
                let is_pinned = r
                    .pinned
                    .as_ref()
                    .is_none_or(|v| v.all_tables().any(|(_, p)| p.number == t.number));
                if !is_pinned {
                    continue;
                }
                let scan = verify::scan_table(&mut meta, t.number, scope, &mut |_| {});
                if !scan.opened {
                    ck.problem(
                        Component::Manifest,
                        &scan.path,
                        None,
                        super::report::CheckKind::Missing,
                        format!(
                            "the manifest names table {} at level {level}, which cannot be opened",
                            t.number
                        ),
                        false,
                    );
                }
                scans.push(scan);
            }
            ck.report.files_checked += meta.report.files_checked;
            ck.report.tables_checked += meta.report.tables_checked;
            ck.report.blocks_checked += meta.report.blocks_checked;
        }
    }
    // Offline, the manifest and the log must fit together as recovery requires.
    if let (Some(m), None) = (&manifest, &r.pinned) {
        if !m.damaged && component.covers(Component::Manifest) {
            if let Some((file, offset, what)) =
                verify::lost_manifest_edit(r.fs.as_ref(), &r.dir, m, r.keys.as_deref())
            {
                ck.problem(
                    Component::Manifest,
                    &file,
                    offset,
                    super::report::CheckKind::Logical,
                    what,
                    true,
                );
            }
        }
    }
    if component.covers(Component::Wal) && !ck.stopped() {
        let floor = r
            .wal_floor
            .or(manifest.as_ref().map(|m| m.log_number))
            .unwrap_or(0);
        let segments: Vec<u64> = verify::wal_numbers_on_disk(r.fs.as_ref(), &r.dir)
            .into_iter()
            .filter(|&n| n >= floor)
            .collect();
        let mut next_seq = None;
        for (i, n) in segments.iter().enumerate() {
            if ck.stopped() {
                break;
            }
            let path = r.dir.join(crate::storage::wal::wal_file_name(*n));
            // Asked before the read, so every byte below the mark was written before it.
            let settled = match r.wal_extent.as_deref().map(|x| x.settled(*n)) {
                None => None,
                Some(Some(limit)) => limit,
                Some(None) => {
                    ck.note(format!(
                        "{}: created during validation; the next check reads it",
                        path.display()
                    ));
                    break;
                }
            };
            verify::scan_wal(
                &mut ck,
                &path,
                i + 1 == segments.len(),
                &mut next_seq,
                settled,
            );
            if let Some(p) = &r.progress {
                p(ck.report.bytes_checked);
            }
        }
    }
    if level >= ValidationLevel::Comprehensive
        && component.covers(Component::Manifest)
        && !ck.stopped()
    {
        verify::cross_check(&mut ck, manifest.as_ref(), &scans, r.live_last_seq);
        if let (Some(m), None) = (&manifest, &r.pinned) {
            let live = verify::live_numbers(m);
            let orphans: Vec<u64> = verify::table_numbers_on_disk(r.fs.as_ref(), &r.dir)
                .into_iter()
                .filter(|n| !live.contains(n))
                .collect();
            if !orphans.is_empty() {
                ck.note(format!(
                    "{} table files no manifest refers to ({:?}); the next open removes them",
                    orphans.len(),
                    &orphans[..orphans.len().min(10)]
                ));
            }
        }
    }
    if ck.stopped() {
        ck.note("stopped at the first problem (fail_on_corruption)");
    }
    ck.report.elapsed_ms = started.elapsed().as_millis() as u64;
    drop(r);
    ck.report
}

/// Validates the closed database at `path` (the real file system) at `level`: what
/// `lightning check` runs.
pub fn verify_database(
    path: impl AsRef<Path>,
    level: ValidationLevel,
) -> Result<IntegrityReport, DatabaseError> {
    IntegrityValidator::for_path(
        ValidationConfig {
            validation_level: level,
            ..Default::default()
        },
        path,
    )
    .validate()
}
