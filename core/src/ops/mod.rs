//! The operational layer: tools that sit above the [`Database`](crate::Database) facade and
//! make the code calling it resilient, without being threaded through the engine.
//!
//! - [`CircuitBreaker`] stops calling a failing service for a while and then tries it again
//!   with a few trial calls ([`CircuitState`] says where it stands);
//! - [`AutoRecoveryManager`] retries failed operations whose errors are
//!   [retryable](crate::RetryableError), waiting a [`BackoffStrategy`](crate::BackoffStrategy)
//!   delay (optionally with [`Jitter`]) between attempts and limiting each attempt in time;
//! - [`Clock`](crate::Clock) is where both get the time and how they wait: [`SystemClock`](crate::SystemClock) for real,
//!   [`ManualClock`](crate::ManualClock) in tests, which stands still until moved, so every state transition and
//!   backoff schedule is tested without sleeping.
//!
//! Both work with any error type (their refusals and timeouts are
//! [`ReliabilityError`](crate::ReliabilityError)s, which become
//! [`DatabaseError`](crate::DatabaseError)s with 3xx codes) and both have a synchronous
//! form beside the async one. The async forms need no particular runtime: they run under
//! tokio, async-std, smol or `futures_lite::future::block_on`, and their waiting is done by a
//! small timer thread shared by the process, never by blocking the executor.
//!
//! They compose as the API reference shows: a breaker around a recovering operation.
//!
//! ```
//! use lightning_db::{
//!     AutoRecoveryManager, CircuitBreaker, CircuitBreakerConfig, Database, DatabaseError,
//!     LightningDbConfig, RecoveryConfig,
//! };
//! # let dir = tempfile::tempdir().unwrap();
//! let db = Database::open(dir.path(), LightningDbConfig::default())?;
//! let auto_recovery = AutoRecoveryManager::new(RecoveryConfig::default());
//! let circuit_breaker = CircuitBreaker::new(CircuitBreakerConfig::default());
//! let result = futures_lite::future::block_on(circuit_breaker.call(|| {
//!     auto_recovery.execute_with_recovery(|| async { db.get(b"key") }, "database_read")
//! }))?;
//! assert_eq!(result, None);
//! # Ok::<(), DatabaseError>(())
//! ```

mod retry;

// The breaker's state machine lives in a low layer (`crate::breaker`) so that the engine
// can guard its own I/O with it; it is part of this layer's public surface all the same.
pub use crate::breaker::{CircuitBreaker, CircuitBreakerConfig, CircuitBreakerStats, CircuitState};
pub use retry::{
    AutoRecoveryManager, Jitter, RecoveryConfig, RecoveryOutcome, RecoveryRun, RecoveryStats,
};
