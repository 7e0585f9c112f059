//! The audit log: `auditVerify(path, key?)`, as `lightning audit verify` and the C API's
//! `lightning_audit_verify` do it.

use std::path::PathBuf;

use lightning_db::{AuditKey, DatabaseError};
use napi::bindgen_prelude::*;
use napi_derive::napi;

use crate::convert::report_to_js;
use crate::errors::{run, type_error};

/// Verifies the audit log in `path` (an audit log folder, or a database folder keeping one
/// in `audit/`) without writing anything and returns the report; `key` (32 bytes)
/// authenticates a sealed log's entries.
#[napi(
    ts_args_type = "path: string, key?: Buffer",
    ts_return_type = "AuditReport"
)]
pub fn audit_verify<'e>(
    env: &'e Env,
    path: Unknown<'_>,
    key: Option<Buffer>,
) -> Result<Unknown<'e>> {
    if path.get_type()? != ValueType::String {
        return Err(type_error(env, "path must be a string"));
    }
    let path = PathBuf::from(path.coerce_to_string()?.into_utf8()?.into_owned()?);
    let key: Option<Vec<u8>> = key.map(|k| k.to_vec());
    let json = run(
        env,
        move || -> std::result::Result<String, DatabaseError> {
            let key = match key {
                None => None,
                Some(k) => {
                    let bytes: [u8; 32] =
                        k.try_into().map_err(|_| DatabaseError::InvalidArgument {
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
            Ok(lightning_db::verify_audit_log(&dir, key.as_ref())?.to_json())
        },
    )?;
    report_to_js(env, &json)
}
