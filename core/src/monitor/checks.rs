//! The built-in health checks: [`DataIntegrityCheck`] (table files verified a few blocks
//! per round, and the corruption the database met), [`ResourceCheck`] (memory and disk,
//! from the operating system and the database's file system) and [`PerformanceCheck`]
//! (latency, throughput, errors and availability, from the metrics).
//!
//! Each has `new()`, which watches every database open in the process, and
//! `for_database(&db)`, which watches one.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;

use super::collector::Target;
use super::health::{Criticality, HealthCheck, HealthStatus};
use super::metrics::SlaThresholds;
use super::sample::Window;
use crate::config::ValidationLevel;
use crate::engine::DbInner;
use crate::integrity::verify::{open_table_blocks, verify_next_blocks, Checker, TableBlocks};
use crate::integrity::{CheckKind, IntegrityProblem};
use crate::storage::table::table_file_name;

/// Data blocks [`DataIntegrityCheck`] verifies per database per round, by default.
pub const DEFAULT_BLOCKS_PER_ROUND: usize = 256;

/// Where the integrity check stands in one database.
#[derive(Default)]
struct Cursor {
    /// A pass is under way (its tables listed).
    in_pass: bool,
    /// The tables of the current pass, in order, and the one being walked.
    pass_tables: Vec<u64>,
    position: usize,
    open: Option<TableBlocks>,
    passes: u64,
    blocks: u64,
    /// Problems found in this pass and in the last complete one.
    current: Vec<IntegrityProblem>,
    previous: Vec<IntegrityProblem>,
}

/// Verifies the table files of the watched databases incrementally: each round reads at
/// most [`blocks_per_round`](Self::with_blocks_per_round) data blocks of each database
/// (plus the footer and index of a table it starts), so a large database is covered over
/// many rounds without a latency spike, and the next pass starts over with the tables
/// live then. It is `Critical` while the current or the last complete pass found damage
/// (or unreadable blocks: a failing device), or when the database itself met corruption
/// since it opened.
///
/// The level sets what each block gets: `Basic` its checksum; `Standard` (the default)
/// also its structure and key order and each table's footer, index, filter and
/// properties blocks; `Comprehensive` and `Paranoid` also, at the end of each pass, every
/// live table's size against the manifest.
pub struct DataIntegrityCheck {
    validation_level: ValidationLevel,
    blocks_per_round: usize,
    target: Target,
    cursors: Mutex<HashMap<u64, Cursor>>,
}

impl std::fmt::Debug for DataIntegrityCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DataIntegrityCheck")
            .field("validation_level", &self.validation_level)
            .field("blocks_per_round", &self.blocks_per_round)
            .finish()
    }
}

impl Default for DataIntegrityCheck {
    fn default() -> Self {
        Self::new()
    }
}

/// What an integrity check has covered in one database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IntegrityProgress {
    /// Complete passes over every table.
    pub passes: u64,
    /// Data blocks verified so far, all passes.
    pub blocks_verified: u64,
    /// Tables of the current pass, and how many of them are done.
    pub tables_in_pass: usize,
    /// Tables of the current pass already verified.
    pub tables_done: usize,
}

impl DataIntegrityCheck {
    /// A check of every open database at [`ValidationLevel::Standard`].
    pub fn new() -> Self {
        Self::with_level(ValidationLevel::Standard)
    }

    /// A check of every open database at `level`.
    pub fn with_level(level: ValidationLevel) -> Self {
        Self::with_target(Target::All, level)
    }

    pub(crate) fn with_target(target: Target, level: ValidationLevel) -> Self {
        Self {
            validation_level: level,
            blocks_per_round: DEFAULT_BLOCKS_PER_ROUND,
            target,
            cursors: Mutex::new(HashMap::new()),
        }
    }

    /// The same check verifying at most `blocks` data blocks per database per round
    /// (at least 1; default [`DEFAULT_BLOCKS_PER_ROUND`]).
    pub fn with_blocks_per_round(mut self, blocks: usize) -> Self {
        self.blocks_per_round = blocks.max(1);
        self
    }

    /// The level it verifies at.
    pub fn validation_level(&self) -> ValidationLevel {
        self.validation_level
    }

    /// How far it got in each watched database, by database folder.
    pub fn progress(&self) -> Vec<(PathBuf, IntegrityProgress)> {
        let cursors = self.cursors.lock();
        self.target
            .databases()
            .iter()
            .filter_map(|inner| {
                let c = cursors.get(&inner.recorder.id)?;
                Some((
                    inner.path.clone(),
                    IntegrityProgress {
                        passes: c.passes,
                        blocks_verified: c.blocks,
                        tables_in_pass: c.pass_tables.len(),
                        tables_done: c.position.min(c.pass_tables.len()),
                    },
                ))
            })
            .collect()
    }

    /// One round in one database: verifies up to the block budget from where the last
    /// round stopped. A round starts at most one pass, so a small database is not
    /// verified over and over within one round.
    fn step(&self, inner: &DbInner, c: &mut Cursor) {
        let mut budget = self.blocks_per_round;
        let mut ck = Checker::new(Arc::clone(&inner.fs), &inner.path, self.validation_level)
            .with_keys(inner.cache.keys());
        let mut began = false;
        while budget > 0 {
            if !c.in_pass {
                if began {
                    break;
                }
                began = true;
                c.in_pass = true;
                c.pass_tables = live_tables(inner);
                c.position = 0;
                c.open = None;
            }
            if c.position >= c.pass_tables.len() {
                self.end_pass(inner, &mut ck, c);
                continue;
            }
            let number = c.pass_tables[c.position];
            if c.open.as_ref().is_none_or(|t| t.number != number) {
                if !live_tables(inner).contains(&number) {
                    // Compacted away since the pass began: nothing left to verify.
                    c.position += 1;
                    c.open = None;
                    continue;
                }
                c.open = open_table_blocks(&mut ck, number);
                budget -= 1; // the footer and index cost about a block
                if c.open.is_none() {
                    c.position += 1;
                    continue;
                }
            }
            let Some(t) = c.open.as_mut() else { break };
            let done = verify_next_blocks(&mut ck, t, budget);
            budget -= done.min(budget);
            c.blocks += done as u64;
            if t.done() {
                c.open = None;
                c.position += 1;
            }
        }
        collect_problems(inner, &mut ck, c);
    }

    /// Closes a pass: at `Comprehensive` and above, checks every live table's size
    /// against the manifest.
    fn end_pass(&self, inner: &DbInner, ck: &mut Checker, c: &mut Cursor) {
        if self.validation_level >= ValidationLevel::Comprehensive {
            let sv = inner.super_version();
            for (_, t) in sv.version.all_tables() {
                let path = inner.path.join(table_file_name(t.number));
                match inner.fs.file_size(&path) {
                    Ok(size) if size == t.file_size => {}
                    Ok(size) => ck.problem(
                        crate::integrity::Component::Tables,
                        &path,
                        None,
                        CheckKind::Structure,
                        format!("{size} bytes on disk, the manifest says {}", t.file_size),
                        false,
                    ),
                    Err(e) => ck.problem(
                        crate::integrity::Component::Tables,
                        &path,
                        None,
                        if e.kind() == std::io::ErrorKind::NotFound {
                            CheckKind::Missing
                        } else {
                            CheckKind::Io
                        },
                        format!("a live table cannot be read: {e}"),
                        false,
                    ),
                }
            }
        }
        collect_problems(inner, ck, c);
        c.previous = std::mem::take(&mut c.current);
        c.passes += 1;
        c.in_pass = false;
        c.pass_tables.clear();
        c.position = 0;
    }
}

/// Moves the problems `ck` found into the current pass's, leaving out the removal of a
/// table replaced while it was read (compaction, not damage).
fn collect_problems(inner: &DbInner, ck: &mut Checker, c: &mut Cursor) {
    if ck.report.problems.is_empty() {
        return;
    }
    let live = live_tables(inner);
    c.current.extend(ck.report.problems.drain(..).filter(|p| {
        p.check != CheckKind::Missing || live.iter().any(|n| p.file.ends_with(&table_file_name(*n)))
    }));
}

fn live_tables(inner: &DbInner) -> Vec<u64> {
    inner
        .super_version()
        .version
        .all_tables()
        .map(|(_, t)| t.number)
        .collect()
}

const INTEGRITY_ACTION: &str = "stop relying on the affected data: run `lightning check PATH` \
     for the full list, then `lightning repair PATH` on the closed database (or restore from a \
     backup); the corruption action in force decides whether the database halts meanwhile";
const DEVICE_ACTION: &str = "reads from the device fail: check it (kernel log, SMART), copy \
     the database to healthy storage and restore from a backup if the copy fails";

impl HealthCheck for DataIntegrityCheck {
    fn name(&self) -> &str {
        "integrity"
    }

    fn check(&self) -> HealthStatus {
        let dbs = self.target.databases();
        if dbs.is_empty() {
            return HealthStatus::Unknown;
        }
        let mut cursors = self.cursors.lock();
        let ids: Vec<u64> = dbs.iter().map(|d| d.recorder.id).collect();
        cursors.retain(|id, _| ids.contains(id));
        let mut damage = Vec::new();
        let mut device = Vec::new();
        for inner in &dbs {
            let c = cursors.entry(inner.recorder.id).or_default();
            self.step(inner, c);
            for p in c.previous.iter().chain(&c.current) {
                let line = format!("{}: {p}", inner.path.display());
                if p.check == CheckKind::Io {
                    device.push(line);
                } else {
                    damage.push(line);
                }
            }
            let (met, last) = inner.recorder.corruption();
            if met > 0 {
                damage.push(format!(
                    "{}: the database met corruption {met} times since it opened; latest: {}",
                    inner.path.display(),
                    last.unwrap_or_default()
                ));
            }
        }
        damage.dedup();
        device.dedup();
        if !device.is_empty() {
            return HealthStatus::Critical {
                message: format!("unreadable data: {}", device.join("; ")),
                immediate_action: DEVICE_ACTION.to_string(),
            };
        }
        if !damage.is_empty() {
            return HealthStatus::Critical {
                message: format!("corruption found: {}", damage.join("; ")),
                immediate_action: INTEGRITY_ACTION.to_string(),
            };
        }
        HealthStatus::Healthy
    }

    fn criticality(&self) -> Criticality {
        Criticality::Critical
    }

    fn remediation(&self) -> Option<String> {
        Some(INTEGRITY_ACTION.to_string())
    }
}

/// Memory and disk, from the operating system: `Warning` when the machine's memory in
/// use (`1 − MemAvailable / MemTotal` from `/proc/meminfo`) reaches `memory_threshold`,
/// or when the file system holding a watched database (as its file system reports it:
/// `statvfs` for the real one) is used to `disk_threshold`; `Critical` when that disk is
/// 98% used or has less than two write buffers free (a flush would fail).
pub struct ResourceCheck {
    memory_threshold: f64,
    disk_threshold: f64,
    target: Target,
}

impl std::fmt::Debug for ResourceCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResourceCheck")
            .field("memory_threshold", &self.memory_threshold)
            .field("disk_threshold", &self.disk_threshold)
            .finish()
    }
}

impl Default for ResourceCheck {
    fn default() -> Self {
        Self::new()
    }
}

/// Share of a disk in use at which [`ResourceCheck`] turns critical.
pub const DISK_CRITICAL: f64 = 0.98;

impl ResourceCheck {
    /// A check of the machine's memory and every open database's disk, warning at 90%
    /// memory and 90% disk in use.
    pub fn new() -> Self {
        Self::with_target(Target::All)
    }

    pub(crate) fn with_target(target: Target) -> Self {
        Self {
            memory_threshold: 0.90,
            disk_threshold: 0.90,
            target,
        }
    }

    /// The same check with its thresholds (shares in use, 0.0 to 1.0).
    pub fn with_thresholds(mut self, memory_threshold: f64, disk_threshold: f64) -> Self {
        self.memory_threshold = memory_threshold.clamp(0.0, 1.0);
        self.disk_threshold = disk_threshold.clamp(0.0, 1.0);
        self
    }

    /// The memory threshold.
    pub fn memory_threshold(&self) -> f64 {
        self.memory_threshold
    }

    /// The disk threshold.
    pub fn disk_threshold(&self) -> f64 {
        self.disk_threshold
    }
}

/// The machine's memory: (total, available) bytes, from `/proc/meminfo`.
pub(crate) fn system_memory() -> Option<(u64, u64)> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let field = |name: &str| -> Option<u64> {
        let line = text.lines().find(|l| l.starts_with(name))?;
        let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
        Some(kib * 1024)
    };
    Some((field("MemTotal:")?, field("MemAvailable:")?))
}

impl HealthCheck for ResourceCheck {
    fn name(&self) -> &str {
        "resources"
    }

    fn check(&self) -> HealthStatus {
        let mut warnings = Vec::new();
        let mut critical = Vec::new();
        let mut known = false;
        if let Some((total, available)) = system_memory().filter(|(t, _)| *t > 0) {
            known = true;
            let used = 1.0 - available as f64 / total as f64;
            if used >= self.memory_threshold {
                warnings.push(format!(
                    "{:.1}% of memory in use ({} MiB available of {} MiB; threshold {:.0}%)",
                    used * 100.0,
                    available >> 20,
                    total >> 20,
                    self.memory_threshold * 100.0
                ));
            }
        }
        for inner in self.target.databases() {
            let space = match inner.fs.disk_space(&inner.path) {
                Ok(Some(space)) if space.total > 0 => space,
                Ok(_) => continue,
                Err(e) => {
                    critical.push(format!(
                        "{}: the file system does not answer: {e}",
                        inner.path.display()
                    ));
                    continue;
                }
            };
            known = true;
            let used = 1.0 - space.available as f64 / space.total as f64;
            let floor = 2 * inner.config.write_buffer_size as u64;
            let line = format!(
                "{}: disk {:.1}% used ({} bytes free of {})",
                inner.path.display(),
                used * 100.0,
                space.available,
                space.total
            );
            if used >= DISK_CRITICAL || space.available < floor.min(space.total / 10) {
                critical.push(line);
            } else if used >= self.disk_threshold {
                warnings.push(line);
            }
        }
        if !critical.is_empty() {
            return HealthStatus::Critical {
                message: critical.join("; "),
                immediate_action: "free disk space now or move the database: flushes and \
                    compactions need room and writes fail with ENOSPC once none is left"
                    .into(),
            };
        }
        if !warnings.is_empty() {
            return HealthStatus::Warning {
                message: warnings.join("; "),
                remediation: self.remediation(),
            };
        }
        if known {
            HealthStatus::Healthy
        } else {
            HealthStatus::Unknown
        }
    }

    fn criticality(&self) -> Criticality {
        Criticality::High
    }

    fn remediation(&self) -> Option<String> {
        Some(
            "free disk space (or call compact() to drop overwritten data), lower cache_size \
             or write_buffer_size, or give the machine more memory"
                .into(),
        )
    }
}

/// Latency, throughput, errors and availability, from the watched databases' metrics
/// over the interval since the check's previous run (at least a second): `Critical`
/// while a database refuses operations (availability below 1); `Warning` when the read
/// or write p99 exceeds `latency_threshold` (default 100 ms), when operations ran at
/// fewer than `throughput_threshold` per second (default 0: off), when the error rate
/// exceeds the SLA's (0.1%), or when the metrics show a bottleneck other than a long
/// tail (synced writes always have one; the latency threshold judges the tail) or a
/// nearly full disk (the [`ResourceCheck`]'s, against its `disk_threshold`).
pub struct PerformanceCheck {
    latency_threshold: Duration,
    throughput_threshold: u64,
    target: Target,
    window: Mutex<Window>,
}

impl std::fmt::Debug for PerformanceCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PerformanceCheck")
            .field("latency_threshold", &self.latency_threshold)
            .field("throughput_threshold", &self.throughput_threshold)
            .finish()
    }
}

impl Default for PerformanceCheck {
    fn default() -> Self {
        Self::new()
    }
}

impl PerformanceCheck {
    /// A check of every open database: p99 latency up to 100 ms, no throughput floor.
    pub fn new() -> Self {
        Self::with_target(Target::All)
    }

    pub(crate) fn with_target(target: Target) -> Self {
        Self {
            latency_threshold: Duration::from_millis(100),
            throughput_threshold: 0,
            target,
            window: Mutex::new(Window::new()),
        }
    }

    /// The same check with its thresholds: the largest acceptable p99 latency, and the
    /// fewest operations per second acceptable while there is work (0: none).
    pub fn with_thresholds(
        mut self,
        latency_threshold: Duration,
        throughput_threshold: u64,
    ) -> Self {
        self.latency_threshold = latency_threshold;
        self.throughput_threshold = throughput_threshold;
        self
    }

    /// The latency threshold.
    pub fn latency_threshold(&self) -> Duration {
        self.latency_threshold
    }

    /// The throughput threshold.
    pub fn throughput_threshold(&self) -> u64 {
        self.throughput_threshold
    }
}

impl HealthCheck for PerformanceCheck {
    fn name(&self) -> &str {
        "performance"
    }

    fn check(&self) -> HealthStatus {
        let dbs = self.target.databases();
        if dbs.is_empty() {
            return HealthStatus::Unknown;
        }
        let (m, stats) = self.window.lock().measure(&dbs, SlaThresholds::default());
        let refused: Vec<String> = dbs
            .iter()
            .zip(&stats)
            .filter(|(inner, _)| inner.recorder.refused_since().is_some())
            .map(|(inner, s)| {
                format!(
                    "{}: refuses operations ({})",
                    inner.path.display(),
                    s.poisoned
                        .clone()
                        .unwrap_or_else(|| "halted after corruption".into())
                )
            })
            .collect();
        if !refused.is_empty() {
            return HealthStatus::Critical {
                message: format!(
                    "{}; availability {:.4}, error rate {:.4}",
                    refused.join("; "),
                    m.availability,
                    m.error_rate
                ),
                immediate_action: "find the cause (a failed sync or write: check the device \
                    and free space; corruption: see the integrity check), then reopen the \
                    database"
                    .into(),
            };
        }
        let mut found = Vec::new();
        let mut fixes = Vec::new();
        for (what, p99) in [("read", m.read_latency_p99), ("write", m.write_latency_p99)] {
            if p99 > self.latency_threshold {
                found.push(format!(
                    "{what} p99 {p99:?} above {:?}",
                    self.latency_threshold
                ));
            }
        }
        if self.throughput_threshold > 0
            && m.operations > 0
            && m.mixed_workload_throughput < self.throughput_threshold
        {
            found.push(format!(
                "{} operations per second, below {}",
                m.mixed_workload_throughput, self.throughput_threshold
            ));
        }
        if m.error_rate > m.sla.max_error_rate {
            found.push(format!("error rate {:.4}", m.error_rate));
        }
        // A long tail alone is no warning: synced writes have one (an fsync now and then
        // waits for the device); the latency threshold above judges the tail itself. A
        // nearly full disk is the resource check's to judge, against its own threshold.
        for b in m.identify_bottlenecks().into_iter().filter(|b| {
            !matches!(
                b.kind,
                super::metrics::BottleneckKind::TailLatency
                    | super::metrics::BottleneckKind::DiskNearlyFull
            )
        }) {
            found.push(format!("{}: {}", b.kind, b.evidence));
            fixes.push(b.suggestion);
        }
        if found.is_empty() {
            return HealthStatus::Healthy;
        }
        if fixes.is_empty() {
            fixes.extend(self.remediation());
        }
        HealthStatus::Warning {
            message: found.join("; "),
            remediation: Some(fixes.join("; ")),
        }
    }

    fn criticality(&self) -> Criticality {
        Criticality::High
    }

    fn remediation(&self) -> Option<String> {
        Some(
            "look at the bottlenecks in the metrics: a slow or busy disk, write stalls, a \
             cache too small for the reads"
                .into(),
        )
    }
}

/// The built-in checks of one database, for its own monitoring.
pub(crate) fn builtin_checks(inner: &Arc<DbInner>) -> Vec<Box<dyn HealthCheck>> {
    let target = Target::one(inner);
    vec![
        Box::new(DataIntegrityCheck::with_target(
            target.clone(),
            inner.config.integrity_validation_level,
        )),
        Box::new(ResourceCheck::with_target(target.clone())),
        Box::new(PerformanceCheck::with_target(target)),
    ]
}
