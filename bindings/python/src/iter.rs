//! Lazy iteration, pulled from the engine in chunks.
//!
//! Each refill releases the GIL once and copies up to a chunk of pairs into one reused
//! buffer (through `DbIterator::next_borrowed`, so forward scans allocate nothing per
//! pair); each `__next__` then makes the Python objects of one pair, so pairs fetched but
//! never consumed cost no Python allocation. The chunk starts small (16), so a short range
//! read fetches little more than it needs, and grows (x4, up to 512) for long scans.

use lightning_db::{DatabaseError, DbIterator, TransactionIterator};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyTuple};

use crate::db::PyDatabase;
use crate::fork;
use crate::util::engine;

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
        let step = match (source as &mut Source, reverse) {
            (Source::Db(it), false) => match it.next_borrowed() {
                Some(pair) => {
                    let (k, v) = pair?;
                    push(k, v);
                    continue;
                }
                None => None,
            },
            (Source::Db(it), true) => match it.next_back_borrowed() {
                Some(pair) => {
                    let (k, v) = pair?;
                    push(k, v);
                    continue;
                }
                None => None,
            },
            (Source::Txn(it), false) => it.next(),
            (Source::Txn(it), true) => it.next_back(),
        };
        match step {
            Some(pair) => {
                let (k, v) = pair?;
                push(&k, &v);
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
        let Some(source) = self.source.as_mut() else {
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
                if exhausted {
                    self.source = None;
                }
                Ok(())
            }
            Err(e) => {
                self.source = None;
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
        if self.source.is_none() {
            return Ok(None);
        }
        self.db.get().check_open()?;
        self.refill(py)?;
        self.take(py)
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
