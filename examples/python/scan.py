"""Range, prefix and reverse scans, and a snapshot."""

import tempfile

import lightning_db


def main() -> None:
    with tempfile.TemporaryDirectory() as path, lightning_db.Database(path) as db:
        with db.write_batch() as batch:
            for city, temp in [(b"berlin", b"12"), (b"bern", b"10"), (b"boston", b"15"),
                               (b"cairo", b"30"), (b"lima", b"19")]:
                batch.put(b"city:" + city, temp)
            batch.put(b"meta:version", b"1")

        # start is inclusive, stop exclusive; iterators are lazy.
        print("b..c:", [k for k in db.keys(start=b"city:b", stop=b"city:c")])
        print("prefix city:be:", dict(db.items(prefix=b"city:be")))
        print("last two cities:", [k for _, k in zip(range(2), db.keys(prefix=b"city:", reverse=True))])

        # A snapshot (and any iterator) keeps reading the state it was made at.
        with db.snapshot() as snap:
            db.put(b"city:berlin", b"25")
            db.delete(b"city:lima")
            assert snap.get(b"city:berlin") == b"12"
            assert b"city:lima" in snap
            print("snapshot sees", len(list(snap.keys(prefix=b"city:"))), "cities;",
                  "database sees", len(list(db.keys(prefix=b"city:"))))


if __name__ == "__main__":
    main()
