//! `lightning check` and `lightning repair` on real databases: clean, damaged, repaired.

use std::path::Path;
use std::process::{Command, Output};

fn lightning(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_lightning"))
        .args(args)
        .output()
        .expect("run lightning")
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn biggest_table(dir: &Path) -> std::path::PathBuf {
    std::fs::read_dir(dir)
        .expect("list")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "sst"))
        .max_by_key(|p| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0))
        .expect("a table file")
}

#[test]
fn check_finds_damage_and_repair_mends_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("db");
    let db_str = db.to_str().expect("utf-8 path");
    let demo = lightning(&["-q", "demo", db_str, "--records", "3000"]);
    assert_eq!(demo.status.code(), Some(0), "{}", text(&demo));
    assert!(text(&demo).contains("integrity"), "{}", text(&demo));
    assert!(text(&demo).contains("health"), "{}", text(&demo));

    let clean = lightning(&["check", db_str]);
    assert_eq!(clean.status.code(), Some(0), "{}", text(&clean));
    let json = lightning(&["check", db_str, "--level", "paranoid", "--json"]);
    assert_eq!(json.status.code(), Some(0), "{}", text(&json));
    assert!(
        String::from_utf8_lossy(&json.stdout).contains("\"problems\": []"),
        "{}",
        text(&json)
    );

    // Flip a byte in the middle of the first data block of the biggest table.
    let table = biggest_table(&db);
    let mut bytes = std::fs::read(&table).expect("read table");
    bytes[100] ^= 0x40;
    std::fs::write(&table, &bytes).expect("write table");

    let damaged = lightning(&["check", db_str, "--level", "basic"]);
    assert_eq!(damaged.status.code(), Some(4), "{}", text(&damaged));
    let name = table.file_name().and_then(|n| n.to_str()).expect("name");
    assert!(
        text(&damaged).contains(name),
        "the report names the file: {}",
        text(&damaged)
    );

    let repaired = lightning(&["repair", db_str]);
    assert!(
        matches!(repaired.status.code(), Some(0) | Some(4)),
        "{}",
        text(&repaired)
    );
    let after = lightning(&["check", db_str]);
    assert_eq!(
        after.status.code(),
        Some(0),
        "after repair: {}",
        text(&after)
    );
}

#[test]
fn check_of_a_missing_database_is_an_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let missing = dir.path().join("nothing-here");
    let out = lightning(&["check", missing.to_str().expect("utf-8")]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(!missing.exists(), "check must not create a database");
}

#[test]
fn health_reports_each_check_and_is_critical_on_damage() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("db");
    let db_str = db.to_str().expect("utf-8 path");
    let demo = lightning(&["-q", "demo", db_str, "--records", "3000"]);
    assert_eq!(demo.status.code(), Some(0), "{}", text(&demo));

    let healthy = lightning(&["health", db_str]);
    assert_eq!(healthy.status.code(), Some(0), "{}", text(&healthy));
    let out = text(&healthy);
    for check in [
        "integrity",
        "resources",
        "performance",
        "engine self-checks",
    ] {
        assert!(out.contains(check), "missing {check}: {out}");
    }
    assert!(out.contains("data blocks verified"), "{out}");
    let json = lightning(&["health", db_str, "--json"]);
    assert_eq!(json.status.code(), Some(0), "{}", text(&json));
    let out = String::from_utf8_lossy(&json.stdout).to_string();
    assert!(out.contains("\"name\": \"integrity\""), "{out}");
    assert!(out.contains("\"engine\""), "{out}");

    // A flipped byte in a data block: the integrity check is critical, with the file
    // named and what to do, and the exit code says so.
    let table = biggest_table(&db);
    let mut bytes = std::fs::read(&table).expect("read table");
    bytes[100] ^= 0x40;
    std::fs::write(&table, &bytes).expect("write table");
    let damaged = lightning(&["health", db_str]);
    assert_eq!(damaged.status.code(), Some(4), "{}", text(&damaged));
    let out = text(&damaged);
    let name = table.file_name().and_then(|n| n.to_str()).expect("name");
    assert!(out.contains("critical"), "{out}");
    assert!(out.contains(name), "the report names the file: {out}");
    assert!(out.contains("remediation: "), "{out}");
    assert!(out.contains("lightning repair"), "{out}");
}

#[test]
fn health_of_a_missing_database_is_an_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let missing = dir.path().join("none");
    let out = lightning(&["health", missing.to_str().expect("utf-8")]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(!missing.exists(), "nothing is created");
}

#[test]
fn check_and_repair_take_the_key_of_an_encrypted_database() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("db");
    let db_str = db.to_str().expect("utf-8 path");
    let key_file = dir.path().join("key");
    std::fs::write(&key_file, "5c".repeat(32)).expect("write key");
    let key = key_file.to_str().expect("utf-8 path");
    let demo = lightning(&["-q", "demo", db_str, "--records", "3000", "--key-file", key]);
    assert_eq!(demo.status.code(), Some(0), "{}", text(&demo));

    let clean = lightning(&["check", db_str, "--level", "paranoid", "--key-file", key]);
    assert_eq!(clean.status.code(), Some(0), "{}", text(&clean));
    // Without the key: the check cannot run, and says which key it needs.
    let refused = lightning(&["check", db_str]);
    assert_eq!(refused.status.code(), Some(3), "{}", text(&refused));
    assert!(
        text(&refused).contains("encryption_key"),
        "{}",
        text(&refused)
    );

    let table = biggest_table(&db);
    let mut bytes = std::fs::read(&table).expect("read table");
    bytes[100] ^= 0x40;
    std::fs::write(&table, &bytes).expect("write table");
    let damaged = lightning(&["check", db_str, "--key-file", key]);
    assert_eq!(damaged.status.code(), Some(4), "{}", text(&damaged));
    let refused = lightning(&["repair", db_str]);
    assert_eq!(refused.status.code(), Some(3), "{}", text(&refused));
    let repaired = lightning(&["repair", db_str, "--key-file", key]);
    assert_eq!(repaired.status.code(), Some(0), "{}", text(&repaired));
    let after = lightning(&[
        "check",
        db_str,
        "--level",
        "comprehensive",
        "--key-file",
        key,
    ]);
    assert_eq!(after.status.code(), Some(0), "{}", text(&after));
}
