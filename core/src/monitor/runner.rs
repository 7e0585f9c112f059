//! [`HealthMonitor`]: runs its checks, each on a thread of its own and bounded by a
//! timeout, once ([`run_once`](HealthMonitor::run_once)) or every interval on a
//! background thread ([`start_monitoring`](HealthMonitor::start_monitoring)), and keeps
//! every check's latest result.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use super::health::{CheckReport, HealthCheck, HealthReport, HealthStatus};
use super::wait::{park_until, wait_for, Slot, Stopper, Waited};
use crate::clock::{Clock, SystemClock};
use crate::error::DatabaseError;

/// The default bound on one check's run, as `reliability.health_check_timeout`'s.
pub const DEFAULT_CHECK_TIMEOUT: Duration = Duration::from_secs(5);

struct Entry {
    check: Arc<dyn HealthCheck>,
    /// A run of this check has not returned yet (maybe from an earlier round).
    busy: Arc<AtomicBool>,
    latest: Mutex<CheckReport>,
}

struct Shared {
    entries: Vec<Entry>,
    clock: Arc<dyn Clock>,
    timeout: Duration,
    rounds: AtomicU64,
    /// One round at a time.
    round: Mutex<()>,
    /// Called with every round's results before the round counts as done (a database's
    /// self-healing acts on them).
    after_round: Option<AfterRound>,
}

/// What a monitor calls after each round (see [`HealthMonitor::after_each_round`]).
pub(crate) type AfterRound = Arc<dyn Fn(&[CheckReport]) + Send + Sync>;

/// Runs health checks and keeps each one's latest result.
///
/// ```
/// use std::time::Duration;
/// use lightning_db::{
///     Database, DataIntegrityCheck, HealthMonitor, LightningDbConfig, PerformanceCheck,
///     ResourceCheck,
/// };
/// # let dir = tempfile::tempdir().unwrap();
/// let db = Database::open(dir.path(), LightningDbConfig::default())?;
/// let monitor = HealthMonitor::new(vec![
///     Box::new(DataIntegrityCheck::new()),
///     Box::new(ResourceCheck::new()),
///     Box::new(PerformanceCheck::new()),
/// ]);
/// let handle = monitor.start_monitoring(Duration::from_secs(30))?; // stops when dropped
/// let report = monitor.run_once();
/// for check in &report.checks {
///     println!("{}: {} {:?}", check.name, check.status.name(), check.remediation);
/// }
/// assert_eq!(report.checks.len(), 3);
/// # drop(handle);
/// # Ok::<(), lightning_db::DatabaseError>(())
/// ```
pub struct HealthMonitor {
    shared: Arc<Shared>,
    thread: Mutex<Option<Running>>,
}

impl std::fmt::Debug for HealthMonitor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HealthMonitor")
            .field(
                "checks",
                &self
                    .shared
                    .entries
                    .iter()
                    .map(|e| e.check.name().to_string())
                    .collect::<Vec<_>>(),
            )
            .field("timeout", &self.shared.timeout)
            .field("rounds", &self.shared.rounds.load(Ordering::Relaxed))
            .finish()
    }
}

struct Running {
    stopper: Arc<Stopper>,
    join: Option<JoinHandle<()>>,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.stopper.stop();
        if let Some(j) = self.join.take() {
            if j.thread().id() != std::thread::current().id() {
                let _ = j.join();
            }
        }
    }
}

/// The monitoring thread of a [`HealthMonitor`]: dropping it (or the monitor) stops the
/// thread. [`HealthMonitor::start_monitoring`] returns it.
#[must_use = "monitoring stops when the handle is dropped; bind it (`let _monitor = ...`)"]
pub struct MonitorHandle {
    stopper: Arc<Stopper>,
}

impl std::fmt::Debug for MonitorHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MonitorHandle")
            .field("stopped", &self.stopper.is_stopped())
            .finish()
    }
}

impl MonitorHandle {
    /// Stops the monitoring now (dropping the handle does the same).
    pub fn stop(self) {}

    /// Whether the monitoring has stopped.
    pub fn is_stopped(&self) -> bool {
        self.stopper.is_stopped()
    }
}

impl Drop for MonitorHandle {
    fn drop(&mut self) {
        self.stopper.stop();
    }
}

impl HealthMonitor {
    /// A monitor of `checks` (built-in and user-written alike), each run bounded by
    /// [`DEFAULT_CHECK_TIMEOUT`], timed by the system clock.
    pub fn new(checks: Vec<Box<dyn HealthCheck>>) -> HealthMonitor {
        Self::build(
            checks.into_iter().map(Arc::from).collect(),
            Arc::new(SystemClock),
            DEFAULT_CHECK_TIMEOUT,
            None,
        )
    }

    fn build(
        checks: Vec<Arc<dyn HealthCheck>>,
        clock: Arc<dyn Clock>,
        timeout: Duration,
        after_round: Option<AfterRound>,
    ) -> HealthMonitor {
        let entries = checks
            .into_iter()
            .map(|check| Entry {
                latest: Mutex::new(CheckReport::not_run(check.as_ref())),
                check,
                busy: Arc::new(AtomicBool::new(false)),
            })
            .collect();
        HealthMonitor {
            shared: Arc::new(Shared {
                entries,
                clock,
                timeout,
                rounds: AtomicU64::new(0),
                round: Mutex::new(()),
                after_round,
            }),
            thread: Mutex::new(None),
        }
    }

    fn rebuild(self, clock: Arc<dyn Clock>, timeout: Duration) -> HealthMonitor {
        let after_round = self.shared.after_round.clone();
        self.rebuild_with(clock, timeout, after_round)
    }

    fn rebuild_with(
        self,
        clock: Arc<dyn Clock>,
        timeout: Duration,
        after_round: Option<AfterRound>,
    ) -> HealthMonitor {
        let checks = self
            .shared
            .entries
            .iter()
            .map(|e| Arc::clone(&e.check))
            .collect();
        Self::build(checks, clock, timeout, after_round)
    }

    /// The same monitor calling `hook` with each round's results, on the thread that ran
    /// the round, before the round counts as done. Call before monitoring starts.
    pub(crate) fn after_each_round(self, hook: AfterRound) -> HealthMonitor {
        let clock = Arc::clone(&self.shared.clock);
        let timeout = self.shared.timeout;
        self.rebuild_with(clock, timeout, Some(hook))
    }

    /// The same monitor bounding each check's run by `timeout` (a check still running
    /// then is reported `Unknown`). Call before monitoring starts.
    pub fn with_timeout(self, timeout: Duration) -> HealthMonitor {
        let clock = Arc::clone(&self.shared.clock);
        self.rebuild(clock, timeout)
    }

    /// The same monitor timed by `clock`: its rounds and timeouts wait for the clock
    /// (tests pass a [`ManualClock`](crate::ManualClock) and move it). Call before
    /// monitoring starts.
    pub fn with_clock(self, clock: Arc<dyn Clock>) -> HealthMonitor {
        let timeout = self.shared.timeout;
        self.rebuild(clock, timeout)
    }

    /// Runs every check now, at once on threads of their own, and waits for them up to
    /// the timeout; returns the report. A check still running from an earlier round is
    /// not started again and stays `Unknown` until it returns.
    pub fn run_once(&self) -> HealthReport {
        run_round(&self.shared, None);
        self.report()
    }

    /// Runs a round at once and then one every `interval` on a background thread, until
    /// the returned handle or the monitor is dropped (a monitoring thread already
    /// running is replaced).
    ///
    /// Errors: `InvalidArgument` for a zero interval, `Io` when the thread cannot start.
    pub fn start_monitoring(&self, interval: Duration) -> Result<MonitorHandle, DatabaseError> {
        if interval.is_zero() {
            return Err(DatabaseError::InvalidArgument {
                message: "the monitoring interval must be more than zero".into(),
            });
        }
        let stopper = Arc::new(Stopper::default());
        let shared = Arc::clone(&self.shared);
        let thread_stopper = Arc::clone(&stopper);
        let mut next = shared.clock.now();
        let join = std::thread::Builder::new()
            .name("lightning-health".into())
            .spawn(move || {
                thread_stopper.set_thread(std::thread::current());
                while park_until(shared.clock.as_ref(), next, &thread_stopper) {
                    run_round(&shared, Some(&thread_stopper));
                    next = shared.clock.now().max(next) + interval;
                }
            })
            .map_err(|e| DatabaseError::io("start the health monitor thread", "", &e))?;
        let old = self.thread.lock().replace(Running {
            stopper: Arc::clone(&stopper),
            join: Some(join),
        });
        drop(old);
        Ok(MonitorHandle { stopper })
    }

    /// Stops the monitoring thread, if one runs, and waits for it to end (a check still
    /// running on its own thread is not waited for: its result is dropped).
    pub fn stop_monitoring(&self) {
        let running = self.thread.lock().take();
        drop(running);
    }

    /// The latest result of every check (`Unknown`, noted "not run yet", before its first
    /// run).
    pub fn report(&self) -> HealthReport {
        HealthReport::of(
            self.shared
                .entries
                .iter()
                .map(|e| e.latest.lock().clone())
                .collect(),
            self.rounds(),
        )
    }

    /// Rounds completed so far.
    pub fn rounds(&self) -> u64 {
        self.shared.rounds.load(Ordering::Acquire)
    }

    /// Whether the monitoring thread runs.
    pub fn is_monitoring(&self) -> bool {
        self.thread
            .lock()
            .as_ref()
            .is_some_and(|r| !r.stopper.is_stopped())
    }

    /// The bound on one check's run.
    pub fn timeout(&self) -> Duration {
        self.shared.timeout
    }
}

impl Drop for HealthMonitor {
    fn drop(&mut self) {
        self.thread.lock().take();
    }
}

/// What a check's thread hands back: its status, a note on an unknown one, and how long
/// it ran (by the monitor's clock).
type Outcome = (HealthStatus, Option<String>, Duration);

/// One round: starts every idle check on its own thread, waits for each up to the
/// timeout (or until `stop` stops: the monitor is going away), records the results.
fn run_round(shared: &Shared, stop: Option<&Stopper>) {
    let stopped = || stop.is_some_and(Stopper::is_stopped);
    let _one_round = shared.round.lock();
    let started = shared.clock.now();
    let deadline = started + shared.timeout;
    let mut runs = Vec::with_capacity(shared.entries.len());
    for entry in &shared.entries {
        if entry.busy.swap(true, Ordering::AcqRel) {
            runs.push(None);
            continue;
        }
        let slot: Arc<Slot<Outcome>> = Slot::for_current_thread();
        let check = Arc::clone(&entry.check);
        let clock = Arc::clone(&shared.clock);
        let busy = Arc::clone(&entry.busy);
        let filler = Arc::clone(&slot);
        let spawned = std::thread::Builder::new()
            .name("lightning-health-check".into())
            .spawn(move || {
                let began = clock.now();
                let outcome = match catch_unwind(AssertUnwindSafe(|| check.check())) {
                    Ok(status) => (status, None),
                    Err(_) => (
                        HealthStatus::Unknown,
                        Some("the check panicked".to_string()),
                    ),
                };
                let outcome = (outcome.0, outcome.1, elapsed(clock.as_ref(), began));
                busy.store(false, Ordering::Release);
                filler.put(outcome);
            });
        match spawned {
            Ok(_) => runs.push(Some(slot)),
            Err(e) => {
                entry.busy.store(false, Ordering::Release);
                slot.put((
                    HealthStatus::Unknown,
                    Some(format!("could not start the check's thread: {e}")),
                    Duration::ZERO,
                ));
                runs.push(Some(slot));
            }
        }
    }
    for (entry, run) in shared.entries.iter().zip(runs) {
        let report = match run {
            None => CheckReport::of(
                entry.check.as_ref(),
                HealthStatus::Unknown,
                Some("still running from an earlier round".into()),
                Duration::ZERO,
            ),
            Some(slot) => match wait_for(shared.clock.as_ref(), deadline, || {
                slot.is_full() || stopped()
            }) {
                Waited::Done if !slot.is_full() => CheckReport::of(
                    entry.check.as_ref(),
                    HealthStatus::Unknown,
                    Some("the monitor stopped before the check finished".into()),
                    elapsed(shared.clock.as_ref(), started),
                ),
                Waited::Done => {
                    let (status, note, ran) =
                        slot.take()
                            .unwrap_or((HealthStatus::Unknown, None, Duration::ZERO));
                    CheckReport::of(entry.check.as_ref(), status, note, ran)
                }
                Waited::Deadline => CheckReport::of(
                    entry.check.as_ref(),
                    HealthStatus::Unknown,
                    Some(format!(
                        "did not finish within the {:?} timeout",
                        shared.timeout
                    )),
                    shared.timeout,
                ),
            },
        };
        *entry.latest.lock() = report;
    }
    if let Some(hook) = &shared.after_round {
        let reports: Vec<CheckReport> = shared
            .entries
            .iter()
            .map(|e| e.latest.lock().clone())
            .collect();
        // A hook that panics must not stop the monitoring.
        let _ = catch_unwind(AssertUnwindSafe(|| hook(&reports)));
    }
    shared.rounds.fetch_add(1, Ordering::AcqRel);
}

fn elapsed(clock: &dyn Clock, since: Instant) -> Duration {
    clock.now().saturating_duration_since(since)
}
