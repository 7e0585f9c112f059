//! The database handle's monitoring surface: its performance metrics and health, the
//! built-in health monitoring `enable_health_monitoring` runs, and the `for_database`
//! constructors of the monitors that watch one database.

use std::sync::Arc;

use parking_lot::Mutex;

use super::Database;
use crate::engine::DbInner;
use crate::error::DatabaseError;
use crate::integrity::CorruptionMonitor;
use crate::monitor::{
    builtin_checks, DataIntegrityCheck, HealthMonitor, HealthReport, MetricsCollector,
    MonitorHandle, PerformanceCheck, PerformanceMetrics, ResourceCheck, SlaThresholds, Target,
    Window,
};
use crate::stats::DbStats;

/// A database's own metrics window and health monitor.
pub(super) struct Monitoring {
    window: Mutex<Window>,
    /// The built-in checks of this database, run by its own thread with
    /// `enable_health_monitoring`, else on demand by `health()`.
    health: HealthMonitor,
    running: Mutex<Option<MonitorHandle>>,
}

impl Monitoring {
    /// Builds the database's monitor and, with `enable_health_monitoring`, starts it
    /// (every `reliability.health_check_interval`, each check bounded by
    /// `reliability.health_check_timeout`).
    pub(super) fn start(
        inner: &Arc<DbInner>,
        corruption: &Arc<CorruptionMonitor>,
    ) -> Result<Self, DatabaseError> {
        let rc = &inner.config.reliability;
        let mut health = HealthMonitor::new(builtin_checks(inner))
            .with_timeout(rc.health_check_timeout)
            .with_clock(Arc::clone(&inner.clock));
        if inner.config.enable_self_healing || rc.auto_remediation_enabled {
            health = health.after_each_round(super::healing::after_round(inner, corruption));
        }
        let running = if inner.config.enable_health_monitoring {
            Some(health.start_monitoring(rc.health_check_interval)?)
        } else {
            None
        };
        Ok(Self {
            window: Mutex::new(Window::new()),
            health,
            running: Mutex::new(running),
        })
    }

    /// Stops the health monitoring thread and waits for it (before the engine shuts
    /// down).
    pub(super) fn stop(&self) {
        self.running.lock().take();
        self.health.stop_monitoring();
    }

    /// The metrics of `inner` over the window, and its statistics of now.
    fn measure(&self, inner: &Arc<DbInner>) -> (PerformanceMetrics, DbStats) {
        let (m, mut stats) = self
            .window
            .lock()
            .measure(std::slice::from_ref(inner), SlaThresholds::default());
        let s = stats.pop().unwrap_or_else(|| inner.stats());
        (m, s)
    }

    /// Statistics with the throughput of the window.
    pub(super) fn stats(&self, inner: &Arc<DbInner>) -> DbStats {
        let (m, mut s) = self.measure(inner);
        s.read_throughput = m.read_throughput;
        s.write_throughput = m.write_throughput;
        s.mixed_workload_throughput = m.mixed_workload_throughput;
        s.throughput_interval = m.interval;
        s
    }
}

impl Database {
    /// This database's [`PerformanceMetrics`] now: latency percentiles, throughput,
    /// cache hit rate, memory, disk and CPU use, error rate, availability and the last
    /// open's recovery time (see [`PerformanceMetrics`] for how each is measured).
    ///
    /// The interval is the database's own: from the sample taken at least a second
    /// before (at open for the first second), so metrics read often still cover a
    /// second or more.
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = lightning_db::Database::open(dir.path(), Default::default()).unwrap();
    /// db.put(b"k", b"v")?;
    /// let m = db.metrics();
    /// assert!(m.write_throughput > 0 && m.write_latency_p50 > std::time::Duration::ZERO);
    /// assert!(m.disk_usage > 0);
    /// # Ok::<(), lightning_db::DatabaseError>(())
    /// ```
    pub fn metrics(&self) -> PerformanceMetrics {
        self.monitoring.measure(&self.inner).0
    }

    /// The latest result of each built-in health check of this database (`integrity`,
    /// `resources`, `performance`) with its remediation, and the engine's self-checks.
    ///
    /// With `enable_health_monitoring` the database runs the checks itself every
    /// `reliability.health_check_interval` (each bounded by
    /// `reliability.health_check_timeout`: an overrun is `Unknown`) and this returns the
    /// latest round. Without it, each call runs one round now. The integrity check
    /// verifies a bounded number of blocks per round, resuming where the last round
    /// stopped, so repeated rounds cover the whole database.
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = lightning_db::Database::open(dir.path(), Default::default()).unwrap();
    /// let report = db.health();
    /// assert_eq!(report.checks.len(), 3);
    /// assert!(report.check("integrity").is_some_and(|c| c.status.is_healthy()));
    /// # Ok::<(), lightning_db::DatabaseError>(())
    /// ```
    pub fn health(&self) -> HealthReport {
        let mut report = if self.monitoring.running.lock().is_some() {
            self.monitoring.health.report()
        } else {
            self.monitoring.health.run_once()
        };
        report.engine = Some(self.inner.stats().health());
        report.self_healing = self.inner.healing.stats().recent;
        report
    }
}

impl MetricsCollector {
    /// A collector of the one database `db` (it measures nothing once `db` is closed).
    pub fn for_database(db: &Database) -> Self {
        MetricsCollector::with_target(Target::one(&db.inner))
    }
}

impl DataIntegrityCheck {
    /// A check of the one database `db` at its configured integrity level.
    pub fn for_database(db: &Database) -> Self {
        DataIntegrityCheck::with_target(
            Target::one(&db.inner),
            db.inner.config.integrity_validation_level,
        )
    }
}

impl ResourceCheck {
    /// A check of the machine's memory and of `db`'s disk.
    pub fn for_database(db: &Database) -> Self {
        ResourceCheck::with_target(Target::one(&db.inner))
    }
}

impl PerformanceCheck {
    /// A check of the one database `db`.
    pub fn for_database(db: &Database) -> Self {
        PerformanceCheck::with_target(Target::one(&db.inner))
    }
}
