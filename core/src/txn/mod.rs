//! Transactions: reads at a snapshot, buffered writes, and an all-or-nothing commit
//! that fails when another writer got to the same keys first.

mod lock_manager;

use std::collections::{BTreeMap, VecDeque};
use std::ops::{Bound, RangeBounds};
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Duration;

use crate::batch::{check_key, check_value};
use crate::engine::{ConflictCheck, DbInner, WriteRequest};
use crate::error::DatabaseError;
use crate::iter::{owned_bounds, prefix_bounds, BorrowedPair, DbIterator, KvPair};
use lock_manager::LockManager;

/// How a transaction protects itself from concurrent writers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TransactionMode {
    /// No locks; commit fails with `TransactionConflict` if a key this transaction read
    /// or wrote was committed by someone else after it began. Best when conflicts are rare.
    #[default]
    Optimistic,
    /// Every key read or written is locked until the transaction ends; other pessimistic
    /// transactions wait for it (up to `lock_timeout`). A `get` reads the newest value of
    /// the key once its lock is held (scans still read the begin snapshot), so waiting for
    /// a lock does not doom the commit. With the database's
    /// `deadlock_prevention_enabled`, a wait that would deadlock fails at once with
    /// `DeadlockDetected`. Commit still checks for conflicts with plain writes.
    Pessimistic,
}

/// Options for [`crate::Database::begin_transaction_with`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TransactionOptions {
    /// Optimistic (default) or pessimistic.
    pub mode: TransactionMode,
    /// How long a pessimistic transaction waits for a key lock before `LockTimeout`.
    pub lock_timeout: Duration,
}

impl Default for TransactionOptions {
    fn default() -> Self {
        Self {
            mode: TransactionMode::Optimistic,
            lock_timeout: Duration::from_secs(5),
        }
    }
}

impl TransactionOptions {
    /// Pessimistic mode with the default lock timeout.
    pub fn pessimistic() -> Self {
        Self {
            mode: TransactionMode::Pessimistic,
            ..Self::default()
        }
    }
}

/// A unit of work that sees one snapshot plus its own writes and commits atomically.
/// Dropping it without `commit` rolls it back.
///
/// A put or delete refused for its size (or an empty key) fails at once and also marks
/// the transaction failed: `commit` then returns that same error and writes nothing, so a
/// transaction never commits with part of its work missing.
pub struct Transaction {
    inner: Arc<DbInner>,
    txns: Arc<TxnRegistry>,
    id: u64,
    start_seq: u64,
    options: TransactionOptions,
    writes: BTreeMap<Vec<u8>, Option<Vec<u8>>>,
    /// Keys read or written → the sequence number after which another writer's commit
    /// to the key is a conflict (the snapshot for optimistic transactions, the moment
    /// the lock was taken for pessimistic ones).
    checked: BTreeMap<Vec<u8>, u64>,
    locked: Vec<Vec<u8>>,
    failed: Option<DatabaseError>,
}

impl std::fmt::Debug for Transaction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transaction")
            .field("id", &self.id)
            .field("start_sequence", &self.start_seq)
            .field("mode", &self.options.mode)
            .field("pending_writes", &self.writes.len())
            .finish()
    }
}

/// What the transactions of one database share: the key locks of pessimistic
/// transactions and the next transaction id. Owned by the database handle, beside (not
/// inside) the engine.
#[derive(Default)]
pub(crate) struct TxnRegistry {
    locks: LockManager,
    next_id: AtomicU64,
}

impl Transaction {
    pub(crate) fn begin(
        inner: Arc<DbInner>,
        txns: Arc<TxnRegistry>,
        options: TransactionOptions,
    ) -> Result<Self, DatabaseError> {
        inner.check_open()?;
        let id = txns
            .next_id
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            + 1;
        let start_seq = inner.acquire_snapshot();
        Ok(Self {
            inner,
            txns,
            id,
            start_seq,
            options,
            writes: BTreeMap::new(),
            checked: BTreeMap::new(),
            locked: Vec::new(),
            failed: None,
        })
    }

    /// This transaction's id (distinct among the database's open transactions).
    pub fn id(&self) -> u64 {
        self.id
    }

    /// The sequence number of the snapshot it reads.
    pub fn start_sequence(&self) -> u64 {
        self.start_seq
    }

    /// In pessimistic mode takes the key's lock (once) and returns the sequence number
    /// from which a foreign commit to the key is a conflict; in optimistic mode that is
    /// the snapshot.
    fn guard(&mut self, key: &[u8]) -> Result<u64, DatabaseError> {
        if let Some(&since) = self.checked.get(key) {
            return Ok(since);
        }
        if self.options.mode != TransactionMode::Pessimistic {
            return Ok(self.start_seq);
        }
        let detect = self.inner.config.deadlock_prevention_enabled
            && self.inner.config.reliability.deadlock_prevention;
        self.txns
            .locks
            .lock(self.id, key, self.options.lock_timeout, detect)?;
        self.locked.push(key.to_vec());
        // Holding the lock, no other pessimistic transaction can write the key, so the
        // newest state is the one to read; plain writes after this point still conflict.
        Ok(self.inner.last_sequence())
    }

    fn record_failure(&mut self, e: DatabaseError) -> DatabaseError {
        if self.failed.is_none() {
            self.failed = Some(e.clone());
        }
        e
    }

    /// The value of `key`: this transaction's own write if it made one, else the value at
    /// its snapshot (pessimistic mode: the newest value, read under the key's lock). The
    /// key joins the set checked for conflicts at commit. A put or delete refused for its
    /// size or for a lock (timeout, deadlock) marks the transaction failed.
    pub fn get(&mut self, key: &[u8]) -> Result<Option<Vec<u8>>, DatabaseError> {
        if let Some(v) = self.writes.get(key) {
            return Ok(v.clone());
        }
        let since = self.guard(key)?;
        self.checked.insert(key.to_vec(), since);
        self.inner.get_at(key, since)
    }

    /// Buffers a put, visible to this transaction's reads at once and to others after commit.
    pub fn put(&mut self, key: &[u8], value: &[u8]) -> Result<(), DatabaseError> {
        let cfg = &self.inner.config;
        if let Err(e) =
            check_key(key, cfg.max_key_size).and_then(|()| check_value(value, cfg.max_value_size))
        {
            return Err(self.record_failure(e));
        }
        let since = self.guard(key).map_err(|e| self.record_failure(e))?;
        self.checked.insert(key.to_vec(), since);
        self.writes.insert(key.to_vec(), Some(value.to_vec()));
        Ok(())
    }

    /// Buffers a delete.
    pub fn delete(&mut self, key: &[u8]) -> Result<(), DatabaseError> {
        if let Err(e) = check_key(key, self.inner.config.max_key_size) {
            return Err(self.record_failure(e));
        }
        let since = self.guard(key).map_err(|e| self.record_failure(e))?;
        self.checked.insert(key.to_vec(), since);
        self.writes.insert(key.to_vec(), None);
        Ok(())
    }

    /// Every pair this transaction sees (its snapshot overlaid with its own writes).
    pub fn iter(&self) -> TransactionIterator {
        self.range::<std::ops::RangeFull>(..)
    }

    /// The pairs in `range` this transaction sees.
    pub fn range<'a, R: RangeBounds<&'a [u8]>>(&self, range: R) -> TransactionIterator {
        let (lo, hi) = owned_bounds(&range);
        self.iter_bounds(lo, hi)
    }

    /// The pairs whose keys start with `prefix` that this transaction sees.
    pub fn scan_prefix(&self, prefix: &[u8]) -> TransactionIterator {
        let (lo, hi) = prefix_bounds(prefix);
        self.iter_bounds(lo, hi)
    }

    fn iter_bounds(&self, lo: Bound<Vec<u8>>, hi: Bound<Vec<u8>>) -> TransactionIterator {
        // `BTreeMap::range` panics on an inverted range; such a range is simply empty.
        let inverted = crate::iter::bounds_are_empty(&lo, &hi);
        let own: VecDeque<(Vec<u8>, Option<Vec<u8>>)> = if inverted {
            VecDeque::new()
        } else {
            self.writes
                .range::<Vec<u8>, _>((lo.clone(), hi.clone()))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        };
        let base = DbIterator::new(self.inner.super_version(), self.start_seq, lo, hi);
        TransactionIterator::new(base, own)
    }

    /// Applies every buffered write atomically, or none of them.
    ///
    /// Fails with `TransactionConflict { key, conflicting_tx }` (retryable; `conflicting_tx`
    /// is the sequence number of the conflicting commit) when a key this transaction read
    /// or wrote was committed by another writer after it began.
    pub fn commit(mut self) -> Result<(), DatabaseError> {
        let result = self.commit_inner();
        self.release();
        result
    }

    fn commit_inner(&mut self) -> Result<(), DatabaseError> {
        if let Some(e) = self.failed.take() {
            return Err(e);
        }
        if self.writes.is_empty() {
            return Ok(());
        }
        let keys: Vec<(Vec<u8>, u64)> = std::mem::take(&mut self.checked).into_iter().collect();
        let payload = crate::storage::wal::encode_batch(
            0,
            self.writes
                .iter()
                .map(|(key, value)| crate::storage::wal::OpRef {
                    key,
                    value: value.as_deref(),
                }),
        );
        self.writes.clear();
        let mut req = WriteRequest::new(payload);
        req.check = Some(ConflictCheck { keys });
        // Timed as a write (a conflict is the caller's to retry, not an error).
        let start = self.inner.recorder.write_start();
        let result = self.inner.submit(req);
        self.inner.recorder.write_done(start, &result);
        result?;
        self.inner
            .counters
            .batches
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Ok(())
    }

    /// Discards every buffered write and releases the transaction's locks.
    pub fn rollback(mut self) {
        self.release();
    }

    fn release(&mut self) {
        if !self.locked.is_empty() {
            self.txns.locks.release_all(self.id, &self.locked);
            self.locked.clear();
        }
        if self.start_seq != u64::MAX {
            self.inner.release_snapshot(self.start_seq);
            self.start_seq = u64::MAX;
        }
    }
}

impl Drop for Transaction {
    fn drop(&mut self) {
        // Releasing is idempotent: after commit or rollback this does nothing.
        self.release();
    }
}

/// Iterates a transaction's view: its snapshot with its own writes laid over it.
///
/// Besides the owning [`Iterator`] and [`DoubleEndedIterator`] forms it lends its pairs
/// ([`next_borrowed`](Self::next_borrowed), [`next_back_borrowed`](Self::next_back_borrowed)),
/// which allocate nothing per step: the snapshot's pairs are staged in buffers the
/// iterator reuses.
pub struct TransactionIterator {
    base: DbIterator,
    own: VecDeque<(Vec<u8>, Option<Vec<u8>>)>,
    /// The snapshot's next pair from the front, and from the back, once read.
    front: Staged,
    back: Staged,
    /// The own write a lending step handed out last.
    lent: KvPair,
}

/// A snapshot pair read ahead of the merge, in buffers kept across steps.
#[derive(Default)]
struct Staged {
    pair: KvPair,
    full: bool,
}

impl Staged {
    fn key(&self) -> Option<&[u8]> {
        self.full.then_some(&self.pair.0[..])
    }

    fn set(&mut self, key: &[u8], value: &[u8]) {
        self.pair.0.clear();
        self.pair.0.extend_from_slice(key);
        self.pair.1.clear();
        self.pair.1.extend_from_slice(value);
        self.full = true;
    }
}

/// Where a step's pair is.
enum Stepped {
    /// The transaction's own write.
    Own(KvPair),
    /// The snapshot's pair, in the staged slot of the step's end (now free again).
    Base,
}

impl TransactionIterator {
    fn new(base: DbIterator, own: VecDeque<(Vec<u8>, Option<Vec<u8>>)>) -> Self {
        TransactionIterator {
            base,
            own,
            front: Staged::default(),
            back: Staged::default(),
            lent: KvPair::default(),
        }
    }

    /// One merge step from the front (or with `back` the back): the smaller (larger) of
    /// the next own write and the next snapshot pair, an own write shadowing the
    /// snapshot's version of its key and a deleting one hiding it.
    fn step(&mut self, back: bool) -> Option<Result<Stepped, DatabaseError>> {
        loop {
            let (near, far) = if back {
                (&mut self.back, &mut self.front)
            } else {
                (&mut self.front, &mut self.back)
            };
            if !near.full {
                let read = if back {
                    self.base.next_back_borrowed()
                } else {
                    self.base.next_borrowed()
                };
                match read {
                    Some(Ok((k, v))) => near.set(k, v),
                    Some(Err(e)) => return Some(Err(e)),
                    // The two ends met: what the other end read ahead is the last pair.
                    None if far.full => {
                        std::mem::swap(near, far);
                        far.full = false;
                    }
                    None => {}
                }
            }
            let own = if back {
                self.own.back()
            } else {
                self.own.front()
            };
            let (take_own, same_key) = match (own, near.key()) {
                (None, None) => return None,
                (Some(_), None) => (true, false),
                (None, Some(_)) => (false, false),
                (Some((ok, _)), Some(bk)) => (
                    if back {
                        ok.as_slice() >= bk
                    } else {
                        ok.as_slice() <= bk
                    },
                    ok.as_slice() == bk,
                ),
            };
            if same_key {
                // The transaction's own write shadows the snapshot's version.
                near.full = false;
            }
            if take_own {
                let popped = if back {
                    self.own.pop_back()
                } else {
                    self.own.pop_front()
                };
                if let Some((k, Some(v))) = popped {
                    return Some(Ok(Stepped::Own((k, v))));
                }
            } else {
                near.full = false;
                return Some(Ok(Stepped::Base));
            }
        }
    }

    fn take(&mut self, back: bool, stepped: Stepped) -> KvPair {
        match stepped {
            Stepped::Own(pair) => pair,
            Stepped::Base if back => std::mem::take(&mut self.back.pair),
            Stepped::Base => std::mem::take(&mut self.front.pair),
        }
    }

    fn lend(&mut self, back: bool, stepped: Stepped) -> BorrowedPair<'_> {
        let pair = match stepped {
            Stepped::Own(pair) => {
                self.lent = pair;
                &self.lent
            }
            Stepped::Base if back => &self.back.pair,
            Stepped::Base => &self.front.pair,
        };
        (&pair.0, &pair.1)
    }

    /// The next pair, lent until the next step (no allocation per step).
    pub fn next_borrowed(&mut self) -> Option<Result<BorrowedPair<'_>, DatabaseError>> {
        match self.step(false)? {
            Ok(stepped) => Some(Ok(self.lend(false, stepped))),
            Err(e) => Some(Err(e)),
        }
    }

    /// The next pair from the back, lent until the next step (no allocation per step).
    pub fn next_back_borrowed(&mut self) -> Option<Result<BorrowedPair<'_>, DatabaseError>> {
        match self.step(true)? {
            Ok(stepped) => Some(Ok(self.lend(true, stepped))),
            Err(e) => Some(Err(e)),
        }
    }
}

impl Iterator for TransactionIterator {
    type Item = Result<KvPair, DatabaseError>;

    fn next(&mut self) -> Option<Self::Item> {
        Some(self.step(false)?.map(|s| self.take(false, s)))
    }
}

impl DoubleEndedIterator for TransactionIterator {
    fn next_back(&mut self) -> Option<Self::Item> {
        Some(self.step(true)?.map(|s| self.take(true, s)))
    }
}
