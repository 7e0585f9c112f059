//! How each error is classified: its code and whether it is critical, retryable and
//! recoverable, all from one match with one row per variant, so adding a variant is one
//! row here (the compiler insists) plus its message and its advice.

use super::table::name_of;
use super::{
    codes, is_storage_full_kind, is_transient_io_kind, DatabaseError, ReliabilityError,
    SecurityError,
};

/// One variant's classification.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Class {
    code: i32,
    critical: bool,
    retryable: bool,
    recoverable: bool,
}

const fn row(code: i32, critical: bool, retryable: bool, recoverable: bool) -> Class {
    Class {
        code,
        critical,
        retryable,
        recoverable,
    }
}

// Columns: code, critical, retryable, recoverable. The rules the rows follow:
// - critical: the database or its data is in danger (corruption, a poisoned database, a
//   security violation, a bug, failed recovery);
// - retryable: the same operation, unchanged, may succeed (conflicts, lock timeouts,
//   deadlocks, an open breaker, timeouts, transient I/O);
// - recoverable: the system gets past it by itself (everything retryable; a poisoned
//   database and a corrupted log, which reopening handles; corruption that repair
//   restores without loss).
const T: bool = true;
const F: bool = false;

impl DatabaseError {
    fn class(&self) -> Class {
        use codes::*;
        match self {
            Self::KeyNotFound { .. } => row(KEY_NOT_FOUND, F, F, F),
            Self::ValueTooLarge { .. } => row(VALUE_TOO_LARGE, F, F, F),
            Self::KeyTooLarge { .. } => row(KEY_TOO_LARGE, F, F, F),
            Self::EmptyKey => row(EMPTY_KEY, F, F, F),
            Self::TransactionConflict { .. } => row(TRANSACTION_CONFLICT, F, T, T),
            Self::LockTimeout { .. } => row(LOCK_TIMEOUT, F, T, T),
            Self::DatabaseClosed => row(DATABASE_CLOSED, F, F, F),
            Self::InvalidArgument { .. } => row(INVALID_ARGUMENT, F, F, F),
            Self::Io { kind, message, .. } => {
                let transient = is_transient_io_kind(*kind);
                let code = if is_storage_full_kind(*kind, message) {
                    STORAGE_FULL
                } else {
                    IO_ERROR
                };
                row(code, F, transient, transient)
            }
            Self::DatabaseLocked { .. } => row(DATABASE_LOCKED, F, F, F),
            Self::Poisoned { .. } => row(POISONED, T, F, T),
            Self::Internal { .. } => row(INTERNAL, T, F, F),
            Self::SecurityError(e) => row(e.error_code(), T, F, F),
            Self::DataCorruption {
                recovery_possible, ..
            } => row(DATA_CORRUPTION, T, F, *recovery_possible),
            Self::IntegrityValidationFailed { .. } => row(INTEGRITY_VALIDATION_FAILED, T, F, F),
            Self::ChecksumMismatch { .. } => row(CHECKSUM_MISMATCH, T, F, F),
            Self::DeadlockDetected { .. } => row(DEADLOCK_DETECTED, F, T, T),
            Self::CircuitBreakerOpen { .. } => row(CIRCUIT_BREAKER_OPEN, F, T, T),
            Self::AutoRecoveryFailed { last_error, .. } => {
                row(AUTO_RECOVERY_FAILED, last_error.is_critical(), F, F)
            }
            Self::Timeout { .. } => row(TIMEOUT, F, T, T),
            Self::RecoveryImpossible { .. } => row(RECOVERY_IMPOSSIBLE, T, F, F),
            Self::WalCorrupted { .. } => row(WAL_CORRUPTED, T, F, T),
            Self::PartialRecoveryFailure {
                cause,
                rollback_available,
                ..
            } => row(
                PARTIAL_RECOVERY_FAILURE,
                T,
                F,
                *rollback_available && cause.is_recoverable(),
            ),
            Self::ManifestCorrupted { .. } => row(MANIFEST_CORRUPTED, T, F, F),
            Self::CurrentFileInvalid { .. } => row(CURRENT_FILE_INVALID, T, F, F),
            Self::TableFileMissing { .. } => row(TABLE_FILE_MISSING, T, F, F),
            Self::UnsupportedFormatVersion { .. } => row(UNSUPPORTED_FORMAT_VERSION, F, F, F),
            Self::SequenceGap { .. } => row(SEQUENCE_GAP, T, F, F),
            Self::WalReplayFailed { cause, .. } => row(
                WAL_REPLAY_FAILED,
                T,
                cause.is_retryable(),
                cause.is_recoverable(),
            ),
            Self::RepairFailed { .. } => row(REPAIR_FAILED, T, F, F),
            Self::QuarantineFailed { .. } => row(QUARANTINE_FAILED, T, F, F),
            Self::RollbackFailed { .. } => row(ROLLBACK_FAILED, T, F, F),
            Self::RecoveryTimeout { .. } => row(RECOVERY_TIMEOUT, F, F, F),
            Self::InconsistentState { .. } => row(INCONSISTENT_STATE, T, F, F),
            Self::MigrationFailed { rolled_back, .. } => {
                row(MIGRATION_FAILED, !rolled_back, F, *rolled_back)
            }
            Self::MigrationRequired { .. } => row(MIGRATION_REQUIRED, F, F, F),
            Self::ConfigurationError { .. } => row(CONFIGURATION_ERROR, F, F, F),
            Self::InsufficientResources { .. } => row(INSUFFICIENT_RESOURCES, F, F, F),
            Self::InitializationFailed { .. } => row(INITIALIZATION_FAILED, F, F, F),
        }
    }

    /// The stable numeric code of this error (see [`codes`] and
    /// [`ERROR_TABLE`](super::ERROR_TABLE)).
    pub fn error_code(&self) -> i32 {
        self.class().code
    }

    /// The stable SCREAMING_SNAKE name of this error's code, such as `"TRANSACTION_CONFLICT"`.
    /// Bindings prefix it with `LIGHTNING_`.
    pub fn code_name(&self) -> &'static str {
        name_of(self.error_code())
    }

    /// The error under any wrapping: the last attempt's error of an
    /// [`AutoRecoveryFailed`](Self::AutoRecoveryFailed), the cause of a
    /// [`PartialRecoveryFailure`](Self::PartialRecoveryFailure) or
    /// [`WalReplayFailed`](Self::WalReplayFailed) (followed down), and the error itself
    /// for every other variant.
    pub fn root_cause(&self) -> &DatabaseError {
        match self {
            Self::AutoRecoveryFailed { last_error, .. } => last_error.root_cause(),
            Self::PartialRecoveryFailure { cause, .. } | Self::WalReplayFailed { cause, .. } => {
                cause.root_cause()
            }
            other => other,
        }
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
        self.class().critical
    }

    /// Whether repeating the same operation, unchanged, may succeed: conflicts, lock timeouts,
    /// deadlocks, an open circuit breaker (after its delay), timeouts, and transient I/O
    /// (interrupted, would block, timed out).
    ///
    /// A [`Poisoned`](Self::Poisoned) database is never retryable: reopen it instead.
    pub fn is_retryable(&self) -> bool {
        self.class().retryable
    }

    /// Whether the system can get past this error by itself, without an operator: every
    /// retryable error; a poisoned database (reopening replays the log to the last durable
    /// state); corruption flagged `recovery_possible`; a corrupted log (recovery cuts it at the
    /// last intact record, losing only records after the damage that no table holds); and a
    /// failed recovery that can be rolled back and whose cause is itself recoverable.
    pub fn is_recoverable(&self) -> bool {
        self.class().recoverable
    }
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
}

impl ReliabilityError {
    /// The stable code of this error, in 3xx: the code of the [`DatabaseError`] it converts
    /// into (see [`codes`]).
    pub fn error_code(&self) -> i32 {
        match self {
            Self::CircuitBreakerOpen { .. } => codes::CIRCUIT_BREAKER_OPEN,
            Self::AutoRecoveryFailed { .. } => codes::AUTO_RECOVERY_FAILED,
            Self::Timeout { .. } => codes::TIMEOUT,
        }
    }

    /// The stable SCREAMING_SNAKE name of this error's code, such as `"CIRCUIT_BREAKER_OPEN"`.
    pub fn code_name(&self) -> &'static str {
        name_of(self.error_code())
    }

    /// Whether repeating the operation may succeed: an open breaker (after `retry_after`) and
    /// a timeout are retryable; exhausted recovery is not. The same answer as the
    /// [`DatabaseError`] it converts into.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::CircuitBreakerOpen { .. } | Self::Timeout { .. } => true,
            Self::AutoRecoveryFailed { .. } => false,
        }
    }
}
