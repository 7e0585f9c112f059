//! `lightning health PATH [--json] [--timeout SECS]`: runs the built-in health checks once
//! and prints each one's status, message and remediation.
//!
//! The checks are the core's: `integrity` (every table file verified, one whole pass),
//! `resources` (the machine's memory and the disk holding the database) and `performance`
//! (latency, errors and availability of the database since it was opened here), each
//! bounded by the timeout (an overrun is reported `unknown`), then the engine's own
//! self-checks.
//!
//! | exit code | meaning |
//! |---|---|
//! | 0 | no check is critical (healthy, warnings or unknown) |
//! | 3 | the database could not be opened |
//! | 4 | a check is critical |

use std::io::{self, Write};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use lightning_db::{
    CheckReport, DataIntegrityCheck, Database, HealthMonitor, HealthReport, HealthState,
    PerformanceCheck, ResourceCheck,
};

use crate::common::{open_existing, GlobalOpts};
use crate::error::{CliError, ExitStatus};
use crate::output::{human_duration, thousands};

/// Arguments of `lightning health`.
#[derive(Debug, clap::Args)]
pub struct HealthArgs {
    /// Database directory.
    pub path: PathBuf,
    /// Print the report as JSON (`state`, `checks` with each one's `status` and
    /// `remediation`, and the engine's self-checks as `engine`).
    #[arg(long)]
    pub json: bool,
    /// Longest a single check may run, seconds (the integrity check reads every table).
    #[arg(long, value_name = "SECS", default_value_t = 300)]
    pub timeout: u64,
}

/// Runs the checks on the database at `args.path`; the exit status says whether one is
/// critical.
pub fn run(global: &GlobalOpts, args: &HealthArgs) -> Result<ExitStatus, CliError> {
    if args.timeout == 0 {
        return Err(CliError::Usage(
            "--timeout must be at least 1 second".into(),
        ));
    }
    let db = open_existing(global, &args.path)?;
    let (report, progress) = check(&db, Duration::from_secs(args.timeout));
    db.close()?;
    let mut out = io::stdout().lock();
    if args.json {
        writeln!(out, "{}", report.to_json())?;
    } else {
        write!(out, "{}", render(&args.path, &report, progress))?;
    }
    out.flush()?;
    Ok(if report.state == HealthState::Critical {
        ExitStatus::Verification
    } else {
        ExitStatus::Success
    })
}

/// One round of the three built-in checks (the integrity check makes a whole pass in
/// it), with the engine's self-checks; and the blocks the integrity check verified.
fn check(db: &Database, timeout: Duration) -> (HealthReport, Option<u64>) {
    let integrity =
        Arc::new(DataIntegrityCheck::for_database(db).with_blocks_per_round(usize::MAX));
    let monitor = HealthMonitor::new(vec![
        Box::new(Arc::clone(&integrity)),
        Box::new(ResourceCheck::for_database(db)),
        Box::new(PerformanceCheck::for_database(db)),
    ])
    .with_timeout(timeout);
    let mut report = monitor.run_once();
    report.engine = Some(db.stats().health());
    let blocks = integrity.progress().first().map(|(_, p)| p.blocks_verified);
    (report, blocks)
}

/// The report as text: one block per check, then the engine's self-checks.
fn render(path: &std::path::Path, report: &HealthReport, blocks: Option<u64>) -> String {
    let mut s = format!(
        "Health of {}: {}\n",
        path.display(),
        state_name(report.state)
    );
    let width = report
        .checks
        .iter()
        .map(|c| c.name.len())
        .max()
        .unwrap_or(0);
    for c in &report.checks {
        s.push_str(&format!(
            "  {:<width$}  {:<8} ({} criticality, {})\n",
            c.name,
            c.status.name(),
            criticality_name(c),
            human_duration(c.duration)
        ));
        if let Some(message) = c.status.message() {
            s.push_str(&format!("  {:<width$}  {message}\n", ""));
        }
        if c.name == "integrity" && c.status.is_healthy() {
            if let Some(blocks) = blocks {
                s.push_str(&format!(
                    "  {:<width$}  {} data blocks verified\n",
                    "",
                    thousands(blocks)
                ));
            }
        }
        if let Some(note) = &c.note {
            s.push_str(&format!("  {:<width$}  note: {note}\n", ""));
        }
        if let Some(fix) = &c.remediation {
            s.push_str(&format!("  {:<width$}  remediation: {fix}\n", ""));
        }
    }
    if let Some(engine) = &report.engine {
        s.push_str(&format!("  engine self-checks: {:?}\n", engine.state));
        let width = engine
            .checks
            .iter()
            .map(|c| c.name.len())
            .max()
            .unwrap_or(0);
        for c in &engine.checks {
            s.push_str(&format!(
                "    {:<width$}  {:?}: {}\n",
                c.name, c.state, c.message
            ));
        }
    }
    s
}

fn state_name(state: HealthState) -> &'static str {
    match state {
        HealthState::Healthy => "healthy",
        HealthState::Unknown => "unknown",
        HealthState::Warning => "warning",
        HealthState::Critical => "critical",
    }
}

fn criticality_name(c: &CheckReport) -> String {
    format!("{:?}", c.criticality).to_lowercase()
}
