// The API reference's "Production Setup Example" as written there, but for its two
// deviations (README): `Database` is `AsyncDatabase`, and the config names a `path`.
// Shared by the `production_setup` example and `core/tests/production_setup.rs`.
use lightning_db::*;

// `result` unused and the collection handle dropped, as the reference leaves them.
#[allow(unused_variables, unused_must_use)]
#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Configure for production with all reliability features
    let config = LightningDbConfig {
        path: std::env::temp_dir().join(format!("lightning-production-{}", std::process::id())),

        // Security settings
        integrity_validation_level: IntegrityLevel::Paranoid,
        enable_audit_logging: true,
        fail_on_corruption: true,

        // Reliability settings
        enable_health_monitoring: true,
        enable_self_healing: true,
        deadlock_prevention_enabled: true,
        circuit_breaker_enabled: true,

        // Performance settings
        cache_size: 8 * 1024 * 1024 * 1024, // 8GB
        compression_enabled: true,
        enable_statistics: true,

        ..Default::default()
    };

    // Initialize database
    let db = AsyncDatabase::new_with_config(config).await?;

    // Start health monitoring
    let health_monitor = HealthMonitor::new(vec![
        Box::new(DataIntegrityCheck::new()),
        Box::new(ResourceCheck::new()),
        Box::new(PerformanceCheck::new()),
    ]);
    let _monitor_handle = health_monitor.start_monitoring(Duration::from_secs(30))?;

    // Start metrics collection
    let metrics_collector = MetricsCollector::new();
    metrics_collector.start_collection(Duration::from_secs(10))?;

    // Use database with automatic retry and circuit breaker protection
    let auto_recovery = AutoRecoveryManager::new(RecoveryConfig::default());
    let circuit_breaker = CircuitBreaker::new(CircuitBreakerConfig::default());

    // Protected database operations
    let result = circuit_breaker
        .call(|| {
            auto_recovery.execute_with_recovery(|| async { db.get(b"key").await }, "database_read")
        })
        .await?;

    println!("Database operation completed successfully");

    Ok(())
}
