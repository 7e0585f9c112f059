//! The `Snapshot` class: reads at one point in time.

use std::sync::Arc;

use lightning_db::{DatabaseError, Snapshot as CoreSnapshot};
use napi::bindgen_prelude::*;
use napi_derive::napi;

use crate::convert::{bytes, range, BytesArg, RangeArgs};
use crate::db::as_ref;
use crate::errors::run;
use crate::iter::{NativeIterator, Source};
use crate::shared::Shared;
use crate::tasks::buffer;

/// A consistent read-only view of the database as of `db.snapshot()`. Holds the versions it
/// sees (and so disk space) until `close()` or garbage collection.
#[napi]
pub struct Snapshot {
    shared: Arc<Shared>,
    snap: Option<CoreSnapshot>,
}

impl Snapshot {
    pub(crate) fn new(shared: Arc<Shared>, snap: CoreSnapshot) -> Self {
        Snapshot {
            shared,
            snap: Some(snap),
        }
    }

    fn view(&self) -> std::result::Result<&CoreSnapshot, DatabaseError> {
        if self.shared.is_closed() {
            return Err(DatabaseError::DatabaseClosed);
        }
        self.snap.as_ref().ok_or(DatabaseError::DatabaseClosed)
    }
}

#[napi]
impl Snapshot {
    /// The value of `key` as of the snapshot, or `undefined`.
    #[napi(ts_args_type = "key: Key", ts_return_type = "Buffer | undefined")]
    pub fn get<'e>(&self, env: &'e Env, key: BytesArg<'_>) -> Result<Unknown<'e>> {
        let key = bytes(env, &key, "key")?;
        let v = run(env, || self.view()?.get(&key))?;
        match v {
            Some(v) => buffer(env, &v),
            None => ().into_unknown(env),
        }
    }

    /// Same as `get` (reads are synchronous on a snapshot).
    #[napi(ts_args_type = "key: Key", ts_return_type = "Buffer | undefined")]
    pub fn get_sync<'e>(&self, env: &'e Env, key: BytesArg<'_>) -> Result<Unknown<'e>> {
        self.get(env, key)
    }

    /// The sequence number the snapshot reads at.
    #[napi(getter)]
    pub fn sequence(&self, env: Env) -> Result<f64> {
        run(&env, || Ok(self.view()?.sequence() as f64))
    }

    /// The native iterator behind `snapshot.iterator()`.
    #[napi(
        js_name = "_rawIterator",
        ts_args_type = "gt?: Key, gte?: Key, lt?: Key, lte?: Key, prefix?: Key, reverse?: boolean, limit?: number"
    )]
    #[allow(clippy::too_many_arguments)]
    pub fn raw_iterator(
        &self,
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
                .view()?
                .range::<(std::ops::Bound<&[u8]>, std::ops::Bound<&[u8]>)>((
                    as_ref(&r.lower),
                    as_ref(&r.upper),
                )))
        })?;
        Ok(NativeIterator::new(self.shared.clone(), Source::Db(it), &r))
    }

    /// Releases the snapshot; later reads throw `LIGHTNING_DATABASE_CLOSED`. Idempotent.
    #[napi]
    pub fn close(&mut self) {
        self.snap = None;
    }
}
