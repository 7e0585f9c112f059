//! `lightning_db.Transaction`.

use std::time::Duration;

use lightning_db::{Transaction, TransactionOptions};
use pyo3::prelude::*;
use pyo3::types::PyBytes;

use crate::db::PyDatabase;
use crate::errors;
use crate::fork;
use crate::iter::{PyIterator, Source, Yield};
use crate::util::{bytes_arg, engine, Scan};

/// A transaction: reads see one snapshot plus its own writes, and `commit()` applies every
/// write atomically or raises (`TransactionConflict`, retryable, when another writer got
/// to a key it read or wrote first). As a context manager it commits on a clean exit and
/// rolls back on an exception. Use it from one thread at a time.
#[pyclass(module = "lightning_db", name = "Transaction")]
pub(crate) struct PyTransaction {
    /// `None` once committed or rolled back.
    tx: Option<Transaction>,
    db: Py<PyDatabase>,
    gen: u64,
}

impl PyTransaction {
    /// Begins a transaction on `db`.
    pub(crate) fn begin(
        db: &Bound<'_, PyDatabase>,
        pessimistic: bool,
        lock_timeout: Option<f64>,
    ) -> PyResult<Self> {
        let mut options = if pessimistic {
            TransactionOptions::pessimistic()
        } else {
            TransactionOptions::default()
        };
        if let Some(secs) = lock_timeout {
            options.lock_timeout = Duration::try_from_secs_f64(secs).map_err(|_| {
                errors::invalid(format!(
                    "lock_timeout must be a non-negative number of seconds, not {secs}"
                ))
            })?;
        }
        let py = db.py();
        let tx = db
            .get()
            .with_db(|d| engine(py, || d.begin_transaction_with(options)))?;
        Ok(Self {
            tx: Some(tx),
            db: db.clone().unbind(),
            gen: fork::generation(),
        })
    }

    fn live(&mut self) -> PyResult<&mut Transaction> {
        fork::check(self.gen)?;
        self.db.get().check_open()?;
        self.tx
            .as_mut()
            .ok_or_else(|| errors::invalid("the transaction was already committed or rolled back"))
    }

    fn iterator(
        &mut self,
        py: Python<'_>,
        what: Yield,
        start: Option<&Bound<'_, PyAny>>,
        stop: Option<&Bound<'_, PyAny>>,
        prefix: Option<&Bound<'_, PyAny>>,
        reverse: bool,
    ) -> PyResult<PyIterator> {
        let scan = Scan::parse(start, stop, prefix)?;
        let tx = self.live()?;
        let it = match &scan {
            Scan::Prefix(p) => tx.scan_prefix(p),
            Scan::Range(lo, hi) => tx.range(Scan::bounds(lo, hi)),
        };
        Ok(PyIterator::new(
            Source::Txn(it),
            what,
            reverse,
            self.db.clone_ref(py),
            self.gen,
        ))
    }
}

#[pymethods]
impl PyTransaction {
    /// The value of `key` this transaction sees (its own write, else its snapshot's), or
    /// `default`. The key joins the set checked for conflicts at commit.
    #[pyo3(signature = (key, default = None))]
    fn get(
        &mut self,
        py: Python<'_>,
        key: &Bound<'_, PyAny>,
        default: Option<Py<PyAny>>,
    ) -> PyResult<Py<PyAny>> {
        let key = bytes_arg(key, "key")?;
        let tx = self.live()?;
        Ok(match engine(py, || tx.get(&key))? {
            Some(v) => PyBytes::new(py, &v).into_any().unbind(),
            None => default.unwrap_or_else(|| py.None()),
        })
    }

    /// Buffers a put (pessimistic transactions take the key's lock here).
    fn put(
        &mut self,
        py: Python<'_>,
        key: &Bound<'_, PyAny>,
        value: &Bound<'_, PyAny>,
    ) -> PyResult<()> {
        let key = bytes_arg(key, "key")?;
        let value = bytes_arg(value, "value")?;
        let tx = self.live()?;
        engine(py, || tx.put(&key, &value))
    }

    /// Buffers a delete.
    fn delete(&mut self, py: Python<'_>, key: &Bound<'_, PyAny>) -> PyResult<()> {
        let key = bytes_arg(key, "key")?;
        let tx = self.live()?;
        engine(py, || tx.delete(&key))
    }

    /// Applies every buffered write atomically, or raises and applies none.
    fn commit(&mut self, py: Python<'_>) -> PyResult<()> {
        self.live()?;
        match self.tx.take() {
            Some(tx) => engine(py, move || tx.commit()),
            None => Ok(()),
        }
    }

    /// Discards every buffered write and releases the transaction's locks. Idempotent.
    fn rollback(&mut self, py: Python<'_>) -> PyResult<()> {
        fork::check(self.gen)?;
        match self.tx.take() {
            Some(tx) => engine(py, move || {
                tx.rollback();
                Ok(())
            }),
            None => Ok(()),
        }
    }

    /// True while the transaction can still be used.
    #[getter]
    fn active(&self) -> bool {
        self.tx.is_some() && !fork::forked(self.gen)
    }

    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    /// Commits on a clean exit (raising on conflict), rolls back on an exception.
    #[pyo3(signature = (exc_type = None, exc_value = None, traceback = None))]
    fn __exit__(
        &mut self,
        py: Python<'_>,
        exc_type: Option<&Bound<'_, PyAny>>,
        exc_value: Option<&Bound<'_, PyAny>>,
        traceback: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<bool> {
        let _ = (exc_value, traceback);
        let clean = exc_type.is_none_or(|t| t.is_none());
        if clean && self.tx.is_some() {
            self.commit(py)?;
        } else {
            self.rollback(py)?;
        }
        Ok(false)
    }

    /// `(key, value)` pairs this transaction sees; the same arguments as `Database.items`.
    #[pyo3(signature = (start = None, stop = None, prefix = None, reverse = false))]
    fn items(
        &mut self,
        py: Python<'_>,
        start: Option<&Bound<'_, PyAny>>,
        stop: Option<&Bound<'_, PyAny>>,
        prefix: Option<&Bound<'_, PyAny>>,
        reverse: bool,
    ) -> PyResult<PyIterator> {
        self.iterator(py, Yield::Items, start, stop, prefix, reverse)
    }

    /// Keys this transaction sees.
    #[pyo3(signature = (start = None, stop = None, prefix = None, reverse = false))]
    fn keys(
        &mut self,
        py: Python<'_>,
        start: Option<&Bound<'_, PyAny>>,
        stop: Option<&Bound<'_, PyAny>>,
        prefix: Option<&Bound<'_, PyAny>>,
        reverse: bool,
    ) -> PyResult<PyIterator> {
        self.iterator(py, Yield::Keys, start, stop, prefix, reverse)
    }

    /// Values this transaction sees.
    #[pyo3(signature = (start = None, stop = None, prefix = None, reverse = false))]
    fn values(
        &mut self,
        py: Python<'_>,
        start: Option<&Bound<'_, PyAny>>,
        stop: Option<&Bound<'_, PyAny>>,
        prefix: Option<&Bound<'_, PyAny>>,
        reverse: bool,
    ) -> PyResult<PyIterator> {
        self.iterator(py, Yield::Values, start, stop, prefix, reverse)
    }

    fn __iter__(&mut self, py: Python<'_>) -> PyResult<PyIterator> {
        self.iterator(py, Yield::Keys, None, None, None, false)
    }

    fn __repr__(&self) -> String {
        let state = if self.tx.is_some() {
            "active"
        } else {
            "finished"
        };
        format!("<lightning_db.Transaction ({state})>")
    }
}

impl Drop for PyTransaction {
    fn drop(&mut self) {
        if fork::forked(self.gen) {
            // Rolling back would touch the parent's lock table and snapshot list.
            std::mem::forget(self.tx.take());
        }
    }
}
