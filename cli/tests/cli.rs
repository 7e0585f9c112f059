//! Runs the built `lightning` binary on temporary databases and checks its output and exit
//! codes (0 success, 1 not found, 2 usage, 3 database error).

use std::path::Path;
use std::process::{Command, Output};

use lightning_db::{Database, LightningDbConfig};

fn lightning(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_lightning"))
        .args(args)
        .output()
        .expect("run the lightning binary")
}

fn run_in(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_lightning"))
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run the lightning binary")
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Asserts the exit code, showing both streams when it differs.
fn assert_code(out: &Output, code: i32) {
    assert_eq!(
        out.status.code(),
        Some(code),
        "stdout:\n{}\nstderr:\n{}",
        stdout(out),
        stderr(out)
    );
}

fn path_str(p: &Path) -> &str {
    p.to_str().expect("utf-8 temp path")
}

#[test]
fn demo_runs_twice_on_the_same_folder() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("db");
    let db = path_str(&db);

    let first = lightning(&["demo", db, "--records", "5000", "--batch-size", "500"]);
    assert_code(&first, 0);
    let text = stdout(&first);
    assert!(text.contains("passed"), "{text}");
    assert!(
        text.contains("5,000 records (2,500 users, 2,500 orders"),
        "{text}"
    );
    assert!(text.contains("cleared 0 keys"), "{text}");
    assert!(text.contains("4,990 pairs after reopen"), "{text}");
    // Healthy, unless the machine's own disk is over the resource check's 90%: then the
    // demo rightly warns about that disk, and only about it.
    let health = text
        .lines()
        .map(str::trim_start)
        .find(|l| l.starts_with("health "))
        .unwrap_or_else(|| panic!("a health line: {text}"));
    assert!(
        health.starts_with("health         Healthy: integrity healthy")
            || (health.contains("Warning") && health.contains("disk")),
        "{text}"
    );
    assert!(text.contains("read p50"), "{text}");
    for row in [
        "read back",
        "latency",
        "performance",
        "range scan",
        "prefix scan",
        "reverse scan",
        "reopen",
        "table files",
        "disk size",
        "block cache",
    ] {
        assert!(text.contains(row), "missing {row}: {text}");
    }
    // Not a terminal: no progress bar escape sequences.
    assert!(!stderr(&first).contains('\u{1b}'), "{}", stderr(&first));

    // A second run clears the first one's keys and ends with the same data.
    let second = lightning(&["--quiet", "demo", db, "--records", "5000"]);
    assert_code(&second, 0);
    let text = stdout(&second);
    assert!(text.contains("cleared 4,990 keys"), "{text}");
    assert!(text.contains("4,990 pairs after reopen"), "{text}");

    // The data is there for the other commands, and keys outside demo: survive a demo.
    let out = lightning(&["put", db, "mine", "kept"]);
    assert_code(&out, 0);
    let out = lightning(&["scan", db, "--prefix", "demo:order:", "--count"]);
    assert_code(&out, 0);
    assert_eq!(stdout(&out).trim(), "2500");
    let out = lightning(&["demo", db, "--records", "100", "-q"]);
    assert_code(&out, 0);
    let out = lightning(&["get", db, "mine"]);
    assert_code(&out, 0);
    assert_eq!(stdout(&out), "kept\n");
}

#[test]
fn demo_uses_lightning_data_by_default() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = run_in(dir.path(), &["demo", "--records", "200", "-q"]);
    assert_code(&out, 0);
    assert!(dir.path().join("lightning-data").join("CURRENT").is_file());
}

#[test]
fn put_get_delete_round_trip() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = path_str(dir.path());

    let out = lightning(&["put", db, "greeting", "hello world"]);
    assert_code(&out, 0);
    assert_eq!(stdout(&out), "");

    let out = lightning(&["get", db, "greeting"]);
    assert_code(&out, 0);
    assert_eq!(stdout(&out), "hello world\n");

    let out = lightning(&["get", db, "greeting", "--raw"]);
    assert_code(&out, 0);
    assert_eq!(out.stdout, b"hello world");

    // Overwrite, then delete.
    assert_code(&lightning(&["put", db, "greeting", "bye"]), 0);
    assert_eq!(stdout(&lightning(&["get", db, "greeting"])), "bye\n");
    let out = lightning(&["delete", db, "greeting"]);
    assert_code(&out, 0);
    assert_eq!(stdout(&out), "");

    // Now missing: get and delete answer 1 with the key-not-found code.
    let out = lightning(&["get", db, "greeting"]);
    assert_code(&out, 1);
    assert_eq!(stdout(&out), "");
    assert!(
        stderr(&out).starts_with("error[101 KEY_NOT_FOUND]: key not found: \"greeting\""),
        "{}",
        stderr(&out)
    );
    let out = lightning(&["delete", db, "greeting"]);
    assert_code(&out, 1);
    assert!(stderr(&out).contains("KEY_NOT_FOUND"), "{}", stderr(&out));
}

#[test]
fn special_bytes_are_escaped_and_round_trip_through_hex() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = path_str(dir.path());

    // Key 0x00ff, value "a\tb\n": given as hex.
    assert_code(&lightning(&["put", db, "--hex", "00ff", "6109620a"]), 0);
    let out = lightning(&["get", db, "00FF", "--hex"]);
    assert_code(&out, 0);
    assert_eq!(stdout(&out), "6109620a\n");
    let out = lightning(&["--hex", "get", db, "00ff"]);
    assert_eq!(stdout(&out), "6109620a\n");

    // Without --hex the same pair prints escaped, readable and lossless.
    let out = lightning(&["scan", db]);
    assert_code(&out, 0);
    assert_eq!(stdout(&out), "\\x00\\xff\ta\\tb\\n\n");
    let out = lightning(&["scan", db, "--hex"]);
    assert_eq!(stdout(&out), "00ff\t6109620a\n");

    // UTF-8 keys look the same in hex and text.
    assert_code(&lightning(&["put", db, "clé", "valeur"]), 0);
    let out = lightning(&["get", db, "--hex", "636cc3a9"]);
    assert_code(&out, 0);
    assert_eq!(stdout(&out), "76616c657572\n");

    // Bad hex is a usage error (2) and writes nothing.
    let out = lightning(&["put", db, "--hex", "abc", "00"]);
    assert_code(&out, 2);
    assert!(
        stderr(&out).contains("odd number of hex digits"),
        "{}",
        stderr(&out)
    );
    let out = lightning(&["get", db, "--hex", "zz"]);
    assert_code(&out, 2);
}

#[test]
fn scan_bounds_order_and_limits() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = path_str(dir.path());
    for (k, v) in [
        ("a", "1"),
        ("b:1", "2"),
        ("b:2", "3"),
        ("b:3", "4"),
        ("c", "5"),
    ] {
        assert_code(&lightning(&["put", db, k, v]), 0);
    }
    let lines = |args: &[&str]| -> Vec<String> {
        let mut full = vec!["scan", db];
        full.extend_from_slice(args);
        let out = lightning(&full);
        assert_code(&out, 0);
        stdout(&out).lines().map(str::to_string).collect()
    };
    assert_eq!(lines(&[]), ["a\t1", "b:1\t2", "b:2\t3", "b:3\t4", "c\t5"]);
    assert_eq!(lines(&["--prefix", "b:"]), ["b:1\t2", "b:2\t3", "b:3\t4"]);
    assert_eq!(
        lines(&["--prefix", "b:", "--reverse", "--limit", "2"]),
        ["b:3\t4", "b:2\t3"]
    );
    assert_eq!(
        lines(&["--start", "b:2", "--end", "c"]),
        ["b:2\t3", "b:3\t4"]
    );
    assert_eq!(
        lines(&["--start", "b", "--keys-only", "--reverse"]),
        ["c", "b:3", "b:2", "b:1"]
    );
    assert_eq!(
        lines(&["--prefix", "b:", "--start", "b:2", "--end", "zzz"]),
        ["b:2\t3", "b:3\t4"]
    );
    assert_eq!(lines(&["--count"]), ["5"]);
    assert_eq!(lines(&["--prefix", "nothing"]), Vec::<String>::new());
    assert_eq!(lines(&["--limit", "0"]), Vec::<String>::new());
}

#[test]
fn stats_as_table_and_json() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = path_str(dir.path());
    assert_code(&lightning(&["put", db, "k", "v"]), 0);
    let out = lightning(&["stats", db]);
    assert_code(&out, 0);
    let text = stdout(&out);
    for row in [
        "path",
        "last sequence",
        "table files",
        "disk size",
        "block cache",
        "recovery",
    ] {
        assert!(text.contains(row), "missing {row}: {text}");
    }
    let out = lightning(&["stats", db, "--json"]);
    assert_code(&out, 0);
    let text = stdout(&out);
    assert!(
        text.trim_start().starts_with('{') && text.trim_end().ends_with('}'),
        "{text}"
    );
    assert!(text.contains("\"last_sequence\": 1"), "{text}");
    assert!(text.contains("\"recovery\""), "{text}");
    // Every PerformanceMetrics field of the reference, under its name.
    let start = text
        .find("\"performance\": {")
        .expect("a performance object");
    let performance = &text[start..];
    for field in [
        "read_latency_p50",
        "read_latency_p95",
        "read_latency_p99",
        "write_latency_p50",
        "write_latency_p95",
        "write_latency_p99",
        "read_throughput",
        "write_throughput",
        "mixed_workload_throughput",
        "cache_hit_rate",
        "memory_usage",
        "disk_usage",
        "cpu_usage",
        "error_rate",
        "availability",
        "recovery_time",
    ] {
        assert!(
            performance.contains(&format!("\"{field}\":")),
            "missing {field}: {text}"
        );
    }
    assert!(
        !performance.contains("\"disk_usage\": 0,"),
        "the folder has files: {text}"
    );
    let out = lightning(&["stats", db, "--prometheus"]);
    assert_code(&out, 0);
    let text = stdout(&out);
    assert!(
        text.contains("# TYPE lightning_read_latency_seconds summary"),
        "{text}"
    );
    assert!(
        text.contains("lightning_write_throughput_ops_per_second "),
        "{text}"
    );
    assert_code(&lightning(&["stats", db, "--json", "--prometheus"]), 2);
}

#[test]
fn a_locked_database_is_reported_clearly() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Database::open(dir.path(), LightningDbConfig::default()).expect("open");
    db.put(b"k", b"v").expect("put");
    let path = path_str(dir.path());
    for args in [
        vec!["get", path, "k"],
        vec!["put", path, "k", "w"],
        vec!["scan", path],
        vec!["demo", path, "--records", "100"],
    ] {
        let out = lightning(&args);
        assert_code(&out, 3);
        let err = stderr(&out);
        assert!(
            err.starts_with("error[110 DATABASE_LOCKED]: database at '"),
            "{args:?}: {err}"
        );
        assert!(err.contains("locked by another process"), "{err}");
        assert!(
            err.contains("\nsuggested action: Close the other handle"),
            "{err}"
        );
        assert_eq!(stdout(&out), "");
    }
    db.close().expect("close");
    // Released: the value is there.
    let out = lightning(&["get", path, "k"]);
    assert_code(&out, 0);
    assert_eq!(stdout(&out), "v\n");
}

#[test]
fn reading_a_missing_database_creates_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let missing = dir.path().join("nope");
    let missing = path_str(&missing);
    for args in [
        vec!["get", missing, "k"],
        vec!["scan", missing],
        vec!["stats", missing],
        vec!["delete", missing, "k"],
    ] {
        let out = lightning(&args);
        assert_code(&out, 3);
        assert!(
            stderr(&out).starts_with("error[109 IO_ERROR]"),
            "{}",
            stderr(&out)
        );
        assert!(
            stderr(&out).contains("suggested action: "),
            "{}",
            stderr(&out)
        );
    }
    assert!(!dir.path().join("nope").exists());

    // An empty directory holds no database either.
    let out = lightning(&["get", path_str(dir.path()), "k"]);
    assert_code(&out, 3);
    assert!(
        stderr(&out).contains("holds no Lightning DB database"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn usage_and_configuration_errors() {
    let out = lightning(&["frobnicate"]);
    assert_code(&out, 2);
    let out = lightning(&["get"]);
    assert_code(&out, 2);
    let out = lightning(&["demo", "--records", "5"]);
    assert_code(&out, 2);
    let out = lightning(&["--help"]);
    assert_code(&out, 0);
    assert!(stdout(&out).contains("Exit codes"), "{}", stdout(&out));

    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("db");
    let db = path_str(&db);
    let missing_config = dir.path().join("none.json");
    let out = lightning(&["put", db, "k", "v", "--config", path_str(&missing_config)]);
    assert_code(&out, 2);
    assert!(
        stderr(&out).contains("cannot read the --config file"),
        "{}",
        stderr(&out)
    );

    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, r#"{"cache_sise": 1}"#).expect("write");
    let out = lightning(&["put", db, "k", "v", "--config", path_str(&bad)]);
    assert_code(&out, 3);
    assert!(
        stderr(&out).starts_with("error[501 CONFIGURATION_ERROR]"),
        "{}",
        stderr(&out)
    );
    assert!(
        stderr(&out).contains("suggested action: "),
        "{}",
        stderr(&out)
    );

    let good = dir.path().join("good.json");
    std::fs::write(&good, r#"{"durability": "NoSync", "cache_size": 1048576}"#).expect("write");
    let out = lightning(&["put", db, "k", "v", "--config", path_str(&good)]);
    assert_code(&out, 0);
    let out = lightning(&["--config", path_str(&good), "get", db, "k"]);
    assert_eq!(stdout(&out), "v\n");
}

/// A database whose last writes are only in its log (closing does not flush): the next
/// open replays `bytes` or so of log.
fn db_with_log_to_replay(path: &Path, bytes: usize) {
    let config = LightningDbConfig {
        durability: lightning_db::Durability::NoSync,
        ..Default::default()
    };
    let db = Database::open(path, config).expect("open");
    let value = vec![b'r'; 1000];
    for i in 0..bytes / 1000 {
        let mut batch = db.new_batch();
        batch
            .put(format!("replay{i:08}").as_bytes(), &value)
            .expect("put");
        db.write_batch(&batch).expect("write");
    }
    db.close().expect("close");
}

#[test]
fn progress_reports_the_log_replay_of_an_open_when_asked() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (db, other) = (dir.path().join("db"), dir.path().join("other"));
    db_with_log_to_replay(&db, 3 << 20);
    db_with_log_to_replay(&other, 3 << 20);
    let (db, other) = (path_str(&db), path_str(&other));

    // Standard error is a pipe here: nothing is shown unless `--progress` asks.
    let quiet = lightning(&["get", other, "replay00000042"]);
    assert_code(&quiet, 0);
    assert!(!stderr(&quiet).contains("replaying"), "{}", stderr(&quiet));

    let shown = lightning(&["--progress", "get", db, "replay00000042"]);
    assert_code(&shown, 0);
    assert_eq!(stdout(&shown), stdout(&quiet), "the result is unchanged");
    let text = stderr(&shown);
    let percents: Vec<u64> = text
        .lines()
        .filter_map(|l| l.strip_prefix("replaying the log:"))
        .map(|rest| {
            let pct = rest.trim_start().split('%').next().expect("a percent");
            pct.trim().parse().expect("a number")
        })
        .collect();
    // One line at each whole percent reached, rising to the whole log.
    assert!(percents.len() >= 10, "{text}");
    assert!(percents.windows(2).all(|w| w[0] < w[1]), "{text}");
    assert_eq!(percents.last(), Some(&100), "{text}");
    assert!(text.contains("MiB"), "{text}");

    // `--quiet` and `--progress` contradict each other.
    let both = lightning(&["--progress", "-q", "get", db, "replay00000042"]);
    assert_code(&both, 2);
}

fn lightning_env(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_lightning"));
    cmd.args(args).env_remove("LIGHTNING_KEY");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run the lightning binary")
}

#[test]
fn key_file_and_lightning_key_open_an_encrypted_database() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("db");
    let db = path_str(&db);
    let key_file = dir.path().join("key");
    let hex = "2a".repeat(32);
    std::fs::write(&key_file, format!("{hex}\n")).expect("write key");
    let key_file = path_str(&key_file);

    let put = lightning_env(&["put", db, "k", "secret", "--key-file", key_file], &[]);
    assert_code(&put, 0);
    // Without a key: a database error naming the missing key.
    let refused = lightning_env(&["get", db, "k"], &[]);
    assert_code(&refused, 3);
    assert!(
        stderr(&refused).contains("encryption_key"),
        "{}",
        stderr(&refused)
    );
    // The wrong key.
    let wrong = lightning_env(&["get", db, "k"], &[("LIGHTNING_KEY", &"11".repeat(32))]);
    assert_code(&wrong, 3);
    assert!(
        stderr(&wrong).to_lowercase().contains("wrong"),
        "{}",
        stderr(&wrong)
    );
    // The key from the environment.
    let got = lightning_env(&["get", db, "k"], &[("LIGHTNING_KEY", &hex)]);
    assert_code(&got, 0);
    assert_eq!(stdout(&got).trim(), "secret");

    let stats = lightning_env(&["stats", db, "--key-file", key_file], &[]);
    assert_code(&stats, 0);
    assert!(
        stdout(&stats).contains("key generation 1"),
        "{}",
        stdout(&stats)
    );
    let inspect = lightning_env(&["inspect", db], &[]);
    assert_code(&inspect, 0);
    let text = stdout(&inspect);
    assert!(
        text.contains("encryption:      on") && text.contains("key generation 1"),
        "{text}"
    );
    assert!(text.contains("manifest is sealed"), "{text}");
    let inspect = lightning_env(&["inspect", db, "--key-file", key_file], &[]);
    assert_code(&inspect, 0);
    assert!(
        !stdout(&inspect).contains("manifest is sealed"),
        "{}",
        stdout(&inspect)
    );
    // Rotation, then re-wrapping under a new key.
    let rotated = lightning_env(&["rotate-key", db, "--key-file", key_file], &[]);
    assert_code(&rotated, 0);
    assert!(
        stdout(&rotated).contains("key generation 2"),
        "{}",
        stdout(&rotated)
    );
    let new_key = dir.path().join("new-key");
    std::fs::write(&new_key, "3b".repeat(32)).expect("write key");
    let rewrapped = lightning_env(
        &[
            "rotate-key",
            db,
            "--key-file",
            key_file,
            "--new-key-file",
            path_str(&new_key),
        ],
        &[],
    );
    assert_code(&rewrapped, 0);
    let old = lightning_env(&["get", db, "k", "--key-file", key_file], &[]);
    assert_code(&old, 3);
    let got = lightning_env(&["get", db, "k", "--key-file", path_str(&new_key)], &[]);
    assert_code(&got, 0);
    assert_eq!(stdout(&got).trim(), "secret");
    // Offline check refuses clearly.
    let check = lightning_env(&["check", db], &[]);
    assert!(
        stderr(&check).contains("encrypted database")
            || stdout(&check).contains("encrypted database"),
        "stdout {} stderr {}",
        stdout(&check),
        stderr(&check)
    );
}
