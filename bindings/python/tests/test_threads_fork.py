"""Sharing one database between threads, and fork() after open."""

import os
import sys
import threading

import pytest

import lightning_db


def increment(db, key, times, retries):
    for _ in range(times):
        while True:
            try:
                with db.transaction() as tx:
                    n = int(tx.get(key, b"0"))
                    tx.put(key, b"%d" % (n + 1))
                break
            except lightning_db.TransactionConflict as e:
                assert e.retryable
                retries.append(1)


@pytest.mark.parametrize("durability", ["none", "sync"])
def test_counter_exact_under_retries(path, durability):
    threads, times = 4, 100 if durability == "none" else 25
    retries = []
    with lightning_db.Database(path, durability=durability) as db:
        workers = [
            threading.Thread(target=increment, args=(db, b"counter", times, retries))
            for _ in range(threads)
        ]
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        assert int(db.get(b"counter")) == threads * times
        assert db.stats()["transaction_conflicts"] == len(retries)


def test_pessimistic_counter(db):
    def work():
        for _ in range(50):
            while True:
                try:
                    with db.transaction(pessimistic=True) as tx:
                        n = int(tx.get(b"c", b"0"))
                        tx.put(b"c", b"%d" % (n + 1))
                    break
                except lightning_db.Error as e:
                    assert e.retryable

    workers = [threading.Thread(target=work) for _ in range(4)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert db.get(b"c") == b"200"


def test_parallel_readers_and_writers(db):
    for i in range(1000):
        db.put(b"%04d" % i, b"%d" % i)
    failures = []

    def reader():
        for _ in range(5):
            for i in range(0, 1000, 7):
                if db.get(b"%04d" % i) != b"%d" % i:
                    failures.append(i)
            if sum(1 for _ in db.keys(stop=b"0500")) < 500:
                failures.append("scan")

    def writer(t):
        for i in range(500):
            db.put(b"w%d-%d" % (t, i), b"x")

    threads = [threading.Thread(target=reader) for _ in range(3)]
    threads += [threading.Thread(target=writer, args=(t,)) for t in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []
    assert sum(1 for _ in db.keys(prefix=b"w")) == 1000


def test_durable_commits_from_threads_are_grouped(path):
    # Commits from several threads can only share one log sync if the GIL is released
    # while each waits for its fsync.
    with lightning_db.Database(path, durability="sync") as db:
        def writer(t):
            for i in range(40):
                db.put(b"%d-%d" % (t, i), b"v")

        threads = [threading.Thread(target=writer, args=(t,)) for t in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        stats = db.stats()
        assert stats["puts"] == 320
        assert stats["write_groups"] < 320


def test_close_racing_other_calls(path):
    db = lightning_db.Database(path, durability="none")
    for i in range(100):
        db.put(b"%03d" % i, b"v")
    stop = threading.Event()
    unexpected = []

    def hammer():
        while not stop.is_set():
            try:
                db.get(b"050")
                db.put(b"x", b"y")
                list(db.keys(stop=b"010"))
            except lightning_db.DatabaseClosed:
                pass
            except Exception as e:  # pragma: no cover - reported below
                unexpected.append(e)
                return

    threads = [threading.Thread(target=hammer) for _ in range(4)]
    for t in threads:
        t.start()
    db.close()
    stop.set()
    for t in threads:
        t.join()
    assert unexpected == []
    with lightning_db.Database(path) as again:
        assert again.get(b"050") == b"v"


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork()")
def test_fork_child_gets_clear_error_and_parent_is_intact(path):
    db = lightning_db.Database(path)
    db.put(b"before", b"fork")
    snap = db.snapshot()
    tx = db.transaction()
    tx.put(b"t", b"x")
    it = db.keys()
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # child
        code = 0
        try:
            os.close(read)
            results = []
            for call in (
                lambda: db.get(b"before"),
                lambda: db.put(b"child", b"x"),
                lambda: snap.get(b"before"),
                lambda: tx.commit(),
                lambda: next(it),
                lambda: db.stats(),
            ):
                try:
                    call()
                    results.append("no error")
                except lightning_db.DatabaseClosed as e:
                    results.append("fork" in str(e) and e.code == 107)
                except BaseException as e:  # noqa: BLE001 - reported to the parent
                    results.append(repr(e))
            # Dropping inherited handles must not run the engine's shutdown.
            db.close()
            del db, snap, tx, it
            import gc

            gc.collect()
            # A database opened in the child works.
            child_db = lightning_db.Database(path + "-child")
            child_db.put(b"k", b"v")
            results.append(child_db.get(b"k") == b"v")
            child_db.close()
            os.write(write, repr(results).encode())
        except BaseException as e:  # noqa: BLE001
            os.write(write, repr(e).encode())
            code = 1
        finally:
            os._exit(code)
    os.close(write)
    with os.fdopen(read, "rb") as f:
        report = f.read().decode()
    _, status = os.waitpid(pid, 0)
    assert os.WEXITSTATUS(status) == 0, report
    assert report == repr([True] * 7)
    # The parent's handles are untouched.
    assert db.get(b"before") == b"fork"
    assert snap.get(b"before") == b"fork"
    tx.commit()
    assert next(it) == b"before"
    db.put(b"after", b"fork")
    snap.close()
    db.close()
    with lightning_db.Database(path) as again:
        assert again.get(b"after") == b"fork"
        assert again.get(b"t") == b"x"
        assert again.get(b"child") is None
        assert again.check("comprehensive").ok


@pytest.mark.skipif(sys.platform == "win32", reason="no fork")
def test_multiprocessing_fork_child(path):
    import multiprocessing

    db = lightning_db.Database(path)
    db.put(b"k", b"v")
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()

    def child():
        try:
            db.get(b"k")
            queue.put("no error")
        except lightning_db.DatabaseClosed:
            queue.put("DatabaseClosed")

    p = ctx.Process(target=child)
    p.start()
    assert queue.get(timeout=60) == "DatabaseClosed"
    p.join(60)
    assert p.exitcode == 0
    assert db.get(b"k") == b"v"
    db.close()
