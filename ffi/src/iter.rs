//! `lightning_iter`: ordered scans over a database, a snapshot or a transaction.

use std::ffi::c_int;
use std::ops::Bound;
use std::sync::Arc;

use ::lightning_db::{DatabaseError, DbIterator, KvPair, TransactionIterator};
use parking_lot::Mutex;

use crate::args::{self, OutPtr};
use crate::codes::{LIGHTNING_DONE, LIGHTNING_OK};
use crate::db::{self, lightning_db};
use crate::error::{ffi_call, ErrorSlot, Fail};
use crate::handle::{self, Handle, Kind};

/// A key range for `lightning_iter_new` and its snapshot and transaction variants.
///
/// With every flag 0 (as `{0}` or designated initializers leave them) the range is the
/// half-open interval `[start, end)`. A NULL `start` means "from the first key", a NULL
/// `end` "to the last key" (their lengths must then be 0). `start_exclusive` non-zero
/// leaves `start` itself out; `end_inclusive` non-zero takes `end` in. A range whose start
/// is past its end is empty. The struct and the bytes it points to are only read during the
/// call that takes it.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct lightning_range {
    /// First key of the range, or NULL for no lower bound.
    pub start: *const u8,
    /// Length of `start` in bytes.
    pub start_len: usize,
    /// Key where the range stops, or NULL for no upper bound.
    pub end: *const u8,
    /// Length of `end` in bytes.
    pub end_len: usize,
    /// Non-zero: the range excludes `start` (it begins just after it).
    pub start_exclusive: c_int,
    /// Non-zero: the range includes `end`.
    pub end_inclusive: c_int,
}

/// An iterator: made by `lightning_iter_new`, `lightning_iter_prefix`,
/// `lightning_snapshot_iter_new`, `lightning_snapshot_iter_prefix`, `lightning_txn_iter_new`
/// or `lightning_txn_iter_prefix`; advanced by `lightning_iter_next`; released by
/// `lightning_iter_free`. It sees the data as of its creation (a database iterator), its
/// snapshot, or its transaction's snapshot plus that transaction's writes at creation;
/// later writes are invisible to it. It keeps the files it reads alive until freed.
///
/// Thread-safety: use one iterator from one thread at a time (it may move between threads);
/// the pointers `lightning_iter_next` returns are invalidated by the next call on the same
/// iterator, from whatever thread.
pub struct lightning_iter {
    _private: [u8; 0],
}

/// What an iterator walks.
pub(crate) enum Source {
    /// A database or snapshot view.
    Db(DbIterator),
    /// A transaction's view.
    Txn(TransactionIterator),
}

impl Source {
    /// Moves one pair on and leaves it in `current`, reusing its buffers: every iterator
    /// (database, snapshot, transaction) lends its pairs, so a step allocates nothing.
    /// False at the end.
    fn step_into(&mut self, reverse: bool, current: &mut KvPair) -> Result<bool, DatabaseError> {
        let lent = match (self, reverse) {
            (Source::Db(it), false) => it.next_borrowed(),
            (Source::Db(it), true) => it.next_back_borrowed(),
            (Source::Txn(it), false) => it.next_borrowed(),
            (Source::Txn(it), true) => it.next_back_borrowed(),
        };
        match lent {
            None => Ok(false),
            Some(pair) => {
                let (k, v) = pair?;
                current.0.clear();
                current.0.extend_from_slice(k);
                current.1.clear();
                current.1.extend_from_slice(v);
                Ok(true)
            }
        }
    }
}

struct IterState {
    source: Source,
    reverse: bool,
    /// The pair the last `lightning_iter_next` pointed into (its buffers reused).
    current: KvPair,
    done: bool,
}

/// The object behind a `lightning_iter` handle.
pub(crate) struct IterHandle {
    state: Mutex<IterState>,
    errors: Arc<ErrorSlot>,
}

impl Handle for IterHandle {
    const KIND: Kind = Kind::Iter;
}

/// Registers a new iterator and writes its handle to `out`.
pub(crate) fn register(
    source: Source,
    reverse: c_int,
    errors: &Arc<ErrorSlot>,
    out: OutPtr<*mut lightning_iter>,
) -> Result<c_int, Fail> {
    let token = handle::insert(Arc::new(IterHandle {
        state: Mutex::new(IterState {
            source,
            reverse: args::flag(reverse),
            current: KvPair::default(),
            done: false,
        }),
        errors: Arc::clone(errors),
    }))?;
    out.write(handle::pointer(token));
    Ok(LIGHTNING_OK)
}

/// A lower and an upper bound, borrowing the caller's key bytes.
pub(crate) type KeyBounds<'a> = (Bound<&'a [u8]>, Bound<&'a [u8]>);

/// The bounds a `lightning_range` pointer stands for; NULL is the whole key space.
pub(crate) fn bounds<'a>(range: *const lightning_range) -> Result<KeyBounds<'a>, Fail> {
    if range.is_null() {
        return Ok((Bound::Unbounded, Bound::Unbounded));
    }
    // SAFETY: `range` is non-NULL and the caller guarantees (header contract) that it points
    // to a readable `lightning_range`; it is copied out without assuming its alignment.
    let r = unsafe { range.read_unaligned() };
    let start = args::optional_bytes(r.start, r.start_len, "range->start")?;
    let end = args::optional_bytes(r.end, r.end_len, "range->end")?;
    let lower = match start {
        None => Bound::Unbounded,
        Some(k) if args::flag(r.start_exclusive) => Bound::Excluded(k),
        Some(k) => Bound::Included(k),
    };
    let upper = match end {
        None => Bound::Unbounded,
        Some(k) if args::flag(r.end_inclusive) => Bound::Included(k),
        Some(k) => Bound::Excluded(k),
    };
    Ok((lower, upper))
}

/// Creates an iterator over the keys of `db` in `range` (NULL for every key), as of now:
/// in ascending key order, or descending when `reverse` is non-zero. Free it with
/// `lightning_iter_free`.
#[no_mangle]
pub extern "C" fn lightning_iter_new(
    db: *mut lightning_db,
    range: *const lightning_range,
    reverse: c_int,
    out_iter: *mut *mut lightning_iter,
) -> c_int {
    ffi_call("lightning_iter_new", |call| {
        let h = db::resolve(call, db)?;
        let out = OutPtr::required(out_iter, "out_iter")?;
        let bounds = bounds(range)?;
        let it = h.with(|d| Ok(d.range(bounds)))?;
        register(Source::Db(it), reverse, &h.errors, out)
    })
}

/// Creates an iterator over the keys of `db` that start with `prefix` (`prefix_len` 0 for
/// every key), as of now, ascending or (non-zero `reverse`) descending.
#[no_mangle]
pub extern "C" fn lightning_iter_prefix(
    db: *mut lightning_db,
    prefix: *const u8,
    prefix_len: usize,
    reverse: c_int,
    out_iter: *mut *mut lightning_iter,
) -> c_int {
    ffi_call("lightning_iter_prefix", |call| {
        let h = db::resolve(call, db)?;
        let prefix = args::bytes(prefix, prefix_len, "prefix")?;
        let out = OutPtr::required(out_iter, "out_iter")?;
        let it = h.with(|d| Ok(d.scan_prefix(prefix)))?;
        register(Source::Db(it), reverse, &h.errors, out)
    })
}

/// A valid pointer for an empty key or value (never dereferenced by a correct caller, but
/// never dangling either).
static EMPTY: [u8; 1] = [0];

fn data_ptr(bytes: &[u8]) -> *const u8 {
    if bytes.is_empty() {
        EMPTY.as_ptr()
    } else {
        bytes.as_ptr()
    }
}

/// Advances the iterator. Returns `LIGHTNING_OK` with the next pair in the four outputs,
/// `LIGHTNING_DONE` at the end (and on every call after it), or an error code (a read or
/// corruption error, after which the iterator is at its end).
///
/// The key and value pointers are borrowed from the iterator: they stay valid until the
/// next call on this iterator or `lightning_iter_free`, and must not be freed. An empty value
/// has a length of 0 and a non-NULL pointer. All four outputs are required.
#[no_mangle]
pub extern "C" fn lightning_iter_next(
    it: *mut lightning_iter,
    key: *mut *const u8,
    key_len: *mut usize,
    val: *mut *const u8,
    val_len: *mut usize,
) -> c_int {
    ffi_call("lightning_iter_next", |call| {
        let h = handle::get::<IterHandle>(handle::token(it), "it")?;
        call.report_to(&h.errors);
        let out_key = OutPtr::required(key, "key")?;
        let out_key_len = OutPtr::required(key_len, "key_len")?;
        let out_val = OutPtr::required(val, "val")?;
        let out_val_len = OutPtr::required(val_len, "val_len")?;
        let mut state = h.state.lock();
        if state.done {
            return Ok(LIGHTNING_DONE);
        }
        let IterState {
            source,
            reverse,
            current,
            done,
        } = &mut *state;
        match source.step_into(*reverse, current) {
            Ok(false) => {
                *done = true;
                Ok(LIGHTNING_DONE)
            }
            Err(e) => {
                *done = true;
                Err(e.into())
            }
            Ok(true) => {
                let (k, v) = &*current;
                out_key.write(data_ptr(k));
                out_key_len.write(k.len());
                out_val.write(data_ptr(v));
                out_val_len.write(v.len());
                Ok(LIGHTNING_OK)
            }
        }
    })
}

/// Releases an iterator; the pointers it returned become invalid. NULL, or an iterator
/// already freed, is ignored. Iterators may be freed before or after their database is
/// closed.
#[no_mangle]
pub extern "C" fn lightning_iter_free(it: *mut lightning_iter) {
    ffi_call("lightning_iter_free", |_| {
        if !it.is_null() {
            handle::remove::<IterHandle>(handle::token(it), "it")?;
        }
        Ok(LIGHTNING_OK)
    });
}
