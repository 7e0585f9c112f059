//! Format versions and migration: `lightning_detect_version`, `lightning_migrate`, and
//! encryption at rest turned on or off: `lightning_migrate_encrypt`,
//! `lightning_migrate_decrypt`.

use std::ffi::{c_char, c_int};

use lightning_db::{
    DatabaseError, DatabaseVersion, EncryptionKey, MigrationError, MigrationManager,
    MigrationResult,
};

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
/// `*out_len` (`out_len` may be NULL). An encrypted database is refused
/// (`LIGHTNING_INVALID_ARGUMENT`): it keeps its format until `lightning_migrate_decrypt`.
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

/// Runs `migrate` on the database in `path` with the key `key`/`key_len`, writing its
/// report as [`lightning_migrate`] does.
fn migrate_with_key(
    path: *const c_char,
    key: *const u8,
    key_len: usize,
    out_report_json: *mut *mut c_char,
    out_len: *mut usize,
    migrate: fn(
        &MigrationManager,
        &std::path::Path,
        &EncryptionKey,
    ) -> Result<MigrationResult, MigrationError>,
) -> Result<c_int, Fail> {
    let out = OutPtr::required(out_report_json, "out_report_json")?;
    let out_len = OutPtr::optional(out_len);
    let path = path_arg(path)?;
    let key = EncryptionKey::from_slice(args::bytes(key, key_len, "key")?)?;
    let result = migrate(&MigrationManager::new(), &path, &key).map_err(DatabaseError::from)?;
    let (ptr, len) = mem::give(result.to_json().into_bytes())?;
    out.write(ptr.cast::<c_char>());
    out_len.write(len);
    Ok(LIGHTNING_OK)
}

/// Turns encryption at rest on for the closed, plain database in `path`, as `lightning
/// migrate PATH --encrypt` does: every table, the log and the manifest are rewritten
/// sealed under a new key file whose data keys are wrapped by the `key_len` (32) bytes at
/// `key`, switched atomically (a crash leaves it plain or encrypted, never between). From
/// then on it opens only with that key (`lightning_options_set_encryption_key`).
/// A key of another length is `LIGHTNING_INVALID_KEY_MATERIAL`; an encrypted database
/// `LIGHTNING_INVALID_ARGUMENT` ("encrypted already"); other failures as
/// [`lightning_migrate`], the database then exactly as before. On success writes the JSON
/// report (`encrypted_after` true, `to` 3) to `*out_report_json` (free it with
/// `lightning_free`) and its length to `*out_len` (`out_len` may be NULL).
/// Blocking; thread-safe.
#[no_mangle]
pub extern "C" fn lightning_migrate_encrypt(
    path: *const c_char,
    key: *const u8,
    key_len: usize,
    out_report_json: *mut *mut c_char,
    out_len: *mut usize,
) -> c_int {
    ffi_call("lightning_migrate_encrypt", |_| {
        migrate_with_key(path, key, key_len, out_report_json, out_len, |m, p, k| {
            m.encrypt_database(p, k)
        })
    })
}

/// Turns encryption at rest off for the closed, encrypted database in `path` whose key is
/// the `key_len` (32) bytes at `key`, as `lightning migrate PATH --decrypt` does: every
/// file is read with the key and rewritten in the clear, and the key file removed, in one
/// atomic switch. A wrong key is `LIGHTNING_WRONG_KEY` and changes nothing; a plain
/// database `LIGHTNING_INVALID_ARGUMENT` ("not encrypted"); the report and other failures
/// as [`lightning_migrate_encrypt`]. Blocking; thread-safe.
#[no_mangle]
pub extern "C" fn lightning_migrate_decrypt(
    path: *const c_char,
    key: *const u8,
    key_len: usize,
    out_report_json: *mut *mut c_char,
    out_len: *mut usize,
) -> c_int {
    ffi_call("lightning_migrate_decrypt", |_| {
        migrate_with_key(path, key, key_len, out_report_json, out_len, |m, p, k| {
            m.decrypt_database(p, k)
        })
    })
}
