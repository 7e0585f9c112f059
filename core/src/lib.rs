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
#![warn(missing_docs)]
#![cfg_attr(not(test), deny(clippy::unwrap_used))]

pub mod batch;
mod bulk;
pub mod config;
pub mod db;
mod engine;
pub mod error;
/// Entry points shared by the cargo-fuzz targets and the corpus replay test; not a stable API.
#[doc(hidden)]
pub mod fuzzing;
pub mod integrity;
pub mod iter;
pub mod snapshot;
pub mod stats;
pub mod storage;
pub mod txn;
pub mod value;

#[cfg(feature = "async")]
mod async_api;

pub use batch::WriteBatch;
pub use bulk::BulkLoad;
pub use config::{
    AuditLevel, BackoffStrategy, ChecksumAlgorithm, CorruptionAction, Durability, IntegrityLevel,
    LightningDbConfig, ReliabilityConfig, SecurityConfig, ValidationLevel,
};
pub use db::Database;
pub use error::{
    codes, describe_code, DatabaseError, ErrorCodeInfo, RetryableError, SecurityError, ERROR_TABLE,
};
pub use integrity::{
    Checksum, IntegrityError, IntegrityReport, IntegrityValidator, RepairReport, RepairResult,
    ValidationConfig, ValidationResult,
};
pub use iter::{BorrowedPair, DbIterator, KvPair};
pub use snapshot::Snapshot;
pub use stats::{CheckState, DbStats, HealthSummary, LevelStats, RecoveryReport, SelfCheck};
pub use txn::{Transaction, TransactionIterator, TransactionMode, TransactionOptions};
pub use value::PinnedValue;
