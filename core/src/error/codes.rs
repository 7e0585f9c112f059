//! Stable numeric codes, one table for the Rust API, the C ABI and the bindings.
//!
//! Codes below 100 are not errors of [`DatabaseError`]: they are statuses the C API returns
//! alongside them. Every code here also has an entry in [`ERROR_TABLE`].

/// Success (C API status, not an error).
pub const OK: i32 = 0;
/// An iterator or cursor has no more entries (C API status, not an error).
pub const DONE: i32 = 1;
/// The caller's output buffer is too small; the required length was reported
/// (C API status, not an error).
pub const BUFFER_TOO_SMALL: i32 = 2;
/// A lookup that may not wait for the disk (`Database::get_if_cached`) needs a block that
/// is not in memory; nothing was read (C API status, not an error).
pub const NEEDS_IO: i32 = 3;

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
/// [`DatabaseError::MigrationFailed`](super::DatabaseError::MigrationFailed).
pub const MIGRATION_FAILED: i32 = 415;
/// [`DatabaseError::MigrationRequired`](super::DatabaseError::MigrationRequired).
pub const MIGRATION_REQUIRED: i32 = 416;

/// [`DatabaseError::ConfigurationError`](super::DatabaseError::ConfigurationError).
pub const CONFIGURATION_ERROR: i32 = 501;
/// [`DatabaseError::InsufficientResources`](super::DatabaseError::InsufficientResources).
pub const INSUFFICIENT_RESOURCES: i32 = 502;
/// [`DatabaseError::InitializationFailed`](super::DatabaseError::InitializationFailed).
pub const INITIALIZATION_FAILED: i32 = 503;
