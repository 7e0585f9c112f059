//! The state a `Database` shares with its tasks, iterators and transactions, and the queue
//! that lets many async writes issued in one turn share one durable commit.

use std::collections::HashMap;
use std::sync::Arc;

use lightning_db::{Database as CoreDb, DatabaseError, WriteBatch};
use parking_lot::{Condvar, Mutex, RwLock};

use crate::errors::guard;
use crate::events::EventSink;

/// One open database, shared by the JS object, its in-flight thread-pool tasks and the
/// objects made from it. `None` once closed: everything then answers `DatabaseClosed`.
pub(crate) struct Shared {
    db: RwLock<Option<CoreDb>>,
    /// The `onEvent` listener, released on close.
    events: Option<Arc<EventSink>>,
    /// Async writes waiting for a commit; see [`WriteQueue`].
    pub(crate) queue: WriteQueue,
}

impl Shared {
    /// Wraps a freshly opened database (and the `onEvent` listener it was opened with).
    pub(crate) fn new(db: CoreDb, events: Option<Arc<EventSink>>) -> Arc<Shared> {
        Arc::new(Shared {
            db: RwLock::new(Some(db)),
            events,
            queue: WriteQueue::default(),
        })
    }

    /// Runs `f` on the open database (a panic becomes `Internal`). Holds a read lock for the
    /// call, so `close` waits for calls in flight instead of pulling the database from under
    /// them.
    pub(crate) fn with<T>(
        &self,
        f: impl FnOnce(&CoreDb) -> std::result::Result<T, DatabaseError>,
    ) -> std::result::Result<T, DatabaseError> {
        guard(|| {
            let db = self.db.read();
            match db.as_ref() {
                Some(db) => f(db),
                None => Err(DatabaseError::DatabaseClosed),
            }
        })
    }

    /// Whether `close` has run.
    pub(crate) fn is_closed(&self) -> bool {
        self.db.read().is_none()
    }

    /// Closes the database (syncing the log) and releases the `onEvent` listener, so it
    /// no longer holds the event loop or the function; later calls do nothing.
    pub(crate) fn close(&self) -> std::result::Result<(), DatabaseError> {
        let taken = self.db.write().take();
        let closed = match taken {
            Some(db) => guard(|| db.close()),
            None => Ok(()),
        };
        if let Some(events) = &self.events {
            events.stop();
        }
        closed
    }
}

/// A write queued by `put`, `del` or `batch`.
pub enum QueuedOp {
    /// One put.
    Put(Vec<u8>, Vec<u8>),
    /// One delete; its result says whether the key held a value.
    Del(Vec<u8>),
    /// A batch, validated when it was queued.
    Batch(WriteBatch),
}

/// What a queued write produced.
pub enum Outcome {
    /// Written.
    Done,
    /// Deleted; whether the key held a value.
    Existed(bool),
}

#[derive(Default)]
struct QueueState {
    next_id: u64,
    pending: Vec<(u64, QueuedOp)>,
    results: HashMap<u64, std::result::Result<Outcome, DatabaseError>>,
    committing: bool,
}

/// Async writes are queued in call order on the JS thread, and each one's thread-pool task
/// waits for its result. The first task to find writes waiting and no commit running takes
/// all of them and commits them: consecutive puts as one batch (one log write and one sync),
/// deletes one by one (each reports whether its key existed), batches as they are. So 2,000
/// puts issued in one turn cost a handful of syncs instead of 2,000 (or 500 with libuv's four
/// threads and the engine's group commit), and writes are applied in the order they were made.
/// Each put stays atomic; puts that share a commit become visible together.
#[derive(Default)]
pub(crate) struct WriteQueue {
    state: Mutex<QueueState>,
    done: Condvar,
}

impl WriteQueue {
    /// Queues `op` and returns its ticket (on the JS thread, so call order is commit order).
    pub(crate) fn push(&self, op: QueuedOp) -> u64 {
        let mut st = self.state.lock();
        st.next_id += 1;
        let id = st.next_id;
        st.pending.push((id, op));
        id
    }

    /// Waits (on a thread-pool thread) until ticket `id` is committed, committing whatever is
    /// waiting if no other task is doing so.
    pub(crate) fn wait(
        &self,
        shared: &Shared,
        id: u64,
    ) -> std::result::Result<Outcome, DatabaseError> {
        let mut st = self.state.lock();
        loop {
            if let Some(result) = st.results.remove(&id) {
                return result;
            }
            if !st.committing && !st.pending.is_empty() {
                st.committing = true;
                let ops = std::mem::take(&mut st.pending);
                let ids: Vec<u64> = ops.iter().map(|(id, _)| *id).collect();
                let results = parking_lot::MutexGuard::unlocked(&mut st, || {
                    shared.with(|db| Ok(commit_all(db, ops)))
                });
                match results {
                    Ok(results) => st.results.extend(results),
                    Err(e) => st
                        .results
                        .extend(ids.into_iter().map(|id| (id, Err(e.clone())))),
                }
                st.committing = false;
                self.done.notify_all();
                continue;
            }
            self.done.wait(&mut st);
        }
    }
}

/// Commits `ops` in order and returns each one's result.
fn commit_all(
    db: &CoreDb,
    ops: Vec<(u64, QueuedOp)>,
) -> Vec<(u64, std::result::Result<Outcome, DatabaseError>)> {
    let mut out = Vec::with_capacity(ops.len());
    let mut run = db.new_batch();
    let mut run_ids: Vec<u64> = Vec::new();
    let flush =
        |run: &mut WriteBatch,
         run_ids: &mut Vec<u64>,
         out: &mut Vec<(u64, std::result::Result<Outcome, DatabaseError>)>| {
            if run_ids.is_empty() {
                return;
            }
            let result = db.write_batch(run);
            for id in run_ids.drain(..) {
                out.push((id, result.clone().map(|()| Outcome::Done)));
            }
            run.clear();
        };
    for (id, op) in ops {
        match op {
            QueuedOp::Put(key, value) => {
                let mut added = run.put(&key, &value);
                if added.is_err() && !run_ids.is_empty() {
                    // The shared batch may just be full: commit it and try this put alone.
                    flush(&mut run, &mut run_ids, &mut out);
                    added = run.put(&key, &value);
                }
                match added {
                    Ok(()) => run_ids.push(id),
                    // Refused for its size: only this put fails, as `db.put` would.
                    Err(e) => out.push((id, Err(e))),
                }
            }
            QueuedOp::Del(key) => {
                flush(&mut run, &mut run_ids, &mut out);
                out.push((id, db.delete(&key).map(Outcome::Existed)));
            }
            QueuedOp::Batch(batch) => {
                flush(&mut run, &mut run_ids, &mut out);
                out.push((id, db.write_batch(&batch).map(|()| Outcome::Done)));
            }
        }
    }
    flush(&mut run, &mut run_ids, &mut out);
    out
}
