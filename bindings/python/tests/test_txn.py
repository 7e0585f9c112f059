"""Transactions, snapshots, write batches and bulk loads."""

import threading

import pytest

import lightning_db


def test_transaction_commits_on_clean_exit(db):
    with db.transaction() as tx:
        tx.put(b"a", b"1")
        tx.put(b"b", b"2")
        tx.delete(b"b")
        assert tx.get(b"a") == b"1"
        assert tx.get(b"b") is None
        assert tx.get(b"zz", b"d") == b"d"
        assert db.get(b"a") is None, "not visible before commit"
        assert tx.active
    assert not tx.active
    assert db.get(b"a") == b"1"
    assert db.get(b"b") is None


def test_transaction_rolls_back_on_exception(db):
    with pytest.raises(ValueError):
        with db.transaction() as tx:
            tx.put(b"a", b"1")
            raise ValueError("boom")
    assert db.get(b"a") is None


def test_explicit_commit_and_rollback(db):
    tx = db.transaction()
    tx.put(b"a", b"1")
    tx.commit()
    assert db.get(b"a") == b"1"
    with pytest.raises(lightning_db.InvalidArgument):
        tx.put(b"b", b"2")
    with pytest.raises(lightning_db.InvalidArgument):
        tx.commit()
    tx = db.transaction()
    tx.put(b"b", b"2")
    tx.rollback()
    tx.rollback()
    assert db.get(b"b") is None
    assert "finished" in repr(tx)


def test_transaction_iteration_sees_own_writes(db):
    for k in (b"a", b"c", b"e"):
        db.put(k, b"db")
    with db.transaction() as tx:
        tx.put(b"b", b"tx")
        tx.put(b"c", b"tx")
        tx.delete(b"e")
        assert list(tx.items()) == [(b"a", b"db"), (b"b", b"tx"), (b"c", b"tx")]
        assert list(tx.keys(reverse=True)) == [b"c", b"b", b"a"]
        assert list(tx.values(start=b"b", stop=b"c")) == [b"tx"]
        assert list(tx.keys(prefix=b"c")) == [b"c"]
        assert list(tx) == [b"a", b"b", b"c"]


def test_conflict_is_retryable(db):
    db.put(b"k", b"0")
    tx = db.transaction()
    assert tx.get(b"k") == b"0"
    tx.put(b"k", b"tx")
    db.put(b"k", b"other")
    with pytest.raises(lightning_db.TransactionConflict) as excinfo:
        tx.commit()
    err = excinfo.value
    assert err.retryable is True
    assert err.code == 105
    assert err.name == "TRANSACTION_CONFLICT"
    assert db.get(b"k") == b"other"
    assert db.stats()["transaction_conflicts"] == 1


def test_conflict_raised_from_context_manager(db):
    with pytest.raises(lightning_db.TransactionConflict):
        with db.transaction() as tx:
            tx.get(b"k")
            db.put(b"k", b"other")
            tx.put(b"k", b"mine")
    assert db.get(b"k") == b"other"


def test_pessimistic_lock_wait_releases_the_gil(db):
    holder = db.transaction(pessimistic=True)
    holder.put(b"k", b"holder")
    done = threading.Event()
    result = {}

    def waiter():
        with db.transaction(pessimistic=True, lock_timeout=30) as tx:
            result["seen"] = tx.get(b"k")
            tx.put(b"k", b"waiter")
        done.set()

    t = threading.Thread(target=waiter)
    t.start()
    # The waiter blocks in the engine on the key lock; this thread keeps running Python
    # and calling the engine meanwhile, which needs the GIL to be released by the waiter.
    for i in range(200):
        db.put(b"other%d" % i, b"v")
    assert not done.is_set()
    holder.commit()
    t.join(30)
    assert done.is_set()
    assert result["seen"] == b"holder"
    assert db.get(b"k") == b"waiter"


def test_lock_timeout(db):
    holder = db.transaction(pessimistic=True)
    holder.put(b"k", b"1")
    tx = db.transaction(pessimistic=True, lock_timeout=0.05)
    with pytest.raises(lightning_db.LockTimeout) as excinfo:
        tx.put(b"k", b"2")
    assert excinfo.value.retryable
    assert isinstance(excinfo.value, TimeoutError)
    tx.rollback()
    holder.rollback()
    with pytest.raises(lightning_db.InvalidArgument):
        db.transaction(lock_timeout=-1)


def test_deadlock_detected(db):
    a = db.transaction(pessimistic=True, lock_timeout=30)
    b = db.transaction(pessimistic=True, lock_timeout=30)
    a.put(b"x", b"a")
    b.put(b"y", b"b")
    errors = []

    def take_y():
        try:
            a.put(b"y", b"a")
        except lightning_db.Error as e:
            errors.append(e)
            a.rollback()

    t = threading.Thread(target=take_y)
    t.start()
    try:
        b.put(b"x", b"b")
    except lightning_db.Error as e:
        errors.append(e)
        b.rollback()
    t.join(30)
    assert not t.is_alive()
    assert len(errors) == 1
    assert isinstance(errors[0], lightning_db.DeadlockDetected)
    assert errors[0].retryable
    for tx in (a, b):
        if tx.active:
            tx.commit()


def test_snapshot_isolation(db):
    db.put(b"a", b"1")
    with db.snapshot() as snap:
        db.put(b"a", b"2")
        db.put(b"b", b"new")
        db.delete(b"a")
        assert snap.get(b"a") == b"1"
        assert snap[b"a"] == b"1"
        assert b"b" not in snap
        assert snap.get(b"b", b"d") == b"d"
        with pytest.raises(KeyError):
            snap[b"b"]
        assert list(snap.items()) == [(b"a", b"1")]
        assert list(snap.keys(reverse=True)) == [b"a"]
        assert list(snap.values(prefix=b"a")) == [b"1"]
        assert list(snap) == [b"a"]
        assert isinstance(snap.sequence, int)
    with pytest.raises(lightning_db.InvalidArgument):
        snap.get(b"a")
    snap.close()
    assert list(db.items()) == [(b"b", b"new")]


def test_write_batch_context_manager(db):
    db.put(b"gone", b"x")
    with db.write_batch() as b:
        b.put(b"a", b"1")
        b.put(b"b", b"2")
        b.delete(b"gone")
        assert len(b) == 3
        assert db.get(b"a") is None
    assert list(db.items()) == [(b"a", b"1"), (b"b", b"2")]
    with pytest.raises(KeyError):
        with db.write_batch() as b:
            b.put(b"c", b"3")
            raise KeyError("boom")
    assert db.get(b"c") is None


def test_write_batch_explicit(db):
    b = db.write_batch()
    b.put(b"a", b"1")
    b.delete(b"a")
    b.put(b"b", b"2")
    db.write(b)
    assert list(db.items()) == [(b"b", b"2")]
    b.clear()
    assert len(b) == 0
    with pytest.raises(TypeError):
        b.put("a", b"1")
    with pytest.raises(TypeError):
        db.write(object())


def test_bulk_load(db):
    db.put(b"old", b"x")
    with db.bulk_load() as load:
        for i in range(10_000):
            load.put(b"%05d" % i, b"v%d" % i)
        load.delete(b"old")
        assert len(load) == 10_001
        # Reads see the database as it was before the load.
        assert db.get(b"00000") is None
        # Writes from the thread holding the load are refused, not left waiting forever.
        with pytest.raises(lightning_db.InvalidArgument):
            db.put(b"x", b"y")
    assert db.get(b"09999") == b"v9999"
    assert db.get(b"old") is None
    assert len(db) == 10_000


def test_bulk_load_discarded_on_exception(db):
    with pytest.raises(RuntimeError):
        with db.bulk_load() as load:
            load.put(b"a", b"1")
            raise RuntimeError("boom")
    assert db.get(b"a") is None
    db.put(b"after", b"1")  # the write lock was released


def test_bulk_load_explicit(db):
    load = db.bulk_load()
    load.put(b"a", b"1")
    load.finish()
    assert db.get(b"a") == b"1"
    with pytest.raises(lightning_db.InvalidArgument):
        load.put(b"b", b"2")
    load.abort()
    load = db.bulk_load()
    load.put(b"b", b"2")
    load.abort()
    assert db.get(b"b") is None
    load = db.bulk_load()
    load.put(b"c", b"3")
    del load  # dropped unfinished: discarded, lock released
    db.put(b"d", b"4")
    assert db.get(b"c") is None


def test_bulk_load_larger_than_write_buffer(path):
    with lightning_db.Database(path, write_buffer_size=64 * 1024, durability="none") as db:
        with db.bulk_load() as load:
            for i in range(20_000):
                load.put(b"%06d" % i, b"x" * 40)
        assert len(db) == 20_000
        assert db.get(b"019999") == b"x" * 40
