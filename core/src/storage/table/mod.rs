//! Sorted, immutable table files. The format (footer, index, properties) is written down
//! once, in [`format`]; `block` frames and encodes data blocks, `bloom` the filter,
//! `builder` writes a file, `reader` reads one.

pub mod block;
pub mod bloom;
pub mod builder;
pub mod format;
pub mod reader;
pub mod residency;

pub use format::FOOTER_LEN;

/// The file name of table number `n`.
pub fn table_file_name(n: u64) -> String {
    format!("{n:06}.sst")
}

#[cfg(test)]
mod sealed_tests;
