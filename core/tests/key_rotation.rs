//! Key rotation and re-wrapping (issue 15 item 2), whole system: a rotated database reads
//! exact data before and after reopening; `rotate_key_now` rewrites every file so the key
//! file can drop the older keys and the database still opens and reads everything;
//! `rewrap_key` makes the new key-encryption key the only one that opens it; a scheduled
//! rotation happens at open; and a power cut at every file operation of a rotation or a
//! re-wrap leaves a database that opens with the key in force and holds every
//! acknowledged write.

use std::path::Path;

use lightning_db::testing::{PowerCutPolicy, SimFileSystem};
use lightning_db::{Database, DatabaseError, Durability, EncryptionKey, LightningDbConfig};

const N: u32 = 300;
const SIM_DB: &str = "/db";

fn kek(b: u8) -> EncryptionKey {
    EncryptionKey::from_bytes(&[b; 32])
}

fn config(key: &EncryptionKey) -> LightningDbConfig {
    let mut c = LightningDbConfig {
        write_buffer_size: 64 * 1024,
        block_size: 1024,
        cache_size: 64 * 1024,
        durability: Durability::Sync,
        ..Default::default()
    };
    c.security.enable_encryption = true;
    c.security.encryption_key = Some(key.clone());
    c
}

fn key(i: u32) -> Vec<u8> {
    format!("rotkey{i:06}").into_bytes()
}

fn value(i: u32, round: u32) -> Vec<u8> {
    format!("rotvalue{i:06}r{round}").into_bytes()
}

/// `N` keys written in `round`, some flushed into tables, the rest left in the log.
fn write_round(db: &Database, round: u32) {
    for i in 0..N {
        db.put(&key(i), &value(i, round)).expect("put");
        if i == N / 2 {
            db.flush().expect("flush");
        }
    }
}

fn check(db: &Database, round: u32, ctx: &str) {
    for i in 0..N {
        assert_eq!(
            db.get(&key(i))
                .unwrap_or_else(|e| panic!("{ctx}: get {i}: {e}")),
            Some(value(i, round)),
            "{ctx}: key {i}"
        );
    }
    assert_eq!(db.iter().count(), N as usize, "{ctx}: scan");
}

fn open(path: &Path, k: &EncryptionKey) -> Result<Database, DatabaseError> {
    Database::open(path, config(k))
}

#[test]
fn rotate_key_moves_new_writes_to_a_new_generation_and_old_data_stays_readable() {
    let dir = tempfile::tempdir().expect("tempdir");
    let k = kek(1);
    let db = open(dir.path(), &k).expect("open");
    assert_eq!(db.key_generation(), Some(1));
    write_round(&db, 0);
    assert_eq!(db.rotate_key().expect("rotate"), 2);
    assert_eq!(db.key_generation(), Some(2));
    check(&db, 0, "after rotate");
    write_round(&db, 1);
    assert_eq!(db.rotate_key().expect("rotate again"), 3);
    db.close().expect("close");
    let db = open(dir.path(), &k).expect("reopen");
    assert_eq!(db.key_generation(), Some(3));
    check(&db, 1, "reopened");
    db.close().expect("close");
}

#[test]
fn rotate_key_now_rewrites_everything_and_retires_the_older_keys() {
    let dir = tempfile::tempdir().expect("tempdir");
    let k = kek(2);
    let db = open(dir.path(), &k).expect("open");
    write_round(&db, 0);
    db.rotate_key().expect("rotate");
    write_round(&db, 1);
    let rotation = db.rotate_key_now().expect("rotate now");
    assert_eq!(rotation.generation, 3);
    assert!(rotation.tables_rewritten >= 1, "{rotation:?}");
    assert_eq!(rotation.retired_generations, vec![1, 2]);
    check(&db, 1, "after rotate_key_now");
    db.close().expect("close");
    // The key file holds generation 3 alone: everything the database reads at open and
    // after is sealed with it.
    let db = open(dir.path(), &k).expect("reopen");
    assert_eq!(db.key_generation(), Some(3));
    check(&db, 1, "reopened with only the newest key");
    db.close().expect("close");
}

#[test]
fn an_iterator_reading_old_tables_defers_retiring_their_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    let k = kek(3);
    let db = open(dir.path(), &k).expect("open");
    write_round(&db, 0);
    db.flush().expect("flush");
    // A snapshot pins a sequence number, not files: it reads through whatever tables
    // hold its versions, so it does not hold the older key back.
    let snap = db.snapshot();
    let mut iter = db.iter();
    let first = iter.next().expect("first").expect("pair");
    assert_eq!(first, (key(0), value(0, 0)));
    write_round(&db, 1);
    let rotation = db.rotate_key_now().expect("rotate now");
    assert!(rotation.retired_generations.is_empty(), "{rotation:?}");
    // The iterator still reads its tables, sealed with the older key, to the end.
    let rest: Vec<_> = iter.map(|kv| kv.expect("pair")).collect();
    assert_eq!(rest.len(), N as usize - 1);
    assert!(rest
        .iter()
        .all(|(k, v)| v.ends_with(b"r0") && k.starts_with(b"rotkey")));
    let again = db.rotate_key_now().expect("rotate now again");
    assert_eq!(again.retired_generations, vec![1, 2]);
    assert_eq!(
        snap.get(&key(N - 1)).expect("snapshot get"),
        Some(value(N - 1, 0))
    );
    drop(snap);
    check(&db, 1, "after retiring");
    db.close().expect("close");
    let db = open(dir.path(), &k).expect("reopen");
    check(&db, 1, "reopened");
    db.close().expect("close");
}

#[test]
fn rewrap_key_makes_the_new_key_the_only_one_that_opens() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (old, new) = (kek(4), kek(5));
    let db = open(dir.path(), &old).expect("open");
    write_round(&db, 0);
    db.rotate_key().expect("rotate");
    db.rewrap_key(new.clone()).expect("rewrap");
    // A rotation after the re-wrap writes the key file under the new key too.
    db.rotate_key().expect("rotate after rewrap");
    db.close().expect("close");
    let err = open(dir.path(), &old).expect_err("the old key no longer opens");
    assert_eq!(err.code_name(), "WRONG_KEY", "{err:?}");
    let db = open(dir.path(), &new).expect("the new key opens");
    check(&db, 0, "after rewrap");
    db.close().expect("close");
}

#[test]
fn key_changes_on_a_plain_database_are_invalid_arguments() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Database::open(dir.path(), LightningDbConfig::default()).expect("open");
    for err in [
        db.rotate_key().map(|_| ()).expect_err("rotate"),
        db.rotate_key_now().map(|_| ()).expect_err("rotate now"),
        db.rewrap_key(kek(6)).expect_err("rewrap"),
    ] {
        assert!(
            matches!(err, DatabaseError::InvalidArgument { .. }),
            "{err:?}"
        );
    }
    db.close().expect("close");
}

#[test]
fn a_due_rotation_happens_at_open() {
    let dir = tempfile::tempdir().expect("tempdir");
    let k = kek(7);
    let db = open(dir.path(), &k).expect("open");
    write_round(&db, 0);
    db.close().expect("close");
    // A schedule of one day: the key made moments ago is not due.
    let mut c = config(&k);
    c.security.key_rotation_days = 1;
    let db = Database::open(dir.path(), c).expect("reopen");
    assert_eq!(db.key_generation(), Some(1));
    db.close().expect("close");
    // Written a day ago (the key file records when each key was made): due.
    let ring_made_a_day_ago = backdate_key_file(dir.path(), &k);
    assert!(ring_made_a_day_ago);
    let mut c = config(&k);
    c.security.key_rotation_days = 1;
    let db = Database::open(dir.path(), c).expect("reopen");
    assert_eq!(db.key_generation(), Some(2));
    check(&db, 0, "after the scheduled rotation");
    db.close().expect("close");
}

/// Re-creates the key file with its current key backdated by two days, through the
/// crate's own key-file code (`testing::backdate_key_file`).
fn backdate_key_file(dir: &Path, k: &EncryptionKey) -> bool {
    lightning_db::testing::backdate_key_file(dir, k, 2 * 86_400).expect("backdate")
}

/// A database on `sim` with round 0 written (tables and log).
fn sim_db(sim: &SimFileSystem, k: &EncryptionKey) {
    let db = Database::open_with_fs(SIM_DB, config(k), sim.handle()).expect("open");
    write_round(&db, 0);
    db.close().expect("close");
}

/// File operations `change` makes on a fresh copy of the database.
fn ops_of(k: &EncryptionKey, change: &dyn Fn(&Database)) -> u64 {
    let sim = SimFileSystem::new();
    sim_db(&sim, k);
    let db = Database::open_with_fs(SIM_DB, config(k), sim.handle()).expect("open");
    let before = sim.op_count();
    change(&db);
    let ops = sim.op_count() - before;
    db.close().expect("close");
    ops
}

#[test]
fn a_power_cut_at_every_step_of_rotate_key_now_loses_nothing() {
    let k = kek(8);
    let change = |db: &Database| {
        db.rotate_key_now().expect("rotate now");
    };
    let ops = ops_of(&k, &change);
    assert!(ops > 10, "{ops}");
    for n in 1..=ops {
        let sim = SimFileSystem::new();
        sim_db(&sim, &k);
        let db = Database::open_with_fs(SIM_DB, config(&k), sim.handle()).expect("open");
        sim.schedule_power_cut(n, n, PowerCutPolicy::default());
        let _ = db.rotate_key_now();
        drop(db);
        if sim.last_power_cut().is_none() {
            sim.power_cut(n);
        }
        let ctx = format!("power cut at op {n} of {ops}");
        let db = Database::open_with_fs(SIM_DB, config(&k), sim.handle())
            .unwrap_or_else(|e| panic!("{ctx}: open: {e}"));
        check(&db, 0, &ctx);
        db.close().expect("close");
    }
}

#[test]
fn a_power_cut_at_every_step_of_rewrap_key_leaves_one_key_that_opens() {
    let (old, new) = (kek(9), kek(10));
    let change = |db: &Database| db.rewrap_key(new.clone()).expect("rewrap");
    let ops = ops_of(&old, &change);
    assert!(ops >= 3, "{ops}");
    let (mut old_opens, mut new_opens) = (0, 0);
    for n in 1..=ops + 1 {
        let sim = SimFileSystem::new();
        sim_db(&sim, &old);
        let db = Database::open_with_fs(SIM_DB, config(&old), sim.handle()).expect("open");
        sim.schedule_power_cut(n, n, PowerCutPolicy::default());
        let _ = db.rewrap_key(new.clone());
        drop(db);
        if sim.last_power_cut().is_none() {
            sim.power_cut(n);
        }
        let ctx = format!("power cut at op {n} of {ops}");
        let db = match Database::open_with_fs(SIM_DB, config(&old), sim.handle()) {
            Ok(db) => {
                old_opens += 1;
                db
            }
            Err(e) => {
                assert_eq!(e.code_name(), "WRONG_KEY", "{ctx}: {e:?}");
                new_opens += 1;
                Database::open_with_fs(SIM_DB, config(&new), sim.handle())
                    .unwrap_or_else(|e| panic!("{ctx}: neither key opens: {e}"))
            }
        };
        check(&db, 0, &ctx);
        db.close().expect("close");
    }
    assert!(old_opens > 0 && new_opens > 0, "{old_opens} {new_opens}");
}
