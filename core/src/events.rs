//! What the engine tells observers as it works: flushes and compactions finished,
//! background errors, corruption met, recovery stages on open and write stalls.
//!
//! Implement [`EventListener`] (every method has a no-op default, so a listener names only
//! what it cares about, as with RocksDB's `EventListener`) and register it with
//! [`Database::open_with_listeners`](crate::Database::open_with_listeners) (which also
//! sees the recovery stages of the open itself) or
//! [`Database::add_listener`](crate::Database::add_listener). The operational layer
//! (metrics, health, recovery progress) observes the engine this way instead of being
//! threaded through it.
//!
//! Listeners are called on the thread that did the work (a background thread for flushes
//! and compactions, the opening thread for recovery stages, the stalled writer for a
//! stall), after the work is done. Flush, compaction, error and corruption events come
//! with no engine lock held, so those methods may read from and write to the database;
//! a stall is reported by the writer that holds the log, so `on_write_stall` must not
//! write (it would wait for itself). A listener should return quickly: a slow one delays
//! the thread that called it. A listener that panics is caught; the engine carries on.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::RwLock;

/// Receives the engine's events. Every method does nothing unless overridden.
///
/// ```
/// use std::sync::atomic::{AtomicU64, Ordering};
/// use std::sync::Arc;
/// use lightning_db::{Database, EventListener, FlushInfo, LightningDbConfig};
///
/// #[derive(Default)]
/// struct CountFlushes(AtomicU64);
///
/// impl EventListener for CountFlushes {
///     fn on_flush_completed(&self, info: &FlushInfo) {
///         self.0.fetch_add(info.tables.len() as u64, Ordering::Relaxed);
///     }
/// }
///
/// # let dir = tempfile::tempdir().unwrap();
/// let flushes = Arc::new(CountFlushes::default());
/// let db = Database::open_with_listeners(dir.path(), LightningDbConfig::default(), vec![flushes.clone()])?;
/// db.put(b"k", b"v")?;
/// db.flush()?;
/// assert_eq!(flushes.0.load(Ordering::Relaxed), 1);
/// # Ok::<(), lightning_db::DatabaseError>(())
/// ```
pub trait EventListener: Send + Sync {
    /// A memtable was written to level-0 tables and readers now use them.
    /// [`Database::flush`](crate::Database::flush) returns after this was called for the
    /// memtables it flushed, so this method must not call `flush` itself (it would wait
    /// for itself).
    fn on_flush_completed(&self, info: &FlushInfo) {
        let _ = info;
    }

    /// A compaction (or a move of whole tables to a deeper level) was installed.
    fn on_compaction_completed(&self, info: &CompactionInfo) {
        let _ = info;
    }

    /// Background work failed. When [`BackgroundErrorInfo::poisoned`] is set the
    /// database refuses writes until it is reopened; otherwise the work is retried.
    fn on_background_error(&self, info: &BackgroundErrorInfo) {
        let _ = info;
    }

    /// A read, the background verifier or the open met damaged data.
    fn on_corruption(&self, info: &CorruptionInfo) {
        let _ = info;
    }

    /// Opening the database moved through a recovery stage (called when a stage starts,
    /// as log replay advances, and when the stage ends).
    fn on_recovery_stage(&self, info: &RecoveryStageInfo) {
        let _ = info;
    }

    /// A writer began or stopped waiting for background work to make room.
    fn on_write_stall(&self, info: &WriteStallInfo) {
        let _ = info;
    }
}

/// A finished flush.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlushInfo {
    /// The new level-0 tables' file numbers (empty when every version was obsolete).
    pub tables: Vec<u64>,
    /// Entries written (versions and tombstones).
    pub entries: u64,
    /// Bytes written to table files.
    pub bytes_written: u64,
    /// How long the flush took, from the start of writing to the new tables' installation.
    pub duration: Duration,
    /// Memtables still waiting to be flushed after this one.
    pub memtables_waiting: usize,
}

/// A finished compaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompactionInfo {
    /// The input tables, each with its level.
    pub inputs: Vec<(usize, u64)>,
    /// The level the output went to.
    pub output_level: usize,
    /// The output tables' file numbers (for a move, the input tables themselves).
    pub outputs: Vec<u64>,
    /// Bytes of the input tables.
    pub bytes_read: u64,
    /// Bytes written to new table files (zero for a move).
    pub bytes_written: u64,
    /// True when the tables were moved to the output level without rewriting a byte.
    pub trivial_move: bool,
    /// How long the compaction took.
    pub duration: Duration,
}

/// Which background work an event is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum BackgroundJob {
    /// Writing a memtable to a table.
    Flush,
    /// Merging tables into a deeper level.
    Compaction,
    /// The `Durability::Periodic` log sync.
    PeriodicSync,
}

/// Failed background work.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackgroundErrorInfo {
    /// What was being done.
    pub job: BackgroundJob,
    /// The error's numeric code (see [`crate::codes`]).
    pub code: i32,
    /// The error, as text.
    pub message: String,
    /// True when the failure stopped writes until the database is reopened (a failed
    /// sync or manifest write: nothing written later could be trusted); false when the
    /// engine retries the work itself.
    pub poisoned: bool,
}

/// Damage met in an open database (or while opening it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CorruptionInfo {
    /// The damaged table's file number, when the damage is in a table.
    pub table: Option<u64>,
    /// Who met it: `"read"`, `"verifier"` or `"open"`.
    pub source: String,
    /// The error, with file and offset.
    pub details: String,
    /// The configured corruption action that was applied, as its name (`"Log"`, `"Halt"`,
    /// `"Quarantine"`, `"Repair"`).
    pub action: String,
}

/// A stage of recovery while a database opens, in the order they run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum RecoveryStage {
    /// Taking the directory lock.
    Lock,
    /// Reading the manifest and opening the live tables.
    Manifest,
    /// Replaying the write-ahead log segments the tables do not cover.
    LogReplay,
    /// Writing what the log held into level-0 tables.
    FlushRecovered,
    /// Checking the recovered state before it is made durable: each live table's own
    /// properties against what the manifest says of it, no overlap in levels 1 and
    /// deeper, no table newer than the recovered sequence number.
    Verification,
    /// Writing a fresh manifest and log segment, removing obsolete files.
    Cleanup,
    /// Starting the background threads; the database is open once this ends.
    Start,
}

impl RecoveryStage {
    /// Every stage, in order.
    pub const ALL: [RecoveryStage; 7] = [
        RecoveryStage::Lock,
        RecoveryStage::Manifest,
        RecoveryStage::LogReplay,
        RecoveryStage::FlushRecovered,
        RecoveryStage::Verification,
        RecoveryStage::Cleanup,
        RecoveryStage::Start,
    ];

    /// The stage's name in reports (`"lock"`, `"manifest"`, `"log_replay"`, …).
    pub fn name(self) -> &'static str {
        match self {
            RecoveryStage::Lock => "lock",
            RecoveryStage::Manifest => "manifest",
            RecoveryStage::LogReplay => "log_replay",
            RecoveryStage::FlushRecovered => "flush_recovered",
            RecoveryStage::Verification => "verification",
            RecoveryStage::Cleanup => "cleanup",
            RecoveryStage::Start => "start",
        }
    }
}

/// Where a stage is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StagePhase {
    /// The stage began.
    Started,
    /// The stage advanced (log replay reports this as segments are read).
    Progress,
    /// The stage finished.
    Finished,
    /// The stage failed; the open returns the error.
    Failed,
}

/// One step of recovery on open.
#[derive(Debug, Clone, PartialEq)]
pub struct RecoveryStageInfo {
    /// The database directory.
    pub path: PathBuf,
    /// The stage.
    pub stage: RecoveryStage,
    /// Where it is.
    pub phase: StagePhase,
    /// Work done in this stage, in `unit`s (log replay: bytes of log read).
    pub done: u64,
    /// Work this stage has in all, in `unit`s (0 when not known).
    pub total: u64,
    /// What `done` and `total` count: `"bytes"`, `"tables"` or `"steps"`.
    pub unit: &'static str,
    /// Log replay: the segments replayed so far (0 in the other stages).
    pub segments_done: u64,
    /// Log replay: the segments to replay in all (0 in the other stages).
    pub segments_total: u64,
    /// How many times the stage has been attempted, this one included: above 1 when a
    /// transient I/O failure made the open retry it (see `reliability.retry_max_attempts`).
    pub attempts: usize,
    /// Time since the open began.
    pub elapsed: Duration,
    /// For [`StagePhase::Failed`]: the error.
    pub error: Option<String>,
}

impl RecoveryStageInfo {
    /// This stage's fraction done, 0.0 to 1.0 (1.0 once finished).
    pub fn stage_fraction(&self) -> f64 {
        match self.phase {
            StagePhase::Finished => 1.0,
            _ if self.total == 0 => 0.0,
            _ => (self.done as f64 / self.total as f64).min(1.0),
        }
    }
}

/// Why writers wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum StallCause {
    /// Too many full memtables wait to be flushed.
    MemtablesWaiting,
    /// Level 0 holds too many tables; compaction must catch up.
    Level0Backlog,
}

/// A write stall beginning or ending.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WriteStallInfo {
    /// Why the writer waits (at the stall's start).
    pub cause: StallCause,
    /// False when the stall begins, true when it ends.
    pub ended: bool,
    /// How long the writer waited (zero when the stall begins).
    pub duration: Duration,
}

/// Any one event, for code that handles them all in one place (the C ABI and the
/// language bindings hand events on this way, as JSON).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Event {
    /// See [`EventListener::on_flush_completed`].
    FlushCompleted(FlushInfo),
    /// See [`EventListener::on_compaction_completed`].
    CompactionCompleted(CompactionInfo),
    /// See [`EventListener::on_background_error`].
    BackgroundError(BackgroundErrorInfo),
    /// See [`EventListener::on_corruption`].
    Corruption(CorruptionInfo),
    /// See [`EventListener::on_recovery_stage`].
    RecoveryStage(RecoveryStageInfo),
    /// See [`EventListener::on_write_stall`].
    WriteStall(WriteStallInfo),
}

fn millis(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

impl Event {
    /// The event's kind: `"flush_completed"`, `"compaction_completed"`,
    /// `"background_error"`, `"corruption"`, `"recovery_stage"` or `"write_stall"`.
    pub fn kind(&self) -> &'static str {
        match self {
            Event::FlushCompleted(_) => "flush_completed",
            Event::CompactionCompleted(_) => "compaction_completed",
            Event::BackgroundError(_) => "background_error",
            Event::Corruption(_) => "corruption",
            Event::RecoveryStage(_) => "recovery_stage",
            Event::WriteStall(_) => "write_stall",
        }
    }

    /// The event as one JSON object: `"kind"` and the info's fields in snake case,
    /// durations as `*_ms` numbers, enums as lower-case names.
    pub fn to_json(&self) -> String {
        use serde_json::json;
        let body = match self {
            Event::FlushCompleted(f) => json!({
                "tables": f.tables,
                "entries": f.entries,
                "bytes_written": f.bytes_written,
                "duration_ms": millis(f.duration),
                "memtables_waiting": f.memtables_waiting,
            }),
            Event::CompactionCompleted(c) => json!({
                "inputs": c.inputs.iter().map(|(level, table)| json!({"level": level, "table": table})).collect::<Vec<_>>(),
                "output_level": c.output_level,
                "outputs": c.outputs,
                "bytes_read": c.bytes_read,
                "bytes_written": c.bytes_written,
                "trivial_move": c.trivial_move,
                "duration_ms": millis(c.duration),
            }),
            Event::BackgroundError(e) => json!({
                "job": match e.job {
                    BackgroundJob::Flush => "flush",
                    BackgroundJob::Compaction => "compaction",
                    BackgroundJob::PeriodicSync => "periodic_sync",
                },
                "code": e.code,
                "message": e.message,
                "poisoned": e.poisoned,
            }),
            Event::Corruption(c) => json!({
                "table": c.table,
                "source": c.source,
                "details": c.details,
                "action": c.action,
            }),
            Event::RecoveryStage(r) => json!({
                "path": r.path.display().to_string(),
                "stage": r.stage.name(),
                "phase": match r.phase {
                    StagePhase::Started => "started",
                    StagePhase::Progress => "progress",
                    StagePhase::Finished => "finished",
                    StagePhase::Failed => "failed",
                },
                "done": r.done,
                "total": r.total,
                "unit": r.unit,
                "segments_done": r.segments_done,
                "segments_total": r.segments_total,
                "attempts": r.attempts,
                "elapsed_ms": millis(r.elapsed),
                "error": r.error,
            }),
            Event::WriteStall(w) => json!({
                "cause": match w.cause {
                    StallCause::MemtablesWaiting => "memtables_waiting",
                    StallCause::Level0Backlog => "level0_backlog",
                },
                "ended": w.ended,
                "duration_ms": millis(w.duration),
            }),
        };
        let mut obj = serde_json::Map::new();
        obj.insert("kind".to_string(), json!(self.kind()));
        if let serde_json::Value::Object(fields) = body {
            obj.extend(fields);
        }
        serde_json::Value::Object(obj).to_string()
    }
}

/// A listener made of one closure that receives every event as an [`Event`].
///
/// ```
/// use std::sync::Arc;
/// use lightning_db::{Database, Event, EventFn, LightningDbConfig};
/// # let dir = tempfile::tempdir().unwrap();
/// let log = Arc::new(std::sync::Mutex::new(Vec::new()));
/// let sink = Arc::clone(&log);
/// let listener = EventFn::new(move |e: &Event| sink.lock().unwrap().push(e.kind()));
/// let db = Database::open_with_listeners(dir.path(), LightningDbConfig::default(), vec![Arc::new(listener)])?;
/// assert!(log.lock().unwrap().contains(&"recovery_stage"));
/// # Ok::<(), lightning_db::DatabaseError>(())
/// ```
pub struct EventFn<F>(F);

impl<F: Fn(&Event) + Send + Sync> EventFn<F> {
    /// Wraps `f`.
    pub fn new(f: F) -> Self {
        Self(f)
    }
}

impl<F> std::fmt::Debug for EventFn<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EventFn")
    }
}

impl<F: Fn(&Event) + Send + Sync> EventListener for EventFn<F> {
    fn on_flush_completed(&self, info: &FlushInfo) {
        (self.0)(&Event::FlushCompleted(info.clone()));
    }
    fn on_compaction_completed(&self, info: &CompactionInfo) {
        (self.0)(&Event::CompactionCompleted(info.clone()));
    }
    fn on_background_error(&self, info: &BackgroundErrorInfo) {
        (self.0)(&Event::BackgroundError(info.clone()));
    }
    fn on_corruption(&self, info: &CorruptionInfo) {
        (self.0)(&Event::Corruption(info.clone()));
    }
    fn on_recovery_stage(&self, info: &RecoveryStageInfo) {
        (self.0)(&Event::RecoveryStage(info.clone()));
    }
    fn on_write_stall(&self, info: &WriteStallInfo) {
        (self.0)(&Event::WriteStall(*info));
    }
}

/// The listeners registered with one database.
#[derive(Default)]
pub(crate) struct Listeners {
    list: RwLock<Vec<Arc<dyn EventListener>>>,
    /// Set once a listener is registered, so an event with nobody to hear it costs one load.
    any: AtomicBool,
    /// Listener calls that panicked (and were caught).
    panics: AtomicU64,
}

impl std::fmt::Debug for Listeners {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Listeners")
            .field("count", &self.list.read().len())
            .finish()
    }
}

impl Listeners {
    /// A set holding `list`.
    pub fn new(list: Vec<Arc<dyn EventListener>>) -> Self {
        let any = !list.is_empty();
        Self {
            list: RwLock::new(list),
            any: AtomicBool::new(any),
            panics: AtomicU64::new(0),
        }
    }

    /// Adds a listener; it hears every event from now on.
    pub fn add(&self, listener: Arc<dyn EventListener>) {
        self.list.write().push(listener);
        self.any.store(true, Ordering::Release);
    }

    /// Whether anybody listens (events are built only then).
    pub fn is_active(&self) -> bool {
        self.any.load(Ordering::Acquire)
    }

    /// Listener calls that panicked.
    #[cfg(test)]
    pub fn panics(&self) -> u64 {
        self.panics.load(Ordering::Relaxed)
    }

    /// Calls `deliver` for every listener, outside any engine lock. The list is copied
    /// first, so a listener may register another without deadlocking.
    pub fn emit(&self, deliver: impl Fn(&dyn EventListener)) {
        if !self.is_active() {
            return;
        }
        let list: Vec<Arc<dyn EventListener>> = self.list.read().clone();
        for listener in list {
            if catch_unwind(AssertUnwindSafe(|| deliver(listener.as_ref()))).is_err() {
                self.panics.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[derive(Default)]
    struct Record(Mutex<Vec<String>>);

    impl EventListener for Record {
        fn on_write_stall(&self, info: &WriteStallInfo) {
            self.0.lock().unwrap().push(format!("{:?}", info.cause));
        }
    }

    struct Panics;
    impl EventListener for Panics {
        fn on_write_stall(&self, _: &WriteStallInfo) {
            panic!("listener bug");
        }
    }

    fn stall() -> WriteStallInfo {
        WriteStallInfo {
            cause: StallCause::Level0Backlog,
            ended: false,
            duration: Duration::ZERO,
        }
    }

    #[test]
    fn nobody_listening_is_inactive() {
        let l = Listeners::default();
        assert!(!l.is_active());
        l.emit(|_| unreachable!("no listener"));
    }

    #[test]
    fn a_panicking_listener_is_caught_and_the_rest_still_hear() {
        let rec = Arc::new(Record::default());
        let l = Listeners::new(vec![Arc::new(Panics), rec.clone()]);
        let info = stall();
        l.emit(|x| x.on_write_stall(&info));
        assert_eq!(l.panics(), 1);
        assert_eq!(*rec.0.lock().unwrap(), vec!["Level0Backlog".to_string()]);
    }

    #[test]
    fn defaults_do_nothing_and_added_listeners_hear() {
        struct Nothing;
        impl EventListener for Nothing {}
        let l = Listeners::default();
        l.add(Arc::new(Nothing));
        assert!(l.is_active());
        let info = stall();
        l.emit(|x| {
            x.on_write_stall(&info);
            x.on_flush_completed(&FlushInfo {
                tables: vec![],
                entries: 0,
                bytes_written: 0,
                duration: Duration::ZERO,
                memtables_waiting: 0,
            });
        });
        assert_eq!(l.panics(), 0);
    }

    #[test]
    fn events_as_json_name_their_kind_and_fields() {
        let e = Event::WriteStall(WriteStallInfo {
            cause: StallCause::Level0Backlog,
            ended: true,
            duration: Duration::from_micros(1500),
        });
        let v: serde_json::Value = serde_json::from_str(&e.to_json()).unwrap();
        assert_eq!(v["kind"], "write_stall");
        assert_eq!(v["cause"], "level0_backlog");
        assert_eq!(v["ended"], true);
        assert_eq!(v["duration_ms"], 1.5);
        let e = Event::CompactionCompleted(CompactionInfo {
            inputs: vec![(0, 7), (1, 3)],
            output_level: 1,
            outputs: vec![9],
            bytes_read: 10,
            bytes_written: 8,
            trivial_move: false,
            duration: Duration::ZERO,
        });
        let v: serde_json::Value = serde_json::from_str(&e.to_json()).unwrap();
        assert_eq!(v["kind"], "compaction_completed");
        assert_eq!(v["inputs"][1]["table"], 3);
        assert_eq!(v["outputs"][0], 9);
        let e = Event::RecoveryStage(RecoveryStageInfo {
            path: PathBuf::from("/d"),
            stage: RecoveryStage::LogReplay,
            phase: StagePhase::Failed,
            done: 1,
            total: 2,
            unit: "bytes",
            segments_done: 0,
            segments_total: 1,
            attempts: 1,
            elapsed: Duration::ZERO,
            error: Some("bad".into()),
        });
        let v: serde_json::Value = serde_json::from_str(&e.to_json()).unwrap();
        assert_eq!(v["stage"], "log_replay");
        assert_eq!(v["phase"], "failed");
        assert_eq!(v["error"], "bad");
    }

    #[test]
    fn stage_fraction() {
        let mut info = RecoveryStageInfo {
            path: PathBuf::from("x"),
            stage: RecoveryStage::LogReplay,
            phase: StagePhase::Progress,
            done: 50,
            total: 200,
            unit: "bytes",
            segments_done: 0,
            segments_total: 1,
            attempts: 1,
            elapsed: Duration::ZERO,
            error: None,
        };
        assert_eq!(info.stage_fraction(), 0.25);
        info.total = 0;
        assert_eq!(info.stage_fraction(), 0.0);
        info.phase = StagePhase::Finished;
        assert_eq!(info.stage_fraction(), 1.0);
    }
}
