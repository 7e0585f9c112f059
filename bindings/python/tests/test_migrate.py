"""Format versions and migration: detect_version, needs_migration, migrate, the
upgrade_format_on_open keyword and Database.format_version, on a copy of the format 1
fixture (a database written by the release before log format 2)."""

import os
import shutil
import struct
import sys
import zlib
from pathlib import Path

import pytest

import lightning_db

FIXTURE = Path(__file__).resolve().parents[3] / "core" / "tests" / "fixtures" / "formats" / "v1"


def fixture_contents():
    pairs = {}
    for line in (FIXTURE / "contents.txt").read_text().splitlines():
        key, value = line.split(" ")
        pairs[bytes.fromhex(key)] = bytes.fromhex(value)
    return pairs


def files(path):
    """Every file of the database but the lock file, with its bytes."""
    return {name: (Path(path) / name).read_bytes() for name in sorted(os.listdir(path)) if name != "LOCK"}


@pytest.fixture
def old(tmp_path):
    """A copy of the format 1 fixture."""
    target = tmp_path / "old"
    shutil.copytree(FIXTURE / "db", target)
    return str(target)


def assert_holds(path, expected):
    with lightning_db.Database(path) as db:
        assert dict(db.items()) == expected
        return db.format_version


def test_an_old_database_is_detected_and_opens_without_changing_format(old):
    assert lightning_db.detect_version(old) == "v1"
    assert lightning_db.needs_migration(old) is True
    with lightning_db.Database(old) as db:
        assert db.format_version == "v1"
        db.put(b"written", b"by this release")
    # Still format 1: nothing upgraded it silently.
    assert lightning_db.detect_version(old) == "v1"
    with pytest.raises(lightning_db.DatabaseClosed):
        db.format_version


def test_a_dry_run_reports_the_plan_and_changes_nothing(old):
    before = files(old)
    report = lightning_db.migrate(old, dry_run=True)
    assert report["dry_run"] is True
    assert (report["from"], report["to"]) == ("v1", "v2")
    assert len(report["steps"]) == 1 and "change format" in report["steps"][0]["step"]
    assert report["estimated_bytes"] > 0 and report["estimated_seconds"] >= 0
    assert report["path"] == old and report["backup_dir"] is None
    assert files(old) == before


def test_migrate_moves_the_format_and_back_with_every_pair(old):
    expected = fixture_contents()
    heard = []
    report = lightning_db.migrate(old, on_progress=heard.append)
    assert report["dry_run"] is False
    assert (report["from"], report["to"]) == ("v1", "v2")
    assert report["bytes_rewritten"] > 0 and isinstance(report["seconds"], float)
    assert [s["tables_written"] for s in report["steps"]] == [1]
    assert report["warnings"] == []
    phases = [p["phase"] for p in heard]
    assert "rewriting" in phases and "switching" in phases and phases[-1] == "done"
    keys = {"step_index", "step_count", "step", "phase", "bytes_done", "bytes_total"}
    assert all(set(p) == keys and p["step_count"] == 1 and p["step_index"] == 0 for p in heard)
    assert any(p["phase"] == "rewriting" and p["bytes_done"] > 0 for p in heard)
    assert lightning_db.detect_version(old) == "v2"
    assert lightning_db.needs_migration(old) is False
    assert assert_holds(old, expected) == "v2"

    # Back to format 1 (for the release that wrote it), rewriting every table with CRC32
    # and without compression: three steps' worth in one call.
    back = lightning_db.migrate(old, to="v1", checksum="crc32", compression=False)
    assert (back["from"], back["to"]) == ("v2", "v1")
    assert len(back["steps"]) == 3
    assert lightning_db.detect_version(old) == "v1"
    assert assert_holds(old, expected) == "v1"
    # A number names a version too; already there, nothing to do.
    again = lightning_db.migrate(old, to=1)
    assert again["steps"] == [] and again["to"] == "v1"


def test_a_backup_is_made_before_the_first_step(old, tmp_path):
    backup = tmp_path / "backup"
    before = files(old)
    report = lightning_db.migrate(old, backup=backup)
    assert report["backup_dir"] == str(backup)
    assert files(backup) == before


def test_refusals_keep_their_codes_and_change_nothing(old, tmp_path):
    with lightning_db.Database(old):
        before = files(old)
        with pytest.raises(lightning_db.DatabaseLocked) as locked:
            lightning_db.migrate(old)
        assert files(old) == before
    assert locked.value.code == 110 and locked.value.name == "DATABASE_LOCKED"
    before = files(old)

    # A backup directory that exists already: the migration fails before any step, and
    # says so with MIGRATION_FAILED (415), rolled back.
    taken = tmp_path / "taken"
    taken.mkdir()
    with pytest.raises(lightning_db.MigrationFailed) as failed:
        lightning_db.migrate(old, backup=taken)
    assert failed.value.code == 415 and isinstance(failed.value, lightning_db.RecoveryError)
    assert "rolled back" in str(failed.value)
    assert failed.value.suggested_action
    assert files(old) == before

    with pytest.raises(lightning_db.InvalidArgument):
        lightning_db.migrate(old, to="v9")
    with pytest.raises(ValueError):
        lightning_db.migrate(old, checksum="md5")
    with pytest.raises(TypeError):
        lightning_db.migrate(old, to=1.5)
    with pytest.raises(TypeError):
        lightning_db.migrate(old, on_progress=42)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(lightning_db.InvalidArgument):
        lightning_db.detect_version(empty)
    assert files(old) == before


def test_a_failing_progress_callback_does_not_stop_the_migration(old, monkeypatch):
    seen = []
    monkeypatch.setattr(sys, "unraisablehook", seen.append)

    def boom(info):
        raise RuntimeError("callback failed")

    report = lightning_db.migrate(old, on_progress=boom)
    assert report["to"] == "v2"
    assert seen and isinstance(seen[0].exc_value, RuntimeError)
    assert lightning_db.detect_version(old) == "v2"


def test_upgrade_format_on_open(old):
    with pytest.raises(lightning_db.ConfigurationError):
        lightning_db.Database(old, upgrade_format_on_open="yes")
    with lightning_db.Database(old, upgrade_format_on_open=True) as db:
        assert db.format_version == "v2"
        assert dict(db.items()) == fixture_contents()
    assert lightning_db.detect_version(old) == "v2"


def test_a_format_too_old_to_read_names_the_migration_command(old):
    lightning_db.Database(old).close()
    # FORMAT recording format 0, older than any release wrote: magic, record layout 1,
    # checksum algorithm 3 (CRC32), version, no switch, then the checksum of bytes 0..24.
    record = b"LFMT" + struct.pack("<HBBI", 1, 3, 0, 0) + bytes(12)
    record += struct.pack("<Q", zlib.crc32(record))
    (Path(old) / "FORMAT").write_bytes(record)
    before = files(old)
    with pytest.raises(lightning_db.MigrationRequired) as opened:
        lightning_db.Database(old)
    err = opened.value
    assert err.code == 416 and err.name == "MIGRATION_REQUIRED"
    assert isinstance(err, lightning_db.RecoveryError)
    assert f"lightning migrate {old} --to latest" in str(err)
    assert "lightning migrate" in err.suggested_action
    with pytest.raises(lightning_db.MigrationRequired):
        lightning_db.detect_version(old)
    with pytest.raises(lightning_db.MigrationRequired):
        lightning_db.migrate(old, dry_run=True)
    assert lightning_db.ERROR_CLASSES[416] is lightning_db.MigrationRequired
    assert files(old) == before
