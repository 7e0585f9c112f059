//! A tour of the Rust API: open, put/get/delete, batches, scans, snapshots,
//! transactions and error handling. Run with `cargo run -p lightning_db --example basic`.

use lightning_db::{Database, DatabaseError, LightningDbConfig, TransactionOptions, WriteBatch};

fn main() -> Result<(), DatabaseError> {
    let dir = std::env::temp_dir().join(format!("lightning-example-{}", std::process::id()));
    let db = Database::open(&dir, LightningDbConfig::default())?;

    // Single writes are durable when they return (Durability::Sync is the default).
    db.put(b"user:1", b"ada")?;
    db.put(b"user:2", b"grace")?;
    assert_eq!(db.get(b"user:1")?, Some(b"ada".to_vec()));
    assert!(db.delete(b"user:2")?);

    // A batch is applied all or nothing.
    let mut batch = WriteBatch::new();
    for i in 0..10u32 {
        batch.put(format!("order:{i:04}").as_bytes(), b"pending")?;
    }
    db.write_batch(&batch)?;

    // Scans are ordered, lazy and reversible.
    let first_three: Vec<Vec<u8>> = db
        .scan_prefix(b"order:")
        .take(3)
        .map(|kv| kv.map(|(k, _)| k))
        .collect::<Result<_, _>>()?;
    println!(
        "first orders: {:?}",
        first_three
            .iter()
            .map(|k| String::from_utf8_lossy(k))
            .collect::<Vec<_>>()
    );
    let last = db
        .range(&b"order:"[..]..&b"order;"[..])
        .next_back()
        .transpose()?;
    println!(
        "last order: {:?}",
        last.map(|(k, _)| String::from_utf8_lossy(&k).into_owned())
    );

    // A snapshot does not see later writes.
    let snap = db.snapshot();
    db.put(b"user:1", b"lovelace")?;
    assert_eq!(snap.get(b"user:1")?, Some(b"ada".to_vec()));

    // Optimistic transactions fail with a retryable conflict when raced.
    let mut tx = db.begin_transaction()?;
    let balance = tx.get(b"balance")?.unwrap_or_default();
    tx.put(b"balance", &[balance.len() as u8])?;
    db.put(b"balance", b"raced")?; // another writer gets there first
    match tx.commit() {
        Err(e @ DatabaseError::TransactionConflict { .. }) => {
            println!(
                "conflict (code {}, retryable: {})",
                e.error_code(),
                e.is_retryable()
            )
        }
        other => println!("unexpected: {other:?}"),
    }

    // Pessimistic transactions lock what they touch instead.
    let mut tx = db.begin_transaction_with(TransactionOptions::pessimistic())?;
    tx.put(b"balance", b"100")?;
    tx.commit()?;

    // Bad input is a typed error with a stable code, and nothing is written.
    let err = db.put(b"", b"value").unwrap_err();
    println!("empty key: {err} (code {})", err.error_code());

    println!(
        "{} live keys, {} bytes on disk",
        db.iter().count(),
        db.stats().disk_bytes
    );
    db.close()?;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
