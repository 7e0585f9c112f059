//! Async variants of the blocking calls, for programs already running an executor.
//!
//! Each future hands the blocking work to a small shared thread pool (the `blocking`
//! crate) and resolves when it is done, so it never stalls the caller's executor thread
//! and works under any runtime (tokio, async-std, smol, or a plain `block_on`).
//! Enabled by the `async` cargo feature; programs that don't use it get no runtime.

use std::path::Path;
use std::sync::Arc;

use crate::config::LightningDbConfig;
use crate::db::{self, Database};
use crate::error::DatabaseError;
use crate::txn::Transaction;
use crate::WriteBatch;

impl Database {
    /// [`Database::open`] as a future.
    pub async fn open_async(
        path: impl AsRef<Path>,
        config: LightningDbConfig,
    ) -> Result<Database, DatabaseError> {
        let path = path.as_ref().to_path_buf();
        blocking::unblock(move || Database::open(path, config)).await
    }

    /// [`Database::new_with_config`] as a future.
    pub async fn new_with_config_async(
        config: LightningDbConfig,
    ) -> Result<Database, DatabaseError> {
        blocking::unblock(move || Database::new_with_config(config)).await
    }

    /// [`Database::get`] as a future.
    pub async fn get_async(&self, key: &[u8]) -> Result<Option<Vec<u8>>, DatabaseError> {
        let inner = Arc::clone(&self.inner);
        let key = key.to_vec();
        blocking::unblock(move || db::get(&inner, &key)).await
    }

    /// [`Database::put`] as a future.
    pub async fn put_async(&self, key: &[u8], value: &[u8]) -> Result<(), DatabaseError> {
        let inner = Arc::clone(&self.inner);
        let (key, value) = (key.to_vec(), value.to_vec());
        blocking::unblock(move || db::put(&inner, &key, &value)).await
    }

    /// [`Database::delete`] as a future.
    pub async fn delete_async(&self, key: &[u8]) -> Result<bool, DatabaseError> {
        let inner = Arc::clone(&self.inner);
        let key = key.to_vec();
        blocking::unblock(move || db::delete(&inner, &key)).await
    }

    /// [`Database::write_batch`] as a future.
    pub async fn write_batch_async(&self, batch: &WriteBatch) -> Result<(), DatabaseError> {
        let inner = Arc::clone(&self.inner);
        let batch = batch.clone();
        blocking::unblock(move || db::write_batch(&inner, &batch)).await
    }
}

impl Transaction {
    /// [`Transaction::commit`] as a future.
    pub async fn commit_async(self) -> Result<(), DatabaseError> {
        blocking::unblock(move || self.commit()).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn async_round_trip_under_tokio() {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = Database::open_async(dir.path(), LightningDbConfig::default())
            .await
            .expect("open");
        db.put_async(b"k", b"v").await.expect("put");
        assert_eq!(db.get_async(b"k").await.expect("get"), Some(b"v".to_vec()));
        let mut batch = WriteBatch::new();
        batch.put(b"a", b"1").expect("batch put");
        batch.delete(b"k").expect("batch delete");
        db.write_batch_async(&batch).await.expect("batch");
        assert_eq!(db.get_async(b"k").await.expect("get"), None);
        assert!(!db.delete_async(b"k").await.expect("delete"));
        let mut tx = db.begin_transaction().expect("begin");
        tx.put(b"t", b"x").expect("tx put");
        tx.commit_async().await.expect("commit");
        assert_eq!(db.get(b"t").expect("get"), Some(b"x".to_vec()));
        assert!(matches!(
            db.put_async(b"", b"v").await,
            Err(DatabaseError::EmptyKey)
        ));
    }

    #[test]
    fn async_works_without_any_runtime() {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = futures_lite::future::block_on(Database::open_async(
            dir.path(),
            LightningDbConfig::default(),
        ))
        .expect("open");
        futures_lite::future::block_on(db.put_async(b"k", b"v")).expect("put");
        assert_eq!(db.get(b"k").expect("get"), Some(b"v".to_vec()));
    }
}
