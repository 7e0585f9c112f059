//! `lightning_event_fn`: the engine's events (flushes, compactions, background errors,
//! corruption, recovery stages, write stalls) handed to a C callback as JSON.
//!
//! The callback is wrapped in an [`EventSink`], registered with the core as an
//! `EventListener`. The sink is what keeps the C side safe:
//!
//! * nothing unwinds into C: building the texts runs inside `catch_unwind` (and the core
//!   catches listener panics too), and the callback itself is C code;
//! * after `lightning_db_close` returns the callback is never called again, even by a
//!   snapshot or iterator that outlives the handle: [`EventSink::stop`] closes a gate that
//!   every delivery passes, waiting for deliveries already running.

use std::cell::RefCell;
use std::ffi::{c_char, c_void, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use ::lightning_db::{Event, EventFn, EventListener};
use parking_lot::RwLock;

/// Receives the engine's events (see `lightning_db_open_with_events`).
///
/// `kind` is the event's kind as NUL-terminated text: `"flush_completed"`,
/// `"compaction_completed"`, `"background_error"`, `"corruption"`, `"recovery_stage"` or
/// `"write_stall"`. `json` is the whole event as a NUL-terminated JSON object of `json_len`
/// bytes (without the NUL): `"kind"` and the event's fields in snake case (in no particular
/// order), durations as `*_ms` numbers, for example
/// `{"bytes_written":4096,"duration_ms":1.2,"entries":100,"kind":"flush_completed","memtables_waiting":0,"tables":[7]}`
/// or, as a log is replayed,
/// `{"done":65536,"elapsed_ms":3.1,"error":null,"kind":"recovery_stage","path":"/data/db","phase":"progress","stage":"log_replay","total":1048576,"unit":"bytes"}`.
/// Both strings belong to the library and are valid only during the call: copy what you keep.
/// `user_data` is the pointer given when the database was opened.
///
/// The callback runs on the library's threads, after the work it reports: a background
/// thread for flushes and compactions (several events may arrive at once from different
/// threads, so it must be thread-safe), the opening thread for recovery stages (before the
/// open returns), a writer's thread for a write stall. It should return quickly, since the
/// thread that called it waits. It must not throw a C++ exception or `longjmp` out (wrap its
/// body in `try`/`catch`), must not close the database, must not call `lightning_db_flush`
/// while handling `"flush_completed"` (the flush waits for its event) and must not write to
/// the database while handling `"write_stall"` (the stalled writer holds the log).
pub type lightning_event_fn = Option<
    unsafe extern "C" fn(
        user_data: *mut c_void,
        kind: *const c_char,
        json: *const c_char,
        json_len: usize,
    ),
>;

/// The C callback of one database, as the core's listener.
pub(crate) struct EventSink {
    callback: unsafe extern "C" fn(*mut c_void, *const c_char, *const c_char, usize),
    /// The caller's `user_data`, as an address: the library never dereferences it, only
    /// hands it back.
    user_data: usize,
    /// False once the database handle was closed: events are dropped from then on.
    open: AtomicBool,
    /// Held (shared) by every delivery; `stop` takes it exclusively to wait for them.
    running: RwLock<()>,
}

thread_local! {
    /// The sinks (by address) whose callback this thread is inside: `stop` called from a
    /// sink's own callback must not wait for itself.
    static INSIDE: RefCell<Vec<usize>> = const { RefCell::new(Vec::new()) };
}

impl EventSink {
    /// A sink for `callback`, or `None` when it is NULL (no listener).
    pub(crate) fn new(callback: lightning_event_fn, user_data: *mut c_void) -> Option<Arc<Self>> {
        let callback = callback?;
        Some(Arc::new(EventSink {
            callback,
            user_data: user_data.expose_provenance(),
            open: AtomicBool::new(true),
            running: RwLock::new(()),
        }))
    }

    /// The listener to register with the core.
    pub(crate) fn listener(self: &Arc<Self>) -> Arc<dyn EventListener> {
        let sink = Arc::clone(self);
        Arc::new(EventFn::new(move |event: &Event| sink.deliver(event)))
    }

    /// Calls the C callback with `event`; never unwinds.
    fn deliver(&self, event: &Event) {
        let _ = catch_unwind(AssertUnwindSafe(|| {
            // Recursive: a callback's own thread may meet another event (a read it makes
            // finds corruption) while a `stop` waits for the lock.
            let _running = self.running.read_recursive();
            if !self.open.load(Ordering::Acquire) {
                return;
            }
            let json = event.to_json();
            let len = json.len();
            // serde_json escapes NUL inside strings, so neither text holds one.
            let (Ok(kind), Ok(json)) = (CString::new(event.kind()), CString::new(json)) else {
                return;
            };
            let user_data: *mut c_void = std::ptr::with_exposed_provenance_mut(self.user_data);
            let me = self.address();
            let _ = INSIDE.try_with(|v| v.borrow_mut().push(me));
            // SAFETY: `callback` is the non-NULL function the caller registered for this
            // database, called with its own `user_data` and two NUL-terminated strings that
            // live until it returns (`json_len` is the length of `json` without the NUL), as
            // `lightning_event_fn` documents. The caller guarantees it neither unwinds nor
            // jumps out.
            unsafe { (self.callback)(user_data, kind.as_ptr(), json.as_ptr(), len) };
            let _ = INSIDE.try_with(|v| {
                let mut v = v.borrow_mut();
                if let Some(i) = v.iter().rposition(|a| *a == me) {
                    v.remove(i);
                }
            });
        }));
    }

    fn address(&self) -> usize {
        std::ptr::from_ref(self).addr()
    }

    /// Stops delivery: returns once no callback of this sink is running (unless called from
    /// inside one), and the callback is never called again.
    pub(crate) fn stop(&self) {
        self.open.store(false, Ordering::Release);
        let me = self.address();
        let inside = INSIDE
            .try_with(|v| v.borrow().contains(&me))
            .unwrap_or(false);
        if !inside {
            drop(self.running.write());
        }
    }
}
