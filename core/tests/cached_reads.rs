//! `Database::get_if_cached`: reads that never wait for the disk. Memtables always answer;
//! a table answers when its block is in the block cache (files read with `pread`) or in the
//! OS page cache (mapped files, asked with `mincore`); anything else is `NeedsIo` and reads
//! nothing. Every answer that is not `NeedsIo` equals `get_pinned`'s.

use std::collections::BTreeMap;
use std::path::Path;

use lightning_db::{
    CachedRead, Database, DatabaseError, Durability, LightningDbConfig, ValidationLevel,
};
use rand::{Rng, SeedableRng};

fn config(dir: &Path, mmap_reads: bool) -> LightningDbConfig {
    LightningDbConfig {
        path: dir.to_path_buf(),
        write_buffer_size: 256 * 1024,
        block_size: 1024,
        cache_size: 1 << 20,
        compression_enabled: false,
        durability: Durability::NoSync,
        mmap_reads,
        ..LightningDbConfig::default()
    }
}

fn key(i: u32) -> Vec<u8> {
    format!("key{i:06}").into_bytes()
}

fn value(i: u32, round: u32) -> Vec<u8> {
    (0..40u32)
        .map(|j| (i.wrapping_mul(29) ^ j.wrapping_mul(5) ^ round) as u8)
        .collect()
}

fn load(db: &Database, n: u32, round: u32) {
    let mut batch = db.new_batch();
    for i in 0..n {
        batch.put(&key(i), &value(i, round)).unwrap();
    }
    db.write_batch(&batch).unwrap();
    db.flush().unwrap();
}

fn table_files(dir: &Path) -> Vec<std::path::PathBuf> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "sst"))
        .collect()
}

/// Asks the kernel to drop the (clean, synced) pages of every table file from its cache.
fn drop_table_pages(dir: &Path) {
    for path in table_files(dir) {
        let f = std::fs::File::open(&path).unwrap();
        f.sync_all().unwrap();
        rustix::fs::fadvise(&f, 0, None, rustix::fs::Advice::DontNeed).unwrap();
    }
}

/// The value `get_if_cached` found, `None` for `Missing`; panics on `NeedsIo`.
fn answered(db: &Database, k: &[u8]) -> Option<Vec<u8>> {
    match db.get_if_cached(k).unwrap() {
        CachedRead::Found(v) => Some(v.to_vec()),
        CachedRead::Missing => None,
        CachedRead::NeedsIo => panic!("{:?} needed I/O", String::from_utf8_lossy(k)),
    }
}

#[test]
fn memtable_reads_always_answer() {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::open(dir.path(), config(dir.path(), true)).unwrap();
    db.put(b"a", b"1").unwrap();
    db.put(b"b", b"2").unwrap();
    db.delete(b"b").unwrap();
    assert_eq!(answered(&db, b"a").as_deref(), Some(&b"1"[..]));
    assert_eq!(answered(&db, b"b"), None, "a tombstone answers Missing");
    assert_eq!(answered(&db, b"zzz"), None, "no table: nothing to read");
}

#[test]
fn unmapped_tables_answer_from_the_block_cache_only() {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::open(dir.path(), config(dir.path(), false)).unwrap();
    load(&db, 2000, 0);
    let k = key(777);
    // Nothing has read that block since the table was written.
    assert!(matches!(db.get_if_cached(&k).unwrap(), CachedRead::NeedsIo));
    let reads_before = db.stats().gets;
    assert!(matches!(db.get_if_cached(&k).unwrap(), CachedRead::NeedsIo));
    assert_eq!(
        db.stats().gets,
        reads_before,
        "a NeedsIo answer is not counted as a read"
    );
    assert_eq!(db.get_pinned(&k).unwrap().unwrap().to_vec(), value(777, 0));
    // The read put the block in the cache: its neighbours answer now too.
    assert_eq!(answered(&db, &k), Some(value(777, 0)));
    assert_eq!(answered(&db, &key(778)), Some(value(778, 0)));
    // A key the filter or the key range rules out needs no block at all.
    assert_eq!(answered(&db, b"zzzz"), None);
    assert_eq!(answered(&db, b"a"), None);
}

#[test]
fn mapped_tables_answer_when_their_pages_are_in_memory() {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::open(dir.path(), config(dir.path(), true)).unwrap();
    load(&db, 2000, 0);
    assert_eq!(
        answered(&db, &key(5)),
        Some(value(5, 0)),
        "a table just written is in memory"
    );
    // The kernel keeps pages a process maps: drop them while no map exists.
    db.close().unwrap();
    drop_table_pages(dir.path());
    let db = Database::open(dir.path(), config(dir.path(), true)).unwrap();
    let k = key(1234);
    assert!(
        matches!(db.get_if_cached(&k).unwrap(), CachedRead::NeedsIo),
        "the table's pages were dropped from the page cache"
    );
    assert_eq!(db.get_pinned(&k).unwrap().unwrap().to_vec(), value(1234, 0));
    assert_eq!(answered(&db, &k), Some(value(1234, 0)));
}

#[test]
fn paranoid_checking_reads_mapped_pages_but_never_the_disk() {
    let dir = tempfile::tempdir().unwrap();
    for mmap in [true, false] {
        let sub = dir.path().join(format!("mmap-{mmap}"));
        let cfg = LightningDbConfig {
            integrity_validation_level: ValidationLevel::Paranoid,
            ..config(&sub, mmap)
        };
        let db = Database::open(&sub, cfg).unwrap();
        load(&db, 500, 0);
        let k = key(100);
        assert_eq!(db.get_pinned(&k).unwrap().unwrap().to_vec(), value(100, 0));
        match db.get_if_cached(&k).unwrap() {
            // Every read re-verifies the block: mapped pages in memory serve it...
            CachedRead::Found(v) => {
                assert!(mmap);
                assert_eq!(v.to_vec(), value(100, 0));
            }
            // ...while an unmapped file is read from disk on every read.
            CachedRead::NeedsIo => assert!(!mmap),
            CachedRead::Missing => panic!("present"),
        }
        db.close().unwrap();
    }
}

#[test]
fn a_newer_level0_version_answers_without_probing_older_files() {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::open(dir.path(), config(dir.path(), false)).unwrap();
    load(&db, 300, 0);
    load(&db, 300, 1);
    // Warm only the newest file's block for key 10 (a read finds it there first).
    assert_eq!(
        db.get_pinned(&key(10)).unwrap().unwrap().to_vec(),
        value(10, 1)
    );
    let levels = db.stats().levels;
    assert!(
        levels.iter().map(|l| l.files).sum::<usize>() >= 2,
        "{levels:?}"
    );
    assert_eq!(answered(&db, &key(10)), Some(value(10, 1)));
}

#[test]
fn bad_input_is_a_typed_error() {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::open(dir.path(), config(dir.path(), true)).unwrap();
    assert!(matches!(
        db.get_if_cached(b""),
        Err(DatabaseError::EmptyKey)
    ));
    let big = vec![1u8; 1 << 20];
    // An oversized key cannot be stored, so it is simply not there.
    assert!(!matches!(db.get_if_cached(&big), Ok(CachedRead::Found(_))));
}

#[test]
fn answers_match_get_pinned_through_random_work() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    // Compressed blocks of a mapped file are decoded into the block cache, which a
    // cached-only read asks before the page cache.
    for (mmap, compressed) in [(true, false), (false, false), (true, true)] {
        let sub = dir.path().join(format!("mmap-{mmap}-{compressed}"));
        let cfg = |sub: &Path| LightningDbConfig {
            compression_enabled: compressed,
            ..config(sub, mmap)
        };
        let mut db = Database::open(&sub, cfg(&sub)).unwrap();
        let mut model: BTreeMap<Vec<u8>, Vec<u8>> = BTreeMap::new();
        let (mut found, mut needs_io) = (0, 0);
        for step in 0..6000u32 {
            let k = key(rng.gen_range(0..1500));
            match rng.gen_range(0..10) {
                0..=3 => {
                    let v = value(step, 3);
                    db.put(&k, &v).unwrap();
                    model.insert(k, v);
                }
                4 => {
                    db.delete(&k).unwrap();
                    model.remove(&k);
                }
                5 if step % 500 < 10 => db.flush().unwrap(),
                6 if step % 1500 < 10 => db.compact().unwrap(),
                7 if step % 1000 < 10 => {
                    // Reopen cold: an empty block cache and table pages out of memory.
                    db.close().unwrap();
                    drop_table_pages(&sub);
                    db = Database::open(&sub, cfg(&sub)).unwrap();
                }
                _ => {
                    let expect = model.get(&k).cloned();
                    match db.get_if_cached(&k).unwrap() {
                        CachedRead::Found(v) => {
                            found += 1;
                            assert_eq!(Some(v.to_vec()), expect, "step {step}");
                        }
                        CachedRead::Missing => assert_eq!(None, expect, "step {step}"),
                        CachedRead::NeedsIo => needs_io += 1,
                    }
                    assert_eq!(db.get_pinned(&k).unwrap().map(|v| v.to_vec()), expect);
                }
            }
        }
        assert!(found > 100, "mmap {mmap} {compressed}: {found} found");
        assert!(
            needs_io > 0,
            "mmap {mmap} {compressed}: some reads needed the disk"
        );
        db.close().unwrap();
    }
}
