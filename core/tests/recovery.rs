//! Recovery and damaged files (DESIGN.md promise 2):
//!
//! * a torn tail of the newest log (cut at many offsets, or followed by garbage) is cut
//!   off at open, reported in `stats().recovery`, and never a reason to refuse opening;
//!   what survives is exactly the records before the cut;
//! * damage in the middle of the log (a good record after the bad one) is `WalCorrupted`,
//!   and the refused open leaves the log as it was;
//! * a flipped bit anywhere in a table file gives a typed error or the right data, never
//!   wrong data and never a panic;
//! * damaged metadata (missing table, bad `CURRENT`, damaged manifest) gives a typed
//!   error; a damaged last manifest record is not mistaken for a torn append when that
//!   would lose data; leftover table and temporary files are removed and reported;
//! * deletes survive flush, compaction and reopen;
//! * disk use stays bounded under an overwrite workload.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use lightning_db::{codes, Database, DatabaseError, Durability, LightningDbConfig, WriteBatch};

fn config() -> LightningDbConfig {
    LightningDbConfig {
        write_buffer_size: 64 * 1024,
        durability: Durability::NoSync,
        ..LightningDbConfig::default()
    }
}

fn files_with(dir: &Path, suffix: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("read_dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.to_string_lossy().ends_with(suffix))
        .collect();
    v.sort();
    v
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("create");
    for entry in std::fs::read_dir(from).expect("read_dir") {
        let entry = entry.expect("entry");
        std::fs::copy(entry.path(), to.join(entry.file_name())).expect("copy");
    }
}

fn contents(db: &Database) -> BTreeMap<Vec<u8>, Vec<u8>> {
    db.iter().map(|kv| kv.expect("scan")).collect()
}

const RECORDS: usize = 40;

fn wal_key(i: usize) -> Vec<u8> {
    format!("key{i:04}").into_bytes()
}

fn wal_value(i: usize) -> Vec<u8> {
    vec![(i * 7) as u8; 50]
}

/// A closed database whose only data is `RECORDS` equal-sized log records (one put each).
/// Returns the directory and the newest log's path inside it.
fn database_with_log_records(root: &Path) -> (PathBuf, PathBuf) {
    let dir = root.join("template");
    let db = Database::open(&dir, config()).expect("open");
    for i in 0..RECORDS {
        db.put(&wal_key(i), &wal_value(i)).expect("put");
    }
    db.close().expect("close");
    let log = files_with(&dir, ".log").pop().expect("a log segment");
    (dir, log)
}

/// Splits a log segment of `RECORDS` equal records into header length and record length.
fn log_layout(log: &Path) -> (usize, usize) {
    let len = std::fs::metadata(log).expect("stat").len() as usize;
    let header = lightning_db::testing::format::FILE_HEADER_LEN;
    assert_eq!((len - header) % RECORDS, 0, "equal-sized records");
    let record = (len - header) / RECORDS;
    assert!(record > 50, "a record holds at least its value");
    (header, record)
}

/// Cutting the newest log anywhere keeps exactly the whole records before the cut,
/// reports the cut bytes, and the database stays fully usable.
#[test]
fn torn_log_tail_is_cut_off_and_reported() {
    let root = tempfile::tempdir().expect("tempdir");
    let (template, log) = database_with_log_records(root.path());
    let (header, record) = log_layout(&log);
    let full = std::fs::read(&log).expect("read log");
    let log_name = log.file_name().expect("name").to_owned();

    let mut cuts: Vec<usize> = vec![0, 1, header - 1, header, header + 1, full.len() - 1];
    for r in [0, 1, RECORDS / 2, RECORDS - 1] {
        let start = header + r * record;
        cuts.extend([
            start + 1,
            start + 8,
            start + 15,
            start + 16,
            start + 17,
            start + record - 1,
        ]);
    }
    cuts.push(full.len());
    cuts.sort_unstable();
    cuts.dedup();
    for (n, &cut) in cuts.iter().enumerate() {
        let dir = root.path().join(format!("cut{n}"));
        copy_dir(&template, &dir);
        std::fs::write(dir.join(&log_name), &full[..cut]).expect("truncate");
        let db = Database::open(&dir, config())
            .unwrap_or_else(|e| panic!("cut at {cut}: a torn tail must not refuse opening: {e}"));
        let whole = cut.saturating_sub(header) / record;
        let expected: BTreeMap<Vec<u8>, Vec<u8>> =
            (0..whole).map(|i| (wal_key(i), wal_value(i))).collect();
        assert_eq!(
            contents(&db),
            expected,
            "cut at {cut}: exactly the whole records survive"
        );
        let report = db.stats().recovery;
        let torn = if cut <= header {
            0
        } else {
            (cut - header) % record
        };
        if cut > header {
            assert_eq!(
                report.torn_tail_bytes_truncated as usize, torn,
                "cut at {cut}"
            );
            assert_eq!(report.torn_tail_segment.is_some(), torn > 0, "cut at {cut}");
            assert_eq!(report.wal_records_replayed as usize, whole, "cut at {cut}");
        }
        // Usable afterwards, and what it writes next survives another reopen.
        db.put(b"after", b"cut").expect("write after recovery");
        db.close().expect("close");
        let db = Database::open(&dir, config()).expect("second reopen");
        let mut expected = expected;
        expected.insert(b"after".to_vec(), b"cut".to_vec());
        assert_eq!(
            contents(&db),
            expected,
            "cut at {cut}: after a second reopen"
        );
        assert_eq!(db.stats().recovery.torn_tail_bytes_truncated, 0);
        db.close().expect("close");
        std::fs::remove_dir_all(&dir).expect("cleanup");
    }
}

/// Garbage after the last whole record (a crash during a write, or preallocated zeros)
/// is a torn tail too.
#[test]
fn garbage_after_the_log_is_a_torn_tail() {
    let root = tempfile::tempdir().expect("tempdir");
    let (template, log) = database_with_log_records(root.path());
    let full = std::fs::read(&log).expect("read log");
    let log_name = log.file_name().expect("name").to_owned();
    let mut rng_state = 0x9E37_79B9_7F4A_7C15u64;
    let mut noise = |n: usize| -> Vec<u8> {
        (0..n)
            .map(|_| {
                rng_state ^= rng_state << 13;
                rng_state ^= rng_state >> 7;
                rng_state ^= rng_state << 17;
                rng_state as u8
            })
            .collect()
    };
    let tails: Vec<Vec<u8>> = vec![
        vec![0; 7],
        vec![0; 4096],
        vec![0xFF; 100],
        noise(1),
        noise(15),
        noise(16),
        noise(1000),
        // A record header claiming a huge payload.
        [u32::MAX.to_le_bytes().as_slice(), &[0u8; 12]].concat(),
    ];
    let all: BTreeMap<Vec<u8>, Vec<u8>> =
        (0..RECORDS).map(|i| (wal_key(i), wal_value(i))).collect();
    for (n, tail) in tails.iter().enumerate() {
        let dir = root.path().join(format!("garbage{n}"));
        copy_dir(&template, &dir);
        std::fs::write(dir.join(&log_name), [full.as_slice(), tail].concat()).expect("append");
        let db = Database::open(&dir, config())
            .unwrap_or_else(|e| panic!("tail {n}: garbage must not refuse opening: {e}"));
        assert_eq!(contents(&db), all, "tail {n}");
        let report = db.stats().recovery;
        assert_eq!(
            report.torn_tail_bytes_truncated as usize,
            tail.len(),
            "tail {n}"
        );
        assert!(report.torn_tail_segment.is_some(), "tail {n}");
        db.close().expect("close");
    }
}

/// A damaged record with a good record after it is corruption, not a torn tail: the
/// open is refused with `WalCorrupted` and the log is left untouched for repair.
#[test]
fn damage_in_the_middle_of_the_log_is_wal_corrupted() {
    let root = tempfile::tempdir().expect("tempdir");
    let (template, log) = database_with_log_records(root.path());
    let (header, record) = log_layout(&log);
    let full = std::fs::read(&log).expect("read log");
    let log_name = log.file_name().expect("name").to_owned();
    // Bytes in the length, length check, checksum and payload of early records.
    let mut offsets = Vec::new();
    for r in [0, 1, RECORDS / 2, RECORDS - 2] {
        let start = header + r * record;
        offsets.extend([
            start,
            start + 5,
            start + 10,
            start + 16,
            start + 20,
            start + record - 1,
        ]);
    }
    for (n, &offset) in offsets.iter().enumerate() {
        for bit in [0u8, 7] {
            let dir = root.path().join(format!("flip{n}-{bit}"));
            copy_dir(&template, &dir);
            let mut damaged = full.clone();
            damaged[offset] ^= 1 << bit;
            std::fs::write(dir.join(&log_name), &damaged).expect("write");
            match Database::open(&dir, config()) {
                Err(e @ DatabaseError::WalCorrupted { .. }) => {
                    assert_eq!(e.error_code(), codes::WAL_CORRUPTED);
                    assert!(e
                        .to_string()
                        .contains(&log_name.to_string_lossy().to_string()));
                }
                Err(e) => panic!("offset {offset} bit {bit}: expected WalCorrupted, got {e:?}"),
                Ok(db) => panic!(
                    "offset {offset} bit {bit}: opened with damage in the middle of the log: {:?}",
                    db.stats().recovery
                ),
            }
            let after = std::fs::read(dir.join(&log_name)).expect("the log is still there");
            assert_eq!(after, damaged, "a refused open leaves the log untouched");
            std::fs::remove_dir_all(&dir).expect("cleanup");
        }
    }
}

fn table_key(i: usize) -> Vec<u8> {
    format!("row{i:05}").into_bytes()
}

fn table_value(i: usize) -> Vec<u8> {
    let mut v = format!("value of row {i}: ").into_bytes();
    v.extend((0..(i % 50)).map(|j| (i + j) as u8));
    v
}

type ScanItem = Result<(Vec<u8>, Vec<u8>), DatabaseError>;

fn is_typed_corruption(e: &DatabaseError) -> bool {
    matches!(
        e.error_code(),
        codes::DATA_CORRUPTION
            | codes::CHECKSUM_MISMATCH
            | codes::INTEGRITY_VALIDATION_FAILED
            | codes::UNSUPPORTED_FORMAT_VERSION
    )
}

/// Flips one bit at many offsets of a table file: each time the database either refuses
/// to open with a typed corruption error, or opens and answers every read with the right
/// data or a typed corruption error.
#[test]
fn flipped_bits_in_tables_never_give_wrong_data() {
    const ROWS: usize = 1500;
    let root = tempfile::tempdir().expect("tempdir");
    for compression in [true, false] {
        let template = root.path().join(format!("template-{compression}"));
        let cfg = LightningDbConfig {
            compression_enabled: compression,
            block_size: 1024,
            ..config()
        };
        let db = Database::open(&template, cfg.clone()).expect("open");
        for i in 0..ROWS {
            db.put(&table_key(i), &table_value(i)).expect("put");
        }
        // Deleted rows must stay deleted whatever happens to the file.
        for i in (0..ROWS).step_by(10) {
            db.delete(&table_key(i)).expect("delete");
        }
        db.flush().expect("flush");
        db.close().expect("close");
        let expected: BTreeMap<Vec<u8>, Vec<u8>> = (0..ROWS)
            .filter(|i| i % 10 != 0)
            .map(|i| (table_key(i), table_value(i)))
            .collect();
        // The newest table holds the tombstones (over values in the older tables) and
        // the newest rows; the number is zero-padded, so it sorts last.
        let newest = files_with(&template, ".sst").pop().expect("a table");
        let table_name = newest.file_name().expect("name").to_owned();
        let original = std::fs::read(&newest).expect("read table");
        let len = original.len();
        // About 100 offsets spread over the file, plus every byte of the footer and of
        // the metadata blocks before it.
        let mut offsets: Vec<usize> = (0..len).step_by(len / 100 + 1).collect();
        offsets.extend(len.saturating_sub(128)..len);
        let (mut refused, mut opened, mut read_errors) = (0, 0, 0);
        for (n, &offset) in offsets.iter().enumerate() {
            let dir = root.path().join(format!("flip-{compression}-{n}"));
            copy_dir(&template, &dir);
            let mut damaged = original.clone();
            damaged[offset] ^= 1 << (n % 8);
            std::fs::write(dir.join(&table_name), &damaged).expect("write");
            let db = match Database::open(&dir, cfg.clone()) {
                Ok(db) => db,
                Err(e) => {
                    assert!(
                        is_typed_corruption(&e),
                        "offset {offset}: open failed with {e:?}"
                    );
                    refused += 1;
                    std::fs::remove_dir_all(&dir).expect("cleanup");
                    continue;
                }
            };
            opened += 1;
            // Point reads of every row, present or deleted.
            for i in 0..ROWS {
                match db.get(&table_key(i)) {
                    Ok(got) => assert_eq!(
                        got.as_ref(),
                        expected.get(&table_key(i)),
                        "offset {offset}: wrong data for row {i}"
                    ),
                    Err(e) => {
                        assert!(is_typed_corruption(&e), "offset {offset}: row {i}: {e:?}");
                        read_errors += 1;
                    }
                }
            }
            // Scans from both ends: a correct prefix, then at most one typed error.
            for reverse in [false, true] {
                let want: Vec<(Vec<u8>, Vec<u8>)> = if reverse {
                    expected
                        .iter()
                        .rev()
                        .map(|(k, v)| (k.clone(), v.clone()))
                        .collect()
                } else {
                    expected
                        .iter()
                        .map(|(k, v)| (k.clone(), v.clone()))
                        .collect()
                };
                let iter: Box<dyn Iterator<Item = ScanItem>> = if reverse {
                    Box::new(db.iter().rev())
                } else {
                    Box::new(db.iter())
                };
                let mut got = 0;
                let mut failed = false;
                for item in iter {
                    match item {
                        Ok(kv) => {
                            assert!(!failed, "offset {offset}: items after an error");
                            assert_eq!(
                                Some(&kv),
                                want.get(got),
                                "offset {offset}: wrong scan item {got} (reverse {reverse})"
                            );
                            got += 1;
                        }
                        Err(e) => {
                            assert!(is_typed_corruption(&e), "offset {offset}: scan: {e:?}");
                            failed = true;
                        }
                    }
                }
                assert!(
                    failed || got == want.len(),
                    "offset {offset}: a scan ended early without an error (reverse {reverse})"
                );
            }
            db.close().expect("close");
            std::fs::remove_dir_all(&dir).expect("cleanup");
        }
        eprintln!(
            "compression {compression}: {} flips, {refused} refused at open, {opened} opened \
             ({read_errors} reads answered with a corruption error)",
            offsets.len()
        );
        assert!(
            opened > 0 && refused > 0,
            "both outcomes occur: {opened} opened, {refused} refused"
        );
        assert!(read_errors > 0, "flips in data blocks are reported on read");
    }
}

/// A missing table, a bad `CURRENT` and a damaged manifest give typed errors; leftover
/// table and temporary files are removed at open and reported.
#[test]
fn damaged_metadata_gives_typed_errors_and_leftovers_are_removed() {
    let root = tempfile::tempdir().expect("tempdir");
    let template = root.path().join("template");
    let db = Database::open(&template, config()).expect("open");
    for i in 0..200 {
        db.put(&table_key(i), &table_value(i)).expect("put");
    }
    db.flush().expect("flush");
    db.close().expect("close");
    let table = files_with(&template, ".sst").pop().expect("a table");
    let table_name = table.file_name().expect("name").to_owned();

    let dir = root.path().join("missing");
    copy_dir(&template, &dir);
    std::fs::remove_file(dir.join(&table_name)).expect("remove");
    let e = Database::open(&dir, config()).expect_err("missing table");
    assert_eq!(e.error_code(), codes::TABLE_FILE_MISSING, "{e:?}");

    let dir = root.path().join("current");
    copy_dir(&template, &dir);
    std::fs::write(dir.join("CURRENT"), b"garbage\n").expect("write");
    let e = Database::open(&dir, config()).expect_err("bad CURRENT");
    assert_eq!(e.error_code(), codes::CURRENT_FILE_INVALID, "{e:?}");

    let dir = root.path().join("manifest");
    copy_dir(&template, &dir);
    let manifest = files_with(&dir, "")
        .into_iter()
        .find(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("MANIFEST-"))
        })
        .expect("a manifest");
    let mut bytes = std::fs::read(&manifest).expect("read");
    // Inside the first record (the snapshot), with the flush's edit after it.
    bytes[lightning_db::testing::format::FILE_HEADER_LEN + 20] ^= 0x40;
    std::fs::write(&manifest, &bytes).expect("write");
    let e = Database::open(&dir, config()).expect_err("damaged manifest");
    assert_eq!(e.error_code(), codes::MANIFEST_CORRUPTED, "{e:?}");

    let dir = root.path().join("leftovers");
    copy_dir(&template, &dir);
    std::fs::copy(&table, dir.join("999990.sst")).expect("orphan table");
    std::fs::write(dir.join("999991.sst.tmp"), b"half a table").expect("temp file");
    let db = Database::open(&dir, config()).expect("leftovers do not prevent opening");
    assert_eq!(db.stats().recovery.orphan_tables_removed, 1);
    assert!(!dir.join("999990.sst").exists());
    assert!(!dir.join("999991.sst.tmp").exists());
    assert_eq!(db.iter().count(), 200);
}

fn flip_in_last_manifest_record(dir: &Path) {
    let manifest = files_with(dir, "")
        .into_iter()
        .find(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("MANIFEST-"))
        })
        .expect("a manifest");
    let mut bytes = std::fs::read(&manifest).expect("read");
    let last = bytes.len() - 3;
    bytes[last] ^= 0x10;
    std::fs::write(&manifest, &bytes).expect("write");
}

/// A bit flip in the manifest's last record (a flush's edit, synced long ago) must not be
/// taken for a torn append: the logs that edit retired are gone, so dropping it would
/// lose the flushed data and delete its table as an orphan. The open is refused instead,
/// and the table is kept for repair.
#[test]
fn damaged_last_manifest_edit_of_a_flush_is_not_dropped() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Database::open(dir.path(), config()).expect("open");
    for i in 0..200 {
        db.put(&table_key(i), &table_value(i)).expect("put");
    }
    db.flush().expect("flush");
    db.close().expect("close");
    let tables = files_with(dir.path(), ".sst");
    assert_eq!(tables.len(), 1);
    flip_in_last_manifest_record(dir.path());
    match Database::open(dir.path(), config()) {
        Err(e) => assert_eq!(e.error_code(), codes::MANIFEST_CORRUPTED, "{e:?}"),
        Ok(db) => panic!(
            "opened with {} of 200 rows after a manifest bit flip: {:?}",
            db.iter().count(),
            db.stats().recovery
        ),
    }
    assert!(tables[0].exists(), "the flushed table is kept");
}

/// The same for a batch ingested as a table: the log records written after it reveal the
/// missing sequence numbers.
#[test]
fn damaged_last_manifest_edit_of_an_ingested_batch_is_not_dropped() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Database::open(dir.path(), config()).expect("open");
    let mut batch = WriteBatch::new();
    for i in 0..1000 {
        batch.put(&table_key(i), &[9u8; 100]).expect("put");
    }
    db.write_batch(&batch).expect("ingested batch");
    assert_eq!(db.stats().ingested_batches, 1);
    db.put(b"after", b"the batch").expect("put");
    db.close().expect("close");
    flip_in_last_manifest_record(dir.path());
    match Database::open(dir.path(), config()) {
        Err(e) => assert_eq!(e.error_code(), codes::SEQUENCE_GAP, "{e:?}"),
        Ok(db) => panic!(
            "opened with {} of 1001 rows after a manifest bit flip",
            db.iter().count()
        ),
    }
    assert_eq!(
        files_with(dir.path(), ".sst").len(),
        1,
        "the ingested table is kept"
    );
}

/// Deleted keys stay deleted through flush, compaction and reopen, including when the
/// tombstone sits above the value in another file, and a later put brings a key back.
#[test]
fn deletes_survive_flush_compaction_and_reopen() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut db = Database::open(dir.path(), config()).expect("open");
    let mut model: BTreeMap<Vec<u8>, Vec<u8>> = BTreeMap::new();
    for i in 0..1000 {
        db.put(&table_key(i), &table_value(i)).expect("put");
        model.insert(table_key(i), table_value(i));
    }
    db.flush().expect("flush");
    let check = |db: &Database, model: &BTreeMap<Vec<u8>, Vec<u8>>, when: &str| {
        assert_eq!(&contents(db), model, "{when}");
        let reversed: Vec<_> = db.iter().rev().map(|kv| kv.expect("scan")).collect();
        assert!(
            reversed.iter().rev().eq(model
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect::<Vec<_>>()
                .iter()),
            "{when}: reverse"
        );
        for i in (0..1000).step_by(7) {
            assert_eq!(
                db.get(&table_key(i)).expect("get").as_ref(),
                model.get(&table_key(i)),
                "{when}: {i}"
            );
        }
    };
    let steps: [(&str, usize); 4] = [
        ("memtable", 2),
        ("flushed", 3),
        ("compacted", 5),
        ("reopened", 11),
    ];
    for (when, step) in steps {
        // Tombstones over values that are in tables by now.
        for i in (0..1000).step_by(step) {
            assert_eq!(
                db.delete(&table_key(i)).expect("delete"),
                model.remove(&table_key(i)).is_some()
            );
        }
        match when {
            "flushed" => db.flush().expect("flush"),
            "compacted" => db.compact().expect("compact"),
            "reopened" => {
                db.close().expect("close");
                db = Database::open(dir.path(), config()).expect("reopen");
            }
            _ => {}
        }
        check(&db, &model, when);
    }
    db.compact().expect("compact");
    check(&db, &model, "final compaction");
    let stats = db.stats();
    assert_eq!(
        stats.levels.iter().map(|l| l.tombstones).sum::<u64>(),
        0,
        "tombstones at the bottom are dropped"
    );
    assert_eq!(stats.estimated_entries as usize, model.len());
    // A deleted key can come back.
    db.put(&table_key(0), b"back").expect("put");
    model.insert(table_key(0), b"back".to_vec());
    db.close().expect("close");
    let db = Database::open(dir.path(), config()).expect("reopen");
    check(&db, &model, "after the last reopen");
}

fn dir_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .expect("read_dir")
        .map(|e| e.expect("entry").metadata().expect("stat").len())
        .sum()
}

/// Writing the same 1,000 keys 50 times (puts and large batches, with flushes) keeps
/// the tables within a small multiple of the live data once compacted, and files that
/// compaction replaced are removed from the directory.
#[test]
fn disk_use_stays_bounded_under_overwrites() {
    const KEYS: usize = 1000;
    const ROUNDS: usize = 50;
    const VALUE: usize = 100;
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Database::open(dir.path(), config()).expect("open");
    let value = |round: usize, i: usize| -> Vec<u8> {
        // Incompressible, so compression cannot hide retained versions.
        let mut x = (round * KEYS + i) as u64 | 1;
        (0..VALUE)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect()
    };
    let live = (KEYS * (table_key(0).len() + VALUE)) as u64;
    for round in 0..ROUNDS {
        if round % 2 == 0 {
            for i in 0..KEYS {
                db.put(&table_key(i), &value(round, i)).expect("put");
            }
        } else {
            // About 100 KiB: large enough to be written as a table directly.
            let mut batch = WriteBatch::new();
            for i in 0..KEYS {
                batch.put(&table_key(i), &value(round, i)).expect("put");
            }
            db.write_batch(&batch).expect("write_batch");
        }
        db.flush().expect("flush");
        let stats = db.stats();
        // Background compaction keeps level 0 in check: far below the 50 versions.
        assert!(
            stats.table_bytes < 25 * live,
            "round {round}: {} table bytes for {live} live bytes",
            stats.table_bytes
        );
    }
    db.compact().expect("compact");
    let stats = db.stats();
    assert!(
        stats.table_bytes <= 3 * live,
        "after compaction: {} table bytes for {live} live bytes",
        stats.table_bytes
    );
    assert_eq!(
        stats.estimated_entries as usize, KEYS,
        "one version per key is left"
    );
    // Replaced files are gone from the directory, not only from the manifest.
    let sst_on_disk: u64 = files_with(dir.path(), ".sst")
        .iter()
        .map(|p| std::fs::metadata(p).expect("stat").len())
        .sum();
    assert_eq!(
        sst_on_disk, stats.table_bytes,
        "obsolete tables were removed"
    );
    assert!(
        files_with(dir.path(), ".log").len() <= 2,
        "flushed logs were removed"
    );
    assert!(
        dir_bytes(dir.path()) <= 4 * live,
        "the whole directory: {}",
        dir_bytes(dir.path())
    );
    for i in (0..KEYS).step_by(37) {
        assert_eq!(
            db.get(&table_key(i)).expect("get"),
            Some(value(ROUNDS - 1, i))
        );
    }
    db.close().expect("close");
    let db = Database::open(dir.path(), config()).expect("reopen");
    assert_eq!(db.iter().count(), KEYS);
}

/// Deletes and overwrites on top of data that background compaction has moved below
/// level 1 (tombstones must be kept while a deeper level holds the key), with a snapshot
/// that must keep seeing the old values, through reopen and a final full compaction.
#[test]
fn deletes_and_overwrites_over_deeper_levels() {
    const KEYS: usize = 24_000;
    let dir = tempfile::tempdir().expect("tempdir");
    let mut db = Database::open(dir.path(), config()).expect("open");
    let key = |i: usize| format!("deep{i:08}").into_bytes();
    let value = |i: usize, round: u64| -> Vec<u8> {
        let mut x = (i as u64 + 1) * 0x9E37_79B9 + round;
        (0..400)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect()
    };
    // About 10 MiB of incompressible values in key order: level 1 (8 MiB) overflows.
    let mut model: BTreeMap<Vec<u8>, Vec<u8>> = BTreeMap::new();
    for i in 0..KEYS {
        db.put(&key(i), &value(i, 0)).expect("put");
        model.insert(key(i), value(i, 0));
    }
    db.flush().expect("flush");
    // Background compaction moves a level-1 file down; wait for it (a liveness check
    // with a generous deadline, not a timing assertion).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while db.stats().levels.iter().skip(2).all(|l| l.files == 0) {
        assert!(
            std::time::Instant::now() < deadline,
            "nothing reached level 2: {:?}",
            db.stats().levels
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let snap = db.snapshot();
    let old = model.clone();
    for i in (0..KEYS).step_by(3) {
        db.delete(&key(i)).expect("delete");
        model.remove(&key(i));
    }
    for i in (1..KEYS).step_by(5) {
        db.put(&key(i), &value(i, 1)).expect("put");
        model.insert(key(i), value(i, 1));
    }
    db.flush().expect("flush");
    let check = |db: &Database, when: &str| {
        let mut it = db.iter();
        for (k, v) in &model {
            let (gk, gv) = it.next().expect("an item").expect("scan");
            assert!(
                gk == *k && gv == *v,
                "{when}: scan differs at {}",
                String::from_utf8_lossy(k)
            );
        }
        assert!(it.next().is_none(), "{when}: extra items");
        for i in (0..KEYS).step_by(101) {
            assert_eq!(
                db.get(&key(i)).expect("get").as_ref(),
                model.get(&key(i)),
                "{when}: {i}"
            );
        }
    };
    check(&db, "after the deletes");
    for i in (0..KEYS).step_by(97) {
        assert_eq!(
            snap.get(&key(i)).expect("get").as_ref(),
            old.get(&key(i)),
            "snapshot: {i}"
        );
    }
    drop(snap);
    db.close().expect("close");
    db = Database::open(dir.path(), config()).expect("reopen");
    check(&db, "after reopen");
    db.compact().expect("compact");
    check(&db, "after full compaction");
    let stats = db.stats();
    assert_eq!(stats.levels.iter().map(|l| l.tombstones).sum::<u64>(), 0);
    assert_eq!(stats.estimated_entries as usize, model.len());
}
