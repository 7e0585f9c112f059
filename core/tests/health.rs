//! Health monitoring: each built-in check reacts to a real condition induced through the
//! file-system layer (a nearly full disk, a corrupted table in an open database, a slow
//! device, a failing device); the monitor's rounds and timeouts run on a `ManualClock`;
//! a check that overruns is `Unknown` and never blocks; user checks run beside the
//! built-in ones; the integrity check covers a database over several bounded rounds; a
//! database with `enable_health_monitoring` runs its checks itself. No test asserts a
//! timing.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use lightning_db::testing::{FaultPlan, OpKind, SimFileSystem};
use lightning_db::{
    Criticality, DataIntegrityCheck, Database, HealthCheck, HealthMonitor, HealthState,
    HealthStatus, LightningDbConfig, ManualClock, PerformanceCheck, ResourceCheck, ValidationLevel,
    DEFAULT_BLOCKS_PER_ROUND,
};

fn small() -> LightningDbConfig {
    LightningDbConfig {
        write_buffer_size: 64 * 1024,
        // Damage must be reported by the checks, not stop the test's database.
        fail_on_corruption: false,
        ..Default::default()
    }
}

fn key(i: u32) -> Vec<u8> {
    format!("key{i:06}").into_bytes()
}

fn value(i: u32) -> Vec<u8> {
    let mut x = u64::from(i).wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..200)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

fn fill(db: &Database, n: u32) {
    for i in 0..n {
        db.put(&key(i), &value(i)).expect("put");
    }
    db.flush().expect("flush");
}

fn eventually(what: &str, cond: impl Fn() -> bool) {
    let give_up = Instant::now() + Duration::from_secs(30);
    while !cond() {
        assert!(Instant::now() < give_up, "never happened: {what}");
        std::thread::sleep(Duration::from_millis(1));
    }
}

fn run(check: &dyn HealthCheck) -> HealthStatus {
    check.check()
}

#[test]
fn the_integrity_check_finds_a_table_corrupted_in_an_open_database() {
    let sim = SimFileSystem::new();
    let db = Database::open_with_fs("/sim/db", small(), sim.handle()).expect("open");
    fill(&db, 2000);
    let check = DataIntegrityCheck::for_database(&db).with_blocks_per_round(8);
    assert_eq!(check.criticality(), Criticality::Critical);
    // A clean database stays healthy through whole passes, a few blocks at a time.
    let mut rounds = 0;
    while check.progress().first().map_or(0, |p| p.1.passes) < 1 {
        assert!(run(&check).is_healthy());
        rounds += 1;
        assert!(rounds < 10_000, "a pass never ends");
    }
    let progress = check.progress()[0].1;
    assert!(rounds > 1, "a pass took several bounded rounds");
    assert!(progress.blocks_verified > 8);

    // Flip a byte inside a table's first data block, under the open database.
    let table = sim
        .list("/sim/db")
        .into_iter()
        .find(|n| n.ends_with(".sst"))
        .expect("a table");
    let path = format!("/sim/db/{table}");
    let mut bytes = sim.read_file(&path).expect("table bytes");
    bytes[100] ^= 0x5a;
    sim.write_file(&path, &bytes).expect("corrupt");

    let mut status = HealthStatus::Healthy;
    for _ in 0..10_000 {
        status = run(&check);
        if !status.is_healthy() {
            break;
        }
    }
    match &status {
        HealthStatus::Critical {
            message,
            immediate_action,
        } => {
            assert!(message.contains(&table), "{message}");
            assert!(message.contains("checksum"), "{message}");
            assert!(immediate_action.contains("repair"));
        }
        other => panic!("expected critical, got {other:?}"),
    }
    // It stays critical while the damage is there.
    assert!(matches!(run(&check), HealthStatus::Critical { .. }));
}

#[test]
fn a_round_covers_a_small_database_once() {
    let sim = SimFileSystem::new();
    let db = Database::open_with_fs("/sim/db", small(), sim.handle()).expect("open");
    fill(&db, 500);
    let check = DataIntegrityCheck::for_database(&db);
    assert!(run(&check).is_healthy());
    let first = check.progress()[0].1;
    assert_eq!(
        first.passes, 1,
        "the whole database fits in one round's budget"
    );
    assert!(first.blocks_verified > 0);
    assert!(
        first.blocks_verified < DEFAULT_BLOCKS_PER_ROUND as u64,
        "a round does not verify the same blocks again to spend its budget"
    );
    assert!(run(&check).is_healthy());
    let second = check.progress()[0].1;
    assert_eq!(second.passes, 2);
    assert_eq!(second.blocks_verified, 2 * first.blocks_verified);
}

#[test]
fn the_integrity_check_reports_a_failing_device() {
    let sim = SimFileSystem::new();
    let db = Database::open_with_fs("/sim/db", small(), sim.handle()).expect("open");
    fill(&db, 500);
    let check = DataIntegrityCheck::for_database(&db);
    assert!(run(&check).is_healthy());
    sim.set_fault(Some(FaultPlan::from_nth(1).only(&[OpKind::Read])));
    match run(&check) {
        HealthStatus::Critical {
            message,
            immediate_action,
        } => {
            assert!(message.contains("unreadable"), "{message}");
            assert!(immediate_action.contains("device"), "{immediate_action}");
        }
        other => panic!("expected critical, got {other:?}"),
    }
}

#[test]
fn the_levels_decide_what_is_verified() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let db = Database::open(dir.path(), small()).expect("open");
        fill(&db, 1000);
    }
    for level in [
        ValidationLevel::Basic,
        ValidationLevel::Standard,
        ValidationLevel::Comprehensive,
        ValidationLevel::Paranoid,
    ] {
        let config = LightningDbConfig {
            integrity_validation_level: level,
            ..small()
        };
        let db = Database::open(dir.path(), config).expect("open");
        let check = DataIntegrityCheck::for_database(&db);
        assert_eq!(check.validation_level(), level);
        assert!(run(&check).is_healthy(), "{level}");
        assert_eq!(
            DataIntegrityCheck::with_level(level).validation_level(),
            level
        );
    }
    // The comprehensive pass compares each live table's size with the manifest.
    let config = LightningDbConfig {
        integrity_validation_level: ValidationLevel::Comprehensive,
        mmap_reads: false,
        ..small()
    };
    let db = Database::open(dir.path(), config).expect("open");
    let check = DataIntegrityCheck::for_database(&db);
    let table = std::fs::read_dir(dir.path())
        .expect("list")
        .filter_map(Result::ok)
        .find(|e| e.path().extension().is_some_and(|x| x == "sst"))
        .expect("a table")
        .path();
    let f = std::fs::OpenOptions::new()
        .append(true)
        .open(&table)
        .expect("open table");
    f.set_len(f.metadata().expect("meta").len() + 10)
        .expect("grow");
    let mut found = false;
    for _ in 0..1000 {
        if let HealthStatus::Critical { message, .. } = run(&check) {
            assert!(
                message.contains("manifest") || message.contains("footer"),
                "{message}"
            );
            found = true;
            break;
        }
    }
    assert!(found, "the grown table was not noticed");
}

#[test]
fn a_nearly_full_disk_warns_then_turns_critical() {
    let sim = SimFileSystem::new();
    let db = Database::open_with_fs("/sim/db", small(), sim.handle()).expect("open");
    fill(&db, 300);
    // Memory is whatever the machine has: a threshold of 100% never warns.
    let check = ResourceCheck::for_database(&db).with_thresholds(1.0, 0.80);
    assert_eq!(
        run(&check),
        HealthStatus::Healthy,
        "no limit: the simulated disk is roomy"
    );
    let used = sim.used_bytes();
    sim.set_space_limit(Some(used * 100 / 85));
    match run(&check) {
        HealthStatus::Warning {
            message,
            remediation,
        } => {
            assert!(message.contains("disk"), "{message}");
            assert!(remediation.is_some());
        }
        other => panic!("expected a warning at 85% used, got {other:?}"),
    }
    sim.set_space_limit(Some(used + 100));
    match run(&check) {
        HealthStatus::Critical {
            immediate_action, ..
        } => assert!(immediate_action.contains("free disk space")),
        other => panic!("expected critical when nearly full, got {other:?}"),
    }
    // The memory threshold reads the machine's memory.
    let strict = ResourceCheck::for_database(&db).with_thresholds(0.0, 1.0);
    sim.set_space_limit(None);
    match run(&strict) {
        HealthStatus::Warning { message, .. } => assert!(message.contains("memory"), "{message}"),
        other => panic!("expected a memory warning at a 0% threshold, got {other:?}"),
    }
}

#[test]
fn a_slow_device_shows_in_the_performance_check() {
    let sim = SimFileSystem::new();
    let db = Database::open_with_fs("/sim/db", small(), sim.handle()).expect("open");
    let check = PerformanceCheck::for_database(&db).with_thresholds(Duration::from_millis(50), 0);
    assert_eq!(check.latency_threshold(), Duration::from_millis(50));
    for i in 0..20 {
        db.put(&key(i), b"fast").expect("put");
    }
    assert!(run(&check).is_healthy());
    // Every log sync now takes 120 ms: each durable write does too.
    sim.set_delay(Some(Duration::from_millis(120)), &[OpKind::Sync]);
    for i in 0..5 {
        db.put(&key(i), b"slow").expect("put");
    }
    sim.set_delay(None, &[]);
    match run(&check) {
        HealthStatus::Warning {
            message,
            remediation,
        } => {
            assert!(message.contains("write p99"), "{message}");
            assert!(remediation.is_some());
        }
        other => panic!("expected a latency warning, got {other:?}"),
    }
}

#[test]
fn a_failing_device_makes_the_performance_check_critical() {
    let sim = SimFileSystem::new();
    let db = Database::open_with_fs("/sim/db", small(), sim.handle()).expect("open");
    db.put(b"k", b"v").expect("put");
    let check = PerformanceCheck::for_database(&db);
    assert!(run(&check).is_healthy());
    sim.set_fault(Some(
        FaultPlan::from_nth(1).only(&[OpKind::Append, OpKind::Sync]),
    ));
    assert!(db.put(b"k2", b"v").is_err());
    match run(&check) {
        HealthStatus::Critical {
            message,
            immediate_action,
        } => {
            assert!(message.contains("refuses operations"), "{message}");
            assert!(immediate_action.contains("reopen"));
        }
        other => panic!("expected critical, got {other:?}"),
    }
}

/// A user check that blocks until released, counting its runs.
struct Gate {
    open: Arc<Mutex<bool>>,
    runs: Arc<AtomicUsize>,
}

impl HealthCheck for Gate {
    fn name(&self) -> &str {
        "gate"
    }
    fn check(&self) -> HealthStatus {
        self.runs.fetch_add(1, Ordering::SeqCst);
        while !*self.open.lock().expect("gate") {
            std::thread::sleep(Duration::from_millis(1));
        }
        HealthStatus::Warning {
            message: "gate passed".into(),
            remediation: None,
        }
    }
    fn criticality(&self) -> Criticality {
        Criticality::Low
    }
    fn remediation(&self) -> Option<String> {
        Some("open the gate earlier".into())
    }
}

struct Panics;

impl HealthCheck for Panics {
    fn name(&self) -> &str {
        "panics"
    }
    fn check(&self) -> HealthStatus {
        panic!("a broken check")
    }
    fn criticality(&self) -> Criticality {
        Criticality::Medium
    }
    fn remediation(&self) -> Option<String> {
        None
    }
}

#[test]
fn an_overrunning_check_is_unknown_and_blocks_nothing() {
    let clock = ManualClock::new();
    let open = Arc::new(Mutex::new(false));
    let runs = Arc::new(AtomicUsize::new(0));
    let monitor = Arc::new(
        HealthMonitor::new(vec![Box::new(Gate {
            open: Arc::clone(&open),
            runs: Arc::clone(&runs),
        })])
        .with_timeout(Duration::from_secs(5))
        .with_clock(Arc::new(clock.clone())),
    );
    let before = monitor.report();
    assert_eq!(before.checks[0].note.as_deref(), Some("not run yet"));
    let m = Arc::clone(&monitor);
    let round = std::thread::spawn(move || m.run_once());
    eventually("the round waits for its deadline", || {
        clock.pending_deadlines() > 0
    });
    clock.advance(Duration::from_secs(5));
    let report = round.join().expect("round");
    let gate = report.check("gate").expect("gate");
    assert_eq!(gate.status, HealthStatus::Unknown);
    assert!(gate.note.as_deref().is_some_and(|n| n.contains("timeout")));
    assert_eq!(report.state, HealthState::Unknown);
    // A check that panics is unknown too, and the others still report.
    let with_panic = HealthMonitor::new(vec![Box::new(Panics), Box::new(ResourceCheck::new())]);
    let report = with_panic.run_once();
    let panics = report.check("panics").expect("panics");
    assert_eq!(panics.status, HealthStatus::Unknown);
    assert_eq!(panics.note.as_deref(), Some("the check panicked"));
    assert!(report.check("resources").is_some_and(|c| c.note.is_none()));

    // Still running: the next round does not start it again, nor wait for it.
    let report = monitor.run_once();
    assert!(report
        .check("gate")
        .and_then(|c| c.note.clone())
        .is_some_and(|n| n.contains("still running")));
    assert_eq!(runs.load(Ordering::SeqCst), 1);

    *open.lock().expect("gate") = true;
    eventually("the overrun ends", || {
        let m = Arc::clone(&monitor);
        let report = m.run_once();
        report
            .check("gate")
            .is_some_and(|c| !c.status.name().eq("unknown"))
    });
    let report = monitor.report();
    let gate = report.check("gate").expect("gate");
    assert_eq!(gate.status.name(), "warning");
    assert_eq!(gate.remediation.as_deref(), Some("open the gate earlier"));
    assert_eq!(report.state, HealthState::Warning);
    assert!(report
        .to_json()
        .contains("\"remediation\": \"open the gate earlier\""));
}

#[test]
fn monitoring_rounds_follow_the_clock_and_stop_with_the_handle() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Database::open(dir.path(), small()).expect("open");
    fill(&db, 200);
    let clock = ManualClock::new();
    let runs = Arc::new(AtomicUsize::new(0));
    let integrity = Arc::new(DataIntegrityCheck::for_database(&db));
    let monitor = HealthMonitor::new(vec![
        Box::new(Arc::clone(&integrity)),
        Box::new(ResourceCheck::for_database(&db).with_thresholds(1.0, 1.0)),
        // Lenient: this test is about the rounds, not about how fast a loaded disk syncs.
        Box::new(PerformanceCheck::for_database(&db).with_thresholds(Duration::from_secs(3600), 0)),
        Box::new(Gate {
            open: Arc::new(Mutex::new(true)),
            runs: Arc::clone(&runs),
        }),
    ])
    .with_clock(Arc::new(clock.clone()));
    let handle = monitor
        .start_monitoring(Duration::from_secs(30))
        .expect("start");
    eventually("the first round runs at once", || monitor.rounds() == 1);
    let report = monitor.report();
    assert_eq!(report.checks.len(), 4);
    for name in ["integrity", "resources", "performance"] {
        let c = report.check(name).expect(name);
        assert!(c.status.is_healthy(), "{name}: {:?}", c.status);
        assert!(c.remediation.is_none());
    }
    // A shared check is the check itself: its handle shows what the monitor's run did.
    assert_eq!(integrity.progress()[0].1.passes, 1);
    clock.advance(Duration::from_secs(29));
    assert_eq!(monitor.rounds(), 1, "not yet: the interval has not passed");
    clock.advance(Duration::from_secs(1));
    eventually("second round", || monitor.rounds() == 2);
    assert_eq!(runs.load(Ordering::SeqCst), 2);
    drop(handle);
    eventually("stopped", || !monitor.is_monitoring());
    clock.advance(Duration::from_secs(300));
    assert_eq!(monitor.rounds(), 2);
}

#[test]
fn new_checks_watch_every_open_database() {
    let sim = SimFileSystem::new();
    let a = Database::open_with_fs("/sim/a", small(), sim.handle()).expect("open a");
    let b = Database::open_with_fs("/sim/b", small(), sim.handle()).expect("open b");
    fill(&a, 100);
    fill(&b, 100);
    let check = DataIntegrityCheck::new();
    let _ = run(&check);
    let paths: Vec<_> = check.progress().into_iter().map(|(p, _)| p).collect();
    assert!(paths.iter().any(|p| p.ends_with("a")) && paths.iter().any(|p| p.ends_with("b")));
    let table = sim
        .list("/sim/b")
        .into_iter()
        .find(|n| n.ends_with(".sst"))
        .expect("a table of b");
    let path = format!("/sim/b/{table}");
    let mut bytes = sim.read_file(&path).expect("bytes");
    bytes[60] ^= 1;
    sim.write_file(&path, &bytes).expect("corrupt");
    let mut critical = None;
    for _ in 0..1000 {
        if let HealthStatus::Critical { message, .. } = run(&check) {
            critical = Some(message);
            break;
        }
    }
    let message = critical.expect("b's damage found by the process-wide check");
    assert!(message.contains("/sim/b"), "{message}");
}

#[test]
fn the_database_runs_its_own_checks_when_asked() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = small();
    config.enable_health_monitoring = true;
    config.reliability.health_check_interval = Duration::from_millis(20);
    config.reliability.health_check_timeout = Duration::from_millis(20);
    let db = Database::open(dir.path(), config).expect("open");
    fill(&db, 200);
    eventually("the database's own rounds", || db.health().rounds >= 3);
    let report = db.health();
    let names: Vec<&str> = report.checks.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["integrity", "resources", "performance"]);
    assert!(report.engine.is_some());
    let json = report.to_json();
    assert!(json.contains("\"name\": \"integrity\""), "{json}");
    db.close().expect("close stops the monitor");

    // Without monitoring, each call runs one round now.
    let db = Database::open(dir.path(), small()).expect("reopen");
    assert_eq!(db.health().rounds, 1);
    assert_eq!(db.health().rounds, 2);
    assert!(db
        .health()
        .check("integrity")
        .is_some_and(|c| c.status.is_healthy()));
}
