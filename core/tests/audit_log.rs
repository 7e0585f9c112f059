//! The tamper-evident audit log (`AuditLogger`): every kind of tampering is found and named,
//! retention keeps the chain verifiable, alerts reach subscribers at or above their level,
//! sealed logs hide their content, a power cut during an append leaves a log that verifies
//! (reporting the interruption), and a database with `enable_audit_logging` records its
//! security events.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use lightning_db::testing::{PowerCutPolicy, SimFileSystem};
use lightning_db::{
    read_audit_tail, verify_audit_log, AuditConfig, AuditEvent, AuditKey, AuditLevel, AuditLogger,
    AuditOptions, AuditReport, Database, DatabaseError, LightningDbConfig, OperationResult,
    RiskLevel, SecurityConfig, SecurityError, SecurityEventType, TamperKind,
};

fn config() -> AuditConfig {
    AuditConfig {
        log_level: AuditLevel::Comprehensive,
        encrypt_logs: false,
        retention_days: 0,
        enable_real_time_alerts: true,
    }
}

fn event(i: u32, risk: RiskLevel) -> AuditEvent {
    AuditEvent {
        event_type: SecurityEventType::DataAccess,
        resource: format!("user_data/{i}"),
        operation: "read".to_string(),
        result: OperationResult::Success,
        risk_level: risk,
        timestamp: SystemTime::now(),
        metadata: HashMap::from([("i".to_string(), i.to_string())]),
    }
}

/// A log of `n` entries in one file.
fn log_of(n: u32) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("audit");
    let log = AuditLogger::open(&path, config()).expect("open");
    for i in 1..=n {
        log.log_event(event(i, RiskLevel::Low)).expect("log");
    }
    assert_eq!(log.verify().expect("intact").entries, u64::from(n));
    (dir, path)
}

fn lines(path: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(path.join("audit-000001.log")).expect("read");
    text.lines().map(str::to_string).collect()
}

fn write_lines(path: &Path, lines: &[String]) {
    let mut text = lines.join("\n");
    text.push('\n');
    std::fs::write(path.join("audit-000001.log"), text).expect("write");
}

/// The tampering the verifier finds, after checking that `AuditLogger::open` refuses the log
/// with `AuditLogTampered`.
fn tampering(path: &Path) -> lightning_db::Tampering {
    let report = verify_audit_log(path, None).expect("readable");
    let t = report.tampering.clone().expect("tampering found");
    match AuditLogger::open(path, config()) {
        Err(DatabaseError::SecurityError(SecurityError::AuditLogTampered { details })) => {
            assert!(details.contains(t.kind.name()), "{details}");
        }
        other => panic!("open accepted a tampered log: {other:?}"),
    }
    t
}

/// Recomputes the hash of a plain line whose body was changed (what a careful forger does).
fn rehash(line: &str) -> String {
    let cut = line.rfind(",\"hash\":\"").expect("hash field");
    let body = format!("{}}}", &line[..cut]);
    let v: serde_json::Value = serde_json::from_str(&body).expect("json");
    let prev = v["prev"].as_str().expect("prev");
    let prev: Vec<u8> = (0..prev.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&prev[i..i + 2], 16).expect("hex"))
        .collect();
    let mut h = blake3::Hasher::new();
    h.update(&prev);
    h.update(body.as_bytes());
    format!("{},\"hash\":\"{}\"}}", &line[..cut], h.finalize().to_hex())
}

#[test]
fn an_intact_log_verifies_and_reopening_continues_its_chain() {
    let (_d, path) = log_of(5);
    let log = AuditLogger::open(&path, config()).expect("reopen");
    log.log_event(event(6, RiskLevel::Low)).expect("log");
    let report = log.verify().expect("intact");
    assert_eq!(
        (report.entries, report.first_seq, report.last_seq),
        (6, 1, 6)
    );
    assert!(report.interrupted.is_none());
    let tail = read_audit_tail(&path, 2, None).expect("tail");
    assert_eq!(tail.iter().map(|(s, _)| *s).collect::<Vec<_>>(), vec![5, 6]);
    assert_eq!(tail[1].1.resource, "user_data/6");
    assert_eq!(tail[1].1.metadata["i"], "6");
    let json = report.to_json();
    assert!(json.contains("\"intact\":true"), "{json}");
}

#[test]
fn an_edited_entry_is_named() {
    let (_d, path) = log_of(8);
    let mut l = lines(&path);
    l[4] = l[4].replace("user_data/5", "user_data/X");
    write_lines(&path, &l);
    let t = tampering(&path);
    assert_eq!(
        (t.kind, t.seq, t.line),
        (TamperKind::Edited, Some(5), Some(5))
    );
}

#[test]
fn an_edited_entry_with_a_recomputed_hash_is_named() {
    let (_d, path) = log_of(8);
    let mut l = lines(&path);
    l[4] = rehash(&l[4].replace("user_data/5", "user_data/X"));
    write_lines(&path, &l);
    let t = tampering(&path);
    assert_eq!((t.kind, t.seq), (TamperKind::Edited, Some(5)));
    // The last entry, rehashed: only the state file knows.
    let (_d, path) = log_of(8);
    let mut l = lines(&path);
    l[7] = rehash(&l[7].replace("user_data/8", "user_data/X"));
    write_lines(&path, &l);
    let t = tampering(&path);
    assert_eq!((t.kind, t.seq), (TamperKind::Edited, Some(8)));
}

#[test]
fn a_removed_entry_is_named() {
    let (_d, path) = log_of(8);
    let mut l = lines(&path);
    l.remove(3);
    write_lines(&path, &l);
    let t = tampering(&path);
    assert_eq!((t.kind, t.seq), (TamperKind::Removed, Some(4)));
}

#[test]
fn an_inserted_entry_is_named() {
    let (_d, path) = log_of(8);
    let mut l = lines(&path);
    let copy = l[2].clone();
    l.insert(5, copy);
    write_lines(&path, &l);
    let t = tampering(&path);
    assert_eq!(
        (t.kind, t.seq, t.line),
        (TamperKind::Inserted, Some(6), Some(6))
    );
    // A forged entry that chains properly, appended at the end.
    let (_d, path) = log_of(4);
    let mut l = lines(&path);
    let last = l[3].clone();
    let v: serde_json::Value = serde_json::from_str(&last).expect("json");
    let forged = last.replacen("\"seq\":4", "\"seq\":5", 1).replacen(
        v["prev"].as_str().expect("prev"),
        v["hash"].as_str().expect("hash"),
        1,
    );
    l.push(rehash(&forged));
    write_lines(&path, &l);
    let t = tampering(&path);
    assert_eq!((t.kind, t.seq), (TamperKind::Inserted, Some(5)));
}

#[test]
fn reordered_entries_are_named() {
    let (_d, path) = log_of(8);
    let mut l = lines(&path);
    l.swap(3, 4);
    write_lines(&path, &l);
    let t = tampering(&path);
    assert_eq!((t.kind, t.seq), (TamperKind::Reordered, Some(4)));
}

#[test]
fn a_cut_off_tail_is_named() {
    let (_d, path) = log_of(8);
    let mut l = lines(&path);
    l.truncate(6);
    write_lines(&path, &l);
    let t = tampering(&path);
    assert_eq!((t.kind, t.seq), (TamperKind::TruncatedTail, Some(7)));
    // Cut inside the last line: not what an interrupted append leaves (the state file says
    // the last append completed), so it is tampering too.
    let (_d, path) = log_of(8);
    let file = path.join("audit-000001.log");
    let bytes = std::fs::read(&file).expect("read");
    std::fs::write(&file, &bytes[..bytes.len() - 20]).expect("write");
    let t = tampering(&path);
    assert_eq!((t.kind, t.seq), (TamperKind::Edited, Some(8)));
}

#[test]
fn the_state_file_missing_damaged_or_rolled_back_is_named() {
    let (_d, path) = log_of(4);
    std::fs::remove_file(path.join("audit.state")).expect("rm");
    assert_eq!(tampering(&path).kind, TamperKind::StateMismatch);

    let (_d, path) = log_of(4);
    let state = path.join("audit.state");
    let mut bytes = std::fs::read(&state).expect("read");
    bytes[20] ^= 1;
    std::fs::write(&state, bytes).expect("write");
    assert_eq!(tampering(&path).kind, TamperKind::StateMismatch);

    // An older state file: the log holds entries after the end it records.
    let (_d, path) = log_of(4);
    let old = std::fs::read(path.join("audit.state")).expect("read");
    let log = AuditLogger::open(&path, config()).expect("open");
    log.log_event(event(5, RiskLevel::Low)).expect("log");
    drop(log);
    std::fs::write(path.join("audit.state"), old).expect("write");
    let t = tampering(&path);
    assert_eq!((t.kind, t.seq), (TamperKind::Inserted, Some(5)));
}

fn rotating(path: &Path, retention_days: u32) -> AuditLogger {
    AuditLogger::open_with(
        path,
        AuditConfig {
            retention_days,
            ..config()
        },
        AuditOptions {
            max_file_bytes: 1500,
            ..AuditOptions::default()
        },
    )
    .expect("open")
}

fn log_files(path: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(path)
        .expect("ls")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".log"))
        .collect();
    names.sort();
    names
}

#[test]
fn a_deleted_file_is_named() {
    for victim in [0usize, 1, 2] {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("audit");
        let log = rotating(&path, 0);
        for i in 0..20 {
            log.log_event(event(i, RiskLevel::Low)).expect("log");
        }
        drop(log);
        let files = log_files(&path);
        assert!(files.len() >= 3, "{files:?}");
        let name = match victim {
            0 => files[0].clone(),
            1 => files[files.len() / 2].clone(),
            _ => files[files.len() - 1].clone(),
        };
        std::fs::remove_file(path.join(&name)).expect("rm");
        let t = tampering(&path);
        assert_eq!(t.kind, TamperKind::FileDeleted, "{victim}: {t}");
        assert!(t.details.contains(&name), "{t}");
    }
}

#[test]
fn retention_removes_old_files_and_the_chain_still_verifies() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("audit");
    let log = rotating(&path, 30);
    for i in 0..16 {
        log.log_event(event(i, RiskLevel::Low)).expect("log");
    }
    let before = log_files(&path);
    assert!(before.len() >= 3, "{before:?}");
    let later = SystemTime::now() + Duration::from_secs(400 * 86_400);
    let removed = log.apply_retention_at(later).expect("retention");
    assert_eq!(removed, before.len() - 1, "every file but the current one");
    let report = log.verify().expect("intact after retention");
    assert!(report.first_seq > 1);
    assert!(!log_files(&path).contains(&before[0]));
    // The anchor names the cut.
    let tail = read_audit_tail(&path, 1, None).expect("tail");
    let (_, anchor) = &tail[0];
    assert_eq!(anchor.event_type, SecurityEventType::LogMaintenance);
    assert_eq!(anchor.operation, "retention");
    assert_eq!(
        anchor.metadata["chain_continues_from_seq"],
        (report.first_seq - 1).to_string()
    );
    drop(log);
    // Reopened, it still verifies; then removing the oldest kept file is found.
    let log = rotating(&path, 30);
    for i in 0..8 {
        log.log_event(event(99 + i, RiskLevel::Low)).expect("log");
    }
    log.verify().expect("intact");
    drop(log);
    let oldest = log_files(&path)[0].clone();
    std::fs::remove_file(path.join(&oldest)).expect("rm");
    assert_eq!(tampering(&path).kind, TamperKind::FileDeleted);
}

#[test]
fn retention_runs_by_itself_when_the_logger_opens() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("audit");
    let log = rotating(&path, 0);
    let old = SystemTime::now() - Duration::from_secs(400 * 86_400);
    for i in 0..12 {
        log.log_event(AuditEvent {
            timestamp: old,
            ..event(i, RiskLevel::Low)
        })
        .expect("log");
    }
    log.log_event(event(12, RiskLevel::Low)).expect("log");
    drop(log);
    let before = log_files(&path);
    assert!(before.len() >= 3, "{before:?}");
    let log = rotating(&path, 365);
    let after = log_files(&path);
    assert!(after.len() < before.len(), "{before:?} -> {after:?}");
    let report = log.verify().expect("intact");
    assert!(report.first_seq > 1);
}

#[test]
fn alerts_reach_subscribers_at_or_above_their_level_only() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = AuditLogger::open(dir.path(), config()).expect("open");
    let rx = log.subscribe_channel(RiskLevel::High).expect("channel");
    let heard = Arc::new(Mutex::new(Vec::new()));
    let h = Arc::clone(&heard);
    log.subscribe(RiskLevel::Medium, move |e| {
        h.lock().expect("lock").push(e.risk_level)
    })
    .expect("callback");
    for (i, risk) in [
        RiskLevel::Low,
        RiskLevel::Medium,
        RiskLevel::High,
        RiskLevel::Critical,
        RiskLevel::Low,
    ]
    .into_iter()
    .enumerate()
    {
        log.log_event(event(i as u32, risk)).expect("log");
    }
    let got: Vec<RiskLevel> = rx.try_iter().map(|e| e.risk_level).collect();
    assert_eq!(got, vec![RiskLevel::High, RiskLevel::Critical]);
    assert_eq!(
        *heard.lock().expect("lock"),
        vec![RiskLevel::Medium, RiskLevel::High, RiskLevel::Critical]
    );
    // Not at all when alerts are off.
    let quiet = AuditLogger::open(
        dir.path().join("quiet"),
        AuditConfig {
            enable_real_time_alerts: false,
            ..config()
        },
    )
    .expect("open");
    assert!(matches!(
        quiet.subscribe_channel(RiskLevel::Low),
        Err(DatabaseError::ConfigurationError { .. })
    ));
}

#[test]
fn the_level_decides_what_is_recorded() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = AuditLogger::open(
        dir.path(),
        AuditConfig {
            log_level: AuditLevel::Minimal,
            ..config()
        },
    )
    .expect("open");
    log.log_event(event(1, RiskLevel::Low)).expect("dropped");
    log.log_event(AuditEvent {
        event_type: SecurityEventType::KeyCheckFailed,
        ..event(2, RiskLevel::High)
    })
    .expect("log");
    let report = log.verify().expect("intact");
    assert_eq!(report.entries, 1);
}

#[test]
fn sealed_logs_hide_their_content_and_need_the_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("audit");
    let sealed = AuditConfig {
        encrypt_logs: true,
        ..config()
    };
    let key = AuditKey::from_bytes(&[42; 32]);
    let log = AuditLogger::open_with_key(&path, sealed.clone(), key.clone()).expect("open");
    for i in 0..5 {
        log.log_event(event(i, RiskLevel::Low)).expect("log");
    }
    assert_eq!(log.verify().expect("intact").entries, 5);
    drop(log);
    let raw = std::fs::read(path.join("audit-000001.log")).expect("read");
    assert!(
        !raw.windows(9).any(|w| w == b"user_data"),
        "plaintext in a sealed log"
    );

    // Without a key: refused clearly; the chain alone still verifies.
    assert!(matches!(
        AuditLogger::open(&path, sealed.clone()),
        Err(DatabaseError::ConfigurationError { ref field, .. }) if field == "encrypt_logs"
    ));
    let unkeyed = verify_audit_log(&path, None).expect("verify");
    assert!(unkeyed.is_intact() && !unkeyed.authenticated);
    assert!(
        verify_audit_log(&path, Some(&key))
            .expect("verify")
            .authenticated
    );
    let wrong = AuditKey::from_bytes(&[1; 32]);
    assert!(matches!(
        verify_audit_log(&path, Some(&wrong)),
        Err(DatabaseError::SecurityError(SecurityError::WrongKey))
    ));
    let tail = read_audit_tail(&path, 5, Some(&key)).expect("tail");
    assert_eq!(tail[4].1.resource, "user_data/4");
    // A plain configuration on a sealed log is refused.
    assert!(AuditLogger::open(&path, config()).is_err());
}

/// A power cut at every operation of an append leaves a log that opens and verifies, holding
/// every acknowledged entry; an interrupted append is reported, then recorded on reopening.
#[test]
fn a_power_cut_during_an_append_leaves_a_log_that_verifies() {
    let dir = PathBuf::from("/sim/audit");
    let mut interrupted_seen = 0;
    for at in 1..=14u64 {
        for seed in 0..4u64 {
            let sim = SimFileSystem::new();
            let options = || AuditOptions {
                fs: sim.handle(),
                ..AuditOptions::default()
            };
            let log = AuditLogger::open_with(&dir, config(), options()).expect("open");
            for i in 0..3 {
                log.log_event(event(i, RiskLevel::Low)).expect("log");
            }
            sim.schedule_power_cut(at, seed, PowerCutPolicy::default());
            let mut acknowledged = 3;
            for i in 3..6 {
                if log.log_event(event(i, RiskLevel::Low)).is_ok() {
                    acknowledged += 1;
                } else {
                    break;
                }
            }
            drop(log);
            if sim.last_power_cut().is_none() {
                sim.power_cut(seed);
            }
            let report = verify_in(&sim, &dir);
            assert!(report.is_intact(), "cut at {at}, seed {seed}: {report:?}");
            assert!(report.last_seq >= acknowledged, "lost acknowledged entries");
            if report.interrupted.is_some() {
                interrupted_seen += 1;
            }
            let log = AuditLogger::open_with(&dir, config(), options()).expect("reopen");
            log.log_event(event(9, RiskLevel::Low)).expect("log after");
            let after = log.verify().expect("intact after reopening");
            assert!(after.interrupted.is_none());
            if report.interrupted.is_some() {
                assert!(after.last_seq >= report.last_seq + 2, "recovery recorded");
            }
        }
    }
    assert!(interrupted_seen > 0, "no cut fell inside an append");
}

fn verify_in(sim: &SimFileSystem, dir: &Path) -> AuditReport {
    // Verification through the simulated file system: open a logger on a copy-free
    // read path is not public, so read the files out and check them in a real folder.
    let tmp = tempfile::tempdir().expect("tempdir");
    for name in sim.list(dir) {
        if let Some(bytes) = sim.read_file(dir.join(&name)) {
            std::fs::write(tmp.path().join(&name), bytes).expect("copy");
        }
    }
    verify_audit_log(tmp.path(), None).expect("readable")
}

fn audited(level: AuditLevel) -> LightningDbConfig {
    LightningDbConfig {
        enable_audit_logging: true,
        security: SecurityConfig {
            audit_level: level,
            ..Default::default()
        },
        ..Default::default()
    }
}

#[test]
fn a_database_records_open_close_and_at_comprehensive_data_access() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Database::open(dir.path(), audited(AuditLevel::Standard)).expect("open");
    db.put(b"k", b"v").expect("put");
    db.close().expect("close");
    let audit = dir.path().join("audit");
    let events: Vec<AuditEvent> = read_audit_tail(&audit, 100, None)
        .expect("tail")
        .into_iter()
        .map(|(_, e)| e)
        .collect();
    let kinds: Vec<_> = events.iter().map(|e| e.event_type).collect();
    assert_eq!(
        kinds,
        vec![
            SecurityEventType::DatabaseOpen,
            SecurityEventType::DatabaseClose
        ]
    );
    assert_eq!(events[0].metadata["audit_level"], "Standard");
    assert_eq!(events[0].metadata["enable_encryption"], "false");

    let db = Database::open(dir.path(), audited(AuditLevel::Comprehensive)).expect("open");
    db.put(b"key1", b"v").expect("put");
    assert_eq!(db.get(b"key1").expect("get"), Some(b"v".to_vec()));
    db.delete(b"key1").expect("delete");
    drop(db);
    let events = read_audit_tail(&audit, 100, None).expect("tail");
    let ops: Vec<(SecurityEventType, String)> = events
        .iter()
        .skip(2)
        .map(|(_, e)| (e.event_type, e.operation.clone()))
        .collect();
    assert_eq!(
        ops,
        vec![
            (SecurityEventType::DatabaseOpen, "open".into()),
            (SecurityEventType::DataModification, "write".into()),
            (SecurityEventType::DataAccess, "read".into()),
            (SecurityEventType::DataModification, "delete".into()),
            (SecurityEventType::DatabaseClose, "close".into()),
        ]
    );
    assert_eq!(events[3].1.resource, "6b657931");
    assert!(verify_audit_log(&audit, None).expect("verify").is_intact());

    // Without audit logging nothing is written.
    let plain = tempfile::tempdir().expect("tempdir");
    Database::open(plain.path(), LightningDbConfig::default())
        .expect("open")
        .close()
        .expect("close");
    assert!(!plain.path().join("audit").exists());
}

#[test]
fn a_database_records_corruption_quarantine_and_repair() {
    let dir = tempfile::tempdir().expect("tempdir");
    let small = LightningDbConfig {
        write_buffer_size: 64 * 1024,
        ..audited(AuditLevel::Standard)
    };
    {
        let db = Database::open(dir.path(), small.clone()).expect("open");
        for i in 0..2000u32 {
            db.put(
                format!("key{i:05}").as_bytes(),
                format!("value-{i}").as_bytes(),
            )
            .expect("put");
        }
        db.compact().expect("compact");
    }
    let table = std::fs::read_dir(dir.path())
        .expect("ls")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "sst"))
        .max_by_key(|p| std::fs::metadata(p).expect("stat").len())
        .expect("a table");
    let mut data = std::fs::read(&table).expect("read");
    data[1500] ^= 0x20;
    std::fs::write(&table, data).expect("write");
    let cfg = LightningDbConfig {
        security: SecurityConfig {
            corruption_action: lightning_db::CorruptionAction::Quarantine,
            audit_level: AuditLevel::Standard,
            ..Default::default()
        },
        ..small.clone()
    };
    if let Ok(db) = Database::open(dir.path(), cfg) {
        let _ = db.iter().count();
        drop(db);
    }
    let report = lightning_db::repair_database(dir.path(), &small).expect("repair");
    let kinds: Vec<SecurityEventType> = read_audit_tail(dir.path().join("audit"), 100, None)
        .expect("tail")
        .into_iter()
        .map(|(_, e)| e.event_type)
        .collect();
    assert!(
        kinds.contains(&SecurityEventType::CorruptionDetected),
        "{kinds:?}"
    );
    assert!(kinds.contains(&SecurityEventType::Quarantine), "{kinds:?}");
    if !report.nothing_to_do() {
        assert!(kinds.contains(&SecurityEventType::Repair), "{kinds:?}");
    }
}

#[test]
fn a_migration_of_an_audited_database_is_recorded_and_its_backup_keeps_the_log() {
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/formats/v1/db");
    let dir = tempfile::tempdir().expect("tempdir");
    for entry in std::fs::read_dir(&fixture).expect("fixture") {
        let entry = entry.expect("entry");
        if entry.path().is_file() {
            std::fs::copy(entry.path(), dir.path().join(entry.file_name())).expect("copy");
        }
    }
    Database::open(dir.path(), audited(AuditLevel::Standard))
        .expect("open")
        .close()
        .expect("close");
    let m = lightning_db::MigrationManager::new();
    let backup = tempfile::tempdir().expect("tempdir");
    let backup_dir = backup.path().join("copy");
    let plan = m
        .create_migration_plan_for(dir.path(), lightning_db::DatabaseVersion::Latest)
        .expect("plan")
        .with_backup(&backup_dir);
    m.execute_migration_blocking(plan).expect("migrate");
    let last = read_audit_tail(dir.path().join("audit"), 1, None).expect("tail");
    assert_eq!(last[0].1.event_type, SecurityEventType::Migration);
    assert_eq!(last[0].1.result, OperationResult::Success);
    assert!(last[0].1.metadata.contains_key("to"));
    assert!(verify_audit_log(backup_dir.join("audit"), None)
        .expect("verify")
        .is_intact());
}
