//! Performance metrics: every figure moves with the work done (operations counted,
//! percentiles after reads and writes, disk usage with data), `enable_statistics` turns
//! the latency histograms off, collectors watch one or every open database, the
//! collection thread runs on an injected clock and stops with its handle, and failures,
//! refusals and a full disk show in the error rate, availability and bottlenecks. No
//! test asserts a timing.

use std::sync::Arc;
use std::time::{Duration, Instant};

use lightning_db::testing::{FaultPlan, OpKind, SimFileSystem};
use lightning_db::{
    BottleneckKind, Database, DatabaseError, LightningDbConfig, ManualClock, MetricsCollector,
    SlaThresholds,
};

fn small() -> LightningDbConfig {
    LightningDbConfig {
        write_buffer_size: 64 * 1024,
        ..Default::default()
    }
}

fn key(i: u32) -> Vec<u8> {
    format!("key{i:06}").into_bytes()
}

/// 200 bytes that do not compress.
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

/// Waits (bounded) for `cond`, for background threads the test cannot join.
fn eventually(what: &str, cond: impl Fn() -> bool) {
    let give_up = Instant::now() + Duration::from_secs(30);
    while !cond() {
        assert!(Instant::now() < give_up, "never happened: {what}");
        std::thread::sleep(Duration::from_millis(1));
    }
}

#[test]
fn figures_move_with_the_work_done() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Database::open(dir.path(), small()).expect("open");
    let empty = db.metrics();
    assert_eq!(empty.operations, 0);
    assert_eq!(empty.read_latency_p50, Duration::ZERO);
    assert_eq!(empty.availability, 1.0);
    assert_eq!(empty.error_rate, 0.0);
    let disk_before = empty.disk_usage;

    for i in 0..500 {
        db.put(&key(i), &value(i)).expect("put");
    }
    db.flush().expect("flush");
    for i in 0..2000 {
        assert!(db.get(&key(i % 500)).expect("get").is_some());
    }
    let m = db.metrics();
    assert_eq!(m.operations, 2500, "every read and write counted");
    assert!(m.read_throughput > 0 && m.write_throughput > 0);
    assert!(m.mixed_workload_throughput >= m.read_throughput);
    assert!(m.read_latency_p50 > Duration::ZERO, "reads were timed");
    assert!(m.read_latency_p50 <= m.read_latency_p95 && m.read_latency_p95 <= m.read_latency_p99);
    assert!(m.write_latency_p50 > Duration::ZERO);
    assert!(m.write_latency_p50 <= m.write_latency_p99);
    assert!(m.latency_samples >= 500 + 2000 / 16);
    assert!(
        m.disk_usage > disk_before + 500 * 200 / 2,
        "disk usage grows with data"
    );
    assert!(m.memory_usage > 0);
    assert!((0.0..=1.0).contains(&m.cpu_usage));
    assert!((0.0..=1.0).contains(&m.cache_hit_rate));
    assert_eq!(m.recovery_time, db.stats().recovery.recovery_time);
    assert!(
        m.disk_total > 0 && m.disk_available > 0,
        "the real disk's size is known"
    );
    let score = m.performance_score();
    assert!(score > 0.0 && score <= 100.0, "{score}");
    assert_eq!(m.databases, 1);

    // The statistics carry the same histograms, and the Prometheus text shows them.
    let stats = db.stats();
    assert_eq!(stats.write_latency.samples, 500);
    assert!(stats.read_latency.samples >= 2000 / 16);
    assert!(stats.read_throughput > 0);
    let text = stats.to_prometheus();
    assert!(
        text.contains("lightning_write_latency_seconds_count 500\n"),
        "{text}"
    );
    assert!(text.contains("lightning_read_latency_seconds{quantile=\"0.99\"}"));
    assert!(text.contains("lightning_read_throughput_ops_per_second"));
    assert!(m.to_json().contains("\"mixed_workload_throughput\""));
}

#[test]
fn statistics_off_times_nothing_but_still_counts() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = LightningDbConfig {
        enable_statistics: false,
        ..small()
    };
    let db = Database::open(dir.path(), config).expect("open");
    for i in 0..100 {
        db.put(&key(i), b"v").expect("put");
        db.get(&key(i)).expect("get");
    }
    let m = db.metrics();
    assert_eq!(m.operations, 200);
    assert_eq!(m.latency_samples, 0);
    assert_eq!(m.read_latency_p99, Duration::ZERO);
    assert_eq!(m.write_latency_p99, Duration::ZERO);
    assert_eq!(db.stats().write_latency.samples, 0);
}

#[test]
fn collectors_watch_one_or_every_open_database() {
    let (a_dir, b_dir) = (
        tempfile::tempdir().expect("a"),
        tempfile::tempdir().expect("b"),
    );
    let all = MetricsCollector::new();
    let a = Database::open(a_dir.path(), small()).expect("open a");
    let b = Database::open(b_dir.path(), small()).expect("open b");
    let only_a = MetricsCollector::for_database(&a);
    assert!(
        all.databases() >= 2,
        "other tests' databases may be open too"
    );
    assert_eq!(only_a.databases(), 1);
    for i in 0..30 {
        a.put(&key(i), b"a").expect("put a");
    }
    for i in 0..70 {
        b.put(&key(i), b"b").expect("put b");
    }
    assert_eq!(only_a.get_performance_metrics().operations, 30);
    assert!(all.get_performance_metrics().operations >= 100);
    drop(a);
    assert_eq!(only_a.databases(), 0, "a closed database is not measured");
    assert_eq!(only_a.get_performance_metrics().operations, 0);
    drop(b);
}

#[test]
fn the_collection_thread_samples_on_its_clock_and_stops_with_its_handle() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Database::open(dir.path(), small()).expect("open");
    let clock = ManualClock::new();
    let collector = MetricsCollector::for_database(&db).with_clock(Arc::new(clock.clone()));
    assert!(matches!(
        collector.start_collection(Duration::ZERO),
        Err(DatabaseError::InvalidArgument { .. })
    ));
    let handle = collector
        .start_collection(Duration::from_secs(10))
        .expect("start");
    assert!(collector.is_collecting());
    for i in 0..40 {
        db.put(&key(i), b"v").expect("put");
    }
    assert_eq!(collector.samples_taken(), 0, "the clock has not moved");
    clock.advance(Duration::from_secs(10));
    eventually("first sample", || collector.samples_taken() == 1);
    let first = collector.get_performance_metrics();
    assert_eq!(first.operations, 40);
    // The next interval holds only what came after the first sample.
    for i in 0..5 {
        db.get(&key(i)).expect("get");
    }
    clock.advance(Duration::from_secs(10));
    eventually("second sample", || collector.samples_taken() == 2);
    assert_eq!(collector.get_performance_metrics().operations, 5);
    assert_eq!(collector.get_performance_metrics().write_throughput, 0);

    drop(handle);
    eventually("stopped", || !collector.is_collecting());
    clock.advance(Duration::from_secs(100));
    assert_eq!(
        collector.samples_taken(),
        2,
        "a stopped collection samples no more"
    );

    // Dropping the collector stops its thread too.
    let handle = collector
        .start_collection(Duration::from_secs(1))
        .expect("restart");
    drop(collector);
    assert!(handle.is_stopped());
}

#[test]
fn failures_show_as_errors_and_lost_availability() {
    let sim = SimFileSystem::new();
    let db = Database::open_with_fs("/sim/db", small(), sim.handle()).expect("open");
    for i in 0..10 {
        db.put(&key(i), b"v").expect("put");
    }
    assert!(db.put(b"", b"v").is_err(), "bad input");
    let healthy = db.metrics();
    assert_eq!(
        healthy.error_rate, 0.0,
        "the caller's mistakes are not errors"
    );
    assert_eq!(healthy.availability, 1.0);

    // A failing device: the log's sync fails, the database refuses writes.
    sim.set_fault(Some(FaultPlan::from_nth(1).only(&[OpKind::Sync])));
    assert!(db.put(b"x", b"v").is_err());
    assert!(db.put(b"y", b"v").is_err());
    let m = db.metrics();
    assert!(m.error_rate > 0.0, "{m:?}");
    assert!(m.availability < 1.0, "{m:?}");
    assert!(!m.meets_sla());
    assert!(m.performance_score() < healthy.performance_score());
    assert_eq!(db.stats().operation_errors, 2);
}

#[test]
fn a_nearly_full_disk_is_a_bottleneck() {
    let sim = SimFileSystem::new();
    let db = Database::open_with_fs("/sim/db", small(), sim.handle()).expect("open");
    for i in 0..200 {
        db.put(&key(i), &[1u8; 100]).expect("put");
    }
    let roomy = db.metrics();
    assert_eq!(roomy.disk_total, 0, "no limit: the size is unknown");
    assert!(roomy
        .identify_bottlenecks()
        .iter()
        .all(|b| b.kind != BottleneckKind::DiskNearlyFull));
    sim.set_space_limit(Some(sim.used_bytes() + sim.used_bytes() / 20));
    let m = db.metrics();
    assert!(m.disk_total > 0 && m.disk_available < m.disk_total / 10);
    let found = m.identify_bottlenecks();
    let full = found
        .iter()
        .find(|b| b.kind == BottleneckKind::DiskNearlyFull)
        .expect("disk nearly full");
    assert!(full.evidence.contains("free"), "{}", full.evidence);
    assert!(m.performance_score() < roomy.performance_score());
}

#[test]
fn sla_thresholds_are_the_users() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Database::open(dir.path(), small()).expect("open");
    db.put(b"k", b"v").expect("put");
    let strict = MetricsCollector::for_database(&db).with_sla(SlaThresholds {
        max_write_latency_p99: Duration::from_nanos(1),
        ..Default::default()
    });
    let m = strict.get_performance_metrics();
    assert_eq!(m.sla.max_write_latency_p99, Duration::from_nanos(1));
    assert!(!m.meets_sla(), "a write takes more than a nanosecond");
    assert_eq!(db.metrics().sla, SlaThresholds::default(), "the defaults");
}
