//! Unit tests of the error types, codes and classification.

use super::*;
use std::collections::HashSet;
use std::io;
use std::time::Duration;

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
        DatabaseError::MigrationFailed {
            step: "s".into(),
            reason: "r".into(),
            rolled_back: true,
        },
        DatabaseError::MigrationRequired {
            path: "/db".into(),
            found: 0,
            oldest_supported: 1,
            command: "lightning migrate /db --to latest".into(),
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
        E::MigrationFailed { .. } => 37,
        E::MigrationRequired { .. } => 38,
    }
}
const VARIANT_COUNT: usize = 39;

#[test]
fn sample_covers_every_variant() {
    let seen: HashSet<usize> = all_variants().iter().map(variant_ordinal).collect();
    assert_eq!(seen.len(), VARIANT_COUNT);
}

#[test]
fn recovery_group_has_sixteen_variants() {
    let recovery: HashSet<i32> = all_variants()
        .iter()
        .map(DatabaseError::error_code)
        .filter(|c| (400..500).contains(c))
        .collect();
    assert_eq!(recovery.len(), 16);
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
    assert_eq!(codes::NEEDS_IO, 3);
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
            20..=33 | 37 | 38 => 4,
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
    let too_old = DatabaseError::MigrationRequired {
        path: "/db".into(),
        found: 0,
        oldest_supported: 1,
        command: "lightning migrate /db --to v1".into(),
    };
    assert_eq!(too_old.error_code(), codes::MIGRATION_REQUIRED);
    assert!(!too_old.is_critical() && !too_old.is_retryable() && !too_old.is_recoverable());
    assert!(too_old
        .to_string()
        .contains("lightning migrate /db --to v1"));
    assert!(too_old
        .suggested_action()
        .is_some_and(|a| a.contains("lightning migrate /db --to v1") && a.contains("v0")));
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

#[test]
fn reserved_codes_are_defined_error_codes() {
    let mut seen = HashSet::new();
    for (code, why) in RESERVED_CODES {
        assert!(describe_code(*code).is_some(), "{code} is not in the table");
        assert!(*code >= 100, "{code} is a status, not an error");
        assert!(why.starts_with("reserved"), "{code}: {why}");
        assert!(seen.insert(*code), "{code} listed twice");
        assert_eq!(reserved_for(*code), Some(*why));
    }
    assert_eq!(reserved_for(codes::TRANSACTION_CONFLICT), None);
}

fn all_reliability() -> Vec<ReliabilityError> {
    vec![
        ReliabilityError::CircuitBreakerOpen {
            service: "database".into(),
            retry_after: Duration::from_secs(3),
        },
        ReliabilityError::AutoRecoveryFailed {
            stage: "compaction".into(),
            attempts: 4,
            last_error: boxed(io_err(io::ErrorKind::Other)),
        },
        ReliabilityError::Timeout {
            operation: "health check".into(),
            elapsed: Duration::from_secs(5),
        },
    ]
}

#[test]
fn reliability_errors_become_database_errors_with_their_codes() {
    for r in all_reliability() {
        let e = DatabaseError::from(r.clone());
        assert_eq!(r.error_code(), e.error_code(), "{r:?}");
        assert_eq!(r.code_name(), e.code_name(), "{r:?}");
        assert_eq!(r.to_string(), e.to_string(), "{r:?}");
        assert_eq!(r.is_retryable(), e.is_retryable(), "{r:?}");
        assert_eq!(RetryableError::is_retryable(&r), r.is_retryable());
        assert!((300..400).contains(&r.error_code()), "{r:?}");
    }
    let [open, failed, timeout] = <[ReliabilityError; 3]>::try_from(all_reliability()).unwrap();
    assert_eq!(
        DatabaseError::from(open),
        DatabaseError::CircuitBreakerOpen {
            service: "database".into(),
            retry_after: Duration::from_secs(3),
        }
    );
    assert_eq!(
        DatabaseError::from(failed),
        DatabaseError::AutoRecoveryFailed {
            stage: "compaction".into(),
            attempts: 4,
            last_error: boxed(io_err(io::ErrorKind::Other)),
        }
    );
    assert_eq!(DatabaseError::from(timeout).error_code(), codes::TIMEOUT);
}

#[test]
fn reliability_errors_as_io_errors() {
    let [open, failed, timeout] = <[ReliabilityError; 3]>::try_from(all_reliability()).unwrap();
    let kind = |r: ReliabilityError| io::Error::from(r).kind();
    assert_eq!(kind(open.clone()), io::ErrorKind::WouldBlock);
    assert_eq!(kind(failed), io::ErrorKind::Other);
    assert_eq!(kind(timeout), io::ErrorKind::TimedOut);
    let e = io::Error::from(open.clone());
    assert_eq!(e.to_string(), open.to_string());
}

#[test]
fn timeout_errors_of_the_retryable_types() {
    let elapsed = Duration::from_secs(60);
    let db = <DatabaseError as RetryableError>::timeout_error("read", elapsed).unwrap();
    assert_eq!(
        db,
        DatabaseError::Timeout {
            operation: "read".into(),
            elapsed
        }
    );
    assert!(db.is_retryable());
    let r = <ReliabilityError as RetryableError>::timeout_error("read", elapsed).unwrap();
    assert_eq!(DatabaseError::from(r), db);
    let io = <io::Error as RetryableError>::timeout_error("read", elapsed).unwrap();
    assert_eq!(io.kind(), io::ErrorKind::TimedOut);
    assert!(RetryableError::is_retryable(&io));
    assert!(!RetryableError::is_retryable(&io::Error::from(
        io::ErrorKind::NotFound
    )));

    struct Mine;
    impl RetryableError for Mine {
        fn is_retryable(&self) -> bool {
            true
        }
    }
    assert!(Mine::timeout_error("read", elapsed).is_none());
    assert!(Mine.is_retryable());
}

#[test]
fn the_breaker_timeout_and_staged_recovery_codes_are_produced_now() {
    for code in [
        codes::CIRCUIT_BREAKER_OPEN,
        codes::TIMEOUT,
        codes::AUTO_RECOVERY_FAILED,
        codes::PARTIAL_RECOVERY_FAILURE,
        codes::RECOVERY_TIMEOUT,
    ] {
        assert_eq!(reserved_for(code), None, "{code}");
    }
    assert!(reserved_for(codes::RECOVERY_IMPOSSIBLE).is_some());
}

#[test]
fn reliability_errors_are_send_sync_static() {
    fn check<T: std::error::Error + Send + Sync + 'static>() {}
    check::<ReliabilityError>();
}
