//! I/O errors, SQLite style, on a simulated disk (RELIABILITY.md §2).
//!
//! For N = 1, 2, … the Nth file operation fails (once, or that one and every one after it)
//! until the workload runs to the end without reaching N. Whatever fails must fail with a
//! typed error, never a panic; reads never return wrong data; a failed write or fsync
//! poisons the database, which refuses writes until reopened (a failed fsync is never
//! retried and trusted); and after reopening, on the same disk or after a power cut, every
//! acknowledged batch is there, every batch is all or nothing and every value is exact.
//! Then the same for `ENOSPC`.

mod sim_support;

use lightning_db::testing::{FaultError, FaultPlan, OpKind, SimFileSystem};
use std::sync::Arc;

use lightning_db::{Database, DatabaseError, Durability, LightningDbConfig, ManualClock};
use sim_support::{check_writer, commit, model, POOL};

const DB: &str = "/sim/db";
const BATCHES: u64 = 120;

fn config() -> LightningDbConfig {
    LightningDbConfig {
        write_buffer_size: 64 * 1024,
        block_size: 1024,
        cache_size: 256 * 1024,
        durability: Durability::Sync,
        ..Default::default()
    }
}

/// Opens on a manual clock: the backoff before a retried flush, compaction or recovery
/// stage is waited in simulated time, so a sweep of thousands of faults does not sleep.
fn open(sim: &SimFileSystem) -> Result<Database, DatabaseError> {
    Database::open_with_fs_and_clock(DB, config(), sim.handle(), Arc::new(ManualClock::new()))
}

/// An injected fault may surface as the I/O error itself, as the poisoning it caused, or
/// (at open) wrapped by the recovery stage it stopped, or as that stage's time running out.
fn assert_expected_error(e: &DatabaseError, context: &str) {
    assert!(
        matches!(
            e.root_cause(),
            DatabaseError::Io { .. }
                | DatabaseError::Poisoned { .. }
                | DatabaseError::RecoveryTimeout { .. }
        ),
        "{context}: unexpected error type: {e:?}"
    );
}

/// Every pool key reads as the model of the acknowledged batches, or fails: never wrong data.
fn check_reads(db: &Database, acked: u64, context: &str) {
    let want = model(0, acked);
    for n in 0..POOL {
        let key = format!("w0/k/{n:03}").into_bytes();
        match db.get(&key) {
            Ok(got) => assert_eq!(
                got.as_ref(),
                want.get(&key),
                "{context}: get({}) returned wrong data",
                String::from_utf8_lossy(&key)
            ),
            Err(e) => assert_expected_error(&e, context),
        }
    }
    for kv in db.scan_prefix(b"w0/k/") {
        match kv {
            Ok((k, v)) => assert_eq!(Some(&v), want.get(&k), "{context}: scan wrong data"),
            Err(e) => {
                assert_expected_error(&e, context);
                break;
            }
        }
    }
}

#[derive(Debug, Default)]
struct Outcome {
    acked: u64,
    attempted: u64,
}

/// Opens, commits batches with a flush, a sync and a compaction along the way, and checks
/// reads throughout. Stops at the first failed write, after checking that the database
/// keeps refusing writes.
fn workload(sim: &SimFileSystem, context: &str) -> Outcome {
    let mut out = Outcome::default();
    let db = match open(sim) {
        Ok(db) => db,
        Err(e) => {
            assert_expected_error(&e, context);
            return out;
        }
    };
    for id in 1..=BATCHES {
        out.attempted = id;
        let step = commit(&db, 0, id).and_then(|()| {
            out.acked = id;
            match id % 40 {
                10 => db.sync(),
                20 => db.flush(),
                _ => Ok(()),
            }
        });
        if id % 40 == 30 {
            // A failed compaction loses nothing and need not stop writes.
            if let Err(e) = db.compact() {
                assert_expected_error(&e, context);
            }
        }
        if let Err(e) = step {
            assert_expected_error(&e, context);
            check_reads(&db, out.acked, context);
            // Poisoned: writes stay refused until reopen, even once the disk is fine again.
            for _ in 0..2 {
                let again = commit(&db, 0, out.acked + 1);
                assert!(
                    again.is_err(),
                    "{context}: a write succeeded after the failure of {e}"
                );
            }
            sim.set_fault(None);
            assert!(
                commit(&db, 0, out.acked + 1).is_err(),
                "{context}: a write succeeded after the failure of {e} once the disk recovered"
            );
            return out;
        }
        if id.is_multiple_of(10) || sim.faults_injected() > 0 {
            check_reads(&db, out.acked, context);
        }
    }
    drop(db);
    out
}

/// After the workload: reopen (same disk, or after a power cut) and check everything.
fn verify(sim: &SimFileSystem, out: &Outcome, power_cut: bool, seed: u64, context: &str) {
    sim.set_fault(None);
    if power_cut {
        sim.power_cut(seed);
    } else {
        sim.process_crash();
    }
    let db = open(sim).unwrap_or_else(|e| {
        panic!(
            "{context}: reopening failed: {e}\nfiles: {:?}",
            sim.list(DB)
        )
    });
    let m = check_writer(&db, 0, out.acked, Some(out.attempted))
        .unwrap_or_else(|e| panic!("{context}: {e}"));
    // And it is writable again.
    commit(&db, 0, m + 1).unwrap_or_else(|e| panic!("{context}: write after reopen: {e}"));
    check_writer(&db, 0, m + 1, Some(m + 1)).unwrap_or_else(|e| panic!("{context}: {e}"));
}

fn sweep(plan_for: impl Fn(u64) -> FaultPlan, tag: &str) -> u64 {
    let mut n = 1;
    loop {
        let sim = SimFileSystem::new();
        sim.set_fault(Some(plan_for(n)));
        let context = format!("{tag}: fault at operation {n}");
        let out = workload(&sim, &context);
        let fired = sim.faults_injected() > 0;
        verify(&sim, &out, n % 2 == 0, n, &context);
        if !fired {
            assert_eq!(
                out.acked, BATCHES,
                "{context}: no fault, yet the workload stopped"
            );
            return n;
        }
        n += 1;
        assert!(n < 100_000, "{tag}: the workload never completed");
    }
}

#[test]
fn every_operation_failing_once() {
    let n = sweep(FaultPlan::once, "once");
    println!("once: the workload completed from N = {n}");
}

#[test]
fn every_operation_failing_from_then_on() {
    let n = sweep(FaultPlan::from_nth, "persistent");
    println!("persistent: the workload completed from N = {n}");
}

#[test]
fn every_fsync_failing_once_poisons_and_is_never_trusted() {
    sweep(
        |n| FaultPlan::once(n).only(&[OpKind::Sync, OpKind::SyncDir]),
        "fsync",
    );
}

#[test]
fn enospc_on_every_write() {
    sweep(
        |n| {
            FaultPlan::from_nth(n)
                .with_error(FaultError::NoSpace)
                .only(&[OpKind::Append, OpKind::Create])
        },
        "enospc",
    );
}

#[test]
fn a_full_disk_refuses_writes_with_storage_full_and_loses_nothing() {
    // Unique keys, so the data only grows and every limit is reached: by the log, by a
    // flush or by a compaction, depending on the limit.
    let value = |i: u64| -> Vec<u8> {
        let h = sim_support::hash(&[&i.to_le_bytes()]);
        (0..400).map(|j| (h >> (j % 56)) as u8).collect()
    };
    for limit_kib in [24u64, 48, 80, 120, 200, 400] {
        let context = format!("limit {limit_kib} KiB");
        let sim = SimFileSystem::new();
        sim.set_space_limit(Some(limit_kib * 1024));
        let db = open(&sim).expect("open");
        let mut acked = 0;
        let mut err = None;
        for i in 1..=100_000u64 {
            let r = db.put(format!("big/{i:08}").as_bytes(), &value(i));
            if let Err(e) = r {
                err = Some(e);
                break;
            }
            acked = i;
            if i.is_multiple_of(150) {
                if let Err(e) = db.flush() {
                    err = Some(e);
                    break;
                }
            }
        }
        let err = err.unwrap_or_else(|| panic!("{context}: the disk never filled up"));
        assert!(
            err.is_storage_full() || matches!(err, DatabaseError::Poisoned { .. }),
            "{context}: {err:?}"
        );
        // Reads stay exact; writes stay refused.
        for i in [1, acked / 2, acked].into_iter().filter(|&i| i > 0) {
            match db.get(format!("big/{i:08}").as_bytes()) {
                Ok(v) => assert_eq!(v, Some(value(i)), "{context}: key {i}"),
                Err(e) => assert_expected_error(&e, &context),
            }
        }
        assert!(db.put(b"big/more", b"x").is_err(), "{context}: poisoned");
        drop(db);
        // After a power cut, with space again: every acknowledged write, exact.
        sim.set_space_limit(None);
        sim.power_cut(limit_kib);
        let db = open(&sim).unwrap_or_else(|e| panic!("{context}: reopen: {e}"));
        let mut seen = 0;
        for kv in db.scan_prefix(b"big/") {
            let (k, v) = kv.unwrap_or_else(|e| panic!("{context}: scan: {e}"));
            let i: u64 = std::str::from_utf8(&k[4..])
                .expect("utf8")
                .parse()
                .expect("number");
            assert_eq!(v, value(i), "{context}: key {i}");
            assert!(i <= acked + 1, "{context}: key {i} was never written");
            seen += 1;
        }
        assert!(
            seen >= acked,
            "{context}: {seen} of {acked} acknowledged writes survived"
        );
    }
}
