//! `lightning audit verify PATH` and `lightning audit tail PATH [-n N]`.
//!
//! PATH is an audit log folder or a database folder that keeps one (its `audit/`). A sealed
//! log (`encrypt_logs`) is authenticated with the key in `--key-file FILE` (the global
//! option, here naming the audit log's key) or `$LIGHTNING_AUDIT_KEY` (64 hexadecimal
//! digits); without one `verify` checks only the hash chain and `tail` refuses.
//!
//! | exit code | `verify` | `tail` |
//! |---|---|---|
//! | 0 | the log is intact | entries printed |
//! | 2 | no audit log at PATH | no audit log at PATH |
//! | 3 | it could not be read (I/O error, wrong key) | same, or a sealed log without a key |
//! | 4 | tampering found (named: kind, entry, file, line) | tampering found |

use std::path::{Path, PathBuf};

use lightning_db::{AuditKey, DatabaseError, AUDIT_KEY_ENV};

const EXIT_OK: i32 = 0;
const EXIT_USAGE: i32 = 2;
const EXIT_DATABASE: i32 = 3;
const EXIT_TAMPERED: i32 = 4;

/// Arguments of `lightning audit`.
#[derive(Debug, clap::Args)]
pub struct AuditArgs {
    /// What to do with the log.
    #[command(subcommand)]
    pub action: AuditAction,
}

/// The `audit` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum AuditAction {
    /// Verify the hash chain, the files and the state file (exit code 4 on tampering).
    Verify(VerifyArgs),
    /// Print the last entries, one JSON object per line, oldest first.
    Tail(TailArgs),
}

/// Arguments of `lightning audit verify`.
#[derive(Debug, clap::Args)]
pub struct VerifyArgs {
    /// Audit log folder, or a database folder keeping one in `audit/`.
    pub path: PathBuf,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `lightning audit tail`.
#[derive(Debug, clap::Args)]
pub struct TailArgs {
    /// Audit log folder, or a database folder keeping one in `audit/`.
    pub path: PathBuf,
    /// How many entries.
    #[arg(short = 'n', default_value_t = 10)]
    pub n: usize,
}

/// The log folder PATH names, if any.
fn log_dir(path: &Path) -> Option<PathBuf> {
    [path.to_path_buf(), path.join("audit")]
        .into_iter()
        .find(|d| d.join("audit.state").exists() || has_log_files(d))
}

fn has_log_files(dir: &Path) -> bool {
    std::fs::read_dir(dir).is_ok_and(|rd| {
        rd.filter_map(Result::ok).any(|e| {
            let name = e.file_name();
            let name = name.to_string_lossy();
            name.starts_with("audit-") && name.ends_with(".log")
        })
    })
}

fn key(file: Option<&Path>) -> Result<Option<AuditKey>, DatabaseError> {
    match file {
        Some(f) => AuditKey::from_file(f).map(Some),
        None => AuditKey::from_env(AUDIT_KEY_ENV),
    }
}

fn fail(what: &str, e: &DatabaseError) -> i32 {
    eprintln!(
        "lightning audit {what}: error {} ({}): {e}",
        e.error_code(),
        e.code_name()
    );
    match e {
        DatabaseError::SecurityError(lightning_db::SecurityError::AuditLogTampered { .. }) => {
            EXIT_TAMPERED
        }
        _ => EXIT_DATABASE,
    }
}

/// Runs `lightning audit ...` with the global `--key-file` (the sealed log's key file);
/// returns the exit code.
pub fn run(args: &AuditArgs, key_file: Option<&Path>) -> i32 {
    match &args.action {
        AuditAction::Verify(a) => verify(a, key_file),
        AuditAction::Tail(a) => tail(a, key_file),
    }
}

fn verify(args: &VerifyArgs, key_file: Option<&Path>) -> i32 {
    let Some(dir) = log_dir(&args.path) else {
        eprintln!(
            "lightning audit verify: no audit log at {}",
            args.path.display()
        );
        return EXIT_USAGE;
    };
    let key = match key(key_file) {
        Ok(k) => k,
        Err(e) => return fail("verify", &e),
    };
    let report = match lightning_db::verify_audit_log(&dir, key.as_ref()) {
        Ok(r) => r,
        Err(e) => return fail("verify", &e),
    };
    if args.json {
        println!("{}", report.to_json());
    } else {
        println!("audit log {}", dir.display());
        println!(
            "  {} entries ({}..={}) in {} files{}",
            report.entries,
            report.first_seq,
            report.last_seq,
            report.files.len(),
            match (report.sealed, report.authenticated) {
                (true, true) => ", sealed and authenticated",
                (true, false) => ", sealed (chain only: no key given)",
                _ => "",
            }
        );
        if let Some(cut) = &report.interrupted {
            println!(
                "  interrupted append: {} of the entries up to {} present, {} torn bytes \
                 (a crash during an append; the next writer records it)",
                cut.present_last_seq, cut.expected_last_seq, cut.torn_bytes
            );
        }
        match &report.tampering {
            None => println!("  intact"),
            Some(t) => println!("  TAMPERED: {t}"),
        }
    }
    if report.is_intact() {
        EXIT_OK
    } else {
        EXIT_TAMPERED
    }
}

fn tail(args: &TailArgs, key_file: Option<&Path>) -> i32 {
    let Some(dir) = log_dir(&args.path) else {
        eprintln!(
            "lightning audit tail: no audit log at {}",
            args.path.display()
        );
        return EXIT_USAGE;
    };
    let key = match key(key_file) {
        Ok(k) => k,
        Err(e) => return fail("tail", &e),
    };
    match lightning_db::read_audit_tail(&dir, args.n, key.as_ref()) {
        Ok(entries) => {
            for (seq, e) in entries {
                let ts = e
                    .timestamp
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_secs_f64())
                    .unwrap_or(0.0);
                let metadata: std::collections::BTreeMap<_, _> = e.metadata.into_iter().collect();
                let line = serde_json::json!({
                    "seq": seq,
                    "time": ts,
                    "event_type": format!("{:?}", e.event_type),
                    "resource": e.resource,
                    "operation": e.operation,
                    "result": format!("{:?}", e.result),
                    "risk_level": format!("{:?}", e.risk_level),
                    "metadata": metadata,
                });
                println!("{line}");
            }
            EXIT_OK
        }
        Err(e) => fail("tail", &e),
    }
}
