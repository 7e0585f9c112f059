//! Writes a table file from versions given in internal order.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::block::{encode_for_disk_reporting, encode_sealed_for_disk_reporting, BlockBuilder};
use super::bloom;
use super::format::{
    encode_index, encode_index_entry, BlockHandle, Footer, TableProperties,
    SEALED_TABLE_FORMAT_VERSION, TABLE_FORMAT_VERSION,
};
use crate::checksum::ChecksumAlgorithm;
use crate::error::DatabaseError;
use crate::storage::crypto::{random_instance, FileKind, KeyRing, SealPlace};
use crate::storage::fs::{temp_path, FileSystem, WritableFile};

/// What the manifest records about one table file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableMeta {
    /// File number (the name is `NNNNNN.sst`).
    pub number: u64,
    /// Size in bytes.
    pub file_size: u64,
    /// Smallest user key.
    pub smallest: Vec<u8>,
    /// Largest user key.
    pub largest: Vec<u8>,
    /// Smallest sequence number.
    pub min_seq: u64,
    /// Largest sequence number.
    pub max_seq: u64,
    /// Number of versions (values and tombstones).
    pub entries: u64,
    /// Number of tombstones.
    pub tombstones: u64,
}

/// Knobs for building tables.
#[derive(Debug, Clone)]
pub struct BuildOptions {
    /// Target uncompressed data block size.
    pub block_size: usize,
    /// LZ4-compress blocks when it helps.
    pub compress: bool,
    /// Bloom filter bits per key (0: no filter).
    pub bloom_bits_per_key: u32,
    /// Checksum algorithm for every block and the footer.
    pub checksum: ChecksumAlgorithm,
    /// Sync the finished file (and, for a run, its directory). Only scratch files that
    /// are deleted before anything names them (a bulk load's spilled runs) skip it.
    pub durable: bool,
    /// The data keys of an encrypted database: when set, every block is sealed with the
    /// current one (table format 2). Every writer of an encrypted database's tables
    /// (flush, compaction, ingestion, recovery, repair) passes them, so no table of such
    /// a database is ever written in the clear.
    pub keys: Option<Arc<KeyRing>>,
}

/// Streams versions into a new table under a temporary name.
pub struct TableBuilder {
    opts: BuildOptions,
    /// The data keys of an encrypted database: every block is sealed with the current one.
    keys: Option<Arc<KeyRing>>,
    /// The file's random instance id when sealed (0 otherwise), recorded in the footer.
    instance: u64,
    file: Box<dyn WritableFile>,
    tmp: PathBuf,
    path: PathBuf,
    block: BlockBuilder,
    index: Vec<u8>,
    index_count: u64,
    key_hashes: Vec<u64>,
    last_key: Vec<u8>,
    last_seq: u64,
    meta: TableMeta,
    raw_key_bytes: u64,
    raw_value_bytes: u64,
    compression: CompressionGate,
}

/// Blocks in a row that did not compress before a table stops trying every block.
const INCOMPRESSIBLE_STREAK: u32 = 8;
/// Once it has stopped, a table still tries one block in this many, so data that turns
/// compressible again is compressed again within that many blocks.
const RETRY_EVERY: u32 = 32;

/// Whether a table tries to compress its next block. Random or already-compressed values
/// do not shrink, and trying costs an LZ4 pass over every block written (a large share
/// of a bulk load of such values), so after [`INCOMPRESSIBLE_STREAK`] blocks in a row that
/// stayed plain the builder tries only one block in [`RETRY_EVERY`], and every block again
/// as soon as one compresses.
#[derive(Debug, Default)]
struct CompressionGate {
    streak: u32,
    skipped: u32,
}

impl CompressionGate {
    /// Whether to try compressing the next block.
    fn try_next(&mut self) -> bool {
        if self.streak < INCOMPRESSIBLE_STREAK {
            return true;
        }
        self.skipped += 1;
        if self.skipped >= RETRY_EVERY {
            self.skipped = 0;
            return true;
        }
        false
    }

    /// Records whether a block that was tried compressed.
    fn learn(&mut self, compressed: bool) {
        if compressed {
            self.streak = 0;
            self.skipped = 0;
        } else {
            self.streak = self.streak.saturating_add(1);
        }
    }
}

impl TableBuilder {
    /// Starts table `number` at `path` (written to a temporary name until `finish`).
    pub fn create(
        fs: &dyn FileSystem,
        path: &Path,
        number: u64,
        opts: BuildOptions,
    ) -> Result<Self, DatabaseError> {
        let tmp = temp_path(path);
        // The instance id is drawn before the file exists, so a failing random number
        // generator leaves nothing behind.
        let instance = match opts.keys {
            Some(_) => random_instance()?,
            None => 0,
        };
        let file = fs
            .create(&tmp)
            .map_err(|e| DatabaseError::io("create table", &tmp, &e))?;
        Ok(Self {
            keys: opts.keys.clone(),
            opts,
            instance,
            file,
            tmp,
            path: path.to_path_buf(),
            block: BlockBuilder::default(),
            index: Vec::new(),
            index_count: 0,
            key_hashes: Vec::new(),
            last_key: Vec::new(),
            last_seq: 0,
            meta: TableMeta {
                number,
                file_size: 0,
                smallest: Vec::new(),
                largest: Vec::new(),
                min_seq: u64::MAX,
                max_seq: 0,
                entries: 0,
                tombstones: 0,
            },
            raw_key_bytes: 0,
            raw_value_bytes: 0,
            compression: CompressionGate::default(),
        })
    }

    /// Adds the next version; callers keep internal order.
    pub fn add(&mut self, key: &[u8], seq: u64, value: Option<&[u8]>) -> Result<(), DatabaseError> {
        if self.meta.entries == 0 {
            self.meta.smallest = key.to_vec();
        }
        if self.meta.entries == 0 || self.last_key != key {
            self.key_hashes.push(bloom::key_hash(key));
        }
        self.meta.entries += 1;
        if value.is_none() {
            self.meta.tombstones += 1;
        }
        self.meta.min_seq = self.meta.min_seq.min(seq);
        self.meta.max_seq = self.meta.max_seq.max(seq);
        self.raw_key_bytes += key.len() as u64;
        self.raw_value_bytes += value.map_or(0, |v| v.len() as u64);
        self.block.add(key, seq, value);
        self.last_key.clear();
        self.last_key.extend_from_slice(key);
        self.last_seq = seq;
        if self.block.size() >= self.opts.block_size {
            self.finish_data_block()?;
        }
        Ok(())
    }

    /// Bytes written so far (for splitting compaction output).
    pub fn file_size(&self) -> u64 {
        self.file.len() + self.block.size() as u64
    }

    fn write_block(&mut self, payload: &[u8], compress: bool) -> Result<(u64, u64), DatabaseError> {
        let offset = self.file.len();
        let compress = compress && self.compression.try_next();
        let (disk, compressed) = match &self.keys {
            None => encode_for_disk_reporting(payload, compress, self.opts.checksum, offset),
            Some(keys) => {
                let place = SealPlace {
                    kind: FileKind::Table,
                    file: self.meta.number,
                    offset,
                    format_version: SEALED_TABLE_FORMAT_VERSION,
                    instance: self.instance,
                };
                encode_sealed_for_disk_reporting(
                    payload,
                    compress,
                    self.opts.checksum,
                    keys,
                    place,
                )?
            }
        };
        if compress {
            self.compression.learn(compressed);
        }
        self.file
            .append(&disk)
            .map_err(|e| DatabaseError::io("write table", &self.tmp, &e))?;
        Ok((offset, disk.len() as u64))
    }

    fn finish_data_block(&mut self) -> Result<(), DatabaseError> {
        if self.block.is_empty() {
            return Ok(());
        }
        let payload = self.block.finish();
        let (offset, len) = self.write_block(&payload, self.opts.compress)?;
        encode_index_entry(&mut self.index, &self.last_key, self.last_seq, offset, len);
        self.index_count += 1;
        Ok(())
    }

    /// Writes filter, index, properties and footer, syncs and renames into place.
    /// Returns `None` (and removes the temporary file) when no entry was added.
    pub fn finish(mut self, fs: &dyn FileSystem) -> Result<Option<TableMeta>, DatabaseError> {
        if self.meta.entries == 0 {
            drop(self.file);
            let _ = fs.remove_file(&self.tmp);
            return Ok(None);
        }
        self.finish_data_block()?;
        self.meta.largest = self.last_key.clone();

        let filter = bloom::build(&self.key_hashes, self.opts.bloom_bits_per_key);
        let (filter_off, filter_len) = self.write_block(&filter, false)?;

        let index = encode_index(self.index_count, &self.index);
        let (index_off, index_len) = self.write_block(&index, false)?;

        let props = TableProperties {
            entries: self.meta.entries,
            tombstones: self.meta.tombstones,
            min_seq: self.meta.min_seq,
            max_seq: self.meta.max_seq,
            raw_key_bytes: self.raw_key_bytes,
            raw_value_bytes: self.raw_value_bytes,
            smallest: self.meta.smallest.clone(),
            largest: self.meta.largest.clone(),
        };
        let (props_off, props_len) = self.write_block(&props.encode(), false)?;

        let handle = |offset, len| BlockHandle { offset, len };
        let footer = Footer {
            index: handle(index_off, index_len),
            filter: handle(filter_off, filter_len),
            props: handle(props_off, props_len),
            format_version: if self.keys.is_some() {
                SEALED_TABLE_FORMAT_VERSION
            } else {
                TABLE_FORMAT_VERSION
            },
            checksum: self.opts.checksum,
            instance: self.instance,
        }
        .encode();
        self.file
            .append(&footer)
            .map_err(|e| DatabaseError::io("write table footer", &self.tmp, &e))?;
        if self.opts.durable {
            self.file
                .sync_data()
                .map_err(|e| DatabaseError::io("sync table", &self.tmp, &e))?;
        }
        self.meta.file_size = self.file.len();
        drop(self.file);
        fs.rename(&self.tmp, &self.path)
            .map_err(|e| DatabaseError::io("rename table", &self.path, &e))?;
        Ok(Some(self.meta))
    }

    /// Gives up on the table, removing the temporary file.
    pub fn abandon(self, fs: &dyn FileSystem) {
        drop(self.file);
        let _ = fs.remove_file(&self.tmp);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_gate_tries_every_block_until_a_streak_of_failures() {
        let mut gate = CompressionGate::default();
        for _ in 0..INCOMPRESSIBLE_STREAK {
            assert!(gate.try_next());
            gate.learn(false);
        }
        // Now one block in RETRY_EVERY is tried.
        let tried: Vec<bool> = (0..3 * RETRY_EVERY)
            .map(|_| {
                let t = gate.try_next();
                if t {
                    gate.learn(false);
                }
                t
            })
            .collect();
        assert_eq!(tried.iter().filter(|&&t| t).count(), 3);
        assert!(tried[RETRY_EVERY as usize - 1]);
    }

    #[test]
    fn one_block_that_compresses_reopens_the_gate() {
        let mut gate = CompressionGate::default();
        for _ in 0..INCOMPRESSIBLE_STREAK {
            gate.try_next();
            gate.learn(false);
        }
        while !gate.try_next() {}
        gate.learn(true);
        for _ in 0..INCOMPRESSIBLE_STREAK {
            assert!(gate.try_next(), "every block is tried again");
            gate.learn(false);
        }
        assert!(!gate.try_next());
    }

    #[test]
    fn blocks_that_compress_are_all_tried() {
        let mut gate = CompressionGate::default();
        for _ in 0..1000 {
            assert!(gate.try_next());
            gate.learn(true);
        }
    }
}
