"""Error handling: typed exceptions with codes, retryability and suggested actions."""

import tempfile

import lightning_db


def main() -> None:
    with tempfile.TemporaryDirectory() as path:
        db = lightning_db.Database(path, max_key_size=64)

        try:
            db.put(b"k" * 100, b"v")
        except lightning_db.KeyTooLarge as e:
            # Every engine error carries its stable code and name, whether retrying can
            # help, whether it is critical, and what to do about it.
            print(f"{e.name} ({e.code}): {e}; retryable={e.retryable}; action: {e.suggested_action}")

        try:
            db.put("text", b"v")  # type: ignore[arg-type]  # keys are bytes-like, not str
        except TypeError as e:
            print("TypeError:", e)

        try:
            lightning_db.Database(path)  # already open: the directory is locked
        except lightning_db.DatabaseLocked as e:
            print(f"{e.name}: {e.suggested_action}")

        try:
            lightning_db.Database(path + "-2", cache_size="big")  # type: ignore[arg-type]
        except lightning_db.ConfigurationError as e:
            print("ConfigurationError:", e)

        db.close()
        try:
            db.get(b"k")
        except lightning_db.Error as e:  # the base class catches every engine error
            assert isinstance(e, lightning_db.DatabaseClosed)
            print(f"after close: {type(e).__name__} ({e.code})")

        print("exception classes generated from the engine's code table:", len(lightning_db.ERROR_CLASSES))


if __name__ == "__main__":
    main()
