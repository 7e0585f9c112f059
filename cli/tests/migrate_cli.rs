//! `lightning inspect` and `lightning migrate` on the format 1 fixture.

use std::path::Path;
use std::process::{Command, Output};

fn lightning(args: &[&str]) -> Output {
    lightning_env(args, &[])
}

/// `lightning` with `env` set and no `LIGHTNING_KEY` inherited.
fn lightning_env(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_lightning"));
    cmd.args(args).env_remove("LIGHTNING_KEY");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run lightning")
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
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
        .collect();
    v.sort();
    v
}

/// Every file but the empty lock file (the dry run's safety check takes the lock).
fn data_files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    files(dir)
        .into_iter()
        .filter(|(n, _)| n != "LOCK")
        .collect()
}

/// A copy of the format 1 fixture (written by the release before log format 2).
fn v1_copy() -> tempfile::TempDir {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../core/tests/fixtures/formats/v1/db");
    let dir = tempfile::tempdir().expect("tempdir");
    for (name, data) in files(&src) {
        std::fs::write(dir.path().join(name), data).expect("copy");
    }
    dir
}

#[test]
fn inspect_and_dry_run_change_nothing_and_migrate_moves_the_format() {
    let dir = v1_copy();
    let path = dir.path().to_str().expect("utf-8");
    let before = data_files(dir.path());

    let inspect = lightning(&["inspect", path]);
    assert_eq!(inspect.status.code(), Some(0), "{}", text(&inspect));
    let out = text(&inspect);
    for want in [
        "format version:  v1",
        "LogHeaders",
        "checksum:        Xxh64",
        "compression:     on",
        "encryption:      off",
        "level 0:",
        "000008.log",
    ] {
        assert!(out.contains(want), "missing {want:?} in\n{out}");
    }

    assert!(files(dir.path()) == before, "inspect wrote something");
    let dry = lightning(&["migrate", path, "--dry-run"]);
    assert_eq!(dry.status.code(), Some(0), "{}", text(&dry));
    let out = text(&dry);
    for want in [
        "plan:       v1 -> v2",
        "step 1:",
        "estimate:",
        "safety:     ok",
        "nothing changed",
    ] {
        assert!(out.contains(want), "missing {want:?} in\n{out}");
    }
    assert!(
        data_files(dir.path()) == before,
        "the dry run changed files"
    );

    let run = lightning(&["-q", "migrate", path, "--to", "latest"]);
    assert_eq!(run.status.code(), Some(0), "{}", text(&run));
    assert!(
        text(&run).contains("migrated:   v1 -> v2"),
        "{}",
        text(&run)
    );
    let after = lightning(&["inspect", path]);
    assert!(
        text(&after).contains("format version:  v2"),
        "{}",
        text(&after)
    );
    let again = lightning(&["migrate", path, "--dry-run"]);
    assert!(
        text(&again).contains("none (already in that format)"),
        "{}",
        text(&again)
    );

    let scan = lightning(&["scan", path]);
    assert_eq!(scan.status.code(), Some(0), "{}", text(&scan));
    assert!(String::from_utf8_lossy(&scan.stdout).contains("log-059"));

    let missing = lightning(&["inspect", dir.path().join("nope").to_str().expect("utf-8")]);
    assert_ne!(missing.status.code(), Some(0));
    let bad = lightning(&["migrate", path, "--to", "v9"]);
    assert_eq!(bad.status.code(), Some(2), "{}", text(&bad));
}

#[test]
fn a_format_too_old_to_read_names_the_migration_command() {
    let dir = v1_copy();
    let path = dir.path().to_str().expect("utf-8");
    // Record format 0, older than any release wrote (every real format is still read).
    let mut rec = Vec::new();
    rec.extend_from_slice(b"LFMT");
    rec.extend_from_slice(&1u16.to_le_bytes());
    rec.push(lightning_db::ChecksumAlgorithm::Xxh64.id());
    rec.push(0);
    rec.extend_from_slice(&0u32.to_le_bytes());
    rec.extend_from_slice(&[0; 12]);
    let sum =
        lightning_db::testing::format::checksum64(lightning_db::ChecksumAlgorithm::Xxh64, &rec);
    rec.extend_from_slice(&sum.to_le_bytes());
    std::fs::write(dir.path().join("FORMAT"), rec).expect("write FORMAT");
    let before = data_files(dir.path());

    let inspect = lightning(&["inspect", path]);
    assert_eq!(inspect.status.code(), Some(0), "{}", text(&inspect));
    assert!(
        text(&inspect).contains("format version:  v0 (older than this release reads"),
        "{}",
        text(&inspect)
    );
    let command = format!("lightning migrate {path} --to latest");
    for args in [
        vec!["get", path, "k"],
        vec!["migrate", path, "--dry-run"],
        vec!["migrate", path],
    ] {
        let out = lightning(&args);
        assert_eq!(out.status.code(), Some(3), "{args:?}: {}", text(&out));
        let t = text(&out);
        assert!(
            t.contains("416") && t.contains("MIGRATION_REQUIRED") && t.contains(&command),
            "{args:?}: {t}"
        );
    }
    assert!(data_files(dir.path()) == before, "a refusal changed files");
}

#[test]
fn encrypt_and_decrypt_turn_encryption_on_and_off_with_the_key() {
    let dir = v1_copy();
    let path = dir.path().to_str().expect("utf-8");
    let keys = tempfile::tempdir().expect("tempdir");
    let key_file = keys.path().join("key");
    let hex = "5c".repeat(32);
    std::fs::write(&key_file, format!("{hex}\n")).expect("write key");
    let key_file = key_file.to_str().expect("utf-8");
    let scan_before = lightning(&["scan", path]);
    assert_eq!(scan_before.status.code(), Some(0), "{}", text(&scan_before));
    let before = data_files(dir.path());

    // Without a key: a usage error, nothing changed.
    let no_key = lightning(&["migrate", path, "--encrypt"]);
    assert_eq!(no_key.status.code(), Some(2), "{}", text(&no_key));
    assert!(text(&no_key).contains("--key-file"), "{}", text(&no_key));
    let dry = lightning(&[
        "migrate",
        path,
        "--encrypt",
        "--key-file",
        key_file,
        "--dry-run",
    ]);
    assert_eq!(dry.status.code(), Some(0), "{}", text(&dry));
    assert!(
        text(&dry).contains("encryption: off -> on"),
        "{}",
        text(&dry)
    );
    assert!(
        data_files(dir.path()) == before,
        "a refusal or dry run changed files"
    );

    let run = lightning(&["-q", "migrate", path, "--encrypt", "--key-file", key_file]);
    assert_eq!(run.status.code(), Some(0), "{}", text(&run));
    assert!(
        text(&run).contains("now opens only with its key"),
        "{}",
        text(&run)
    );
    let inspect = lightning(&["inspect", path]);
    assert!(
        text(&inspect).contains("encryption:      on"),
        "{}",
        text(&inspect)
    );
    let refused = lightning(&["scan", path]);
    assert_ne!(refused.status.code(), Some(0), "{}", text(&refused));
    let scan = lightning_env(&["scan", path], &[("LIGHTNING_KEY", &hex)]);
    assert_eq!(scan.status.code(), Some(0), "{}", text(&scan));
    assert_eq!(scan.stdout, scan_before.stdout);

    // Other steps run with the key and keep it encrypted; without it they are refused.
    let refused = lightning(&["migrate", path, "--checksum", "crc32"]);
    assert_eq!(refused.status.code(), Some(2), "{}", text(&refused));
    assert!(text(&refused).contains("--key-file"), "{}", text(&refused));
    let crc = lightning(&[
        "-q",
        "migrate",
        path,
        "--checksum",
        "crc32",
        "--key-file",
        key_file,
    ]);
    assert_eq!(crc.status.code(), Some(0), "{}", text(&crc));
    let inspect = lightning(&["inspect", path, "--key-file", key_file]);
    assert!(
        text(&inspect).contains("Crc32") && text(&inspect).contains("encryption:      on"),
        "{}",
        text(&inspect)
    );

    // Encrypting again is refused; decrypting with another key is WRONG_KEY.
    let again = lightning(&["migrate", path, "--encrypt", "--key-file", key_file]);
    assert_eq!(again.status.code(), Some(2), "{}", text(&again));
    assert!(
        text(&again).contains("encrypted already"),
        "{}",
        text(&again)
    );
    let encrypted_files = data_files(dir.path());
    let wrong = lightning_env(
        &["migrate", path, "--decrypt"],
        &[("LIGHTNING_KEY", &"11".repeat(32))],
    );
    assert_eq!(wrong.status.code(), Some(3), "{}", text(&wrong));
    assert!(text(&wrong).contains("WRONG_KEY"), "{}", text(&wrong));
    assert!(
        data_files(dir.path()) == encrypted_files,
        "a wrong key changed files"
    );

    let back = lightning_env(
        &["-q", "migrate", path, "--decrypt"],
        &[("LIGHTNING_KEY", &hex)],
    );
    assert_eq!(back.status.code(), Some(0), "{}", text(&back));
    assert!(!dir.path().join("KEYS").exists());
    let scan = lightning(&["scan", path]);
    assert_eq!(scan.status.code(), Some(0), "{}", text(&scan));
    assert_eq!(scan.stdout, scan_before.stdout);
}
