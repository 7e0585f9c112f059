//! Large batches are written straight into table files (ingestion): they must keep
//! every guarantee of a normal batch — later operations win, deletes apply, snapshots
//! taken before do not see them, and they survive reopen.

use lightning_db::{Database, LightningDbConfig};

fn config() -> LightningDbConfig {
    LightningDbConfig {
        write_buffer_size: 64 * 1024,
        ..Default::default()
    }
}

#[test]
fn ingested_batch_behaves_like_a_batch() {
    let dir = tempfile::tempdir().unwrap();
    {
        let db = Database::open(dir.path(), config()).unwrap();
        db.put(b"k0000001", b"old").unwrap(); // in the memtable when the batch arrives
        db.put(b"gone", b"x").unwrap();
        let before = db.snapshot();
        let mut batch = db.new_batch();
        for i in 0..5_000u32 {
            batch
                .put(format!("k{i:07}").as_bytes(), &[7u8; 20])
                .unwrap();
        }
        batch.put(b"k0000002", b"second write wins").unwrap();
        batch.delete(b"gone").unwrap();
        batch.delete(b"k0000003").unwrap();
        db.write_batch(&batch).unwrap();
        assert_eq!(
            db.stats().ingested_batches,
            1,
            "the batch took the ingestion path"
        );

        assert_eq!(db.get(b"k0000001").unwrap(), Some(vec![7u8; 20]));
        assert_eq!(
            db.get(b"k0000002").unwrap(),
            Some(b"second write wins".to_vec())
        );
        assert_eq!(db.get(b"k0000003").unwrap(), None);
        assert_eq!(db.get(b"gone").unwrap(), None);
        assert_eq!(before.get(b"k0000001").unwrap(), Some(b"old".to_vec()));
        assert_eq!(before.get(b"k0000002").unwrap(), None);
        assert_eq!(before.get(b"gone").unwrap(), Some(b"x".to_vec()));
        assert_eq!(db.iter().count(), 4_999);

        // Writes after the ingestion are newer than it.
        db.put(b"k0000004", b"after").unwrap();
        assert_eq!(db.get(b"k0000004").unwrap(), Some(b"after".to_vec()));
    }
    let db = Database::open(dir.path(), config()).unwrap();
    assert_eq!(
        db.get(b"k0000002").unwrap(),
        Some(b"second write wins".to_vec())
    );
    assert_eq!(db.get(b"k0000004").unwrap(), Some(b"after".to_vec()));
    assert_eq!(db.get(b"gone").unwrap(), None);
    let keys: Vec<Vec<u8>> = db.iter().map(|r| r.unwrap().0).collect();
    assert_eq!(keys.len(), 4_999);
    assert!(keys.windows(2).all(|w| w[0] < w[1]));
    db.compact().unwrap();
    assert_eq!(db.iter().rev().count(), 4_999);
}
