//! `lightning_db`: opening, closing, and the single-key operations.

use std::ffi::{c_char, c_int, c_void};
use std::path::PathBuf;
use std::sync::Arc;

use ::lightning_db::{CachedRead, Database, DatabaseError, LightningDbConfig, RecoveryState};
use parking_lot::RwLock;

use crate::args::{self, OutBuffer, OutPtr};
use crate::codes::{
    LIGHTNING_BUFFER_TOO_SMALL, LIGHTNING_INTEGRITY_VALIDATION_FAILED, LIGHTNING_NEEDS_IO,
    LIGHTNING_NOT_FOUND, LIGHTNING_OK,
};
use crate::error::{copy_text, ffi_call, Call, ErrorSlot, Fail};
use crate::events::{lightning_event_fn, EventSink};
use crate::handle::{self, Handle, Kind};
use crate::mem;
use crate::options::{self, lightning_options};

/// An open database.
///
/// Thread-safety: a `lightning_db` may be used by any number of threads at once; every
/// function taking one is safe to call concurrently (readers never wait for writers, and
/// concurrent writers share one log sync). `lightning_db_close` waits for calls already
/// running on the handle to return; calls made after it answer `LIGHTNING_DATABASE_CLOSED`.
/// Transactions, snapshots and iterators still alive then answer `LIGHTNING_DATABASE_CLOSED`
/// to new operations and must still be freed.
pub struct lightning_db {
    _private: [u8; 0],
}

/// The object behind a `lightning_db` handle.
pub(crate) struct DbHandle {
    /// `None` once closed; operations hold the read lock, closing takes the write lock.
    db: RwLock<Option<Database>>,
    /// The detail of the last failure on this handle and everything made from it.
    pub(crate) errors: Arc<ErrorSlot>,
    /// The event callback given to `lightning_db_open_with_events`, stopped on close.
    events: Option<Arc<EventSink>>,
}

impl Handle for DbHandle {
    const KIND: Kind = Kind::Db;
}

impl DbHandle {
    /// Runs `f` on the open database, or fails with `DATABASE_CLOSED`.
    pub(crate) fn with<R>(
        &self,
        f: impl FnOnce(&Database) -> Result<R, DatabaseError>,
    ) -> Result<R, Fail> {
        let guard = self.db.read();
        let db = guard.as_ref().ok_or(DatabaseError::DatabaseClosed)?;
        Ok(f(db)?)
    }
}

/// The live database behind `db`; failures of the rest of the call are also recorded on it.
pub(crate) fn resolve(call: &mut Call, db: *const lightning_db) -> Result<Arc<DbHandle>, Fail> {
    let h = handle::get::<DbHandle>(handle::token(db), "db")?;
    call.report_to(&h.errors);
    Ok(h)
}

/// Answers a lookup with a library-allocated copy of the value, or `LIGHTNING_NOT_FOUND`.
pub(crate) fn answer_alloc(
    value: Option<Vec<u8>>,
    out_val: OutPtr<*mut u8>,
    out_len: OutPtr<usize>,
) -> Result<c_int, Fail> {
    let Some(value) = value else {
        return Ok(LIGHTNING_NOT_FOUND);
    };
    let (ptr, len) = mem::give(value)?;
    out_val.write(ptr);
    out_len.write(len);
    Ok(LIGHTNING_OK)
}

/// The arguments of every `*_get_into` call, checked: the key, the caller's buffer and
/// the length output. Built first so each call only differs in how it looks the key up.
pub(crate) struct ReadInto<'a> {
    /// The key to look up.
    pub(crate) key: &'a [u8],
    buf: OutBuffer,
    out_len: OutPtr<usize>,
}

impl<'a> ReadInto<'a> {
    /// Checks `key`/`key_len`, the buffer `buf` of `cap` bytes and `out_len`.
    pub(crate) fn new(
        key: *const u8,
        key_len: usize,
        buf: *mut u8,
        cap: usize,
        out_len: *mut usize,
    ) -> Result<Self, Fail> {
        Ok(ReadInto {
            key: args::bytes(key, key_len, "key")?,
            buf: args::out_buffer(buf, cap, "buf")?,
            out_len: OutPtr::required(out_len, "out_len")?,
        })
    }

    /// Answers the lookup by copying the value into the caller's buffer: `LIGHTNING_OK`,
    /// `LIGHTNING_BUFFER_TOO_SMALL` (length reported, buffer untouched) or
    /// `LIGHTNING_NOT_FOUND`.
    pub(crate) fn answer(self, value: Option<impl AsRef<[u8]>>) -> Result<c_int, Fail> {
        let Some(value) = value else {
            return Ok(LIGHTNING_NOT_FOUND);
        };
        let value = value.as_ref();
        let len = value.len();
        if len > self.buf.capacity() {
            self.out_len.write(len);
            return Ok(LIGHTNING_BUFFER_TOO_SMALL);
        }
        self.buf.write_prefix(value, false);
        self.out_len.write(len);
        Ok(LIGHTNING_OK)
    }
}

pub(crate) fn path_arg(path: *const c_char) -> Result<PathBuf, Fail> {
    let path = args::cstr(path, "path")?;
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt;
        Ok(PathBuf::from(std::ffi::OsStr::from_bytes(path.to_bytes())))
    }
    #[cfg(not(unix))]
    {
        path.to_str()
            .map(PathBuf::from)
            .map_err(|_| Fail::invalid("`path` is not valid UTF-8"))
    }
}

fn open_with(
    path: PathBuf,
    config: LightningDbConfig,
    events: Option<Arc<EventSink>>,
    out: OutPtr<*mut lightning_db>,
) -> Result<c_int, Fail> {
    let listeners = events.iter().map(EventSink::listener).collect();
    let db = match Database::open_with_listeners(path, config, listeners) {
        Ok(db) => db,
        Err(e) => {
            if let Some(sink) = &events {
                sink.stop();
            }
            return Err(e.into());
        }
    };
    give_handle(db, events, out)
}

/// Hands the open `db` to C as a new handle.
fn give_handle(
    db: Database,
    events: Option<Arc<EventSink>>,
    out: OutPtr<*mut lightning_db>,
) -> Result<c_int, Fail> {
    let token = handle::insert(Arc::new(DbHandle {
        db: RwLock::new(Some(db)),
        errors: Arc::default(),
        events,
    }))?;
    out.write(handle::pointer(token));
    Ok(LIGHTNING_OK)
}

/// The configuration `opts` holds, or the defaults for NULL.
fn config_or_default(opts: *const lightning_options) -> Result<LightningDbConfig, Fail> {
    if opts.is_null() {
        Ok(LightningDbConfig::default())
    } else {
        options::config_of(opts)
    }
}

/// Opens (creating it if missing) the database in directory `path` (a NUL-terminated path)
/// and writes its handle to `*out_db`. `opts` may be NULL for the defaults; the options are
/// copied, so they may be freed at once. Close the handle with `lightning_db_close`.
///
/// Errors: `LIGHTNING_CONFIGURATION_ERROR` for an invalid setting (the field is named in
/// `lightning_last_error`), `LIGHTNING_DATABASE_LOCKED` when another process or handle has
/// the database open, corruption and recovery codes (4xx, 25x) for damaged files,
/// `LIGHTNING_IO_ERROR` for the rest. On failure `*out_db` is left untouched.
#[no_mangle]
pub extern "C" fn lightning_db_open(
    path: *const c_char,
    opts: *const lightning_options,
    out_db: *mut *mut lightning_db,
) -> c_int {
    ffi_call("lightning_db_open", |_| {
        let out = OutPtr::required(out_db, "out_db")?;
        let path = path_arg(path)?;
        open_with(path, config_or_default(opts)?, None, out)
    })
}

/// Opens the database in `path` with settings given as JSON, as `lightning_options_from_json`
/// reads them (`"{}"` for the defaults; a `path` field is ignored). The configuration is
/// validated before anything is opened.
#[no_mangle]
pub extern "C" fn lightning_db_open_json(
    path: *const c_char,
    config_json: *const c_char,
    out_db: *mut *mut lightning_db,
) -> c_int {
    ffi_call("lightning_db_open_json", |_| {
        let out = OutPtr::required(out_db, "out_db")?;
        let path = path_arg(path)?;
        let json = args::text(config_json, "config_json")?;
        let config = LightningDbConfig::from_json(json)?;
        config.validate()?;
        open_with(path, config, None, out)
    })
}

/// Opens the database in `path` as `lightning_db_open` does (`opts` may be NULL for the
/// defaults) and calls `callback(user_data, kind, json, json_len)` for each of the engine's
/// events (see `lightning_event_fn`): flushes and compactions completed, background errors,
/// corruption met, write stalls, and the recovery stages of this open itself (`"lock"`,
/// `"manifest"`, `"log_replay"` with progress in bytes and segments, `"flush_recovered"`,
/// `"verification"`, `"cleanup"`, `"start"`, each `"started"` then `"finished"`), which arrive on the calling thread before
/// this function returns. `callback` may be NULL (no events; the same as
/// `lightning_db_open`); `user_data` is handed back untouched and may be NULL.
///
/// The callback runs on the library's threads and must be thread-safe. After
/// `lightning_db_close` returns it is never called again (close waits for a callback that is
/// running), so `user_data` may be freed then. If the open fails, events up to the failure
/// (a `"failed"` recovery stage) were delivered and none follow.
#[no_mangle]
pub extern "C" fn lightning_db_open_with_events(
    path: *const c_char,
    opts: *const lightning_options,
    callback: lightning_event_fn,
    user_data: *mut c_void,
    out_db: *mut *mut lightning_db,
) -> c_int {
    ffi_call("lightning_db_open_with_events", |_| {
        let out = OutPtr::required(out_db, "out_db")?;
        let path = path_arg(path)?;
        open_with(
            path,
            config_or_default(opts)?,
            EventSink::new(callback, user_data),
            out,
        )
    })
}

/// Called by `lightning_db_open_with_progress` as the open's recovery advances: `stage` is
/// the stage running (`"lock"`, `"manifest"`, `"log_replay"`, `"flush_recovered"`,
/// `"verification"`, `"cleanup"`, `"start"`; between two stages the one just finished, and the failed one when
/// a stage failed), `progress` the percent done from 0 to 100, never falling (each stage
/// weighs its typical share of an open: the log replay 70%, advancing by bytes read), and
/// `eta_ms` the estimated milliseconds remaining, or -1 while unknown. `stage` belongs to the
/// library and is valid only during the call. The callback runs on the thread that called
/// `lightning_db_open_with_progress`, before it returns, and must not unwind or `longjmp`
/// out of the call.
pub type lightning_progress_fn = Option<
    unsafe extern "C" fn(user_data: *mut c_void, stage: *const c_char, progress: f64, eta_ms: i64),
>;

/// Opens the database in `path` as `lightning_db_open` does (`opts` may be NULL for the
/// defaults), calling `callback(user_data, stage, progress, eta_ms)` at every step of its
/// recovery: each stage's start and end and at least every 1% of a long log replay (see
/// `lightning_progress_fn`). All calls happen on this thread before this function returns,
/// so `user_data` may be freed then; it is handed back untouched and may be NULL. `callback`
/// may be NULL (the same as `lightning_db_open`). A failed open reports the failed stage
/// last, then returns its error (for example `LIGHTNING_DATABASE_LOCKED`); on failure
/// `*out_db` is left untouched.
#[no_mangle]
pub extern "C" fn lightning_db_open_with_progress(
    path: *const c_char,
    opts: *const lightning_options,
    callback: lightning_progress_fn,
    user_data: *mut c_void,
    out_db: *mut *mut lightning_db,
) -> c_int {
    ffi_call("lightning_db_open_with_progress", |_| {
        let out = OutPtr::required(out_db, "out_db")?;
        let path = path_arg(path)?;
        let config = config_or_default(opts)?;
        let Some(callback) = callback else {
            return open_with(path, config, None, out);
        };
        // The listener stays registered for the database's life: the flag keeps the
        // callback from ever being called after this function returns.
        let open = Arc::new(std::sync::atomic::AtomicBool::new(true));
        let reporting = Arc::clone(&open);
        let user_data = user_data.expose_provenance();
        let progress = move |state: &RecoveryState| {
            if reporting.load(std::sync::atomic::Ordering::Acquire) {
                report_progress(callback, user_data, state);
            }
        };
        let opened = Database::open_with_progress(path, config, progress);
        open.store(false, std::sync::atomic::Ordering::Release);
        give_handle(opened?, None, out)
    })
}

/// Calls the C progress callback with `state`; never unwinds.
fn report_progress(
    callback: unsafe extern "C" fn(*mut c_void, *const c_char, f64, i64),
    user_data: usize,
    state: &RecoveryState,
) {
    let _ = std::panic::catch_unwind(|| {
        let stage = state
            .failed_stages()
            .last()
            .map(|f| f.stage)
            .or_else(|| state.current_stage().copied())
            .or_else(|| state.completed_stages().last().copied())
            .map_or("lock", |s| s.name());
        let eta_ms = state
            .estimated_time_remaining()
            .map_or(-1, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
        let Ok(stage) = std::ffi::CString::new(stage) else {
            return;
        };
        let user_data: *mut c_void = std::ptr::with_exposed_provenance_mut(user_data);
        // SAFETY: `callback` is the non-NULL function the caller passed to
        // `lightning_db_open_with_progress`, called on the opening thread before that
        // returns, with the caller's own `user_data` and a NUL-terminated string that lives
        // until it returns, as `lightning_progress_fn` documents. The caller guarantees it
        // neither unwinds nor jumps out.
        unsafe { callback(user_data, stage.as_ptr(), state.progress(), eta_ms) };
    });
}

/// Closes the database: waits for calls running on the handle, syncs the log, stops
/// background work and releases the directory lock. Afterwards the handle is stale: every
/// call with it answers `LIGHTNING_DATABASE_CLOSED`, and closing it again does nothing.
/// NULL is ignored. A failure of the final sync is reported through `lightning_last_error`
/// (call `lightning_db_sync` first to see it as a return code). The event callback of
/// `lightning_db_open_with_events` hears the events of work finished while closing and is
/// never called once this returns.
#[no_mangle]
pub extern "C" fn lightning_db_close(db: *mut lightning_db) {
    ffi_call("lightning_db_close", |_| {
        if db.is_null() {
            return Ok(LIGHTNING_OK);
        }
        let h = handle::remove::<DbHandle>(handle::token(db), "db")?;
        let taken = h.db.write().take();
        let closed = taken.map_or(Ok(()), Database::close);
        // Events of work that finished while closing were delivered; none follow.
        if let Some(sink) = &h.events {
            sink.stop();
        }
        closed?;
        Ok(LIGHTNING_OK)
    });
}

/// Stores `val` (`val_len` bytes; may be 0 with any non-NULL pointer) under `key`
/// (1 to max key size bytes), durably as the database's durability setting says.
///
/// Errors: `LIGHTNING_EMPTY_KEY`, `LIGHTNING_KEY_TOO_LARGE`, `LIGHTNING_VALUE_TOO_LARGE`
/// (nothing is written), `LIGHTNING_POISONED` after an earlier write failure,
/// `LIGHTNING_IO_ERROR` / `LIGHTNING_STORAGE_FULL`.
#[no_mangle]
pub extern "C" fn lightning_put(
    db: *mut lightning_db,
    key: *const u8,
    key_len: usize,
    val: *const u8,
    val_len: usize,
) -> c_int {
    ffi_call("lightning_put", |call| {
        let h = resolve(call, db)?;
        let key = args::bytes(key, key_len, "key")?;
        let val = args::bytes(val, val_len, "val")?;
        h.with(|d| d.put(key, val))?;
        Ok(LIGHTNING_OK)
    })
}

/// Looks `key` up. Found: `*out_val` receives a library-allocated copy of the value (followed
/// by a NUL byte not counted in its length, so text values can be printed directly) and
/// `*out_len` its length; free it with `lightning_free(*out_val, *out_len)`. Missing: returns
/// `LIGHTNING_NOT_FOUND` and leaves both outputs untouched.
#[no_mangle]
pub extern "C" fn lightning_get(
    db: *mut lightning_db,
    key: *const u8,
    key_len: usize,
    out_val: *mut *mut u8,
    out_len: *mut usize,
) -> c_int {
    ffi_call("lightning_get", |call| {
        let h = resolve(call, db)?;
        let key = args::bytes(key, key_len, "key")?;
        let out_val = OutPtr::required(out_val, "out_val")?;
        let out_len = OutPtr::required(out_len, "out_len")?;
        let value = h.with(|d| d.get(key))?;
        answer_alloc(value, out_val, out_len)
    })
}

/// Looks `key` up and copies the value into `buf` (`cap` bytes), with no allocation.
/// Returns `LIGHTNING_OK` with the length in `*out_len`; `LIGHTNING_BUFFER_TOO_SMALL` with
/// the needed length in `*out_len` and `buf` untouched; or `LIGHTNING_NOT_FOUND`. `buf` may
/// be NULL when `cap` is 0 (to learn the length). No NUL is appended.
#[no_mangle]
pub extern "C" fn lightning_get_into(
    db: *mut lightning_db,
    key: *const u8,
    key_len: usize,
    buf: *mut u8,
    cap: usize,
    out_len: *mut usize,
) -> c_int {
    ffi_call("lightning_get_into", |call| {
        let h = resolve(call, db)?;
        let read = ReadInto::new(key, key_len, buf, cap, out_len)?;
        let value = h.with(|d| d.get(read.key))?;
        read.answer(value)
    })
}

/// [`lightning_get_into`] for a thread that must not wait for the disk (an event loop):
/// answers only from memory (memtables, the block cache, and mapped table pages the OS
/// holds in memory). Returns what `lightning_get_into` returns, or `LIGHTNING_NEEDS_IO`
/// when the answer needs a disk read; then nothing was read, `buf` and `*out_len` are
/// untouched, and the caller reads with `lightning_get_into` on a thread that may wait.
#[no_mangle]
pub extern "C" fn lightning_get_if_cached(
    db: *mut lightning_db,
    key: *const u8,
    key_len: usize,
    buf: *mut u8,
    cap: usize,
    out_len: *mut usize,
) -> c_int {
    ffi_call("lightning_get_if_cached", |call| {
        let h = resolve(call, db)?;
        let read = ReadInto::new(key, key_len, buf, cap, out_len)?;
        let value = match h.with(|d| d.get_if_cached(read.key))? {
            CachedRead::Found(v) => Some(v),
            CachedRead::Missing => None,
            CachedRead::NeedsIo => return Ok(LIGHTNING_NEEDS_IO),
        };
        read.answer(value)
    })
}

/// Returns `LIGHTNING_OK` when `key` holds a value, `LIGHTNING_NOT_FOUND` when it does not.
#[no_mangle]
pub extern "C" fn lightning_exists(db: *mut lightning_db, key: *const u8, key_len: usize) -> c_int {
    ffi_call("lightning_exists", |call| {
        let h = resolve(call, db)?;
        let key = args::bytes(key, key_len, "key")?;
        let found = h.with(|d| d.contains_key(key))?;
        Ok(if found {
            LIGHTNING_OK
        } else {
            LIGHTNING_NOT_FOUND
        })
    })
}

/// Removes `key`. Returns `LIGHTNING_OK` when it held a value and `LIGHTNING_NOT_FOUND` when
/// it did not (decided atomically with the delete); the key is absent afterwards either way.
#[no_mangle]
pub extern "C" fn lightning_delete(db: *mut lightning_db, key: *const u8, key_len: usize) -> c_int {
    ffi_call("lightning_delete", |call| {
        let h = resolve(call, db)?;
        let key = args::bytes(key, key_len, "key")?;
        let existed = h.with(|d| d.delete(key))?;
        Ok(if existed {
            LIGHTNING_OK
        } else {
            LIGHTNING_NOT_FOUND
        })
    })
}

/// Rotates the data key of an encrypted database (see `Database::rotate_key`): a new
/// random data key is written to its key file, wrapped by the key-encryption key, and
/// seals everything written from then on; older files stay readable. Writes the new key
/// generation to `*out_generation` (may be NULL). A plain database:
/// `LIGHTNING_INVALID_ARGUMENT`; a failed key-file write: `LIGHTNING_KEY_ROTATION_FAILED`
/// (the previous key stays current).
#[no_mangle]
pub extern "C" fn lightning_db_rotate_key(
    db: *mut lightning_db,
    out_generation: *mut u32,
) -> c_int {
    ffi_call("lightning_db_rotate_key", |call| {
        let out = OutPtr::optional(out_generation);
        let generation = resolve(call, db)?.with(|d| d.rotate_key())?;
        out.write(generation);
        Ok(LIGHTNING_OK)
    })
}

/// Rotates the data key of an encrypted database and re-seals every file under the new
/// one (see `Database::rotate_key_now`): the log and memtable move to it, every table is
/// rewritten, the manifest is rolled, and the older keys are removed from the key file
/// once nothing reads a file sealed with them. Writes the new generation to
/// `*out_generation` and the number of older generations removed to `*out_retired` (each
/// may be NULL; 0 retired means an iterator still read an older table, and the next call
/// retires them). A plain database: `LIGHTNING_INVALID_ARGUMENT`.
#[no_mangle]
pub extern "C" fn lightning_db_rotate_key_now(
    db: *mut lightning_db,
    out_generation: *mut u32,
    out_retired: *mut usize,
) -> c_int {
    ffi_call("lightning_db_rotate_key_now", |call| {
        let out = OutPtr::optional(out_generation);
        let retired = OutPtr::optional(out_retired);
        let rotation = resolve(call, db)?.with(|d| d.rotate_key_now())?;
        out.write(rotation.generation);
        retired.write(rotation.retired_generations.len());
        Ok(LIGHTNING_OK)
    })
}

/// Re-wraps an encrypted database's data keys under `key` (`key_len` must be 32:
/// `LIGHTNING_INVALID_KEY_MATERIAL` otherwise), rewriting its key file alone (see
/// `Database::rewrap_key`): from then on it opens with `key` only. A plain database:
/// `LIGHTNING_INVALID_ARGUMENT`.
#[no_mangle]
pub extern "C" fn lightning_db_rewrap_key(
    db: *mut lightning_db,
    key: *const u8,
    key_len: usize,
) -> c_int {
    ffi_call("lightning_db_rewrap_key", |call| {
        let key = ::lightning_db::EncryptionKey::from_slice(args::bytes(key, key_len, "key")?)?;
        resolve(call, db)?.with(|d| d.rewrap_key(key))?;
        Ok(LIGHTNING_OK)
    })
}

/// Writes every in-memory table to table files and waits for it.
#[no_mangle]
pub extern "C" fn lightning_db_flush(db: *mut lightning_db) -> c_int {
    ffi_call("lightning_db_flush", |call| {
        resolve(call, db)?.with(|d| d.flush())?;
        Ok(LIGHTNING_OK)
    })
}

/// Flushes, then compacts every table into one level, dropping overwritten versions and
/// deletions no snapshot needs. Returns when done.
#[no_mangle]
pub extern "C" fn lightning_db_compact(db: *mut lightning_db) -> c_int {
    ffi_call("lightning_db_compact", |call| {
        resolve(call, db)?.with(|d| d.compact())?;
        Ok(LIGHTNING_OK)
    })
}

/// Makes every acknowledged write durable now (useful with `LIGHTNING_DURABILITY_PERIODIC`
/// or `_NO_SYNC`, and before `lightning_db_close` to see a sync failure as a return code).
#[no_mangle]
pub extern "C" fn lightning_db_sync(db: *mut lightning_db) -> c_int {
    ffi_call("lightning_db_sync", |call| {
        resolve(call, db)?.with(|d| d.sync())?;
        Ok(LIGHTNING_OK)
    })
}

/// The shared body of the functions that hand a database's text (JSON or Prometheus) to C:
/// resolves the handle, renders, and writes the NUL-terminated text and its length.
fn give_text(
    name: &'static str,
    db: *mut lightning_db,
    (out_text, out_name): (*mut *mut c_char, &'static str),
    out_len: *mut usize,
    render: impl Fn(&Database) -> String,
) -> c_int {
    ffi_call(name, |call| {
        let h = resolve(call, db)?;
        let out = OutPtr::required(out_text, out_name)?;
        let out_len = OutPtr::optional(out_len);
        let text = h.with(|d| Ok(render(d)))?;
        let (ptr, len) = mem::give(text.into_bytes())?;
        out.write(ptr.cast::<c_char>());
        out_len.write(len);
        Ok(LIGHTNING_OK)
    })
}

/// Writes the database's statistics (sizes, counters, per-level detail, what recovery did
/// at open) as a NUL-terminated JSON object to `*out_json` (free it with `lightning_free`)
/// and its length without the NUL to `*out_len` (`out_len` may be NULL).
#[no_mangle]
pub extern "C" fn lightning_db_stats_json(
    db: *mut lightning_db,
    out_json: *mut *mut c_char,
    out_len: *mut usize,
) -> c_int {
    give_text(
        "lightning_db_stats_json",
        db,
        (out_json, "out_json"),
        out_len,
        |d| d.stats().to_json(),
    )
}

/// Writes the database's health report as a NUL-terminated JSON object to `*out_json`
/// (free it with `lightning_free`; `out_len`, which may be NULL, receives its length
/// without the NUL): `state` is the worst check (`"healthy"`, `"unknown"`, `"warning"` or
/// `"critical"`); `checks` lists the built-in checks (`"integrity"`, `"resources"`,
/// `"performance"`), each with its `criticality`, its `status` (an object whose `status`
/// is `"healthy"`, `"warning"` with `message` and `remediation`, `"critical"` with
/// `message` and `immediate_action`, or `"unknown"`), its `remediation` (what to do, or
/// null when healthy), a `note` on an unknown status and its `duration`; `engine` holds
/// the engine's self-checks (`state`, and `checks` with `name`, `state`, `message`).
///
/// With `enable_health_monitoring` this is the latest round the database ran itself.
/// Without it the call runs one round: each check on its own thread, waiting at most
/// `reliability.health_check_timeout` (5 s by default) for each; the integrity check
/// verifies a bounded number of blocks per call, resuming where the last call stopped.
#[no_mangle]
pub extern "C" fn lightning_db_health_json(
    db: *mut lightning_db,
    out_json: *mut *mut c_char,
    out_len: *mut usize,
) -> c_int {
    give_text(
        "lightning_db_health_json",
        db,
        (out_json, "out_json"),
        out_len,
        |d| d.health().to_json(),
    )
}

/// Writes the database's performance metrics (`PerformanceMetrics`) as a NUL-terminated
/// JSON object to `*out_json`, freed with `lightning_free`: `read_latency_p50`, `_p95`,
/// `_p99` and the same for writes (each `{"secs", "nanos"}`), `read_throughput`,
/// `write_throughput` and `mixed_workload_throughput` (operations per second over the
/// last interval, at least a second), `cache_hit_rate`, `memory_usage` and `disk_usage`
/// (bytes), `cpu_usage` (0 to 1), `error_rate`, `availability`, `recovery_time`, then the
/// evidence behind them (`interval`, `operations`, `latency_samples`, `cache_lookups`,
/// `write_stall_time`, `level0_files`, `immutable_memtables`, `disk_total`,
/// `disk_available`, `databases`), the `sla` thresholds, and three computed fields:
/// `meets_sla` (true or false), `performance_score` (0 to 100) and `bottlenecks` (each
/// `kind`, `evidence`, `suggestion`).
#[no_mangle]
pub extern "C" fn lightning_db_metrics_json(
    db: *mut lightning_db,
    out_json: *mut *mut c_char,
    out_len: *mut usize,
) -> c_int {
    give_text(
        "lightning_db_metrics_json",
        db,
        (out_json, "out_json"),
        out_len,
        |d| d.metrics().to_json(),
    )
}

/// Writes how this handle's open recovered (`RecoveryState`) as a NUL-terminated JSON
/// object to `*out_json`, freed with `lightning_free`: `stage` (the failed one, else
/// `null`), `progress` (percent), `eta_ms`, `completed_stages` (in order), `complete`,
/// `failed`, `can_rollback`, `elapsed_ms`, `replayed_segments` (`done`, `total`) and
/// `failed_stages` (each `stage`, `error`, `attempts`, `duration_ms`).
#[no_mangle]
pub extern "C" fn lightning_db_recovery_state_json(
    db: *mut lightning_db,
    out_json: *mut *mut c_char,
    out_len: *mut usize,
) -> c_int {
    give_text(
        "lightning_db_recovery_state_json",
        db,
        (out_json, "out_json"),
        out_len,
        |d| d.recovery_state().to_json(),
    )
}

/// Writes the statistics in the Prometheus text exposition format (each metric named
/// `lightning_*`, with HELP and TYPE lines: the counters and gauges, a summary per
/// latency with its p50/p95/p99, count and sum, a gauge per throughput) as a
/// NUL-terminated string to `*out_text`, freed with `lightning_free`.
#[no_mangle]
pub extern "C" fn lightning_db_metrics_prometheus(
    db: *mut lightning_db,
    out_text: *mut *mut c_char,
    out_len: *mut usize,
) -> c_int {
    give_text(
        "lightning_db_metrics_prometheus",
        db,
        (out_text, "out_text"),
        out_len,
        |d| d.stats().to_prometheus(),
    )
}

/// Checks the database's files while it keeps serving: reads every table file, log segment
/// and manifest again (bypassing the cache) and verifies them at `level`, a
/// `lightning_integrity_level` value (checksums; plus structure; plus consistency with the
/// manifest; everything).
///
/// Writes a NUL-terminated JSON report to `*out_report_json` (free it with `lightning_free`):
/// `path`, `level`, `components`, counts (`files_checked`, `tables_checked`,
/// `wal_segments_checked`, `blocks_checked`, `entries_checked`, `records_checked`,
/// `bytes_checked`), `problems` (each with `component`, `file`, `offset`, `check`,
/// `details` and `repairable`), `notes` and `elapsed_ms`.
///
/// Returns `LIGHTNING_OK` when no problem was found, and
/// `LIGHTNING_INTEGRITY_VALIDATION_FAILED` when some were: the report is written in that case
/// too (and must be freed), listing them. Any other code (an unknown `level`, a closed
/// handle) writes no report.
#[no_mangle]
pub extern "C" fn lightning_db_check(
    db: *mut lightning_db,
    level: c_int,
    out_report_json: *mut *mut c_char,
) -> c_int {
    ffi_call("lightning_db_check", |call| {
        let h = resolve(call, db)?;
        let out = OutPtr::required(out_report_json, "out_report_json")?;
        let level = options::integrity_level(level)?;
        let report = h.with(|d| d.verify_integrity(level))?;
        let clean = report.is_clean();
        let (ptr, _) = mem::give(report.to_json().into_bytes())?;
        out.write(ptr.cast::<c_char>());
        Ok(if clean {
            LIGHTNING_OK
        } else {
            LIGHTNING_INTEGRITY_VALIDATION_FAILED
        })
    })
}

/// Copies the detail of the last failed call on this database handle, or on a transaction,
/// snapshot or iterator made from it, into `buf`: the function, the code's name and number,
/// what went wrong and, where there is one, a suggested action. Empty when nothing failed.
///
/// The text is per handle, shared by all threads: each failing call on the handle, from any
/// thread, overwrites it (for the calling thread's own last failure, use
/// `lightning_last_error`, which is also the one to ask once the handle is closed).
///
/// Copying works as `snprintf`: when the text and its NUL do not fit in `cap` bytes, as much
/// as fits is written, NUL-terminated, and `LIGHTNING_BUFFER_TOO_SMALL` is returned. `buf`
/// may be NULL when `cap` is 0. `out_len` may be NULL; otherwise it receives the text's full
/// length without the NUL. This function does not change the recorded text.
#[no_mangle]
pub extern "C" fn lightning_db_last_error(
    db: *const lightning_db,
    buf: *mut c_char,
    cap: usize,
    out_len: *mut usize,
) -> c_int {
    ffi_call("lightning_db_last_error", |_| {
        let h = handle::get::<DbHandle>(handle::token(db), "db")?;
        copy_text(&h.errors.get(), buf, cap, out_len)
    })
}
