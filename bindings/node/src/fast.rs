//! The point-read fast path behind `getSync` and `get`: two raw N-API functions that take
//! only the key's length.
//!
//! A `#[napi]` method pays, per call, for napi-rs's class-identity check of `this`, for
//! registering and releasing every borrowed `Uint8Array` argument, and for probing each
//! `Either` variant: about 400 ns, more than a memtable read. Here the JS layer writes the
//! key into a key buffer and calls a plain function with the key's length; the function
//! copies the value into a value buffer and returns its length. Both buffers are memory this
//! module owns, lent to JavaScript as external `ArrayBuffer`s, so nothing JavaScript does to
//! them (even detaching them) can make the native side read or write freed memory.
//!
//! Every call runs on the JS thread that made the functions, one at a time; the buffers are
//! touched only through raw pointers inside a call, never through a reference held across
//! JavaScript code.
#![expect(
    unsafe_code,
    reason = "raw N-API functions and external buffers for the measured point-read path (UNSAFE.md)"
)]

use std::ffi::c_void;
use std::ptr;
use std::rc::Rc;
use std::sync::Arc;

use lightning_db::CachedRead;
use napi::bindgen_prelude::*;
use napi::{sys, JsError};

use crate::errors::{run, type_error};
use crate::shared::Shared;

/// Bytes of the key buffer: keys longer than this take the `#[napi]` methods.
const KEY_BYTES: usize = 4 * 1024;
/// Bytes of the value buffer: values longer than this are read again by the `#[napi]` methods.
const VALUE_BYTES: usize = 64 * 1024;

/// The answer for a missing key.
const MISSING: f64 = -1.0;
/// The answer of the cached read when the value needs a disk read.
const NEEDS_IO: f64 = -2.0;

/// A heap buffer owned by this module and lent to JavaScript as an external `ArrayBuffer`.
/// Freed when the last of its holders (the functions or iterator and the `ArrayBuffer`)
/// lets go. Written and read only through raw pointers, inside native calls on the JS
/// thread.
pub(crate) struct Scratch {
    ptr: *mut u8,
    len: usize,
}

impl Scratch {
    /// A zeroed buffer of `len` bytes.
    pub(crate) fn new(len: usize) -> Rc<Self> {
        let ptr = Box::into_raw(vec![0u8; len].into_boxed_slice()).cast::<u8>();
        Rc::new(Scratch { ptr, len })
    }

    /// Its size in bytes.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Copies `bytes` to its start (nothing when they do not fit).
    pub(crate) fn write(&self, bytes: &[u8]) {
        if bytes.len() <= self.len {
            // SAFETY: the buffer is alive (`self`) and `bytes` fits in it; `bytes` is Rust
            // memory, never this buffer, and JavaScript cannot run during the copy.
            unsafe { ptr::copy_nonoverlapping(bytes.as_ptr(), self.ptr, bytes.len()) };
        }
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        // SAFETY: `ptr` and `len` come from the boxed slice `new` leaked, freed only here.
        drop(unsafe { Box::from_raw(ptr::slice_from_raw_parts_mut(self.ptr, self.len)) });
    }
}

/// What each fast function holds: the database and the two buffers.
struct FastReads {
    shared: Arc<Shared>,
    key: Rc<Scratch>,
    value: Rc<Scratch>,
}

impl FastReads {
    /// Reads the key of `key_len` bytes from the key buffer and answers: the value's length
    /// (the value copied into the value buffer when it fits), -1 when missing, and for
    /// `cached_only` reads -2 when the answer needs a disk read (nothing was read).
    fn answer(&self, env: &Env, key_len: u32, cached_only: bool) -> Result<f64> {
        let key_len = key_len as usize;
        if key_len > self.key.len {
            return Err(type_error(env, "key length exceeds the key buffer"));
        }
        // SAFETY: the key buffer is alive (held by `self.key`) and `key_len` is within it;
        // JavaScript runs on this thread only, so nothing writes the buffer during the call.
        let key = unsafe { std::slice::from_raw_parts(self.key.ptr, key_len) };
        let copy = |v: &[u8]| -> f64 {
            self.value.write(v);
            v.len() as f64
        };
        run(env, || {
            self.shared.with(|db| {
                if cached_only {
                    db.get_if_cached(key).map(|read| match read {
                        CachedRead::Found(v) => copy(&v),
                        CachedRead::Missing => MISSING,
                        CachedRead::NeedsIo => NEEDS_IO,
                    })
                } else {
                    db.get_pinned(key)
                        .map(|read| read.map_or(MISSING, |v| copy(&v)))
                }
            })
        })
    }
}

/// Turns a failed status into an error.
fn check(status: sys::napi_status, what: &str) -> Result<()> {
    if status == sys::Status::napi_ok {
        Ok(())
    } else {
        Err(Error::new(
            Status::GenericFailure,
            format!("{what} failed ({status})"),
        ))
    }
}

/// The body of both raw functions: one argument, the key's length.
///
/// # Safety
/// `env` and `info` must be the ones N-API passed to a function made by [`make`].
unsafe fn call(
    env: sys::napi_env,
    info: sys::napi_callback_info,
    cached_only: bool,
) -> sys::napi_value {
    let mut argc = 1usize;
    let mut argv = [ptr::null_mut(); 1];
    let mut data: *mut c_void = ptr::null_mut();
    // SAFETY: `argv` has room for `argc` values; N-API fills at most that many.
    let status = unsafe {
        sys::napi_get_cb_info(
            env,
            info,
            &mut argc,
            argv.as_mut_ptr(),
            ptr::null_mut(),
            &mut data,
        )
    };
    let napi_env = Env::from_raw(env);
    let result = check(status, "napi_get_cb_info").and_then(|()| {
        let mut key_len = 0u32;
        // SAFETY: `argv[0]` is a value of this call (`undefined` when not passed, which
        // makes the status an error).
        let status = unsafe { sys::napi_get_value_uint32(env, argv[0], &mut key_len) };
        if status != sys::Status::napi_ok {
            return Err(type_error(&napi_env, "key length must be a number"));
        }
        // SAFETY: `data` is the `FastReads` `make` boxed for this function, freed only by the
        // function's finalizer, which cannot run while the function is being called.
        let fast = unsafe { &*data.cast::<FastReads>() };
        fast.answer(&napi_env, key_len, cached_only)
    });
    let mut out = ptr::null_mut();
    match result.and_then(|n| {
        // SAFETY: `out` receives the new number.
        check(
            unsafe { sys::napi_create_double(env, n, &mut out) },
            "napi_create_double",
        )
    }) {
        Ok(()) => out,
        Err(e) => {
            // SAFETY: `env` is this call's environment; the exception is left pending and
            // the function returns no value, as N-API expects of a throwing callback.
            unsafe { JsError::from(e).throw_into(env) };
            ptr::null_mut()
        }
    }
}

unsafe extern "C" fn get_into(
    env: sys::napi_env,
    info: sys::napi_callback_info,
) -> sys::napi_value {
    // SAFETY: N-API calls this with its own `env` and `info`, for a function `make` made.
    // A panic cannot escape: `answer` runs the engine inside `run`'s panic guard and the
    // rest does not panic.
    unsafe { call(env, info, false) }
}

unsafe extern "C" fn get_cached(
    env: sys::napi_env,
    info: sys::napi_callback_info,
) -> sys::napi_value {
    // SAFETY: as in `get_into`.
    unsafe { call(env, info, true) }
}

unsafe extern "C" fn drop_fast_reads(_env: sys::napi_env, data: *mut c_void, _hint: *mut c_void) {
    // SAFETY: `data` is the box `make` leaked for this function; N-API runs this once.
    drop(unsafe { Box::from_raw(data.cast::<FastReads>()) });
}

unsafe extern "C" fn drop_scratch(_env: sys::napi_env, _data: *mut c_void, hint: *mut c_void) {
    // SAFETY: `hint` is the `Rc<Scratch>` `lend` leaked for this `ArrayBuffer`; N-API runs
    // this once.
    drop(unsafe { Rc::from_raw(hint.cast::<Scratch>()) });
}

/// A raw function calling `cb` with its own `FastReads`.
fn function(
    env: sys::napi_env,
    name: &str,
    cb: sys::napi_callback,
    fast: FastReads,
) -> Result<sys::napi_value> {
    let data = Box::into_raw(Box::new(fast)).cast::<c_void>();
    let mut f = ptr::null_mut();
    // SAFETY: `name` is valid for its length; `data` stays valid until the finalizer below.
    let made = check(
        unsafe {
            sys::napi_create_function(
                env,
                name.as_ptr().cast(),
                name.len() as isize,
                cb,
                data,
                &mut f,
            )
        },
        "napi_create_function",
    )
    .and_then(|()| {
        // SAFETY: `f` was just made; the finalizer frees `data` when `f` is collected.
        check(
            unsafe {
                sys::napi_add_finalizer(
                    env,
                    f,
                    data,
                    Some(drop_fast_reads),
                    ptr::null_mut(),
                    ptr::null_mut(),
                )
            },
            "napi_add_finalizer",
        )
    });
    if let Err(e) = made {
        // SAFETY: no finalizer owns `data` when either call failed.
        drop(unsafe { Box::from_raw(data.cast::<FastReads>()) });
        return Err(e);
    }
    Ok(f)
}

/// `buf` lent to JavaScript as an external `ArrayBuffer` (which holds one reference to it).
pub(crate) fn lend<'e>(env: &'e Env, buf: &Rc<Scratch>) -> Result<Unknown<'e>> {
    let raw = env.raw();
    let ab = lend_raw(raw, buf)?;
    // SAFETY: `ab` is a value just made in this environment.
    Ok(unsafe { Unknown::from_raw_unchecked(raw, ab) })
}

/// [`lend`], as a raw value.
fn lend_raw(env: sys::napi_env, buf: &Rc<Scratch>) -> Result<sys::napi_value> {
    let hint = Rc::into_raw(Rc::clone(buf)).cast_mut().cast::<c_void>();
    let mut ab = ptr::null_mut();
    // SAFETY: the memory stays valid until `drop_scratch` releases the reference `hint` is.
    let status = unsafe {
        sys::napi_create_external_arraybuffer(
            env,
            buf.ptr.cast(),
            buf.len,
            Some(drop_scratch),
            hint,
            &mut ab,
        )
    };
    if let Err(e) = check(status, "napi_create_external_arraybuffer") {
        // SAFETY: the finalizer was not registered, so the reference is still ours.
        drop(unsafe { Rc::from_raw(hint.cast::<Scratch>()) });
        return Err(e);
    }
    Ok(ab)
}

/// `[getInto, getCached, keyBuffer, valueBuffer]` for `shared`: `getInto(keyLength)` and
/// `getCached(keyLength)` read the key from `keyBuffer` (an `ArrayBuffer` of [`KEY_BYTES`])
/// and answer as [`FastReads::answer`] does (`getCached` the cached-only read), with the
/// value in `valueBuffer`.
pub(crate) fn make<'e>(env: &'e Env, shared: &Arc<Shared>) -> Result<Unknown<'e>> {
    let raw = env.raw();
    let key = Scratch::new(KEY_BYTES);
    let value = Scratch::new(VALUE_BYTES);
    let fast = || FastReads {
        shared: Arc::clone(shared),
        key: Rc::clone(&key),
        value: Rc::clone(&value),
    };
    let parts = [
        function(raw, "getInto", Some(get_into), fast())?,
        function(raw, "getCached", Some(get_cached), fast())?,
        lend_raw(raw, &key)?,
        lend_raw(raw, &value)?,
    ];
    let mut arr = env.create_array(parts.len() as u32)?;
    for (i, part) in parts.into_iter().enumerate() {
        // SAFETY: `part` is a value just made in this environment.
        arr.set(i as u32, unsafe { Unknown::from_raw_unchecked(raw, part) })?;
    }
    arr.into_unknown(env)
}
