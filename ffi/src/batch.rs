//! `lightning_batch`: puts and deletes applied all or nothing by `lightning_write_batch`.

use std::ffi::c_int;
use std::sync::Arc;

use ::lightning_db::WriteBatch;
use parking_lot::Mutex;

use crate::args::{self, OutPtr};
use crate::codes::LIGHTNING_OK;
use crate::db::{self, lightning_db};
use crate::error::{ffi_call, Fail};
use crate::handle::{self, Handle, Kind};

/// A write batch: a list of puts and deletes that `lightning_write_batch` applies atomically
/// (after a crash either all of them are there or none is, and no reader sees part of it).
/// Later operations on the same key win. A batch is not consumed by writing it: it can be
/// written again, cleared, or freed with `lightning_batch_free`.
///
/// Thread-safety: use one batch from one thread at a time (it may move between threads).
pub struct lightning_batch {
    _private: [u8; 0],
}

/// The object behind a `lightning_batch` handle.
pub(crate) struct BatchHandle {
    batch: Mutex<WriteBatch>,
}

impl Handle for BatchHandle {
    const KIND: Kind = Kind::Batch;
}

fn new_batch(batch: WriteBatch, out: OutPtr<*mut lightning_batch>) -> Result<c_int, Fail> {
    let token = handle::insert(Arc::new(BatchHandle {
        batch: Mutex::new(batch),
    }))?;
    out.write(handle::pointer(token));
    Ok(LIGHTNING_OK)
}

fn resolve(batch: *const lightning_batch) -> Result<Arc<BatchHandle>, Fail> {
    handle::get::<BatchHandle>(handle::token(batch), "batch")
}

/// Creates an empty batch. `lightning_batch_put` / `_delete` check sizes against the default
/// limits (keys of 1 byte to 64 KiB, values up to 16 MiB); use `lightning_db_batch_new` for a
/// database opened with other limits. Free it with `lightning_batch_free`.
#[no_mangle]
pub extern "C" fn lightning_batch_new(out_batch: *mut *mut lightning_batch) -> c_int {
    ffi_call("lightning_batch_new", |_| {
        let out = OutPtr::required(out_batch, "out_batch")?;
        new_batch(WriteBatch::new(), out)
    })
}

/// Creates an empty batch checking sizes against `db`'s own limits.
#[no_mangle]
pub extern "C" fn lightning_db_batch_new(
    db: *mut lightning_db,
    out_batch: *mut *mut lightning_batch,
) -> c_int {
    ffi_call("lightning_db_batch_new", |call| {
        let h = db::resolve(call, db)?;
        let out = OutPtr::required(out_batch, "out_batch")?;
        let batch = h.with(|d| Ok(d.new_batch()))?;
        new_batch(batch, out)
    })
}

/// Adds a put of `val` under `key`. An empty or oversized key or value is refused
/// (`LIGHTNING_EMPTY_KEY`, `LIGHTNING_KEY_TOO_LARGE`, `LIGHTNING_VALUE_TOO_LARGE`) and
/// nothing is added.
#[no_mangle]
pub extern "C" fn lightning_batch_put(
    batch: *mut lightning_batch,
    key: *const u8,
    key_len: usize,
    val: *const u8,
    val_len: usize,
) -> c_int {
    ffi_call("lightning_batch_put", |_| {
        let h = resolve(batch)?;
        let key = args::bytes(key, key_len, "key")?;
        let val = args::bytes(val, val_len, "val")?;
        h.batch.lock().put(key, val)?;
        Ok(LIGHTNING_OK)
    })
}

/// Adds a delete of `key`. An empty or oversized key is refused and nothing is added.
#[no_mangle]
pub extern "C" fn lightning_batch_delete(
    batch: *mut lightning_batch,
    key: *const u8,
    key_len: usize,
) -> c_int {
    ffi_call("lightning_batch_delete", |_| {
        let h = resolve(batch)?;
        let key = args::bytes(key, key_len, "key")?;
        h.batch.lock().delete(key)?;
        Ok(LIGHTNING_OK)
    })
}

/// Removes every operation from the batch.
#[no_mangle]
pub extern "C" fn lightning_batch_clear(batch: *mut lightning_batch) -> c_int {
    ffi_call("lightning_batch_clear", |_| {
        resolve(batch)?.batch.lock().clear();
        Ok(LIGHTNING_OK)
    })
}

/// Writes the number of operations in the batch to `*out_count`.
#[no_mangle]
pub extern "C" fn lightning_batch_count(
    batch: *const lightning_batch,
    out_count: *mut usize,
) -> c_int {
    ffi_call("lightning_batch_count", |_| {
        let h = resolve(batch)?;
        let out = OutPtr::required(out_count, "out_count")?;
        out.write(h.batch.lock().len());
        Ok(LIGHTNING_OK)
    })
}

/// Releases a batch (without writing it). NULL, or a batch already freed, is ignored.
#[no_mangle]
pub extern "C" fn lightning_batch_free(batch: *mut lightning_batch) {
    ffi_call("lightning_batch_free", |_| {
        if !batch.is_null() {
            handle::remove::<BatchHandle>(handle::token(batch), "batch")?;
        }
        Ok(LIGHTNING_OK)
    });
}

/// Applies every operation of `batch` to `db` atomically: all or nothing, after a crash as
/// well. Sizes are checked against the database's limits first; one oversized entry refuses
/// the whole batch and nothing is written. The batch is left as it was.
#[no_mangle]
pub extern "C" fn lightning_write_batch(
    db: *mut lightning_db,
    batch: *const lightning_batch,
) -> c_int {
    ffi_call("lightning_write_batch", |call| {
        let h = db::resolve(call, db)?;
        let b = resolve(batch)?;
        let guard = b.batch.lock();
        h.with(|d| d.write_batch(&guard))?;
        Ok(LIGHTNING_OK)
    })
}
