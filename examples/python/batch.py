"""Atomic write batches and a bulk load."""

import tempfile

import lightning_db


def main() -> None:
    with tempfile.TemporaryDirectory() as path, lightning_db.Database(path) as db:
        # All or nothing: applied on a clean exit, discarded if the block raises.
        with db.write_batch() as batch:
            for i in range(1000):
                batch.put(b"item:%04d" % i, b"%d" % (i * i))
            batch.delete(b"item:0000")
        print("after batch:", len(db), "items")

        try:
            with db.write_batch() as batch:
                batch.put(b"never", b"written")
                raise RuntimeError("changed my mind")
        except RuntimeError:
            pass
        assert db.get(b"never") is None

        # The explicit form.
        batch = db.write_batch()
        batch.put(b"a", b"1")
        batch.put(b"b", b"2")
        db.write(batch)

        # A bulk load of any size: memory-bounded, visible all at once at the end.
        with db.bulk_load() as load:
            for i in range(100_000):
                load.put(b"bulk:%06d" % i, b"x" * 32)
        print("after bulk load:", sum(1 for _ in db.keys(prefix=b"bulk:")), "bulk keys")


if __name__ == "__main__":
    main()
