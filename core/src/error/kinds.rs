//! The error enums themselves, with their messages, and how I/O failures become errors.

use std::fmt;
use std::io;
use std::path::Path;
use std::time::Duration;

/// Implemented by errors that know whether repeating the failed operation can succeed.
///
/// [`AutoRecoveryManager::execute_with_recovery`](crate::AutoRecoveryManager::execute_with_recovery)
/// retries only errors that say yes. Implemented for [`DatabaseError`], [`ReliabilityError`]
/// and [`std::io::Error`]; implement it for an error type of your own to retry it:
///
/// ```
/// use lightning_db::RetryableError;
///
/// #[derive(Debug)]
/// enum FetchError { Busy, NotFound }
///
/// impl RetryableError for FetchError {
///     fn is_retryable(&self) -> bool {
///         matches!(self, FetchError::Busy)
///     }
/// }
/// assert!(FetchError::Busy.is_retryable() && !FetchError::NotFound.is_retryable());
/// ```
pub trait RetryableError {
    /// Whether repeating the same operation, unchanged, may succeed.
    fn is_retryable(&self) -> bool;

    /// The error an attempt of `operation` fails with when it is still running after the
    /// recovery manager's `timeout_per_stage` (`elapsed` is how long it ran).
    ///
    /// The default, `None`, says the type cannot express a timeout: the recovery manager then
    /// never cuts an attempt of it off and lets every attempt run to completion. [`DatabaseError`]
    /// answers [`DatabaseError::Timeout`], [`ReliabilityError`] its `Timeout`, and
    /// [`std::io::Error`] an error of kind [`io::ErrorKind::TimedOut`]; all three are retryable.
    fn timeout_error(operation: &str, elapsed: Duration) -> Option<Self>
    where
        Self: Sized,
    {
        let _ = (operation, elapsed);
        None
    }
}

/// Security failures: encryption, keys, access control and the audit log.
///
/// Every variant is critical ([`DatabaseError::is_critical`]) and has its own code in 201–249.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SecurityError {
    /// Encrypting a block or record failed before anything was written (in practice: the
    /// operating system's random number generator failed).
    #[error("encryption failed: {reason}")]
    EncryptionFailed {
        /// What the cipher or key store reported.
        reason: String,
    },
    /// Stored data of an encrypted database failed to authenticate: it was tampered with,
    /// moved between files or offsets, rolled back, or forged with a recomputed checksum
    /// (plain damage fails the checksum first and is reported as corruption). The reason
    /// names the file and offset. Never retried, never read as data; at open it stops the
    /// open whatever `corruption_action` says.
    #[error("decryption failed (data tampered with or damaged): {reason}")]
    DecryptionFailed {
        /// Which block or record failed, and how.
        reason: String,
    },
    /// The supplied key is not the key the database was encrypted with: its data keys do
    /// not unwrap. The open stops before any file is touched.
    #[error("wrong encryption key: it does not match the key this database was encrypted with")]
    WrongKey,
    /// A key rotation (`Database::rotate_key`) or re-wrap (`Database::rewrap_key`) could
    /// not write the key file; the previous key stays current (for a re-wrap, try the old
    /// key-encryption key first).
    #[error("encryption key rotation failed: {reason}")]
    KeyRotationFailed {
        /// Why the rotation stopped.
        reason: String,
    },
    /// The caller is not permitted to perform the operation.
    ///
    /// **Reserved**: not produced by this version; kept for access control.
    #[error("access denied: {operation}")]
    AccessDenied {
        /// The operation that was refused.
        operation: String,
    },
    /// The audit log does not verify: an entry was edited, removed, inserted or reordered, the
    /// tail was cut off, a log file was deleted, or the state file does not match. Raised by
    /// `AuditLogger::verify` and when opening a logger (or a database with audit logging) on
    /// such a log.
    #[error("audit log tampering detected: {details}")]
    AuditLogTampered {
        /// The kind of tampering, the first entry concerned (file and line) and what was
        /// found, as `kind at entry N (file line L): what`.
        details: String,
    },
    /// Key material has the wrong length or format (`EncryptionKey::from_slice`,
    /// `from_file`, `from_env`, and the bindings' key options).
    #[error("invalid encryption key material: {reason}")]
    InvalidKeyMaterial {
        /// What is wrong with it.
        reason: String,
    },
}

/// The error type of every fallible Lightning DB operation.
///
/// Match on it with a wildcard arm: new variants are added in minor releases. For automated
/// handling prefer [`error_code`](Self::error_code) and the classification methods
/// ([`is_retryable`](Self::is_retryable), [`is_critical`](Self::is_critical),
/// [`is_recoverable`](Self::is_recoverable)).
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DatabaseError {
    // ----- core (1xx) -----
    /// The key has no live value (it was never written, or was deleted).
    ///
    /// Not produced by the Rust API, whose lookups answer `None`; the C API returns its
    /// code as `LIGHTNING_NOT_FOUND`, the ordinary answer for a missing key.
    #[error("key not found: {}{}", KeyDisplay(.key), parenthesized(.context))]
    KeyNotFound {
        /// The key that was looked up.
        key: Vec<u8>,
        /// Where the lookup happened (a transaction, a snapshot...); may be empty.
        context: String,
    },
    /// A value is longer than `max_value_size`; nothing was written.
    #[error("value too large: {size} bytes exceeds the maximum of {max_size} bytes")]
    ValueTooLarge {
        /// Length of the rejected value in bytes.
        size: usize,
        /// The configured `max_value_size`.
        max_size: usize,
    },
    /// A key is longer than `max_key_size`; nothing was written.
    #[error("key too large: {size} bytes exceeds the maximum of {max_size} bytes")]
    KeyTooLarge {
        /// Length of the rejected key in bytes.
        size: usize,
        /// The configured `max_key_size`.
        max_size: usize,
    },
    /// A key of length zero was given; keys must be at least one byte.
    #[error("empty key: keys must be at least one byte long")]
    EmptyKey,
    /// An optimistic transaction read or wrote a key that another transaction committed after
    /// this one began; nothing of this transaction was applied. Retryable.
    #[error(
        "transaction conflict on key {}: a commit at sequence {conflicting_tx} wrote it first",
        KeyDisplay(.key)
    )]
    TransactionConflict {
        /// The first conflicting key found.
        key: Vec<u8>,
        /// The sequence number of the commit that wrote the key after this transaction's
        /// snapshot (or lock). The field keeps the API reference's name, but it is not a
        /// transaction id: a plain write conflicts too, and has none.
        conflicting_tx: u64,
    },
    /// A pessimistic transaction could not acquire a key lock in time. Retryable.
    #[error("timed out after {waited:?} waiting for the lock on key {}", KeyDisplay(.key))]
    LockTimeout {
        /// The key whose lock was not granted.
        key: Vec<u8>,
        /// How long the transaction waited.
        waited: Duration,
    },
    /// The handle (database, transaction, iterator or snapshot) was already closed.
    #[error("database is closed")]
    DatabaseClosed,
    /// An argument is out of its allowed range or malformed.
    #[error("invalid argument: {message}")]
    InvalidArgument {
        /// What is wrong and what is allowed.
        message: String,
    },
    /// An operating-system I/O call failed. A full disk (ENOSPC) or exhausted quota also arrives
    /// as this variant, with `kind` [`io::ErrorKind::StorageFull`] or
    /// [`io::ErrorKind::QuotaExceeded`], and has its own code ([`codes::STORAGE_FULL`]).
    #[error("I/O error{}: {message}", io_context(.operation, .path))]
    Io {
        /// What the engine was doing (`"open"`, `"write wal"`, `"rename table"`...); `"io"`
        /// when converted from a bare [`io::Error`].
        operation: String,
        /// The file or directory involved; empty when unknown.
        path: String,
        /// The kind of the underlying [`io::Error`].
        kind: io::ErrorKind,
        /// The operating system's message, including the OS error number.
        message: String,
    },
    /// The database's `LOCK` file is held by another process or another open handle.
    #[error("database at '{path}' is locked by another process or handle")]
    DatabaseLocked {
        /// The database directory.
        path: String,
    },
    /// An earlier write or fsync failed, so the database no longer knows what is durable and
    /// refuses writes until it is reopened. A failed fsync is never retried, because the kernel
    /// may already have marked the unwritten pages clean.
    #[error("database is poisoned and refuses writes until reopened: {reason}")]
    Poisoned {
        /// The failure that poisoned the database.
        reason: String,
    },
    /// A bug in Lightning DB, or a panic caught at an API boundary. The engine reports none
    /// of its own yet; the C ABI and the bindings produce this code for a caught panic.
    #[error("internal error (this is a bug, please report it): {message}")]
    Internal {
        /// What went wrong.
        message: String,
    },

    // ----- security and integrity (2xx) -----
    /// A security failure; see [`SecurityError`] for its own codes.
    #[error(transparent)]
    SecurityError(#[from] SecurityError),
    /// Stored data failed a check and was not returned.
    #[error(
        "data corruption in {component}: {details} ({})",
        if *.recovery_possible { "recoverable" } else { "not recoverable automatically" }
    )]
    DataCorruption {
        /// The damaged component: a file name, `"wal"`, `"manifest"`, a block...
        component: String,
        /// What was found, with file and offset where known.
        details: String,
        /// Whether the damaged data can be rebuilt from other durable copies without loss.
        recovery_possible: bool,
    },
    /// An integrity validation check (structural or logical) found a violated invariant.
    ///
    /// **Reserved**: not produced by this version; kept for the health monitor's integrity check; validation reports problems in its `IntegrityReport` instead.
    #[error("integrity check '{check_name}' failed: expected {expected}, found {actual}")]
    IntegrityValidationFailed {
        /// Name of the failed check.
        check_name: String,
        /// What the check expected.
        expected: String,
        /// What it found.
        actual: String,
    },
    /// A stored checksum does not match the data it covers.
    ///
    /// **Reserved**: not produced by this version; kept for a failed checksum is reported as `DataCorruption`, `WalCorrupted` or `ManifestCorrupted`, naming the file and offset.
    #[error(
        "checksum mismatch in '{file}' at offset {offset}: stored {expected}, computed {actual}"
    )]
    ChecksumMismatch {
        /// The file holding the damaged data.
        file: String,
        /// Byte offset of the damaged record or block.
        offset: u64,
        /// The checksum stored on disk.
        expected: String,
        /// The checksum computed from the data read.
        actual: String,
    },

    // ----- reliability (3xx) -----
    /// Pessimistic transactions waited on each other in a cycle; one of them was aborted so the
    /// others can proceed. Retryable.
    #[error("deadlock detected between {}", .resources.join(", "))]
    DeadlockDetected {
        /// The locks (keys or transactions) forming the cycle.
        resources: Vec<String>,
        /// What the caller should do, usually retry the aborted transaction.
        suggested_action: String,
    },
    /// The circuit breaker protecting a service is open after repeated failures; calls are
    /// refused without being attempted. Retryable after `retry_after`.
    ///
    /// Produced by [`CircuitBreaker::call`](crate::CircuitBreaker::call) (through
    /// [`ReliabilityError::CircuitBreakerOpen`]) when it refuses a call.
    #[error("circuit breaker for '{service}' is open; retry after {retry_after:?}")]
    CircuitBreakerOpen {
        /// The protected service or operation.
        service: String,
        /// How long until the breaker lets a trial call through.
        retry_after: Duration,
    },
    /// Automatic recovery exhausted its retries.
    ///
    /// Answered by an open whose recovery stage (manifest, log replay, writing what the log
    /// held, cleanup) kept failing with I/O errors after `reliability.retry_max_attempts`
    /// retries; `stage` is the stage's name and `last_error` the last attempt's error. (The
    /// [`AutoRecoveryManager`](crate::AutoRecoveryManager) itself returns the last attempt's
    /// own error when its retries are exhausted, as the API reference specifies.)
    #[error("automatic recovery failed at '{stage}' after {attempts} attempts: {last_error}")]
    AutoRecoveryFailed {
        /// The operation or stage being retried.
        stage: String,
        /// How many attempts were made.
        attempts: usize,
        /// The error of the last attempt.
        last_error: Box<DatabaseError>,
    },
    /// An operation exceeded its time limit and was abandoned. Retryable.
    ///
    /// Produced by the [`AutoRecoveryManager`](crate::AutoRecoveryManager) when an attempt is
    /// still running after `timeout_per_stage`: the attempt's future is dropped, so whatever it
    /// did before that point may or may not have taken effect (retried operations must be
    /// idempotent).
    #[error("operation '{operation}' timed out after {elapsed:?}")]
    Timeout {
        /// The operation that timed out.
        operation: String,
        /// How long it ran.
        elapsed: Duration,
    },

    // ----- recovery (4xx) -----
    /// Opening found damage that no automatic step can repair without losing acknowledged data
    /// (for example both the manifest and its backup are unreadable).
    ///
    /// **Reserved**: not produced by this version. Each failure an open meets names its
    /// damage with its own code (`ManifestCorrupted`, `TableFileMissing`,
    /// `InconsistentState`, ...), and `lightning repair` can act on every one of them.
    #[error("recovery impossible: {reason}")]
    RecoveryImpossible {
        /// Why recovery cannot proceed.
        reason: String,
        /// What the operator can do (restore a backup, run `lightning repair`...).
        suggested_action: String,
    },
    /// A write-ahead log record failed its checksum or framing. A torn record at the very end of
    /// the newest segment (a crash mid-append) is cut off during recovery rather than reported;
    /// damage before intact records is reported as this error.
    #[error("write-ahead log corrupted: {details}")]
    WalCorrupted {
        /// Segment, offset and what failed.
        details: String,
        /// What the operator can do.
        suggested_action: String,
    },
    /// Recovery completed some stages and then failed in another.
    ///
    /// Answered by an open whose log was replayed and which then met an I/O error it does
    /// not retry (a failed sync, or retries turned off) while writing what the log held,
    /// verifying, cleaning up or starting. `rollback_available` is true when the failure
    /// came before the cleanup stage wrote anything a later open depends on: the next
    /// open starts from the same files.
    #[error(
        "recovery failed at stage '{failed_stage}' (completed: [{}]): {cause}",
        .completed_stages.join(", ")
    )]
    PartialRecoveryFailure {
        /// The stages that finished, in order.
        completed_stages: Vec<String>,
        /// The stage that failed.
        failed_stage: String,
        /// Why it failed.
        cause: Box<DatabaseError>,
        /// Whether the completed stages can be rolled back to the state before recovery.
        rollback_available: bool,
    },
    /// A manifest record failed its checksum or could not be decoded, so the set of live table
    /// files is unknown.
    #[error("manifest corrupted: {details}")]
    ManifestCorrupted {
        /// Manifest file, offset and what failed.
        details: String,
        /// What the operator can do.
        suggested_action: String,
    },
    /// The `CURRENT` file, which names the live manifest, is missing, empty, malformed or names
    /// a manifest that does not exist (typically a crash while switching manifests on a file
    /// system that did not persist the rename).
    #[error("CURRENT file is invalid: {details}")]
    CurrentFileInvalid {
        /// What is wrong with it.
        details: String,
    },
    /// The manifest names a table file that is not on disk (deleted by hand, lost by the file
    /// system, or never synced before the manifest was).
    #[error("table file '{file}' named by the manifest is missing")]
    TableFileMissing {
        /// The missing file.
        file: String,
        /// What the operator can do.
        suggested_action: String,
    },
    /// A file was written by a newer format version than this build can read.
    #[error(
        "{component} format version {found} is not supported (this build reads versions up to \
         {supported_max})"
    )]
    UnsupportedFormatVersion {
        /// The file kind (`"table"`, `"wal"`, `"manifest"`...).
        component: String,
        /// The version found on disk.
        found: u32,
        /// The newest version this build reads.
        supported_max: u32,
    },
    /// Log replay found a hole in sequence numbers: records between the last applied one and
    /// the next readable one are missing, so replaying further would reorder history.
    #[error("log replay found a sequence gap: expected sequence {expected}, found {found}")]
    SequenceGap {
        /// The next sequence number replay expected.
        expected: u64,
        /// The sequence number it found instead.
        found: u64,
    },
    /// Applying a write-ahead log segment during recovery failed.
    ///
    /// **Reserved**: not produced by this version. A damaged record is `WalCorrupted`; an
    /// I/O failure while replaying is retried, then answered `AutoRecoveryFailed`.
    #[error("replay of log segment '{segment}' failed at offset {offset}: {cause}")]
    WalReplayFailed {
        /// The segment file.
        segment: String,
        /// Byte offset of the record that failed.
        offset: u64,
        /// Why it failed.
        cause: Box<DatabaseError>,
    },
    /// A repair (rebuilding a manifest, dropping damaged blocks...) could not complete; the
    /// files were left as they were before the repair.
    ///
    /// **Reserved**: not produced by this version; kept for repair failures; repair reports what it could not do in its `RepairReport`.
    #[error("repair of {component} failed: {reason}")]
    RepairFailed {
        /// What was being repaired.
        component: String,
        /// Why it failed.
        reason: String,
    },
    /// A corrupted file could not be moved into `quarantine/` (permissions, full disk...), so
    /// it is still in the database directory.
    #[error("could not quarantine '{file}': {reason}")]
    QuarantineFailed {
        /// The file that should have been set aside.
        file: String,
        /// Why the move failed.
        reason: String,
    },
    /// Undoing a completed stage failed, so the directory may hold a mix of files from before
    /// and after it. A migration whose step failed answers this when putting the database
    /// back failed too (`stage` names the step).
    #[error("rollback of stage '{stage}' failed: {reason}")]
    RollbackFailed {
        /// The stage whose rollback failed.
        stage: String,
        /// Why it failed.
        reason: String,
    },
    /// A crash-recovery stage exceeded its time limit.
    ///
    /// Answered by an open when a stage kept failing with retryable I/O errors and its next
    /// retry could not start within 60 seconds of the stage's start (the stage's failure
    /// is in the open's failed `recovery_stage` event). (An attempt of the auto-recovery
    /// manager that exceeds `timeout_per_stage` fails with [`Timeout`](Self::Timeout),
    /// which is retryable.)
    #[error("recovery stage '{stage}' timed out after {elapsed:?}")]
    RecoveryTimeout {
        /// The stage that timed out.
        stage: String,
        /// How long it ran.
        elapsed: Duration,
    },
    /// A format migration step failed. When `rolled_back` is true the database was put back
    /// exactly as it was before the migration (its files byte for byte) and still opens in
    /// its old format; the migration can be run again once the cause is fixed.
    #[error(
        "migration step '{step}' failed: {reason}{}",
        if *.rolled_back { " (the database was rolled back to its previous format)" } else { "" }
    )]
    MigrationFailed {
        /// The step that failed (its description).
        step: String,
        /// Why it failed.
        reason: String,
        /// Whether the database was restored as it was before the migration.
        rolled_back: bool,
    },
    /// The database is in a format older than this build reads: it must be migrated, by a
    /// release that reads its format, before this one can open it. Refused before any file
    /// is touched. (Every format Lightning DB has had is still read by this build, so only
    /// a database recording an older format than any release wrote meets this today.)
    #[error(
        "database {path} is in format v{found}, older than this build reads (v{oldest_supported} \
         and newer): a migration is required; run `{command}`"
    )]
    MigrationRequired {
        /// The database directory.
        path: String,
        /// The format version it is in.
        found: u32,
        /// The oldest format version this build reads.
        oldest_supported: u32,
        /// The command that migrates it (with a release that reads format `found`).
        command: String,
    },
    /// Files on disk disagree with the manifest in a way recovery cannot settle on its own,
    /// such as a table whose key range or sequence numbers contradict the manifest.
    #[error("inconsistent on-disk state: {details}")]
    InconsistentState {
        /// What disagrees with what.
        details: String,
        /// What the operator can do.
        suggested_action: String,
    },

    // ----- configuration and resources (5xx) -----
    /// A configuration value is out of range or contradicts another.
    #[error("invalid configuration for '{field}': {reason}")]
    ConfigurationError {
        /// The offending field, dotted for nested ones (`reliability.retry_max_attempts`).
        field: String,
        /// Why it is invalid, with the allowed range.
        reason: String,
    },
    /// Not enough of a resource (memory, disk, file handles) to proceed. A migration's safety
    /// check answers it when the disk lacks room for the rewritten files.
    #[error("insufficient {resource}: {required} required, {available} available")]
    InsufficientResources {
        /// The resource (`"memory"`, `"disk"`, `"file handles"`...).
        resource: String,
        /// How much is needed (bytes or count).
        required: u64,
        /// How much is available (same unit).
        available: u64,
    },
    /// Opening the database failed at a setup step not covered by a more specific error.
    #[error("initialization failed at '{stage}': {reason}")]
    InitializationFailed {
        /// The step that failed.
        stage: String,
        /// Why it failed.
        reason: String,
    },
}

impl DatabaseError {
    /// Builds an [`Io`](Self::Io) error from a failed OS call on `path`.
    pub fn io(operation: &str, path: impl AsRef<Path>, err: &io::Error) -> DatabaseError {
        let message = err.to_string();
        DatabaseError::Io {
            operation: operation.to_string(),
            path: path.as_ref().display().to_string(),
            kind: normalize_kind(err.kind(), &message),
            message,
        }
    }
}

impl RetryableError for DatabaseError {
    fn is_retryable(&self) -> bool {
        DatabaseError::is_retryable(self)
    }

    /// [`DatabaseError::Timeout`] naming the operation.
    fn timeout_error(operation: &str, elapsed: Duration) -> Option<Self> {
        Some(
            ReliabilityError::Timeout {
                operation: operation.to_string(),
                elapsed,
            }
            .into(),
        )
    }
}

/// Failures of the reliability layer itself: a circuit breaker refusing a call, automatic
/// recovery giving up, an operation or health check running out of time.
///
/// Each variant converts into the [`DatabaseError`] variant of the same name, with the same
/// message and its 3xx code ([`error_code`](Self::error_code)), so a function returning
/// `Result<_, DatabaseError>` can use `?` on it:
///
/// ```
/// use std::time::Duration;
/// use lightning_db::{codes, DatabaseError, ReliabilityError};
///
/// let refused = ReliabilityError::CircuitBreakerOpen {
///     service: "database".into(),
///     retry_after: Duration::from_secs(5),
/// };
/// assert_eq!(refused.error_code(), codes::CIRCUIT_BREAKER_OPEN);
/// let db_error = DatabaseError::from(refused);
/// assert!(matches!(db_error, DatabaseError::CircuitBreakerOpen { .. }));
/// assert_eq!(db_error.error_code(), 302);
/// ```
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ReliabilityError {
    /// A circuit breaker is open and refused the call without attempting it; see
    /// [`DatabaseError::CircuitBreakerOpen`] (code 302). Retryable after `retry_after`.
    #[error("circuit breaker for '{service}' is open; retry after {retry_after:?}")]
    CircuitBreakerOpen {
        /// The protected service or operation (the breaker's name).
        service: String,
        /// How long until the breaker lets a trial call through; zero when the breaker is
        /// half-open and all its trial calls are in flight.
        retry_after: Duration,
    },
    /// Automatic recovery exhausted its retries; see [`DatabaseError::AutoRecoveryFailed`]
    /// (code 303). Not retryable.
    #[error("automatic recovery failed at '{stage}' after {attempts} attempts: {last_error}")]
    AutoRecoveryFailed {
        /// The operation or stage being retried.
        stage: String,
        /// How many attempts were made.
        attempts: usize,
        /// The error of the last attempt.
        last_error: Box<DatabaseError>,
    },
    /// An operation (an attempt, a health check) exceeded its time limit and was abandoned;
    /// see [`DatabaseError::Timeout`] (code 304). Retryable.
    #[error("operation '{operation}' timed out after {elapsed:?}")]
    Timeout {
        /// The operation that timed out.
        operation: String,
        /// How long it ran.
        elapsed: Duration,
    },
}

impl From<ReliabilityError> for DatabaseError {
    fn from(err: ReliabilityError) -> Self {
        match err {
            ReliabilityError::CircuitBreakerOpen {
                service,
                retry_after,
            } => DatabaseError::CircuitBreakerOpen {
                service,
                retry_after,
            },
            ReliabilityError::AutoRecoveryFailed {
                stage,
                attempts,
                last_error,
            } => DatabaseError::AutoRecoveryFailed {
                stage,
                attempts,
                last_error,
            },
            ReliabilityError::Timeout { operation, elapsed } => {
                DatabaseError::Timeout { operation, elapsed }
            }
        }
    }
}

/// For programs whose errors are `std::io::Error`: a refused call becomes an error of kind
/// [`io::ErrorKind::WouldBlock`], a timeout one of kind [`io::ErrorKind::TimedOut`], anything
/// else [`io::ErrorKind::Other`]; the [`ReliabilityError`] is kept as the source.
impl From<ReliabilityError> for io::Error {
    fn from(err: ReliabilityError) -> Self {
        let kind = match err {
            ReliabilityError::CircuitBreakerOpen { .. } => io::ErrorKind::WouldBlock,
            ReliabilityError::Timeout { .. } => io::ErrorKind::TimedOut,
            ReliabilityError::AutoRecoveryFailed { .. } => io::ErrorKind::Other,
        };
        io::Error::new(kind, err)
    }
}

impl RetryableError for ReliabilityError {
    fn is_retryable(&self) -> bool {
        ReliabilityError::is_retryable(self)
    }

    /// [`ReliabilityError::Timeout`] naming the operation.
    fn timeout_error(operation: &str, elapsed: Duration) -> Option<Self> {
        Some(ReliabilityError::Timeout {
            operation: operation.to_string(),
            elapsed,
        })
    }
}

/// Transient I/O failures are retryable: kinds `Interrupted`, `WouldBlock` and `TimedOut`,
/// the same rule as for [`DatabaseError::Io`].
impl RetryableError for io::Error {
    fn is_retryable(&self) -> bool {
        is_transient_io_kind(self.kind())
    }

    /// An error of kind [`io::ErrorKind::TimedOut`] naming the operation.
    fn timeout_error(operation: &str, elapsed: Duration) -> Option<Self> {
        Some(
            ReliabilityError::Timeout {
                operation: operation.to_string(),
                elapsed,
            }
            .into(),
        )
    }
}

/// I/O failures that may go away by themselves when the call is repeated.
pub(super) fn is_transient_io_kind(kind: io::ErrorKind) -> bool {
    matches!(
        kind,
        io::ErrorKind::Interrupted | io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

impl From<io::Error> for DatabaseError {
    fn from(err: io::Error) -> Self {
        DatabaseError::io("io", "", &err)
    }
}

// Fault injection and some platforms report ENOSPC with a generic kind; recognizing the
// message keeps the STORAGE_FULL code reliable.
pub(super) fn is_storage_full_kind(kind: io::ErrorKind, message: &str) -> bool {
    matches!(
        kind,
        io::ErrorKind::StorageFull | io::ErrorKind::QuotaExceeded
    ) || message.contains("No space left")
        || message.contains("Disk quota exceeded")
}

fn normalize_kind(kind: io::ErrorKind, message: &str) -> io::ErrorKind {
    if kind != io::ErrorKind::QuotaExceeded && is_storage_full_kind(kind, message) {
        io::ErrorKind::StorageFull
    } else {
        kind
    }
}

fn parenthesized(context: &str) -> String {
    if context.is_empty() {
        String::new()
    } else {
        format!(" ({context})")
    }
}

fn io_context(operation: &str, path: &str) -> String {
    // "io" is the placeholder of a bare `io::Error` conversion: it says nothing to a reader.
    let unnamed = operation.is_empty() || operation == "io";
    match (unnamed, path.is_empty()) {
        (true, true) => String::new(),
        (false, true) => format!(" during {operation}"),
        (true, false) => format!(" on '{path}'"),
        (false, false) => format!(" during {operation} on '{path}'"),
    }
}

/// Shows a key as escaped ASCII, cut after a prefix so that a huge key cannot flood a log.
struct KeyDisplay<'a>(&'a [u8]);

const KEY_DISPLAY_LIMIT: usize = 64;

impl fmt::Display for KeyDisplay<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shown = &self.0[..self.0.len().min(KEY_DISPLAY_LIMIT)];
        write!(f, "\"{}\"", shown.escape_ascii())?;
        if self.0.len() > KEY_DISPLAY_LIMIT {
            write!(f, "... ({} bytes)", self.0.len())?;
        }
        Ok(())
    }
}
