//! The API reference's "Migration and Compatibility API" as written there
//! (`/work/shared/SPEC-api-reference.md`, "Version Migration" and "Compatibility
//! Checking"), compiled and run on a copy of the format 1 fixture.
//!
//! `reference_example` is the reference's example token for token, inside an async
//! function returning `Result<(), Box<dyn Error>>` (the reference's `?` needs one), with
//! `"/path/to/db"` replaced by the function's `path`. What it relies on that the
//! reference leaves open is in the README's list of deviations: the plan made by
//! `create_migration_plan(from, to)` runs on the database of the manager's last
//! `detect_version`, and `execute_migration` is a future that needs no particular
//! runtime (tokio here, as the reference's examples use).

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use lightning_db::{
    CompatibilityResult, Database, LightningDbConfig, MigrationError, MigrationStep,
};
// The reference's import line, as written.
use lightning_db::{DatabaseVersion, MigrationManager, MigrationPlan};

async fn reference_example(path: &str) -> Result<(), Box<dyn std::error::Error>> {
    let migration_manager = MigrationManager::new();

    // Check if migration is needed
    if migration_manager.needs_migration(path)? {
        let current_version = migration_manager.detect_version(path)?;
        let target_version = DatabaseVersion::Latest;

        // Create migration plan
        let plan = migration_manager.create_migration_plan(current_version, target_version)?;

        // Execute migration with rollback capability
        match migration_manager.execute_migration(plan).await {
            Ok(result) => println!("Migration successful: {:?}", result),
            Err(e) => {
                println!("Migration failed: {}", e);
                // Automatic rollback is performed
            }
        }
    }
    Ok(())
}

fn fixture_dir() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/formats/v1")
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
        .collect()
}

fn contents() -> BTreeMap<Vec<u8>, Vec<u8>> {
    std::fs::read_to_string(fixture_dir().join("contents.txt"))
        .expect("list")
        .lines()
        .map(|l| {
            let (k, v) = l.split_once(' ').expect("two fields");
            (unhex(k), unhex(v))
        })
        .collect()
}

fn files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut v: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir)
        .expect("list")
        .map(|e| {
            let e = e.expect("entry");
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read(e.path()).expect("read"),
            )
        })
        .filter(|(n, _)| n != "LOCK")
        .collect();
    v.sort();
    v
}

/// A copy of the format 1 fixture (written by the release before log format 2).
fn old_database() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    for (name, data) in files(&fixture_dir().join("db")) {
        std::fs::write(dir.path().join(name), data).expect("copy");
    }
    dir
}

fn scan(db: &Database) -> BTreeMap<Vec<u8>, Vec<u8>> {
    db.iter().map(|kv| kv.expect("scan")).collect()
}

#[tokio::test]
async fn the_reference_example_migrates_a_database_in_the_old_format() {
    let dir = old_database();
    let path = dir.path().to_str().expect("utf-8 path");
    assert_eq!(
        MigrationManager::new()
            .detect_version(path)
            .expect("detect"),
        DatabaseVersion::V1
    );

    reference_example(path).await.expect("the example");

    let db = Database::open(path, LightningDbConfig::default()).expect("open");
    assert_eq!(db.format_version(), DatabaseVersion::Latest);
    assert!(scan(&db) == contents(), "every pair after the migration");
    db.close().expect("close");
    // Run again: nothing left to migrate, nothing changed.
    let before = files(dir.path());
    reference_example(path).await.expect("the example again");
    assert!(files(dir.path()) == before);
}

#[tokio::test]
async fn the_reference_example_reports_a_refused_migration_and_changes_nothing() {
    // Its `Err` branch: the database is open (here, in this process), so the migration
    // is refused before any step and the old database stays exactly as it was.
    let dir = old_database();
    let path = dir.path().to_str().expect("utf-8 path");
    let db = Database::open(path, LightningDbConfig::default()).expect("open");
    let before = files(dir.path());
    reference_example(path)
        .await
        .expect("the example handles the failure itself");
    assert!(
        files(dir.path()) == before,
        "the refused migration changed files"
    );
    assert_eq!(db.format_version(), DatabaseVersion::V1);
    assert!(scan(&db) == contents());
    db.close().expect("close");
    assert_eq!(
        MigrationManager::new()
            .detect_version(path)
            .expect("detect"),
        DatabaseVersion::V1
    );
}

#[test]
fn the_compatibility_checking_signatures_are_the_references() {
    // The reference's `impl MigrationManager` block, checked as function types.
    let _: fn(&MigrationManager, DatabaseVersion, DatabaseVersion) -> CompatibilityResult =
        MigrationManager::check_compatibility;
    let _: fn(&MigrationManager, DatabaseVersion, DatabaseVersion) -> Vec<MigrationStep> =
        MigrationManager::list_required_migrations;
    let _: fn(&MigrationManager, &MigrationPlan) -> Duration =
        MigrationManager::estimate_migration_time;
    let _: fn(&MigrationManager, &MigrationPlan) -> Result<(), MigrationError> =
        MigrationManager::validate_migration_safety;

    // The reference's four variants, matched exhaustively (a fifth would not compile).
    let m = MigrationManager::new();
    let describe = |r: CompatibilityResult| match r {
        CompatibilityResult::FullyCompatible => "fully".to_string(),
        CompatibilityResult::BackwardCompatible { warnings } => {
            format!("backward: {}", warnings.join("; "))
        }
        CompatibilityResult::RequiresMigration { steps } => format!("requires {}", steps.len()),
        CompatibilityResult::Incompatible { reason } => format!("incompatible: {reason}"),
    };
    assert_eq!(
        describe(m.check_compatibility(DatabaseVersion::Latest, DatabaseVersion::Latest)),
        "fully"
    );
    assert!(
        describe(m.check_compatibility(DatabaseVersion::V1, DatabaseVersion::Latest))
            .starts_with("backward: ")
    );
    assert_eq!(
        describe(m.check_compatibility(DatabaseVersion::V2, DatabaseVersion::V1)),
        "requires 1"
    );
    assert_eq!(
        m.list_required_migrations(DatabaseVersion::V1, DatabaseVersion::Latest),
        vec![MigrationStep::ChangeFormat {
            from: DatabaseVersion::V1,
            to: DatabaseVersion::V2
        }]
    );

    // Estimate and safety check on a real plan.
    let dir = old_database();
    let plan = m
        .create_migration_plan_for(dir.path(), DatabaseVersion::Latest)
        .expect("plan");
    assert!(m.estimate_migration_time(&plan) > Duration::ZERO);
    m.validate_migration_safety(&plan).expect("safe");
}
