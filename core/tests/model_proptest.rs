//! Property tests: random sequences of operations run against both the database and a
//! `BTreeMap` model, with flushes, compactions and close + reopen in the middle.
//! Batches of half the write buffer or more (which the engine writes straight into a
//! level-0 table) are mixed in as well.
//!
//! Keys come from a four-letter alphabet (`0x00`, `a`, `b`, `0xFF`) and are one to four
//! bytes long, so puts, deletes and batches keep landing on the same keys and prefix
//! scans meet prefixes ending in `0xFF`. Values include the empty value, runs of `0xFF`
//! and `b"__tombstone__"`. The write buffer is the smallest allowed (64 KiB) and a
//! `Fill` operation writes enough to switch memtables, so automatic flushes and
//! compactions happen as well as the explicit ones.
//!
//! Every read is compared with the model: point reads, ranges with random bounds walked
//! from both ends in a random interleaving, prefix scans, snapshots read long after they
//! were taken, iterators opened and then read lazily after later writes, flushes and
//! compactions, and transactions, optimistic and pessimistic (their own view, commit,
//! rollback, and the conflict a concurrent write must cause). Values larger than the
//! whole write buffer are written too.
//!
//! Every case runs twice over: once plain, once with encryption at rest on.
//!
//! `LIGHTNING_PROPTEST_CASES` raises the number of cases (default 64).

use std::collections::{BTreeMap, VecDeque};
use std::ops::Bound;
use std::path::Path;

use lightning_db::{
    Database, DatabaseError, DbIterator, Durability, EncryptionKey, LightningDbConfig, Snapshot,
    TransactionOptions,
};
use proptest::prelude::*;
use proptest::test_runner::{Config as ProptestConfig, TestCaseError};

type Model = BTreeMap<Vec<u8>, Vec<u8>>;
type Key = Vec<u8>;
type Value = Vec<u8>;

const ALPHABET: [u8; 4] = [0x00, b'a', b'b', 0xFF];

/// Which end of an iterator to take the next item from.
#[derive(Debug, Clone, Copy)]
enum Side {
    Front,
    Back,
    /// The front through the lending `next_borrowed` (held iterators only).
    FrontBorrowed,
    /// The back through the lending `next_back_borrowed` (held iterators only).
    BackBorrowed,
}

#[derive(Debug, Clone)]
struct Scan {
    lo: Bound<Key>,
    hi: Bound<Key>,
    /// The first steps' sides; the rest of the scan is drained from the front.
    pattern: Vec<Side>,
}

#[derive(Debug, Clone)]
enum TxnStep {
    Put(Key, Value),
    Delete(Key),
    Get(Key),
    Scan(Scan),
}

#[derive(Debug, Clone)]
enum Op {
    Put(Key, Value),
    Delete(Key),
    Batch(Vec<(Key, Option<Value>)>),
    Get(Key),
    Scan(Scan),
    Prefix(Key, Vec<Side>),
    TakeSnapshot,
    ReadSnapshot(usize, Key, Scan),
    DropSnapshot(usize),
    Txn {
        steps: Vec<TxnStep>,
        /// A plain write made after the steps and before the end of the transaction.
        outside: Option<(Key, Option<Value>)>,
        commit: bool,
        pessimistic: bool,
    },
    /// Opens an iterator and keeps it, unread, while later operations run.
    HoldScan(Scan),
    /// Takes some items from one of the held iterators.
    StepHeld(usize, Vec<Side>),
    /// A value larger than the whole write buffer.
    HugePut(Key, u8, u32),
    /// Enough puts (and some deletes) of larger values to fill a memtable.
    Fill(u8, u16),
    /// One batch of at least half the write buffer (written as a table directly).
    BigBatch(u8, u16, Vec<(Key, Option<Value>)>),
    Flush,
    Compact,
    Reopen,
}

fn key() -> impl Strategy<Value = Key> {
    prop::collection::vec(prop::sample::select(ALPHABET.to_vec()), 1..=3)
}

fn value() -> impl Strategy<Value = Value> {
    prop_oneof![
        2 => Just(Vec::new()),
        2 => (1usize..4).prop_map(|n| vec![0xFF; n]),
        2 => Just(b"__tombstone__".to_vec()),
        4 => prop::collection::vec(any::<u8>(), 0..24),
        1 => prop::collection::vec(any::<u8>(), 200..1200),
    ]
}

fn bound() -> impl Strategy<Value = Bound<Key>> {
    prop_oneof![
        1 => Just(Bound::Unbounded),
        2 => key().prop_map(Bound::Included),
        2 => key().prop_map(Bound::Excluded),
    ]
}

fn pattern() -> impl Strategy<Value = Vec<Side>> {
    prop::collection::vec(
        prop_oneof![
            Just(Side::Front),
            Just(Side::Back),
            Just(Side::FrontBorrowed),
            Just(Side::BackBorrowed)
        ],
        0..12,
    )
}

fn scan() -> impl Strategy<Value = Scan> {
    (bound(), bound(), pattern()).prop_map(|(lo, hi, pattern)| Scan { lo, hi, pattern })
}

fn prefix() -> impl Strategy<Value = Key> {
    prop_oneof![
        1 => Just(Vec::new()),
        1 => Just(vec![0xFF]),
        1 => Just(vec![0xFF, 0xFF]),
        1 => Just(vec![b'a', 0xFF]),
        3 => prop::collection::vec(prop::sample::select(ALPHABET.to_vec()), 1..=2),
    ]
}

fn txn_step() -> impl Strategy<Value = TxnStep> {
    prop_oneof![
        3 => (key(), value()).prop_map(|(k, v)| TxnStep::Put(k, v)),
        1 => key().prop_map(TxnStep::Delete),
        2 => key().prop_map(TxnStep::Get),
        1 => scan().prop_map(TxnStep::Scan),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        8 => (key(), value()).prop_map(|(k, v)| Op::Put(k, v)),
        3 => key().prop_map(Op::Delete),
        3 => prop::collection::vec((key(), prop::option::weighted(0.7, value())), 0..6)
            .prop_map(Op::Batch),
        4 => key().prop_map(Op::Get),
        3 => scan().prop_map(Op::Scan),
        2 => (prefix(), pattern()).prop_map(|(p, s)| Op::Prefix(p, s)),
        2 => Just(Op::TakeSnapshot),
        2 => (any::<usize>(), key(), scan()).prop_map(|(i, k, s)| Op::ReadSnapshot(i, k, s)),
        1 => any::<usize>().prop_map(Op::DropSnapshot),
        3 => (
            prop::collection::vec(txn_step(), 0..6),
            prop::option::of((key(), prop::option::weighted(0.7, value()))),
            prop::bool::weighted(0.8),
            any::<bool>(),
        )
            .prop_map(|(steps, outside, commit, pessimistic)| Op::Txn {
                steps,
                outside,
                commit,
                pessimistic,
            }),
        1 => scan().prop_map(Op::HoldScan),
        2 => (any::<usize>(), pattern()).prop_map(|(i, p)| Op::StepHeld(i, p)),
        1 => (key(), any::<u8>(), 64u32 * 1024..200 * 1024)
            .prop_map(|(k, b, n)| Op::HugePut(k, b, n)),
        1 => (any::<u8>(), 60u16..260).prop_map(|(seed, n)| Op::Fill(seed, n)),
        1 => (
            any::<u8>(),
            100u16..300,
            prop::collection::vec((key(), prop::option::weighted(0.7, value())), 0..8),
        )
            .prop_map(|(seed, n, extra)| Op::BigBatch(seed, n, extra)),
        1 => Just(Op::Flush),
        1 => Just(Op::Compact),
        1 => Just(Op::Reopen),
    ]
}

#[derive(Debug, Clone)]
struct Setup {
    block_size: usize,
    compression: bool,
    bloom_bits: u32,
    mmap_reads: bool,
    /// Encryption at rest on: every table, log and manifest record sealed.
    encrypted: bool,
}

fn setup() -> impl Strategy<Value = Setup> {
    (
        prop::sample::select(vec![512usize, 4096]),
        any::<bool>(),
        prop::sample::select(vec![0u32, 10]),
        any::<bool>(),
    )
        .prop_map(|(block_size, compression, bloom_bits, mmap_reads)| Setup {
            block_size,
            compression,
            bloom_bits,
            mmap_reads,
            encrypted: false,
        })
}

/// The same setups with encryption at rest on.
fn encrypted_setup() -> impl Strategy<Value = Setup> {
    setup().prop_map(|s| Setup {
        encrypted: true,
        ..s
    })
}

fn config(s: &Setup) -> LightningDbConfig {
    let mut c = LightningDbConfig {
        write_buffer_size: 64 * 1024,
        cache_size: 256 * 1024,
        block_size: s.block_size,
        compression_enabled: s.compression,
        bloom_bits_per_key: s.bloom_bits,
        mmap_reads: s.mmap_reads,
        // Memtables here hold a few hundred versions at most: ask for seek indexes from 16,
        // so reads go through fresh, stale and rebuilt indexes as well as the towers.
        memtable_index_min_versions: 16,
        // Close syncs the log; nothing here depends on a sync per write.
        durability: Durability::NoSync,
        ..LightningDbConfig::default()
    };
    if s.encrypted {
        c.security.enable_encryption = true;
        c.security.encryption_key = Some(EncryptionKey::from_bytes(&[0x5a; 32]));
    }
    c
}

fn in_bounds(lo: &Bound<Key>, hi: &Bound<Key>, k: &[u8]) -> bool {
    let above_lo = match lo {
        Bound::Included(l) => k >= l.as_slice(),
        Bound::Excluded(l) => k > l.as_slice(),
        Bound::Unbounded => true,
    };
    let below_hi = match hi {
        Bound::Included(h) => k <= h.as_slice(),
        Bound::Excluded(h) => k < h.as_slice(),
        Bound::Unbounded => true,
    };
    above_lo && below_hi
}

fn as_slice_bound(b: &Bound<Key>) -> Bound<&[u8]> {
    match b {
        Bound::Included(k) => Bound::Included(k.as_slice()),
        Bound::Excluded(k) => Bound::Excluded(k.as_slice()),
        Bound::Unbounded => Bound::Unbounded,
    }
}

/// Walks `iter` following `pattern` and then from the front to the end, and checks every
/// step against the same walk over `expected`.
fn check_walk<I>(
    what: &str,
    mut iter: I,
    expected: Vec<(Key, Value)>,
    pattern: &[Side],
) -> Result<(), TestCaseError>
where
    I: DoubleEndedIterator<Item = Result<(Key, Value), DatabaseError>>,
{
    let mut model: VecDeque<(Key, Value)> = expected.into();
    let steps = pattern
        .iter()
        .copied()
        .chain(std::iter::repeat(Side::Front));
    for (i, side) in steps.enumerate() {
        let (got, want) = match side {
            Side::Front | Side::FrontBorrowed => (iter.next(), model.pop_front()),
            Side::Back | Side::BackBorrowed => (iter.next_back(), model.pop_back()),
        };
        let got = got
            .transpose()
            .map_err(|e| TestCaseError::fail(format!("{what}: step {i} ({side:?}) failed: {e}")))?;
        prop_assert_eq!(&got, &want, "{}: step {} ({:?})", what, i, side);
        if want.is_none() {
            // Both ends are exhausted; a fused iterator stays so from either end.
            prop_assert!(iter.next().is_none(), "{what}: item after the end");
            prop_assert!(iter.next_back().is_none(), "{what}: item before the start");
            return Ok(());
        }
    }
    unreachable!("the step sequence is endless")
}

fn model_range(model: &Model, lo: &Bound<Key>, hi: &Bound<Key>) -> Vec<(Key, Value)> {
    model
        .iter()
        .filter(|(k, _)| in_bounds(lo, hi, k))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

fn model_prefix(model: &Model, prefix: &[u8]) -> Vec<(Key, Value)> {
    model
        .iter()
        .filter(|(k, _)| k.starts_with(prefix))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

fn full_check(db: &Database, model: &Model) -> Result<(), TestCaseError> {
    let all: Vec<(Key, Value)> = model.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    check_walk("full forward scan", db.iter(), all.clone(), &[])?;
    let mut reversed = all;
    reversed.reverse();
    let rev: Result<Vec<_>, _> = db.iter().rev().collect();
    prop_assert_eq!(
        rev.map_err(|e| TestCaseError::fail(e.to_string()))?,
        reversed.clone(),
        "full reverse scan"
    );
    let mut lent = Vec::new();
    let mut it = db.iter();
    while let Some(pair) = it.next_back_borrowed() {
        let (k, v) = pair.map_err(fail)?;
        lent.push((k.to_vec(), v.to_vec()));
    }
    prop_assert_eq!(lent, reversed, "full reverse scan, lent");
    for (k, v) in model {
        prop_assert_eq!(db.get(k).map_err(fail)?, Some(v.clone()), "get {:?}", k);
    }
    Ok(())
}

/// Takes the items `pattern` names from a held iterator (all that is left, from the
/// front, when `pattern` is empty), checking each against what it must yield.
fn step_held(
    iter: &mut DbIterator,
    expected: &mut VecDeque<(Key, Value)>,
    pattern: &[Side],
) -> Result<(), TestCaseError> {
    let steps: Box<dyn Iterator<Item = Side>> = if pattern.is_empty() {
        Box::new(std::iter::repeat_n(Side::Front, expected.len() + 1))
    } else {
        Box::new(pattern.iter().copied())
    };
    for side in steps {
        let owned = |pair: Option<Result<lightning_db::BorrowedPair<'_>, DatabaseError>>| {
            pair.map(|r| r.map(|(k, v)| (k.to_vec(), v.to_vec())))
        };
        let (got, want) = match side {
            Side::Front => (iter.next(), expected.pop_front()),
            Side::Back => (iter.next_back(), expected.pop_back()),
            Side::FrontBorrowed => (owned(iter.next_borrowed()), expected.pop_front()),
            Side::BackBorrowed => (owned(iter.next_back_borrowed()), expected.pop_back()),
        };
        let got = got.transpose().map_err(fail)?;
        prop_assert_eq!(&got, &want, "held iterator ({:?})", side);
        if want.is_none() {
            break;
        }
    }
    Ok(())
}

fn fail(e: DatabaseError) -> TestCaseError {
    TestCaseError::fail(format!("unexpected error: {e} (code {})", e.error_code()))
}

fn fill_key(seed: u8, i: u16) -> Key {
    let mut x = u32::from(seed)
        .wrapping_mul(7919)
        .wrapping_add(u32::from(i).wrapping_mul(2_654_435_761));
    let len = 1 + (x % 4) as usize;
    let mut k = Vec::with_capacity(len);
    for _ in 0..len {
        x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
        k.push(ALPHABET[((x >> 16) % 4) as usize]);
    }
    k
}

fn fill_value(seed: u8, i: u16) -> Value {
    let len = 200 + (usize::from(i) * 37 + usize::from(seed)) % 400;
    (0..len)
        .map(|j| (j as u8).wrapping_mul(seed | 1).wrapping_add(i as u8))
        .collect()
}

struct Harness<'a> {
    dir: &'a Path,
    cfg: LightningDbConfig,
    db: Option<Database>,
    model: Model,
    snapshots: Vec<(Snapshot, Model)>,
    /// Iterators kept open across later operations, with what they must still yield.
    held: Vec<(DbIterator, VecDeque<(Key, Value)>)>,
    /// Batches the engine wrote straight into tables, summed over every open.
    ingested: u64,
}

impl Harness<'_> {
    fn db(&self) -> &Database {
        self.db.as_ref().expect("database is open")
    }

    fn run(&mut self, op: &Op) -> Result<(), TestCaseError> {
        match op {
            Op::Put(k, v) => {
                self.db().put(k, v).map_err(fail)?;
                self.model.insert(k.clone(), v.clone());
            }
            Op::Delete(k) => {
                let existed = self.db().delete(k).map_err(fail)?;
                prop_assert_eq!(existed, self.model.remove(k).is_some(), "delete {:?}", k);
            }
            Op::Batch(entries) => {
                let mut batch = self.db().new_batch();
                for (k, v) in entries {
                    match v {
                        Some(v) => batch.put(k, v).map_err(fail)?,
                        None => batch.delete(k).map_err(fail)?,
                    }
                }
                self.db().write_batch(&batch).map_err(fail)?;
                for (k, v) in entries {
                    match v {
                        Some(v) => self.model.insert(k.clone(), v.clone()),
                        None => self.model.remove(k),
                    };
                }
            }
            Op::Get(k) => {
                prop_assert_eq!(
                    self.db().get(k).map_err(fail)?,
                    self.model.get(k).cloned(),
                    "get {:?}",
                    k
                );
                prop_assert_eq!(
                    self.db().contains_key(k).map_err(fail)?,
                    self.model.contains_key(k)
                );
            }
            Op::Scan(s) => {
                let iter = self.db().range::<(Bound<&[u8]>, Bound<&[u8]>)>((
                    as_slice_bound(&s.lo),
                    as_slice_bound(&s.hi),
                ));
                check_walk(
                    "range",
                    iter,
                    model_range(&self.model, &s.lo, &s.hi),
                    &s.pattern,
                )?;
            }
            Op::Prefix(p, pattern) => {
                check_walk(
                    "scan_prefix",
                    self.db().scan_prefix(p),
                    model_prefix(&self.model, p),
                    pattern,
                )?;
            }
            Op::TakeSnapshot => {
                if self.snapshots.len() < 4 {
                    let snap = self.db().snapshot();
                    self.snapshots.push((snap, self.model.clone()));
                }
            }
            Op::ReadSnapshot(i, k, s) => {
                if !self.snapshots.is_empty() {
                    let (snap, model) = &self.snapshots[i % self.snapshots.len()];
                    prop_assert_eq!(snap.get(k).map_err(fail)?, model.get(k).cloned());
                    let iter = snap.range::<(Bound<&[u8]>, Bound<&[u8]>)>((
                        as_slice_bound(&s.lo),
                        as_slice_bound(&s.hi),
                    ));
                    check_walk(
                        "snapshot range",
                        iter,
                        model_range(model, &s.lo, &s.hi),
                        &s.pattern,
                    )?;
                    let p = match &s.lo {
                        Bound::Included(p) | Bound::Excluded(p) => p.as_slice(),
                        Bound::Unbounded => &[0xFF],
                    };
                    check_walk(
                        "snapshot prefix",
                        snap.scan_prefix(p),
                        model_prefix(model, p),
                        &[],
                    )?;
                }
            }
            Op::DropSnapshot(i) => {
                if !self.snapshots.is_empty() {
                    let i = i % self.snapshots.len();
                    self.snapshots.remove(i);
                }
            }
            Op::Txn {
                steps,
                outside,
                commit,
                pessimistic,
            } => self.run_txn(steps, outside.as_ref(), *commit, *pessimistic)?,
            Op::HoldScan(s) => {
                if self.held.len() < 3 {
                    let iter = self.db().range::<(Bound<&[u8]>, Bound<&[u8]>)>((
                        as_slice_bound(&s.lo),
                        as_slice_bound(&s.hi),
                    ));
                    let expected = model_range(&self.model, &s.lo, &s.hi).into();
                    self.held.push((iter, expected));
                }
            }
            Op::StepHeld(i, pattern) => {
                if !self.held.is_empty() {
                    let n = self.held.len();
                    let (iter, expected) = &mut self.held[i % n];
                    step_held(iter, expected, pattern)?;
                }
            }
            Op::HugePut(k, b, n) => {
                let v: Value = (0..*n).map(|i| b.wrapping_add((i % 251) as u8)).collect();
                self.db().put(k, &v).map_err(fail)?;
                self.model.insert(k.clone(), v);
            }
            Op::Fill(seed, n) => {
                for i in 0..*n {
                    let k = fill_key(*seed, i);
                    if i % 7 == 3 {
                        self.db().delete(&k).map_err(fail)?;
                        self.model.remove(&k);
                    } else {
                        let v = fill_value(*seed, i);
                        self.db().put(&k, &v).map_err(fail)?;
                        self.model.insert(k, v);
                    }
                }
            }
            Op::BigBatch(seed, n, extra) => {
                let mut batch = self.db().new_batch();
                let mut entries: Vec<(Key, Option<Value>)> = (0..*n)
                    .map(|i| {
                        let k = fill_key(seed.wrapping_add(1), i);
                        let v = (i % 5 != 2).then(|| fill_value(*seed, i));
                        (k, v)
                    })
                    .collect();
                // Later operations on a key win, also when the batch repeats keys.
                entries.extend(extra.iter().cloned());
                for (k, v) in &entries {
                    match v {
                        Some(v) => batch.put(k, v).map_err(fail)?,
                        None => batch.delete(k).map_err(fail)?,
                    }
                }
                self.db().write_batch(&batch).map_err(fail)?;
                for (k, v) in entries {
                    match v {
                        Some(v) => self.model.insert(k, v),
                        None => self.model.remove(&k),
                    };
                }
            }
            Op::Flush => self.db().flush().map_err(fail)?,
            Op::Compact => self.db().compact().map_err(fail)?,
            Op::Reopen => self.reopen()?,
        }
        Ok(())
    }

    fn run_txn(
        &mut self,
        steps: &[TxnStep],
        outside: Option<&(Key, Option<Value>)>,
        commit: bool,
        pessimistic: bool,
    ) -> Result<(), TestCaseError> {
        let base = self.model.clone();
        let mut txn = if pessimistic {
            self.db()
                .begin_transaction_with(TransactionOptions::pessimistic())
                .map_err(fail)?
        } else {
            self.db().begin_transaction().map_err(fail)?
        };
        let mut own: BTreeMap<Key, Option<Value>> = BTreeMap::new();
        // Keys the transaction read or wrote: a pessimistic transaction holds their locks.
        let mut touched: std::collections::BTreeSet<Key> = std::collections::BTreeSet::new();
        let view = |own: &BTreeMap<Key, Option<Value>>| {
            let mut v = base.clone();
            for (k, val) in own {
                match val {
                    Some(val) => v.insert(k.clone(), val.clone()),
                    None => v.remove(k),
                };
            }
            v
        };
        for step in steps {
            match step {
                TxnStep::Put(k, v) => {
                    txn.put(k, v).map_err(fail)?;
                    touched.insert(k.clone());
                    own.insert(k.clone(), Some(v.clone()));
                }
                TxnStep::Delete(k) => {
                    txn.delete(k).map_err(fail)?;
                    touched.insert(k.clone());
                    own.insert(k.clone(), None);
                }
                TxnStep::Get(k) => {
                    let want = view(&own).get(k).cloned();
                    prop_assert_eq!(txn.get(k).map_err(fail)?, want, "txn get {:?}", k);
                    touched.insert(k.clone());
                }
                TxnStep::Scan(s) => {
                    let iter = txn.range::<(Bound<&[u8]>, Bound<&[u8]>)>((
                        as_slice_bound(&s.lo),
                        as_slice_bound(&s.hi),
                    ));
                    check_walk(
                        "txn range",
                        iter,
                        model_range(&view(&own), &s.lo, &s.hi),
                        &s.pattern,
                    )?;
                }
            }
        }
        let mut conflict = false;
        if let Some((k, v)) = outside {
            match v {
                Some(v) => {
                    self.db().put(k, v).map_err(fail)?;
                    self.model.insert(k.clone(), v.clone());
                }
                None => {
                    self.db().delete(k).map_err(fail)?;
                    self.model.remove(k);
                }
            }
            // An optimistic transaction still sees its snapshot, not the outside write;
            // so does a pessimistic one for a key it already locked. A pessimistic
            // transaction locking the key only now reads the newest value, and the outside
            // write (before the lock) is no conflict for it.
            let locked_before = !pessimistic || touched.contains(k);
            let want = if locked_before {
                view(&own).get(k).cloned()
            } else {
                self.model.get(k).cloned()
            };
            prop_assert_eq!(txn.get(k).map_err(fail)?, want, "txn isolation {:?}", k);
            conflict = locked_before;
        }
        if !commit {
            txn.rollback();
            return Ok(());
        }
        let result = txn.commit();
        if conflict && !own.is_empty() {
            prop_assert!(
                matches!(result, Err(DatabaseError::TransactionConflict { .. })),
                "commit after a conflicting write: {:?}",
                result
            );
        } else {
            result.map_err(fail)?;
            for (k, v) in own {
                match v {
                    Some(v) => self.model.insert(k, v),
                    None => self.model.remove(&k),
                };
            }
        }
        Ok(())
    }

    /// Reads every held iterator to its end and drops it.
    fn drain_held(&mut self) -> Result<(), TestCaseError> {
        for (mut iter, mut expected) in self.held.drain(..) {
            step_held(&mut iter, &mut expected, &[])?;
            prop_assert!(iter.next().is_none() && expected.is_empty());
        }
        Ok(())
    }

    fn reopen(&mut self) -> Result<(), TestCaseError> {
        self.drain_held()?;
        let db = self.db.take().expect("open");
        self.ingested += db.stats().ingested_batches;
        db.close().map_err(fail)?;
        // Snapshots of a closed handle refuse new reads.
        for (snap, _) in &self.snapshots {
            prop_assert!(matches!(snap.get(b"a"), Err(DatabaseError::DatabaseClosed)));
        }
        self.snapshots.clear();
        self.db = Some(Database::open(self.dir, self.cfg.clone()).map_err(fail)?);
        full_check(self.db(), &self.model)
    }
}

/// Runs `ops` on a fresh database; returns how many batches were ingested as tables.
fn run_case(setup: &Setup, ops: &[Op]) -> Result<u64, TestCaseError> {
    let dir = tempfile::tempdir().map_err(|e| TestCaseError::fail(e.to_string()))?;
    let cfg = config(setup);
    let db = Database::open(dir.path(), cfg.clone()).map_err(fail)?;
    let mut h = Harness {
        dir: dir.path(),
        cfg,
        db: Some(db),
        model: Model::new(),
        snapshots: Vec::new(),
        held: Vec::new(),
        ingested: 0,
    };
    for (i, op) in ops.iter().enumerate() {
        h.run(op)
            .map_err(|e| TestCaseError::fail(format!("op #{i} {op:?}: {e}")))?;
    }
    h.drain_held()?;
    full_check(h.db(), &h.model)?;
    // Everything survives one last reopen as well.
    h.reopen()?;
    h.snapshots.clear();
    if let Some(db) = h.db.take() {
        h.ingested += db.stats().ingested_batches;
        db.close().map_err(fail)?;
    }
    Ok(h.ingested)
}

fn cases() -> u32 {
    std::env::var("LIGHTNING_PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(64)
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: cases(),
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    /// Random operation sequences agree with the model throughout, across flushes,
    /// compactions and reopens.
    #[test]
    fn operations_match_a_btreemap_model(
        setup in setup(),
        ops in prop::collection::vec(op(), 1..80),
    ) {
        run_case(&setup, &ops)?;
    }

    /// The same, with encryption at rest on: sealing changes no answer.
    #[test]
    fn operations_match_a_btreemap_model_encrypted(
        setup in encrypted_setup(),
        ops in prop::collection::vec(op(), 1..80),
    ) {
        run_case(&setup, &ops)?;
    }
}

/// A fixed sequence that needs every part at once: versions of one key spread over the
/// memtable, level 0 and a deeper level, a snapshot pinning old versions, a batch large
/// enough to be ingested as a table, and prefixes ending in 0xFF.
#[test]
fn layered_versions_and_ff_prefixes() {
    let mut setup = Setup {
        block_size: 512,
        compression: true,
        bloom_bits: 10,
        mmap_reads: true,
        encrypted: false,
    };
    let ops = vec![
        Op::Put(vec![0xFF], b"one".to_vec()),
        Op::Put(vec![0xFF, 0xFF], Vec::new()),
        Op::Put(vec![b'a', 0xFF], b"__tombstone__".to_vec()),
        Op::Put(vec![b'b'], vec![0xFF; 3]),
        Op::TakeSnapshot,
        Op::Compact,
        Op::Delete(vec![0xFF]),
        Op::Put(vec![0xFF, 0x00], b"two".to_vec()),
        Op::Flush,
        Op::Fill(7, 250),
        Op::TakeSnapshot,
        Op::BigBatch(
            3,
            299,
            vec![(vec![0xFF], None), (vec![b'a'], Some(b"after".to_vec()))],
        ),
        Op::Put(vec![0xFF], b"three".to_vec()),
        Op::Prefix(vec![0xFF], vec![Side::Back, Side::Front, Side::Back]),
        Op::Prefix(vec![0xFF, 0xFF], vec![Side::Back]),
        Op::Prefix(vec![b'a', 0xFF], vec![]),
        // The second snapshot was taken just before the ingested batch.
        Op::ReadSnapshot(
            1,
            vec![b'a'],
            Scan {
                lo: Bound::Unbounded,
                hi: Bound::Unbounded,
                pattern: vec![Side::Back, Side::Front],
            },
        ),
        Op::ReadSnapshot(
            0,
            vec![0xFF],
            Scan {
                lo: Bound::Included(vec![0xFF]),
                hi: Bound::Unbounded,
                pattern: vec![Side::Back, Side::Back, Side::Front],
            },
        ),
        Op::Reopen,
        Op::Scan(Scan {
            lo: Bound::Excluded(vec![b'a']),
            hi: Bound::Included(vec![0xFF, 0xFF]),
            pattern: vec![Side::Back, Side::Front, Side::Back, Side::Front],
        }),
    ];
    // Both read paths: table files through memory maps, and through `pread`; and an
    // encrypted database (whose tables are read through the cache whatever mmap_reads
    // says).
    for (mmap_reads, encrypted) in [(true, false), (false, false), (true, true)] {
        setup.mmap_reads = mmap_reads;
        setup.encrypted = encrypted;
        match run_case(&setup, &ops) {
            Ok(ingested) => assert!(ingested > 0, "the big batch must take the ingestion path"),
            Err(e) => panic!("mmap_reads {mmap_reads}, encrypted {encrypted}: {e}"),
        }
    }
}
