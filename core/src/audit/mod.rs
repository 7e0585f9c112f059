//! The tamper-evident audit log: [`AuditLogger`].
//!
//! Entries are JSON lines in numbered files (`audit-000001.log`, ...) in the log's folder.
//! Each carries `h_i = blake3(h_{i-1} ‖ entry)`, and the latest hash and sequence number are
//! kept outside the log in a small checksummed, versioned state file (`audit.state`, written
//! to a temporary name, synced and renamed), so [`AuditLogger::verify`] finds an entry that
//! was edited, removed, inserted or reordered, a cut-off tail, a deleted file or a state file
//! that does not match, and names the first entry concerned and the kind
//! ([`TamperKind`]). The state file is written before each append (not committed) and after
//! its lines are synced (committed); what a crash in between leaves is allowed and reported,
//! never silently accepted (see [`AuditReport::interrupted`]).
//!
//! Files rotate at [`AuditOptions::max_file_bytes`]. Retention removes whole files whose
//! newest entry is older than `retention_days` (0 keeps everything): an anchor entry naming
//! the cut is appended first, and the state file records where the oldest kept entry chains
//! from, so the rest still verifies. With `encrypt_logs` each entry's fields are sealed with
//! XChaCha20-Poly1305 under an [`AuditKey`], bound to the log, its sequence number and the
//! previous hash; the chain still verifies without the key. With `enable_real_time_alerts`,
//! subscribers ([`AuditLogger::subscribe`], [`AuditLogger::subscribe_channel`]) receive every
//! logged event at or above their risk level as it is logged.
//!
//! The log is only as trustworthy as its state file: keep the folder where the audited
//! party cannot write, or seal the log, whose entries cannot be forged without the key.
//!
//! A database opened with `enable_audit_logging` keeps its own log in its `audit/` folder.

mod key;
mod trail;
mod verify;

pub(crate) mod format;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{mpsc, Arc};
use std::time::{Duration, SystemTime};

use parking_lot::{Mutex, RwLock};
use serde::{Deserialize, Serialize};

pub use crate::config::AuditLevel;
use crate::error::DatabaseError;
use crate::storage::fs::{write_file_atomic, FileSystem, StdFileSystem, WritableFile};
use format::{State, StoredEvent};
pub use key::AuditKey;
pub(crate) use trail::{record_offline, AuditTrail};
use verify::FileIndex;
pub use verify::{AuditReport, InterruptedAppend, TamperKind, Tampering};

/// The folder [`AuditLogger::new`] writes to: `$LIGHTNING_AUDIT_DIR` when set, otherwise
/// `lightning-audit` in the current directory.
pub const DEFAULT_AUDIT_DIR: &str = "lightning-audit";
/// The environment variable naming [`AuditLogger::new`]'s folder.
pub const AUDIT_DIR_ENV: &str = "LIGHTNING_AUDIT_DIR";
/// The environment variable holding the key (64 hexadecimal digits) that seals a log with
/// `encrypt_logs` when no key is given to the constructor.
pub const AUDIT_KEY_ENV: &str = "LIGHTNING_AUDIT_KEY";
/// Default size at which a log file is closed and the next one started: 8 MiB.
pub const DEFAULT_MAX_FILE_BYTES: u64 = 8 << 20;
/// Data-access entries the database holds in memory before writing them as one append.
pub(crate) const DEFERRED_BATCH: usize = 4096;

/// What happened: the kinds of security event the log records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum SecurityEventType {
    /// A database was opened.
    DatabaseOpen,
    /// A database was closed.
    DatabaseClose,
    /// Data was read.
    DataAccess,
    /// Data was written or deleted.
    DataModification,
    /// A key check failed (wrong or missing key).
    KeyCheckFailed,
    /// A data key was rotated.
    KeyRotation,
    /// Data keys were re-wrapped under a new key-encryption key.
    KeyRewrap,
    /// Damaged data was found.
    CorruptionDetected,
    /// A repair ran.
    Repair,
    /// Damaged data was set aside (quarantined).
    Quarantine,
    /// The database healed itself (an automatic recovery action).
    SelfHealing,
    /// The on-disk format was migrated.
    Migration,
    /// The configuration changed.
    ConfigurationChange,
    /// An operation was refused for lack of permission.
    AccessDenied,
    /// The audit log's own upkeep: retention cuts, interrupted appends recovered.
    LogMaintenance,
}

impl SecurityEventType {
    /// The lowest [`AuditLevel`] that records this kind: `Minimal` for opens, closes, keys,
    /// corruption, refusals and the log's upkeep; `Standard` adds repair, quarantine,
    /// self-healing, migration and configuration; `Comprehensive` adds data access.
    pub fn level(self) -> AuditLevel {
        use SecurityEventType::*;
        match self {
            DatabaseOpen | DatabaseClose | KeyCheckFailed | KeyRotation | KeyRewrap
            | CorruptionDetected | AccessDenied | LogMaintenance => AuditLevel::Minimal,
            Repair | Quarantine | SelfHealing | Migration | ConfigurationChange => {
                AuditLevel::Standard
            }
            DataAccess | DataModification => AuditLevel::Comprehensive,
        }
    }
}

/// How the audited operation ended.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum OperationResult {
    /// It succeeded.
    Success,
    /// It failed, for this reason.
    Failure(String),
    /// It was refused.
    Denied,
}

/// How serious an event is; alerts are subscribed from a level up.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
pub enum RiskLevel {
    /// Routine.
    #[default]
    Low,
    /// Worth a look.
    Medium,
    /// Needs attention.
    High,
    /// Needs attention now.
    Critical,
}

/// One security event, as given to [`AuditLogger::log_event`].
#[derive(Debug, Clone, PartialEq)]
pub struct AuditEvent {
    /// What happened.
    pub event_type: SecurityEventType,
    /// What it happened to (a table, a key, a file, a database).
    pub resource: String,
    /// The operation (`"read"`, `"open"`, `"repair"`, ...).
    pub operation: String,
    /// How it ended.
    pub result: OperationResult,
    /// How serious it is.
    pub risk_level: RiskLevel,
    /// When it happened (stored to the nanosecond; times before 1970 are stored as 1970).
    pub timestamp: SystemTime,
    /// Anything else worth keeping.
    pub metadata: HashMap<String, String>,
}

/// The audit log's settings: the reference's four fields. Further choices (the folder, the
/// key, the file size, the file system) are [`AuditOptions`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditConfig {
    /// What is recorded: events whose [`SecurityEventType::level`] is above it are dropped
    /// (`Off` records nothing).
    pub log_level: AuditLevel,
    /// Seal every entry with XChaCha20-Poly1305 under an [`AuditKey`] (given in
    /// [`AuditOptions::key`] or `$LIGHTNING_AUDIT_KEY`; without one the logger refuses).
    pub encrypt_logs: bool,
    /// Remove whole files whose newest entry is older than this many days (checked when the
    /// logger opens and when a file is full); 0 keeps everything.
    pub retention_days: u32,
    /// Deliver events to subscribers as they are logged.
    pub enable_real_time_alerts: bool,
}

impl Default for AuditConfig {
    fn default() -> Self {
        AuditConfig {
            log_level: AuditLevel::Standard,
            encrypt_logs: false,
            retention_days: 0,
            enable_real_time_alerts: false,
        }
    }
}

/// Choices beyond [`AuditConfig`], for [`AuditLogger::open_with`].
#[derive(Clone)]
pub struct AuditOptions {
    /// The key sealing entries when `encrypt_logs` is on (default: `$LIGHTNING_AUDIT_KEY`).
    pub key: Option<AuditKey>,
    /// Size at which a log file is closed and the next started (default
    /// [`DEFAULT_MAX_FILE_BYTES`]).
    pub max_file_bytes: u64,
    /// The file system the log is written through (default: the operating system's).
    pub fs: Arc<dyn FileSystem>,
}

impl Default for AuditOptions {
    fn default() -> Self {
        AuditOptions {
            key: None,
            max_file_bytes: DEFAULT_MAX_FILE_BYTES,
            fs: Arc::new(StdFileSystem),
        }
    }
}

impl std::fmt::Debug for AuditOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditOptions")
            .field("key", &self.key)
            .field("max_file_bytes", &self.max_file_bytes)
            .finish_non_exhaustive()
    }
}

type Callback = Arc<dyn Fn(&AuditEvent) + Send + Sync>;

enum Subscriber {
    Callback(Callback),
    Channel(mpsc::Sender<AuditEvent>),
}

/// A tamper-evident, append-only log of security events. Share it between threads: every
/// method takes `&self`.
///
/// ```
/// use std::collections::HashMap;
/// use std::time::SystemTime;
/// use lightning_db::{AuditConfig, AuditEvent, AuditLevel, AuditLogger, OperationResult,
///     RiskLevel, SecurityEventType};
/// # let dir = tempfile::tempdir().unwrap();
/// let log = AuditLogger::open(dir.path(), AuditConfig {
///     log_level: AuditLevel::Comprehensive,
///     encrypt_logs: false,
///     retention_days: 365,
///     enable_real_time_alerts: false,
/// })?;
/// log.log_event(AuditEvent {
///     event_type: SecurityEventType::DataAccess,
///     resource: "user_data".to_string(),
///     operation: "read".to_string(),
///     result: OperationResult::Success,
///     risk_level: RiskLevel::Low,
///     timestamp: SystemTime::now(),
///     metadata: HashMap::new(),
/// })?;
/// assert_eq!(log.verify()?.entries, 1);
/// # Ok::<(), lightning_db::DatabaseError>(())
/// ```
pub struct AuditLogger {
    config: AuditConfig,
    dir: PathBuf,
    writer: Mutex<Result<Writer, DatabaseError>>,
    subscribers: RwLock<Vec<(RiskLevel, Subscriber)>>,
}

impl std::fmt::Debug for AuditLogger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditLogger")
            .field("dir", &self.dir)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl AuditLogger {
    /// A logger writing to the default folder ([`DEFAULT_AUDIT_DIR`], or
    /// `$LIGHTNING_AUDIT_DIR`). It cannot fail, as in the reference: a logger whose folder
    /// could not be opened (or that needs a key it was not given) answers every
    /// [`log_event`](Self::log_event) with that error. [`Self::open`] reports it at once.
    pub fn new(config: AuditConfig) -> AuditLogger {
        let dir = std::env::var_os(AUDIT_DIR_ENV)
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(DEFAULT_AUDIT_DIR));
        let writer = Writer::open(&dir, &config, AuditOptions::default());
        AuditLogger::assemble(dir, config, writer)
    }

    /// A logger writing to folder `dir` (created if missing), continuing the log there.
    ///
    /// Errors: `AuditLogTampered` when the existing log does not verify (move it aside to
    /// keep it as evidence and start a new one), `ConfigurationError` when `encrypt_logs`
    /// is on without a key or differs from the existing log's, `WrongKey`, `Io`.
    pub fn open(dir: impl AsRef<Path>, config: AuditConfig) -> Result<AuditLogger, DatabaseError> {
        Self::open_with(dir, config, AuditOptions::default())
    }

    /// [`Self::open`] with the key that seals entries (`encrypt_logs`).
    pub fn open_with_key(
        dir: impl AsRef<Path>,
        config: AuditConfig,
        key: AuditKey,
    ) -> Result<AuditLogger, DatabaseError> {
        let options = AuditOptions {
            key: Some(key),
            ..AuditOptions::default()
        };
        Self::open_with(dir, config, options)
    }

    /// [`Self::open`] with every choice spelled out.
    pub fn open_with(
        dir: impl AsRef<Path>,
        config: AuditConfig,
        options: AuditOptions,
    ) -> Result<AuditLogger, DatabaseError> {
        let dir = dir.as_ref().to_path_buf();
        let writer = Writer::open(&dir, &config, options)?;
        Ok(AuditLogger::assemble(dir, config, Ok(writer)))
    }

    fn assemble(
        dir: PathBuf,
        config: AuditConfig,
        writer: Result<Writer, DatabaseError>,
    ) -> AuditLogger {
        AuditLogger {
            config,
            dir,
            writer: Mutex::new(writer),
            subscribers: RwLock::new(Vec::new()),
        }
    }

    /// The log's folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The configuration it was opened with.
    pub fn config(&self) -> &AuditConfig {
        &self.config
    }

    /// True when events of this kind are recorded at the configured level.
    pub fn records(&self, event_type: SecurityEventType) -> bool {
        self.config.log_level != AuditLevel::Off && event_type.level() <= self.config.log_level
    }

    /// Appends `event` (when its kind is recorded at the configured level) and returns once
    /// it is durable; then delivers it to the subscribers at or below its risk level.
    pub fn log_event(&self, event: AuditEvent) -> Result<(), DatabaseError> {
        if !self.records(event.event_type) {
            return Ok(());
        }
        let written = {
            let mut guard = self.writer.lock();
            let w = guard.as_mut().map_err(|e| e.clone())?;
            w.pending.push(event);
            w.flush(self.config.retention_days)?
        };
        self.deliver(&written);
        Ok(())
    }

    /// Holds `event` in memory, writing it with the next event logged, at
    /// [`Self::flush`], or when [`DEFERRED_BATCH`] are held: the database's data-access
    /// entries, which would otherwise cost a sync each. A crash loses what is held.
    pub(crate) fn log_deferred(&self, event: AuditEvent) -> Result<(), DatabaseError> {
        if !self.records(event.event_type) {
            return Ok(());
        }
        let written = {
            let mut guard = self.writer.lock();
            let w = guard.as_mut().map_err(|e| e.clone())?;
            w.pending.push(event);
            if w.pending.len() < DEFERRED_BATCH {
                return Ok(());
            }
            w.flush(self.config.retention_days)?
        };
        self.deliver(&written);
        Ok(())
    }

    /// Writes the events held in memory (the database's data-access entries) durably.
    pub fn flush(&self) -> Result<(), DatabaseError> {
        let written = {
            let mut guard = self.writer.lock();
            let w = guard.as_mut().map_err(|e| e.clone())?;
            w.flush(self.config.retention_days)?
        };
        self.deliver(&written);
        Ok(())
    }

    /// Checks the whole log (see [`TamperKind`]); sealed entries are authenticated with the
    /// logger's key. Errors: `AuditLogTampered` naming the kind and the first entry
    /// concerned, `Io`.
    pub fn verify(&self) -> Result<AuditReport, DatabaseError> {
        let guard = self.writer.lock();
        let w = guard.as_ref().map_err(|e| e.clone())?;
        verify::inspect(w.fs.as_ref(), &self.dir, w.key.as_ref())?
            .report
            .into_result()
    }

    /// Removes whole files whose newest entry is older than `retention_days` before `now`
    /// (never the file being written), after appending an anchor entry naming the cut.
    /// Returns how many files were removed. The logger does this itself when it opens and
    /// when a file is full, with the system time.
    pub fn apply_retention_at(&self, now: SystemTime) -> Result<usize, DatabaseError> {
        let (removed, written) = {
            let mut guard = self.writer.lock();
            let w = guard.as_mut().map_err(|e| e.clone())?;
            w.retention(self.config.retention_days, now)?
        };
        self.deliver(&written);
        Ok(removed)
    }

    /// Calls `alert` with every event at or above `min_risk` as it is logged (on the
    /// logging thread, after the event is durable; a panic in it is caught). Errors:
    /// `ConfigurationError` when `enable_real_time_alerts` is off.
    pub fn subscribe(
        &self,
        min_risk: RiskLevel,
        alert: impl Fn(&AuditEvent) + Send + Sync + 'static,
    ) -> Result<(), DatabaseError> {
        self.check_alerts()?;
        self.subscribers
            .write()
            .push((min_risk, Subscriber::Callback(Arc::new(alert))));
        Ok(())
    }

    /// A channel receiving every event at or above `min_risk` as it is logged. Errors:
    /// `ConfigurationError` when `enable_real_time_alerts` is off.
    pub fn subscribe_channel(
        &self,
        min_risk: RiskLevel,
    ) -> Result<mpsc::Receiver<AuditEvent>, DatabaseError> {
        self.check_alerts()?;
        let (tx, rx) = mpsc::channel();
        self.subscribers
            .write()
            .push((min_risk, Subscriber::Channel(tx)));
        Ok(rx)
    }

    fn check_alerts(&self) -> Result<(), DatabaseError> {
        if self.config.enable_real_time_alerts {
            Ok(())
        } else {
            Err(DatabaseError::ConfigurationError {
                field: "enable_real_time_alerts".into(),
                reason: "is false: no alerts are delivered, so subscribing is refused".into(),
            })
        }
    }

    fn deliver(&self, events: &[AuditEvent]) {
        if events.is_empty() || !self.config.enable_real_time_alerts {
            return;
        }
        let subs = self.subscribers.read();
        for event in events {
            for (min, sub) in subs.iter() {
                if event.risk_level < *min {
                    continue;
                }
                match sub {
                    Subscriber::Callback(f) => {
                        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(event)));
                    }
                    Subscriber::Channel(tx) => {
                        let _ = tx.send(event.clone());
                    }
                }
            }
        }
    }
}

impl Drop for AuditLogger {
    fn drop(&mut self) {
        let _ = self.flush();
    }
}

/// Verifies the audit log in folder `dir` without opening it for writing (what
/// `lightning audit verify` does). `key` authenticates sealed entries; without it only their
/// chain is checked. The report names any tampering; errors are only for what prevents
/// reading (`Io`, `WrongKey`).
pub fn verify_audit_log(
    dir: impl AsRef<Path>,
    key: Option<&AuditKey>,
) -> Result<AuditReport, DatabaseError> {
    verify::inspect(&StdFileSystem, dir.as_ref(), key).map(|i| i.report)
}

/// The last `n` entries of the audit log in `dir`, oldest first (sealed entries need `key`).
/// Errors: `AuditLogTampered` when the log does not verify, `ConfigurationError` for a
/// sealed log without a key, `WrongKey`, `Io`.
pub fn read_audit_tail(
    dir: impl AsRef<Path>,
    n: usize,
    key: Option<&AuditKey>,
) -> Result<Vec<(u64, AuditEvent)>, DatabaseError> {
    let fs = StdFileSystem;
    let dir = dir.as_ref();
    let ins = verify::inspect(&fs, dir, key)?;
    let report = ins.report.into_result()?;
    if report.sealed && key.is_none() {
        return Err(missing_key());
    }
    let log_id = ins.state.map(|s| s.log_id_bytes()).unwrap_or_default();
    let mut out = std::collections::VecDeque::new();
    for name in &report.files {
        let bytes = fs.read_all(&dir.join(name))?;
        for line in bytes.split(|&b| b == b'\n') {
            let Some(p) = format::parse_line(line) else {
                continue;
            };
            let stored = match (&p.sealed, key) {
                (Some(sealed), Some(key)) => key
                    .open(sealed, &format::sealing_aad(&log_id, p.seq, &p.prev))
                    .and_then(|plain| format::event_of_body(&plain)),
                _ => format::event_of_body(&p.body),
            };
            if let Some(e) = stored {
                out.push_back((p.seq, e.into_event()));
                if out.len() > n {
                    out.pop_front();
                }
            }
        }
    }
    Ok(out.into())
}

fn missing_key() -> DatabaseError {
    DatabaseError::ConfigurationError {
        field: "encrypt_logs".into(),
        reason: format!(
            "is true but no audit key was given (pass one to AuditLogger::open_with_key or set \
             {AUDIT_KEY_ENV} to 64 hexadecimal digits)"
        ),
    }
}

/// The appending side: the open last file and the chain's end.
struct Writer {
    fs: Arc<dyn FileSystem>,
    dir: PathBuf,
    key: Option<AuditKey>,
    log_id: Vec<u8>,
    state: State,
    files: Vec<FileIndex>,
    file: Box<dyn WritableFile>,
    end_seq: u64,
    end_hash: [u8; 32],
    max_file_bytes: u64,
    /// Events held for the next append.
    pending: Vec<AuditEvent>,
    /// Set when an append failed half way: the log on disk is then only what a crash would
    /// have left, and the next open recovers it.
    broken: Option<String>,
}

impl Writer {
    fn open(
        dir: &Path,
        config: &AuditConfig,
        options: AuditOptions,
    ) -> Result<Writer, DatabaseError> {
        let fs = options.fs;
        let key = match (config.encrypt_logs, options.key) {
            (false, _) => None,
            (true, Some(key)) => Some(key),
            (true, None) => Some(AuditKey::from_env(AUDIT_KEY_ENV)?.ok_or_else(missing_key)?),
        };
        fs.create_dir_all(dir)
            .map_err(|e| DatabaseError::io("audit log", dir, &e))?;
        let ins = verify::inspect(fs.as_ref(), dir, key.as_ref())?;
        let Some(state) = ins.state.clone() else {
            if let Some(t) = ins.report.tampering {
                return Err(crate::error::SecurityError::AuditLogTampered {
                    details: t.to_string(),
                }
                .into());
            }
            return Writer::create(fs, dir, key, options.max_file_bytes);
        };
        let report = ins.report.clone().into_result()?;
        if state.sealed != config.encrypt_logs {
            return Err(DatabaseError::ConfigurationError {
                field: "encrypt_logs".into(),
                reason: format!(
                    "is {} but the log in {} was created with encrypt_logs = {}",
                    config.encrypt_logs,
                    dir.display(),
                    state.sealed
                ),
            });
        }
        for stale in &report.stale_files {
            fs.remove_file(&dir.join(stale))
                .map_err(|e| DatabaseError::io("audit log", dir, &e))?;
        }
        let last = ins
            .files
            .last()
            .cloned()
            .ok_or_else(|| DatabaseError::Internal {
                message: "an audit log with no file in use".into(),
            })?;
        let path = dir.join(format::file_name(last.number));
        let file = fs
            .reopen_truncated(&path, last.valid_len)
            .map_err(|e| DatabaseError::io("audit log", &path, &e))?;
        if !report.stale_files.is_empty() || report.interrupted.is_some() {
            fs.sync_dir(dir)
                .map_err(|e| DatabaseError::io("audit log", dir, &e))?;
        }
        let mut w = Writer {
            fs,
            dir: dir.to_path_buf(),
            key,
            log_id: state.log_id_bytes(),
            state,
            files: ins.files,
            file,
            end_seq: ins.end_seq,
            end_hash: ins.end_hash,
            max_file_bytes: options.max_file_bytes.max(1),
            pending: Vec::new(),
            broken: None,
        };
        if let Some(cut) = report.interrupted {
            // The interruption becomes part of the log itself.
            w.pending.push(maintenance(
                "recover",
                OperationResult::Success,
                [
                    ("expected_last_seq", cut.expected_last_seq.to_string()),
                    ("present_last_seq", cut.present_last_seq.to_string()),
                    ("torn_bytes_removed", cut.torn_bytes.to_string()),
                ],
            ));
            w.flush(0)?;
        }
        w.retention(config.retention_days, SystemTime::now())?;
        Ok(w)
    }

    fn create(
        fs: Arc<dyn FileSystem>,
        dir: &Path,
        key: Option<AuditKey>,
        max_file_bytes: u64,
    ) -> Result<Writer, DatabaseError> {
        let log_id: [u8; 16] = key::random_bytes();
        let genesis = format::hex(&format::genesis(&log_id));
        let state = State {
            version: format::STATE_VERSION,
            log_id: format::hex(&log_id),
            sealed: key.is_some(),
            first_file: 1,
            last_file: 1,
            base_seq: 0,
            base_hash: genesis.clone(),
            prev_seq: 0,
            prev_hash: genesis.clone(),
            last_seq: 0,
            last_hash: genesis,
            committed: true,
        };
        let path = dir.join(format::file_name(1));
        let file = fs
            .create(&path)
            .map_err(|e| DatabaseError::io("audit log", &path, &e))?;
        fs.sync_dir(dir)
            .map_err(|e| DatabaseError::io("audit log", dir, &e))?;
        let w = Writer {
            fs,
            dir: dir.to_path_buf(),
            key,
            log_id: log_id.to_vec(),
            end_seq: 0,
            end_hash: format::genesis(&log_id),
            files: vec![FileIndex {
                number: 1,
                valid_len: 0,
                last_seq: 0,
                last_hash: format::genesis(&log_id),
                newest_ns: 0,
            }],
            state,
            file,
            max_file_bytes: max_file_bytes.max(1),
            pending: Vec::new(),
            broken: None,
        };
        w.write_state()?;
        Ok(w)
    }

    fn write_state(&self) -> Result<(), DatabaseError> {
        let path = self.dir.join(format::STATE_FILE);
        write_file_atomic(self.fs.as_ref(), &path, &self.state.encode())
            .map_err(|e| DatabaseError::io("audit log", &path, &e))
    }

    /// Appends the pending events as one batch; returns them (for the alerts).
    fn flush(&mut self, retention_days: u32) -> Result<Vec<AuditEvent>, DatabaseError> {
        if self.pending.is_empty() {
            return Ok(Vec::new());
        }
        if let Some(why) = &self.broken {
            return Err(DatabaseError::Internal {
                message: format!("the audit log stopped after a failed append ({why}); reopen it"),
            });
        }
        let events = std::mem::take(&mut self.pending);
        let mut bytes = Vec::new();
        let (mut seq, mut hash) = (self.end_seq, self.end_hash);
        let mut newest = 0;
        for event in &events {
            seq += 1;
            let stored = StoredEvent::of(event);
            newest = newest.max(stored.ts_ns);
            let body = match &self.key {
                None => format::plain_body(seq, &hash, &stored),
                Some(key) => {
                    let plain = serde_json::to_vec(&stored).unwrap_or_default();
                    let aad = format::sealing_aad(&self.log_id, seq, &hash);
                    format::sealed_body(seq, &hash, &key.seal(&plain, &aad)?)
                }
            };
            hash = format::chain(&hash, &body);
            bytes.extend_from_slice(&format::line_of(&body, &hash));
        }
        let rotated =
            !self.file.is_empty() && self.file.len() + bytes.len() as u64 > self.max_file_bytes;
        if let Err(e) = self.append(&bytes, seq, hash, rotated) {
            self.broken = Some(e.to_string());
            return Err(e);
        }
        let fx = self.files.last_mut().expect("a file in use");
        fx.valid_len = self.file.len();
        fx.last_seq = seq;
        fx.last_hash = hash;
        fx.newest_ns = fx.newest_ns.max(newest);
        self.end_seq = seq;
        self.end_hash = hash;
        let mut written = events;
        if rotated {
            let (_, more) = self.retention(retention_days, SystemTime::now())?;
            written.extend(more);
        }
        Ok(written)
    }

    /// State (not committed), lines, sync, state (committed): see `verify`'s rule.
    fn append(
        &mut self,
        bytes: &[u8],
        seq: u64,
        hash: [u8; 32],
        rotate: bool,
    ) -> Result<(), DatabaseError> {
        if rotate {
            let n = self.state.last_file + 1;
            let path = self.dir.join(format::file_name(n));
            self.file = self
                .fs
                .create(&path)
                .map_err(|e| DatabaseError::io("audit log", &path, &e))?;
            self.fs
                .sync_dir(&self.dir)
                .map_err(|e| DatabaseError::io("audit log", &self.dir, &e))?;
            self.files.push(FileIndex {
                number: n,
                valid_len: 0,
                last_seq: self.end_seq,
                last_hash: self.end_hash,
                newest_ns: 0,
            });
            self.state.last_file = n;
        }
        self.state.prev_seq = self.end_seq;
        self.state.prev_hash = format::hex(&self.end_hash);
        self.state.last_seq = seq;
        self.state.last_hash = format::hex(&hash);
        self.state.committed = false;
        self.write_state()?;
        let path = self.dir.join(format::file_name(self.state.last_file));
        self.file
            .append(bytes)
            .and_then(|()| self.file.sync_data())
            .map_err(|e| DatabaseError::io("audit log", &path, &e))?;
        self.state.committed = true;
        self.write_state()
    }

    /// Retention (see [`AuditLogger::apply_retention_at`]); returns the files removed and
    /// the anchor event written.
    fn retention(
        &mut self,
        days: u32,
        now: SystemTime,
    ) -> Result<(usize, Vec<AuditEvent>), DatabaseError> {
        if days == 0 || self.files.len() < 2 {
            return Ok((0, Vec::new()));
        }
        let keep = Duration::from_secs(u64::from(days) * 86_400);
        let cutoff = format::nanos(now.checked_sub(keep).unwrap_or(SystemTime::UNIX_EPOCH));
        let expired = self.files[..self.files.len() - 1]
            .iter()
            .take_while(|f| f.newest_ns < cutoff)
            .count();
        if expired == 0 {
            return Ok((0, Vec::new()));
        }
        let cut = self.files[expired - 1].clone();
        let removed: Vec<String> = self.files[..expired]
            .iter()
            .map(|f| format::file_name(f.number))
            .collect();
        // The anchor: the cut, in the chain itself, before anything is removed.
        self.pending.push(maintenance(
            "retention",
            OperationResult::Success,
            [
                ("removed_files", removed.join(",")),
                ("chain_continues_from_seq", cut.last_seq.to_string()),
                ("chain_continues_from_hash", format::hex(&cut.last_hash)),
                ("retention_days", days.to_string()),
            ],
        ));
        let written = self.flush(0)?;
        self.state.base_seq = cut.last_seq;
        self.state.base_hash = format::hex(&cut.last_hash);
        self.state.first_file = self.files[expired].number;
        self.write_state()?;
        for name in &removed {
            let path = self.dir.join(name);
            self.fs
                .remove_file(&path)
                .map_err(|e| DatabaseError::io("audit log", &path, &e))?;
        }
        self.fs
            .sync_dir(&self.dir)
            .map_err(|e| DatabaseError::io("audit log", &self.dir, &e))?;
        self.files.drain(..expired);
        Ok((expired, written))
    }
}

/// An entry about the log's own upkeep.
fn maintenance<const N: usize>(
    operation: &str,
    result: OperationResult,
    metadata: [(&str, String); N],
) -> AuditEvent {
    AuditEvent {
        event_type: SecurityEventType::LogMaintenance,
        resource: "audit log".into(),
        operation: operation.into(),
        result,
        risk_level: RiskLevel::Medium,
        timestamp: SystemTime::now(),
        metadata: metadata
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect(),
    }
}
