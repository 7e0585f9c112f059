//! Verification a few blocks at a time, for the health monitor's integrity check: a
//! cursor over the live tables that each step opens at most one table's footer and
//! index and verifies at most a given number of data blocks, so a large database is
//! covered over many rounds without a latency spike.

use super::*;
use crate::storage::fs::RandomAccessFile;

/// One table opened for block-by-block verification.
pub(crate) struct TableBlocks {
    pub number: u64,
    path: PathBuf,
    file: Arc<dyn RandomAccessFile>,
    entries: Vec<IndexEntry>,
    checksum: ChecksumAlgorithm,
    /// How its blocks are opened (sealed ones with the file's instance id).
    seal: TableSeal,
    /// The next data block to verify.
    pub next: usize,
    prev_last: Option<(Vec<u8>, u64)>,
}

impl TableBlocks {
    /// True once every block was verified.
    pub fn done(&self) -> bool {
        self.next >= self.entries.len()
    }
}

/// Opens table `number`, reading and (from `Standard` on) verifying its footer, index,
/// filter and properties blocks; problems go into `ck`. `None` when the table cannot be
/// walked block by block (missing, or its footer or index is unusable: that is
/// reported).
pub(crate) fn open_table_blocks(ck: &mut Checker, number: u64) -> Option<TableBlocks> {
    let path = ck.dir.join(table_file_name(number));
    let mut scan = TableScan {
        number,
        path: path.clone(),
        ..Default::default()
    };
    let (file, size) = open_table_file(ck, &path, &mut scan)?;
    let footer = read_footer(ck, &path, file.as_ref(), size)?;
    let (index, _filter) = read_meta_blocks(ck, &path, file.as_ref(), Some(footer), &mut scan);
    Some(TableBlocks {
        number,
        path,
        file,
        entries: index?,
        checksum: footer.0.checksum,
        seal: TableSeal::of(number, Some(&footer.0), ck.keys.is_some()),
        next: 0,
        prev_last: None,
    })
}

/// Verifies up to `max` data blocks of `t` from where it stopped: each block's checksum,
/// and from `Standard` on its structure and key order. Returns the blocks verified.
pub(crate) fn verify_next_blocks(ck: &mut Checker, t: &mut TableBlocks, max: usize) -> usize {
    let mut done = 0;
    while done < max && !t.done() {
        let i = t.next;
        t.next += 1;
        done += 1;
        let e = &t.entries[i];
        ck.report.blocks_checked += 1;
        let mut raw = vec![0u8; e.len as usize];
        let result = t
            .file
            .read_exact_at(&mut raw, e.offset)
            .map_err(|err| (CheckKind::Io, format!("reading the block: {err}")))
            .and_then(|()| ck.open_block(raw, t.checksum, e.offset, t.seal, "data"))
            .and_then(|payload| Block::decode(payload).map_err(|err| block_error(err, "data")));
        let block = match result {
            Ok(b) => b,
            Err((kind, what)) => {
                ck.problem(
                    Component::Tables,
                    &t.path,
                    Some(e.offset),
                    kind,
                    what,
                    false,
                );
                t.prev_last = None;
                continue;
            }
        };
        if ck.at_least(ValidationLevel::Standard) {
            let structure = if block.is_empty() {
                Err("empty data block".to_string())
            } else if let Err(what) = block.check_order() {
                Err(format!("key order: {what}"))
            } else if t.prev_last.as_ref().is_some_and(|(pk, ps)| {
                crate::storage::iter::internal_cmp(pk, *ps, block.key(0), block.seq(0))
                    != std::cmp::Ordering::Less
            }) {
                Err("first entry not after the last entry of the previous block".to_string())
            } else {
                Ok(())
            };
            if let Err(what) = structure {
                ck.problem(
                    Component::Tables,
                    &t.path,
                    Some(e.offset),
                    CheckKind::Structure,
                    what,
                    false,
                );
                t.prev_last = None;
                continue;
            }
        }
        let n = block.len();
        ck.report.entries_checked += n as u64;
        t.prev_last = (n > 0).then(|| (block.key(n - 1).to_vec(), block.seq(n - 1)));
    }
    done
}
