//! `lightning_db.WriteBatch` and `lightning_db.BulkLoad`.

use std::sync::Arc;

use lightning_db::{BulkLoad, Database, DatabaseError, WriteBatch};
use pyo3::prelude::*;

use crate::db::PyDatabase;
use crate::errors;
use crate::fork;
use crate::util::{bytes_arg, engine};

/// Puts and deletes applied together by `Database.write(batch)`, or on a clean exit from
/// `with db.write_batch() as batch:` (nothing is applied when the block raises). Sizes are
/// checked as operations are added. Use it from one thread at a time.
#[pyclass(module = "lightning_db", name = "WriteBatch")]
pub(crate) struct PyWriteBatch {
    batch: WriteBatch,
    db: Py<PyDatabase>,
}

impl PyWriteBatch {
    /// An empty batch for `db`.
    pub(crate) fn new(batch: WriteBatch, db: Py<PyDatabase>) -> Self {
        Self { batch, db }
    }

    /// The operations.
    pub(crate) fn batch(&self) -> &WriteBatch {
        &self.batch
    }
}

#[pymethods]
impl PyWriteBatch {
    /// Adds a put; a later operation on the same key wins.
    fn put(&mut self, key: &Bound<'_, PyAny>, value: &Bound<'_, PyAny>) -> PyResult<()> {
        let key = bytes_arg(key, "key")?;
        let value = bytes_arg(value, "value")?;
        self.batch.put(&key, &value).map_err(errors::raise)
    }

    /// Adds a delete.
    fn delete(&mut self, key: &Bound<'_, PyAny>) -> PyResult<()> {
        let key = bytes_arg(key, "key")?;
        self.batch.delete(&key).map_err(errors::raise)
    }

    /// Removes every operation.
    fn clear(&mut self) {
        self.batch.clear();
    }

    /// Number of operations.
    fn __len__(&self) -> usize {
        self.batch.len()
    }

    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    /// Applies the batch on a clean exit; discards it when the block raised.
    #[pyo3(signature = (exc_type = None, exc_value = None, traceback = None))]
    fn __exit__(
        &mut self,
        py: Python<'_>,
        exc_type: Option<&Bound<'_, PyAny>>,
        exc_value: Option<&Bound<'_, PyAny>>,
        traceback: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<bool> {
        let _ = (exc_value, traceback);
        if exc_type.is_none_or(|t| t.is_none()) {
            let batch = &self.batch;
            self.db
                .get()
                .with_db(|db| engine(py, || db.write_batch(batch)))?;
        }
        self.batch.clear();
        Ok(false)
    }
}

/// The bulk load's dependent part: `None` once finished or aborted.
type LoadSlot<'a> = Option<BulkLoad<'a>>;

self_cell::self_cell!(
    /// A bulk load together with the database handle it borrows.
    struct LoadCell {
        owner: Arc<Database>,
        #[not_covariant]
        dependent: LoadSlot,
    }
);

/// An atomic bulk load of any size, memory-bounded by the engine (it spills sorted runs to
/// disk): nothing is visible until `finish()` (or a clean exit from `with db.bulk_load() as
/// load:`), then everything is; `abort()`, an exception in the block, or dropping it
/// discards it. While it is open, writes from other threads wait and writes from the thread
/// that started it raise; use it from that thread.
#[pyclass(module = "lightning_db", name = "BulkLoad")]
pub(crate) struct PyBulkLoad {
    cell: Option<LoadCell>,
    db: Py<PyDatabase>,
    gen: u64,
}

impl PyBulkLoad {
    /// Starts a bulk load on `db`.
    pub(crate) fn start(db: &Bound<'_, PyDatabase>) -> PyResult<Self> {
        let py = db.py();
        let handle = db.get().arc()?;
        let cell = engine(py, move || {
            let cell = LoadCell::try_new(handle, |d| d.bulk_load().map(Some))?;
            Ok::<_, DatabaseError>(cell)
        })?;
        db.get().bulk_started(true);
        Ok(Self {
            cell: Some(cell),
            db: db.clone().unbind(),
            gen: fork::generation(),
        })
    }

    fn live(&mut self) -> PyResult<&mut LoadCell> {
        fork::check(self.gen)?;
        self.cell
            .as_mut()
            .ok_or_else(|| errors::invalid("the bulk load was already finished or aborted"))
    }

    /// Ends the load: applies it when `apply`, else discards it.
    fn end(&mut self, py: Python<'_>, apply: bool) -> PyResult<()> {
        fork::check(self.gen)?;
        let Some(mut cell) = self.cell.take() else {
            return Ok(());
        };
        let result = engine(py, move || {
            let outcome = cell.with_dependent_mut(|_, slot| match slot.take() {
                Some(load) if apply => load.finish(),
                _ => Ok(()),
            });
            // Dropping the cell releases the database handle it held.
            drop(cell);
            outcome
        });
        self.db.get().bulk_started(false);
        result
    }
}

#[pymethods]
impl PyBulkLoad {
    /// Adds a put; a later operation on the same key in this load wins.
    fn put(
        &mut self,
        py: Python<'_>,
        key: &Bound<'_, PyAny>,
        value: &Bound<'_, PyAny>,
    ) -> PyResult<()> {
        let key = bytes_arg(key, "key")?;
        let value = bytes_arg(value, "value")?;
        let cell = self.live()?;
        engine(py, || {
            cell.with_dependent_mut(|_, slot| match slot {
                Some(load) => load.put(&key, &value),
                None => Err(DatabaseError::InvalidArgument {
                    message: "the bulk load was already finished".to_string(),
                }),
            })
        })
    }

    /// Adds a delete.
    fn delete(&mut self, py: Python<'_>, key: &Bound<'_, PyAny>) -> PyResult<()> {
        let key = bytes_arg(key, "key")?;
        let cell = self.live()?;
        engine(py, || {
            cell.with_dependent_mut(|_, slot| match slot {
                Some(load) => load.delete(&key),
                None => Err(DatabaseError::InvalidArgument {
                    message: "the bulk load was already finished".to_string(),
                }),
            })
        })
    }

    /// Operations added so far.
    fn __len__(&mut self) -> PyResult<usize> {
        let cell = self.live()?;
        Ok(cell.with_dependent(|_, slot| slot.as_ref().map_or(0, |l| l.len() as usize)))
    }

    /// Makes every operation visible at once, and durable.
    fn finish(&mut self, py: Python<'_>) -> PyResult<()> {
        self.live()?;
        self.end(py, true)
    }

    /// Discards the load. Idempotent.
    fn abort(&mut self, py: Python<'_>) -> PyResult<()> {
        self.end(py, false)
    }

    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    /// Finishes on a clean exit; aborts when the block raised.
    #[pyo3(signature = (exc_type = None, exc_value = None, traceback = None))]
    fn __exit__(
        &mut self,
        py: Python<'_>,
        exc_type: Option<&Bound<'_, PyAny>>,
        exc_value: Option<&Bound<'_, PyAny>>,
        traceback: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<bool> {
        let _ = (exc_value, traceback);
        self.end(py, exc_type.is_none_or(|t| t.is_none()))?;
        Ok(false)
    }
}

impl Drop for PyBulkLoad {
    fn drop(&mut self) {
        if fork::forked(self.gen) {
            std::mem::forget(self.cell.take());
        } else if self.cell.take().is_some() {
            // Dropped unfinished: the load was discarded with the cell.
            self.db.get().bulk_started(false);
        }
    }
}
