//! File-level checks shared by validation, repair and the background verifier.
//!
//! Everything here reads through the [`FileSystem`] layer, bypasses the block cache, and
//! records what it finds in an [`IntegrityReport`] instead of stopping at the first error,
//! so one pass lists every damaged block, record and field with its file and offset.

use std::collections::BTreeSet;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::report::{CheckKind, Component, IntegrityProblem, IntegrityReport};
use crate::checksum::{checksum64, checksum64_parts};
use crate::config::{ChecksumAlgorithm, ValidationLevel};
use crate::error::DatabaseError;
use crate::storage::cache::BlockCache;
use crate::storage::coding::{get_u32, get_u64, Reader};
use crate::storage::fs::FileSystem;
use crate::storage::manifest::{self, VersionEdit, MANIFEST_MAGIC};
use crate::storage::record::{
    decode_file_header, read_record, FinishedExtent, RecordRead, FILE_HEADER_LEN,
};
use crate::storage::table::block::{decode_from_disk, Block, BlockError, BLOCK_TRAILER_LEN};
use crate::storage::table::bloom;
use crate::storage::table::builder::{decode_properties, TableMeta, TableProperties};
use crate::storage::table::reader::Table;
use crate::storage::table::{table_file_name, FOOTER_LEN, TABLE_FORMAT_VERSION, TABLE_MAGIC};
use crate::storage::version::NUM_LEVELS;
use crate::storage::wal::{self, WAL_MAGIC};

/// Collects findings while files are checked.
pub(crate) struct Checker {
    pub fs: Arc<dyn FileSystem>,
    pub dir: PathBuf,
    pub level: ValidationLevel,
    /// Stop at the first problem.
    pub fail_fast: bool,
    pub report: IntegrityReport,
}

impl Checker {
    pub fn new(fs: Arc<dyn FileSystem>, dir: &Path, level: ValidationLevel) -> Self {
        Self {
            fs,
            dir: dir.to_path_buf(),
            level,
            fail_fast: false,
            report: IntegrityReport {
                path: dir.display().to_string(),
                level,
                ..Default::default()
            },
        }
    }

    /// Records a problem.
    #[allow(clippy::too_many_arguments)]
    pub fn problem(
        &mut self,
        component: Component,
        file: &Path,
        offset: Option<u64>,
        check: CheckKind,
        details: impl Into<String>,
        repairable: bool,
    ) {
        self.report.problems.push(IntegrityProblem {
            component,
            file: file.display().to_string(),
            offset,
            check,
            details: details.into(),
            repairable,
        });
    }

    /// Records a note (not corruption).
    pub fn note(&mut self, note: impl Into<String>) {
        self.report.notes.push(note.into());
    }

    /// True once a fail-fast validation found something.
    pub fn stopped(&self) -> bool {
        self.fail_fast && !self.report.problems.is_empty()
    }

    fn at_least(&self, level: ValidationLevel) -> bool {
        self.level >= level
    }
}

fn io_check(e: &io::Error) -> CheckKind {
    if e.kind() == io::ErrorKind::NotFound {
        CheckKind::Missing
    } else {
        CheckKind::Io
    }
}

// ----- tables -----------------------------------------------------------------------

/// The fields of a table footer.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Footer {
    pub index: (u64, u64),
    pub filter: (u64, u64),
    pub props: (u64, u64),
    pub checksum: ChecksumAlgorithm,
}

/// Parses and verifies a footer read at `footer_off`: `Err((offset, kind, what))`.
fn parse_footer(
    footer: &[u8; FOOTER_LEN],
    footer_off: u64,
) -> Result<Footer, (u64, CheckKind, String)> {
    if get_u64(footer, 56) != Some(TABLE_MAGIC) {
        return Err((
            footer_off + 56,
            CheckKind::Checksum,
            "bad magic number".into(),
        ));
    }
    let algo_id = footer[40];
    let checksum = ChecksumAlgorithm::from_id(algo_id).ok_or((
        footer_off + 40,
        CheckKind::Checksum,
        format!("unknown checksum algorithm {algo_id}"),
    ))?;
    let stored = get_u64(footer, 48).unwrap_or(0);
    let computed = checksum64(checksum, &footer[..48]);
    if stored != computed {
        return Err((
            footer_off,
            CheckKind::Checksum,
            format!("footer checksum mismatch (stored {stored:#018x}, computed {computed:#018x})"),
        ));
    }
    let version = get_u32(footer, 36).unwrap_or(0);
    if version == 0 || version > TABLE_FORMAT_VERSION {
        return Err((
            footer_off + 36,
            CheckKind::Structure,
            format!("unsupported format version {version}"),
        ));
    }
    let handle = |o: usize, l: usize| {
        (
            get_u64(footer, o).unwrap_or(u64::MAX),
            u64::from(get_u32(footer, l).unwrap_or(0)),
        )
    };
    Ok(Footer {
        index: handle(0, 8),
        filter: handle(12, 20),
        props: handle(24, 32),
        checksum,
    })
}

/// One entry of a table's index block.
#[derive(Debug, Clone)]
pub(crate) struct IndexEntry {
    pub last_key: Vec<u8>,
    pub last_seq: u64,
    pub offset: u64,
    pub len: u64,
}

/// Decodes an index block; `Err` says what is wrong.
pub(crate) fn decode_index(data: &[u8], data_end: u64) -> Result<Vec<IndexEntry>, String> {
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

/// A data block that could not be used.
#[derive(Debug, Clone)]
pub(crate) struct BadBlock {
    pub offset: u64,
    pub len: u64,
    /// Last key of the block before it, when known: the damaged keys are above it.
    pub after_key: Option<Vec<u8>>,
    /// Last key of this block according to the index, when known.
    pub up_to_key: Option<Vec<u8>>,
    pub reason: String,
}

/// What a table check found.
#[derive(Debug, Default)]
pub(crate) struct TableScan {
    pub number: u64,
    pub path: PathBuf,
    pub file_size: u64,
    pub opened: bool,
    pub checksum: Option<ChecksumAlgorithm>,
    pub footer_ok: bool,
    pub index_ok: bool,
    pub filter_ok: bool,
    pub props_ok: bool,
    pub props: Option<TableProperties>,
    /// Data blocks were read (the scope asked for them).
    pub data_read: bool,
    /// Data blocks were found by scanning because the index was unusable.
    pub scanned_without_index: bool,
    pub good_blocks: u64,
    pub bad_blocks: Vec<BadBlock>,
    /// Index entries or bloom filter disagree with the data blocks.
    pub index_inconsistent: bool,
    pub entries: u64,
    pub tombstones: u64,
    pub min_seq: u64,
    pub max_seq: u64,
    pub smallest: Option<Vec<u8>>,
    pub largest: Option<Vec<u8>>,
}

impl TableScan {
    /// Footer, index, filter or properties damaged or inconsistent (rebuildable from data).
    pub fn meta_damaged(&self) -> bool {
        self.opened
            && (!self.footer_ok
                || !self.index_ok
                || !self.filter_ok
                || !self.props_ok
                || self.index_inconsistent)
    }
}

/// How much of a table to read.
#[derive(Debug, Clone, Copy)]
pub(crate) struct TableScope {
    /// Read and verify every data block (else only when the level needs them for the
    /// index checks).
    pub data: bool,
    /// Whether problems in the table's data blocks are reported as `tables` problems
    /// (else only the index structures are this validation's business).
    pub component: Component,
}

/// Finds the end of the block starting at `start` by its checksum (the block's own offset is
/// part of what it covers), trying candidate ends whose compression byte is valid.
fn find_block_end(
    buf: &[u8],
    start: usize,
    limit: usize,
    algo: ChecksumAlgorithm,
) -> Option<usize> {
    let min_end = start + BLOCK_TRAILER_LEN + 4;
    let offset = (start as u64).to_le_bytes();
    (min_end..=limit.min(buf.len())).find(|&end| {
        buf[end - BLOCK_TRAILER_LEN] <= 1
            && get_u64(buf, end - 8)
                == Some(checksum64_parts(algo, &[&buf[start..end - 8], &offset]))
    })
}

/// Reads and verifies table `number`, visiting every good data block in order.
pub(crate) fn scan_table(
    ck: &mut Checker,
    number: u64,
    scope: TableScope,
    visit: &mut dyn FnMut(&Block),
) -> TableScan {
    let path = ck.dir.join(table_file_name(number));
    let mut scan = TableScan {
        number,
        path: path.clone(),
        min_seq: u64::MAX,
        ..Default::default()
    };
    let file = match ck.fs.open_read(&path) {
        Ok(f) => f,
        Err(e) => {
            ck.problem(
                Component::Tables,
                &path,
                None,
                io_check(&e),
                format!("cannot open: {e}"),
                false,
            );
            return scan;
        }
    };
    let size = match file.size() {
        Ok(s) => s,
        Err(e) => {
            ck.problem(
                Component::Tables,
                &path,
                None,
                CheckKind::Io,
                e.to_string(),
                false,
            );
            return scan;
        }
    };
    scan.opened = true;
    scan.file_size = size;
    ck.report.files_checked += 1;
    ck.report.tables_checked += 1;
    ck.report.bytes_checked += size;

    // Footer.
    let mut footer = None;
    if size < FOOTER_LEN as u64 {
        ck.problem(
            Component::Index,
            &path,
            Some(0),
            CheckKind::Structure,
            "file shorter than its footer",
            true,
        );
    } else {
        let footer_off = size - FOOTER_LEN as u64;
        let mut raw = [0u8; FOOTER_LEN];
        match file.read_exact_at(&mut raw, footer_off) {
            Err(e) => ck.problem(
                Component::Index,
                &path,
                Some(footer_off),
                CheckKind::Io,
                format!("reading the footer: {e}"),
                false,
            ),
            Ok(()) => match parse_footer(&raw, footer_off) {
                Ok(f) => footer = Some((f, footer_off)),
                Err((off, kind, what)) => {
                    ck.problem(Component::Index, &path, Some(off), kind, what, true)
                }
            },
        }
    }
    scan.footer_ok = footer.is_some();
    scan.checksum = footer.map(|(f, _)| f.checksum);

    // Index, filter and properties blocks.
    let mut index = None;
    let mut filter = None;
    if let Some((f, footer_off)) = footer {
        let meta = |ck: &mut Checker, (off, len): (u64, u64), what: &str| {
            if len < BLOCK_TRAILER_LEN as u64
                || off.checked_add(len).is_none_or(|end| end > footer_off)
            {
                ck.problem(
                    Component::Index,
                    &path,
                    Some(off),
                    CheckKind::Structure,
                    format!("{what} block ({off}+{len}) out of bounds"),
                    true,
                );
                return None;
            }
            let mut raw = vec![0u8; len as usize];
            if let Err(e) = file.read_exact_at(&mut raw, off) {
                ck.problem(
                    Component::Index,
                    &path,
                    Some(off),
                    CheckKind::Io,
                    format!("reading the {what} block: {e}"),
                    false,
                );
                return None;
            }
            ck.report.blocks_checked += 1;
            match decode_from_disk(raw, f.checksum, off) {
                Ok(payload) => Some(payload),
                Err(e) => {
                    let (kind, what) = block_error(e, what);
                    ck.problem(Component::Index, &path, Some(off), kind, what, true);
                    None
                }
            }
        };
        let index_raw = meta(ck, f.index, "index");
        filter = meta(ck, f.filter, "filter");
        let props_raw = meta(ck, f.props, "properties");
        if let Some(raw) = index_raw {
            match decode_index(&raw, f.filter.0.min(footer_off)) {
                Ok(entries) => index = Some(entries),
                Err(what) => ck.problem(
                    Component::Index,
                    &path,
                    Some(f.index.0),
                    CheckKind::Structure,
                    format!("malformed index block: {what}"),
                    true,
                ),
            }
        }
        if let Some(raw) = props_raw {
            match decode_properties(&raw) {
                Some(p) => scan.props = Some(p),
                None => ck.problem(
                    Component::Index,
                    &path,
                    Some(f.props.0),
                    CheckKind::Structure,
                    "malformed properties block",
                    true,
                ),
            }
        }
        if let Some(fl) = &filter {
            if ck.at_least(ValidationLevel::Standard) && !bloom::is_well_formed(fl) {
                ck.problem(
                    Component::Index,
                    &path,
                    Some(f.filter.0),
                    CheckKind::Structure,
                    "malformed bloom filter",
                    true,
                );
                filter = None;
            }
        }
        if ck.at_least(ValidationLevel::Standard) {
            if let Some(entries) = &index {
                let data_end = entries.last().map_or(0, |e| e.offset + e.len);
                if data_end != f.filter.0 {
                    ck.problem(
                        Component::Index,
                        &path,
                        Some(f.index.0),
                        CheckKind::Structure,
                        format!(
                            "the index covers data up to {data_end} but the filter starts at {}",
                            f.filter.0
                        ),
                        true,
                    );
                    index = None;
                }
            }
        }
    }
    scan.index_ok = index.is_some();
    scan.filter_ok = filter.is_some();
    scan.props_ok = scan.props.is_some();

    let want_data = scope.data || ck.at_least(ValidationLevel::Standard);
    if !want_data || ck.stopped() {
        return scan;
    }
    scan.data_read = true;
    // For "every indexed key reachable": the table as the engine opens it.
    let lookup = if ck.at_least(ValidationLevel::Comprehensive) && !scan.meta_damaged() {
        Table::open(
            Arc::clone(&ck.fs),
            &ck.dir,
            number,
            Arc::new(BlockCache::new(1 << 20)),
        )
        .ok()
        .map(Arc::new)
    } else {
        None
    };
    let data_component = if scope.data {
        Component::Tables
    } else {
        scope.component
    };
    let mut state = BlockWalk {
        prev_last: None,
        bloom_misses: 0,
        index_mismatches: 0,
        unreachable: 0,
    };
    match (&index, footer) {
        (Some(entries), Some((f, _))) => {
            for (i, e) in entries.iter().enumerate() {
                if ck.stopped() {
                    break;
                }
                let mut raw = vec![0u8; e.len as usize];
                let result = file
                    .read_exact_at(&mut raw, e.offset)
                    .map_err(|err| (CheckKind::Io, format!("reading the block: {err}")))
                    .and_then(|()| {
                        decode_from_disk(raw, f.checksum, e.offset)
                            .map_err(|err| block_error(err, "data"))
                    });
                let after = i.checked_sub(1).map(|p| entries[p].last_key.clone());
                check_data_block(
                    ck,
                    &mut scan,
                    &mut state,
                    data_component,
                    (e.offset, e.len),
                    result,
                    Some(e),
                    after,
                    filter.as_deref(),
                    lookup.as_ref(),
                    visit,
                );
            }
        }
        _ => {
            // No usable index: find the blocks by their checksums.
            scan.scanned_without_index = true;
            let mut buf = vec![0u8; size as usize];
            if let Err(e) = file.read_exact_at(&mut buf, 0) {
                ck.problem(
                    data_component,
                    &path,
                    Some(0),
                    CheckKind::Io,
                    format!("reading the file: {e}"),
                    false,
                );
                return scan;
            }
            let limit = match footer {
                Some((f, _)) => f.filter.0.min(size) as usize,
                None => (size as usize).saturating_sub(FOOTER_LEN),
            };
            let algos = match scan.checksum {
                Some(a) => vec![a],
                None => vec![
                    ChecksumAlgorithm::Xxh64,
                    ChecksumAlgorithm::Blake3,
                    ChecksumAlgorithm::Crc32,
                ],
            };
            let Some(algo) = algos
                .into_iter()
                .find(|&a| find_block_end(&buf, 0, limit, a).is_some())
            else {
                if limit > 0 {
                    scan.bad_blocks.push(BadBlock {
                        offset: 0,
                        len: limit as u64,
                        after_key: None,
                        up_to_key: None,
                        reason: "no intact data block found".into(),
                    });
                    ck.problem(
                        data_component,
                        &path,
                        Some(0),
                        CheckKind::Checksum,
                        "no intact data block found without the index",
                        false,
                    );
                }
                return scan;
            };
            scan.checksum.get_or_insert(algo);
            let mut start = 0usize;
            while start < limit && !ck.stopped() {
                let Some(end) = find_block_end(&buf, start, limit, algo) else {
                    let after = state.prev_last.as_ref().map(|(k, _)| k.clone());
                    scan.bad_blocks.push(BadBlock {
                        offset: start as u64,
                        len: (limit - start) as u64,
                        after_key: after,
                        up_to_key: None,
                        reason: "unreadable, and without the index the blocks after it \
                                 cannot be located"
                            .into(),
                    });
                    ck.problem(
                        data_component,
                        &path,
                        Some(start as u64),
                        CheckKind::Checksum,
                        format!(
                            "no intact block starts here; {} bytes of data up to the \
                             filter are unreadable",
                            limit - start
                        ),
                        false,
                    );
                    break;
                };
                let result = decode_from_disk(buf[start..end].to_vec(), algo, start as u64)
                    .map_err(|err| block_error(err, "data"));
                // Without the footer the end of the data is unknown: an intact block that is
                // not a data block is the filter, where the table's own index blocks begin.
                if footer.is_none() {
                    if let Ok(p) = &result {
                        if Block::decode(p.clone()).is_err() {
                            break;
                        }
                    }
                }
                let after = state.prev_last.as_ref().map(|(k, _)| k.clone());
                check_data_block(
                    ck,
                    &mut scan,
                    &mut state,
                    data_component,
                    (start as u64, (end - start) as u64),
                    result,
                    None,
                    after,
                    filter.as_deref(),
                    lookup.as_ref(),
                    visit,
                );
                start = end;
            }
        }
    }
    if state.index_mismatches > 0 || state.bloom_misses > 0 || state.unreachable > 0 {
        scan.index_inconsistent = true;
    }
    if state.bloom_misses > 0 {
        ck.problem(
            Component::Index,
            &path,
            footer.map(|(f, _)| f.filter.0),
            CheckKind::Structure,
            format!(
                "the bloom filter rejects {} keys the table holds",
                state.bloom_misses
            ),
            true,
        );
    }
    // Properties against what the blocks hold.
    if ck.at_least(ValidationLevel::Standard) && scan.bad_blocks.is_empty() {
        if let (Some(p), Some((f, _))) = (&scan.props, footer) {
            let mut diffs = Vec::new();
            if p.entries != scan.entries {
                diffs.push(format!("entries {} vs {}", p.entries, scan.entries));
            }
            if p.tombstones != scan.tombstones {
                diffs.push(format!(
                    "tombstones {} vs {}",
                    p.tombstones, scan.tombstones
                ));
            }
            if scan.entries > 0 {
                if p.min_seq != scan.min_seq || p.max_seq != scan.max_seq {
                    diffs.push(format!(
                        "sequence range {}..={} vs {}..={}",
                        p.min_seq, p.max_seq, scan.min_seq, scan.max_seq
                    ));
                }
                if Some(&p.smallest) != scan.smallest.as_ref()
                    || Some(&p.largest) != scan.largest.as_ref()
                {
                    diffs.push("key range".to_string());
                }
            }
            if !diffs.is_empty() {
                scan.index_inconsistent = true;
                ck.problem(
                    Component::Index,
                    &path,
                    Some(f.props.0),
                    CheckKind::Structure,
                    format!(
                        "properties disagree with the data blocks: {}",
                        diffs.join(", ")
                    ),
                    true,
                );
            }
        }
    }
    scan
}

struct BlockWalk {
    prev_last: Option<(Vec<u8>, u64)>,
    bloom_misses: u64,
    index_mismatches: u64,
    unreachable: u64,
}

fn block_error(e: BlockError, what: &str) -> (CheckKind, String) {
    match e {
        BlockError::Checksum { expected, actual } => (
            CheckKind::Checksum,
            format!(
                "{what} block checksum mismatch (stored {expected:#018x}, computed {actual:#018x})"
            ),
        ),
        BlockError::Malformed(m) => (CheckKind::Structure, format!("malformed {what} block: {m}")),
    }
}

#[allow(clippy::too_many_arguments)]
fn check_data_block(
    ck: &mut Checker,
    scan: &mut TableScan,
    st: &mut BlockWalk,
    component: Component,
    (offset, len): (u64, u64),
    payload: Result<Vec<u8>, (CheckKind, String)>,
    index_entry: Option<&IndexEntry>,
    after_key: Option<Vec<u8>>,
    filter: Option<&[u8]>,
    lookup: Option<&Arc<Table>>,
    visit: &mut dyn FnMut(&Block),
) {
    let path = scan.path.clone();
    ck.report.blocks_checked += 1;
    let bad = |ck: &mut Checker, scan: &mut TableScan, kind: CheckKind, what: String| {
        ck.problem(component, &path, Some(offset), kind, what.clone(), false);
        scan.bad_blocks.push(BadBlock {
            offset,
            len,
            after_key: after_key.clone(),
            up_to_key: index_entry.map(|e| e.last_key.clone()),
            reason: what,
        });
    };
    let block = match payload.and_then(|p| Block::decode(p).map_err(|e| block_error(e, "data"))) {
        Ok(b) => b,
        Err((kind, what)) => return bad(ck, scan, kind, what),
    };
    if ck.at_least(ValidationLevel::Standard) {
        if block.is_empty() {
            return bad(ck, scan, CheckKind::Structure, "empty data block".into());
        }
        if let Err(what) = block.check_order() {
            return bad(ck, scan, CheckKind::Structure, format!("key order: {what}"));
        }
        if let Some((pk, ps)) = &st.prev_last {
            if crate::storage::iter::internal_cmp(pk, *ps, block.key(0), block.seq(0))
                != std::cmp::Ordering::Less
            {
                return bad(
                    ck,
                    scan,
                    CheckKind::Structure,
                    "first entry not after the last entry of the previous block".into(),
                );
            }
        }
    }
    let n = block.len();
    ck.report.entries_checked += n as u64;
    scan.good_blocks += 1;
    if let Some(e) = index_entry {
        if ck.at_least(ValidationLevel::Standard)
            && n > 0
            && (e.last_key != block.key(n - 1) || e.last_seq != block.seq(n - 1))
        {
            st.index_mismatches += 1;
            ck.problem(
                Component::Index,
                &path,
                Some(offset),
                CheckKind::Structure,
                "the index entry does not match the block's last entry",
                true,
            );
        }
    }
    for i in 0..n {
        let key = block.key(i);
        let first_of_key = if i == 0 {
            st.prev_last
                .as_ref()
                .is_none_or(|(k, _)| k.as_slice() != key)
        } else {
            block.key(i - 1) != key
        };
        scan.entries += 1;
        if block.value(i).is_none() {
            scan.tombstones += 1;
        }
        scan.min_seq = scan.min_seq.min(block.seq(i));
        scan.max_seq = scan.max_seq.max(block.seq(i));
        if scan.smallest.is_none() {
            scan.smallest = Some(key.to_vec());
        }
        if !first_of_key {
            continue;
        }
        let hash = bloom::key_hash(key);
        if ck.at_least(ValidationLevel::Standard) {
            if let Some(f) = filter {
                if !bloom::may_contain(f, hash) {
                    st.bloom_misses += 1;
                }
            }
        }
        if let Some(t) = lookup {
            let want = (block.seq(i), block.value(i));
            match t.get(key, u64::MAX, hash) {
                Ok(Some((seq, value))) if (seq, value.as_deref()) == want => {}
                other => {
                    st.unreachable += 1;
                    if st.unreachable <= 3 {
                        ck.problem(
                            Component::Index,
                            &path,
                            Some(offset),
                            CheckKind::Logical,
                            format!(
                                "key {} is not reachable through the index (lookup gave {})",
                                show_key(key),
                                match other {
                                    Ok(Some(_)) => "another version".to_string(),
                                    Ok(None) => "nothing".to_string(),
                                    Err(e) => e.to_string(),
                                }
                            ),
                            true,
                        );
                    }
                }
            }
        }
    }
    if n > 0 {
        scan.largest = Some(block.key(n - 1).to_vec());
        st.prev_last = Some((block.key(n - 1).to_vec(), block.seq(n - 1)));
    }
    visit(&block);
}

/// A key for a message: text when printable, else hex, cut at 64 bytes.
pub(crate) fn show_key(key: &[u8]) -> String {
    let k = &key[..key.len().min(64)];
    let more = if key.len() > 64 { "…" } else { "" };
    if k.iter().all(|b| b.is_ascii_graphic() || *b == b' ') {
        format!("\"{}\"{more}", String::from_utf8_lossy(k))
    } else {
        let hex: String = k.iter().map(|b| format!("{b:02x}")).collect();
        format!("0x{hex}{more}")
    }
}

// ----- log segments -----------------------------------------------------------------

/// The next offset after `pos` where a good record starts.
pub(crate) fn next_good_record(data: &[u8], pos: usize, algo: ChecksumAlgorithm) -> Option<usize> {
    (pos + 1..data.len()).find(|&p| matches!(read_record(data, p, algo), RecordRead::Ok(..)))
}

/// Reads the file at `path`, or with `settled` only its first `settled` bytes (what a live
/// database's appends have finished; anything after may be an append in progress).
fn read_settled(fs: &dyn FileSystem, path: &Path, settled: Option<u64>) -> io::Result<Vec<u8>> {
    let mut data = fs.read_all(path)?;
    if let Some(limit) = settled {
        data.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
    }
    Ok(data)
}

/// What a log segment check found.
#[derive(Debug, Default)]
pub(crate) struct WalScan {
    /// Length of the intact prefix (up to the first bad record).
    pub valid_len: u64,
    /// Damage before intact records (not a torn tail).
    pub damaged: bool,
    /// Bytes of a torn tail at the end.
    pub torn_tail: u64,
    /// Records after the first damage that are intact, and their sequence range.
    pub records_after_damage: u64,
    pub seqs_after_damage: Option<(u64, u64)>,
}

/// Verifies log segment `path`. `last` says it is the newest segment, whose torn tail (a
/// crash mid-append, or an append in progress) is expected. `next_seq` carries the
/// sequence number the next record must not go below. `settled`, for a live database's
/// active segment, is how much of it appends have finished: only that much is read.
pub(crate) fn scan_wal(
    ck: &mut Checker,
    path: &Path,
    last: bool,
    next_seq: &mut Option<u64>,
    settled: Option<u64>,
) -> WalScan {
    let mut out = WalScan::default();
    let data = match read_settled(ck.fs.as_ref(), path, settled) {
        Ok(d) => d,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            ck.note(format!("{}: removed during validation", path.display()));
            return out;
        }
        Err(e) => {
            ck.problem(
                Component::Wal,
                path,
                None,
                CheckKind::Io,
                e.to_string(),
                false,
            );
            return out;
        }
    };
    ck.report.files_checked += 1;
    ck.report.wal_segments_checked += 1;
    ck.report.bytes_checked += data.len() as u64;
    let header = match decode_file_header(&data, WAL_MAGIC) {
        Ok(h) => h,
        Err(_) if last && data.len() <= FILE_HEADER_LEN => {
            ck.note(format!(
                "{}: header incomplete ({} bytes), a crash while creating it; recovery ignores it",
                path.display(),
                data.len()
            ));
            out.torn_tail = data.len() as u64;
            return out;
        }
        Err(e) => {
            ck.problem(
                Component::Wal,
                path,
                Some(0),
                CheckKind::Checksum,
                format!("bad segment header: {e:?}"),
                false,
            );
            out.damaged = true;
            return out;
        }
    };
    if header.version == 0 || header.version > wal::WAL_FORMAT_VERSION {
        ck.problem(
            Component::Wal,
            path,
            Some(4),
            CheckKind::Structure,
            format!("unsupported format version {}", header.version),
            false,
        );
        out.damaged = true;
        return out;
    }
    let algo = header.checksum;
    let mut pos = FILE_HEADER_LEN;
    let mut in_damage = false;
    loop {
        if ck.stopped() {
            break;
        }
        match read_record(&data, pos, algo) {
            RecordRead::End => break,
            RecordRead::Ok(payload, next) => {
                ck.report.records_checked += 1;
                match wal::decode_batch(payload) {
                    None => {
                        ck.problem(
                            Component::Wal,
                            path,
                            Some(pos as u64),
                            CheckKind::Structure,
                            "record checksum ok but batch malformed",
                            false,
                        );
                        if !in_damage {
                            out.valid_len = pos as u64;
                        }
                        in_damage = true;
                        out.damaged = true;
                    }
                    Some((first, ops)) => {
                        ck.report.entries_checked += ops.len() as u64;
                        let end = first.saturating_add(ops.len() as u64);
                        if in_damage {
                            out.records_after_damage += 1;
                            let r = out.seqs_after_damage.get_or_insert((first, end));
                            r.1 = r.1.max(end);
                        }
                        if ck.at_least(ValidationLevel::Standard)
                            && ops.iter().any(|op| op.key.is_empty())
                        {
                            ck.problem(
                                Component::Wal,
                                path,
                                Some(pos as u64),
                                CheckKind::Structure,
                                "batch holds an empty key",
                                false,
                            );
                        }
                        if ck.at_least(ValidationLevel::Comprehensive) {
                            if let Some(min) = *next_seq {
                                if first < min {
                                    ck.problem(
                                        Component::Wal,
                                        path,
                                        Some(pos as u64),
                                        CheckKind::Logical,
                                        format!(
                                            "sequence numbers go backwards: batch starts at \
                                             {first}, expected at least {min}"
                                        ),
                                        false,
                                    );
                                }
                            }
                        }
                        *next_seq = Some(next_seq.unwrap_or(0).max(end));
                    }
                }
                pos = next;
            }
            RecordRead::Bad(why) => {
                if !in_damage {
                    out.valid_len = pos as u64;
                }
                // Zeros written ahead of the records (log format 2): a clean end.
                if crate::storage::wal::is_preextension_tail(header.version, &data, pos) {
                    break;
                }
                let next = next_good_record(&data, pos, algo);
                match next {
                    None if last => {
                        out.torn_tail = (data.len() - pos) as u64;
                        ck.note(format!(
                            "{}: torn tail of {} bytes at offset {pos} (an append cut short by a \
                             crash, or in progress); recovery cuts it off",
                            path.display(),
                            data.len() - pos
                        ));
                        break;
                    }
                    _ => {
                        ck.problem(
                            Component::Wal,
                            path,
                            Some(pos as u64),
                            CheckKind::Checksum,
                            why,
                            false,
                        );
                        out.damaged = true;
                        in_damage = true;
                        match next {
                            Some(p) => pos = p,
                            None => break,
                        }
                    }
                }
            }
        }
    }
    if !in_damage {
        out.valid_len = pos.min(data.len()) as u64;
    }
    out
}

// ----- manifest ---------------------------------------------------------------------

/// The live state a manifest describes.
#[derive(Debug, Clone, Default)]
pub(crate) struct ManifestState {
    pub number: u64,
    pub live: Vec<(usize, TableMeta)>,
    pub log_number: u64,
    pub last_sequence: u64,
    pub next_file: u64,
    /// Damage was found: the state is the replay of the intact records before it.
    pub damaged: bool,
}

/// Verifies `CURRENT` and the manifest it names, replaying the edits. `record` says whether
/// problems go into the report (the manifest may be read only for the table list).
/// `extent`, for an open database, says how much of the manifest appends have finished:
/// only that much is read.
pub(crate) fn scan_manifest(
    ck: &mut Checker,
    record: bool,
    extent: Option<&FinishedExtent>,
) -> Option<ManifestState> {
    let before = ck.report.problems.len();
    let state = scan_manifest_inner(ck, extent);
    if !record {
        ck.report.problems.truncate(before);
    }
    state
}

fn scan_manifest_inner(ck: &mut Checker, extent: Option<&FinishedExtent>) -> Option<ManifestState> {
    let current = ck.dir.join(manifest::CURRENT_FILE);
    let number = match manifest::read_current(ck.fs.as_ref(), &ck.dir) {
        Ok(Some(n)) => n,
        Ok(None) => {
            let has_tables = ck
                .fs
                .list_dir(&ck.dir)
                .map(|names| names.iter().any(|n| n.ends_with(".sst")))
                .unwrap_or(false);
            if has_tables {
                ck.problem(
                    Component::Manifest,
                    &current,
                    None,
                    CheckKind::Missing,
                    "no CURRENT file, yet the directory holds table files",
                    true,
                );
            } else {
                ck.note("no CURRENT file: an empty or never-opened database");
            }
            return None;
        }
        Err(e) => {
            ck.problem(
                Component::Manifest,
                &current,
                None,
                CheckKind::Structure,
                e.to_string(),
                true,
            );
            return None;
        }
    };
    ck.report.files_checked += 1;
    let path = ck.dir.join(manifest::manifest_file_name(number));
    // An open database replaces its manifest only while opening, when no check runs, so
    // the file named here is the one the mark is for. (A live rotation would have to skip
    // a manifest newer than the mark, as a log segment's check does.)
    let settled = extent.and_then(|x| x.settled(number)).flatten();
    let data = match read_settled(ck.fs.as_ref(), &path, settled) {
        Ok(d) => d,
        Err(e) => {
            ck.problem(
                Component::Manifest,
                &path,
                None,
                io_check(&e),
                e.to_string(),
                true,
            );
            return None;
        }
    };
    ck.report.files_checked += 1;
    ck.report.bytes_checked += data.len() as u64;
    let header = match decode_file_header(&data, MANIFEST_MAGIC) {
        Ok(h) => h,
        Err(e) => {
            ck.problem(
                Component::Manifest,
                &path,
                Some(0),
                CheckKind::Checksum,
                format!("bad header: {e:?}"),
                true,
            );
            return None;
        }
    };
    let mut st = ManifestState {
        number,
        ..Default::default()
    };
    let mut pos = FILE_HEADER_LEN;
    let mut edits = 0u64;
    loop {
        match read_record(&data, pos, header.checksum) {
            RecordRead::End => break,
            RecordRead::Ok(payload, next) => {
                ck.report.records_checked += 1;
                match VersionEdit::decode(payload) {
                    Some(edit) if !st.damaged => {
                        edits += 1;
                        apply_checked(ck, &path, pos as u64, &mut st, &edit);
                    }
                    Some(_) => {}
                    None => {
                        ck.problem(
                            Component::Manifest,
                            &path,
                            Some(pos as u64),
                            CheckKind::Structure,
                            "malformed version edit",
                            true,
                        );
                        st.damaged = true;
                    }
                }
                pos = next;
            }
            RecordRead::Bad(why) => {
                let next = next_good_record(&data, pos, header.checksum);
                if next.is_none() && edits > 0 {
                    ck.note(format!(
                        "{}: torn last record at offset {pos} (an append cut short by a crash); \
                         ignored",
                        path.display()
                    ));
                    break;
                }
                ck.problem(
                    Component::Manifest,
                    &path,
                    Some(pos as u64),
                    CheckKind::Checksum,
                    why,
                    true,
                );
                st.damaged = true;
                match next {
                    Some(p) => pos = p,
                    None => break,
                }
            }
        }
    }
    if edits == 0 && !st.damaged {
        ck.problem(
            Component::Manifest,
            &path,
            Some(FILE_HEADER_LEN as u64),
            CheckKind::Structure,
            "no snapshot record",
            true,
        );
        st.damaged = true;
    }
    Some(st)
}

fn apply_checked(ck: &mut Checker, path: &Path, pos: u64, st: &mut ManifestState, e: &VersionEdit) {
    if let Some(n) = e.log_number {
        st.log_number = n;
    }
    if let Some(n) = e.next_file_number {
        st.next_file = st.next_file.max(n);
    }
    if let Some(n) = e.last_sequence {
        st.last_sequence = st.last_sequence.max(n);
    }
    let standard = ck.at_least(ValidationLevel::Standard);
    for &(level, number) in &e.deleted {
        let before = st.live.len();
        st.live
            .retain(|(l, m)| !(m.number == number && *l == level));
        if standard && st.live.len() == before {
            ck.problem(
                Component::Manifest,
                path,
                Some(pos),
                CheckKind::Structure,
                format!("an edit deletes table {number} at level {level}, which is not live"),
                true,
            );
        }
    }
    for (level, meta) in &e.added {
        if *level >= NUM_LEVELS {
            ck.problem(
                Component::Manifest,
                path,
                Some(pos),
                CheckKind::Structure,
                format!(
                    "table {} placed at level {level}, beyond the last level",
                    meta.number
                ),
                true,
            );
            st.damaged = true;
            continue;
        }
        if standard && st.live.iter().any(|(_, m)| m.number == meta.number) {
            ck.problem(
                Component::Manifest,
                path,
                Some(pos),
                CheckKind::Structure,
                format!("table {} added twice", meta.number),
                true,
            );
        }
        if standard && (meta.smallest > meta.largest || meta.min_seq > meta.max_seq) {
            ck.problem(
                Component::Manifest,
                path,
                Some(pos),
                CheckKind::Structure,
                format!(
                    "table {} has an inverted key or sequence range",
                    meta.number
                ),
                true,
            );
        }
        st.live.push((*level, meta.clone()));
    }
}

/// Table file numbers present in the directory.
pub(crate) fn table_numbers_on_disk(fs: &dyn FileSystem, dir: &Path) -> Vec<u64> {
    let mut out: Vec<u64> = fs
        .list_dir(dir)
        .unwrap_or_default()
        .iter()
        .filter_map(|n| n.strip_suffix(".sst")?.parse().ok())
        .collect();
    out.sort_unstable();
    out
}

/// Log segment numbers present in the directory.
pub(crate) fn wal_numbers_on_disk(fs: &dyn FileSystem, dir: &Path) -> Vec<u64> {
    let mut out: Vec<u64> = fs
        .list_dir(dir)
        .unwrap_or_default()
        .iter()
        .filter_map(|n| n.strip_suffix(".log")?.parse().ok())
        .collect();
    out.sort_unstable();
    out
}

/// Comprehensive checks of the live set against the tables read: sizes, properties,
/// sequence numbers and overlapping ranges.
pub(crate) fn cross_check(
    ck: &mut Checker,
    manifest: Option<&ManifestState>,
    scans: &[TableScan],
    live_last_seq: Option<u64>,
) {
    let Some(m) = manifest else { return };
    let manifest_path = ck.dir.join(manifest::manifest_file_name(m.number));
    let last_seq = live_last_seq.unwrap_or(m.last_sequence);
    for (level, meta) in &m.live {
        let Some(scan) = scans.iter().find(|s| s.number == meta.number) else {
            continue;
        };
        if !scan.opened {
            continue;
        }
        let mut diffs = Vec::new();
        if scan.file_size != meta.file_size {
            diffs.push(format!(
                "file size {} (the manifest says {})",
                scan.file_size, meta.file_size
            ));
        }
        if let Some(p) = &scan.props {
            if p.smallest != meta.smallest || p.largest != meta.largest {
                diffs.push("key range differs".to_string());
            }
            if p.min_seq != meta.min_seq || p.max_seq != meta.max_seq {
                diffs.push(format!(
                    "sequence range {}..={} (the manifest says {}..={})",
                    p.min_seq, p.max_seq, meta.min_seq, meta.max_seq
                ));
            }
            if p.entries != meta.entries || p.tombstones != meta.tombstones {
                diffs.push("entry counts differ".to_string());
            }
        }
        if !diffs.is_empty() {
            ck.problem(
                Component::Manifest,
                &scan.path,
                None,
                CheckKind::Logical,
                format!(
                    "table {} at level {level} disagrees with {}: {}",
                    meta.number,
                    manifest_path.display(),
                    diffs.join(", ")
                ),
                true,
            );
        }
        if meta.max_seq > last_seq {
            ck.problem(
                Component::Manifest,
                &scan.path,
                None,
                CheckKind::Logical,
                format!(
                    "table {} holds sequence numbers up to {}, beyond the last sequence {last_seq}",
                    meta.number, meta.max_seq
                ),
                false,
            );
        }
    }
    for level in 1..NUM_LEVELS {
        let mut tables: Vec<&TableMeta> = m
            .live
            .iter()
            .filter(|(l, _)| *l == level)
            .map(|(_, t)| t)
            .collect();
        tables.sort_by(|a, b| a.smallest.cmp(&b.smallest));
        for pair in tables.windows(2) {
            if pair[0].largest >= pair[1].smallest {
                ck.problem(
                    Component::Manifest,
                    &manifest_path,
                    None,
                    CheckKind::Logical,
                    format!(
                        "tables {} and {} overlap at level {level}, where ranges must not",
                        pair[0].number, pair[1].number
                    ),
                    true,
                );
            }
        }
    }
}

/// A table's key set as a sorted set of its numbers, for quick membership.
pub(crate) fn live_numbers(m: &ManifestState) -> BTreeSet<u64> {
    m.live.iter().map(|(_, t)| t.number).collect()
}

/// Turns the first problem of a report into the error a failed read or open returns.
pub(crate) fn problem_error(p: &IntegrityProblem) -> DatabaseError {
    match p.component {
        Component::Wal => DatabaseError::WalCorrupted {
            details: p.to_string(),
            suggested_action: "run `lightning repair` to keep the records before the damage".into(),
        },
        Component::Manifest => DatabaseError::ManifestCorrupted {
            details: p.to_string(),
            suggested_action: "run `lightning repair` to rebuild the manifest from the tables"
                .into(),
        },
        _ => DatabaseError::DataCorruption {
            component: p.file.clone(),
            details: p.to_string(),
            recovery_possible: p.repairable,
        },
    }
}

/// Whether the manifest and the log still fit together as recovery requires: the
/// manifest's own log segment exists when later ones do, and replaying the log from the
/// manifest's last sequence number meets no gap. Either failing means a manifest edit was
/// lost (a damaged last record dropped as if torn); the engine refuses to open then, and
/// repair rebuilds the manifest from the table files. `Some((file, offset, what))` when not.
pub(crate) fn lost_manifest_edit(
    fs: &dyn FileSystem,
    dir: &Path,
    m: &ManifestState,
) -> Option<(PathBuf, Option<u64>, String)> {
    let segments: Vec<u64> = wal_numbers_on_disk(fs, dir)
        .into_iter()
        .filter(|&n| n >= m.log_number)
        .collect();
    if segments.first().is_some_and(|&n| n > m.log_number) {
        return Some((
            dir.join(manifest::manifest_file_name(m.number)),
            None,
            format!(
                "the manifest's log segment {} is missing while later segments exist: a \
                 manifest edit was lost",
                wal::wal_file_name(m.log_number)
            ),
        ));
    }
    let mut last = m.last_sequence;
    for n in segments {
        let path = dir.join(wal::wal_file_name(n));
        let Ok(data) = fs.read_all(&path) else {
            continue;
        };
        let Ok(header) = decode_file_header(&data, WAL_MAGIC) else {
            continue;
        };
        let mut pos = FILE_HEADER_LEN;
        while let RecordRead::Ok(payload, next) = read_record(&data, pos, header.checksum) {
            if let Some((first, ops)) = wal::decode_batch(payload) {
                if first > last + 1 {
                    return Some((
                        path,
                        Some(pos as u64),
                        format!(
                            "sequence gap: the log continues at {first} but the tables end at \
                             {last}: a manifest edit was lost"
                        ),
                    ));
                }
                last = last.max((first + ops.len() as u64).saturating_sub(1));
            }
            pos = next;
        }
    }
    None
}
