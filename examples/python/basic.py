"""Open a database, write, read, delete, reopen."""

import tempfile

import lightning_db


def main() -> None:
    with tempfile.TemporaryDirectory() as path:
        # Durable by default: each put is on disk (fdatasync) when it returns.
        with lightning_db.Database(path, cache_size=32 << 20) as db:
            db.put(b"user:1", b"alice")
            db[b"user:2"] = b"bob"  # the mapping protocol works too
            assert db.get(b"user:1") == b"alice"
            assert db.get(b"user:3") is None  # a missing key is None...
            assert db.get(b"user:3", b"?") == b"?"
            assert b"user:2" in db
            try:
                db[b"user:3"]  # ...and a KeyError through indexing
            except KeyError:
                pass
            assert db.delete(b"user:2") is True
            print("keys:", list(db.keys()))

        # Everything acknowledged survives a reopen (and a crash).
        with lightning_db.Database(path) as db:
            assert db.get(b"user:1") == b"alice"
            print("after reopen:", dict(db.items()))
            print("reads per second:", db.metrics()["read_throughput"])


if __name__ == "__main__":
    main()
