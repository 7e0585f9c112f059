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

use std::fmt;
use std::path::{Path, PathBuf};
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

/// Checksum algorithm protecting log records, blocks and manifest records.
///
/// The id is stored on disk, so files written with any algorithm stay readable whatever the
/// configuration says later.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub enum ChecksumAlgorithm {
    /// BLAKE3: cryptographically secure, so it also detects deliberate tampering; slower.
    Blake3,
    /// XXH64: fast and non-cryptographic; detects accidental damage.
    #[default]
    Xxh64,
    /// CRC-32: for compatibility with tools that expect it; weakest of the three.
    Crc32,
}

impl ChecksumAlgorithm {
    /// The stable on-disk id: Blake3 = 1, Xxh64 = 2, Crc32 = 3.
    pub fn id(self) -> u8 {
        match self {
            Self::Blake3 => 1,
            Self::Xxh64 => 2,
            Self::Crc32 => 3,
        }
    }

    /// The algorithm with the given on-disk id, or `None` for an unknown id (a corrupted
    /// header or a newer format).
    pub fn from_id(id: u8) -> Option<Self> {
        match id {
            1 => Some(Self::Blake3),
            2 => Some(Self::Xxh64),
            3 => Some(Self::Crc32),
            _ => None,
        }
    }
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

/// How long to wait before each retry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub enum BackoffStrategy {
    /// `base_delay × (attempt + 1)`, without a cap.
    Linear {
        /// Delay before the first retry, added once more for each further retry.
        #[serde(with = "duration_serde")]
        base_delay: Duration,
    },
    /// `base_delay × 2^attempt`, capped at `max_delay`.
    Exponential {
        /// Delay before the first retry.
        #[serde(with = "duration_serde")]
        base_delay: Duration,
        /// Longest delay.
        #[serde(with = "duration_serde")]
        max_delay: Duration,
    },
    /// `base_delay × fib(attempt + 1)` with fib = 1, 1, 2, 3, 5..., capped at `max_delay`:
    /// grows more gently than exponential.
    Fibonacci {
        /// Delay before the first and second retries.
        #[serde(with = "duration_serde")]
        base_delay: Duration,
        /// Longest delay.
        #[serde(with = "duration_serde")]
        max_delay: Duration,
    },
}

impl Default for BackoffStrategy {
    /// Exponential from 100 ms up to 30 s.
    fn default() -> Self {
        Self::Exponential {
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(30),
        }
    }
}

impl BackoffStrategy {
    /// The delay before retry number `attempt`, where 0 is the first retry. Arithmetic
    /// saturates, so any attempt number is safe.
    pub fn delay_for_attempt(&self, attempt: u32) -> Duration {
        match *self {
            Self::Linear { base_delay } => base_delay.saturating_mul(attempt.saturating_add(1)),
            Self::Exponential {
                base_delay,
                max_delay,
            } => {
                let delay = match 2u32.checked_pow(attempt) {
                    Some(factor) => base_delay.saturating_mul(factor),
                    None if base_delay.is_zero() => Duration::ZERO,
                    None => Duration::MAX,
                };
                delay.min(max_delay)
            }
            Self::Fibonacci {
                base_delay,
                max_delay,
            } => {
                let (mut previous, mut current) = (0u32, 1u32);
                // Stops as soon as the cap is reached, so a huge attempt number costs nothing.
                for _ in 0..attempt {
                    if current == u32::MAX || base_delay.saturating_mul(current) >= max_delay {
                        break;
                    }
                    (previous, current) = (current, previous.saturating_add(current));
                }
                base_delay.saturating_mul(current).min(max_delay)
            }
        }
    }

    fn base_delay(&self) -> Duration {
        match *self {
            Self::Linear { base_delay }
            | Self::Exponential { base_delay, .. }
            | Self::Fibonacci { base_delay, .. } => base_delay,
        }
    }

    fn max_delay(&self) -> Option<Duration> {
        match *self {
            Self::Linear { .. } => None,
            Self::Exponential { max_delay, .. } | Self::Fibonacci { max_delay, .. } => {
                Some(max_delay)
            }
        }
    }
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
    /// What the audit log records once it is on; pairs with
    /// [`LightningDbConfig::enable_audit_logging`]. Default: [`AuditLevel::Standard`].
    pub audit_level: AuditLevel,
    /// Encryption at rest. Not available in this version: `true` is rejected by
    /// [`validate`](LightningDbConfig::validate) rather than ignored, so that nobody stores
    /// plaintext believing it encrypted. Default: `false`.
    pub enable_encryption: bool,
    /// Days between encryption key rotations, 1 to [`MAX_KEY_ROTATION_DAYS`]; checked only
    /// when encryption is enabled. Default: 90.
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
    /// Guard background I/O with a circuit breaker; pairs with
    /// [`LightningDbConfig::circuit_breaker_enabled`]. Default: `false`.
    pub circuit_breaker_enabled: bool,
    /// Consecutive failures that open the circuit breaker; at least 1 when the breaker is
    /// enabled. Default: 5.
    pub circuit_breaker_failure_threshold: usize,
    /// How long an open breaker waits before letting a trial call through; more than zero and
    /// at most [`MAX_CONFIG_DURATION`]. Default: 30 s.
    #[serde(with = "duration_serde")]
    pub circuit_breaker_recovery_timeout: Duration,
    /// Time between health checks; more than zero and at most [`MAX_CONFIG_DURATION`].
    /// Default: 30 s.
    #[serde(with = "duration_serde")]
    pub health_check_interval: Duration,
    /// Time a single health check may take; more than zero and at most
    /// `health_check_interval`. Default: 5 s.
    #[serde(with = "duration_serde")]
    pub health_check_timeout: Duration,
    /// Let the health monitor act on what it finds (flush, compact, shed load) instead of only
    /// reporting. Default: `false`.
    pub auto_remediation_enabled: bool,
    /// Repair or quarantine damaged data automatically when it is found; pairs with
    /// [`LightningDbConfig::enable_self_healing`]. Default: `false`.
    pub self_healing_enabled: bool,
    /// Retries of a failed retryable operation, 0 (no retry) to [`MAX_RETRY_ATTEMPTS`].
    /// Default: 3.
    pub retry_max_attempts: usize,
    /// Delay before each retry; its delays must be more than zero and at most
    /// [`MAX_CONFIG_DURATION`], with the base at most the maximum. Default: exponential from
    /// 100 ms to 30 s.
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
    /// Write the audit log (in the database's `audit/` directory); pairs with
    /// [`SecurityConfig::audit_level`]. Default: `false`.
    pub enable_audit_logging: bool,
    /// Halt the database when corruption is detected. `false` turns the default
    /// [`CorruptionAction::Halt`] into [`CorruptionAction::Log`]; with any other
    /// `security.corruption_action` it changes nothing. Corrupted data is never returned
    /// either way. Default: `true`.
    pub fail_on_corruption: bool,
    /// Run the health monitor's periodic checks (see
    /// [`ReliabilityConfig::health_check_interval`]). Default: `false`.
    pub enable_health_monitoring: bool,
    /// Repair or quarantine damaged data automatically; pairs with
    /// [`ReliabilityConfig::self_healing_enabled`]. Default: `false`.
    pub enable_self_healing: bool,
    /// Detect deadlocks between pessimistic transactions; pairs with
    /// [`ReliabilityConfig::deadlock_prevention`]. Default: `true`.
    pub deadlock_prevention_enabled: bool,
    /// Guard background I/O with a circuit breaker; pairs with
    /// [`ReliabilityConfig::circuit_breaker_enabled`]. Default: `false`.
    pub circuit_breaker_enabled: bool,
    /// Collect operation counters and latency histograms. Default: `true`.
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
            security: SecurityConfig::default(),
            reliability: ReliabilityConfig::default(),
        }
    }
}

/// The nested groups whose fields JSON errors are traced into.
const NESTED_GROUPS: [&str; 2] = ["security", "reliability"];

impl LightningDbConfig {
    /// The default configuration for the database in `path`.
    pub fn with_path(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            ..Self::default()
        }
    }

    /// Checks every field's range and the consistency between fields.
    ///
    /// The error is a [`DatabaseError::ConfigurationError`] whose `field` names the first
    /// offending field (dotted for nested ones, such as `reliability.retry_max_attempts`) and
    /// whose `reason` gives the allowed range.
    pub fn validate(&self) -> Result<(), DatabaseError> {
        if self.path.as_os_str().is_empty() {
            return Err(invalid("path", "must not be empty"));
        }
        if self.cache_size < MIN_CACHE_SIZE {
            return Err(invalid(
                "cache_size",
                format!(
                    "{} bytes is below the minimum of {MIN_CACHE_SIZE} bytes (64 KiB)",
                    self.cache_size
                ),
            ));
        }
        let write_buffer = u64::try_from(self.write_buffer_size).unwrap_or(u64::MAX);
        if self.write_buffer_size < MIN_WRITE_BUFFER_SIZE || write_buffer > MAX_WRITE_BUFFER_SIZE {
            return Err(invalid(
                "write_buffer_size",
                format!(
                    "{} bytes is outside the allowed range {MIN_WRITE_BUFFER_SIZE} (64 KiB) to \
                     {MAX_WRITE_BUFFER_SIZE} (4 GiB)",
                    self.write_buffer_size
                ),
            ));
        }
        if self.max_key_size == 0 || self.max_key_size > MAX_KEY_SIZE_LIMIT {
            return Err(invalid(
                "max_key_size",
                format!(
                    "{} bytes is outside the allowed range 1 to {MAX_KEY_SIZE_LIMIT} (1 MiB)",
                    self.max_key_size
                ),
            ));
        }
        if self.max_value_size == 0 || self.max_value_size > MAX_VALUE_SIZE_LIMIT {
            return Err(invalid(
                "max_value_size",
                format!(
                    "{} bytes is outside the allowed range 1 to {MAX_VALUE_SIZE_LIMIT} (1 GiB)",
                    self.max_value_size
                ),
            ));
        }
        if let Durability::Periodic(ms) = self.durability {
            if ms == 0 || ms > MAX_SYNC_INTERVAL_MS {
                return Err(invalid(
                    "durability",
                    format!(
                        "Periodic({ms}) is outside the allowed range 1 to \
                         {MAX_SYNC_INTERVAL_MS} ms; use Sync to sync every commit or NoSync to \
                         leave syncing to the OS"
                    ),
                ));
            }
        }
        if !(MIN_BLOCK_SIZE..=MAX_BLOCK_SIZE).contains(&self.block_size) {
            return Err(invalid(
                "block_size",
                format!(
                    "{} bytes is outside the allowed range {MIN_BLOCK_SIZE} to {MAX_BLOCK_SIZE} \
                     (1 MiB)",
                    self.block_size
                ),
            ));
        }
        if u64::try_from(self.block_size).unwrap_or(u64::MAX) > self.cache_size {
            return Err(invalid(
                "cache_size",
                format!(
                    "{} bytes cannot hold one block of block_size {} bytes",
                    self.cache_size, self.block_size
                ),
            ));
        }
        if self.bloom_bits_per_key > MAX_BLOOM_BITS_PER_KEY {
            return Err(invalid(
                "bloom_bits_per_key",
                format!(
                    "{} is above the maximum of {MAX_BLOOM_BITS_PER_KEY} (0 disables the filters)",
                    self.bloom_bits_per_key
                ),
            ));
        }
        self.validate_pairs()?;
        self.validate_security()?;
        self.validate_reliability()
    }

    fn validate_pairs(&self) -> Result<(), DatabaseError> {
        let defaults = SecurityConfig::default();
        if conflicts(
            self.checksum_algorithm,
            self.security.checksum_algorithm,
            defaults.checksum_algorithm,
        ) {
            return Err(invalid(
                "security.checksum_algorithm",
                format!(
                    "{:?} contradicts checksum_algorithm {:?}; set only one of them, or both to \
                     the same algorithm",
                    self.security.checksum_algorithm, self.checksum_algorithm
                ),
            ));
        }
        if conflicts(
            self.integrity_validation_level,
            self.security.validation_level,
            defaults.validation_level,
        ) {
            return Err(invalid(
                "security.validation_level",
                format!(
                    "{:?} contradicts integrity_validation_level {:?}; set only one of them, or \
                     both to the same level",
                    self.security.validation_level, self.integrity_validation_level
                ),
            ));
        }
        if self.enable_audit_logging && self.security.audit_level == AuditLevel::Off {
            return Err(invalid(
                "security.audit_level",
                "is Off while enable_audit_logging is true; choose Minimal, Standard or \
                 Comprehensive, or disable audit logging",
            ));
        }
        Ok(())
    }

    fn validate_security(&self) -> Result<(), DatabaseError> {
        let security = &self.security;
        if !security.enable_encryption {
            return Ok(());
        }
        if security.key_rotation_days == 0 || security.key_rotation_days > MAX_KEY_ROTATION_DAYS {
            return Err(invalid(
                "security.key_rotation_days",
                format!(
                    "{} is outside the allowed range 1 to {MAX_KEY_ROTATION_DAYS} days",
                    security.key_rotation_days
                ),
            ));
        }
        Err(invalid(
            "security.enable_encryption",
            "encryption at rest is not available in this version of Lightning DB; set it to \
             false (it is rejected rather than ignored so that data is never stored unencrypted \
             by surprise)",
        ))
    }

    fn validate_reliability(&self) -> Result<(), DatabaseError> {
        let r = &self.reliability;
        let breaker_enabled = self.circuit_breaker_enabled || r.circuit_breaker_enabled;
        if breaker_enabled && r.circuit_breaker_failure_threshold == 0 {
            return Err(invalid(
                "reliability.circuit_breaker_failure_threshold",
                "must be at least 1 when the circuit breaker is enabled",
            ));
        }
        check_duration(
            "reliability.circuit_breaker_recovery_timeout",
            r.circuit_breaker_recovery_timeout,
        )?;
        check_duration("reliability.health_check_interval", r.health_check_interval)?;
        check_duration("reliability.health_check_timeout", r.health_check_timeout)?;
        if r.health_check_timeout > r.health_check_interval {
            return Err(invalid(
                "reliability.health_check_timeout",
                format!(
                    "{:?} is longer than health_check_interval {:?}; a check must finish before \
                     the next one starts",
                    r.health_check_timeout, r.health_check_interval
                ),
            ));
        }
        if r.retry_max_attempts > MAX_RETRY_ATTEMPTS {
            return Err(invalid(
                "reliability.retry_max_attempts",
                format!(
                    "{} is above the maximum of {MAX_RETRY_ATTEMPTS} (0 disables retries)",
                    r.retry_max_attempts
                ),
            ));
        }
        let backoff = &r.retry_backoff_strategy;
        check_duration(
            "reliability.retry_backoff_strategy.base_delay",
            backoff.base_delay(),
        )?;
        if let Some(max_delay) = backoff.max_delay() {
            check_duration("reliability.retry_backoff_strategy.max_delay", max_delay)?;
            if backoff.base_delay() > max_delay {
                return Err(invalid(
                    "reliability.retry_backoff_strategy.base_delay",
                    format!(
                        "{:?} is longer than max_delay {max_delay:?}",
                        backoff.base_delay()
                    ),
                ));
            }
        }
        Ok(())
    }

    /// A copy in which both fields of every pair of duplicated settings hold the value that
    /// wins under the rule in the module documentation (a field left at its default yields to
    /// its partner), so the engine may read either field.
    ///
    /// Call it on a configuration that [`validate`](Self::validate) accepted. The result
    /// validates as well, and reconciling it again changes nothing.
    pub fn reconciled(&self) -> Self {
        let mut out = self.clone();
        let defaults = SecurityConfig::default();

        let checksum = winner(
            self.checksum_algorithm,
            self.security.checksum_algorithm,
            defaults.checksum_algorithm,
        );
        out.checksum_algorithm = checksum;
        out.security.checksum_algorithm = checksum;

        let level = winner(
            self.integrity_validation_level,
            self.security.validation_level,
            defaults.validation_level,
        );
        out.integrity_validation_level = level;
        out.security.validation_level = level;

        let action = match (self.fail_on_corruption, self.security.corruption_action) {
            (false, CorruptionAction::Halt) => CorruptionAction::Log,
            (_, action) => action,
        };
        out.security.corruption_action = action;
        out.fail_on_corruption = action == CorruptionAction::Halt;

        let audit =
            if self.enable_audit_logging || self.security.audit_level != defaults.audit_level {
                self.security.audit_level
            } else {
                AuditLevel::Off
            };
        out.security.audit_level = audit;
        out.enable_audit_logging = audit != AuditLevel::Off;

        let self_healing = self.enable_self_healing || self.reliability.self_healing_enabled;
        out.enable_self_healing = self_healing;
        out.reliability.self_healing_enabled = self_healing;

        let deadlock = self.deadlock_prevention_enabled && self.reliability.deadlock_prevention;
        out.deadlock_prevention_enabled = deadlock;
        out.reliability.deadlock_prevention = deadlock;

        let breaker = self.circuit_breaker_enabled || self.reliability.circuit_breaker_enabled;
        out.circuit_breaker_enabled = breaker;
        out.reliability.circuit_breaker_enabled = breaker;

        out
    }

    /// Parses a configuration from JSON. Fields left out take their defaults, so `{}` is the
    /// default configuration.
    ///
    /// Malformed JSON, an unknown field or a value of the wrong type gives a
    /// [`DatabaseError::ConfigurationError`] naming the field (dotted for nested ones), or
    /// `json` when the document itself is malformed. Ranges are not checked here: call
    /// [`validate`](Self::validate), as opening a database does.
    pub fn from_json(s: &str) -> Result<Self, DatabaseError> {
        serde_json::from_str(s).map_err(|err| locate_json_error(s, &err))
    }

    /// The configuration as pretty-printed JSON, every field included. A path that is not
    /// valid UTF-8 is written lossily (invalid bytes become U+FFFD).
    pub fn to_json(&self) -> String {
        // Cannot fail: every field is plain data and the path is written lossily, so no
        // serializer error is possible.
        serde_json::to_string_pretty(self).unwrap_or_default()
    }
}

fn invalid(field: &str, reason: impl Into<String>) -> DatabaseError {
    DatabaseError::ConfigurationError {
        field: field.to_string(),
        reason: reason.into(),
    }
}

fn check_duration(field: &str, value: Duration) -> Result<(), DatabaseError> {
    if value.is_zero() || value > MAX_CONFIG_DURATION {
        return Err(invalid(
            field,
            format!("{value:?} is outside the allowed range: more than zero and at most 24 h"),
        ));
    }
    Ok(())
}

fn conflicts<T: PartialEq>(top: T, nested: T, default: T) -> bool {
    top != default && nested != default && top != nested
}

fn winner<T: PartialEq>(top: T, nested: T, default: T) -> T {
    if top != default {
        top
    } else {
        nested
    }
}

fn serialize_path_lossy<S: serde::Serializer>(
    path: &Path,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&path.to_string_lossy())
}

/// Turns a serde error into a `ConfigurationError` naming the field at fault.
///
/// serde_json does not report the path of a field, so each field of the document is tried on
/// its own against the defaults: the first one that fails alone is the culprit.
fn locate_json_error(s: &str, err: &serde_json::Error) -> DatabaseError {
    if err.is_syntax() || err.is_eof() || err.is_io() {
        return invalid("json", format!("malformed JSON: {err}"));
    }
    let whole = || invalid("json", err.to_string());
    let Ok(document) = serde_json::from_str::<serde_json::Value>(s) else {
        return whole();
    };
    let Some(fields) = document.as_object() else {
        return invalid(
            "json",
            format!("expected a JSON object of configuration fields: {err}"),
        );
    };
    let Ok(defaults) = serde_json::to_value(LightningDbConfig::default()) else {
        return whole();
    };
    for (name, value) in fields {
        let Some(reason) = failure_with(&defaults, &[name], value) else {
            continue;
        };
        if NESTED_GROUPS.contains(&name.as_str()) {
            if let Some(inner) = value.as_object() {
                for (inner_name, inner_value) in inner {
                    if let Some(reason) = failure_with(&defaults, &[name, inner_name], inner_value)
                    {
                        return invalid(&format!("{name}.{inner_name}"), reason);
                    }
                }
            }
        }
        return invalid(name, reason);
    }
    whole()
}

/// The error of deserializing the defaults with the field at `path` replaced by `value`.
fn failure_with(
    defaults: &serde_json::Value,
    path: &[&String],
    value: &serde_json::Value,
) -> Option<String> {
    let mut candidate = defaults.clone();
    let mut slot = &mut candidate;
    for name in path {
        let object = slot.as_object_mut()?;
        slot = object
            .entry(name.as_str())
            .or_insert(serde_json::Value::Null);
    }
    *slot = value.clone();
    serde_json::from_value::<LightningDbConfig>(candidate)
        .err()
        .map(|e| e.to_string())
}

/// Serde format of durations: a string of a whole number and a unit (`"30s"`, `"100ms"`).
mod duration_serde {
    use std::fmt;
    use std::time::Duration;

    use serde::de::{self, MapAccess, Visitor};
    use serde::{Deserializer, Serializer};

    const NANOS_PER_SEC: u128 = 1_000_000_000;
    const UNITS: [(&str, u128); 8] = [
        ("ns", 1),
        ("us", 1_000),
        ("µs", 1_000),
        ("ms", 1_000_000),
        ("s", NANOS_PER_SEC),
        ("m", 60 * NANOS_PER_SEC),
        ("min", 60 * NANOS_PER_SEC),
        ("h", 3600 * NANOS_PER_SEC),
    ];

    pub(super) fn serialize<S: Serializer>(
        value: &Duration,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&format(*value))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Duration, D::Error> {
        deserializer.deserialize_any(DurationVisitor)
    }

    /// The largest of s, ms, us and ns that expresses the duration exactly.
    pub(super) fn format(value: Duration) -> String {
        let nanos = value.as_nanos();
        if nanos == 0 {
            return "0s".to_string();
        }
        for (unit, size) in [("s", NANOS_PER_SEC), ("ms", 1_000_000), ("us", 1_000)] {
            if nanos.is_multiple_of(size) {
                return format!("{}{unit}", nanos / size);
            }
        }
        format!("{nanos}ns")
    }

    pub(super) fn parse(text: &str) -> Result<Duration, String> {
        let text = text.trim();
        let split = text
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(text.len());
        let (digits, unit) = (&text[..split], text[split..].trim());
        if digits.is_empty() {
            return Err(format!(
                "invalid duration \"{text}\": expected a whole number and a unit, such as \"30s\""
            ));
        }
        let size = UNITS
            .iter()
            .find(|(name, _)| *name == unit)
            .map(|(_, size)| *size)
            .ok_or_else(|| {
                format!("invalid duration \"{text}\": unit must be one of ns, us, ms, s, m, h")
            })?;
        let too_large = || format!("duration \"{text}\" is too large");
        let count: u128 = digits.parse().map_err(|_| too_large())?;
        let nanos = count.checked_mul(size).ok_or_else(too_large)?;
        let secs = u64::try_from(nanos / NANOS_PER_SEC).map_err(|_| too_large())?;
        let subsec = u32::try_from(nanos % NANOS_PER_SEC).map_err(|_| too_large())?;
        Ok(Duration::new(secs, subsec))
    }

    struct DurationVisitor;

    impl<'de> Visitor<'de> for DurationVisitor {
        type Value = Duration;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a duration string with a unit, such as \"30s\" or \"100ms\"")
        }

        fn visit_str<E: de::Error>(self, v: &str) -> Result<Duration, E> {
            parse(v).map_err(E::custom)
        }

        // Serde's own representation of `Duration`, accepted for compatibility.
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Duration, A::Error> {
            let (mut secs, mut nanos) = (None, None);
            while let Some(key) = map.next_key::<String>()? {
                match key.as_str() {
                    "secs" => secs = Some(map.next_value::<u64>()?),
                    "nanos" => nanos = Some(map.next_value::<u32>()?),
                    other => return Err(de::Error::unknown_field(other, &["secs", "nanos"])),
                }
            }
            let secs = secs.ok_or_else(|| de::Error::missing_field("secs"))?;
            let nanos = nanos.unwrap_or(0);
            if nanos >= 1_000_000_000 {
                return Err(de::Error::custom("nanos must be below 1000000000"));
            }
            Ok(Duration::new(secs, nanos))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field_of(result: Result<(), DatabaseError>) -> String {
        match result {
            Err(DatabaseError::ConfigurationError { field, reason }) => {
                assert!(!reason.is_empty());
                field
            }
            other => panic!("expected a ConfigurationError, got {other:?}"),
        }
    }

    fn json_field(s: &str) -> String {
        field_of(LightningDbConfig::from_json(s).map(|_| ()))
    }

    #[test]
    fn defaults_are_as_documented_and_valid() {
        let c = LightningDbConfig::default();
        assert_eq!(c.validate(), Ok(()));
        assert_eq!(c.path, PathBuf::from("./lightning-data"));
        assert_eq!(c.cache_size, 64 << 20);
        assert_eq!(c.write_buffer_size, 64 << 20);
        assert_eq!(c.max_key_size, 64 << 10);
        assert_eq!(c.max_value_size, 16 << 20);
        assert_eq!(c.durability, Durability::Sync);
        assert_eq!(c.checksum_algorithm, ChecksumAlgorithm::Xxh64);
        assert_eq!(c.block_size, 4096);
        assert_eq!(c.bloom_bits_per_key, 10);
        assert_eq!(c.integrity_validation_level, ValidationLevel::Standard);
        assert!(c.compression_enabled && c.fail_on_corruption && c.deadlock_prevention_enabled);
        assert!(c.enable_statistics && !c.enable_audit_logging && !c.enable_health_monitoring);
        assert!(!c.enable_self_healing && !c.circuit_breaker_enabled);
        assert_eq!(
            c.security,
            SecurityConfig {
                checksum_algorithm: ChecksumAlgorithm::Xxh64,
                validation_level: ValidationLevel::Standard,
                corruption_action: CorruptionAction::Halt,
                audit_level: AuditLevel::Standard,
                enable_encryption: false,
                key_rotation_days: 90,
            }
        );
        let r = &c.reliability;
        assert!(r.deadlock_prevention && !r.circuit_breaker_enabled);
        assert_eq!(r.circuit_breaker_failure_threshold, 5);
        assert_eq!(r.circuit_breaker_recovery_timeout, Duration::from_secs(30));
        assert_eq!(r.health_check_interval, Duration::from_secs(30));
        assert_eq!(r.health_check_timeout, Duration::from_secs(5));
        assert!(!r.auto_remediation_enabled && !r.self_healing_enabled);
        assert_eq!(r.retry_max_attempts, 3);
        assert_eq!(
            r.retry_backoff_strategy,
            BackoffStrategy::Exponential {
                base_delay: Duration::from_millis(100),
                max_delay: Duration::from_secs(30),
            }
        );
    }

    #[test]
    fn with_path_sets_only_the_path() {
        let c = LightningDbConfig::with_path("/tmp/db");
        assert_eq!(c.path, PathBuf::from("/tmp/db"));
        assert_eq!(
            c,
            LightningDbConfig {
                path: "/tmp/db".into(),
                ..Default::default()
            }
        );
    }

    #[test]
    fn reference_examples_validate() {
        let c = LightningDbConfig {
            compression_enabled: true,
            cache_size: 1024 * 1024 * 1024,
            integrity_validation_level: IntegrityLevel::Paranoid,
            enable_audit_logging: true,
            fail_on_corruption: true,
            enable_health_monitoring: true,
            enable_self_healing: true,
            deadlock_prevention_enabled: true,
            circuit_breaker_enabled: true,
            enable_statistics: true,
            ..Default::default()
        };
        assert_eq!(c.validate(), Ok(()));
        let r = c.reconciled();
        assert_eq!(r.security.validation_level, ValidationLevel::Paranoid);
        assert_eq!(r.security.audit_level, AuditLevel::Standard);
        assert_eq!(r.security.corruption_action, CorruptionAction::Halt);
        assert!(r.reliability.self_healing_enabled);
        assert!(r.reliability.deadlock_prevention);
        assert!(r.reliability.circuit_breaker_enabled);

        let production = LightningDbConfig {
            cache_size: 8 * 1024 * 1024 * 1024,
            ..c
        };
        assert_eq!(production.validate(), Ok(()));
    }

    #[test]
    fn each_invalid_field_is_named() {
        type Mutate = fn(&mut LightningDbConfig);
        let cases: &[(Mutate, &str)] = &[
            (|c| c.path = PathBuf::new(), "path"),
            (|c| c.cache_size = MIN_CACHE_SIZE - 1, "cache_size"),
            (|c| c.cache_size = 0, "cache_size"),
            (
                |c| c.write_buffer_size = MIN_WRITE_BUFFER_SIZE - 1,
                "write_buffer_size",
            ),
            (|c| c.write_buffer_size = usize::MAX, "write_buffer_size"),
            (|c| c.max_key_size = 0, "max_key_size"),
            (|c| c.max_key_size = MAX_KEY_SIZE_LIMIT + 1, "max_key_size"),
            (|c| c.max_value_size = 0, "max_value_size"),
            (
                |c| c.max_value_size = MAX_VALUE_SIZE_LIMIT + 1,
                "max_value_size",
            ),
            (|c| c.durability = Durability::Periodic(0), "durability"),
            (
                |c| c.durability = Durability::Periodic(MAX_SYNC_INTERVAL_MS + 1),
                "durability",
            ),
            (|c| c.block_size = MIN_BLOCK_SIZE - 1, "block_size"),
            (|c| c.block_size = MAX_BLOCK_SIZE + 1, "block_size"),
            (
                |c| {
                    c.cache_size = MIN_CACHE_SIZE;
                    c.block_size = MAX_BLOCK_SIZE;
                },
                "cache_size",
            ),
            (|c| c.bloom_bits_per_key = 65, "bloom_bits_per_key"),
            (
                |c| {
                    c.checksum_algorithm = ChecksumAlgorithm::Blake3;
                    c.security.checksum_algorithm = ChecksumAlgorithm::Crc32;
                },
                "security.checksum_algorithm",
            ),
            (
                |c| {
                    c.integrity_validation_level = ValidationLevel::Paranoid;
                    c.security.validation_level = ValidationLevel::Basic;
                },
                "security.validation_level",
            ),
            (
                |c| {
                    c.enable_audit_logging = true;
                    c.security.audit_level = AuditLevel::Off;
                },
                "security.audit_level",
            ),
            (
                |c| c.security.enable_encryption = true,
                "security.enable_encryption",
            ),
            (
                |c| {
                    c.security.enable_encryption = true;
                    c.security.key_rotation_days = 0;
                },
                "security.key_rotation_days",
            ),
            (
                |c| {
                    c.reliability.circuit_breaker_enabled = true;
                    c.reliability.circuit_breaker_failure_threshold = 0;
                },
                "reliability.circuit_breaker_failure_threshold",
            ),
            (
                |c| {
                    c.circuit_breaker_enabled = true;
                    c.reliability.circuit_breaker_failure_threshold = 0;
                },
                "reliability.circuit_breaker_failure_threshold",
            ),
            (
                |c| c.reliability.circuit_breaker_recovery_timeout = Duration::ZERO,
                "reliability.circuit_breaker_recovery_timeout",
            ),
            (
                |c| c.reliability.health_check_interval = Duration::ZERO,
                "reliability.health_check_interval",
            ),
            (
                |c| c.reliability.health_check_interval = Duration::MAX,
                "reliability.health_check_interval",
            ),
            (
                |c| c.reliability.health_check_timeout = Duration::ZERO,
                "reliability.health_check_timeout",
            ),
            (
                |c| c.reliability.health_check_timeout = Duration::from_secs(31),
                "reliability.health_check_timeout",
            ),
            (
                |c| c.reliability.retry_max_attempts = MAX_RETRY_ATTEMPTS + 1,
                "reliability.retry_max_attempts",
            ),
            (
                |c| {
                    c.reliability.retry_backoff_strategy = BackoffStrategy::Linear {
                        base_delay: Duration::ZERO,
                    }
                },
                "reliability.retry_backoff_strategy.base_delay",
            ),
            (
                |c| {
                    c.reliability.retry_backoff_strategy = BackoffStrategy::Exponential {
                        base_delay: Duration::from_secs(2),
                        max_delay: Duration::from_secs(1),
                    }
                },
                "reliability.retry_backoff_strategy.base_delay",
            ),
            (
                |c| {
                    c.reliability.retry_backoff_strategy = BackoffStrategy::Fibonacci {
                        base_delay: Duration::from_secs(1),
                        max_delay: Duration::from_secs(25 * 3600),
                    }
                },
                "reliability.retry_backoff_strategy.max_delay",
            ),
        ];
        for (mutate, expected) in cases {
            let mut c = LightningDbConfig::default();
            mutate(&mut c);
            assert_eq!(field_of(c.validate()), *expected, "{c:?}");
        }
    }

    #[test]
    fn boundaries_are_inclusive() {
        let c = LightningDbConfig {
            cache_size: MIN_CACHE_SIZE,
            write_buffer_size: MIN_WRITE_BUFFER_SIZE,
            max_key_size: MAX_KEY_SIZE_LIMIT,
            max_value_size: MAX_VALUE_SIZE_LIMIT,
            durability: Durability::Periodic(MAX_SYNC_INTERVAL_MS),
            block_size: MIN_BLOCK_SIZE,
            bloom_bits_per_key: 0,
            ..Default::default()
        };
        assert_eq!(c.validate(), Ok(()));
        let mut c = LightningDbConfig {
            block_size: MAX_BLOCK_SIZE,
            bloom_bits_per_key: MAX_BLOOM_BITS_PER_KEY,
            durability: Durability::NoSync,
            ..Default::default()
        };
        c.reliability.health_check_timeout = c.reliability.health_check_interval;
        c.reliability.retry_max_attempts = 0;
        assert_eq!(c.validate(), Ok(()));
        // Encryption off: the rotation period is not consulted.
        c.security.key_rotation_days = 0;
        assert_eq!(c.validate(), Ok(()));
        // Breaker off: a zero threshold is harmless.
        c.reliability.circuit_breaker_failure_threshold = 0;
        assert_eq!(c.validate(), Ok(()));
    }

    #[test]
    fn one_sided_pairs_are_accepted_and_reconciled() {
        let mut c = LightningDbConfig {
            integrity_validation_level: IntegrityLevel::Paranoid,
            enable_audit_logging: true,
            enable_self_healing: true,
            circuit_breaker_enabled: true,
            ..Default::default()
        };
        c.security.checksum_algorithm = ChecksumAlgorithm::Blake3;
        c.reliability.deadlock_prevention = false;
        assert_eq!(c.validate(), Ok(()));
        let r = c.reconciled();
        assert_eq!(r.checksum_algorithm, ChecksumAlgorithm::Blake3);
        assert_eq!(r.security.checksum_algorithm, ChecksumAlgorithm::Blake3);
        assert_eq!(r.security.validation_level, ValidationLevel::Paranoid);
        assert_eq!(r.integrity_validation_level, ValidationLevel::Paranoid);
        assert_eq!(r.security.audit_level, AuditLevel::Standard);
        assert!(r.enable_audit_logging);
        assert!(r.reliability.self_healing_enabled && r.enable_self_healing);
        assert!(r.reliability.circuit_breaker_enabled && r.circuit_breaker_enabled);
        assert!(!r.deadlock_prevention_enabled && !r.reliability.deadlock_prevention);
        assert_eq!(r.validate(), Ok(()));
        assert_eq!(r.reconciled(), r);
    }

    #[test]
    fn corruption_and_audit_reconciliation() {
        let mut c = LightningDbConfig {
            fail_on_corruption: false,
            ..Default::default()
        };
        assert_eq!(
            c.reconciled().security.corruption_action,
            CorruptionAction::Log
        );
        c.security.corruption_action = CorruptionAction::Quarantine;
        assert_eq!(
            c.reconciled().security.corruption_action,
            CorruptionAction::Quarantine
        );
        let c = LightningDbConfig {
            security: SecurityConfig {
                corruption_action: CorruptionAction::Repair,
                ..Default::default()
            },
            ..Default::default()
        };
        let r = c.reconciled();
        assert_eq!(r.security.corruption_action, CorruptionAction::Repair);
        assert!(!r.fail_on_corruption);
        assert_eq!(r.reconciled(), r);

        let default = LightningDbConfig::default().reconciled();
        assert!(!default.enable_audit_logging);
        assert_eq!(default.security.audit_level, AuditLevel::Off);
        assert_eq!(default.security.corruption_action, CorruptionAction::Halt);
        assert!(default.fail_on_corruption);
        assert_eq!(default.reconciled(), default);
        assert_eq!(default.validate(), Ok(()));

        let c = LightningDbConfig {
            security: SecurityConfig {
                audit_level: AuditLevel::Comprehensive,
                ..Default::default()
            },
            ..Default::default()
        };
        let r = c.reconciled();
        assert!(r.enable_audit_logging);
        assert_eq!(r.security.audit_level, AuditLevel::Comprehensive);
    }

    #[test]
    fn json_round_trip() {
        let default = LightningDbConfig::default();
        assert_eq!(
            LightningDbConfig::from_json(&default.to_json()),
            Ok(default)
        );

        let mut c = LightningDbConfig::with_path("/var/lib/app/db");
        c.durability = Durability::Periodic(250);
        c.checksum_algorithm = ChecksumAlgorithm::Blake3;
        c.integrity_validation_level = ValidationLevel::Comprehensive;
        c.security.corruption_action = CorruptionAction::Quarantine;
        c.reliability.health_check_timeout = Duration::from_micros(1500);
        c.reliability.circuit_breaker_recovery_timeout = Duration::new(3, 7);
        c.reliability.retry_backoff_strategy = BackoffStrategy::Fibonacci {
            base_delay: Duration::from_millis(10),
            max_delay: Duration::from_secs(1),
        };
        let json = c.to_json();
        assert!(json.contains("\"Periodic\": 250"), "{json}");
        assert!(json.contains("\"1500us\""), "{json}");
        assert!(json.contains("\"3000000007ns\""), "{json}");
        assert!(json.contains("\"base_delay\": \"10ms\""), "{json}");
        assert_eq!(LightningDbConfig::from_json(&json), Ok(c));
    }

    #[test]
    fn partial_json_takes_defaults() {
        let c = LightningDbConfig::from_json(
            r#"{
                "path": "/data/db",
                "cache_size": 1048576,
                "durability": "NoSync",
                "security": { "audit_level": "Comprehensive" },
                "reliability": {
                    "health_check_interval": "1m",
                    "retry_backoff_strategy": { "Linear": { "base_delay": "250ms" } }
                }
            }"#,
        );
        let expected = LightningDbConfig {
            path: "/data/db".into(),
            cache_size: 1 << 20,
            durability: Durability::NoSync,
            security: SecurityConfig {
                audit_level: AuditLevel::Comprehensive,
                ..Default::default()
            },
            reliability: ReliabilityConfig {
                health_check_interval: Duration::from_secs(60),
                retry_backoff_strategy: BackoffStrategy::Linear {
                    base_delay: Duration::from_millis(250),
                },
                ..Default::default()
            },
            ..Default::default()
        };
        assert_eq!(c, Ok(expected));
        assert_eq!(
            LightningDbConfig::from_json("{}"),
            Ok(LightningDbConfig::default())
        );
        let legacy = LightningDbConfig::from_json(
            r#"{"reliability": {"health_check_timeout": {"secs": 2, "nanos": 5}}}"#,
        );
        assert_eq!(
            legacy.map(|c| c.reliability.health_check_timeout),
            Ok(Duration::new(2, 5))
        );
    }

    #[test]
    fn json_errors_name_the_field() {
        assert_eq!(json_field(r#"{"cache_sise": 1}"#), "cache_sise");
        assert_eq!(
            json_field(r#"{"security": {"colour": 1}}"#),
            "security.colour"
        );
        assert_eq!(json_field(r#"{"cache_size": "big"}"#), "cache_size");
        assert_eq!(json_field(r#"{"cache_size": -1}"#), "cache_size");
        assert_eq!(json_field(r#"{"durability": "Sometimes"}"#), "durability");
        assert_eq!(
            json_field(r#"{"reliability": {"health_check_interval": 30}}"#),
            "reliability.health_check_interval"
        );
        assert_eq!(
            json_field(r#"{"reliability": {"health_check_interval": "30 parsecs"}}"#),
            "reliability.health_check_interval"
        );
        assert_eq!(
            json_field(
                r#"{"reliability": {"retry_backoff_strategy": {"Linear": {"base": "1s"}}}}"#
            ),
            "reliability.retry_backoff_strategy"
        );
        assert_eq!(json_field(r#"{"security": 5}"#), "security");
        assert_eq!(
            json_field(r#"{"path": "/a", "enable_statistics": "yes"}"#),
            "enable_statistics"
        );
        assert_eq!(json_field(r#"{"cache_size": 1"#), "json");
        assert_eq!(json_field("[1, 2]"), "json");
        assert_eq!(json_field(""), "json");

        let err = LightningDbConfig::from_json(r#"{"cache_sise": 1}"#);
        assert!(matches!(
            err,
            Err(DatabaseError::ConfigurationError { ref reason, .. }) if reason.contains("unknown field")
        ));
    }

    #[test]
    fn duration_text_format() {
        use duration_serde::{format, parse};
        let cases = [
            ("0s", Duration::ZERO),
            ("30s", Duration::from_secs(30)),
            ("100ms", Duration::from_millis(100)),
            ("250us", Duration::from_micros(250)),
            ("7ns", Duration::from_nanos(7)),
        ];
        for (text, value) in cases {
            assert_eq!(format(value), text);
            assert_eq!(parse(text), Ok(value));
        }
        assert_eq!(parse("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse("2min"), Ok(Duration::from_secs(120)));
        assert_eq!(parse("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse(" 5 s "), Ok(Duration::from_secs(5)));
        assert_eq!(parse("3µs"), Ok(Duration::from_micros(3)));
        for bad in [
            "",
            "s",
            "10",
            "1.5s",
            "-1s",
            "10 parsecs",
            "99999999999999999999999h",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
        assert_eq!(parse(&format(Duration::MAX)), Ok(Duration::MAX));
    }

    #[test]
    fn backoff_sequences_are_exact() {
        let ms = Duration::from_millis;
        let linear = BackoffStrategy::Linear {
            base_delay: ms(100),
        };
        let got: Vec<_> = (0..4).map(|a| linear.delay_for_attempt(a)).collect();
        assert_eq!(got, [ms(100), ms(200), ms(300), ms(400)]);
        assert_eq!(
            linear.delay_for_attempt(u32::MAX),
            ms(100).saturating_mul(u32::MAX)
        );

        let exponential = BackoffStrategy::default();
        let got: Vec<_> = (0..10).map(|a| exponential.delay_for_attempt(a)).collect();
        let expected = [100, 200, 400, 800, 1600, 3200, 6400, 12800, 25600, 30000].map(ms);
        assert_eq!(got, expected);
        for attempt in [31, 32, 33, 1000, u32::MAX] {
            assert_eq!(
                exponential.delay_for_attempt(attempt),
                Duration::from_secs(30)
            );
        }

        let fibonacci = BackoffStrategy::Fibonacci {
            base_delay: ms(10),
            max_delay: Duration::from_secs(1),
        };
        let got: Vec<_> = (0..13).map(|a| fibonacci.delay_for_attempt(a)).collect();
        let expected = [10, 10, 20, 30, 50, 80, 130, 210, 340, 550, 890, 1000, 1000].map(ms);
        assert_eq!(got, expected);
        assert_eq!(
            fibonacci.delay_for_attempt(u32::MAX),
            Duration::from_secs(1)
        );

        let uncapped = BackoffStrategy::Fibonacci {
            base_delay: Duration::from_nanos(1),
            max_delay: Duration::MAX,
        };
        assert_eq!(uncapped.delay_for_attempt(10), Duration::from_nanos(89));
        assert_eq!(
            uncapped.delay_for_attempt(u32::MAX),
            Duration::from_nanos(u64::from(u32::MAX))
        );
    }

    #[test]
    fn checksum_ids_are_stable() {
        assert_eq!(ChecksumAlgorithm::Blake3.id(), 1);
        assert_eq!(ChecksumAlgorithm::Xxh64.id(), 2);
        assert_eq!(ChecksumAlgorithm::Crc32.id(), 3);
        for algorithm in [
            ChecksumAlgorithm::Blake3,
            ChecksumAlgorithm::Xxh64,
            ChecksumAlgorithm::Crc32,
        ] {
            assert_eq!(ChecksumAlgorithm::from_id(algorithm.id()), Some(algorithm));
        }
        assert_eq!(ChecksumAlgorithm::from_id(0), None);
        assert_eq!(ChecksumAlgorithm::from_id(4), None);
        assert_eq!(ChecksumAlgorithm::default(), ChecksumAlgorithm::Xxh64);
    }

    #[test]
    fn validation_level_parses_case_insensitively() {
        assert_eq!("PARANOID".parse(), Ok(ValidationLevel::Paranoid));
        assert_eq!("basic".parse(), Ok(ValidationLevel::Basic));
        assert_eq!(" Standard ".parse(), Ok(ValidationLevel::Standard));
        assert_eq!("comprehensive".parse(), Ok(IntegrityLevel::Comprehensive));
        let err = "extreme".parse::<ValidationLevel>();
        assert!(matches!(err, Err(DatabaseError::InvalidArgument { .. })));
        for level in [
            ValidationLevel::Basic,
            ValidationLevel::Standard,
            ValidationLevel::Comprehensive,
            ValidationLevel::Paranoid,
        ] {
            assert_eq!(level.to_string().parse(), Ok(level));
        }
        assert!(ValidationLevel::Paranoid > ValidationLevel::Comprehensive);
        assert!(ValidationLevel::Basic < ValidationLevel::Standard);
    }

    #[test]
    fn enum_defaults() {
        assert_eq!(Durability::default(), Durability::Sync);
        assert_eq!(ValidationLevel::default(), ValidationLevel::Standard);
        assert_eq!(CorruptionAction::default(), CorruptionAction::Halt);
        assert_eq!(AuditLevel::default(), AuditLevel::Standard);
    }
}
