//! Quick end-to-end check: write, flush, compact, reopen.

use lightning_db::{Database, LightningDbConfig, WriteBatch};

#[test]
fn smoke() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = LightningDbConfig {
        write_buffer_size: 256 * 1024,
        durability: lightning_db::Durability::NoSync,
        ..Default::default()
    };
    {
        let db = Database::open(dir.path(), cfg.clone()).unwrap();
        for i in 0..20000u32 {
            db.put(
                format!("key{i:08}").as_bytes(),
                format!("value{i}").as_bytes(),
            )
            .unwrap();
        }
        assert_eq!(db.get(b"key00000005").unwrap(), Some(b"value5".to_vec()));
        assert!(db.delete(b"key00000005").unwrap());
        assert!(!db.delete(b"key00000005").unwrap());
        let mut b = WriteBatch::new();
        b.put(b"zz", b"1").unwrap();
        db.write_batch(&b).unwrap();
        db.flush().unwrap();
        let n = db.iter().count();
        assert_eq!(n, 20000);
        let r: Vec<_> = db.iter().rev().take(2).map(|r| r.unwrap().0).collect();
        assert_eq!(r[0], b"zz");
        db.compact().unwrap();
        assert_eq!(db.iter().count(), 20000);
        println!("{}", db.stats().to_json());
    }
    let db = Database::open(dir.path(), cfg).unwrap();
    assert_eq!(db.get(b"key00000005").unwrap(), None);
    assert_eq!(
        db.get(b"key00019999").unwrap(),
        Some(b"value19999".to_vec())
    );
    assert_eq!(db.iter().count(), 20000);
    assert_eq!(db.scan_prefix(b"key0001").count(), 10000);
}

/// The API shapes other code relies on compile as the issue spells them.
#[test]
fn api_shapes_compile_as_documented() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Database>();
    let dir = tempfile::tempdir().unwrap();
    let db = std::sync::Arc::new(Database::open(dir.path(), LightningDbConfig::default()).unwrap());
    db.put(&[1, 2], b"v").unwrap();
    db.put(&[1, 3], b"w").unwrap();
    let (lo, hi): (&[u8], &[u8]) = (&[1], &[1, 3]);
    let got: Vec<_> = db.range(lo..hi).map(|r| r.unwrap()).collect();
    assert_eq!(got, vec![(vec![1, 2], b"v".to_vec())]);
    let all: Vec<_> = db.range(lo..).rev().map(|r| r.unwrap().0).collect();
    assert_eq!(all, vec![vec![1, 3], vec![1, 2]]);
    let shared = std::sync::Arc::clone(&db);
    std::thread::spawn(move || shared.get(&[1, 2]).unwrap())
        .join()
        .unwrap();
    let err = lightning_db::DatabaseError::TransactionConflict {
        key: vec![1],
        conflicting_tx: 7,
    };
    assert!(err.is_retryable());
}
