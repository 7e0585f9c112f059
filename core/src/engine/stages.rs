//! The stages of an open's recovery: each told to the listeners as it starts, advances and
//! ends, retried after a transient I/O failure, and, when it finally fails, answered with
//! the error that says how far recovery came.
//!
//! What a failed stage answers:
//! - the lock stage, and any error that names the database's own state (locked,
//!   configuration, format, corruption, security): that error as it is, since it already
//!   says what to do;
//! - an I/O failure that is worth retrying (any but a failed sync, the rule background work
//!   follows) in a stage that can be run again (manifest, log replay, writing what the log
//!   held, cleanup) is retried after the `reliability.retry_backoff_strategy` delay, up to
//!   `reliability.retry_max_attempts` times; once they are spent:
//!   [`AutoRecoveryFailed`](DatabaseError::AutoRecoveryFailed) with the last error;
//! - when the next retry could not start within [`STAGE_TIME_BUDGET`] of the stage's start:
//!   [`RecoveryTimeout`](DatabaseError::RecoveryTimeout);
//! - an I/O failure that was not retried (a failed sync, or retries turned off) after the
//!   log was replayed:
//!   [`PartialRecoveryFailure`](DatabaseError::PartialRecoveryFailure), naming the stages
//!   completed and whether the directory still means what it meant before the open.

use super::guard::is_transient;
use super::*;
use crate::config::BackoffStrategy;

/// The longest the open keeps retrying one stage: no retry starts once its delay would end
/// this long after the stage began (the same limit the auto-recovery manager's
/// `timeout_per_stage` has by default).
pub(crate) const STAGE_TIME_BUDGET: Duration = Duration::from_secs(60);

/// Whether running `stage` again after a failure is safe: it only reads, or what it wrote
/// is unreferenced until a later step (fresh file numbers every attempt).
fn may_rerun(stage: RecoveryStage) -> bool {
    matches!(
        stage,
        RecoveryStage::Manifest
            | RecoveryStage::LogReplay
            | RecoveryStage::FlushRecovered
            | RecoveryStage::Cleanup
    )
}

/// How the open retries a stage, from the database's reliability settings.
struct StageRetry {
    max_retries: usize,
    backoff: BackoffStrategy,
    clock: Arc<dyn Clock>,
}

/// Tells the listeners how the open advances (each stage's start, end or failure, and log
/// replay's progress at least every half percent of the log's bytes) and runs each stage
/// under the retry rules above.
pub(super) struct StageReporter<'a> {
    listeners: &'a Listeners,
    path: &'a Path,
    pub started: Instant,
    /// The events so far, folded.
    state: Mutex<RecoveryState>,
    retry: StageRetry,
}

impl<'a> StageReporter<'a> {
    pub(super) fn new(
        listeners: &'a Listeners,
        path: &'a Path,
        config: &LightningDbConfig,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            listeners,
            path,
            started: Instant::now(),
            state: Mutex::new(RecoveryState::default()),
            retry: StageRetry {
                max_retries: config.reliability.retry_max_attempts,
                backoff: config.reliability.retry_backoff_strategy,
                clock,
            },
        }
    }

    /// The recovery state after every event so far.
    pub(super) fn state(&self) -> RecoveryState {
        self.state.lock().clone()
    }

    fn emit(&self, stage: RecoveryStage, phase: StagePhase, progress: Progress) {
        let info = RecoveryStageInfo {
            path: self.path.to_path_buf(),
            stage,
            phase,
            done: progress.done,
            total: progress.total,
            unit: progress.unit,
            segments_done: progress.segments.0,
            segments_total: progress.segments.1,
            attempts: progress.attempts,
            elapsed: self.started.elapsed(),
            error: progress.error,
        };
        self.state.lock().apply(&info);
        self.listeners.emit(|l| l.on_recovery_stage(&info));
    }

    /// Runs one stage between its start and end (or failure) events, retrying it as the
    /// module's rules say; `work` runs once per attempt.
    pub(super) fn run<T>(
        &self,
        stage: RecoveryStage,
        mut work: impl FnMut() -> Result<T, DatabaseError>,
    ) -> Result<T, DatabaseError> {
        self.emit(stage, StagePhase::Started, Progress::steps(0, 1));
        let began = self.retry.clock.now();
        let mut attempts = 0usize;
        loop {
            attempts += 1;
            let e = match work() {
                Ok(v) => {
                    self.emit(stage, StagePhase::Finished, Progress::steps(1, attempts));
                    return Ok(v);
                }
                Err(e) => e,
            };
            let retry = may_rerun(stage) && is_transient(&e) && attempts <= self.retry.max_retries;
            let answer = if retry {
                let retry_number = u32::try_from(attempts - 1).unwrap_or(u32::MAX);
                let delay = self.retry.backoff.delay_for_attempt(retry_number);
                let spent = self.retry.clock.now().saturating_duration_since(began);
                if spent.saturating_add(delay) <= STAGE_TIME_BUDGET {
                    self.retry.clock.sleep(delay);
                    continue;
                }
                DatabaseError::RecoveryTimeout {
                    stage: stage.name().to_string(),
                    elapsed: spent,
                }
            } else {
                self.answer(stage, attempts, e)
            };
            let mut failed = Progress::steps(0, attempts);
            failed.error = Some(answer.to_string());
            self.emit(stage, StagePhase::Failed, failed);
            return Err(answer);
        }
    }

    /// The error a stage that failed with `e` after `attempts` attempts answers (see the
    /// module's documentation).
    fn answer(&self, stage: RecoveryStage, attempts: usize, e: DatabaseError) -> DatabaseError {
        if attempts > 1 {
            return DatabaseError::AutoRecoveryFailed {
                stage: stage.name().to_string(),
                attempts,
                last_error: Box::new(e),
            };
        }
        if stage > RecoveryStage::LogReplay && matches!(e, DatabaseError::Io { .. }) {
            let completed = self
                .state
                .lock()
                .completed_stages()
                .iter()
                .map(|s| s.name().to_string())
                .collect();
            return DatabaseError::PartialRecoveryFailure {
                completed_stages: completed,
                failed_stage: stage.name().to_string(),
                cause: Box::new(e),
                // Until the cleanup stage writes the new manifest, what earlier stages
                // wrote is unreferenced: the next open starts from the same files.
                rollback_available: stage < RecoveryStage::Cleanup,
            };
        }
        e
    }

    /// Log replay has read `done` of `total` bytes and replayed `segments.0` of
    /// `segments.1` segments.
    pub(super) fn replay_progress(&self, done: u64, total: u64, segments: (u64, u64)) {
        self.emit(
            RecoveryStage::LogReplay,
            StagePhase::Progress,
            Progress {
                done,
                total,
                unit: "bytes",
                segments,
                attempts: 1,
                error: None,
            },
        );
    }
}

/// What one stage event carries besides its stage and phase.
struct Progress {
    done: u64,
    total: u64,
    unit: &'static str,
    segments: (u64, u64),
    attempts: usize,
    error: Option<String>,
}

impl Progress {
    /// `done` of one step, after `attempts` attempts.
    fn steps(done: u64, attempts: usize) -> Self {
        Self {
            done,
            total: u64::from(done > 0),
            unit: "steps",
            segments: (0, 0),
            attempts,
            error: None,
        }
    }
}

/// The verification stage: the recovered state, checked in memory before the cleanup
/// stage makes it durable. Each table the manifest named must be the file the manifest
/// describes (size, key range, sequence range and count from the file's own properties),
/// levels 1 and deeper must hold disjoint key ranges in order, and no table may hold a
/// sequence number above the recovered one. A mismatch is `InconsistentState`, which the
/// configured corruption action handles like other damage found at open.
pub(super) fn verify_recovered(
    named: &[Vec<TableMeta>],
    version: &Version,
    last_seq: u64,
) -> Result<(), DatabaseError> {
    let inconsistent = |details: String| DatabaseError::InconsistentState {
        details,
        suggested_action: "restore the file from a backup, or open with corruption_action \
                           Repair, which rebuilds the manifest from the files as they are"
            .to_string(),
    };
    let described: HashMap<u64, &TableMeta> =
        named.iter().flatten().map(|m| (m.number, m)).collect();
    for (level, table) in version.all_tables() {
        let file = table_file_name(table.number);
        if let Some(meta) = described.get(&table.number) {
            if let Some(field) = first_difference(meta, table) {
                return Err(inconsistent(format!(
                    "table {file} in level {level} is not the file the manifest describes: \
                     its {field} differs"
                )));
            }
        }
        if table.props.max_seq > last_seq {
            return Err(inconsistent(format!(
                "table {file} holds sequence number {} above the recovered {last_seq}",
                table.props.max_seq
            )));
        }
    }
    for (level, tables) in version.levels.iter().enumerate().skip(1) {
        for pair in tables.windows(2) {
            if pair[0].props.largest >= pair[1].props.smallest {
                return Err(inconsistent(format!(
                    "tables {} and {} overlap in level {level}",
                    table_file_name(pair[0].number),
                    table_file_name(pair[1].number)
                )));
            }
        }
    }
    Ok(())
}

/// The first field in which the manifest's record of a table and the file's own
/// properties disagree.
fn first_difference(meta: &TableMeta, table: &Table) -> Option<&'static str> {
    let p = &table.props;
    [
        ("size", meta.file_size == table.file_size),
        ("smallest key", meta.smallest == p.smallest),
        ("largest key", meta.largest == p.largest),
        ("smallest sequence number", meta.min_seq == p.min_seq),
        ("largest sequence number", meta.max_seq == p.max_seq),
        ("entry count", meta.entries == p.entries),
        ("tombstone count", meta.tombstones == p.tombstones),
    ]
    .into_iter()
    .find(|(_, same)| !same)
    .map(|(field, _)| field)
}
