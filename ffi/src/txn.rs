//! `lightning_txn`: transactions.

use std::ffi::c_int;
use std::sync::Arc;
use std::time::Duration;

use ::lightning_db::{DatabaseError, Transaction, TransactionMode, TransactionOptions};
use parking_lot::Mutex;

use crate::args::{self, OutPtr};
use crate::codes::LIGHTNING_OK;
use crate::db::{self, answer_alloc, lightning_db, ReadInto};
use crate::error::{ffi_call, Call, ErrorSlot, Fail};
use crate::handle::{self, Handle, Kind};
use crate::iter::{self, lightning_iter, lightning_range, Source};

/// A transaction: reads see one snapshot plus the transaction's own writes, writes are
/// buffered, and `lightning_txn_commit` applies them all or none. `lightning_txn_commit` and
/// `lightning_txn_rollback` end the transaction and release the handle, whatever they
/// return; `lightning_txn_free` rolls back a transaction still open (use it on paths that
/// may or may not have committed).
///
/// An optimistic transaction (the default) takes no locks; its commit fails with
/// `LIGHTNING_TRANSACTION_CONFLICT` (retry the whole transaction) when another writer
/// committed a key it read or wrote after it began. A pessimistic one locks every key it
/// touches, and may fail with `LIGHTNING_LOCK_TIMEOUT` or `LIGHTNING_DEADLOCK_DETECTED`.
/// A put or delete refused for its size also marks the transaction failed: its commit then
/// returns that error and writes nothing.
///
/// Thread-safety: use one transaction from one thread at a time (it may move between threads).
pub struct lightning_txn {
    _private: [u8; 0],
}

/// Concurrency control of a transaction (`lightning_txn_begin_with`).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum lightning_txn_mode {
    /// No locks; conflicts are detected at commit. The default.
    Optimistic = 0,
    /// Every key read or written is locked until the transaction ends.
    Pessimistic = 1,
}

/// The object behind a `lightning_txn` handle.
pub(crate) struct TxnHandle {
    /// `None` once committed or rolled back (the handle is unregistered first).
    txn: Mutex<Option<Transaction>>,
    errors: Arc<ErrorSlot>,
}

impl Handle for TxnHandle {
    const KIND: Kind = Kind::Txn;
}

impl TxnHandle {
    fn with<R>(
        &self,
        f: impl FnOnce(&mut Transaction) -> Result<R, DatabaseError>,
    ) -> Result<R, Fail> {
        let mut guard = self.txn.lock();
        let txn = guard
            .as_mut()
            .ok_or_else(|| Fail::invalid("the transaction has already ended"))?;
        Ok(f(txn)?)
    }
}

fn resolve(call: &mut Call, txn: *const lightning_txn) -> Result<Arc<TxnHandle>, Fail> {
    let h = handle::get::<TxnHandle>(handle::token(txn), "txn")?;
    call.report_to(&h.errors);
    Ok(h)
}

fn begin(
    call: &mut Call,
    db: *mut lightning_db,
    options: Option<TransactionOptions>,
    out_txn: *mut *mut lightning_txn,
) -> Result<c_int, Fail> {
    let h = db::resolve(call, db)?;
    let out = OutPtr::required(out_txn, "out_txn")?;
    let txn = h.with(|d| match options {
        None => d.begin_transaction(),
        Some(o) => d.begin_transaction_with(o),
    })?;
    let token = handle::insert(Arc::new(TxnHandle {
        txn: Mutex::new(Some(txn)),
        errors: Arc::clone(&h.errors),
    }))?;
    out.write(handle::pointer(token));
    Ok(LIGHTNING_OK)
}

/// Begins an optimistic transaction on `db` and writes its handle to `*out_txn`.
#[no_mangle]
pub extern "C" fn lightning_txn_begin(
    db: *mut lightning_db,
    out_txn: *mut *mut lightning_txn,
) -> c_int {
    ffi_call("lightning_txn_begin", |call| begin(call, db, None, out_txn))
}

/// Begins a transaction with an explicit `mode` (a `lightning_txn_mode` value) and, for a
/// pessimistic one, how long to wait for a key lock before `LIGHTNING_LOCK_TIMEOUT`
/// (`lock_timeout_ms`; ignored by optimistic transactions).
#[no_mangle]
pub extern "C" fn lightning_txn_begin_with(
    db: *mut lightning_db,
    mode: c_int,
    lock_timeout_ms: u64,
    out_txn: *mut *mut lightning_txn,
) -> c_int {
    ffi_call("lightning_txn_begin_with", |call| {
        let mode = match mode {
            m if m == lightning_txn_mode::Optimistic as c_int => TransactionMode::Optimistic,
            m if m == lightning_txn_mode::Pessimistic as c_int => TransactionMode::Pessimistic,
            other => {
                return Err(Fail::invalid(format!(
                    "unknown transaction mode {other}; expected LIGHTNING_TXN_MODE_OPTIMISTIC or \
                     LIGHTNING_TXN_MODE_PESSIMISTIC"
                )))
            }
        };
        let options = TransactionOptions {
            mode,
            lock_timeout: Duration::from_millis(lock_timeout_ms),
        };
        begin(call, db, Some(options), out_txn)
    })
}

/// Looks `key` up in the transaction's view (its own writes, else its snapshot), as
/// `lightning_get` does: library-allocated value freed with `lightning_free`,
/// `LIGHTNING_NOT_FOUND` when missing. The key joins the set checked for conflicts at commit.
#[no_mangle]
pub extern "C" fn lightning_txn_get(
    txn: *mut lightning_txn,
    key: *const u8,
    key_len: usize,
    out_val: *mut *mut u8,
    out_len: *mut usize,
) -> c_int {
    ffi_call("lightning_txn_get", |call| {
        let h = resolve(call, txn)?;
        let key = args::bytes(key, key_len, "key")?;
        let out_val = OutPtr::required(out_val, "out_val")?;
        let out_len = OutPtr::required(out_len, "out_len")?;
        let value = h.with(|t| t.get(key))?;
        answer_alloc(value, out_val, out_len)
    })
}

/// Looks `key` up in the transaction's view into a caller buffer, as `lightning_get_into`
/// does.
#[no_mangle]
pub extern "C" fn lightning_txn_get_into(
    txn: *mut lightning_txn,
    key: *const u8,
    key_len: usize,
    buf: *mut u8,
    cap: usize,
    out_len: *mut usize,
) -> c_int {
    ffi_call("lightning_txn_get_into", |call| {
        let h = resolve(call, txn)?;
        let read = ReadInto::new(key, key_len, buf, cap, out_len)?;
        let value = h.with(|t| t.get(read.key))?;
        read.answer(value)
    })
}

/// Buffers a put, visible to this transaction at once and to others after commit.
#[no_mangle]
pub extern "C" fn lightning_txn_put(
    txn: *mut lightning_txn,
    key: *const u8,
    key_len: usize,
    val: *const u8,
    val_len: usize,
) -> c_int {
    ffi_call("lightning_txn_put", |call| {
        let h = resolve(call, txn)?;
        let key = args::bytes(key, key_len, "key")?;
        let val = args::bytes(val, val_len, "val")?;
        h.with(|t| t.put(key, val))?;
        Ok(LIGHTNING_OK)
    })
}

/// Buffers a delete (returns `LIGHTNING_OK` whether or not the key exists).
#[no_mangle]
pub extern "C" fn lightning_txn_delete(
    txn: *mut lightning_txn,
    key: *const u8,
    key_len: usize,
) -> c_int {
    ffi_call("lightning_txn_delete", |call| {
        let h = resolve(call, txn)?;
        let key = args::bytes(key, key_len, "key")?;
        h.with(|t| t.delete(key))?;
        Ok(LIGHTNING_OK)
    })
}

/// Creates an iterator over the transaction's view (its snapshot with its own writes laid
/// over it, as they are now) of the keys in `range` (NULL for every key).
#[no_mangle]
pub extern "C" fn lightning_txn_iter_new(
    txn: *mut lightning_txn,
    range: *const lightning_range,
    reverse: c_int,
    out_iter: *mut *mut lightning_iter,
) -> c_int {
    ffi_call("lightning_txn_iter_new", |call| {
        let h = resolve(call, txn)?;
        let out = OutPtr::required(out_iter, "out_iter")?;
        let bounds = iter::bounds(range)?;
        let it = h.with(|t| Ok(t.range(bounds)))?;
        iter::register(Source::Txn(it), reverse, &h.errors, out)
    })
}

/// Creates an iterator over the transaction's view of the keys that start with `prefix`.
#[no_mangle]
pub extern "C" fn lightning_txn_iter_prefix(
    txn: *mut lightning_txn,
    prefix: *const u8,
    prefix_len: usize,
    reverse: c_int,
    out_iter: *mut *mut lightning_iter,
) -> c_int {
    ffi_call("lightning_txn_iter_prefix", |call| {
        let h = resolve(call, txn)?;
        let prefix = args::bytes(prefix, prefix_len, "prefix")?;
        let out = OutPtr::required(out_iter, "out_iter")?;
        let it = h.with(|t| Ok(t.scan_prefix(prefix)))?;
        iter::register(Source::Txn(it), reverse, &h.errors, out)
    })
}

/// Ends the transaction: unregisters the handle and takes the transaction out of it.
fn finish(call: &mut Call, txn: *mut lightning_txn) -> Result<Transaction, Fail> {
    let h = handle::remove::<TxnHandle>(handle::token(txn), "txn")?;
    call.report_to(&h.errors);
    let taken = h.txn.lock().take();
    taken.ok_or_else(|| Fail::invalid("the transaction has already ended"))
}

/// Commits: applies every buffered write atomically, or none. Fails with
/// `LIGHTNING_TRANSACTION_CONFLICT` (retryable: re-run the whole transaction) when another
/// writer committed a key this transaction read or wrote after it began. The handle is
/// released whatever the outcome: do not use or free it afterwards (doing so answers
/// `LIGHTNING_INVALID_ARGUMENT`).
#[no_mangle]
pub extern "C" fn lightning_txn_commit(txn: *mut lightning_txn) -> c_int {
    ffi_call("lightning_txn_commit", |call| {
        finish(call, txn)?.commit()?;
        Ok(LIGHTNING_OK)
    })
}

/// Rolls back: discards every buffered write, releases the transaction's locks and the
/// handle.
#[no_mangle]
pub extern "C" fn lightning_txn_rollback(txn: *mut lightning_txn) -> c_int {
    ffi_call("lightning_txn_rollback", |call| {
        finish(call, txn)?.rollback();
        Ok(LIGHTNING_OK)
    })
}

/// Rolls back a transaction that is still open and releases its handle. NULL, or a
/// transaction already committed, rolled back or freed, is ignored.
#[no_mangle]
pub extern "C" fn lightning_txn_free(txn: *mut lightning_txn) {
    ffi_call("lightning_txn_free", |call| {
        if !txn.is_null() {
            finish(call, txn)?.rollback();
        }
        Ok(LIGHTNING_OK)
    });
}
