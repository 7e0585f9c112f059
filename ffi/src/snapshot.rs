//! `lightning_snapshot`: consistent, read-only, point-in-time views.

use std::ffi::c_int;
use std::sync::Arc;

use ::lightning_db::Snapshot;

use crate::args::{self, OutPtr};
use crate::codes::LIGHTNING_OK;
use crate::db::{self, answer_alloc, lightning_db, ReadInto};
use crate::error::{ffi_call, Call, ErrorSlot, Fail};
use crate::handle::{self, Handle, Kind};
use crate::iter::{self, lightning_iter, lightning_range, Source};

/// A consistent read-only view of a database as of the moment it was taken: later writes
/// are invisible to it. Compaction keeps every version a live snapshot can see, so free
/// snapshots (`lightning_snapshot_free`) once done with them.
///
/// Thread-safety: a snapshot may be used by any number of threads at once.
pub struct lightning_snapshot {
    _private: [u8; 0],
}

/// The object behind a `lightning_snapshot` handle.
pub(crate) struct SnapshotHandle {
    snapshot: Snapshot,
    errors: Arc<ErrorSlot>,
}

impl Handle for SnapshotHandle {
    const KIND: Kind = Kind::Snapshot;
}

fn resolve(call: &mut Call, snap: *const lightning_snapshot) -> Result<Arc<SnapshotHandle>, Fail> {
    let h = handle::get::<SnapshotHandle>(handle::token(snap), "snap")?;
    call.report_to(&h.errors);
    Ok(h)
}

/// Takes a snapshot of `db` as of now and writes its handle to `*out_snap`.
#[no_mangle]
pub extern "C" fn lightning_snapshot_new(
    db: *mut lightning_db,
    out_snap: *mut *mut lightning_snapshot,
) -> c_int {
    ffi_call("lightning_snapshot_new", |call| {
        let h = db::resolve(call, db)?;
        let out = OutPtr::required(out_snap, "out_snap")?;
        let snapshot = h.with(|d| Ok(d.snapshot()))?;
        let token = handle::insert(Arc::new(SnapshotHandle {
            snapshot,
            errors: Arc::clone(&h.errors),
        }))?;
        out.write(handle::pointer(token));
        Ok(LIGHTNING_OK)
    })
}

/// Looks `key` up as of the snapshot, as `lightning_get` does (library-allocated value,
/// freed with `lightning_free`; `LIGHTNING_NOT_FOUND` when missing).
#[no_mangle]
pub extern "C" fn lightning_snapshot_get(
    snap: *const lightning_snapshot,
    key: *const u8,
    key_len: usize,
    out_val: *mut *mut u8,
    out_len: *mut usize,
) -> c_int {
    ffi_call("lightning_snapshot_get", |call| {
        let h = resolve(call, snap)?;
        let key = args::bytes(key, key_len, "key")?;
        let out_val = OutPtr::required(out_val, "out_val")?;
        let out_len = OutPtr::required(out_len, "out_len")?;
        let value = h.snapshot.get(key)?;
        answer_alloc(value, out_val, out_len)
    })
}

/// Looks `key` up as of the snapshot into a caller buffer, as `lightning_get_into` does.
#[no_mangle]
pub extern "C" fn lightning_snapshot_get_into(
    snap: *const lightning_snapshot,
    key: *const u8,
    key_len: usize,
    buf: *mut u8,
    cap: usize,
    out_len: *mut usize,
) -> c_int {
    ffi_call("lightning_snapshot_get_into", |call| {
        let h = resolve(call, snap)?;
        let read = ReadInto::new(key, key_len, buf, cap, out_len)?;
        let value = h.snapshot.get(read.key)?;
        read.answer(value)
    })
}

/// Writes the sequence number the snapshot reads at to `*out_seq`.
#[no_mangle]
pub extern "C" fn lightning_snapshot_sequence(
    snap: *const lightning_snapshot,
    out_seq: *mut u64,
) -> c_int {
    ffi_call("lightning_snapshot_sequence", |call| {
        let h = resolve(call, snap)?;
        let out = OutPtr::required(out_seq, "out_seq")?;
        out.write(h.snapshot.sequence());
        Ok(LIGHTNING_OK)
    })
}

/// Creates an iterator over the snapshot's keys in `range` (NULL for every key), ascending
/// or (non-zero `reverse`) descending. The iterator may outlive the snapshot handle.
#[no_mangle]
pub extern "C" fn lightning_snapshot_iter_new(
    snap: *const lightning_snapshot,
    range: *const lightning_range,
    reverse: c_int,
    out_iter: *mut *mut lightning_iter,
) -> c_int {
    ffi_call("lightning_snapshot_iter_new", |call| {
        let h = resolve(call, snap)?;
        let out = OutPtr::required(out_iter, "out_iter")?;
        let bounds = iter::bounds(range)?;
        let it = h.snapshot.range(bounds);
        iter::register(Source::Db(it), reverse, &h.errors, out)
    })
}

/// Creates an iterator over the snapshot's keys that start with `prefix`.
#[no_mangle]
pub extern "C" fn lightning_snapshot_iter_prefix(
    snap: *const lightning_snapshot,
    prefix: *const u8,
    prefix_len: usize,
    reverse: c_int,
    out_iter: *mut *mut lightning_iter,
) -> c_int {
    ffi_call("lightning_snapshot_iter_prefix", |call| {
        let h = resolve(call, snap)?;
        let prefix = args::bytes(prefix, prefix_len, "prefix")?;
        let out = OutPtr::required(out_iter, "out_iter")?;
        let it = h.snapshot.scan_prefix(prefix);
        iter::register(Source::Db(it), reverse, &h.errors, out)
    })
}

/// Releases a snapshot. NULL, or a snapshot already freed, is ignored.
#[no_mangle]
pub extern "C" fn lightning_snapshot_free(snap: *mut lightning_snapshot) {
    ffi_call("lightning_snapshot_free", |_| {
        if !snap.is_null() {
            handle::remove::<SnapshotHandle>(handle::token(snap), "snap")?;
        }
        Ok(LIGHTNING_OK)
    });
}
