//! Sorted, immutable table files.
//!
//! Layout: data blocks, then the bloom filter block, the index block and the
//! properties block (each framed like a data block, with its own checksum), then a
//! fixed 64-byte footer:
//!
//! | bytes | field |
//! |---|---|
//! | 0..8 | index block offset |
//! | 8..12 | index block length (with trailer) |
//! | 12..20 | filter block offset |
//! | 20..24 | filter block length |
//! | 24..32 | properties block offset |
//! | 32..36 | properties block length |
//! | 36..40 | format version |
//! | 40 | checksum algorithm id |
//! | 41..48 | reserved (zero) |
//! | 48..56 | checksum of bytes 0..48 |
//! | 56..64 | magic number |

pub mod block;
pub mod bloom;
pub mod builder;
pub mod reader;

/// Magic number ending every table file.
pub const TABLE_MAGIC: u64 = 0x4c44_425f_5353_5401; // "LDB_SST\x01"
/// Current table format version.
pub const TABLE_FORMAT_VERSION: u32 = 1;
/// Size of the footer.
pub const FOOTER_LEN: usize = 64;

/// The file name of table number `n`.
pub fn table_file_name(n: u64) -> String {
    format!("{n:06}.sst")
}
