//! What an open database does when it meets corruption, per
//! [`SecurityConfig::corruption_action`](crate::SecurityConfig::corruption_action) (with
//! `fail_on_corruption: false` turning the default `Halt` into `Log`):
//!
//! | action | on a damaged block read (or found by the background verifier) | at open |
//! |---|---|---|
//! | `Log` | the read fails with `DataCorruption` naming file and offset; the event is recorded ([`Database::corruption_events`](crate::Database::corruption_events)); everything else keeps being served | the open fails with the typed error (nothing is served before open) |
//! | `Halt` | the read fails, and from then on every operation answers `DataCorruption` until the database is reopened | the open fails with the typed error |
//! | `Quarantine` | as `Log`, and the table is marked; the next open moves it to `quarantine/` with a JSON report of its key and sequence range and opens without it | damaged tables are quarantined, a damaged log is cut at the damage (the rest quarantined), a damaged manifest rebuilt; then the open is retried once |
//! | `Repair` | as `Log`, and the table is marked; the next open rewrites it from its readable blocks | [`repair_database`](super::repair_database), then the open is retried once |
//!
//! At `Paranoid` level every block read is verified from disk even when it is cached, and a
//! background thread walks every table continuously at a bounded rate
//! ([`VERIFIER_BYTES_PER_SEC`]), reporting what it finds as a failed read would.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use serde::Serialize;

use super::repair::{repair_impl, RepairReport, TablePolicy, QUARANTINE_DIR};
use super::report::Component;
use super::verify::{self, Checker, TableScope};
use crate::clock::Clock;
use crate::config::{CorruptionAction, LightningDbConfig, ValidationLevel};
use crate::engine::DbInner;
use crate::error::DatabaseError;
use crate::events::{CorruptionInfo, Listeners};
use crate::storage::corruption::{CorruptionListener, Verdict};
use crate::storage::fs::{write_file_atomic, FileSystem};

/// Rate at which the `Paranoid` background verifier reads table files.
pub const VERIFIER_BYTES_PER_SEC: u64 = 16 << 20;
/// Name of the file listing tables found damaged while the database was open (under the
/// `Quarantine` and `Repair` actions), handled by the next open.
pub const DAMAGED_TABLES_FILE: &str = "DAMAGED_TABLES";
const MAX_EVENTS: usize = 1000;

/// One corruption met by an open database.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CorruptionEvent {
    /// The damaged table's number, when it is a table.
    pub table: Option<u64>,
    /// Who found it: `"read"` or `"verifier"`.
    pub source: String,
    /// The error, with file and offset.
    pub details: String,
    /// The action applied.
    pub action: CorruptionAction,
}

struct State {
    events: Vec<CorruptionEvent>,
    damaged_tables: BTreeSet<u64>,
}

/// Applies the corruption action of one open database: storage reports the damage its
/// reads meet (through the block cache's read gate), and this decides what it means.
pub struct CorruptionMonitor {
    action: CorruptionAction,
    /// Where the damaged-tables list goes: the database's file system and directory.
    fs: Arc<dyn FileSystem>,
    dir: PathBuf,
    state: Mutex<State>,
    count: AtomicU64,
    /// The database's event listeners, told of every corruption met.
    listeners: Arc<Listeners>,
}

impl std::fmt::Debug for CorruptionMonitor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CorruptionMonitor")
            .field("action", &self.action)
            .field("events", &self.count.load(Ordering::Relaxed))
            .finish()
    }
}

/// Whether `e` says stored data is damaged (as opposed to I/O failing or a closed handle).
pub fn is_corruption(e: &DatabaseError) -> bool {
    matches!(
        e,
        DatabaseError::DataCorruption { .. }
            | DatabaseError::ChecksumMismatch { .. }
            | DatabaseError::IntegrityValidationFailed { .. }
            | DatabaseError::WalCorrupted { .. }
            | DatabaseError::ManifestCorrupted { .. }
            | DatabaseError::CurrentFileInvalid { .. }
            | DatabaseError::TableFileMissing { .. }
            | DatabaseError::InconsistentState { .. }
    )
}

impl CorruptionMonitor {
    /// A monitor applying `action` to the database in `dir` on `fs`, telling `listeners`
    /// of each corruption it meets.
    pub fn new(
        action: CorruptionAction,
        fs: Arc<dyn FileSystem>,
        dir: &Path,
        listeners: Arc<Listeners>,
    ) -> Self {
        Self {
            listeners,
            action,
            fs,
            dir: dir.to_path_buf(),
            state: Mutex::new(State {
                events: Vec::new(),
                damaged_tables: BTreeSet::new(),
            }),
            count: AtomicU64::new(0),
        }
    }

    /// Corruption met so far (at most the first thousand events).
    pub fn events(&self) -> Vec<CorruptionEvent> {
        self.state.lock().events.clone()
    }

    /// Adds table `n` to the damaged-tables list the next open handles.
    fn mark_damaged(&self, st: &mut State, n: u64) {
        if !st.damaged_tables.insert(n) {
            return;
        }
        let list: Vec<u64> = st.damaged_tables.iter().copied().collect();
        let text = serde_json::json!({ "tables": list }).to_string();
        // Best effort: a lost list only delays the handling to the next read or check
        // that finds the damage again.
        let _ = write_file_atomic(
            self.fs.as_ref(),
            &self.dir.join(DAMAGED_TABLES_FILE),
            text.as_bytes(),
        );
    }
}

impl CorruptionMonitor {
    /// The configured action.
    pub(crate) fn action(&self) -> CorruptionAction {
        self.action
    }

    /// The tables marked damaged (under `Quarantine` and `Repair`) and not handled yet.
    pub(crate) fn damaged_tables(&self) -> Vec<u64> {
        self.state.lock().damaged_tables.iter().copied().collect()
    }

    /// Takes table `n` off the damaged-tables list once self-healing handled it online,
    /// so the next open does not handle it again (the list file goes when empty).
    pub(crate) fn forget_damaged(&self, n: u64) {
        let mut st = self.state.lock();
        if !st.damaged_tables.remove(&n) {
            return;
        }
        let marker = self.dir.join(DAMAGED_TABLES_FILE);
        if st.damaged_tables.is_empty() {
            let _ = self.fs.remove_file(&marker);
            let _ = self.fs.sync_dir(&self.dir);
        } else {
            let list: Vec<u64> = st.damaged_tables.iter().copied().collect();
            let text = serde_json::json!({ "tables": list }).to_string();
            let _ = write_file_atomic(self.fs.as_ref(), &marker, text.as_bytes());
        }
    }
}

/// What [`heal_table_online`] did to a damaged table.
pub(crate) struct OnlineHeal {
    /// The rebuilt table's number, when it was rewritten (`Repair`) and kept data.
    pub replaced_by: Option<u64>,
    /// Where the damaged file went.
    pub kept_at: String,
    /// Unreadable blocks set aside (their entries are lost).
    pub lost_blocks: usize,
}

/// Repairs (`rewrite`: rebuilt from its readable blocks) or quarantines damaged table `n`
/// of the open database `inner` without closing it: the new table (if any) is written
/// and synced, the damaged file moves to `quarantine/` with its JSON report, and one
/// manifest edit swaps them, with compactions held off meanwhile. `None` when the table
/// is no longer live (a compaction replaced it).
pub(crate) fn heal_table_online(
    inner: &Arc<DbInner>,
    n: u64,
    rewrite: bool,
) -> Result<Option<OnlineHeal>, DatabaseError> {
    let _compactions = inner.hold_compactions();
    let Some(placed) = inner.live_table(n) else {
        return Ok(None);
    };
    let mut next = inner.reserve_file_number();
    let mut report = super::repair::RepairReport::default();
    let level = inner
        .config
        .integrity_validation_level
        .max(ValidationLevel::Standard);
    let policy = if rewrite {
        TablePolicy::Rewrite
    } else {
        TablePolicy::Quarantine
    };
    let new_meta = super::repair::repair_table(
        &inner.fs,
        &inner.path,
        n,
        level,
        policy,
        super::repair::Tampered::Refuse,
        inner.table_build_options(),
        &mut next,
        Some(&placed),
        &mut report,
    )?;
    let replaced_by = new_meta.as_ref().map(|m| m.number);
    inner.replace_table(placed.0, n, new_meta)?;
    Ok(Some(OnlineHeal {
        replaced_by,
        kept_at: report.quarantined.first().cloned().unwrap_or_default(),
        lost_blocks: report
            .set_aside
            .iter()
            .filter(|s| s.what == "data block")
            .count(),
    }))
}

impl CorruptionListener for CorruptionMonitor {
    fn on_error(&self, table: Option<u64>, err: &DatabaseError, source: &str) -> Verdict {
        if is_tampering(err) {
            // Told (the listeners, the audit log, the health report) but answered only by
            // the error the reader gets: no corruption action acts on tampering.
            self.tell_listeners(table, err, source, TAMPERING_ACTION.to_string());
            return Verdict::Continue;
        }
        if !is_corruption(err) {
            return Verdict::Continue;
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        let verdict = self.record(table, err, source);
        self.tell_listeners(table, err, source, format!("{:?}", self.action));
        verdict
    }
}

/// What the listeners hear was done about tampering.
const TAMPERING_ACTION: &str = "none: tampering is not repaired automatically";

/// Whether `e` is sealed data failing authentication (tampering, not damage).
fn is_tampering(e: &DatabaseError) -> bool {
    matches!(
        e,
        DatabaseError::SecurityError(crate::error::SecurityError::DecryptionFailed { .. })
    )
}

impl CorruptionMonitor {
    /// Records the event and decides what the read that met it does next.
    fn record(&self, table: Option<u64>, err: &DatabaseError, source: &str) -> Verdict {
        let mut st = self.state.lock();
        if st.events.len() < MAX_EVENTS {
            st.events.push(CorruptionEvent {
                table,
                source: source.to_string(),
                details: err.to_string(),
                action: self.action,
            });
        }
        match self.action {
            CorruptionAction::Log => Verdict::Continue,
            CorruptionAction::Halt => Verdict::Halt(DatabaseError::DataCorruption {
                component: table.map_or("database".to_string(), |n| format!("table {n}")),
                details: format!(
                    "the database halted after detecting corruption ({err}); it refuses \
                     every operation until reopened (run `lightning check` and `lightning \
                     repair` first)"
                ),
                recovery_possible: false,
            }),
            CorruptionAction::Quarantine | CorruptionAction::Repair => {
                if let Some(n) = table {
                    self.mark_damaged(&mut st, n);
                }
                Verdict::Continue
            }
        }
    }

    /// Tells the database's listeners (with no lock of the monitor's held).
    fn tell_listeners(
        &self,
        table: Option<u64>,
        err: &DatabaseError,
        source: &str,
        action: String,
    ) {
        self.listeners.emit(|l| {
            l.on_corruption(&CorruptionInfo {
                table,
                source: source.to_string(),
                details: err.to_string(),
                action: action.clone(),
            })
        });
    }
}

/// An open engine with the monitor applying its corruption action.
pub(crate) struct Opened {
    /// The engine.
    pub inner: Arc<DbInner>,
    /// What its reads report damage to.
    pub monitor: Arc<CorruptionMonitor>,
}

/// Opens the engine once, with a fresh monitor listening to its reads, and starts the
/// `Paranoid` background verifier.
fn open_once(
    path: &Path,
    config: LightningDbConfig,
    fs: Arc<dyn FileSystem>,
    listeners: &Arc<Listeners>,
    clock: &Arc<dyn Clock>,
) -> Result<Opened, DatabaseError> {
    let rc = config.reconciled();
    let monitor = Arc::new(CorruptionMonitor::new(
        rc.security.corruption_action,
        Arc::clone(&fs),
        path,
        Arc::clone(listeners),
    ));
    let paranoid = rc.integrity_validation_level == ValidationLevel::Paranoid;
    let listener: Arc<dyn CorruptionListener> = monitor.clone();
    let inner = DbInner::open(
        path,
        config,
        fs,
        listener,
        paranoid,
        Arc::clone(listeners),
        Arc::clone(clock),
    )
    .inspect_err(|e| {
        if is_tampering(e) {
            monitor.tell_listeners(None, e, "open", TAMPERING_ACTION.to_string());
        } else if is_corruption(e) {
            monitor.tell_listeners(None, e, "open", format!("{:?}", monitor.action));
        }
    })?;
    if paranoid {
        let me = Arc::clone(&inner);
        let started = inner.spawn_background(
            "lightning-verify",
            Box::new(move || background_verifier(me)),
        );
        if let Err(e) = started {
            let _ = inner.shutdown();
            return Err(e);
        }
    }
    Ok(Opened { inner, monitor })
}

/// Opens the database, applying the corruption action to what opening meets (see the
/// [module documentation](self)).
pub(crate) fn open_with_actions(
    path: &Path,
    config: LightningDbConfig,
    fs: Arc<dyn FileSystem>,
    listeners: &Arc<Listeners>,
    clock: &Arc<dyn Clock>,
) -> Result<Opened, DatabaseError> {
    if config.validate().is_err() {
        // The open reports the configuration error.
        return open_once(path, config, fs, listeners, clock);
    }
    let rc = config.reconciled();
    // An encrypted database is checked and repaired with its keys.
    let kek = rc
        .security
        .encryption_key
        .as_ref()
        .filter(|_| rc.security.enable_encryption);
    // A format this build does not read, or a missing or wrong key: nothing is checked
    // here, and the open itself refuses with the right error.
    let readable = crate::storage::format::check_readable(fs.as_ref(), path);
    let keys = match readable
        .and_then(|()| crate::storage::crypto::offline_ring(fs.as_ref(), path, kek))
    {
        Ok(keys) => keys,
        Err(_) => return open_once(path, config, fs, listeners, clock),
    };
    let policy = match rc.security.corruption_action {
        CorruptionAction::Repair => Some(TablePolicy::Rewrite),
        CorruptionAction::Quarantine => Some(TablePolicy::Quarantine),
        CorruptionAction::Log | CorruptionAction::Halt => None,
    };
    // `cross_check`: the damage is a table the manifest misdescribes, which only the
    // Comprehensive validation (comparing the two) finds for the repair to act on.
    let repair_at = |cross_check: bool| -> Result<(), DatabaseError> {
        let Some(policy) = policy else {
            return Ok(());
        };
        let mut config = config.clone();
        if cross_check {
            config.integrity_validation_level = config
                .integrity_validation_level
                .max(ValidationLevel::Comprehensive);
        }
        let report = repair_impl(
            path,
            Arc::clone(&fs),
            &config,
            Component::All,
            policy,
            super::repair::Tampered::Refuse,
        )?;
        save_report(fs.as_ref(), path, &report);
        Ok(())
    };
    let repair = || repair_at(false);
    // Comprehensive and Paranoid: the manifest against the tables' own properties, before
    // the open rewrites the manifest from what it loads.
    if rc.integrity_validation_level >= ValidationLevel::Comprehensive {
        if let Some(problem) = open_time_check(path, &fs, &keys) {
            if policy.is_none() {
                return Err(DatabaseError::InconsistentState {
                    details: problem,
                    suggested_action: "run `lightning check` and `lightning repair`, or open \
                                       with corruption_action Repair"
                        .into(),
                });
            }
            repair()?;
        }
    }
    if policy.is_none() {
        return open_once(path, config, fs, listeners, clock);
    }
    let marker = path.join(DAMAGED_TABLES_FILE);
    if fs.exists(&marker) {
        repair()?;
        let _ = fs.remove_file(&marker);
        let _ = fs.sync_dir(path);
    }
    match open_once(path, config.clone(), Arc::clone(&fs), listeners, clock) {
        Err(e) if is_corruption(&e) => {
            repair_at(matches!(e, DatabaseError::InconsistentState { .. }))?;
            open_once(path, config, fs, listeners, clock)
        }
        other => other,
    }
}

/// The open-time logical check of `Comprehensive` and `Paranoid`: every live table's
/// footer and properties against what the manifest says of it (size, key and sequence
/// ranges, counts), sequence numbers, and no overlap in levels 1 and deeper. Damage the
/// open itself detects (checksums, a missing file) is left to it, with its own error.
fn open_time_check(
    path: &Path,
    fs: &Arc<dyn FileSystem>,
    keys: &Option<Arc<crate::storage::crypto::KeyRing>>,
) -> Option<String> {
    if !fs.exists(&path.join(crate::storage::manifest::CURRENT_FILE)) {
        return None;
    }
    // Held while reading; an open handle elsewhere makes the open answer DatabaseLocked.
    let _lock = super::validator::lock_dir(fs.as_ref(), path).ok()?;
    let mut ck = Checker::new(Arc::clone(fs), path, ValidationLevel::Basic).with_keys(keys.clone());
    let m = verify::scan_manifest(&mut ck, true, None)?;
    if m.damaged {
        return None;
    }
    let scans: Vec<_> = m
        .live
        .iter()
        .map(|(_, t)| {
            verify::scan_table(
                &mut ck,
                t.number,
                TableScope {
                    data: false,
                    component: Component::Index,
                },
                &mut |_| {},
            )
        })
        .collect();
    let before = ck.report.problems.len();
    verify::cross_check(&mut ck, Some(&m), &scans, None);
    ck.report.problems[before..].first().map(|p| p.to_string())
}

fn save_report(fs: &dyn FileSystem, dir: &Path, report: &RepairReport) {
    let qdir = dir.join(QUARANTINE_DIR);
    if fs.create_dir_all(&qdir).is_ok() {
        let secs = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let _ = write_file_atomic(
            fs,
            &qdir.join(format!("open-repair-{secs}.json")),
            report.to_json().as_bytes(),
        );
    }
}

/// The `Paranoid` background verifier: walks every live table at
/// [`VERIFIER_BYTES_PER_SEC`], reporting corruption through the read gate, until the database
/// closes or halts.
pub(crate) fn background_verifier(inner: Arc<DbInner>) {
    let sleep = |d: Duration| -> bool {
        // Sleeps in slices, answering false as soon as the database closes.
        let mut left = d;
        while !left.is_zero() {
            if inner.check_open().is_err() {
                return false;
            }
            let slice = left.min(Duration::from_millis(20));
            std::thread::sleep(slice);
            left -= slice;
        }
        inner.check_open().is_ok()
    };
    loop {
        let tables: Vec<u64> = inner
            .super_version()
            .version
            .all_tables()
            .map(|(_, t)| t.number)
            .collect();
        for n in tables {
            // Pin the table while it is read (so a compaction cannot delete it under the
            // verifier), and skip it when it is no longer live.
            let Some(table) = inner
                .super_version()
                .version
                .all_tables()
                .find(|(_, t)| t.number == n)
                .map(|(_, t)| Arc::clone(t))
            else {
                continue;
            };
            // The keys of the moment: a rotation retires a generation only once no live
            // table is sealed with it.
            let mut ck = Checker::new(Arc::clone(&inner.fs), &inner.path, ValidationLevel::Basic)
                .with_keys(inner.cache.keys());
            let scan = verify::scan_table(
                &mut ck,
                n,
                TableScope {
                    data: true,
                    component: Component::Tables,
                },
                &mut |_| {},
            );
            drop(table);
            let damage = ck.report.problems.iter().find(|p| {
                matches!(
                    p.check,
                    super::report::CheckKind::Checksum
                        | super::report::CheckKind::Structure
                        | super::report::CheckKind::Authentication
                )
            });
            // Tampering goes through the gate too: it is told, never acted on.
            if let Some(p) = damage {
                inner
                    .cache
                    .gate()
                    .report(Some(n), &verify::problem_error(p), "verifier");
            }
            let pause =
                Duration::from_secs_f64(scan.file_size as f64 / VERIFIER_BYTES_PER_SEC as f64);
            if !sleep(pause) {
                return;
            }
        }
        if !sleep(Duration::from_millis(200)) {
            return;
        }
    }
}
