"""Encryption at rest through the ``encryption_key=`` keyword."""

import os

import pytest

import lightning_db


def raw_bytes(path):
    out = b""
    for root, _dirs, files in os.walk(path):
        for name in files:
            with open(os.path.join(root, name), "rb") as f:
                out += f.read()
    return out


def test_an_encrypted_database_opens_only_with_its_key(tmp_path):
    path = str(tmp_path / "db")
    key = bytes(range(32))
    with lightning_db.Database(path, encryption_key=key) as db:
        assert db.encrypted
        assert db.key_generation == 1
        for i in range(200):
            db.put(b"plainkey%04d" % i, b"plainvalue%04d" % i)
        db.flush()
        db.put(b"plainkey-log", b"plainvalue-log")
    raw = raw_bytes(path)
    assert b"plainkey" not in raw and b"plainvalue" not in raw and key not in raw

    with pytest.raises(lightning_db.ConfigurationError) as missing:
        lightning_db.Database(path)
    assert "security.encryption_key" in str(missing.value)
    with pytest.raises(lightning_db.WrongKey):
        lightning_db.Database(path, encryption_key=bytes(32))
    with lightning_db.Database(path, encryption_key=key) as db:
        assert db.get(b"plainkey0007") == b"plainvalue0007"
        assert db.get(b"plainkey-log") == b"plainvalue-log"
        # The integrity check opens and authenticates the sealed files.
        for level in ("basic", "standard", "comprehensive", "paranoid"):
            report = db.check(level)
            assert report.ok is True, report
            assert report.tables_checked >= 1
            assert report.entries_checked >= 200 or level == "basic"


def test_bad_key_material_and_plain_databases_are_refused(tmp_path):
    with pytest.raises(lightning_db.InvalidKeyMaterial):
        lightning_db.Database(str(tmp_path / "a"), encryption_key=b"short")
    with pytest.raises(lightning_db.ConfigurationError):
        lightning_db.Database(str(tmp_path / "a"), encryption_key="not bytes")
    plain = str(tmp_path / "plain")
    with lightning_db.Database(plain) as db:
        db.put(b"k", b"v")
        assert not db.encrypted and db.key_generation is None
    with pytest.raises(lightning_db.ConfigurationError) as refused:
        lightning_db.Database(plain, encryption_key=bytes(32))
    assert "security.enable_encryption" in str(refused.value)


def test_rotation_and_rewrapping(tmp_path):
    path = str(tmp_path / "db")
    key, new_key = bytes([1] * 32), bytes([2] * 32)
    with lightning_db.Database(path, encryption_key=key) as db:
        db.put(b"k1", b"v1")
        assert db.rotate_key() == 2
        assert db.key_generation == 2
        db.put(b"k2", b"v2")
        with pytest.raises(lightning_db.InvalidKeyMaterial):
            db.rewrap_key(b"short")
        db.rewrap_key(new_key)
    with pytest.raises(lightning_db.WrongKey):
        lightning_db.Database(path, encryption_key=key)
    with lightning_db.Database(path, encryption_key=new_key) as db:
        assert db.get(b"k1") == b"v1" and db.get(b"k2") == b"v2"
        assert db.key_generation == 2
        rotation = db.rotate_key_now()
        assert rotation["generation"] == 3 and rotation["retired_generations"] == [1, 2]
        assert rotation["tables_rewritten"] >= 1
        assert db.key_generation == 3
    with lightning_db.Database(path, encryption_key=new_key) as db:
        assert db.get(b"k1") == b"v1" and db.get(b"k2") == b"v2"
    with lightning_db.Database(str(tmp_path / "plain")) as db:
        with pytest.raises(lightning_db.InvalidArgument):
            db.rotate_key()
        with pytest.raises(lightning_db.InvalidArgument):
            db.rotate_key_now()


def test_encryption_is_turned_on_and_off_by_a_migration(tmp_path):
    path = str(tmp_path / "db")
    key = bytes(range(100, 132))
    with lightning_db.Database(path) as db:
        for i in range(200):
            db.put(b"plainkey%04d" % i, b"plainvalue%04d" % i)
        db.flush()
        db.put(b"plainkey-log", b"plainvalue-log")
    assert b"plainvalue-log" in raw_bytes(path)

    with pytest.raises(lightning_db.InvalidKeyMaterial):
        lightning_db.encrypt_database(path, b"short")
    with pytest.raises(TypeError):
        lightning_db.encrypt_database(path, "not bytes")
    with pytest.raises(lightning_db.InvalidArgument):
        lightning_db.decrypt_database(path, key)

    report = lightning_db.encrypt_database(path, key)
    assert report["encrypted_before"] is False and report["encrypted_after"] is True
    raw = raw_bytes(path)
    assert b"plainkey" not in raw and b"plainvalue" not in raw and key not in raw
    with pytest.raises(lightning_db.ConfigurationError):
        lightning_db.Database(path)
    with lightning_db.Database(path, encryption_key=key) as db:
        assert db.encrypted
        assert db.get(b"plainkey0007") == b"plainvalue0007"
        assert db.get(b"plainkey-log") == b"plainvalue-log"
    with pytest.raises(lightning_db.InvalidArgument):
        lightning_db.encrypt_database(path, key)

    before = {name: open(os.path.join(path, name), "rb").read() for name in os.listdir(path)}
    with pytest.raises(lightning_db.WrongKey):
        lightning_db.decrypt_database(path, bytes(32))
    after = {name: open(os.path.join(path, name), "rb").read() for name in os.listdir(path)}
    assert after == before

    report = lightning_db.decrypt_database(path, key)
    assert report["encrypted_before"] is True and report["encrypted_after"] is False
    assert report["to"] == "v2"
    assert not os.path.exists(os.path.join(path, "KEYS"))
    with lightning_db.Database(path) as db:
        assert not db.encrypted
        assert [k for k, _ in db.items()] == sorted([b"plainkey%04d" % i for i in range(200)] + [b"plainkey-log"])


def test_migrate_rewrites_an_encrypted_database_with_its_key(tmp_path):
    path = str(tmp_path / "db")
    key = bytes(range(1, 33))
    with lightning_db.Database(path, encryption_key=key) as db:
        for i in range(100):
            db.put(b"plainkey%04d" % i, b"plainvalue%04d" % i)
        db.flush()
    with pytest.raises(lightning_db.InvalidArgument):
        lightning_db.migrate(path, checksum="crc32")
    with pytest.raises(lightning_db.InvalidArgument):
        lightning_db.migrate(path, to="v1", checksum="crc32", key=key)
    with pytest.raises(lightning_db.WrongKey):
        lightning_db.migrate(path, checksum="crc32", key=bytes(32))
    report = lightning_db.migrate(path, checksum="crc32", compression=False, key=key)
    assert report["encrypted_before"] is True and report["encrypted_after"] is True
    raw = raw_bytes(path)
    assert b"plainkey" not in raw and b"plainvalue" not in raw
    with lightning_db.Database(path, encryption_key=key) as db:
        assert db.get(b"plainkey0042") == b"plainvalue0042"
