//! # The C ABI of Lightning DB
//!
//! This crate builds `liblightning.so` and `liblightning.a`, whose interface is
//! `include/lightning.h` (generated from this crate by cbindgen, see `ffi/cbindgen.toml` and
//! `tests/header.rs`). It is the only crate of the workspace that knows C, and the only one
//! allowed `unsafe` code: every `unsafe` block carries a `// SAFETY:` line.
//!
//! ## How the boundary is kept safe
//!
//! * Every exported function runs inside a panic boundary ([`error::ffi_call`]) that turns a
//!   panic into `LIGHTNING_INTERNAL`.
//! * Handles (`lightning_db *`, `lightning_txn *`...) are opaque tokens, not pointers: the
//!   library never dereferences them. A token names an entry in a registry
//!   ([`handle`]); a closed, freed, forged or wrong-kind handle is simply absent from it, so
//!   use after close and double close answer an error code instead of touching freed memory.
//!   Tokens are never reused, which is the generation check.
//! * Every pointer argument is checked for NULL and every length for overflow before any
//!   work is done ([`args`]); outputs are written only on success.
//! * Buffers the library hands out are recorded ([`mem`]) and released by `lightning_free`,
//!   which ignores pointers it did not hand out or already took back.
//!
//! The status codes ([`codes`]) and version numbers ([`version`]) are generated from the
//! core's `ERROR_TABLE` and this crate's version; a unit test fails when they drift.
#![expect(
    unsafe_code,
    reason = "`#[no_mangle]` exports and C's raw pointers are what this crate is for; the \
              rest of the workspace denies unsafe_code (see UNSAFE.md)"
)]
#![deny(clippy::undocumented_unsafe_blocks)]
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs)]
// The C names of the opaque types and enums are lower_snake_case on purpose: cbindgen writes
// them into the header as they are spelled here.
#![allow(non_camel_case_types)]

// cbindgen writes the header's sections in declaration order; each group below is one
// section (blank lines keep rustfmt from sorting them).
mod codes;
mod version;

mod error;

mod mem;

mod options;

mod events;

mod db;

mod batch;

mod txn;

mod snapshot;

mod iter;

mod migrate;

mod audit;
mod reliability;

mod args;
mod handle;

#[cfg(test)]
mod codegen;
#[cfg(test)]
mod tests;

use std::ffi::c_char;

use crate::version::LIGHTNING_VERSION;

/// The version of the library loaded, packed as `LIGHTNING_VERSION`:
/// `(MAJOR << 16) | (MINOR << 8) | PATCH`. A program can check that the header it was
/// compiled with matches the library it runs with:
/// `lightning_version() == LIGHTNING_VERSION` (or compare `lightning_version() >> 16` with
/// `LIGHTNING_VERSION_MAJOR` to accept any compatible release). Thread-safe.
#[no_mangle]
pub extern "C" fn lightning_version() -> u32 {
    error::ffi_value("lightning_version", 0, || LIGHTNING_VERSION)
}

/// The version of the library loaded as static, NUL-terminated text, such as "0.1.0".
/// Thread-safe.
#[no_mangle]
pub extern "C" fn lightning_version_string() -> *const c_char {
    const VERSION: &std::ffi::CStr = match std::ffi::CStr::from_bytes_with_nul(
        concat!(env!("CARGO_PKG_VERSION"), "\0").as_bytes(),
    ) {
        Ok(v) => v,
        Err(_) => c"unknown",
    };
    error::ffi_value("lightning_version_string", VERSION.as_ptr(), || {
        VERSION.as_ptr()
    })
}
