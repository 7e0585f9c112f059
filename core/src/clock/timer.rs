//! A runtime-free timer for the async forms: a future that completes at a deadline.
//!
//! One shared thread, started by the first timer that has to wait, keeps the pending
//! deadlines in order (a `BTreeMap` keyed by deadline and id) with their wakers, sleeps on a
//! condition variable until the earliest one, and wakes whatever is due. A timer that is
//! dropped before its deadline takes its entry out, so a long timeout that was not needed
//! costs nothing afterwards. When nothing is pending the thread waits without a deadline.
//! No executor is involved, so the futures work under tokio, async-std, smol or a plain
//! `block_on` alike, and never block the thread that polls them.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex, MutexGuard};

/// Whether the timer thread runs.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Driver {
    NotStarted,
    Running,
    /// The thread could not be spawned: timers fall back to sleeping in `poll`.
    Failed,
}

struct State {
    entries: BTreeMap<(Instant, u64), Waker>,
    next_id: u64,
    driver: Driver,
}

static STATE: Mutex<State> = Mutex::new(State {
    entries: BTreeMap::new(),
    next_id: 0,
    driver: Driver::NotStarted,
});
static WAKE_DRIVER: Condvar = Condvar::new();

/// A future that completes once `Instant::now()` reaches its deadline (never, for `None`).
pub(crate) struct Sleep {
    deadline: Option<Instant>,
    /// The id of this timer's entry while one is registered.
    registered: Option<u64>,
}

impl Sleep {
    /// Completes after `duration` (never, if the deadline would overflow `Instant`).
    pub(crate) fn after(duration: Duration) -> Sleep {
        Sleep::until(Instant::now().checked_add(duration))
    }

    /// Completes at `deadline`, or never for `None`.
    pub(crate) fn until(deadline: Option<Instant>) -> Sleep {
        Sleep {
            deadline,
            registered: None,
        }
    }

    fn deregister(&mut self) {
        if let (Some(deadline), Some(id)) = (self.deadline, self.registered.take()) {
            STATE.lock().entries.remove(&(deadline, id));
        }
    }
}

impl Future for Sleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let Some(deadline) = self.deadline else {
            return Poll::Pending; // a deadline beyond `Instant`'s range: never
        };
        if Instant::now() >= deadline {
            self.deregister();
            return Poll::Ready(());
        }
        let mut state = STATE.lock();
        if state.driver == Driver::NotStarted {
            state.driver = start_driver();
        }
        if state.driver == Driver::Failed {
            // Without the thread nothing would wake this task: wait here instead. Reached only
            // when the OS refuses a thread, and better than never completing.
            drop(state);
            std::thread::sleep(deadline.saturating_duration_since(Instant::now()));
            return Poll::Ready(());
        }
        let id = match self.registered {
            Some(id) => id,
            None => {
                let id = state.next_id;
                state.next_id += 1;
                id
            }
        };
        let key = (deadline, id);
        let is_earliest = state
            .entries
            .keys()
            .next()
            .is_none_or(|first| key <= *first);
        match state.entries.get_mut(&key) {
            Some(waker) if waker.will_wake(cx.waker()) => {}
            Some(waker) => waker.clone_from(cx.waker()),
            // Not registered yet, or the thread already fired the entry (and this poll came
            // before the deadline by the clock's reading, which cannot really happen).
            None => {
                state.entries.insert(key, cx.waker().clone());
            }
        }
        self.registered = Some(id);
        if is_earliest {
            WAKE_DRIVER.notify_one();
        }
        Poll::Pending
    }
}

impl Drop for Sleep {
    fn drop(&mut self) {
        self.deregister();
    }
}

fn start_driver() -> Driver {
    let spawned = std::thread::Builder::new()
        .name("lightning-timer".into())
        .spawn(drive);
    match spawned {
        Ok(_) => Driver::Running,
        Err(_) => Driver::Failed,
    }
}

/// The timer thread: wakes every entry whose deadline has passed, then waits for the next.
fn drive() {
    let mut state = STATE.lock();
    loop {
        let now = Instant::now();
        let mut due = Vec::new();
        while let Some(entry) = state.entries.first_entry() {
            if entry.key().0 > now {
                break;
            }
            due.push(entry.remove());
        }
        if !due.is_empty() {
            // A waker may run code (an executor's scheduling): never under the lock.
            MutexGuard::unlocked(&mut state, || due.into_iter().for_each(Waker::wake));
            continue;
        }
        match state.entries.keys().next() {
            Some(&(deadline, _)) => {
                WAKE_DRIVER.wait_until(&mut state, deadline);
            }
            None => WAKE_DRIVER.wait(&mut state),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::task::Wake;

    struct CountingWaker(AtomicUsize);

    impl Wake for CountingWaker {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[test]
    fn a_due_timer_is_ready_at_once() {
        futures_lite::future::block_on(Sleep::after(Duration::ZERO));
        futures_lite::future::block_on(Sleep::until(Some(Instant::now())));
    }

    #[test]
    fn a_timer_completes_under_block_on_and_tokio() {
        futures_lite::future::block_on(Sleep::after(Duration::from_millis(1)));
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime");
        rt.block_on(Sleep::after(Duration::from_millis(1)));
    }

    #[test]
    fn a_dropped_timer_leaves_no_entry() {
        let waker = Arc::new(CountingWaker(AtomicUsize::new(0)));
        let waker = Waker::from(waker);
        let mut cx = Context::from_waker(&waker);
        let deadline = Instant::now() + Duration::from_secs(3600);
        let mut sleep = Box::pin(Sleep::until(Some(deadline)));
        assert!(sleep.as_mut().poll(&mut cx).is_pending());
        assert!(sleep.as_mut().poll(&mut cx).is_pending()); // re-poll keeps one entry
        let id = sleep.registered.expect("registered");
        assert!(STATE.lock().entries.contains_key(&(deadline, id)));
        drop(sleep);
        assert!(!STATE.lock().entries.contains_key(&(deadline, id)));
    }

    #[test]
    fn a_timer_beyond_instant_never_completes() {
        let waker = Waker::from(Arc::new(CountingWaker(AtomicUsize::new(0))));
        let mut cx = Context::from_waker(&waker);
        let mut sleep = Box::pin(Sleep::after(Duration::MAX));
        assert!(sleep.as_mut().poll(&mut cx).is_pending());
        assert!(sleep.registered.is_none());
    }
}
