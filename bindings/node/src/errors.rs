//! Turning engine errors, bad arguments and panics into JavaScript `Error` objects.
//!
//! Every error the module throws or rejects with carries `code` (`LIGHTNING_` + the core's
//! code name), `errno` (the core's numeric `error_code()`), `retryable` and
//! `suggestedAction`, all read from the `DatabaseError` itself, so nothing is restated here.

use std::panic::{catch_unwind, AssertUnwindSafe};

use lightning_db::{DatabaseError, ERROR_TABLE};
use napi::bindgen_prelude::*;
use napi::{JsError, JsTypeError};
use napi_derive::napi;

/// The prefix of every `code` string, so codes cannot clash with Node's own (`ERR_*`).
pub(crate) const CODE_PREFIX: &str = "LIGHTNING_";

/// One row of the core's error table, as exported to JavaScript by `errorTable()`.
#[napi(object)]
pub struct ErrorCodeEntry {
    /// The stable numeric code (the `errno` of errors).
    pub errno: i32,
    /// The stable name, without the prefix (`TRANSACTION_CONFLICT`).
    pub name: String,
    /// The `code` string errors carry (`LIGHTNING_TRANSACTION_CONFLICT`).
    pub code: String,
    /// A static one-line description.
    pub description: String,
}

/// Every code the engine defines, straight from `lightning_db::ERROR_TABLE` (the hand-written
/// JS layer builds `errorCodes` from it at load time).
#[napi]
pub fn error_table() -> Vec<ErrorCodeEntry> {
    ERROR_TABLE
        .iter()
        .map(|info| ErrorCodeEntry {
            errno: info.code,
            name: info.name.to_string(),
            code: format!("{CODE_PREFIX}{}", info.name),
            description: info.description.to_string(),
        })
        .collect()
}

/// Builds the JS error object for `e` and wraps it so napi throws (or rejects with) exactly
/// that object. Must run on the JS thread.
pub(crate) fn to_js(env: &Env, e: &DatabaseError) -> Error {
    let code = format!("{CODE_PREFIX}{}", e.code_name());
    let object = JsError::from(Error::new(code, e.to_string())).into_unknown(*env);
    decorate(
        object,
        e.error_code(),
        e.is_retryable(),
        e.suggested_action(),
    )
}

/// A `TypeError` for an argument of the wrong JavaScript type. It also carries the engine's
/// `INVALID_ARGUMENT` code so that every error of the module has a stable `code`.
pub(crate) fn type_error(env: &Env, message: impl Into<String>) -> Error {
    let bad = DatabaseError::InvalidArgument {
        message: message.into(),
    };
    let code = format!("{CODE_PREFIX}{}", bad.code_name());
    let object = JsTypeError::from(Error::new(code, bad.to_string())).into_unknown(*env);
    decorate(
        object,
        bad.error_code(),
        bad.is_retryable(),
        bad.suggested_action(),
    )
}

fn decorate(object: Unknown<'_>, errno: i32, retryable: bool, action: Option<String>) -> Error {
    let filled = object.coerce_to_object().and_then(|mut obj| {
        obj.set_named_property("errno", errno)?;
        obj.set_named_property("retryable", retryable)?;
        obj.set_named_property("suggestedAction", action)?;
        Ok(())
    });
    match filled {
        // `Error::from(Unknown)` keeps a reference to the object, and napi throws or rejects
        // with the referenced object itself rather than building a new one.
        Ok(()) => Error::from(object),
        Err(e) => e,
    }
}

/// Runs `f`, turning a panic into `DatabaseError::Internal` so a bug never unwinds into Node
/// (which would abort the process).
pub(crate) fn guard<T>(
    f: impl FnOnce() -> std::result::Result<T, DatabaseError>,
) -> std::result::Result<T, DatabaseError> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(result) => result,
        Err(payload) => {
            let text = payload
                .downcast_ref::<&str>()
                .map(|s| (*s).to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".to_string());
            Err(DatabaseError::Internal {
                message: format!("panic inside the Node binding: {text}"),
            })
        }
    }
}

/// Shorthand: run `f` under [`guard`] and convert its error to a JS error.
pub(crate) fn run<T>(
    env: &Env,
    f: impl FnOnce() -> std::result::Result<T, DatabaseError>,
) -> Result<T> {
    guard(f).map_err(|e| to_js(env, &e))
}

/// Test hook: panics inside the module's panic boundary, so the test suite can check that a
/// panic becomes a `LIGHTNING_INTERNAL` error instead of aborting the process.
#[napi(js_name = "_testPanic")]
pub fn test_panic(env: Env) -> Result<()> {
    run(&env, || -> std::result::Result<(), DatabaseError> {
        panic!("deliberate panic from _testPanic")
    })
}
