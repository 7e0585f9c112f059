//! Configuration of a Lightning DB database.
//!
//! [`LightningDbConfig`] holds every setting; [`SecurityConfig`] and [`ReliabilityConfig`] group
//! the security and reliability ones. Build a configuration with struct update syntax
//! (`LightningDbConfig { cache_size: 1 << 30, ..Default::default() }`) or load one from JSON
//! with [`LightningDbConfig::from_json`], where any field may be left out.
//!
//! [`LightningDbConfig::validate`] checks every field; opening a database calls it.
//!
//! # Settings that appear twice
//!
//! The API reference places some settings both at the top level and in a nested group, such as
//! `integrity_validation_level` and `security.validation_level`. Each pair follows one rule:
//! **a field left at its default yields to its partner**, so setting either one is enough. When
//! both were changed and disagree, [`validate`](LightningDbConfig::validate) rejects the
//! configuration. [`reconciled`](LightningDbConfig::reconciled) returns a copy in which both
//! fields of every pair hold the winning value. The pairs are:
//!
//! | top level | nested |
//! |---|---|
//! | `checksum_algorithm` | `security.checksum_algorithm` |
//! | `integrity_validation_level` | `security.validation_level` |
//! | `fail_on_corruption` | `security.corruption_action` |
//! | `enable_audit_logging` | `security.audit_level` |
//! | `enable_self_healing` | `reliability.self_healing_enabled` |
//! | `deadlock_prevention_enabled` | `reliability.deadlock_prevention` |
//! | `circuit_breaker_enabled` | `reliability.circuit_breaker_enabled` |
//!
//! For the flags this means: a feature that is off by default is on when either flag turns it
//! on, and a feature that is on by default is off when either flag turns it off.
//!
//! # Durations in JSON
//!
//! Durations are strings made of a whole number and a unit: `"30s"`, `"100ms"`, `"250us"`,
//! `"10ns"`, `"5m"` (minutes), `"1h"`. Serde's own form `{"secs": 30, "nanos": 0}` is also
//! accepted. A bare number is rejected, because its unit would be a guess.
//!
//! The module is split by concern: this file holds the settings and their defaults;
//! `validate`, `reconcile` and `json` what their names say; `backoff` the retry delays;
//! `duration` the text form of durations.

pub use crate::checksum::ChecksumAlgorithm;
use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::DatabaseError;

const KIB: usize = 1024;
const MIB: usize = 1024 * KIB;

/// Hard upper limit for [`LightningDbConfig::max_key_size`]: 1 MiB. Keys are copied into index
/// blocks and compared on every lookup, so larger keys would bloat every level of the tree.
pub const MAX_KEY_SIZE_LIMIT: usize = MIB;
/// Hard upper limit for [`LightningDbConfig::max_value_size`]: 1 GiB. It keeps a key, a value
/// and their framing inside a log record's 32-bit length field.
pub const MAX_VALUE_SIZE_LIMIT: usize = 1024 * MIB;
/// Smallest allowed [`LightningDbConfig::cache_size`]: 64 KiB.
pub const MIN_CACHE_SIZE: u64 = 64 * 1024;
/// Smallest allowed [`LightningDbConfig::write_buffer_size`]: 64 KiB.
pub const MIN_WRITE_BUFFER_SIZE: usize = 64 * KIB;
/// Largest allowed [`LightningDbConfig::write_buffer_size`]: 4 GiB.
pub const MAX_WRITE_BUFFER_SIZE: u64 = 4 * 1024 * 1024 * 1024;
/// Smallest allowed [`LightningDbConfig::block_size`]: 512 bytes.
pub const MIN_BLOCK_SIZE: usize = 512;
/// Largest allowed [`LightningDbConfig::block_size`]: 1 MiB.
pub const MAX_BLOCK_SIZE: usize = MIB;
/// Largest allowed [`LightningDbConfig::bloom_bits_per_key`]: 64 (beyond about 20 the false
/// positive rate no longer improves measurably).
pub const MAX_BLOOM_BITS_PER_KEY: u32 = 64;
/// Longest allowed [`Durability::Periodic`] interval: 60 000 ms. A longer window risks more
/// acknowledged writes than any workload should; use [`Durability::NoSync`] to say so plainly.
pub const MAX_SYNC_INTERVAL_MS: u64 = 60_000;
/// Longest allowed interval, timeout or delay in [`ReliabilityConfig`]: 24 hours. The cap keeps
/// deadline arithmetic (`Instant + Duration`) far from overflow.
pub const MAX_CONFIG_DURATION: Duration = Duration::from_secs(24 * 60 * 60);
/// Largest allowed [`ReliabilityConfig::retry_max_attempts`]: 100.
pub const MAX_RETRY_ATTEMPTS: usize = 100;
/// Largest allowed [`SecurityConfig::key_rotation_days`]: 3650 (ten years).
pub const MAX_KEY_ROTATION_DAYS: u32 = 3650;

/// When a committed write is forced to stable storage, and what a crash can therefore lose.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub enum Durability {
    /// A commit returns only after its log record is on stable storage (`fdatasync`).
    /// Acknowledged writes survive a process crash and a power loss. Concurrent commits share
    /// one sync (group commit).
    #[default]
    Sync,
    /// The log is synced by a background thread every this many milliseconds (1 to
    /// [`MAX_SYNC_INTERVAL_MS`]); a commit returns once its record is written to the OS. A
    /// process crash loses nothing, but a power loss or kernel crash may lose the
    /// acknowledged writes of up to the last interval.
    Periodic(u64),
    /// The log is never synced explicitly; the operating system writes it back when it
    /// chooses. A process crash loses nothing, because the data is already in the page cache,
    /// but a power loss or kernel crash may lose every write since the last flush of a table
    /// file.
    NoSync,
}

/// How thoroughly stored data is checked. Levels are ordered: each includes the checks of the
/// ones before it.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
pub enum ValidationLevel {
    /// Checksums only: every block, record and footer read is verified against its checksum.
    Basic,
    /// Checksums plus structure: lengths, offsets, magic numbers, format versions and key
    /// order inside blocks are checked when a file or block is opened.
    #[default]
    Standard,
    /// Structure plus logical consistency: table key ranges, sequence numbers and levels are
    /// checked against the manifest at open and after compaction.
    Comprehensive,
    /// Every check, every block verified on every read even when it is cached, and continuous
    /// verification of all files by a background thread.
    Paranoid,
}

/// The integrity levels of [`LightningDbConfig::integrity_validation_level`]: the same levels
/// as [`ValidationLevel`], under the name the API reference uses there.
pub type IntegrityLevel = ValidationLevel;

impl ValidationLevel {
    /// The lowercase name, as accepted by [`FromStr`] and printed by [`Display`](fmt::Display).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Basic => "basic",
            Self::Standard => "standard",
            Self::Comprehensive => "comprehensive",
            Self::Paranoid => "paranoid",
        }
    }
}

impl fmt::Display for ValidationLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ValidationLevel {
    type Err = DatabaseError;

    /// Parses a level name, ignoring case (`"paranoid"`, `"Paranoid"`).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        [
            Self::Basic,
            Self::Standard,
            Self::Comprehensive,
            Self::Paranoid,
        ]
        .into_iter()
        .find(|level| level.as_str().eq_ignore_ascii_case(s.trim()))
        .ok_or_else(|| DatabaseError::InvalidArgument {
            message: format!(
                "unknown validation level '{s}': expected basic, standard, comprehensive or \
                 paranoid"
            ),
        })
    }
}

/// What the database does after detecting corruption. In every case the corrupted data itself
/// is never returned: the read that found it fails with a corruption error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub enum CorruptionAction {
    /// Record the corruption (log and statistics) and keep serving everything else.
    Log,
    /// Stop: the database refuses further operations until it is reopened or repaired.
    #[default]
    Halt,
    /// Rebuild the damaged data from intact durable copies where possible; what cannot be
    /// rebuilt is reported.
    Repair,
    /// Move the damaged file into `quarantine/`, drop it from the live set and keep serving the
    /// rest; the lost key range is reported.
    Quarantine,
}

/// How much the audit log records.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
pub enum AuditLevel {
    /// Nothing.
    Off,
    /// Security events only: opens, closes, key changes, failed authentication, corruption.
    Minimal,
    /// Security events plus administrative operations (repair, compaction, backup, config).
    #[default]
    Standard,
    /// Everything, including each data access.
    Comprehensive,
}

/// Security settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SecurityConfig {
    /// Checksum algorithm for new files; pairs with [`LightningDbConfig::checksum_algorithm`]
    /// (see the module documentation). Default: [`ChecksumAlgorithm::Xxh64`].
    pub checksum_algorithm: ChecksumAlgorithm,
    /// How thoroughly data is checked; pairs with
    /// [`LightningDbConfig::integrity_validation_level`]. Default: [`ValidationLevel::Standard`].
    pub validation_level: ValidationLevel,
    /// What happens after corruption is detected; pairs with
    /// [`LightningDbConfig::fail_on_corruption`]. Default: [`CorruptionAction::Halt`].
    pub corruption_action: CorruptionAction,
    /// What the database's audit log (in its `audit/` folder) records once it is on; pairs
    /// with [`LightningDbConfig::enable_audit_logging`] (a value other than the default
    /// turns it on too). See `AuditLogger` for the log. Default: [`AuditLevel::Standard`].
    pub audit_level: AuditLevel,
    /// Encryption at rest (XChaCha20-Poly1305): every log record, manifest record and
    /// table block is sealed with a random data key, itself wrapped by
    /// [`encryption_key`](Self::encryption_key), which `true` requires. Chosen when the
    /// database is created: opening a plain database with it, or an encrypted one without
    /// it, is refused and changes nothing on disk. Default: `false`.
    pub enable_encryption: bool,
    /// The key-encryption key of an encrypted database (see [`EncryptionKey`]): it wraps
    /// the database's data keys and is never written anywhere, nor serialized with the
    /// configuration. Setting it requires `enable_encryption`. Default: `None`.
    #[serde(skip)]
    pub encryption_key: Option<EncryptionKey>,
    /// Days between data key rotations of an encrypted database, 1 to
    /// [`MAX_KEY_ROTATION_DAYS`]; checked only when encryption is enabled. When the current
    /// data key is older, the database rotates it (`Database::rotate_key`) as it opens and
    /// after each `flush()` or `compact()` the program calls. Default: 90.
    pub key_rotation_days: u32,
}

impl Default for SecurityConfig {
    fn default() -> Self {
        Self {
            checksum_algorithm: ChecksumAlgorithm::Xxh64,
            validation_level: ValidationLevel::Standard,
            corruption_action: CorruptionAction::Halt,
            audit_level: AuditLevel::Standard,
            enable_encryption: false,
            encryption_key: None,
            key_rotation_days: 90,
        }
    }
}

/// Reliability settings: deadlocks, circuit breaker, health checks, self-healing and retries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ReliabilityConfig {
    /// Detect wait-for cycles between pessimistic transactions and abort one with
    /// `DeadlockDetected` instead of waiting for its lock timeout; pairs with
    /// [`LightningDbConfig::deadlock_prevention_enabled`]. Default: `true`.
    pub deadlock_prevention: bool,
    /// Guard the database's own I/O (writes, flushes, compactions, table reads) with a
    /// circuit breaker that fails them at once with `CircuitBreakerOpen` after repeated I/O
    /// failures; pairs with [`LightningDbConfig::circuit_breaker_enabled`]. Default: `false`.
    pub circuit_breaker_enabled: bool,
    /// Consecutive failures that open the circuit breaker; at least 1 when the breaker is
    /// enabled. Default: 5.
    pub circuit_breaker_failure_threshold: usize,
    /// How long an open breaker waits before letting a trial call through; more than zero and
    /// at most [`MAX_CONFIG_DURATION`]. Default: 30 s.
    #[serde(with = "duration_serde")]
    pub circuit_breaker_recovery_timeout: Duration,
    /// Time between the rounds of health checks a database with
    /// [`LightningDbConfig::enable_health_monitoring`] runs itself; more than zero and at
    /// most [`MAX_CONFIG_DURATION`]. Default: 30 s.
    #[serde(with = "duration_serde")]
    pub health_check_interval: Duration,
    /// Time a single health check of the database's own monitoring may take; one still
    /// running then is reported `Unknown` (it never blocks the database). More than zero
    /// and at most `health_check_interval`. Default: 5 s.
    #[serde(with = "duration_serde")]
    pub health_check_timeout: Duration,
    /// Let the database act on what its health checks find instead of only reporting: the
    /// same self-healing as [`Self::self_healing_enabled`] (repair or quarantine damaged
    /// tables, reclaim disk space and refuse writes before the disk is full, shrink the
    /// cache, restart dead background threads). Default: `false`.
    pub auto_remediation_enabled: bool,
    /// Repair or quarantine damaged data automatically when it is found; pairs with
    /// [`LightningDbConfig::enable_self_healing`]; see the README's self-healing section for
    /// every action. Default: `false`.
    pub self_healing_enabled: bool,
    /// Retries of a background flush or compaction that met a transient I/O error, 0 (no
    /// retry) to [`MAX_RETRY_ATTEMPTS`]; a failed fsync is never retried. Default: 3.
    pub retry_max_attempts: usize,
    /// Delay before each retry; its delays must be more than zero and at most
    /// [`MAX_CONFIG_DURATION`], with the base at most the maximum; waited on the database's
    /// clock. Default: exponential from 100 ms to 30 s.
    pub retry_backoff_strategy: BackoffStrategy,
}

impl Default for ReliabilityConfig {
    fn default() -> Self {
        Self {
            deadlock_prevention: true,
            circuit_breaker_enabled: false,
            circuit_breaker_failure_threshold: 5,
            circuit_breaker_recovery_timeout: Duration::from_secs(30),
            health_check_interval: Duration::from_secs(30),
            health_check_timeout: Duration::from_secs(5),
            auto_remediation_enabled: false,
            self_healing_enabled: false,
            retry_max_attempts: 3,
            retry_backoff_strategy: BackoffStrategy::default(),
        }
    }
}

/// Every setting of a Lightning DB database.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LightningDbConfig {
    /// Directory holding the database's files; created if missing; must not be empty.
    /// Default: `./lightning-data`.
    #[serde(serialize_with = "serialize_path_lossy")]
    pub path: PathBuf,
    /// Compress table blocks with LZ4. Blocks that do not shrink are stored as they are.
    /// Default: `true`.
    pub compression_enabled: bool,
    /// Bytes of memory for the cache of decoded blocks; at least [`MIN_CACHE_SIZE`] and at
    /// least one `block_size`. Default: 64 MiB.
    pub cache_size: u64,
    /// Bytes the in-memory write buffer (memtable) holds before it is flushed to a table file;
    /// [`MIN_WRITE_BUFFER_SIZE`] to [`MAX_WRITE_BUFFER_SIZE`]. Default: 64 MiB.
    pub write_buffer_size: usize,
    /// Longest key accepted, in bytes; 1 to [`MAX_KEY_SIZE_LIMIT`]. Longer keys get
    /// `KeyTooLarge`. Default: 64 KiB.
    pub max_key_size: usize,
    /// Longest value accepted, in bytes; 1 to [`MAX_VALUE_SIZE_LIMIT`]. Longer values get
    /// `ValueTooLarge`. Default: 16 MiB.
    pub max_value_size: usize,
    /// When commits reach stable storage; see [`Durability`] for what each choice risks.
    /// Default: [`Durability::Sync`].
    pub durability: Durability,
    /// Checksum algorithm for new files; pairs with [`SecurityConfig::checksum_algorithm`].
    /// Default: [`ChecksumAlgorithm::Xxh64`].
    pub checksum_algorithm: ChecksumAlgorithm,
    /// Target size in bytes of a table data block before compression; [`MIN_BLOCK_SIZE`] to
    /// [`MAX_BLOCK_SIZE`]. Smaller blocks favour point reads, larger ones scans and
    /// compression. Default: 4096.
    pub block_size: usize,
    /// Bloom filter bits per key in table files; 0 disables the filters, at most
    /// [`MAX_BLOOM_BITS_PER_KEY`]. 10 bits give about a 1% false positive rate. Default: 10.
    pub bloom_bits_per_key: u32,
    /// How thoroughly data is checked; pairs with [`SecurityConfig::validation_level`].
    /// Default: [`IntegrityLevel::Standard`].
    pub integrity_validation_level: IntegrityLevel,
    /// Keep a tamper-evident audit log in the database's `audit/` directory, recording its
    /// security events at [`SecurityConfig::audit_level`] (open and close, corruption,
    /// repair, quarantine, migration; data access at `Comprehensive`). See `AuditLogger`.
    /// Default: `false`.
    pub enable_audit_logging: bool,
    /// Halt the database when corruption is detected. `false` turns the default
    /// [`CorruptionAction::Halt`] into [`CorruptionAction::Log`]; with any other
    /// `security.corruption_action` it changes nothing. Corrupted data is never returned
    /// either way. Default: `true`.
    pub fail_on_corruption: bool,
    /// Run the built-in health checks (integrity, resources, performance) on a thread of
    /// the database's own every [`ReliabilityConfig::health_check_interval`], each bounded
    /// by [`ReliabilityConfig::health_check_timeout`];
    /// [`Database::health`](crate::Database::health) then returns the latest round
    /// (without it, each call runs a round). Default: `false`.
    pub enable_health_monitoring: bool,
    /// Repair or quarantine damaged data automatically; pairs with
    /// [`ReliabilityConfig::self_healing_enabled`]. Default: `false`.
    pub enable_self_healing: bool,
    /// Detect deadlocks between pessimistic transactions; pairs with
    /// [`ReliabilityConfig::deadlock_prevention`]. Default: `true`.
    pub deadlock_prevention_enabled: bool,
    /// Guard the database's own I/O with a circuit breaker; pairs with
    /// [`ReliabilityConfig::circuit_breaker_enabled`]. Default: `false`.
    pub circuit_breaker_enabled: bool,
    /// Time operations into the latency histograms behind
    /// [`Database::metrics`](crate::Database::metrics) and the latency percentiles of
    /// [`Database::stats`](crate::Database::stats): every write, one point read in 16 per
    /// thread. The operation counters are kept either way (atomic increments). Default:
    /// `true`.
    pub enable_statistics: bool,
    /// Read table files through read-only memory maps, as LMDB does: a block stored
    /// uncompressed is verified against its checksum the first time it is read and then
    /// read in place from the OS page cache, with no system call, copy or cache lookup;
    /// compressed blocks still go through the block cache. Mapped pages show in the
    /// process's resident memory but belong to the page cache, which the kernel reclaims.
    /// The cost: a disk error on a mapped page, or another program truncating a table
    /// file, ends the process with `SIGBUS` instead of returning an error. `false` reads
    /// every block with `pread` into the block cache. Default: `true`.
    pub mmap_reads: bool,
    /// Versions a memtable holds before its searches ask for a seek index (a sorted
    /// array of its nodes with their key prefixes, built by the flush thread, 18 bytes
    /// per version); smaller memtables are searched fast enough down the skiplist's
    /// towers. At least 1. Tests set it low to run small memtables through the index.
    /// Default: 4096.
    pub memtable_index_min_versions: usize,
    /// Upgrade a database written in an older format (see
    /// [`DatabaseVersion`](crate::DatabaseVersion)) to the newest when it is opened. Off,
    /// an older database is read as it is and new files are written in its own format, so
    /// the release that wrote it can still open it; it changes format only when migrated
    /// (`MigrationManager`, `lightning migrate`). On, the open writes the newest format
    /// from then on, and the older release can no longer open the database. Default: `false`.
    pub upgrade_format_on_open: bool,
    /// Security settings.
    pub security: SecurityConfig,
    /// Reliability settings.
    pub reliability: ReliabilityConfig,
}

impl Default for LightningDbConfig {
    fn default() -> Self {
        Self {
            path: PathBuf::from("./lightning-data"),
            compression_enabled: true,
            cache_size: 64 * 1024 * 1024,
            write_buffer_size: 64 * MIB,
            max_key_size: 64 * KIB,
            max_value_size: 16 * MIB,
            durability: Durability::Sync,
            checksum_algorithm: ChecksumAlgorithm::Xxh64,
            block_size: 4096,
            bloom_bits_per_key: 10,
            integrity_validation_level: ValidationLevel::Standard,
            enable_audit_logging: false,
            fail_on_corruption: true,
            enable_health_monitoring: false,
            enable_self_healing: false,
            deadlock_prevention_enabled: true,
            circuit_breaker_enabled: false,
            enable_statistics: true,
            mmap_reads: true,
            memtable_index_min_versions: 4096,
            upgrade_format_on_open: false,
            security: SecurityConfig::default(),
            reliability: ReliabilityConfig::default(),
        }
    }
}

impl LightningDbConfig {
    /// The default configuration for the database in `path`.
    pub fn with_path(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            ..Self::default()
        }
    }
}

mod backoff;
mod duration;
mod json;
mod key;
mod reconcile;
#[cfg(test)]
mod tests;
mod validate;

pub use backoff::BackoffStrategy;
use duration::duration_serde;
use json::serialize_path_lossy;
pub use key::{EncryptionKey, ENCRYPTION_KEY_LEN};
