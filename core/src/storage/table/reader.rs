//! Opens table files and reads them: point lookups and two-way cursors.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

use super::block::{
    decode_from_disk, decode_from_slice, decode_sealed, verify_frame, Block, BlockError,
    BlockLayout, EntryPos, Framing, MappedBlock, SealedBlockError, BLOCK_TRAILER_LEN,
};
pub use super::format::IndexEntry;
use super::format::{decode_index, Footer, FooterProblem, TableProperties};
use super::format::{NEWEST_TABLE_FORMAT_VERSION, SEALED_TABLE_FORMAT_VERSION};
use super::residency::ResidencyMemo;
use super::{bloom, table_file_name, FOOTER_LEN};
use crate::checksum::ChecksumAlgorithm;
use crate::error::{DatabaseError, SecurityError};
use crate::storage::cache::BlockCache;
use crate::storage::coding::key_prefix;
use crate::storage::crypto::{FileKind, KeyRing, SealPlace};
use crate::storage::fs::{FileSystem, MappedFile, RandomAccessFile};
use crate::storage::iter::{Current, Cursor};
use crate::storage::value::PinnedValue;
use crate::storage::version::Version;
use crate::storage::{FoundVersion, NeedsIo};

/// The part of an index entry a read needs to find its block and the block's bytes: a
/// point read whose block is mapped touches nothing else of the index.
#[derive(Debug, Clone, Copy)]
struct IndexHead {
    prefix: u64,
    offset: u64,
    /// The block's length on disk (payload and trailer).
    len: u64,
}

/// An open table file with its index, filter and properties pinned in memory.
pub struct Table {
    /// File number.
    pub number: u64,
    /// Full path.
    pub path: PathBuf,
    /// File size in bytes.
    pub file_size: u64,
    /// Properties from the file.
    pub props: TableProperties,
    /// Checksum algorithm the file was written with.
    pub checksum: ChecksumAlgorithm,
    file: Arc<dyn RandomAccessFile>,
    index: Vec<IndexEntry>,
    /// Each index entry's key prefix and block offset, packed: a search reads 16 bytes
    /// per step from one dense array instead of a 56-byte entry, and the block it lands
    /// on is found (in the cache, keyed by offset) from the same cache line.
    index_heads: Vec<IndexHead>,
    /// The prefix of every [`HEAD_STRIDE`]th index head: small enough to stay in the CPU
    /// cache, it narrows a search to one short run of heads, which is then read in one go
    /// (its cache lines load in parallel) instead of by a binary search that waits for
    /// one miss per step.
    head_summary: Vec<u64>,
    filter: Vec<u8>,
    /// For a mapped file, one slot per data block, filled by the first read that verifies
    /// the block: its entry offsets when it can be read in place, or a note that it is
    /// compressed and goes through the block cache. Empty when the file is not mapped.
    layouts: Box<[OnceLock<MappedLayout>]>,
    /// For a mapped file, which blocks were lately seen in the page cache (see
    /// [`ResidencyMemo`]); empty when the file is not mapped.
    residency: ResidencyMemo,
    /// The file's memory map, when reads go through one.
    map: Option<Arc<MappedFile>>,
    /// Bytes held by the index, filter and layout slots, fixed at open.
    fixed_memory: u64,
    /// Bytes held by the layouts of verified mapped blocks.
    layout_memory: std::sync::atomic::AtomicU64,
    cache: Arc<BlockCache>,
    fs: Arc<dyn FileSystem>,
    obsolete: AtomicBool,
    /// For an encrypted table (format 2), the keys its blocks are opened with; such a
    /// table is never read in place through a map, only through the block cache.
    keys: Option<Arc<KeyRing>>,
    /// The file's instance id (from its footer), bound into each sealed block.
    instance: u64,
}

/// What the first verified read learned about a block of a mapped file.
#[derive(Debug)]
enum MappedLayout {
    /// Stored plain: read in place through these entry offsets.
    InPlace(BlockLayout),
    /// Stored compressed: decompressed into the block cache like an unmapped block.
    Compressed,
}

impl std::fmt::Debug for Table {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Table")
            .field("number", &self.number)
            .field("file_size", &self.file_size)
            .finish()
    }
}

/// Damage to a table's index, filter or properties: a repair rebuilds them from the data
/// blocks, so nothing is lost (`recovery_possible: true`).
fn corruption(path: &std::path::Path, offset: u64, what: &str) -> DatabaseError {
    damage(path, offset, what, true)
}

/// `recovery_possible` is true only where a repair restores everything without loss: a
/// damaged data block's entries are lost (the repair sets the block aside), a damaged
/// footer leaves the blocks unlocatable.
fn damage(
    path: &std::path::Path,
    offset: u64,
    what: &str,
    recovery_possible: bool,
) -> DatabaseError {
    DatabaseError::DataCorruption {
        component: "table".to_string(),
        details: format!("{} at offset {offset}: {what}", path.display()),
        recovery_possible,
    }
}

/// A block that failed its checksum or decoding; `data` for a data block (its entries
/// are lost), else a metadata block (rebuilt without loss).
fn block_error(path: &std::path::Path, offset: u64, e: BlockError, data: bool) -> DatabaseError {
    let what = match e {
        BlockError::Checksum { expected, actual } => {
            format!("block checksum mismatch (stored {expected:#018x}, computed {actual:#018x})")
        }
        BlockError::Malformed(m) => format!("malformed block: {m}"),
    };
    damage(path, offset, &what, !data)
}

fn sealed_error(
    path: &std::path::Path,
    offset: u64,
    e: SealedBlockError,
    data: bool,
) -> DatabaseError {
    match e {
        SealedBlockError::Block(e) => block_error(path, offset, e, data),
        SealedBlockError::Security(e) => e,
    }
}

/// Where block `offset` of encrypted table `number` (instance `instance`) is sealed for.
pub(crate) fn table_place(number: u64, instance: u64, offset: u64) -> SealPlace {
    SealPlace {
        kind: FileKind::Table,
        file: number,
        offset,
        format_version: SEALED_TABLE_FORMAT_VERSION,
        instance,
    }
}

/// What opens the blocks of an encrypted table: the keys and the file's instance id.
#[derive(Clone, Copy)]
struct Sealing<'a> {
    keys: &'a KeyRing,
    instance: u64,
}

/// Opens block `raw` read from `offset`: sealed with `keys` or plain (`data`: a data
/// block, whose damage loses pairs, rather than the index, filter or properties).
fn decode_block(
    raw: Vec<u8>,
    checksum: ChecksumAlgorithm,
    sealing: Option<Sealing<'_>>,
    path: &std::path::Path,
    number: u64,
    offset: u64,
    data: bool,
) -> Result<Vec<u8>, DatabaseError> {
    match sealing {
        None => {
            decode_from_disk(raw, checksum, offset).map_err(|e| block_error(path, offset, e, data))
        }
        Some(s) => {
            let place = table_place(number, s.instance, offset);
            decode_sealed(&raw, checksum, s.keys, path, place)
                .map_err(|e| sealed_error(path, offset, e, data))
        }
    }
}

impl Table {
    /// Opens table `number` in `dir`, verifying the footer, index, filter and properties.
    pub fn open(
        fs: Arc<dyn FileSystem>,
        dir: &std::path::Path,
        number: u64,
        cache: Arc<BlockCache>,
    ) -> Result<Table, DatabaseError> {
        let path = dir.join(table_file_name(number));
        let file = if cache.maps_tables() {
            fs.open_read_mapped(&path)
        } else {
            fs.open_read(&path)
        }
        .map_err(|e| DatabaseError::io("open table", &path, &e))?;
        let file_size = file
            .size()
            .map_err(|e| DatabaseError::io("stat table", &path, &e))?;
        if file_size < FOOTER_LEN as u64 {
            return Err(damage(&path, 0, "file shorter than its footer", false));
        }
        let footer_off = file_size - FOOTER_LEN as u64;
        let mut footer = [0u8; FOOTER_LEN];
        file.read_exact_at(&mut footer, footer_off)
            .map_err(|e| DatabaseError::io("read table footer", &path, &e))?;
        let footer = Footer::decode(&footer).map_err(|e| match e.problem {
            FooterProblem::UnsupportedVersion(found) => DatabaseError::UnsupportedFormatVersion {
                component: format!("table {}", path.display()),
                found,
                supported_max: NEWEST_TABLE_FORMAT_VERSION,
            },
            problem => damage(&path, footer_off + e.at, &problem.to_string(), false),
        })?;
        let checksum = footer.checksum;
        let keys = if footer.format_version == SEALED_TABLE_FORMAT_VERSION {
            Some(cache.keys().ok_or_else(|| {
                DatabaseError::SecurityError(SecurityError::DecryptionFailed {
                    reason: format!(
                        "{} is encrypted (its footer at offset {footer_off} says table format \
                         {SEALED_TABLE_FORMAT_VERSION}) and the database was opened without \
                         its key",
                        path.display()
                    ),
                })
            })?)
        } else {
            None
        };
        let read_meta_block =
            |(off, len): (u64, u64), what: &str| -> Result<Vec<u8>, DatabaseError> {
                if off.checked_add(len).is_none_or(|end| end > footer_off) {
                    return Err(corruption(
                        &path,
                        off,
                        &format!("{what} block out of bounds"),
                    ));
                }
                let mut raw = vec![0u8; len as usize];
                file.read_exact_at(&mut raw, off)
                    .map_err(|e| DatabaseError::io("read table", &path, &e))?;
                let sealing = keys.as_deref().map(|keys| Sealing {
                    keys,
                    instance: footer.instance,
                });
                decode_block(raw, checksum, sealing, &path, number, off, false)
            };
        let index_raw = read_meta_block(footer.index.pair(), "index")?;
        let filter = read_meta_block(footer.filter.pair(), "filter")?;
        let props_raw = read_meta_block(footer.props.pair(), "properties")?;
        let props = TableProperties::decode(&props_raw)
            .ok_or_else(|| corruption(&path, footer.props.offset, "malformed properties"))?;
        let index = decode_index(&index_raw, footer_off)
            .map_err(|_| corruption(&path, footer.index.offset, "malformed index"))?;
        let map = file
            .mapped()
            .filter(|m| keys.is_none() && m.bytes().len() as u64 == file_size);
        let (layouts, residency) = if map.is_some() {
            let layouts = (0..index.len()).map(|_| OnceLock::new()).collect();
            (layouts, ResidencyMemo::new(index.len()))
        } else {
            (Box::default(), ResidencyMemo::default())
        };
        let head_summary: Vec<u64> = index
            .iter()
            .step_by(HEAD_STRIDE)
            .map(|e| key_prefix(&e.last_key))
            .collect();
        let fixed_memory = (index
            .iter()
            .map(|e| std::mem::size_of::<IndexEntry>() + e.last_key.len() + 16)
            .sum::<usize>()
            + index.len() * std::mem::size_of::<IndexHead>()
            + head_summary.len() * 8
            + filter.len()
            + layouts.len() * std::mem::size_of::<OnceLock<MappedLayout>>()
            + residency.memory()) as u64;
        Ok(Table {
            layouts,
            residency,
            map,
            fixed_memory,
            layout_memory: std::sync::atomic::AtomicU64::new(0),
            head_summary,
            number,
            path,
            file_size,
            props,
            checksum,
            file,
            index_heads: index
                .iter()
                .map(|e| IndexHead {
                    prefix: key_prefix(&e.last_key),
                    offset: e.offset,
                    len: e.len,
                })
                .collect(),
            index,
            filter,
            cache,
            fs,
            obsolete: AtomicBool::new(false),
            keys,
            instance: footer.instance,
        })
    }

    /// Marks the file for deletion once the last reader lets go of it.
    pub fn mark_obsolete(&self) {
        self.obsolete.store(true, Ordering::Release);
    }

    /// The in-memory index (its block offsets and lengths: inspection reads each block's
    /// compression byte through them).
    pub fn index(&self) -> &[IndexEntry] {
        &self.index
    }

    /// The number of leading index entries for which `before` holds, where `before` is
    /// true for every entry whose last key sorts below `key` and false for every entry
    /// whose last key sorts above it (it decides entries whose last key equals it).
    /// Prefixes settle most steps; full keys are compared only among entries whose
    /// prefix equals `key`'s.
    #[inline]
    fn index_partition(&self, key: &[u8], before: impl Fn(&IndexEntry) -> bool) -> usize {
        let (lo, hi) = self.index_prefix_run(key_prefix(key));
        lo + self.index[lo..hi].partition_point(before)
    }

    /// The run `lo..hi` of index entries whose last key's prefix equals `key_pre` (empty
    /// at the place it would be): every entry before it ends below any key with that
    /// prefix, every entry after it above.
    #[inline]
    fn index_prefix_run(&self, key_pre: u64) -> (usize, usize) {
        let heads = &self.index_heads;
        // The first head whose prefix is not below the key's lies after the last sampled
        // head below it and at or before the first sampled head not below it.
        let c = self.head_summary.partition_point(|&p| p < key_pre);
        let run_start = if c == 0 { 0 } else { (c - 1) * HEAD_STRIDE + 1 };
        let run_end = (c * HEAD_STRIDE).min(heads.len());
        let lo = run_start
            + heads
                .get(run_start..run_end)
                .unwrap_or_default()
                .iter()
                .filter(|h| h.prefix < key_pre)
                .count();
        // Gallop over the entries sharing the prefix: usually none, and a long run of
        // them (keys with a common 8-byte start) costs a logarithmic number of steps.
        let mut known = lo; // prefixes[lo..known] all equal key_pre
        let mut probe = lo;
        let mut step = 1;
        while probe < heads.len() && heads[probe].prefix == key_pre {
            known = probe + 1;
            probe += step;
            step *= 2;
        }
        let end = probe.min(heads.len());
        let hi = known + heads[known..end].partition_point(|h| h.prefix == key_pre);
        (lo, hi)
    }

    /// Where block `i` starts in the file (0 past the end), read from the index heads,
    /// which finding the block has just touched, not from its index entry.
    #[inline]
    fn block_offset(&self, i: usize) -> u64 {
        self.index_heads.get(i).map_or(0, |h| h.offset)
    }

    /// The block a point read of `key` at `snapshot` looks in first, and whether the
    /// answer may instead lie in the block after it. When exactly one block's last key
    /// shares `key`'s prefix (a present key that ends its block, as every key of a table
    /// of large values does), that block is searched without comparing its last key in
    /// the index first: the index entry and the key it owns are two more cache misses,
    /// and the block is read anyway. If the block turns out to end before the key, the
    /// next block (whose last key has a larger prefix) holds the answer. Longer runs of
    /// one prefix (keys sharing their first eight bytes) are settled in the index.
    #[inline]
    fn point_block(&self, key: &[u8], snapshot: u64) -> (usize, bool) {
        let (lo, hi) = self.index_prefix_run(key_prefix(key));
        if hi - lo == 1 {
            return (lo, true);
        }
        let bi = lo
            + self.index[lo..hi].partition_point(|e| match e.last_key.as_slice().cmp(key) {
                std::cmp::Ordering::Less => true,
                std::cmp::Ordering::Equal => e.last_seq > snapshot,
                std::cmp::Ordering::Greater => false,
            });
        (bi, false)
    }

    /// Reads, verifies and decodes block `i` without consulting or filling the cache.
    pub fn read_block_uncached(&self, i: usize) -> Result<Block, DatabaseError> {
        let entry = self
            .index
            .get(i)
            .ok_or_else(|| damage(&self.path, 0, "block index out of range", false))?;
        let payload = match self.mapped_frame(i) {
            Some(raw) => decode_from_slice(raw, self.checksum, entry.offset),
            None => {
                let mut raw = vec![0u8; entry.len as usize];
                self.file
                    .read_exact_at(&mut raw, entry.offset)
                    .map_err(|e| DatabaseError::io("read table block", &self.path, &e))?;
                return self.decode_read_block(raw, entry.offset);
            }
        }
        .map_err(|e| block_error(&self.path, entry.offset, e, true))?;
        Block::decode(payload).map_err(|e| block_error(&self.path, entry.offset, e, true))
    }

    /// Opens (when sealed), checks and decodes block bytes read from `offset`.
    fn decode_read_block(&self, raw: Vec<u8>, offset: u64) -> Result<Block, DatabaseError> {
        let payload = decode_block(
            raw,
            self.checksum,
            self.keys.as_deref().map(|keys| Sealing {
                keys,
                instance: self.instance,
            }),
            &self.path,
            self.number,
            offset,
            true,
        )?;
        Block::decode(payload).map_err(|e| block_error(&self.path, offset, e, true))
    }

    /// Block `i`'s on-disk bytes (payload and trailer) in the mapped file, if it is mapped.
    #[inline]
    fn mapped_frame(&self, i: usize) -> Option<&[u8]> {
        let map = self.map.as_deref()?;
        let h = self.index_heads.get(i)?;
        let start = usize::try_from(h.offset).ok()?;
        map.bytes()
            .get(start..start.checked_add(usize::try_from(h.len).ok()?)?)
    }

    /// Block `i` read in place from the mapped file, its checksum and structure verified
    /// by the first read of it; `None` when the file is not mapped, the block is
    /// compressed, or the integrity level asks for a check on every read (callers then
    /// use [`block`](Self::block)).
    #[inline]
    pub fn mapped_block(&self, i: usize) -> Result<Option<MappedBlock<'_>>, DatabaseError> {
        self.mapped_block_checked(i, false)
    }

    /// [`mapped_block`](Self::mapped_block), and with `recheck` the checksum of a block
    /// verified before is checked again: the kernel may have dropped its pages and read
    /// them back from a disk that has since damaged them. Compaction reads this way, so
    /// it never copies damage into a new file with a fresh checksum.
    pub fn mapped_block_checked(
        &self,
        i: usize,
        recheck: bool,
    ) -> Result<Option<MappedBlock<'_>>, DatabaseError> {
        let Some(slot) = self.layouts.get(i) else {
            return Ok(None);
        };
        let gate = self.cache.gate();
        gate.check()?;
        if gate.verify_every_read() {
            return Ok(None);
        }
        let layout = match slot.get() {
            Some(layout) => {
                if recheck {
                    self.recheck_mapped(i)
                        .inspect_err(|e| gate.report(Some(self.number), e, "read"))?;
                }
                layout
            }
            None => {
                let built = self
                    .verify_mapped(i)
                    .inspect_err(|e| gate.report(Some(self.number), e, "read"))?;
                let charge = match &built {
                    MappedLayout::InPlace(l) => l.charge() as u64,
                    MappedLayout::Compressed => 0,
                };
                // Another reader may have filled the slot meanwhile; count only what stays.
                if slot.set(built).is_ok() {
                    self.layout_memory.fetch_add(charge, Ordering::Relaxed);
                }
                match slot.get() {
                    Some(layout) => layout,
                    None => return Ok(None),
                }
            }
        };
        Ok(self.view(i, layout))
    }

    /// Block `i` of a mapped file when an earlier read has verified it and it is stored
    /// plain (cursors resting on the block use this on every step).
    #[inline]
    fn verified_view(&self, i: usize) -> Option<MappedBlock<'_>> {
        self.view(i, self.layouts.get(i)?.get()?)
    }

    #[inline]
    fn view<'a>(&'a self, i: usize, layout: &'a MappedLayout) -> Option<MappedBlock<'a>> {
        match layout {
            MappedLayout::InPlace(l) => {
                let frame = self.mapped_frame(i)?;
                Some(MappedBlock::new(
                    frame.get(..frame.len().checked_sub(BLOCK_TRAILER_LEN)?)?,
                    l,
                ))
            }
            MappedLayout::Compressed => None,
        }
    }

    /// Checks block `i`'s checksum again (its structure was validated with the same bytes).
    fn recheck_mapped(&self, i: usize) -> Result<(), DatabaseError> {
        self.check_mapped_frame(i).map(|_| ())
    }

    /// Verifies the checksum of block `i` of the mapped file: how it is stored, its stored
    /// payload, and its offset.
    fn check_mapped_frame(&self, i: usize) -> Result<(Framing, &[u8], u64), DatabaseError> {
        let offset = self.block_offset(i);
        let frame = self
            .mapped_frame(i)
            .ok_or_else(|| damage(&self.path, offset, "block outside the mapped file", false))?;
        let (framing, stored) = verify_frame(frame, self.checksum, offset)
            .map_err(|e| block_error(&self.path, offset, e, true))?;
        Ok((framing, stored, offset))
    }

    /// Verifies block `i` of the mapped file and learns its layout.
    fn verify_mapped(&self, i: usize) -> Result<MappedLayout, DatabaseError> {
        let (framing, stored, offset) = self.check_mapped_frame(i)?;
        match framing {
            Framing::Plain => BlockLayout::build(stored)
                .map(MappedLayout::InPlace)
                .map_err(|e| block_error(&self.path, offset, e, true)),
            Framing::Lz4 => Ok(MappedLayout::Compressed),
            // Tables in the sealed format are never mapped; a sealed block in a plain
            // table is damage.
            Framing::Sealed => Err(corruption(
                &self.path,
                offset,
                "an encrypted block in an unencrypted table",
            )),
        }
    }

    /// Memory this table holds outside the block cache: index, filter, and the layouts
    /// of mapped blocks read so far.
    pub fn memory_bytes(&self) -> u64 {
        self.fixed_memory + self.layout_memory.load(Ordering::Relaxed)
    }

    /// Block `i`, from the cache when present.
    pub fn block(&self, i: usize) -> Result<Arc<Block>, DatabaseError> {
        // Corruption handling: a halted database reads nothing more, `Paranoid` verifies
        // every block on every read, and damage found is reported through the gate.
        let gate = self.cache.gate();
        gate.check()?;
        let uncached = || {
            self.read_block_uncached(i)
                .inspect_err(|e| gate.report(Some(self.number), e, "read"))
        };
        if gate.verify_every_read() {
            return uncached().map(Arc::new);
        }
        let offset = self.block_offset(i);
        if let Some(b) = self.cache.get(self.number, offset) {
            return Ok(b);
        }
        let block = Arc::new(uncached()?);
        self.cache.insert(self.number, offset, Arc::clone(&block));
        Ok(block)
    }

    /// True when the bloom filter says `key` (by its hash) may be present.
    #[inline]
    pub fn may_contain(&self, hash: u64) -> bool {
        bloom::may_contain(&self.filter, hash)
    }

    /// The newest version of `key` at or below `snapshot` in this table.
    #[inline]
    pub fn get(
        self: &Arc<Self>,
        key: &[u8],
        snapshot: u64,
        hash: u64,
    ) -> Result<Option<FoundVersion>, DatabaseError> {
        match self.lookup::<false>(key, snapshot, hash)? {
            Ok(found) => Ok(found),
            // Unreachable: only a read that may not wait answers `NeedsIo`.
            Err(NeedsIo) => Ok(None),
        }
    }

    /// [`get`](Self::get) without waiting for the disk: `Err(NeedsIo)` when the answer
    /// needs a block that is neither in the block cache nor, for a mapped file, in the
    /// OS page cache.
    pub fn get_cached(
        self: &Arc<Self>,
        key: &[u8],
        snapshot: u64,
        hash: u64,
    ) -> Result<Result<Option<FoundVersion>, NeedsIo>, DatabaseError> {
        self.lookup::<true>(key, snapshot, hash)
    }

    /// Both reads above; `NO_IO` compiles the residency checks in or out.
    #[inline]
    fn lookup<const NO_IO: bool>(
        self: &Arc<Self>,
        key: &[u8],
        snapshot: u64,
        hash: u64,
    ) -> Result<Result<Option<FoundVersion>, NeedsIo>, DatabaseError> {
        if key < self.props.smallest.as_slice() || key > self.props.largest.as_slice() {
            return Ok(Ok(None));
        }
        if !self.may_contain(hash) {
            return Ok(Ok(None));
        }
        let (mut bi, mut may_be_next) = self.point_block(key, snapshot);
        loop {
            match self.lookup_in_block::<NO_IO>(bi, key, snapshot)? {
                BlockAnswer::Answer(found) => return Ok(found),
                BlockAnswer::EndsBefore if may_be_next => {
                    bi += 1;
                    may_be_next = false;
                }
                BlockAnswer::EndsBefore => return Ok(Ok(None)),
            }
        }
    }

    /// A point read's search of block `bi`: its answer, or that every entry in the block
    /// comes before `key` at `snapshot`.
    #[inline]
    fn lookup_in_block<const NO_IO: bool>(
        self: &Arc<Self>,
        bi: usize,
        key: &[u8],
        snapshot: u64,
    ) -> Result<BlockAnswer, DatabaseError> {
        use BlockAnswer::{Answer, EndsBefore};
        if bi >= self.index.len() {
            return Ok(Answer(Ok(None)));
        }
        // A read that may not wait needs the block in memory: in the block cache (an
        // unmapped file's block, or a mapped one stored compressed and decoded before), or
        // the pages of a mapped file's block in the page cache. The cache is asked first:
        // it answers without the system call a page check costs.
        let mut cached = None;
        if NO_IO {
            let gate = self.cache.gate();
            gate.check()?;
            let may_be_cached = self.map.is_none()
                || matches!(
                    self.layouts.get(bi).and_then(OnceLock::get),
                    Some(MappedLayout::Compressed)
                );
            if may_be_cached && !gate.verify_every_read() {
                cached = self.cache.get(self.number, self.block_offset(bi));
            }
            if cached.is_none() && !(self.map.is_some() && self.frame_resident(bi)) {
                return Ok(Answer(Err(NeedsIo)));
            }
        }
        if cached.is_none() {
            if let Some(block) = self.mapped_block(bi)? {
                let pos = block.lower_bound(key, snapshot);
                if pos >= block.len() {
                    return Ok(EndsBefore);
                }
                let entry = block.pos(pos);
                if entry.current(block.data()).key != key {
                    return Ok(Answer(Ok(None)));
                }
                // The payload starts at the block's offset in the file.
                let base = self.block_offset(bi) as usize;
                let value = entry
                    .value_range()
                    .map(|r| PinnedValue::mapped(Arc::clone(self), base + r.start, r.len()));
                return Ok(Answer(Ok(Some((entry.seq(), value)))));
            }
        }
        let block = match cached {
            Some(block) => block,
            None => self.block(bi)?,
        };
        let pos = block.lower_bound(key, snapshot);
        if pos >= block.len() {
            return Ok(EndsBefore);
        }
        if block.key(pos) == key {
            let seq = block.seq(pos);
            let value = block
                .value(pos)
                .is_some()
                .then(|| PinnedValue::in_block(Arc::clone(&block), pos));
            Ok(Answer(Ok(Some((seq, value)))))
        } else {
            Ok(Answer(Ok(None)))
        }
    }

    /// Asks the CPU to load the first [`ENTRY_HEAD_BYTES`] of each block in `blocks`
    /// of the mapped file (nothing when unmapped): a hint for a scan about to walk them.
    fn prefetch_block_heads(&self, blocks: std::ops::Range<usize>) {
        let Some(heads) = self
            .index_heads
            .get(blocks.start..blocks.end.min(self.index_heads.len()))
        else {
            return;
        };
        for h in heads {
            crate::storage::prefetch::prefetch_slice(
                self.mapped_range(h.offset as usize..),
                ENTRY_HEAD_BYTES,
            );
        }
    }

    /// Whether block `i` of a mapped file is in memory (every page of its frame), as
    /// the kernel said lately (see [`ResidencyMemo`]).
    fn frame_resident(&self, i: usize) -> bool {
        let (Some(map), Some(h)) = (self.map.as_deref(), self.index_heads.get(i)) else {
            return false;
        };
        self.residency.is_resident(i, || {
            usize::try_from(h.offset).is_ok_and(|start| map.is_resident(start, h.len as usize))
        })
    }

    /// `len` bytes at `start` of the mapped file (empty when out of range or unmapped).
    #[inline]
    pub(crate) fn mapped_bytes(&self, start: usize, len: usize) -> &[u8] {
        self.mapped_range(start..start + len)
    }

    /// Bytes `range` of the mapped file (empty when out of range or unmapped).
    #[inline]
    fn mapped_range(&self, range: impl std::slice::SliceIndex<[u8], Output = [u8]>) -> &[u8] {
        self.map
            .as_deref()
            .and_then(|m| m.bytes().get(range))
            .unwrap_or_default()
    }

    /// The entry starts of block `i` when it is mapped, plain and verified.
    #[inline]
    fn verified_layout(&self, i: usize) -> Option<&BlockLayout> {
        match self.layouts.get(i)?.get()? {
            MappedLayout::InPlace(l) => Some(l),
            MappedLayout::Compressed => None,
        }
    }
}

/// What a point read learned from one block.
enum BlockAnswer {
    /// The read's answer (`Err(NeedsIo)`: the block is not in memory).
    Answer(Result<Option<FoundVersion>, NeedsIo>),
    /// Every entry of the block comes before the version sought: the next block holds
    /// it, if any does.
    EndsBefore,
}

impl Drop for Table {
    fn drop(&mut self) {
        if self.obsolete.load(Ordering::Acquire) && !self.cache.is_closed() {
            // Best effort: a file left behind is removed as an orphan at the next open.
            let _ = self.fs.remove_file(&self.path);
        }
    }
}

/// Bytes of a mapped block a seek asks the CPU to load ahead of the scan that follows.
const SEEK_PREFETCH_BYTES: usize = 2048;
/// An entry of at least this many bytes of key and value counts as large for a seek's
/// prefetch: the entries a scan reads next lie in the following blocks, so the seek asks
/// for the start of each of [`SEEK_PREFETCH_BLOCKS`] blocks instead of a run of bytes.
const LARGE_ENTRY_BYTES: usize = 1024;
/// Blocks whose starts a seek that landed on a large entry asks the CPU to load.
const SEEK_PREFETCH_BLOCKS: usize = 8;
/// Bytes at the start of an entry (its header, key and the value's first bytes) such a
/// seek asks for.
const ENTRY_HEAD_BYTES: usize = 128;

/// Index heads per entry of [`Table::head_summary`].
const HEAD_STRIDE: usize = 16;

/// The block a table cursor rests on.
enum Loaded {
    /// A decoded block from the cache.
    Cached(Arc<Block>),
    /// A block read in place from the mapped file (verified when it was loaded).
    Mapped,
}

/// A byte slice kept as a pointer and a length, for a cursor that owns (through an `Arc`)
/// the memory it points into: a safe field could not borrow from a sibling field.
#[derive(Clone, Copy)]
struct RawBytes {
    ptr: *const u8,
    len: usize,
}

impl RawBytes {
    const EMPTY: RawBytes = RawBytes {
        ptr: std::ptr::NonNull::<u8>::dangling().as_ptr(),
        len: 0,
    };

    #[inline]
    fn of(bytes: &[u8]) -> Self {
        Self {
            ptr: bytes.as_ptr(),
            len: bytes.len(),
        }
    }

    /// The bytes. Callers keep the memory alive and unchanged for as long as `self` is
    /// theirs (see [`TableCursor::payload`]).
    #[inline]
    #[expect(
        unsafe_code,
        reason = "a scan step reads the loaded block's bytes without re-deriving them (measured in bench/results/cpu-per-op.md)"
    )]
    fn get(&self) -> &[u8] {
        // SAFETY: `ptr..ptr + len` was a live `&[u8]` when this was made (or is the empty
        // dangling slice). The only holder, `TableCursor`, takes it from memory it owns
        // through an `Arc` (a cached block's bytes, or its table's map, which is never
        // unmapped or written while the table lives) and replaces or empties it whenever
        // it lets that memory go (`load`, `unload`), so the memory outlives every borrow
        // of the cursor that reaches here.
        unsafe { std::slice::from_raw_parts(self.ptr, self.len) }
    }
}

// SAFETY: `RawBytes` is a shared, read-only view of bytes; the memory it points into is
// immutable and owned (through `Arc`s, which are `Send` and `Sync`) by the same cursor, so
// moving the cursor to another thread or sharing it moves or shares those owners too.
#[expect(unsafe_code, reason = "a raw pointer is not Send by default")]
unsafe impl Send for RawBytes {}
// SAFETY: as for `Send`: only reads through `&self`, of immutable memory.
#[expect(unsafe_code, reason = "a raw pointer is not Sync by default")]
unsafe impl Sync for RawBytes {}

/// A two-way cursor over one table.
pub struct TableCursor {
    table: Arc<Table>,
    block_idx: usize,
    block: Option<Loaded>,
    /// Entries in the loaded block.
    len: usize,
    /// Where a mapped block's entries lie in the file (`start..end`).
    body: (usize, usize),
    /// The loaded block's payload (what [`TableCursor::data`] returns), found once per
    /// block rather than once per look: every step of a scan reads it two or three times.
    /// It points into the `Arc<Block>` of `block` or into the map of `table`, both held
    /// by this cursor; it is set only by `load` and emptied with `block`.
    payload: RawBytes,
    pos: usize,
    /// Where the entry at `pos` lies, found once per move rather than once per look.
    cur: EntryPos,
    /// Check every mapped block's checksum on load, even one verified before.
    recheck: bool,
}

impl TableCursor {
    /// A cursor over `table`, not yet positioned.
    pub fn new(table: Arc<Table>) -> Self {
        Self {
            table,
            block_idx: 0,
            block: None,
            len: 0,
            body: (0, 0),
            payload: RawBytes::EMPTY,
            pos: 0,
            cur: EntryPos::default(),
            recheck: false,
        }
    }

    /// A cursor that checks the checksum of every block it loads, even a mapped block an
    /// earlier read verified (for compaction, whose output gets fresh checksums).
    pub fn rechecking(table: Arc<Table>) -> Self {
        Self {
            recheck: true,
            ..Self::new(table)
        }
    }

    /// The loaded block's payload bytes, which `cur` points into.
    #[inline]
    fn data(&self) -> &[u8] {
        self.payload.get()
    }

    /// Leaves no block loaded (the payload goes with it).
    #[inline]
    fn unload(&mut self) {
        self.payload = RawBytes::EMPTY;
        self.block = None;
        self.len = 0;
    }

    /// Rests on entry `pos` of the loaded block.
    #[inline]
    fn settle(&mut self, pos: usize) {
        self.pos = pos;
        self.cur = match &self.block {
            Some(Loaded::Cached(b)) => b.pos(pos),
            Some(Loaded::Mapped) => self
                .table
                .verified_layout(self.block_idx)
                .map_or_else(EntryPos::default, |l| l.pos(self.data(), pos)),
            None => EntryPos::default(),
        };
    }

    /// First entry of the loaded block at or after `(key, seq)`.
    fn lower_bound(&self, key: &[u8], seq: u64) -> usize {
        match &self.block {
            Some(Loaded::Cached(b)) => b.lower_bound(key, seq),
            Some(Loaded::Mapped) => self
                .table
                .verified_view(self.block_idx)
                .map_or(0, |v| v.lower_bound(key, seq)),
            None => 0,
        }
    }

    /// First entry of the loaded block whose key is above `key`.
    fn upper_bound_key(&self, key: &[u8]) -> usize {
        match &self.block {
            Some(Loaded::Cached(b)) => b.upper_bound_key(key),
            Some(Loaded::Mapped) => self
                .table
                .verified_view(self.block_idx)
                .map_or(0, |v| v.upper_bound_key(key)),
            None => 0,
        }
    }

    fn load(&mut self, i: usize) -> Result<bool, DatabaseError> {
        self.unload();
        if i >= self.table.index.len() {
            return Ok(false);
        }
        self.block_idx = i;
        if let Some(view) = self.table.mapped_block_checked(i, self.recheck)? {
            self.len = view.len();
            let start = self.table.block_offset(i) as usize;
            self.body = (start, start + view.data().len());
            self.block = Some(Loaded::Mapped);
            self.payload = RawBytes::of(self.table.mapped_bytes(start, view.data().len()));
        } else {
            let b = self.table.block(i)?;
            self.len = b.len();
            self.payload = RawBytes::of(b.data());
            self.block = Some(Loaded::Cached(b));
        }
        Ok(true)
    }

    fn first_of(&mut self, mut i: usize) -> Result<(), DatabaseError> {
        while self.load(i)? {
            if self.len > 0 {
                self.settle(0);
                return Ok(());
            }
            i += 1;
        }
        Ok(())
    }

    fn last_of(&mut self, mut i: usize) -> Result<(), DatabaseError> {
        loop {
            if !self.load(i)? {
                return Ok(());
            }
            if self.len > 0 {
                self.settle(self.len - 1);
                return Ok(());
            }
            if i == 0 {
                self.unload();
                return Ok(());
            }
            i -= 1;
        }
    }
}

impl Cursor for TableCursor {
    #[inline]
    fn valid(&self) -> bool {
        self.block.is_some() && self.pos < self.len
    }

    fn key(&self) -> &[u8] {
        self.current().map_or(&[], |c| c.key)
    }

    fn seq(&self) -> u64 {
        self.current().map_or(0, |c| c.seq)
    }

    fn value(&self) -> Option<&[u8]> {
        self.current().and_then(|c| c.value)
    }

    #[inline]
    fn current(&self) -> Option<Current<'_>> {
        self.valid().then(|| self.cur.current(self.data()))
    }

    #[inline]
    fn head(&self) -> crate::storage::iter::HeadKey {
        self.valid().then(|| (self.cur.prefix(), self.cur.seq()))
    }

    fn seek(&mut self, key: &[u8]) -> Result<(), DatabaseError> {
        // The first block that may hold `key` in any version (`Table::point_block` with
        // every version visible): when that block ends before the key after all, the seek
        // below moves on to the next block.
        let (bi, _) = self.table.point_block(key, u64::MAX);
        if !self.load(bi)? {
            return Ok(());
        }
        let pos = self.lower_bound(key, u64::MAX);
        if pos < self.len {
            self.settle(pos);
            // A seek usually starts a scan: load the entries it will walk next in parallel,
            // running on into the following block (which follows in the file).
            if matches!(self.block, Some(Loaded::Mapped)) {
                let from = self.body.0 + self.cur.key_start();
                if self.cur.key_and_value_len() < LARGE_ENTRY_BYTES {
                    crate::storage::prefetch::prefetch_slice(
                        self.table.mapped_range(from..),
                        SEEK_PREFETCH_BYTES,
                    );
                } else {
                    // Large values: the next entries start in the next blocks, each
                    // further on than the bytes above would reach.
                    crate::storage::prefetch::prefetch_slice(
                        self.table.mapped_range(from..),
                        ENTRY_HEAD_BYTES,
                    );
                    self.table
                        .prefetch_block_heads(bi + 1..bi + 1 + SEEK_PREFETCH_BLOCKS);
                }
            }
            Ok(())
        } else {
            self.first_of(bi + 1)
        }
    }

    fn seek_for_prev(&mut self, key: &[u8]) -> Result<(), DatabaseError> {
        let bi = self
            .table
            .index_partition(key, |e| e.last_key.as_slice() <= key);
        if bi >= self.table.index.len() {
            return self.seek_to_last();
        }
        self.load(bi)?;
        let pos = self.upper_bound_key(key);
        if pos > 0 {
            self.settle(pos - 1);
            // A backward seek usually starts a backward scan: load the entries before the
            // one it landed on (running back into the preceding block) in parallel.
            if matches!(self.block, Some(Loaded::Mapped)) {
                let to = self.body.0 + self.cur.key_start();
                if self.cur.key_and_value_len() < LARGE_ENTRY_BYTES {
                    crate::storage::prefetch::prefetch_slice(
                        self.table
                            .mapped_range(to.saturating_sub(SEEK_PREFETCH_BYTES)..to),
                        SEEK_PREFETCH_BYTES,
                    );
                } else {
                    // Large values fill their blocks: a block before this one most
                    // likely holds one entry, which starts at its start.
                    self.table
                        .prefetch_block_heads(bi.saturating_sub(SEEK_PREFETCH_BLOCKS)..bi);
                }
            }
            Ok(())
        } else if bi > 0 {
            self.last_of(bi - 1)
        } else {
            self.unload();
            Ok(())
        }
    }

    fn seek_to_first(&mut self) -> Result<(), DatabaseError> {
        self.first_of(0)
    }

    fn seek_to_last(&mut self) -> Result<(), DatabaseError> {
        match self.table.index.len() {
            0 => {
                self.unload();
                Ok(())
            }
            n => self.last_of(n - 1),
        }
    }

    #[inline]
    fn next(&mut self) -> Result<(), DatabaseError> {
        if !self.valid() {
            return Ok(());
        }
        if self.pos + 1 < self.len {
            self.settle(self.pos + 1);
            Ok(())
        } else {
            self.first_of(self.block_idx + 1)
        }
    }

    fn prev(&mut self) -> Result<(), DatabaseError> {
        if !self.valid() {
            return Ok(());
        }
        if self.pos > 0 {
            self.settle(self.pos - 1);
            Ok(())
        } else if self.block_idx > 0 {
            self.last_of(self.block_idx - 1)
        } else {
            self.unload();
            Ok(())
        }
    }
}

/// A cursor over the non-overlapping, sorted tables of one level. It shares the version
/// rather than copying the level's table list, so making one costs the same however many
/// files the level holds.
pub struct LevelCursor {
    version: Arc<Version>,
    level: usize,
    idx: usize,
    current: Option<TableCursor>,
}

impl LevelCursor {
    /// A cursor over level `level` (at least 1) of `version`.
    pub fn new(version: Arc<Version>, level: usize) -> Self {
        Self {
            version,
            level,
            idx: 0,
            current: None,
        }
    }

    fn tables(&self) -> &[Arc<Table>] {
        self.version
            .levels
            .get(self.level)
            .map_or(&[], Vec::as_slice)
    }

    fn open(&mut self, i: usize) -> bool {
        match self.tables().get(i).map(Arc::clone) {
            Some(t) => {
                self.idx = i;
                self.current = Some(TableCursor::new(t));
                true
            }
            None => {
                self.current = None;
                false
            }
        }
    }

    fn skip_forward(&mut self) -> Result<(), DatabaseError> {
        while self.current.as_ref().is_some_and(|c| !c.valid()) {
            if !self.open(self.idx + 1) {
                break;
            }
            if let Some(c) = self.current.as_mut() {
                c.seek_to_first()?;
            }
        }
        Ok(())
    }

    fn skip_backward(&mut self) -> Result<(), DatabaseError> {
        while self.current.as_ref().is_some_and(|c| !c.valid()) {
            if self.idx == 0 || !self.open(self.idx - 1) {
                self.current = None;
                break;
            }
            if let Some(c) = self.current.as_mut() {
                c.seek_to_last()?;
            }
        }
        Ok(())
    }
}

impl Cursor for LevelCursor {
    fn valid(&self) -> bool {
        self.current.as_ref().is_some_and(TableCursor::valid)
    }

    fn key(&self) -> &[u8] {
        self.current.as_ref().map_or(&[], |c| c.key())
    }

    fn seq(&self) -> u64 {
        self.current.as_ref().map_or(0, |c| c.seq())
    }

    fn value(&self) -> Option<&[u8]> {
        self.current.as_ref().and_then(|c| c.value())
    }

    #[inline]
    fn current(&self) -> Option<Current<'_>> {
        self.current.as_ref()?.current()
    }

    #[inline]
    fn head(&self) -> crate::storage::iter::HeadKey {
        self.current.as_ref()?.head()
    }

    fn seek(&mut self, key: &[u8]) -> Result<(), DatabaseError> {
        let i = self
            .tables()
            .partition_point(|t| t.props.largest.as_slice() < key);
        if self.open(i) {
            if let Some(c) = self.current.as_mut() {
                c.seek(key)?;
            }
            self.skip_forward()?;
        }
        Ok(())
    }

    fn seek_for_prev(&mut self, key: &[u8]) -> Result<(), DatabaseError> {
        let n = self
            .tables()
            .partition_point(|t| t.props.smallest.as_slice() <= key);
        if n == 0 {
            self.current = None;
            return Ok(());
        }
        self.open(n - 1);
        if let Some(c) = self.current.as_mut() {
            c.seek_for_prev(key)?;
        }
        self.skip_backward()
    }

    fn seek_to_first(&mut self) -> Result<(), DatabaseError> {
        if self.open(0) {
            if let Some(c) = self.current.as_mut() {
                c.seek_to_first()?;
            }
            self.skip_forward()?;
        }
        Ok(())
    }

    fn seek_to_last(&mut self) -> Result<(), DatabaseError> {
        let count = self.tables().len();
        if count > 0 && self.open(count - 1) {
            if let Some(c) = self.current.as_mut() {
                c.seek_to_last()?;
            }
            self.skip_backward()?;
        }
        Ok(())
    }

    fn next(&mut self) -> Result<(), DatabaseError> {
        if let Some(c) = self.current.as_mut() {
            c.next()?;
        }
        self.skip_forward()
    }

    fn prev(&mut self) -> Result<(), DatabaseError> {
        if let Some(c) = self.current.as_mut() {
            c.prev()?;
        }
        self.skip_backward()
    }
}
