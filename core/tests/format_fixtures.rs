//! Databases written by every format version this project has had (the fixtures under
//! `tests/fixtures/formats/`, kept forever; their README says how each was made) open
//! with every pair exactly as the writing release's own reader listed it.
//!
//! Opening an older format keeps it: everything this release writes into a format 1
//! database (log segments, tables, manifest) is of format 1, so the release that wrote it
//! can still open it; `upgrade_format_on_open` opts into the newest format. A format
//! newer than this build knows is refused with `UnsupportedFormatVersion` naming both
//! versions, never as corruption.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use lightning_db::{Database, DatabaseError, DatabaseVersion, LightningDbConfig};

/// The committed fixtures: (directory under `fixtures/formats`, version).
const FIXTURES: [(&str, DatabaseVersion); 2] =
    [("v1", DatabaseVersion::V1), ("v2", DatabaseVersion::V2)];

fn fixture_dir(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/formats")
        .join(name)
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
        .collect()
}

/// A fixture's list of contents.
fn contents(name: &str) -> BTreeMap<Vec<u8>, Vec<u8>> {
    let text = std::fs::read_to_string(fixture_dir(name).join("contents.txt")).expect("list");
    text.lines()
        .map(|line| {
            let (k, v) = line.split_once(' ').expect("two fields");
            (unhex(k), unhex(v))
        })
        .collect()
}

/// A fresh copy of a fixture's database (opening writes to it).
fn copy_of(name: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    for entry in std::fs::read_dir(fixture_dir(name).join("db")).expect("fixture") {
        let entry = entry.expect("entry");
        std::fs::copy(entry.path(), dir.path().join(entry.file_name())).expect("copy");
    }
    dir
}

/// Every pair of `db`, compared with `expected` by a full scan and by point reads.
fn assert_holds(db: &Database, expected: &BTreeMap<Vec<u8>, Vec<u8>>, ctx: &str) {
    let scanned: BTreeMap<Vec<u8>, Vec<u8>> = db
        .iter()
        .map(|kv| kv.expect("scan"))
        .collect::<BTreeMap<_, _>>();
    assert_eq!(scanned.len(), expected.len(), "{ctx}: number of pairs");
    assert!(&scanned == expected, "{ctx}: scanned pairs differ");
    for (k, v) in expected {
        assert_eq!(db.get(k).expect("get").as_ref(), Some(v), "{ctx}: {k:?}");
    }
}

/// The format versions of the files in `dir`: log segment and manifest headers and
/// table footers, as (file, version). Layouts: `storage/record.rs` (a header's version
/// is the u16 at byte 4) and `storage/table/format.rs` (the footer's is the u32 at byte
/// 36 of the last 64).
fn file_versions(dir: &Path) -> Vec<(String, u32)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).expect("list") {
        let entry = entry.expect("entry");
        let name = entry.file_name().to_string_lossy().into_owned();
        let data = std::fs::read(entry.path()).expect("read");
        let version = if name.ends_with(".log") || name.starts_with("MANIFEST-") {
            u32::from(u16::from_le_bytes([data[4], data[5]]))
        } else if name.ends_with(".sst") {
            let footer = &data[data.len() - 64..];
            u32::from_le_bytes(footer[36..40].try_into().expect("4 bytes"))
        } else {
            continue;
        };
        out.push((name, version));
    }
    out.sort();
    out
}

/// Log segment versions only.
fn log_versions(dir: &Path) -> Vec<u32> {
    file_versions(dir)
        .into_iter()
        .filter(|(n, _)| n.ends_with(".log"))
        .map(|(_, v)| v)
        .collect()
}

#[test]
fn every_fixture_opens_with_every_pair() {
    for (name, version) in FIXTURES {
        let expected = contents(name);
        assert!(expected.len() > 300, "{name}: a real list");
        let dir = copy_of(name);
        let db = Database::open(dir.path(), LightningDbConfig::default()).expect("open");
        assert_eq!(db.format_version(), version, "{name}");
        assert_holds(&db, &expected, name);
        db.close().expect("close");
        // And again, from what this release left.
        let db = Database::open(dir.path(), LightningDbConfig::default()).expect("reopen");
        assert_eq!(db.format_version(), version, "{name}");
        assert_holds(&db, &expected, &format!("{name} reopened"));
        db.close().expect("close");
    }
}

#[test]
fn the_fixtures_are_the_formats_they_claim() {
    // Guards the fixtures themselves: a v1 fixture with a format 2 log would make every
    // "keeps format 1" check below vacuous.
    for (name, version) in FIXTURES {
        let files = file_versions(&fixture_dir(name).join("db"));
        assert!(
            files.iter().any(|(n, _)| n.ends_with(".log")),
            "{name}: a log"
        );
        assert!(
            files.iter().any(|(n, _)| n.ends_with(".sst")),
            "{name}: tables"
        );
        for (file, v) in &files {
            let want = if file.ends_with(".log") {
                u32::from(version.log_format_version())
            } else {
                1
            };
            assert_eq!(*v, want, "{name}: {file}");
        }
        assert!(
            !fixture_dir(name).join("db/FORMAT").exists(),
            "{name}: made before FORMAT existed"
        );
    }
}

/// Writes enough into `db` to make it write every file kind: log segments (the memtable
/// switches), tables (flushes) and manifest edits (a compaction).
fn write_more(db: &Database, expected: &mut BTreeMap<Vec<u8>, Vec<u8>>) {
    for i in 0..3000u32 {
        let k = format!("new-{i:05}").into_bytes();
        let v = format!("written by this release {i} ")
            .repeat(3)
            .into_bytes();
        db.put(&k, &v).expect("put");
        expected.insert(k, v);
    }
    db.flush().expect("flush");
    let gone = expected.keys().nth(7).cloned().expect("a key");
    db.delete(&gone).expect("delete");
    expected.remove(&gone);
    db.compact().expect("compact");
    db.put(b"last", b"left in the log").expect("put");
    expected.insert(b"last".to_vec(), b"left in the log".to_vec());
}

/// What the older release's fixture tool named by the environment variable `var` (see
/// the fixtures' README) dumps from the database in `dir`: `None` when the variable is
/// not set; a failure when that release refuses the database.
fn older_release_dump(var: &str, dir: &Path) -> Option<BTreeMap<Vec<u8>, Vec<u8>>> {
    let tool = std::env::var_os(var)?;
    let out = std::process::Command::new(&tool)
        .arg("dump")
        .arg(dir)
        .output()
        .unwrap_or_else(|e| panic!("run {}: {e}", Path::new(&tool).display()));
    assert!(
        out.status.success(),
        "the older release ({var}) refused the database: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(
        String::from_utf8(out.stdout)
            .expect("utf-8")
            .lines()
            .map(|l| {
                let (k, v) = l.split_once(' ').expect("two fields");
                (unhex(k), unhex(v))
            })
            .collect(),
    )
}

fn small_buffers() -> LightningDbConfig {
    LightningDbConfig {
        write_buffer_size: 64 * 1024,
        ..LightningDbConfig::default()
    }
}

#[test]
fn a_format_1_database_stays_format_1_until_migrated() {
    let mut expected = contents("v1");
    let dir = copy_of("v1");
    let db = Database::open(dir.path(), small_buffers()).expect("open");
    assert_eq!(db.format_version(), DatabaseVersion::V1);
    write_more(&db, &mut expected);
    // While open, too: every segment this release created is format 1 (a crash now
    // leaves what the older release reads).
    assert!(log_versions(dir.path()).iter().all(|&v| v == 1));
    db.close().expect("close");
    for (file, v) in file_versions(dir.path()) {
        assert_eq!(v, 1, "{file} was written in format {v}");
    }
    let logs = log_versions(dir.path());
    assert!(!logs.is_empty(), "the log is still there");
    // The FORMAT file records it (older releases ignore the file).
    assert_eq!(
        std::fs::read(dir.path().join("FORMAT")).expect("FORMAT")[8],
        1,
        "FORMAT records version 1"
    );
    let db = Database::open(dir.path(), LightningDbConfig::default()).expect("reopen");
    assert_eq!(db.format_version(), DatabaseVersion::V1);
    assert_holds(&db, &expected, "v1 after this release wrote to it");
    db.close().expect("close");

    // The real older reader, when the test is given it (see the fixtures' README).
    if let Some(dumped) = older_release_dump("LIGHTNING_FIXTURE_TOOL_V1", dir.path()) {
        assert!(dumped == expected, "the older release reads other pairs");
        // What it left (format 1 segments) this release still opens.
        let db = Database::open(dir.path(), LightningDbConfig::default()).expect("after it");
        assert_holds(&db, &expected, "v1 after the older release");
        db.close().expect("close");
    }
}

#[test]
fn a_format_2_database_opened_here_still_opens_with_the_previous_release() {
    // Format 2 is today's; the previous release (3e0d077, before FORMAT existed) must
    // still open what this one writes into it, FORMAT file included.
    let mut expected = contents("v2");
    let dir = copy_of("v2");
    let db = Database::open(dir.path(), small_buffers()).expect("open");
    assert_eq!(db.format_version(), DatabaseVersion::V2);
    write_more(&db, &mut expected);
    db.close().expect("close");
    for (file, v) in file_versions(dir.path()) {
        let want = if file.ends_with(".log") { 2 } else { 1 };
        assert_eq!(v, want, "{file} was written in format {v}");
    }
    assert!(dir.path().join("FORMAT").exists());
    if let Some(dumped) = older_release_dump("LIGHTNING_FIXTURE_TOOL_V2", dir.path()) {
        assert!(dumped == expected, "the previous release reads other pairs");
        let db = Database::open(dir.path(), LightningDbConfig::default()).expect("after it");
        assert_holds(&db, &expected, "v2 after the previous release");
        db.close().expect("close");
    }
}

#[test]
fn upgrade_format_on_open_moves_a_format_1_database_to_the_newest() {
    let mut expected = contents("v1");
    let dir = copy_of("v1");
    let config = LightningDbConfig {
        upgrade_format_on_open: true,
        ..small_buffers()
    };
    let db = Database::open(dir.path(), config).expect("open");
    assert_eq!(db.format_version(), DatabaseVersion::Latest);
    assert_holds(&db, &expected, "upgraded");
    write_more(&db, &mut expected);
    db.close().expect("close");
    let logs = log_versions(dir.path());
    assert!(!logs.is_empty());
    assert!(
        logs.iter()
            .all(|&v| v == u32::from(DatabaseVersion::Latest.log_format_version())),
        "{logs:?}"
    );
    assert_eq!(
        std::fs::read(dir.path().join("FORMAT")).expect("FORMAT")[8],
        2
    );
    // Opening it again without the option keeps the newer format: nothing goes back.
    let db = Database::open(dir.path(), LightningDbConfig::default()).expect("reopen");
    assert_eq!(db.format_version(), DatabaseVersion::V2);
    assert_holds(&db, &expected, "upgraded, reopened");
    db.close().expect("close");
}

#[test]
fn a_new_database_records_the_newest_format() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("db");
    let db = Database::open(&path, LightningDbConfig::default()).expect("create");
    assert_eq!(db.format_version(), DatabaseVersion::Latest);
    db.put(b"k", b"v").expect("put");
    db.close().expect("close");
    let format = std::fs::read(path.join("FORMAT")).expect("FORMAT");
    assert_eq!(format.len(), 32);
    assert_eq!(&format[..4], b"LFMT");
    assert_eq!(format[8], 2);
    assert!(log_versions(&path).iter().all(|&v| v == 2));
}

/// Sets the database format version recorded in `dir`'s FORMAT to `version`, with a
/// correct checksum (what a newer release would write).
fn write_format_version(dir: &Path, version: u32) {
    let mut rec = std::fs::read(dir.join("FORMAT")).expect("FORMAT");
    rec[8..12].copy_from_slice(&version.to_le_bytes());
    let sum = lightning_db::testing::format::checksum64(
        lightning_db::ChecksumAlgorithm::Xxh64,
        &rec[..24],
    );
    rec[24..32].copy_from_slice(&sum.to_le_bytes());
    std::fs::write(dir.join("FORMAT"), rec).expect("write");
}

#[test]
fn a_newer_format_is_refused_naming_both_versions_never_as_corruption() {
    let dir = copy_of("v2");
    Database::open(dir.path(), LightningDbConfig::default())
        .expect("open")
        .close()
        .expect("close");
    let before: Vec<(String, Vec<u8>)> = {
        // Format 3 is an encrypted database's; 4 is the first this build does not know.
        write_format_version(dir.path(), 4);
        let mut v: Vec<_> = std::fs::read_dir(dir.path())
            .expect("list")
            .map(|e| {
                let e = e.expect("entry");
                (
                    e.file_name().to_string_lossy().into_owned(),
                    std::fs::read(e.path()).expect("read"),
                )
            })
            .collect();
        v.sort();
        v
    };
    for upgrade in [false, true] {
        let config = LightningDbConfig {
            upgrade_format_on_open: upgrade,
            ..LightningDbConfig::default()
        };
        match Database::open(dir.path(), config) {
            Err(
                e @ DatabaseError::UnsupportedFormatVersion {
                    found: 4,
                    supported_max: 3,
                    ..
                },
            ) => {
                let text = e.to_string();
                assert!(text.contains('4') && text.contains('3'), "{text}");
            }
            other => panic!("upgrade {upgrade}: {other:?}"),
        }
    }
    // The offline tools refuse it too: validation would take its records for damage,
    // and repair would set them aside.
    match lightning_db::verify_database(dir.path(), lightning_db::ValidationLevel::Paranoid) {
        Err(DatabaseError::UnsupportedFormatVersion { found: 4, .. }) => {}
        other => panic!("check: {other:?}"),
    }
    match lightning_db::repair_database(dir.path(), &LightningDbConfig::default()) {
        Err(DatabaseError::UnsupportedFormatVersion { found: 4, .. }) => {}
        other => panic!("repair: {other:?}"),
    }
    // Refused before anything was written.
    let mut after: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir.path())
        .expect("list")
        .map(|e| {
            let e = e.expect("entry");
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read(e.path()).expect("read"),
            )
        })
        .collect();
    after.sort();
    assert!(after == before, "the refused open changed files");

    // A database of a newer release made without a FORMAT file: its log header says so.
    let dir = copy_of("v2");
    let log = std::fs::read_dir(dir.path())
        .expect("list")
        .map(|e| e.expect("entry").path())
        .find(|p| p.extension().is_some_and(|e| e == "log"))
        .expect("a log");
    let mut data = std::fs::read(&log).expect("read");
    data[4] = 4;
    let sum = lightning_db::testing::format::checksum64(
        lightning_db::ChecksumAlgorithm::from_id(data[6]).expect("algo"),
        &data[..16],
    );
    data[16..24].copy_from_slice(&sum.to_le_bytes());
    std::fs::write(&log, data).expect("write");
    match Database::open(dir.path(), LightningDbConfig::default()) {
        Err(DatabaseError::UnsupportedFormatVersion {
            found: 4,
            supported_max: 3,
            ..
        }) => {}
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_format_older_than_this_build_reads_asks_for_the_migration_command() {
    // No format Lightning DB has had is too old for this build (the old readers stay), so
    // the database records format 0, one older than any release wrote.
    let dir = copy_of("v2");
    Database::open(dir.path(), LightningDbConfig::default())
        .expect("open")
        .close()
        .expect("close");
    write_format_version(dir.path(), 0);
    let snapshot = |dir: &Path| {
        let mut v: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir)
            .expect("list")
            .map(|e| {
                let e = e.expect("entry");
                (
                    e.file_name().to_string_lossy().into_owned(),
                    std::fs::read(e.path()).expect("read"),
                )
            })
            .collect();
        v.sort();
        v
    };
    let before = snapshot(dir.path());
    let shown = dir.path().display().to_string();
    for upgrade in [false, true] {
        let config = LightningDbConfig {
            upgrade_format_on_open: upgrade,
            ..LightningDbConfig::default()
        };
        match Database::open(dir.path(), config) {
            Err(
                e @ DatabaseError::MigrationRequired {
                    found: 0,
                    oldest_supported: 1,
                    ..
                },
            ) => {
                assert_eq!(e.error_code(), lightning_db::codes::MIGRATION_REQUIRED);
                assert_eq!(e.code_name(), "MIGRATION_REQUIRED");
                let text = e.to_string();
                let command = format!("lightning migrate {shown} --to latest");
                assert!(
                    text.contains("migration is required") && text.contains(&command),
                    "{text}"
                );
                let action = e.suggested_action().expect("advice");
                assert!(action.contains(&command), "{action}");
            }
            other => panic!("upgrade {upgrade}: {other:?}"),
        }
    }
    assert!(
        snapshot(dir.path()) == before,
        "the refused open changed files"
    );

    // The manager says the same without opening it.
    let m = lightning_db::MigrationManager::new();
    assert!(matches!(
        m.detect_version(dir.path()),
        Err(DatabaseError::MigrationRequired { found: 0, .. })
    ));
    assert!(matches!(
        m.needs_migration(dir.path()),
        Err(DatabaseError::MigrationRequired { .. })
    ));
    match m.check_path_compatibility(dir.path()).expect("check") {
        lightning_db::CompatibilityResult::Incompatible { reason } => {
            assert!(reason.contains("lightning migrate"), "{reason}")
        }
        other => panic!("{other:?}"),
    }
    let info = m.inspect(dir.path()).expect("inspect reads it anyway");
    assert_eq!((info.format_version, info.version), (0, None));

    // A path with a space is quoted in the command.
    let parent = tempfile::tempdir().expect("tempdir");
    let spaced = parent.path().join("my db");
    std::fs::create_dir(&spaced).expect("mkdir");
    for (name, data) in &before {
        std::fs::write(spaced.join(name), data).expect("copy");
    }
    match Database::open(&spaced, LightningDbConfig::default()) {
        Err(DatabaseError::MigrationRequired { command, .. }) => assert_eq!(
            command,
            format!("lightning migrate '{}' --to latest", spaced.display())
        ),
        other => panic!("{other:?}"),
    }
}
