//! Lazy iteration, pulled from the engine in chunks.
//!
//! Each refill releases the GIL once and copies up to a chunk of pairs into one reused
//! buffer (through `DbIterator::next_borrowed`, so forward scans allocate nothing per
//! pair); each `__next__` then makes the Python objects of one pair, so pairs fetched but
//! never consumed cost no Python allocation. The chunk starts small (16), so a short range
//! read fetches little more than it needs, and grows (x4, up to 512) for long scans.
//!
//! `seek(key)` re-positions an iterator over the database or a snapshot (the engine's
//! `DbIterator::seek`), so short range reads can reuse one iterator as py-lmdb's users
//! reuse one cursor. After a seek the first refill fetches as many pairs as were taken
//! after the previous seek (at least one): a loop of equal short reads then copies exactly
//! what it uses, and a longer read grows the chunk as before.

use lightning_db::{DatabaseError, DbIterator, TransactionIterator};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyTuple};

use crate::db::PyDatabase;
use crate::errors;
use crate::fork;
use crate::util::{bytes_arg, engine};

/// Pairs fetched by the first refill.
const FIRST_CHUNK: usize = 16;
/// The most pairs one refill fetches.
const MAX_CHUNK: usize = 512;

/// What an iterator walks.
pub(crate) enum Source {
    /// The database or a snapshot.
    Db(DbIterator),
    /// A transaction's view (its snapshot with its own writes laid over it).
    Txn(TransactionIterator),
}

/// What each step yields.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Yield {
    /// `(key, value)` tuples.
    Items,
    /// Keys.
    Keys,
    /// Values.
    Values,
}

/// Where one pair lies in the refill buffer.
struct Span {
    start: usize,
    key_len: usize,
    value_len: usize,
}

/// Copies up to `n` pairs (only the parts `what` needs) into `buf`; returns whether the
/// source is exhausted.
fn pull(
    source: &mut Source,
    n: usize,
    what: Yield,
    reverse: bool,
    buf: &mut Vec<u8>,
    spans: &mut Vec<Span>,
) -> Result<bool, DatabaseError> {
    let mut push = |key: &[u8], value: &[u8]| {
        let start = buf.len();
        let key_len = if what == Yield::Values { 0 } else { key.len() };
        let value_len = if what == Yield::Keys { 0 } else { value.len() };
        buf.extend_from_slice(&key[..key_len]);
        buf.extend_from_slice(&value[..value_len]);
        spans.push(Span {
            start,
            key_len,
            value_len,
        });
    };
    for _ in 0..n {
        // Every source lends its pairs: each is copied once, into `buf`.
        let lent = match (source as &mut Source, reverse) {
            (Source::Db(it), false) => it.next_borrowed(),
            (Source::Db(it), true) => it.next_back_borrowed(),
            (Source::Txn(it), false) => it.next_borrowed(),
            (Source::Txn(it), true) => it.next_back_borrowed(),
        };
        match lent {
            Some(pair) => {
                let (k, v) = pair?;
                push(k, v);
            }
            None => return Ok(true),
        }
    }
    Ok(false)
}

/// A lazy iterator over keys, values or `(key, value)` pairs, in key order (or reverse).
/// It reads the view it was made from (the database at that moment, a snapshot or a
/// transaction) and stays valid while the database is written to.
#[pyclass(module = "lightning_db", name = "RangeIterator")]
pub(crate) struct PyIterator {
    source: Option<Source>,
    /// The source has no more pairs (it is kept for `seek`).
    exhausted: bool,
    /// Pairs handed out since the iterator was made or last sought (the next seek's
    /// first chunk).
    taken: usize,
    what: Yield,
    reverse: bool,
    chunk: usize,
    /// The last refill: pairs copied out of the engine, turned into Python objects one
    /// `__next__` at a time (so pairs fetched but never consumed cost no allocation).
    buf: Vec<u8>,
    spans: Vec<Span>,
    /// The next span to hand out.
    pos: usize,
    /// The database it reads: calls fail once it is closed.
    db: Py<PyDatabase>,
    gen: u64,
}

impl PyIterator {
    /// An iterator over `source`.
    pub(crate) fn new(
        source: Source,
        what: Yield,
        reverse: bool,
        db: Py<PyDatabase>,
        gen: u64,
    ) -> Self {
        Self {
            source: Some(source),
            exhausted: false,
            taken: 0,
            what,
            reverse,
            chunk: FIRST_CHUNK,
            buf: Vec::new(),
            spans: Vec::new(),
            pos: 0,
            db,
            gen,
        }
    }

    /// Fetches the next chunk of pairs with the GIL released.
    fn refill(&mut self, py: Python<'_>) -> PyResult<()> {
        let Some(source) = self.source.as_mut().filter(|_| !self.exhausted) else {
            return Ok(());
        };
        let n = self.chunk;
        self.chunk = (self.chunk * 4).min(MAX_CHUNK);
        let (what, reverse) = (self.what, self.reverse);
        let buf = &mut self.buf;
        let spans = &mut self.spans;
        buf.clear();
        spans.clear();
        self.pos = 0;
        spans.reserve(n);
        // Room for typical pairs up front, so a short read does not regrow the buffer.
        buf.reserve(n * 256);
        match engine(py, || pull(source, n, what, reverse, buf, spans)) {
            Ok(exhausted) => {
                self.exhausted = exhausted;
                Ok(())
            }
            Err(e) => {
                // The engine's iterator ends after an error; a later `seek` may try again.
                self.exhausted = true;
                spans.clear();
                Err(e)
            }
        }
    }

    /// The Python object for the next fetched pair, if one is left.
    fn take(&mut self, py: Python<'_>) -> PyResult<Option<Py<PyAny>>> {
        let Some(span) = self.spans.get(self.pos) else {
            return Ok(None);
        };
        self.pos += 1;
        self.taken += 1;
        let key = &self.buf[span.start..span.start + span.key_len];
        let value_start = span.start + span.key_len;
        let value = &self.buf[value_start..value_start + span.value_len];
        Ok(Some(match self.what {
            Yield::Keys => PyBytes::new(py, key).into_any().unbind(),
            Yield::Values => PyBytes::new(py, value).into_any().unbind(),
            Yield::Items => PyTuple::new(py, [PyBytes::new(py, key), PyBytes::new(py, value)])?
                .into_any()
                .unbind(),
        }))
    }
}

#[pymethods]
impl PyIterator {
    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __next__(&mut self, py: Python<'_>) -> PyResult<Option<Py<PyAny>>> {
        fork::check(self.gen)?;
        if let Some(item) = self.take(py)? {
            return Ok(Some(item));
        }
        if self.source.is_none() || self.exhausted {
            return Ok(None);
        }
        self.db.get().check_open()?;
        self.refill(py)?;
        self.take(py)
    }

    /// Moves the iterator to the first key at or after `key` (for a `reverse=True` iterator:
    /// the last key at or before `key`), within its own bounds, reading the same view as
    /// before; what was fetched and not yet taken is dropped. Iterators of a transaction
    /// cannot seek (`InvalidArgument`).
    fn seek(&mut self, py: Python<'_>, key: &Bound<'_, PyAny>) -> PyResult<()> {
        fork::check(self.gen)?;
        let key = bytes_arg(key, "key")?;
        self.db.get().check_open()?;
        let reverse = self.reverse;
        let it =
            match self.source.as_mut() {
                Some(Source::Db(it)) => it,
                Some(Source::Txn(_)) => return Err(errors::invalid(
                    "a transaction's iterator cannot seek; make a new one with the bounds wanted",
                )),
                None => return Err(errors::invalid("the iterator can no longer be used")),
            };
        self.buf.clear();
        self.spans.clear();
        self.pos = 0;
        self.chunk = self.taken.clamp(1, MAX_CHUNK);
        self.taken = 0;
        let result = engine(py, || {
            if reverse {
                it.seek_for_prev(&key)
            } else {
                it.seek(&key)
            }
        });
        self.exhausted = result.is_err();
        result
    }
}

impl Drop for PyIterator {
    fn drop(&mut self) {
        if fork::forked(self.gen) {
            // Dropping the engine's iterator could release table files the parent uses.
            std::mem::forget(self.source.take());
        }
    }
}
