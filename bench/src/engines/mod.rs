//! The engines under test behind one small interface.
//!
//! Every engine commits durably (its strongest sync setting), gets the same cache budget
//! where it has a cache, and reads through its fastest safe path (zero-copy where the
//! engine offers it).

use std::path::Path;

use crate::data::{Key, Value};

pub mod fjall;
pub mod lightning;
pub mod lmdb;
pub mod redb;
#[cfg(feature = "rocksdb")]
pub mod rocksdb;
pub mod sled;
pub mod sqlite;

/// Errors of any engine, as text.
pub type Error = Box<dyn std::error::Error + Send + Sync>;
/// Result of an engine call.
pub type Result<T> = std::result::Result<T, Error>;

/// One write of a batch.
#[derive(Debug, Clone)]
pub enum Op {
    /// Store a value.
    Put(Key, Value),
    /// Remove a key.
    Delete(Key),
}

/// Settings every engine gets.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// Cache budget in bytes (block cache, page cache or equivalent).
    pub cache_bytes: u64,
}

/// A database under test.
pub trait Engine: Sync {
    /// Applies every operation in one atomic commit that is durable when this returns.
    fn write(&self, ops: &mut dyn Iterator<Item = Op>) -> Result<()>;

    /// A reader for the calling thread; `threads` readers may exist at once.
    fn reader(&self, threads: usize) -> Result<Box<dyn Reader + '_>>;

    /// Compacts the database fully; `Ok(false)` when the engine has no such operation.
    fn compact(&mut self) -> Result<bool>;
}

/// Reads from one thread.
pub trait Reader {
    /// Whether `key` holds exactly `expected`.
    fn get(&mut self, key: &[u8], expected: &[u8]) -> Result<bool>;

    /// Reads up to `n` pairs from `start` on, returning how many it read plus the sum of their
    /// values' first bytes (so the reads cannot be optimised away).
    fn range(&mut self, start: &[u8], n: usize) -> Result<(usize, u64)>;

    /// Reads up to `n` pairs from `start` (included when present) down, in descending key
    /// order, returning how many it read plus the sum of their values' first bytes.
    fn range_rev(&mut self, start: &[u8], n: usize) -> Result<(usize, u64)>;

    /// Walks every pair of the database, in ascending key order or (`reverse`) descending,
    /// returning how many it read plus the sum of their [`entry_checksum`]s.
    fn scan(&mut self, reverse: bool) -> Result<(usize, u64)>;

    /// The [`value_digest`] of the value `key` holds, reading every byte of it (the
    /// value-size phases, where regenerating each expected value would cost more than the
    /// read); `None` when `key` is absent.
    fn get_digest(&mut self, key: &[u8]) -> Result<Option<u64>>;

    /// Makes the reader see the commits made since it was created. Readers that hold a
    /// snapshot (LMDB and redb read transactions) take a new one; the others always read
    /// the latest state and do nothing.
    fn refresh(&mut self) -> Result<()> {
        Ok(())
    }
}

/// What a full scan adds up for one pair: its first and last bytes and lengths, so every
/// pair must be visited (and a value's end touched) for the sum to come out right.
#[inline]
pub fn entry_checksum(key: &[u8], value: &[u8]) -> u64 {
    let first = |b: &[u8]| b.first().copied().map_or(0, u64::from);
    let last = |b: &[u8]| b.last().copied().map_or(0, u64::from);
    (key.len() + value.len()) as u64 + first(key) + last(key) + first(value) + last(value)
}

/// A digest of every byte of `value`: the wrapping sum of its little-endian 64-bit words
/// (and trailing bytes) plus its length. Cheap, but it reads the whole value.
#[inline]
pub fn value_digest(value: &[u8]) -> u64 {
    let mut chunks = value.chunks_exact(8);
    let mut sum = value.len() as u64;
    for chunk in &mut chunks {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        sum = sum.wrapping_add(u64::from_le_bytes(word));
    }
    for &b in chunks.remainder() {
        sum = sum.wrapping_add(u64::from(b));
    }
    sum
}

/// Every engine this build knows, Lightning DB first.
pub fn all_engines() -> Vec<&'static str> {
    let mut names = vec!["lightning", "redb", "lmdb"];
    if cfg!(feature = "rocksdb") {
        names.push("rocksdb");
    }
    names.extend(["fjall", "sled", "sqlite"]);
    names
}

/// Opens engine `name` in the empty directory `dir`.
pub fn open(name: &str, dir: &Path, options: &Options) -> Result<Box<dyn Engine>> {
    Ok(match name {
        "lightning" => Box::new(lightning::Lightning::open(dir, options, true)?),
        // Not in the default set: Lightning DB with `enable_statistics` off, to measure
        // what timing operations costs (`--engines lightning,lightning-nostats`).
        "lightning-nostats" => Box::new(lightning::Lightning::open(dir, options, false)?),
        "redb" => Box::new(redb::Redb::open(dir, options)?),
        "lmdb" => Box::new(lmdb::Lmdb::open(dir, options)?),
        #[cfg(feature = "rocksdb")]
        "rocksdb" => Box::new(rocksdb::Rocks::open(dir, options)?),
        "fjall" => Box::new(fjall::Fjall::open(dir, options)?),
        "sled" => Box::new(sled::Sled::open(dir, options)?),
        "sqlite" => Box::new(sqlite::Sqlite::open(dir, options)?),
        other => {
            return Err(format!(
                "unknown engine '{other}'; this build knows {}",
                all_engines().join(", ")
            )
            .into())
        }
    })
}
