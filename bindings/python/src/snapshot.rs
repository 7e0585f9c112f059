//! `lightning_db.Snapshot`.

use std::sync::Arc;

use lightning_db::{DatabaseError, Snapshot};
use parking_lot::Mutex;
use pyo3::exceptions::PyKeyError;
use pyo3::prelude::*;
use pyo3::types::PyBytes;

use crate::db::PyDatabase;
use crate::errors;
use crate::fork;
use crate::iter::{PyIterator, Source, Yield};
use crate::util::{bytes_arg, engine, Scan};

/// A consistent read-only view of the database as of the moment it was taken. It keeps the
/// versions it can see (and their disk space) until it is closed.
#[pyclass(frozen, module = "lightning_db", name = "Snapshot")]
pub(crate) struct PySnapshot {
    /// `None` once closed. The lock is held only to clone the `Arc`, never across an
    /// engine call, so it cannot wait on the GIL.
    snap: Mutex<Option<Arc<Snapshot>>>,
    db: Py<PyDatabase>,
    gen: u64,
}

impl PySnapshot {
    /// Wraps a snapshot of the database `db`.
    pub(crate) fn new(snap: Snapshot, db: Py<PyDatabase>, gen: u64) -> Self {
        Self {
            snap: Mutex::new(Some(Arc::new(snap))),
            db,
            gen,
        }
    }

    fn open(&self) -> PyResult<Arc<Snapshot>> {
        fork::check(self.gen)?;
        self.db.get().check_open()?;
        self.snap.lock().clone().ok_or_else(|| {
            errors::raise(DatabaseError::InvalidArgument {
                message: "the snapshot was closed".to_string(),
            })
        })
    }

    fn lookup(&self, py: Python<'_>, key: &Bound<'_, PyAny>) -> PyResult<Option<Vec<u8>>> {
        let key = bytes_arg(key, "key")?;
        let snap = self.open()?;
        engine(py, || snap.get(&key))
    }

    fn iterator(
        slf: &Bound<'_, Self>,
        what: Yield,
        start: Option<&Bound<'_, PyAny>>,
        stop: Option<&Bound<'_, PyAny>>,
        prefix: Option<&Bound<'_, PyAny>>,
        reverse: bool,
    ) -> PyResult<PyIterator> {
        let scan = Scan::parse(start, stop, prefix)?;
        let this = slf.get();
        let snap = this.open()?;
        let it = match &scan {
            Scan::Prefix(p) => snap.scan_prefix(p),
            Scan::Range(lo, hi) => snap.range(Scan::bounds(lo, hi)),
        };
        Ok(PyIterator::new(
            Source::Db(it),
            what,
            reverse,
            this.db.clone_ref(slf.py()),
            this.gen,
        ))
    }
}

#[pymethods]
impl PySnapshot {
    /// The sequence number the snapshot reads at.
    #[getter]
    fn sequence(&self) -> PyResult<u64> {
        Ok(self.open()?.sequence())
    }

    /// The value of `key` as of the snapshot, or `default`.
    #[pyo3(signature = (key, default = None))]
    fn get(
        &self,
        py: Python<'_>,
        key: &Bound<'_, PyAny>,
        default: Option<Py<PyAny>>,
    ) -> PyResult<Py<PyAny>> {
        Ok(match self.lookup(py, key)? {
            Some(v) => PyBytes::new(py, &v).into_any().unbind(),
            None => default.unwrap_or_else(|| py.None()),
        })
    }

    fn __contains__(&self, py: Python<'_>, key: &Bound<'_, PyAny>) -> PyResult<bool> {
        Ok(self.lookup(py, key)?.is_some())
    }

    fn __getitem__(&self, py: Python<'_>, key: &Bound<'_, PyAny>) -> PyResult<Py<PyBytes>> {
        match self.lookup(py, key)? {
            Some(v) => Ok(PyBytes::new(py, &v).unbind()),
            None => Err(PyKeyError::new_err(key.clone().unbind())),
        }
    }

    fn __iter__(slf: &Bound<'_, Self>) -> PyResult<PyIterator> {
        Self::iterator(slf, Yield::Keys, None, None, None, false)
    }

    /// `(key, value)` pairs as of the snapshot; the same arguments as `Database.items`.
    #[pyo3(signature = (start = None, stop = None, prefix = None, reverse = false))]
    fn items(
        slf: &Bound<'_, Self>,
        start: Option<&Bound<'_, PyAny>>,
        stop: Option<&Bound<'_, PyAny>>,
        prefix: Option<&Bound<'_, PyAny>>,
        reverse: bool,
    ) -> PyResult<PyIterator> {
        Self::iterator(slf, Yield::Items, start, stop, prefix, reverse)
    }

    /// Keys as of the snapshot.
    #[pyo3(signature = (start = None, stop = None, prefix = None, reverse = false))]
    fn keys(
        slf: &Bound<'_, Self>,
        start: Option<&Bound<'_, PyAny>>,
        stop: Option<&Bound<'_, PyAny>>,
        prefix: Option<&Bound<'_, PyAny>>,
        reverse: bool,
    ) -> PyResult<PyIterator> {
        Self::iterator(slf, Yield::Keys, start, stop, prefix, reverse)
    }

    /// Values as of the snapshot.
    #[pyo3(signature = (start = None, stop = None, prefix = None, reverse = false))]
    fn values(
        slf: &Bound<'_, Self>,
        start: Option<&Bound<'_, PyAny>>,
        stop: Option<&Bound<'_, PyAny>>,
        prefix: Option<&Bound<'_, PyAny>>,
        reverse: bool,
    ) -> PyResult<PyIterator> {
        Self::iterator(slf, Yield::Values, start, stop, prefix, reverse)
    }

    /// Releases the snapshot (idempotent). Iterators already made from it keep working.
    fn close(&self) {
        // In a forked child the lock may have been held by a thread that no longer exists:
        // leave the snapshot alone (drop leaks it).
        if !fork::forked(self.gen) {
            drop(self.snap.lock().take());
        }
    }

    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    #[pyo3(signature = (exc_type = None, exc_value = None, traceback = None))]
    fn __exit__(
        &self,
        exc_type: Option<&Bound<'_, PyAny>>,
        exc_value: Option<&Bound<'_, PyAny>>,
        traceback: Option<&Bound<'_, PyAny>>,
    ) -> bool {
        // Closes whether or not the block raised; never swallows its exception.
        let _ = (exc_type, exc_value, traceback);
        self.close();
        false
    }
}

impl Drop for PySnapshot {
    fn drop(&mut self) {
        if fork::forked(self.gen) {
            std::mem::forget(self.snap.get_mut().take());
        }
    }
}
