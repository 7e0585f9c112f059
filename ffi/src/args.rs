//! Checked conversion of the C arguments: NULL pointers and impossible lengths become
//! `LIGHTNING_INVALID_ARGUMENT` before any work is done.
//!
//! The header states the contract the caller keeps: a non-NULL pointer passed with a length
//! points to that many readable (or, for outputs, writable) bytes for the duration of the call.
//! That cannot be checked; everything else is.

use std::ffi::{c_char, CStr};

use crate::error::Fail;

/// Largest length a slice may have (`slice::from_raw_parts` requires at most `isize::MAX`).
const MAX_LEN: usize = isize::MAX as usize;

fn check_len(len: usize, name: &str) -> Result<(), Fail> {
    if len > MAX_LEN {
        return Err(Fail::invalid(format!(
            "`{name}_len` is {len}, larger than any object can be"
        )));
    }
    Ok(())
}

/// The `len` bytes at `ptr`; a NULL `ptr` is refused whatever `len` is.
pub(crate) fn bytes<'a>(ptr: *const u8, len: usize, name: &str) -> Result<&'a [u8], Fail> {
    if ptr.is_null() {
        return Err(Fail::invalid(format!("`{name}` is NULL")));
    }
    check_len(len, name)?;
    // SAFETY: `ptr` is non-NULL and `len` fits in `isize`; the caller guarantees (header
    // contract) that `ptr` points to `len` readable bytes that stay unchanged during the call.
    Ok(unsafe { std::slice::from_raw_parts(ptr, len) })
}

/// Like [`bytes`], but a NULL `ptr` means "absent" (used for optional range bounds).
pub(crate) fn optional_bytes<'a>(
    ptr: *const u8,
    len: usize,
    name: &str,
) -> Result<Option<&'a [u8]>, Fail> {
    if ptr.is_null() {
        if len != 0 {
            return Err(Fail::invalid(format!(
                "`{name}` is NULL (unbounded) but `{name}_len` is {len}"
            )));
        }
        return Ok(None);
    }
    bytes(ptr, len, name).map(Some)
}

/// A NUL-terminated string argument as UTF-8 text.
pub(crate) fn text<'a>(ptr: *const c_char, name: &str) -> Result<&'a str, Fail> {
    cstr(ptr, name)?
        .to_str()
        .map_err(|_| Fail::invalid(format!("`{name}` is not valid UTF-8")))
}

/// A NUL-terminated string argument.
pub(crate) fn cstr<'a>(ptr: *const c_char, name: &str) -> Result<&'a CStr, Fail> {
    if ptr.is_null() {
        return Err(Fail::invalid(format!("`{name}` is NULL")));
    }
    // SAFETY: `ptr` is non-NULL; the caller guarantees (header contract) that it points to a
    // NUL-terminated string that stays unchanged during the call.
    Ok(unsafe { CStr::from_ptr(ptr) })
}

/// A boolean passed as `int`: 0 is false, anything else true.
pub(crate) fn flag(value: std::ffi::c_int) -> bool {
    value != 0
}

/// An output parameter, checked for NULL up front and written only on success.
#[must_use]
pub(crate) struct OutPtr<T>(*mut T);

impl<T> OutPtr<T> {
    /// A required output: NULL is refused.
    pub(crate) fn required(ptr: *mut T, name: &str) -> Result<Self, Fail> {
        if ptr.is_null() {
            return Err(Fail::invalid(format!("`{name}` is NULL")));
        }
        Ok(Self(ptr))
    }

    /// An optional output: NULL means the caller does not want the value.
    pub(crate) fn optional(ptr: *mut T) -> Self {
        Self(ptr)
    }

    /// Writes the value (nothing for an optional output left NULL).
    pub(crate) fn write(self, value: T) {
        if self.0.is_null() {
            return;
        }
        // SAFETY: the pointer is non-NULL and the caller guarantees (header contract) that
        // it points to writable memory for a `T`; `write_unaligned` asks nothing of its
        // alignment, and no reference to it is created.
        unsafe { self.0.write_unaligned(value) }
    }
}

/// A caller's output buffer of `cap` bytes; NULL is allowed only with `cap == 0`.
pub(crate) struct OutBuffer {
    ptr: *mut u8,
    cap: usize,
}

/// Checks an output buffer argument.
pub(crate) fn out_buffer(ptr: *mut u8, cap: usize, name: &str) -> Result<OutBuffer, Fail> {
    if ptr.is_null() && cap != 0 {
        return Err(Fail::invalid(format!(
            "`{name}` is NULL but its capacity is {cap} (pass 0 to ask for the length)"
        )));
    }
    if cap > MAX_LEN {
        return Err(Fail::invalid(format!(
            "capacity {cap} of `{name}` is larger than any object can be"
        )));
    }
    Ok(OutBuffer { ptr, cap })
}

impl OutBuffer {
    /// The buffer's size in bytes.
    pub(crate) fn capacity(&self) -> usize {
        self.cap
    }

    /// Copies `data` to the start of the buffer, then a NUL byte when `nul` is set.
    /// The caller has checked that it fits.
    pub(crate) fn write_prefix(&self, data: &[u8], nul: bool) {
        let needed = data.len() + usize::from(nul);
        assert!(
            needed <= self.cap,
            "write_prefix: {needed} bytes into {}",
            self.cap
        );
        if needed == 0 {
            return;
        }
        // SAFETY: `needed <= cap` and `cap > 0`, so `ptr` is non-NULL (checked by
        // `out_buffer`); the caller guarantees it points to `cap` writable bytes, which do
        // not overlap `data` (a library-owned copy).
        unsafe {
            std::ptr::copy_nonoverlapping(data.as_ptr(), self.ptr, data.len());
            if nul {
                self.ptr.add(data.len()).write(0);
            }
        }
    }
}
