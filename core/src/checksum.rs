//! The three checksum algorithms a database may use, selected per file by its stored id:
//! the enum with its on-disk ids, and the functions every file format checksums with.
//! A leaf: it imports nothing from the rest of the crate.

use serde::{Deserialize, Serialize};

/// Checksum algorithm protecting log records, blocks and manifest records.
///
/// The id is stored on disk, so files written with any algorithm stay readable whatever the
/// configuration says later.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub enum ChecksumAlgorithm {
    /// BLAKE3, truncated to 64 bits on disk: the strongest mixing of the three, so the
    /// least likely to miss random damage. It is unkeyed, so it does not detect deliberate
    /// tampering: whoever can rewrite a block can rewrite its checksum too (tamper
    /// evidence needs a key, which encryption at rest will bring). Slowest of the three.
    Blake3,
    /// XXH64: fast and non-cryptographic; detects accidental damage (bit flips, torn and
    /// misdirected writes) with a 2^-64 miss rate for random damage.
    #[default]
    Xxh64,
    /// CRC-32: for compatibility with tools that expect it; 32 bits, so the weakest
    /// against random damage (a 2^-32 miss rate), though it catches every burst of up to
    /// 32 flipped bits.
    Crc32,
}

impl ChecksumAlgorithm {
    /// The stable on-disk id: Blake3 = 1, Xxh64 = 2, Crc32 = 3.
    pub fn id(self) -> u8 {
        match self {
            Self::Blake3 => 1,
            Self::Xxh64 => 2,
            Self::Crc32 => 3,
        }
    }

    /// The algorithm with the given on-disk id, or `None` for an unknown id (a corrupted
    /// header or a newer format).
    pub fn from_id(id: u8) -> Option<Self> {
        match id {
            1 => Some(Self::Blake3),
            2 => Some(Self::Xxh64),
            3 => Some(Self::Crc32),
            _ => None,
        }
    }
}

/// Checksums `data` with `algorithm`, widened or truncated to the 64 bits stored on disk.
///
/// Blake3 is truncated to its first 8 bytes on disk: ample to detect corruption
/// (a 2^-64 miss rate), while the full digest is available through the validator API.
#[inline]
pub fn checksum64(algorithm: ChecksumAlgorithm, data: &[u8]) -> u64 {
    match algorithm {
        ChecksumAlgorithm::Xxh64 => xxhash_rust::xxh64::xxh64(data, 0x4c44_4221),
        ChecksumAlgorithm::Crc32 => u64::from(crc32fast::hash(data)),
        ChecksumAlgorithm::Blake3 => {
            let digest = blake3::hash(data);
            let mut first = [0u8; 8];
            first.copy_from_slice(&digest.as_bytes()[..8]);
            u64::from_le_bytes(first)
        }
    }
}

/// Checksums several slices as if they were one contiguous buffer.
pub fn checksum64_parts(algorithm: ChecksumAlgorithm, parts: &[&[u8]]) -> u64 {
    match algorithm {
        ChecksumAlgorithm::Xxh64 => {
            let mut h = xxhash_rust::xxh64::Xxh64::new(0x4c44_4221);
            for p in parts {
                h.update(p);
            }
            h.digest()
        }
        ChecksumAlgorithm::Crc32 => {
            let mut h = crc32fast::Hasher::new();
            for p in parts {
                h.update(p);
            }
            u64::from(h.finalize())
        }
        ChecksumAlgorithm::Blake3 => {
            let mut h = blake3::Hasher::new();
            for p in parts {
                h.update(p);
            }
            let mut first = [0u8; 8];
            first.copy_from_slice(&h.finalize().as_bytes()[..8]);
            u64::from_le_bytes(first)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_equal_whole_for_every_algorithm() {
        for algo in [
            ChecksumAlgorithm::Xxh64,
            ChecksumAlgorithm::Crc32,
            ChecksumAlgorithm::Blake3,
        ] {
            let whole = checksum64(algo, b"hello world");
            assert_eq!(checksum64_parts(algo, &[b"hello", b" ", b"world"]), whole);
            assert_ne!(checksum64(algo, b"hello worle"), whole);
        }
    }

    #[test]
    fn checksum_ids_are_stable() {
        assert_eq!(ChecksumAlgorithm::Blake3.id(), 1);
        assert_eq!(ChecksumAlgorithm::Xxh64.id(), 2);
        assert_eq!(ChecksumAlgorithm::Crc32.id(), 3);
        for algorithm in [
            ChecksumAlgorithm::Blake3,
            ChecksumAlgorithm::Xxh64,
            ChecksumAlgorithm::Crc32,
        ] {
            assert_eq!(ChecksumAlgorithm::from_id(algorithm.id()), Some(algorithm));
        }
        assert_eq!(ChecksumAlgorithm::from_id(0), None);
        assert_eq!(ChecksumAlgorithm::from_id(4), None);
        assert_eq!(ChecksumAlgorithm::default(), ChecksumAlgorithm::Xxh64);
    }
}
