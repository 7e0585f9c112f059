"""Every operation on a closed database raises DatabaseClosed, never crashes."""

import pytest

import lightning_db


def _calls(db):
    return {
        "put": lambda: db.put(b"k", b"v"),
        "get": lambda: db.get(b"k"),
        "delete": lambda: db.delete(b"k"),
        "contains": lambda: b"k" in db,
        "getitem": lambda: db[b"k"],
        "setitem": lambda: db.__setitem__(b"k", b"v"),
        "delitem": lambda: db.__delitem__(b"k"),
        "len": lambda: len(db),
        "iter": lambda: list(db),
        "items": lambda: list(db.items()),
        "keys": lambda: list(db.keys(reverse=True)),
        "values": lambda: list(db.values(prefix=b"k")),
        "write_batch": lambda: db.write_batch(),
        "bulk_load": lambda: db.bulk_load(),
        "transaction": lambda: db.transaction(),
        "snapshot": lambda: db.snapshot(),
        "config": db.config,
        "flush": db.flush,
        "compact": db.compact,
        "sync": db.sync,
        "stats": db.stats,
        "metrics": db.metrics,
        "health": db.health,
        "prometheus": db.prometheus,
        "check": db.check,
    }


def test_every_call_after_close(path):
    db = lightning_db.Database(path)
    db.put(b"k", b"v")
    db.close()
    assert db.closed
    for name, call in _calls(db).items():
        with pytest.raises(lightning_db.DatabaseClosed) as excinfo:
            call()
        assert excinfo.value.code == 107, name
        assert isinstance(excinfo.value, lightning_db.Error)


def test_close_is_idempotent_and_context_manager_closes(path):
    with lightning_db.Database(path) as db:
        db.put(b"k", b"v")
    assert db.closed
    db.close()
    db.close()
    with lightning_db.Database(path) as again:
        assert again.get(b"k") == b"v"


def test_context_manager_closes_on_exception(path):
    with pytest.raises(RuntimeError):
        with lightning_db.Database(path) as db:
            raise RuntimeError("boom")
    assert db.closed


def test_objects_made_before_close(path):
    db = lightning_db.Database(path)
    for i in range(100):
        db.put(b"k%03d" % i, b"v")
    it = db.items()
    next(it)
    snap = db.snapshot()
    tx = db.transaction()
    batch = db.write_batch()
    batch.put(b"x", b"y")
    db.close()
    with pytest.raises(lightning_db.DatabaseClosed):
        # The first chunk may be buffered; draining it reaches the engine again.
        list(it)
    with pytest.raises(lightning_db.DatabaseClosed):
        snap.get(b"k000")
    with pytest.raises(lightning_db.DatabaseClosed):
        list(snap.items())
    with pytest.raises(lightning_db.DatabaseClosed):
        tx.get(b"k000")
    with pytest.raises(lightning_db.DatabaseClosed):
        tx.commit()
    tx.rollback()
    with pytest.raises(lightning_db.DatabaseClosed):
        db.write(batch)
    with pytest.raises(lightning_db.DatabaseClosed):
        with batch:
            pass
    snap.close()


def test_close_refused_while_bulk_load_open(db):
    load = db.bulk_load()
    load.put(b"k", b"v")
    with pytest.raises(lightning_db.InvalidArgument, match="bulk load"):
        db.close()
    load.abort()
    db.close()
    assert db.closed
