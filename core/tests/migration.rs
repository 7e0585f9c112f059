//! Format migration (`MigrationManager`): every fixture migrates to the newest format and
//! back with every pair intact; checksum and compression of existing files change; a
//! failed step rolls back to the exact old files; a power cut at every file operation of
//! a migration leaves a database that opens with all its data, in the old format or the
//! new one, never a mix.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use lightning_db::testing::{FaultPlan, SimFileSystem};
use lightning_db::{
    ChecksumAlgorithm, CompatibilityResult, Database, DatabaseVersion, LightningDbConfig,
    MigrationError, MigrationManager, MigrationPhase, MigrationStep,
};

const FIXTURES: [(&str, DatabaseVersion); 2] =
    [("v1", DatabaseVersion::V1), ("v2", DatabaseVersion::V2)];
const SIM_DB: &str = "/sim/db";

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

fn contents(name: &str) -> BTreeMap<Vec<u8>, Vec<u8>> {
    std::fs::read_to_string(fixture_dir(name).join("contents.txt"))
        .expect("list")
        .lines()
        .map(|l| {
            let (k, v) = l.split_once(' ').expect("two fields");
            (unhex(k), unhex(v))
        })
        .collect()
}

fn fixture_files(name: &str) -> Vec<(String, Vec<u8>)> {
    let mut v: Vec<(String, Vec<u8>)> = std::fs::read_dir(fixture_dir(name).join("db"))
        .expect("fixture")
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
}

fn copy_of(name: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    for (n, data) in fixture_files(name) {
        std::fs::write(dir.path().join(n), data).expect("copy");
    }
    dir
}

fn holds(db: &Database, expected: &BTreeMap<Vec<u8>, Vec<u8>>) -> bool {
    let scanned: Result<BTreeMap<Vec<u8>, Vec<u8>>, _> = db.iter().collect();
    match scanned {
        Ok(s) => {
            &s == expected
                && expected
                    .iter()
                    .all(|(k, v)| db.get(k).ok().flatten().as_ref() == Some(v))
        }
        Err(_) => false,
    }
}

fn log_versions(dir: &Path) -> Vec<u16> {
    let mut v: Vec<(String, u16)> = std::fs::read_dir(dir)
        .expect("list")
        .filter_map(|e| {
            let e = e.expect("entry");
            let name = e.file_name().to_string_lossy().into_owned();
            name.ends_with(".log").then(|| {
                let d = std::fs::read(e.path()).expect("read");
                (name, u16::from_le_bytes([d[4], d[5]]))
            })
        })
        .collect();
    v.sort();
    v.into_iter().map(|(_, v)| v).collect()
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

#[test]
fn every_fixture_migrates_to_the_newest_and_back_with_every_pair() {
    for (name, version) in FIXTURES {
        let expected = contents(name);
        let dir = copy_of(name);
        let m = MigrationManager::new();
        assert_eq!(m.detect_version(dir.path()).expect("detect"), version);
        let to_latest = m
            .create_migration_plan_for(dir.path(), DatabaseVersion::Latest)
            .expect("plan");
        let r = m.execute_migration_blocking(to_latest).expect("to latest");
        assert_eq!(r.to, DatabaseVersion::Latest, "{name}");
        // The report the C API and the bindings hand out.
        let report: serde_json::Value = serde_json::from_str(&r.to_json()).expect("JSON");
        assert_eq!(report["from"], version.number(), "{name}");
        assert_eq!(report["to"], DatabaseVersion::Latest.number(), "{name}");
        assert_eq!(report["bytes_rewritten"], r.bytes_rewritten, "{name}");
        assert_eq!(report["path"], dir.path().display().to_string());
        assert!(report["backup_dir"].is_null() && report["warnings"].is_array());
        let steps = report["steps"].as_array().expect("steps");
        assert_eq!(steps.len(), r.steps.len(), "{name}");
        for (s, step) in steps.iter().zip(&r.steps) {
            assert_eq!(s["step"], step.step.to_string());
            assert_eq!(s["tables_written"], step.tables_written);
            assert!(s["seconds"].as_f64().is_some_and(|t| t >= 0.0));
        }
        // The log went into a table; no segment is left until the database opens (a
        // database already at the newest format has nothing to do).
        assert_eq!(
            r.steps.is_empty(),
            version == DatabaseVersion::Latest,
            "{name}"
        );
        assert_eq!(
            log_versions(dir.path()).is_empty(),
            !r.steps.is_empty(),
            "{name}"
        );
        let db = Database::open(dir.path(), LightningDbConfig::default()).expect("open");
        assert_eq!(db.format_version(), DatabaseVersion::Latest, "{name}");
        assert!(
            holds(&db, &expected),
            "{name}: after migrating to the newest"
        );
        db.put(b"after", b"migration").expect("put");
        db.close().expect("close");
        let mut expected = expected;
        expected.insert(b"after".to_vec(), b"migration".to_vec());
        // The release before FORMAT existed (format 2) reads the migrated database.
        if let Some(dumped) = older_release_dump("LIGHTNING_FIXTURE_TOOL_V2", dir.path()) {
            assert!(
                dumped == expected,
                "{name}: the format 2 release reads other pairs"
            );
        }

        // Back to format 1, which the first release reads.
        let back = m
            .create_migration_plan_for(dir.path(), DatabaseVersion::V1)
            .expect("plan");
        assert_eq!(
            back.steps().len(),
            usize::from(DatabaseVersion::Latest != DatabaseVersion::V1)
        );
        m.execute_migration_blocking(back).expect("to v1");
        let db = Database::open(dir.path(), LightningDbConfig::default()).expect("open v1");
        assert_eq!(db.format_version(), DatabaseVersion::V1, "{name}");
        assert!(holds(&db, &expected), "{name}: after migrating back");
        db.close().expect("close");
        assert!(log_versions(dir.path()).iter().all(|&v| v == 1), "{name}");

        if let Some(dumped) = older_release_dump("LIGHTNING_FIXTURE_TOOL_V1", dir.path()) {
            assert!(
                dumped == expected,
                "{name}: the format 1 release reads other pairs"
            );
        }
    }
}

#[test]
fn checksum_and_compression_of_existing_files_change() {
    let dir = copy_of("v2");
    let expected = contents("v2");
    let m = MigrationManager::new();
    let before = m.inspect(dir.path()).expect("inspect");
    assert_eq!(before.compression(), "on");
    assert!(before.checksum_algorithms().contains("Xxh64"));
    let seen = Arc::new(Mutex::new(Vec::new()));
    let heard = Arc::clone(&seen);
    let m = m.on_progress(move |p| heard.lock().expect("lock").push(p.clone()));
    let plan = m
        .create_migration_plan_for(dir.path(), DatabaseVersion::V2)
        .expect("plan")
        .with_checksum(ChecksumAlgorithm::Blake3)
        .with_compression(false);
    assert_eq!(plan.steps().len(), 2);
    assert!(m.estimate_migration_bytes(&plan) > 0);
    assert!(m.estimate_migration_time(&plan) > std::time::Duration::ZERO);
    m.validate_migration_safety(&plan).expect("safe");
    let r = m.execute_migration_blocking(plan).expect("migrate");
    assert_eq!(r.steps.len(), 2);
    assert!(r.steps.iter().all(|s| s.tables_written > 0));
    let info = m.inspect(dir.path()).expect("inspect");
    assert_eq!(
        info.checksum_algorithms().into_iter().collect::<Vec<_>>(),
        vec!["Blake3".to_string()]
    );
    assert_eq!(info.compression(), "off");
    assert!(info
        .levels
        .iter()
        .flatten()
        .all(|t| t.compressed_blocks == 0));
    let progress = seen.lock().expect("lock").clone();
    assert!(progress
        .iter()
        .any(|p| p.phase == MigrationPhase::Rewriting && p.bytes_done > 0));
    assert!(progress
        .iter()
        .any(|p| p.phase == MigrationPhase::Switching));
    assert_eq!(
        progress
            .iter()
            .filter(|p| p.phase == MigrationPhase::Done)
            .count(),
        2
    );
    let db = Database::open(dir.path(), LightningDbConfig::default()).expect("open");
    assert!(holds(&db, &expected));
    db.close().expect("close");

    // And compression back on.
    let plan = m
        .create_migration_plan_for(dir.path(), DatabaseVersion::V2)
        .expect("plan")
        .with_compression(true);
    m.execute_migration_blocking(plan).expect("migrate");
    assert_eq!(m.inspect(dir.path()).expect("inspect").compression(), "on");
    let db = Database::open(dir.path(), LightningDbConfig::default()).expect("open");
    assert!(holds(&db, &expected));
    db.close().expect("close");
}

#[test]
fn compatibility_and_planning_answer_as_the_reference_names() {
    let m = MigrationManager::new();
    assert_eq!(
        m.check_compatibility(DatabaseVersion::V2, DatabaseVersion::Latest),
        CompatibilityResult::FullyCompatible
    );
    match m.check_compatibility(DatabaseVersion::V1, DatabaseVersion::V2) {
        CompatibilityResult::BackwardCompatible { warnings } => {
            assert!(warnings.iter().any(|w| w.contains("lightning migrate")))
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        m.check_compatibility(DatabaseVersion::V2, DatabaseVersion::V1),
        CompatibilityResult::RequiresMigration {
            steps: vec![MigrationStep::ChangeFormat {
                from: DatabaseVersion::V2,
                to: DatabaseVersion::V1
            }]
        }
    );
    assert!(m
        .list_required_migrations(DatabaseVersion::Latest, DatabaseVersion::V2)
        .is_empty());
    // A newer format than this release knows.
    let dir = copy_of("v2");
    let mut rec = Vec::new();
    rec.extend_from_slice(b"LFMT");
    rec.extend_from_slice(&1u16.to_le_bytes());
    rec.push(ChecksumAlgorithm::Xxh64.id());
    rec.push(0);
    rec.extend_from_slice(&7u32.to_le_bytes());
    rec.extend_from_slice(&[0; 12]);
    let sum = lightning_db::testing::format::checksum64(ChecksumAlgorithm::Xxh64, &rec);
    rec.extend_from_slice(&sum.to_le_bytes());
    std::fs::write(dir.path().join("FORMAT"), rec).expect("write");
    assert!(matches!(
        m.check_path_compatibility(dir.path()).expect("check"),
        CompatibilityResult::Incompatible { .. }
    ));
    assert!(matches!(
        m.detect_version(dir.path()),
        Err(lightning_db::DatabaseError::UnsupportedFormatVersion { found: 7, .. })
    ));

    // A plan made from versions alone, before any detection, names no database.
    let fresh = MigrationManager::new();
    let plan = fresh
        .create_migration_plan(DatabaseVersion::V1, DatabaseVersion::V2)
        .expect("plan");
    assert!(matches!(
        fresh.execute_migration_blocking(plan.clone()),
        Err(MigrationError::NoDatabasePath)
    ));
    // A plan from the wrong format is refused before anything changes.
    let v2 = copy_of("v2");
    assert!(matches!(
        fresh.execute_migration_blocking(plan.with_path(v2.path())),
        Err(MigrationError::VersionMismatch { .. })
    ));
}

#[test]
fn the_safety_check_refuses_an_open_database_and_a_full_disk() {
    let dir = copy_of("v1");
    let m = MigrationManager::new();
    let plan = m
        .create_migration_plan_for(dir.path(), DatabaseVersion::Latest)
        .expect("plan");
    let db = Database::open(dir.path(), LightningDbConfig::default()).expect("open");
    let err = m
        .validate_migration_safety(&plan)
        .expect_err("open elsewhere");
    assert!(
        matches!(err, MigrationError::DatabaseInUse { .. }),
        "{err:?}"
    );
    assert_eq!(err.error_code(), lightning_db::codes::DATABASE_LOCKED);
    assert!(m.execute_migration_blocking(plan.clone()).is_err());
    db.close().expect("close");
    m.validate_migration_safety(&plan).expect("closed now");

    let sim = sim_with("v1");
    let m = MigrationManager::with_fs(sim.handle());
    let plan = m
        .create_migration_plan_for(SIM_DB, DatabaseVersion::Latest)
        .expect("plan");
    sim.set_space_limit(Some(sim.used_bytes() + 1024));
    let err = m
        .execute_migration_blocking(plan.clone())
        .expect_err("full");
    assert!(
        matches!(err, MigrationError::InsufficientDiskSpace { .. }),
        "{err:?}"
    );
    assert_eq!(
        err.error_code(),
        lightning_db::codes::INSUFFICIENT_RESOURCES
    );
    sim.set_space_limit(None);
    m.execute_migration_blocking(plan).expect("room now");
}

/// A simulated disk holding fixture `name` at [`SIM_DB`], durably.
fn sim_with(name: &str) -> SimFileSystem {
    let sim = SimFileSystem::new();
    sim.handle()
        .create_dir_all(Path::new(SIM_DB))
        .expect("mkdir");
    for (n, data) in fixture_files(name) {
        sim.write_file(Path::new(SIM_DB).join(n), &data)
            .expect("write");
    }
    sim
}

fn sim_files(sim: &SimFileSystem) -> Vec<(String, Vec<u8>)> {
    let mut v: Vec<(String, Vec<u8>)> = sim
        .list(SIM_DB)
        .into_iter()
        .filter(|n| n != "LOCK")
        .map(|n| {
            let data = sim.read_file(Path::new(SIM_DB).join(&n)).expect("read");
            (n, data)
        })
        .collect();
    v.sort();
    v
}

/// File operations a full migration of fixture `name` to `to` takes.
fn ops_of_migration(name: &str, to: DatabaseVersion, checksum: bool) -> u64 {
    let sim = sim_with(name);
    let m = MigrationManager::with_fs(sim.handle());
    let mut plan = m.create_migration_plan_for(SIM_DB, to).expect("plan");
    if checksum {
        plan = plan.with_checksum(ChecksumAlgorithm::Crc32);
    }
    let before = sim.op_count();
    m.execute_migration_blocking(plan).expect("migrate");
    sim.op_count() - before
}

#[test]
fn a_failed_step_rolls_back_to_the_exact_old_files() {
    for (name, to, checksum) in [
        ("v1", DatabaseVersion::Latest, false),
        ("v2", DatabaseVersion::V1, false),
        ("v2", DatabaseVersion::V2, true),
    ] {
        let ops = ops_of_migration(name, to, checksum);
        assert!(ops > 10, "{name}: {ops} operations");
        let expected = contents(name);
        let mut rolled_back = 0;
        for k in 1..=ops {
            let sim = sim_with(name);
            let original = sim_files(&sim);
            let m = MigrationManager::with_fs(sim.handle());
            let mut plan = m.create_migration_plan_for(SIM_DB, to).expect("plan");
            if checksum {
                plan = plan.with_checksum(ChecksumAlgorithm::Crc32);
            }
            sim.set_fault(Some(FaultPlan::once(k)));
            let ctx = format!("{name} -> {to} checksum {checksum}, fault at op {k}");
            match m.execute_migration_blocking(plan) {
                Ok(r) => {
                    // The fault hit after the switch (removing a replaced file): done,
                    // with a warning, or it hit nothing that matters.
                    let _ = r.warnings;
                }
                Err(MigrationError::RollbackFailed { .. }) => {
                    panic!("{ctx}: one fault cannot fail both the step and its rollback")
                }
                Err(e) => {
                    assert!(e.database_unchanged(), "{ctx}: {e}");
                    assert!(
                        sim_files(&sim) == original,
                        "{ctx}: {e}: files differ after the rollback: {:?} against {:?}",
                        sim.list(SIM_DB),
                        original.iter().map(|(n, _)| n).collect::<Vec<_>>()
                    );
                    rolled_back += usize::from(matches!(e, MigrationError::StepFailed { .. }));
                }
            }
            sim.set_fault(None);
            let db = Database::open_with_fs(SIM_DB, LightningDbConfig::default(), sim.handle())
                .unwrap_or_else(|e| panic!("{ctx}: open after: {e}"));
            assert!(holds(&db, &expected), "{ctx}: contents");
            db.close().expect("close");
        }
        assert!(
            rolled_back > 5,
            "{name}: the faults reached the steps ({rolled_back})"
        );
    }
}

#[test]
fn a_power_cut_at_every_operation_leaves_the_old_or_the_new_database() {
    for (name, to, checksum) in [
        ("v1", DatabaseVersion::Latest, false),
        ("v2", DatabaseVersion::V1, false),
        ("v2", DatabaseVersion::V2, true),
    ] {
        let from = FIXTURES.iter().find(|f| f.0 == name).expect("fixture").1;
        let ops = ops_of_migration(name, to, checksum);
        let expected = contents(name);
        let (mut old, mut new) = (0, 0);
        for k in 1..=ops + 1 {
            let sim = sim_with(name);
            let m = MigrationManager::with_fs(sim.handle());
            let mut plan = m.create_migration_plan_for(SIM_DB, to).expect("plan");
            if checksum {
                plan = plan.with_checksum(ChecksumAlgorithm::Crc32);
            }
            sim.schedule_power_cut(k, k, Default::default());
            let _ = m.execute_migration_blocking(plan);
            if sim.last_power_cut().is_none() {
                sim.power_cut(k);
            }
            let ctx = format!("{name} -> {to}, power cut at op {k} of {ops}");
            let fresh = MigrationManager::with_fs(sim.handle());
            let info_before_open = fresh
                .inspect(SIM_DB)
                .unwrap_or_else(|e| panic!("{ctx}: {e}"));
            let db = Database::open_with_fs(SIM_DB, LightningDbConfig::default(), sim.handle())
                .unwrap_or_else(|e| panic!("{ctx}: open after the cut: {e}"));
            assert!(holds(&db, &expected), "{ctx}: contents");
            let version = db.format_version();
            db.close().expect("close");
            let info = fresh.inspect(SIM_DB).expect("inspect");
            // Old or new, never a mix: every file is of the one format, and a checksum
            // step rewrites all tables or none. (The manifest and log the open wrote
            // use the configured algorithm, as every new file does.)
            let algos: std::collections::BTreeSet<String> = info
                .levels
                .iter()
                .flatten()
                .map(|t| format!("{:?}", t.checksum))
                .collect();
            let is_new = if checksum {
                assert_eq!(algos.len(), 1, "{ctx}: {algos:?} ({info_before_open:?})");
                algos.contains("Crc32")
            } else {
                version == to
            };
            if !checksum {
                assert!(version == from || version == to, "{ctx}: {version}");
            }
            let want_log = u32::from(version.log_format_version());
            assert!(
                info.logs.iter().all(|l| l.format_version == want_log),
                "{ctx}: {:?}",
                info.logs
            );
            if is_new {
                new += 1;
            } else {
                old += 1;
            }
        }
        assert!(
            old > 0 && new > 0,
            "{name}: both outcomes seen ({old} old, {new} new)"
        );
    }
}
