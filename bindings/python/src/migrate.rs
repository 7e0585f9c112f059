//! Format versions and migration: `detect_version(path)`, `needs_migration(path)` and
//! `migrate(path, to, ...)` over the engine's `MigrationManager`, as `lightning migrate`
//! and the C API's `lightning_migrate` use it.
//!
//! Versions are strings as the engine prints and parses them (`"v1"`, `"v2"`; `to` also
//! takes `"latest"` or a number). Every engine call runs with the GIL released; errors
//! are the generated exception classes with the engine's codes (`MigrationFailed` 415,
//! `MigrationRequired` 416, `DatabaseLocked`, `InsufficientResources`...).

use std::path::PathBuf;
use std::sync::Arc;

use lightning_db::{
    ChecksumAlgorithm, DatabaseError, DatabaseVersion, MigrationManager, MigrationPhase,
    MigrationProgress,
};
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyInt, PyString};

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

/// Migrates the closed database in `path` to format `to` (default the newest), as
/// `lightning migrate` does; returns the report as a dict.
#[pyfunction]
#[pyo3(signature = (path, to = None, *, dry_run = false, checksum = None, compression = None, backup = None, on_progress = None))]
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
) -> PyResult<Py<PyAny>> {
    let to = target(to)?;
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
        let mut plan = manager.create_migration_plan_for(&path, to)?;
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
        let mut report: serde_json::Value =
            serde_json::from_str(&result.to_json()).map_err(|e| DatabaseError::Internal {
                message: format!("migration report is not JSON: {e}"),
            })?;
        report["from"] = version_name(result.from).into();
        report["to"] = version_name(result.to).into();
        report["dry_run"] = false.into();
        Ok(report)
    })?;
    json_to_py(py, &json)
}

/// Adds the functions to the module.
pub(crate) fn install(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(detect_version, m)?)?;
    m.add_function(wrap_pyfunction!(needs_migration, m)?)?;
    m.add_function(wrap_pyfunction!(migrate, m)?)?;
    Ok(())
}

/// `Database.format_version`: the format the open database reads and writes.
pub(crate) fn format_version_of(db: &lightning_db::Database) -> String {
    version_name(db.format_version())
}
