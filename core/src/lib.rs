//! # Lightning DB
//!
//! An embedded, ordered, durable key-value database. Keys and values are byte strings;
//! keys are kept in byte order. Writes go to a checksummed write-ahead log (synced per
//! commit by default, shared by concurrent writers) and then to an in-memory table,
//! which is flushed to sorted, checksummed, compressed table files and compacted in the
//! background (a log-structured merge tree).
//!
//! ```
//! use lightning_db::{Database, LightningDbConfig, WriteBatch};
//! # let dir = tempfile::tempdir().unwrap();
//! let db = Database::open(dir.path(), LightningDbConfig::default())?;
//! db.put(b"hello", b"world")?;
//! assert_eq!(db.get(b"hello")?, Some(b"world".to_vec()));
//!
//! let mut batch = WriteBatch::new();
//! batch.put(b"a", b"1")?;
//! batch.delete(b"hello")?;
//! db.write_batch(&batch)?;
//!
//! let keys: Vec<Vec<u8>> = db.iter().map(|kv| kv.map(|(k, _)| k)).collect::<Result<_, _>>()?;
//! assert_eq!(keys, vec![b"a".to_vec()]);
//! # Ok::<(), lightning_db::DatabaseError>(())
//! ```
#![deny(unsafe_code)]
#![deny(clippy::undocumented_unsafe_blocks)]
#![warn(missing_docs)]
#![cfg_attr(not(test), deny(clippy::unwrap_used))]

// Layers, bottom to top (a module imports only from layers below its own; the
// `layering` test in core/tests checks it):
//   leaves      checksum, error, striped (per-thread counters), config, events,
//               recovery_state, clock (the Clock the operational layer runs on),
//               breaker (the circuit breaker's state machine: the engine guards its
//               own I/O with it, `ops` re-exports it)
//   storage     files, log, memtable, tables, manifest, versions, compaction, cache
//   audit       the tamper-evident audit log (`AuditLogger`) and a database's own trail of
//               it, written through the storage layer's file system; below the engine so
//               that every layer above can record security events
//   engine      open and recovery, writes, reads, background work; iter, snapshot,
//               stats, measure (operation latency histograms), batch, bulk (the
//               engine's own types)
//   txn, integrity
//   monitor     performance metrics and health checks: measured from the engine's
//               stats, the facade's latency histograms and the files, below the
//               facade so that a database can run its own health checks
//   db          the `Database` facade: every `impl Database`
//   ops         the operational layer above the facade: circuit breaker, automatic
//               retry with backoff
//   migrate     format migration (beside ops, which it does not use): plans, steps
//               that rewrite files and switch atomically, rollback, inspection
//   testing     test tools, behind the `testing` feature
// Every module is private: the public API is what this file re-exports.
mod audit;
mod batch;
mod breaker;
mod bulk;
mod checksum;
mod clock;
mod config;
mod db;
mod engine;
mod error;
mod events;
mod integrity;
mod iter;
mod measure;
mod migrate;
mod monitor;
mod ops;
mod recovery_state;
mod snapshot;
mod stats;
mod storage;
mod striped;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
mod txn;

pub mod fs {
    //! The file-system layer every file access goes through: implement [`FileSystem`]
    //! and open a database on it with [`Database::open_with_fs`](crate::Database::open_with_fs)
    //! to put the database on another storage medium or inject faults.
    //! [`StdFileSystem`] is the operating system's (what [`Database::open`](crate::Database::open) uses).
    pub use crate::storage::fs::{
        DirLock, DiskSpace, FileSystem, MappedFile, RandomAccessFile, StdFileSystem, WritableFile,
    };
}

pub use audit::{
    read_audit_tail, verify_audit_log, AuditConfig, AuditEvent, AuditKey, AuditLogger,
    AuditOptions, AuditReport, InterruptedAppend, OperationResult, RiskLevel, SecurityEventType,
    TamperKind, Tampering, AUDIT_DIR_ENV, AUDIT_KEY_ENV, DEFAULT_AUDIT_DIR, DEFAULT_MAX_FILE_BYTES,
};
pub use batch::WriteBatch;
pub use bulk::BulkLoad;
pub use clock::{Clock, ClockFuture, ManualClock, SystemClock};
pub use config::{
    AuditLevel, BackoffStrategy, ChecksumAlgorithm, CorruptionAction, Durability, EncryptionKey,
    IntegrityLevel, LightningDbConfig, ReliabilityConfig, SecurityConfig, ValidationLevel,
    ENCRYPTION_KEY_LEN, MAX_BLOCK_SIZE, MAX_BLOOM_BITS_PER_KEY, MAX_CONFIG_DURATION,
    MAX_KEY_ROTATION_DAYS, MAX_KEY_SIZE_LIMIT, MAX_RETRY_ATTEMPTS, MAX_SYNC_INTERVAL_MS,
    MAX_VALUE_SIZE_LIMIT, MAX_WRITE_BUFFER_SIZE, MIN_BLOCK_SIZE, MIN_CACHE_SIZE,
    MIN_WRITE_BUFFER_SIZE,
};
#[cfg(feature = "async")]
pub use db::AsyncDatabase;
pub use db::{CachedRead, Database};
pub use engine::KeyRotation;
pub use error::{
    codes, describe_code, reserved_for, DatabaseError, ErrorCodeInfo, ReliabilityError,
    RetryableError, SecurityError, ERROR_TABLE, RESERVED_CODES,
};
pub use events::{
    BackgroundErrorInfo, BackgroundJob, CompactionInfo, CorruptionInfo, Event, EventFn,
    EventListener, FlushInfo, RecoveryStage, RecoveryStageInfo, StagePhase, StallCause,
    WriteStallInfo,
};
pub use fs::{FileSystem, StdFileSystem};
pub use integrity::{
    repair_database, repair_database_with_fs, repair_with_fs, verify_database, CheckKind, Checksum,
    Component, CorruptionEvent, IntegrityError, IntegrityProblem, IntegrityReport,
    IntegrityValidator, ProgressFn, RepairReport, RepairResult, SetAside, ValidationConfig,
    ValidationResult, DAMAGED_TABLES_FILE, QUARANTINE_DIR, VERIFIER_BYTES_PER_SEC,
};
pub use iter::{BorrowedPair, DbIterator, KvPair};
pub use measure::LatencySummary;
pub use migrate::{
    CompatibilityResult, DatabaseInfo, FileInfo, FormatSource, MigrationError, MigrationManager,
    MigrationPhase, MigrationPlan, MigrationProgress, MigrationProgressFn, MigrationResult,
    MigrationStep, StepReport, TableInfo, ASSUMED_REWRITE_BYTES_PER_SEC,
};
pub use monitor::{
    BottleneckKind, CheckReport, CollectionHandle, Criticality, DataIntegrityCheck, HealthCheck,
    HealthMonitor, HealthReport, HealthState, HealthStatus, IntegrityProgress, MetricsCollector,
    MonitorHandle, PerformanceBottleneck, PerformanceCheck, PerformanceMetrics, ResourceCheck,
    SlaThresholds, DEFAULT_BLOCKS_PER_ROUND, DEFAULT_CHECK_TIMEOUT, DISK_CRITICAL,
};
pub use ops::{
    AutoRecoveryManager, CircuitBreaker, CircuitBreakerConfig, CircuitBreakerStats, CircuitState,
    Jitter, RecoveryConfig, RecoveryOutcome, RecoveryRun, RecoveryStats,
};
pub use recovery_state::{RecoveryStageResult, RecoveryState};
pub use snapshot::Snapshot;
pub use stats::{
    BreakerSummary, CheckState, DbStats, HealingAction, HealingKind, HealthSummary, LevelStats,
    RecoveryReport, SelfCheck, SelfHealingStats,
};
/// `std::time::Duration`, re-exported because the reference's examples build
/// intervals and timeouts with `Duration` after `use lightning_db::*;` alone.
pub use std::time::Duration;
pub use storage::format::{DatabaseVersion, ParseVersionError};
pub use storage::value::PinnedValue;
pub use txn::{Transaction, TransactionIterator, TransactionMode, TransactionOptions};
