"""Maintenance and observability: flush, compact, sync, stats, metrics, health, check."""

import os
import time

import pytest

import lightning_db


def test_flush_compact_sync(db):
    for i in range(1000):
        db.put(b"%04d" % i, b"v" * 100)
    for i in range(0, 1000, 2):
        db.delete(b"%04d" % i)
    assert db.flush() is None
    assert db.stats()["table_files"] >= 1
    assert db.compact() is None
    assert db.sync() is None
    assert len(db) == 500
    assert db.stats()["compactions"] >= 1


def test_stats_are_real_numbers(db):
    for i in range(10):
        db.put(b"%d" % i, b"v")
    db.delete(b"0")
    db.get(b"1")
    with db.write_batch() as b:
        b.put(b"x", b"y")
    stats = db.stats()
    assert stats["puts"] == 10
    assert stats["deletes"] == 1
    assert stats["batches"] == 1
    assert stats["gets"] >= 1
    assert stats["path"] == db.path
    assert isinstance(stats["uptime"], float)
    assert isinstance(stats["recovery"]["recovery_time"], float)
    assert isinstance(stats["levels"], list)
    assert 0.0 <= stats["cache_hit_rate"] <= 1.0
    assert stats["poisoned"] is None


REFERENCE_FIELDS = [
    "read_latency_p50",
    "read_latency_p95",
    "read_latency_p99",
    "write_latency_p50",
    "write_latency_p95",
    "write_latency_p99",
    "read_throughput",
    "write_throughput",
    "mixed_workload_throughput",
    "cache_hit_rate",
    "memory_usage",
    "disk_usage",
    "cpu_usage",
    "error_rate",
    "availability",
    "recovery_time",
]


def test_metrics_move_with_the_work_done(db):
    empty = db.metrics()
    for field in REFERENCE_FIELDS:
        assert isinstance(empty[field], (int, float)), field
    assert empty["operations"] == 0
    assert empty["read_latency_p50"] == 0.0
    for i in range(200):
        db.put(b"%04d" % i, b"v" * 100)
    db.flush()
    for i in range(1600):
        assert db.get(b"%04d" % (i % 200)) is not None
    m = db.metrics()
    assert m["operations"] == 1800
    assert m["read_throughput"] > 0 and m["write_throughput"] > 0
    assert 0 < m["read_latency_p50"] <= m["read_latency_p95"] <= m["read_latency_p99"]
    assert 0 < m["write_latency_p50"] <= m["write_latency_p99"]
    assert m["disk_usage"] > empty["disk_usage"]
    assert m["memory_usage"] > 0
    assert m["availability"] == 1.0 and m["error_rate"] == 0.0
    assert isinstance(m["meets_sla"], bool)
    assert 0 < m["performance_score"] <= 100
    assert isinstance(m["bottlenecks"], list)
    assert m["sla"]["max_read_latency_p99"] == 0.01
    assert m["recovery_time"] == db.stats()["recovery"]["recovery_time"]


def test_statistics_off_times_nothing(path):
    with lightning_db.Database(path, enable_statistics=False) as db:
        for i in range(50):
            db.put(b"%d" % i, b"v")
            db.get(b"%d" % i)
        m = db.metrics()
        assert m["operations"] == 100
        assert m["latency_samples"] == 0
        assert m["write_latency_p99"] == 0.0


def test_prometheus(db):
    db.put(b"a", b"1")
    text = db.prometheus()
    assert "# TYPE lightning_puts_total counter\nlightning_puts_total 1\n" in text
    for line in text.splitlines():
        if not line.startswith("#"):
            float(line.rsplit(" ", 1)[1])


def test_health(db):
    health = db.health()
    assert [c["name"] for c in health["checks"]] == ["integrity", "resources", "performance"]
    integrity = health["checks"][0]
    assert integrity["status"] == {"status": "healthy"}
    assert integrity["criticality"] == "critical"
    assert integrity["remediation"] is None
    assert isinstance(integrity["checked_at"], float) and isinstance(integrity["duration"], float)
    assert health["rounds"] == 1
    engine = health["engine"]
    assert engine["state"] == "healthy"
    assert "writes" in {c["name"] for c in engine["checks"]}
    assert db.health()["rounds"] == 2


def test_health_finds_a_table_corrupted_under_the_open_database(path):
    with lightning_db.Database(path, fail_on_corruption=False) as db:
        for i in range(2000):
            db.put(b"key%06d" % i, b"x" * 50)
        db.flush()
        table = max(
            (os.path.join(path, n) for n in os.listdir(path) if n.endswith(".sst")),
            key=os.path.getsize,
        )
        with open(table, "r+b") as f:
            f.seek(100)
            byte = f.read(1)
            f.seek(100)
            f.write(bytes([byte[0] ^ 0x5A]))
        health = db.health()
        assert health["state"] == "critical"
        integrity = health["checks"][0]
        assert integrity["status"]["status"] == "critical"
        assert os.path.basename(table) in integrity["status"]["message"]
        assert "lightning repair" in integrity["remediation"]


def test_the_database_runs_its_own_checks(path):
    with lightning_db.Database(
        path, enable_health_monitoring=True, health_check_interval=0.02, health_check_timeout=0.02
    ) as db:
        deadline = time.monotonic() + 30
        while db.health()["rounds"] < 3:
            assert time.monotonic() < deadline, "the monitoring thread never ran"
            time.sleep(0.005)
    with pytest.raises(lightning_db.ConfigurationError):
        lightning_db.Database(path, health_check_interval="soon")


def test_reliability_keywords(path):
    with lightning_db.Database(
        path,
        circuit_breaker_enabled=True,
        circuit_breaker_failure_threshold=4,
        circuit_breaker_recovery_timeout=1.5,
        retry_max_attempts=2,
        enable_self_healing=True,
        auto_remediation_enabled=True,
    ) as db:
        db.put(b"k", b"v")
        stats = db.stats()
        assert stats["circuit_breaker"]["state"] == "closed"
        assert stats["circuit_breaker"]["times_opened"] == 0
        assert stats["background_retries"] == 0
        assert stats["self_healing"]["actions"] == 0
        assert stats["self_healing"]["refusing_writes"] is False
        assert db.health()["self_healing"] == []
    with lightning_db.Database(path) as db:
        assert db.stats()["circuit_breaker"] is None
    with pytest.raises(lightning_db.ConfigurationError):
        lightning_db.Database(path, circuit_breaker_enabled=True, circuit_breaker_failure_threshold=0)
    with pytest.raises(lightning_db.ConfigurationError):
        lightning_db.Database(path, retry_max_attempts=101)
    with pytest.raises(lightning_db.ConfigurationError):
        lightning_db.Database(path, enable_self_healing="yes")


def test_check_levels(db):
    for i in range(500):
        db.put(b"%04d" % i, b"v" * 20)
    db.flush()
    for level in ("basic", "standard", "comprehensive", "paranoid"):
        report = db.check(level)
        assert isinstance(report, lightning_db.IntegrityReport)
        assert report.ok is True
        assert report.problems == []
        assert report.level == level
        assert report.tables_checked >= 1
        assert report.entries_checked >= 500
    assert db.check().level == "standard"


def test_check_unknown_level(db):
    try:
        db.check("thorough")
    except lightning_db.InvalidArgument as e:
        assert "thorough" in str(e)
    else:  # pragma: no cover
        raise AssertionError("expected InvalidArgument")


def test_check_finds_damage(path):
    import glob
    import os

    with lightning_db.Database(path, compression_enabled=False) as db:
        for i in range(2000):
            db.put(b"%05d" % i, os.urandom(64))
        db.flush()
        table = sorted(glob.glob(os.path.join(path, "*.sst")))[0]
        with open(table, "r+b") as f:
            f.seek(100)
            byte = f.read(1)
            f.seek(100)
            f.write(bytes([byte[0] ^ 0xFF]))
        report = db.check("basic")
        assert report.ok is False
        problem = report.problems[0]
        assert isinstance(problem, lightning_db.IntegrityProblem)
        assert problem.file.endswith(".sst")
        assert problem.check in ("checksum", "structure")


def test_config_in_force(path):
    with lightning_db.Database(path, cache_size=8 << 20, durability="periodic", sync_interval_ms=250,
                               checksum_algorithm="blake3") as db:
        config = db.config()
        assert config["cache_size"] == 8 << 20
        assert config["durability"] == {"Periodic": 250}
        assert config["checksum_algorithm"] == "Blake3"
        assert config["security"]["checksum_algorithm"] == "Blake3"
