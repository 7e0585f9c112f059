//! Status codes, the panic boundary, and the text of the last failure.

use std::cell::RefCell;
use std::ffi::{c_char, c_int, CStr, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, OnceLock};

use ::lightning_db::{DatabaseError, ERROR_TABLE};
use parking_lot::Mutex;

use crate::args::{self, OutPtr};
use crate::codes::{
    LIGHTNING_BUFFER_TOO_SMALL, LIGHTNING_INTERNAL, LIGHTNING_INVALID_ARGUMENT, LIGHTNING_OK,
};

/// A failed call: the status code it returns and the detail kept for
/// `lightning_last_error` / `lightning_db_last_error`.
#[derive(Debug)]
pub(crate) struct Fail {
    pub(crate) code: c_int,
    pub(crate) message: String,
}

impl Fail {
    /// `LIGHTNING_INVALID_ARGUMENT` with a message naming what is wrong.
    pub(crate) fn invalid(message: impl Into<String>) -> Fail {
        Fail {
            code: LIGHTNING_INVALID_ARGUMENT,
            message: format!(
                "INVALID_ARGUMENT ({LIGHTNING_INVALID_ARGUMENT}): {}",
                message.into()
            ),
        }
    }

    /// A failure with an explicit code (a stale database handle answers `DATABASE_CLOSED`).
    pub(crate) fn with_code(code: c_int, message: impl Into<String>) -> Fail {
        Fail {
            code,
            message: format!("{} ({code}): {}", code_name(code), message.into()),
        }
    }
}

impl From<DatabaseError> for Fail {
    fn from(e: DatabaseError) -> Fail {
        let code = e.error_code();
        let mut message = format!("{} ({code}): {e}", e.code_name());
        if let Some(action) = e.suggested_action() {
            message.push_str("; suggested action: ");
            message.push_str(&action);
        }
        Fail { code, message }
    }
}

/// Where a handle keeps the detail of its last failure (shared by a database handle and
/// the transactions, snapshots and iterators made from it).
#[derive(Debug, Default)]
pub(crate) struct ErrorSlot(Mutex<String>);

impl ErrorSlot {
    pub(crate) fn set(&self, message: &str) {
        let mut slot = self.0.lock();
        slot.clear();
        slot.push_str(message);
    }

    pub(crate) fn get(&self) -> String {
        self.0.lock().clone()
    }
}

thread_local! {
    /// The detail of the calling thread's last failed call, whatever its handle.
    static LAST_ERROR: RefCell<String> = const { RefCell::new(String::new()) };
}

/// What an exported function's body can tell the boundary: the handle whose error slot
/// should also receive a failure.
#[derive(Default)]
pub(crate) struct Call {
    slot: Option<Arc<ErrorSlot>>,
}

impl Call {
    /// Records failures of this call in `slot` as well as in the thread's last error.
    pub(crate) fn report_to(&mut self, slot: &Arc<ErrorSlot>) {
        self.slot = Some(Arc::clone(slot));
    }
}

fn record(func: &str, message: &str, slot: Option<&ErrorSlot>) {
    let text = format!("{func}: {message}");
    if let Some(slot) = slot {
        slot.set(&text);
    }
    // `try_with`: during thread teardown the thread-local may already be gone.
    let _ = LAST_ERROR.try_with(|last| {
        let mut last = last.borrow_mut();
        last.clear();
        last.push_str(&text);
    });
}

fn panic_text(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "unknown panic payload".to_string()
    }
}

/// The panic boundary every exported function runs in: `body`'s `Ok` code is returned as it
/// is (0, or a status such as `LIGHTNING_NOT_FOUND`), a [`Fail`] is recorded and its code
/// returned, and a panic becomes `LIGHTNING_INTERNAL`.
pub(crate) fn ffi_call<F>(func: &'static str, body: F) -> c_int
where
    F: FnOnce(&mut Call) -> Result<c_int, Fail>,
{
    let mut call = Call::default();
    let outcome = catch_unwind(AssertUnwindSafe(|| body(&mut call)));
    match outcome {
        Ok(Ok(code)) => code,
        Ok(Err(fail)) => {
            record(func, &fail.message, call.slot.as_deref());
            fail.code
        }
        Err(payload) => {
            let text = format!(
                "INTERNAL ({LIGHTNING_INTERNAL}): panic inside the library (a bug): {}",
                panic_text(payload.as_ref())
            );
            record(func, &text, call.slot.as_deref());
            LIGHTNING_INTERNAL
        }
    }
}

/// The panic boundary for functions that return a value instead of a status: `fallback` is
/// returned if `body` panics.
pub(crate) fn ffi_value<T, F>(func: &'static str, fallback: T, body: F) -> T
where
    F: FnOnce() -> T,
{
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(value) => value,
        Err(payload) => {
            let text = format!(
                "INTERNAL ({LIGHTNING_INTERNAL}): panic inside the library (a bug): {}",
                panic_text(payload.as_ref())
            );
            record(func, &text, None);
            fallback
        }
    }
}

/// The static texts of every code: (code, name, description), NUL-terminated.
fn code_texts() -> &'static [(c_int, CString, CString)] {
    static TEXTS: OnceLock<Vec<(c_int, CString, CString)>> = OnceLock::new();
    TEXTS.get_or_init(|| {
        ERROR_TABLE
            .iter()
            .map(|info| {
                let text = |s: &str| {
                    CString::new(s.replace('\0', " ")).unwrap_or_else(|_| CString::default())
                };
                (info.code, text(info.name), text(info.description))
            })
            .collect()
    })
}

/// The name of a code for messages ("KEY_TOO_LARGE"), or "UNKNOWN".
pub(crate) fn code_name(code: c_int) -> &'static str {
    ::lightning_db::describe_code(code).map_or("UNKNOWN", |info| info.name)
}

const UNKNOWN_CODE: &CStr = c"unknown status code";
const UNKNOWN_NAME: &CStr = c"UNKNOWN";

/// A static, NUL-terminated description of a status code: "key not found" for
/// `LIGHTNING_NOT_FOUND`, "success" for `LIGHTNING_OK`, "unknown status code" for a code
/// this version does not define.
///
/// The text is never freed and never changes. Thread-safe.
#[no_mangle]
pub extern "C" fn lightning_strerror(code: c_int) -> *const c_char {
    ffi_value("lightning_strerror", UNKNOWN_CODE.as_ptr(), || {
        code_texts()
            .iter()
            .find(|(c, _, _)| *c == code)
            .map_or(UNKNOWN_CODE.as_ptr(), |(_, _, text)| text.as_ptr())
    })
}

/// The static, NUL-terminated name of a status code without the `LIGHTNING_` prefix
/// ("KEY_NOT_FOUND" for 101), or "UNKNOWN" for a code this version does not define.
///
/// The text is never freed and never changes. Thread-safe.
#[no_mangle]
pub extern "C" fn lightning_code_name(code: c_int) -> *const c_char {
    ffi_value("lightning_code_name", UNKNOWN_NAME.as_ptr(), || {
        code_texts()
            .iter()
            .find(|(c, _, _)| *c == code)
            .map_or(UNKNOWN_NAME.as_ptr(), |(_, name, _)| name.as_ptr())
    })
}

/// Copies `text` into a caller buffer as `snprintf` does: the whole text and a NUL when
/// `cap` allows (`LIGHTNING_OK`), else as much as fits plus a NUL when `cap > 0`
/// (`LIGHTNING_BUFFER_TOO_SMALL`). `out_len`, when given, receives the full length either way.
pub(crate) fn copy_text(
    text: &str,
    buf: *mut c_char,
    cap: usize,
    out_len: *mut usize,
) -> Result<c_int, Fail> {
    let dest = args::out_buffer(buf.cast::<u8>(), cap, "buf")?;
    let out_len = OutPtr::optional(out_len);
    let bytes = text.as_bytes();
    let fits = bytes.len() < cap;
    if cap > 0 {
        let n = bytes.len().min(cap - 1);
        dest.write_prefix(&bytes[..n], true);
    }
    out_len.write(bytes.len());
    Ok(if fits {
        LIGHTNING_OK
    } else {
        LIGHTNING_BUFFER_TOO_SMALL
    })
}

/// Copies the detail of the calling thread's last failed call into `buf` (NUL-terminated),
/// whatever handle it was made on: useful after `lightning_db_open` fails, since there is no
/// database handle to ask then. The text names the function, the code and what went wrong,
/// and a suggested action where there is one. It is empty when this thread has had no
/// failure; successful calls leave it as it is. Statuses that are answers, not failures
/// (`LIGHTNING_NOT_FOUND`, `LIGHTNING_DONE`, `LIGHTNING_BUFFER_TOO_SMALL`), do not set it.
///
/// Copying works as `snprintf`: when the text and its NUL do not fit in `cap` bytes, as much
/// as fits is written, NUL-terminated, and `LIGHTNING_BUFFER_TOO_SMALL` is returned. `buf`
/// may be NULL when `cap` is 0 (to ask for the length). `out_len` may be NULL; otherwise it
/// receives the text's full length, without the NUL.
#[no_mangle]
pub extern "C" fn lightning_last_error(buf: *mut c_char, cap: usize, out_len: *mut usize) -> c_int {
    ffi_call("lightning_last_error", |_| {
        let text = LAST_ERROR
            .try_with(|last| last.borrow().clone())
            .unwrap_or_default();
        copy_text(&text, buf, cap, out_len)
    })
}
