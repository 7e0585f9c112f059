//! The database handle's monitoring surface: its performance metrics, and the
//! `for_database` constructor of the collector that watches one database.

use std::sync::Arc;

use parking_lot::Mutex;

use super::Database;
use crate::engine::DbInner;
use crate::monitor::{MetricsCollector, PerformanceMetrics, SlaThresholds, Target, Window};
use crate::stats::DbStats;

/// A database's own metrics window.
pub(super) struct Monitoring {
    window: Mutex<Window>,
}

impl Monitoring {
    /// The monitoring of a database just opened.
    pub(super) fn new() -> Self {
        Self {
            window: Mutex::new(Window::new()),
        }
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
}

impl MetricsCollector {
    /// A collector of the one database `db` (it measures nothing once `db` is closed).
    pub fn for_database(db: &Database) -> Self {
        MetricsCollector::with_target(Target::one(&db.inner))
    }
}
