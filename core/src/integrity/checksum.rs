//! The three checksum algorithms a database may use, selected per file by its stored id.

use crate::config::ChecksumAlgorithm;

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
}
