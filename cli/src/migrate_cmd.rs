//! `lightning inspect PATH` and `lightning migrate PATH [--to VERSION] [--encrypt |
//! --decrypt] [--dry-run]`.
//!
//! `inspect` reads the database's files without taking its lock or writing anything:
//! format version, checksum algorithms, compression, encryption, files per level and
//! sizes. `migrate` prints the plan, the estimated time and the safety check, then (unless
//! `--dry-run`) runs it on the closed database, with a progress bar on a terminal.
//! `--encrypt` and `--decrypt` turn encryption at rest on or off; they, and any migration
//! of an encrypted database, take its key from the global `--key-file FILE` or
//! `LIGHTNING_KEY`.
//!
//! Exit codes: 0 done (or nothing to do), 2 no database at PATH or a bad argument, 3 the
//! migration was refused or failed (the database is then as it was, unless the message
//! says its rollback failed).

use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use lightning_db::{
    ChecksumAlgorithm, DatabaseError, DatabaseInfo, DatabaseVersion, EncryptionKey, MigrationError,
    MigrationManager, MigrationPhase,
};

const EXIT_OK: i32 = 0;
const EXIT_USAGE: i32 = 2;
const EXIT_DATABASE: i32 = 3;

/// Arguments of `lightning inspect`.
#[derive(Debug, clap::Args)]
pub struct InspectArgs {
    /// Database directory (read only; it may be open elsewhere).
    pub path: PathBuf,
}

/// Arguments of `lightning migrate`.
#[derive(Debug, clap::Args)]
pub struct MigrateArgs {
    /// Database directory (the database must be closed).
    pub path: PathBuf,
    /// Target format: v1, v2 or latest.
    #[arg(long, default_value = "latest")]
    pub to: DatabaseVersion,
    /// Also rewrite every file with this checksum algorithm: xxh64, crc32 or blake3.
    #[arg(long)]
    pub checksum: Option<String>,
    /// Also rewrite every table with compression on or off.
    #[arg(long)]
    pub compression: Option<OnOff>,
    /// Copy the database into this (new) directory before the first step.
    #[arg(long)]
    pub backup: Option<PathBuf>,
    /// Turn encryption at rest on: every file is rewritten sealed, under a new key file
    /// wrapped by the key from --key-file FILE or LIGHTNING_KEY (the database then opens
    /// only with that key).
    #[arg(long, conflicts_with = "decrypt")]
    pub encrypt: bool,
    /// Turn encryption at rest off: every file is read with the key from --key-file FILE
    /// or LIGHTNING_KEY and rewritten in the clear, and the key file is removed.
    #[arg(long)]
    pub decrypt: bool,
    /// Print the plan, the estimate and the safety check, and change nothing.
    #[arg(long)]
    pub dry_run: bool,
}

/// `on` or `off`.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum OnOff {
    /// On.
    On,
    /// Off.
    Off,
}

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
    if let Some(action) = e.suggested_action() {
        eprintln!("  suggested action: {action}");
    }
}

fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}

fn print_info(info: &DatabaseInfo) {
    let version = match info.version {
        Some(v) => format!("{v} ({})", v.description()),
        None if info.format_version < DatabaseVersion::oldest_number() => format!(
            "v{} (older than this release reads: migrate it with a release that reads it)",
            info.format_version
        ),
        None => format!("v{} (newer than this release)", info.format_version),
    };
    println!("database:        {}", info.path.display());
    println!("format version:  {version}");
    println!("  recorded in:   {:?}", info.format_source);
    if info.pending_switch {
        println!("  an interrupted format switch is pending (the next open settles it)");
    }
    let algos: Vec<String> = info.checksum_algorithms().into_iter().collect();
    println!("checksum:        {}", algos.join(", "));
    println!("compression:     {}", info.compression());
    match (info.encrypted, info.key_generation) {
        (false, _) => println!("encryption:      off"),
        (true, Some(g)) => println!("encryption:      on (XChaCha20-Poly1305, key generation {g})"),
        (true, None) => println!("encryption:      on (key file unreadable)"),
    }
    if info.tables_hidden {
        println!(
            "tables:          not listed: the manifest is sealed (give the key with \
             --key-file FILE or LIGHTNING_KEY)"
        );
    }
    if let Some(m) = &info.manifest {
        println!(
            "manifest:        {} ({}, format {}, {:?})",
            m.name,
            human_bytes(m.size),
            m.format_version,
            m.checksum
        );
    }
    for l in &info.logs {
        println!(
            "log segment:     {} ({}, format {}, {:?})",
            l.name,
            human_bytes(l.size),
            l.format_version,
            l.checksum
        );
    }
    for (level, tables) in info.levels.iter().enumerate() {
        let bytes: u64 = tables.iter().map(|t| t.size).sum();
        println!(
            "level {level}:         {} files, {}",
            tables.len(),
            human_bytes(bytes)
        );
        for t in tables {
            println!(
                "  {} {} entries {} format {} {:?} {}/{} blocks compressed",
                t.name,
                human_bytes(t.size),
                t.entries,
                t.format_version,
                t.checksum,
                t.compressed_blocks,
                t.blocks
            );
        }
    }
    println!("total:           {}", human_bytes(info.total_bytes()));
}

/// Runs `lightning inspect`; returns the exit code. With `key` (`--key-file` or
/// `LIGHTNING_KEY`) an encrypted database's tables are listed too.
pub fn run_inspect(args: &InspectArgs, key: Option<&lightning_db::EncryptionKey>) -> i32 {
    let manager = MigrationManager::new();
    let inspected = match key {
        Some(k) => manager.inspect_with_key(&args.path, k),
        None => manager.inspect(&args.path),
    };
    match inspected {
        Ok(info) => {
            print_info(&info);
            EXIT_OK
        }
        Err(e) => {
            print_error("inspect", &e);
            exit_for(&e)
        }
    }
}

fn checksum_of(name: &str) -> Option<ChecksumAlgorithm> {
    match name.to_ascii_lowercase().as_str() {
        "xxh64" => Some(ChecksumAlgorithm::Xxh64),
        "crc32" => Some(ChecksumAlgorithm::Crc32),
        "blake3" => Some(ChecksumAlgorithm::Blake3),
        _ => None,
    }
}

fn migration_error(e: MigrationError) -> i32 {
    let rolled_back = e.database_unchanged();
    let e = DatabaseError::from(e);
    print_error("migrate", &e);
    if rolled_back {
        eprintln!("  the database was not changed (or was rolled back): it opens as before");
    }
    exit_for(&e)
}

/// Runs `lightning migrate`; returns the exit code. `key` (`--key-file` or
/// `LIGHTNING_KEY`) is an encrypted database's key, or the key `--encrypt` wraps the new
/// data keys with.
pub fn run_migrate(args: &MigrateArgs, quiet: bool, key: Option<EncryptionKey>) -> i32 {
    let bar: Arc<Mutex<Option<indicatif::ProgressBar>>> = Arc::new(Mutex::new(None));
    let shown = Arc::clone(&bar);
    let terminal = !quiet && std::io::stderr().is_terminal();
    let manager = MigrationManager::new().on_progress(move |p| {
        if !terminal {
            return;
        }
        let Ok(mut slot) = shown.lock() else { return };
        let b = slot.get_or_insert_with(|| {
            let b = indicatif::ProgressBar::new(p.bytes_total.max(1));
            b.set_style(
                indicatif::ProgressStyle::with_template(
                    "{msg} [{bar:40}] {bytes}/{total_bytes} ({eta})",
                )
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
                .progress_chars("=> "),
            );
            b
        });
        if p.bytes_total > 0 {
            b.set_length(p.bytes_total);
            b.set_position(p.bytes_done);
        }
        b.set_message(format!(
            "step {}/{} {:?}",
            p.step_index + 1,
            p.step_count,
            p.phase
        ));
        if p.phase == MigrationPhase::Done {
            b.finish_and_clear();
            *slot = None;
        }
    });
    if (args.encrypt || args.decrypt) && key.is_none() {
        eprintln!(
            "lightning migrate: --{} needs the database's key: --key-file FILE or \
             LIGHTNING_KEY (64 hexadecimal digits)",
            if args.encrypt { "encrypt" } else { "decrypt" }
        );
        return EXIT_USAGE;
    }
    let encrypted = match manager.inspect(&args.path) {
        Ok(info) => info.encrypted,
        Err(e) => {
            print_error("migrate", &e);
            return exit_for(&e);
        }
    };
    // With a key the plan carries it (an encrypted database is migrated only with it,
    // and stays at its layout unless decrypted); without, an encrypted database is
    // refused by the safety check below, naming the key options.
    let planned = match key {
        Some(k) => manager.create_migration_plan_with_key(&args.path, args.to, k),
        None if encrypted => manager
            .create_migration_plan(DatabaseVersion::Latest, DatabaseVersion::Latest)
            .map(|p| p.with_path(&args.path)),
        None => manager.create_migration_plan_for(&args.path, args.to),
    };
    let mut plan = match planned {
        Ok(p) => p,
        Err(e) => return migration_error(e),
    };
    // Decrypting comes first and encrypting last, so the other steps rewrite plain files
    // (and the log is read once either way).
    if args.decrypt {
        plan = plan.with_encryption(false);
    }
    if let Some(name) = &args.checksum {
        let Some(algo) = checksum_of(name) else {
            eprintln!(
                "lightning migrate: unknown checksum algorithm '{name}' (xxh64, crc32, blake3)"
            );
            return EXIT_USAGE;
        };
        plan = plan.with_checksum(algo);
    }
    if let Some(c) = args.compression {
        plan = plan.with_compression(matches!(c, OnOff::On));
    }
    if args.encrypt {
        plan = plan.with_encryption(true);
    }
    if let Some(b) = &args.backup {
        plan = plan.with_backup(b);
    }
    println!("database:   {}", args.path.display());
    println!(
        "plan:       {} -> {}",
        plan.from_version(),
        plan.to_version().resolve()
    );
    let encrypted_after = (encrypted || args.encrypt) && !args.decrypt;
    println!(
        "encryption: {} -> {}",
        if encrypted { "on (format 3)" } else { "off" },
        if encrypted_after {
            "on (format 3)"
        } else {
            "off"
        }
    );
    if plan.steps().is_empty() {
        println!("steps:      none (already in that format)");
    }
    for (i, step) in plan.steps().iter().enumerate() {
        println!("  step {}:   {step}", i + 1);
    }
    if let Some(b) = plan.backup_dir() {
        println!("backup:     {}", b.display());
    }
    let bytes = manager.estimate_migration_bytes(&plan);
    let estimate = manager.estimate_migration_time(&plan);
    println!(
        "estimate:   {} to rewrite, about {:.1} s",
        human_bytes(bytes),
        estimate.as_secs_f64()
    );
    match manager.validate_migration_safety(&plan) {
        Ok(()) => println!("safety:     ok (closed, room on disk, rollback point sound)"),
        Err(e) => {
            println!("safety:     refused");
            return migration_error(e);
        }
    }
    if args.dry_run {
        println!("dry run:    nothing changed");
        return EXIT_OK;
    }
    if plan.steps().is_empty() {
        return EXIT_OK;
    }
    let result = manager.execute_migration_blocking(plan);
    if let Ok(mut slot) = bar.lock() {
        if let Some(b) = slot.take() {
            b.finish_and_clear();
        }
    }
    match result {
        Ok(r) => {
            for (i, s) in r.steps.iter().enumerate() {
                println!(
                    "  step {} done: {} written, {} tables, {} old files removed, {:.2} s",
                    i + 1,
                    human_bytes(s.bytes_rewritten),
                    s.tables_written,
                    s.files_removed,
                    s.duration.as_secs_f64()
                );
            }
            for w in &r.warnings {
                println!("  warning: {w}");
            }
            println!(
                "migrated:   {} -> {} ({} written in {:.2} s)",
                r.from,
                r.to,
                human_bytes(r.bytes_rewritten),
                r.duration.as_secs_f64()
            );
            if r.encrypted_before != r.encrypted_after {
                println!(
                    "encryption: {}",
                    if r.encrypted_after {
                        "on: the database now opens only with its key (--key-file FILE or \
                         LIGHTNING_KEY)"
                    } else {
                        "off: the key file is removed; the database opens without a key"
                    }
                );
            }
            EXIT_OK
        }
        Err(e) => migration_error(e),
    }
}
