//! The table file's format, written down once: the footer, the index block's entries and
//! the properties block, each with its encoder and decoder side by side. The builder,
//! the reader, the verifier and repair all go through these, so they cannot disagree.
//!
//! A table file is data blocks, then the bloom filter block, the index block and the
//! properties block (each framed like a data block: see `block.rs`), then a fixed
//! 64-byte footer:
//!
//! ```text
//! footer (little-endian):
//!  0       8      12      20      24      32      36     40  41       48        56      64
//!  +-------+------+-------+-------+-------+-------+------+---+--------+---------+-------+
//!  | index | idx  | filter| filt  | props | props | fmt  |alg|instance| checksum| magic |
//!  | off   | len  | off   | len   | off   | len   | ver  |id | (7)    | of 0..48|       |
//!  +-------+------+-------+-------+-------+-------+------+---+--------+---------+-------+
//!    u64     u32    u64     u32     u64     u32    u32    u8            u64       u64
//!
//! index block:  varint count, then per data block in key order:
//!               len-prefixed last key | varint last seq | varint offset | varint length
//!               (blocks follow each other with no gap, from offset 0)
//!
//! properties:   varint entries | varint tombstones | varint min seq | varint max seq |
//!               varint raw key bytes | varint raw value bytes |
//!               len-prefixed smallest key | len-prefixed largest key
//! ```
//!
//! `instance` is zero in format 1; in format 2 (encrypted) it is a random 56-bit id of
//! this file, bound into every block's associated data, so a block of an older file
//! that had the same number cannot stand in for one of this file.
//!
//! Lengths include each block's trailer. The footer's checksum uses the algorithm whose
//! id it records, so a file opens whatever the configuration says today.

use std::fmt;

use super::block::BLOCK_TRAILER_LEN;
use crate::checksum::{checksum64, ChecksumAlgorithm};
use crate::storage::coding::{get_u32, get_u64, put_len_prefixed, put_varint, Reader};

/// Magic number ending every table file.
pub const TABLE_MAGIC: u64 = 0x4c44_425f_5353_5401; // "LDB_SST\x01"
/// The table format version of plain (unencrypted) tables.
pub const TABLE_FORMAT_VERSION: u32 = 1;
/// The table format version of encrypted tables: every block (data, filter, index,
/// properties) sealed, the footer plain (it holds only offsets, lengths and versions).
pub const SEALED_TABLE_FORMAT_VERSION: u32 = 2;
/// The newest table format version this build reads.
pub const NEWEST_TABLE_FORMAT_VERSION: u32 = SEALED_TABLE_FORMAT_VERSION;
/// Size of the footer.
pub const FOOTER_LEN: usize = 64;

/// Where a block lies in the file: offset and on-disk length (trailer included).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockHandle {
    /// Offset of the block in the file.
    pub offset: u64,
    /// On-disk length, trailer included.
    pub len: u64,
}

impl BlockHandle {
    /// The handle as the `(offset, length)` pair most callers use.
    pub fn pair(self) -> (u64, u64) {
        (self.offset, self.len)
    }
}

/// The decoded footer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Footer {
    /// The index block.
    pub index: BlockHandle,
    /// The bloom filter block.
    pub filter: BlockHandle,
    /// The properties block.
    pub props: BlockHandle,
    /// The format version the file was written in.
    pub format_version: u32,
    /// The checksum algorithm of every block and of the footer.
    pub checksum: ChecksumAlgorithm,
    /// The file's random instance id (56 bits; zero in format 1).
    pub instance: u64,
}

/// Mask of the 56 bits of [`Footer::instance`] the footer stores.
pub const INSTANCE_MASK: u64 = (1 << 56) - 1;

/// What is wrong with a footer, and where: `at` is the byte within the footer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FooterError {
    /// Byte offset of the problem within the footer.
    pub at: u64,
    /// The problem.
    pub problem: FooterProblem,
}

/// The ways a footer can be wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FooterProblem {
    /// The last eight bytes are not [`TABLE_MAGIC`].
    BadMagic,
    /// The checksum algorithm id is not one this build knows.
    UnknownChecksum(u8),
    /// The footer's own checksum does not match.
    ChecksumMismatch {
        /// The checksum stored in the footer.
        stored: u64,
        /// The checksum of the footer's bytes.
        computed: u64,
    },
    /// A format version this build cannot read (zero, or newer than it knows).
    UnsupportedVersion(u32),
}

impl fmt::Display for FooterProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BadMagic => write!(f, "bad magic number"),
            Self::UnknownChecksum(id) => write!(f, "unknown checksum algorithm {id}"),
            Self::ChecksumMismatch { stored, computed } => write!(
                f,
                "footer checksum mismatch (stored {stored:#018x}, computed {computed:#018x})"
            ),
            Self::UnsupportedVersion(v) => write!(f, "unsupported format version {v}"),
        }
    }
}

impl Footer {
    /// The footer's 64 bytes.
    pub fn encode(&self) -> [u8; FOOTER_LEN] {
        let mut out = [0u8; FOOTER_LEN];
        let put = |out: &mut [u8; FOOTER_LEN], at: usize, bytes: &[u8]| {
            out[at..at + bytes.len()].copy_from_slice(bytes);
        };
        // Block lengths are stored in 32 bits: index, filter and properties blocks stay
        // far below 4 GiB (a block per 4 KiB of data gives an index of a few bytes each).
        put(&mut out, 0, &self.index.offset.to_le_bytes());
        put(&mut out, 8, &(self.index.len as u32).to_le_bytes());
        put(&mut out, 12, &self.filter.offset.to_le_bytes());
        put(&mut out, 20, &(self.filter.len as u32).to_le_bytes());
        put(&mut out, 24, &self.props.offset.to_le_bytes());
        put(&mut out, 32, &(self.props.len as u32).to_le_bytes());
        put(&mut out, 36, &self.format_version.to_le_bytes());
        out[40] = self.checksum.id();
        put(
            &mut out,
            41,
            &(self.instance & INSTANCE_MASK).to_le_bytes()[..7],
        );
        let sum = checksum64(self.checksum, &out[..48]);
        put(&mut out, 48, &sum.to_le_bytes());
        put(&mut out, 56, &TABLE_MAGIC.to_le_bytes());
        out
    }

    /// Decodes and verifies a footer: magic, checksum algorithm, checksum, then version.
    pub fn decode(bytes: &[u8; FOOTER_LEN]) -> Result<Footer, FooterError> {
        let fail = |at: u64, problem: FooterProblem| Err(FooterError { at, problem });
        if get_u64(bytes, 56) != Some(TABLE_MAGIC) {
            return fail(56, FooterProblem::BadMagic);
        }
        let algo_id = bytes[40];
        let Some(checksum) = ChecksumAlgorithm::from_id(algo_id) else {
            return fail(40, FooterProblem::UnknownChecksum(algo_id));
        };
        let stored = get_u64(bytes, 48).unwrap_or(0);
        let computed = checksum64(checksum, &bytes[..48]);
        if stored != computed {
            return fail(0, FooterProblem::ChecksumMismatch { stored, computed });
        }
        let format_version = get_u32(bytes, 36).unwrap_or(0);
        if format_version == 0 || format_version > NEWEST_TABLE_FORMAT_VERSION {
            return fail(36, FooterProblem::UnsupportedVersion(format_version));
        }
        let handle = |o: usize, l: usize| BlockHandle {
            offset: get_u64(bytes, o).unwrap_or(u64::MAX),
            len: u64::from(get_u32(bytes, l).unwrap_or(0)),
        };
        Ok(Footer {
            index: handle(0, 8),
            filter: handle(12, 20),
            props: handle(24, 32),
            format_version,
            checksum,
            instance: get_u64(bytes, 40).unwrap_or(0) >> 8,
        })
    }
}

/// One entry of a table's index block: where a data block lies and its last version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexEntry {
    /// Last user key in the block.
    pub last_key: Vec<u8>,
    /// Sequence number of the last version in the block.
    pub last_seq: u64,
    /// Offset of the block in the file.
    pub offset: u64,
    /// On-disk length, trailer included.
    pub len: u64,
}

/// Appends one index entry (the block count goes in front: see [`encode_index`]).
pub fn encode_index_entry(
    out: &mut Vec<u8>,
    last_key: &[u8],
    last_seq: u64,
    offset: u64,
    len: u64,
) {
    put_len_prefixed(out, last_key);
    put_varint(out, last_seq);
    put_varint(out, offset);
    put_varint(out, len);
}

/// The index block's payload: the entry count, then the entries `encode_index_entry`
/// wrote.
pub fn encode_index(count: u64, entries: &[u8]) -> Vec<u8> {
    let mut index = Vec::with_capacity(entries.len() + 10);
    put_varint(&mut index, count);
    index.extend_from_slice(entries);
    index
}

/// Decodes an index block whose data blocks end at `data_end`; `Err` says what is
/// wrong. Blocks must follow each other with no gap from offset 0, each at least a
/// trailer and a count long.
pub fn decode_index(data: &[u8], data_end: u64) -> Result<Vec<IndexEntry>, String> {
    let mut r = Reader::new(data);
    let count = r
        .varint()
        .and_then(|c| usize::try_from(c).ok())
        .ok_or("truncated entry count")?;
    if count > data.len() {
        return Err(format!("entry count {count} larger than the block"));
    }
    let mut out = Vec::with_capacity(count);
    let mut prev_end = 0u64;
    for i in 0..count {
        let trunc = || format!("entry {i} truncated");
        let last_key = r.len_prefixed().ok_or_else(trunc)?.to_vec();
        let last_seq = r.varint().ok_or_else(trunc)?;
        let offset = r.varint().ok_or_else(trunc)?;
        let len = r.varint().ok_or_else(trunc)?;
        let end = offset
            .checked_add(len)
            .ok_or_else(|| format!("entry {i} length overflows"))?;
        if offset != prev_end {
            return Err(format!(
                "entry {i} starts at {offset}, not where the previous block ended ({prev_end})"
            ));
        }
        if end > data_end || len < (BLOCK_TRAILER_LEN + 4) as u64 {
            return Err(format!("entry {i} ({offset}+{len}) is out of bounds"));
        }
        prev_end = end;
        out.push(IndexEntry {
            last_key,
            last_seq,
            offset,
            len,
        });
    }
    if r.remaining() != 0 {
        return Err("bytes after the last entry".into());
    }
    Ok(out)
}

/// Table properties as stored in the file (and checked against the manifest).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableProperties {
    /// Number of versions.
    pub entries: u64,
    /// Number of tombstones.
    pub tombstones: u64,
    /// Smallest sequence number.
    pub min_seq: u64,
    /// Largest sequence number.
    pub max_seq: u64,
    /// Total key bytes before encoding.
    pub raw_key_bytes: u64,
    /// Total value bytes before encoding.
    pub raw_value_bytes: u64,
    /// Smallest user key.
    pub smallest: Vec<u8>,
    /// Largest user key.
    pub largest: Vec<u8>,
}

impl TableProperties {
    /// The properties block's payload.
    pub fn encode(&self) -> Vec<u8> {
        let mut p = Vec::new();
        put_varint(&mut p, self.entries);
        put_varint(&mut p, self.tombstones);
        put_varint(&mut p, self.min_seq);
        put_varint(&mut p, self.max_seq);
        put_varint(&mut p, self.raw_key_bytes);
        put_varint(&mut p, self.raw_value_bytes);
        put_len_prefixed(&mut p, &self.smallest);
        put_len_prefixed(&mut p, &self.largest);
        p
    }

    /// Parses a properties block; `None` when it is malformed.
    pub fn decode(data: &[u8]) -> Option<TableProperties> {
        let mut r = Reader::new(data);
        let props = TableProperties {
            entries: r.varint()?,
            tombstones: r.varint()?,
            min_seq: r.varint()?,
            max_seq: r.varint()?,
            raw_key_bytes: r.varint()?,
            raw_value_bytes: r.varint()?,
            smallest: r.len_prefixed()?.to_vec(),
            largest: r.len_prefixed()?.to_vec(),
        };
        (r.remaining() == 0).then_some(props)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn footer(checksum: ChecksumAlgorithm) -> Footer {
        Footer {
            index: BlockHandle {
                offset: 4096,
                len: 77,
            },
            filter: BlockHandle {
                offset: 4000,
                len: 96,
            },
            props: BlockHandle {
                offset: 4173,
                len: 40,
            },
            format_version: TABLE_FORMAT_VERSION,
            checksum,
            instance: 0x00ab_cdef_0123_4567,
        }
    }

    #[test]
    fn footer_round_trips_for_every_algorithm() {
        for algo in [
            ChecksumAlgorithm::Xxh64,
            ChecksumAlgorithm::Crc32,
            ChecksumAlgorithm::Blake3,
        ] {
            let f = footer(algo);
            assert_eq!(Footer::decode(&f.encode()), Ok(f));
        }
    }

    #[test]
    fn footer_damage_is_named_with_its_place() {
        let good = footer(ChecksumAlgorithm::Xxh64).encode();
        let mut bad = good;
        bad[63] ^= 1;
        assert_eq!(
            Footer::decode(&bad).unwrap_err().problem,
            FooterProblem::BadMagic
        );
        let mut bad = good;
        bad[40] = 9;
        assert_eq!(
            Footer::decode(&bad).unwrap_err(),
            FooterError {
                at: 40,
                problem: FooterProblem::UnknownChecksum(9)
            }
        );
        let mut bad = good;
        bad[3] ^= 0x10;
        assert!(matches!(
            Footer::decode(&bad).unwrap_err().problem,
            FooterProblem::ChecksumMismatch { .. }
        ));
        // A newer version with a valid checksum: refused as a version, not as damage.
        let newer = Footer {
            format_version: NEWEST_TABLE_FORMAT_VERSION + 1,
            ..footer(ChecksumAlgorithm::Crc32)
        };
        assert_eq!(
            Footer::decode(&newer.encode()).unwrap_err(),
            FooterError {
                at: 36,
                problem: FooterProblem::UnsupportedVersion(NEWEST_TABLE_FORMAT_VERSION + 1)
            }
        );
    }

    #[test]
    fn index_round_trips_and_refuses_gaps() {
        let mut entries = Vec::new();
        encode_index_entry(&mut entries, b"apple", 7, 0, 100);
        encode_index_entry(&mut entries, b"pear", 3, 100, 50);
        let block = encode_index(2, &entries);
        let decoded = decode_index(&block, 150).expect("decodes");
        assert_eq!(decoded.len(), 2);
        assert_eq!(decoded[1].last_key, b"pear");
        assert_eq!((decoded[1].offset, decoded[1].len), (100, 50));
        assert!(decode_index(&block, 149).is_err(), "past the data's end");
        let mut gap = Vec::new();
        encode_index_entry(&mut gap, b"a", 1, 0, 100);
        encode_index_entry(&mut gap, b"b", 1, 101, 50);
        assert!(decode_index(&encode_index(2, &gap), 1000)
            .unwrap_err()
            .contains("not where the previous block ended"));
        assert!(decode_index(&block[..block.len() - 1], 150).is_err());
    }

    #[test]
    fn properties_round_trip() {
        let p = TableProperties {
            entries: 10,
            tombstones: 2,
            min_seq: 5,
            max_seq: 99,
            raw_key_bytes: 100,
            raw_value_bytes: 1000,
            smallest: b"a".to_vec(),
            largest: b"z".to_vec(),
        };
        assert_eq!(TableProperties::decode(&p.encode()), Some(p.clone()));
        let mut long = p.encode();
        long.push(0);
        assert_eq!(TableProperties::decode(&long), None, "trailing bytes");
    }
}
