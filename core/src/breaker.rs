//! The circuit breaker: stop calling a failing service for a while, then try it again
//! carefully.
//!
//! ```text
//!            failure_threshold consecutive failures
//!   Closed ─────────────────────────────────────────▶ Open
//!     ▲                                               │  recovery_timeout passed
//!     │ half_open_max_calls successes                 ▼  (seen by the next call or query)
//!     └───────────────────────────────────────── HalfOpen ──▶ Open on any failure
//! ```
//!
//! Every transition starts a new *generation*. A call carries the generation it was admitted
//! in, and its outcome moves the state only if the breaker is still in that generation: a slow
//! call admitted while closed that fails after the breaker opened, went half-open and closed
//! again does not count against the new closed period.

use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use crate::config::ReliabilityConfig;
use crate::error::ReliabilityError;

use crate::clock::{Clock, SystemClock};

/// Settings of a [`CircuitBreaker`].
///
/// ```
/// use std::time::Duration;
/// use lightning_db::{CircuitBreaker, CircuitBreakerConfig};
///
/// let circuit_breaker = CircuitBreaker::new(CircuitBreakerConfig {
///     failure_threshold: 5,
///     recovery_timeout: Duration::from_secs(30),
///     half_open_max_calls: 3,
/// });
/// assert!(!circuit_breaker.is_open());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CircuitBreakerConfig {
    /// Consecutive failures, while closed, that open the breaker. 0 is taken as 1.
    /// Default: 5.
    pub failure_threshold: usize,
    /// How long the breaker stays open before it lets trial calls through (half-open).
    /// Default: 30 s.
    pub recovery_timeout: Duration,
    /// While half-open: how many trial calls may run at once, and how many must succeed
    /// for the breaker to close. 0 is taken as 1. Default: 3.
    pub half_open_max_calls: usize,
}

impl Default for CircuitBreakerConfig {
    /// 5 failures, 30 s, 3 trial calls (the first two as in [`ReliabilityConfig::default`]).
    fn default() -> Self {
        CircuitBreakerConfig {
            failure_threshold: 5,
            recovery_timeout: Duration::from_secs(30),
            half_open_max_calls: 3,
        }
    }
}

impl From<&ReliabilityConfig> for CircuitBreakerConfig {
    /// The breaker a database's reliability settings describe:
    /// `circuit_breaker_failure_threshold` and `circuit_breaker_recovery_timeout`, with the
    /// default number of trial calls.
    fn from(config: &ReliabilityConfig) -> Self {
        CircuitBreakerConfig {
            failure_threshold: config.circuit_breaker_failure_threshold,
            recovery_timeout: config.circuit_breaker_recovery_timeout,
            ..CircuitBreakerConfig::default()
        }
    }
}

/// Where a [`CircuitBreaker`] stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CircuitState {
    /// Calls go through; consecutive failures are counted.
    Closed {
        /// Failures since the last success (or since the breaker closed).
        failure_count: usize,
        /// When the most recent of those failures happened.
        last_failure_time: Option<Instant>,
    },
    /// Calls are refused with [`ReliabilityError::CircuitBreakerOpen`] until
    /// `recovery_timeout` has passed since `opened_at`.
    Open {
        /// When the breaker opened.
        opened_at: Instant,
    },
    /// Up to `half_open_max_calls` trial calls run at a time; further calls are refused.
    /// That many successes close the breaker; a failure opens it again.
    HalfOpen {
        /// Trial calls that succeeded so far.
        success_count: usize,
        /// Trial calls that failed so far: always 0 when observed, because the first failure
        /// reopens the breaker.
        failure_count: usize,
    },
}

/// What a [`CircuitBreaker`] has seen since it was created.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CircuitBreakerStats {
    /// Calls let through (attempted).
    pub calls: u64,
    /// Attempted calls that succeeded.
    pub successes: u64,
    /// Attempted calls that counted as failures.
    pub failures: u64,
    /// Calls refused without being attempted.
    pub rejections: u64,
    /// How often the breaker went from closed or half-open to open.
    pub times_opened: u64,
}

/// Protects callers from a failing service: after repeated failures it refuses calls for a
/// while instead of letting each one wait for the failure, then lets a few trial calls
/// through to see whether the service recovered. Thread-safe: share one breaker (by
/// reference or in an `Arc`) among all the callers of a service.
///
/// # Failures
///
/// An attempted call fails when it returns `Err`: [`call`](Self::call) and
/// [`call_blocking`](Self::call_blocking) count every error. To count only some (for
/// example not a caller's own mistake such as `KeyTooLarge`), use
/// [`call_with`](Self::call_with) and [`call_blocking_with`](Self::call_blocking_with),
/// which take a predicate; an error it rejects is returned but counts as a success for the
/// breaker (the service answered). A call whose future is dropped before it finishes, or
/// whose closure panics, counts as neither; it only gives back its half-open trial slot.
///
/// # Refusal
///
/// A refused call returns `E::from(ReliabilityError::CircuitBreakerOpen { service,
/// retry_after })` without running the operation. With `E = DatabaseError` that is
/// [`DatabaseError::CircuitBreakerOpen`](crate::DatabaseError::CircuitBreakerOpen) (code
/// 302); `Box<dyn std::error::Error + Send + Sync>` and `std::io::Error` work too, and an
/// error type of your own needs `impl From<ReliabilityError>`. `service` is the breaker's
/// [`name`](Self::name).
///
/// # Failure rate
///
/// [`failure_rate`](Self::failure_rate) is the share of failures among the last
/// [`FAILURE_RATE_WINDOW`](Self::FAILURE_RATE_WINDOW) attempted calls (refused calls are not
/// attempts). It is for monitoring; the state machine goes by consecutive failures.
///
/// ```
/// use std::time::Duration;
/// use lightning_db::{CircuitBreaker, CircuitBreakerConfig, DatabaseError};
///
/// # fn main() -> Result<(), DatabaseError> {
/// let breaker = CircuitBreaker::new(CircuitBreakerConfig::default()).named("database");
/// let value = futures_lite::future::block_on(breaker.call(|| async {
///     Ok::<_, DatabaseError>(42)
/// }))?;
/// assert_eq!(value, 42);
/// assert_eq!(breaker.failure_rate(), 0.0);
/// # Ok(())
/// # }
/// ```
pub struct CircuitBreaker {
    config: CircuitBreakerConfig,
    name: String,
    clock: Arc<dyn Clock>,
    inner: Mutex<Inner>,
}

struct Inner {
    state: CircuitState,
    /// Bumped by every transition; outcomes of calls admitted in another generation do not
    /// move the state.
    generation: u64,
    /// Trial calls admitted in the current half-open period and not finished.
    trials_in_flight: usize,
    /// Outcomes of the last attempted calls, oldest first; `true` is a failure.
    window: VecDeque<bool>,
    window_failures: usize,
    stats: CircuitBreakerStats,
}

/// Admission of one call: finish it with [`Permit::finish`]; dropping it unfinished gives
/// back a half-open trial slot and records nothing (the engine drops it for an outcome
/// that says nothing about the device, such as a caller's mistake).
pub(crate) struct Permit<'a> {
    breaker: &'a CircuitBreaker,
    generation: u64,
    trial: bool,
    finished: bool,
}

impl CircuitBreaker {
    /// How many of the most recent attempted calls [`failure_rate`](Self::failure_rate)
    /// looks at.
    pub const FAILURE_RATE_WINDOW: usize = 100;

    /// A closed breaker on the system clock, named `"default"` (see [`named`](Self::named)).
    pub fn new(config: CircuitBreakerConfig) -> CircuitBreaker {
        CircuitBreaker::with_clock(config, Arc::new(SystemClock))
    }

    /// A closed breaker reading the time from `clock` (a
    /// [`ManualClock`](crate::ManualClock) in tests).
    pub fn with_clock(config: CircuitBreakerConfig, clock: Arc<dyn Clock>) -> CircuitBreaker {
        let config = CircuitBreakerConfig {
            failure_threshold: config.failure_threshold.max(1),
            half_open_max_calls: config.half_open_max_calls.max(1),
            ..config
        };
        CircuitBreaker {
            config,
            name: "default".to_string(),
            clock,
            inner: Mutex::new(Inner {
                state: CircuitState::Closed {
                    failure_count: 0,
                    last_failure_time: None,
                },
                generation: 0,
                trials_in_flight: 0,
                window: VecDeque::with_capacity(Self::FAILURE_RATE_WINDOW),
                window_failures: 0,
                stats: CircuitBreakerStats::default(),
            }),
        }
    }

    /// Names the protected service; the name is the `service` of the refusal error.
    pub fn named(mut self, service: impl Into<String>) -> CircuitBreaker {
        self.name = service.into();
        self
    }

    /// The protected service's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The settings in force (a threshold or trial count of 0 reads as 1).
    pub fn config(&self) -> CircuitBreakerConfig {
        self.config
    }

    /// Runs `operation` if the breaker admits it, and records its outcome: every `Err`
    /// counts as a failure (see the type's documentation). A refused call returns
    /// `E::from(ReliabilityError::CircuitBreakerOpen { .. })` without calling `operation`.
    ///
    /// Works under any async runtime, or none: it does no waiting of its own.
    pub async fn call<T, E, F, Fut>(&self, operation: F) -> Result<T, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
        E: From<ReliabilityError>,
    {
        self.call_with(|_: &E| true, operation).await
    }

    /// [`call`](Self::call), counting an error as a failure only when `is_failure` says so.
    pub async fn call_with<T, E, F, Fut, P>(&self, is_failure: P, operation: F) -> Result<T, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
        E: From<ReliabilityError>,
        P: FnOnce(&E) -> bool,
    {
        let permit = self.admit()?;
        let result = operation().await;
        permit.finish(result.as_ref().is_err_and(is_failure));
        result
    }

    /// [`call`](Self::call) for a synchronous closure, run on the calling thread.
    pub fn call_blocking<T, E, F>(&self, operation: F) -> Result<T, E>
    where
        F: FnOnce() -> Result<T, E>,
        E: From<ReliabilityError>,
    {
        self.call_blocking_with(|_: &E| true, operation)
    }

    /// [`call_blocking`](Self::call_blocking), counting an error as a failure only when
    /// `is_failure` says so.
    pub fn call_blocking_with<T, E, F, P>(&self, is_failure: P, operation: F) -> Result<T, E>
    where
        F: FnOnce() -> Result<T, E>,
        E: From<ReliabilityError>,
        P: FnOnce(&E) -> bool,
    {
        let permit = self.admit()?;
        let result = operation();
        permit.finish(result.as_ref().is_err_and(is_failure));
        result
    }

    /// The current state, after moving from open to half-open if `recovery_timeout` has
    /// passed.
    pub fn state(&self) -> CircuitState {
        let mut inner = self.inner.lock();
        self.refresh(&mut inner, self.clock.now());
        inner.state
    }

    /// Whether calls are being refused because the breaker is open (a half-open breaker is
    /// not open, though it refuses calls beyond its trial slots).
    pub fn is_open(&self) -> bool {
        matches!(self.state(), CircuitState::Open { .. })
    }

    /// While open: how long until trial calls are let through. `None` when not open.
    pub fn time_until_retry(&self) -> Option<Duration> {
        let mut inner = self.inner.lock();
        let now = self.clock.now();
        self.refresh(&mut inner, now);
        match inner.state {
            CircuitState::Open { opened_at } => Some(self.remaining(opened_at, now)),
            _ => None,
        }
    }

    /// The share of failures, 0.0 to 1.0, among the last
    /// [`FAILURE_RATE_WINDOW`](Self::FAILURE_RATE_WINDOW) attempted calls; 0.0 before any.
    pub fn failure_rate(&self) -> f64 {
        let inner = self.inner.lock();
        if inner.window.is_empty() {
            0.0
        } else {
            inner.window_failures as f64 / inner.window.len() as f64
        }
    }

    /// Counts of calls, outcomes, refusals and openings since the breaker was created.
    pub fn stats(&self) -> CircuitBreakerStats {
        self.inner.lock().stats
    }

    /// Closes the breaker by hand, forgetting its failure count (not its statistics or
    /// failure-rate window). Calls still running count for nothing when they finish.
    pub fn reset(&self) {
        let mut inner = self.inner.lock();
        Self::close(&mut inner);
    }

    fn remaining(&self, opened_at: Instant, now: Instant) -> Duration {
        self.config
            .recovery_timeout
            .saturating_sub(now.saturating_duration_since(opened_at))
    }

    /// Moves from open to half-open once the recovery timeout has passed.
    fn refresh(&self, inner: &mut Inner, now: Instant) {
        if let CircuitState::Open { opened_at } = inner.state {
            if now.saturating_duration_since(opened_at) >= self.config.recovery_timeout {
                Self::transition(
                    inner,
                    CircuitState::HalfOpen {
                        success_count: 0,
                        failure_count: 0,
                    },
                );
            }
        }
    }

    fn transition(inner: &mut Inner, state: CircuitState) {
        inner.state = state;
        inner.generation += 1;
        inner.trials_in_flight = 0;
    }

    fn open(inner: &mut Inner, now: Instant) {
        Self::transition(inner, CircuitState::Open { opened_at: now });
        inner.stats.times_opened += 1;
    }

    fn close(inner: &mut Inner) {
        Self::transition(
            inner,
            CircuitState::Closed {
                failure_count: 0,
                last_failure_time: None,
            },
        );
    }

    /// Admits one call or refuses it (see [`call_blocking`](Self::call_blocking)): the
    /// engine's own guard, which decides per outcome whether it counts.
    pub(crate) fn admit(&self) -> Result<Permit<'_>, ReliabilityError> {
        let mut inner = self.inner.lock();
        let now = self.clock.now();
        self.refresh(&mut inner, now);
        let trial = match inner.state {
            CircuitState::Closed { .. } => false,
            CircuitState::Open { opened_at } => {
                inner.stats.rejections += 1;
                return Err(self.refusal(self.remaining(opened_at, now)));
            }
            CircuitState::HalfOpen { .. } => {
                if inner.trials_in_flight >= self.config.half_open_max_calls {
                    inner.stats.rejections += 1;
                    return Err(self.refusal(Duration::ZERO));
                }
                inner.trials_in_flight += 1;
                true
            }
        };
        inner.stats.calls += 1;
        Ok(Permit {
            breaker: self,
            generation: inner.generation,
            trial,
            finished: false,
        })
    }

    fn refusal(&self, retry_after: Duration) -> ReliabilityError {
        ReliabilityError::CircuitBreakerOpen {
            service: self.name.clone(),
            retry_after,
        }
    }

    fn record(&self, generation: u64, failed: bool) {
        let mut inner = self.inner.lock();
        let now = self.clock.now();
        if failed {
            inner.stats.failures += 1;
        } else {
            inner.stats.successes += 1;
        }
        if inner.window.len() == Self::FAILURE_RATE_WINDOW && inner.window.pop_front() == Some(true)
        {
            inner.window_failures -= 1;
        }
        inner.window.push_back(failed);
        inner.window_failures += usize::from(failed);
        if generation != inner.generation {
            return; // admitted before the last transition: its outcome is about another period
        }
        match inner.state {
            CircuitState::Closed {
                failure_count,
                last_failure_time,
            } => {
                if !failed {
                    inner.state = CircuitState::Closed {
                        failure_count: 0,
                        last_failure_time,
                    };
                } else if failure_count + 1 >= self.config.failure_threshold {
                    Self::open(&mut inner, now);
                } else {
                    inner.state = CircuitState::Closed {
                        failure_count: failure_count + 1,
                        last_failure_time: Some(now),
                    };
                }
            }
            CircuitState::HalfOpen {
                success_count,
                failure_count,
            } => {
                inner.trials_in_flight = inner.trials_in_flight.saturating_sub(1);
                if failed {
                    Self::open(&mut inner, now);
                } else if success_count + 1 >= self.config.half_open_max_calls {
                    Self::close(&mut inner);
                } else {
                    inner.state = CircuitState::HalfOpen {
                        success_count: success_count + 1,
                        failure_count,
                    };
                }
            }
            // Opening starts a new generation, so no call of this one is still out.
            CircuitState::Open { .. } => {}
        }
    }

    /// Records the outcome of work that was not admitted through the breaker (the
    /// engine's background flushes and compactions, which are never refused): it moves
    /// the state as an admitted call of the current period would. While open it only
    /// counts.
    pub(crate) fn observe(&self, failed: bool) {
        let generation = {
            let mut inner = self.inner.lock();
            let now = self.clock.now();
            self.refresh(&mut inner, now);
            inner.stats.calls += 1;
            if matches!(inner.state, CircuitState::HalfOpen { .. }) {
                // Counts as a trial of its own: `record` gives the slot back.
                inner.trials_in_flight += 1;
            }
            inner.generation
        };
        self.record(generation, failed);
    }

    fn release_trial(&self, generation: u64) {
        let mut inner = self.inner.lock();
        if generation == inner.generation {
            inner.trials_in_flight = inner.trials_in_flight.saturating_sub(1);
        }
    }
}

impl Permit<'_> {
    /// Records the call's outcome: `failed` counts against the breaker, else a success.
    pub(crate) fn finish(mut self, failed: bool) {
        self.finished = true;
        self.breaker.record(self.generation, failed);
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        if !self.finished && self.trial {
            self.breaker.release_trial(self.generation);
        }
    }
}

impl fmt::Debug for CircuitBreaker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = self.inner.lock();
        f.debug_struct("CircuitBreaker")
            .field("name", &self.name)
            .field("config", &self.config)
            .field("state", &inner.state)
            .field("stats", &inner.stats)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use crate::error::DatabaseError;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Barrier;

    const SECOND: Duration = Duration::from_secs(1);

    fn breaker(
        threshold: usize,
        timeout: Duration,
        trials: usize,
    ) -> (CircuitBreaker, ManualClock) {
        let clock = ManualClock::new();
        let config = CircuitBreakerConfig {
            failure_threshold: threshold,
            recovery_timeout: timeout,
            half_open_max_calls: trials,
        };
        (
            CircuitBreaker::with_clock(config, Arc::new(clock.clone())).named("svc"),
            clock,
        )
    }

    fn fail(b: &CircuitBreaker) -> Result<(), DatabaseError> {
        b.call_blocking(|| Err(DatabaseError::DatabaseClosed))
    }

    fn succeed(b: &CircuitBreaker) -> Result<(), DatabaseError> {
        b.call_blocking(|| Ok(()))
    }

    #[test]
    fn the_default_config_is_the_documented_one() {
        let c = CircuitBreakerConfig::default();
        assert_eq!(c.failure_threshold, 5);
        assert_eq!(c.recovery_timeout, Duration::from_secs(30));
        assert_eq!(c.half_open_max_calls, 3);
        let from = CircuitBreakerConfig::from(&ReliabilityConfig::default());
        assert_eq!(from, c);
    }

    #[test]
    fn closed_counts_consecutive_failures_and_a_success_resets_them() {
        let (b, clock) = breaker(3, 10 * SECOND, 1);
        let t0 = clock.now();
        assert!(fail(&b).is_err());
        assert_eq!(
            b.state(),
            CircuitState::Closed {
                failure_count: 1,
                last_failure_time: Some(t0)
            }
        );
        clock.advance(SECOND);
        assert!(fail(&b).is_err());
        assert_eq!(
            b.state(),
            CircuitState::Closed {
                failure_count: 2,
                last_failure_time: Some(t0 + SECOND)
            }
        );
        assert!(succeed(&b).is_ok());
        assert_eq!(
            b.state(),
            CircuitState::Closed {
                failure_count: 0,
                last_failure_time: Some(t0 + SECOND)
            }
        );
        assert!(fail(&b).is_err());
        assert!(fail(&b).is_err());
        assert!(!b.is_open());
        assert_eq!(b.time_until_retry(), None);
    }

    #[test]
    fn closed_opens_at_the_threshold() {
        let (b, clock) = breaker(3, 10 * SECOND, 1);
        for _ in 0..3 {
            assert!(matches!(fail(&b), Err(DatabaseError::DatabaseClosed)));
        }
        let opened_at = clock.now();
        assert_eq!(b.state(), CircuitState::Open { opened_at });
        assert!(b.is_open());
        assert_eq!(b.time_until_retry(), Some(10 * SECOND));
        assert_eq!(b.stats().times_opened, 1);
    }

    #[test]
    fn open_refuses_without_calling_and_says_when_to_retry() {
        let (b, clock) = breaker(1, 10 * SECOND, 1);
        assert!(fail(&b).is_err());
        clock.advance(4 * SECOND);
        let called = AtomicUsize::new(0);
        let refused: Result<(), DatabaseError> = b.call_blocking(|| {
            called.fetch_add(1, Ordering::SeqCst);
            Ok(())
        });
        assert_eq!(called.load(Ordering::SeqCst), 0);
        assert_eq!(
            refused,
            Err(DatabaseError::CircuitBreakerOpen {
                service: "svc".into(),
                retry_after: 6 * SECOND,
            })
        );
        assert_eq!(refused.unwrap_err().error_code(), 302);
        assert_eq!(b.time_until_retry(), Some(6 * SECOND));
        let stats = b.stats();
        assert_eq!((stats.calls, stats.failures, stats.rejections), (1, 1, 1));
    }

    #[test]
    fn open_turns_half_open_after_the_timeout_on_a_query() {
        let (b, clock) = breaker(1, 10 * SECOND, 2);
        assert!(fail(&b).is_err());
        clock.advance(10 * SECOND - Duration::from_nanos(1));
        assert!(b.is_open());
        clock.advance(Duration::from_nanos(1));
        assert_eq!(
            b.state(),
            CircuitState::HalfOpen {
                success_count: 0,
                failure_count: 0
            }
        );
        assert!(!b.is_open());
        assert_eq!(b.time_until_retry(), None);
    }

    #[test]
    fn open_turns_half_open_on_the_next_call() {
        let (b, clock) = breaker(1, 10 * SECOND, 2);
        assert!(fail(&b).is_err());
        clock.advance(10 * SECOND);
        // The call itself sees the timeout passed and runs as a trial.
        assert!(succeed(&b).is_ok());
        assert_eq!(
            b.state(),
            CircuitState::HalfOpen {
                success_count: 1,
                failure_count: 0
            }
        );
    }

    #[test]
    fn half_open_closes_after_enough_successes() {
        let (b, clock) = breaker(1, SECOND, 3);
        assert!(fail(&b).is_err());
        clock.advance(SECOND);
        for n in 1..3 {
            assert!(succeed(&b).is_ok());
            assert_eq!(
                b.state(),
                CircuitState::HalfOpen {
                    success_count: n,
                    failure_count: 0
                }
            );
        }
        assert!(succeed(&b).is_ok());
        assert_eq!(
            b.state(),
            CircuitState::Closed {
                failure_count: 0,
                last_failure_time: None
            }
        );
    }

    #[test]
    fn half_open_reopens_on_a_failure() {
        let (b, clock) = breaker(2, SECOND, 3);
        assert!(fail(&b).is_err());
        assert!(fail(&b).is_err());
        clock.advance(SECOND);
        assert!(succeed(&b).is_ok());
        clock.advance(Duration::from_millis(5));
        assert!(fail(&b).is_err());
        assert_eq!(
            b.state(),
            CircuitState::Open {
                opened_at: clock.now()
            }
        );
        assert_eq!(b.time_until_retry(), Some(SECOND));
        assert_eq!(b.stats().times_opened, 2);
    }

    #[test]
    fn half_open_admits_at_most_its_trial_calls_at_once() {
        let (b, clock) = breaker(1, SECOND, 2);
        assert!(fail(&b).is_err());
        clock.advance(SECOND);
        // Two trials hold their slots (admitted, not finished); the third is refused.
        let first = b.admit().expect("first trial");
        let second = b.admit().expect("second trial");
        assert_eq!(
            b.admit().err(),
            Some(ReliabilityError::CircuitBreakerOpen {
                service: "svc".into(),
                retry_after: Duration::ZERO
            })
        );
        // A trial dropped unfinished (cancelled or panicked) gives its slot back.
        drop(first);
        let third = b.admit().expect("slot given back");
        second.finish(false);
        third.finish(false);
        assert!(matches!(b.state(), CircuitState::Closed { .. }));
    }

    #[test]
    fn a_stale_outcome_does_not_move_a_later_period() {
        let (b, clock) = breaker(1, SECOND, 1);
        let slow = b.admit().expect("closed admits"); // admitted while closed
        assert!(fail(&b).is_err()); // opens
        clock.advance(SECOND);
        assert!(succeed(&b).is_ok()); // half-open trial closes it
        slow.finish(true); // the old call's failure belongs to the first closed period
        assert_eq!(
            b.state(),
            CircuitState::Closed {
                failure_count: 0,
                last_failure_time: None
            }
        );
        assert_eq!(b.stats().failures, 2);
    }

    #[test]
    fn a_zero_threshold_or_trial_count_reads_as_one() {
        let (b, clock) = breaker(0, SECOND, 0);
        assert_eq!(b.config().failure_threshold, 1);
        assert_eq!(b.config().half_open_max_calls, 1);
        assert!(fail(&b).is_err());
        assert!(b.is_open());
        clock.advance(SECOND);
        assert!(succeed(&b).is_ok());
        assert!(matches!(b.state(), CircuitState::Closed { .. }));
    }

    #[test]
    fn the_predicate_decides_what_counts_as_a_failure() {
        let (b, _clock) = breaker(1, SECOND, 1);
        let caller_mistake: Result<(), DatabaseError> = b.call_blocking_with(
            |e: &DatabaseError| !matches!(e, DatabaseError::EmptyKey),
            || Err(DatabaseError::EmptyKey),
        );
        assert_eq!(caller_mistake, Err(DatabaseError::EmptyKey));
        assert!(!b.is_open());
        assert_eq!(b.failure_rate(), 0.0);
        let outage: Result<(), DatabaseError> = b.call_blocking_with(
            |e: &DatabaseError| !matches!(e, DatabaseError::EmptyKey),
            || Err(DatabaseError::DatabaseClosed),
        );
        assert!(outage.is_err());
        assert!(b.is_open());
    }

    #[test]
    fn the_failure_rate_covers_the_last_calls() {
        let (b, _clock) = breaker(usize::MAX, SECOND, 1);
        assert_eq!(b.failure_rate(), 0.0);
        assert!(fail(&b).is_err());
        assert!(succeed(&b).is_ok());
        assert!(succeed(&b).is_ok());
        assert!(succeed(&b).is_ok());
        assert_eq!(b.failure_rate(), 0.25);
        for _ in 0..CircuitBreaker::FAILURE_RATE_WINDOW {
            assert!(fail(&b).is_err());
        }
        assert_eq!(b.failure_rate(), 1.0);
        for _ in 0..CircuitBreaker::FAILURE_RATE_WINDOW / 2 {
            assert!(succeed(&b).is_ok());
        }
        assert_eq!(b.failure_rate(), 0.5);
    }

    #[test]
    fn refusals_are_not_in_the_failure_rate() {
        let (b, _clock) = breaker(1, SECOND, 1);
        assert!(fail(&b).is_err());
        for _ in 0..5 {
            assert!(matches!(
                succeed(&b),
                Err(DatabaseError::CircuitBreakerOpen { .. })
            ));
        }
        assert_eq!(b.failure_rate(), 1.0);
        assert_eq!(b.stats().rejections, 5);
    }

    #[test]
    fn reset_closes_by_hand() {
        let (b, _clock) = breaker(1, SECOND, 1);
        assert!(fail(&b).is_err());
        assert!(b.is_open());
        b.reset();
        assert!(succeed(&b).is_ok());
        assert!(matches!(b.state(), CircuitState::Closed { .. }));
    }

    #[test]
    fn other_error_types_express_the_refusal() {
        let (b, _clock) = breaker(1, SECOND, 1);
        let _: Result<(), std::io::Error> = b.call_blocking(|| Err(std::io::Error::other("x")));
        let io: Result<(), std::io::Error> = b.call_blocking(|| Ok(()));
        assert_eq!(
            io.expect_err("refused").kind(),
            std::io::ErrorKind::WouldBlock
        );
        let boxed: Result<(), Box<dyn std::error::Error + Send + Sync>> =
            b.call_blocking(|| Ok(()));
        assert!(boxed
            .expect_err("refused")
            .to_string()
            .contains("circuit breaker for 'svc' is open"));
        let reliability: Result<(), ReliabilityError> = b.call_blocking(|| Ok(()));
        assert!(matches!(
            reliability,
            Err(ReliabilityError::CircuitBreakerOpen { .. })
        ));
    }

    async fn async_walk(b: &CircuitBreaker, clock: &ManualClock) {
        let failed: Result<u32, DatabaseError> = b
            .call(|| async { Err(DatabaseError::DatabaseClosed) })
            .await;
        assert!(failed.is_err());
        assert!(b.is_open());
        let refused: Result<u32, DatabaseError> = b.call(|| async { Ok(1) }).await;
        assert!(matches!(
            refused,
            Err(DatabaseError::CircuitBreakerOpen { .. })
        ));
        clock.advance(SECOND);
        let trial: Result<u32, DatabaseError> = b
            .call(|| async {
                futures_lite::future::yield_now().await;
                Ok(7)
            })
            .await;
        assert_eq!(trial, Ok(7));
        assert!(matches!(b.state(), CircuitState::Closed { .. }));
    }

    #[test]
    fn the_async_call_under_block_on() {
        let (b, clock) = breaker(1, SECOND, 1);
        futures_lite::future::block_on(async_walk(&b, &clock));
    }

    #[test]
    fn the_async_call_under_tokio() {
        let (b, clock) = breaker(1, SECOND, 1);
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .build()
            .expect("runtime");
        let b = Arc::new(b);
        let shared = Arc::clone(&b);
        rt.block_on(async move {
            // Spawned: the future of `call` is `Send`.
            tokio::spawn(async move { async_walk(&shared, &clock).await })
                .await
                .expect("task");
        });
    }

    #[test]
    fn a_dropped_async_call_gives_back_its_trial_slot() {
        let (b, clock) = breaker(1, SECOND, 1);
        assert!(fail(&b).is_err());
        clock.advance(SECOND);
        {
            let mut pending = Box::pin(b.call(|| async {
                futures_lite::future::yield_now().await;
                Ok::<(), DatabaseError>(())
            }));
            let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
            assert!(pending.as_mut().poll(&mut cx).is_pending());
            // Its slot is taken...
            assert!(matches!(
                succeed(&b),
                Err(DatabaseError::CircuitBreakerOpen { .. })
            ));
        } // ...and given back when it is dropped.
        assert!(succeed(&b).is_ok());
        assert!(matches!(b.state(), CircuitState::Closed { .. }));
    }

    #[test]
    fn a_panicking_trial_gives_back_its_slot() {
        let (b, clock) = breaker(1, SECOND, 1);
        assert!(fail(&b).is_err());
        clock.advance(SECOND);
        let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let _: Result<(), DatabaseError> = b.call_blocking(|| panic!("boom"));
        }));
        assert!(panicked.is_err());
        assert!(succeed(&b).is_ok());
    }

    #[test]
    fn many_threads_while_the_state_flips() {
        // Threads hammer the breaker with mixed outcomes while the clock moves, so it opens,
        // goes half-open and closes again and again. Throughout, no half-open period has more
        // trial calls running than its slots, and the statistics add up. Half the threads go
        // through `call_blocking`; the other half take permits directly so that they can tell
        // trial calls (and their period) apart.
        const THREADS: usize = 8;
        const CALLS: usize = 2_000;
        const SLOTS: usize = 2;
        let (b, clock) = breaker(3, Duration::from_millis(10), SLOTS);
        let trials_by_period: Mutex<std::collections::HashMap<u64, usize>> =
            Mutex::new(std::collections::HashMap::new());
        let most_trials = AtomicUsize::new(0);
        let start = Barrier::new(THREADS + 1);
        std::thread::scope(|s| {
            for t in 0..THREADS {
                let (b, trials_by_period, most_trials, start) =
                    (&b, &trials_by_period, &most_trials, &start);
                s.spawn(move || {
                    start.wait();
                    for i in 0..CALLS {
                        let fails = (i / 50 + t) % 2 == 0; // runs of failures, then of successes
                        if t % 2 == 0 {
                            let _: Result<(), DatabaseError> = b.call_blocking(|| {
                                std::thread::yield_now();
                                if fails {
                                    Err(DatabaseError::DatabaseClosed)
                                } else {
                                    Ok(())
                                }
                            });
                            continue;
                        }
                        let Ok(permit) = b.admit() else { continue };
                        if permit.trial {
                            let period = permit.generation;
                            let running = {
                                let mut map = trials_by_period.lock();
                                let n = map.entry(period).or_insert(0);
                                *n += 1;
                                *n
                            };
                            most_trials.fetch_max(running, Ordering::SeqCst);
                            std::thread::yield_now();
                            *trials_by_period.lock().entry(period).or_insert(1) -= 1;
                        }
                        permit.finish(fails);
                    }
                });
            }
            start.wait();
            for _ in 0..2_000 {
                clock.advance(Duration::from_millis(1));
                std::thread::yield_now();
            }
        });
        let stats = b.stats();
        assert_eq!(stats.calls + stats.rejections, (THREADS * CALLS) as u64);
        assert_eq!(stats.successes + stats.failures, stats.calls);
        assert!(stats.times_opened > 0, "{stats:?}");
        assert!(most_trials.load(Ordering::SeqCst) <= SLOTS);
        assert!(b.inner.lock().trials_in_flight <= SLOTS);
    }

    #[test]
    fn half_open_admission_under_contention() {
        // Many threads race for the trial slots of a half-open breaker whose trials block:
        // exactly `half_open_max_calls` get in.
        let (b, clock) = breaker(1, SECOND, 3);
        assert!(fail(&b).is_err());
        clock.advance(SECOND);
        let admitted = AtomicUsize::new(0);
        let refused = AtomicUsize::new(0);
        let entered = Barrier::new(3 + 1);
        let release = Barrier::new(3 + 1);
        let start = Barrier::new(16);
        std::thread::scope(|s| {
            for _ in 0..16 {
                let (b, admitted, refused, entered, release, start) =
                    (&b, &admitted, &refused, &entered, &release, &start);
                s.spawn(move || {
                    start.wait();
                    let result: Result<(), DatabaseError> = b.call_blocking(|| {
                        admitted.fetch_add(1, Ordering::SeqCst);
                        entered.wait();
                        release.wait();
                        Ok(())
                    });
                    if result.is_err() {
                        refused.fetch_add(1, Ordering::SeqCst);
                    }
                });
            }
            entered.wait(); // the three trials are inside
                            // Everyone else has been refused by now or will be: wait until all 13 are counted.
            while refused.load(Ordering::SeqCst) < 13 {
                std::thread::yield_now();
            }
            assert_eq!(admitted.load(Ordering::SeqCst), 3);
            release.wait();
        });
        assert_eq!(admitted.load(Ordering::SeqCst), 3);
        assert_eq!(refused.load(Ordering::SeqCst), 13);
        assert!(matches!(b.state(), CircuitState::Closed { .. }));
    }

    #[test]
    fn breakers_are_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<CircuitBreaker>();
        check::<CircuitState>();
    }
}
