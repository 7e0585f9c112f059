"""Transactions with retry: four threads increment one counter; the total is exact."""

import tempfile
import threading
from typing import Callable, TypeVar

import lightning_db

T = TypeVar("T")


def run_transaction(db: lightning_db.Database, work: Callable[[lightning_db.Transaction], T]) -> T:
    """Runs `work` in a transaction, retrying while the engine says the error is retryable
    (a conflict with a concurrent commit, a lock timeout, a deadlock)."""
    while True:
        try:
            with db.transaction() as tx:  # commits on a clean exit, rolls back on error
                return work(tx)
        except lightning_db.Error as e:
            if not e.retryable:
                raise


def increment(tx: lightning_db.Transaction) -> int:
    n = int(tx.get(b"counter", b"0")) + 1
    tx.put(b"counter", b"%d" % n)
    return n


def main() -> None:
    with tempfile.TemporaryDirectory() as path, lightning_db.Database(path) as db:
        def worker() -> None:
            for _ in range(50):
                run_transaction(db, increment)

        threads = [threading.Thread(target=worker) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        counter = db.get(b"counter")
        assert counter == b"200", counter
        print("counter:", counter.decode(), "conflicts retried:", db.stats()["transaction_conflicts"])

        # Pessimistic transactions lock keys as they touch them (deadlocks are detected).
        with db.transaction(pessimistic=True, lock_timeout=1.0) as tx:
            tx.put(b"owner", b"me")


if __name__ == "__main__":
    main()
