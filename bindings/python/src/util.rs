//! Argument conversion and the boundary every engine call crosses.

use std::borrow::Cow;
use std::ops::Bound as RangeBound;
use std::panic::{catch_unwind, AssertUnwindSafe};

use lightning_db::DatabaseError;
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyByteArray, PyBytes, PyMemoryView};

use crate::errors;

/// Runs `f` with the GIL released (other Python threads run meanwhile, and a durable commit
/// here does not stall them) and inside a panic boundary: a panic becomes an `Internal`
/// error instead of a `PanicException`.
#[inline]
pub(crate) fn engine<T, F>(py: Python<'_>, f: F) -> PyResult<T>
where
    F: FnOnce() -> Result<T, DatabaseError> + Send,
    T: Send,
{
    py.detach(|| match catch_unwind(AssertUnwindSafe(f)) {
        Ok(result) => result,
        Err(payload) => Err(errors::panic_error(payload.as_ref())),
    })
    .map_err(errors::raise)
}

/// Like [`engine`] for calls that cannot fail (statistics).
#[inline]
pub(crate) fn engine_infallible<T, F>(py: Python<'_>, f: F) -> PyResult<T>
where
    F: FnOnce() -> T + Send,
    T: Send,
{
    engine(py, || Ok(f()))
}

/// The bytes of a key or value argument. A `bytes` object is read in place (it is
/// immutable, so the slice stays valid while the GIL is released); a `bytearray` or
/// `memoryview` is copied, because another thread could change it while the GIL is
/// released. Anything else, `str` included, is a `TypeError`.
#[inline]
pub(crate) fn bytes_arg<'a>(obj: &'a Bound<'_, PyAny>, what: &str) -> PyResult<Cow<'a, [u8]>> {
    if let Ok(b) = obj.cast_exact::<PyBytes>() {
        return Ok(Cow::Borrowed(b.as_bytes()));
    }
    if let Ok(b) = obj.cast::<PyBytes>() {
        return Ok(Cow::Borrowed(b.as_bytes()));
    }
    if let Ok(b) = obj.cast::<PyByteArray>() {
        return Ok(Cow::Owned(b.to_vec()));
    }
    if obj.cast::<PyMemoryView>().is_ok() {
        // The stable ABI before 3.11 has no buffer protocol: copy through `tobytes()`.
        let copy = obj.call_method0("tobytes")?;
        let copy = copy.cast::<PyBytes>()?;
        return Ok(Cow::Owned(copy.as_bytes().to_vec()));
    }
    Err(PyTypeError::new_err(format!(
        "{what} must be bytes, bytearray or memoryview, not {}",
        obj.get_type().name()?
    )))
}

/// An optional key argument (a range bound or prefix); `None` stays `None`.
pub(crate) fn opt_bytes_arg<'a>(
    obj: Option<&'a Bound<'_, PyAny>>,
    what: &str,
) -> PyResult<Option<Cow<'a, [u8]>>> {
    match obj {
        None => Ok(None),
        Some(o) if o.is_none() => Ok(None),
        Some(o) => Ok(Some(bytes_arg(o, what)?)),
    }
}

/// What to scan: a `[start, stop)` range or a prefix (borrowed from the arguments).
pub(crate) enum Scan<'a> {
    /// Keys from `start` (inclusive) to `stop` (exclusive); `None` is unbounded.
    Range(Option<Cow<'a, [u8]>>, Option<Cow<'a, [u8]>>),
    /// Keys starting with the prefix.
    Prefix(Cow<'a, [u8]>),
}

impl<'a> Scan<'a> {
    /// Parses the `start`, `stop` and `prefix` arguments. As in plyvel, a prefix cannot be
    /// combined with `start` or `stop`.
    pub(crate) fn parse(
        start: Option<&'a Bound<'_, PyAny>>,
        stop: Option<&'a Bound<'_, PyAny>>,
        prefix: Option<&'a Bound<'_, PyAny>>,
    ) -> PyResult<Scan<'a>> {
        let start = opt_bytes_arg(start, "start")?;
        let stop = opt_bytes_arg(stop, "stop")?;
        match opt_bytes_arg(prefix, "prefix")? {
            Some(p) if start.is_none() && stop.is_none() => Ok(Scan::Prefix(p)),
            Some(_) => Err(PyTypeError::new_err(
                "prefix cannot be combined with start or stop",
            )),
            None => Ok(Scan::Range(start, stop)),
        }
    }

    /// The range bounds for `range(..)`; only meaningful for [`Scan::Range`].
    pub(crate) fn bounds<'b>(
        start: &'b Option<Cow<'a, [u8]>>,
        stop: &'b Option<Cow<'a, [u8]>>,
    ) -> (RangeBound<&'b [u8]>, RangeBound<&'b [u8]>) {
        let lo = start
            .as_deref()
            .map_or(RangeBound::Unbounded, RangeBound::Included);
        let hi = stop
            .as_deref()
            .map_or(RangeBound::Unbounded, RangeBound::Excluded);
        (lo, hi)
    }
}
