//! `Database::bulk_load`: atomic loads larger than the write buffers, checked against a
//! model; invisible until finished, discarded when dropped, durable once finished, and
//! safe against writers on the same and on other threads.

use std::collections::BTreeMap;

use lightning_db::{Database, DatabaseError, Durability, LightningDbConfig};
use rand::{Rng, SeedableRng};

fn config(mmap_reads: bool) -> LightningDbConfig {
    LightningDbConfig {
        // 64 KiB write buffers: a load spills every 192 KiB of operations.
        write_buffer_size: 64 * 1024,
        block_size: 1024,
        cache_size: 256 * 1024,
        durability: Durability::Sync,
        mmap_reads,
        ..LightningDbConfig::default()
    }
}

fn sst_files(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|x| x == "sst")
        })
        .count()
}

fn check(db: &Database, model: &BTreeMap<Vec<u8>, Vec<u8>>, stage: &str) {
    let scanned: Vec<(Vec<u8>, Vec<u8>)> = db.iter().map(Result::unwrap).collect();
    let expected: Vec<(Vec<u8>, Vec<u8>)> =
        model.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    assert_eq!(scanned.len(), expected.len(), "{stage}: scan length");
    assert!(scanned == expected, "{stage}: scan differs from the model");
    let mut backward: Vec<(Vec<u8>, Vec<u8>)> = db.iter().rev().map(Result::unwrap).collect();
    backward.reverse();
    assert!(backward == expected, "{stage}: reverse scan differs");
    for (k, v) in model.iter().step_by(7) {
        assert_eq!(db.get(k).unwrap().as_ref(), Some(v), "{stage}: get");
    }
}

#[test]
fn a_load_many_times_the_buffer_matches_the_model_before_and_after_reopening() {
    for (seed, mmap) in [(1u64, true), (2, false), (3, true)] {
        let dir = tempfile::tempdir().unwrap();
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let key = |rng: &mut rand::rngs::StdRng| -> Vec<u8> {
            // A small key space, so the load overwrites and deletes its own keys across
            // spilled runs, and keys already in the database.
            format!("k{:05}", rng.gen_range(0..6000u32)).into_bytes()
        };
        let mut model = BTreeMap::new();
        {
            let db = Database::open(dir.path(), config(mmap)).unwrap();
            for i in 0..3000u32 {
                let k = key(&mut rng);
                let v = format!("before-{i}").into_bytes();
                db.put(&k, &v).unwrap();
                model.insert(k, v);
            }
            let mut load = db.bulk_load().unwrap();
            for i in 0..40_000u32 {
                let k = key(&mut rng);
                if rng.gen_ratio(1, 5) {
                    load.delete(&k).unwrap();
                    model.remove(&k);
                } else {
                    let v = vec![(i % 251) as u8; rng.gen_range(1..40)];
                    load.put(&k, &v).unwrap();
                    model.insert(k, v);
                }
            }
            assert_eq!(load.len(), 40_000);
            load.finish().unwrap();
            check(&db, &model, "after finish");
            db.compact().unwrap();
            check(&db, &model, "after compaction");
            // Writes after the load land on top of it.
            db.put(b"k00001", b"after").unwrap();
            model.insert(b"k00001".to_vec(), b"after".to_vec());
            db.close().unwrap();
        }
        let db = Database::open(dir.path(), config(mmap)).unwrap();
        check(&db, &model, "after reopening");
    }
}

#[test]
fn nothing_is_visible_until_finish_and_a_dropped_load_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::open(dir.path(), config(true)).unwrap();
    db.put(b"old", b"1").unwrap();
    db.flush().unwrap();
    let files_before = sst_files(dir.path());
    {
        let mut load = db.bulk_load().unwrap();
        for i in 0..20_000u32 {
            load.put(format!("bulk{i:06}").as_bytes(), &[7; 30])
                .unwrap();
        }
        load.delete(b"old").unwrap();
        // Several runs were spilled to disk, and none of it is visible.
        assert!(sst_files(dir.path()) > files_before);
        assert_eq!(db.get(b"bulk000001").unwrap(), None);
        assert_eq!(db.get(b"old").unwrap(), Some(b"1".to_vec()));
        assert_eq!(db.iter().count(), 1);
        // Dropped unfinished.
    }
    assert_eq!(sst_files(dir.path()), files_before, "spilled runs removed");
    assert_eq!(db.get(b"bulk000001").unwrap(), None);
    assert_eq!(db.get(b"old").unwrap(), Some(b"1".to_vec()));
    // The database takes writes again, and a later load works.
    db.put(b"new", b"2").unwrap();
    let mut load = db.bulk_load().unwrap();
    load.put(b"bulk", b"3").unwrap();
    let snapshot = db.snapshot();
    load.finish().unwrap();
    assert_eq!(
        snapshot.get(b"bulk").unwrap(),
        None,
        "a snapshot keeps its view"
    );
    assert_eq!(db.get(b"bulk").unwrap(), Some(b"3".to_vec()));
    drop(db);
    let db = Database::open(dir.path(), config(true)).unwrap();
    assert_eq!(db.get(b"bulk").unwrap(), Some(b"3".to_vec()));
    assert_eq!(db.get(b"new").unwrap(), Some(b"2".to_vec()));
    assert_eq!(db.get(b"bulk000001").unwrap(), None);
}

#[test]
fn the_loading_thread_is_refused_other_writers_wait() {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::open(dir.path(), config(true)).unwrap();
    let mut load = db.bulk_load().unwrap();
    load.put(b"a", b"bulk").unwrap();
    // From the thread holding the load: refused, not a deadlock.
    for refused in [
        db.put(b"x", b"1"),
        db.delete(b"x").map(|_| ()),
        db.flush(),
        db.sync(),
        db.compact(),
        db.bulk_load().map(|_| ()),
    ] {
        assert!(
            matches!(refused, Err(DatabaseError::InvalidArgument { .. })),
            "{refused:?}"
        );
    }
    std::thread::scope(|s| {
        let writer = s.spawn(|| db.put(b"a", b"later"));
        std::thread::sleep(std::time::Duration::from_millis(50));
        assert!(
            !writer.is_finished(),
            "another thread's write waits for the load"
        );
        load.finish().unwrap();
        writer.join().unwrap().unwrap();
    });
    // The waiting write came after the load, so it wins.
    assert_eq!(db.get(b"a").unwrap(), Some(b"later".to_vec()));
    db.put(b"x", b"free again").unwrap();
}

#[test]
fn bad_operations_are_refused_and_the_load_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::open(dir.path(), config(true)).unwrap();
    let mut load = db.bulk_load().unwrap();
    assert!(matches!(load.put(b"", b"v"), Err(DatabaseError::EmptyKey)));
    let huge = vec![0u8; db.config().max_key_size + 1];
    assert!(matches!(
        load.put(&huge, b"v"),
        Err(DatabaseError::KeyTooLarge { .. })
    ));
    assert!(load.is_empty());
    load.put(b"k", b"v").unwrap();
    load.finish().unwrap();
    assert_eq!(db.get(b"k").unwrap(), Some(b"v".to_vec()));
    // An empty load changes nothing.
    db.bulk_load().unwrap().finish().unwrap();
    assert_eq!(db.iter().count(), 1);
}

/// The power goes at every Nth file operation of a load (spills, merge, install): after
/// the reboot the load is all there if `finish` returned, and otherwise all there or
/// not at all; the data written before it is always intact.
#[test]
fn a_power_cut_anywhere_in_a_load_leaves_all_of_it_or_none() {
    use lightning_db::testing::{PowerCutPolicy, SimFileSystem};
    const DB: &str = "/sim/db";
    let cfg = || LightningDbConfig {
        mmap_reads: false,
        ..config(false)
    };
    let load_key = |i: u32| format!("bulk{i:05}").into_bytes();
    let mut n = 1;
    let mut cuts = 0;
    loop {
        let sim = SimFileSystem::new();
        let db = Database::open_with_fs(DB, cfg(), sim.handle()).unwrap();
        for i in 0..200u32 {
            db.put(format!("base{i:04}").as_bytes(), b"base").unwrap();
        }
        db.put(&load_key(3), b"old").unwrap();
        db.sync().unwrap();
        sim.schedule_power_cut(n, n, PowerCutPolicy::default());
        let finished = (|| {
            let mut load = db.bulk_load()?;
            for i in 0..12_000u32 {
                load.put(&load_key(i), &[9; 24])?;
            }
            load.finish()
        })()
        .is_ok();
        let reached = sim.last_power_cut().is_some();
        sim.cancel_power_cut();
        drop(db);
        if !reached {
            // The whole load ran before the cut: every point has been tried.
            assert!(finished);
            break;
        }
        cuts += 1;
        let db = Database::open_with_fs(DB, cfg(), sim.handle()).unwrap();
        for i in (0..200u32).step_by(13) {
            assert_eq!(
                db.get(format!("base{i:04}").as_bytes()).unwrap(),
                Some(b"base".to_vec()),
                "cut at {n}"
            );
        }
        let present = (0..12_000u32)
            .filter(|&i| db.get(&load_key(i)).unwrap().is_some_and(|v| v == [9; 24]))
            .count();
        assert!(
            present == 12_000 || (!finished && present == 0),
            "cut at {n}: {present} of 12000 pairs (finish returned Ok: {finished})"
        );
        if present == 0 {
            assert_eq!(db.get(&load_key(3)).unwrap(), Some(b"old".to_vec()));
        }
        n += 7;
    }
    assert!(cuts > 5, "only {cuts} cut points were tried");
}
