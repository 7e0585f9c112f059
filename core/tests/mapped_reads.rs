//! Reads through memory-mapped table files (`mmap_reads`, on by default): the same answers
//! as `pread` reads, corruption caught on first touch and on every touch after, values
//! pinned in a map outliving the file, compressed blocks and paranoid checking.

use lightning_db::{
    CorruptionAction, Database, DatabaseError, Durability, LightningDbConfig, ValidationLevel,
};

fn config(dir: &std::path::Path, mmap_reads: bool) -> LightningDbConfig {
    LightningDbConfig {
        path: dir.to_path_buf(),
        write_buffer_size: 256 * 1024,
        block_size: 1024,
        cache_size: 256 * 1024,
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
    // Distinct bytes per pair so a value read from the wrong place cannot pass.
    (0..60u32)
        .map(|j| (i.wrapping_mul(31) ^ j.wrapping_mul(7) ^ round) as u8)
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

/// Flips bits of one byte of `path` in place (no truncation: the file may be mapped).
fn flip(path: &std::path::Path, offset: u64, mask: u8) {
    use std::os::unix::fs::FileExt;
    let f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .unwrap();
    let mut b = [0u8];
    f.read_exact_at(&mut b, offset).unwrap();
    b[0] ^= mask;
    f.write_all_at(&b, offset).unwrap();
}

fn table_files(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "sst"))
        .collect();
    out.sort();
    out
}

#[test]
fn mapped_and_pread_reads_agree_on_every_path() {
    let dir = tempfile::tempdir().unwrap();
    {
        let db = Database::open(dir.path(), config(dir.path(), true)).unwrap();
        load(&db, 3000, 1);
        // A second run over half the keys, plus deletions, so reads merge several files.
        let mut batch = db.new_batch();
        for i in (0..3000).step_by(2) {
            batch.put(&key(i), &value(i, 2)).unwrap();
        }
        for i in (0..3000).step_by(7) {
            batch.delete(&key(i)).unwrap();
        }
        db.write_batch(&batch).unwrap();
        db.flush().unwrap();
        db.close().unwrap();
    }
    let expected = |i: u32| -> Option<Vec<u8>> {
        if i.is_multiple_of(7) {
            None
        } else if i.is_multiple_of(2) {
            Some(value(i, 2))
        } else {
            Some(value(i, 1))
        }
    };
    let mut scans = Vec::new();
    for mmap in [true, false] {
        let db = Database::open(dir.path(), config(dir.path(), mmap)).unwrap();
        for i in 0..3100 {
            let want = if i < 3000 { expected(i) } else { None };
            assert_eq!(db.get(&key(i)).unwrap(), want, "get {i} (mmap {mmap})");
            let pinned = db.get_pinned(&key(i)).unwrap().map(|v| v.to_vec());
            assert_eq!(pinned, want, "get_pinned {i} (mmap {mmap})");
        }
        let forward: Vec<_> = db.iter().map(Result::unwrap).collect();
        let mut backward: Vec<_> = db.iter().rev().map(Result::unwrap).collect();
        backward.reverse();
        assert_eq!(forward, backward, "mmap {mmap}");
        let ranged: Vec<_> = db
            .range(&key(1234)[..]..&key(1300)[..])
            .map(Result::unwrap)
            .collect();
        assert_eq!(
            ranged.len(),
            (1234..1300u32).filter(|i| !i.is_multiple_of(7)).count()
        );
        scans.push(forward);
    }
    assert_eq!(scans[0], scans[1]);
    assert_eq!(
        scans[0].len(),
        (0..3000u32).filter(|i| !i.is_multiple_of(7)).count()
    );
}

#[test]
fn a_damaged_mapped_block_fails_on_every_read_and_spares_the_others() {
    let dir = tempfile::tempdir().unwrap();
    {
        let db = Database::open(dir.path(), config(dir.path(), true)).unwrap();
        load(&db, 2000, 1);
        db.close().unwrap();
    }
    let files = table_files(dir.path());
    assert_eq!(files.len(), 1);
    // Damage a byte inside the first data block (it starts at offset 0).
    flip(&files[0], 200, 0x40);

    let mut cfg = config(dir.path(), true);
    cfg.fail_on_corruption = false;
    cfg.security.corruption_action = CorruptionAction::Log;
    let db = Database::open(dir.path(), cfg).unwrap();
    for attempt in 0..3 {
        match db.get(&key(0)) {
            Err(DatabaseError::DataCorruption { .. }) => {}
            other => panic!("attempt {attempt}: expected DataCorruption, got {other:?}"),
        }
    }
    // A scan meets the damage as an error, never as wrong pairs.
    let first = db.iter().next().unwrap();
    assert!(matches!(first, Err(DatabaseError::DataCorruption { .. })));
    // Keys in later blocks read back exactly.
    for i in 1000..2000 {
        assert_eq!(db.get(&key(i)).unwrap(), Some(value(i, 1)), "key {i}");
    }
}

#[test]
fn a_damaged_block_halts_the_database_under_the_default_action() {
    let dir = tempfile::tempdir().unwrap();
    {
        let db = Database::open(dir.path(), config(dir.path(), true)).unwrap();
        load(&db, 2000, 1);
        db.close().unwrap();
    }
    let files = table_files(dir.path());
    flip(&files[0], 300, 0x01);
    let db = Database::open(dir.path(), config(dir.path(), true)).unwrap();
    assert!(db.get(&key(0)).is_err());
    // Halted: nothing more is read, not even the undamaged blocks.
    assert!(db.get(&key(1999)).is_err());
}

#[test]
fn pinned_values_outlive_the_compaction_that_removes_their_file() {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::open(dir.path(), config(dir.path(), true)).unwrap();
    load(&db, 2000, 1);
    let before = table_files(dir.path());
    let pinned: Vec<_> = (0..2000)
        .step_by(97)
        .map(|i| (i, db.get_pinned(&key(i)).unwrap().unwrap()))
        .collect();
    load(&db, 2000, 2);
    db.compact().unwrap();
    for i in 0..2000 {
        assert_eq!(db.get(&key(i)).unwrap(), Some(value(i, 2)));
    }
    // The replaced file lives on, mapped, while a pinned value still points into it...
    assert!(table_files(dir.path()).contains(&before[0]));
    for (i, v) in &pinned {
        assert_eq!(&v[..], &value(*i, 1)[..], "pinned value of key {i}");
        assert_eq!(v.clone().into_vec(), value(*i, 1));
    }
    // ...and is removed when the last one is dropped.
    drop(pinned);
    let after = table_files(dir.path());
    assert!(
        before.iter().all(|f| !after.contains(f)),
        "compaction should have replaced {before:?}, left {after:?}"
    );
}

#[test]
fn compressed_blocks_are_read_through_the_cache_while_plain_ones_are_mapped() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path(), true);
    cfg.compression_enabled = true;
    let db = Database::open(dir.path(), cfg).unwrap();
    // Half the keys get compressible values, half incompressible: both kinds of block.
    let mut batch = db.new_batch();
    for i in 0..4000u32 {
        let v = if i < 2000 {
            vec![b'z'; 200]
        } else {
            value(i, 3)
        };
        batch.put(&key(i), &v).unwrap();
    }
    db.write_batch(&batch).unwrap();
    db.flush().unwrap();
    for i in 0..4000u32 {
        let want = if i < 2000 {
            vec![b'z'; 200]
        } else {
            value(i, 3)
        };
        assert_eq!(db.get(&key(i)).unwrap(), Some(want.clone()), "key {i}");
        assert_eq!(db.get_pinned(&key(i)).unwrap().unwrap(), want.as_slice());
    }
    assert_eq!(db.iter().count(), 4000);
    assert_eq!(db.iter().rev().count(), 4000);
    let (hits, misses) = (db.stats().cache_hits, db.stats().cache_misses);
    assert!(
        hits + misses > 0,
        "compressed blocks go through the block cache"
    );
}

#[test]
fn paranoid_checking_verifies_mapped_blocks_on_every_read() {
    let dir = tempfile::tempdir().unwrap();
    {
        let db = Database::open(dir.path(), config(dir.path(), true)).unwrap();
        load(&db, 2000, 1);
        db.close().unwrap();
    }
    let mut cfg = config(dir.path(), true);
    cfg.integrity_validation_level = ValidationLevel::Paranoid;
    cfg.fail_on_corruption = false;
    cfg.security.corruption_action = CorruptionAction::Log;
    let db = Database::open(dir.path(), cfg).unwrap();
    assert_eq!(db.get(&key(5)).unwrap(), Some(value(5, 1)));
    // Damage the block after it was read once: paranoid reads still catch it.
    let files = table_files(dir.path());
    flip(&files[0], 250, 0x10);
    assert!(matches!(
        db.get(&key(5)),
        Err(DatabaseError::DataCorruption { .. })
    ));
}

#[test]
fn compaction_rechecks_mapped_blocks_damaged_after_their_first_read() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path(), true);
    cfg.fail_on_corruption = false;
    cfg.security.corruption_action = CorruptionAction::Log;
    let db = Database::open(dir.path(), cfg).unwrap();
    load(&db, 2000, 1);
    // The first read verifies block 0 and keeps its layout.
    assert_eq!(db.get(&key(0)).unwrap(), Some(value(0, 1)));
    let damaged = table_files(dir.path());
    assert_eq!(damaged.len(), 1);
    // The disk now returns other bytes for that block (here: another writer).
    flip(&damaged[0], 200, 0x40);
    // A second run over the same keys makes the compaction merge, reading every block.
    load(&db, 2000, 2);
    match db.compact() {
        Err(DatabaseError::DataCorruption { .. }) => {}
        other => panic!("compaction must refuse the damaged block, got {other:?}"),
    }
    // Nothing was lost or rewritten: the damaged file is still there beside the newer one,
    // and every key still reads its newest value.
    assert!(table_files(dir.path()).contains(&damaged[0]));
    for i in 0..2000 {
        assert_eq!(db.get(&key(i)).unwrap(), Some(value(i, 2)), "key {i}");
    }
}

#[test]
fn a_reader_kept_past_close_never_removes_a_file_of_the_next_database_in_its_folder() {
    let dir = tempfile::tempdir().unwrap();
    let run = |db: &Database| {
        load(db, 2000, 1);
        load(db, 2000, 2);
    };
    let db = Database::open(dir.path(), config(dir.path(), true)).unwrap();
    run(&db);
    // Holds the current tables; the compaction below makes them obsolete.
    let mut reader = db.iter();
    assert!(reader.next().is_some());
    let pinned = db.get_pinned(&key(7)).unwrap().unwrap();
    db.compact().unwrap();
    db.close().unwrap();

    // Another database in the same folder, built the same way, so its files get the same
    // numbers as the ones the old reader still holds.
    std::fs::remove_dir_all(dir.path()).unwrap();
    let db = Database::open(dir.path(), config(dir.path(), true)).unwrap();
    run(&db);
    let files = table_files(dir.path());
    assert_eq!(pinned.as_ref(), value(7, 2).as_slice());
    drop(reader);
    drop(pinned);
    assert_eq!(
        table_files(dir.path()),
        files,
        "the old readers removed a file"
    );
    db.close().unwrap();
    let db = Database::open(dir.path(), config(dir.path(), true)).unwrap();
    for i in 0..2000 {
        assert_eq!(db.get(&key(i)).unwrap(), Some(value(i, 2)), "key {i}");
    }
}

#[test]
fn table_memory_counts_indexes_filters_and_what_mapped_reads_learn() {
    for mmap in [true, false] {
        let dir = tempfile::tempdir().unwrap();
        let db = Database::open(dir.path(), config(dir.path(), mmap)).unwrap();
        load(&db, 3000, 1);
        let before = db.stats().table_memory_bytes;
        // Indexes and filters: at least the filter's 10 bits per key.
        assert!(before >= 3000 * 10 / 8, "mmap {mmap}: {before}");
        for i in 0..3000 {
            assert!(db.get(&key(i)).unwrap().is_some());
        }
        let after = db.stats().table_memory_bytes;
        if mmap {
            // Every block was read once: 12 bytes per entry of layouts, counted once.
            assert!(after >= before + 12 * 3000, "{before} -> {after}");
            for i in 0..3000 {
                assert!(db.get(&key(i)).unwrap().is_some());
            }
            assert_eq!(db.stats().table_memory_bytes, after);
        } else {
            assert_eq!(after, before);
        }
    }
}

#[test]
fn compression_resumes_after_a_run_of_incompressible_blocks() {
    use rand::{Rng, SeedableRng};
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path(), true);
    cfg.compression_enabled = true;
    let db = Database::open(dir.path(), cfg).unwrap();
    // Random values first (hundreds of blocks that do not shrink, so the table stops
    // trying every block), then values that compress well: the table must notice.
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let random: Vec<Vec<u8>> = (0..2000)
        .map(|_| (0..200).map(|_| rng.gen::<u8>()).collect())
        .collect();
    let want = |i: u32| {
        if i < 2000 {
            random[i as usize].clone()
        } else {
            vec![b'z'; 200]
        }
    };
    let mut batch = db.new_batch();
    for i in 0..6000u32 {
        batch.put(&key(i), &want(i)).unwrap();
    }
    db.write_batch(&batch).unwrap();
    db.flush().unwrap();
    for i in (0..6000u32).step_by(7) {
        assert_eq!(db.get(&key(i)).unwrap(), Some(want(i)), "key {i}");
    }
    assert_eq!(db.iter().count(), 6000);
    // 2,000 random values take about 430 KB however they are stored; the 4,000
    // compressible ones take about 860 KB plain and a small fraction of that compressed.
    let bytes = db.stats().table_bytes;
    assert!(
        bytes < 750_000,
        "the compressible half should be compressed: {bytes} table bytes"
    );
}
