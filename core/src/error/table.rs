//! The code table: one row per code Lightning DB has ever defined, and lookups in it.

use super::codes;

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
    info(
        codes::NEEDS_IO,
        "NEEDS_IO",
        "the answer needs a read from disk; nothing was read",
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
        "audit log does not verify: entries were edited, removed, inserted or reordered, or its tail, a file or its state was tampered with",
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
        "rolling back a recovery or migration stage failed",
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
        codes::MIGRATION_FAILED,
        "MIGRATION_FAILED",
        "a format migration step failed",
    ),
    info(
        codes::MIGRATION_REQUIRED,
        "MIGRATION_REQUIRED",
        "the database format is older than this build reads; migrate it first",
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
pub(super) fn name_of(code: i32) -> &'static str {
    describe_code(code).map_or("UNKNOWN", |info| info.name)
}

/// The codes this version defines but never produces, each with what it is reserved for.
/// They keep their numbers (and their variants) so that programs can handle them now; the
/// C header and the bindings mark them the same way. A code leaves this list in the change
/// that makes it real.
pub const RESERVED_CODES: &[(i32, &str)] = &[
    (
        codes::INTEGRITY_VALIDATION_FAILED,
        "reserved for the health monitor's integrity check; validation reports problems in \
         its IntegrityReport instead",
    ),
    (
        codes::CHECKSUM_MISMATCH,
        "reserved; a failed checksum is reported as DATA_CORRUPTION, WAL_CORRUPTED or \
         MANIFEST_CORRUPTED naming the file and offset",
    ),
    (
        codes::RECOVERY_IMPOSSIBLE,
        "reserved; each failure an open meets names its damage with its own code, and \
         `lightning repair` can act on every one",
    ),
    (
        codes::WAL_REPLAY_FAILED,
        "reserved; a damaged record is WAL_CORRUPTED, and an I/O failure while replaying is \
         retried, then answered AUTO_RECOVERY_FAILED",
    ),
    (
        codes::REPAIR_FAILED,
        "reserved; repair reports what it could not do in its RepairReport",
    ),
    (codes::ACCESS_DENIED, "reserved for access control"),
];

/// What `code` is reserved for, when this version defines it but never produces it.
pub fn reserved_for(code: i32) -> Option<&'static str> {
    RESERVED_CODES
        .iter()
        .find(|(c, _)| *c == code)
        .map(|(_, why)| *why)
}
