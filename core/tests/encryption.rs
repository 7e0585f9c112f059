//! Encryption at rest, whole system (issue 15 item 1): an encrypted database round trips
//! through flushes, compactions and log replay; no file holds a plaintext key or value;
//! a missing or wrong key, or a key for a plain database, is refused at once and leaves
//! every file byte-identical; a block moved within a table, a block replaced by an older
//! copy of itself and a forged manifest record all fail as `DecryptionFailed`, never as
//! wrong data.

mod files_support;

use std::path::Path;

use files_support::snapshot;

use lightning_db::{Database, DatabaseError, EncryptionKey, LightningDbConfig, SecurityError};

fn kek(b: u8) -> EncryptionKey {
    EncryptionKey::from_bytes(&[b; 32])
}

fn plain_config() -> LightningDbConfig {
    LightningDbConfig {
        write_buffer_size: 64 * 1024,
        block_size: 1024,
        // A table's blocks come through the cache: a tiny cache re-reads (and re-opens)
        // them, which is what the tampering tests need.
        cache_size: 64 * 1024,
        ..Default::default()
    }
}

fn config(key: Option<EncryptionKey>) -> LightningDbConfig {
    let mut c = plain_config();
    c.security.enable_encryption = key.is_some();
    c.security.encryption_key = key;
    c
}

fn key(i: u32) -> Vec<u8> {
    format!("plainkey{i:06}").into_bytes()
}

fn value(i: u32, round: u32) -> Vec<u8> {
    format!("plainvalue{i:06}r{round}").into_bytes()
}

/// Writes `n` keys over three rounds with flushes and a compaction between, leaving the
/// last round in the log only (unless `flush_last`).
fn fill(db: &Database, n: u32) {
    for round in 0..3 {
        for i in 0..n {
            db.put(&key(i), &value(i, round)).expect("put");
        }
        if round < 2 {
            db.flush().expect("flush");
        }
        if round == 1 {
            db.compact().expect("compact");
        }
    }
    for i in (0..n).step_by(7) {
        db.delete(&key(i)).expect("delete");
    }
}

fn check(db: &Database, n: u32) {
    for i in 0..n {
        let got = db.get(&key(i)).expect("get");
        if i % 7 == 0 {
            assert_eq!(got, None, "key {i} was deleted");
        } else {
            assert_eq!(got.as_deref(), Some(&value(i, 2)[..]), "key {i}");
        }
    }
    let live = db.iter().filter(|r| r.is_ok()).count();
    assert_eq!(live as u32, n - n.div_ceil(7));
}

fn is_decryption_failed(e: &DatabaseError) -> bool {
    matches!(
        e,
        DatabaseError::SecurityError(SecurityError::DecryptionFailed { .. })
    )
}

#[test]
fn an_encrypted_database_round_trips_and_holds_no_plaintext() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("db");
    let n = 2000;
    {
        let db = Database::open(&path, config(Some(kek(1)))).expect("create");
        assert!(db.is_encrypted());
        assert_eq!(db.key_generation(), Some(1));
        fill(&db, n);
        check(&db, n);
        // Dropped without close: the last round is replayed from the log.
    }
    let db = Database::open(&path, config(Some(kek(1)))).expect("reopen");
    assert!(db.stats().recovery.wal_records_replayed > 0);
    check(&db, n);
    db.flush().expect("flush");
    db.compact().expect("compact");
    check(&db, n);
    db.close().expect("close");
    let db = Database::open(&path, config(Some(kek(1)))).expect("reopen");
    check(&db, n);
    // Some log records before the scan, so the log is scanned too.
    for i in 0..50 {
        db.put(&key(i), &value(i, 2)).expect("put");
    }
    drop(db);

    let files = snapshot(&path);
    assert!(files.keys().any(|f| f.ends_with(".sst")));
    assert!(files.keys().any(|f| f.ends_with(".log")));
    assert!(files.keys().any(|f| f.starts_with("MANIFEST-")));
    assert!(files.contains_key("KEYS"));
    for (name, bytes) in &files {
        for needle in [&b"plainkey"[..], b"plainvalue", &[1u8; 32]] {
            assert!(
                !bytes.windows(needle.len()).any(|w| w == needle),
                "{name} holds plaintext {:?}",
                String::from_utf8_lossy(needle)
            );
        }
    }
}

#[test]
fn a_missing_or_wrong_key_is_refused_and_changes_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("db");
    {
        let db = Database::open(&path, config(Some(kek(1)))).expect("create");
        fill(&db, 300);
    }
    let before = snapshot(&path);
    match Database::open(&path, plain_config()) {
        Err(DatabaseError::ConfigurationError { field, reason }) => {
            assert_eq!(field, "security.encryption_key");
            assert!(reason.contains("encrypted"), "{reason}");
        }
        other => panic!("expected a missing-key error, got {:?}", other.err()),
    }
    assert_eq!(snapshot(&path), before, "a refused open changed files");
    match Database::open(&path, config(Some(kek(2)))) {
        Err(DatabaseError::SecurityError(SecurityError::WrongKey)) => {}
        other => panic!("expected WrongKey, got {:?}", other.err()),
    }
    assert_eq!(snapshot(&path), before, "a refused open changed files");
    let db = Database::open(&path, config(Some(kek(1)))).expect("the right key opens");
    check(&db, 300);
}

#[test]
fn a_plain_database_opened_with_a_key_is_refused_and_changes_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("db");
    {
        let db = Database::open(&path, plain_config()).expect("create");
        fill(&db, 300);
    }
    let before = snapshot(&path);
    match Database::open(&path, config(Some(kek(1)))) {
        Err(DatabaseError::ConfigurationError { field, reason }) => {
            assert_eq!(field, "security.enable_encryption");
            assert!(reason.contains("not encrypted"), "{reason}");
        }
        other => panic!("expected a refusal, got {:?}", other.err()),
    }
    assert_eq!(snapshot(&path), before, "a refused open changed files");
    let db = Database::open(&path, plain_config()).expect("opens plain");
    assert!(!db.is_encrypted());
    assert_eq!(db.key_generation(), None);
    check(&db, 300);
}

// ---------------------------------------------------------------------------------------
// Tampering. The attacker here knows the file formats and recomputes every (unkeyed)
// checksum after the change, so only authentication can catch it. The database's
// checksums are CRC32 for that reason: the test recomputes them with the same crate.

const CRC: lightning_db::ChecksumAlgorithm = lightning_db::ChecksumAlgorithm::Crc32;
const BLOCK_TRAILER_LEN: usize = 9;
const SEALED_BLOCK: u8 = 2;
const FILE_HEADER_LEN: usize = 24;
const RECORD_HEADER_LEN: usize = 16;

fn crc(parts: &[&[u8]]) -> u64 {
    let mut h = crc32fast::Hasher::new();
    for p in parts {
        h.update(p);
    }
    u64::from(h.finalize())
}

fn tamper_config() -> LightningDbConfig {
    let mut c = config(Some(kek(1)));
    c.compression_enabled = false;
    c.checksum_algorithm = CRC;
    c.security.checksum_algorithm = CRC;
    c
}

/// The blocks of a sealed table, as (offset, length): each is found from the previous
/// one's end by its trailer (sealed marker and the checksum of its bytes and offset).
fn table_blocks(data: &[u8]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut at = 0;
    'next: while at < data.len() {
        for end in at + BLOCK_TRAILER_LEN..=data.len() {
            let sum_pos = end - 8;
            if data[sum_pos - 1] != SEALED_BLOCK {
                continue;
            }
            let stored = u64::from_le_bytes(data[sum_pos..end].try_into().expect("8 bytes"));
            if crc(&[&data[at..sum_pos], &(at as u64).to_le_bytes()]) == stored {
                out.push((at, end - at));
                at = end;
                continue 'next;
            }
        }
        break;
    }
    out
}

/// Writes `block` (a sealed block's bytes) at `offset` of `data`, with its checksum
/// recomputed for that offset.
fn put_block(data: &mut [u8], offset: usize, block: &[u8]) {
    let sum_pos = block.len() - 8;
    data[offset..offset + sum_pos].copy_from_slice(&block[..sum_pos]);
    let sum = crc(&[&block[..sum_pos], &(offset as u64).to_le_bytes()]);
    data[offset + sum_pos..offset + block.len()].copy_from_slice(&sum.to_le_bytes());
}

/// Copies a data block over another of the same length in `table` (whose bytes are
/// `data`), checksum recomputed; returns the overwritten block's place.
fn move_a_data_block(
    table: &Path,
    data: &mut [u8],
    data_blocks: &[(usize, usize)],
) -> (usize, usize) {
    let (a, b) = data_blocks
        .iter()
        .enumerate()
        .find_map(|(i, a)| {
            data_blocks[i + 1..]
                .iter()
                .find(|b| b.1 == a.1)
                .map(|b| (*a, *b))
        })
        .expect("two data blocks of one length");
    let moved = data[a.0..a.0 + a.1].to_vec();
    put_block(data, b.0, &moved);
    std::fs::write(table, &*data).expect("write");
    b
}

fn table_files(path: &Path) -> Vec<std::path::PathBuf> {
    let mut out: Vec<_> = std::fs::read_dir(path)
        .expect("read dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "sst"))
        .collect();
    out.sort();
    out
}

/// Opens the database and reads every key: the tampering must show as
/// `DecryptionFailed` (at open or at a read), and no read may answer wrong data.
fn expect_decryption_failed(path: &Path, n: u32) {
    let db = match Database::open(path, tamper_config()) {
        Ok(db) => db,
        Err(e) => {
            assert!(is_decryption_failed(&e), "open failed otherwise: {e:?}");
            return;
        }
    };
    let mut failed = 0;
    for i in 0..n {
        match db.get(&key(i)) {
            Ok(got) => {
                if i % 7 == 0 {
                    assert_eq!(got, None, "key {i}");
                } else {
                    assert_eq!(
                        got.as_deref(),
                        Some(&value(i, 2)[..]),
                        "wrong data for key {i}"
                    );
                }
            }
            Err(e) => {
                assert!(is_decryption_failed(&e), "key {i}: {e:?}");
                failed += 1;
            }
        }
    }
    // A scan reads every table, shadowed versions included.
    for item in db.iter() {
        match item {
            Ok((k, v)) => {
                let text = String::from_utf8_lossy(&k).to_string();
                let i: u32 = text["plainkey".len()..].parse().expect("a key of ours");
                assert_eq!(v, value(i, 2), "wrong data for key {i}");
            }
            Err(e) => {
                assert!(is_decryption_failed(&e), "scan: {e:?}");
                failed += 1;
                break;
            }
        }
    }
    assert!(failed > 0, "the tampered block was never refused");
}

/// A database with its data in tables only (the log replayed and flushed at reopen).
fn tables_only(path: &Path, n: u32) {
    {
        let db = Database::open(path, tamper_config()).expect("create");
        fill(&db, n);
        db.flush().expect("flush");
        db.close().expect("close");
    }
}

#[test]
fn a_block_moved_within_a_table_fails_authentication() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("db");
    let n = 2000;
    tables_only(&path, n);
    let table = table_files(&path)
        .into_iter()
        .max_by_key(|t| std::fs::metadata(t).map_or(0, |m| m.len()))
        .expect("a table");
    let mut data = std::fs::read(&table).expect("read");
    let blocks = table_blocks(&data);
    assert!(blocks.len() > 4, "{} blocks found", blocks.len());
    // The last three blocks are filter, index and properties.
    move_a_data_block(&table, &mut data, &blocks[..blocks.len() - 3]);
    expect_decryption_failed(&path, n);
}

#[test]
fn a_block_replaced_by_an_older_copy_fails_authentication() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("db");
    let n = 2000;
    // The tables of the first round, kept as an attacker's old copy would be.
    let old: Vec<Vec<u8>> = {
        let db = Database::open(&path, tamper_config()).expect("create");
        for i in 0..n {
            db.put(&key(i), &value(i, 0)).expect("put");
        }
        db.flush().expect("flush");
        let old = table_files(&path)
            .iter()
            .map(|t| std::fs::read(t).expect("read"))
            .collect();
        db.close().expect("close");
        old
    };
    tables_only(&path, n);
    let tables = table_files(&path);
    // A block at one place (offset and length) in an old table and a current one:
    // authentic where it was written, copied over the current one's.
    let found = tables.iter().find_map(|t| {
        let current = table_blocks(&std::fs::read(t).expect("read"));
        old.iter().find_map(|o| {
            table_blocks(o)
                .into_iter()
                .find(|b| current.contains(b))
                .map(|b| (t.clone(), o.clone(), b))
        })
    });
    let (target_path, source, place) =
        found.expect("a block at one place in an old and a new table");
    let mut target = std::fs::read(&target_path).expect("read");
    put_block(&mut target, place.0, &source[place.0..place.0 + place.1]);
    std::fs::write(&target_path, &target).expect("write");
    expect_decryption_failed(&path, n);
}

/// Flips a byte of the payload of the first record after the header of `file` and
/// recomputes the record's checksum.
fn forge_first_record(file: &Path) {
    let mut data = std::fs::read(file).expect("read");
    let at = FILE_HEADER_LEN;
    let len = u32::from_le_bytes(data[at..at + 4].try_into().expect("4")) as usize;
    let body = at + RECORD_HEADER_LEN;
    data[body + len / 2] ^= 0x40;
    let sum = crc(&[&data[at..at + 4], &data[body..body + len]]);
    data[at + 8..at + 16].copy_from_slice(&sum.to_le_bytes());
    std::fs::write(file, &data).expect("write");
}

/// A database holding keys `0..n` (values of `round`) in its log only (dropped without
/// close or flush); returns its newest log segment.
fn log_only(path: &Path, n: u32, round: u32) -> std::path::PathBuf {
    {
        let db = Database::open(path, tamper_config()).expect("create");
        for i in 0..n {
            db.put(&key(i), &value(i, round)).expect("put");
        }
    }
    std::fs::read_dir(path)
        .expect("read dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "log"))
        .max()
        .expect("a log segment")
}

#[test]
fn a_forged_manifest_record_fails_authentication() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("db");
    tables_only(&path, 500);
    let current = std::fs::read_to_string(path.join("CURRENT")).expect("CURRENT");
    forge_first_record(&path.join(current.trim()));
    match Database::open(&path, tamper_config()) {
        Err(e) => assert!(is_decryption_failed(&e), "{e:?}"),
        Ok(_) => panic!("a forged manifest record opened"),
    }
}

#[test]
fn a_forged_log_record_fails_authentication_whatever_the_corruption_action() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("db");
    let log = log_only(&path, 20, 0);
    forge_first_record(&log);
    let before = snapshot(&path);
    for action in [
        lightning_db::CorruptionAction::Log,
        lightning_db::CorruptionAction::Halt,
        lightning_db::CorruptionAction::Repair,
        lightning_db::CorruptionAction::Quarantine,
    ] {
        let mut c = tamper_config();
        c.security.corruption_action = action;
        match Database::open(&path, c) {
            Err(e) => assert!(is_decryption_failed(&e), "{action:?}: {e:?}"),
            Ok(_) => panic!("{action:?}: a forged log record opened"),
        }
        assert_eq!(
            snapshot(&path),
            before,
            "{action:?}: the open changed files"
        );
    }
}

// ---------------------------------------------------------------------------------------
// Offline tools and checks on an encrypted database.

fn is_key_needed(e: &DatabaseError) -> bool {
    matches!(e, DatabaseError::ConfigurationError { field, .. } if field == "security.encryption_key")
}

fn is_invalid_argument_naming_encryption(e: &DatabaseError) -> bool {
    matches!(e, DatabaseError::InvalidArgument { message } if message.contains("encrypted database"))
}

#[test]
fn offline_tools_refuse_or_take_the_key_and_change_nothing() {
    use lightning_db::{repair_database, verify_database, MigrationManager, ValidationLevel};
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("db");
    {
        let db = Database::open(&path, config(Some(kek(1)))).expect("create");
        fill(&db, 300);
        db.flush().expect("flush");
        // A live database's own validation opens sealed files with its keys.
        let report = db
            .verify_integrity(ValidationLevel::Paranoid)
            .expect("validates");
        assert!(report.is_clean(), "{report:?}");
        db.close().expect("close");
    }
    let before = snapshot(&path);

    // Offline, validation and repair need the key and refuse without it.
    let e = verify_database(&path, ValidationLevel::Standard).expect_err("refused");
    assert!(is_key_needed(&e), "{e:?}");
    let e = repair_database(&path, &plain_config()).expect_err("refused");
    assert!(is_key_needed(&e), "{e:?}");
    match repair_database(&path, &config(Some(kek(2)))) {
        Err(DatabaseError::SecurityError(SecurityError::WrongKey)) => {}
        other => panic!("expected WrongKey, got {other:?}"),
    }
    let report = repair_database(&path, &config(Some(kek(1)))).expect("repair with the key");
    assert!(report.nothing_to_do(), "{report:?}");

    let m = MigrationManager::new();
    let e = m.detect_version(&path).expect_err("refused");
    assert!(is_invalid_argument_naming_encryption(&e), "{e:?}");
    assert!(!m.needs_migration(&path).expect("needs_migration"));

    let info = m.inspect(&path).expect("inspect without the key");
    assert!(info.encrypted && info.tables_hidden);
    assert_eq!(info.format_version, 3);
    assert_eq!(info.key_generation, Some(1));
    assert!(info.levels.iter().all(Vec::is_empty));
    let info = m
        .inspect_with_key(&path, &kek(1))
        .expect("inspect with the key");
    assert!(info.encrypted && !info.tables_hidden);
    assert!(info.levels.iter().flatten().count() > 0);
    assert!(info.levels.iter().flatten().all(|t| t.format_version == 2));
    match m.inspect_with_key(&path, &kek(2)) {
        Err(DatabaseError::SecurityError(SecurityError::WrongKey)) => {}
        other => panic!("expected WrongKey, got {other:?}"),
    }
    assert_eq!(snapshot(&path), before, "an offline tool changed files");

    // The open-time logical check (Comprehensive) and the Paranoid verifier do not take
    // sealed records for damage; the open authenticates what it reads.
    for level in [ValidationLevel::Comprehensive, ValidationLevel::Paranoid] {
        let mut c = config(Some(kek(1)));
        c.integrity_validation_level = level;
        let db = Database::open(&path, c).unwrap_or_else(|e| panic!("{level:?}: {e}"));
        check(&db, 300);
        assert!(db.corruption_events().is_empty(), "{level:?}");
        db.close().expect("close");
    }
}

#[test]
fn the_audit_log_of_an_encrypted_database_names_no_key() {
    use lightning_db::{verify_audit_log, AuditLevel};
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("db");
    let mut c = config(Some(kek(1)));
    c.enable_audit_logging = true;
    c.security.audit_level = AuditLevel::Comprehensive;
    {
        let db = Database::open(&path, c.clone()).expect("create");
        for i in 0..20 {
            db.put(&key(i), &value(i, 0)).expect("put");
            db.get(&key(i)).expect("get");
        }
        db.close().expect("close");
    }
    let hex: String = b"plainkey".iter().map(|b| format!("{b:02x}")).collect();
    for (name, bytes) in snapshot(&path) {
        for needle in [&b"plainkey"[..], hex.as_bytes(), b"plainvalue"] {
            assert!(
                !bytes.windows(needle.len()).any(|w| w == needle),
                "{name} holds {}",
                String::from_utf8_lossy(needle)
            );
        }
    }
    let report = verify_audit_log(path.join("audit"), None).expect("verify");
    assert!(report.is_intact());
    assert!(report.entries >= 40, "{} entries", report.entries);
}

#[test]
fn failed_key_checks_are_in_the_audit_log_and_change_no_data_file() {
    use lightning_db::{read_audit_tail, verify_audit_log, OperationResult, SecurityEventType};
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("db");
    let mut c = config(Some(kek(1)));
    c.enable_audit_logging = true;
    {
        let db = Database::open(&path, c.clone()).expect("create");
        fill(&db, 50);
        db.close().expect("close");
    }
    let data_files = |p: &Path| {
        let mut files = snapshot(p);
        files.retain(|name, _| !name.starts_with("audit"));
        files
    };
    let before = data_files(&path);
    // Whoever opens it, with audit logging on or not: the database keeps the log.
    match Database::open(&path, config(Some(kek(2)))) {
        Err(DatabaseError::SecurityError(SecurityError::WrongKey)) => {}
        other => panic!("expected WrongKey, got {:?}", other.err()),
    }
    let e = Database::open(&path, plain_config()).expect_err("no key");
    assert!(is_key_needed(&e), "{e:?}");
    assert_eq!(
        data_files(&path),
        before,
        "a refused open changed a data file"
    );

    let audit = path.join("audit");
    assert!(verify_audit_log(&audit, None).expect("verify").is_intact());
    let refused: Vec<_> = read_audit_tail(&audit, 10, None)
        .expect("tail")
        .into_iter()
        .map(|(_, e)| e)
        .filter(|e| e.event_type == SecurityEventType::KeyCheckFailed)
        .collect();
    assert_eq!(refused.len(), 2, "{refused:?}");
    assert!(refused.iter().all(|e| e.result == OperationResult::Denied));
    assert_eq!(
        refused[0].metadata.get("reason").map(String::as_str),
        Some("wrong key")
    );
    assert_eq!(
        refused[1].metadata.get("reason").map(String::as_str),
        Some("no key")
    );
    // The right key still opens it, and its log still verifies.
    let db = Database::open(&path, c).expect("reopen");
    db.close().expect("close");
    assert!(verify_audit_log(&audit, None).expect("verify").is_intact());
}

#[test]
fn bulk_loads_and_large_batches_are_sealed_too() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("db");
    let n = 20_000u32;
    {
        let db = Database::open(&path, config(Some(kek(1)))).expect("create");
        // Many times the write buffer: the load spills sealed runs and merges them back.
        let mut load = db.bulk_load().expect("bulk load");
        for i in 0..n {
            load.put(&key(i), &value(i, 2)).expect("put");
        }
        load.finish().expect("finish");
        // A batch of half the write buffer or more is ingested as a table.
        let mut batch = lightning_db::WriteBatch::new();
        for i in n..n + 2000 {
            batch.put(&key(i), &value(i, 2)).expect("batch put");
        }
        db.write_batch(&batch).expect("write batch");
        db.close().expect("close");
    }
    let db = Database::open(&path, config(Some(kek(1)))).expect("reopen");
    for i in (0..n + 2000).step_by(97) {
        assert_eq!(
            db.get(&key(i)).expect("get").as_deref(),
            Some(&value(i, 2)[..]),
            "key {i}"
        );
    }
    assert!(db.stats().ingested_batches > 0 || db.stats().table_files > 0);
    drop(db);
    for (name, bytes) in snapshot(&path) {
        assert!(
            !bytes.windows(8).any(|w| w == b"plainkey"),
            "{name} holds a plaintext key"
        );
    }
}

// ---------------------------------------------------------------------------------------
// Key rotation and re-wrapping.

#[test]
fn a_rotated_then_rewrapped_database_reads_exact_data() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("db");
    let n = 1500;
    {
        let db = Database::open(&path, config(Some(kek(1)))).expect("create");
        for i in 0..n {
            db.put(&key(i), &value(i, 0)).expect("put");
        }
        db.flush().expect("flush");
        assert_eq!(db.rotate_key().expect("rotate"), 2);
        assert_eq!(db.key_generation(), Some(2));
        for i in 0..n / 2 {
            db.put(&key(i), &value(i, 1)).expect("put");
        }
        db.flush().expect("flush");
        assert_eq!(db.rotate_key().expect("rotate"), 3);
        // Left in the log, sealed with generation 3.
        for i in 0..10 {
            db.put(&key(i), &value(i, 2)).expect("put");
        }
        db.rewrap_key(kek(9)).expect("rewrap");
        assert_eq!(db.stats().key_generation, Some(3));
        // Dropped without close: the log is replayed at the next open.
    }
    match Database::open(&path, config(Some(kek(1)))) {
        Err(DatabaseError::SecurityError(SecurityError::WrongKey)) => {}
        other => panic!(
            "the old key-encryption key must be refused, got {:?}",
            other.err()
        ),
    }
    let db = Database::open(&path, config(Some(kek(9)))).expect("open with the new key");
    assert_eq!(db.key_generation(), Some(3));
    let expect = |i: u32| match i {
        i if i < 10 => value(i, 2),
        i if i < n / 2 => value(i, 1),
        i => value(i, 0),
    };
    for i in 0..n {
        assert_eq!(
            db.get(&key(i)).expect("get").as_deref(),
            Some(&expect(i)[..]),
            "key {i}"
        );
    }
    db.compact().expect("compact");
    for i in (0..n).step_by(7) {
        assert_eq!(
            db.get(&key(i)).expect("get").as_deref(),
            Some(&expect(i)[..]),
            "key {i}"
        );
    }
    drop(db);
    let plain = Database::open(dir.path().join("plain"), plain_config()).expect("plain");
    assert!(matches!(
        plain.rotate_key(),
        Err(DatabaseError::InvalidArgument { .. })
    ));
    assert!(matches!(
        plain.rewrap_key(kek(3)),
        Err(DatabaseError::InvalidArgument { .. })
    ));
}

#[test]
fn a_power_cut_at_any_operation_of_a_rotation_or_rewrap_loses_nothing() {
    use lightning_db::testing::{PowerCutPolicy, SimFileSystem};
    const DB: &str = "/sim/db";
    let open =
        |sim: &SimFileSystem, k: u8| Database::open_with_fs(DB, config(Some(kek(k))), sim.handle());
    for rewrap in [false, true] {
        let mut n = 1;
        loop {
            let seed = 0x5eed + n;
            let sim = SimFileSystem::new();
            let db = open(&sim, 1).expect("create");
            for i in 0..50 {
                db.put(&key(i), &value(i, 0)).expect("put");
            }
            sim.schedule_power_cut(n, seed, PowerCutPolicy::default());
            let done = if rewrap {
                db.rewrap_key(kek(2)).is_ok()
            } else {
                db.rotate_key().is_ok()
            };
            // Acknowledged writes after the key change use the new key.
            let mut acked = 50;
            if done {
                for i in 50..60 {
                    if db.put(&key(i), &value(i, 0)).is_err() {
                        break;
                    }
                    acked = i + 1;
                }
            }
            let finished = sim.last_power_cut().is_none();
            if finished {
                sim.power_cut(seed);
            }
            drop(db);
            let context = format!("rewrap {rewrap}, cut before operation {n}, seed {seed:#x}");
            // The old key-encryption key before the switch, the new one after it.
            let db = match open(&sim, 1) {
                Err(DatabaseError::SecurityError(SecurityError::WrongKey)) if rewrap => {
                    open(&sim, 2).unwrap_or_else(|e| panic!("{context}: new key: {e}"))
                }
                other => other.unwrap_or_else(|e| panic!("{context}: {e}")),
            };
            for i in 0..acked {
                assert_eq!(
                    db.get(&key(i))
                        .unwrap_or_else(|e| panic!("{context}: {e}"))
                        .as_deref(),
                    Some(&value(i, 0)[..]),
                    "{context}: key {i}"
                );
            }
            drop(db);
            // A re-wrap that returned is durable: the old key no longer opens.
            if done && rewrap {
                assert!(
                    matches!(
                        open(&sim, 1).err(),
                        Some(DatabaseError::SecurityError(SecurityError::WrongKey))
                    ),
                    "{context}"
                );
            }
            if finished {
                // The key file is written in several operations (create, write, sync,
                // rename, directory sync), and a cut came before each of them.
                assert!(n > 4, "rewrap {rewrap}: only {n} cut points");
                break;
            }
            n += 1;
            assert!(n < 500, "the rotation never finished");
        }
    }
}

#[test]
fn rotating_inside_a_bulk_load_is_refused_not_a_deadlock() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Database::open(dir.path().join("db"), config(Some(kek(1)))).expect("create");
    let mut load = db.bulk_load().expect("bulk load");
    load.put(b"k", b"v").expect("put");
    assert!(db.rotate_key().is_err(), "the loading thread holds the log");
    load.finish().expect("finish");
    assert_eq!(db.rotate_key().expect("rotate after the load"), 2);
    assert_eq!(db.get(b"k").expect("get").as_deref(), Some(&b"v"[..]));
}

// ---------------------------------------------------------------------------------------
// Validation and repair of an encrypted database (with its key): sealed blocks and
// records are opened and authenticated, damage is found and repaired as in a plain
// database, what repair writes is sealed, and its reports show keys by length only.

/// Bytes no file of an encrypted database may hold: the plaintext of our keys and values.
fn assert_no_plaintext(path: &Path) {
    for (name, bytes) in snapshot(path) {
        for needle in [&b"plainkey"[..], &b"plainvalue"[..]] {
            assert!(
                !bytes.windows(needle.len()).any(|w| w == needle),
                "{name} holds plaintext {:?}",
                String::from_utf8_lossy(needle)
            );
        }
    }
}

/// Every key reads as its last value or (when repair set it aside) as absent, never as
/// anything else; returns how many keys were lost (deleted keys excluded).
fn lost_keys(db: &Database, n: u32) -> u32 {
    let mut lost = 0;
    for i in 0..n {
        let got = db.get(&key(i)).expect("get");
        if i % 7 == 0 {
            assert_eq!(got, None, "key {i} was deleted");
        } else if let Some(v) = got {
            assert_eq!(v, value(i, 2), "key {i}");
        } else {
            lost += 1;
        }
    }
    lost
}

fn validator(
    path: &Path,
    level: lightning_db::ValidationLevel,
) -> lightning_db::IntegrityValidator {
    lightning_db::IntegrityValidator::for_path(
        lightning_db::ValidationConfig {
            validation_level: level,
            ..Default::default()
        },
        path,
    )
}

/// A database whose data is one table: every key written once (its last value), every
/// seventh deleted, so a block repair sets aside exposes no older version.
fn one_table(path: &Path, n: u32) {
    let db = Database::open(path, tamper_config()).expect("create");
    for i in 0..n {
        db.put(&key(i), &value(i, 2)).expect("put");
    }
    for i in (0..n).step_by(7) {
        db.delete(&key(i)).expect("delete");
    }
    db.flush().expect("flush");
    db.close().expect("close");
}

/// The largest table and its data blocks (the last three blocks are filter, index and
/// properties).
fn largest_table_blocks(path: &Path) -> (std::path::PathBuf, Vec<u8>, Vec<(usize, usize)>) {
    let table = table_files(path)
        .into_iter()
        .max_by_key(|t| std::fs::metadata(t).map_or(0, |m| m.len()))
        .expect("a table");
    let data = std::fs::read(&table).expect("read");
    let mut blocks = table_blocks(&data);
    assert!(blocks.len() > 5, "{} blocks found", blocks.len());
    blocks.truncate(blocks.len() - 3);
    (table, data, blocks)
}

#[test]
fn an_encrypted_database_validates_clean_offline_and_live_at_every_level() {
    use lightning_db::ValidationLevel;
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("db");
    {
        let db = Database::open(&path, config(Some(kek(1)))).expect("create");
        // Tables from two rounds and a compaction, the last round in the log only.
        fill(&db, 400);
        for level in [
            ValidationLevel::Basic,
            ValidationLevel::Standard,
            ValidationLevel::Comprehensive,
            ValidationLevel::Paranoid,
        ] {
            let report = db.verify_integrity(level).expect("live validation");
            assert!(report.is_clean(), "{level:?}: {report:?}");
            assert!(report.records_checked > 0, "{level:?}: {report:?}");
        }
        // Dropped without close: the log holds records a check must open.
    }
    let before = snapshot(&path);
    for level in [
        ValidationLevel::Basic,
        ValidationLevel::Standard,
        ValidationLevel::Comprehensive,
        ValidationLevel::Paranoid,
    ] {
        let report = validator(&path, level)
            .with_key(kek(1))
            .validate()
            .unwrap_or_else(|e| panic!("{level:?}: {e}"));
        assert!(report.is_clean(), "{level:?}: {report:?}");
        assert!(
            report.tables_checked > 0 && report.blocks_checked > 0,
            "{report:?}"
        );
        assert!(report.records_checked > 0, "{report:?}");
        if level >= ValidationLevel::Standard {
            assert!(report.entries_checked > 0, "{report:?}");
        }
    }
    let e = validator(&path, ValidationLevel::Standard)
        .validate()
        .expect_err("no key");
    assert!(is_key_needed(&e), "{e:?}");
    match validator(&path, ValidationLevel::Standard)
        .with_key(kek(9))
        .validate()
    {
        Err(DatabaseError::SecurityError(SecurityError::WrongKey)) => {}
        other => panic!("expected WrongKey, got {other:?}"),
    }
    assert_eq!(snapshot(&path), before, "validation changed files");
    let db = Database::open(&path, config(Some(kek(1)))).expect("reopen");
    check(&db, 400);
}

#[test]
fn a_damaged_block_of_an_encrypted_table_is_found_and_repaired_sealed() {
    use lightning_db::{repair_database, CheckKind, ValidationLevel};
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("db");
    let n = 2000;
    one_table(&path, n);
    let (table, mut data, blocks) = largest_table_blocks(&path);
    let (at, len) = blocks[blocks.len() / 2];
    data[at + len / 2] ^= 0x10;
    std::fs::write(&table, &data).expect("write");

    let report = validator(&path, ValidationLevel::Standard)
        .with_key(kek(1))
        .validate()
        .expect("validates");
    assert!(
        report
            .problems
            .iter()
            .any(|p| p.check == CheckKind::Checksum && p.offset == Some(at as u64)),
        "{report:?}"
    );

    let rep = repair_database(&path, &tamper_config()).expect("repair");
    assert!(rep.failed.is_empty(), "{rep:?}");
    assert_eq!(rep.set_aside.len(), 1, "{rep:?}");
    let keys = rep.set_aside[0].keys.clone().unwrap_or_default();
    assert!(keys.contains("<14 bytes>"), "keys by length only: {keys}");
    assert!(rep.after.as_ref().is_some_and(|a| a.is_clean()), "{rep:?}");
    // The rebuilt table is sealed, the original is in quarantine/, and no report or file
    // holds a plaintext key or value.
    assert_no_plaintext(&path);
    assert!(path.join("quarantine").exists());

    let db = Database::open(&path, tamper_config()).expect("reopen");
    let lost = lost_keys(&db, n);
    assert!(lost > 0 && lost < 100, "{lost} keys lost with one block");
    let again = db
        .verify_integrity(ValidationLevel::Paranoid)
        .expect("validates");
    assert!(again.is_clean(), "{again:?}");
}

#[test]
fn a_moved_block_is_an_authentication_finding_that_repair_sets_aside() {
    use lightning_db::{repair_database, CheckKind, ValidationLevel};
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("db");
    let n = 2000;
    one_table(&path, n);
    let (table, mut data, blocks) = largest_table_blocks(&path);
    let b = move_a_data_block(&table, &mut data, &blocks);

    // Its checksum holds: only authentication catches it, and says so.
    let report = validator(&path, ValidationLevel::Basic)
        .with_key(kek(1))
        .validate()
        .expect("validates");
    let found: Vec<_> = report
        .problems
        .iter()
        .filter(|p| p.check == CheckKind::Authentication)
        .collect();
    assert_eq!(found.len(), 1, "{report:?}");
    assert_eq!(found[0].offset, Some(b.0 as u64));
    assert!(
        report
            .problems
            .iter()
            .all(|p| p.check != CheckKind::Checksum),
        "{report:?}"
    );

    let rep = repair_database(&path, &tamper_config()).expect("repair");
    assert!(rep.failed.is_empty(), "{rep:?}");
    assert_eq!(rep.set_aside.len(), 1, "{rep:?}");
    assert_no_plaintext(&path);
    // No read fails any more, and none answers wrong data.
    let db = Database::open(&path, tamper_config()).expect("reopen");
    let lost = lost_keys(&db, n);
    assert!(lost > 0, "the moved block's keys are set aside");
    assert!(db.iter().all(|r| r.is_ok()));
}

#[test]
fn damage_in_the_middle_of_an_encrypted_log_is_cut_by_repair() {
    use lightning_db::{repair_database, CheckKind, Component, ValidationLevel};
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("db");
    let log = log_only(&path, 200, 2);
    let mut data = std::fs::read(&log).expect("read");
    // A byte in the middle of the records: damage followed by intact records.
    let at = FILE_HEADER_LEN + (data.len() - FILE_HEADER_LEN) / 3;
    data[at] ^= 0x01;
    std::fs::write(&log, &data).expect("write");

    let report = validator(&path, ValidationLevel::Standard)
        .with_key(kek(1))
        .validate()
        .expect("validates");
    assert!(
        report
            .problems
            .iter()
            .any(|p| p.component == Component::Wal && p.check == CheckKind::Checksum),
        "{report:?}"
    );
    let rep = repair_database(&path, &tamper_config()).expect("repair");
    assert!(rep.failed.is_empty(), "{rep:?}");
    assert_no_plaintext(&path);
    let db = Database::open(&path, tamper_config()).expect("reopen");
    // A prefix of history: keys 0..k present with their values, none after.
    let present: Vec<bool> = (0..200)
        .map(|i| match db.get(&key(i)).expect("get") {
            Some(v) => {
                assert_eq!(v, value(i, 2));
                true
            }
            None => false,
        })
        .collect();
    let kept = present.iter().take_while(|p| **p).count();
    assert!(present[kept..].iter().all(|p| !p), "not a prefix");
    assert!(kept > 0 && kept < 200, "{kept} records kept");
}

#[test]
fn corruption_actions_repair_and_quarantine_an_encrypted_table_at_the_next_open() {
    use lightning_db::CorruptionAction;
    for action in [CorruptionAction::Repair, CorruptionAction::Quarantine] {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("db");
        let n = 2000;
        one_table(&path, n);
        let (table, mut data, blocks) = largest_table_blocks(&path);
        let (at, len) = blocks[1];
        data[at + len / 2] ^= 0x10;
        std::fs::write(&table, &data).expect("write");
        let mut c = tamper_config();
        c.security.corruption_action = action;
        {
            let db = Database::open(&path, c.clone()).expect("open");
            // The damage is met by reads; the table is marked for the next open.
            let failed = (0..n).filter(|i| db.get(&key(*i)).is_err()).count();
            assert!(failed > 0, "{action:?}: the damaged block was never read");
            db.close().expect("close");
        }
        let db = Database::open(&path, c).expect("reopen repairs");
        let lost = lost_keys(&db, n);
        match action {
            CorruptionAction::Repair => assert!(lost > 0 && lost < 200, "{lost}"),
            _ => assert!(lost > 200, "{action:?}: the whole table is out ({lost})"),
        }
        assert!(db.iter().all(|r| r.is_ok()), "{action:?}");
        db.close().expect("close");
        assert!(path.join("quarantine").exists(), "{action:?}");
        assert_no_plaintext(&path);
    }
}

/// Writes a plain-framed block (uncompressed, a valid CRC for `offset`) of `len` bytes at
/// `offset`: what someone without the key can forge, since checksums are not keyed.
fn put_plain_block(data: &mut [u8], offset: usize, len: usize) {
    let sum_pos = offset + len - 8;
    for b in &mut data[offset..sum_pos - 1] {
        *b = 0x41;
    }
    data[sum_pos - 1] = 0; // compression byte: none
    let sum = crc(&[&data[offset..sum_pos], &(offset as u64).to_le_bytes()]);
    data[sum_pos..sum_pos + 8].copy_from_slice(&sum.to_le_bytes());
}

#[test]
fn a_forged_plain_block_in_an_encrypted_table_is_tampering_not_damage() {
    use lightning_db::{CheckKind, ValidationLevel};
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("db");
    let n = 2000;
    one_table(&path, n);
    let (table, mut data, blocks) = largest_table_blocks(&path);
    let (at, len) = blocks[2];
    put_plain_block(&mut data, at, len);
    std::fs::write(&table, &data).expect("write");
    let report = validator(&path, ValidationLevel::Basic)
        .with_key(kek(1))
        .validate()
        .expect("validates");
    assert!(
        report
            .problems
            .iter()
            .any(|p| p.check == CheckKind::Authentication && p.offset == Some(at as u64)),
        "{report:?}"
    );
    // Reads refuse it as tampering, whatever the corruption action: nothing repairs it
    // behind the caller's back, and no read answers the forged bytes.
    let mut c = tamper_config();
    c.security.corruption_action = lightning_db::CorruptionAction::Repair;
    let db = Database::open(&path, c.clone()).expect("open");
    let refused = (0..n)
        .filter_map(|i| db.get(&key(i)).err())
        .inspect(|e| assert!(is_decryption_failed(e), "{e:?}"))
        .count();
    assert!(refused > 0);
    db.close().expect("close");
    drop(Database::open(&path, c).expect("reopen"));
    assert!(!path.join("quarantine").exists(), "nothing was set aside");
    expect_decryption_failed(&path, n);
}

#[test]
fn an_unsealed_log_segment_in_an_encrypted_database_is_refused() {
    use lightning_db::{CheckKind, ValidationLevel};
    let dir = tempfile::tempdir().expect("tempdir");
    let enc = dir.path().join("enc");
    let plain = dir.path().join("plain");
    let enc_log = log_only(&enc, 20, 0);
    {
        // The same operations on a plain database give a plain segment of the same name.
        let db = Database::open(&plain, {
            let mut c = tamper_config();
            c.security.enable_encryption = false;
            c.security.encryption_key = None;
            c
        })
        .expect("plain");
        for i in 0..20 {
            db.put(b"forged", &value(i, 0)).expect("put");
        }
    }
    let plain_log = plain.join(enc_log.file_name().expect("name"));
    std::fs::copy(&plain_log, &enc_log).expect("swap the log");
    match Database::open(&enc, tamper_config()) {
        Err(e) => assert!(is_decryption_failed(&e), "{e:?}"),
        Ok(_) => panic!("an unsealed log was replayed into an encrypted database"),
    }
    let report = validator(&enc, ValidationLevel::Basic)
        .with_key(kek(1))
        .validate()
        .expect("validates");
    assert!(
        report
            .problems
            .iter()
            .any(|p| p.check == CheckKind::Authentication),
        "{report:?}"
    );
}

#[test]
fn an_encrypted_database_without_its_key_file_is_never_repaired_empty() {
    use lightning_db::repair_database;
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("db");
    one_table(&path, 300);
    std::fs::remove_file(path.join("KEYS")).expect("remove KEYS");
    let before = snapshot(&path);
    let mut c = tamper_config();
    c.security.corruption_action = lightning_db::CorruptionAction::Repair;
    for config in [c, tamper_config()] {
        match Database::open(&path, config) {
            Err(DatabaseError::DataCorruption { details, .. }) => {
                assert!(details.contains("key file is missing"), "{details}")
            }
            other => panic!("expected the missing key file, got {:?}", other.err()),
        }
    }
    for config in [tamper_config(), plain_config()] {
        match repair_database(&path, &config) {
            Err(DatabaseError::DataCorruption { details, .. }) => {
                assert!(details.contains("key file is missing"), "{details}")
            }
            other => panic!("expected the missing key file, got {other:?}"),
        }
    }
    let e = validator(&path, lightning_db::ValidationLevel::Standard)
        .validate()
        .expect_err("refused");
    assert!(matches!(e, DatabaseError::DataCorruption { .. }), "{e:?}");
    assert_eq!(snapshot(&path), before, "files changed");
}

#[test]
fn an_automatic_repair_refuses_tampering_and_an_explicit_one_sets_it_aside() {
    use lightning_db::repair_database;
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("db");
    let n = 2000;
    one_table(&path, n);
    let (table, mut data, blocks) = largest_table_blocks(&path);
    // Tampering (a block moved, its checksum redone) and damage (a flipped byte) in one
    // table.
    let moved = move_a_data_block(&table, &mut data, &blocks);
    let (at, len) = *blocks.iter().find(|b| **b != moved).expect("another block");
    data[at + len / 2] ^= 0x10;
    std::fs::write(&table, &data).expect("write");
    let mut c = tamper_config();
    c.security.corruption_action = lightning_db::CorruptionAction::Repair;
    {
        let db = Database::open(&path, c.clone()).expect("open");
        // The damage is met and the table marked for repair at the next open.
        let damaged = (0..n)
            .filter_map(|i| db.get(&key(i)).err())
            .filter(|e| !is_decryption_failed(e))
            .count();
        assert!(damaged > 0);
        db.close().expect("close");
    }
    match Database::open(&path, c.clone()) {
        Err(e) => assert!(is_decryption_failed(&e), "{e:?}"),
        Ok(_) => panic!("the open repaired a tampered table by itself"),
    }
    assert!(!path.join("quarantine").exists(), "nothing was set aside");
    // The caller's own repair sets both aside and lists them.
    let rep = repair_database(&path, &tamper_config()).expect("repair");
    assert!(rep.failed.is_empty(), "{rep:?}");
    assert_eq!(rep.set_aside.len(), 2, "{rep:?}");
    let db = Database::open(&path, c).expect("reopen");
    assert!(lost_keys(&db, n) > 0);
}

#[test]
fn tampering_met_by_a_read_is_in_the_audit_log_and_nothing_acts_on_it() {
    use lightning_db::{read_audit_tail, SecurityEventType};
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("db");
    let n = 2000;
    let mut c = tamper_config();
    c.enable_audit_logging = true;
    {
        let db = Database::open(&path, c.clone()).expect("create");
        for i in 0..n {
            db.put(&key(i), &value(i, 2)).expect("put");
        }
        db.flush().expect("flush");
        db.close().expect("close");
    }
    let (table, mut data, blocks) = largest_table_blocks(&path);
    move_a_data_block(&table, &mut data, &blocks);
    c.security.corruption_action = lightning_db::CorruptionAction::Repair;
    {
        let db = Database::open(&path, c.clone()).expect("open");
        let refused = (0..n).filter(|i| db.get(&key(*i)).is_err()).count();
        assert!(refused > 0);
        db.close().expect("close");
    }
    let found: Vec<_> = read_audit_tail(path.join("audit"), 100, None)
        .expect("tail")
        .into_iter()
        .map(|(_, e)| e)
        .filter(|e| e.event_type == SecurityEventType::CorruptionDetected)
        .collect();
    assert!(!found.is_empty(), "the tampering was not audited");
    assert!(found.iter().all(|e| e
        .metadata
        .get("action")
        .is_some_and(|a| a.contains("tampering"))));
    // The corruption action did nothing: no damaged-tables mark, nothing set aside.
    assert!(!path.join("quarantine").exists());
    assert!(!path.join(lightning_db::DAMAGED_TABLES_FILE).exists());
}
