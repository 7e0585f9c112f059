//! Data blocks: the unit of compression, checksumming and caching.
//!
//! Uncompressed layout: entries back to back, then the entry count (u32 LE).
//! Entry: kind (u8: 0 tombstone, 1 value), sequence (varint), key length (varint),
//! value length (varint), key bytes, value bytes.
//!
//! On disk a block is followed by a 9-byte trailer: compression (u8: 0 none, 1 LZ4)
//! and a checksum (u64 LE) of payload, compression byte and the block's file offset,
//! so a block copied to the wrong place fails its check too.

use std::cmp::Ordering;

use crate::config::ChecksumAlgorithm;
use crate::integrity::checksum::checksum64_parts;
use crate::storage::coding::{get_u32, key_prefix, put_varint, Reader};

/// Bytes after every on-disk block: compression type and checksum.
pub const BLOCK_TRAILER_LEN: usize = 9;
const COMPRESSION_NONE: u8 = 0;
const COMPRESSION_LZ4: u8 = 1;
/// Upper bound on a block's decompressed size, so a corrupt length can't ask for unbounded memory.
pub const MAX_BLOCK_BYTES: usize = 1 << 31;

/// Where one entry's parts sit inside a decoded block.
#[derive(Debug, Clone, Copy)]
struct EntryPos {
    key_start: u32,
    key_len: u32,
    value_len: u32,
    is_value: bool,
    seq: u64,
    prefix: u64,
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
    #[inline]
    pub fn entry(&self, i: usize) -> Option<crate::storage::iter::Current<'_>> {
        let e = self.entries.get(i)?;
        let start = e.key_start as usize;
        let key_end = start + e.key_len as usize;
        let key = self.data.get(start..key_end)?;
        let value = if e.is_value {
            Some(self.data.get(key_end..key_end + e.value_len as usize)?)
        } else {
            None
        };
        Some(crate::storage::iter::Current {
            key,
            seq: e.seq,
            value,
            prefix: e.prefix,
        })
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
        self.entries.partition_point(|e| {
            let start = e.key_start as usize;
            let k = &self.data[start..start + e.key_len as usize];
            match e.prefix.cmp(&key_pre).then_with(|| k.cmp(key)) {
                Ordering::Less => true,
                Ordering::Equal => e.seq > seq,
                Ordering::Greater => false,
            }
        })
    }

    /// Index of the first entry whose user key is greater than `key`.
    pub fn upper_bound_key(&self, key: &[u8]) -> usize {
        self.entries.partition_point(|e| {
            let start = e.key_start as usize;
            &self.data[start..start + e.key_len as usize] <= key
        })
    }

    /// Decodes an uncompressed payload, checking every bound.
    pub fn decode(data: Vec<u8>) -> Result<Block, BlockError> {
        let bad = |m: &str| BlockError::Malformed(m.to_string());
        if data.len() < 4 {
            return Err(bad("block shorter than its entry count"));
        }
        let body_len = data.len() - 4;
        let count = get_u32(&data, body_len).ok_or_else(|| bad("no entry count"))? as usize;
        // Each entry takes at least 4 bytes, which bounds the allocation below.
        if count > body_len / 4 + 1 {
            return Err(bad("entry count larger than the block"));
        }
        let mut entries = Vec::with_capacity(count);
        let mut r = Reader::new(&data[..body_len]);
        for _ in 0..count {
            let kind = r.u8().ok_or_else(|| bad("truncated entry"))?;
            if kind > 1 {
                return Err(bad("unknown entry kind"));
            }
            let seq = r.varint().ok_or_else(|| bad("truncated sequence"))?;
            let key_len = r.varint().ok_or_else(|| bad("truncated key length"))?;
            let value_len = r.varint().ok_or_else(|| bad("truncated value length"))?;
            let key_start = body_len - r.remaining();
            let total = key_len
                .checked_add(value_len)
                .and_then(|t| usize::try_from(t).ok())
                .ok_or_else(|| bad("entry length overflows"))?;
            r.bytes(total)
                .ok_or_else(|| bad("entry runs past the block"))?;
            if kind == 0 && value_len != 0 {
                return Err(bad("tombstone with a value"));
            }
            let key_bytes = data
                .get(key_start..key_start + key_len as usize)
                .unwrap_or_default();
            entries.push(EntryPos {
                prefix: key_prefix(key_bytes),
                key_start: key_start as u32,
                key_len: key_len as u32,
                value_len: value_len as u32,
                is_value: kind == 1,
                seq,
            });
        }
        if r.remaining() != 0 {
            return Err(bad("bytes after the last entry"));
        }
        Ok(Block { data, entries })
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
pub fn encode_for_disk(
    payload: &[u8],
    compress: bool,
    algorithm: ChecksumAlgorithm,
    offset: u64,
) -> Vec<u8> {
    let mut out = if compress {
        let c = lz4_flex::compress_prepend_size(payload);
        if c.len() < payload.len() - payload.len() / 8 {
            let mut v = c;
            v.push(COMPRESSION_LZ4);
            v
        } else {
            let mut v = payload.to_vec();
            v.push(COMPRESSION_NONE);
            v
        }
    } else {
        let mut v = Vec::with_capacity(payload.len() + BLOCK_TRAILER_LEN);
        v.extend_from_slice(payload);
        v.push(COMPRESSION_NONE);
        v
    };
    let sum = checksum64_parts(algorithm, &[&out, &offset.to_le_bytes()]);
    out.extend_from_slice(&sum.to_le_bytes());
    out
}

/// Verifies and unwraps an on-disk block read from `offset`, returning the uncompressed payload.
pub fn decode_from_disk(
    mut raw: Vec<u8>,
    algorithm: ChecksumAlgorithm,
    offset: u64,
) -> Result<Vec<u8>, BlockError> {
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
    let compression = raw[sum_pos - 1];
    raw.truncate(sum_pos - 1);
    match compression {
        COMPRESSION_NONE => Ok(raw),
        COMPRESSION_LZ4 => {
            let claimed = get_u32(&raw, 0).unwrap_or(u32::MAX) as usize;
            // LZ4 expands at most 255-fold (a match-length byte adds at most 255 bytes),
            // so a size claim beyond that is damage, refused before it sizes an allocation.
            let possible = raw
                .len()
                .saturating_sub(4)
                .saturating_mul(255)
                .saturating_add(16);
            if claimed > MAX_BLOCK_BYTES || claimed > possible {
                return Err(BlockError::Malformed("decompressed size too large".into()));
            }
            lz4_flex::decompress_size_prepended(&raw)
                .map_err(|e| BlockError::Malformed(format!("LZ4: {e}")))
        }
        other => Err(BlockError::Malformed(format!(
            "unknown compression type {other}"
        ))),
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
