//! The directory lock: while a database is open, a second open is refused with
//! `DatabaseLocked` (code 110), both from another process and from the same process;
//! once it is closed (or dropped), opening works again.
//!
//! The other process is this test binary re-executed with `LIGHTNING_LOCK_CHILD=<dir>`
//! running the ignored test `lock_child`, which reports `OPENED` or the error code.

use std::path::Path;
use std::process::{Command, Stdio};

use lightning_db::{codes, Database, DatabaseError, Durability, LightningDbConfig};

const CHILD_ENV: &str = "LIGHTNING_LOCK_CHILD";

fn config() -> LightningDbConfig {
    LightningDbConfig {
        durability: Durability::NoSync,
        ..LightningDbConfig::default()
    }
}

/// Not a test of its own: the body of the child process the lock tests start.
#[test]
#[ignore = "child process of the lock tests; runs only when they re-execute this binary"]
fn lock_child() {
    let Some(dir) = std::env::var_os(CHILD_ENV) else {
        return;
    };
    let report = match Database::open(Path::new(&dir), config()) {
        Ok(db) => {
            let value = db.get(b"written-by-parent").expect("child: get");
            db.close().expect("child: close");
            format!("OPENED {}", value.map_or(0, |v| v.len()))
        }
        Err(e) => format!("ERROR {}", e.error_code()),
    };
    println!("\nLOCK-CHILD {report}");
}

/// Runs the child on `dir` and returns its report (`OPENED n` or `ERROR code`).
fn child_open(dir: &Path) -> String {
    let exe = std::env::current_exe().expect("current_exe");
    let out = Command::new(exe)
        .args([
            "lock_child",
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, dir)
        .stdin(Stdio::null())
        .output()
        .expect("run the child");
    assert!(
        out.status.success(),
        "the child failed: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    stdout
        .lines()
        .find_map(|l| l.strip_prefix("LOCK-CHILD "))
        .unwrap_or_else(|| panic!("no report from the child:\n{stdout}"))
        .to_string()
}

/// Another process cannot open a database this one holds, and can once it is closed.
#[test]
fn another_process_is_refused_while_open() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Database::open(dir.path(), config()).expect("open");
    db.put(b"written-by-parent", b"12345").expect("put");
    assert_eq!(
        child_open(dir.path()),
        format!("ERROR {}", codes::DATABASE_LOCKED)
    );
    // The refused open changed nothing.
    assert_eq!(
        db.get(b"written-by-parent").expect("get").as_deref(),
        Some(&b"12345"[..])
    );
    db.close().expect("close");
    assert_eq!(child_open(dir.path()), "OPENED 5");
    // And after the child closed it, this process opens it again.
    let db = Database::open(dir.path(), config()).expect("reopen after the child");
    assert_eq!(
        db.get(b"written-by-parent").expect("get").as_deref(),
        Some(&b"12345"[..])
    );
}

/// A second handle in the same process is refused too, until the first is closed or dropped.
#[test]
fn a_second_open_in_the_same_process_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Database::open(dir.path(), config()).expect("open");
    let err = Database::open(dir.path(), config()).expect_err("second open must fail");
    assert!(
        matches!(err, DatabaseError::DatabaseLocked { .. }),
        "{err:?}"
    );
    assert_eq!(err.error_code(), 110);
    assert_eq!(err.error_code(), codes::DATABASE_LOCKED);
    assert!(
        err.to_string().contains(&dir.path().display().to_string()),
        "the message names the directory: {err}"
    );
    // Still usable after the refused open.
    db.put(b"k", b"v").expect("put");

    // A snapshot outliving `close` does not keep the lock.
    let snap = db.snapshot();
    db.close().expect("close");
    let db = Database::open(dir.path(), config()).expect("open after close");
    assert!(matches!(snap.get(b"k"), Err(DatabaseError::DatabaseClosed)));
    drop(snap);
    assert_eq!(db.get(b"k").expect("get").as_deref(), Some(&b"v"[..]));

    // Dropping a handle releases the lock as well.
    drop(db);
    let db = Database::open(dir.path(), config()).expect("open after drop");
    assert!(matches!(
        Database::open(dir.path(), config()),
        Err(DatabaseError::DatabaseLocked { .. })
    ));
    db.close().expect("close");
}
