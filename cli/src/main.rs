//! `lightning`: the command-line tool of Lightning DB.
//!
//! `lightning demo [PATH]` shows the database at work on 100,000 records; `put`, `get`,
//! `delete`, `scan` and `stats` poke at a database by hand; `health` runs its health
//! checks; `check` verifies its files and `repair` mends them; `inspect` shows their
//! format and `migrate` changes it; `audit verify` and `audit tail` check and read an audit
//! log. Exit codes are stable and
//! documented on [`error::ExitStatus`]: 0 success, 1 not found, 2 usage, 3 database error,
//! 4 verification failure (or a critical health check).
//!
//! Adding a subcommand: write its module with an `Args` struct (`#[derive(clap::Args)]`) and a
//! `run(&GlobalOpts, &Args) -> Result<(), CliError>` function, add one variant to [`Command`]
//! and one arm to [`dispatch`].

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod audit_cmd;
mod commands;
mod common;
mod demo;
mod error;
mod health_cmd;
mod integrity_cmd;
mod migrate_cmd;
mod output;

use common::GlobalOpts;
use error::CliError;

/// Command-line tool of Lightning DB, an embedded ordered key-value database.
#[derive(Debug, Parser)]
#[command(name = "lightning", version, about, long_about = None)]
#[command(after_help = "Exit codes: 0 success, 1 key not found, 2 usage error, \
                        3 database error (its code and a suggested action go to stderr), \
                        4 demo verification failed, check/repair found damage it \
                        could not mend, audit verify found tampering, or a health check \
                        is critical.")]
pub struct Cli {
    /// Options shared by every subcommand.
    #[command(flatten)]
    pub global: GlobalOpts,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands. Each variant's arguments live in the module that runs it.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Load, read, scan, reopen and verify a demo data set, then print a summary.
    Demo(demo::DemoArgs),
    /// Store VALUE under KEY (creates the database if needed).
    Put(commands::PutArgs),
    /// Print the value stored under KEY (exit code 1 when there is none).
    Get(commands::GetArgs),
    /// Remove KEY (exit code 1 when it held no value).
    Delete(commands::DeleteArgs),
    /// Print key-value pairs in key order, one per line, separated by a tab.
    Scan(commands::ScanArgs),
    /// Print the database's sizes, counters, latency, performance metrics and recovery report.
    Stats(commands::StatsArgs),
    /// Run the integrity, resources and performance checks once and print each one's
    /// status and remediation (exit code 4 when one is critical).
    Health(health_cmd::HealthArgs),
    /// Verify every checksum and structure of a database (exit code 4 when damage is found).
    Check(CheckArgs),
    /// Repair a closed database: rebuild what can be rebuilt, set aside what cannot, and
    /// list both (exit code 4 when something could not be repaired).
    Repair(RepairArgs),
    /// Print a database's format version, checksum algorithms, compression, encryption and
    /// files per level, without opening it for writing.
    Inspect(migrate_cmd::InspectArgs),
    /// Migrate a closed database to another format (default: the newest), or turn its
    /// encryption on or off (--encrypt, --decrypt, with --key-file or LIGHTNING_KEY):
    /// print the plan, the estimated time and the safety check, then run it (unless
    /// --dry-run).
    Migrate(migrate_cmd::MigrateArgs),
    /// Verify an audit log (`audit verify PATH`, exit code 4 on tampering) or print its
    /// last entries (`audit tail PATH [-n N]`).
    Audit(audit_cmd::AuditArgs),
    /// Rotate an encrypted database's data key (its key from --key-file or LIGHTNING_KEY);
    /// with --new-key-file, re-wrap its data keys under that key instead.
    RotateKey(commands::RotateKeyArgs),
}

/// Arguments of `lightning check`.
#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    /// Database directory.
    #[arg(default_value = common::DEFAULT_PATH)]
    pub path: std::path::PathBuf,
    /// basic (checksums), standard (+ structure), comprehensive (+ logical), paranoid.
    #[arg(long, default_value = "comprehensive")]
    pub level: lightning_db::ValidationLevel,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `lightning repair`.
#[derive(Debug, clap::Args)]
pub struct RepairArgs {
    /// Database directory (the database must not be open elsewhere).
    #[arg(default_value = common::DEFAULT_PATH)]
    pub path: std::path::PathBuf,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Runs one parsed command line.
fn dispatch(cli: &Cli) -> Result<(), CliError> {
    let global = &cli.global;
    match &cli.command {
        Command::Demo(args) => demo::run(global, args),
        Command::Put(args) => commands::put(global, args),
        Command::Get(args) => commands::get(global, args),
        Command::Delete(args) => commands::delete(global, args),
        Command::Scan(args) => commands::scan(global, args),
        Command::Stats(args) => commands::stats(global, args),
        Command::RotateKey(args) => commands::rotate_key(global, args),
        Command::Check(_)
        | Command::Repair(_)
        | Command::Health(_)
        | Command::Inspect(_)
        | Command::Migrate(_)
        | Command::Audit(_) => Ok(()),
    }
}

fn main() -> ExitCode {
    // clap prints usage errors itself and exits with 2 (0 for --help and --version).
    let cli = Cli::parse();
    // check, repair and health report on their own and choose their exit code.
    match &cli.command {
        Command::Health(args) => {
            return match health_cmd::run(&cli.global, args) {
                Ok(status) => status.into(),
                Err(err) => err.report(),
            }
        }
        Command::Check(args) => {
            return match cli.global.encryption_key() {
                Ok(key) => exit_code(integrity_cmd::run_check(
                    &args.path,
                    args.level,
                    args.json,
                    key.as_ref(),
                )),
                Err(err) => err.report(),
            }
        }
        Command::Repair(args) => {
            return match cli.global.encryption_key() {
                Ok(key) => exit_code(integrity_cmd::run_repair_opts(
                    &args.path,
                    args.json,
                    key.as_ref(),
                )),
                Err(err) => err.report(),
            }
        }
        Command::Inspect(args) => {
            return match cli.global.encryption_key() {
                Ok(key) => exit_code(migrate_cmd::run_inspect(args, key.as_ref())),
                Err(err) => err.report(),
            }
        }
        Command::Audit(args) => {
            return exit_code(audit_cmd::run(args, cli.global.key_file.as_deref()))
        }
        Command::Migrate(args) => {
            return match cli.global.encryption_key() {
                Ok(key) => exit_code(migrate_cmd::run_migrate(args, cli.global.quiet, key)),
                Err(err) => err.report(),
            }
        }
        _ => {}
    }
    match dispatch(&cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => err.report(),
    }
}

fn exit_code(code: i32) -> ExitCode {
    ExitCode::from(u8::try_from(code).unwrap_or(1))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn command_line_definition_is_consistent() {
        Cli::command().debug_assert();
    }
}
