//! `Database(path, on_event=callable)`: the engine's events handed to a Python callable as
//! `on_event(kind, info)`.
//!
//! The engine calls listeners on its own threads (background flush and compaction threads,
//! the opening thread for recovery stages, a stalled writer). Each delivery attaches to the
//! interpreter (takes the GIL) for the call. That is deadlock-free because the binding
//! never holds the GIL while it waits for the engine where a listener could be waiting for
//! the GIL: every engine call (`Database(...)` itself, `flush()`, `close()`...) runs with the
//! GIL released, and dropping an unclosed `Database` releases it too while the engine joins
//! its threads (see `PyDatabase`'s `Drop`).
//!
//! An exception raised by the callable is reported through `sys.unraisablehook` and the
//! engine carries on. Events are dropped once `close()` ran, in a forked child, and once the
//! interpreter is shutting down (after `atexit` handlers ran: a thread must not attach
//! then).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use lightning_db::{Event, EventFn, EventListener};
use parking_lot::RwLock;
use pyo3::exceptions::PyTypeError;
use pyo3::gc::PyVisit;
use pyo3::prelude::*;
use pyo3::types::PyString;
use pyo3::PyTraverseError;

use crate::db::json_to_py;
use crate::fork;

/// Set by an `atexit` hook: from then on no engine thread attaches to the interpreter.
static EXITING: AtomicBool = AtomicBool::new(false);

/// Called by `atexit` (registered at module import).
#[pyfunction]
fn _stop_events_at_exit() {
    EXITING.store(true, Ordering::Release);
}

/// Registers the `atexit` hook.
pub(crate) fn install(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let hook = wrap_pyfunction!(_stop_events_at_exit, m)?;
    m.add_function(hook.clone())?;
    m.py()
        .import("atexit")?
        .getattr("register")?
        .call1((hook,))?;
    Ok(())
}

/// One database's `on_event` callable, shared by the database object and its listener.
pub(crate) struct EventSink {
    /// `None` once the database was closed (or the garbage collector broke a cycle
    /// through it): events are dropped from then on.
    callback: RwLock<Option<Py<PyAny>>>,
    /// The fork generation the database was opened in.
    gen: u64,
}

impl EventSink {
    /// The sink for `Database(..., on_event=...)`: `None` for `None`, a `TypeError` for
    /// anything that is not callable.
    pub(crate) fn new(on_event: Option<&Bound<'_, PyAny>>) -> PyResult<Option<Arc<Self>>> {
        let Some(callback) = on_event.filter(|c| !c.is_none()) else {
            return Ok(None);
        };
        if !callback.is_callable() {
            return Err(PyTypeError::new_err(format!(
                "on_event must be callable (called as on_event(kind, info)), not {}",
                callback.get_type().name()?
            )));
        }
        Ok(Some(Arc::new(EventSink {
            callback: RwLock::new(Some(callback.clone().unbind())),
            gen: fork::generation(),
        })))
    }

    /// The listener to register with the engine.
    pub(crate) fn listener(self: &Arc<Self>) -> Arc<dyn EventListener> {
        let sink = Arc::clone(self);
        Arc::new(EventFn::new(move |event: &Event| sink.deliver(event)))
    }

    /// Calls `on_event(kind, info)` with the GIL held; any exception goes to
    /// `sys.unraisablehook`.
    fn deliver(&self, event: &Event) {
        if EXITING.load(Ordering::Acquire) || fork::forked(self.gen) {
            return;
        }
        if self.callback.read().is_none() {
            return;
        }
        let json = event.to_json();
        // `try_attach`: nothing happens if the interpreter cannot be attached to.
        let _ = Python::try_attach(|py| {
            // Cloned out of the lock, so the call runs with no lock of ours held (the
            // callable may use this database, even garbage-collect it).
            let Some(callback) = self.callback.read().as_ref().map(|c| c.clone_ref(py)) else {
                return;
            };
            let result = serde_json::from_str::<serde_json::Value>(&json)
                .map_err(|e| PyTypeError::new_err(format!("event is not JSON: {e}")))
                .and_then(|value| json_to_py(py, &value))
                .and_then(|info| {
                    let kind = PyString::new(py, event.kind());
                    callback.call1(py, (kind, info))
                });
            if let Err(err) = result {
                err.write_unraisable(py, Some(callback.bind(py)));
            }
        });
    }

    /// Drops the callable: no event is delivered after this returns (except one already
    /// being delivered on another thread).
    pub(crate) fn stop(&self) {
        let taken = self.callback.write().take();
        drop(taken);
    }

    /// For the garbage collector: the callable, which may refer back to the database.
    pub(crate) fn traverse(&self, visit: &PyVisit<'_>) -> Result<(), PyTraverseError> {
        // `try_read`: never block inside the collector (a writer is only `stop`, which
        // needs the GIL the collector holds, so this always succeeds in practice).
        if let Some(guard) = self.callback.try_read() {
            if let Some(callback) = guard.as_ref() {
                visit.call(callback)?;
            }
        }
        Ok(())
    }
}

/// A recovery state as the dict `on_progress` and `Database.recovery_state()` give:
/// `stage` (the failed one, else the running one, else `None`), `progress` (percent),
/// `eta_seconds`, `completed_stages`, `complete`, `failed`, `can_rollback`,
/// `elapsed_seconds`, `replayed_segments` (done, total) and `failed_stages` (each a dict of
/// `stage`, `error`, `attempts`, `duration_seconds`).
pub(crate) fn recovery_state_dict<'py>(
    py: Python<'py>,
    state: &lightning_db::RecoveryState,
) -> PyResult<Bound<'py, pyo3::types::PyDict>> {
    let info = pyo3::types::PyDict::new(py);
    let stage = state
        .failed_stages()
        .last()
        .map(|f| f.stage)
        .or_else(|| state.current_stage().copied());
    info.set_item("stage", stage.map(|s| s.name()))?;
    info.set_item("progress", state.progress())?;
    info.set_item(
        "eta_seconds",
        state.estimated_time_remaining().map(|d| d.as_secs_f64()),
    )?;
    let completed: Vec<&str> = state.completed_stages().iter().map(|s| s.name()).collect();
    info.set_item("completed_stages", completed)?;
    info.set_item("complete", state.is_complete())?;
    info.set_item("failed", state.has_failed())?;
    info.set_item("can_rollback", state.can_rollback())?;
    info.set_item("elapsed_seconds", state.elapsed().as_secs_f64())?;
    info.set_item("replayed_segments", state.replayed_segments())?;
    let failed = pyo3::types::PyList::empty(py);
    for f in state.failed_stages() {
        let d = pyo3::types::PyDict::new(py);
        d.set_item("stage", f.stage.name())?;
        d.set_item("error", &f.error)?;
        d.set_item("attempts", f.attempts)?;
        d.set_item("duration_seconds", f.duration.as_secs_f64())?;
        failed.append(d)?;
    }
    info.set_item("failed_stages", failed)?;
    Ok(info)
}

/// `Database(path, on_progress=callable)`: the open's recovery handed to `on_progress(info)`
/// at every step, on the opening thread (it attaches to the interpreter for each call; the
/// open itself runs with the GIL released). The callable is dropped once the open returns,
/// so it is never called afterwards and holds nothing alive. An exception it raises goes
/// to `sys.unraisablehook` and the open carries on.
pub(crate) struct RecoveryProgress {
    callback: Arc<parking_lot::Mutex<Option<Py<PyAny>>>>,
}

impl RecoveryProgress {
    /// The reporter for `on_progress`, or `None` when it is absent or `None`.
    pub(crate) fn new(on_progress: Option<&Bound<'_, PyAny>>) -> PyResult<Option<Self>> {
        let Some(callback) = on_progress.filter(|c| !c.is_none()) else {
            return Ok(None);
        };
        if !callback.is_callable() {
            return Err(PyTypeError::new_err(format!(
                "on_progress must be callable (called as on_progress(info)), not {}",
                callback.get_type().name()?
            )));
        }
        Ok(Some(Self {
            callback: Arc::new(parking_lot::Mutex::new(Some(callback.clone().unbind()))),
        }))
    }

    /// The listener to open the database with.
    pub(crate) fn listener(&self) -> Arc<dyn EventListener> {
        let callback = Arc::clone(&self.callback);
        lightning_db::RecoveryState::listener(move |state| {
            if EXITING.load(Ordering::Acquire) {
                return;
            }
            let _ = Python::try_attach(|py| {
                let guard = callback.lock();
                let Some(callback) = guard.as_ref() else {
                    return;
                };
                let result =
                    recovery_state_dict(py, state).and_then(|info| callback.call1(py, (info,)));
                if let Err(err) = result {
                    err.write_unraisable(py, Some(callback.bind(py)));
                }
            });
        })
    }

    /// Drops the callable (with the GIL held): the open returned.
    pub(crate) fn end(self, _py: Python<'_>) {
        self.callback.lock().take();
    }
}
