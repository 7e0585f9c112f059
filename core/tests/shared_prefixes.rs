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
