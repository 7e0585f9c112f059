"""The exception tree and every error a user can provoke."""

import multiprocessing
import os

import pytest

import lightning_db
from lightning_db import _lightning


def camel(name):
    return "".join(part.capitalize() for part in name.split("_"))


def test_tree_is_generated_from_the_code_table():
    assert lightning_db.DatabaseError is lightning_db.Error
    assert issubclass(lightning_db.Error, Exception)
    classes = lightning_db.ERROR_CLASSES
    assert len(classes) > 40
    for code, cls in classes.items():
        assert cls.code == code
        assert cls.__name__ == camel(cls.name)
        assert issubclass(cls, lightning_db.Error)
        assert getattr(lightning_db, cls.__name__) is cls
    required = [
        "ValueTooLarge", "KeyTooLarge", "EmptyKey", "TransactionConflict",
        "DeadlockDetected", "DataCorruption", "ConfigurationError", "DatabaseLocked",
        "DatabaseClosed", "CircuitBreakerOpen", "IoError", "LockTimeout", "Internal",
    ]
    for name in required:
        assert issubclass(getattr(lightning_db, name), lightning_db.Error)


def test_group_parents_and_builtins():
    L = lightning_db
    assert issubclass(L.EncryptionFailed, L.SecurityError)
    assert issubclass(L.SecurityError, L.Error)
    assert issubclass(L.DataCorruption, L.IntegrityError)
    assert issubclass(L.DeadlockDetected, L.ReliabilityError)
    assert issubclass(L.WalCorrupted, L.RecoveryError)
    assert issubclass(L.ConfigurationError, L.SetupError)
    assert issubclass(L.IoError, OSError)
    assert L.IOError is L.IoError  # the spelling of the builtin alias, for I/O errors
    assert issubclass(L.StorageFull, OSError)
    assert issubclass(L.LockTimeout, TimeoutError)
    assert issubclass(L.KeyTooLarge, ValueError)
    assert L.TransactionConflict.__module__ == "lightning_db"


def test_unknown_code_maps_to_base():
    err = _lightning._make_error(999, "from the future")
    assert type(err) is lightning_db.Error
    assert err.code == 999
    assert err.name == "UNKNOWN"
    known = _lightning._make_error(105, "conflict", retryable=True)
    assert type(known) is lightning_db.TransactionConflict
    assert known.name == "TRANSACTION_CONFLICT"
    assert known.retryable is True


def test_error_attributes(db):
    with pytest.raises(lightning_db.EmptyKey) as excinfo:
        db.put(b"", b"v")
    err = excinfo.value
    assert err.code == 104
    assert err.name == "EMPTY_KEY"
    assert err.retryable is False
    assert err.critical is False
    assert isinstance(err.suggested_action, str) and err.suggested_action
    assert "empty key" in str(err)


def test_size_limits(path):
    with lightning_db.Database(path, max_key_size=16, max_value_size=32) as db:
        with pytest.raises(lightning_db.KeyTooLarge) as excinfo:
            db.put(b"k" * 17, b"v")
        assert "17" in str(excinfo.value)
        with pytest.raises(lightning_db.ValueTooLarge):
            db.put(b"k", b"v" * 33)
        with pytest.raises(lightning_db.EmptyKey):
            db.get(b"")
        with pytest.raises(lightning_db.EmptyKey):
            db.delete(b"")
        db.put(b"k" * 16, b"v" * 32)
        b = db.write_batch()
        with pytest.raises(lightning_db.KeyTooLarge):
            b.put(b"k" * 17, b"v")
        with pytest.raises(lightning_db.ValueTooLarge):
            b.put(b"k", b"v" * 33)
        assert len(b) == 0
        with pytest.raises(lightning_db.ValueTooLarge):
            with db.transaction() as tx:
                tx.put(b"t", b"v" * 33)
        with pytest.raises(lightning_db.KeyTooLarge):
            with db.bulk_load() as load:
                load.put(b"k" * 17, b"v")
        assert list(db.keys()) == [b"k" * 16]


def test_default_value_limit(db):
    with pytest.raises(lightning_db.ValueTooLarge) as excinfo:
        db.put(b"k", bytes(16 * 1024 * 1024 + 1))
    assert isinstance(excinfo.value, ValueError)
    assert db.get(b"k") is None


def test_invalid_config(path):
    with pytest.raises(lightning_db.ConfigurationError, match="'nonsense'"):
        lightning_db.Database(path, nonsense=1)
    bad = [
        {"cache_size": "big"},
        {"cache_size": True},
        {"cache_size": -1},
        {"compression_enabled": 1},
        {"durability": "sometimes"},
        {"durability": 1},
        {"sync_interval_ms": 5},
        {"checksum_algorithm": "md5"},
        {"integrity_validation_level": "extreme"},
        {"mmap_reads": "yes"},
        {"corruption_action": "ignore"},
        {"max_key_size": 0},
        {"max_key_size": 2 * 1024 * 1024},
        {"write_buffer_size": 10},
        {"durability": "periodic", "sync_interval_ms": 0},
    ]
    for config in bad:
        with pytest.raises(lightning_db.ConfigurationError) as excinfo:
            lightning_db.Database(path, **config)
        field = next(iter(config)) if len(config) == 1 else "sync_interval_ms"
        named = field in str(excinfo.value) or "durability" in str(excinfo.value)
        assert named, (config, str(excinfo.value))
        assert excinfo.value.code == 501


@pytest.mark.parametrize(
    "config",
    [
        {"durability": "sync"},
        {"durability": "periodic", "sync_interval_ms": 50},
        {"durability": "periodic"},
        {"durability": "none"},
        {
            "cache_size": 1 << 20,
            "write_buffer_size": 1 << 20,
            "compression_enabled": False,
            "max_key_size": 128,
            "max_value_size": 1 << 20,
            "checksum_algorithm": "crc32",
            "integrity_validation_level": "paranoid",
            "mmap_reads": False,
            "block_size": 8192,
            "bloom_bits_per_key": 0,
            "memtable_index_min_versions": 16,
            "fail_on_corruption": False,
            "corruption_action": "log",
            "deadlock_prevention_enabled": False,
        },
        {"checksum_algorithm": "blake3", "integrity_validation_level": "basic"},
    ],
)
def test_valid_config(path, config):
    with lightning_db.Database(path, **config) as db:
        db.put(b"k", b"v")
        assert db.get(b"k") == b"v"


def _open_elsewhere(path, queue):
    try:
        lightning_db.Database(path)
        queue.put(("opened", None, None))
    except lightning_db.Error as e:
        queue.put((type(e).__name__, e.code, e.name))


def test_locked_by_another_process(path):
    with lightning_db.Database(path) as db:
        db.put(b"k", b"v")
        ctx = multiprocessing.get_context("spawn")
        queue = ctx.Queue()
        proc = ctx.Process(target=_open_elsewhere, args=(path, queue))
        proc.start()
        result = queue.get(timeout=60)
        proc.join(60)
        assert result == ("DatabaseLocked", 110, "DATABASE_LOCKED")
    # The lock is released on close.
    with lightning_db.Database(path) as db:
        assert db.get(b"k") == b"v"


def test_locked_by_another_handle(db, path):
    with pytest.raises(lightning_db.DatabaseLocked) as excinfo:
        lightning_db.Database(path)
    assert excinfo.value.suggested_action


def test_io_error_is_oserror(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_bytes(b"not a directory")
    with pytest.raises(lightning_db.Error) as excinfo:
        lightning_db.Database(str(blocker / "db"))
    assert isinstance(excinfo.value, OSError)
    assert excinfo.value.code in (109, 113)


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores directory permissions")
def test_permission_denied(tmp_path):
    locked = tmp_path / "ro"
    locked.mkdir(mode=0o500)
    with pytest.raises(lightning_db.IoError):
        lightning_db.Database(str(locked / "db"))
