//! The database's own reliability work on a simulated disk and a manual clock: the
//! circuit breaker guarding its I/O (`circuit_breaker_enabled`) and the retries of its
//! background work (`reliability.retry_max_attempts`, `retry_backoff_strategy`). No test
//! depends on how long anything takes: time moves only when the database sleeps on the
//! `ManualClock` (which advances it) or when a test advances it.

use std::sync::Arc;
use std::time::Duration;

use lightning_db::testing::{FaultPlan, OpKind, SimFileSystem};
use lightning_db::{
    BackoffStrategy, CircuitState, Database, DatabaseError, LightningDbConfig, ManualClock,
};

const DB: &str = "/sim/db";

fn config() -> LightningDbConfig {
    let mut c = LightningDbConfig {
        cache_size: lightning_db::MIN_CACHE_SIZE,
        block_size: 1024,
        ..Default::default()
    };
    c.reliability.retry_backoff_strategy = BackoffStrategy::Exponential {
        base_delay: Duration::from_secs(1),
        max_delay: Duration::from_secs(60),
    };
    c
}

fn breaker_config() -> LightningDbConfig {
    let mut c = config();
    c.circuit_breaker_enabled = true;
    c.reliability.circuit_breaker_failure_threshold = 3;
    c.reliability.circuit_breaker_recovery_timeout = Duration::from_secs(30);
    c
}

fn open(sim: &SimFileSystem, config: LightningDbConfig, clock: &ManualClock) -> Database {
    Database::open_with_fs_and_clock(DB, config, sim.handle(), Arc::new(clock.clone()))
        .expect("open")
}

fn key(i: u32) -> Vec<u8> {
    format!("key{i:05}").into_bytes()
}

/// A database whose keys are all in one table file, reopened so nothing is cached.
fn table_only_db(sim: &SimFileSystem, config: LightningDbConfig, clock: &ManualClock) -> Database {
    let db = open(sim, LightningDbConfig::default(), clock);
    for i in 0..200 {
        db.put(&key(i), &[b'v'; 100]).unwrap();
    }
    db.flush().unwrap();
    db.close().unwrap();
    open(sim, config, clock)
}

#[test]
fn the_breaker_opens_after_read_failures_fails_fast_and_closes_after_a_probe() {
    let sim = SimFileSystem::new();
    let clock = ManualClock::new();
    let db = table_only_db(&sim, breaker_config(), &clock);
    assert!(matches!(
        db.circuit_breaker_state(),
        Some(CircuitState::Closed {
            failure_count: 0,
            ..
        })
    ));

    // The device fails every read: three reads meet I/O errors, and the breaker opens.
    sim.set_fault(Some(FaultPlan::from_nth(1).only(&[OpKind::Read])));
    for i in 0..3 {
        let err = db.get(&key(i)).expect_err("the read fails");
        assert!(matches!(err, DatabaseError::Io { .. }), "{err:?}");
    }
    assert!(matches!(
        db.circuit_breaker_state(),
        Some(CircuitState::Open { .. })
    ));

    // Open: reads and writes fail at once, without touching the device.
    let ops_before = sim.op_count();
    let faults_before = sim.faults_injected();
    for attempt in [db.get(&key(5)).map(|_| ()), db.put(b"new", b"v")] {
        match attempt {
            Err(DatabaseError::CircuitBreakerOpen {
                service,
                retry_after,
            }) => {
                assert!(service.contains(DB), "{service}");
                assert_eq!(retry_after, Duration::from_secs(30));
            }
            other => panic!("expected CircuitBreakerOpen, got {other:?}"),
        }
    }
    assert_eq!(
        sim.op_count(),
        ops_before,
        "a refused operation touched the disk"
    );
    assert_eq!(sim.faults_injected(), faults_before);
    assert_eq!(
        DatabaseError::CircuitBreakerOpen {
            service: String::new(),
            retry_after: Duration::ZERO
        }
        .error_code(),
        302
    );
    let stats = db.stats();
    let summary = stats.circuit_breaker.as_ref().expect("breaker in stats");
    assert_eq!(summary.state, "open");
    assert_eq!(summary.times_opened, 1);
    assert_eq!(summary.rejections, 2);
    assert_eq!(summary.failures, 3);
    assert_eq!(summary.retry_after_ms, Some(30_000));
    assert!(stats.to_json().contains("\"circuit_breaker\""));
    assert!(stats
        .to_prometheus()
        .contains("lightning_circuit_breaker_state 2"));

    // Half of the timeout: still open.
    clock.advance(Duration::from_secs(15));
    assert!(matches!(
        db.get(&key(5)),
        Err(DatabaseError::CircuitBreakerOpen { retry_after, .. }) if retry_after == Duration::from_secs(15)
    ));

    // The device recovers and the timeout passes: half-open; trial reads that go to the
    // table succeed and close the breaker.
    sim.set_fault(None);
    clock.advance(Duration::from_secs(15));
    assert!(matches!(
        db.circuit_breaker_state(),
        Some(CircuitState::HalfOpen { .. })
    ));
    for i in 0..3 {
        assert_eq!(db.get(&key(i)).unwrap(), Some(vec![b'v'; 100]));
    }
    assert!(matches!(
        db.circuit_breaker_state(),
        Some(CircuitState::Closed {
            failure_count: 0,
            ..
        })
    ));
    db.put(b"new", b"v").unwrap();
    assert_eq!(db.stats().circuit_breaker.unwrap().state, "closed");
}

#[test]
fn a_failed_half_open_probe_opens_the_breaker_again() {
    let sim = SimFileSystem::new();
    let clock = ManualClock::new();
    let db = table_only_db(&sim, breaker_config(), &clock);
    sim.set_fault(Some(FaultPlan::from_nth(1).only(&[OpKind::Read])));
    for i in 0..3 {
        assert!(db.get(&key(i)).is_err());
    }
    clock.advance(Duration::from_secs(30));
    // The probe meets the still failing device: open again, for a whole timeout.
    assert!(matches!(db.get(&key(7)), Err(DatabaseError::Io { .. })));
    assert!(matches!(
        db.get(&key(7)),
        Err(DatabaseError::CircuitBreakerOpen { retry_after, .. }) if retry_after == Duration::from_secs(30)
    ));
    assert_eq!(db.circuit_breaker_stats().unwrap().times_opened, 2);
}

#[test]
fn reads_answered_from_memory_and_caller_mistakes_do_not_count() {
    let sim = SimFileSystem::new();
    let clock = ManualClock::new();
    let db = table_only_db(&sim, breaker_config(), &clock);
    db.put(b"in-memory", b"v").unwrap();
    sim.set_fault(Some(FaultPlan::from_nth(1).only(&[OpKind::Read])));
    for i in 0..2 {
        assert!(db.get(&key(i)).is_err());
        // A read the memtable answers says nothing about the device.
        assert_eq!(db.get(b"in-memory").unwrap(), Some(b"v".to_vec()));
        // Neither does a caller's mistake.
        assert!(matches!(
            db.put(&vec![0u8; 1 << 20], b"v"),
            Err(DatabaseError::KeyTooLarge { .. })
        ));
    }
    assert!(matches!(
        db.circuit_breaker_state(),
        Some(CircuitState::Closed {
            failure_count: 2,
            ..
        })
    ));
    assert!(db.get(&key(3)).is_err());
    assert!(matches!(
        db.circuit_breaker_state(),
        Some(CircuitState::Open { .. })
    ));
}

#[test]
fn without_the_breaker_nothing_is_refused() {
    let sim = SimFileSystem::new();
    let clock = ManualClock::new();
    let db = table_only_db(&sim, config(), &clock);
    assert_eq!(db.circuit_breaker_state(), None);
    assert!(db.stats().circuit_breaker.is_none());
    sim.set_fault(Some(FaultPlan::from_nth(1).only(&[OpKind::Read])));
    for i in 0..10 {
        assert!(matches!(db.get(&key(i)), Err(DatabaseError::Io { .. })));
    }
}

#[test]
fn a_flush_that_met_a_transient_error_is_retried_after_a_backoff() {
    let sim = SimFileSystem::new();
    let clock = ManualClock::new();
    let db = open(&sim, config(), &clock);
    for i in 0..50 {
        db.put(&key(i), b"value").unwrap();
    }
    // The first table file the flush creates cannot be created; the retry can.
    sim.set_fault(Some(
        FaultPlan::once(1).only(&[OpKind::Create]).on_paths(".sst"),
    ));
    db.flush().expect("the retried flush succeeds");
    assert_eq!(sim.faults_injected(), 1);
    assert_eq!(clock.sleeps(), vec![Duration::from_secs(1)]);
    let stats = db.stats();
    assert_eq!(stats.background_retries, 1);
    assert_eq!(stats.flushes, 1);
    assert_eq!(stats.poisoned, None);
    assert!(stats
        .to_prometheus()
        .contains("lightning_background_retries_total 1"));
    db.put(b"after", b"v").unwrap();
    for i in 0..50 {
        assert_eq!(db.get(&key(i)).unwrap(), Some(b"value".to_vec()));
    }
}

#[test]
fn a_flush_that_keeps_failing_gives_up_after_the_configured_retries() {
    let sim = SimFileSystem::new();
    let clock = ManualClock::new();
    let mut c = config();
    c.reliability.retry_max_attempts = 2;
    let db = open(&sim, c, &clock);
    db.put(b"k", b"v").unwrap();
    sim.set_fault(Some(
        FaultPlan::from_nth(1)
            .only(&[OpKind::Create])
            .on_paths(".sst"),
    ));
    assert!(matches!(db.flush(), Err(DatabaseError::Poisoned { .. })));
    // Two retries, after 1 s and 2 s, then the flush gave up and poisoned the database.
    assert_eq!(
        clock.sleeps(),
        vec![Duration::from_secs(1), Duration::from_secs(2)]
    );
    assert_eq!(sim.faults_injected(), 3);
    assert_eq!(db.stats().background_retries, 2);
    assert!(matches!(
        db.put(b"k2", b"v"),
        Err(DatabaseError::Poisoned { .. })
    ));
}

#[test]
fn a_failed_table_fsync_is_never_retried() {
    let sim = SimFileSystem::new();
    let clock = ManualClock::new();
    let db = open(&sim, config(), &clock);
    db.put(b"k", b"v").unwrap();
    sim.set_fault(Some(
        FaultPlan::once(1).only(&[OpKind::Sync]).on_paths(".sst"),
    ));
    assert!(matches!(db.flush(), Err(DatabaseError::Poisoned { .. })));
    assert_eq!(sim.faults_injected(), 1);
    assert!(clock.sleeps().is_empty(), "a failed fsync was retried");
    assert_eq!(db.stats().background_retries, 0);
    assert!(matches!(
        db.put(b"k2", b"v"),
        Err(DatabaseError::Poisoned { .. })
    ));
}

#[test]
fn with_no_retries_configured_a_flush_failure_poisons_at_once() {
    let sim = SimFileSystem::new();
    let clock = ManualClock::new();
    let mut c = config();
    c.reliability.retry_max_attempts = 0;
    let db = open(&sim, c, &clock);
    db.put(b"k", b"v").unwrap();
    sim.set_fault(Some(
        FaultPlan::once(1).only(&[OpKind::Create]).on_paths(".sst"),
    ));
    assert!(matches!(db.flush(), Err(DatabaseError::Poisoned { .. })));
    assert!(clock.sleeps().is_empty());
}

#[test]
fn background_failures_open_the_breaker_and_retries_wait_for_it() {
    let sim = SimFileSystem::new();
    let clock = ManualClock::new();
    let mut c = breaker_config();
    c.reliability.circuit_breaker_failure_threshold = 2;
    c.reliability.retry_max_attempts = 3;
    let db = open(&sim, c, &clock);
    db.put(b"k", b"v").unwrap();
    sim.set_fault(Some(
        FaultPlan::from_nth(1)
            .only(&[OpKind::Create])
            .on_paths(".sst"),
    ));
    // The flush fails four times (the first try and three retries): the second failure
    // opens the breaker, each later retry waits for its recovery timeout and is the
    // half-open probe, which fails and opens it again.
    let err = db.flush().expect_err("the flush cannot succeed");
    assert!(
        matches!(
            err,
            DatabaseError::Poisoned { .. } | DatabaseError::CircuitBreakerOpen { .. }
        ),
        "{err:?}"
    );
    // Wait for the flush thread to give up (it poisons the database).
    while db.stats().poisoned.is_none() {
        std::thread::yield_now();
    }
    assert_eq!(
        clock.sleeps(),
        vec![
            Duration::from_secs(1),
            Duration::from_secs(30),
            Duration::from_secs(30)
        ]
    );
    let stats = db.circuit_breaker_stats().unwrap();
    assert_eq!(stats.failures, 4);
    assert_eq!(stats.times_opened, 3);
}
