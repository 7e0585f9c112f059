//! [`MetricsCollector`]: performance metrics of one database or of every database open in
//! the process, on demand or sampled by a background thread; and the registry of open
//! databases that the process-wide observers read.

use std::sync::{Arc, Weak};
use std::thread::JoinHandle;
use std::time::Duration;

use parking_lot::Mutex;

use super::metrics::{PerformanceMetrics, SlaThresholds};
use super::sample::{measure, Baseline, Window};
use super::wait::{park_until, Stopper};
use crate::clock::{Clock, SystemClock};
use crate::engine::DbInner;
use crate::error::DatabaseError;

/// Every database opened in this process, weakly: closed ones are skipped and pruned.
static OPEN: Mutex<Vec<Weak<DbInner>>> = Mutex::new(Vec::new());

/// Adds a database that just opened to the registry.
pub(crate) fn register(inner: &Arc<DbInner>) {
    let mut open = OPEN.lock();
    open.retain(|w| w.upgrade().is_some_and(|i| !i.is_closed()));
    open.push(Arc::downgrade(inner));
}

/// Which databases an observer watches.
#[derive(Clone)]
pub(crate) enum Target {
    /// Every database open in the process, as they come and go.
    All,
    /// One database (gone once it is closed or dropped).
    One(Weak<DbInner>),
}

impl Target {
    /// The watched databases that are open now.
    pub(crate) fn databases(&self) -> Vec<Arc<DbInner>> {
        match self {
            Target::All => OPEN
                .lock()
                .iter()
                .filter_map(Weak::upgrade)
                .filter(|i| !i.is_closed())
                .collect(),
            Target::One(w) => w.upgrade().filter(|i| !i.is_closed()).into_iter().collect(),
        }
    }

    /// One database's target.
    pub(crate) fn one(inner: &Arc<DbInner>) -> Self {
        Target::One(Arc::downgrade(inner))
    }
}

struct Shared {
    target: Target,
    sla: SlaThresholds,
    /// For metrics asked for while no collection thread has produced any.
    on_demand: Mutex<Window>,
    /// What the collection thread measured over its last interval.
    latest: Mutex<Option<PerformanceMetrics>>,
    /// Intervals the collection threads measured.
    rounds: std::sync::atomic::AtomicU64,
}

/// Collects [`PerformanceMetrics`]: of every database open in the process
/// ([`new`](Self::new)) or of one ([`for_database`](Self::for_database)).
///
/// [`get_performance_metrics`](Self::get_performance_metrics) measures on demand, over the
/// interval since the collector's sample before last (at least a second once the
/// collector is that old; the first interval starts when the collector was made, or when
/// a database opened after it). After [`start_collection`](Self::start_collection) a
/// background thread samples every interval and `get_performance_metrics` returns what
/// it measured over the last full interval.
///
/// ```
/// use std::time::Duration;
/// use lightning_db::{Database, LightningDbConfig, MetricsCollector};
/// # let dir = tempfile::tempdir().unwrap();
/// let db = Database::open(dir.path(), LightningDbConfig::default())?;
/// let metrics = MetricsCollector::for_database(&db);
/// let _collection = metrics.start_collection(Duration::from_secs(10))?;
/// db.put(b"k", b"v")?;
/// db.get(b"k")?;
/// let m = metrics.get_performance_metrics();
/// assert!(m.write_latency_p99 > Duration::ZERO);
/// println!("write p99 {:?}, score {:.0}", m.write_latency_p99, m.performance_score());
/// # Ok::<(), lightning_db::DatabaseError>(())
/// ```
pub struct MetricsCollector {
    shared: Arc<Shared>,
    clock: Arc<dyn Clock>,
    /// The collection thread, stopped when the collector is dropped.
    thread: Mutex<Option<Collection>>,
}

impl std::fmt::Debug for MetricsCollector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MetricsCollector")
            .field("databases", &self.shared.target.databases().len())
            .field("collecting", &self.thread.lock().is_some())
            .finish()
    }
}

struct Collection {
    stopper: Arc<Stopper>,
    join: Option<JoinHandle<()>>,
}

impl Collection {
    fn stop(&mut self) {
        self.stopper.stop();
        if let Some(j) = self.join.take() {
            if j.thread().id() != std::thread::current().id() {
                let _ = j.join();
            }
        }
    }
}

impl Drop for Collection {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The collection thread of a [`MetricsCollector`]: dropping it (or the collector)
/// stops the thread. [`MetricsCollector::start_collection`] returns it.
#[must_use = "collection stops when the handle is dropped; bind it (`let _collection = ...`)"]
pub struct CollectionHandle {
    stopper: Arc<Stopper>,
}

impl std::fmt::Debug for CollectionHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CollectionHandle")
            .field("stopped", &self.stopper.is_stopped())
            .finish()
    }
}

impl CollectionHandle {
    /// Stops the collection now (dropping the handle does the same).
    pub fn stop(self) {}

    /// Whether the collection has stopped (its collector was dropped, or it was stopped).
    pub fn is_stopped(&self) -> bool {
        self.stopper.is_stopped()
    }
}

impl Drop for CollectionHandle {
    fn drop(&mut self) {
        self.stopper.stop();
    }
}

impl Default for MetricsCollector {
    fn default() -> Self {
        Self::new()
    }
}

impl MetricsCollector {
    /// A collector of every database open in this process (those opened later too),
    /// with the default [`SlaThresholds`].
    pub fn new() -> Self {
        Self::with_target(Target::All)
    }

    pub(crate) fn with_target(target: Target) -> Self {
        Self {
            shared: Arc::new(Shared {
                target,
                sla: SlaThresholds::default(),
                on_demand: Mutex::new(Window::new()),
                latest: Mutex::new(None),
                rounds: std::sync::atomic::AtomicU64::new(0),
            }),
            clock: Arc::new(SystemClock),
            thread: Mutex::new(None),
        }
    }

    /// The same collector holding its metrics to `sla` (see
    /// [`PerformanceMetrics::meets_sla`]).
    pub fn with_sla(mut self, sla: SlaThresholds) -> Self {
        if let Some(shared) = Arc::get_mut(&mut self.shared) {
            shared.sla = sla;
        }
        self
    }

    /// The same collector timing its collection thread by `clock` (tests pass a
    /// [`ManualClock`](crate::ManualClock) and move it to make the thread sample).
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Starts sampling every `interval` on a background thread (replacing a collection
    /// already running). The thread stops when the returned handle or the collector is
    /// dropped, whichever comes first.
    ///
    /// Errors: `InvalidArgument` for a zero interval, `Io` when the thread cannot start.
    pub fn start_collection(&self, interval: Duration) -> Result<CollectionHandle, DatabaseError> {
        if interval.is_zero() {
            return Err(DatabaseError::InvalidArgument {
                message: "the collection interval must be more than zero".into(),
            });
        }
        let stopper = Arc::new(Stopper::default());
        let shared = Arc::clone(&self.shared);
        let clock = Arc::clone(&self.clock);
        let thread_stopper = Arc::clone(&stopper);
        let mut next = self.clock.now() + interval;
        let join = std::thread::Builder::new()
            .name("lightning-metrics".into())
            .spawn(move || {
                thread_stopper.set_thread(std::thread::current());
                let mut base = Baseline::empty(std::time::Instant::now());
                while park_until(clock.as_ref(), next, &thread_stopper) {
                    let dbs = shared.target.databases();
                    let (metrics, _, now) = measure(&dbs, &base, shared.sla);
                    base = now;
                    *shared.latest.lock() = Some(metrics);
                    shared
                        .rounds
                        .fetch_add(1, std::sync::atomic::Ordering::Release);
                    next = clock.now().max(next) + interval;
                }
            })
            .map_err(|e| DatabaseError::io("start the metrics thread", "", &e))?;
        let old = self.thread.lock().replace(Collection {
            stopper: Arc::clone(&stopper),
            join: Some(join),
        });
        drop(old);
        Ok(CollectionHandle { stopper })
    }

    /// The latest metrics: the collection thread's last interval once it has measured
    /// one, else measured now.
    pub fn get_performance_metrics(&self) -> PerformanceMetrics {
        let collecting = self
            .thread
            .lock()
            .as_ref()
            .is_some_and(|c| !c.stopper.is_stopped());
        if collecting {
            if let Some(m) = self.shared.latest.lock().clone() {
                return m;
            }
        }
        let dbs = self.shared.target.databases();
        self.shared
            .on_demand
            .lock()
            .measure(&dbs, self.shared.sla)
            .0
    }

    /// Whether the collection thread runs.
    pub fn is_collecting(&self) -> bool {
        self.thread
            .lock()
            .as_ref()
            .is_some_and(|c| !c.stopper.is_stopped())
    }

    /// How many intervals the collection threads have measured so far.
    pub fn samples_taken(&self) -> u64 {
        self.shared
            .rounds
            .load(std::sync::atomic::Ordering::Acquire)
    }

    /// How many open databases this collector measures now.
    pub fn databases(&self) -> usize {
        self.shared.target.databases().len()
    }
}

impl Drop for MetricsCollector {
    fn drop(&mut self) {
        if let Some(mut c) = self.thread.lock().take() {
            c.stop();
        }
    }
}
