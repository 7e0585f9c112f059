//! Work that runs on the libuv thread pool (napi `AsyncTask`s), so the event loop never waits
//! for a sync to disk, a lock or a long scan of the files.

use std::sync::Arc;

use lightning_db::{Database as CoreDb, DatabaseError};
use napi::bindgen_prelude::*;
use napi::ScopedTask;

use crate::errors::{guard, to_js};
use crate::shared::{Outcome, Shared};

/// Results the tasks hand back, turned into JavaScript values on the JS thread.
pub trait IntoJs: Send + 'static {
    /// The JavaScript value of `self`.
    fn into_js(self, env: &Env) -> Result<Unknown<'_>>;
}

impl IntoJs for () {
    fn into_js(self, env: &Env) -> Result<Unknown<'_>> {
        ().into_unknown(env)
    }
}

impl IntoJs for bool {
    fn into_js(self, env: &Env) -> Result<Unknown<'_>> {
        self.into_unknown(env)
    }
}

impl IntoJs for Option<Vec<u8>> {
    fn into_js(self, env: &Env) -> Result<Unknown<'_>> {
        match self {
            Some(v) => buffer(env, &v),
            None => ().into_unknown(env),
        }
    }
}

impl IntoJs for Vec<Option<Vec<u8>>> {
    fn into_js(self, env: &Env) -> Result<Unknown<'_>> {
        let mut arr = env.create_array(self.len() as u32)?;
        for (i, v) in self.into_iter().enumerate() {
            arr.set(i as u32, v.into_js(env)?)?;
        }
        arr.into_unknown(env)
    }
}

/// An engine report (JSON text), given to JavaScript as a plain object.
pub struct Report(pub String);

impl IntoJs for Report {
    fn into_js(self, env: &Env) -> Result<Unknown<'_>> {
        crate::convert::report_to_js(env, &self.0)
    }
}

/// A monitoring report (JSON text), given to JavaScript as a plain object with its
/// durations in milliseconds.
pub struct MonitorReport(pub String);

impl IntoJs for MonitorReport {
    fn into_js(self, env: &Env) -> Result<Unknown<'_>> {
        crate::convert::monitor_report_to_js(env, &self.0)
    }
}

/// A new `Buffer` holding a copy of `data` (for the small values of a key-value store a copy
/// is cheaper than an external buffer with its finalizer).
pub(crate) fn buffer<'e>(env: &'e Env, data: &[u8]) -> Result<Unknown<'e>> {
    let slice = BufferSlice::copy_from(env, data)?;
    (&slice).into_unknown(env)
}

type Op<T> = Box<dyn FnOnce(&CoreDb) -> std::result::Result<T, DatabaseError> + Send>;

/// One operation on the database, run on the thread pool.
pub struct DbTask<T: IntoJs> {
    shared: Arc<Shared>,
    op: Option<Op<T>>,
}

impl<T: IntoJs> DbTask<T> {
    /// A task running `op` against the open database.
    pub(crate) fn new(
        shared: Arc<Shared>,
        op: impl FnOnce(&CoreDb) -> std::result::Result<T, DatabaseError> + Send + 'static,
    ) -> AsyncTask<DbTask<T>> {
        AsyncTask::new(DbTask {
            shared,
            op: Some(Box::new(op)),
        })
    }
}

impl<'t, T: IntoJs> ScopedTask<'t> for DbTask<T> {
    type Output = std::result::Result<T, DatabaseError>;
    type JsValue = Unknown<'t>;

    fn compute(&mut self) -> Result<Self::Output> {
        Ok(match self.op.take() {
            Some(op) => self.shared.with(op),
            None => Err(DatabaseError::Internal {
                message: "task computed twice".into(),
            }),
        })
    }

    fn resolve(&mut self, env: &'t Env, output: Self::Output) -> Result<Unknown<'t>> {
        match output {
            Ok(v) => v.into_js(env),
            Err(e) => Err(to_js(env, &e)),
        }
    }
}

/// An async write waiting in the database's write queue.
pub struct WriteTask {
    shared: Arc<Shared>,
    ticket: std::result::Result<u64, DatabaseError>,
}

impl WriteTask {
    /// A task waiting for queued write `ticket`, or failing with the error found when the
    /// write was made (so the promise rejects rather than the call throwing).
    pub(crate) fn new(
        shared: Arc<Shared>,
        ticket: std::result::Result<u64, DatabaseError>,
    ) -> AsyncTask<WriteTask> {
        AsyncTask::new(WriteTask { shared, ticket })
    }
}

impl<'t> ScopedTask<'t> for WriteTask {
    type Output = std::result::Result<Outcome, DatabaseError>;
    type JsValue = Unknown<'t>;

    fn compute(&mut self) -> Result<Self::Output> {
        let ticket = std::mem::replace(&mut self.ticket, Err(DatabaseError::DatabaseClosed));
        Ok(ticket.and_then(|id| guard(|| self.shared.queue.wait(&self.shared, id))))
    }

    fn resolve(&mut self, env: &'t Env, output: Self::Output) -> Result<Unknown<'t>> {
        match output {
            Ok(Outcome::Done) => ().into_unknown(env),
            Ok(Outcome::Existed(b)) => b.into_unknown(env),
            Err(e) => Err(to_js(env, &e)),
        }
    }
}
