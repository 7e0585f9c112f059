//! The audit log: `audit_verify(path, key=None)`, as `lightning audit verify` and the C
//! API's `lightning_audit_verify` do it.

use std::path::PathBuf;

use lightning_db::{AuditKey, DatabaseError};
use pyo3::prelude::*;

use crate::db::json_to_py;
use crate::util::engine;

/// Verifies the audit log in `path` (an audit log folder, or a database folder keeping one
/// in `audit/`) and returns the report as a dict; `key` (32 bytes) authenticates a sealed
/// log's entries.
#[pyfunction]
#[pyo3(signature = (path, key = None))]
fn audit_verify(py: Python<'_>, path: PathBuf, key: Option<Vec<u8>>) -> PyResult<Py<PyAny>> {
    let json = engine(py, move || -> Result<serde_json::Value, DatabaseError> {
        let key = match key {
            None => None,
            Some(k) => {
                let bytes: [u8; 32] = k.try_into().map_err(|_| DatabaseError::InvalidArgument {
                    message: "key must be 32 bytes".into(),
                })?;
                Some(AuditKey::from_bytes(&bytes))
            }
        };
        let dir = [path.clone(), path.join("audit")]
            .into_iter()
            .find(|d| d.join("audit.state").exists())
            .ok_or_else(|| DatabaseError::InvalidArgument {
                message: format!("no audit log at {}", path.display()),
            })?;
        let report = lightning_db::verify_audit_log(&dir, key.as_ref())?;
        serde_json::from_str(&report.to_json()).map_err(|e| DatabaseError::Internal {
            message: format!("audit report is not JSON: {e}"),
        })
    })?;
    json_to_py(py, &json)
}

/// Adds the function to the module.
pub(crate) fn install(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(audit_verify, m)?)?;
    Ok(())
}
