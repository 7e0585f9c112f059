//! Concurrency (RELIABILITY.md §5): many threads against one `Arc<Database>`, each
//! result checked against what must hold whatever the interleaving.
//!
//! * batches are atomic to concurrent snapshots, point reads and scans (both directions)
//!   while flushes and compactions run;
//! * counters incremented by optimistic and by pessimistic transactions that retry on
//!   conflicts end exact;
//! * readers never miss a key while other threads write, flush and compact, and a
//!   key only ever overwritten with larger values never goes back in time for them;
//! * pessimistic transactions that wait for each other in a cycle get `DeadlockDetected`
//!   (or `LockTimeout` with detection off), and the survivor commits;
//! * a transaction refused for a conflict never reappears after reopening.
//!
//! Nothing here asserts timings; sleeps only pace the background threads.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::Duration;

use lightning_db::{
    Database, DatabaseError, Durability, LightningDbConfig, TransactionMode, TransactionOptions,
};
use rand::{Rng, SeedableRng};

fn config(durability: Durability) -> LightningDbConfig {
    LightningDbConfig {
        write_buffer_size: 64 * 1024,
        cache_size: 512 * 1024,
        block_size: 1024,
        durability,
        ..LightningDbConfig::default()
    }
}

fn open(dir: &std::path::Path, durability: Durability) -> Arc<Database> {
    Arc::new(Database::open(dir, config(durability)).expect("open"))
}

fn num(v: &[u8]) -> i64 {
    std::str::from_utf8(v)
        .expect("utf8")
        .parse()
        .expect("a number")
}

/// Calls flush and compact in a loop until `stop` is set; returns how many rounds ran.
fn maintenance(db: Arc<Database>, stop: Arc<AtomicBool>) -> thread::JoinHandle<u64> {
    thread::spawn(move || {
        let mut rounds = 0;
        while !stop.load(Ordering::Acquire) {
            db.flush().expect("flush");
            thread::sleep(Duration::from_millis(5));
            if rounds % 3 == 2 {
                db.compact().expect("compact");
            }
            rounds += 1;
        }
        rounds
    })
}

const ACCOUNTS: usize = 16;
const GROUP: usize = 8;

fn acct(i: usize) -> Vec<u8> {
    format!("acct/{i:02}").into_bytes()
}

fn grp(i: usize) -> Vec<u8> {
    format!("grp/{i}").into_bytes()
}

/// Every write is a batch that moves an amount between two accounts (the sum stays 0),
/// sets all group keys to the batch number and overwrites filler; readers check both
/// invariants on snapshots, point reads and scans while flushes and compactions run.
#[test]
fn batches_are_atomic_to_concurrent_snapshots_and_scans() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = open(dir.path(), Durability::NoSync);
    let mut init = db.new_batch();
    for i in 0..ACCOUNTS {
        init.put(&acct(i), b"0").expect("put");
    }
    for i in 0..GROUP {
        init.put(&grp(i), b"0").expect("put");
    }
    db.write_batch(&init).expect("initial batch");

    const BATCHES: i64 = 1500;
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let db = Arc::clone(&db);
        thread::spawn(move || {
            let mut rng = rand::rngs::StdRng::seed_from_u64(7);
            let mut balances = [0i64; ACCOUNTS];
            for n in 1..=BATCHES {
                let a = rng.gen_range(0..ACCOUNTS);
                let b = (a + rng.gen_range(1..ACCOUNTS)) % ACCOUNTS;
                let amount = rng.gen_range(1..1000);
                balances[a] -= amount;
                balances[b] += amount;
                let mut batch = db.new_batch();
                batch
                    .put(&acct(a), balances[a].to_string().as_bytes())
                    .expect("put");
                batch
                    .put(&acct(b), balances[b].to_string().as_bytes())
                    .expect("put");
                for i in 0..GROUP {
                    batch.put(&grp(i), n.to_string().as_bytes()).expect("put");
                }
                let filler = vec![n as u8; 300];
                batch
                    .put(format!("fill/{:03}", n % 200).as_bytes(), &filler)
                    .expect("put");
                db.write_batch(&batch).expect("write_batch");
            }
            balances
        })
    };
    let maint = maintenance(Arc::clone(&db), Arc::clone(&stop));
    let readers: Vec<_> = (0..3)
        .map(|r| {
            let db = Arc::clone(&db);
            let stop = Arc::clone(&stop);
            thread::spawn(move || {
                let mut checks = 0u64;
                let mut last_seen = 0i64;
                loop {
                    let finished = stop.load(Ordering::Acquire);
                    // A snapshot: point reads and scans at one sequence number agree.
                    let snap = db.snapshot();
                    let g: Vec<i64> = (0..GROUP)
                        .map(|i| num(&snap.get(&grp(i)).expect("get").expect("present")))
                        .collect();
                    assert!(g.iter().all(|&x| x == g[0]), "reader {r}: torn group {g:?}");
                    assert!(g[0] >= last_seen, "reader {r}: snapshots went back in time");
                    last_seen = g[0];
                    let sum: i64 = (0..ACCOUNTS)
                        .map(|i| num(&snap.get(&acct(i)).expect("get").expect("present")))
                        .sum();
                    assert_eq!(sum, 0, "reader {r}: torn transfer seen by point reads");
                    let scanned: Vec<_> = snap
                        .scan_prefix(b"grp/")
                        .rev()
                        .map(|kv| num(&kv.expect("scan").1))
                        .collect();
                    assert_eq!(scanned, vec![g[0]; GROUP], "reader {r}: snapshot scan");
                    // Plain (unregistered) iterators, forward and reverse.
                    let vals: Vec<i64> = db
                        .scan_prefix(b"acct/")
                        .map(|kv| num(&kv.expect("scan").1))
                        .collect();
                    assert_eq!(vals.len(), ACCOUNTS);
                    assert_eq!(
                        vals.iter().sum::<i64>(),
                        0,
                        "reader {r}: torn transfer in a scan"
                    );
                    let iter = db.range(&b"grp/"[..]..&b"grp0"[..]);
                    // Writes made while the iterator is held stay invisible to it.
                    thread::yield_now();
                    let vals: Vec<i64> = iter.rev().map(|kv| num(&kv.expect("scan").1)).collect();
                    assert_eq!(vals.len(), GROUP);
                    assert!(
                        vals.iter().all(|&x| x == vals[0]),
                        "reader {r}: torn group scan"
                    );
                    checks += 1;
                    if finished {
                        return checks;
                    }
                }
            })
        })
        .collect();
    let balances = writer.join().expect("writer");
    stop.store(true, Ordering::Release);
    let maint_rounds = maint.join().expect("maintenance");
    for r in readers {
        assert!(r.join().expect("reader") > 0);
    }
    for (i, b) in balances.iter().enumerate() {
        assert_eq!(num(&db.get(&acct(i)).expect("get").expect("present")), *b);
    }
    assert_eq!(
        num(&db.get(&grp(0)).expect("get").expect("present")),
        BATCHES
    );
    let stats = db.stats();
    assert!(
        stats.flushes > 0 && maint_rounds > 0,
        "flushes must have happened"
    );
}

fn increment_counters(db: &Arc<Database>, mode: TransactionMode, threads: usize, per_thread: u64) {
    for i in 0..3 {
        db.put(format!("counter/{i}").as_bytes(), b"0")
            .expect("put");
    }
    let retries = Arc::new(AtomicU64::new(0));
    let conflicts = Arc::new(AtomicU64::new(0));
    let start = Arc::new(Barrier::new(threads));
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let db = Arc::clone(db);
            let retries = Arc::clone(&retries);
            let conflicts = Arc::clone(&conflicts);
            let start = Arc::clone(&start);
            thread::spawn(move || {
                let mut rng = rand::rngs::StdRng::seed_from_u64(t as u64);
                start.wait();
                let mut done = [0u64; 3];
                for _ in 0..per_thread {
                    // Two distinct counters, in random order, so pessimistic lockers
                    // can wait for each other in a cycle.
                    let a = rng.gen_range(0..3);
                    let b = (a + rng.gen_range(1..3)) % 3;
                    loop {
                        let options = TransactionOptions {
                            mode,
                            lock_timeout: Duration::from_secs(30),
                        };
                        let mut txn = db.begin_transaction_with(options).expect("begin");
                        let attempt = (|| {
                            for c in [a, b] {
                                let key = format!("counter/{c}");
                                let v = num(&txn.get(key.as_bytes())?.expect("present"));
                                txn.put(key.as_bytes(), (v + 1).to_string().as_bytes())?;
                            }
                            Ok::<(), DatabaseError>(())
                        })();
                        let result = attempt.and_then(|()| txn.commit());
                        match result {
                            Ok(()) => {
                                done[a] += 1;
                                done[b] += 1;
                                break;
                            }
                            Err(DatabaseError::TransactionConflict { .. }) => {
                                conflicts.fetch_add(1, Ordering::Relaxed);
                                retries.fetch_add(1, Ordering::Relaxed);
                            }
                            Err(DatabaseError::DeadlockDetected { .. }) => {
                                retries.fetch_add(1, Ordering::Relaxed);
                            }
                            Err(e) => panic!("unexpected error: {e}"),
                        }
                    }
                }
                done
            })
        })
        .collect();
    let mut expected = [0u64; 3];
    for h in handles {
        let done = h.join().expect("incrementer");
        for i in 0..3 {
            expected[i] += done[i];
        }
    }
    assert_eq!(
        expected.iter().sum::<u64>(),
        2 * threads as u64 * per_thread
    );
    for (i, e) in expected.iter().enumerate() {
        let got = num(&db
            .get(format!("counter/{i}").as_bytes())
            .expect("get")
            .expect("present"));
        assert_eq!(got, *e as i64, "counter {i} ({mode:?})");
    }
    eprintln!(
        "{mode:?}: {} retries for {} increments",
        retries.load(Ordering::Relaxed),
        threads as u64 * per_thread
    );
    if mode == TransactionMode::Pessimistic {
        // Only pessimistic transactions write the counters, and each reads under its lock:
        // they may deadlock with each other, but never conflict.
        assert_eq!(
            conflicts.load(Ordering::Relaxed),
            0,
            "pessimistic commits conflicted"
        );
    }
}

/// Optimistic transactions retrying on `TransactionConflict` lose no increment.
#[test]
fn optimistic_counters_are_exact_under_conflicts() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = open(dir.path(), Durability::Sync);
    increment_counters(&db, TransactionMode::Optimistic, 4, 40);
}

/// Pessimistic transactions (which may deadlock with each other, but read under their
/// locks and so never conflict) lose no increment either.
#[test]
fn pessimistic_counters_are_exact_under_conflicts() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = open(dir.path(), Durability::Sync);
    increment_counters(&db, TransactionMode::Pessimistic, 4, 40);
}

fn stable_key(i: usize) -> Vec<u8> {
    format!("stable/{i:05}").into_bytes()
}

fn stable_value(i: usize) -> Vec<u8> {
    let mut v = format!("value-{i}-").into_bytes();
    v.resize(60 + i % 90, b'a' + (i % 26) as u8);
    v
}

/// Keys written once are always found, by point reads, snapshots and scans, while other
/// threads overwrite and delete other keys and flush and compact all the time.
#[test]
fn readers_never_miss_keys_during_flush_and_compaction() {
    const STABLE: usize = 3000;
    let dir = tempfile::tempdir().expect("tempdir");
    let db = open(dir.path(), Durability::NoSync);
    for chunk in (0..STABLE).collect::<Vec<_>>().chunks(100) {
        let mut batch = db.new_batch();
        for &i in chunk {
            batch.put(&stable_key(i), &stable_value(i)).expect("put");
        }
        db.write_batch(&batch).expect("write_batch");
    }
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let db = Arc::clone(&db);
        thread::spawn(move || {
            for n in 0..12_000u32 {
                let key = format!("churn/{:04}", n % 700);
                if n % 5 == 4 {
                    db.delete(key.as_bytes()).expect("delete");
                } else {
                    db.put(key.as_bytes(), &[n as u8; 200]).expect("put");
                }
            }
        })
    };
    let maint = maintenance(Arc::clone(&db), Arc::clone(&stop));
    let readers: Vec<_> = (0..2)
        .map(|r| {
            let db = Arc::clone(&db);
            let stop = Arc::clone(&stop);
            thread::spawn(move || {
                let mut rng = rand::rngs::StdRng::seed_from_u64(100 + r);
                let mut reads = 0u64;
                loop {
                    let finished = stop.load(Ordering::Acquire);
                    for _ in 0..200 {
                        let i = rng.gen_range(0..STABLE);
                        let got = db.get(&stable_key(i)).expect("get");
                        assert_eq!(got, Some(stable_value(i)), "reader {r}: key {i}");
                        reads += 1;
                    }
                    let snap = db.snapshot();
                    let i = rng.gen_range(0..STABLE);
                    assert_eq!(
                        snap.get(&stable_key(i)).expect("get"),
                        Some(stable_value(i))
                    );
                    // A random window of stable keys, scanned from a random end.
                    let lo = rng.gen_range(0..STABLE);
                    let hi = (lo + rng.gen_range(1..300)).min(STABLE);
                    let (lk, hk) = (stable_key(lo), stable_key(hi));
                    let iter = db.range(lk.as_slice()..hk.as_slice());
                    let mut got: Vec<(Vec<u8>, Vec<u8>)> = if rng.gen() {
                        iter.map(|kv| kv.expect("scan")).collect()
                    } else {
                        let mut v: Vec<_> = iter.rev().map(|kv| kv.expect("scan")).collect();
                        v.reverse();
                        v
                    };
                    let want: Vec<(Vec<u8>, Vec<u8>)> =
                        (lo..hi).map(|i| (stable_key(i), stable_value(i))).collect();
                    assert!(got == want, "reader {r}: scan of stable/{lo}..{hi} differs");
                    got.clear();
                    if finished {
                        return reads;
                    }
                }
            })
        })
        .collect();
    writer.join().expect("writer");
    stop.store(true, Ordering::Release);
    maint.join().expect("maintenance");
    for r in readers {
        assert!(r.join().expect("reader") > 0);
    }
    assert_eq!(db.scan_prefix(b"stable/").count(), STABLE);
    assert!(db.stats().flushes > 0);
}

/// Two pessimistic transactions each holding one key and asking for the other's: exactly
/// one is refused with `DeadlockDetected` (whichever closes the cycle), rolls back, and
/// the other then gets its lock and commits.
#[test]
fn deadlock_between_pessimistic_transactions_is_detected() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = open(dir.path(), Durability::NoSync);
    assert!(db.config().deadlock_prevention_enabled);
    let barrier = Arc::new(Barrier::new(2));
    let run = |mine: &'static [u8], theirs: &'static [u8], tag: &'static [u8]| {
        let db = Arc::clone(&db);
        let barrier = Arc::clone(&barrier);
        thread::spawn(move || {
            let options = TransactionOptions {
                mode: TransactionMode::Pessimistic,
                // Far longer than the test: a timeout here would mean no detection.
                lock_timeout: Duration::from_secs(60),
            };
            let mut txn = db.begin_transaction_with(options).expect("begin");
            txn.put(mine, tag).expect("lock my key");
            barrier.wait();
            match txn.put(theirs, tag) {
                Ok(()) => txn.commit().map(|()| true),
                Err(e @ DatabaseError::DeadlockDetected { .. }) => {
                    txn.rollback();
                    Err(e)
                }
                Err(e) => panic!("unexpected error: {e}"),
            }
        })
    };
    let t1 = run(b"a", b"b", b"t1");
    let t2 = run(b"b", b"a", b"t2");
    let r1 = t1.join().expect("t1");
    let r2 = t2.join().expect("t2");
    let (winner, loser) = match (&r1, &r2) {
        (Ok(true), Err(e)) => (b"t1", e),
        (Err(e), Ok(true)) => (b"t2", e),
        _ => panic!("expected exactly one deadlock victim: {r1:?} / {r2:?}"),
    };
    assert!(
        matches!(loser, DatabaseError::DeadlockDetected { resources, .. } if !resources.is_empty())
    );
    assert_eq!(loser.error_code(), lightning_db::codes::DEADLOCK_DETECTED);
    assert_eq!(db.get(b"a").expect("get").as_deref(), Some(&winner[..]));
    assert_eq!(db.get(b"b").expect("get").as_deref(), Some(&winner[..]));
}

/// With deadlock prevention off, the same cycle ends in `LockTimeout` for a waiter.
#[test]
fn deadlock_without_detection_times_out() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = LightningDbConfig {
        deadlock_prevention_enabled: false,
        ..config(Durability::NoSync)
    };
    let db = Arc::new(Database::open(dir.path(), cfg).expect("open"));
    let barrier = Arc::new(Barrier::new(2));
    let run = |mine: &'static [u8], theirs: &'static [u8], timeout_ms: u64| {
        let db = Arc::clone(&db);
        let barrier = Arc::clone(&barrier);
        thread::spawn(move || {
            let options = TransactionOptions {
                mode: TransactionMode::Pessimistic,
                lock_timeout: Duration::from_millis(timeout_ms),
            };
            let mut txn = db.begin_transaction_with(options).expect("begin");
            txn.put(mine, b"x").expect("lock my key");
            barrier.wait();
            let r = txn.put(theirs, b"x");
            match r {
                Ok(()) => txn.commit(),
                Err(e) => {
                    txn.rollback();
                    Err(e)
                }
            }
        })
    };
    // The short timeout gives up first; the long one then gets the lock.
    let t1 = run(b"a", b"b", 100);
    let t2 = run(b"b", b"a", 30_000);
    let r1 = t1.join().expect("t1");
    let r2 = t2.join().expect("t2");
    assert!(
        matches!(r1, Err(DatabaseError::LockTimeout { .. })),
        "{r1:?}"
    );
    r2.expect("the other transaction commits once the lock is free");
}

/// Transactions refused for a conflict leave nothing behind, before and after a reopen;
/// the committed ones are all there.
#[test]
fn conflicted_transactions_never_reappear_after_reopen() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = open(dir.path(), Durability::Sync);
    db.put(b"shared", b"0").expect("put");

    // A certain conflict: the key read is overwritten before the commit.
    let mut txn = db.begin_transaction().expect("begin");
    assert_eq!(txn.get(b"shared").expect("get").as_deref(), Some(&b"0"[..]));
    txn.put(b"forced/loser", b"x").expect("put");
    db.put(b"shared", b"outside").expect("put");
    let err = txn.commit().expect_err("must conflict");
    assert!(matches!(err, DatabaseError::TransactionConflict { ref key, .. } if key == b"shared"));
    assert!(err.is_retryable());

    // Racing transactions: each reads and writes `shared` and writes its own marker.
    const THREADS: usize = 4;
    const PER: usize = 30;
    let handles: Vec<_> = (0..THREADS)
        .map(|t| {
            let db = Arc::clone(&db);
            thread::spawn(move || {
                let mut outcomes = Vec::with_capacity(PER);
                for i in 0..PER {
                    let mut txn = db.begin_transaction().expect("begin");
                    txn.get(b"shared").expect("get");
                    let id = format!("{t}/{i}");
                    txn.put(b"shared", id.as_bytes()).expect("put");
                    txn.put(format!("tx/{id}").as_bytes(), b"committed")
                        .expect("put");
                    if i % 10 == 9 {
                        db.flush().expect("flush");
                    }
                    match txn.commit() {
                        Ok(()) => outcomes.push(true),
                        Err(DatabaseError::TransactionConflict { .. }) => outcomes.push(false),
                        Err(e) => panic!("unexpected error: {e}"),
                    }
                }
                outcomes
            })
        })
        .collect();
    let outcomes: Vec<Vec<bool>> = handles
        .into_iter()
        .map(|h| h.join().expect("thread"))
        .collect();
    let check = |db: &Database, when: &str| {
        assert_eq!(db.get(b"forced/loser").expect("get"), None, "{when}");
        for (t, outs) in outcomes.iter().enumerate() {
            for (i, &committed) in outs.iter().enumerate() {
                let got = db.get(format!("tx/{t}/{i}").as_bytes()).expect("get");
                assert_eq!(got.is_some(), committed, "{when}: tx/{t}/{i}");
            }
        }
        let shared = db.get(b"shared").expect("get").expect("present");
        let shared = String::from_utf8(shared).expect("utf8");
        let (t, i) = shared.split_once('/').expect("an id");
        let (t, i): (usize, usize) = (t.parse().expect("t"), i.parse().expect("i"));
        assert!(
            outcomes[t][i],
            "{when}: shared holds a refused transaction's write"
        );
    };
    check(&db, "before reopen");
    drop(db);
    let db = Database::open(dir.path(), config(Durability::Sync)).expect("reopen");
    check(&db, "after reopen");
    db.compact().expect("compact");
    drop(db);
    let db = Database::open(dir.path(), config(Durability::Sync)).expect("reopen");
    check(&db, "after compaction and reopen");
}

/// A key that always holds a value and is only ever overwritten with larger numbers is
/// never missing and never goes back in time for readers, while memtables are flushed
/// under them (a read must not pair a sequence number with a newer flush result that
/// dropped the version that sequence number sees).
#[test]
fn plain_reads_never_go_back_in_time_across_flushes() {
    const HOT: u64 = 8;
    let dir = tempfile::tempdir().expect("tempdir");
    let db = open(dir.path(), Durability::NoSync);
    for k in 0..HOT {
        db.put(format!("hot{k}").as_bytes(), &0u64.to_be_bytes())
            .expect("put");
    }
    let stop = Arc::new(AtomicBool::new(false));
    let readers: Vec<_> = (0..3)
        .map(|r| {
            let db = Arc::clone(&db);
            let stop = Arc::clone(&stop);
            thread::spawn(move || {
                let mut last = [0u64; HOT as usize];
                let mut reads = 0u64;
                while !stop.load(Ordering::Acquire) {
                    for (k, last) in last.iter_mut().enumerate() {
                        let key = format!("hot{k}");
                        let v = db.get(key.as_bytes()).expect("get");
                        let v = v.unwrap_or_else(|| panic!("reader {r}: {key} vanished"));
                        let v = u64::from_be_bytes(v.try_into().expect("8 bytes"));
                        assert!(v >= *last, "reader {r}: {key} went back from {last} to {v}");
                        *last = v;
                        reads += 1;
                    }
                    // The same through a one-key scan from either end.
                    let k = reads % HOT;
                    let key = format!("hot{k}");
                    let mut it = db.range(key.as_bytes()..=key.as_bytes());
                    let kv = if reads.is_multiple_of(2) {
                        it.next()
                    } else {
                        it.next_back()
                    };
                    let (_, v) = kv.expect("present").expect("scan");
                    let v = u64::from_be_bytes(v.try_into().expect("8 bytes"));
                    assert!(v >= last[k as usize], "reader {r}: scan of {key} went back");
                }
                reads
            })
        })
        .collect();
    for i in 1..=60_000u64 {
        db.put(format!("hot{}", i % HOT).as_bytes(), &i.to_be_bytes())
            .expect("put");
        if i % 4 == 0 {
            db.put(format!("fill{}", i % 1000).as_bytes(), &[1u8; 100])
                .expect("put");
        }
    }
    stop.store(true, Ordering::Release);
    for r in readers {
        assert!(r.join().expect("reader") > 0);
    }
    assert!(
        db.stats().flushes > 10,
        "memtables must have been flushed under the readers"
    );
}
