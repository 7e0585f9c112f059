//! `lightning_db.Database`.

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwapOption;
use lightning_db::{Database, DatabaseError, ValidationLevel};
use pyo3::exceptions::PyKeyError;
use pyo3::gc::PyVisit;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList, PyType};
use pyo3::PyTraverseError;

use crate::batch::{PyBulkLoad, PyWriteBatch};
use crate::config;
use crate::errors;
use crate::events::{EventSink, RecoveryProgress};
use crate::fork;
use crate::iter::{PyIterator, Source, Yield};
use crate::snapshot::PySnapshot;
use crate::txn::PyTransaction;
use crate::util::{bytes_arg, engine, engine_infallible, Scan};

/// An open Lightning DB database. Safe to share between threads: every method releases the
/// GIL around the engine call, and `close()` waits for calls already running.
#[pyclass(frozen, module = "lightning_db", name = "Database")]
pub(crate) struct PyDatabase {
    /// The `on_event` callable, if one was given.
    events: Option<Arc<EventSink>>,
    /// `None` once closed. Calls load it without locking (an `ArcSwap` load costs no
    /// shared-counter write, so threads reading in parallel do not contend on it).
    db: ArcSwapOption<Database>,
    /// Open bulk loads; `close()` refuses while one holds the database's write lock.
    bulk_loads: AtomicUsize,
    /// The fork generation the database was opened in.
    gen: u64,
    path: String,
}

/// The error for any call on a closed database.
pub(crate) fn closed() -> PyErr {
    errors::raise(DatabaseError::DatabaseClosed)
}

impl PyDatabase {
    /// Runs `f` on the open database; `DatabaseClosed` after `close()` and in a forked child.
    #[inline]
    pub(crate) fn with_db<R>(&self, f: impl FnOnce(&Database) -> PyResult<R>) -> PyResult<R> {
        fork::check(self.gen)?;
        let guard = self.db.load();
        match guard.as_deref() {
            Some(db) => f(db),
            None => Err(closed()),
        }
    }

    /// Fails unless the database is open (for objects made from it: iterators, snapshots,
    /// transactions).
    pub(crate) fn check_open(&self) -> PyResult<()> {
        self.with_db(|_| Ok(()))
    }

    /// A counted reference to the open database (for a bulk load, which borrows it).
    pub(crate) fn arc(&self) -> PyResult<Arc<Database>> {
        fork::check(self.gen)?;
        self.db.load_full().ok_or_else(closed)
    }

    /// Counts a bulk load in or out.
    pub(crate) fn bulk_started(&self, started: bool) {
        if started {
            self.bulk_loads.fetch_add(1, Ordering::AcqRel);
        } else {
            self.bulk_loads.fetch_sub(1, Ordering::AcqRel);
        }
    }

    /// The stats as a Python dict (durations as float seconds).
    fn stats_value(&self, py: Python<'_>) -> PyResult<serde_json::Value> {
        let stats = self.with_db(|db| engine_infallible(py, || db.stats()))?;
        let mut value = serde_json::to_value(&stats)
            .map_err(|e| errors::invalid(format!("statistics could not be converted: {e}")))?;
        if let serde_json::Value::Object(map) = &mut value {
            map.insert(
                "cache_hit_rate".to_string(),
                serde_json::json!(stats.cache_hit_rate()),
            );
        }
        Ok(value)
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
        let it = this.with_db(|db| {
            Ok(match &scan {
                Scan::Prefix(p) => db.scan_prefix(p),
                Scan::Range(lo, hi) => db.range(Scan::bounds(lo, hi)),
            })
        })?;
        Ok(PyIterator::new(
            Source::Db(it),
            what,
            reverse,
            slf.clone().unbind(),
            this.gen,
        ))
    }
}

/// Converts JSON (from the engine's serde output) into Python objects. `{"secs", "nanos"}`
/// objects, how serde writes a `Duration`, become float seconds, and
/// `{"secs_since_epoch", "nanos_since_epoch"}`, a `SystemTime`, float seconds since the
/// Unix epoch (as `time.time()`).
pub(crate) fn json_to_py(py: Python<'_>, value: &serde_json::Value) -> PyResult<Py<PyAny>> {
    use serde_json::Value;
    Ok(match value {
        Value::Null => py.None(),
        Value::Bool(b) => b.into_pyobject(py)?.to_owned().into_any().unbind(),
        Value::Number(n) => {
            if let Some(u) = n.as_u64() {
                u.into_pyobject(py)?.into_any().unbind()
            } else if let Some(i) = n.as_i64() {
                i.into_pyobject(py)?.into_any().unbind()
            } else {
                n.as_f64()
                    .unwrap_or(f64::NAN)
                    .into_pyobject(py)?
                    .into_any()
                    .unbind()
            }
        }
        Value::String(s) => s.into_pyobject(py)?.into_any().unbind(),
        Value::Array(items) => {
            let list = PyList::empty(py);
            for item in items {
                list.append(json_to_py(py, item)?)?;
            }
            list.into_any().unbind()
        }
        Value::Object(map) => {
            if map.len() == 2 {
                for (s_name, n_name) in
                    [("secs", "nanos"), ("secs_since_epoch", "nanos_since_epoch")]
                {
                    if let (Some(secs), Some(nanos)) = (
                        map.get(s_name).and_then(Value::as_u64),
                        map.get(n_name).and_then(Value::as_u64),
                    ) {
                        let d = Duration::new(secs, nanos as u32);
                        return Ok(d.as_secs_f64().into_pyobject(py)?.into_any().unbind());
                    }
                }
            }
            let dict = PyDict::new(py);
            for (k, v) in map {
                dict.set_item(k, json_to_py(py, v)?)?;
            }
            dict.into_any().unbind()
        }
    })
}

/// Closes `db` once no call is using it any more: calls that loaded it before it was
/// swapped out hold a reference until they return, and `Database::close` needs the last one.
fn close_when_idle(mut db: Arc<Database>) -> Result<(), DatabaseError> {
    loop {
        match Arc::try_unwrap(db) {
            Ok(db) => return db.close(),
            Err(still_shared) => {
                db = still_shared;
                std::thread::sleep(Duration::from_millis(1));
            }
        }
    }
}

#[pymethods]
impl PyDatabase {
    /// Opens (creating if missing) the database in directory `path`. Keyword arguments set
    /// configuration fields; an unknown or ill-typed one raises `ConfigurationError`.
    /// `on_event`, when given, is called as `on_event(kind, info)` for each engine event
    /// (on the engine's threads, with the GIL held), starting with this open's recovery
    /// stages. `on_progress`, when given, is called as `on_progress(info)` at every step
    /// of this open's recovery, before the constructor returns (never afterwards): `info`
    /// has `stage`, `progress` (percent, never falling), `eta_seconds` (or `None`),
    /// `completed_stages`, `complete` and `failed`.
    #[new]
    #[pyo3(signature = (path, *, on_event = None, on_progress = None, **config))]
    fn new(
        py: Python<'_>,
        path: PathBuf,
        on_event: Option<&Bound<'_, PyAny>>,
        on_progress: Option<&Bound<'_, PyAny>>,
        config: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<Self> {
        let events = EventSink::new(on_event)?;
        let progress = RecoveryProgress::new(on_progress)?;
        let config = config::from_kwargs(config)?;
        let shown = path.display().to_string();
        let mut listeners: Vec<_> = events.iter().map(EventSink::listener).collect();
        listeners.extend(progress.as_ref().map(RecoveryProgress::listener));
        // The GIL is released while opening: recovery-stage events arrive on this thread
        // and take it to call `on_event`.
        let opened = engine(py, move || {
            Database::open_with_listeners(path, config, listeners)
        });
        if let Some(progress) = progress {
            progress.end(py);
        }
        let db = match opened {
            Ok(db) => db,
            Err(e) => {
                if let Some(sink) = &events {
                    sink.stop();
                }
                return Err(e);
            }
        };
        Ok(Self {
            events,
            db: ArcSwapOption::from_pointee(db),
            bulk_loads: AtomicUsize::new(0),
            gen: fork::generation(),
            path: shown,
        })
    }

    /// The database directory.
    #[getter]
    fn path(&self) -> String {
        self.path.clone()
    }

    /// The database format the open database reads and writes (`"v1"`, `"v2"`): an older
    /// database keeps its format unless opened with `upgrade_format_on_open=True` or
    /// migrated (`lightning_db.migrate`).
    #[getter]
    fn format_version(&self) -> PyResult<String> {
        self.with_db(|db| Ok(crate::migrate::format_version_of(db)))
    }

    /// True when the database is encrypted at rest (opened with `encryption_key=`).
    #[getter]
    fn encrypted(&self) -> PyResult<bool> {
        self.with_db(|db| Ok(db.is_encrypted()))
    }

    /// The generation of the data key new files are sealed with (1 for a new encrypted
    /// database), or `None` for a plain one.
    #[getter]
    fn key_generation(&self) -> PyResult<Option<u32>> {
        self.with_db(|db| Ok(db.key_generation()))
    }

    /// How this handle's open recovered, as a dict (the same keys `on_progress` gets):
    /// every stage completed, the log segments replayed, how long it took.
    fn recovery_state(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let state = self.with_db(|db| Ok(db.recovery_state()))?;
        Ok(crate::events::recovery_state_dict(py, &state)?
            .into_any()
            .unbind())
    }

    /// True once `close()` was called.
    #[getter]
    fn closed(&self) -> bool {
        fork::forked(self.gen) || self.db.load().is_none()
    }

    /// Syncs the log, stops background work and releases the directory lock. Idempotent;
    /// waits for calls running in other threads to return. Every later call raises
    /// `DatabaseClosed`.
    fn close(&self, py: Python<'_>) -> PyResult<()> {
        if fork::forked(self.gen) {
            // The child must never run the engine's shutdown: leak the parent's handle.
            if let Some(inherited) = self.db.swap(None) {
                std::mem::forget(inherited);
            }
            self.stop_events();
            return Ok(());
        }
        if self.bulk_loads.load(Ordering::Acquire) > 0 {
            return Err(errors::invalid(
                "a bulk load is open on this database: finish or abort it before closing",
            ));
        }
        // The GIL is released while closing: events of work finishing meanwhile are still
        // delivered; none after.
        let closed = match self.db.swap(None) {
            Some(db) => engine(py, move || close_when_idle(db)),
            None => Ok(()),
        };
        self.stop_events();
        closed
    }

    fn __traverse__(&self, visit: PyVisit<'_>) -> Result<(), PyTraverseError> {
        match &self.events {
            Some(sink) => sink.traverse(&visit),
            None => Ok(()),
        }
    }

    fn __clear__(&self) {
        self.stop_events();
    }

    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    #[pyo3(signature = (exc_type = None, exc_value = None, traceback = None))]
    fn __exit__(
        &self,
        py: Python<'_>,
        exc_type: Option<&Bound<'_, PyAny>>,
        exc_value: Option<&Bound<'_, PyAny>>,
        traceback: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<bool> {
        // Closes whether or not the block raised; never swallows its exception.
        let _ = (exc_type, exc_value, traceback);
        self.close(py)?;
        Ok(false)
    }

    fn __repr__(&self) -> String {
        let state = if self.closed() { "closed" } else { "open" };
        format!("<lightning_db.Database {:?} ({state})>", self.path)
    }

    /// Stores `value` under `key`, durably per the configured durability.
    fn put(
        &self,
        py: Python<'_>,
        key: &Bound<'_, PyAny>,
        value: &Bound<'_, PyAny>,
    ) -> PyResult<()> {
        let key = bytes_arg(key, "key")?;
        let value = bytes_arg(value, "value")?;
        self.with_db(|db| engine(py, || db.put(&key, &value)))
    }

    /// The value stored under `key` (bytes), or `default`.
    #[pyo3(signature = (key, default = None))]
    fn get(
        &self,
        py: Python<'_>,
        key: &Bound<'_, PyAny>,
        default: Option<Py<PyAny>>,
    ) -> PyResult<Py<PyAny>> {
        let key = bytes_arg(key, "key")?;
        let found = self.with_db(|db| engine(py, || db.get_pinned(&key)))?;
        Ok(match found {
            Some(v) => PyBytes::new(py, &v).into_any().unbind(),
            None => default.unwrap_or_else(|| py.None()),
        })
    }

    /// Removes `key`; returns whether it held a value.
    fn delete(&self, py: Python<'_>, key: &Bound<'_, PyAny>) -> PyResult<bool> {
        let key = bytes_arg(key, "key")?;
        self.with_db(|db| engine(py, || db.delete(&key)))
    }

    fn __contains__(&self, py: Python<'_>, key: &Bound<'_, PyAny>) -> PyResult<bool> {
        let key = bytes_arg(key, "key")?;
        self.with_db(|db| engine(py, || Ok(db.get_pinned(&key)?.is_some())))
    }

    fn __getitem__(&self, py: Python<'_>, key: &Bound<'_, PyAny>) -> PyResult<Py<PyBytes>> {
        let k = bytes_arg(key, "key")?;
        match self.with_db(|db| engine(py, || db.get_pinned(&k)))? {
            Some(v) => Ok(PyBytes::new(py, &v).unbind()),
            None => Err(PyKeyError::new_err(key.clone().unbind())),
        }
    }

    fn __setitem__(
        &self,
        py: Python<'_>,
        key: &Bound<'_, PyAny>,
        value: &Bound<'_, PyAny>,
    ) -> PyResult<()> {
        self.put(py, key, value)
    }

    fn __delitem__(&self, py: Python<'_>, key: &Bound<'_, PyAny>) -> PyResult<()> {
        if self.delete(py, key)? {
            Ok(())
        } else {
            Err(PyKeyError::new_err(key.clone().unbind()))
        }
    }

    /// The number of keys: a full scan (the engine keeps no exact count), O(n).
    fn __len__(&self, py: Python<'_>) -> PyResult<usize> {
        self.with_db(|db| {
            engine(py, || {
                let mut it = db.iter();
                let mut n = 0usize;
                while let Some(pair) = it.next_borrowed() {
                    pair?;
                    n += 1;
                }
                Ok(n)
            })
        })
    }

    fn __iter__(slf: &Bound<'_, Self>) -> PyResult<PyIterator> {
        Self::iterator(slf, Yield::Keys, None, None, None, false)
    }

    /// Lazy `(key, value)` pairs in key order: `start` inclusive, `stop` exclusive, or every
    /// key starting with `prefix`; `reverse=True` walks from the end. The iterator reads the
    /// database as it was when it was made.
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

    /// Like `items()`, yielding keys.
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

    /// Like `items()`, yielding values.
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

    /// A new batch (sizes checked against this database's limits). As a context manager it
    /// is applied on a clean exit and discarded on an exception.
    fn write_batch(slf: &Bound<'_, Self>) -> PyResult<PyWriteBatch> {
        let batch = slf.get().with_db(|db| Ok(db.new_batch()))?;
        Ok(PyWriteBatch::new(batch, slf.clone().unbind()))
    }

    /// Applies every operation of `batch` atomically.
    fn write(&self, py: Python<'_>, batch: PyRef<'_, PyWriteBatch>) -> PyResult<()> {
        let batch = batch.batch();
        self.with_db(|db| engine(py, || db.write_batch(batch)))
    }

    /// Starts an atomic, memory-bounded bulk load (see `BulkLoad`).
    fn bulk_load(slf: &Bound<'_, Self>) -> PyResult<PyBulkLoad> {
        PyBulkLoad::start(slf)
    }

    /// Starts a transaction: optimistic by default (conflicts found at commit), or with key
    /// locks and deadlock detection when `pessimistic=True` (`lock_timeout` in seconds).
    #[pyo3(signature = (pessimistic = false, lock_timeout = None))]
    fn transaction(
        slf: &Bound<'_, Self>,
        pessimistic: bool,
        lock_timeout: Option<f64>,
    ) -> PyResult<PyTransaction> {
        PyTransaction::begin(slf, pessimistic, lock_timeout)
    }

    /// A consistent read-only view as of now.
    fn snapshot(slf: &Bound<'_, Self>) -> PyResult<PySnapshot> {
        let snap = slf.get().with_db(|db| Ok(db.snapshot()))?;
        Ok(PySnapshot::new(snap, slf.clone().unbind(), slf.get().gen))
    }

    /// The configuration in force (the engine's `LightningDbConfig`, after reconciling its
    /// paired fields), as a dict.
    fn config(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let json = self.with_db(|db| Ok(db.config().to_json()))?;
        let value: serde_json::Value = serde_json::from_str(&json)
            .map_err(|e| errors::invalid(format!("configuration could not be converted: {e}")))?;
        json_to_py(py, &value)
    }

    /// Rotates the data key of an encrypted database and returns the new key generation:
    /// the new key is written to the key file first, then seals everything written from
    /// then on; older files stay readable. A plain database raises `InvalidArgument`.
    fn rotate_key(&self, py: Python<'_>) -> PyResult<u32> {
        self.with_db(|db| engine(py, || db.rotate_key()))
    }

    /// `rotate_key()`, then every file re-sealed under the new key (the log and memtable
    /// move to it, every table is rewritten, the manifest is rolled) and the older keys
    /// removed from the key file once nothing reads a file sealed with them; returns a dict
    /// with `generation`, `tables_rewritten` and `retired_generations`.
    fn rotate_key_now(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let r = self.with_db(|db| engine(py, || db.rotate_key_now()))?;
        let d = pyo3::types::PyDict::new(py);
        d.set_item("generation", r.generation)?;
        d.set_item("tables_rewritten", r.tables_rewritten)?;
        d.set_item("retired_generations", r.retired_generations)?;
        Ok(d.into_any().unbind())
    }

    /// Re-wraps the data keys of an encrypted database under `new_key` (bytes of 32;
    /// `InvalidKeyMaterial` otherwise): only the key file is rewritten, and the database
    /// opens with `new_key` only from then on.
    fn rewrap_key(&self, py: Python<'_>, new_key: &Bound<'_, PyBytes>) -> PyResult<()> {
        let key =
            lightning_db::EncryptionKey::from_slice(new_key.as_bytes()).map_err(errors::raise)?;
        self.with_db(|db| engine(py, || db.rewrap_key(key)))
    }

    /// Writes every memtable to table files.
    fn flush(&self, py: Python<'_>) -> PyResult<()> {
        self.with_db(|db| engine(py, || db.flush()))
    }

    /// Full manual compaction.
    fn compact(&self, py: Python<'_>) -> PyResult<()> {
        self.with_db(|db| engine(py, || db.compact()))
    }

    /// Makes every acknowledged write durable now.
    fn sync(&self, py: Python<'_>) -> PyResult<()> {
        self.with_db(|db| engine(py, || db.sync()))
    }

    /// The engine's statistics (`DbStats`) as a dict; durations in seconds.
    fn stats(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let value = self.stats_value(py)?;
        json_to_py(py, &value)
    }

    /// The database's performance metrics (`PerformanceMetrics`) as a dict: the
    /// reference's fields (latency percentiles in float seconds, throughputs in operations
    /// per second over the last interval, cache hit rate, memory and disk bytes, CPU use,
    /// error rate, availability, recovery time), the evidence behind them, the `sla`
    /// thresholds, and `meets_sla`, `performance_score` and `bottlenecks` computed from
    /// them.
    fn metrics(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let json = self.with_db(|db| engine_infallible(py, || db.metrics().to_json()))?;
        let value: serde_json::Value = serde_json::from_str(&json)
            .map_err(|e| errors::invalid(format!("metrics could not be converted: {e}")))?;
        json_to_py(py, &value)
    }

    /// The database's health report as a dict: `state` (the worst check), `checks` (each
    /// built-in check's `name`, `criticality`, `status`, `remediation`, `note`,
    /// `checked_at` and `duration`), `rounds`, and the engine's self-checks as `engine`.
    /// Without `enable_health_monitoring` each call runs one round of the checks (each
    /// waited for at most `health_check_timeout` seconds); with it, the latest round the
    /// database ran itself. The GIL is released meanwhile.
    fn health(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let report = self.with_db(|db| engine_infallible(py, || db.health()))?;
        let value = serde_json::to_value(&report)
            .map_err(|e| errors::invalid(format!("health could not be converted: {e}")))?;
        json_to_py(py, &value)
    }

    /// The counters in the Prometheus text exposition format.
    fn prometheus(&self, py: Python<'_>) -> PyResult<String> {
        self.with_db(|db| engine_infallible(py, || db.stats().to_prometheus()))
    }

    /// Reads every file again and checks it at `level` ("basic", "standard",
    /// "comprehensive" or "paranoid"); returns an `IntegrityReport` (`.ok`, `.problems`).
    #[pyo3(signature = (level = "standard"))]
    fn check(&self, py: Python<'_>, level: &str) -> PyResult<Py<PyAny>> {
        let level: ValidationLevel = level.parse().map_err(errors::raise)?;
        let report = self.with_db(|db| engine(py, || db.verify_integrity(level)))?;
        let mut value = serde_json::to_value(&report)
            .map_err(|e| errors::invalid(format!("report could not be converted: {e}")))?;
        if let serde_json::Value::Object(map) = &mut value {
            map.insert("ok".to_string(), serde_json::json!(report.is_clean()));
        }
        let dict = json_to_py(py, &value)?;
        let class = py
            .import("lightning_db._types")?
            .getattr("IntegrityReport")?
            .cast_into::<PyType>()?;
        Ok(class.call_method1("_from_engine", (dict,))?.unbind())
    }
}

impl PyDatabase {
    /// Drops the `on_event` callable: no event is delivered any more.
    fn stop_events(&self) {
        if let Some(sink) = &self.events {
            sink.stop();
        }
    }
}

impl Drop for PyDatabase {
    fn drop(&mut self) {
        if fork::forked(self.gen) {
            // Never run the engine's shutdown in a forked child (see `fork`).
            std::mem::forget(std::mem::replace(&mut self.db, ArcSwapOption::empty()));
            return;
        }
        self.stop_events();
        if self.events.is_some() {
            // Dropped unclosed (this runs with the GIL held): the engine joins its threads,
            // and one of them may be waiting for the GIL to deliver an event, so the engine
            // is dropped with the GIL released.
            if let Some(db) = self.db.swap(None) {
                // (Without an interpreter to attach to, the closure and `db` are dropped
                // unrun, as before.)
                let _ = Python::try_attach(|py| py.detach(|| drop(db)));
            }
        }
    }
}
