"""The audit log: enable_audit_logging / audit_level keywords and audit_verify."""

import os

import pytest

import lightning_db


def test_a_database_keeps_an_audit_log_that_verifies(tmp_path):
    path = str(tmp_path / "db")
    for _ in range(2):
        db = lightning_db.Database(path, enable_audit_logging=True, audit_level="comprehensive")
        db.put(b"k", b"v")
        assert db.get(b"k") == b"v"
        db.close()
    report = lightning_db.audit_verify(path)
    assert report["intact"] is True
    assert report["tampering"] is None
    # open, write, read, close per round.
    assert report["entries"] == 8

    log = tmp_path / "db" / "audit" / "audit-000001.log"
    lines = log.read_bytes().splitlines(keepends=True)
    lines[1], lines[2] = lines[2], lines[1]
    log.write_bytes(b"".join(lines))
    report = lightning_db.audit_verify(path)
    assert report["intact"] is False
    assert report["tampering"]["kind"] == "Reordered"
    assert report["tampering"]["seq"] == 2


def test_bad_arguments_raise(tmp_path):
    with pytest.raises(lightning_db.InvalidArgument):
        lightning_db.audit_verify(str(tmp_path))
    with pytest.raises(lightning_db.ConfigurationError):
        lightning_db.Database(str(tmp_path / "x"), audit_level="loud")
    path = str(tmp_path / "db")
    lightning_db.Database(path, enable_audit_logging=True).close()
    with pytest.raises(lightning_db.InvalidArgument):
        lightning_db.audit_verify(path, key=b"short")
    assert os.path.isdir(os.path.join(path, "audit"))
