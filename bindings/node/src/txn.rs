//! The `Transaction` class.

use std::sync::Arc;

use lightning_db::{DatabaseError, Transaction as CoreTxn};
use napi::bindgen_prelude::*;
use napi::ScopedTask;
use napi_derive::napi;

use crate::convert::{bytes, range, BytesArg, RangeArgs};
use crate::db::as_ref;
use crate::errors::{guard, run, to_js};
use crate::iter::{NativeIterator, Source};
use crate::shared::Shared;
use crate::tasks::buffer;

/// The error of every call on a transaction that was committed or rolled back (the C ABI
/// answers the same `INVALID_ARGUMENT`).
fn ended() -> DatabaseError {
    DatabaseError::InvalidArgument {
        message: "the transaction has already ended (committed or rolled back)".into(),
    }
}

/// A transaction: reads see its snapshot plus its own writes; `commit()` applies every write
/// atomically or fails with `LIGHTNING_TRANSACTION_CONFLICT` (retryable). Reads and writes are
/// synchronous (writes are buffered in memory until commit); a pessimistic transaction's
/// `get`/`put`/`del` may wait for a key lock on the JS thread, up to `lockTimeoutMs`.
#[napi]
pub struct Transaction {
    shared: Arc<Shared>,
    tx: Option<CoreTxn>,
}

impl Transaction {
    pub(crate) fn new(shared: Arc<Shared>, tx: CoreTxn) -> Self {
        Transaction {
            shared,
            tx: Some(tx),
        }
    }

    fn live(&mut self) -> std::result::Result<&mut CoreTxn, DatabaseError> {
        if self.shared.is_closed() {
            return Err(DatabaseError::DatabaseClosed);
        }
        self.tx.as_mut().ok_or_else(ended)
    }
}

/// Commits a transaction on the thread pool.
pub struct CommitTask {
    tx: Option<CoreTxn>,
}

impl<'t> ScopedTask<'t> for CommitTask {
    type Output = std::result::Result<(), DatabaseError>;
    type JsValue = ();

    fn compute(&mut self) -> Result<Self::Output> {
        let tx = self.tx.take();
        Ok(guard(move || tx.ok_or_else(ended)?.commit()))
    }

    fn resolve(&mut self, env: &'t Env, output: Self::Output) -> Result<()> {
        output.map_err(|e| to_js(env, &e))
    }
}

#[napi]
impl Transaction {
    /// The value of `key` in this transaction's view, or `undefined`.
    #[napi(ts_args_type = "key: Key", ts_return_type = "Buffer | undefined")]
    pub fn get<'e>(&mut self, env: &'e Env, key: BytesArg<'_>) -> Result<Unknown<'e>> {
        let key = bytes(env, &key, "key")?;
        let v = run(env, || self.live()?.get(&key))?;
        match v {
            Some(v) => buffer(env, &v),
            None => ().into_unknown(env),
        }
    }

    /// Same as `get`.
    #[napi(ts_args_type = "key: Key", ts_return_type = "Buffer | undefined")]
    pub fn get_sync<'e>(&mut self, env: &'e Env, key: BytesArg<'_>) -> Result<Unknown<'e>> {
        self.get(env, key)
    }

    /// Buffers a put.
    #[napi(ts_args_type = "key: Key, value: Value")]
    pub fn put(&mut self, env: Env, key: BytesArg<'_>, value: BytesArg<'_>) -> Result<()> {
        let key = bytes(&env, &key, "key")?;
        let value = bytes(&env, &value, "value")?;
        run(&env, || self.live()?.put(&key, &value))
    }

    /// Buffers a delete.
    #[napi(ts_args_type = "key: Key")]
    pub fn del(&mut self, env: Env, key: BytesArg<'_>) -> Result<()> {
        let key = bytes(&env, &key, "key")?;
        run(&env, || self.live()?.delete(&key))
    }

    /// The native iterator behind `tx.iterator()` (the transaction's snapshot with its own
    /// writes laid over it).
    #[napi(
        js_name = "_rawIterator",
        ts_args_type = "gt?: Key, gte?: Key, lt?: Key, lte?: Key, prefix?: Key, reverse?: boolean, limit?: number"
    )]
    #[allow(clippy::too_many_arguments)]
    pub fn raw_iterator(
        &mut self,
        env: Env,
        gt: Option<BytesArg<'_>>,
        gte: Option<BytesArg<'_>>,
        lt: Option<BytesArg<'_>>,
        lte: Option<BytesArg<'_>>,
        prefix: Option<BytesArg<'_>>,
        reverse: Option<bool>,
        limit: Option<Either<f64, Unknown<'_>>>,
    ) -> Result<NativeIterator> {
        let r = range(
            &env,
            RangeArgs {
                gt,
                gte,
                lt,
                lte,
                prefix,
                reverse,
                limit,
            },
        )?;
        let it = run(&env, || {
            Ok(self
                .live()?
                .range::<(std::ops::Bound<&[u8]>, std::ops::Bound<&[u8]>)>((
                    as_ref(&r.lower),
                    as_ref(&r.upper),
                )))
        })?;
        Ok(NativeIterator::new(
            self.shared.clone(),
            Source::Txn(it),
            &r,
        ))
    }

    /// Commits on the thread pool (a durable commit never blocks the event loop). Rejects with
    /// `LIGHTNING_TRANSACTION_CONFLICT` when another writer got to a key first.
    #[napi(ts_return_type = "Promise<void>")]
    pub fn commit(&mut self, env: Env) -> Result<AsyncTask<CommitTask>> {
        if self.shared.is_closed() {
            return Err(to_js(&env, &DatabaseError::DatabaseClosed));
        }
        // An ended transaction still gets a task, so the promise rejects rather than throws.
        Ok(AsyncTask::new(CommitTask { tx: self.tx.take() }))
    }

    /// Commits, blocking the JS thread until durable.
    #[napi]
    pub fn commit_sync(&mut self, env: Env) -> Result<()> {
        if self.shared.is_closed() {
            return Err(to_js(&env, &DatabaseError::DatabaseClosed));
        }
        let tx = self.tx.take();
        run(&env, move || tx.ok_or_else(ended)?.commit())
    }

    /// Discards every buffered write and releases locks. Does nothing on an ended transaction.
    #[napi]
    pub fn rollback(&mut self) {
        if let Some(tx) = self.tx.take() {
            tx.rollback();
        }
    }

    /// False once committed or rolled back.
    #[napi(getter)]
    pub fn is_active(&self) -> bool {
        self.tx.is_some()
    }
}
