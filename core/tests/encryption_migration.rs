//! Turning encryption at rest on and off as a migration step (issue 15): a plain database
//! encrypted and decrypted back holds exactly what a model says; the encrypted result's
//! files hold no plaintext key or value and open only with the key; a wrong key, an
//! encrypted database encrypted again, a plain one decrypted and a plan without its key
//! are refused with typed errors and leave every file byte-identical; a database whose
//! data is only in its log migrates too; the other steps run on an encrypted database
//! with its key and keep it encrypted; a failed step rolls back to the exact old files;
//! and a power cut at every file operation of an encrypt or a decrypt leaves a database
//! that opens either as before or as after, with all its data, its key file present
//! exactly when it is encrypted.

mod files_support;

use std::collections::BTreeMap;
use std::path::Path;

use files_support::snapshot;

use lightning_db::testing::{FaultPlan, SimFileSystem};
use lightning_db::{
    ChecksumAlgorithm, Database, DatabaseError, DatabaseVersion, EncryptionKey, LightningDbConfig,
    MigrationError, MigrationManager, MigrationStep, SecurityError,
};

const SIM_DB: &str = "/sim/db";
type Model = BTreeMap<Vec<u8>, Vec<u8>>;

fn kek(b: u8) -> EncryptionKey {
    EncryptionKey::from_bytes(&[b; 32])
}

fn config(key: Option<&EncryptionKey>) -> LightningDbConfig {
    let mut c = LightningDbConfig {
        write_buffer_size: 64 * 1024,
        block_size: 1024,
        cache_size: 64 * 1024,
        ..Default::default()
    };
    c.security.enable_encryption = key.is_some();
    c.security.encryption_key = key.cloned();
    c
}

fn key(i: u32) -> Vec<u8> {
    format!("migkey{i:06}").into_bytes()
}

fn value(i: u32, round: u32) -> Vec<u8> {
    format!("migvalue{i:06}r{round}").into_bytes()
}

/// Writes `n` keys over two rounds (the first flushed into tables and compacted, the
/// second left in the log), deletes every seventh, and returns what the database holds.
fn fill(db: &Database, n: u32, flush: bool) -> Model {
    let mut model = Model::new();
    for round in 0..2 {
        for i in 0..n {
            db.put(&key(i), &value(i, round)).expect("put");
            model.insert(key(i), value(i, round));
        }
        if round == 0 && flush {
            db.flush().expect("flush");
            db.compact().expect("compact");
        }
    }
    for i in (0..n).step_by(7) {
        db.delete(&key(i)).expect("delete");
        model.remove(&key(i));
    }
    model
}

fn contents(db: &Database) -> Model {
    db.iter()
        .map(|r| r.expect("scan"))
        .map(|(k, v)| (k.to_vec(), v.to_vec()))
        .collect()
}

/// The first file and needle of `model` found in plain text in `files`, if any (needles
/// shorter than 6 bytes, which random bytes would hold by chance, are not looked for).
fn plaintext_in(files: &BTreeMap<String, Vec<u8>>, model: &Model) -> Option<String> {
    let found = |data: &[u8], needle: &[u8]| {
        needle.len() >= 6 && data.windows(needle.len()).any(|w| w == needle)
    };
    for (name, data) in files {
        for (k, v) in model {
            if found(data, k) {
                return Some(format!("{name} holds key {}", String::from_utf8_lossy(k)));
            }
            if found(data, v) {
                return Some(format!("{name} holds value {}", String::from_utf8_lossy(v)));
            }
        }
    }
    None
}

fn is_key_needed(e: &DatabaseError) -> bool {
    matches!(e, DatabaseError::ConfigurationError { field, .. } if field == "security.encryption_key")
}

fn is_not_encrypted(e: &DatabaseError) -> bool {
    matches!(e, DatabaseError::ConfigurationError { field, .. } if field == "security.enable_encryption")
}

#[test]
fn a_plain_database_round_trips_through_encryption_with_exact_data() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("db");
    let k = kek(1);
    let mut model = {
        let db = Database::open(&path, config(None)).expect("create");
        let model = fill(&db, 400, true);
        db.close().expect("close");
        model
    };
    assert!(
        plaintext_in(&snapshot(&path), &model).is_some(),
        "the plain database holds its data in the clear"
    );

    let m = MigrationManager::new();
    let r = m.encrypt_database(&path, &k).expect("encrypt");
    assert!(!r.encrypted_before && r.encrypted_after, "{r:?}");
    assert_eq!(r.steps.len(), 1);
    assert_eq!(r.steps[0].step, MigrationStep::EnableEncryption);
    assert!(r.steps[0].tables_written > 0);
    let json: serde_json::Value = serde_json::from_str(&r.to_json()).expect("json");
    assert_eq!(json["from"], 2);
    assert_eq!(json["to"], 3);
    assert_eq!(json["encrypted_after"], true);

    // No file holds a key or value in the clear, before the first open and after it.
    let files = snapshot(&path);
    assert!(files.contains_key("KEYS"), "{:?}", files.keys());
    assert!(!files.keys().any(|n| n.ends_with(".next")));
    assert_eq!(plaintext_in(&files, &model), None);
    let info = m.inspect(&path).expect("inspect");
    assert!(info.encrypted && info.tables_hidden);
    assert_eq!(info.format_version, 3);
    let info = m.inspect_with_key(&path, &k).expect("inspect with key");
    assert!(info.levels.iter().flatten().all(|t| t.format_version == 2));

    // Without the key it does not open, and nothing changes.
    let before = snapshot(&path);
    let e = Database::open(&path, config(None)).expect_err("no key");
    assert!(is_key_needed(&e), "{e:?}");
    match Database::open(&path, config(Some(&kek(2)))) {
        Err(DatabaseError::SecurityError(SecurityError::WrongKey)) => {}
        other => panic!("expected WrongKey, got {:?}", other.map(|_| ())),
    }
    assert_eq!(snapshot(&path), before);

    {
        let db = Database::open(&path, config(Some(&k))).expect("open with the key");
        assert!(db.is_encrypted());
        assert_eq!(contents(&db), model);
        // New writes while encrypted, in a table and in the log.
        for i in 400..450 {
            db.put(&key(i), &value(i, 5)).expect("put");
            model.insert(key(i), value(i, 5));
        }
        db.flush().expect("flush");
        db.put(&key(3), b"changed while encrypted").expect("put");
        model.insert(key(3), b"changed while encrypted".to_vec());
        db.close().expect("close");
    }
    assert_eq!(plaintext_in(&snapshot(&path), &model), None);

    let r = m.decrypt_database(&path, &k).expect("decrypt");
    assert!(r.encrypted_before && !r.encrypted_after, "{r:?}");
    assert_eq!(r.to, DatabaseVersion::Latest);
    let files = snapshot(&path);
    assert!(!files.contains_key("KEYS") && !files.contains_key("KEYS.next"));
    let info = m.inspect(&path).expect("inspect");
    assert!(!info.encrypted);
    assert_eq!(info.version, Some(DatabaseVersion::Latest));
    assert_eq!(
        m.detect_version(&path).expect("plain again"),
        DatabaseVersion::V2
    );
    let e = Database::open(&path, config(Some(&k))).expect_err("a key for a plain database");
    assert!(is_not_encrypted(&e), "{e:?}");
    let db = Database::open(&path, config(None)).expect("open plain");
    assert!(!db.is_encrypted());
    assert_eq!(contents(&db), model);
    db.close().expect("close");
}

#[test]
fn data_only_in_the_log_migrates_both_ways() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("db");
    let k = kek(3);
    let model = {
        let db = Database::open(&path, config(None)).expect("create");
        let model = fill(&db, 200, false);
        db.close().expect("close");
        model
    };
    let m = MigrationManager::new();
    let info = m.inspect(&path).expect("inspect");
    assert_eq!(info.levels.iter().flatten().count(), 0, "{info:?}");
    let r = m.encrypt_database(&path, &k).expect("encrypt");
    assert_eq!(r.steps[0].tables_written, 1, "the log went into one table");
    assert_eq!(plaintext_in(&snapshot(&path), &model), None);
    {
        let db = Database::open(&path, config(Some(&k))).expect("open");
        assert_eq!(contents(&db), model);
        db.close().expect("close");
    }

    // Encrypted with its last writes in the (sealed) log only, then decrypted.
    let mut model = model;
    {
        let db = Database::open(&path, config(Some(&k))).expect("open");
        for i in 0..50 {
            db.put(&key(i), &value(i, 9)).expect("put");
            model.insert(key(i), value(i, 9));
        }
        db.close().expect("close");
    }
    m.decrypt_database(&path, &k).expect("decrypt");
    let db = Database::open(&path, config(None)).expect("open plain");
    assert_eq!(contents(&db), model);
    db.close().expect("close");
}

#[test]
fn refusals_are_typed_and_change_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let plain = dir.path().join("plain");
    let enc = dir.path().join("enc");
    for (path, key) in [(&plain, None), (&enc, Some(kek(4)))] {
        let db = Database::open(path, config(key.as_ref())).expect("create");
        fill(&db, 100, true);
        db.close().expect("close");
    }
    let m = MigrationManager::new();
    let (plain_before, enc_before) = (snapshot(&plain), snapshot(&enc));

    match m.decrypt_database(&enc, &kek(5)) {
        Err(MigrationError::Database(DatabaseError::SecurityError(SecurityError::WrongKey))) => {}
        other => panic!("expected WrongKey, got {other:?}"),
    }
    match m.encrypt_database(&enc, &kek(4)) {
        Err(MigrationError::AlreadyEncrypted { .. }) => {}
        other => panic!("expected AlreadyEncrypted, got {other:?}"),
    }
    match m.decrypt_database(&plain, &kek(4)) {
        Err(e @ MigrationError::NotEncrypted { .. }) => {
            assert_eq!(DatabaseError::from(e).code_name(), "INVALID_ARGUMENT");
        }
        other => panic!("expected NotEncrypted, got {other:?}"),
    }
    // A plan turning encryption on without a key, and one on an encrypted database
    // without its key (a checksum step), are refused before anything is read.
    let plan = m
        .create_migration_plan_for(&plain, DatabaseVersion::Latest)
        .expect("plan")
        .with_encryption(true);
    match m.execute_migration_blocking(plan) {
        Err(MigrationError::EncryptionKeyRequired { .. }) => {}
        other => panic!("expected EncryptionKeyRequired, got {other:?}"),
    }
    let plan = m
        .create_migration_plan(DatabaseVersion::V2, DatabaseVersion::V2)
        .expect("plan")
        .with_path(&enc)
        .with_checksum(ChecksumAlgorithm::Crc32);
    match m.execute_migration_blocking(plan.clone()) {
        Err(e @ MigrationError::EncryptionKeyRequired { .. }) => {
            assert!(e.to_string().contains("encrypted database"), "{e}");
        }
        other => panic!("expected EncryptionKeyRequired, got {other:?}"),
    }
    // A format change of an encrypted database, and decrypting twice in one plan.
    let to_v1 = m
        .create_migration_plan(DatabaseVersion::V2, DatabaseVersion::V1)
        .expect("plan")
        .with_path(&enc)
        .with_encryption_key(kek(4));
    assert!(matches!(
        m.execute_migration_blocking(to_v1),
        Err(MigrationError::Database(
            DatabaseError::InvalidArgument { .. }
        ))
    ));
    let twice = plan
        .clone()
        .with_encryption_key(kek(4))
        .with_encryption(false)
        .with_encryption(false);
    assert!(matches!(
        m.execute_migration_blocking(twice),
        Err(MigrationError::NotEncrypted { .. })
    ));
    assert_eq!(snapshot(&plain), plain_before);
    assert_eq!(snapshot(&enc), enc_before);
    assert!(!m.needs_migration(&enc).expect("needs_migration"));
}

#[test]
fn other_steps_run_on_an_encrypted_database_with_its_key_and_keep_it_encrypted() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("db");
    let k = kek(6);
    let model = {
        let db = Database::open(&path, config(Some(&k))).expect("create");
        let model = fill(&db, 300, true);
        db.close().expect("close");
        model
    };
    let m = MigrationManager::new();
    assert!(matches!(
        m.create_migration_plan_with_key(&path, DatabaseVersion::V1, k.clone()),
        Err(MigrationError::Database(
            DatabaseError::InvalidArgument { .. }
        ))
    ));
    let plan = m
        .create_migration_plan_with_key(&path, DatabaseVersion::Latest, k.clone())
        .expect("plan")
        .with_checksum(ChecksumAlgorithm::Crc32)
        .with_compression(false);
    assert!(plan.has_encryption_key());
    assert_eq!(plan.from_version(), DatabaseVersion::V2);
    assert!(m.estimate_migration_bytes(&plan) > 0);
    let r = m.execute_migration_blocking(plan).expect("migrate");
    assert!(r.encrypted_before && r.encrypted_after);
    assert_eq!(plaintext_in(&snapshot(&path), &model), None);
    let info = m.inspect_with_key(&path, &k).expect("inspect");
    assert!(info.encrypted && info.format_version == 3);
    assert!(info
        .levels
        .iter()
        .flatten()
        .all(|t| t.checksum == ChecksumAlgorithm::Crc32 && t.format_version == 2));
    let db = Database::open(&path, config(Some(&k))).expect("open");
    assert_eq!(contents(&db), model);
    db.close().expect("close");

    // Encrypt and decrypt in one plan of a plain database, with a checksum step between.
    let plain = dir.path().join("plain");
    let model = {
        let db = Database::open(&plain, config(None)).expect("create");
        let model = fill(&db, 100, true);
        db.close().expect("close");
        model
    };
    let plan = m
        .create_migration_plan_for(&plain, DatabaseVersion::Latest)
        .expect("plan")
        .with_encryption_key(k.clone())
        .with_encryption(true)
        .with_checksum(ChecksumAlgorithm::Blake3)
        .with_encryption(false);
    let r = m.execute_migration_blocking(plan).expect("migrate");
    assert_eq!(r.steps.len(), 3);
    assert!(!r.encrypted_before && !r.encrypted_after);
    let db = Database::open(&plain, config(None)).expect("open");
    assert_eq!(contents(&db), model);
    db.close().expect("close");
}

/// A simulated disk holding a database of `encrypted_with`'s encryption at [`SIM_DB`]:
/// tables and a log, all durable; returns its model.
fn sim_db(sim: &SimFileSystem, encrypted_with: Option<&EncryptionKey>) -> Model {
    let db = Database::open_with_fs(SIM_DB, config(encrypted_with), sim.handle()).expect("open");
    let model = fill(&db, 120, true);
    db.close().expect("close");
    model
}

fn sim_files(sim: &SimFileSystem) -> Vec<(String, Vec<u8>)> {
    let mut v: Vec<(String, Vec<u8>)> = sim
        .list(SIM_DB)
        .into_iter()
        .filter(|n| n != "LOCK")
        .map(|n| {
            let data = sim
                .read_file(Path::new(SIM_DB).join(&n))
                .unwrap_or_default();
            (n, data)
        })
        .collect();
    v.sort();
    v
}

/// Encrypts (`encrypt`) or decrypts the database on `sim` with `k`.
fn switch(sim: &SimFileSystem, encrypt: bool, k: &EncryptionKey) -> Result<(), MigrationError> {
    let m = MigrationManager::with_fs(sim.handle());
    if encrypt {
        m.encrypt_database(SIM_DB, k).map(drop)
    } else {
        m.decrypt_database(SIM_DB, k).map(drop)
    }
}

/// Opens the database on `sim` as whatever it is: plain without a key, else encrypted
/// with `k` (a plain database refuses the key, an encrypted one its absence). Checks
/// the key file is there exactly when it is encrypted; returns whether it is.
fn open_either(sim: &SimFileSystem, k: &EncryptionKey, model: &Model, ctx: &str) -> bool {
    let db = match Database::open_with_fs(SIM_DB, config(None), sim.handle()) {
        Ok(db) => db,
        Err(e) if is_key_needed(&e) => {
            Database::open_with_fs(SIM_DB, config(Some(k)), sim.handle())
                .unwrap_or_else(|e| panic!("{ctx}: open with the key: {e}"))
        }
        Err(e) => panic!("{ctx}: open: {e}"),
    };
    assert_eq!(&contents(&db), model, "{ctx}: contents");
    let encrypted = db.is_encrypted();
    db.close().expect("close");
    let names = sim.list(SIM_DB);
    assert_eq!(
        names.iter().any(|n| n == "KEYS"),
        encrypted,
        "{ctx}: key file against encryption {encrypted}: {names:?}"
    );
    assert!(
        !names.iter().any(|n| n.ends_with(".next")),
        "{ctx}: a switch left half done: {names:?}"
    );
    let info = MigrationManager::with_fs(sim.handle())
        .inspect_with_key(SIM_DB, k)
        .unwrap_or_else(|e| panic!("{ctx}: inspect: {e}"));
    assert_eq!(info.format_version == 3, encrypted, "{ctx}: {info:?}");
    assert!(
        info.levels
            .iter()
            .flatten()
            .all(|t| (t.format_version == 2) == encrypted),
        "{ctx}: tables of both kinds: {:?}",
        info.levels
    );
    encrypted
}

#[test]
fn a_power_cut_at_every_operation_of_encrypt_and_decrypt_leaves_before_or_after() {
    let k = kek(7);
    for encrypt in [true, false] {
        let start = |sim: &SimFileSystem| sim_db(sim, (!encrypt).then_some(&k));
        let ops = {
            let sim = SimFileSystem::new();
            start(&sim);
            let before = sim.op_count();
            switch(&sim, encrypt, &k).expect("switch");
            sim.op_count() - before
        };
        assert!(ops > 20, "{ops}");
        let (mut before, mut after, mut pending) = (0, 0, 0);
        // Every operation, each with three cuts that keep different parts of what was
        // not synced (the seed picks per file: all, none, a prefix, a torn subset).
        for (n, seed) in (1..=ops + 1).flat_map(|n| (0..3).map(move |s| (n, n + s * 7919))) {
            let sim = SimFileSystem::new();
            let model = start(&sim);
            sim.schedule_power_cut(n, seed, Default::default());
            let _ = switch(&sim, encrypt, &k);
            if sim.last_power_cut().is_none() {
                sim.power_cut(seed);
            }
            let ctx = format!("encrypt {encrypt}: power cut at op {n} of {ops} (seed {seed})");
            // Read only, before the open settles anything: it tells which way it went.
            let m = MigrationManager::with_fs(sim.handle());
            let seen = m
                .inspect(SIM_DB)
                .unwrap_or_else(|e| panic!("{ctx}: inspect before the open: {e}"));
            let keyed = m
                .inspect_with_key(SIM_DB, &k)
                .unwrap_or_else(|e| panic!("{ctx}: inspect with the key before the open: {e}"));
            assert_eq!(seen.tables_hidden, seen.encrypted, "{ctx}");
            assert!(!keyed.tables_hidden, "{ctx}");
            if seen.pending_switch {
                // Another migration waits for the open to settle the switch.
                pending += 1;
                let files = sim_files(&sim);
                for r in [
                    m.encrypt_database(SIM_DB, &k),
                    m.decrypt_database(SIM_DB, &k),
                ] {
                    assert!(
                        matches!(
                            r,
                            Err(MigrationError::Database(
                                DatabaseError::InconsistentState { .. }
                            ))
                        ),
                        "{ctx}: {r:?}"
                    );
                }
                assert!(sim_files(&sim) == files, "{ctx}: a refusal changed files");
            }
            let encrypted = open_either(&sim, &k, &model, &ctx);
            assert_eq!(seen.encrypted, encrypted, "{ctx}: inspect saw {seen:?}");
            if encrypted == encrypt {
                after += 1;
            } else {
                before += 1;
            }
        }
        assert!(
            before > 0 && after > 0 && pending > 0,
            "encrypt {encrypt}: both outcomes seen ({before} before, {after} after, \
             {pending} with the switch pending)"
        );
    }
}

#[test]
fn a_failed_encrypt_or_decrypt_rolls_back_to_the_exact_old_files() {
    let k = kek(8);
    for encrypt in [true, false] {
        let start = |sim: &SimFileSystem| sim_db(sim, (!encrypt).then_some(&k));
        let ops = {
            let sim = SimFileSystem::new();
            start(&sim);
            let before = sim.op_count();
            switch(&sim, encrypt, &k).expect("switch");
            sim.op_count() - before
        };
        let mut rolled_back = 0;
        for n in 1..=ops {
            let sim = SimFileSystem::new();
            let model = start(&sim);
            let original = sim_files(&sim);
            sim.set_fault(Some(FaultPlan::once(n)));
            let ctx = format!("encrypt {encrypt}: fault at op {n} of {ops}");
            match switch(&sim, encrypt, &k) {
                Ok(()) => {}
                Err(MigrationError::RollbackFailed { .. }) => {
                    panic!("{ctx}: one fault cannot fail both the step and its rollback")
                }
                Err(e) => {
                    assert!(e.database_unchanged(), "{ctx}: {e}");
                    assert!(
                        sim_files(&sim) == original,
                        "{ctx}: {e}: files differ after the rollback: {:?}",
                        sim.list(SIM_DB)
                    );
                    rolled_back += usize::from(matches!(e, MigrationError::StepFailed { .. }));
                }
            }
            sim.set_fault(None);
            open_either(&sim, &k, &model, &ctx);
        }
        assert!(
            rolled_back > 5,
            "encrypt {encrypt}: {rolled_back} rollbacks"
        );
    }
}

#[test]
fn a_format_1_database_is_encrypted_in_one_step_and_decrypts_to_the_newest_format() {
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/formats/v1");
    let dir = tempfile::tempdir().expect("tempdir");
    for e in std::fs::read_dir(fixture.join("db")).expect("fixture") {
        let e = e.expect("entry");
        std::fs::copy(e.path(), dir.path().join(e.file_name())).expect("copy");
    }
    let unhex = |s: &str| -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
            .collect()
    };
    let model: Model = std::fs::read_to_string(fixture.join("contents.txt"))
        .expect("contents")
        .lines()
        .map(|l| {
            let (k, v) = l.split_once(' ').expect("two fields");
            (unhex(k), unhex(v))
        })
        .collect();
    let k = kek(9);
    let m = MigrationManager::new();
    assert_eq!(
        m.detect_version(dir.path()).expect("v1"),
        DatabaseVersion::V1
    );
    let r = m.encrypt_database(dir.path(), &k).expect("encrypt");
    assert_eq!(r.steps.len(), 1, "{r:?}");
    assert_eq!((r.from, r.to), (DatabaseVersion::V1, DatabaseVersion::V2));
    assert_eq!(plaintext_in(&snapshot(dir.path()), &model), None);
    let db = Database::open(dir.path(), config(Some(&k))).expect("open");
    assert_eq!(contents(&db), model);
    db.close().expect("close");
    m.decrypt_database(dir.path(), &k).expect("decrypt");
    assert_eq!(
        m.detect_version(dir.path()).expect("plain"),
        DatabaseVersion::V2
    );
    let db = Database::open(dir.path(), config(None)).expect("open");
    assert_eq!(contents(&db), model);
    db.close().expect("close");
}

/// Copies the database on `sim` into a real directory `dir`.
fn copy_out(sim: &SimFileSystem, dir: &Path) {
    std::fs::create_dir_all(dir).expect("mkdir");
    for (name, data) in sim_files(sim) {
        std::fs::write(dir.join(name), data).expect("write");
    }
}

/// An offline check or repair run on a database whose encryption switch a crash
/// interrupted (before any open settled it) is refused with nothing touched (it would take
/// the other side's files for damage), and the database then opens with all its data.
#[test]
fn offline_repair_of_an_interrupted_encryption_switch_loses_nothing() {
    let k = kek(10);
    for encrypt in [true, false] {
        let ops = {
            let sim = SimFileSystem::new();
            sim_db(&sim, (!encrypt).then_some(&k));
            let before = sim.op_count();
            switch(&sim, encrypt, &k).expect("switch");
            sim.op_count() - before
        };
        let mut pending = 0;
        for n in 1..=ops {
            let sim = SimFileSystem::new();
            let model = sim_db(&sim, (!encrypt).then_some(&k));
            sim.schedule_power_cut(n, n, Default::default());
            let _ = switch(&sim, encrypt, &k);
            if sim.last_power_cut().is_none() {
                sim.power_cut(n);
            }
            let names = sim.list(SIM_DB);
            if !names.iter().any(|n| n == "FORMAT.next") {
                continue;
            }
            pending += 1;
            let ctx = format!("encrypt {encrypt}: cut at op {n} of {ops}");
            for with_key in [false, true] {
                let tmp = tempfile::tempdir().expect("tempdir");
                let dir = tmp.path().join("db");
                copy_out(&sim, &dir);
                let key = with_key.then_some(&k);
                let repaired = lightning_db::repair_database(&dir, &config(key));
                // Refused before anything is touched: the next open settles the switch.
                assert!(
                    matches!(repaired, Err(DatabaseError::InconsistentState { .. })),
                    "{ctx}: repair {repaired:?}"
                );
                let checked =
                    lightning_db::verify_database(&dir, lightning_db::ValidationLevel::Basic);
                assert!(
                    matches!(checked, Err(DatabaseError::InconsistentState { .. })),
                    "{ctx}: check {checked:?}"
                );
                let db = match Database::open(&dir, config(None)) {
                    Ok(db) => db,
                    Err(e) if is_key_needed(&e) => Database::open(&dir, config(Some(&k)))
                        .unwrap_or_else(|e| panic!("{ctx}: open with the key: {e}")),
                    Err(e) => panic!("{ctx}: repair {repaired:?}, then open: {e}"),
                };
                assert_eq!(
                    contents(&db),
                    model,
                    "{ctx}, key {with_key}: repair said {repaired:?}"
                );
                db.close().expect("close");
            }
        }
        assert!(
            pending > 0,
            "encrypt {encrypt}: no cut left a pending switch"
        );
    }
}
