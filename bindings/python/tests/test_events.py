"""Engine events through ``Database(path, on_event=callable)``: recovery stages of the open
(with log-replay progress), flushes, compactions, a raising callback, closing, threads and
the garbage collector."""

import gc
import subprocess
import sys
import threading
import weakref

import pytest

import lightning_db


class Recorder:
    """Records ``(kind, info)`` pairs, with the thread each arrived on."""

    def __init__(self):
        self.lock = threading.Lock()
        self.events = []
        self.threads = set()

    def __call__(self, kind, info):
        with self.lock:
            self.events.append((kind, info))
            self.threads.add(threading.get_ident())

    def of(self, kind):
        with self.lock:
            return [info for k, info in self.events if k == kind]


def fill_log(path, n=20_000):
    """Writes ``n`` keys that stay in the log only (closing does not flush them)."""
    with lightning_db.Database(path, durability="none", write_buffer_size=8 << 20) as db:
        for i in range(n):
            db.put(b"key%06d" % i, b"v" * 100)


def test_recovery_stages_arrive_during_open(path):
    fill_log(path)
    rec = Recorder()
    with lightning_db.Database(path, on_event=rec, durability="none") as db:
        # Delivered before the constructor returned.
        stages = rec.of("recovery_stage")
        bounds = [(s["stage"], s["phase"]) for s in stages if s["phase"] != "progress"]
        names = ["lock", "manifest", "log_replay", "flush_recovered", "verification", "cleanup", "start"]
        assert bounds == [(n, p) for n in names for p in ("started", "finished")]
        progress = [s for s in stages if s["phase"] == "progress"]
        assert len(progress) >= 10
        assert all(p["stage"] == "log_replay" and p["unit"] == "bytes" for p in progress)
        dones = [p["done"] for p in progress]
        assert dones == sorted(dones)
        assert progress[-1]["done"] == progress[-1]["total"] > 2_000_000
        assert all(s["kind"] == "recovery_stage" and s["path"] == path for s in stages)
        assert isinstance(stages[0]["elapsed_ms"], float)
        assert db[b"key019999"] == b"v" * 100


def test_flush_and_compaction_events(path):
    rec = Recorder()
    with lightning_db.Database(path, on_event=rec, durability="none", write_buffer_size=64 * 1024) as db:
        for round_ in range(3):
            for i in range(300):
                db.put(b"k%04d" % i, bytes([round_]) * 64)
            db.flush()
            # flush() returns after its event was delivered.
            assert len(rec.of("flush_completed")) >= round_ + 1
        db.compact()
        flush = rec.of("flush_completed")[0]
        assert flush["kind"] == "flush_completed"
        assert flush["entries"] > 0 and flush["bytes_written"] > 0
        assert isinstance(flush["tables"], list) and isinstance(flush["duration_ms"], float)
        compactions = rec.of("compaction_completed")
        assert compactions
        assert all(c["inputs"] and {"level", "table"} <= set(c["inputs"][0]) for c in compactions)
    # Flushes and compactions ran on the engine's threads, not this one.
    assert rec.threads - {threading.get_ident()}


def test_a_raising_callback_is_reported_and_the_engine_carries_on(path, monkeypatch):
    reported = []
    monkeypatch.setattr(sys, "unraisablehook", reported.append)
    calls = []

    def broken(kind, info):
        calls.append(kind)
        raise ValueError("listener bug")

    with lightning_db.Database(path, on_event=broken, durability="none") as db:
        db.put(b"k", b"v")
        db.flush()
        db.put(b"k2", b"v2")
        assert db[b"k"] == b"v"
    assert "flush_completed" in calls and "recovery_stage" in calls
    assert len(reported) == len(calls)
    assert all(isinstance(r.exc_value, ValueError) for r in reported)
    assert reported[0].object is broken
    # The database opens again cleanly.
    with lightning_db.Database(path, durability="none") as db:
        assert db[b"k2"] == b"v2"


def test_close_releases_the_callback(path):
    rec = Recorder()
    db = lightning_db.Database(path, on_event=rec, durability="none")
    db.put(b"k", b"v")
    db.flush()
    assert rec.of("flush_completed")
    ref = weakref.ref(rec)
    db.close()
    del rec
    # The database let go of the callable: nothing can be delivered to it any more.
    assert ref() is None
    db.close()  # idempotent


def test_on_event_must_be_callable(path):
    with pytest.raises(TypeError, match="on_event must be callable"):
        lightning_db.Database(path, on_event="print")
    # Keyword only, and not a configuration field.
    with pytest.raises(TypeError):
        lightning_db.Database(path, None)
    with lightning_db.Database(path, on_event=None, durability="none") as db:
        db.put(b"k", b"v")


def test_a_failed_open_reports_the_failed_stage(path):
    rec = Recorder()
    with lightning_db.Database(path, durability="none"):
        with pytest.raises(lightning_db.DatabaseLocked):
            lightning_db.Database(path, on_event=rec)
    assert [(s["stage"], s["phase"]) for s in rec.of("recovery_stage")] == [
        ("lock", "started"),
        ("lock", "failed"),
    ]
    assert rec.of("recovery_stage")[-1]["error"]


def test_callback_may_use_the_database_and_other_threads_keep_running(path):
    seen = []
    box = {}

    def on_event(kind, info):
        if kind == "flush_completed":
            # Reading from a flush event is allowed (no engine lock is held).
            seen.append(box["db"].get(b"k0"))

    with lightning_db.Database(path, on_event=on_event, durability="none", write_buffer_size=64 * 1024) as db:
        box["db"] = db

        def writer(t):
            for i in range(2000):
                db.put(b"k%d" % i, b"%d" % t)

        threads = [threading.Thread(target=writer, args=(t,)) for t in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        db.flush()
    assert seen and all(v is not None for v in seen)


def test_an_unclosed_database_with_a_cycle_is_collected(path):
    class Owner:
        def __init__(self):
            self.kinds = []
            self.db = lightning_db.Database(path, on_event=self.on_event, durability="none")

        def on_event(self, kind, info):
            self.kinds.append(kind)

    owner = Owner()
    owner.db.put(b"k", b"v")
    owner.db.flush()
    assert "flush_completed" in owner.kinds
    ref = weakref.ref(owner)
    del owner
    gc.collect()
    assert ref() is None
    # The collector dropped the database, which released its directory lock.
    with lightning_db.Database(path, durability="none") as db:
        assert db[b"k"] == b"v"


def test_exit_with_an_open_database_and_busy_listener(tmp_path):
    # Background flushes deliver events while the interpreter exits without closing the
    # database: the process must end (no deadlock between exit and the engine's threads).
    script = f"""
import lightning_db
db = lightning_db.Database({str(tmp_path / "db")!r}, durability="none", write_buffer_size=64 * 1024,
                           on_event=lambda kind, info: sum(range(1000)))
for i in range(20000):
    db.put(b"k%d" % i, b"x" * 100)
print("done")
"""
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "done"


def test_on_progress_hears_the_recovery_of_the_open(path):
    fill_log(path)
    seen = []
    thread = []

    def on_progress(info):
        seen.append(info)
        thread.append(threading.get_ident())

    with lightning_db.Database(path, on_progress=on_progress, durability="none") as db:
        # Every call came before the constructor returned, on this thread.
        calls = len(seen)
        assert set(thread) == {threading.get_ident()}
        progress = [s["progress"] for s in seen]
        assert progress == sorted(progress) and progress[-1] == 100.0
        assert all(0.0 <= p <= 100.0 for p in progress)
        replay = [s for s in seen if s["stage"] == "log_replay"]
        assert len(replay) >= 10
        assert any(s["eta_seconds"] is not None for s in seen)
        last = seen[-1]
        assert last["complete"] and not last["failed"] and last["eta_seconds"] is None
        assert last["completed_stages"] == [
            "lock", "manifest", "log_replay", "flush_recovered", "verification", "cleanup", "start"
        ]
        assert db.get(b"key019999") == b"v" * 100
        db.put(b"after", b"open")
        db.flush()
    assert len(seen) == calls, "never called once the open returned"


def test_on_progress_reports_a_failed_open_then_raises(path):
    with lightning_db.Database(path):
        seen = []
        with pytest.raises(lightning_db.DatabaseLocked):
            lightning_db.Database(path, on_progress=seen.append)
        assert seen and seen[-1]["failed"] and seen[-1]["stage"] == "lock"
        assert not seen[-1]["complete"]


def test_on_progress_exceptions_are_reported_and_the_open_carries_on(path, monkeypatch):
    fill_log(path, n=2_000)
    reported = []
    monkeypatch.setattr(sys, "unraisablehook", reported.append)
    calls = []

    def boom(info):
        calls.append(info)
        raise RuntimeError("progress callback failed")

    with lightning_db.Database(path, on_progress=boom) as db:
        assert db.get(b"key001999") == b"v" * 100
    assert calls and len(reported) == len(calls)
    assert all(isinstance(r.exc_value, RuntimeError) for r in reported)
    assert reported[0].object is boom


def test_on_progress_must_be_callable(path):
    with pytest.raises(TypeError, match="on_progress must be callable"):
        lightning_db.Database(path, on_progress=42)
    with lightning_db.Database(path, on_progress=None) as db:
        db.put(b"k", b"v")


def test_recovery_state_tells_how_the_open_recovered(path):
    fill_log(path, n=2_000)
    with lightning_db.Database(path) as db:
        state = db.recovery_state()
        assert state["complete"] and not state["failed"] and not state["can_rollback"]
        assert state["progress"] == 100.0 and state["stage"] is None
        assert state["completed_stages"] == [
            "lock", "manifest", "log_replay", "flush_recovered", "verification", "cleanup", "start"
        ]
        done, total = state["replayed_segments"]
        assert total >= 1 and done == total
        assert state["failed_stages"] == []
        assert state["elapsed_seconds"] > 0
    with pytest.raises(lightning_db.DatabaseClosed):
        db.recovery_state()
