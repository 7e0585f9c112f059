//! Monitoring: what a database measures about itself ([`PerformanceMetrics`], collected
//! by [`MetricsCollector`]) and how its health is checked ([`HealthMonitor`] running
//! [`HealthCheck`]s: the built-in [`DataIntegrityCheck`], [`ResourceCheck`] and
//! [`PerformanceCheck`], and the user's own).
//!
//! This layer sits below the [`Database`](crate::Database) facade, so that a database can
//! answer [`metrics()`](crate::Database::metrics) itself, and above the engine, which it
//! observes only through its statistics, the facade's latency histograms (`measure`) and
//! its files; the engine knows nothing of it. Observers built with `new()` watch every
//! database open in the process through a registry of weak handles the facade fills at
//! open; those built with `for_database(&db)` (defined beside the facade) watch one.

mod checks;
mod collector;
mod health;
mod metrics;
mod runner;
mod sample;
mod wait;

pub(crate) use checks::{builtin_checks, system_memory};
pub use checks::{
    DataIntegrityCheck, IntegrityProgress, PerformanceCheck, ResourceCheck,
    DEFAULT_BLOCKS_PER_ROUND, DISK_CRITICAL,
};
pub(crate) use collector::{register, Target};
pub use collector::{CollectionHandle, MetricsCollector};
pub use health::{CheckReport, Criticality, HealthCheck, HealthReport, HealthState, HealthStatus};
pub use metrics::{BottleneckKind, PerformanceBottleneck, PerformanceMetrics, SlaThresholds};
pub(crate) use runner::AfterRound;
pub use runner::{HealthMonitor, MonitorHandle, DEFAULT_CHECK_TIMEOUT};
pub(crate) use sample::Window;
