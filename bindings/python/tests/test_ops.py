"""Maintenance and observability: flush, compact, sync, stats, metrics, health, check."""

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


def test_metrics_match_stats(db):
    db.put(b"a", b"1")
    metrics = db.metrics()
    stats = db.stats()
    assert metrics["puts"] == 1
    for key, value in metrics.items():
        assert isinstance(value, (int, float)), key
        assert key in stats
    assert "levels" not in metrics and "path" not in metrics


def test_prometheus(db):
    db.put(b"a", b"1")
    text = db.prometheus()
    assert "# TYPE lightning_puts_total counter\nlightning_puts_total 1\n" in text
    for line in text.splitlines():
        if not line.startswith("#"):
            float(line.rsplit(" ", 1)[1])


def test_health(db):
    health = db.health()
    assert health["state"] == "healthy"
    names = {c["name"] for c in health["checks"]}
    assert "writes" in names
    assert all(c["state"] in ("healthy", "warning", "critical") for c in health["checks"])


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
