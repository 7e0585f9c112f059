//! Format versions and migration: `lightning_detect_version` and `lightning_migrate`.

use std::ffi::{c_char, c_int};

use lightning_db::{DatabaseError, DatabaseVersion, MigrationManager};

use crate::args::{self, OutPtr};
use crate::codes::LIGHTNING_OK;
use crate::db::path_arg;
use crate::error::{ffi_call, Fail};
use crate::mem;

/// Writes the format version of the database in `path` (1, 2, ...) to `*out_version`,
/// read from its files without opening it (no lock, nothing written). A directory with no
/// database is `LIGHTNING_INVALID_ARGUMENT`; a format newer than this library knows is
/// `LIGHTNING_UNSUPPORTED_FORMAT_VERSION`, one older than it reads
/// `LIGHTNING_MIGRATION_REQUIRED` (the last error names the command to run). Thread-safe.
#[no_mangle]
pub extern "C" fn lightning_detect_version(path: *const c_char, out_version: *mut u32) -> c_int {
    ffi_call("lightning_detect_version", |_| {
        let out = OutPtr::required(out_version, "out_version")?;
        let path = path_arg(path)?;
        let version = MigrationManager::new().detect_version(&path)?;
        out.write(version.number());
        Ok(LIGHTNING_OK)
    })
}

/// Migrates the closed database in `path` to format `target` (`"v1"`, `"v2"`, `"latest"`;
/// NULL for the latest), as `lightning migrate PATH --to TARGET` does: a safety check (not
/// open elsewhere: `LIGHTNING_DATABASE_LOCKED`; room on disk:
/// `LIGHTNING_INSUFFICIENT_RESOURCES`), then each step, rewritten into new files and
/// switched atomically. A failed step is rolled back (`LIGHTNING_MIGRATION_FAILED`: the
/// database is exactly as before); `LIGHTNING_ROLLBACK_FAILED` if the rollback failed too.
/// On success writes a NUL-terminated JSON report (`from`, `to`, `steps`,
/// `bytes_rewritten`, `seconds`, `warnings`, `backup_dir`: `MigrationResult::to_json`) to
/// `*out_report_json` (free it with `lightning_free`) and its length without the NUL to
/// `*out_len` (`out_len` may be NULL).
/// Blocking; thread-safe (a second migration of the same database is refused as locked).
#[no_mangle]
pub extern "C" fn lightning_migrate(
    path: *const c_char,
    target: *const c_char,
    out_report_json: *mut *mut c_char,
    out_len: *mut usize,
) -> c_int {
    ffi_call("lightning_migrate", |_| {
        let out = OutPtr::required(out_report_json, "out_report_json")?;
        let out_len = OutPtr::optional(out_len);
        let path = path_arg(path)?;
        let to = if target.is_null() {
            DatabaseVersion::Latest
        } else {
            let text = args::text(target, "target")?;
            text.parse::<DatabaseVersion>()
                .map_err(|e| Fail::invalid(e.to_string()))?
        };
        let manager = MigrationManager::new();
        let plan = manager
            .create_migration_plan_for(&path, to)
            .map_err(DatabaseError::from)?;
        let result = manager
            .execute_migration_blocking(plan)
            .map_err(DatabaseError::from)?;
        let (ptr, len) = mem::give(result.to_json().into_bytes())?;
        out.write(ptr.cast::<c_char>());
        out_len.write(len);
        Ok(LIGHTNING_OK)
    })
}
