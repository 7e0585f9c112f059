//! Format versions and migration: `detectVersion(path)`, `needsMigration(path)`,
//! `migrate(path, options)` (a Promise, on the libuv thread pool) and `migrateSync`, and
//! encryption at rest turned on or off: `encryptDatabase(path, key)` /
//! `decryptDatabase(path, key)` (Promises) and their `*Sync` twins, over the engine's
//! `MigrationManager` as `lightning migrate` uses it.
//!
//! Versions are strings as the engine prints and parses them (`'v1'`, `'v2'`; `to` also
//! takes `'latest'` or a number). Reports are plain objects with camelCase keys, built
//! from `MigrationResult::to_json`. Errors carry the engine's codes
//! (`LIGHTNING_MIGRATION_FAILED` 415, `LIGHTNING_MIGRATION_REQUIRED` 416,
//! `LIGHTNING_DATABASE_LOCKED`...).

use std::path::PathBuf;

use lightning_db::{
    ChecksumAlgorithm, DatabaseError, DatabaseVersion, EncryptionKey, MigrationManager,
    MigrationPhase, MigrationProgress, MigrationResult,
};
use napi::bindgen_prelude::*;
use napi::threadsafe_function::{
    ThreadsafeCallContext, ThreadsafeFunction, ThreadsafeFunctionCallMode,
};
use napi::ScopedTask;
use napi_derive::napi;

use crate::convert::report_to_js;
use crate::errors::{guard, run, to_js, type_error};

/// The option names `migrate` accepts.
const OPTIONS: &[&str] = &[
    "to",
    "dryRun",
    "checksum",
    "compression",
    "backup",
    "key",
    "onProgress",
];

/// A path argument: any value, checked by [`path_arg`] (a value napi converted to a
/// `String` itself would be refused without the engine's code).
type PathArg<'a> = Unknown<'a>;

/// The path, or a `TypeError` carrying `LIGHTNING_INVALID_ARGUMENT`.
fn path_arg(env: &Env, path: PathArg<'_>) -> Result<String> {
    if path.get_type()? != ValueType::String {
        return Err(type_error(env, "path must be a string"));
    }
    path.coerce_to_string()?.into_utf8()?.into_owned()
}

/// `'v1'`, `'v2'`: how versions are given to JavaScript.
fn version_name(v: DatabaseVersion) -> String {
    format!("v{}", v.resolve().number())
}

/// `options.onProgress`, as napi takes it.
type OnProgress<'a> = Function<'a, Unknown<'static>, Unknown<'static>>;

/// Queued with the progress as JSON, called with it as an object; weak (the pending
/// promise keeps the event loop alive while the migration runs).
type ProgressTsfn =
    ThreadsafeFunction<String, Unknown<'static>, Unknown<'static>, Status, false, true>;

/// The parsed options of `migrate` / `migrateSync`.
struct Plan {
    to: DatabaseVersion,
    dry_run: bool,
    checksum: Option<ChecksumAlgorithm>,
    compression: Option<bool>,
    backup: Option<PathBuf>,
    /// An encrypted database's key (`options.key`).
    key: Option<EncryptionKey>,
}

/// The options object, or a `TypeError` / `LIGHTNING_INVALID_ARGUMENT` naming what is
/// wrong, and `onProgress` when given.
fn read_options<'a>(
    env: &Env,
    options: Option<Unknown<'a>>,
) -> Result<(Plan, Option<OnProgress<'a>>)> {
    let mut plan = Plan {
        to: DatabaseVersion::Latest,
        dry_run: false,
        checksum: None,
        compression: None,
        backup: None,
        key: None,
    };
    let Some(options) = options else {
        return Ok((plan, None));
    };
    match options.get_type()? {
        ValueType::Undefined | ValueType::Null => return Ok((plan, None)),
        ValueType::Object => {}
        other => {
            return Err(type_error(
                env,
                format!("migrate options must be an object, got {other:?}").to_lowercase(),
            ))
        }
    }
    let obj = options.coerce_to_object()?;
    let names = obj.get_property_names()?;
    let mut on_progress = None;
    for i in 0..names.get_array_length()? {
        let name: String = names.get_element(i)?;
        let value: Unknown = obj.get_named_property(&name)?;
        let kind = value.get_type()?;
        if matches!(kind, ValueType::Undefined | ValueType::Null) {
            continue;
        }
        let wrong = |what: &str| {
            type_error(
                env,
                format!(
                    "options.{name} must be {what}, got {}",
                    format!("{kind:?}").to_lowercase()
                ),
            )
        };
        match name.as_str() {
            "to" => {
                let text = match kind {
                    ValueType::String => value.coerce_to_string()?.into_utf8()?.into_owned()?,
                    ValueType::Number => value.coerce_to_number()?.get_double()?.to_string(),
                    _ => return Err(wrong("a version such as 'v1' or 'latest', or a number")),
                };
                plan.to = text
                    .parse::<DatabaseVersion>()
                    .map_err(|e| invalid(env, e.to_string()))?;
            }
            "dryRun" | "compression" => {
                if kind != ValueType::Boolean {
                    return Err(wrong("a boolean"));
                }
                let on = value.coerce_to_bool()?;
                if name == "dryRun" {
                    plan.dry_run = on;
                } else {
                    plan.compression = Some(on);
                }
            }
            "checksum" => {
                if kind != ValueType::String {
                    return Err(wrong("'xxh64', 'crc32' or 'blake3'"));
                }
                let text = value.coerce_to_string()?.into_utf8()?.into_owned()?;
                plan.checksum = Some(match text.to_ascii_lowercase().as_str() {
                    "xxh64" => ChecksumAlgorithm::Xxh64,
                    "crc32" => ChecksumAlgorithm::Crc32,
                    "blake3" => ChecksumAlgorithm::Blake3,
                    _ => {
                        return Err(invalid(
                            env,
                            format!(
                                "unknown checksum algorithm '{text}': expected xxh64, crc32 \
                                 or blake3"
                            ),
                        ))
                    }
                });
            }
            "backup" => {
                if kind != ValueType::String {
                    return Err(wrong("a directory path (string)"));
                }
                let text = value.coerce_to_string()?.into_utf8()?.into_owned()?;
                plan.backup = Some(PathBuf::from(text));
            }
            "key" => {
                let bytes = match kind {
                    ValueType::Object => obj
                        .get_named_property::<Uint8Array>("key")
                        .map_err(|_| wrong("a Buffer or Uint8Array of 32 bytes"))?,
                    _ => return Err(wrong("a Buffer or Uint8Array of 32 bytes")),
                };
                plan.key = Some(key_arg(env, &bytes)?);
            }
            "onProgress" => {
                if kind != ValueType::Function {
                    return Err(wrong("a function"));
                }
                on_progress = Some(obj.get_named_property::<OnProgress<'a>>("onProgress")?);
            }
            _ => {
                return Err(type_error(
                    env,
                    format!(
                        "unknown migrate option '{name}'; accepted: {}",
                        OPTIONS.join(", ")
                    ),
                ))
            }
        }
    }
    Ok((plan, on_progress))
}

/// `LIGHTNING_INVALID_ARGUMENT` with `message`.
fn invalid(env: &Env, message: String) -> Error {
    to_js(env, &DatabaseError::InvalidArgument { message })
}

/// `'rewriting'`, `'rollingBack'`...
fn phase_name(phase: MigrationPhase) -> &'static str {
    match phase {
        MigrationPhase::Backup => "backup",
        MigrationPhase::Rewriting => "rewriting",
        MigrationPhase::Switching => "switching",
        MigrationPhase::Cleanup => "cleanup",
        MigrationPhase::RollingBack => "rollingBack",
        MigrationPhase::Done => "done",
        _ => "other",
    }
}

fn progress_json(p: &MigrationProgress) -> String {
    serde_json::json!({
        "step_index": p.step_index,
        "step_count": p.step_count,
        "step": p.step,
        "phase": phase_name(p.phase),
        "bytes_done": p.bytes_done,
        "bytes_total": p.bytes_total,
    })
    .to_string()
}

/// Runs the plan for the database in `path` (on the calling thread) and returns the
/// report as JSON (snake_case keys; `report_to_js` makes them camelCase).
fn run_plan(
    manager: &MigrationManager,
    path: &str,
    plan: &Plan,
) -> std::result::Result<String, DatabaseError> {
    let mut p = match &plan.key {
        Some(k) => manager.create_migration_plan_with_key(path, plan.to, k.clone())?,
        None => manager.create_migration_plan_for(path, plan.to)?,
    };
    if let Some(a) = plan.checksum {
        p = p.with_checksum(a);
    }
    if let Some(on) = plan.compression {
        p = p.with_compression(on);
    }
    if let Some(dir) = &plan.backup {
        p = p.with_backup(dir);
    }
    if plan.dry_run {
        // What `lightning migrate --dry-run` prints: the plan, the estimate and the safety
        // check (a refusal rejects), changing nothing.
        let estimated_bytes = manager.estimate_migration_bytes(&p);
        let estimated_seconds = manager.estimate_migration_time(&p).as_secs_f64();
        manager.validate_migration_safety(&p)?;
        let steps: Vec<serde_json::Value> = p
            .steps()
            .iter()
            .map(|s| serde_json::json!({ "step": s.to_string() }))
            .collect();
        return Ok(serde_json::json!({
            "path": path,
            "from": version_name(p.from_version()),
            "to": version_name(p.to_version()),
            "steps": steps,
            "estimated_bytes": estimated_bytes,
            "estimated_seconds": estimated_seconds,
            "backup_dir": p.backup_dir().map(|d| d.display().to_string()),
            "dry_run": true,
        })
        .to_string());
    }
    let result = manager.execute_migration_blocking(p)?;
    report_json(&result)
}

/// The report of a finished migration as JSON, versions as names.
fn report_json(result: &MigrationResult) -> std::result::Result<String, DatabaseError> {
    let mut report: serde_json::Value =
        serde_json::from_str(&result.to_json()).map_err(|e| DatabaseError::Internal {
            message: format!("migration report is not JSON: {e}"),
        })?;
    report["from"] = version_name(result.from).into();
    report["to"] = version_name(result.to).into();
    report["dry_run"] = false.into();
    Ok(report.to_string())
}

/// Encrypts (`encrypt`) or decrypts the database in `path` with `key`; the report as JSON.
fn switch_encryption(
    path: &str,
    key: &EncryptionKey,
    encrypt: bool,
) -> std::result::Result<String, DatabaseError> {
    let manager = MigrationManager::new();
    let result = if encrypt {
        manager.encrypt_database(path, key)
    } else {
        manager.decrypt_database(path, key)
    };
    report_json(&result?)
}

/// The key argument: 32 bytes (`LIGHTNING_INVALID_KEY_MATERIAL` otherwise), copied into a
/// zeroized-on-drop key.
fn key_arg(env: &Env, key: &Uint8Array) -> Result<EncryptionKey> {
    EncryptionKey::from_slice(key).map_err(|e| to_js(env, &e))
}

/// `encryptDatabase`, blocking the JS thread until it is done.
#[napi(
    ts_args_type = "path: string, key: Uint8Array",
    ts_return_type = "MigrationReport"
)]
pub fn encrypt_database_sync<'e>(
    env: &'e Env,
    path: PathArg<'_>,
    key: Uint8Array,
) -> Result<Unknown<'e>> {
    switch_encryption_now(env, path, &key, true)
}

/// `decryptDatabase`, blocking the JS thread until it is done.
#[napi(
    ts_args_type = "path: string, key: Uint8Array",
    ts_return_type = "MigrationReport"
)]
pub fn decrypt_database_sync<'e>(
    env: &'e Env,
    path: PathArg<'_>,
    key: Uint8Array,
) -> Result<Unknown<'e>> {
    switch_encryption_now(env, path, &key, false)
}

/// Turns encryption at rest on for the closed, plain database in `path` on the thread
/// pool, as `lightning migrate PATH --encrypt` does: every file rewritten sealed under a
/// new key file wrapped by `key` (32 bytes), switched atomically; from then on it opens
/// only with `encryptionKey: key`. Resolves to the report (`encryptedAfter` true).
#[napi(
    ts_args_type = "path: string, key: Uint8Array",
    ts_return_type = "Promise<MigrationReport>"
)]
pub fn encrypt_database(
    env: Env,
    path: PathArg<'_>,
    key: Uint8Array,
) -> Result<AsyncTask<EncryptionTask>> {
    EncryptionTask::start(&env, path, &key, true)
}

/// Turns encryption at rest off for the closed, encrypted database in `path` whose key is
/// `key`, on the thread pool, as `lightning migrate PATH --decrypt` does. A wrong key
/// rejects with `LIGHTNING_WRONG_KEY` and changes nothing. Resolves to the report
/// (`encryptedAfter` false).
#[napi(
    ts_args_type = "path: string, key: Uint8Array",
    ts_return_type = "Promise<MigrationReport>"
)]
pub fn decrypt_database(
    env: Env,
    path: PathArg<'_>,
    key: Uint8Array,
) -> Result<AsyncTask<EncryptionTask>> {
    EncryptionTask::start(&env, path, &key, false)
}

/// `encryptDatabaseSync` (`encrypt`) or `decryptDatabaseSync`: checks the arguments, then
/// switches on the JS thread.
fn switch_encryption_now<'e>(
    env: &'e Env,
    path: PathArg<'_>,
    key: &Uint8Array,
    encrypt: bool,
) -> Result<Unknown<'e>> {
    let path = path_arg(env, path)?;
    let key = key_arg(env, key)?;
    let json = run(env, || switch_encryption(&path, &key, encrypt))?;
    report_to_js(env, &json)
}

/// An encryption migration on the thread pool.
pub struct EncryptionTask {
    path: String,
    key: EncryptionKey,
    encrypt: bool,
}

impl EncryptionTask {
    /// Checks the arguments on the JS thread and queues the switch.
    fn start(
        env: &Env,
        path: PathArg<'_>,
        key: &Uint8Array,
        encrypt: bool,
    ) -> Result<AsyncTask<EncryptionTask>> {
        Ok(AsyncTask::new(EncryptionTask {
            path: path_arg(env, path)?,
            key: key_arg(env, key)?,
            encrypt,
        }))
    }
}

impl<'t> ScopedTask<'t> for EncryptionTask {
    type Output = std::result::Result<String, DatabaseError>;
    type JsValue = Unknown<'t>;

    fn compute(&mut self) -> Result<Self::Output> {
        Ok(guard(|| {
            switch_encryption(&self.path, &self.key, self.encrypt)
        }))
    }

    fn resolve(&mut self, env: &'t Env, output: Self::Output) -> Result<Unknown<'t>> {
        match output {
            Ok(json) => report_to_js(env, &json),
            Err(e) => Err(to_js(env, &e)),
        }
    }
}

/// The format version of the database in `path` (`'v1'`, `'v2'`), read from its files
/// without opening it (no lock, nothing written).
#[napi(ts_args_type = "path: string", ts_return_type = "FormatVersion")]
pub fn detect_version(env: Env, path: PathArg<'_>) -> Result<String> {
    let path = path_arg(&env, path)?;
    run(&env, || MigrationManager::new().detect_version(&path)).map(version_name)
}

/// Whether the database in `path` is in a format older than the newest this build writes.
#[napi(ts_args_type = "path: string")]
pub fn needs_migration(env: Env, path: PathArg<'_>) -> Result<bool> {
    let path = path_arg(&env, path)?;
    run(&env, || MigrationManager::new().needs_migration(&path))
}

/// `migrate`, blocking the JS thread until it is done (no `onProgress`: nothing could
/// run it while the thread is blocked).
#[napi(
    ts_args_type = "path: string, options?: Omit<MigrateOptions, 'onProgress'>",
    ts_return_type = "MigrationReport"
)]
pub fn migrate_sync<'e>(
    env: &'e Env,
    path: PathArg<'_>,
    options: Option<Unknown<'_>>,
) -> Result<Unknown<'e>> {
    let path = path_arg(env, path)?;
    let (plan, on_progress) = read_options(env, options)?;
    if on_progress.is_some() {
        return Err(type_error(
            env,
            "options.onProgress needs migrate() (migrateSync blocks the thread that would run it)",
        ));
    }
    let json = run(env, || run_plan(&MigrationManager::new(), &path, &plan))?;
    report_to_js(env, &json)
}

/// Migrates the closed database in `path` on the thread pool, as `lightning migrate`
/// does; resolves to the report.
#[napi(
    ts_args_type = "path: string, options?: MigrateOptions",
    ts_return_type = "Promise<MigrationReport>"
)]
pub fn migrate(
    env: Env,
    path: PathArg<'_>,
    options: Option<Unknown<'_>>,
) -> Result<AsyncTask<MigrateTask>> {
    let path = path_arg(&env, path)?;
    let (plan, on_progress) = read_options(&env, options)?;
    let mut manager = MigrationManager::new();
    if let Some(f) = on_progress {
        let tsfn: ProgressTsfn = f
            .build_threadsafe_function::<String>()
            .callee_handled::<false>()
            .weak::<true>()
            .build_callback(|ctx: ThreadsafeCallContext<String>| {
                report_to_js(&ctx.env, &ctx.value)
            })?;
        manager = manager.on_progress(move |p| {
            // Never waits for JavaScript; a refused call (the environment exiting) drops
            // the report.
            let _ = tsfn.call_with_return_value(
                progress_json(p),
                ThreadsafeFunctionCallMode::NonBlocking,
                crate::events::warn_if_thrown_by("onProgress"),
            );
        });
    }
    Ok(AsyncTask::new(MigrateTask {
        manager: Some(manager),
        path,
        plan,
    }))
}

/// A migration on the thread pool.
pub struct MigrateTask {
    /// Taken by `compute` (dropping it releases `onProgress`).
    manager: Option<MigrationManager>,
    path: String,
    plan: Plan,
}

impl<'t> ScopedTask<'t> for MigrateTask {
    type Output = std::result::Result<String, DatabaseError>;
    type JsValue = Unknown<'t>;

    fn compute(&mut self) -> Result<Self::Output> {
        let manager = self.manager.take();
        Ok(guard(|| match manager {
            Some(m) => run_plan(&m, &self.path, &self.plan),
            None => Err(DatabaseError::Internal {
                message: "migration computed twice".into(),
            }),
        }))
    }

    fn resolve(&mut self, env: &'t Env, output: Self::Output) -> Result<Unknown<'t>> {
        match output {
            Ok(json) => report_to_js(env, &json),
            Err(e) => Err(to_js(env, &e)),
        }
    }
}
