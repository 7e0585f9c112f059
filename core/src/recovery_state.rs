//! How far a database's recovery on open has come: [`RecoveryState`], folded from the
//! engine's [recovery stage events](crate::EventListener::on_recovery_stage).
//!
//! [`Database::open_with_progress`](crate::Database::open_with_progress) hands the state to
//! a callback as the open advances; [`Database::recovery_state`](crate::Database::recovery_state)
//! gives the final one.

use std::time::Duration;

use parking_lot::Mutex;

use crate::events::{EventListener, RecoveryStage, RecoveryStageInfo, StagePhase};

/// Each stage's share of the whole open, in percent, by where the time goes on a large
/// database: replaying the log dominates, then writing what it held into tables.
fn weight(stage: RecoveryStage) -> f64 {
    match stage {
        RecoveryStage::Lock => 1.0,
        RecoveryStage::Manifest => 8.0,
        RecoveryStage::LogReplay => 70.0,
        RecoveryStage::FlushRecovered => 14.0,
        RecoveryStage::Verification => 2.0,
        RecoveryStage::Cleanup => 4.0,
        RecoveryStage::Start => 1.0,
    }
}

/// A stage that failed.
#[derive(Debug, Clone, PartialEq)]
pub struct RecoveryStageResult {
    /// The stage.
    pub stage: RecoveryStage,
    /// What went wrong.
    pub error: String,
    /// How often the stage was tried: above 1 when the open retried it after transient
    /// I/O failures (`reliability.retry_max_attempts`).
    pub attempts: usize,
    /// How long the stage ran before it failed.
    pub duration: Duration,
}

/// Where a database's recovery on open stands.
///
/// ```
/// use lightning_db::{Database, LightningDbConfig, RecoveryStage};
/// # let dir = tempfile::tempdir().unwrap();
/// let mut seen = Vec::new();
/// let db = Database::open_with_progress(dir.path(), LightningDbConfig::default(), move |state| {
///     seen.push(state.progress());
/// })?;
/// let state = db.recovery_state();
/// assert!(state.is_complete());
/// assert_eq!(state.progress(), 100.0);
/// assert_eq!(state.completed_stages().last(), Some(&RecoveryStage::Start));
/// # Ok::<(), lightning_db::DatabaseError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RecoveryState {
    current_stage: Option<RecoveryStage>,
    completed_stages: Vec<RecoveryStage>,
    failed_stages: Vec<RecoveryStageResult>,
    progress_percentage: f64,
    estimated_time_remaining: Option<Duration>,
    /// Time since the open began, at the last event.
    elapsed: Duration,
    /// When the current stage began (time since the open began).
    stage_began: Duration,
    /// The current stage's fraction done.
    stage_fraction: f64,
    /// Log segments replayed, and to replay in all.
    segments: (u64, u64),
}

impl RecoveryState {
    /// Percent done, 0.0 to 100.0: each stage weighs its typical share of the open (log
    /// replay 70%, writing what it held 14%, reading the manifest 8%, the rest 8%), and log
    /// replay advances by bytes read.
    pub fn progress(&self) -> f64 {
        self.progress_percentage
    }

    /// The stage running now (`None` before the first and after the last).
    pub fn current_stage(&self) -> Option<&RecoveryStage> {
        self.current_stage.as_ref()
    }

    /// Stages finished, in order.
    pub fn completed_stages(&self) -> &[RecoveryStage] {
        &self.completed_stages
    }

    /// Stages that failed (at most one: the open stops at its first failure).
    pub fn failed_stages(&self) -> &[RecoveryStageResult] {
        &self.failed_stages
    }

    /// True once every stage finished: the database is open.
    pub fn is_complete(&self) -> bool {
        self.completed_stages.len() == RecoveryStage::ALL.len() && self.failed_stages.is_empty()
    }

    /// True when a stage failed (the open returned its error).
    pub fn has_failed(&self) -> bool {
        !self.failed_stages.is_empty()
    }

    /// True when the open failed before it changed anything a later open depends on:
    /// before the cleanup stage, which writes the new manifest and removes old files, the
    /// directory still means what it meant (tables written by the flush of the replayed
    /// log are unreferenced and removed by the next open).
    pub fn can_rollback(&self) -> bool {
        self.has_failed()
            && !self.completed_stages.contains(&RecoveryStage::Cleanup)
            && self
                .failed_stages
                .iter()
                .all(|f| f.stage < RecoveryStage::Cleanup)
    }

    /// Time left, estimated from the pace so far (`None` until there is a pace to go by,
    /// and once finished or failed).
    pub fn estimated_time_remaining(&self) -> Option<Duration> {
        self.estimated_time_remaining
    }

    /// Time since the open began, as of the latest stage event.
    pub fn elapsed(&self) -> Duration {
        self.elapsed
    }

    /// Log segments replayed so far and to replay in all (`(0, 0)` before log replay, and
    /// when there was no log to replay).
    pub fn replayed_segments(&self) -> (u64, u64) {
        self.segments
    }

    /// The state as a JSON object: `stage` (the failed stage, else the running one, else
    /// `null`), `progress`, `eta_ms` (or `null`), `completed_stages`, `complete`, `failed`,
    /// `can_rollback`, `elapsed_ms`, `replayed_segments` (`done`, `total`) and
    /// `failed_stages` (each `stage`, `error`, `attempts`, `duration_ms`). The bindings and
    /// the C ABI hand this out.
    pub fn to_json(&self) -> String {
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        let stage = self
            .failed_stages
            .last()
            .map(|f| f.stage)
            .or(self.current_stage);
        let failed: Vec<serde_json::Value> = self
            .failed_stages
            .iter()
            .map(|f| {
                serde_json::json!({
                    "stage": f.stage.name(),
                    "error": f.error,
                    "attempts": f.attempts,
                    "duration_ms": ms(f.duration),
                })
            })
            .collect();
        serde_json::json!({
            "stage": stage.map(RecoveryStage::name),
            "progress": self.progress_percentage,
            "eta_ms": self.estimated_time_remaining.map(ms),
            "completed_stages": self.completed_stages.iter().map(|s| s.name()).collect::<Vec<_>>(),
            "complete": self.is_complete(),
            "failed": self.has_failed(),
            "can_rollback": self.can_rollback(),
            "elapsed_ms": ms(self.elapsed),
            "replayed_segments": { "done": self.segments.0, "total": self.segments.1 },
            "failed_stages": failed,
        })
        .to_string()
    }

    /// Folds one stage event into the state.
    pub(crate) fn apply(&mut self, info: &RecoveryStageInfo) {
        self.elapsed = info.elapsed;
        match info.phase {
            StagePhase::Started => {
                self.current_stage = Some(info.stage);
                self.stage_began = info.elapsed;
                self.stage_fraction = 0.0;
            }
            StagePhase::Progress => {
                self.current_stage = Some(info.stage);
                self.stage_fraction = info.stage_fraction();
                if info.stage == RecoveryStage::LogReplay {
                    self.segments = (info.segments_done, info.segments_total);
                }
            }
            StagePhase::Finished => {
                self.current_stage = None;
                self.stage_fraction = 0.0;
                if !self.completed_stages.contains(&info.stage) {
                    self.completed_stages.push(info.stage);
                }
            }
            StagePhase::Failed => {
                self.current_stage = None;
                self.failed_stages.push(RecoveryStageResult {
                    stage: info.stage,
                    error: info.error.clone().unwrap_or_default(),
                    attempts: info.attempts.max(1),
                    duration: info.elapsed.saturating_sub(self.stage_began),
                });
            }
        }
        let done: f64 = self.completed_stages.iter().map(|&s| weight(s)).sum();
        let current = self
            .current_stage
            .map_or(0.0, |s| weight(s) * self.stage_fraction);
        self.progress_percentage = (done + current).min(100.0);
        self.estimated_time_remaining = if self.has_failed() || self.is_complete() {
            None
        } else if self.progress_percentage >= 1.0 {
            let total = self.elapsed.as_secs_f64() * 100.0 / self.progress_percentage;
            Some(Duration::from_secs_f64(
                (total - self.elapsed.as_secs_f64()).max(0.0),
            ))
        } else {
            None
        };
    }
}

impl RecoveryState {
    /// A listener that folds an open's recovery stage events into a `RecoveryState` and
    /// calls `callback` with it at each, for [`Database::open_with_listeners`] beside other
    /// listeners ([`Database::open_with_progress`] is this with no others).
    ///
    /// [`Database::open_with_listeners`]: crate::Database::open_with_listeners
    /// [`Database::open_with_progress`]: crate::Database::open_with_progress
    pub fn listener(
        callback: impl FnMut(&RecoveryState) + Send + 'static,
    ) -> std::sync::Arc<dyn EventListener> {
        std::sync::Arc::new(ProgressListener::new(callback))
    }
}

/// A listener handing the recovery state to a callback at every stage event.
pub(crate) struct ProgressListener<F> {
    state: Mutex<(RecoveryState, F)>,
}

impl<F: FnMut(&RecoveryState) + Send> ProgressListener<F> {
    /// Calls `callback` with the state after each stage event.
    pub fn new(callback: F) -> Self {
        Self {
            state: Mutex::new((RecoveryState::default(), callback)),
        }
    }
}

impl<F: FnMut(&RecoveryState) + Send> EventListener for ProgressListener<F> {
    fn on_recovery_stage(&self, info: &RecoveryStageInfo) {
        let mut guard = self.state.lock();
        let (state, callback) = &mut *guard;
        state.apply(info);
        callback(state);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn event(
        stage: RecoveryStage,
        phase: StagePhase,
        done: u64,
        total: u64,
        ms: u64,
    ) -> RecoveryStageInfo {
        RecoveryStageInfo {
            path: PathBuf::from("/db"),
            stage,
            phase,
            done,
            total,
            unit: "bytes",
            segments_done: 0,
            segments_total: 0,
            attempts: 1,
            elapsed: Duration::from_millis(ms),
            error: (phase == StagePhase::Failed).then(|| "disk on fire".to_string()),
        }
    }

    #[test]
    fn a_whole_open_goes_from_zero_to_complete() {
        let mut s = RecoveryState::default();
        assert_eq!(s.progress(), 0.0);
        assert!(!s.is_complete() && !s.has_failed() && !s.can_rollback());
        let mut last = 0.0;
        let mut t = 0;
        for stage in RecoveryStage::ALL {
            t += 10;
            s.apply(&event(stage, StagePhase::Started, 0, 0, t));
            assert_eq!(s.current_stage(), Some(&stage));
            if stage == RecoveryStage::LogReplay {
                for done in [250, 500, 1000] {
                    t += 10;
                    s.apply(&event(stage, StagePhase::Progress, done, 1000, t));
                    assert!(s.progress() > last, "{} after {last}", s.progress());
                    last = s.progress();
                    assert!(s.estimated_time_remaining().is_some());
                }
            }
            t += 10;
            s.apply(&event(stage, StagePhase::Finished, 1, 1, t));
            assert!(s.progress() >= last);
            last = s.progress();
        }
        assert!(s.is_complete());
        assert_eq!(s.progress(), 100.0);
        assert_eq!(s.current_stage(), None);
        assert_eq!(s.completed_stages(), &RecoveryStage::ALL);
        assert_eq!(s.estimated_time_remaining(), None);
        assert_eq!(s.elapsed(), Duration::from_millis(t));
        let json: serde_json::Value = serde_json::from_str(&s.to_json()).unwrap();
        assert_eq!(json["complete"], true);
        assert_eq!(json["progress"], 100.0);
        assert_eq!(json["stage"], serde_json::Value::Null);
        assert_eq!(json["completed_stages"].as_array().unwrap().len(), 7);
        assert_eq!(json["completed_stages"][4], "verification");
        assert_eq!(json["failed_stages"], serde_json::json!([]));
    }

    #[test]
    fn half_the_log_replayed_is_about_half_done_with_a_fair_estimate() {
        let mut s = RecoveryState::default();
        s.apply(&event(RecoveryStage::Lock, StagePhase::Finished, 1, 1, 0));
        s.apply(&event(
            RecoveryStage::Manifest,
            StagePhase::Finished,
            1,
            1,
            0,
        ));
        s.apply(&event(
            RecoveryStage::LogReplay,
            StagePhase::Started,
            0,
            0,
            0,
        ));
        s.apply(&event(
            RecoveryStage::LogReplay,
            StagePhase::Progress,
            50,
            100,
            440,
        ));
        assert_eq!(s.progress(), 44.0);
        // 44% in 440 ms: about 560 ms to go.
        let left = s.estimated_time_remaining().expect("estimate");
        assert!((left.as_millis() as i64 - 560).abs() <= 1, "{left:?}");
    }

    #[test]
    fn a_failure_before_cleanup_can_be_rolled_back_and_after_it_cannot() {
        let mut s = RecoveryState::default();
        s.apply(&event(RecoveryStage::Lock, StagePhase::Finished, 1, 1, 1));
        s.apply(&event(
            RecoveryStage::Manifest,
            StagePhase::Started,
            0,
            0,
            2,
        ));
        s.apply(&event(RecoveryStage::Manifest, StagePhase::Failed, 0, 0, 7));
        assert!(s.has_failed() && !s.is_complete() && s.can_rollback());
        assert_eq!(s.failed_stages()[0].stage, RecoveryStage::Manifest);
        assert_eq!(s.failed_stages()[0].error, "disk on fire");
        assert_eq!(s.failed_stages()[0].duration, Duration::from_millis(5));
        assert_eq!(s.estimated_time_remaining(), None);
        let json: serde_json::Value = serde_json::from_str(&s.to_json()).unwrap();
        assert_eq!(json["stage"], "manifest");
        assert_eq!(json["can_rollback"], true);
        assert_eq!(json["failed_stages"][0]["error"], "disk on fire");
        assert_eq!(json["failed_stages"][0]["attempts"], 1);
        assert_eq!(json["failed_stages"][0]["duration_ms"], 5.0);

        let mut s = RecoveryState::default();
        for stage in &RecoveryStage::ALL[..5] {
            s.apply(&event(*stage, StagePhase::Finished, 1, 1, 1));
        }
        s.apply(&event(RecoveryStage::Cleanup, StagePhase::Started, 0, 0, 2));
        s.apply(&event(RecoveryStage::Cleanup, StagePhase::Failed, 0, 0, 3));
        assert!(s.has_failed() && !s.can_rollback());
    }
}
