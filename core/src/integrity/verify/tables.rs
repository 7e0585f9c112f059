//! Table files: footer, index, filter and properties blocks, then every data block.

use super::*;
use crate::storage::fs::RandomAccessFile;

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
pub(super) fn find_block_end(
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

/// Reads and verifies table `number`, visiting every good data block in order: the
/// file, its footer, its index, filter and properties blocks, then every data block
/// (through the index, or found by their checksums when the index is unusable), and
/// last what the blocks hold against the filter and the properties.
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
    let Some((file, size)) = open_table_file(ck, &path, &mut scan) else {
        return scan;
    };
    let footer = read_footer(ck, &path, file.as_ref(), size);
    scan.footer_ok = footer.is_some();
    scan.checksum = footer.map(|(f, _)| f.checksum);
    let (index, filter) = read_meta_blocks(ck, &path, file.as_ref(), footer, &mut scan);
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
        let cache = BlockCache::new(1 << 20);
        cache.set_keys(ck.keys.clone());
        Table::open(Arc::clone(&ck.fs), &ck.dir, number, Arc::new(cache))
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
    let mut walk = DataWalk {
        component: data_component,
        filter: filter.as_deref(),
        lookup: lookup.as_ref(),
        visit,
    };
    match (&index, footer) {
        (Some(entries), Some((f, _))) => walk_indexed_blocks(
            ck,
            &mut scan,
            &mut state,
            &mut walk,
            file.as_ref(),
            entries,
            f,
        ),
        _ => walk_blocks_without_index(
            ck,
            &mut scan,
            &mut state,
            &mut walk,
            file.as_ref(),
            size,
            footer,
        ),
    }
    check_against_blocks(ck, &path, &mut scan, &state, footer);
    scan
}

/// What every data block of one table is checked with.
struct DataWalk<'a> {
    component: Component,
    filter: Option<&'a [u8]>,
    lookup: Option<&'a Arc<Table>>,
    visit: &'a mut dyn FnMut(&Block),
}

/// Opens the file and counts it; `None` (with the problem recorded) when it cannot be.
pub(super) fn open_table_file(
    ck: &mut Checker,
    path: &Path,
    scan: &mut TableScan,
) -> Option<(Arc<dyn RandomAccessFile>, u64)> {
    let file = match ck.fs.open_read(path) {
        Ok(f) => f,
        Err(e) => {
            ck.problem(
                Component::Tables,
                path,
                None,
                io_check(&e),
                format!("cannot open: {e}"),
                false,
            );
            return None;
        }
    };
    let size = match file.size() {
        Ok(s) => s,
        Err(e) => {
            ck.problem(
                Component::Tables,
                path,
                None,
                CheckKind::Io,
                e.to_string(),
                false,
            );
            return None;
        }
    };
    scan.opened = true;
    scan.file_size = size;
    ck.report.files_checked += 1;
    ck.report.tables_checked += 1;
    ck.report.bytes_checked += size;
    Some((file, size))
}

/// Reads and decodes the footer; `None` (with the problem recorded) when it is unusable.
pub(super) fn read_footer(
    ck: &mut Checker,
    path: &Path,
    file: &dyn RandomAccessFile,
    size: u64,
) -> Option<(Footer, u64)> {
    let mut footer = None;
    if size < FOOTER_LEN as u64 {
        ck.problem(
            Component::Index,
            path,
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
                path,
                Some(footer_off),
                CheckKind::Io,
                format!("reading the footer: {e}"),
                false,
            ),
            Ok(()) => match Footer::decode(&raw) {
                Ok(f) => footer = Some((f, footer_off)),
                Err(e) => {
                    let kind = match e.problem {
                        FooterProblem::UnsupportedVersion(_) => CheckKind::Structure,
                        _ => CheckKind::Checksum,
                    };
                    let at = footer_off + e.at;
                    ck.problem(
                        Component::Index,
                        path,
                        Some(at),
                        kind,
                        e.problem.to_string(),
                        true,
                    )
                }
            },
        }
    }
    footer
}

/// Reads the index, filter and properties blocks the footer points to (the properties
/// go into `scan`); returns the index entries and the filter when they are usable.
pub(super) fn read_meta_blocks(
    ck: &mut Checker,
    path: &Path,
    file: &dyn RandomAccessFile,
    footer: Option<(Footer, u64)>,
    scan: &mut TableScan,
) -> (Option<Vec<IndexEntry>>, Option<Vec<u8>>) {
    let mut index = None;
    let mut filter = None;
    if let Some((f, footer_off)) = footer {
        let meta = |ck: &mut Checker, (off, len): (u64, u64), what: &str| {
            if len < BLOCK_TRAILER_LEN as u64
                || off.checked_add(len).is_none_or(|end| end > footer_off)
            {
                ck.problem(
                    Component::Index,
                    path,
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
                    path,
                    Some(off),
                    CheckKind::Io,
                    format!("reading the {what} block: {e}"),
                    false,
                );
                return None;
            }
            ck.report.blocks_checked += 1;
            let seal = TableSeal::of(scan.number, Some(&f), ck.keys.is_some());
            match ck.open_block(raw, f.checksum, off, seal, what) {
                Ok(payload) => Some(payload),
                Err((kind, what)) => {
                    // A sealed block that fails authentication is not rebuilt from the
                    // data: it was tampered with.
                    let repairable = kind != CheckKind::Authentication;
                    ck.problem(Component::Index, path, Some(off), kind, what, repairable);
                    None
                }
            }
        };
        let index_raw = meta(ck, f.index.pair(), "index");
        filter = meta(ck, f.filter.pair(), "filter");
        let props_raw = meta(ck, f.props.pair(), "properties");
        if let Some(raw) = index_raw {
            match decode_index(&raw, f.filter.offset.min(footer_off)) {
                Ok(entries) => index = Some(entries),
                Err(what) => ck.problem(
                    Component::Index,
                    path,
                    Some(f.index.offset),
                    CheckKind::Structure,
                    format!("malformed index block: {what}"),
                    true,
                ),
            }
        }
        if let Some(raw) = props_raw {
            match TableProperties::decode(&raw) {
                Some(p) => scan.props = Some(p),
                None => ck.problem(
                    Component::Index,
                    path,
                    Some(f.props.offset),
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
                    path,
                    Some(f.filter.offset),
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
                if data_end != f.filter.offset {
                    ck.problem(
                        Component::Index,
                        path,
                        Some(f.index.offset),
                        CheckKind::Structure,
                        format!(
                            "the index covers data up to {data_end} but the filter starts at {}",
                            f.filter.offset
                        ),
                        true,
                    );
                    index = None;
                }
            }
        }
    }
    (index, filter)
}

/// Reads and checks every data block the index lists.
fn walk_indexed_blocks(
    ck: &mut Checker,
    scan: &mut TableScan,
    state: &mut BlockWalk,
    walk: &mut DataWalk<'_>,
    file: &dyn RandomAccessFile,
    entries: &[IndexEntry],
    f: Footer,
) {
    for (i, e) in entries.iter().enumerate() {
        if ck.stopped() {
            break;
        }
        let mut raw = vec![0u8; e.len as usize];
        let result = file
            .read_exact_at(&mut raw, e.offset)
            .map_err(|err| (CheckKind::Io, format!("reading the block: {err}")))
            .and_then(|()| {
                let seal = TableSeal::of(scan.number, Some(&f), ck.keys.is_some());
                ck.open_block(raw, f.checksum, e.offset, seal, "data")
            });
        let after = i.checked_sub(1).map(|p| entries[p].last_key.clone());
        check_data_block(
            ck,
            scan,
            state,
            walk.component,
            (e.offset, e.len),
            result,
            Some(e),
            after,
            walk.filter,
            walk.lookup,
            walk.visit,
        );
    }
}

/// Without a usable index, finds the data blocks by their checksums (a block's checksum
/// covers its own offset) and checks each.
fn walk_blocks_without_index(
    ck: &mut Checker,
    scan: &mut TableScan,
    state: &mut BlockWalk,
    walk: &mut DataWalk<'_>,
    file: &dyn RandomAccessFile,
    size: u64,
    footer: Option<(Footer, u64)>,
) {
    let path = scan.path.clone();
    // No usable index: find the blocks by their checksums.
    scan.scanned_without_index = true;
    let mut buf = vec![0u8; size as usize];
    if let Err(e) = file.read_exact_at(&mut buf, 0) {
        ck.problem(
            walk.component,
            &path,
            Some(0),
            CheckKind::Io,
            format!("reading the file: {e}"),
            false,
        );
        return;
    }
    let limit = match footer {
        Some((f, _)) => f.filter.offset.min(size) as usize,
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
                walk.component,
                &path,
                Some(0),
                CheckKind::Checksum,
                "no intact data block found without the index",
                false,
            );
        }
        return;
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
                walk.component,
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
        let seal = TableSeal::of(
            scan.number,
            footer.as_ref().map(|(f, _)| f),
            ck.keys.is_some(),
        );
        if seal.sealed && seal.instance.is_none() {
            // Sealed blocks are bound to the file instance only the footer names: without
            // it none of them opens, and the filter and index cannot be told from data.
            let after = state.prev_last.as_ref().map(|(k, _)| k.clone());
            let reason = "encrypted data that cannot be opened without the table's footer \
                          (the file instance its blocks are sealed for)";
            scan.bad_blocks.push(BadBlock {
                offset: start as u64,
                len: (limit - start) as u64,
                after_key: after,
                up_to_key: None,
                reason: reason.into(),
            });
            ck.problem(
                walk.component,
                &path,
                Some(start as u64),
                CheckKind::Structure,
                reason,
                false,
            );
            break;
        }
        let result = ck.open_block(buf[start..end].to_vec(), algo, start as u64, seal, "data");
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
            scan,
            state,
            walk.component,
            (start as u64, (end - start) as u64),
            result,
            None,
            after,
            walk.filter,
            walk.lookup,
            walk.visit,
        );
        start = end;
    }
}

/// What the data blocks held, against the index, the bloom filter and the properties.
fn check_against_blocks(
    ck: &mut Checker,
    path: &Path,
    scan: &mut TableScan,
    state: &BlockWalk,
    footer: Option<(Footer, u64)>,
) {
    if state.index_mismatches > 0 || state.bloom_misses > 0 || state.unreachable > 0 {
        scan.index_inconsistent = true;
    }
    if state.bloom_misses > 0 {
        ck.problem(
            Component::Index,
            path,
            footer.map(|(f, _)| f.filter.offset),
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
                    path,
                    Some(f.props.offset),
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
}

pub(super) struct BlockWalk {
    prev_last: Option<(Vec<u8>, u64)>,
    bloom_misses: u64,
    index_mismatches: u64,
    unreachable: u64,
}

pub(super) fn block_error(e: BlockError, what: &str) -> (CheckKind, String) {
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
pub(super) fn check_data_block(
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
                                ck.show_key(key),
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
