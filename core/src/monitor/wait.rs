//! Waiting on a [`Clock`] from a plain thread: until a deadline, until something is done,
//! or until the waiter is told to stop, whichever comes first.
//!
//! The thread parks; the clock's deadline future (the shared timer thread for the
//! [`SystemClock`](crate::SystemClock), [`ManualClock::advance`](crate::ManualClock::advance)
//! in tests), a [`Stopper`] and a finished [`Slot`] unpark it. Nothing polls on a timer.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Wake, Waker};
use std::thread::Thread;
use std::time::Instant;

use parking_lot::Mutex;

use crate::clock::Clock;

/// Wakes a parked thread.
struct Unpark(Thread);

impl Wake for Unpark {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.0.unpark();
    }
}

/// Tells a waiting thread to stop.
#[derive(Default)]
pub(crate) struct Stopper {
    stopped: AtomicBool,
    thread: Mutex<Option<Thread>>,
}

impl Stopper {
    /// Names the thread that waits on this stopper (so `stop` can wake it).
    pub(crate) fn set_thread(&self, t: Thread) {
        *self.thread.lock() = Some(t);
        // A stop that came before the thread was known must still wake it.
        if self.is_stopped() {
            if let Some(t) = self.thread.lock().as_ref() {
                t.unpark();
            }
        }
    }

    /// Stops the waiter and wakes it.
    pub(crate) fn stop(&self) {
        self.stopped.store(true, Ordering::Release);
        if let Some(t) = self.thread.lock().as_ref() {
            t.unpark();
        }
    }

    /// Whether `stop` was called.
    pub(crate) fn is_stopped(&self) -> bool {
        self.stopped.load(Ordering::Acquire)
    }
}

/// Parks the calling thread until `clock` reaches `deadline` (true) or `stopper` stops
/// (false).
pub(crate) fn park_until(clock: &dyn Clock, deadline: Instant, stopper: &Stopper) -> bool {
    wait_for(clock, deadline, || stopper.is_stopped()) == Waited::Deadline
}

/// How a [`wait_for`] ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Waited {
    /// The condition became true.
    Done,
    /// The clock reached the deadline first.
    Deadline,
}

/// Parks until `done()` is true or `clock` reaches `deadline`. Whoever makes `done` true
/// must unpark this thread.
pub(crate) fn wait_for(clock: &dyn Clock, deadline: Instant, done: impl Fn() -> bool) -> Waited {
    let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut timer = clock.wait_until(deadline);
    loop {
        if done() {
            return Waited::Done;
        }
        if timer.as_mut().poll(&mut cx).is_ready() {
            return if done() {
                Waited::Done
            } else {
                Waited::Deadline
            };
        }
        std::thread::park();
    }
}

/// A value one thread hands to another that waits for it (see [`wait_for`]).
pub(crate) struct Slot<T> {
    value: Mutex<Option<T>>,
    waiter: Thread,
}

impl<T> Slot<T> {
    /// A slot the current thread will wait on.
    pub(crate) fn for_current_thread() -> Arc<Self> {
        Arc::new(Self {
            value: Mutex::new(None),
            waiter: std::thread::current(),
        })
    }

    /// Fills the slot and wakes the waiter.
    pub(crate) fn put(&self, v: T) {
        *self.value.lock() = Some(v);
        self.waiter.unpark();
    }

    /// Whether the slot was filled.
    pub(crate) fn is_full(&self) -> bool {
        self.value.lock().is_some()
    }

    /// The value, once filled.
    pub(crate) fn take(&self) -> Option<T> {
        self.value.lock().take()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use std::time::Duration;

    #[test]
    fn a_manual_deadline_ends_the_wait_only_when_moved() {
        let clock = ManualClock::new();
        let deadline = clock.now() + Duration::from_secs(30);
        let mover = clock.clone();
        let t = std::thread::spawn(move || {
            while mover.pending_deadlines() == 0 {
                std::thread::yield_now();
            }
            mover.advance(Duration::from_secs(30));
        });
        assert_eq!(wait_for(&clock, deadline, || false), Waited::Deadline);
        t.join().expect("mover");
    }

    #[test]
    fn a_filled_slot_or_a_stop_ends_the_wait() {
        let clock = ManualClock::new();
        let slot = Slot::for_current_thread();
        let filler = Arc::clone(&slot);
        let t = std::thread::spawn(move || filler.put(7));
        let far = clock.now() + Duration::from_secs(3600);
        assert_eq!(wait_for(&clock, far, || slot.is_full()), Waited::Done);
        assert_eq!(slot.take(), Some(7));
        t.join().expect("filler");

        let stopper = Arc::new(Stopper::default());
        stopper.set_thread(std::thread::current());
        let s = Arc::clone(&stopper);
        let t = std::thread::spawn(move || s.stop());
        assert!(!park_until(&clock, far, &stopper));
        t.join().expect("stopper");
    }
}
