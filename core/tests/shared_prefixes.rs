//! Keys that share their first eight bytes (or are shorter, or are prefixes of each
//! other) defeat the 8-byte key prefixes the memtable, merge and table index compare
//! first; every read path must still agree with a sorted model.

use std::collections::BTreeMap;

use lightning_db::{Database, LightningDbConfig};

fn small_config() -> LightningDbConfig {
    LightningDbConfig {
        write_buffer_size: 256 * 1024,
        ..LightningDbConfig::default()
    }
}

fn keys() -> Vec<Vec<u8>> {
    let mut keys = Vec::new();
    for tenant in 0..3u32 {
        for user in 0..4_000u32 {
            keys.push(format!("tenant-{tenant:04}/user/{user:08}").into_bytes());
        }
    }
    // Short keys, zero padding and keys that are prefixes of one another.
    for k in [
        &b"a"[..],
        b"a\0",
        b"a\0\0",
        b"a\0\0\0\0\0\0\0",
        b"a\0\0\0\0\0\0\0\0",
        b"ab",
        b"tenant-0",
        b"tenant-0001",
        b"tenant-0001/",
        b"\xff\xff\xff\xff\xff\xff\xff\xff",
        b"\xff\xff\xff\xff\xff\xff\xff\xff\x00",
    ] {
        keys.push(k.to_vec());
    }
    keys
}

fn check(db: &Database, model: &BTreeMap<Vec<u8>, Vec<u8>>, stage: &str) {
    for (k, v) in model {
        assert_eq!(db.get(k).expect("get").as_ref(), Some(v), "{stage}: get");
        assert_eq!(
            db.get_pinned(k).expect("get").as_deref(),
            Some(v.as_slice()),
            "{stage}: get_pinned"
        );
    }
    for absent in [
        &b"tenant-0001/user/99999999"[..],
        b"tenant-0001/user/0000000",
        b"a\0\0\0",
        b"tenant-0001/user/00000001\0",
    ] {
        assert_eq!(db.get(absent).expect("get"), None, "{stage}: absent");
    }
    let all: Vec<_> = db.iter().map(|kv| kv.expect("scan")).collect();
    let want: Vec<_> = model.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    assert_eq!(all, want, "{stage}: forward scan");
    let back: Vec<_> = db.iter().rev().map(|kv| kv.expect("scan").0).collect();
    let want_back: Vec<_> = model.keys().rev().cloned().collect();
    assert_eq!(back, want_back, "{stage}: reverse scan");
    for start in [&b"tenant-0001/user/00001000"[..], b"a\0", b"tenant-0002"] {
        let mut it = db.range(start..);
        let mut got = Vec::new();
        while let Some(kv) = it.next_borrowed() {
            let (k, _) = kv.expect("scan");
            got.push(k.to_vec());
            if got.len() == 10 {
                break;
            }
        }
        let want: Vec<_> = model
            .range(start.to_vec()..)
            .take(10)
            .map(|(k, _)| k.clone())
            .collect();
        assert_eq!(got, want, "{stage}: range from {start:?}");
    }
}

#[test]
fn reads_agree_with_a_model_through_memtable_tables_and_compaction() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Database::open(dir.path(), small_config()).expect("open");
    let mut model = BTreeMap::new();
    let keys = keys();
    // Written in a scrambled order, in batches big enough to take the sorted insert path.
    let mut order: Vec<usize> = (0..keys.len()).collect();
    order.sort_by_key(|&i| (i * 7_919) % keys.len());
    for chunk in order.chunks(500) {
        let mut batch = db.new_batch();
        for &i in chunk {
            let v = format!("v{i}").into_bytes();
            batch.put(&keys[i], &v).expect("put");
            model.insert(keys[i].clone(), v);
        }
        db.write_batch(&batch).expect("batch");
    }
    check(&db, &model, "memtables and level 0");
    db.flush().expect("flush");
    check(&db, &model, "flushed");
    // Overwrite a third and delete a tenth, then compact everything into one level.
    for (n, k) in keys.iter().enumerate() {
        if n % 3 == 0 {
            db.put(k, b"new").expect("put");
            model.insert(k.clone(), b"new".to_vec());
        } else if n % 10 == 1 {
            db.delete(k).expect("delete");
            model.remove(k);
        }
    }
    check(&db, &model, "overwritten");
    db.compact().expect("compact");
    check(&db, &model, "compacted");
    drop(db);
    let db = Database::open(dir.path(), small_config()).expect("reopen");
    check(&db, &model, "reopened");
}

#[test]
fn one_large_batch_is_ingested_and_read_back() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Database::open(dir.path(), small_config()).expect("open");
    let mut model = BTreeMap::new();
    let mut batch = db.new_batch();
    for (i, k) in keys().iter().enumerate() {
        let v = vec![(i % 251) as u8; 40];
        batch.put(k, &v).expect("put");
        model.insert(k.clone(), v);
    }
    db.write_batch(&batch).expect("ingest");
    assert!(
        db.stats().ingested_batches >= 1,
        "large batches take the ingest path"
    );
    check(&db, &model, "ingested");
    drop(db);
    let db = Database::open(dir.path(), small_config()).expect("reopen");
    check(&db, &model, "reopened");
}

/// Pairs of keys that share their 8-byte prefix, in blocks of about two entries, so a
/// prefix is often shared by exactly one block's last key while the key sought lies in
/// the next block: point reads and seeks search that one block first without reading its
/// last key from the index, and must move on to the next block when it ends too early.
/// Every key's older version is kept for a snapshot, so a key's versions are split
/// across two blocks too.
#[test]
fn keys_past_the_one_block_ending_in_their_prefix_are_found() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = LightningDbConfig {
        block_size: 512,
        compression_enabled: false,
        ..small_config()
    };
    let db = Database::open(dir.path(), config.clone()).expect("open");
    let keys: Vec<Vec<u8>> = (0..600u32)
        .flat_map(|i| [format!("{i:08}a"), format!("{i:08}b")])
        .map(String::into_bytes)
        .collect();
    let value = |k: &[u8], version: u8| {
        let mut v = vec![version; 150 + k[7] as usize % 90];
        v[..k.len()].copy_from_slice(k);
        v
    };
    for k in &keys {
        db.put(k, &value(k, 1)).expect("put");
    }
    let old = db.snapshot();
    for k in &keys {
        db.put(k, &value(k, 2)).expect("put");
    }
    db.compact().expect("compact");
    let tables: u64 = db.stats().levels.iter().map(|l| l.files as u64).sum();
    assert!(tables >= 1, "the data is in tables");
    for (n, k) in keys.iter().enumerate() {
        assert_eq!(db.get(k).expect("get"), Some(value(k, 2)), "new {k:?}");
        assert_eq!(old.get(k).expect("get"), Some(value(k, 1)), "old {k:?}");
        // Absent keys beside it: before, between and after the pair, and longer.
        let mut after = k.clone();
        after.push(0);
        let mut past = k[..8].to_vec();
        past.push(b'c');
        for absent in [&k[..8], &after[..], &past[..]] {
            assert_eq!(db.get(absent).expect("get"), None, "absent {absent:?}");
        }
        // A seek to each key, to its prefix and to just past it lands where a model would.
        for (start, want) in [
            (k.as_slice(), Some(k)),
            (&k[..8], Some(&keys[n - n % 2])),
            (&after[..], keys.get(n + 1)),
            (&past[..], keys.get(n - n % 2 + 2)),
        ] {
            let first = db.range(start..).next().transpose().expect("range");
            assert_eq!(first.map(|(k, _)| k).as_ref(), want, "seek {start:?}");
            let first_old = old.range(start..).next().transpose().expect("range");
            assert_eq!(
                first_old.map(|(k, v)| {
                    let version = v[k.len()];
                    (k, version)
                }),
                want.map(|k| (k.clone(), 1)),
                "old seek {start:?}"
            );
        }
    }
}
