//! Encrypted tables (format 2): round trip through the block cache, no plaintext on disk,
//! and every moved, swapped, rolled-back or unkeyed block refused.

use std::path::Path;
use std::sync::Arc;

use super::bloom::key_hash;
use super::builder::{BuildOptions, TableBuilder};
use super::reader::{Table, TableCursor};
use super::table_file_name;
use crate::checksum::{checksum64_parts, ChecksumAlgorithm};
use crate::error::{DatabaseError, SecurityError};

use crate::storage::cache::BlockCache;
use crate::storage::crypto::KeyRing;
use crate::storage::fs::{FileSystem, StdFileSystem};
use crate::storage::iter::Cursor;

const N: usize = 600;

fn key(i: usize) -> Vec<u8> {
    format!("user-key-{i:06}").into_bytes()
}

fn value(i: usize) -> Vec<u8> {
    format!("secret-value-{i:06}-{}", "confidential".repeat(3)).into_bytes()
}

fn opts(compress: bool) -> BuildOptions {
    BuildOptions {
        block_size: 512,
        compress,
        bloom_bits_per_key: 10,
        checksum: ChecksumAlgorithm::Xxh64,
        durable: true,
        keys: None,
    }
}

fn fs() -> Arc<dyn FileSystem> {
    Arc::new(StdFileSystem)
}

/// Builds table `number` in `dir` sealed with `keys`, values from `value_of`.
fn build(
    dir: &Path,
    number: u64,
    keys: &Arc<KeyRing>,
    compress: bool,
    value_of: impl Fn(usize) -> Vec<u8>,
) {
    let path = dir.join(table_file_name(number));
    let sealed = BuildOptions {
        keys: Some(Arc::clone(keys)),
        ..opts(compress)
    };
    let mut b = TableBuilder::create(&StdFileSystem, &path, number, sealed).expect("create");
    for i in 0..N {
        b.add(&key(i), i as u64 + 1, Some(&value_of(i)))
            .expect("add");
    }
    b.finish(&StdFileSystem).expect("finish").expect("some");
}

fn cache_with(keys: Option<&Arc<KeyRing>>) -> Arc<BlockCache> {
    // Mapped reads on: an encrypted table must still go through the cache.
    let cache = BlockCache::new(1 << 20).with_mapped_tables(true);
    cache.set_keys(keys.cloned());
    Arc::new(cache)
}

fn open(dir: &Path, number: u64, cache: &Arc<BlockCache>) -> Result<Arc<Table>, DatabaseError> {
    Table::open(fs(), dir, number, Arc::clone(cache)).map(Arc::new)
}

type Pairs = Vec<(Vec<u8>, Vec<u8>)>;

/// Reads every version through a cursor; the first error is returned.
fn scan(table: &Arc<Table>) -> Result<Pairs, DatabaseError> {
    let mut c = TableCursor::new(Arc::clone(table));
    c.seek_to_first()?;
    let mut out = Vec::new();
    while c.valid() {
        out.push((c.key().to_vec(), c.value().unwrap_or_default().to_vec()));
        c.next()?;
    }
    Ok(out)
}

fn assert_decryption_failed(r: Result<impl std::fmt::Debug, DatabaseError>, file: u64) -> String {
    match r {
        Err(DatabaseError::SecurityError(SecurityError::DecryptionFailed { reason })) => {
            assert!(reason.contains(&table_file_name(file)), "{reason}");
            assert!(reason.contains("offset"), "{reason}");
            reason
        }
        other => panic!("expected DecryptionFailed, got {other:?}"),
    }
}

/// The first data block's offset and on-disk length.
fn first_block(table: &Table) -> (u64, u64) {
    let e = &table.index()[0];
    (e.offset, e.len)
}

/// Overwrites `len` bytes at `offset` of `path` with `bytes` and sets a checksum valid
/// for that offset, as an attacker who knows the (keyless) checksum would.
fn splice(path: &Path, offset: u64, block: &[u8]) {
    let mut data = std::fs::read(path).expect("read");
    let mut block = block.to_vec();
    let sum_at = block.len() - 8;
    let sum = checksum64_parts(
        ChecksumAlgorithm::Xxh64,
        &[&block[..sum_at], &offset.to_le_bytes()],
    );
    block[sum_at..].copy_from_slice(&sum.to_le_bytes());
    let at = offset as usize;
    data[at..at + block.len()].copy_from_slice(&block);
    std::fs::write(path, data).expect("write");
}

#[test]
fn sealed_tables_read_back_exactly_through_the_cache_with_and_without_compression() {
    for compress in [false, true] {
        let dir = tempfile::tempdir().expect("tempdir");
        let keys = Arc::new(KeyRing::create(1).expect("ring"));
        build(dir.path(), 3, &keys, compress, value);
        let cache = cache_with(Some(&keys));
        let table = open(dir.path(), 3, &cache).expect("open");
        assert!(table.index().len() > 4, "several data blocks");
        assert!(
            table.mapped_block(0).expect("mapped").is_none(),
            "never read in place"
        );
        let all = scan(&table).expect("scan");
        assert_eq!(all.len(), N);
        for (i, (k, v)) in all.iter().enumerate() {
            assert_eq!((k, v), (&key(i), &value(i)));
        }
        for i in [0, 17, N - 1] {
            let (seq, v) = table
                .get(&key(i), u64::MAX, key_hash(&key(i)))
                .expect("get")
                .expect("found");
            assert_eq!(seq, i as u64 + 1);
            assert_eq!(v.expect("value").as_slice(), value(i).as_slice());
        }
        let (hits_before, _) = cache.hit_miss();
        table.block(1).expect("block");
        table.block(1).expect("block");
        assert!(
            cache.hit_miss().0 > hits_before,
            "decrypted once, then cached"
        );
    }
}

#[test]
fn an_encrypted_table_holds_no_plaintext_key_or_value() {
    for compress in [false, true] {
        let dir = tempfile::tempdir().expect("tempdir");
        let keys = Arc::new(KeyRing::create(1).expect("ring"));
        build(dir.path(), 4, &keys, compress, value);
        let raw = std::fs::read(dir.path().join(table_file_name(4))).expect("read");
        for needle in [&b"user-key-"[..], b"secret-value", b"confidential"] {
            assert!(
                !raw.windows(needle.len()).any(|w| w == needle),
                "{} found in the file",
                String::from_utf8_lossy(needle)
            );
        }
    }
}

#[test]
fn an_encrypted_table_without_keys_or_with_other_keys_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let keys = Arc::new(KeyRing::create(1).expect("ring"));
    build(dir.path(), 5, &keys, true, value);
    assert_decryption_failed(open(dir.path(), 5, &cache_with(None)), 5);
    let other = Arc::new(KeyRing::create(1).expect("ring"));
    assert_decryption_failed(open(dir.path(), 5, &cache_with(Some(&other))), 5);
}

#[test]
fn a_block_moved_within_its_file_is_detected() {
    let dir = tempfile::tempdir().expect("tempdir");
    let keys = Arc::new(KeyRing::create(1).expect("ring"));
    // Values of one length, so the data blocks have the same length and can trade places.
    build(dir.path(), 6, &keys, false, |_| vec![b'v'; 40]);
    let path = dir.path().join(table_file_name(6));
    let cache = cache_with(Some(&keys));
    let table = open(dir.path(), 6, &cache).expect("open");
    let (e0, e1) = (table.index()[0].clone(), table.index()[1].clone());
    assert_eq!(e0.len, e1.len);
    drop(table);
    let data = std::fs::read(&path).expect("read");
    let second = data[e1.offset as usize..(e1.offset + e1.len) as usize].to_vec();
    // Copied as it is: its checksum binds its old offset.
    let mut plain_copy = data.clone();
    plain_copy[e0.offset as usize..(e0.offset + e0.len) as usize].copy_from_slice(&second);
    std::fs::write(&path, &plain_copy).expect("write");
    let table = open(dir.path(), 6, &cache_with(Some(&keys))).expect("open");
    assert!(matches!(
        table.read_block_uncached(0),
        Err(DatabaseError::DataCorruption { .. })
    ));
    // With a checksum forged for its new offset, authentication still fails.
    splice(&path, e0.offset, &second);
    let table = open(dir.path(), 6, &cache_with(Some(&keys))).expect("open");
    let reason = assert_decryption_failed(table.read_block_uncached(0), 6);
    assert!(
        reason.contains(&format!("offset {}", e0.offset)),
        "{reason}"
    );
    assert_decryption_failed(scan(&table), 6);
}

#[test]
fn a_block_swapped_in_from_another_table_or_an_older_copy_is_detected() {
    let dir = tempfile::tempdir().expect("tempdir");
    let keys = Arc::new(KeyRing::create(1).expect("ring"));
    build(dir.path(), 7, &keys, true, value);
    build(dir.path(), 8, &keys, true, value);
    let cache = cache_with(Some(&keys));
    let (off, len) = first_block(&open(dir.path(), 7, &cache).expect("open"));
    assert_eq!(
        first_block(&open(dir.path(), 8, &cache).expect("open")),
        (off, len)
    );
    let p7 = dir.path().join(table_file_name(7));
    let p8 = dir.path().join(table_file_name(8));

    // The same block of table 8 (same offset, same contents) in table 7.
    let raw8 = std::fs::read(&p8).expect("read");
    splice(&p7, off, &raw8[off as usize..(off + len) as usize]);
    let t7 = open(dir.path(), 7, &cache_with(Some(&keys))).expect("open");
    assert_decryption_failed(t7.read_block_uncached(0), 7);

    // A whole file swapped for another: its index no longer opens under its new name.
    std::fs::copy(&p8, &p7).expect("copy");
    assert_decryption_failed(open(dir.path(), 7, &cache_with(Some(&keys))), 7);

    // Table 9 rebuilt (a new incarnation of the same number) and a block of its older
    // copy put back: the file's instance id differs, so the old block is refused.
    build(dir.path(), 9, &keys, true, value);
    let p9 = dir.path().join(table_file_name(9));
    let older = std::fs::read(&p9).expect("read");
    std::fs::remove_file(&p9).expect("remove");
    build(dir.path(), 9, &keys, true, value);
    let (off9, len9) = first_block(&open(dir.path(), 9, &cache).expect("open"));
    splice(&p9, off9, &older[off9 as usize..(off9 + len9) as usize]);
    let t9 = open(dir.path(), 9, &cache_with(Some(&keys))).expect("open");
    assert_decryption_failed(t9.read_block_uncached(0), 9);
}

#[test]
fn plain_tables_are_unchanged_and_still_read_in_place() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join(table_file_name(10));
    let mut b = TableBuilder::create(&StdFileSystem, &path, 10, opts(false)).expect("create");
    for i in 0..N {
        b.add(&key(i), i as u64 + 1, Some(&value(i))).expect("add");
    }
    b.finish(&StdFileSystem).expect("finish").expect("some");
    let raw = std::fs::read(&path).expect("read");
    assert!(raw.windows(9).any(|w| w == b"user-key-"));
    // A plain table opens with or without keys in the cache, read through the map.
    let keys = Arc::new(KeyRing::create(1).expect("ring"));
    for cache in [cache_with(None), cache_with(Some(&keys))] {
        let table = open(dir.path(), 10, &cache).expect("open");
        assert!(table.mapped_block(0).expect("mapped").is_some());
        assert_eq!(scan(&table).expect("scan").len(), N);
    }
}
