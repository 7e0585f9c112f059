//! The advice each error gives: what an operator or caller should do about it.

use super::{DatabaseError, SecurityError};

impl SecurityError {
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
                "Preserve the audit directory for investigation (move it aside: a new log starts \
                 in its place), check the entry named in the error, and alert your security team"
            }
            Self::InvalidKeyMaterial { .. } => {
                "Supply a key of the required length and format (see the encryption \
                 documentation)"
            }
        }
        .to_string()
    }
}

impl DatabaseError {
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
                "Do not write to the directory; restore it from a backup taken before recovery \
                 or migration"
                    .to_string()
            }
            Self::MigrationFailed { rolled_back, .. } => {
                if *rolled_back {
                    "Fix the reported cause (free space, permissions), then run `lightning \
                     migrate PATH` again; the database is unchanged and opens as before"
                        .to_string()
                } else {
                    "Do not write to the directory; restore it from the migration's backup or \
                     another backup"
                        .to_string()
                }
            }
            Self::MigrationRequired { command, found, .. } => format!(
                "Run `{command}` with a Lightning DB release that reads format v{found}, then \
                 open the database with this one"
            ),
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

/// `given` unless it is blank, else `default`.
fn or_default(given: &str, default: &str) -> String {
    if given.trim().is_empty() {
        default.to_string()
    } else {
        given.to_string()
    }
}
