//! Self-healing (`enable_self_healing`) under real induced conditions on a simulated disk:
//! each action is observed to happen (the data, the files, the refused and accepted
//! writes) and to be recorded (statistics, Prometheus text, the health report). Health
//! monitoring is off, so each `db.health()` call runs one round of checks and then the
//! self-healing on the calling thread: nothing depends on timing.

use std::sync::Arc;

use lightning_db::testing::{FaultError, FaultPlan, OpKind, SimFileSystem};
use lightning_db::{
    CorruptionAction, Database, DatabaseError, HealingKind, LightningDbConfig, ManualClock,
    DAMAGED_TABLES_FILE, QUARANTINE_DIR,
};

const DB: &str = "/sim/db";

fn config() -> LightningDbConfig {
    LightningDbConfig {
        cache_size: lightning_db::MIN_CACHE_SIZE,
        block_size: 1024,
        enable_self_healing: true,
        ..Default::default()
    }
}

fn open(sim: &SimFileSystem, config: LightningDbConfig) -> Database {
    Database::open_with_fs_and_clock(DB, config, sim.handle(), Arc::new(ManualClock::new()))
        .expect("open")
}

fn key(i: u32) -> Vec<u8> {
    format!("key{i:05}").into_bytes()
}

/// 100 bytes that do not compress (so the tables hold what was written).
fn value(i: u32) -> Vec<u8> {
    let mut x = u64::from(i).wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..100)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

fn fill(db: &Database, n: u32) {
    for i in 0..n {
        db.put(&key(i), &value(i)).unwrap();
    }
    db.flush().unwrap();
}

fn table_files(sim: &SimFileSystem) -> Vec<String> {
    sim.list(DB)
        .into_iter()
        .filter(|n| n.ends_with(".sst"))
        .collect()
}

/// Damages the first data block of the database's only table, in place, while it is open.
fn damage_first_block(sim: &SimFileSystem) -> String {
    let tables = table_files(sim);
    assert_eq!(tables.len(), 1, "{tables:?}");
    let path = format!("{DB}/{}", tables[0]);
    let mut bytes = sim.read_file(&path).expect("table");
    bytes[40] ^= 0xff;
    sim.write_file(&path, &bytes).expect("write");
    tables[0].clone()
}

fn damaged_table_is_healed_online(action: CorruptionAction) -> (Database, SimFileSystem) {
    damaged_table_is_healed_online_with(action, config())
}

fn damaged_table_is_healed_online_with(
    action: CorruptionAction,
    mut c: LightningDbConfig,
) -> (Database, SimFileSystem) {
    let sim = SimFileSystem::new();
    c.security.corruption_action = action;
    let db = open(&sim, c);
    fill(&db, 300);
    let table = damage_first_block(&sim);
    let err = db.get(&key(0)).expect_err("the damaged block is met");
    // A damaged data block's entries cannot all be restored: the error says so.
    assert!(
        matches!(
            err,
            DatabaseError::DataCorruption {
                recovery_possible: false,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(sim.list(DB).contains(&DAMAGED_TABLES_FILE.to_string()));

    let report = db.health();
    assert_eq!(
        report.check("integrity").unwrap().status.name(),
        "critical",
        "{report:?}"
    );
    // Healed online: the damaged file is in quarantine/, no longer live, and the next
    // open has nothing left to do for it.
    assert!(!table_files(&sim).contains(&table));
    assert!(sim.list(format!("{DB}/{QUARANTINE_DIR}")).contains(&table));
    assert!(!sim.list(DB).contains(&DAMAGED_TABLES_FILE.to_string()));
    let recorded = db.health().self_healing;
    assert_eq!(recorded.len(), 1, "{recorded:?}");
    assert_eq!(recorded[0].check, "integrity");
    assert!(
        recorded[0].detail.contains("table"),
        "{}",
        recorded[0].detail
    );
    (db, sim)
}

#[test]
fn a_damaged_table_is_quarantined_online() {
    let (db, sim) = damaged_table_is_healed_online(CorruptionAction::Quarantine);
    let stats = db.stats();
    assert_eq!(stats.self_healing.tables_quarantined, 1);
    assert_eq!(stats.self_healing.actions, 1);
    assert_eq!(
        db.health().self_healing[0].kind,
        HealingKind::TableQuarantined
    );
    assert!(stats
        .to_prometheus()
        .contains("lightning_self_healing_actions_total 1"));
    // The whole table is out: its keys read as absent, without an error.
    assert_eq!(db.get(&key(0)).unwrap(), None);
    assert_eq!(db.get(&key(299)).unwrap(), None);
    db.put(b"after", b"v").unwrap();
    db.close().unwrap();
    let db = open(&sim, config());
    assert_eq!(db.get(&key(0)).unwrap(), None);
    assert_eq!(db.get(b"after").unwrap(), Some(b"v".to_vec()));
}

#[test]
fn a_damaged_table_is_repaired_online_from_its_readable_blocks() {
    let (db, sim) = damaged_table_is_healed_online(CorruptionAction::Repair);
    let stats = db.stats();
    assert_eq!(stats.self_healing.tables_repaired, 1);
    assert_eq!(db.health().self_healing[0].kind, HealingKind::TableRepaired);
    assert_eq!(table_files(&sim).len(), 1, "the rebuilt table is live");
    // The damaged block's keys are lost; every other key is served.
    assert_eq!(db.get(&key(0)).unwrap(), None);
    for i in 100..300 {
        assert_eq!(db.get(&key(i)).unwrap(), Some(value(i)), "key {i}");
    }
    db.close().unwrap();
    let db = open(&sim, config());
    assert_eq!(db.get(&key(299)).unwrap(), Some(value(299)));
}

fn encrypted_config() -> LightningDbConfig {
    let mut c = config();
    c.security.enable_encryption = true;
    c.security.encryption_key = Some(lightning_db::EncryptionKey::from_bytes(&[7; 32]));
    c
}

/// No file under the database (quarantine and its reports included) holds a key in the
/// clear.
fn assert_no_plaintext_keys(sim: &SimFileSystem) {
    let mut dirs = vec![DB.to_string()];
    while let Some(d) = dirs.pop() {
        for name in sim.list(&d) {
            let path = format!("{d}/{name}");
            match sim.read_file(&path) {
                Some(bytes) => assert!(
                    !bytes.windows(5).any(|w| w == b"key00"),
                    "{path} holds a plaintext key"
                ),
                None => dirs.push(path),
            }
        }
    }
}

#[test]
fn an_encrypted_damaged_table_is_repaired_online_and_stays_sealed() {
    let (db, sim) =
        damaged_table_is_healed_online_with(CorruptionAction::Repair, encrypted_config());
    assert_eq!(db.stats().self_healing.tables_repaired, 1);
    assert_eq!(db.get(&key(0)).unwrap(), None);
    for i in 100..300 {
        assert_eq!(db.get(&key(i)).unwrap(), Some(value(i)), "key {i}");
    }
    assert_no_plaintext_keys(&sim);
    db.close().unwrap();
    let db = open(&sim, encrypted_config());
    assert_eq!(db.get(&key(299)).unwrap(), Some(value(299)));
    let report = db
        .verify_integrity(lightning_db::ValidationLevel::Paranoid)
        .unwrap();
    assert!(report.is_clean(), "{report:?}");
}

#[test]
fn an_encrypted_damaged_table_is_quarantined_online() {
    let (db, sim) =
        damaged_table_is_healed_online_with(CorruptionAction::Quarantine, encrypted_config());
    assert_eq!(db.stats().self_healing.tables_quarantined, 1);
    assert_eq!(db.get(&key(0)).unwrap(), None);
    assert_no_plaintext_keys(&sim);
}

#[test]
fn a_nearly_full_disk_is_compacted_to_reclaim_space() {
    let sim = SimFileSystem::new();
    let db = open(&sim, config());
    fill(&db, 300);
    for i in 0..300 {
        db.delete(&key(i)).unwrap();
    }
    db.flush().unwrap();
    let tables_before = db.stats().table_bytes;
    assert!(tables_before > 30_000);
    // 5% of the disk free: the resource check is critical.
    sim.set_space_limit(Some(sim.used_bytes() * 100 / 95));
    let report = db.health();
    assert_eq!(report.check("resources").unwrap().status.name(), "critical");
    let stats = db.stats();
    assert_eq!(
        stats.self_healing.space_reclaims, 1,
        "{:?}",
        stats.self_healing
    );
    assert!(stats.table_bytes < tables_before / 10);
    // Enough was reclaimed: writes stay accepted.
    assert!(!stats.self_healing.refusing_writes);
    db.put(b"k", b"v").unwrap();
    let recorded = db.health().self_healing;
    assert_eq!(recorded[0].kind, HealingKind::SpaceReclaimed);
    assert_eq!(recorded[0].check, "resources");
}

#[test]
fn writes_are_refused_before_the_disk_is_full_and_accepted_when_space_returns() {
    let sim = SimFileSystem::new();
    let db = open(&sim, config());
    fill(&db, 300);
    // Nothing to reclaim (every key is live), and 5% of the disk free.
    sim.set_space_limit(Some(sim.used_bytes() * 100 / 95));
    let report = db.health();
    assert_eq!(report.check("resources").unwrap().status.name(), "critical");
    assert!(db.stats().self_healing.refusing_writes);

    // Refused before anything is written: no file grows, no byte is used.
    let used = sim.used_bytes();
    let files = sim.list(DB);
    for attempt in 0..3 {
        match db.put(format!("new{attempt}").as_bytes(), &[b'x'; 100]) {
            Err(DatabaseError::InsufficientResources {
                resource,
                required,
                available,
            }) => {
                assert_eq!(resource, "disk");
                assert!(available < required);
            }
            other => panic!("expected InsufficientResources, got {other:?}"),
        }
    }
    // Bulk loads (and batches large enough to be written as tables) too.
    assert!(matches!(
        db.bulk_load(),
        Err(DatabaseError::InsufficientResources { .. })
    ));
    assert_eq!(sim.used_bytes(), used);
    assert_eq!(sim.list(DB), files);
    assert_eq!(db.stats().poisoned, None);
    // Reads go on.
    assert_eq!(db.get(&key(7)).unwrap(), Some(value(7)));
    let stats = db.stats();
    assert_eq!(stats.self_healing.writes_refused, 4);
    assert!(stats
        .to_prometheus()
        .contains("lightning_writes_refused_for_space_total 4"));

    // Space returns: the next write is accepted, and that is recorded too.
    sim.set_space_limit(Some(used * 10));
    db.put(b"new", b"v").unwrap();
    assert_eq!(db.get(b"new").unwrap(), Some(b"v".to_vec()));
    let stats = db.stats();
    assert!(!stats.self_healing.refusing_writes);
    let kinds: Vec<HealingKind> = stats.self_healing.recent.iter().map(|a| a.kind).collect();
    assert!(kinds.contains(&HealingKind::WritesRefused), "{kinds:?}");
    assert_eq!(kinds.last(), Some(&HealingKind::WritesResumed), "{kinds:?}");
}

#[test]
fn a_background_thread_that_died_is_restarted() {
    let sim = SimFileSystem::new();
    let db = Arc::new(open(&sim, config()));
    db.put(b"k", b"v").unwrap();
    // The flush thread's table creation panics (a crashing driver): the thread dies.
    sim.set_fault(Some(
        FaultPlan::once(1)
            .only(&[OpKind::Create])
            .on_paths(".sst")
            .with_error(FaultError::Panic),
    ));
    let flusher = {
        let db = Arc::clone(&db);
        std::thread::spawn(move || db.flush())
    };
    while db.stats().dead_background_threads.is_empty() {
        std::thread::yield_now();
    }
    assert_eq!(
        db.stats().dead_background_threads,
        vec!["lightning-flush".to_string()]
    );
    let engine = db.stats().health();
    let threads = engine
        .checks
        .iter()
        .find(|c| c.name == "background_threads")
        .unwrap();
    assert_eq!(threads.state, lightning_db::CheckState::Critical);

    // A health round restarts it; the waiting flush then completes.
    db.health();
    flusher.join().unwrap().expect("the flush completes");
    let stats = db.stats();
    assert!(stats.dead_background_threads.is_empty());
    assert_eq!(stats.self_healing.threads_restarted, 1);
    assert_eq!(stats.flushes, 1);
    assert_eq!(
        stats.self_healing.recent.last().unwrap().kind,
        HealingKind::ThreadRestarted
    );
    assert_eq!(db.get(b"k").unwrap(), Some(b"v".to_vec()));
}

#[test]
fn without_self_healing_nothing_is_done() {
    let sim = SimFileSystem::new();
    let mut c = config();
    c.enable_self_healing = false;
    let db = open(&sim, c);
    fill(&db, 300);
    sim.set_space_limit(Some(sim.used_bytes() * 100 / 95));
    assert_eq!(
        db.health().check("resources").unwrap().status.name(),
        "critical"
    );
    let stats = db.stats();
    assert_eq!(stats.self_healing.actions, 0);
    assert!(!stats.self_healing.refusing_writes);
}

#[test]
fn with_audit_logging_each_action_is_in_the_audit_log() {
    let sim = SimFileSystem::new();
    let mut c = config();
    c.enable_audit_logging = true;
    let db = Arc::new(open(&sim, c));
    db.put(b"k", b"v").unwrap();
    sim.set_fault(Some(
        FaultPlan::once(1)
            .only(&[OpKind::Create])
            .on_paths(".sst")
            .with_error(FaultError::Panic),
    ));
    let flusher = {
        let db = Arc::clone(&db);
        std::thread::spawn(move || db.flush())
    };
    while db.stats().dead_background_threads.is_empty() {
        std::thread::yield_now();
    }
    db.health();
    flusher.join().unwrap().expect("the flush completes");
    assert_eq!(db.stats().self_healing.threads_restarted, 1);
    let audit_dir = format!("{DB}/audit");
    let log: String = sim
        .list(&audit_dir)
        .into_iter()
        .filter(|n| n.ends_with(".log"))
        .map(|n| {
            let bytes = sim.read_file(format!("{audit_dir}/{n}")).expect("log");
            String::from_utf8(bytes).expect("JSON lines")
        })
        .collect();
    let line = log
        .lines()
        .find(|l| l.contains("ThreadRestarted"))
        .unwrap_or_else(|| panic!("no self-healing entry in the audit log:\n{log}"));
    assert!(
        line.contains("lightning-flush") || line.contains("background"),
        "{line}"
    );
}
