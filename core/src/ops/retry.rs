//! Automatic retry with backoff: [`AutoRecoveryManager`] and its [`RecoveryConfig`].
//!
//! An operation is attempted; when it fails with an error that says it is retryable
//! ([`RetryableError`]), the manager waits the backoff delay and attempts it again, up to
//! `max_retries` times. Each attempt is a *stage* limited by `timeout_per_stage`.

use std::fmt;
use std::future::Future;
use std::hash::{BuildHasher, RandomState};
use std::sync::Arc;
use std::task::Poll;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use crate::config::{BackoffStrategy, ReliabilityConfig};
use crate::error::RetryableError;

use crate::clock::{Clock, SystemClock};

/// Settings of an [`AutoRecoveryManager`].
///
/// ```
/// use std::time::Duration;
/// use lightning_db::{AutoRecoveryManager, BackoffStrategy, RecoveryConfig};
///
/// let recovery_config = RecoveryConfig {
///     max_retries: 3,
///     backoff_strategy: BackoffStrategy::Exponential {
///         base_delay: Duration::from_millis(100),
///         max_delay: Duration::from_secs(30),
///     },
///     enable_rollback: true,
///     timeout_per_stage: Duration::from_secs(60),
/// };
/// let recovery_manager = AutoRecoveryManager::new(recovery_config);
/// assert_eq!(recovery_manager.config().max_retries, 3);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RecoveryConfig {
    /// Retries after the first attempt, so at most `max_retries + 1` attempts. Default: 3.
    pub max_retries: usize,
    /// The delay before each retry (see [`BackoffStrategy::delay_for_attempt`]; retry `n`,
    /// counted from 0, waits `delay_for_attempt(n)`), optionally spread by
    /// [`AutoRecoveryManager::with_jitter`]. Default: exponential from 100 ms to 30 s.
    pub backoff_strategy: BackoffStrategy,
    /// Kept for staged recovery, where a failed stage may undo the stages before it. The
    /// operations retried by [`AutoRecoveryManager::execute_with_recovery`] are single steps
    /// with nothing to undo, so it does not read this flag. Default: `true`.
    pub enable_rollback: bool,
    /// The longest one attempt (stage) may run; zero means no limit. How it is enforced
    /// depends on the form: see [`AutoRecoveryManager`]. Default: 60 s.
    pub timeout_per_stage: Duration,
}

impl Default for RecoveryConfig {
    fn default() -> Self {
        RecoveryConfig {
            max_retries: 3,
            backoff_strategy: BackoffStrategy::default(),
            enable_rollback: true,
            timeout_per_stage: Duration::from_secs(60),
        }
    }
}

impl From<&ReliabilityConfig> for RecoveryConfig {
    /// The retries a database's reliability settings describe: `retry_max_attempts` and
    /// `retry_backoff_strategy`, with the default rollback flag and stage timeout.
    fn from(config: &ReliabilityConfig) -> Self {
        RecoveryConfig {
            max_retries: config.retry_max_attempts,
            backoff_strategy: config.retry_backoff_strategy,
            ..RecoveryConfig::default()
        }
    }
}

/// Randomness added to backoff delays, so that many clients failing together do not retry
/// together. It only ever shortens a delay, so the strategy's `max_delay` still bounds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Jitter {
    /// The strategy's delays exactly.
    #[default]
    None,
    /// A delay `d` becomes a uniformly random duration in `[0, d]` ("full jitter").
    Full,
    /// A delay `d` becomes `d/2` plus a uniformly random duration in `[0, d/2]`
    /// ("equal jitter": never less than half the delay).
    Equal,
}

impl Jitter {
    /// `delay` spread by this jitter, with `unit` a random number in `[0, 1)`.
    fn apply(self, delay: Duration, unit: f64) -> Duration {
        match self {
            Jitter::None => delay,
            Jitter::Full => scale(delay, unit),
            Jitter::Equal => {
                let half = delay / 2;
                half + scale(delay - half, unit)
            }
        }
    }
}

/// `delay × unit`, never more than `delay`.
fn scale(delay: Duration, unit: f64) -> Duration {
    Duration::try_from_secs_f64(delay.as_secs_f64() * unit).map_or(delay, |d| d.min(delay))
}

/// How an operation run by the manager ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RecoveryOutcome {
    /// An attempt succeeded.
    Succeeded,
    /// An attempt failed with an error that is not retryable; it was returned at once.
    NotRetryable,
    /// Every attempt failed with a retryable error; the last one's error was returned.
    RetriesExhausted,
}

/// One operation run by the manager, from its first attempt to its result.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RecoveryRun {
    /// The `operation_name` it was run under.
    pub operation: String,
    /// Attempts made, the first included.
    pub attempts: usize,
    /// The backoff delays waited before each retry, in order (jitter included).
    pub delays: Vec<Duration>,
    /// Attempts that ran past `timeout_per_stage` (see [`AutoRecoveryManager`] for what that
    /// does to them).
    pub timed_out_attempts: usize,
    /// How it ended.
    pub outcome: RecoveryOutcome,
}

/// What an [`AutoRecoveryManager`] has done since it was created.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RecoveryStats {
    /// Operations run to their result (a run whose future was dropped midway is not counted).
    pub operations: u64,
    /// Operations that ended in success.
    pub succeeded: u64,
    /// Operations that ended in an error.
    pub failed: u64,
    /// Attempts made, first attempts included.
    pub attempts: u64,
    /// Retries made (attempts after a first).
    pub retries: u64,
    /// Attempts that ran past `timeout_per_stage`.
    pub timed_out_attempts: u64,
    /// All backoff delays together.
    pub total_backoff: Duration,
    /// The most recent backoff delay.
    pub last_delay: Option<Duration>,
    /// The most recently finished operation.
    pub last_run: Option<RecoveryRun>,
}

/// Runs operations with automatic retry and backoff.
///
/// An operation is attempted; a failure whose error [is retryable](RetryableError::is_retryable)
/// is retried after the [backoff delay](RecoveryConfig::backoff_strategy), up to
/// [`max_retries`](RecoveryConfig::max_retries) times. A non-retryable error is returned at
/// once. When the retries are exhausted the **last attempt's own error** is returned, as it
/// came; [`stats`](Self::stats) records what happened (attempts, delays, outcome).
///
/// # Time limit per attempt
///
/// [`timeout_per_stage`](RecoveryConfig::timeout_per_stage) limits each attempt:
///
/// - [`execute_with_recovery`](Self::execute_with_recovery) races the attempt's future
///   against a timer; an attempt still running at the limit is dropped (cancelled) and fails
///   with [`RetryableError::timeout_error`] (for [`DatabaseError`](crate::DatabaseError),
///   [`Timeout`](crate::DatabaseError::Timeout), which is retryable), then is retried like any
///   failure. An error type whose `timeout_error` is `None` (the trait's default) cannot say
///   "timed out": its attempts are never cut off, and run to completion.
/// - [`execute_with_recovery_blocking`](Self::execute_with_recovery_blocking) cannot
///   interrupt a closure: the limit is checked when the attempt returns. An attempt that
///   overran is counted in [`RecoveryStats::timed_out_attempts`]; its result stands, because
///   it has already taken effect: a success is returned, an error is handled as usual.
///
/// # Async without a runtime
///
/// The async form waits through the manager's [`Clock`]; the real one, [`SystemClock`],
/// uses a timer thread shared by the whole process, so the future runs under tokio,
/// async-std, smol or `futures_lite::future::block_on` alike and never blocks the thread
/// that polls it.
///
/// ```
/// use std::sync::atomic::{AtomicUsize, Ordering};
/// use std::time::Duration;
/// use lightning_db::{AutoRecoveryManager, BackoffStrategy, DatabaseError, RecoveryConfig};
///
/// let manager = AutoRecoveryManager::new(RecoveryConfig {
///     backoff_strategy: BackoffStrategy::Linear { base_delay: Duration::from_millis(1) },
///     ..RecoveryConfig::default()
/// });
/// let tries = AtomicUsize::new(0);
/// let value = manager.execute_with_recovery_blocking(
///     || match tries.fetch_add(1, Ordering::SeqCst) {
///         0 => Err(DatabaseError::LockTimeout { key: b"k".to_vec(), waited: Duration::ZERO }),
///         _ => Ok("done"),
///     },
///     "write",
/// )?;
/// assert_eq!(value, "done");
/// assert_eq!(manager.stats().last_run.map(|run| run.attempts), Some(2));
/// # Ok::<(), DatabaseError>(())
/// ```
pub struct AutoRecoveryManager {
    config: RecoveryConfig,
    clock: Arc<dyn Clock>,
    jitter: Jitter,
    /// The state of the splitmix64 generator behind the jitter.
    rng: Mutex<u64>,
    stats: Mutex<RecoveryStats>,
}

/// One operation in progress.
struct Run {
    operation: String,
    attempts: usize,
    delays: Vec<Duration>,
    timed_out_attempts: usize,
}

/// What to do after an attempt.
enum Step<T, E> {
    Done(Result<T, E>),
    RetryAfter(Duration),
}

impl AutoRecoveryManager {
    /// A manager on the system clock, without jitter.
    pub fn new(config: RecoveryConfig) -> AutoRecoveryManager {
        AutoRecoveryManager::with_clock(config, Arc::new(SystemClock))
    }

    /// A manager that reads the time and waits through `clock` (a
    /// [`ManualClock`](crate::ManualClock) in tests, whose sleeps pass at once and are
    /// recorded).
    pub fn with_clock(config: RecoveryConfig, clock: Arc<dyn Clock>) -> AutoRecoveryManager {
        AutoRecoveryManager {
            config,
            clock,
            jitter: Jitter::None,
            rng: Mutex::new(RandomState::new().hash_one(0x6c69_6768_746e_696e_u64)),
            stats: Mutex::new(RecoveryStats::default()),
        }
    }

    /// Spreads the backoff delays with `jitter`.
    pub fn with_jitter(mut self, jitter: Jitter) -> AutoRecoveryManager {
        self.jitter = jitter;
        self
    }

    /// Seeds the jitter's random numbers, making the delays reproducible (by default the
    /// seed is random).
    pub fn with_jitter_seed(self, seed: u64) -> AutoRecoveryManager {
        *self.rng.lock() = seed;
        self
    }

    /// The settings in force.
    pub fn config(&self) -> RecoveryConfig {
        self.config
    }

    /// The jitter in force.
    pub fn jitter(&self) -> Jitter {
        self.jitter
    }

    /// What the manager has done so far.
    pub fn stats(&self) -> RecoveryStats {
        self.stats.lock().clone()
    }

    /// Runs `operation`, retrying retryable failures with backoff, and returns its result:
    /// the first success, the first non-retryable error, or the last error once the retries
    /// are exhausted. `operation_name` names the operation in timeouts and statistics.
    ///
    /// An attempt still running after `timeout_per_stage` is dropped and fails with
    /// `E::timeout_error` (see the type's documentation). The future needs no particular
    /// runtime.
    pub async fn execute_with_recovery<T, E, F, Fut>(
        &self,
        operation: F,
        operation_name: &str,
    ) -> Result<T, E>
    where
        F: Fn() -> Fut + Send + Sync,
        Fut: Future<Output = Result<T, E>> + Send,
        E: RetryableError + Send + Sync,
    {
        let mut run = Run::new(operation_name);
        loop {
            let started = self.clock.now();
            let (result, overran) = self.attempt(operation(), operation_name, started).await;
            let delay = match self.settle(&mut run, result, overran) {
                Step::Done(result) => return result,
                Step::RetryAfter(delay) => delay,
            };
            self.clock.sleep_async(delay).await;
        }
    }

    /// [`execute_with_recovery`](Self::execute_with_recovery) for a synchronous closure, run
    /// and retried on the calling thread, which sleeps through the backoff delays.
    ///
    /// The closure cannot be interrupted: `timeout_per_stage` is checked when an attempt
    /// returns, and an attempt that overran is only counted (its result stands).
    pub fn execute_with_recovery_blocking<T, E, F>(
        &self,
        mut operation: F,
        operation_name: &str,
    ) -> Result<T, E>
    where
        F: FnMut() -> Result<T, E>,
        E: RetryableError,
    {
        let mut run = Run::new(operation_name);
        loop {
            let started = self.clock.now();
            let result = operation();
            let elapsed = self.clock.now().saturating_duration_since(started);
            let overran = self.limit().is_some_and(|limit| elapsed > limit);
            match self.settle(&mut run, result, overran) {
                Step::Done(result) => return result,
                Step::RetryAfter(delay) => self.clock.sleep(delay),
            }
        }
    }

    /// The per-attempt limit, if any.
    fn limit(&self) -> Option<Duration> {
        Some(self.config.timeout_per_stage).filter(|limit| !limit.is_zero())
    }

    /// Awaits one attempt, cutting it off at the time limit when `E` can say so. Returns its
    /// result and whether it ran past the limit.
    async fn attempt<T, E, Fut>(
        &self,
        attempt: Fut,
        operation_name: &str,
        started: Instant,
    ) -> (Result<T, E>, bool)
    where
        Fut: Future<Output = Result<T, E>>,
        E: RetryableError,
    {
        let Some(deadline) = self.limit().and_then(|limit| started.checked_add(limit)) else {
            return (attempt.await, false);
        };
        let mut attempt = std::pin::pin!(attempt);
        let mut timer = Some(self.clock.wait_until(deadline));
        let mut overran = false;
        std::future::poll_fn(|cx| {
            if let Poll::Ready(result) = attempt.as_mut().poll(cx) {
                return Poll::Ready((result, overran));
            }
            if let Some(expired) = timer.as_mut().map(|t| t.as_mut().poll(cx).is_ready()) {
                if expired {
                    timer = None;
                    overran = true;
                    let elapsed = self.clock.now().saturating_duration_since(started);
                    if let Some(err) = E::timeout_error(operation_name, elapsed) {
                        return Poll::Ready((Err(err), true));
                    }
                    // `E` cannot say "timed out": the attempt runs to completion.
                }
            }
            Poll::Pending
        })
        .await
    }

    /// Records an attempt and decides what comes next.
    fn settle<T, E: RetryableError>(
        &self,
        run: &mut Run,
        result: Result<T, E>,
        overran: bool,
    ) -> Step<T, E> {
        run.attempts += 1;
        run.timed_out_attempts += usize::from(overran);
        let outcome = match &result {
            Ok(_) => Some(RecoveryOutcome::Succeeded),
            Err(err) if !err.is_retryable() => Some(RecoveryOutcome::NotRetryable),
            Err(_) if run.attempts > self.config.max_retries => {
                Some(RecoveryOutcome::RetriesExhausted)
            }
            Err(_) => None,
        };
        let mut stats = self.stats.lock();
        stats.attempts += 1;
        stats.timed_out_attempts += u64::from(overran);
        match outcome {
            Some(outcome) => {
                stats.operations += 1;
                if outcome == RecoveryOutcome::Succeeded {
                    stats.succeeded += 1;
                } else {
                    stats.failed += 1;
                }
                stats.last_run = Some(RecoveryRun {
                    operation: std::mem::take(&mut run.operation),
                    attempts: run.attempts,
                    delays: std::mem::take(&mut run.delays),
                    timed_out_attempts: run.timed_out_attempts,
                    outcome,
                });
                Step::Done(result)
            }
            None => {
                drop(stats);
                let delay = self.delay_before_retry(run.attempts - 1);
                run.delays.push(delay);
                let mut stats = self.stats.lock();
                stats.retries += 1;
                stats.total_backoff = stats.total_backoff.saturating_add(delay);
                stats.last_delay = Some(delay);
                Step::RetryAfter(delay)
            }
        }
    }

    /// The delay before retry number `retry` (0 is the first), jitter included.
    fn delay_before_retry(&self, retry: usize) -> Duration {
        let retry = u32::try_from(retry).unwrap_or(u32::MAX);
        let delay = self.config.backoff_strategy.delay_for_attempt(retry);
        match self.jitter {
            Jitter::None => delay,
            jitter => jitter.apply(delay, self.next_unit()),
        }
    }

    /// A random number in `[0, 1)` from the splitmix64 generator.
    fn next_unit(&self) -> f64 {
        let mut state = self.rng.lock();
        *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = *state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        (z >> 11) as f64 / (1u64 << 53) as f64
    }
}

impl Run {
    fn new(operation: &str) -> Run {
        Run {
            operation: operation.to_string(),
            attempts: 0,
            delays: Vec::new(),
            timed_out_attempts: 0,
        }
    }
}

impl fmt::Debug for AutoRecoveryManager {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AutoRecoveryManager")
            .field("config", &self.config)
            .field("jitter", &self.jitter)
            .field("stats", &*self.stats.lock())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use crate::error::{DatabaseError, ReliabilityError};
    use std::sync::atomic::{AtomicUsize, Ordering};

    const MS: Duration = Duration::from_millis(1);

    fn conflict() -> DatabaseError {
        DatabaseError::TransactionConflict {
            key: b"k".to_vec(),
            conflicting_tx: 1,
        }
    }

    fn manager(
        max_retries: usize,
        strategy: BackoffStrategy,
    ) -> (AutoRecoveryManager, ManualClock) {
        let clock = ManualClock::new();
        let config = RecoveryConfig {
            max_retries,
            backoff_strategy: strategy,
            enable_rollback: true,
            timeout_per_stage: Duration::from_secs(60),
        };
        (
            AutoRecoveryManager::with_clock(config, Arc::new(clock.clone())),
            clock,
        )
    }

    fn exponential() -> BackoffStrategy {
        BackoffStrategy::Exponential {
            base_delay: 100 * MS,
            max_delay: Duration::from_secs(30),
        }
    }

    /// An operation that fails with `err` for its first `failures` attempts, then answers
    /// the attempt number.
    fn flaky(
        failures: usize,
        err: fn() -> DatabaseError,
    ) -> (
        AtomicUsize,
        impl Fn(&AtomicUsize) -> Result<usize, DatabaseError>,
    ) {
        (AtomicUsize::new(0), move |calls: &AtomicUsize| {
            let n = calls.fetch_add(1, Ordering::SeqCst);
            if n < failures {
                Err(err())
            } else {
                Ok(n + 1)
            }
        })
    }

    #[test]
    fn the_default_config_is_the_documented_one() {
        let c = RecoveryConfig::default();
        assert_eq!(c.max_retries, 3);
        assert_eq!(c.backoff_strategy, exponential());
        assert!(c.enable_rollback);
        assert_eq!(c.timeout_per_stage, Duration::from_secs(60));
        let from = RecoveryConfig::from(&ReliabilityConfig::default());
        assert_eq!(from, c);
    }

    #[test]
    fn a_first_success_is_returned_without_waiting() {
        let (m, clock) = manager(3, exponential());
        let (calls, op) = flaky(0, conflict);
        assert_eq!(m.execute_with_recovery_blocking(|| op(&calls), "op"), Ok(1));
        assert!(clock.sleeps().is_empty());
        let run = m.stats().last_run.expect("run");
        assert_eq!(run.attempts, 1);
        assert_eq!(run.outcome, RecoveryOutcome::Succeeded);
    }

    #[test]
    fn retries_follow_the_exponential_schedule() {
        let (m, clock) = manager(5, exponential());
        let (calls, op) = flaky(3, conflict);
        assert_eq!(m.execute_with_recovery_blocking(|| op(&calls), "op"), Ok(4));
        assert_eq!(clock.sleeps(), vec![100 * MS, 200 * MS, 400 * MS]);
        let stats = m.stats();
        assert_eq!((stats.attempts, stats.retries, stats.succeeded), (4, 3, 1));
        assert_eq!(stats.total_backoff, 700 * MS);
        assert_eq!(stats.last_delay, Some(400 * MS));
        let run = stats.last_run.expect("run");
        assert_eq!(run.operation, "op");
        assert_eq!(run.delays, vec![100 * MS, 200 * MS, 400 * MS]);
    }

    #[test]
    fn the_schedule_is_capped_at_max_delay() {
        let (m, clock) = manager(
            5,
            BackoffStrategy::Exponential {
                base_delay: 100 * MS,
                max_delay: 250 * MS,
            },
        );
        let (calls, op) = flaky(usize::MAX, conflict);
        assert!(m
            .execute_with_recovery_blocking(|| op(&calls), "op")
            .is_err());
        assert_eq!(
            clock.sleeps(),
            vec![100 * MS, 200 * MS, 250 * MS, 250 * MS, 250 * MS]
        );
    }

    #[test]
    fn linear_and_fibonacci_schedules() {
        let (m, clock) = manager(
            4,
            BackoffStrategy::Linear {
                base_delay: 10 * MS,
            },
        );
        let (calls, op) = flaky(usize::MAX, conflict);
        assert!(m
            .execute_with_recovery_blocking(|| op(&calls), "op")
            .is_err());
        assert_eq!(clock.sleeps(), vec![10 * MS, 20 * MS, 30 * MS, 40 * MS]);

        let (m, clock) = manager(
            6,
            BackoffStrategy::Fibonacci {
                base_delay: 10 * MS,
                max_delay: 60 * MS,
            },
        );
        let (calls, op) = flaky(usize::MAX, conflict);
        assert!(m
            .execute_with_recovery_blocking(|| op(&calls), "op")
            .is_err());
        assert_eq!(
            clock.sleeps(),
            vec![10 * MS, 10 * MS, 20 * MS, 30 * MS, 50 * MS, 60 * MS]
        );
    }

    #[test]
    fn exhausted_retries_return_the_last_error_itself() {
        let (m, clock) = manager(2, exponential());
        let calls = AtomicUsize::new(0);
        let result: Result<(), DatabaseError> = m.execute_with_recovery_blocking(
            || {
                let n = calls.fetch_add(1, Ordering::SeqCst) as u64;
                Err(DatabaseError::TransactionConflict {
                    key: b"k".to_vec(),
                    conflicting_tx: n,
                })
            },
            "commit",
        );
        // Three attempts (one plus two retries); the third attempt's error, unchanged.
        assert_eq!(
            result,
            Err(DatabaseError::TransactionConflict {
                key: b"k".to_vec(),
                conflicting_tx: 2
            })
        );
        assert_eq!(calls.load(Ordering::SeqCst), 3);
        assert_eq!(clock.sleeps(), vec![100 * MS, 200 * MS]);
        let stats = m.stats();
        assert_eq!((stats.operations, stats.failed), (1, 1));
        let run = stats.last_run.expect("run");
        assert_eq!(run.outcome, RecoveryOutcome::RetriesExhausted);
        assert_eq!(run.attempts, 3);
    }

    #[test]
    fn a_non_retryable_error_returns_at_once() {
        let (m, clock) = manager(5, exponential());
        let (calls, op) = flaky(usize::MAX, || DatabaseError::EmptyKey);
        assert_eq!(
            m.execute_with_recovery_blocking(|| op(&calls), "op"),
            Err(DatabaseError::EmptyKey)
        );
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        assert!(clock.sleeps().is_empty());
        assert_eq!(
            m.stats().last_run.map(|r| r.outcome),
            Some(RecoveryOutcome::NotRetryable)
        );
    }

    #[test]
    fn zero_retries_means_one_attempt() {
        let (m, clock) = manager(0, exponential());
        let (calls, op) = flaky(usize::MAX, conflict);
        assert!(m
            .execute_with_recovery_blocking(|| op(&calls), "op")
            .is_err());
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        assert!(clock.sleeps().is_empty());
    }

    #[test]
    fn full_jitter_stays_within_the_delay_and_is_reproducible() {
        let schedule = |seed| {
            let (m, clock) = manager(8, exponential());
            let m = m.with_jitter(Jitter::Full).with_jitter_seed(seed);
            let (calls, op) = flaky(usize::MAX, conflict);
            assert!(m
                .execute_with_recovery_blocking(|| op(&calls), "op")
                .is_err());
            clock.sleeps()
        };
        let a = schedule(7);
        assert_eq!(a, schedule(7), "same seed, same delays");
        assert_ne!(a, schedule(8), "another seed, other delays");
        for (retry, delay) in a.iter().enumerate() {
            assert!(*delay <= exponential().delay_for_attempt(retry as u32));
        }
        // Not all at the bound: the jitter did something.
        assert!(a
            .iter()
            .enumerate()
            .any(|(i, d)| *d < exponential().delay_for_attempt(i as u32)));
    }

    #[test]
    fn equal_jitter_keeps_at_least_half() {
        let (m, clock) = manager(8, exponential());
        let m = m.with_jitter(Jitter::Equal).with_jitter_seed(42);
        assert_eq!(m.jitter(), Jitter::Equal);
        let (calls, op) = flaky(usize::MAX, conflict);
        assert!(m
            .execute_with_recovery_blocking(|| op(&calls), "op")
            .is_err());
        for (retry, delay) in clock.sleeps().iter().enumerate() {
            let full = exponential().delay_for_attempt(retry as u32);
            assert!(
                *delay >= full / 2 && *delay <= full,
                "{delay:?} vs {full:?}"
            );
        }
    }

    #[test]
    fn jitter_bounds_at_the_extremes() {
        let d = Duration::from_secs(10);
        assert_eq!(Jitter::None.apply(d, 0.5), d);
        assert_eq!(Jitter::Full.apply(d, 0.0), Duration::ZERO);
        assert_eq!(Jitter::Full.apply(d, 0.5), Duration::from_secs(5));
        assert!(Jitter::Full.apply(d, 0.999_999_999_999) <= d);
        assert_eq!(Jitter::Equal.apply(d, 0.0), Duration::from_secs(5));
        assert!(Jitter::Equal.apply(d, 0.999_999_999_999) <= d);
        assert!(Jitter::Full.apply(Duration::MAX, 0.999_999_999_999) <= Duration::MAX);
        let (m, _clock) = manager(1, exponential());
        for _ in 0..10_000 {
            let u = m.next_unit();
            assert!((0.0..1.0).contains(&u));
        }
    }

    #[test]
    fn a_late_blocking_attempt_is_counted_and_its_result_stands() {
        let (m, clock) = manager(3, exponential());
        let calls = AtomicUsize::new(0);
        // The first attempt overruns the 60 s limit and fails; the second overruns and
        // succeeds: its success is returned.
        let result = m.execute_with_recovery_blocking(
            || {
                clock.advance(Duration::from_secs(61));
                match calls.fetch_add(1, Ordering::SeqCst) {
                    0 => Err(conflict()),
                    _ => Ok("late but done"),
                }
            },
            "slow",
        );
        assert_eq!(result, Ok("late but done"));
        let run = m.stats().last_run.expect("run");
        assert_eq!((run.attempts, run.timed_out_attempts), (2, 2));
        assert_eq!(m.stats().timed_out_attempts, 2);
    }

    #[test]
    fn a_zero_stage_timeout_means_no_limit() {
        let clock = ManualClock::new();
        let config = RecoveryConfig {
            timeout_per_stage: Duration::ZERO,
            ..RecoveryConfig::default()
        };
        let m = AutoRecoveryManager::with_clock(config, Arc::new(clock.clone()));
        let result: Result<(), DatabaseError> = m.execute_with_recovery_blocking(
            || {
                clock.advance(Duration::from_secs(3600));
                Ok(())
            },
            "long",
        );
        assert!(result.is_ok());
        assert_eq!(m.stats().timed_out_attempts, 0);
    }

    async fn async_schedule(m: &AutoRecoveryManager) -> Result<usize, DatabaseError> {
        let calls = AtomicUsize::new(0);
        m.execute_with_recovery(
            || {
                let n = calls.fetch_add(1, Ordering::SeqCst);
                async move {
                    futures_lite::future::yield_now().await;
                    if n < 3 {
                        Err(conflict())
                    } else {
                        Ok(n + 1)
                    }
                }
            },
            "async op",
        )
        .await
    }

    #[test]
    fn the_async_form_under_block_on() {
        let (m, clock) = manager(5, exponential());
        assert_eq!(futures_lite::future::block_on(async_schedule(&m)), Ok(4));
        assert_eq!(clock.sleeps(), vec![100 * MS, 200 * MS, 400 * MS]);
        assert_eq!(
            clock.pending_deadlines(),
            0,
            "every attempt's timer was dropped"
        );
    }

    #[test]
    fn the_async_form_under_tokio() {
        let (m, clock) = manager(5, exponential());
        let m = Arc::new(m);
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .build()
            .expect("runtime");
        let shared = Arc::clone(&m);
        // Spawned: the future of `execute_with_recovery` is `Send`.
        let result = rt.block_on(async move {
            tokio::spawn(async move { async_schedule(&shared).await })
                .await
                .expect("task")
        });
        assert_eq!(result, Ok(4));
        assert_eq!(clock.sleeps(), vec![100 * MS, 200 * MS, 400 * MS]);
    }

    #[test]
    fn the_async_form_with_the_system_clock_and_real_sleeps() {
        // Real timers, tiny delays: checks that the timer thread wakes the task (under both
        // executors), not how long anything took.
        let config = RecoveryConfig {
            backoff_strategy: BackoffStrategy::Linear { base_delay: MS },
            ..RecoveryConfig::default()
        };
        let m = AutoRecoveryManager::new(config).with_jitter(Jitter::Full);
        assert_eq!(futures_lite::future::block_on(async_schedule(&m)), Ok(4));
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime");
        assert_eq!(rt.block_on(async_schedule(&m)), Ok(4));
        assert_eq!(m.stats().retries, 6);
    }

    #[test]
    fn an_async_attempt_past_its_limit_is_cut_off_and_retried() {
        let (m, clock) = manager(2, exponential());
        let calls = AtomicUsize::new(0);
        let mover = clock.clone();
        let handle = std::thread::spawn(move || {
            // Wait for the first attempt's deadline to be armed, then pass it.
            while mover.pending_deadlines() == 0 {
                std::thread::yield_now();
            }
            mover.advance(Duration::from_secs(60));
        });
        let result = futures_lite::future::block_on(m.execute_with_recovery(
            || {
                let n = calls.fetch_add(1, Ordering::SeqCst);
                async move {
                    if n == 0 {
                        std::future::pending::<()>().await; // hangs until cut off
                    }
                    Ok::<_, DatabaseError>(n)
                }
            },
            "hanging read",
        ));
        handle.join().expect("mover");
        assert_eq!(result, Ok(1));
        let run = m.stats().last_run.expect("run");
        assert_eq!((run.attempts, run.timed_out_attempts), (2, 1));
        assert_eq!(run.delays, vec![100 * MS]);
        assert_eq!(clock.pending_deadlines(), 0);
    }

    #[test]
    fn an_async_attempt_that_always_hangs_ends_in_a_timeout_error() {
        let (m, clock) = manager(1, exponential());
        let mover = clock.clone();
        let handle = std::thread::spawn(move || {
            for _ in 0..2 {
                while mover.pending_deadlines() == 0 {
                    std::thread::yield_now();
                }
                mover.advance(Duration::from_secs(60));
            }
        });
        let result: Result<(), DatabaseError> =
            futures_lite::future::block_on(m.execute_with_recovery(std::future::pending, "stuck"));
        handle.join().expect("mover");
        let err = result.expect_err("timed out");
        assert_eq!(
            err,
            DatabaseError::Timeout {
                operation: "stuck".into(),
                elapsed: Duration::from_secs(60)
            }
        );
        assert_eq!(err.error_code(), 304);
        assert_eq!(m.stats().timed_out_attempts, 2);
    }

    /// An error type that cannot say "timed out" (the trait's default).
    #[derive(Debug, PartialEq)]
    struct Plain(bool);

    impl RetryableError for Plain {
        fn is_retryable(&self) -> bool {
            self.0
        }
    }

    #[test]
    fn an_error_type_without_timeouts_is_never_cut_off() {
        let (m, clock) = manager(3, exponential());
        let calls = AtomicUsize::new(0);
        let result = futures_lite::future::block_on(m.execute_with_recovery(
            || {
                let n = calls.fetch_add(1, Ordering::SeqCst);
                let clock = clock.clone();
                async move {
                    if n == 0 {
                        // Runs past its deadline, yields (so the timer is seen), then fails.
                        clock.advance(Duration::from_secs(120));
                        futures_lite::future::yield_now().await;
                        Err(Plain(true))
                    } else {
                        Ok(n)
                    }
                }
            },
            "plain",
        ));
        assert_eq!(result, Ok(1));
        let run = m.stats().last_run.expect("run");
        assert_eq!((run.attempts, run.timed_out_attempts), (2, 1));
        // And a custom error that is not retryable is returned at once.
        let (m, _clock) = manager(3, exponential());
        let once: Result<(), Plain> = m.execute_with_recovery_blocking(|| Err(Plain(false)), "x");
        assert_eq!(once, Err(Plain(false)));
        assert_eq!(m.stats().attempts, 1);
    }

    #[test]
    fn io_and_reliability_errors_are_retried_by_their_own_rules() {
        let (m, clock) = manager(1, exponential());
        let calls = AtomicUsize::new(0);
        let result: Result<(), std::io::Error> = m.execute_with_recovery_blocking(
            || {
                calls.fetch_add(1, Ordering::SeqCst);
                Err(std::io::ErrorKind::Interrupted.into())
            },
            "read",
        );
        assert_eq!(
            result.expect_err("io").kind(),
            std::io::ErrorKind::Interrupted
        );
        assert_eq!(calls.load(Ordering::SeqCst), 2);
        let refused: Result<(), ReliabilityError> = m.execute_with_recovery_blocking(
            || {
                Err(ReliabilityError::CircuitBreakerOpen {
                    service: "s".into(),
                    retry_after: Duration::ZERO,
                })
            },
            "guarded",
        );
        assert!(refused.is_err());
        assert_eq!(clock.sleeps().len(), 2); // one retry each
    }

    #[test]
    fn concurrent_operations_share_one_manager() {
        let (m, _clock) = manager(2, exponential());
        std::thread::scope(|s| {
            for _ in 0..8 {
                s.spawn(|| {
                    for _ in 0..100 {
                        let (calls, op) = flaky(1, conflict);
                        assert_eq!(m.execute_with_recovery_blocking(|| op(&calls), "op"), Ok(2));
                    }
                });
            }
        });
        let stats = m.stats();
        assert_eq!(stats.operations, 800);
        assert_eq!(stats.attempts, 1600);
        assert_eq!(stats.retries, 800);
    }

    #[test]
    fn managers_are_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<AutoRecoveryManager>();
        check::<RecoveryStats>();
    }
}
