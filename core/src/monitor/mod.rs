//! Monitoring: what a database measures about itself ([`PerformanceMetrics`], collected
//! by [`MetricsCollector`]).
//!
//! This layer sits below the [`Database`](crate::Database) facade, so that a database can
//! answer [`metrics()`](crate::Database::metrics) itself, and above the engine, which it
//! observes only through its statistics, the facade's latency histograms (`measure`) and
//! its files; the engine knows nothing of it. Observers built with `new()` watch every
//! database open in the process through a registry of weak handles the facade fills at
//! open; those built with `for_database(&db)` (defined beside the facade) watch one.

mod collector;
mod metrics;
mod sample;
mod wait;

pub(crate) use collector::{register, Target};
pub use collector::{CollectionHandle, MetricsCollector};
pub use metrics::{BottleneckKind, PerformanceBottleneck, PerformanceMetrics, SlaThresholds};
pub(crate) use sample::Window;
