//! `lightning check PATH [--level LEVEL] [--json]` and `lightning repair PATH [--json]`.
//!
//! Both work on a **closed** database: they take its directory lock, so a database another
//! process has open is refused (exit 3) rather than read while it changes.
//!
//! | exit code | `check` | `repair` |
//! |---|---|---|
//! | 0 | no problem found | repaired, or nothing to repair |
//! | 2 | no database at PATH | no database at PATH |
//! | 3 | the check could not run (locked, I/O error) | the repair could not run |
//! | 4 | corruption found | something could not be repaired |
//!
//! On a large database (over [`PROGRESS_THRESHOLD`] bytes) with standard error on a
//! terminal, a progress bar shows the bytes verified.

use std::io::{IsTerminal, Write};
use std::path::Path;

use lightning_db::{
    repair_database, IntegrityReport, IntegrityValidator, RepairReport, ValidationConfig,
};
use lightning_db::{DatabaseError, EncryptionKey, LightningDbConfig, ValidationLevel};

/// Databases larger than this (bytes of files) get a progress bar.
pub const PROGRESS_THRESHOLD: u64 = 64 << 20;

const EXIT_OK: i32 = 0;
const EXIT_USAGE: i32 = 2;
const EXIT_DATABASE: i32 = 3;
const EXIT_CORRUPT: i32 = 4;

fn exit_for(e: &DatabaseError) -> i32 {
    match e {
        DatabaseError::InvalidArgument { .. } => EXIT_USAGE,
        _ => EXIT_DATABASE,
    }
}

fn print_error(what: &str, e: &DatabaseError) {
    eprintln!(
        "lightning {what}: error {} ({}): {e}",
        e.error_code(),
        e.code_name()
    );
    if matches!(e, DatabaseError::DatabaseLocked { .. }) {
        eprintln!("  the database is open in another process or handle: close it first");
    }
}

/// Bytes of the files directly in `path` (the database directory).
fn database_bytes(path: &Path) -> u64 {
    std::fs::read_dir(path)
        .map(|rd| {
            rd.filter_map(Result::ok)
                .filter_map(|e| e.metadata().ok())
                .filter(|m| m.is_file())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}

fn progress_bar(path: &Path) -> Option<indicatif::ProgressBar> {
    let total = database_bytes(path);
    if total < PROGRESS_THRESHOLD || !std::io::stderr().is_terminal() {
        return None;
    }
    let bar = indicatif::ProgressBar::new(total);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{msg} [{bar:40}] {bytes}/{total_bytes} ({eta})")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar.set_message("verifying");
    Some(bar)
}

fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

/// The human-readable form of a check report.
pub fn render_check(report: &IntegrityReport) -> String {
    let mut out = String::new();
    let components: Vec<String> = report.components.iter().map(|c| c.to_string()).collect();
    out.push_str(&format!(
        "checked {} at level {} ({}) in {} ms\n",
        report.path,
        report.level,
        components.join(", "),
        report.elapsed_ms
    ));
    out.push_str(&format!(
        "  {} files ({} tables, {} log segments), {} blocks, {} entries, {} records, {}\n",
        report.files_checked,
        report.tables_checked,
        report.wal_segments_checked,
        report.blocks_checked,
        report.entries_checked,
        report.records_checked,
        human_bytes(report.bytes_checked)
    ));
    for note in &report.notes {
        out.push_str(&format!("  note: {note}\n"));
    }
    if report.is_clean() {
        out.push_str("OK: no problems found\n");
        return out;
    }
    out.push_str(&format!(
        "CORRUPT: {} problems found\n",
        report.problems.len()
    ));
    for p in &report.problems {
        let check = format!("{:?}", p.check).to_lowercase();
        out.push_str(&format!(
            "  [{}/{check}] {p}{}\n",
            p.component,
            if p.repairable {
                " (repairable without loss)"
            } else {
                ""
            }
        ));
    }
    out.push_str(&format!(
        "run `lightning repair {}` to rebuild what can be rebuilt and set aside what cannot \
         (everything set aside is listed and kept in quarantine/)\n",
        report.path
    ));
    out
}

/// The human-readable form of a repair report.
pub fn render_repair(report: &RepairReport) -> String {
    let mut out = String::new();
    if report.nothing_to_do() {
        out.push_str(&format!(
            "{}: no problems found, nothing to repair\n",
            report.path
        ));
        return out;
    }
    out.push_str(&format!(
        "{}: {} problems found\n",
        report.path,
        report.before.problems.len()
    ));
    for p in &report.before.problems {
        out.push_str(&format!("  found: {p}\n"));
    }
    for a in &report.actions {
        out.push_str(&format!("  done: {a}\n"));
    }
    for s in &report.set_aside {
        out.push_str(&format!(
            "  set aside: {} of {}{}{}{} ({}){}\n",
            s.what,
            s.file,
            s.offset
                .map(|o| format!(" at offset {o}"))
                .unwrap_or_default(),
            s.keys
                .as_ref()
                .map(|k| format!(", keys {k}"))
                .unwrap_or_default(),
            s.sequences
                .map(|(a, b)| format!(", sequences {a}..={b}"))
                .unwrap_or_default(),
            s.reason,
            s.kept_at
                .as_ref()
                .map(|k| format!(", kept in {k}"))
                .unwrap_or_default()
        ));
    }
    for f in &report.failed {
        out.push_str(&format!("  FAILED: {f}\n"));
    }
    if report.failed.is_empty() {
        out.push_str("repaired: the database validates clean\n");
    } else {
        out.push_str("NOT fully repaired: see the failures above\n");
    }
    out
}

fn emit(text: &str) {
    // A closed pipe (`lightning check db | head`) is not an error worth reporting.
    let _ = std::io::stdout().write_all(text.as_bytes());
    let _ = std::io::stdout().flush();
}

/// `lightning check PATH [--level LEVEL] [--json]`: validates the closed database at
/// `path` at `level` (an encrypted one with `key`, its key from `--key-file` or
/// `LIGHTNING_KEY`), prints what was verified and every problem found (as JSON with
/// `json`), and returns the exit code: 0 clean, 4 corruption found, 2 no database, 3 the
/// check could not run.
pub fn run_check(
    path: &Path,
    level: ValidationLevel,
    json: bool,
    key: Option<&EncryptionKey>,
) -> i32 {
    let bar = progress_bar(path);
    let mut validator = IntegrityValidator::for_path(
        ValidationConfig {
            validation_level: level,
            ..Default::default()
        },
        path,
    );
    if let Some(key) = key {
        validator = validator.with_key(key.clone());
    }
    if let Some(bar) = &bar {
        let bar = bar.clone();
        validator = validator.with_progress(move |bytes| bar.set_position(bytes));
    }
    let result = validator.validate();
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    match result {
        Ok(report) => {
            emit(&if json {
                report.to_json() + "\n"
            } else {
                render_check(&report)
            });
            if report.is_clean() {
                EXIT_OK
            } else {
                EXIT_CORRUPT
            }
        }
        Err(e) => {
            print_error("check", &e);
            exit_for(&e)
        }
    }
}

/// `lightning repair PATH`: repairs the closed database at `path` (see
/// `lightning_db::repair_database`) and prints what it found, did and set aside.
/// Returns 0 when it validates clean afterwards (or needed nothing), 4 when something could
/// not be repaired, 2 when there is no database, 3 when the repair could not run.
/// Prints the report as JSON with `json`; an encrypted database is repaired with `key`
/// (what repair rewrites is sealed with its data keys).
pub fn run_repair_opts(path: &Path, json: bool, key: Option<&EncryptionKey>) -> i32 {
    let bar = progress_bar(path);
    if let Some(bar) = &bar {
        bar.set_message("repairing");
        bar.enable_steady_tick(std::time::Duration::from_millis(200));
    }
    let mut config = LightningDbConfig::default();
    if let Some(key) = key {
        config.security.enable_encryption = true;
        config.security.encryption_key = Some(key.clone());
    }
    let result = repair_database(path, &config);
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    match result {
        Ok(report) => {
            emit(&if json {
                report.to_json() + "\n"
            } else {
                render_repair(&report)
            });
            if report.failed.is_empty() {
                EXIT_OK
            } else {
                EXIT_CORRUPT
            }
        }
        Err(e) => {
            print_error("repair", &e);
            exit_for(&e)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn build(dir: &Path) {
        let db = lightning_db::Database::open(dir, LightningDbConfig::default()).expect("open");
        for i in 0..500u32 {
            db.put(format!("k{i:04}").as_bytes(), b"value")
                .expect("put");
        }
        db.flush().expect("flush");
        db.close().expect("close");
    }

    #[test]
    fn check_and_repair_exit_codes() {
        let dir = tempfile::tempdir().expect("tempdir");
        build(dir.path());
        assert_eq!(
            run_check(dir.path(), ValidationLevel::Paranoid, false, None),
            0
        );
        assert_eq!(run_check(dir.path(), ValidationLevel::Basic, true, None), 0);
        let table = std::fs::read_dir(dir.path())
            .expect("dir")
            .map(|e| e.expect("e").path())
            .find(|p| p.extension().is_some_and(|e| e == "sst"))
            .expect("table");
        let mut data = std::fs::read(&table).expect("read");
        let n = data.len();
        data[n - 30] ^= 1; // the footer
        std::fs::write(&table, data).expect("write");
        assert_eq!(
            run_check(dir.path(), ValidationLevel::Basic, false, None),
            4
        );
        assert_eq!(run_repair_opts(dir.path(), false, None), 0);
        assert_eq!(
            run_check(dir.path(), ValidationLevel::Comprehensive, false, None),
            0
        );
        assert_eq!(
            run_check(
                &dir.path().join("nope"),
                ValidationLevel::Basic,
                false,
                None
            ),
            2
        );
        let db =
            lightning_db::Database::open(dir.path(), LightningDbConfig::default()).expect("open");
        assert_eq!(
            run_check(dir.path(), ValidationLevel::Basic, false, None),
            3,
            "locked"
        );
        assert_eq!(db.iter().count(), 500);
    }
}
