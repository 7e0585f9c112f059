//! Buffers the library hands to C (values from `lightning_get`, JSON texts) and their release.
//!
//! Each buffer is a boxed byte slice with one NUL byte after its contents, recorded with its
//! real size in a registry. `lightning_free` releases only pointers found there, so a double
//! free, a pointer the library never handed out or a wrong length is harmless. As for handles,
//! the registry keeps addresses bit-inverted so that LeakSanitizer still reports a buffer the
//! program forgets to free.

use std::collections::BTreeMap;
use std::ffi::c_void;

use parking_lot::Mutex;

use crate::codes::LIGHTNING_OK;
use crate::error::{ffi_call, Fail};

const SHARDS: usize = 16;

/// `!address` -> allocation size in bytes (contents + NUL).
static BUFFERS: [Mutex<BTreeMap<usize, usize>>; SHARDS] =
    [const { parking_lot::const_mutex(BTreeMap::new()) }; SHARDS];

fn shard(addr: usize) -> &'static Mutex<BTreeMap<usize, usize>> {
    // Heap blocks are at least 16-byte aligned: skip the always-zero low bits.
    &BUFFERS[(addr >> 4) % SHARDS]
}

/// Hands `data` (followed by a NUL byte not counted in its length) to C: the returned pointer
/// is released by `lightning_free`.
pub(crate) fn give(mut data: Vec<u8>) -> Result<(*mut u8, usize), Fail> {
    let len = data.len();
    len.checked_add(1)
        .filter(|n| *n <= isize::MAX as usize)
        .ok_or_else(|| Fail::invalid("buffer too large"))?;
    data.reserve_exact(1);
    data.push(0);
    let boxed: Box<[u8]> = data.into_boxed_slice();
    let size = boxed.len();
    let ptr = Box::into_raw(boxed).cast::<u8>();
    let addr = ptr.expose_provenance();
    shard(addr).lock().insert(!addr, size);
    Ok((ptr, len))
}

/// Releases a buffer handed out by [`give`]; false when `ptr` is not one (or no longer).
fn take_back(ptr: *mut c_void) -> bool {
    let addr = ptr.expose_provenance();
    let Some(size) = shard(addr).lock().remove(&!addr) else {
        return false;
    };
    let slice: *mut [u8] =
        std::ptr::slice_from_raw_parts_mut(std::ptr::with_exposed_provenance_mut::<u8>(addr), size);
    // SAFETY: the registry held `addr` with `size`, so it is the start of a live `Box<[u8]>` of
    // exactly `size` bytes made by `give`; removing the entry under the lock makes this the
    // only release of it.
    drop(unsafe { Box::from_raw(slice) });
    true
}

/// Frees a buffer the library allocated: a value from `lightning_get`, `lightning_txn_get` or
/// `lightning_snapshot_get`, or a text from `lightning_db_stats_json`, `lightning_db_check` or
/// `lightning_options_to_json`.
///
/// `len` is the length reported with the buffer; the library records each buffer's real size,
/// so any `len` (0 included) is accepted. NULL is ignored. A pointer the library did not hand
/// out, or already freed, is ignored too (and noted for `lightning_last_error`), never freed
/// twice. Never pass these buffers to `free()`. Thread-safe: any thread may free any buffer.
#[no_mangle]
pub extern "C" fn lightning_free(p: *mut c_void, len: usize) {
    let _ = len;
    ffi_call("lightning_free", |_| {
        if p.is_null() || take_back(p) {
            Ok(LIGHTNING_OK)
        } else {
            Err(Fail::invalid(
                "pointer was not allocated by this library, or was already freed",
            ))
        }
    });
}

/// Buffers handed out and not yet freed (for tests).
#[cfg(test)]
pub(crate) fn live_count() -> usize {
    BUFFERS.iter().map(|s| s.lock().len()).sum()
}
