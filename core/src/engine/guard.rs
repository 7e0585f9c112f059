//! The database guarding its own I/O (`circuit_breaker_enabled`) and retrying its own
//! background work (`reliability.retry_max_attempts`, `retry_backoff_strategy`).
//!
//! # What the breaker counts
//!
//! An *I/O failure* is a [`DatabaseError::Io`] (the file system refused or failed a call:
//! `EIO`, `ENOSPC`...). The breaker counts the I/O failures and successes of:
//!
//! - writes (`put`, `delete`, batches, transaction commits): the log append and sync;
//! - `flush` and `compact`, and the background flushes and compactions (each attempt of a
//!   retried one counts; background work is never refused, so a retry after the recovery
//!   timeout is the half-open probe when nothing else comes);
//! - point reads (`get`, `get_pinned`, `contains_key`, snapshot and transaction reads) that
//!   went to a table file. A read answered from the memtables says nothing about the
//!   device: it is refused while the breaker is open but does not count either way.
//!
//! Other errors (a caller's mistake, a conflict, corruption found by a checksum, a
//! `Poisoned` refusal) do not count. Iterators, bulk loads and `sync` are not guarded.
//! While open, guarded operations fail with `CircuitBreakerOpen` without touching the
//! files. A failed fsync still poisons the database as without the breaker.
//!
//! # What is retried
//!
//! A background flush or compaction that failed with a *transient* I/O error (an
//! `Io` error of anything but a sync, on a database not poisoned) is tried again up to
//! `retry_max_attempts` times, waiting `retry_backoff_strategy`'s delay on the database's
//! clock (and, with the breaker open, until it lets a trial through). A failed sync is
//! never retried: the kernel may have dropped the unwritten pages, so the database stays
//! `Poisoned`. A flush that exhausts its retries poisons the database as before; a
//! compaction that does loses nothing (its inputs stay live) and waits for new work.

use std::task::{Context, Wake, Waker};

use super::*;

/// Wakes a parked thread when a clock's timer fires.
struct Unpark(std::thread::Thread);

impl Wake for Unpark {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }
}

/// Whether `e` is a failure of the device, which the breaker counts.
pub(crate) fn is_io_failure(e: &DatabaseError) -> bool {
    matches!(e, DatabaseError::Io { .. })
}

/// Whether `e` is an I/O failure that trying again may cure: not a failed sync, whose
/// lost pages no retry brings back.
pub(crate) fn is_transient(e: &DatabaseError) -> bool {
    match e {
        DatabaseError::Io { operation, .. } => !operation.contains("sync"),
        _ => false,
    }
}

impl DbInner {
    /// Runs `op` through the database's breaker, if it has one: refused with
    /// `CircuitBreakerOpen` while open; an I/O failure counts against it, a success for it.
    pub(crate) fn guarded<T>(
        &self,
        op: impl FnOnce() -> Result<T, DatabaseError>,
    ) -> Result<T, DatabaseError> {
        self.guarded_with(op, |_| true)
    }

    /// [`guarded`](Self::guarded), where a success counts only when `touched_disk` says
    /// the operation went to the files.
    pub(crate) fn guarded_with<T>(
        &self,
        op: impl FnOnce() -> Result<T, DatabaseError>,
        touched_disk: impl FnOnce(&T) -> bool,
    ) -> Result<T, DatabaseError> {
        let Some(breaker) = &self.breaker else {
            return op();
        };
        let permit = breaker.admit()?;
        let result = op();
        match &result {
            Ok(value) if touched_disk(value) => permit.finish(false),
            Err(e) if is_io_failure(e) => permit.finish(true),
            // Says nothing about the device: the permit goes back unrecorded.
            _ => drop(permit),
        }
        result
    }

    /// `CircuitBreakerOpen` while the breaker is open (for callers waiting on background
    /// work, which is never refused).
    pub(super) fn refuse_if_breaker_open(&self) -> Result<(), DatabaseError> {
        match &self.breaker {
            Some(b) => match b.time_until_retry() {
                Some(retry_after) => Err(DatabaseError::CircuitBreakerOpen {
                    service: b.name().to_string(),
                    retry_after,
                }),
                None => Ok(()),
            },
            None => Ok(()),
        }
    }

    /// Tells the breaker how a piece of background work went.
    pub(super) fn observe_background<T>(&self, result: &Result<T, DatabaseError>) {
        if let Some(breaker) = &self.breaker {
            match result {
                Ok(_) => breaker.observe(false),
                Err(e) if is_io_failure(e) => breaker.observe(true),
                Err(_) => {}
            }
        }
    }

    /// Whether background work that failed with `e` on its `attempt`th retry (0 for the
    /// first) may be tried again.
    pub(super) fn may_retry(&self, e: &DatabaseError, attempt: usize) -> bool {
        attempt < self.config.reliability.retry_max_attempts
            && is_transient(e)
            && !self.is_poisoned.load(Ordering::Acquire)
    }

    /// Counts a retry of `job` after `e`, tells the listeners (not poisoned: it is being
    /// retried) and waits the backoff delay of retry number `attempt` (0 for the first)
    /// on the database's clock, longer while the breaker is open. False when the database
    /// closed meanwhile.
    pub(super) fn back_off(&self, job: BackgroundJob, e: &DatabaseError, attempt: usize) -> bool {
        self.counters
            .background_retries
            .fetch_add(1, Ordering::Relaxed);
        self.report_background_error(job, e, false);
        let strategy = self.config.reliability.retry_backoff_strategy;
        let mut delay = strategy.delay_for_attempt(u32::try_from(attempt).unwrap_or(u32::MAX));
        if let Some(wait) = self.breaker.as_ref().and_then(|b| b.time_until_retry()) {
            delay = delay.max(wait);
        }
        self.pause(delay)
    }

    /// Waits `delay` on the database's clock; returns false early when the database is
    /// shutting down.
    pub(super) fn pause(&self, delay: Duration) -> bool {
        let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
        let mut cx = Context::from_waker(&waker);
        let mut sleep = self.clock.sleep_async(delay);
        loop {
            if self.bg.lock().shutdown {
                return false;
            }
            if sleep.as_mut().poll(&mut cx).is_ready() {
                return true;
            }
            // The timer unparks this thread; the timeout only bounds how late a shutdown
            // is noticed.
            std::thread::park_timeout(Duration::from_millis(50));
        }
    }
}
