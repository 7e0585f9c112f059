//! Errors of Lightning DB and their stable numeric codes.
//!
//! [`DatabaseError`] is the one error type of the public API. Every variant carries a stable
//! numeric code ([`DatabaseError::error_code`]) and name ([`DatabaseError::code_name`]) taken
//! from a single table, [`ERROR_TABLE`]. The same numbers are the C API's return codes, the
//! `code` of Python exceptions and the `errno` of Node errors, so the table is written here once
//! and the bindings generate theirs from it.
//!
//! Codes are grouped by kind:
//!
//! | range | kind |
//! |---|---|
//! | 0–99 | non-error statuses of the C API (success, end of iteration, buffer too small) |
//! | 1xx | core: keys, values, transactions, handles, I/O |
//! | 2xx | security (201–249) and integrity (250–299) |
//! | 3xx | reliability: deadlocks, circuit breaker, auto-recovery, timeouts |
//! | 4xx | crash recovery and repair |
//! | 5xx | configuration and resources |
//!
//! A code is never renumbered or reused; a retired code stays reserved in the table.

use std::fmt;
use std::io;
use std::path::Path;
use std::time::Duration;

/// Result type of Lightning DB, defaulting to [`DatabaseError`] as the error.
pub type Result<T, E = DatabaseError> = std::result::Result<T, E>;

/// Stable numeric codes, one table for the Rust API, the C ABI and the bindings.
///
/// Codes below 100 are not errors of [`DatabaseError`]: they are statuses the C API returns
/// alongside them. Every code here also has an entry in [`ERROR_TABLE`].
pub mod codes {
    /// Success (C API status, not an error).
    pub const OK: i32 = 0;
    /// An iterator or cursor has no more entries (C API status, not an error).
    pub const DONE: i32 = 1;
    /// The caller's output buffer is too small; the required length was reported
    /// (C API status, not an error).
    pub const BUFFER_TOO_SMALL: i32 = 2;

    /// [`DatabaseError::KeyNotFound`](super::DatabaseError::KeyNotFound).
    pub const KEY_NOT_FOUND: i32 = 101;
    /// [`DatabaseError::ValueTooLarge`](super::DatabaseError::ValueTooLarge).
    pub const VALUE_TOO_LARGE: i32 = 102;
    /// [`DatabaseError::KeyTooLarge`](super::DatabaseError::KeyTooLarge).
    pub const KEY_TOO_LARGE: i32 = 103;
    /// [`DatabaseError::EmptyKey`](super::DatabaseError::EmptyKey).
    pub const EMPTY_KEY: i32 = 104;
    /// [`DatabaseError::TransactionConflict`](super::DatabaseError::TransactionConflict).
    pub const TRANSACTION_CONFLICT: i32 = 105;
    /// [`DatabaseError::LockTimeout`](super::DatabaseError::LockTimeout).
    pub const LOCK_TIMEOUT: i32 = 106;
    /// [`DatabaseError::DatabaseClosed`](super::DatabaseError::DatabaseClosed).
    pub const DATABASE_CLOSED: i32 = 107;
    /// [`DatabaseError::InvalidArgument`](super::DatabaseError::InvalidArgument).
    pub const INVALID_ARGUMENT: i32 = 108;
    /// [`DatabaseError::Io`](super::DatabaseError::Io), any kind except storage full.
    pub const IO_ERROR: i32 = 109;
    /// [`DatabaseError::DatabaseLocked`](super::DatabaseError::DatabaseLocked).
    pub const DATABASE_LOCKED: i32 = 110;
    /// [`DatabaseError::Poisoned`](super::DatabaseError::Poisoned).
    pub const POISONED: i32 = 111;
    /// [`DatabaseError::Internal`](super::DatabaseError::Internal).
    pub const INTERNAL: i32 = 112;
    /// [`DatabaseError::Io`](super::DatabaseError::Io) whose cause is a full disk or an
    /// exhausted quota (ENOSPC, EDQUOT).
    pub const STORAGE_FULL: i32 = 113;

    /// [`SecurityError::EncryptionFailed`](super::SecurityError::EncryptionFailed).
    pub const ENCRYPTION_FAILED: i32 = 201;
    /// [`SecurityError::DecryptionFailed`](super::SecurityError::DecryptionFailed).
    pub const DECRYPTION_FAILED: i32 = 202;
    /// [`SecurityError::WrongKey`](super::SecurityError::WrongKey).
    pub const WRONG_KEY: i32 = 203;
    /// [`SecurityError::KeyRotationFailed`](super::SecurityError::KeyRotationFailed).
    pub const KEY_ROTATION_FAILED: i32 = 204;
    /// [`SecurityError::AccessDenied`](super::SecurityError::AccessDenied).
    pub const ACCESS_DENIED: i32 = 205;
    /// [`SecurityError::AuditLogTampered`](super::SecurityError::AuditLogTampered).
    pub const AUDIT_LOG_TAMPERED: i32 = 206;
    /// [`SecurityError::InvalidKeyMaterial`](super::SecurityError::InvalidKeyMaterial).
    pub const INVALID_KEY_MATERIAL: i32 = 207;
    /// [`DatabaseError::DataCorruption`](super::DatabaseError::DataCorruption).
    pub const DATA_CORRUPTION: i32 = 250;
    /// [`DatabaseError::IntegrityValidationFailed`](super::DatabaseError::IntegrityValidationFailed).
    pub const INTEGRITY_VALIDATION_FAILED: i32 = 251;
    /// [`DatabaseError::ChecksumMismatch`](super::DatabaseError::ChecksumMismatch).
    pub const CHECKSUM_MISMATCH: i32 = 252;

    /// [`DatabaseError::DeadlockDetected`](super::DatabaseError::DeadlockDetected).
    pub const DEADLOCK_DETECTED: i32 = 301;
    /// [`DatabaseError::CircuitBreakerOpen`](super::DatabaseError::CircuitBreakerOpen).
    pub const CIRCUIT_BREAKER_OPEN: i32 = 302;
    /// [`DatabaseError::AutoRecoveryFailed`](super::DatabaseError::AutoRecoveryFailed).
    pub const AUTO_RECOVERY_FAILED: i32 = 303;
    /// [`DatabaseError::Timeout`](super::DatabaseError::Timeout).
    pub const TIMEOUT: i32 = 304;

    /// [`DatabaseError::RecoveryImpossible`](super::DatabaseError::RecoveryImpossible).
    pub const RECOVERY_IMPOSSIBLE: i32 = 401;
    /// [`DatabaseError::WalCorrupted`](super::DatabaseError::WalCorrupted).
    pub const WAL_CORRUPTED: i32 = 402;
    /// [`DatabaseError::PartialRecoveryFailure`](super::DatabaseError::PartialRecoveryFailure).
    pub const PARTIAL_RECOVERY_FAILURE: i32 = 403;
    /// [`DatabaseError::ManifestCorrupted`](super::DatabaseError::ManifestCorrupted).
    pub const MANIFEST_CORRUPTED: i32 = 404;
    /// [`DatabaseError::CurrentFileInvalid`](super::DatabaseError::CurrentFileInvalid).
    pub const CURRENT_FILE_INVALID: i32 = 405;
    /// [`DatabaseError::TableFileMissing`](super::DatabaseError::TableFileMissing).
    pub const TABLE_FILE_MISSING: i32 = 406;
    /// [`DatabaseError::UnsupportedFormatVersion`](super::DatabaseError::UnsupportedFormatVersion).
    pub const UNSUPPORTED_FORMAT_VERSION: i32 = 407;
    /// [`DatabaseError::SequenceGap`](super::DatabaseError::SequenceGap).
    pub const SEQUENCE_GAP: i32 = 408;
    /// [`DatabaseError::WalReplayFailed`](super::DatabaseError::WalReplayFailed).
    pub const WAL_REPLAY_FAILED: i32 = 409;
    /// [`DatabaseError::RepairFailed`](super::DatabaseError::RepairFailed).
    pub const REPAIR_FAILED: i32 = 410;
    /// [`DatabaseError::QuarantineFailed`](super::DatabaseError::QuarantineFailed).
    pub const QUARANTINE_FAILED: i32 = 411;
    /// [`DatabaseError::RollbackFailed`](super::DatabaseError::RollbackFailed).
    pub const ROLLBACK_FAILED: i32 = 412;
    /// [`DatabaseError::RecoveryTimeout`](super::DatabaseError::RecoveryTimeout).
    pub const RECOVERY_TIMEOUT: i32 = 413;
    /// [`DatabaseError::InconsistentState`](super::DatabaseError::InconsistentState).
    pub const INCONSISTENT_STATE: i32 = 414;

    /// [`DatabaseError::ConfigurationError`](super::DatabaseError::ConfigurationError).
    pub const CONFIGURATION_ERROR: i32 = 501;
    /// [`DatabaseError::InsufficientResources`](super::DatabaseError::InsufficientResources).
    pub const INSUFFICIENT_RESOURCES: i32 = 502;
    /// [`DatabaseError::InitializationFailed`](super::DatabaseError::InitializationFailed).
    pub const INITIALIZATION_FAILED: i32 = 503;
}

/// One row of the code table: what [`describe_code`] returns and what the bindings generate
/// their constants, exception classes and `strerror` text from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ErrorCodeInfo {
    /// The stable numeric code.
    pub code: i32,
    /// The stable SCREAMING_SNAKE name; bindings prefix it (`LIGHTNING_TRANSACTION_CONFLICT`).
    pub name: &'static str,
    /// A static one-line description, suitable for `lightning_strerror`.
    pub description: &'static str,
}

const fn info(code: i32, name: &'static str, description: &'static str) -> ErrorCodeInfo {
    ErrorCodeInfo {
        code,
        name,
        description,
    }
}

/// Every code Lightning DB has ever defined, in ascending order.
pub const ERROR_TABLE: &[ErrorCodeInfo] = &[
    info(codes::OK, "OK", "success"),
    info(codes::DONE, "DONE", "no more entries"),
    info(
        codes::BUFFER_TOO_SMALL,
        "BUFFER_TOO_SMALL",
        "output buffer too small; the required length was reported",
    ),
    info(codes::KEY_NOT_FOUND, "KEY_NOT_FOUND", "key not found"),
    info(
        codes::VALUE_TOO_LARGE,
        "VALUE_TOO_LARGE",
        "value larger than the configured maximum value size",
    ),
    info(
        codes::KEY_TOO_LARGE,
        "KEY_TOO_LARGE",
        "key larger than the configured maximum key size",
    ),
    info(
        codes::EMPTY_KEY,
        "EMPTY_KEY",
        "keys must be at least one byte long",
    ),
    info(
        codes::TRANSACTION_CONFLICT,
        "TRANSACTION_CONFLICT",
        "transaction conflicted with a concurrent commit; retry it",
    ),
    info(
        codes::LOCK_TIMEOUT,
        "LOCK_TIMEOUT",
        "timed out waiting for a key lock; retry the transaction",
    ),
    info(
        codes::DATABASE_CLOSED,
        "DATABASE_CLOSED",
        "operation on a closed database handle",
    ),
    info(
        codes::INVALID_ARGUMENT,
        "INVALID_ARGUMENT",
        "invalid argument",
    ),
    info(codes::IO_ERROR, "IO_ERROR", "input/output error"),
    info(
        codes::DATABASE_LOCKED,
        "DATABASE_LOCKED",
        "database is locked by another process or handle",
    ),
    info(
        codes::POISONED,
        "POISONED",
        "an earlier write or sync failed; the database refuses writes until reopened",
    ),
    info(codes::INTERNAL, "INTERNAL", "internal error (a bug)"),
    info(
        codes::STORAGE_FULL,
        "STORAGE_FULL",
        "no space left on the device or disk quota exceeded",
    ),
    info(
        codes::ENCRYPTION_FAILED,
        "ENCRYPTION_FAILED",
        "encryption failed",
    ),
    info(
        codes::DECRYPTION_FAILED,
        "DECRYPTION_FAILED",
        "decryption or authentication of stored data failed",
    ),
    info(codes::WRONG_KEY, "WRONG_KEY", "wrong encryption key"),
    info(
        codes::KEY_ROTATION_FAILED,
        "KEY_ROTATION_FAILED",
        "encryption key rotation failed",
    ),
    info(codes::ACCESS_DENIED, "ACCESS_DENIED", "access denied"),
    info(
        codes::AUDIT_LOG_TAMPERED,
        "AUDIT_LOG_TAMPERED",
        "audit log hash chain is broken: entries were edited, removed or reordered",
    ),
    info(
        codes::INVALID_KEY_MATERIAL,
        "INVALID_KEY_MATERIAL",
        "encryption key material is malformed",
    ),
    info(
        codes::DATA_CORRUPTION,
        "DATA_CORRUPTION",
        "stored data is corrupted",
    ),
    info(
        codes::INTEGRITY_VALIDATION_FAILED,
        "INTEGRITY_VALIDATION_FAILED",
        "an integrity validation check failed",
    ),
    info(
        codes::CHECKSUM_MISMATCH,
        "CHECKSUM_MISMATCH",
        "checksum mismatch in a stored file",
    ),
    info(
        codes::DEADLOCK_DETECTED,
        "DEADLOCK_DETECTED",
        "deadlock detected between transactions; retry",
    ),
    info(
        codes::CIRCUIT_BREAKER_OPEN,
        "CIRCUIT_BREAKER_OPEN",
        "circuit breaker is open; retry later",
    ),
    info(
        codes::AUTO_RECOVERY_FAILED,
        "AUTO_RECOVERY_FAILED",
        "automatic recovery gave up after its retries",
    ),
    info(codes::TIMEOUT, "TIMEOUT", "operation timed out"),
    info(
        codes::RECOVERY_IMPOSSIBLE,
        "RECOVERY_IMPOSSIBLE",
        "the database cannot be recovered automatically",
    ),
    info(
        codes::WAL_CORRUPTED,
        "WAL_CORRUPTED",
        "write-ahead log is corrupted",
    ),
    info(
        codes::PARTIAL_RECOVERY_FAILURE,
        "PARTIAL_RECOVERY_FAILURE",
        "recovery failed part-way through",
    ),
    info(
        codes::MANIFEST_CORRUPTED,
        "MANIFEST_CORRUPTED",
        "manifest is corrupted",
    ),
    info(
        codes::CURRENT_FILE_INVALID,
        "CURRENT_FILE_INVALID",
        "CURRENT file is missing, empty or names a missing manifest",
    ),
    info(
        codes::TABLE_FILE_MISSING,
        "TABLE_FILE_MISSING",
        "a table file named by the manifest is missing",
    ),
    info(
        codes::UNSUPPORTED_FORMAT_VERSION,
        "UNSUPPORTED_FORMAT_VERSION",
        "on-disk format version is newer than this build supports",
    ),
    info(
        codes::SEQUENCE_GAP,
        "SEQUENCE_GAP",
        "log replay found a gap in sequence numbers",
    ),
    info(
        codes::WAL_REPLAY_FAILED,
        "WAL_REPLAY_FAILED",
        "replaying a write-ahead log segment failed",
    ),
    info(codes::REPAIR_FAILED, "REPAIR_FAILED", "repair failed"),
    info(
        codes::QUARANTINE_FAILED,
        "QUARANTINE_FAILED",
        "a corrupted file could not be moved to quarantine",
    ),
    info(
        codes::ROLLBACK_FAILED,
        "ROLLBACK_FAILED",
        "rolling back a recovery stage failed",
    ),
    info(
        codes::RECOVERY_TIMEOUT,
        "RECOVERY_TIMEOUT",
        "a recovery stage timed out",
    ),
    info(
        codes::INCONSISTENT_STATE,
        "INCONSISTENT_STATE",
        "files on disk disagree with the manifest",
    ),
    info(
        codes::CONFIGURATION_ERROR,
        "CONFIGURATION_ERROR",
        "invalid configuration",
    ),
    info(
        codes::INSUFFICIENT_RESOURCES,
        "INSUFFICIENT_RESOURCES",
        "not enough memory, disk or file handles",
    ),
    info(
        codes::INITIALIZATION_FAILED,
        "INITIALIZATION_FAILED",
        "database initialization failed",
    ),
];

/// Looks up a code in [`ERROR_TABLE`]; `None` for a code this version does not know.
pub fn describe_code(code: i32) -> Option<&'static ErrorCodeInfo> {
    ERROR_TABLE.iter().find(|info| info.code == code)
}

// Only reached for a code missing from the table, which the unit tests rule out.
fn name_of(code: i32) -> &'static str {
    describe_code(code).map_or("UNKNOWN", |info| info.name)
}

/// Implemented by errors that know whether repeating the failed operation can succeed.
///
/// `AutoRecoveryManager::execute_with_recovery` retries only errors that say yes.
pub trait RetryableError {
    /// Whether repeating the same operation, unchanged, may succeed.
    fn is_retryable(&self) -> bool;
}

/// Security failures: encryption, keys, access control and the audit log.
///
/// Every variant is critical ([`DatabaseError::is_critical`]) and has its own code in 201–249.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SecurityError {
    /// Encrypting a block or record failed before anything was written.
    #[error("encryption failed: {reason}")]
    EncryptionFailed {
        /// What the cipher or key store reported.
        reason: String,
    },
    /// Stored data failed to decrypt or authenticate: it was tampered with, moved between files
    /// or offsets, rolled back, or damaged.
    #[error("decryption failed (data tampered with or damaged): {reason}")]
    DecryptionFailed {
        /// Which block or record failed, and how.
        reason: String,
    },
    /// The supplied key is not the key the database was encrypted with.
    #[error("wrong encryption key: it does not match the key this database was encrypted with")]
    WrongKey,
    /// Re-wrapping data keys under a new key-encryption key failed; the old key remains valid.
    #[error("encryption key rotation failed: {reason}")]
    KeyRotationFailed {
        /// Why the rotation stopped.
        reason: String,
    },
    /// The caller is not permitted to perform the operation.
    #[error("access denied: {operation}")]
    AccessDenied {
        /// The operation that was refused.
        operation: String,
    },
    /// The audit log's hash chain does not verify: an entry was edited, removed or reordered, or
    /// the tail was cut off.
    #[error("audit log tampering detected: {details}")]
    AuditLogTampered {
        /// The first entry whose hash does not match, and what was expected.
        details: String,
    },
    /// Key material has the wrong length or format.
    #[error("invalid encryption key material: {reason}")]
    InvalidKeyMaterial {
        /// What is wrong with it.
        reason: String,
    },
}

impl SecurityError {
    /// The stable code of this error, in 201–249 (see [`codes`]).
    pub fn error_code(&self) -> i32 {
        match self {
            Self::EncryptionFailed { .. } => codes::ENCRYPTION_FAILED,
            Self::DecryptionFailed { .. } => codes::DECRYPTION_FAILED,
            Self::WrongKey => codes::WRONG_KEY,
            Self::KeyRotationFailed { .. } => codes::KEY_ROTATION_FAILED,
            Self::AccessDenied { .. } => codes::ACCESS_DENIED,
            Self::AuditLogTampered { .. } => codes::AUDIT_LOG_TAMPERED,
            Self::InvalidKeyMaterial { .. } => codes::INVALID_KEY_MATERIAL,
        }
    }

    /// The stable SCREAMING_SNAKE name of this error's code, such as `"WRONG_KEY"`.
    pub fn code_name(&self) -> &'static str {
        name_of(self.error_code())
    }

    fn suggested_action(&self) -> String {
        match self {
            Self::EncryptionFailed { .. } => {
                "Check the key store and cipher configuration, then retry the write; nothing was \
                 written"
            }
            Self::DecryptionFailed { .. } => {
                "Treat the data as tampered with: check the key, restore the affected files from \
                 a trusted backup and review the audit log"
            }
            Self::WrongKey => "Open the database with the key it was encrypted with",
            Self::KeyRotationFailed { .. } => {
                "The previous key is still valid; fix the reported cause and run the rotation \
                 again"
            }
            Self::AccessDenied { .. } => "Use credentials that are permitted this operation",
            Self::AuditLogTampered { .. } => {
                "Preserve the audit directory for investigation, compare it with the externally \
                 kept chain head, and alert your security team"
            }
            Self::InvalidKeyMaterial { .. } => {
                "Supply a key of the required length and format (see the encryption \
                 documentation)"
            }
        }
        .to_string()
    }
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
        "transaction conflict on key {}: transaction {conflicting_tx} committed it first",
        KeyDisplay(.key)
    )]
    TransactionConflict {
        /// The first conflicting key found.
        key: Vec<u8>,
        /// Identifier of the transaction that committed the key first.
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
    /// A bug in Lightning DB, or a panic caught at an API boundary.
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
    #[error("circuit breaker for '{service}' is open; retry after {retry_after:?}")]
    CircuitBreakerOpen {
        /// The protected service or operation.
        service: String,
        /// How long until the breaker lets a trial call through.
        retry_after: Duration,
    },
    /// The auto-recovery manager exhausted its retries.
    #[error("automatic recovery failed at '{stage}' after {attempts} attempts: {last_error}")]
    AutoRecoveryFailed {
        /// The operation or stage being retried.
        stage: String,
        /// How many attempts were made.
        attempts: usize,
        /// The error of the last attempt.
        last_error: Box<DatabaseError>,
    },
    /// An operation exceeded its time limit; its effects were not applied. Retryable.
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
    /// Undoing a completed recovery stage failed, so the directory may hold a mix of pre- and
    /// post-recovery files.
    #[error("rollback of recovery stage '{stage}' failed: {reason}")]
    RollbackFailed {
        /// The stage whose rollback failed.
        stage: String,
        /// Why it failed.
        reason: String,
    },
    /// A recovery stage exceeded its time limit (`timeout_per_stage`).
    #[error("recovery stage '{stage}' timed out after {elapsed:?}")]
    RecoveryTimeout {
        /// The stage that timed out.
        stage: String,
        /// How long it ran.
        elapsed: Duration,
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
    /// Not enough of a resource (memory, disk, file handles) to proceed.
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

    /// The stable numeric code of this error (see [`codes`] and [`ERROR_TABLE`]).
    pub fn error_code(&self) -> i32 {
        match self {
            Self::KeyNotFound { .. } => codes::KEY_NOT_FOUND,
            Self::ValueTooLarge { .. } => codes::VALUE_TOO_LARGE,
            Self::KeyTooLarge { .. } => codes::KEY_TOO_LARGE,
            Self::EmptyKey => codes::EMPTY_KEY,
            Self::TransactionConflict { .. } => codes::TRANSACTION_CONFLICT,
            Self::LockTimeout { .. } => codes::LOCK_TIMEOUT,
            Self::DatabaseClosed => codes::DATABASE_CLOSED,
            Self::InvalidArgument { .. } => codes::INVALID_ARGUMENT,
            Self::Io { .. } if self.is_storage_full() => codes::STORAGE_FULL,
            Self::Io { .. } => codes::IO_ERROR,
            Self::DatabaseLocked { .. } => codes::DATABASE_LOCKED,
            Self::Poisoned { .. } => codes::POISONED,
            Self::Internal { .. } => codes::INTERNAL,
            Self::SecurityError(e) => e.error_code(),
            Self::DataCorruption { .. } => codes::DATA_CORRUPTION,
            Self::IntegrityValidationFailed { .. } => codes::INTEGRITY_VALIDATION_FAILED,
            Self::ChecksumMismatch { .. } => codes::CHECKSUM_MISMATCH,
            Self::DeadlockDetected { .. } => codes::DEADLOCK_DETECTED,
            Self::CircuitBreakerOpen { .. } => codes::CIRCUIT_BREAKER_OPEN,
            Self::AutoRecoveryFailed { .. } => codes::AUTO_RECOVERY_FAILED,
            Self::Timeout { .. } => codes::TIMEOUT,
            Self::RecoveryImpossible { .. } => codes::RECOVERY_IMPOSSIBLE,
            Self::WalCorrupted { .. } => codes::WAL_CORRUPTED,
            Self::PartialRecoveryFailure { .. } => codes::PARTIAL_RECOVERY_FAILURE,
            Self::ManifestCorrupted { .. } => codes::MANIFEST_CORRUPTED,
            Self::CurrentFileInvalid { .. } => codes::CURRENT_FILE_INVALID,
            Self::TableFileMissing { .. } => codes::TABLE_FILE_MISSING,
            Self::UnsupportedFormatVersion { .. } => codes::UNSUPPORTED_FORMAT_VERSION,
            Self::SequenceGap { .. } => codes::SEQUENCE_GAP,
            Self::WalReplayFailed { .. } => codes::WAL_REPLAY_FAILED,
            Self::RepairFailed { .. } => codes::REPAIR_FAILED,
            Self::QuarantineFailed { .. } => codes::QUARANTINE_FAILED,
            Self::RollbackFailed { .. } => codes::ROLLBACK_FAILED,
            Self::RecoveryTimeout { .. } => codes::RECOVERY_TIMEOUT,
            Self::InconsistentState { .. } => codes::INCONSISTENT_STATE,
            Self::ConfigurationError { .. } => codes::CONFIGURATION_ERROR,
            Self::InsufficientResources { .. } => codes::INSUFFICIENT_RESOURCES,
            Self::InitializationFailed { .. } => codes::INITIALIZATION_FAILED,
        }
    }

    /// The stable SCREAMING_SNAKE name of this error's code, such as `"TRANSACTION_CONFLICT"`.
    /// Bindings prefix it with `LIGHTNING_`.
    pub fn code_name(&self) -> &'static str {
        name_of(self.error_code())
    }

    /// Whether this is an [`Io`](Self::Io) error caused by a full disk or an exhausted quota.
    pub fn is_storage_full(&self) -> bool {
        matches!(
            self,
            Self::Io { kind, message, .. } if is_storage_full_kind(*kind, message)
        )
    }

    /// Whether this error means the database or its data is in danger: corruption, a poisoned
    /// database, a security violation, a bug, or failed recovery. Such errors should be logged
    /// loudly and alert an operator.
    pub fn is_critical(&self) -> bool {
        match self {
            Self::Poisoned { .. }
            | Self::Internal { .. }
            | Self::SecurityError(_)
            | Self::DataCorruption { .. }
            | Self::IntegrityValidationFailed { .. }
            | Self::ChecksumMismatch { .. }
            | Self::RecoveryImpossible { .. }
            | Self::WalCorrupted { .. }
            | Self::PartialRecoveryFailure { .. }
            | Self::ManifestCorrupted { .. }
            | Self::CurrentFileInvalid { .. }
            | Self::TableFileMissing { .. }
            | Self::SequenceGap { .. }
            | Self::WalReplayFailed { .. }
            | Self::RepairFailed { .. }
            | Self::QuarantineFailed { .. }
            | Self::RollbackFailed { .. }
            | Self::InconsistentState { .. } => true,
            Self::AutoRecoveryFailed { last_error, .. } => last_error.is_critical(),
            Self::KeyNotFound { .. }
            | Self::ValueTooLarge { .. }
            | Self::KeyTooLarge { .. }
            | Self::EmptyKey
            | Self::TransactionConflict { .. }
            | Self::LockTimeout { .. }
            | Self::DatabaseClosed
            | Self::InvalidArgument { .. }
            | Self::Io { .. }
            | Self::DatabaseLocked { .. }
            | Self::DeadlockDetected { .. }
            | Self::CircuitBreakerOpen { .. }
            | Self::Timeout { .. }
            | Self::UnsupportedFormatVersion { .. }
            | Self::RecoveryTimeout { .. }
            | Self::ConfigurationError { .. }
            | Self::InsufficientResources { .. }
            | Self::InitializationFailed { .. } => false,
        }
    }

    /// Whether repeating the same operation, unchanged, may succeed: conflicts, lock timeouts,
    /// deadlocks, an open circuit breaker (after its delay), timeouts, and transient I/O
    /// (interrupted, would block, timed out).
    ///
    /// A [`Poisoned`](Self::Poisoned) database is never retryable: reopen it instead.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::TransactionConflict { .. }
            | Self::LockTimeout { .. }
            | Self::DeadlockDetected { .. }
            | Self::CircuitBreakerOpen { .. }
            | Self::Timeout { .. } => true,
            Self::Io { kind, .. } => matches!(
                kind,
                io::ErrorKind::Interrupted | io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
            ),
            Self::WalReplayFailed { cause, .. } => cause.is_retryable(),
            Self::KeyNotFound { .. }
            | Self::ValueTooLarge { .. }
            | Self::KeyTooLarge { .. }
            | Self::EmptyKey
            | Self::DatabaseClosed
            | Self::InvalidArgument { .. }
            | Self::DatabaseLocked { .. }
            | Self::Poisoned { .. }
            | Self::Internal { .. }
            | Self::SecurityError(_)
            | Self::DataCorruption { .. }
            | Self::IntegrityValidationFailed { .. }
            | Self::ChecksumMismatch { .. }
            | Self::AutoRecoveryFailed { .. }
            | Self::RecoveryImpossible { .. }
            | Self::WalCorrupted { .. }
            | Self::PartialRecoveryFailure { .. }
            | Self::ManifestCorrupted { .. }
            | Self::CurrentFileInvalid { .. }
            | Self::TableFileMissing { .. }
            | Self::UnsupportedFormatVersion { .. }
            | Self::SequenceGap { .. }
            | Self::RepairFailed { .. }
            | Self::QuarantineFailed { .. }
            | Self::RollbackFailed { .. }
            | Self::RecoveryTimeout { .. }
            | Self::InconsistentState { .. }
            | Self::ConfigurationError { .. }
            | Self::InsufficientResources { .. }
            | Self::InitializationFailed { .. } => false,
        }
    }

    /// Whether the system can get past this error by itself, without an operator: every
    /// retryable error; a poisoned database (reopening replays the log to the last durable
    /// state); corruption flagged `recovery_possible`; a corrupted log (recovery cuts it at the
    /// last intact record, losing only records after the damage that no table holds); and a
    /// failed recovery that can be rolled back and whose cause is itself recoverable.
    pub fn is_recoverable(&self) -> bool {
        match self {
            Self::Poisoned { .. } | Self::WalCorrupted { .. } => true,
            Self::DataCorruption {
                recovery_possible, ..
            } => *recovery_possible,
            Self::PartialRecoveryFailure {
                cause,
                rollback_available,
                ..
            } => *rollback_available && cause.is_recoverable(),
            Self::WalReplayFailed { cause, .. } => cause.is_recoverable(),
            Self::TransactionConflict { .. }
            | Self::LockTimeout { .. }
            | Self::Io { .. }
            | Self::DeadlockDetected { .. }
            | Self::CircuitBreakerOpen { .. }
            | Self::Timeout { .. } => self.is_retryable(),
            Self::KeyNotFound { .. }
            | Self::ValueTooLarge { .. }
            | Self::KeyTooLarge { .. }
            | Self::EmptyKey
            | Self::DatabaseClosed
            | Self::InvalidArgument { .. }
            | Self::DatabaseLocked { .. }
            | Self::Internal { .. }
            | Self::SecurityError(_)
            | Self::IntegrityValidationFailed { .. }
            | Self::ChecksumMismatch { .. }
            | Self::AutoRecoveryFailed { .. }
            | Self::RecoveryImpossible { .. }
            | Self::ManifestCorrupted { .. }
            | Self::CurrentFileInvalid { .. }
            | Self::TableFileMissing { .. }
            | Self::UnsupportedFormatVersion { .. }
            | Self::SequenceGap { .. }
            | Self::RepairFailed { .. }
            | Self::QuarantineFailed { .. }
            | Self::RollbackFailed { .. }
            | Self::RecoveryTimeout { .. }
            | Self::InconsistentState { .. }
            | Self::ConfigurationError { .. }
            | Self::InsufficientResources { .. }
            | Self::InitializationFailed { .. } => false,
        }
    }

    /// A remediation for an operator or caller, or `None` where there is nothing to remedy
    /// (a missing key is an answer, not a fault). Variants that carry their own
    /// `suggested_action` return it when it is not empty.
    pub fn suggested_action(&self) -> Option<String> {
        let text = match self {
            Self::KeyNotFound { .. } => return None,
            Self::ValueTooLarge { max_size, .. } => format!(
                "Store values of at most {max_size} bytes: split large values into chunks, or \
                 raise max_value_size"
            ),
            Self::KeyTooLarge { max_size, .. } => format!(
                "Use keys of at most {max_size} bytes (for example a hash of the long key), or \
                 raise max_key_size"
            ),
            Self::EmptyKey => "Use a key of at least one byte".to_string(),
            Self::TransactionConflict { .. } => {
                "Retry the whole transaction: re-read the keys and re-apply the writes".to_string()
            }
            Self::LockTimeout { .. } => {
                "Retry the transaction; if timeouts persist, shorten transactions or access keys \
                 in a consistent order"
                    .to_string()
            }
            Self::DatabaseClosed => "Open the database again before using it".to_string(),
            Self::InvalidArgument { .. } => {
                "Correct the argument as described in the message".to_string()
            }
            Self::Io { .. } if self.is_storage_full() => {
                "Free disk space or raise the quota, then retry; the failed operation was not \
                 acknowledged. If the database reports itself poisoned, reopen it"
                    .to_string()
            }
            Self::Io { .. } if self.is_retryable() => "Retry the operation".to_string(),
            Self::Io { path, .. } => {
                let target = if path.is_empty() {
                    "the database directory".to_string()
                } else {
                    format!("'{path}'")
                };
                format!(
                    "Check that {target} exists, is accessible with the right permissions, and \
                     that the device is healthy"
                )
            }
            Self::DatabaseLocked { .. } => {
                "Close the other handle or stop the other process using this database; a \
                 database directory can be open by only one at a time"
                    .to_string()
            }
            Self::Poisoned { .. } => {
                "Close and reopen the database: recovery restores the last durable state. Check \
                 the disk for errors or a full file system first"
                    .to_string()
            }
            Self::Internal { .. } => {
                "Report this bug with the message and a log; reopening the database restores a \
                 consistent state"
                    .to_string()
            }
            Self::SecurityError(e) => e.suggested_action(),
            Self::DataCorruption {
                recovery_possible: true,
                ..
            } => "Run `lightning repair` (or enable self-healing) to rebuild the damaged data"
                .to_string(),
            Self::DataCorruption { .. } => {
                "Restore the damaged component from a backup, or run `lightning repair` to set \
                 it aside and keep the intact data"
                    .to_string()
            }
            Self::IntegrityValidationFailed { .. } => {
                "Run `lightning check` for a full report, then `lightning repair` or restore \
                 from a backup"
                    .to_string()
            }
            Self::ChecksumMismatch { file, .. } => format!(
                "Check the storage device; run `lightning repair` to quarantine '{file}' or \
                 restore it from a backup"
            ),
            Self::DeadlockDetected {
                suggested_action, ..
            } => or_default(
                suggested_action,
                "Retry the aborted transaction; acquire locks in a consistent key order to avoid \
                 deadlocks",
            ),
            Self::CircuitBreakerOpen { retry_after, .. } => format!(
                "Wait {retry_after:?} before retrying, and investigate the failures that opened \
                 the breaker"
            ),
            Self::AutoRecoveryFailed { last_error, .. } => {
                return last_error.suggested_action().or_else(|| {
                    Some("Investigate the last error; automatic retries are exhausted".to_string())
                })
            }
            Self::Timeout { .. } => {
                "Retry the operation; if it keeps timing out, reduce its size or raise the \
                 timeout"
                    .to_string()
            }
            Self::RecoveryImpossible {
                suggested_action, ..
            } => or_default(
                suggested_action,
                "Restore the database from a backup; keep the damaged directory for analysis",
            ),
            Self::WalCorrupted {
                suggested_action, ..
            } => or_default(
                suggested_action,
                "Run `lightning repair` to truncate the log at the last intact record; records \
                 after the damage are lost unless a backup holds them",
            ),
            Self::PartialRecoveryFailure {
                rollback_available: true,
                ..
            } => "Roll back the completed recovery stages, fix the cause, and open the database \
                  again"
                .to_string(),
            Self::PartialRecoveryFailure { .. } => {
                "Do not write to the directory; copy it aside and run `lightning repair`, or \
                 restore from a backup"
                    .to_string()
            }
            Self::ManifestCorrupted {
                suggested_action, ..
            } => or_default(
                suggested_action,
                "Run `lightning repair` to rebuild the manifest from the table files",
            ),
            Self::CurrentFileInvalid { .. } => {
                "Run `lightning repair` to locate the newest valid manifest and rewrite CURRENT"
                    .to_string()
            }
            Self::TableFileMissing {
                suggested_action, ..
            } => or_default(
                suggested_action,
                "Restore the missing file from a backup, or run `lightning repair` to drop it \
                 from the manifest (its data is lost)",
            ),
            Self::UnsupportedFormatVersion { .. } => {
                "Open the database with a newer Lightning DB release".to_string()
            }
            Self::SequenceGap { .. } => {
                "Run `lightning repair` to recover up to the gap, or restore from a backup"
                    .to_string()
            }
            Self::WalReplayFailed { cause, .. } => {
                return cause.suggested_action().or_else(|| {
                    Some("Run `lightning repair` to salvage the intact log records".to_string())
                })
            }
            Self::RepairFailed { .. } => {
                "Fix the reported cause and run the repair again, or restore from a backup"
                    .to_string()
            }
            Self::QuarantineFailed { file, .. } => format!(
                "Check permissions and free space in the database directory, then move '{file}' \
                 into quarantine/ by hand or run the repair again"
            ),
            Self::RollbackFailed { .. } => {
                "Do not write to the directory; restore it from a backup taken before recovery"
                    .to_string()
            }
            Self::RecoveryTimeout { .. } => {
                "Open the database again with a longer recovery timeout per stage".to_string()
            }
            Self::InconsistentState {
                suggested_action, ..
            } => or_default(
                suggested_action,
                "Run `lightning check` for details, then `lightning repair` or restore from a \
                 backup",
            ),
            Self::ConfigurationError { field, .. } => {
                format!("Correct '{field}' as described in the message")
            }
            Self::InsufficientResources { resource, .. } => {
                format!("Free {resource}, or lower the configuration values that require it")
            }
            Self::InitializationFailed { .. } => {
                "Fix the reported cause (permissions, paths, resources) and open the database \
                 again"
                    .to_string()
            }
        };
        Some(text)
    }
}

impl RetryableError for DatabaseError {
    fn is_retryable(&self) -> bool {
        DatabaseError::is_retryable(self)
    }
}

impl From<io::Error> for DatabaseError {
    fn from(err: io::Error) -> Self {
        DatabaseError::io("io", "", &err)
    }
}

fn or_default(given: &str, default: &str) -> String {
    if given.trim().is_empty() {
        default.to_string()
    } else {
        given.to_string()
    }
}

// Fault injection and some platforms report ENOSPC with a generic kind; recognizing the
// message keeps the STORAGE_FULL code reliable.
fn is_storage_full_kind(kind: io::ErrorKind, message: &str) -> bool {
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    fn boxed(e: DatabaseError) -> Box<DatabaseError> {
        Box::new(e)
    }

    fn io_err(kind: io::ErrorKind) -> DatabaseError {
        DatabaseError::io("write wal", "/db/000001.log", &io::Error::new(kind, "boom"))
    }

    fn all_security() -> Vec<SecurityError> {
        vec![
            SecurityError::EncryptionFailed { reason: "r".into() },
            SecurityError::DecryptionFailed { reason: "r".into() },
            SecurityError::WrongKey,
            SecurityError::KeyRotationFailed { reason: "r".into() },
            SecurityError::AccessDenied {
                operation: "put".into(),
            },
            SecurityError::AuditLogTampered {
                details: "entry 7".into(),
            },
            SecurityError::InvalidKeyMaterial {
                reason: "short".into(),
            },
        ]
    }

    /// One instance of every variant (and of the storage-full I/O case).
    fn all_variants() -> Vec<DatabaseError> {
        let mut v = vec![
            DatabaseError::KeyNotFound {
                key: b"k".to_vec(),
                context: String::new(),
            },
            DatabaseError::ValueTooLarge {
                size: 10,
                max_size: 5,
            },
            DatabaseError::KeyTooLarge {
                size: 10,
                max_size: 5,
            },
            DatabaseError::EmptyKey,
            DatabaseError::TransactionConflict {
                key: b"k".to_vec(),
                conflicting_tx: 9,
            },
            DatabaseError::LockTimeout {
                key: b"k".to_vec(),
                waited: Duration::from_millis(50),
            },
            DatabaseError::DatabaseClosed,
            DatabaseError::InvalidArgument {
                message: "m".into(),
            },
            io_err(io::ErrorKind::PermissionDenied),
            io_err(io::ErrorKind::StorageFull),
            DatabaseError::DatabaseLocked { path: "/db".into() },
            DatabaseError::Poisoned {
                reason: "fsync failed".into(),
            },
            DatabaseError::Internal {
                message: "panic".into(),
            },
            DatabaseError::DataCorruption {
                component: "table 7".into(),
                details: "bad block".into(),
                recovery_possible: false,
            },
            DatabaseError::IntegrityValidationFailed {
                check_name: "order".into(),
                expected: "a<b".into(),
                actual: "b<a".into(),
            },
            DatabaseError::ChecksumMismatch {
                file: "000007.sst".into(),
                offset: 4096,
                expected: "0x1".into(),
                actual: "0x2".into(),
            },
            DatabaseError::DeadlockDetected {
                resources: vec!["k1".into(), "k2".into()],
                suggested_action: String::new(),
            },
            DatabaseError::CircuitBreakerOpen {
                service: "flush".into(),
                retry_after: Duration::from_secs(1),
            },
            DatabaseError::AutoRecoveryFailed {
                stage: "get".into(),
                attempts: 3,
                last_error: boxed(DatabaseError::Timeout {
                    operation: "get".into(),
                    elapsed: Duration::from_secs(1),
                }),
            },
            DatabaseError::Timeout {
                operation: "get".into(),
                elapsed: Duration::from_secs(1),
            },
            DatabaseError::RecoveryImpossible {
                reason: "r".into(),
                suggested_action: String::new(),
            },
            DatabaseError::WalCorrupted {
                details: "d".into(),
                suggested_action: String::new(),
            },
            DatabaseError::PartialRecoveryFailure {
                completed_stages: vec!["manifest".into()],
                failed_stage: "wal".into(),
                cause: boxed(DatabaseError::DatabaseClosed),
                rollback_available: false,
            },
            DatabaseError::ManifestCorrupted {
                details: "d".into(),
                suggested_action: String::new(),
            },
            DatabaseError::CurrentFileInvalid {
                details: "empty".into(),
            },
            DatabaseError::TableFileMissing {
                file: "000009.sst".into(),
                suggested_action: String::new(),
            },
            DatabaseError::UnsupportedFormatVersion {
                component: "table".into(),
                found: 9,
                supported_max: 1,
            },
            DatabaseError::SequenceGap {
                expected: 10,
                found: 12,
            },
            DatabaseError::WalReplayFailed {
                segment: "000003.log".into(),
                offset: 128,
                cause: boxed(DatabaseError::DataCorruption {
                    component: "wal".into(),
                    details: "d".into(),
                    recovery_possible: false,
                }),
            },
            DatabaseError::RepairFailed {
                component: "manifest".into(),
                reason: "r".into(),
            },
            DatabaseError::QuarantineFailed {
                file: "f".into(),
                reason: "r".into(),
            },
            DatabaseError::RollbackFailed {
                stage: "s".into(),
                reason: "r".into(),
            },
            DatabaseError::RecoveryTimeout {
                stage: "s".into(),
                elapsed: Duration::from_secs(60),
            },
            DatabaseError::InconsistentState {
                details: "d".into(),
                suggested_action: String::new(),
            },
            DatabaseError::ConfigurationError {
                field: "cache_size".into(),
                reason: "r".into(),
            },
            DatabaseError::InsufficientResources {
                resource: "memory".into(),
                required: 2,
                available: 1,
            },
            DatabaseError::InitializationFailed {
                stage: "lock".into(),
                reason: "r".into(),
            },
        ];
        v.extend(all_security().into_iter().map(DatabaseError::from));
        v
    }

    // Fails to compile when a variant is added, reminding to extend `all_variants`.
    fn variant_ordinal(e: &DatabaseError) -> usize {
        use DatabaseError as E;
        match e {
            E::KeyNotFound { .. } => 0,
            E::ValueTooLarge { .. } => 1,
            E::KeyTooLarge { .. } => 2,
            E::EmptyKey => 3,
            E::TransactionConflict { .. } => 4,
            E::LockTimeout { .. } => 5,
            E::DatabaseClosed => 6,
            E::InvalidArgument { .. } => 7,
            E::Io { .. } => 8,
            E::DatabaseLocked { .. } => 9,
            E::Poisoned { .. } => 10,
            E::Internal { .. } => 11,
            E::SecurityError(_) => 12,
            E::DataCorruption { .. } => 13,
            E::IntegrityValidationFailed { .. } => 14,
            E::ChecksumMismatch { .. } => 15,
            E::DeadlockDetected { .. } => 16,
            E::CircuitBreakerOpen { .. } => 17,
            E::AutoRecoveryFailed { .. } => 18,
            E::Timeout { .. } => 19,
            E::RecoveryImpossible { .. } => 20,
            E::WalCorrupted { .. } => 21,
            E::PartialRecoveryFailure { .. } => 22,
            E::ManifestCorrupted { .. } => 23,
            E::CurrentFileInvalid { .. } => 24,
            E::TableFileMissing { .. } => 25,
            E::UnsupportedFormatVersion { .. } => 26,
            E::SequenceGap { .. } => 27,
            E::WalReplayFailed { .. } => 28,
            E::RepairFailed { .. } => 29,
            E::QuarantineFailed { .. } => 30,
            E::RollbackFailed { .. } => 31,
            E::RecoveryTimeout { .. } => 32,
            E::InconsistentState { .. } => 33,
            E::ConfigurationError { .. } => 34,
            E::InsufficientResources { .. } => 35,
            E::InitializationFailed { .. } => 36,
        }
    }
    const VARIANT_COUNT: usize = 37;

    #[test]
    fn sample_covers_every_variant() {
        let seen: HashSet<usize> = all_variants().iter().map(variant_ordinal).collect();
        assert_eq!(seen.len(), VARIANT_COUNT);
    }

    #[test]
    fn recovery_group_has_fourteen_variants() {
        let recovery: HashSet<i32> = all_variants()
            .iter()
            .map(DatabaseError::error_code)
            .filter(|c| (400..500).contains(c))
            .collect();
        assert_eq!(recovery.len(), 14);
    }

    #[test]
    fn table_codes_and_names_are_unique_and_sorted() {
        let codes: HashSet<i32> = ERROR_TABLE.iter().map(|i| i.code).collect();
        let names: HashSet<&str> = ERROR_TABLE.iter().map(|i| i.name).collect();
        assert_eq!(codes.len(), ERROR_TABLE.len());
        assert_eq!(names.len(), ERROR_TABLE.len());
        assert!(ERROR_TABLE.windows(2).all(|w| w[0].code < w[1].code));
        for info in ERROR_TABLE {
            assert!(!info.description.is_empty());
            assert!(info
                .name
                .chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_'));
        }
    }

    #[test]
    fn every_variant_code_is_in_the_table() {
        let mut variant_codes = HashSet::new();
        for e in all_variants() {
            let code = e.error_code();
            let info = describe_code(code);
            assert!(
                info.is_some(),
                "{e:?} has code {code} missing from the table"
            );
            assert_eq!(info.map(|i| i.name), Some(e.code_name()));
            assert!(code >= 100, "{e:?} uses a reserved status code");
            variant_codes.insert(code);
        }
        // Every table row below 100 is a status; every other row belongs to some error.
        for info in ERROR_TABLE {
            assert_eq!(
                info.code >= 100,
                variant_codes.contains(&info.code),
                "{info:?}"
            );
        }
    }

    #[test]
    fn codes_are_stable() {
        assert_eq!(codes::OK, 0);
        assert_eq!(codes::DONE, 1);
        assert_eq!(codes::BUFFER_TOO_SMALL, 2);
        let expect = [
            (DatabaseError::EmptyKey, 104, "EMPTY_KEY"),
            (DatabaseError::DatabaseClosed, 107, "DATABASE_CLOSED"),
            (
                DatabaseError::TransactionConflict {
                    key: vec![1],
                    conflicting_tx: 1,
                },
                105,
                "TRANSACTION_CONFLICT",
            ),
            (io_err(io::ErrorKind::NotFound), 109, "IO_ERROR"),
            (io_err(io::ErrorKind::StorageFull), 113, "STORAGE_FULL"),
            (SecurityError::WrongKey.into(), 203, "WRONG_KEY"),
            (
                DatabaseError::DataCorruption {
                    component: String::new(),
                    details: String::new(),
                    recovery_possible: true,
                },
                250,
                "DATA_CORRUPTION",
            ),
            (
                DatabaseError::Timeout {
                    operation: String::new(),
                    elapsed: Duration::ZERO,
                },
                304,
                "TIMEOUT",
            ),
            (
                DatabaseError::WalCorrupted {
                    details: String::new(),
                    suggested_action: String::new(),
                },
                402,
                "WAL_CORRUPTED",
            ),
            (
                DatabaseError::InconsistentState {
                    details: String::new(),
                    suggested_action: String::new(),
                },
                414,
                "INCONSISTENT_STATE",
            ),
            (
                DatabaseError::ConfigurationError {
                    field: String::new(),
                    reason: String::new(),
                },
                501,
                "CONFIGURATION_ERROR",
            ),
        ];
        for (e, code, name) in expect {
            assert_eq!(e.error_code(), code, "{e:?}");
            assert_eq!(e.code_name(), name, "{e:?}");
        }
        assert_eq!(codes::KEY_NOT_FOUND, 101);
        assert_eq!(codes::POISONED, 111);
        assert_eq!(codes::CHECKSUM_MISMATCH, 252);
        assert_eq!(codes::DEADLOCK_DETECTED, 301);
        assert_eq!(codes::RECOVERY_IMPOSSIBLE, 401);
        assert_eq!(codes::INITIALIZATION_FAILED, 503);
    }

    #[test]
    fn security_codes_are_distinct_and_forwarded() {
        let mut seen = HashSet::new();
        for s in all_security() {
            let code = s.error_code();
            assert!((201..250).contains(&code));
            assert!(seen.insert(code));
            let e = DatabaseError::from(s.clone());
            assert_eq!(e.error_code(), code);
            assert_eq!(e.code_name(), s.code_name());
            assert_eq!(e.to_string(), s.to_string());
        }
    }

    #[test]
    fn codes_sit_in_their_group() {
        for e in all_variants() {
            let group = e.error_code() / 100;
            let expected = match variant_ordinal(&e) {
                0..=11 => 1,
                12..=15 => 2,
                16..=19 => 3,
                20..=33 => 4,
                _ => 5,
            };
            assert_eq!(group, expected, "{e:?}");
        }
    }

    #[test]
    fn describe_code_round_trip() {
        for info in ERROR_TABLE {
            assert_eq!(describe_code(info.code), Some(info));
        }
        for e in all_variants() {
            let info = describe_code(e.error_code());
            assert_eq!(info.map(|i| i.code), Some(e.error_code()));
        }
        assert_eq!(describe_code(-1), None);
        assert_eq!(describe_code(999), None);
    }

    #[test]
    fn display_messages_are_meaningful() {
        for e in all_variants() {
            let text = e.to_string();
            assert!(text.len() > 10, "{e:?} -> {text:?}");
        }
        let e = DatabaseError::ValueTooLarge {
            size: 10,
            max_size: 5,
        };
        assert_eq!(
            e.to_string(),
            "value too large: 10 bytes exceeds the maximum of 5 bytes"
        );
        let e = DatabaseError::KeyNotFound {
            key: b"a\x00b".to_vec(),
            context: "snapshot 4".into(),
        };
        assert_eq!(e.to_string(), "key not found: \"a\\x00b\" (snapshot 4)");
        let long = DatabaseError::KeyNotFound {
            key: vec![b'x'; 1000],
            context: String::new(),
        };
        assert!(long.to_string().ends_with("... (1000 bytes)"));
        assert!(long.to_string().len() < 120);
    }

    #[test]
    fn io_helper_and_conversion() {
        let e = DatabaseError::io(
            "open",
            "/db/LOCK",
            &io::Error::from(io::ErrorKind::PermissionDenied),
        );
        match &e {
            DatabaseError::Io {
                operation,
                path,
                kind,
                ..
            } => {
                assert_eq!(operation, "open");
                assert_eq!(path, "/db/LOCK");
                assert_eq!(*kind, io::ErrorKind::PermissionDenied);
            }
            other => panic!("unexpected {other:?}"),
        }
        assert!(e
            .to_string()
            .starts_with("I/O error during open on '/db/LOCK': "));

        let e = DatabaseError::from(io::Error::from(io::ErrorKind::Interrupted));
        assert!(matches!(
            &e,
            DatabaseError::Io { operation, path, kind: io::ErrorKind::Interrupted, .. }
                if operation == "io" && path.is_empty()
        ));
        assert!(e.is_retryable());
        assert!(e.to_string().starts_with("I/O error: "), "{e}");
    }

    #[test]
    fn enospc_is_storage_full() {
        let mut cases = vec![
            io_err(io::ErrorKind::StorageFull),
            io_err(io::ErrorKind::QuotaExceeded),
            DatabaseError::from(io::Error::other("No space left on device")),
        ];
        // ENOSPC is 28 on Linux and the BSDs, not on Windows.
        if cfg!(unix) {
            cases.push(DatabaseError::from(io::Error::from_raw_os_error(28)));
        }
        for e in cases {
            assert!(e.is_storage_full(), "{e:?}");
            assert_eq!(e.error_code(), codes::STORAGE_FULL);
            assert!(!e.is_retryable());
            assert!(!e.is_recoverable());
            assert!(!e.is_critical());
            assert!(e
                .suggested_action()
                .is_some_and(|a| a.contains("Free disk space")));
        }
        let normalized = DatabaseError::from(io::Error::other("No space left on device"));
        assert!(matches!(
            normalized,
            DatabaseError::Io {
                kind: io::ErrorKind::StorageFull,
                ..
            }
        ));
    }

    #[test]
    fn classification_core() {
        let conflict = DatabaseError::TransactionConflict {
            key: vec![1],
            conflicting_tx: 2,
        };
        assert!(conflict.is_retryable() && conflict.is_recoverable() && !conflict.is_critical());
        let lock = DatabaseError::LockTimeout {
            key: vec![1],
            waited: Duration::from_millis(1),
        };
        assert!(lock.is_retryable() && !lock.is_critical());
        for kind in [
            io::ErrorKind::Interrupted,
            io::ErrorKind::WouldBlock,
            io::ErrorKind::TimedOut,
        ] {
            assert!(io_err(kind).is_retryable());
            assert!(io_err(kind).is_recoverable());
        }
        let denied = io_err(io::ErrorKind::PermissionDenied);
        assert!(!denied.is_retryable() && !denied.is_recoverable() && !denied.is_critical());
        for e in [
            DatabaseError::EmptyKey,
            DatabaseError::DatabaseClosed,
            DatabaseError::KeyTooLarge {
                size: 2,
                max_size: 1,
            },
            DatabaseError::DatabaseLocked { path: "/d".into() },
        ] {
            assert!(
                !e.is_retryable() && !e.is_critical() && !e.is_recoverable(),
                "{e:?}"
            );
        }
        let poisoned = DatabaseError::Poisoned {
            reason: "fsync".into(),
        };
        assert!(poisoned.is_critical() && !poisoned.is_retryable() && poisoned.is_recoverable());
        assert!(DatabaseError::Internal {
            message: "x".into()
        }
        .is_critical());
    }

    #[test]
    fn classification_security_and_integrity() {
        for s in all_security() {
            let e = DatabaseError::from(s);
            assert!(
                e.is_critical() && !e.is_retryable() && !e.is_recoverable(),
                "{e:?}"
            );
            assert!(e.suggested_action().is_some());
        }
        let fixable = DatabaseError::DataCorruption {
            component: "c".into(),
            details: "d".into(),
            recovery_possible: true,
        };
        assert!(fixable.is_critical() && fixable.is_recoverable() && !fixable.is_retryable());
        let lost = DatabaseError::DataCorruption {
            component: "c".into(),
            details: "d".into(),
            recovery_possible: false,
        };
        assert!(lost.is_critical() && !lost.is_recoverable());
    }

    #[test]
    fn classification_reliability() {
        let deadlock = DatabaseError::DeadlockDetected {
            resources: vec![],
            suggested_action: "retry tx 4".into(),
        };
        assert!(deadlock.is_retryable() && !deadlock.is_critical());
        assert_eq!(deadlock.suggested_action().as_deref(), Some("retry tx 4"));
        let open = DatabaseError::CircuitBreakerOpen {
            service: "s".into(),
            retry_after: Duration::from_secs(2),
        };
        assert!(open.is_retryable() && open.is_recoverable());
        let exhausted = |last: DatabaseError| DatabaseError::AutoRecoveryFailed {
            stage: "s".into(),
            attempts: 3,
            last_error: Box::new(last),
        };
        let benign = exhausted(DatabaseError::Timeout {
            operation: "o".into(),
            elapsed: Duration::ZERO,
        });
        assert!(!benign.is_retryable() && !benign.is_critical() && !benign.is_recoverable());
        let bad = exhausted(DatabaseError::Poisoned { reason: "r".into() });
        assert!(bad.is_critical());
        assert!(RetryableError::is_retryable(&open));
        assert!(!RetryableError::is_retryable(&benign));
    }

    #[test]
    fn classification_recovery() {
        let wal = DatabaseError::WalCorrupted {
            details: "d".into(),
            suggested_action: String::new(),
        };
        assert!(wal.is_critical() && wal.is_recoverable() && !wal.is_retryable());
        let impossible = DatabaseError::RecoveryImpossible {
            reason: "r".into(),
            suggested_action: "restore backup 3".into(),
        };
        assert!(impossible.is_critical() && !impossible.is_recoverable());
        assert_eq!(
            impossible.suggested_action().as_deref(),
            Some("restore backup 3")
        );
        let version = DatabaseError::UnsupportedFormatVersion {
            component: "table".into(),
            found: 3,
            supported_max: 2,
        };
        assert!(!version.is_critical() && !version.is_recoverable());
        let partial = |rollback, cause| DatabaseError::PartialRecoveryFailure {
            completed_stages: vec![],
            failed_stage: "f".into(),
            cause: Box::new(cause),
            rollback_available: rollback,
        };
        let transient = || DatabaseError::Timeout {
            operation: "o".into(),
            elapsed: Duration::ZERO,
        };
        assert!(partial(true, transient()).is_recoverable());
        assert!(!partial(false, transient()).is_recoverable());
        assert!(partial(true, transient()).is_critical());
        let replay = DatabaseError::WalReplayFailed {
            segment: "s".into(),
            offset: 0,
            cause: Box::new(io_err(io::ErrorKind::Interrupted)),
        };
        assert!(replay.is_retryable() && replay.is_recoverable());
    }

    #[test]
    fn classification_configuration() {
        let e = DatabaseError::ConfigurationError {
            field: "block_size".into(),
            reason: "r".into(),
        };
        assert!(!e.is_critical() && !e.is_retryable() && !e.is_recoverable());
        assert!(e
            .suggested_action()
            .is_some_and(|a| a.contains("block_size")));
    }

    #[test]
    fn suggested_action_for_nearly_all() {
        for e in all_variants() {
            let action = e.suggested_action();
            if matches!(e, DatabaseError::KeyNotFound { .. }) {
                assert_eq!(action, None);
            } else {
                assert!(action.is_some_and(|a| !a.is_empty()), "{e:?}");
            }
        }
    }

    #[test]
    fn errors_are_send_sync_static() {
        fn check<T: std::error::Error + Send + Sync + 'static>() {}
        check::<DatabaseError>();
        check::<SecurityError>();
    }
}
