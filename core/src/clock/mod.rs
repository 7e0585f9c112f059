//! Time for the operational layer: the [`Clock`] trait, the real [`SystemClock`], and the
//! [`ManualClock`] that tests move by hand; `timer` is the runtime-free timer thread
//! behind the async waits.
//!
//! The circuit breaker, the recovery manager, the metrics collector and the health
//! monitor read the time and wait only through a `Clock`, so a test drives every
//! transition, backoff schedule and monitoring round without sleeping and without
//! asserting anything about the wall clock. It is a leaf module so that the monitors,
//! which sit below the `Database` facade, share it with the layer above.

use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

mod timer;

use timer::Sleep;

/// A boxed future that completes when a [`Clock`] says so.
pub type ClockFuture = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

/// Where the reliability layer gets the time and how it waits.
///
/// Two kinds of waiting are told apart because a test clock treats them differently:
///
/// - a **sleep** ([`sleep`](Self::sleep), [`sleep_async`](Self::sleep_async)) is the caller's
///   own pause, such as a retry's backoff: the time must pass, and a test clock may make it
///   pass at once;
/// - a **deadline** ([`wait_until`](Self::wait_until)) watches something else, such as an
///   attempt that may overrun its time limit: it completes when the clock reaches the
///   deadline, and a test clock waits for the test to move it there.
///
/// [`SystemClock`] is the real one; [`ManualClock`] is for tests.
pub trait Clock: Send + Sync {
    /// The current instant.
    fn now(&self) -> Instant;

    /// Blocks the calling thread for `duration`.
    fn sleep(&self, duration: Duration);

    /// A future that completes after `duration`, without blocking the thread that polls it
    /// and without needing any particular async runtime.
    fn sleep_async(&self, duration: Duration) -> ClockFuture;

    /// A future that completes once [`now`](Self::now) reaches `deadline`, without blocking
    /// the thread that polls it.
    fn wait_until(&self, deadline: Instant) -> ClockFuture;
}

/// The operating system's clock: [`Instant::now`], [`std::thread::sleep`], and for the async
/// forms a timer served by one shared background thread (started the first time a timer has
/// to wait), so they run under tokio, async-std, smol or `futures_lite::future::block_on`
/// alike and never block the executor's thread.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Instant {
        Instant::now()
    }

    fn sleep(&self, duration: Duration) {
        std::thread::sleep(duration);
    }

    fn sleep_async(&self, duration: Duration) -> ClockFuture {
        Box::pin(Sleep::after(duration))
    }

    fn wait_until(&self, deadline: Instant) -> ClockFuture {
        Box::pin(Sleep::until(Some(deadline)))
    }
}

/// A clock for tests: it stands still until it is moved.
///
/// - [`advance`](Self::advance) moves it forward and completes every
///   [`wait_until`](Clock::wait_until) future whose deadline it reaches;
/// - a sleep ([`Clock::sleep`], [`Clock::sleep_async`]) moves it forward by the slept
///   duration at once, without blocking, and is recorded, so [`sleeps`](Self::sleeps) shows
///   the backoff schedule a recovery manager followed.
///
/// Clones share one time. Hand it to the reliability types as an `Arc<dyn Clock>`:
///
/// ```
/// use std::sync::Arc;
/// use std::time::Duration;
/// use lightning_db::{CircuitBreaker, CircuitBreakerConfig, CircuitState, DatabaseError, ManualClock};
///
/// let clock = ManualClock::new();
/// let config = CircuitBreakerConfig {
///     failure_threshold: 1,
///     recovery_timeout: Duration::from_secs(30),
///     half_open_max_calls: 1,
/// };
/// let breaker = CircuitBreaker::with_clock(config, Arc::new(clock.clone()));
/// let failed: Result<(), DatabaseError> = breaker.call_blocking(|| Err(DatabaseError::DatabaseClosed));
/// assert!(failed.is_err());
/// assert!(breaker.is_open());
/// clock.advance(Duration::from_secs(30));
/// assert!(matches!(breaker.state(), CircuitState::HalfOpen { .. }));
/// ```
#[derive(Clone)]
pub struct ManualClock {
    inner: Arc<Mutex<ManualState>>,
}

struct ManualState {
    origin: Instant,
    now: Instant,
    sleeps: Vec<Duration>,
    waiters: BTreeMap<u64, (Instant, Waker)>,
    next_waiter: u64,
}

impl ManualClock {
    /// A clock standing at an arbitrary fixed instant (the real time of its creation).
    pub fn new() -> ManualClock {
        let origin = Instant::now();
        ManualClock {
            inner: Arc::new(Mutex::new(ManualState {
                origin,
                now: origin,
                sleeps: Vec::new(),
                waiters: BTreeMap::new(),
                next_waiter: 0,
            })),
        }
    }

    /// Moves the clock forward by `by` and wakes the deadlines it reaches. A step that would
    /// take the clock beyond what [`Instant`] can represent is ignored.
    pub fn advance(&self, by: Duration) {
        let due: Vec<Waker> = {
            let mut state = self.inner.lock();
            let Some(now) = state.now.checked_add(by) else {
                return;
            };
            state.now = now;
            let ids: Vec<u64> = state
                .waiters
                .iter()
                .filter(|(_, (deadline, _))| *deadline <= now)
                .map(|(id, _)| *id)
                .collect();
            ids.iter()
                .filter_map(|id| state.waiters.remove(id))
                .map(|(_, waker)| waker)
                .collect()
        };
        due.into_iter().for_each(Waker::wake);
    }

    /// How far the clock has moved since it was created.
    pub fn elapsed(&self) -> Duration {
        let state = self.inner.lock();
        state.now.saturating_duration_since(state.origin)
    }

    /// Every sleep asked of this clock so far, blocking and async, in order.
    pub fn sleeps(&self) -> Vec<Duration> {
        self.inner.lock().sleeps.clone()
    }

    /// How many [`wait_until`](Clock::wait_until) futures are waiting for the clock to move.
    pub fn pending_deadlines(&self) -> usize {
        self.inner.lock().waiters.len()
    }

    fn slept(&self, duration: Duration) {
        self.inner.lock().sleeps.push(duration);
        self.advance(duration);
    }
}

impl Default for ManualClock {
    fn default() -> Self {
        ManualClock::new()
    }
}

impl fmt::Debug for ManualClock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.inner.lock();
        f.debug_struct("ManualClock")
            .field(
                "elapsed",
                &state.now.saturating_duration_since(state.origin),
            )
            .field("sleeps", &state.sleeps.len())
            .field("pending_deadlines", &state.waiters.len())
            .finish()
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Instant {
        self.inner.lock().now
    }

    /// Records the sleep and moves the clock forward by `duration`; returns at once.
    fn sleep(&self, duration: Duration) {
        self.slept(duration);
    }

    /// When first polled, records the sleep and moves the clock forward by `duration`;
    /// ready at once.
    fn sleep_async(&self, duration: Duration) -> ClockFuture {
        let clock = self.clone();
        Box::pin(async move { clock.slept(duration) })
    }

    /// Completes once [`advance`](ManualClock::advance) (or a sleep) has moved the clock to
    /// `deadline`.
    fn wait_until(&self, deadline: Instant) -> ClockFuture {
        Box::pin(ManualDeadline {
            clock: self.clone(),
            deadline,
            id: None,
        })
    }
}

struct ManualDeadline {
    clock: ManualClock,
    deadline: Instant,
    id: Option<u64>,
}

impl Future for ManualDeadline {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = &mut *self;
        let mut state = this.clock.inner.lock();
        if state.now >= this.deadline {
            if let Some(id) = this.id.take() {
                state.waiters.remove(&id);
            }
            return Poll::Ready(());
        }
        let id = match this.id {
            Some(id) => id,
            None => {
                let id = state.next_waiter;
                state.next_waiter += 1;
                id
            }
        };
        state
            .waiters
            .insert(id, (this.deadline, cx.waker().clone()));
        this.id = Some(id);
        Poll::Pending
    }
}

impl Drop for ManualDeadline {
    fn drop(&mut self) {
        if let Some(id) = self.id.take() {
            self.clock.inner.lock().waiters.remove(&id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_manual_clock_stands_still_until_moved() {
        let clock = ManualClock::new();
        let start = clock.now();
        assert_eq!(clock.now(), start);
        clock.advance(Duration::from_secs(5));
        assert_eq!(clock.now(), start + Duration::from_secs(5));
        assert_eq!(clock.elapsed(), Duration::from_secs(5));
        let shared = clock.clone();
        shared.advance(Duration::from_secs(1));
        assert_eq!(clock.elapsed(), Duration::from_secs(6));
    }

    #[test]
    fn manual_sleeps_pass_at_once_and_are_recorded() {
        let clock = ManualClock::new();
        clock.sleep(Duration::from_millis(100));
        futures_lite::future::block_on(clock.sleep_async(Duration::from_millis(200)));
        assert_eq!(
            clock.sleeps(),
            vec![Duration::from_millis(100), Duration::from_millis(200)]
        );
        assert_eq!(clock.elapsed(), Duration::from_millis(300));
    }

    #[test]
    fn a_manual_deadline_waits_for_the_clock() {
        let clock = ManualClock::new();
        let deadline = clock.now() + Duration::from_secs(10);
        let mut wait = clock.wait_until(deadline);
        let waker = Waker::noop();
        let mut cx = Context::from_waker(waker);
        assert!(wait.as_mut().poll(&mut cx).is_pending());
        assert_eq!(clock.pending_deadlines(), 1);
        clock.advance(Duration::from_secs(9));
        assert!(wait.as_mut().poll(&mut cx).is_pending());
        clock.advance(Duration::from_secs(1));
        assert_eq!(clock.pending_deadlines(), 0); // woken and removed by the advance
        assert!(wait.as_mut().poll(&mut cx).is_ready());
        // A dropped deadline leaves nothing behind.
        let mut later = clock.wait_until(clock.now() + Duration::from_secs(1));
        assert!(later.as_mut().poll(&mut cx).is_pending());
        drop(later);
        assert_eq!(clock.pending_deadlines(), 0);
    }

    #[test]
    fn a_manual_deadline_wakes_a_blocked_executor() {
        let clock = ManualClock::new();
        let deadline = clock.now() + Duration::from_secs(60);
        let mover = clock.clone();
        let handle = std::thread::spawn(move || {
            while mover.pending_deadlines() == 0 {
                std::thread::yield_now();
            }
            mover.advance(Duration::from_secs(60));
        });
        futures_lite::future::block_on(clock.wait_until(deadline));
        handle.join().expect("mover");
        assert_eq!(clock.elapsed(), Duration::from_secs(60));
    }

    #[test]
    fn an_overflowing_advance_is_ignored() {
        let clock = ManualClock::new();
        clock.advance(Duration::MAX);
        assert_eq!(clock.elapsed(), Duration::ZERO);
    }

    #[test]
    fn the_system_clock_moves_forward() {
        let clock = SystemClock;
        let before = clock.now();
        clock.sleep(Duration::ZERO);
        futures_lite::future::block_on(clock.sleep_async(Duration::ZERO));
        futures_lite::future::block_on(clock.wait_until(before));
        assert!(clock.now() >= before);
    }
}
