//! The memtable's seek index through the whole engine: once a memtable is large and
//! searched, the flush thread builds the index, and every read (point, range, prefix,
//! reverse, at a snapshot) answers as a `BTreeMap` model does, while writes go on and
//! after the memtable is flushed.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use lightning_db::{Database, Durability, LightningDbConfig};

fn config(dir: &std::path::Path) -> LightningDbConfig {
    LightningDbConfig {
        path: dir.to_path_buf(),
        // Large enough that 30,000 versions stay in one memtable.
        write_buffer_size: 32 << 20,
        durability: Durability::NoSync,
        ..LightningDbConfig::default()
    }
}

/// Keys in groups sharing their first 8 bytes, so index ties are exercised.
fn key(i: u64) -> Vec<u8> {
    let n = i.wrapping_mul(0x9E37_79B9_7F4A_7C15) % 1_000_000;
    format!("grp{:05}/{n:07}", n % 40).into_bytes()
}

type Model = BTreeMap<Vec<u8>, Vec<u8>>;

fn scan(db: &Database, from: &[u8], n: usize) -> Vec<(Vec<u8>, Vec<u8>)> {
    db.range(from..).take(n).map(|r| r.expect("read")).collect()
}

fn model_scan(model: &Model, from: &[u8], n: usize) -> Vec<(Vec<u8>, Vec<u8>)> {
    model
        .range(from.to_vec()..)
        .take(n)
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

fn check(db: &Database, model: &Model, round: u64) {
    for i in 0..400u64 {
        let mut from = key(i * 13 + round);
        if i % 2 == 0 {
            from.push(b'!'); // between stored keys
        }
        assert_eq!(
            scan(db, &from, 10),
            model_scan(model, &from, 10),
            "{from:?}"
        );
        let k = key(i * 17 + round);
        assert_eq!(db.get(&k).expect("get"), model.get(&k).cloned());
    }
    let back: Vec<_> = db
        .range(&b"grp00007"[..]..&b"grp00009"[..])
        .rev()
        .map(|r| r.expect("read").0)
        .collect();
    let want: Vec<_> = model
        .range(b"grp00007".to_vec()..b"grp00009".to_vec())
        .rev()
        .map(|(k, _)| k.clone())
        .collect();
    assert_eq!(back, want);
    let prefixed: Vec<_> = db
        .scan_prefix(b"grp00031/")
        .map(|r| r.expect("read").0)
        .collect();
    assert_eq!(
        prefixed,
        model
            .keys()
            .filter(|k| k.starts_with(b"grp00031/"))
            .cloned()
            .collect::<Vec<_>>()
    );
}

/// Waits until the active memtable has a seek index, scanning to ask for one.
fn wait_for_index(db: &Database) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while db.stats().memtable_index_bytes == 0 {
        assert!(Instant::now() < deadline, "no index was built");
        let _ = scan(db, &key(4), 1);
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// A database whose memtable holds keys 0..20,000 with `value`, and has its seek index.
fn indexed_db(dir: &std::path::Path, value: &[u8]) -> Database {
    let db = Database::open(dir, config(dir)).expect("open");
    for i in 0..20_000u64 {
        db.put(&key(i), value).expect("put");
    }
    wait_for_index(&db);
    db
}

#[test]
fn a_large_searched_memtable_gets_an_index_and_reads_stay_exact() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Database::open(dir.path(), config(dir.path())).expect("open");
    let mut model = Model::new();
    for i in 0..30_000u64 {
        let v = format!("v{i}").into_bytes();
        db.put(&key(i), &v).expect("put");
        model.insert(key(i), v);
    }
    assert_eq!(db.stats().memtable_index_bytes, 0, "nothing searched yet");
    // Searches ask for the index; the flush thread builds it.
    wait_for_index(&db);
    assert!(db.stats().memtable_index_bytes >= 30_000 * 16);
    assert_eq!(db.stats().immutable_memtables, 0);
    check(&db, &model, 0);

    // A snapshot taken now keeps its view while writes land between index entries.
    let snap = db.snapshot();
    let frozen = model.clone();
    for i in 0..3_000u64 {
        let k = key(i * 7);
        if i % 3 == 0 {
            db.delete(&k).expect("delete");
            model.remove(&k);
        } else {
            let v = format!("w{i}").into_bytes();
            db.put(&k, &v).expect("put");
            model.insert(k, v);
        }
        let mut fresh = key(1_000_000 + i);
        fresh.push(b'+');
        db.put(&fresh, b"new").expect("put");
        model.insert(fresh, b"new".to_vec());
    }
    check(&db, &model, 1);
    for i in 0..200u64 {
        let from = key(i * 29);
        let got: Vec<_> = snap
            .range(&from[..]..)
            .take(10)
            .map(|r| r.expect("read"))
            .collect();
        assert_eq!(got, model_scan(&frozen, &from, 10));
    }
    drop(snap);

    // Enough new versions that the index is stale: it is rebuilt, reads stay exact.
    for i in 30_000..40_000u64 {
        let v = format!("v{i}").into_bytes();
        db.put(&key(i), &v).expect("put");
        model.insert(key(i), v);
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    while db.stats().memtable_index_bytes < 40_000 * 16 {
        assert!(Instant::now() < deadline, "the stale index was not rebuilt");
        let _ = scan(&db, &key(2), 1);
        std::thread::sleep(Duration::from_millis(5));
    }
    check(&db, &model, 2);

    // After a flush the versions come from a table, and the new memtable starts empty.
    db.flush().expect("flush");
    assert_eq!(db.stats().memtable_index_bytes, 0);
    check(&db, &model, 3);
    db.close().expect("close");
    let db = Database::open(dir.path(), config(dir.path())).expect("reopen");
    check(&db, &model, 4);
}

#[test]
fn readers_on_many_threads_agree_with_the_model_while_a_writer_appends() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Database::open(dir.path(), config(dir.path())).expect("open");
    for i in 0..20_000u64 {
        db.put(&key(i), &i.to_be_bytes()).expect("put");
    }
    let stop = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|s| {
        for t in 0..3u64 {
            let (db, stop) = (&db, &stop);
            s.spawn(move || {
                let mut i = t;
                while !stop.load(std::sync::atomic::Ordering::Acquire) {
                    // Keys 0..20,000 never change: each must be found with its value,
                    // and a scan from it starts at it, in order.
                    let n = i % 20_000;
                    let got = db.get(&key(n)).expect("get").expect("present");
                    assert_eq!(got, n.to_be_bytes());
                    let run = scan(db, &key(n), 5);
                    assert_eq!(run[0].0, key(n));
                    assert!(run.windows(2).all(|w| w[0].0 < w[1].0));
                    i += 7;
                }
            });
        }
        for i in 20_000..60_000u64 {
            let mut k = key(i);
            k.push(b'*');
            db.put(&k, b"later").expect("put");
        }
        stop.store(true, std::sync::atomic::Ordering::Release);
    });
    wait_for_index(&db);
}

#[test]
fn a_write_acknowledged_on_one_thread_is_read_on_another_through_the_index() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = indexed_db(dir.path(), b"first");
    let acknowledged = std::sync::atomic::AtomicU64::new(0);
    let done = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| {
                while !done.load(std::sync::atomic::Ordering::Acquire) {
                    let n = acknowledged.load(std::sync::atomic::Ordering::Acquire);
                    if n == 0 {
                        continue;
                    }
                    // Round n rewrote key n % 50 with value n: the value read is n or a
                    // later round's, never an older one.
                    let k = key(n % 50);
                    let snap = db.snapshot();
                    for got in [db.get(&k).expect("get"), snap.get(&k).expect("get")] {
                        let v: u64 = String::from_utf8(got.expect("present"))
                            .expect("utf8")
                            .parse()
                            .expect("number");
                        assert!(v >= n && v % 50 == n % 50, "read {v} after {n}");
                    }
                    let first = scan(&db, &k, 1);
                    assert_eq!(first[0].0, k);
                }
            });
        }
        for n in 1..4_000u64 {
            db.put(&key(n % 50), n.to_string().as_bytes()).expect("put");
            acknowledged.store(n, std::sync::atomic::Ordering::Release);
        }
        done.store(true, std::sync::atomic::Ordering::Release);
    });
}

#[test]
fn transaction_conflicts_are_found_in_an_indexed_memtable() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = indexed_db(dir.path(), b"v");
    let mut txn = db.begin_transaction().expect("begin");
    assert_eq!(txn.get(&key(77)).expect("get"), Some(b"v".to_vec()));
    txn.put(&key(78), b"from the transaction").expect("put");
    db.put(&key(77), b"changed underneath").expect("put");
    let err = txn.commit().expect_err("conflict");
    assert!(
        matches!(err, lightning_db::DatabaseError::TransactionConflict { .. }),
        "{err:?}"
    );
    let mut txn = db.begin_transaction().expect("begin");
    assert_eq!(txn.get(&key(79)).expect("get"), Some(b"v".to_vec()));
    txn.put(&key(79), b"committed").expect("put");
    txn.commit().expect("no conflict");
    assert_eq!(db.get(&key(79)).expect("get"), Some(b"committed".to_vec()));
}

#[test]
fn closing_while_an_index_is_built_loses_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Database::open(dir.path(), config(dir.path())).expect("open");
    let mut batch = db.new_batch();
    for i in 0..150_000u64 {
        let mut k = key(i);
        k.extend_from_slice(&i.to_be_bytes());
        batch.put(&k, b"x").expect("put");
        if batch.len() == 1000 {
            db.write_batch(&batch).expect("write");
            batch = db.new_batch();
        }
    }
    // Ask for an index and close at once: the build gives way to the close (a build
    // that did not would hold the flush thread, which close joins).
    let _ = scan(&db, &key(5), 1);
    db.close().expect("close");
    let db = Database::open(dir.path(), config(dir.path())).expect("reopen");
    assert_eq!(db.iter().count(), 150_000);
}
