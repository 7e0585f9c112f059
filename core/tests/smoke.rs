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
