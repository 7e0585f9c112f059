//! The open's recovery stages when something goes wrong: a stage that meets transient I/O
//! failures is retried (on the database's clock, with the configured backoff), one whose
//! retries are spent answers `AutoRecoveryFailed`, one that runs out of time answers
//! `RecoveryTimeout`, an I/O failure that is not retried after the log was replayed answers
//! `PartialRecoveryFailure`; the verification stage refuses a table that is not the file the
//! manifest describes; and in every case nothing acknowledged is lost: the next open on a
//! healthy disk finds it all.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use lightning_db::testing::{FaultPlan, OpKind, SimFileSystem};
use lightning_db::{
    BackoffStrategy, Clock, CorruptionAction, Database, DatabaseError, Durability, EventListener,
    LightningDbConfig, ManualClock, RecoveryStage, RecoveryStageInfo, StagePhase,
};

const DIR: &str = "/db";
const KEYS: u64 = 400;

/// The recovery stage events heard.
#[derive(Default)]
struct Stages(Mutex<Vec<RecoveryStageInfo>>);

impl EventListener for Stages {
    fn on_recovery_stage(&self, info: &RecoveryStageInfo) {
        self.0.lock().unwrap().push(info.clone());
    }
}

impl Stages {
    fn of(&self, phase: StagePhase) -> Vec<RecoveryStageInfo> {
        let all = self.0.lock().unwrap();
        all.iter().filter(|i| i.phase == phase).cloned().collect()
    }
}

fn config(retries: usize) -> LightningDbConfig {
    let mut c = LightningDbConfig {
        write_buffer_size: 1 << 20,
        block_size: 1024,
        durability: Durability::Sync,
        ..Default::default()
    };
    c.reliability.retry_max_attempts = retries;
    c
}

fn key(i: u64) -> Vec<u8> {
    format!("key-{i:06}").into_bytes()
}

/// A database on `sim` holding `KEYS` keys: the first half flushed into tables, the rest
/// only in the log (so the next open replays it and writes it into a table).
fn fill(sim: &SimFileSystem) {
    let db = Database::open_with_fs(DIR, config(3), sim.handle()).expect("open");
    for i in 0..KEYS {
        db.put(&key(i), &i.to_le_bytes()).expect("put");
        if i == KEYS / 2 {
            db.flush().expect("flush");
        }
    }
    db.close().expect("close");
}

/// Every key is there with its value.
fn assert_all_there(db: &Database) {
    for i in 0..KEYS {
        assert_eq!(
            db.get(&key(i)).expect("get"),
            Some(i.to_le_bytes().to_vec()),
            "key {i}"
        );
    }
}

fn open(
    sim: &SimFileSystem,
    config: LightningDbConfig,
    clock: &ManualClock,
    stages: &Arc<Stages>,
) -> Result<Database, DatabaseError> {
    let listener: Arc<dyn EventListener> = stages.clone();
    Database::open_with_fs_clock_and_listeners(
        DIR,
        config,
        sim.handle(),
        Arc::new(clock.clone()) as Arc<dyn Clock>,
        vec![listener],
    )
}

fn reopen_healthy(sim: &SimFileSystem) {
    sim.set_fault(None);
    let db = Database::open_with_fs(DIR, config(3), sim.handle()).expect("reopen");
    assert_all_there(&db);
    db.close().expect("close");
}

/// Reading the tables fails with `EIO` from the first read on.
fn table_reads_fail() -> FaultPlan {
    FaultPlan::from_nth(1)
        .only(&[OpKind::Read])
        .on_paths(".sst")
}

#[test]
fn a_stage_that_fails_once_is_retried_after_the_backoff_and_the_open_succeeds() {
    let sim = SimFileSystem::new();
    fill(&sim);
    sim.set_fault(Some(
        FaultPlan::once(1).only(&[OpKind::Read]).on_paths(".sst"),
    ));
    let clock = ManualClock::new();
    let stages = Arc::new(Stages::default());
    let db = open(&sim, config(3), &clock, &stages).expect("open after one retry");
    assert_all_there(&db);
    let manifest = stages
        .of(StagePhase::Finished)
        .into_iter()
        .find(|i| i.stage == RecoveryStage::Manifest)
        .expect("manifest finished");
    assert_eq!(manifest.attempts, 2);
    // One retry, after the default backoff's first delay, waited on the database's clock.
    assert_eq!(clock.sleeps().first(), Some(&Duration::from_millis(100)));
    assert!(db.recovery_state().is_complete());
    db.close().expect("close");
}

#[test]
fn a_stage_whose_retries_are_spent_answers_auto_recovery_failed() {
    let sim = SimFileSystem::new();
    fill(&sim);
    sim.set_fault(Some(table_reads_fail()));
    let clock = ManualClock::new();
    let stages = Arc::new(Stages::default());
    let err = open(&sim, config(2), &clock, &stages).expect_err("tables unreadable");
    match &err {
        DatabaseError::AutoRecoveryFailed {
            stage,
            attempts,
            last_error,
        } => {
            assert_eq!(stage, "manifest");
            assert_eq!(*attempts, 3);
            assert!(
                matches!(**last_error, DatabaseError::Io { .. }),
                "{last_error:?}"
            );
        }
        other => panic!("expected AutoRecoveryFailed, got {other:?}"),
    }
    assert!(matches!(err.root_cause(), DatabaseError::Io { .. }));
    assert!(!err.is_retryable());
    // The backoff schedule: 100 ms, then 200 ms.
    assert_eq!(
        clock.sleeps(),
        vec![Duration::from_millis(100), Duration::from_millis(200)]
    );
    let failed = stages.of(StagePhase::Failed);
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].stage, RecoveryStage::Manifest);
    assert_eq!(failed[0].attempts, 3);
    assert_eq!(failed[0].error.as_deref(), Some(err.to_string().as_str()));
    reopen_healthy(&sim);
}

#[test]
fn a_stage_that_runs_out_of_time_answers_recovery_timeout() {
    let sim = SimFileSystem::new();
    fill(&sim);
    sim.set_fault(Some(table_reads_fail()));
    let clock = ManualClock::new();
    let stages = Arc::new(Stages::default());
    let mut c = config(100);
    c.reliability.retry_backoff_strategy = BackoffStrategy::Exponential {
        base_delay: Duration::from_secs(1),
        max_delay: Duration::from_secs(30),
    };
    let err = open(&sim, c, &clock, &stages).expect_err("tables unreadable");
    match &err {
        DatabaseError::RecoveryTimeout { stage, elapsed } => {
            assert_eq!(stage, "manifest");
            // 1 + 2 + 4 + 8 + 16 s waited; the next 30 s would end past the minute.
            assert_eq!(*elapsed, Duration::from_secs(31));
        }
        other => panic!("expected RecoveryTimeout, got {other:?}"),
    }
    let waited: Duration = clock.sleeps().iter().sum();
    assert_eq!(waited, Duration::from_secs(31));
    assert_eq!(stages.of(StagePhase::Failed)[0].attempts, 6);
    reopen_healthy(&sim);
}

#[test]
fn the_lock_stage_is_never_retried() {
    let sim = SimFileSystem::new();
    fill(&sim);
    let holder = Database::open_with_fs(DIR, config(3), sim.handle()).expect("open");
    let clock = ManualClock::new();
    let stages = Arc::new(Stages::default());
    let err = open(&sim, config(3), &clock, &stages).expect_err("locked");
    assert!(
        matches!(err, DatabaseError::DatabaseLocked { .. }),
        "{err:?}"
    );
    assert!(clock.sleeps().is_empty());
    drop(holder);
}

#[test]
fn writing_the_replayed_log_failing_without_retries_is_a_partial_failure_that_rolls_back() {
    let sim = SimFileSystem::new();
    fill(&sim);
    sim.set_fault(Some(
        FaultPlan::from_nth(1)
            .only(&[OpKind::Create])
            .on_paths(".sst"),
    ));
    let clock = ManualClock::new();
    let stages = Arc::new(Stages::default());
    let err = open(&sim, config(0), &clock, &stages).expect_err("cannot write tables");
    match &err {
        DatabaseError::PartialRecoveryFailure {
            completed_stages,
            failed_stage,
            cause,
            rollback_available,
        } => {
            assert_eq!(completed_stages, &["lock", "manifest", "log_replay"]);
            assert_eq!(failed_stage, "flush_recovered");
            assert!(matches!(**cause, DatabaseError::Io { .. }), "{cause:?}");
            assert!(*rollback_available);
        }
        other => panic!("expected PartialRecoveryFailure, got {other:?}"),
    }
    assert!(err.is_critical());
    assert!(clock.sleeps().is_empty(), "retries are off");
    reopen_healthy(&sim);
}

#[test]
fn a_cleanup_failure_with_retries_off_is_partial_and_cannot_be_rolled_back() {
    let sim = SimFileSystem::new();
    fill(&sim);
    sim.set_fault(Some(
        FaultPlan::once(1)
            .only(&[OpKind::Sync])
            .on_paths("MANIFEST"),
    ));
    let clock = ManualClock::new();
    let stages = Arc::new(Stages::default());
    let err = open(&sim, config(0), &clock, &stages).expect_err("manifest sync fails");
    match &err {
        DatabaseError::PartialRecoveryFailure {
            completed_stages,
            failed_stage,
            rollback_available,
            ..
        } => {
            assert_eq!(failed_stage, "cleanup");
            assert_eq!(
                completed_stages.last().map(String::as_str),
                Some("verification")
            );
            assert!(!rollback_available);
        }
        other => panic!("expected PartialRecoveryFailure, got {other:?}"),
    }
    assert!(clock.sleeps().is_empty(), "retries are off");
    reopen_healthy(&sim);
}

/// Copies table `from` over table `to` (both in `dir` on `sim`).
fn replace_table(sim: &SimFileSystem, from: &str, to: &str) {
    let bytes = sim
        .read_file(Path::new(DIR).join(from))
        .expect("source table");
    sim.write_file(Path::new(DIR).join(to), &bytes)
        .expect("overwrite");
}

fn tables(sim: &SimFileSystem) -> Vec<String> {
    let mut t: Vec<String> = sim
        .list(DIR)
        .into_iter()
        .filter(|n| n.ends_with(".sst"))
        .collect();
    t.sort();
    t
}

#[test]
fn verification_refuses_a_table_that_is_not_the_file_the_manifest_describes() {
    let sim = SimFileSystem::new();
    let db = Database::open_with_fs(DIR, config(3), sim.handle()).expect("open");
    for batch in 0..2u64 {
        for i in 0..50 {
            let k = batch * 1000 + i;
            db.put(&key(k), &k.to_le_bytes()).expect("put");
        }
        db.flush().expect("flush");
    }
    db.close().expect("close");
    let t = tables(&sim);
    assert!(t.len() >= 2, "{t:?}");
    replace_table(&sim, &t[1], &t[0]);

    let clock = ManualClock::new();
    let stages = Arc::new(Stages::default());
    let err = open(&sim, config(3), &clock, &stages).expect_err("replaced table");
    match &err {
        DatabaseError::InconsistentState { details, .. } => {
            assert!(details.contains(&t[0]), "{details}");
            assert!(
                details.contains("not the file the manifest describes"),
                "{details}"
            );
        }
        other => panic!("expected InconsistentState, got {other:?}"),
    }
    let failed = stages.of(StagePhase::Failed);
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].stage, RecoveryStage::Verification);

    // With corruption_action Repair the open repairs the manifest and opens.
    let mut c = config(3);
    c.security.corruption_action = CorruptionAction::Repair;
    let db = Database::open_with_fs(DIR, c, sim.handle()).expect("repaired");
    for i in 0..50 {
        let k = 1000 + i;
        assert_eq!(
            db.get(&key(k)).expect("get"),
            Some(k.to_le_bytes().to_vec())
        );
    }
    db.close().expect("close");
}

#[test]
fn log_replay_reports_segments_as_well_as_bytes() {
    let sim = SimFileSystem::new();
    fill(&sim);
    let clock = ManualClock::new();
    let stages = Arc::new(Stages::default());
    let db = open(&sim, config(3), &clock, &stages).expect("open");
    let progress: Vec<RecoveryStageInfo> = stages
        .of(StagePhase::Progress)
        .into_iter()
        .filter(|i| i.stage == RecoveryStage::LogReplay)
        .collect();
    let last = progress.last().expect("replay progress");
    assert!(last.segments_total >= 1);
    assert_eq!(last.segments_done, last.segments_total);
    assert!(progress
        .windows(2)
        .all(|w| w[0].segments_done <= w[1].segments_done));
    let state = db.recovery_state();
    assert_eq!(
        state.replayed_segments(),
        (last.segments_done, last.segments_total)
    );
    assert_eq!(state.completed_stages(), &RecoveryStage::ALL);
    db.close().expect("close");
}
