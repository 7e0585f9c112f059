//! The audit log: `lightning_audit_verify`.

use std::ffi::{c_char, c_int};
use std::path::{Path, PathBuf};

use lightning_db::AuditKey;

use crate::args::{self, OutPtr};
use crate::codes::{LIGHTNING_AUDIT_LOG_TAMPERED, LIGHTNING_OK};
use crate::db::path_arg;
use crate::error::{ffi_call, Fail};
use crate::mem;

/// The log folder `path` names: itself, or the `audit/` folder of a database.
fn log_dir(path: &Path) -> Option<PathBuf> {
    [path.to_path_buf(), path.join("audit")]
        .into_iter()
        .find(|d| d.join("audit.state").exists())
}

/// Verifies the audit log in `path` (an audit log folder, or a database folder keeping one
/// in `audit/`) without writing anything: the hash chain, the files and the state file.
/// `key`, `key_len` (32 bytes; NULL and 0 for none) authenticate a sealed log's entries;
/// without a key only a sealed log's chain is checked.
///
/// Writes a NUL-terminated JSON report to `*out_report_json` (free it with `lightning_free`)
/// and its length without the NUL to `*out_len` (`out_len` may be NULL): `intact`, `files`,
/// `entries`, `first_seq`, `last_seq`, `last_hash`, `sealed`, `authenticated`,
/// `interrupted` (an append cut short by a crash: `expected_last_seq`, `present_last_seq`,
/// `torn_bytes`; or null), `stale_files` and `tampering` (null, or `kind` — `Edited`,
/// `Removed`, `Inserted`, `Reordered`, `TruncatedTail`, `FileDeleted`, `StateMismatch` —
/// with `seq`, `file`, `line` and `details`).
///
/// Returns `LIGHTNING_OK` when the log is intact and `LIGHTNING_AUDIT_LOG_TAMPERED` when it
/// is not (the report is written in that case too, and must be freed). No log at `path`, or a
/// key that is not 32 bytes, is `LIGHTNING_INVALID_ARGUMENT`; a key that opens no entry is
/// `LIGHTNING_WRONG_KEY`; neither writes a report. Thread-safe.
#[no_mangle]
pub extern "C" fn lightning_audit_verify(
    path: *const c_char,
    key: *const u8,
    key_len: usize,
    out_report_json: *mut *mut c_char,
    out_len: *mut usize,
) -> c_int {
    ffi_call("lightning_audit_verify", |_| {
        let out = OutPtr::required(out_report_json, "out_report_json")?;
        let out_len = OutPtr::optional(out_len);
        let path = path_arg(path)?;
        let key = if key.is_null() && key_len == 0 {
            None
        } else {
            let bytes: &[u8; 32] = args::bytes(key, key_len, "key")?
                .try_into()
                .map_err(|_| Fail::invalid("`key` must be 32 bytes"))?;
            Some(AuditKey::from_bytes(bytes))
        };
        let dir = log_dir(&path)
            .ok_or_else(|| Fail::invalid(format!("no audit log at {}", path.display())))?;
        let report = lightning_db::verify_audit_log(&dir, key.as_ref())?;
        let intact = report.is_intact();
        let (ptr, len) = mem::give(report.to_json().into_bytes())?;
        out.write(ptr.cast::<c_char>());
        out_len.write(len);
        Ok(if intact {
            LIGHTNING_OK
        } else {
            LIGHTNING_AUDIT_LOG_TAMPERED
        })
    })
}
