"""Lightning DB from Python against py-lmdb, rocksdict, plyvel and sqlite3, on the same data.

Every engine commits durably: Lightning DB with durability="sync" (its default), LMDB with
sync and metasync on (its default), RocksDB (rocksdict) and LevelDB (plyvel) with sync
writes, SQLite in WAL mode with synchronous=FULL. Keys are random 24-byte strings and values
random 150-byte strings from a seeded generator (the Rust benchmark's shapes), identical for
every engine.

    python bench.py [--records 300000] [--engines lightning,lmdb,rocksdict,plyvel,sqlite]

prints a table of times and ratios (engine time / Lightning DB time: above 1, Lightning DB
is faster) and writes it to results.md beside this file.
"""

from __future__ import annotations

import argparse
import datetime
import itertools
import os
import platform
import random
import shutil
import sqlite3
import sys
import tempfile
import threading
import time
from typing import Callable, Dict, List, Optional, Sequence, Tuple

KEY_LEN = 24
VALUE_LEN = 150
THREADS = 4

Pair = Tuple[bytes, bytes]


class Engine:
    """One database under test; subclasses implement each phase with the engine's own API."""

    name = "?"

    def __init__(self, path: str) -> None:
        self.path = path

    def bulk_load(self, pairs: Sequence[Pair]) -> None:
        raise NotImplementedError

    def put_durable(self, key: bytes, value: bytes) -> None:
        raise NotImplementedError

    def write_batch(self, pairs: Sequence[Pair]) -> None:
        raise NotImplementedError

    def random_gets(self, keys: Sequence[bytes]) -> int:
        raise NotImplementedError

    def range_reads(self, starts: Sequence[bytes], n: int) -> int:
        """`n` pairs from each start, each engine reusing what its API lets it reuse (one
        cursor or iterator moved from start to start where it has one)."""
        raise NotImplementedError

    def range_reads_fresh(self, starts: Sequence[bytes], n: int) -> int:
        """`n` pairs from each start through a new cursor or iterator per range (the form a
        request handler that reads one range per call uses)."""
        return self.range_reads(starts, n)

    def scan_all(self) -> int:
        raise NotImplementedError

    def threaded_gets(self, keys: Sequence[bytes]) -> int:
        """Random gets split over THREADS threads (each with what the engine needs per thread)."""
        found = [0] * THREADS
        chunks = [keys[i::THREADS] for i in range(THREADS)]

        def work(i: int) -> None:
            found[i] = self.random_gets_in_thread(chunks[i])

        threads = [threading.Thread(target=work, args=(i,)) for i in range(THREADS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return sum(found)

    def random_gets_in_thread(self, keys: Sequence[bytes]) -> int:
        return self.random_gets(keys)

    def close(self) -> None:
        raise NotImplementedError


class Lightning(Engine):
    name = "lightning"

    def __init__(self, path: str) -> None:
        super().__init__(path)
        import lightning_db

        self.db = lightning_db.Database(path, durability="sync")

    def bulk_load(self, pairs: Sequence[Pair]) -> None:
        with self.db.bulk_load() as load:
            put = load.put
            for k, v in pairs:
                put(k, v)

    def put_durable(self, key: bytes, value: bytes) -> None:
        self.db.put(key, value)

    def write_batch(self, pairs: Sequence[Pair]) -> None:
        with self.db.write_batch() as batch:
            put = batch.put
            for k, v in pairs:
                put(k, v)

    def random_gets(self, keys: Sequence[bytes]) -> int:
        get = self.db.get
        return sum(1 for k in keys if get(k) is not None)

    def range_reads(self, starts: Sequence[bytes], n: int) -> int:
        # One iterator (one view, as py-lmdb's one read transaction), moved by seek().
        it = self.db.items()
        seek = it.seek
        islice = itertools.islice
        total = 0
        for k in starts:
            seek(k)
            total += len(list(islice(it, n)))
        return total

    def range_reads_fresh(self, starts: Sequence[bytes], n: int) -> int:
        items = self.db.items
        islice = itertools.islice
        return sum(len(list(islice(items(start=k), n))) for k in starts)

    def scan_all(self) -> int:
        return sum(1 for _ in self.db.items())

    def close(self) -> None:
        self.db.close()


class Lmdb(Engine):
    name = "lmdb"

    def __init__(self, path: str) -> None:
        super().__init__(path)
        import lmdb

        # sync=True, metasync=True are py-lmdb's defaults: every commit is durable.
        self.env = lmdb.open(path, map_size=16 << 30, max_readers=64)

    def bulk_load(self, pairs: Sequence[Pair]) -> None:
        with self.env.begin(write=True) as txn:
            txn.cursor().putmulti(pairs)

    def put_durable(self, key: bytes, value: bytes) -> None:
        with self.env.begin(write=True) as txn:
            txn.put(key, value)

    def write_batch(self, pairs: Sequence[Pair]) -> None:
        with self.env.begin(write=True) as txn:
            put = txn.put
            for k, v in pairs:
                put(k, v)

    def random_gets(self, keys: Sequence[bytes]) -> int:
        with self.env.begin(buffers=False) as txn:
            get = txn.get
            return sum(1 for k in keys if get(k) is not None)

    def range_reads(self, starts: Sequence[bytes], n: int) -> int:
        total = 0
        with self.env.begin() as txn:
            cur = txn.cursor()
            item = cur.item
            for k in starts:
                if cur.set_range(k):
                    got = [item()]
                    while len(got) < n and cur.next():
                        got.append(item())
                    total += len(got)
        return total

    def range_reads_fresh(self, starts: Sequence[bytes], n: int) -> int:
        total = 0
        begin = self.env.begin
        for k in starts:
            with begin() as txn:
                cur = txn.cursor()
                if cur.set_range(k):
                    got = [cur.item()]
                    while len(got) < n and cur.next():
                        got.append(cur.item())
                    total += len(got)
        return total

    def scan_all(self) -> int:
        with self.env.begin() as txn:
            return sum(1 for _ in txn.cursor())

    def close(self) -> None:
        self.env.close()


class RocksDict(Engine):
    name = "rocksdict"

    def __init__(self, path: str) -> None:
        super().__init__(path)
        import rocksdict

        self.rocksdict = rocksdict
        opts = rocksdict.Options(raw_mode=True)
        opts.create_if_missing(True)
        self.db = rocksdict.Rdict(path, options=opts)
        self.sync = rocksdict.WriteOptions()
        self.sync.sync = True
        self.db.set_write_options(self.sync)

    def _batch(self, pairs: Sequence[Pair]) -> None:
        wb = self.rocksdict.WriteBatch(raw_mode=True)
        put = wb.put
        for k, v in pairs:
            put(k, v)
        self.db.write(wb, self.sync)

    def bulk_load(self, pairs: Sequence[Pair]) -> None:
        self._batch(pairs)

    def put_durable(self, key: bytes, value: bytes) -> None:
        self.db.put(key, value, self.sync)

    def write_batch(self, pairs: Sequence[Pair]) -> None:
        self._batch(pairs)

    def random_gets(self, keys: Sequence[bytes]) -> int:
        get = self.db.get
        return sum(1 for k in keys if get(k) is not None)

    def range_reads(self, starts: Sequence[bytes], n: int) -> int:
        total = 0
        it = self.db.iter()
        for k in starts:
            it.seek(k)
            got = []
            while len(got) < n and it.valid():
                got.append((it.key(), it.value()))
                it.next()
            total += len(got)
        del it
        return total

    def range_reads_fresh(self, starts: Sequence[bytes], n: int) -> int:
        total = 0
        for k in starts:
            it = self.db.iter()
            it.seek(k)
            got = []
            while len(got) < n and it.valid():
                got.append((it.key(), it.value()))
                it.next()
            total += len(got)
            del it
        return total

    def scan_all(self) -> int:
        return sum(1 for _ in self.db.items())

    def close(self) -> None:
        self.db.close()


class Plyvel(Engine):
    name = "plyvel"

    def __init__(self, path: str) -> None:
        super().__init__(path)
        import plyvel

        self.db = plyvel.DB(path, create_if_missing=True)

    def bulk_load(self, pairs: Sequence[Pair]) -> None:
        with self.db.write_batch(sync=True) as wb:
            put = wb.put
            for k, v in pairs:
                put(k, v)

    def put_durable(self, key: bytes, value: bytes) -> None:
        self.db.put(key, value, sync=True)

    def write_batch(self, pairs: Sequence[Pair]) -> None:
        self.bulk_load(pairs)

    def random_gets(self, keys: Sequence[bytes]) -> int:
        get = self.db.get
        return sum(1 for k in keys if get(k) is not None)

    def range_reads(self, starts: Sequence[bytes], n: int) -> int:
        islice = itertools.islice
        total = 0
        with self.db.iterator() as it:
            for k in starts:
                it.seek(k)
                total += len(list(islice(it, n)))
        return total

    def range_reads_fresh(self, starts: Sequence[bytes], n: int) -> int:
        islice = itertools.islice
        it = self.db.iterator
        return sum(len(list(islice(it(start=k), n))) for k in starts)

    def scan_all(self) -> int:
        return sum(1 for _ in self.db.iterator())

    def close(self) -> None:
        self.db.close()


class Sqlite(Engine):
    name = "sqlite"

    def __init__(self, path: str) -> None:
        super().__init__(path)
        os.makedirs(path, exist_ok=True)
        self.file = os.path.join(path, "db.sqlite")
        self.conn = self._connect()
        self.conn.execute("CREATE TABLE IF NOT EXISTS kv (k BLOB PRIMARY KEY, v BLOB) WITHOUT ROWID")
        self.local = threading.local()

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.file, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        return conn

    def _many(self, pairs: Sequence[Pair]) -> None:
        self.conn.execute("BEGIN")
        self.conn.executemany("INSERT OR REPLACE INTO kv VALUES (?, ?)", pairs)
        self.conn.execute("COMMIT")

    def bulk_load(self, pairs: Sequence[Pair]) -> None:
        self._many(pairs)

    def put_durable(self, key: bytes, value: bytes) -> None:
        self.conn.execute("INSERT OR REPLACE INTO kv VALUES (?, ?)", (key, value))

    def write_batch(self, pairs: Sequence[Pair]) -> None:
        self._many(pairs)

    def _gets(self, conn: sqlite3.Connection, keys: Sequence[bytes]) -> int:
        cur = conn.cursor()
        q = "SELECT v FROM kv WHERE k = ?"
        return sum(1 for k in keys if cur.execute(q, (k,)).fetchone() is not None)

    def random_gets(self, keys: Sequence[bytes]) -> int:
        return self._gets(self.conn, keys)

    def random_gets_in_thread(self, keys: Sequence[bytes]) -> int:
        conn = self._connect()
        try:
            return self._gets(conn, keys)
        finally:
            conn.close()

    def range_reads(self, starts: Sequence[bytes], n: int) -> int:
        cur = self.conn.cursor()
        q = "SELECT k, v FROM kv WHERE k >= ? ORDER BY k LIMIT ?"
        return sum(len(cur.execute(q, (k, n)).fetchall()) for k in starts)

    def scan_all(self) -> int:
        return sum(1 for _ in self.conn.execute("SELECT k, v FROM kv ORDER BY k"))

    def close(self) -> None:
        self.conn.close()


ENGINES: Dict[str, Callable[[str], Engine]] = {
    "lightning": Lightning,
    "lmdb": Lmdb,
    "rocksdict": RocksDict,
    "plyvel": Plyvel,
    "sqlite": Sqlite,
}

PHASES = [
    "bulk load",
    "1,000 individual durable puts",
    "batches of 1,000",
    "random gets",
    "10-entry range reads",
    "10-entry range reads, new iterator each",
    "iteration over everything",
    f"random gets, {THREADS} threads",
]


def make_data(records: int, seed: int) -> Tuple[List[Pair], List[Pair], List[Pair], List[bytes], List[bytes]]:
    rng = random.Random(seed)
    rb = rng.randbytes if hasattr(rng, "randbytes") else (lambda n: bytes(rng.getrandbits(8) for _ in range(n)))

    def pairs(n: int) -> List[Pair]:
        return [(rb(KEY_LEN), rb(VALUE_LEN)) for _ in range(n)]

    base = pairs(records)
    singles = pairs(1000)
    batches = pairs(min(100_000, records // 3))
    keys = [k for k, _ in base]
    lookups = [keys[rng.randrange(records)] for _ in range(min(200_000, records))]
    starts = [keys[rng.randrange(records)] for _ in range(min(20_000, records))]
    return base, singles, batches, lookups, starts


def run_round(names: List[str], data, workdir: str) -> Dict[str, Dict[str, float]]:
    """One round: every engine opened side by side, then each phase run for every engine in
    turn (phase-major, so a drift in the machine's speed hits all engines alike). The
    individual durable puts, which mostly measure the disk's sync latency, are interleaved
    in slices of 50 puts across the engines."""
    base, singles, batches, lookups, starts = data
    engines = {name: ENGINES[name](os.path.join(workdir, name)) for name in names}
    times: Dict[str, Dict[str, float]] = {name: {} for name in names}
    total = len({k for k, _ in base} | {k for k, _ in singles} | {k for k, _ in batches})

    def timed(name: str, phase: str, fn: Callable[[], object], expect: Optional[int] = None) -> None:
        t0 = time.perf_counter()
        result = fn()
        times[name][phase] = times[name].get(phase, 0.0) + time.perf_counter() - t0
        if expect is not None and result != expect:
            raise AssertionError(f"{name} {phase}: got {result}, expected {expect}")

    def batches_phase(engine: Engine) -> None:
        for i in range(0, len(batches), 1000):
            engine.write_batch(batches[i : i + 1000])

    try:
        for name, engine in engines.items():
            timed(name, "bulk load", lambda: engine.bulk_load(base))
        for i in range(0, len(singles), 50):
            for name, engine in engines.items():

                def slice_of_puts() -> None:
                    for k, v in singles[i : i + 50]:
                        engine.put_durable(k, v)

                timed(name, "1,000 individual durable puts", slice_of_puts)
        for name, engine in engines.items():
            timed(name, "batches of 1,000", lambda: batches_phase(engine))
        for name, engine in engines.items():
            timed(name, "random gets", lambda: engine.random_gets(lookups), len(lookups))
        for name, engine in engines.items():
            timed(name, "10-entry range reads", lambda: engine.range_reads(starts, 10))
        for name, engine in engines.items():
            phase = "10-entry range reads, new iterator each"
            timed(name, phase, lambda: engine.range_reads_fresh(starts, 10))
        for name, engine in engines.items():
            timed(name, "iteration over everything", engine.scan_all, total)
        for name, engine in engines.items():
            phase = f"random gets, {THREADS} threads"
            timed(name, phase, lambda: engine.threaded_gets(lookups), len(lookups))
    finally:
        for name, engine in engines.items():
            engine.close()
            shutil.rmtree(os.path.join(workdir, name), ignore_errors=True)
    for name in names:
        for phase in PHASES:
            print(f"  {name:10s} {phase:32s} {times[name][phase]:9.3f} s", flush=True)
    return times


def table(results: Dict[str, Dict[str, float]], engines: List[str]) -> str:
    head = "| phase | " + " | ".join(engines) + " |"
    sep = "|---|" + "---:|" * len(engines)
    lines = ["Times (seconds):", "", head, sep]
    for phase in PHASES:
        cells = [f"{results[e][phase]:.3f}" if phase in results[e] else "-" for e in engines]
        lines.append(f"| {phase} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "Ratio to Lightning DB (engine time / Lightning DB time; above 1: Lightning DB is "
        "faster; bold: the peer is faster):",
        "",
        head,
        sep,
    ]
    base = results["lightning"]
    for phase in PHASES:
        cells = []
        for e in engines:
            if phase not in results[e] or phase not in base:
                cells.append("-")
                continue
            ratio = results[e][phase] / base[phase]
            cells.append(f"**{ratio:.2f}**" if ratio < 1.0 else f"{ratio:.2f}")
        lines.append(f"| {phase} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: Optional[List[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=300_000)
    parser.add_argument("--engines", default=",".join(ENGINES))
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument(
        "--rounds",
        type=int,
        default=2,
        help="run every engine this many times, round-robin, and keep each phase's best time "
        "(this machine's fsync latency and CPU share drift a lot between minutes)",
    )
    parser.add_argument("--dir", default=None, help="work directory (default: a temporary one)")
    parser.add_argument("--output", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "results.md"))
    args = parser.parse_args(argv)

    wanted = [e.strip() for e in args.engines.split(",") if e.strip()]
    if "lightning" not in wanted:
        wanted.insert(0, "lightning")
    engines, missing = [], []
    for name in wanted:
        try:
            ENGINES[name](tempfile.mkdtemp()).close()
            engines.append(name)
        except ImportError as e:
            missing.append(f"{name} ({e})")

    print(f"generating {args.records:,} records ...", flush=True)
    data = make_data(args.records, args.seed)
    workdir = args.dir or tempfile.mkdtemp(prefix="ldb-bench-")
    load_before = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    results: Dict[str, Dict[str, float]] = {}
    for round_no in range(1, args.rounds + 1):
        print(f"== round {round_no} of {args.rounds}", flush=True)
        for name, times in run_round(engines, data, workdir).items():
            best = results.setdefault(name, times)
            for phase, seconds in times.items():
                best[phase] = min(best[phase], seconds)
    text = table(results, engines)
    print()
    print(text)

    versions = []
    for module in ("lightning_db", "lmdb", "rocksdict", "plyvel"):
        try:
            from importlib.metadata import version

            versions.append(f"{module} {version(module)}")
        except Exception:  # noqa: BLE001 - not installed: not run, and said so above
            pass
    versions.append(f"sqlite {sqlite3.sqlite_version}")
    header = [
        "# Python binding benchmark",
        "",
        f"`python bench/bench.py --records {args.records} --rounds {args.rounds}` on "
        f"{datetime.date.today().isoformat()}: {args.records:,} records (24-byte random keys, "
        f"150-byte random values), every commit durable; engines run side by side, phase by "
        f"phase (individual puts interleaved 50 at a time), best of {args.rounds} rounds per phase.",
        f"Python {platform.python_version()} on {platform.machine()}, {os.cpu_count()} CPUs; "
        + ", ".join(versions) + ".",
        f"Load average (1 min) when the run started: {load_before:.2f}; when it ended: "
        f"{os.getloadavg()[0] if hasattr(os, 'getloadavg') else float('nan'):.2f}.",
        "",
    ]
    if missing:
        header += ["Not run (not installable here): " + ", ".join(missing), ""]
    with open(args.output, "w") as f:
        f.write("\n".join(header) + "\n" + text + "\n")
    print(f"\nwritten to {args.output}")


if __name__ == "__main__":
    sys.exit(main())
