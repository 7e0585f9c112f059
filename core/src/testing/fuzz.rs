//! Entry points shared by the cargo-fuzz targets (`fuzz/fuzz_targets/`) and the corpus
//! replay test (`core/tests/fuzz_corpus.rs`); not a stable API.
//!
//! Each function takes arbitrary bytes and must never panic, hang or allocate without
//! bound, whatever the bytes: decoders answer damaged input with an error.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::checksum::checksum64_parts;
use crate::config::{ChecksumAlgorithm, LightningDbConfig};
use crate::db::Database;
use crate::storage::cache::BlockCache;
use crate::storage::iter::Cursor;
use crate::storage::manifest::{read_current, read_manifest, VersionEdit};
use crate::storage::record::{read_record, RecordRead, FILE_HEADER_LEN};
use crate::storage::table::block::{decode_from_disk, Block};
use crate::storage::table::bloom::key_hash;
use crate::storage::table::reader::{Table, TableCursor};
use crate::storage::wal::{decode_batch, replay_segment};
use crate::testing::SimFileSystem;
use crate::WriteBatch;

const ALGORITHMS: [ChecksumAlgorithm; 3] = [
    ChecksumAlgorithm::Blake3,
    ChecksumAlgorithm::Xxh64,
    ChecksumAlgorithm::Crc32,
];

/// Upper bound on cursor steps, so a walk always ends.
const MAX_STEPS: usize = 1 << 16;

fn sim_with(dir: &Path, files: &[(&str, &[u8])]) -> Option<SimFileSystem> {
    let fs = SimFileSystem::new();
    fs.handle().create_dir_all(dir).ok()?;
    for (name, data) in files {
        fs.write_file(dir.join(name), data).ok()?;
    }
    Some(fs)
}

/// Framed log records: reads records from offset 0 and from just past a file header,
/// with every checksum algorithm, and decodes each good payload as a batch.
pub fn wal_record(data: &[u8]) {
    let _ = decode_batch(data);
    for algo in ALGORITHMS {
        for start in [0, FILE_HEADER_LEN] {
            let mut pos = start;
            while let RecordRead::Ok(payload, next) = read_record(data, pos, algo) {
                let _ = decode_batch(payload);
                pos = next;
            }
        }
    }
}

/// A whole log segment: replayed as the newest segment and as an older one.
pub fn wal_segment(data: &[u8]) {
    let dir = PathBuf::from("/fuzz");
    let Some(fs) = sim_with(&dir, &[("000001.log", data)]) else {
        return;
    };
    let path = dir.join("000001.log");
    for is_last in [true, false] {
        let mut ops = 0usize;
        let _ = replay_segment(fs.handle().as_ref(), &path, is_last, |_, batch| {
            ops += batch.len();
            Ok(())
        });
    }
}

fn walk_block(block: &Block) {
    for i in 0..block.len() {
        let _ = (block.key(i), block.seq(i), block.value(i));
    }
    let _ = block.check_order();
    if !block.is_empty() {
        let k = block.key(0).to_vec();
        let _ = block.lower_bound(&k, u64::MAX);
        let _ = block.upper_bound_key(&k);
    }
}

/// A data block: decoded as a raw payload, as an on-disk block with each checksum
/// algorithm, and (to get past the checksum) with a correct checksum appended, so the
/// compression byte and LZ4 payload are exercised too.
pub fn block(data: &[u8]) {
    if let Ok(b) = Block::decode(data.to_vec()) {
        walk_block(&b);
    }
    for algo in ALGORITHMS {
        if let Ok(payload) = decode_from_disk(data.to_vec(), algo, 0) {
            if let Ok(b) = Block::decode(payload) {
                walk_block(&b);
            }
        }
    }
    // `data` as payload plus compression byte, followed by its correct checksum.
    if !data.is_empty() {
        let algo = ChecksumAlgorithm::Xxh64;
        let mut raw = data.to_vec();
        let sum = checksum64_parts(algo, &[&raw, &0u64.to_le_bytes()]);
        raw.extend_from_slice(&sum.to_le_bytes());
        if let Ok(payload) = decode_from_disk(raw, algo, 0) {
            if let Ok(b) = Block::decode(payload) {
                walk_block(&b);
            }
        }
    }
}

/// A table file: opened, walked forward and backward, and probed with a few lookups.
pub fn table(data: &[u8]) {
    let dir = PathBuf::from("/fuzz");
    let Some(fs) = sim_with(&dir, &[("000001.sst", data)]) else {
        return;
    };
    let Ok(t) = Table::open(fs.handle(), &dir, 1, Arc::new(BlockCache::new(1 << 20))) else {
        return;
    };
    for i in 0..t.index().len().min(MAX_STEPS) {
        if let Ok(b) = t.read_block_uncached(i) {
            walk_block(&b);
        }
    }
    let table = Arc::new(t);
    let mut keys = vec![
        Vec::new(),
        table.props.smallest.clone(),
        table.props.largest.clone(),
    ];
    let mut c = TableCursor::new(Arc::clone(&table));
    let mut steps = 0;
    if c.seek_to_first().is_ok() {
        while c.valid() && steps < MAX_STEPS {
            if steps % 64 == 0 {
                keys.push(c.key().to_vec());
            }
            let _ = (c.seq(), c.value());
            if c.next().is_err() {
                break;
            }
            steps += 1;
        }
    }
    steps = 0;
    if c.seek_to_last().is_ok() {
        while c.valid() && steps < MAX_STEPS {
            let _ = (c.key(), c.seq(), c.value());
            if c.prev().is_err() {
                break;
            }
            steps += 1;
        }
    }
    for k in keys.iter().take(16) {
        let _ = table.get(k, u64::MAX, key_hash(k));
        let _ = table.get(k, 0, key_hash(k));
        if c.seek(k).is_ok() && c.valid() {
            let _ = c.next();
        }
        if c.seek_for_prev(k).is_ok() && c.valid() {
            let _ = c.prev();
        }
    }
}

/// A manifest: the bytes decoded as one version edit, read as a whole manifest file,
/// and read as a `CURRENT` file.
pub fn manifest_record(data: &[u8]) {
    let _ = VersionEdit::decode(data);
    let dir = PathBuf::from("/fuzz");
    let Some(fs) = sim_with(&dir, &[("MANIFEST-000001", data), ("CURRENT", data)]) else {
        return;
    };
    let handle = fs.handle();
    if let Ok(edits) = read_manifest(handle.as_ref(), &dir, 1) {
        for e in edits {
            let _ = e.encode();
        }
    }
    let _ = read_current(handle.as_ref(), &dir);
}

/// Splits `data` into database files and operation bytes. Layout: a file count byte
/// (at most 6 are used), then per file a name length byte, the name, a u16 LE data
/// length and the data; whatever follows is operations.
fn split_files(data: &[u8]) -> (Vec<(String, &[u8])>, &[u8]) {
    let mut files = Vec::new();
    let Some((&count, mut rest)) = data.split_first() else {
        return (files, data);
    };
    for _ in 0..count.min(6) {
        let Some((&name_len, r)) = rest.split_first() else {
            break;
        };
        let Some((name, r)) = r.split_at_checked(usize::from(name_len)) else {
            break;
        };
        let Some((len, r)) = r.split_at_checked(2) else {
            break;
        };
        let len = usize::from(u16::from_le_bytes([len[0], len[1]])).min(r.len());
        let (body, r) = r.split_at(len);
        rest = r;
        let name = String::from_utf8_lossy(name).into_owned();
        let plain = !name.is_empty()
            && name != "LOCK"
            && !name.contains(['/', '\\', '\0'])
            && name != "."
            && name != "..";
        if plain {
            files.push((name, body));
        }
    }
    (files, rest)
}

/// Encodes files in the layout [`open_and_run`] reads (used to build seed inputs).
pub fn encode_open_and_run_input(files: &[(&str, &[u8])], ops: &[u8]) -> Vec<u8> {
    let mut out = vec![files.len().min(6) as u8];
    for (name, data) in files.iter().take(6) {
        let name = &name.as_bytes()[..name.len().min(255)];
        let data = &data[..data.len().min(usize::from(u16::MAX))];
        out.push(name.len() as u8);
        out.extend_from_slice(name);
        out.extend_from_slice(&(data.len() as u16).to_le_bytes());
        out.extend_from_slice(data);
    }
    out.extend_from_slice(ops);
    out
}

fn fuzz_config() -> LightningDbConfig {
    LightningDbConfig {
        block_size: 512,
        ..LightningDbConfig::default()
    }
}

/// Opens the files in `data` as a database, then runs the operation bytes after them:
/// put, get, delete, batch, scans, flush, compact and reopen. Any call may fail; none
/// may panic.
pub fn open_and_run(data: &[u8]) {
    let dir = PathBuf::from("/fuzz/db");
    let (files, ops) = split_files(data);
    let fs = SimFileSystem::new();
    if fs.handle().create_dir_all(&dir).is_err() {
        return;
    }
    for (name, body) in &files {
        if fs.write_file(dir.join(name), body).is_err() {
            return;
        }
    }
    let Ok(mut db) = Database::open_with_fs(&dir, fuzz_config(), fs.handle()) else {
        return;
    };
    let mut i = 0;
    let mut next = || {
        let b = ops.get(i).copied();
        i += 1;
        b
    };
    for _ in 0..64 {
        let Some(op) = next() else { break };
        let key = format!("k{:03}", next().unwrap_or(0)).into_bytes();
        let len = usize::from(next().unwrap_or(0));
        let value = vec![op; len];
        match op % 9 {
            0 => {
                let _ = db.put(&key, &value);
            }
            1 => {
                let _ = db.get(&key);
            }
            2 => {
                let _ = db.delete(&key);
            }
            3 => {
                let mut batch = WriteBatch::new();
                for j in 0..(len % 8) {
                    let k = format!("k{:03}", (j * 31 + len) % 256).into_bytes();
                    let _ = if j % 3 == 2 {
                        batch.delete(&k)
                    } else {
                        batch.put(&k, &value)
                    };
                }
                let _ = db.write_batch(&batch);
            }
            4 => {
                for kv in db.iter().take(MAX_STEPS) {
                    if kv.is_err() {
                        break;
                    }
                }
            }
            5 => {
                for kv in db.iter().rev().take(MAX_STEPS) {
                    if kv.is_err() {
                        break;
                    }
                }
            }
            6 => {
                let _ = db.flush();
            }
            7 => {
                let _ = db.compact();
            }
            _ => {
                let _ = db.close();
                match Database::open_with_fs(&dir, fuzz_config(), fs.handle()) {
                    Ok(d) => db = d,
                    Err(_) => return,
                }
            }
        }
    }
    let _ = db.close();
}
