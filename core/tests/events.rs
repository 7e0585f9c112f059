//! The engine's events, heard through `EventListener` on real databases: flushes,
//! compactions, recovery stages (with log-replay progress), background errors met through
//! injected faults, corruption met by reads, write stalls, and listeners that misbehave.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use lightning_db::testing::{FaultPlan, OpKind, SimFileSystem};
use lightning_db::{
    BackgroundErrorInfo, BackgroundJob, CompactionInfo, CorruptionAction, CorruptionInfo, Database,
    DatabaseError, Durability, EventListener, FlushInfo, LightningDbConfig, RecoveryStage,
    RecoveryStageInfo, SecurityConfig, StagePhase, StallCause, WriteStallInfo,
};

/// Everything heard, in order.
#[derive(Default)]
struct Recorder {
    flushes: Mutex<Vec<FlushInfo>>,
    compactions: Mutex<Vec<CompactionInfo>>,
    errors: Mutex<Vec<BackgroundErrorInfo>>,
    corruption: Mutex<Vec<CorruptionInfo>>,
    stages: Mutex<Vec<RecoveryStageInfo>>,
    stalls: Mutex<Vec<WriteStallInfo>>,
}

impl EventListener for Recorder {
    fn on_flush_completed(&self, info: &FlushInfo) {
        self.flushes.lock().unwrap().push(info.clone());
    }
    fn on_compaction_completed(&self, info: &CompactionInfo) {
        self.compactions.lock().unwrap().push(info.clone());
    }
    fn on_background_error(&self, info: &BackgroundErrorInfo) {
        self.errors.lock().unwrap().push(info.clone());
    }
    fn on_corruption(&self, info: &CorruptionInfo) {
        self.corruption.lock().unwrap().push(info.clone());
    }
    fn on_recovery_stage(&self, info: &RecoveryStageInfo) {
        self.stages.lock().unwrap().push(info.clone());
    }
    fn on_write_stall(&self, info: &WriteStallInfo) {
        self.stalls.lock().unwrap().push(*info);
    }
}

fn small() -> LightningDbConfig {
    LightningDbConfig {
        write_buffer_size: 64 * 1024,
        block_size: 1024,
        durability: Durability::NoSync,
        ..Default::default()
    }
}

fn tables_in(dir: &Path) -> Vec<(u64, PathBuf)> {
    let mut out: Vec<(u64, PathBuf)> = std::fs::read_dir(dir)
        .expect("list")
        .filter_map(|e| {
            let p = e.expect("entry").path();
            let n = p
                .file_name()?
                .to_str()?
                .strip_suffix(".sst")?
                .parse()
                .ok()?;
            Some((n, p))
        })
        .collect();
    out.sort();
    out
}

#[test]
fn a_flush_reports_the_tables_it_wrote() {
    let dir = tempfile::tempdir().expect("tempdir");
    let rec = Arc::new(Recorder::default());
    let db = Database::open_with_listeners(dir.path(), small(), vec![rec.clone()]).expect("open");
    for i in 0..100u32 {
        db.put(format!("k{i:03}").as_bytes(), b"value")
            .expect("put");
    }
    db.flush().expect("flush");
    let flushes = rec.flushes.lock().unwrap().clone();
    assert_eq!(flushes.len(), 1, "{flushes:?}");
    let f = &flushes[0];
    assert_eq!(f.entries, 100);
    assert_eq!(f.memtables_waiting, 0);
    let on_disk = tables_in(dir.path());
    assert_eq!(
        f.tables,
        on_disk.iter().map(|(n, _)| *n).collect::<Vec<_>>()
    );
    let size: u64 = on_disk
        .iter()
        .map(|(_, p)| std::fs::metadata(p).expect("stat").len())
        .sum();
    assert_eq!(f.bytes_written, size);
}

#[test]
fn compactions_report_inputs_outputs_and_bytes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Database::open(dir.path(), small()).expect("open");
    let rec = Arc::new(Recorder::default());
    db.add_listener(rec.clone());
    for round in 0..3u32 {
        for i in 0..500u32 {
            db.put(
                format!("k{i:04}").as_bytes(),
                &round.to_le_bytes().repeat(16),
            )
            .expect("put");
        }
        db.flush().expect("flush");
    }
    db.compact().expect("compact");
    let compactions = rec.compactions.lock().unwrap().clone();
    assert!(!compactions.is_empty(), "no compaction heard");
    let rewrites: Vec<&CompactionInfo> = compactions.iter().filter(|c| !c.trivial_move).collect();
    assert!(!rewrites.is_empty(), "{compactions:?}");
    for c in &compactions {
        assert!(!c.inputs.is_empty());
        assert!(c.inputs.iter().all(|(level, _)| *level < c.output_level));
        assert!(c.bytes_read > 0);
        if c.trivial_move {
            assert_eq!(c.bytes_written, 0);
            assert_eq!(
                c.outputs,
                c.inputs.iter().map(|(_, n)| *n).collect::<Vec<_>>()
            );
        } else {
            assert!(c.bytes_written > 0);
            assert!(!c.outputs.is_empty());
        }
    }
    // After the full compaction, the live tables are the last compaction's outputs.
    let live: Vec<u64> = tables_in(dir.path()).iter().map(|(n, _)| *n).collect();
    let last = compactions.last().expect("one");
    assert_eq!(last.outputs, live);
    // Registered with add_listener before the writes, it heard every flush.
    assert_eq!(rec.flushes.lock().unwrap().len(), 3);
}

#[test]
fn recovery_stages_arrive_in_order_with_replay_progress() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let db = Database::open(
            dir.path(),
            LightningDbConfig {
                write_buffer_size: 8 << 20,
                ..small()
            },
        )
        .expect("open");
        for i in 0..20_000u32 {
            db.put(format!("key{i:06}").as_bytes(), &[7u8; 100])
                .expect("put");
        }
        // Dropped without a flush: the next open replays the log.
    }
    let rec = Arc::new(Recorder::default());
    let db = Database::open_with_listeners(dir.path(), small(), vec![rec.clone()]).expect("open");
    assert_eq!(
        db.get(b"key019999").expect("get"),
        Some(vec![7u8; 100]),
        "the replay recovered every write"
    );
    let stages = rec.stages.lock().unwrap().clone();
    // Each stage starts and finishes, in the documented order.
    let bounds: Vec<(RecoveryStage, StagePhase)> = stages
        .iter()
        .filter(|s| s.phase != StagePhase::Progress)
        .map(|s| (s.stage, s.phase))
        .collect();
    let expected: Vec<(RecoveryStage, StagePhase)> = RecoveryStage::ALL
        .iter()
        .flat_map(|&s| [(s, StagePhase::Started), (s, StagePhase::Finished)])
        .collect();
    assert_eq!(bounds, expected);
    assert!(stages.iter().all(|s| s.path == dir.path()));
    // Replay progress: bytes, rising, many steps, ending at the whole log.
    let progress: Vec<&RecoveryStageInfo> = stages
        .iter()
        .filter(|s| s.phase == StagePhase::Progress)
        .collect();
    assert!(progress.iter().all(|p| p.stage == RecoveryStage::LogReplay));
    assert!(progress.iter().all(|p| p.unit == "bytes"));
    assert!(progress.len() >= 100, "{} progress events", progress.len());
    assert!(progress.windows(2).all(|w| w[0].done <= w[1].done));
    let last = progress.last().expect("progress");
    assert!(last.total > 2_000_000, "{}", last.total);
    assert_eq!(last.done, last.total);
    assert_eq!(last.stage_fraction(), 1.0);
    // No step is bigger than 1% of the log.
    assert!(progress
        .windows(2)
        .all(|w| w[1].done - w[0].done <= last.total / 100 + 4096));
    assert!(stages.windows(2).all(|w| w[0].elapsed <= w[1].elapsed));
}

#[test]
fn a_failed_stage_is_reported_and_the_open_fails() {
    let dir = tempfile::tempdir().expect("tempdir");
    let _holder = Database::open(dir.path(), small()).expect("open");
    let rec = Arc::new(Recorder::default());
    let err =
        Database::open_with_listeners(dir.path(), small(), vec![rec.clone()]).expect_err("locked");
    assert!(
        matches!(err, DatabaseError::DatabaseLocked { .. }),
        "{err:?}"
    );
    let stages = rec.stages.lock().unwrap().clone();
    assert_eq!(stages.len(), 2, "{stages:?}");
    assert_eq!(
        (stages[1].stage, stages[1].phase),
        (RecoveryStage::Lock, StagePhase::Failed)
    );
    assert_eq!(stages[1].error.as_deref(), Some(err.to_string().as_str()));
}

#[test]
fn a_flush_that_cannot_write_is_a_poisoning_background_error() {
    let sim = SimFileSystem::new();
    let rec = Arc::new(Recorder::default());
    // No retries: a failed flush gives up at once (tests/engine_reliability.rs covers the
    // retries).
    let mut config = small();
    config.reliability.retry_max_attempts = 0;
    let db = Database::open_with_fs_and_listeners("/db", config, sim.handle(), vec![rec.clone()])
        .expect("open");
    db.put(b"k", b"v").expect("put");
    // The flush creates a log segment (in the caller), then its table (in the background).
    sim.set_fault(Some(FaultPlan::once(2).only(&[OpKind::Create])));
    let err = db.flush().expect_err("flush fails");
    assert!(matches!(err, DatabaseError::Poisoned { .. }), "{err:?}");
    let errors = rec.errors.lock().unwrap().clone();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0].job, BackgroundJob::Flush);
    assert!(errors[0].poisoned);
    assert!(errors[0].code != 0);
    assert!(
        errors[0].message.contains("simulated"),
        "{}",
        errors[0].message
    );
    assert!(rec.flushes.lock().unwrap().is_empty());
    sim.set_fault(None);
}

#[test]
fn a_compaction_that_fails_is_reported_and_retried() {
    let sim = SimFileSystem::new();
    let rec = Arc::new(Recorder::default());
    let db = Database::open_with_fs_and_listeners("/db", small(), sim.handle(), vec![rec.clone()])
        .expect("open");
    for round in 0..2u32 {
        for i in 0..300u32 {
            db.put(
                format!("k{i:04}").as_bytes(),
                &round.to_le_bytes().repeat(8),
            )
            .expect("put");
        }
        db.flush().expect("flush");
    }
    // The next table file created (the compaction's output) fails once.
    sim.set_fault(Some(FaultPlan::once(1).only(&[OpKind::Create])));
    let first = db.compact();
    sim.set_fault(None);
    assert!(first.is_err(), "{first:?}");
    let errors = rec.errors.lock().unwrap().clone();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0].job, BackgroundJob::Compaction);
    assert!(!errors[0].poisoned, "a failed compaction loses nothing");
    db.compact().expect("a retry succeeds");
    assert!(rec
        .compactions
        .lock()
        .unwrap()
        .iter()
        .any(|c| !c.trivial_move));
    assert_eq!(
        db.get(b"k0001").expect("get"),
        Some(1u32.to_le_bytes().repeat(8))
    );
}

#[test]
fn corruption_met_by_a_read_is_heard() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let db = Database::open(dir.path(), small()).expect("open");
        for i in 0..2000u32 {
            db.put(
                format!("key{i:05}").as_bytes(),
                format!("value-{i}").as_bytes(),
            )
            .expect("put");
        }
        db.compact().expect("compact");
    }
    let (number, table) = tables_in(dir.path())
        .into_iter()
        .max_by_key(|(_, p)| std::fs::metadata(p).expect("stat").len())
        .expect("a table");
    let mut data = std::fs::read(&table).expect("read");
    data[1500] ^= 0x20;
    std::fs::write(&table, data).expect("write");

    let rec = Arc::new(Recorder::default());
    let cfg = LightningDbConfig {
        security: SecurityConfig {
            corruption_action: CorruptionAction::Log,
            ..Default::default()
        },
        ..small()
    };
    let db = Database::open_with_listeners(dir.path(), cfg, vec![rec.clone()]).expect("open");
    assert!(db.iter().any(|kv| kv.is_err()), "the damage is met");
    let heard = rec.corruption.lock().unwrap().clone();
    assert_eq!(heard.len(), db.corruption_events().len());
    assert_eq!(heard[0].table, Some(number));
    assert_eq!(heard[0].source, "read");
    assert_eq!(heard[0].action, "Log");
    assert!(heard[0].details.contains(".sst"), "{}", heard[0].details);
}

/// Holds every flush after the first until a writer stalls, so the stall is certain.
#[derive(Default)]
struct StallMaker {
    stalled: Mutex<bool>,
    wake: Condvar,
    flushes: Mutex<u32>,
    stalls: Mutex<Vec<WriteStallInfo>>,
}

impl EventListener for StallMaker {
    fn on_flush_completed(&self, _: &FlushInfo) {
        *self.flushes.lock().unwrap() += 1;
        let stalled = self.stalled.lock().unwrap();
        // Bounded, so a bug fails the test instead of hanging it.
        let _ = self
            .wake
            .wait_timeout_while(stalled, Duration::from_secs(20), |s| !*s)
            .unwrap();
    }
    fn on_write_stall(&self, info: &WriteStallInfo) {
        self.stalls.lock().unwrap().push(*info);
        *self.stalled.lock().unwrap() = true;
        self.wake.notify_all();
    }
}

#[test]
fn writers_that_outrun_flushing_stall_and_the_stall_is_heard() {
    let dir = tempfile::tempdir().expect("tempdir");
    let maker = Arc::new(StallMaker::default());
    let db = Database::open_with_listeners(dir.path(), small(), vec![maker.clone()]).expect("open");
    // The flush thread sits in the listener after its first flush, so memtables pile up
    // until the writer has to wait.
    for i in 0..20_000u32 {
        db.put(format!("key{i:06}").as_bytes(), &[1u8; 200])
            .expect("put");
    }
    let stalls = maker.stalls.lock().unwrap().clone();
    assert!(stalls.len() >= 2, "{stalls:?}");
    assert!(!stalls[0].ended);
    assert_eq!(stalls[0].cause, StallCause::MemtablesWaiting);
    assert_eq!(stalls[0].duration, Duration::ZERO);
    assert!(stalls[1].ended);
    assert!(stalls[1].duration > Duration::ZERO);
    assert!(db.stats().write_stall_micros > 0);
    assert!(*maker.flushes.lock().unwrap() >= 1);
}

#[test]
fn listeners_may_read_the_database_and_panics_are_contained() {
    struct ReadsBack {
        db: Mutex<Option<Arc<Database>>>,
        seen: Mutex<Vec<Option<Vec<u8>>>>,
    }
    impl EventListener for ReadsBack {
        fn on_flush_completed(&self, _: &FlushInfo) {
            if let Some(db) = self.db.lock().unwrap().as_ref() {
                self.seen.lock().unwrap().push(db.get(b"a").expect("get"));
            }
        }
    }
    struct Panics;
    impl EventListener for Panics {
        fn on_flush_completed(&self, _: &FlushInfo) {
            panic!("a listener bug");
        }
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let reads = Arc::new(ReadsBack {
        db: Mutex::new(None),
        seen: Mutex::new(Vec::new()),
    });
    let db = Arc::new(
        Database::open_with_listeners(dir.path(), small(), vec![Arc::new(Panics), reads.clone()])
            .expect("open"),
    );
    *reads.db.lock().unwrap() = Some(Arc::clone(&db));
    db.put(b"a", b"1").expect("put");
    db.flush().expect("flush survives a panicking listener");
    db.put(b"a", b"2").expect("put");
    db.flush().expect("flush");
    assert_eq!(
        *reads.seen.lock().unwrap(),
        vec![Some(b"1".to_vec()), Some(b"2".to_vec())]
    );
    // Break the cycle the test made (the listener holds the database).
    reads.db.lock().unwrap().take();
    Arc::try_unwrap(db)
        .expect("sole owner")
        .close()
        .expect("close");
}

#[test]
fn open_with_progress_reports_a_rising_state_and_the_final_one_is_kept() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let db = Database::open(
            dir.path(),
            LightningDbConfig {
                write_buffer_size: 16 << 20,
                ..small()
            },
        )
        .expect("open");
        for i in 0..30_000u32 {
            db.put(format!("key{i:06}").as_bytes(), &[3u8; 100])
                .expect("put");
        }
    }
    let seen: Arc<Mutex<Vec<lightning_db::RecoveryState>>> = Arc::default();
    let sink = Arc::clone(&seen);
    let db = Database::open_with_progress(dir.path(), small(), move |state| {
        sink.lock().unwrap().push(state.clone());
    })
    .expect("open");
    let seen = seen.lock().unwrap().clone();
    assert!(seen.len() >= 100, "{} callbacks", seen.len());
    assert!(seen.windows(2).all(|w| w[0].progress() <= w[1].progress()));
    // While the log replays, the state names the stage and estimates the time left.
    let replaying: Vec<&lightning_db::RecoveryState> = seen
        .iter()
        .filter(|s| s.current_stage() == Some(&RecoveryStage::LogReplay))
        .collect();
    assert!(replaying.len() >= 100);
    assert!(replaying
        .iter()
        .any(|s| s.progress() > 20.0 && s.progress() < 80.0));
    assert!(replaying
        .iter()
        .filter(|s| s.progress() >= 20.0)
        .all(|s| s.estimated_time_remaining().is_some()));
    // During the replay no callback skips more than 1% of it (the replay weighs 70%).
    assert!(replaying
        .windows(2)
        .all(|w| w[1].progress() - w[0].progress() <= 0.7 + 1e-9));
    let last = seen.last().expect("one");
    assert!(last.is_complete() && !last.has_failed());
    assert_eq!(last.progress(), 100.0);
    let kept = db.recovery_state();
    assert!(kept.is_complete());
    assert_eq!(kept.completed_stages(), &RecoveryStage::ALL);
    assert_eq!(db.get(b"key029999").expect("get"), Some(vec![3u8; 100]));
}

#[test]
fn open_with_progress_reports_the_failed_stage() {
    let dir = tempfile::tempdir().expect("tempdir");
    let _holder = Database::open(dir.path(), small()).expect("open");
    let seen: Arc<Mutex<Vec<lightning_db::RecoveryState>>> = Arc::default();
    let sink = Arc::clone(&seen);
    let err = Database::open_with_progress(dir.path(), small(), move |state| {
        sink.lock().unwrap().push(state.clone());
    })
    .expect_err("locked");
    assert!(matches!(err, DatabaseError::DatabaseLocked { .. }));
    let last = seen.lock().unwrap().last().cloned().expect("a callback");
    assert!(last.has_failed() && !last.is_complete());
    assert!(last.can_rollback(), "nothing was changed before the lock");
    assert_eq!(last.failed_stages()[0].stage, RecoveryStage::Lock);
    assert_eq!(last.failed_stages()[0].error, err.to_string());
}
