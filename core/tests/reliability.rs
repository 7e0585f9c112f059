//! The reliability layer against a real database: the API reference's snippets for the
//! auto-recovery manager and the circuit breaker, compiled and run as written (with `db.put`
//! and `db.get` inside async blocks, and `AsyncDatabase`'s futures under the `async` feature),
//! then a breaker guarding a database whose disk fails, and retries of real transaction
//! conflicts. Time is a `ManualClock` wherever a test waits; nothing asserts a wall-clock
//! timing.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use lightning_db::testing::{FaultPlan, OpKind, SimFileSystem};
use lightning_db::{
    AutoRecoveryManager, BackoffStrategy, CircuitBreaker, CircuitBreakerConfig, CircuitState,
    Database, LightningDbConfig, ManualClock, RecoveryConfig, RecoveryOutcome,
};
// As the reference's error-handling best practices import them.
use lightning_db::{DatabaseError, ReliabilityError, SecurityError};

fn temp_db() -> (tempfile::TempDir, Database) {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Database::open(dir.path(), LightningDbConfig::default()).expect("open");
    (dir, db)
}

/// The reference's "Auto-Recovery API" snippet.
#[test]
fn the_reference_recovery_manager_snippet() {
    let recovery_config = RecoveryConfig {
        max_retries: 3,
        backoff_strategy: BackoffStrategy::Exponential {
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(30),
        },
        enable_rollback: true,
        timeout_per_stage: Duration::from_secs(60),
    };

    let recovery_manager = AutoRecoveryManager::new(recovery_config);
    assert_eq!(recovery_manager.config(), recovery_config);
    assert_eq!(RecoveryConfig::default().max_retries, 3);
}

/// The reference's "Circuit Breaker API" snippet, in a function returning
/// `Result<_, DatabaseError>` so that `?` takes the breaker's refusal as a `DatabaseError`.
#[allow(clippy::let_unit_value)] // the snippet as the reference writes it
async fn protected_write(
    circuit_breaker: &CircuitBreaker,
    database: &Database,
    key: &[u8],
    value: &[u8],
) -> Result<(), DatabaseError> {
    // Use circuit breaker to protect operations
    let result = circuit_breaker
        .call(|| async {
            // Protected operation
            database.put(key, value)
        })
        .await?;
    Ok(result)
}

#[test]
fn the_reference_circuit_breaker_snippet() {
    let (_dir, database) = temp_db();
    let circuit_breaker = CircuitBreaker::new(CircuitBreakerConfig {
        failure_threshold: 5,
        recovery_timeout: Duration::from_secs(30),
        half_open_max_calls: 3,
    });
    futures_lite::future::block_on(protected_write(&circuit_breaker, &database, b"k", b"v"))
        .expect("write");
    assert_eq!(database.get(b"k").expect("get"), Some(b"v".to_vec()));

    // The reference's states, matched as it declares them.
    let described = match circuit_breaker.state() {
        CircuitState::Closed {
            failure_count,
            last_failure_time,
        } => format!("closed, {failure_count} failures, last at {last_failure_time:?}"),
        CircuitState::Open { opened_at } => format!("open since {opened_at:?}"),
        CircuitState::HalfOpen {
            success_count,
            failure_count,
        } => format!("half-open: {success_count} ok, {failure_count} failed"),
    };
    assert_eq!(described, "closed, 0 failures, last at None");
    assert_eq!(circuit_breaker.failure_rate(), 0.0);
    assert!(!circuit_breaker.is_open());
    assert_eq!(circuit_breaker.time_until_retry(), None);
}

/// The "Production Setup Example": a breaker around a recovering read, under tokio.
#[tokio::test]
async fn the_reference_production_composition_under_tokio() {
    let (_dir, db) = temp_db();
    db.put(b"key", b"value").expect("put");
    let auto_recovery = AutoRecoveryManager::new(RecoveryConfig::default());
    let circuit_breaker = CircuitBreaker::new(CircuitBreakerConfig::default());

    // Protected database operations
    let result = circuit_breaker
        .call(|| auto_recovery.execute_with_recovery(|| async { db.get(b"key") }, "database_read"))
        .await
        .expect("read");
    assert_eq!(result, Some(b"value".to_vec()));
    let run = auto_recovery.stats().last_run.expect("run");
    assert_eq!(run.operation, "database_read");
    assert_eq!(run.outcome, RecoveryOutcome::Succeeded);
}

/// The same composition with no runtime at all.
#[test]
fn the_reference_production_composition_under_block_on() {
    let (_dir, db) = temp_db();
    let auto_recovery = AutoRecoveryManager::new(RecoveryConfig::default());
    let circuit_breaker = CircuitBreaker::new(CircuitBreakerConfig::default());
    let result: Result<(), Box<dyn std::error::Error + Send + Sync>> =
        futures_lite::future::block_on(async {
            circuit_breaker
                .call(|| {
                    auto_recovery
                        .execute_with_recovery(|| async { db.put(b"a", b"1") }, "database_write")
                })
                .await?;
            Ok(())
        });
    result.expect("write");
    assert_eq!(db.get(b"a").expect("get"), Some(b"1".to_vec()));
}

/// With the `async` feature, the protected operations are `AsyncDatabase` futures, as the
/// reference's snippets write them (`.await` inside the protected closure).
#[cfg(feature = "async")]
#[tokio::test]
async fn the_database_futures_behind_a_breaker_and_retries() {
    let dir = tempfile::tempdir().expect("tempdir");
    let database = lightning_db::AsyncDatabase::open(dir.path(), LightningDbConfig::default())
        .await
        .expect("open");
    let circuit_breaker = CircuitBreaker::new(CircuitBreakerConfig::default());
    let auto_recovery = AutoRecoveryManager::new(RecoveryConfig::default());
    circuit_breaker
        .call(|| async { database.put(b"key", b"value").await })
        .await
        .expect("put");
    let value = circuit_breaker
        .call(|| {
            auto_recovery
                .execute_with_recovery(|| async { database.get(b"key").await }, "database_read")
        })
        .await
        .expect("get");
    assert_eq!(value, Some(b"value".to_vec()));
}

fn sim_config() -> LightningDbConfig {
    LightningDbConfig {
        write_buffer_size: 64 * 1024,
        block_size: 1024,
        cache_size: 256 * 1024,
        ..Default::default()
    }
}

const SIM_DB: &str = "/reliability-db";

/// A breaker guarding writes to a database whose disk starts failing: the failures open
/// it, it refuses calls without touching the database, a trial after the recovery timeout
/// finds the database still broken and reopens it, and once the disk is healthy and the
/// database reopened, trial calls close it again.
#[test]
fn a_breaker_guards_a_database_whose_disk_fails() {
    let sim = SimFileSystem::new();
    let mut db = Database::open_with_fs(SIM_DB, sim_config(), sim.handle()).expect("open");
    let clock = ManualClock::new();
    let breaker = CircuitBreaker::with_clock(
        CircuitBreakerConfig {
            failure_threshold: 3,
            recovery_timeout: Duration::from_secs(30),
            half_open_max_calls: 2,
        },
        Arc::new(clock.clone()),
    )
    .named("database");

    breaker
        .call_blocking(|| db.put(b"before", b"ok"))
        .expect("healthy write");

    // Every write to the log fails from now on.
    sim.set_fault(Some(
        FaultPlan::from_nth(1).only(&[OpKind::Append, OpKind::Sync]),
    ));
    for i in 0..3 {
        let err = breaker
            .call_blocking(|| db.put(format!("k{i}").as_bytes(), b"v"))
            .expect_err("the disk fails");
        assert!(
            matches!(
                err,
                DatabaseError::Io { .. } | DatabaseError::Poisoned { .. }
            ),
            "{err:?}"
        );
    }
    assert!(breaker.is_open());

    // Open: refused without reaching the database.
    let attempted = AtomicUsize::new(0);
    let refused = breaker
        .call_blocking(|| {
            attempted.fetch_add(1, Ordering::SeqCst);
            db.put(b"refused", b"v")
        })
        .expect_err("refused");
    assert_eq!(attempted.load(Ordering::SeqCst), 0);
    assert_eq!(
        refused,
        DatabaseError::CircuitBreakerOpen {
            service: "database".into(),
            retry_after: Duration::from_secs(30),
        }
    );
    assert_eq!(
        refused.error_code(),
        lightning_db::codes::CIRCUIT_BREAKER_OPEN
    );
    assert!(refused.is_retryable());

    // After the recovery timeout a trial runs; the database is still broken: open again.
    clock.advance(Duration::from_secs(30));
    assert!(matches!(breaker.state(), CircuitState::HalfOpen { .. }));
    assert!(breaker.call_blocking(|| db.put(b"trial", b"v")).is_err());
    assert!(breaker.is_open());

    // The disk heals; the poisoned database is reopened; the trials succeed and close it.
    sim.set_fault(None);
    drop(db);
    db = Database::open_with_fs(SIM_DB, sim_config(), sim.handle()).expect("reopen");
    clock.advance(Duration::from_secs(30));
    breaker
        .call_blocking(|| db.put(b"after", b"ok"))
        .expect("first trial");
    assert_eq!(
        breaker.state(),
        CircuitState::HalfOpen {
            success_count: 1,
            failure_count: 0
        }
    );
    breaker
        .call_blocking(|| db.put(b"after2", b"ok"))
        .expect("second trial");
    assert_eq!(
        breaker.state(),
        CircuitState::Closed {
            failure_count: 0,
            last_failure_time: None
        }
    );
    assert_eq!(db.get(b"before").expect("get"), Some(b"ok".to_vec()));
    assert_eq!(db.get(b"after2").expect("get"), Some(b"ok".to_vec()));
    let stats = breaker.stats();
    assert_eq!(stats.times_opened, 2);
    assert_eq!(stats.rejections, 1);
}

/// Real optimistic-transaction conflicts are retryable: the manager retries the whole
/// transaction with backoff until it commits.
#[test]
fn conflicting_transactions_are_retried_until_they_commit() {
    let (_dir, db) = temp_db();
    db.put(b"counter", b"0").expect("seed");
    let clock = ManualClock::new();
    let manager = AutoRecoveryManager::with_clock(
        RecoveryConfig {
            max_retries: 5,
            backoff_strategy: BackoffStrategy::Linear {
                base_delay: Duration::from_millis(10),
            },
            ..RecoveryConfig::default()
        },
        Arc::new(clock.clone()),
    );
    let interferences = AtomicUsize::new(0);
    let increment = || -> Result<(), DatabaseError> {
        let mut tx = db.begin_transaction()?;
        let current: u64 = String::from_utf8(tx.get(b"counter")?.unwrap_or_default())
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        // Another writer gets in between the read and the commit, twice.
        if interferences.fetch_add(1, Ordering::SeqCst) < 2 {
            db.put(b"counter", (current + 100).to_string().as_bytes())?;
        }
        tx.put(b"counter", (current + 1).to_string().as_bytes())?;
        tx.commit()
    };
    manager
        .execute_with_recovery_blocking(increment, "increment")
        .expect("committed");
    assert_eq!(db.get(b"counter").expect("get"), Some(b"201".to_vec()));
    let run = manager.stats().last_run.expect("run");
    assert_eq!(run.attempts, 3);
    assert_eq!(
        run.delays,
        vec![Duration::from_millis(10), Duration::from_millis(20)]
    );
    assert_eq!(clock.sleeps(), run.delays);
}

/// A non-retryable database error is returned as it came, on the first attempt.
#[test]
fn a_non_retryable_database_error_is_not_retried() {
    let (_dir, db) = temp_db();
    let manager =
        AutoRecoveryManager::with_clock(RecoveryConfig::default(), Arc::new(ManualClock::new()));
    let calls = AtomicUsize::new(0);
    let err = futures_lite::future::block_on(manager.execute_with_recovery(
        || {
            calls.fetch_add(1, Ordering::SeqCst);
            async { db.put(b"", b"empty key") }
        },
        "bad write",
    ))
    .expect_err("empty key");
    assert_eq!(err, DatabaseError::EmptyKey);
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

/// `ReliabilityError` is a real type beside `DatabaseError` and `SecurityError`.
#[test]
fn reliability_errors_convert_into_database_errors() {
    fn guarded() -> Result<(), DatabaseError> {
        Err(ReliabilityError::Timeout {
            operation: "health check".into(),
            elapsed: Duration::from_secs(5),
        })?
    }
    let err = guarded().expect_err("timeout");
    assert_eq!(err.error_code(), lightning_db::codes::TIMEOUT);
    assert!(matches!(err, DatabaseError::Timeout { .. }));
    let security: Option<SecurityError> = None;
    assert!(security.is_none());
}
