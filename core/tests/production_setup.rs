//! The API reference's "Production Setup Example" run as shipped in
//! `examples/rust/reference_production_setup.rs` (its only deviations: `AsyncDatabase` and a
//! `path`), then the same setup with work done through it, checking that every figure it
//! could print moves with that work: the operations the process-wide `MetricsCollector`
//! counts, read and write percentiles, throughput, the database folder's size, each health
//! check's status, and the breaker's and the retry manager's counts. Reads that resolve
//! in place (memtable, block cache) and reads that go to the thread pool are both counted.
//!
//! The two tests run one at a time: `MetricsCollector::new()` and the built-in checks'
//! `new()` watch every database open in the process.
#![cfg(feature = "async")]

use std::sync::Mutex;

static SERIAL: Mutex<()> = Mutex::new(());

mod example {
    include!("../../examples/rust/reference_production_setup.rs");

    #[test]
    fn the_production_setup_example_runs_as_shipped() {
        let _serial = super::SERIAL.lock().unwrap_or_else(|e| e.into_inner());
        let folder =
            std::env::temp_dir().join(format!("lightning-production-{}", std::process::id()));
        let outcome = main().map_err(|e| e.to_string());
        let _ = std::fs::remove_dir_all(&folder);
        outcome.expect("the example runs");
    }
}

use lightning_db::*;

const VALUE_LEN: usize = 512;

/// `VALUE_LEN` bytes that do not compress (an xorshift stream seeded by `i`), so the
/// table files grow by what was written.
fn value_of(i: usize) -> Vec<u8> {
    let mut x = 0x9E37_79B9_7F4A_7C15u64 ^ (i as u64 + 1);
    (0..VALUE_LEN)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

#[test]
fn the_production_setup_figures_move_with_work() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .expect("runtime")
        .block_on(figures_move_with_work());
}

async fn figures_move_with_work() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = LightningDbConfig {
        path: dir.path().to_path_buf(),
        integrity_validation_level: IntegrityLevel::Paranoid,
        enable_audit_logging: true,
        fail_on_corruption: true,
        enable_health_monitoring: true,
        enable_self_healing: true,
        deadlock_prevention_enabled: true,
        circuit_breaker_enabled: true,
        cache_size: 8 * 1024 * 1024 * 1024,
        compression_enabled: true,
        enable_statistics: true,
        ..Default::default()
    };
    let db = AsyncDatabase::new_with_config(config).await.expect("open");
    let health_monitor = HealthMonitor::new(vec![
        Box::new(DataIntegrityCheck::new()),
        Box::new(ResourceCheck::new()),
        Box::new(PerformanceCheck::new()),
    ]);
    let _monitor_handle = health_monitor
        .start_monitoring(Duration::from_secs(30))
        .expect("monitor");
    let metrics_collector = MetricsCollector::new();
    // As the example: the handle is dropped, so the figures below are measured on demand.
    let _ = metrics_collector
        .start_collection(Duration::from_secs(10))
        .expect("collect");
    let auto_recovery = AutoRecoveryManager::new(RecoveryConfig::default());
    let circuit_breaker = CircuitBreaker::new(CircuitBreakerConfig::default());

    let before = metrics_collector.get_performance_metrics();
    assert_eq!(before.databases, 1, "only this test's database is open");

    // Writes and reads through the breaker and the retries, as the example's read.
    const N: usize = 400;
    for i in 0..N {
        let key = format!("key{i:05}");
        let value = value_of(i);
        circuit_breaker
            .call(|| {
                auto_recovery.execute_with_recovery(
                    || async { db.put(key.as_bytes(), &value).await },
                    "database_write",
                )
            })
            .await
            .expect("put");
    }
    // Answered in place, from the memtable.
    for i in 0..N {
        let key = format!("key{i:05}");
        let result = circuit_breaker
            .call(|| {
                auto_recovery.execute_with_recovery(
                    || async { db.get(key.as_bytes()).await },
                    "database_read",
                )
            })
            .await
            .expect("get");
        assert_eq!(result, Some(value_of(i)));
    }
    // From table files: on the thread pool when the block is not in memory.
    db.flush().await.expect("flush");
    for i in (0..N).step_by(3) {
        let key = format!("key{i:05}");
        assert_eq!(
            db.get(key.as_bytes()).await.expect("get"),
            Some(value_of(i))
        );
    }
    assert_eq!(db.get(b"absent").await.expect("get"), None);

    let after = metrics_collector.get_performance_metrics();
    assert!(
        after.operations >= before.operations + 2 * N as u64,
        "{} then {}",
        before.operations,
        after.operations
    );
    assert!(after.latency_samples > before.latency_samples);
    assert!(after.read_latency_p50 > Duration::ZERO);
    assert!(after.read_latency_p99 >= after.read_latency_p50);
    assert!(after.write_latency_p50 > Duration::ZERO);
    assert!(after.write_latency_p99 >= after.write_latency_p50);
    assert!(after.read_throughput > 0 && after.write_throughput > 0);
    assert!(after.mixed_workload_throughput >= after.read_throughput);
    assert!(
        after.disk_usage > before.disk_usage + (N * VALUE_LEN / 2) as u64,
        "{} then {}",
        before.disk_usage,
        after.disk_usage
    );
    assert!(after.memory_usage > 0);
    assert_eq!(after.error_rate, 0.0);
    assert!(after.availability > 0.99);
    assert!((0.0..=1.0).contains(&after.cache_hit_rate));
    assert!(after.performance_score() > 0.0);
    println!("{}", after.to_json());

    // The database's own view agrees: every read counted, in place or not.
    let stats = db.stats().await;
    assert!(stats.gets >= (N + N / 3) as u64, "{}", stats.gets);
    assert!(stats.puts >= N as u64);
    assert!(db.metrics().await.read_latency_p50 > Duration::ZERO);

    // Each check reports on this database.
    let report = health_monitor.run_once();
    assert_eq!(report.checks.len(), 3);
    for check in &report.checks {
        assert!(
            !matches!(check.status, HealthStatus::Unknown),
            "{}: {:?}",
            check.name,
            check.note
        );
    }
    assert!(report
        .check("integrity")
        .is_some_and(|c| c.status.is_healthy()));
    let own = db.health().await;
    assert_eq!(own.checks.len(), 3);

    let breaker = circuit_breaker.stats();
    assert_eq!(breaker.calls, 2 * N as u64);
    assert_eq!(breaker.successes, 2 * N as u64);
    let retries = auto_recovery.stats();
    assert_eq!(retries.operations, 2 * N as u64);
    assert_eq!(retries.retries, 0);
    assert_eq!(
        retries.last_run.map(|r| r.operation),
        Some("database_read".to_string())
    );

    db.close().await.expect("close");
}

// The reference's "Structured Error Handling" example over `AsyncDatabase` results: its
// `use` line and match arms as written, with its logging and helpers made real (standard
// error, a retry through `AutoRecoveryManager`).
mod structured_errors {
    use lightning_db::{AsyncDatabase, AutoRecoveryManager, RecoveryConfig};
    use lightning_db::{DatabaseError, ReliabilityError, SecurityError};

    #[derive(Debug)]
    pub enum ApplicationError {
        SecurityViolation,
        DataCorruption,
        DatabaseError(DatabaseError),
    }

    /// The example's `match`, on the outcome of `operation`; `retry` is its
    /// `retry_with_backoff(|| database.operation())`.
    async fn handle_database_operation<F, Fut>(
        operation: F,
        retry: &AutoRecoveryManager,
    ) -> Result<(), ApplicationError>
    where
        F: Fn() -> Fut + Send + Sync,
        Fut: std::future::Future<Output = Result<(), DatabaseError>> + Send,
    {
        match operation().await {
            Ok(result) => Ok(result),

            // Security errors - halt immediately
            Err(DatabaseError::SecurityError(security_error)) => {
                let security_error: SecurityError = security_error;
                eprintln!("Security violation detected: {}", security_error);
                Err(ApplicationError::SecurityViolation)
            }

            // Data corruption - attempt recovery
            Err(DatabaseError::DataCorruption {
                component,
                details,
                recovery_possible,
            }) => {
                eprintln!("Data corruption in {}: {}", component, details);
                let _ = recovery_possible;
                Err(ApplicationError::DataCorruption)
            }

            // Retryable errors - use exponential backoff
            Err(e) if e.is_retryable() => {
                eprintln!("Retryable error: {}. Attempting retry...", e);
                retry
                    .execute_with_recovery(&operation, "retry_with_backoff")
                    .await
                    .map_err(ApplicationError::DatabaseError)
            }

            // Non-retryable errors - fail gracefully
            Err(e) => {
                eprintln!("Database operation failed: {}", e);
                if let Some(action) = e.suggested_action() {
                    eprintln!("Suggested action: {}", action);
                }
                Err(ApplicationError::DatabaseError(e))
            }
        }
    }

    #[test]
    fn the_structured_error_handling_arms_take_real_errors() {
        let dir = tempfile::tempdir().expect("tempdir");
        let retry = AutoRecoveryManager::new(RecoveryConfig::default());
        futures_lite::future::block_on(async {
            let db = AsyncDatabase::open(dir.path(), Default::default())
                .await
                .expect("open");
            // Ok.
            handle_database_operation(|| db.put(b"k", b"v"), &retry)
                .await
                .expect("a plain write");

            // Retryable: the first attempt's transaction conflicts with a write made after
            // it began; the retry (a fresh transaction) commits.
            let attempts = std::sync::atomic::AtomicUsize::new(0);
            let conflicting = || async {
                let mut tx = db.begin_transaction()?;
                let _ = tx.get(b"counter")?;
                if attempts.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0 {
                    db.put(b"counter", b"someone else").await?;
                }
                tx.put(b"counter", b"mine")?;
                tx.commit_async().await
            };
            handle_database_operation(conflicting, &retry)
                .await
                .expect("retried");
            assert_eq!(attempts.load(std::sync::atomic::Ordering::SeqCst), 2);
            assert_eq!(
                db.get(b"counter").await.expect("get"),
                Some(b"mine".to_vec())
            );

            // Not retryable: refused with its suggested action.
            match handle_database_operation(|| db.put(b"", b"v"), &retry).await {
                Err(ApplicationError::DatabaseError(e)) => {
                    assert!(matches!(e, DatabaseError::EmptyKey));
                    assert!(!e.is_retryable() && e.suggested_action().is_some());
                }
                other => panic!("{other:?}"),
            }
            // The reliability layer's own errors convert into `DatabaseError`s these arms take.
            let refused: DatabaseError = ReliabilityError::CircuitBreakerOpen {
                service: "database".into(),
                retry_after: std::time::Duration::from_secs(1),
            }
            .into();
            assert!(matches!(refused, DatabaseError::CircuitBreakerOpen { .. }));
            db.close().await.expect("close");
        });
    }
}
