//! Data blocks: the unit of compression, checksumming and caching.
//!
//! Uncompressed layout: entries back to back, then the entry count (u32 LE).
//! Entry: kind (u8: 0 tombstone, 1 value), sequence (varint), key length (varint),
//! value length (varint), key bytes, value bytes.
//!
//! On disk a block is followed by a 9-byte trailer: compression (u8: 0 none, 1 LZ4)
//! and a checksum (u64 LE) of payload, compression byte and the block's file offset,
//! so a block copied to the wrong place fails its check too.
//!
//! In an encrypted table (table format 2) the compression byte is 2, "sealed": the stored
//! bytes are the compressed (or plain) payload followed by its own compression byte,
//! sealed as one unit by `storage::crypto` for this table and offset. The checksum covers
//! the sealed bytes, so damage is still found (and repair still works) without the key;
//! compression comes before encryption, where it still finds redundancy.

use std::cmp::Ordering;
use std::path::Path;

use crate::checksum::checksum64_parts;
use crate::checksum::ChecksumAlgorithm;
use crate::error::DatabaseError;
use crate::storage::coding::{get_u32, get_varint, key_prefix, put_varint, Reader};
use crate::storage::crypto::{KeyRing, SealPlace, SEAL_OVERHEAD};

/// Bytes after every on-disk block: compression type and checksum.
pub const BLOCK_TRAILER_LEN: usize = 9;
const COMPRESSION_NONE: u8 = 0;
const COMPRESSION_LZ4: u8 = 1;
const COMPRESSION_SEALED: u8 = 2;
/// Upper bound on a block's decompressed size, so a corrupt length can't ask for unbounded memory.
pub const MAX_BLOCK_BYTES: usize = 1 << 31;

/// Where one entry's parts sit inside a block payload.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct EntryPos {
    key_start: u32,
    key_len: u32,
    value_len: u32,
    is_value: bool,
    seq: u64,
    prefix: u64,
}

impl EntryPos {
    /// The entry's parts as slices of `data`, the payload it was found in (empty slices
    /// if it does not belong there, which validated payloads rule out).
    #[inline]
    pub(crate) fn current<'a>(&self, data: &'a [u8]) -> crate::storage::iter::Current<'a> {
        let start = self.key_start as usize;
        let key_end = start + self.key_len as usize;
        let key = data.get(start..key_end).unwrap_or_default();
        let value = self.is_value.then(|| {
            data.get(key_end..key_end + self.value_len as usize)
                .unwrap_or_default()
        });
        crate::storage::iter::Current {
            key,
            seq: self.seq,
            value,
            prefix: self.prefix,
        }
    }

    /// Where the entry's key starts in its payload.
    #[inline]
    pub(crate) fn key_start(&self) -> usize {
        self.key_start as usize
    }

    /// [`key_prefix`] of the entry's key.
    #[inline]
    pub(crate) fn prefix(&self) -> u64 {
        self.prefix
    }

    /// The entry's sequence number.
    #[inline]
    pub(crate) fn seq(&self) -> u64 {
        self.seq
    }

    /// Where the value lies in the payload, `None` for a tombstone.
    #[inline]
    pub(crate) fn value_range(&self) -> Option<std::ops::Range<usize>> {
        let start = self.key_start as usize + self.key_len as usize;
        self.is_value
            .then(|| start..start + self.value_len as usize)
    }

    /// Bytes of the entry's key and value together.
    #[inline]
    pub(crate) fn key_and_value_len(&self) -> usize {
        self.key_len as usize
            + if self.is_value {
                self.value_len as usize
            } else {
                0
            }
    }

    /// True when this entry sorts before `(key, seq)` in internal order.
    #[inline]
    fn before(&self, data: &[u8], key: &[u8], key_pre: u64, seq: u64) -> bool {
        let start = self.key_start as usize;
        let k = data
            .get(start..start + self.key_len as usize)
            .unwrap_or_default();
        match self.prefix.cmp(&key_pre).then_with(|| k.cmp(key)) {
            Ordering::Less => true,
            Ordering::Equal => self.seq > seq,
            Ordering::Greater => false,
        }
    }
}

/// Parses the entry starting at `start` of `body` (a payload without its entry count),
/// checking every bound; `None` when it is malformed.
#[inline]
fn parse_entry(body: &[u8], start: usize) -> Result<(EntryPos, usize), &'static str> {
    let mut r = Reader::new(body.get(start..).ok_or("entry starts past the block")?);
    let kind = r.u8().ok_or("truncated entry")?;
    if kind > 1 {
        return Err("unknown entry kind");
    }
    let seq = r.varint().ok_or("truncated sequence")?;
    let key_len = r.varint().ok_or("truncated key length")?;
    let value_len = r.varint().ok_or("truncated value length")?;
    let key_start = body.len() - r.remaining();
    let total = key_len
        .checked_add(value_len)
        .and_then(|t| usize::try_from(t).ok())
        .ok_or("entry length overflows")?;
    r.bytes(total).ok_or("entry runs past the block")?;
    if kind == 0 && value_len != 0 {
        return Err("tombstone with a value");
    }
    let key_bytes = body
        .get(key_start..key_start + key_len as usize)
        .unwrap_or_default();
    let pos = EntryPos {
        prefix: key_prefix(key_bytes),
        key_start: key_start as u32,
        key_len: key_len as u32,
        value_len: value_len as u32,
        is_value: kind == 1,
        seq,
    };
    Ok((pos, body.len() - r.remaining()))
}

/// Walks every entry of a payload (entries, then their count), checking every bound,
/// and hands each entry's start and parts to `each`.
fn walk_entries(data: &[u8], mut each: impl FnMut(u32, EntryPos)) -> Result<(), BlockError> {
    let bad = |m: &str| BlockError::Malformed(m.to_string());
    if data.len() < 4 {
        return Err(bad("block shorter than its entry count"));
    }
    let body_len = data.len() - 4;
    let count = get_u32(data, body_len).ok_or_else(|| bad("no entry count"))? as usize;
    // Each entry takes at least 4 bytes, which bounds what callers allocate per entry.
    if count > body_len / 4 + 1 {
        return Err(bad("entry count larger than the block"));
    }
    let body = &data[..body_len];
    let mut at = 0;
    for _ in 0..count {
        let (pos, end) = parse_entry(body, at).map_err(bad)?;
        each(at as u32, pos);
        at = end;
    }
    if at != body_len {
        return Err(bad("bytes after the last entry"));
    }
    Ok(())
}

/// The entry offsets of a block read in place from a mapped table file. Built once, by
/// the read that first verifies the block's checksum and structure, then shared: later
/// reads of the block trust both and go straight to the bytes.
///
/// Beside each entry's start it keeps its key prefix, so a search reads a dense array
/// of integers and touches the block itself only at the entry it lands on (and at
/// entries whose prefix ties with the key sought). Both live in one allocation (prefixes
/// as high and low halves, then starts), so the search's few cache lines are adjacent.
#[derive(Debug)]
pub struct BlockLayout {
    words: Box<[u32]>,
}

impl BlockLayout {
    /// Validates `payload` (an uncompressed block payload whose checksum has passed) and
    /// records where its entries start.
    pub fn build(payload: &[u8]) -> Result<BlockLayout, BlockError> {
        let count = get_u32(payload, payload.len().saturating_sub(4)).unwrap_or(0) as usize;
        let count = count.min(payload.len() / 4 + 1);
        let mut starts = Vec::with_capacity(count);
        let mut words = Vec::with_capacity(count * 3);
        walk_entries(payload, |start, pos| {
            starts.push(start);
            words.push((pos.prefix >> 32) as u32);
            words.push(pos.prefix as u32);
        })?;
        words.extend_from_slice(&starts);
        Ok(BlockLayout {
            words: words.into_boxed_slice(),
        })
    }

    /// Bytes of memory held.
    pub fn charge(&self) -> usize {
        self.words.len() * 4 + 16
    }

    /// The key prefixes, as (high, low) halves.
    #[inline]
    fn prefix_halves(&self) -> &[u32] {
        let n = self.words.len() / 3;
        self.words.get(..2 * n).unwrap_or_default()
    }

    /// Where each entry starts in the payload.
    #[inline]
    fn starts(&self) -> &[u32] {
        let n = self.words.len() / 3;
        self.words.get(2 * n..).unwrap_or_default()
    }

    /// Where entry `i` of `body` (the payload this layout was built from, without its
    /// entry count) lies; a default, empty entry past the end.
    #[inline]
    pub(crate) fn pos(&self, body: &[u8], i: usize) -> EntryPos {
        entry_at(body, self.starts(), i)
    }
}

/// Where entry `i` of `body` lies, given the entries' starts; a default, empty entry
/// past the end.
#[inline]
fn entry_at(body: &[u8], starts: &[u32], i: usize) -> EntryPos {
    starts
        .get(i)
        .and_then(|&s| parse_checked_entry(body, s as usize))
        .unwrap_or_default()
}

/// [`parse_entry`] for an entry of a payload [`walk_entries`] has checked (every layout
/// and view is built by that walk): the same parts, without re-proving what the walk
/// proved, which is most of a scan step's decoding. Bounds are still checked, so a
/// payload that was not checked gives an empty entry, never a read outside it.
#[inline]
fn parse_checked_entry(body: &[u8], start: usize) -> Option<EntryPos> {
    let (&kind, rest) = body.get(start..)?.split_first()?;
    let (seq, a) = get_varint(rest)?;
    let (key_len, b) = get_varint(rest.get(a..)?)?;
    let (value_len, c) = get_varint(rest.get(a + b..)?)?;
    let key_start = start + 1 + a + b + c;
    let key = body.get(key_start..key_start + key_len as usize)?;
    Some(EntryPos {
        prefix: key_prefix(key),
        key_start: key_start as u32,
        key_len: key_len as u32,
        value_len: value_len as u32,
        is_value: kind == 1,
        seq,
    })
}

/// The run `lo..hi` of sorted prefixes (given as high and low halves) equal to `key_pre`
/// (empty at the place it would be). Counted rather than binary-searched: a block holds a
/// few dozen entries, and a count reads all their cache lines at once where a binary
/// search waits on each in turn.
#[inline]
fn prefix_run(halves: &[u32], key_pre: u64) -> (usize, usize) {
    let prefix = |c: &[u32]| (u64::from(c[0]) << 32) | u64::from(c[1]);
    let lo = halves
        .chunks_exact(2)
        .filter(|c| prefix(c) < key_pre)
        .count();
    let hi = lo
        + halves
            .get(2 * lo..)
            .unwrap_or_default()
            .chunks_exact(2)
            .take_while(|c| prefix(c) == key_pre)
            .count();
    (lo, hi)
}

/// A verified block read where it lies: the payload bytes and their entry offsets.
#[derive(Clone, Copy)]
pub struct MappedBlock<'a> {
    body: &'a [u8],
    halves: &'a [u32],
    starts: &'a [u32],
}

impl<'a> MappedBlock<'a> {
    /// The block whose payload is `payload` and whose layout is `layout`.
    #[inline]
    pub fn new(payload: &'a [u8], layout: &'a BlockLayout) -> Self {
        Self {
            body: payload
                .get(..payload.len().saturating_sub(4))
                .unwrap_or_default(),
            halves: layout.prefix_halves(),
            starts: layout.starts(),
        }
    }

    /// The payload bytes entries point into.
    #[inline]
    pub fn data(&self) -> &'a [u8] {
        self.body
    }

    /// Number of entries.
    #[inline]
    pub fn len(&self) -> usize {
        self.starts.len()
    }

    /// True when the block holds no entry (for the micro-benchmarks, which reach this
    /// type through `testing::internals`).
    #[cfg(any(test, feature = "testing"))]
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.starts.is_empty()
    }

    /// Where entry `i`'s parts are (a default, empty entry past the end).
    #[inline]
    pub(crate) fn pos(&self, i: usize) -> EntryPos {
        entry_at(self.body, self.starts, i)
    }

    /// Index of the first entry at or after `(key, seq)` in internal order.
    #[inline]
    pub fn lower_bound(&self, key: &[u8], seq: u64) -> usize {
        let key_pre = key_prefix(key);
        self.partition(key_pre, |e| e.before(self.body, key, key_pre, seq))
    }

    /// Index of the first entry whose user key is greater than `key`.
    pub fn upper_bound_key(&self, key: &[u8]) -> usize {
        self.partition(key_prefix(key), |e| e.current(self.body).key <= key)
    }

    /// The number of leading entries for which `before` holds, where it holds for every
    /// entry whose prefix is below `key_pre` and for none above. Prefixes settle every
    /// entry but those sharing `key_pre`; only those are parsed and given to `before`.
    #[inline]
    fn partition(&self, key_pre: u64, before: impl Fn(&EntryPos) -> bool) -> usize {
        let (lo, hi) = prefix_run(self.halves, key_pre);
        lo + self
            .starts
            .get(lo..hi)
            .unwrap_or_default()
            .partition_point(|&s| parse_entry(self.body, s as usize).is_ok_and(|(e, _)| before(&e)))
    }
}

/// A decoded, validated data block, as cached.
#[derive(Debug)]
pub struct Block {
    data: Vec<u8>,
    entries: Vec<EntryPos>,
}

/// Why a block could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BlockError {
    /// The stored checksum does not match the bytes.
    Checksum {
        /// Stored value.
        expected: u64,
        /// Computed value.
        actual: u64,
    },
    /// The bytes pass the checksum but do not parse.
    Malformed(String),
}

impl Block {
    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True for a block without entries.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Bytes of memory held (for cache accounting).
    pub fn charge(&self) -> usize {
        self.data.len() + self.entries.len() * std::mem::size_of::<EntryPos>() + 64
    }

    /// Key of entry `i`.
    #[inline]
    pub fn key(&self, i: usize) -> &[u8] {
        let e = &self.entries[i];
        let start = e.key_start as usize;
        &self.data[start..start + e.key_len as usize]
    }

    /// Sequence number of entry `i`.
    #[inline]
    pub fn seq(&self, i: usize) -> u64 {
        self.entries[i].seq
    }

    /// Entry `i` whole, or `None` past the end.
    #[cfg(any(test, feature = "testing"))]
    pub fn entry(&self, i: usize) -> Option<crate::storage::iter::Current<'_>> {
        Some(self.entries.get(i)?.current(&self.data))
    }

    /// Value of entry `i`, `None` for a tombstone.
    #[inline]
    pub fn value(&self, i: usize) -> Option<&[u8]> {
        let e = &self.entries[i];
        if !e.is_value {
            return None;
        }
        let start = e.key_start as usize + e.key_len as usize;
        Some(&self.data[start..start + e.value_len as usize])
    }

    /// Index of the first entry at or after `(key, seq)` in internal order.
    #[inline]
    pub fn lower_bound(&self, key: &[u8], seq: u64) -> usize {
        let key_pre = key_prefix(key);
        self.entries
            .partition_point(|e| e.before(&self.data, key, key_pre, seq))
    }

    /// Index of the first entry whose user key is greater than `key`.
    pub fn upper_bound_key(&self, key: &[u8]) -> usize {
        self.entries.partition_point(|e| {
            let start = e.key_start as usize;
            &self.data[start..start + e.key_len as usize] <= key
        })
    }

    /// Decodes an uncompressed payload, checking every bound.
    pub fn decode(mut data: Vec<u8>) -> Result<Block, BlockError> {
        let count = get_u32(&data, data.len().saturating_sub(4)).unwrap_or(0) as usize;
        let mut entries = Vec::with_capacity(count.min(data.len() / 4 + 1));
        walk_entries(&data, |_, pos| entries.push(pos))?;
        // Entry positions index the body; the count after it is no longer needed.
        data.truncate(data.len() - 4);
        Ok(Block { data, entries })
    }

    /// The payload bytes entries point into.
    #[inline]
    pub fn data(&self) -> &[u8] {
        &self.data
    }

    /// Where entry `i`'s parts are (a default, empty entry past the end).
    #[inline]
    pub(crate) fn pos(&self, i: usize) -> EntryPos {
        self.entries.get(i).copied().unwrap_or_default()
    }

    /// Checks that entries are in strictly increasing internal order (structure validation).
    pub fn check_order(&self) -> Result<(), String> {
        for i in 1..self.len() {
            let ord = crate::storage::iter::internal_cmp(
                self.key(i - 1),
                self.seq(i - 1),
                self.key(i),
                self.seq(i),
            );
            if ord != Ordering::Less {
                return Err(format!("entries {} and {} out of order", i - 1, i));
            }
        }
        Ok(())
    }
}

/// Accumulates entries into one uncompressed block payload.
#[derive(Default)]
pub struct BlockBuilder {
    buf: Vec<u8>,
    count: u32,
}

impl BlockBuilder {
    /// Appends an entry (callers add entries in internal order).
    pub fn add(&mut self, key: &[u8], seq: u64, value: Option<&[u8]>) {
        self.buf.push(u8::from(value.is_some()));
        put_varint(&mut self.buf, seq);
        put_varint(&mut self.buf, key.len() as u64);
        put_varint(&mut self.buf, value.map_or(0, |v| v.len() as u64));
        self.buf.extend_from_slice(key);
        if let Some(v) = value {
            self.buf.extend_from_slice(v);
        }
        self.count += 1;
    }

    /// Bytes so far.
    pub fn size(&self) -> usize {
        self.buf.len()
    }

    /// True when no entry was added.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The finished payload; the builder is empty again afterwards.
    pub fn finish(&mut self) -> Vec<u8> {
        let mut out = std::mem::take(&mut self.buf);
        out.extend_from_slice(&self.count.to_le_bytes());
        self.count = 0;
        out
    }
}

/// Frames a payload for disk at `offset`: optionally LZ4-compressed (kept only when it
/// saves at least an eighth), then the compression byte and checksum.
#[cfg(any(test, feature = "testing"))]
pub fn encode_for_disk(
    payload: &[u8],
    compress: bool,
    algorithm: ChecksumAlgorithm,
    offset: u64,
) -> Vec<u8> {
    encode_for_disk_reporting(payload, compress, algorithm, offset).0
}

/// [`encode_for_disk`], also telling whether the block was stored compressed.
pub(crate) fn encode_for_disk_reporting(
    payload: &[u8],
    compress: bool,
    algorithm: ChecksumAlgorithm,
    offset: u64,
) -> (Vec<u8>, bool) {
    let (mut out, compressed) = compressed_with_type(payload, compress);
    let sum = checksum64_parts(algorithm, &[&out, &offset.to_le_bytes()]);
    out.extend_from_slice(&sum.to_le_bytes());
    (out, compressed)
}

/// Frames a payload of an encrypted table for disk at `offset`: compressed as
/// [`encode_for_disk_reporting`] would, then sealed for `place` (whose offset is
/// `offset`), then the sealed compression byte and the checksum of the sealed bytes; and
/// whether the block was compressed before it was sealed.
pub(crate) fn encode_sealed_for_disk_reporting(
    payload: &[u8],
    compress: bool,
    algorithm: ChecksumAlgorithm,
    keys: &KeyRing,
    place: SealPlace,
) -> Result<(Vec<u8>, bool), DatabaseError> {
    let (inner, compressed) = compressed_with_type(payload, compress);
    let mut out = Vec::with_capacity(inner.len() + SEAL_OVERHEAD + BLOCK_TRAILER_LEN);
    keys.seal_into(place, &inner, &mut out)?;
    out.push(COMPRESSION_SEALED);
    let sum = checksum64_parts(algorithm, &[&out, &place.offset.to_le_bytes()]);
    out.extend_from_slice(&sum.to_le_bytes());
    Ok((out, compressed))
}

/// The payload, LZ4-compressed when that saves at least an eighth, followed by the
/// compression byte saying which; and whether it was compressed.
fn compressed_with_type(payload: &[u8], compress: bool) -> (Vec<u8>, bool) {
    if compress {
        let c = lz4_flex::compress_prepend_size(payload);
        if c.len() < payload.len() - payload.len() / 8 {
            let mut v = c;
            v.push(COMPRESSION_LZ4);
            return (v, true);
        }
    }
    let mut v = Vec::with_capacity(payload.len() + BLOCK_TRAILER_LEN);
    v.extend_from_slice(payload);
    v.push(COMPRESSION_NONE);
    (v, false)
}

/// How an on-disk block's payload is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// As built: readable in place.
    Plain,
    /// LZ4-compressed: must be decompressed before use.
    Lz4,
    /// Sealed (an encrypted table): must be opened with the database's keys, then
    /// decompressed if its inner compression byte says so.
    Sealed,
}

/// Verifies the checksum of an on-disk block read from `offset` and returns how its
/// payload is stored and the stored payload (without the trailer).
pub fn verify_frame(
    raw: &[u8],
    algorithm: ChecksumAlgorithm,
    offset: u64,
) -> Result<(Framing, &[u8]), BlockError> {
    if raw.len() < BLOCK_TRAILER_LEN {
        return Err(BlockError::Malformed(
            "block shorter than its trailer".into(),
        ));
    }
    let sum_pos = raw.len() - 8;
    let expected = u64::from_le_bytes(raw[sum_pos..].try_into().unwrap_or_default());
    let actual = checksum64_parts(algorithm, &[&raw[..sum_pos], &offset.to_le_bytes()]);
    if expected != actual {
        return Err(BlockError::Checksum { expected, actual });
    }
    let stored = &raw[..sum_pos - 1];
    match raw[sum_pos - 1] {
        COMPRESSION_NONE => Ok((Framing::Plain, stored)),
        COMPRESSION_LZ4 => Ok((Framing::Lz4, stored)),
        COMPRESSION_SEALED => Ok((Framing::Sealed, stored)),
        other => Err(BlockError::Malformed(format!(
            "unknown compression type {other}"
        ))),
    }
}

/// Decompresses an LZ4 payload, refusing size claims its input cannot back.
fn decompress(stored: &[u8]) -> Result<Vec<u8>, BlockError> {
    let claimed = get_u32(stored, 0).unwrap_or(u32::MAX) as usize;
    // LZ4 expands at most 255-fold (a match-length byte adds at most 255 bytes),
    // so a size claim beyond that is damage, refused before it sizes an allocation.
    let possible = stored
        .len()
        .saturating_sub(4)
        .saturating_mul(255)
        .saturating_add(16);
    if claimed > MAX_BLOCK_BYTES || claimed > possible {
        return Err(BlockError::Malformed("decompressed size too large".into()));
    }
    lz4_flex::decompress_size_prepended(stored)
        .map_err(|e| BlockError::Malformed(format!("LZ4: {e}")))
}

/// Verifies and unwraps an on-disk block read from `offset`, returning the uncompressed payload.
pub fn decode_from_disk(
    mut raw: Vec<u8>,
    algorithm: ChecksumAlgorithm,
    offset: u64,
) -> Result<Vec<u8>, BlockError> {
    let (framing, stored) = verify_frame(&raw, algorithm, offset)?;
    match framing {
        Framing::Plain => {
            let len = stored.len();
            raw.truncate(len);
            Ok(raw)
        }
        Framing::Lz4 => decompress(stored),
        Framing::Sealed => Err(needs_key()),
    }
}

fn needs_key() -> BlockError {
    BlockError::Malformed("the block is encrypted and no key was given to open it".into())
}

/// Verifies, opens and unwraps an on-disk block of an encrypted table read from `path`
/// at `place`: a checksum failure is corruption (as for a plain block); a block that
/// fails authentication is `SecurityError::DecryptionFailed`, naming file and offset.
pub fn decode_sealed(
    raw: &[u8],
    algorithm: ChecksumAlgorithm,
    keys: &KeyRing,
    path: &Path,
    place: SealPlace,
) -> Result<Vec<u8>, SealedBlockError> {
    let (framing, stored) =
        verify_frame(raw, algorithm, place.offset).map_err(SealedBlockError::Block)?;
    if framing != Framing::Sealed {
        // Its checksum holds (it is not keyed), so this is not damage: only someone
        // without the key writes a plain block into a sealed table.
        return Err(SealedBlockError::Security(DatabaseError::SecurityError(
            crate::error::SecurityError::DecryptionFailed {
                reason: format!(
                    "{} at offset {}: a block of an encrypted table is stored unencrypted",
                    path.display(),
                    place.offset
                ),
            },
        )));
    }
    let mut inner = keys
        .open(path, place, stored)
        .map_err(SealedBlockError::Security)?;
    match inner.pop() {
        Some(COMPRESSION_NONE) => Ok(inner),
        Some(COMPRESSION_LZ4) => decompress(&inner).map_err(SealedBlockError::Block),
        other => Err(SealedBlockError::Block(BlockError::Malformed(format!(
            "unknown inner compression type {other:?}"
        )))),
    }
}

/// Why a block of an encrypted table could not be read.
#[derive(Debug)]
pub enum SealedBlockError {
    /// The frame is damaged or malformed (found without the key).
    Block(BlockError),
    /// The block failed authentication, or sealing failed.
    Security(DatabaseError),
}

/// Verifies and unwraps an on-disk block borrowed from a mapped file.
pub fn decode_from_slice(
    raw: &[u8],
    algorithm: ChecksumAlgorithm,
    offset: u64,
) -> Result<Vec<u8>, BlockError> {
    let (framing, stored) = verify_frame(raw, algorithm, offset)?;
    match framing {
        Framing::Plain => Ok(stored.to_vec()),
        Framing::Lz4 => decompress(stored),
        Framing::Sealed => Err(needs_key()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<u8> {
        let mut b = BlockBuilder::default();
        b.add(b"apple", 9, Some(b"red"));
        b.add(b"apple", 3, None);
        b.add(b"banana", 5, Some(b""));
        b.add(b"cherry", 1, Some(&[0xff; 40]));
        b.finish()
    }

    #[test]
    fn checked_entries_decode_as_the_full_parser_does() {
        // Sequence numbers and lengths of every varint width, tombstones included.
        let mut b = BlockBuilder::default();
        let long = vec![7u8; 20_000];
        let mut keys: Vec<Vec<u8>> = (0..40u32).map(|i| i.to_be_bytes().repeat(3)).collect();
        keys.sort();
        for (i, k) in keys.iter().enumerate() {
            let seq = 1u64 << (i % 57);
            let value = (i % 3 != 0).then(|| &long[..(i * 997) % long.len()]);
            b.add(k, seq, value);
        }
        let payload = b.finish();
        let layout = BlockLayout::build(&payload).expect("valid");
        let body = &payload[..payload.len() - 4];
        for (i, &start) in layout.starts().iter().enumerate() {
            let (full, _) = parse_entry(body, start as usize).expect("valid entry");
            let fast = layout.pos(body, i);
            assert_eq!(fast.current(body).key, full.current(body).key);
            assert_eq!(fast.current(body).value, full.current(body).value);
            assert_eq!((fast.seq(), fast.prefix()), (full.seq(), full.prefix()));
        }
        // Past the end and on a cut payload: an empty entry, never a panic.
        assert_eq!(layout.pos(body, keys.len()).current(body).key, b"");
        for cut in [0, 1, 5, body.len() / 2] {
            let _ = layout
                .pos(&body[..cut], keys.len() - 1)
                .current(&body[..cut]);
        }
    }

    #[test]
    fn encode_decode_round_trip_with_and_without_compression() {
        for compress in [false, true] {
            for algo in [
                ChecksumAlgorithm::Xxh64,
                ChecksumAlgorithm::Crc32,
                ChecksumAlgorithm::Blake3,
            ] {
                let disk = encode_for_disk(&sample(), compress, algo, 4096);
                let payload = decode_from_disk(disk.clone(), algo, 4096).expect("decode");
                let block = Block::decode(payload).expect("parse");
                assert_eq!(block.len(), 4);
                assert_eq!(block.key(0), b"apple");
                assert_eq!(block.value(1), None);
                assert_eq!(block.value(2), Some(&b""[..]));
                assert_eq!(block.value(3), Some(&[0xff; 40][..]));
                block.check_order().expect("ordered");
                // The same bytes at another offset must not verify.
                assert!(matches!(
                    decode_from_disk(disk, algo, 0),
                    Err(BlockError::Checksum { .. })
                ));
            }
        }
    }

    /// A block whose keys tie on their 8-byte prefixes, are shorter than 8 bytes, and
    /// prefix each other, with several versions of one key.
    fn tricky() -> Vec<u8> {
        let mut b = BlockBuilder::default();
        b.add(b"", 4, Some(b"empty"));
        b.add(b"a", 9, Some(b"1"));
        b.add(b"a\0", 8, None);
        b.add(b"abcdefgh", 7, Some(b"2"));
        b.add(b"abcdefgh", 5, Some(b"old"));
        b.add(b"abcdefgh\0", 6, Some(b"3"));
        b.add(b"abcdefghij", 3, Some(&[7; 90]));
        b.add(b"abcdefgz", 2, None);
        b.add(&[0xff; 12], 1, Some(b"last"));
        b.finish()
    }

    /// A block of one entry, as every block of a table of large values is.
    fn single(key: &[u8], value: Option<&[u8]>) -> Vec<u8> {
        let mut b = BlockBuilder::default();
        b.add(key, 6, value);
        b.finish()
    }

    #[test]
    fn mapped_layout_answers_as_the_decoded_block_does() {
        for payload in [
            sample(),
            tricky(),
            single(b"abcdefgh", Some(&[9; 5000])),
            single(b"abcdefghij", None),
            single(b"", Some(b"v")),
        ] {
            let block = Block::decode(payload.clone()).expect("decode");
            let layout = BlockLayout::build(&payload).expect("layout");
            let mapped = MappedBlock::new(&payload, &layout);
            assert_eq!(mapped.len(), block.len());
            for i in 0..block.len() {
                let a = block.entry(i).expect("in range");
                let b = mapped.pos(i).current(mapped.data());
                assert_eq!(
                    (a.key, a.seq, a.value, a.prefix),
                    (b.key, b.seq, b.value, b.prefix)
                );
                assert_eq!(
                    layout.pos(mapped.data(), i).current(mapped.data()).key,
                    a.key
                );
            }
            assert!(block.entry(block.len()).is_none());
            assert_eq!(mapped.pos(block.len()).current(mapped.data()).key, b"");
            let probes: Vec<&[u8]> = vec![
                b"",
                b"\0",
                b"a",
                b"a\0",
                b"a\0\0",
                b"abcdefg",
                b"abcdefgh",
                b"abcdefgh\0",
                b"abcdefghi",
                b"abcdefghij",
                b"abcdefgz",
                b"apple",
                b"banana",
                b"c",
                &[0xff; 12],
                &[0xff; 13],
            ];
            for key in probes {
                for seq in [0, 1, 3, 5, 6, 7, 8, 9, u64::MAX] {
                    assert_eq!(
                        mapped.lower_bound(key, seq),
                        block.lower_bound(key, seq),
                        "{key:?}@{seq}"
                    );
                }
                assert_eq!(
                    mapped.upper_bound_key(key),
                    block.upper_bound_key(key),
                    "{key:?}"
                );
            }
        }
    }

    #[test]
    fn prefix_runs_are_counted_exactly() {
        let prefixes = [1u64, 5, 5, 5, 9, u64::MAX];
        let halves: Vec<u32> = prefixes
            .iter()
            .flat_map(|p| [(p >> 32) as u32, *p as u32])
            .collect();
        assert_eq!(prefix_run(&halves, 0), (0, 0));
        assert_eq!(prefix_run(&halves, 1), (0, 1));
        assert_eq!(prefix_run(&halves, 5), (1, 4));
        assert_eq!(prefix_run(&halves, 6), (4, 4));
        assert_eq!(prefix_run(&halves, u64::MAX), (5, 6));
        assert_eq!(prefix_run(&[], 3), (0, 0));
    }

    #[test]
    fn malformed_payloads_get_no_layout() {
        for len in 0..sample().len() {
            let _ = BlockLayout::build(&sample()[..len]);
        }
        assert!(BlockLayout::build(&[7, 0, 0, 0, 1, 0, 0, 0]).is_err());
        let mut trailing = sample();
        let count_at = trailing.len() - 4;
        trailing.insert(count_at, 0);
        assert!(BlockLayout::build(&trailing).is_err());
    }

    #[test]
    fn searches_follow_internal_order() {
        let block = Block::decode(sample()).expect("parse");
        assert_eq!(block.lower_bound(b"apple", u64::MAX), 0);
        assert_eq!(block.lower_bound(b"apple", 5), 1);
        assert_eq!(block.lower_bound(b"apple", 2), 2);
        assert_eq!(block.lower_bound(b"b", 0), 2);
        assert_eq!(block.lower_bound(b"z", 0), 4);
        assert_eq!(block.upper_bound_key(b"apple"), 2);
        assert_eq!(block.upper_bound_key(b"a"), 0);
    }

    #[test]
    fn every_single_bit_flip_is_caught() {
        let disk = encode_for_disk(&sample(), true, ChecksumAlgorithm::Xxh64, 0);
        for byte in 0..disk.len() {
            for bit in 0..8 {
                let mut d = disk.clone();
                d[byte] ^= 1 << bit;
                assert!(decode_from_disk(d, ChecksumAlgorithm::Xxh64, 0).is_err());
            }
        }
    }

    #[test]
    fn malformed_payloads_are_errors_not_panics() {
        for len in 0..sample().len() {
            let _ = Block::decode(sample()[..len].to_vec());
        }
        assert!(Block::decode(vec![0xff, 0xff, 0xff, 0xff]).is_err());
        assert!(Block::decode(vec![7, 0, 0, 0, 1, 0, 0, 0]).is_err());
    }

    #[test]
    fn lz4_size_claims_are_bounded_by_the_input() {
        let algo = ChecksumAlgorithm::Xxh64;
        // The most compressible payload still round-trips under the bound.
        let zeros = vec![0u8; 1 << 20];
        let disk = encode_for_disk(&zeros, true, algo, 0);
        assert_eq!(disk[disk.len() - BLOCK_TRAILER_LEN], COMPRESSION_LZ4);
        assert_eq!(decode_from_disk(disk, algo, 0).expect("round trip"), zeros);
        // A 5-byte block claiming 2 GiB (found by the `block` fuzz target) is refused
        // before anything is allocated.
        let mut raw = vec![0, 0, 0, 0x80, COMPRESSION_LZ4];
        let sum = checksum64_parts(algo, &[&raw, &0u64.to_le_bytes()]);
        raw.extend_from_slice(&sum.to_le_bytes());
        assert!(matches!(
            decode_from_disk(raw, algo, 0),
            Err(BlockError::Malformed(_))
        ));
    }
}
