//! Fork detection.
//!
//! A database opened before `fork()` must not be used by the child: its background threads
//! do not exist there, its locks may be held by threads that vanished, and its files are
//! the parent's. `os.register_at_fork(after_in_child=...)` bumps a generation counter in the
//! child; every handle remembers the generation it was made in and compares it on each call
//! (one relaxed atomic load, far cheaper than a `getpid` system call per call). A handle
//! from an earlier generation answers a clear error, and on drop it leaks its engine object
//! instead of running the engine's shutdown (which would sync and close the parent's log,
//! join threads that are not there, and could delete table files the parent still uses).

use std::sync::atomic::{AtomicU64, Ordering};

use lightning_db::DatabaseError;
use pyo3::prelude::*;

use crate::errors;

/// Bumped in every child right after `fork()`.
static GENERATION: AtomicU64 = AtomicU64::new(0);

/// The current fork generation, recorded by every handle when it is made.
pub(crate) fn generation() -> u64 {
    GENERATION.load(Ordering::Relaxed)
}

/// True when the handle made in generation `gen` is being used in a forked child.
pub(crate) fn forked(gen: u64) -> bool {
    GENERATION.load(Ordering::Relaxed) != gen
}

/// The error every call on an inherited handle gets in a child.
pub(crate) fn inherited_error() -> PyErr {
    errors::ErrorParts::of(&DatabaseError::DatabaseClosed)
        .with_message(
            "this handle was opened before os.fork(): it cannot be used in the child process; \
             open the database again in the child (after the parent closed it)",
        )
        .into_pyerr()
}

/// Fails with [`inherited_error`] when `gen` is not the current generation.
#[inline]
pub(crate) fn check(gen: u64) -> PyResult<()> {
    if forked(gen) {
        return Err(inherited_error());
    }
    Ok(())
}

/// Called by `os.register_at_fork` in the child process.
#[pyfunction]
fn _after_fork_in_child() {
    GENERATION.fetch_add(1, Ordering::Relaxed);
}

/// Registers the fork hook.
pub(crate) fn install(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let hook = wrap_pyfunction!(_after_fork_in_child, m)?;
    m.add_function(hook.clone())?;
    let os = m.py().import("os")?;
    // `register_at_fork` exists on every platform that has `fork`.
    if os.hasattr("register_at_fork")? {
        let kwargs = pyo3::types::PyDict::new(m.py());
        kwargs.set_item("after_in_child", hook)?;
        os.getattr("register_at_fork")?.call((), Some(&kwargs))?;
    }
    Ok(())
}
