//! The exception tree, generated at import from the core's code table.
//!
//! `lightning_db.Error` (alias `DatabaseError`) is the base. Every error row of
//! [`lightning_db::ERROR_TABLE`] (codes 100 and up) becomes one subclass whose name is the
//! code's name in CamelCase (`TRANSACTION_CONFLICT` → `TransactionConflict`), under an
//! intermediate parent for its range where the core groups codes by kind (security,
//! integrity, reliability, recovery, configuration and resources; the core's own 1xx codes
//! sit directly under `Error`). A few also derive from the builtin a Python user would catch
//! (`IoError` is an `OSError`, `LockTimeout` a `TimeoutError`...). A code this build does not
//! know maps to `Error` itself.
//!
//! Every instance raised carries `.code` (the core's `error_code()`), `.name` (its code
//! name), `.retryable`, `.critical` and `.suggested_action`.

use std::collections::HashMap;

use lightning_db::{DatabaseError, ERROR_TABLE};
use pyo3::exceptions::PyException;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyTuple, PyType};

/// The generated classes, filled once at module init.
struct Classes {
    base: Py<PyType>,
    by_code: HashMap<i32, Py<PyType>>,
}

static CLASSES: PyOnceLock<Classes> = PyOnceLock::new();

/// Intermediate parents by code range, as the core documents its ranges (`error.rs`). The
/// core's own 1xx codes have no parent between them and `Error`.
const GROUPS: &[(i32, i32, &str, &str)] = &[
    (
        201,
        249,
        "SecurityError",
        "Security failures: encryption, keys, access control, the audit log (codes 201-249).",
    ),
    (
        250,
        299,
        "IntegrityError",
        "Stored data failed a check and was not returned (codes 250-299).",
    ),
    (
        300,
        399,
        "ReliabilityError",
        "Deadlocks, circuit breaker, auto-recovery and timeouts (codes 3xx).",
    ),
    (
        400,
        499,
        "RecoveryError",
        "Crash recovery and repair failures (codes 4xx).",
    ),
    (
        500,
        599,
        "SetupError",
        "Configuration and resource failures (codes 5xx).",
    ),
];

/// Builtin exceptions a class also derives from, by code name: what a Python user would
/// naturally catch for that failure.
const BUILTIN_BASES: &[(&str, &str)] = &[
    ("KEY_NOT_FOUND", "KeyError"),
    ("VALUE_TOO_LARGE", "ValueError"),
    ("KEY_TOO_LARGE", "ValueError"),
    ("EMPTY_KEY", "ValueError"),
    ("INVALID_ARGUMENT", "ValueError"),
    ("IO_ERROR", "OSError"),
    ("STORAGE_FULL", "OSError"),
    ("LOCK_TIMEOUT", "TimeoutError"),
    ("TIMEOUT", "TimeoutError"),
    ("RECOVERY_TIMEOUT", "TimeoutError"),
];

/// `TRANSACTION_CONFLICT` → `TransactionConflict`.
fn camel_case(name: &str) -> String {
    name.split('_')
        .filter(|part| !part.is_empty())
        .map(|part| {
            let lower = part.to_ascii_lowercase();
            let mut chars = lower.chars();
            match chars.next() {
                Some(first) => first.to_ascii_uppercase().to_string() + chars.as_str(),
                None => String::new(),
            }
        })
        .collect()
}

/// Creates `class name(*bases)` with `attrs` as class attributes, in module `lightning_db`.
fn make_class<'py>(
    py: Python<'py>,
    name: &str,
    bases: Vec<Bound<'py, PyAny>>,
    doc: &str,
    attrs: &Bound<'py, PyDict>,
) -> PyResult<Bound<'py, PyType>> {
    attrs.set_item("__module__", "lightning_db")?;
    attrs.set_item("__doc__", doc)?;
    let bases = PyTuple::new(py, bases)?;
    let class = py
        .import("builtins")?
        .getattr("type")?
        .call1((name, bases, attrs))?;
    Ok(class.cast_into::<PyType>()?)
}

/// Creates every exception class and adds it to the module.
pub(crate) fn install(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    let builtins = py.import("builtins")?;

    let attrs = PyDict::new(py);
    // Defaults for an `Error` raised by user code; instances raised by the engine override
    // them with the real values.
    attrs.set_item("code", -1)?;
    attrs.set_item("name", "UNKNOWN")?;
    attrs.set_item("retryable", false)?;
    attrs.set_item("critical", false)?;
    attrs.set_item("suggested_action", py.None())?;
    let base = make_class(
        py,
        "Error",
        vec![py.get_type::<PyException>().into_any()],
        "Base class of every Lightning DB error. Attributes: code (the engine's stable numeric \
         code), name (its name, e.g. 'TRANSACTION_CONFLICT'), retryable, critical, \
         suggested_action (str or None).",
        &attrs,
    )?;
    m.add("Error", &base)?;
    m.add_function(wrap_pyfunction!(_make_error, m)?)?;
    m.add("DatabaseError", &base)?;

    let mut groups: HashMap<&str, Bound<'_, PyType>> = HashMap::new();
    for &(_, _, name, doc) in GROUPS {
        let class = make_class(
            py,
            name,
            vec![base.clone().into_any()],
            doc,
            &PyDict::new(py),
        )?;
        m.add(name, &class)?;
        groups.insert(name, class);
    }

    let mut by_code = HashMap::new();
    // Codes below 100 are C API statuses (success, end of iteration), not errors.
    for info in ERROR_TABLE.iter().filter(|info| info.code >= 100) {
        let parent = GROUPS
            .iter()
            .find(|(lo, hi, _, _)| (*lo..=*hi).contains(&info.code))
            .and_then(|(_, _, name, _)| groups.get(name))
            .unwrap_or(&base);
        let mut bases = vec![parent.clone().into_any()];
        if let Some((_, builtin)) = BUILTIN_BASES.iter().find(|(n, _)| *n == info.name) {
            bases.push(builtins.getattr(*builtin)?);
        }
        let attrs = PyDict::new(py);
        attrs.set_item("code", info.code)?;
        attrs.set_item("name", info.name)?;
        let class_name = camel_case(info.name);
        let doc = format!("{} (code {} {}).", info.description, info.code, info.name);
        let class = make_class(py, &class_name, bases, &doc, &attrs)?;
        m.add(class_name.as_str(), &class)?;
        by_code.insert(info.code, class.unbind());
    }
    let _ = CLASSES.set(
        py,
        Classes {
            base: base.unbind(),
            by_code,
        },
    );
    Ok(())
}

/// The class for `code`: its generated subclass, or `Error` for a code this build does
/// not know.
fn class_for<'py>(py: Python<'py>, code: i32) -> PyResult<Bound<'py, PyType>> {
    let classes = CLASSES
        .get(py)
        .ok_or_else(|| pyo3::exceptions::PyRuntimeError::new_err("module not initialised"))?;
    Ok(classes
        .by_code
        .get(&code)
        .unwrap_or(&classes.base)
        .bind(py)
        .clone())
}

/// The fields an exception instance carries.
pub(crate) struct ErrorParts {
    code: i32,
    name: &'static str,
    message: String,
    retryable: bool,
    critical: bool,
    suggested_action: Option<String>,
}

impl ErrorParts {
    /// Everything the engine says about `e`.
    pub(crate) fn of(e: &DatabaseError) -> Self {
        Self {
            code: e.error_code(),
            name: e.code_name(),
            message: e.to_string(),
            retryable: e.is_retryable(),
            critical: e.is_critical(),
            suggested_action: e.suggested_action(),
        }
    }

    /// The same classification with another message.
    pub(crate) fn with_message(mut self, message: impl Into<String>) -> Self {
        self.message = message.into();
        self
    }

    /// The exception to raise.
    pub(crate) fn into_pyerr(self) -> PyErr {
        Python::attach(|py| match self.build(py) {
            Ok(err) => err,
            Err(err) => err,
        })
    }

    fn build(self, py: Python<'_>) -> PyResult<PyErr> {
        let class = class_for(py, self.code)?;
        let instance = class.call1((self.message,))?;
        instance.setattr("code", self.code)?;
        instance.setattr("name", self.name)?;
        instance.setattr("retryable", self.retryable)?;
        instance.setattr("critical", self.critical)?;
        instance.setattr("suggested_action", self.suggested_action)?;
        Ok(PyErr::from_value(instance))
    }
}

/// Builds the exception the glue would raise for `code` with `message` and the given
/// classification. For tests and tools that need an instance (for example of a code newer
/// than this build, which maps to `Error`); not part of the stable API.
#[pyfunction]
#[pyo3(signature = (code, message, retryable = false, critical = false, suggested_action = None))]
pub(crate) fn _make_error(
    py: Python<'_>,
    code: i32,
    message: String,
    retryable: bool,
    critical: bool,
    suggested_action: Option<String>,
) -> PyResult<Py<PyAny>> {
    let name = ERROR_TABLE
        .iter()
        .find(|info| info.code == code)
        .map_or("UNKNOWN", |info| info.name);
    let err = ErrorParts {
        code,
        name,
        message,
        retryable,
        critical,
        suggested_action,
    }
    .build(py)?;
    Ok(err.value(py).clone().into_any().unbind())
}

/// Converts an engine error into the exception to raise.
pub(crate) fn raise(e: DatabaseError) -> PyErr {
    ErrorParts::of(&e).into_pyerr()
}

/// `InvalidArgument` with `message`, for misuse the glue detects itself (a finished
/// transaction used again, for example).
pub(crate) fn invalid(message: impl Into<String>) -> PyErr {
    raise(DatabaseError::InvalidArgument {
        message: message.into(),
    })
}

/// `ConfigurationError` naming `field`.
pub(crate) fn config_error(field: &str, reason: impl Into<String>) -> PyErr {
    raise(DatabaseError::ConfigurationError {
        field: field.to_string(),
        reason: reason.into(),
    })
}

/// A caught panic as an `Internal` error: the panic never reaches Python as a
/// `PanicException`.
pub(crate) fn panic_error(payload: &(dyn std::any::Any + Send)) -> DatabaseError {
    let text = payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic payload".to_string());
    DatabaseError::Internal {
        message: format!("panic inside the engine: {text}"),
    }
}
