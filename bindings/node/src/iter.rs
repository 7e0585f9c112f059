//! The native side of range iteration: pairs are pulled from the engine in chunks, so the
//! JavaScript iterator crosses into native code once per chunk rather than once per pair.

use std::rc::Rc;
use std::sync::Arc;

use lightning_db::{DatabaseError, DbIterator, TransactionIterator};
use napi::bindgen_prelude::*;
use napi_derive::napi;

use crate::convert::Range;
use crate::errors::{guard, to_js};
use crate::fast::{lend, Scratch};
use crate::shared::Shared;

/// Where the pairs come from.
pub(crate) enum Source {
    /// The database or a snapshot (a lazy view at one sequence number).
    Db(DbIterator),
    /// A transaction's view (its snapshot overlaid with its own writes).
    Txn(TransactionIterator),
}

/// What each chunk carries: key and value, keys only, or values only.
const MODE_KEYS: u32 = 1;
const MODE_VALUES: u32 = 2;

/// A lazy range over one consistent view; the JS layer wraps it as a sync and async iterable.
#[napi]
pub struct NativeIterator {
    shared: Arc<Shared>,
    source: Option<Source>,
    reverse: bool,
    remaining: Option<u64>,
    /// The chunk being built, kept between chunks so filling one allocates nothing.
    out: Vec<u8>,
    /// The buffer `nextChunkInto` copies chunks into, lent to JavaScript by `_chunkBuffer`.
    lent: Option<Rc<Scratch>>,
    /// A chunk too large for the lent buffer, waiting for `nextChunk` to hand it over.
    pending: Option<Vec<u8>>,
}

impl NativeIterator {
    pub(crate) fn new(shared: Arc<Shared>, source: Source, range: &Range) -> Self {
        NativeIterator {
            shared,
            source: Some(source),
            reverse: range.reverse,
            remaining: range.limit,
            out: Vec::new(),
            lent: None,
            pending: None,
        }
    }

    /// True when this iterator reads the database `shared` (so it may be reused for it).
    pub(crate) fn belongs_to(&self, shared: &Arc<Shared>) -> bool {
        Arc::ptr_eq(&self.shared, shared)
    }

    /// Takes over `fresh`'s range, view and limit (the old view is released); keeps its
    /// chunk buffers.
    pub(crate) fn replace_with(&mut self, fresh: NativeIterator) {
        let out = std::mem::take(&mut self.out);
        let lent = self.lent.take();
        *self = fresh;
        self.out = out;
        self.lent = lent;
    }
}

/// A chunk stops growing past this many bytes (one large value still fits alone).
const CHUNK_BYTES: usize = 256 * 1024;
/// Chunks up to this size are copied into a plain `Buffer`; larger ones are handed over
/// without a copy as an external buffer, whose finalizer costs more than copying a few KiB.
const COPY_BELOW: usize = 64 * 1024;
/// Bytes of the buffer `nextChunkInto` writes into: a first chunk of short pairs fits many
/// times over; a chunk larger than this goes through `nextChunk`.
const LENT_BYTES: usize = 64 * 1024;
/// Written in place of a length after the last item of the range, so the JS side knows the
/// range is exhausted without another native call.
const END_MARK: u32 = u32::MAX;

fn append(out: &mut Vec<u8>, mode: u32, k: &[u8], v: &[u8]) {
    // Lengths are u32: keys are at most 1 MiB and values at most 1 GiB.
    if mode != MODE_VALUES {
        out.extend_from_slice(&(k.len() as u32).to_le_bytes());
        out.extend_from_slice(k);
    }
    if mode != MODE_KEYS {
        out.extend_from_slice(&(v.len() as u32).to_le_bytes());
        out.extend_from_slice(v);
    }
}

#[napi]
impl NativeIterator {
    /// Up to `max` more pairs packed into one `Buffer`: for each pair, per `mode`, the key
    /// and/or the value, each as a little-endian u32 length followed by its bytes, and after
    /// the range's last pair the length `0xFFFFFFFF`. The JS layer hands out views into it, so
    /// a chunk costs one native call and one allocation however many pairs it holds. Once the
    /// range is exhausted (or the iterator closed) the chunk is just the end mark. Throws
    /// `LIGHTNING_DATABASE_CLOSED` once the database is closed. Hands over the chunk
    /// `nextChunkInto` left waiting, if any, instead of reading on.
    #[napi(ts_return_type = "Buffer")]
    pub fn next_chunk<'e>(&mut self, env: &'e Env, max: u32, mode: u32) -> Result<Unknown<'e>> {
        let out = match self.pending.take() {
            Some(out) => out,
            None => {
                self.fill(env, max, mode)?;
                std::mem::take(&mut self.out)
            }
        };
        if out.len() < COPY_BELOW {
            let chunk = BufferSlice::copy_from(env, &out)?.into_unknown(env);
            self.out = out;
            chunk
        } else {
            Buffer::from(out).into_unknown(env)
        }
    }

    /// The buffer `nextChunkInto` writes chunks into (made on the first call, the same one
    /// after), as an `ArrayBuffer`.
    #[napi(js_name = "_chunkBuffer", ts_return_type = "ArrayBuffer")]
    pub fn chunk_buffer<'e>(&mut self, env: &'e Env) -> Result<Unknown<'e>> {
        let lent = self
            .lent
            .get_or_insert_with(|| Scratch::new(LENT_BYTES))
            .clone();
        lend(env, &lent)
    }

    /// `nextChunk` without a new `Buffer`: writes the chunk at the start of the buffer
    /// `_chunkBuffer` returned and answers its length; or, when the chunk does not fit (or
    /// that buffer was never asked for), keeps it for the next `nextChunk` and answers -1.
    #[napi(js_name = "nextChunkInto")]
    pub fn next_chunk_into(&mut self, env: Env, max: u32, mode: u32) -> Result<f64> {
        if self.pending.is_some() {
            return Ok(-1.0);
        }
        self.fill(&env, max, mode)?;
        match &self.lent {
            Some(lent) if self.out.len() <= lent.len() => {
                lent.write(&self.out);
                Ok(self.out.len() as f64)
            }
            _ => {
                self.pending = Some(std::mem::take(&mut self.out));
                Ok(-1.0)
            }
        }
    }

    /// Releases the view (its files and versions); later chunks are empty.
    #[napi]
    pub fn close(&mut self) {
        self.source = None;
        self.pending = None;
    }
}

impl NativeIterator {
    /// Reads up to `max` more pairs into `self.out` (see `nextChunk` for the layout).
    fn fill(&mut self, env: &Env, max: u32, mode: u32) -> Result<()> {
        let out = &mut self.out;
        out.clear();
        if self.source.is_some() && self.shared.is_closed() {
            self.source = None;
            return Err(to_js(env, &DatabaseError::DatabaseClosed));
        }
        let mut want = u64::from(max.max(1));
        if let Some(r) = self.remaining {
            want = want.min(r);
        }
        let Some(source) = self.source.as_mut() else {
            out.extend_from_slice(&END_MARK.to_le_bytes());
            return Ok(());
        };
        // Room for `want` small pairs without reallocating (bounded for large `want`).
        out.reserve((want as usize).saturating_mul(128).min(COPY_BELOW));
        let reverse = self.reverse;
        let mut got = 0u64;
        let mut failure = None;
        let mut ended = false;
        let walked = guard(|| {
            while got < want && out.len() < CHUNK_BYTES {
                // Every source lends its pairs, skipping two copies per pair.
                let item = match (&mut *source, reverse) {
                    (Source::Db(it), false) => it
                        .next_borrowed()
                        .map(|r| r.map(|(k, v)| append(out, mode, k, v))),
                    (Source::Db(it), true) => it
                        .next_back_borrowed()
                        .map(|r| r.map(|(k, v)| append(out, mode, k, v))),
                    (Source::Txn(it), false) => it
                        .next_borrowed()
                        .map(|r| r.map(|(k, v)| append(out, mode, k, v))),
                    (Source::Txn(it), true) => it
                        .next_back_borrowed()
                        .map(|r| r.map(|(k, v)| append(out, mode, k, v))),
                };
                match item {
                    None => {
                        ended = true;
                        break;
                    }
                    Some(Err(e)) => {
                        failure = Some(e);
                        break;
                    }
                    Some(Ok(())) => got += 1,
                }
            }
            Ok(())
        });
        if let Err(e) = walked {
            failure = Some(e);
        }
        if let Some(e) = failure {
            self.source = None;
            out.clear();
            return Err(to_js(env, &e));
        }
        if let Some(r) = self.remaining.as_mut() {
            *r -= got;
            ended |= *r == 0;
        }
        if ended {
            self.source = None;
            out.extend_from_slice(&END_MARK.to_le_bytes());
        }
        Ok(())
    }
}
