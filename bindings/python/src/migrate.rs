//! Format versions and migration: `detect_version(path)`, `needs_migration(path)`,
//! `migrate(path, to, ...)`, and `encrypt_database(path, key)` / `decrypt_database(path,
//! key)` (encryption at rest turned on or off) over the engine's `MigrationManager`, as
//! `lightning migrate` and the C API's `lightning_migrate` use it.
//!
//! Versions are strings as the engine prints and parses them (`"v1"`, `"v2"`; `to` also
//! takes `"latest"` or a number). Every engine call runs with the GIL released; errors
//! are the generated exception classes with the engine's codes (`MigrationFailed` 415,
//! `MigrationRequired` 416, `DatabaseLocked`, `InsufficientResources`...).

use std::path::PathBuf;
use std::sync::Arc;

use lightning_db::{
    ChecksumAlgorithm, DatabaseError, DatabaseVersion, EncryptionKey, MigrationError,
    MigrationManager, MigrationPhase, MigrationProgress, MigrationResult,
};
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyBytes, PyDict, PyInt, PyString};

use crate::db::json_to_py;
use crate::errors;
use crate::util::engine;

/// `"v1"`, `"v2"`: how versions are given to Python.
fn version_name(v: DatabaseVersion) -> String {
    format!("v{}", v.resolve().number())
}

/// `to`: `None` (the newest), a version name (`"v1"`, `"latest"`) or a number.
fn target(to: Option<&Bound<'_, PyAny>>) -> PyResult<DatabaseVersion> {
    let Some(to) = to.filter(|t| !t.is_none()) else {
        return Ok(DatabaseVersion::Latest);
    };
    let text = if let Ok(s) = to.cast::<PyString>() {
        s.to_cow()?.into_owned()
    } else if to.cast::<PyInt>().is_ok() && to.cast::<PyBool>().is_err() {
        to.extract::<i64>()?.to_string()
    } else {
        return Err(PyTypeError::new_err(format!(
            "to must be a version name such as 'v1' or 'latest', or a number, not {}",
            to.get_type().name()?
        )));
    };
    text.parse::<DatabaseVersion>()
        .map_err(|e| errors::invalid(e.to_string()))
}

fn checksum(name: &str) -> PyResult<ChecksumAlgorithm> {
    match name.to_ascii_lowercase().as_str() {
        "xxh64" => Ok(ChecksumAlgorithm::Xxh64),
        "crc32" => Ok(ChecksumAlgorithm::Crc32),
        "blake3" => Ok(ChecksumAlgorithm::Blake3),
        _ => Err(errors::invalid(format!(
            "unknown checksum algorithm '{name}': expected xxh64, crc32 or blake3"
        ))),
    }
}

/// `"rewriting"`, `"rolling_back"`...
fn phase_name(phase: MigrationPhase) -> &'static str {
    match phase {
        MigrationPhase::Backup => "backup",
        MigrationPhase::Rewriting => "rewriting",
        MigrationPhase::Switching => "switching",
        MigrationPhase::Cleanup => "cleanup",
        MigrationPhase::RollingBack => "rolling_back",
        MigrationPhase::Done => "done",
        _ => "other",
    }
}

/// Calls `on_progress(info)` with the GIL held; an exception it raises goes to
/// `sys.unraisablehook` and the migration carries on (a step is never left half done).
fn progress_caller(callback: Py<PyAny>) -> impl Fn(&MigrationProgress) + Send + Sync + 'static {
    let callback = Arc::new(callback);
    move |p: &MigrationProgress| {
        let _ = Python::try_attach(|py| {
            let result = (|| {
                let info = PyDict::new(py);
                info.set_item("step_index", p.step_index)?;
                info.set_item("step_count", p.step_count)?;
                info.set_item("step", &p.step)?;
                info.set_item("phase", phase_name(p.phase))?;
                info.set_item("bytes_done", p.bytes_done)?;
                info.set_item("bytes_total", p.bytes_total)?;
                callback.call1(py, (info,))
            })();
            if let Err(err) = result {
                err.write_unraisable(py, Some(callback.bind(py)));
            }
        });
    }
}

/// The format version of the database in `path` (`"v1"`, `"v2"`), read from its files
/// without opening it (no lock, nothing written).
#[pyfunction]
fn detect_version(py: Python<'_>, path: PathBuf) -> PyResult<String> {
    engine(py, || MigrationManager::new().detect_version(&path)).map(version_name)
}

/// Whether the database in `path` is in a format older than the newest this build
/// writes (it opens as it is; `migrate(path)` moves it to the newest).
#[pyfunction]
fn needs_migration(py: Python<'_>, path: PathBuf) -> PyResult<bool> {
    engine(py, || MigrationManager::new().needs_migration(&path))
}

/// The key argument: bytes of 32 (`InvalidKeyMaterial` otherwise, `TypeError` for
/// another type), copied into a zeroized-on-drop key.
fn key_arg(key: &Bound<'_, PyAny>) -> PyResult<EncryptionKey> {
    let bytes = key.cast::<PyBytes>().map_err(|_| {
        PyTypeError::new_err(format!(
            "key must be bytes (32 of them), not {}",
            key.get_type()
                .name()
                .map(|n| n.to_string())
                .unwrap_or_default()
        ))
    })?;
    EncryptionKey::from_slice(bytes.as_bytes()).map_err(errors::raise)
}

/// Migrates the closed database in `path` to format `to` (default the newest), as
/// `lightning migrate` does; returns the report as a dict. `key` (bytes of 32) is an
/// encrypted database's key: with it the checksum and compression steps rewrite it
/// encrypted (it stays at its layout, so `to` must be the newest).
#[pyfunction]
#[pyo3(signature = (path, to = None, *, dry_run = false, checksum = None, compression = None, backup = None, on_progress = None, key = None))]
#[allow(clippy::too_many_arguments)]
fn migrate(
    py: Python<'_>,
    path: PathBuf,
    to: Option<&Bound<'_, PyAny>>,
    dry_run: bool,
    checksum: Option<String>,
    compression: Option<bool>,
    backup: Option<PathBuf>,
    on_progress: Option<&Bound<'_, PyAny>>,
    key: Option<&Bound<'_, PyAny>>,
) -> PyResult<Py<PyAny>> {
    let to = target(to)?;
    let key = key.filter(|k| !k.is_none()).map(key_arg).transpose()?;
    let algorithm = checksum.as_deref().map(self::checksum).transpose()?;
    let mut manager = MigrationManager::new();
    if let Some(callback) = on_progress.filter(|c| !c.is_none()) {
        if !callback.is_callable() {
            return Err(PyTypeError::new_err(format!(
                "on_progress must be callable (called as on_progress(info)), not {}",
                callback.get_type().name()?
            )));
        }
        manager = manager.on_progress(progress_caller(callback.clone().unbind()));
    }
    let json = engine(py, move || -> Result<serde_json::Value, DatabaseError> {
        let mut plan = match key {
            Some(k) => manager.create_migration_plan_with_key(&path, to, k)?,
            None => manager.create_migration_plan_for(&path, to)?,
        };
        if let Some(a) = algorithm {
            plan = plan.with_checksum(a);
        }
        if let Some(on) = compression {
            plan = plan.with_compression(on);
        }
        if let Some(dir) = &backup {
            plan = plan.with_backup(dir);
        }
        if dry_run {
            // What `lightning migrate --dry-run` prints: the plan, the estimate and the
            // safety check (a refusal raises), changing nothing.
            let estimated_bytes = manager.estimate_migration_bytes(&plan);
            let estimated_seconds = manager.estimate_migration_time(&plan).as_secs_f64();
            manager.validate_migration_safety(&plan)?;
            let steps: Vec<serde_json::Value> = plan
                .steps()
                .iter()
                .map(|s| serde_json::json!({ "step": s.to_string() }))
                .collect();
            return Ok(serde_json::json!({
                "path": path.display().to_string(),
                "from": version_name(plan.from_version()),
                "to": version_name(plan.to_version()),
                "steps": steps,
                "estimated_bytes": estimated_bytes,
                "estimated_seconds": estimated_seconds,
                "backup_dir": plan.backup_dir().map(|d| d.display().to_string()),
                "dry_run": true,
            }));
        }
        let result = manager.execute_migration_blocking(plan)?;
        report_of(&result)
    })?;
    json_to_py(py, &json)
}

/// The report of a finished migration as `migrate` returns it (versions as names).
fn report_of(result: &MigrationResult) -> Result<serde_json::Value, DatabaseError> {
    let mut report: serde_json::Value =
        serde_json::from_str(&result.to_json()).map_err(|e| DatabaseError::Internal {
            message: format!("migration report is not JSON: {e}"),
        })?;
    report["from"] = version_name(result.from).into();
    report["to"] = version_name(result.to).into();
    report["dry_run"] = false.into();
    Ok(report)
}

/// Runs `switch` (encrypt or decrypt) on the database in `path` with the 32 bytes of
/// `key` (`InvalidKeyMaterial` otherwise), the GIL released; returns the report.
fn switch_encryption(
    py: Python<'_>,
    path: PathBuf,
    key: &Bound<'_, PyAny>,
    switch: fn(
        &MigrationManager,
        &std::path::Path,
        &EncryptionKey,
    ) -> Result<MigrationResult, MigrationError>,
) -> PyResult<Py<PyAny>> {
    let key = key_arg(key)?;
    let json = engine(py, move || {
        let result = switch(&MigrationManager::new(), &path, &key)?;
        report_of(&result)
    })?;
    json_to_py(py, &json)
}

/// Turns encryption at rest on for the closed, plain database in `path`, as `lightning
/// migrate PATH --encrypt` does: every file rewritten sealed under a new key file wrapped
/// by `key` (bytes of 32), switched atomically. From then on it opens only with
/// `encryption_key=key`. Returns the report (`encrypted_after` true).
#[pyfunction]
fn encrypt_database(py: Python<'_>, path: PathBuf, key: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
    switch_encryption(py, path, key, |m, p, k| m.encrypt_database(p, k))
}

/// Turns encryption at rest off for the closed, encrypted database in `path` whose key is
/// `key`, as `lightning migrate PATH --decrypt` does. A wrong key raises `WrongKey` and
/// changes nothing. Returns the report (`encrypted_after` false).
#[pyfunction]
fn decrypt_database(py: Python<'_>, path: PathBuf, key: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
    switch_encryption(py, path, key, |m, p, k| m.decrypt_database(p, k))
}

/// Adds the functions to the module.
pub(crate) fn install(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(detect_version, m)?)?;
    m.add_function(wrap_pyfunction!(needs_migration, m)?)?;
    m.add_function(wrap_pyfunction!(migrate, m)?)?;
    m.add_function(wrap_pyfunction!(encrypt_database, m)?)?;
    m.add_function(wrap_pyfunction!(decrypt_database, m)?)?;
    Ok(())
}

/// `Database.format_version`: the format the open database reads and writes.
pub(crate) fn format_version_of(db: &lightning_db::Database) -> String {
    version_name(db.format_version())
}
