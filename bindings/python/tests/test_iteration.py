"""Lazy iteration: bounds, prefixes, both directions, chunking and snapshot semantics."""

import pytest

import lightning_db

KEYS = [b"a", b"ab", b"abc", b"b", b"ba", b"c", b"\xff", b"\xff\xff"]


@pytest.fixture
def filled(db):
    for k in KEYS:
        db.put(k, b"v:" + k)
    return db


def expect(start=None, stop=None, prefix=None):
    keys = sorted(KEYS)
    if prefix is not None:
        return [k for k in keys if k.startswith(prefix)]
    return [k for k in keys if (start is None or k >= start) and (stop is None or k < stop)]


BOUNDS = [
    {},
    {"start": b"ab"},
    {"stop": b"b"},
    {"start": b"ab", "stop": b"ba"},
    {"start": b"abc", "stop": b"abc"},
    {"start": b"c", "stop": b"a"},
    {"start": b"0", "stop": b"zzz"},
    {"start": b"\xff"},
    {"prefix": b"a"},
    {"prefix": b"ab"},
    {"prefix": b"\xff"},
    {"prefix": b"zz"},
]


@pytest.mark.parametrize("bounds", BOUNDS)
@pytest.mark.parametrize("reverse", [False, True])
def test_bounds(filled, bounds, reverse):
    want = expect(**bounds)
    if reverse:
        want = want[::-1]
    assert list(filled.keys(reverse=reverse, **bounds)) == want
    assert list(filled.values(reverse=reverse, **bounds)) == [b"v:" + k for k in want]
    assert list(filled.items(reverse=reverse, **bounds)) == [(k, b"v:" + k) for k in want]


def test_iter_db_is_keys(filled):
    assert list(filled) == sorted(KEYS)
    assert list(iter(filled)) == list(filled.keys())


def test_prefix_with_range_is_type_error(filled):
    with pytest.raises(TypeError):
        filled.items(prefix=b"a", start=b"a")
    with pytest.raises(TypeError):
        filled.keys(start="a")


def test_bounds_accept_buffer_types(filled):
    assert list(filled.keys(start=bytearray(b"b"), stop=memoryview(b"c"))) == [b"b", b"ba"]


def test_many_keys_across_chunks(db):
    n = 5000
    with db.write_batch() as b:
        for i in range(n):
            b.put(b"%06d" % i, b"%d" % i)
    assert list(db.keys()) == [b"%06d" % i for i in range(n)]
    assert list(db.keys(reverse=True)) == [b"%06d" % i for i in reversed(range(n))]
    assert sum(1 for _ in db.items(start=b"001000", stop=b"004000")) == 3000
    it = db.items()
    assert [next(it) for _ in range(3)] == [(b"%06d" % i, b"%d" % i) for i in range(3)]


def test_iterator_reads_its_snapshot(db):
    for i in range(100):
        db.put(b"%03d" % i, b"old")
    it = db.items()
    first = next(it)
    for i in range(100):
        db.put(b"%03d" % i, b"new")
    db.put(b"999", b"added")
    db.delete(b"050")
    rest = list(it)
    assert first == (b"000", b"old")
    assert len(rest) == 99
    assert all(v == b"old" for _, v in rest)
    assert db.get(b"000") == b"new"


def test_iterator_survives_flush_and_compaction(db):
    for i in range(1000):
        db.put(b"%04d" % i, b"x" * 50)
    it = db.keys()
    next(it)
    db.flush()
    db.compact()
    assert len(list(it)) == 999


def test_iterator_protocol(db):
    db.put(b"k", b"v")
    it = db.keys()
    assert iter(it) is it
    assert next(it) == b"k"
    with pytest.raises(StopIteration):
        next(it)
    with pytest.raises(StopIteration):
        next(it)
    assert isinstance(it, lightning_db.RangeIterator)


@pytest.mark.parametrize("bounds", BOUNDS)
@pytest.mark.parametrize("reverse", [False, True])
def test_seek_matches_a_new_iterator(filled, bounds, reverse):
    # Targets present, absent, below and above every key; each read a different length,
    # so the first refill after a seek (sized by the previous read) is both too small and
    # larger than needed.
    targets = [b"ab", b"aa", b"", b"\xff\xff\xff", b"b", b"abc", b"c", b"0"]
    it = filled.items(reverse=reverse, **bounds)
    for n, target in enumerate(targets):
        it.seek(target)
        got = [pair for _, pair in zip(range(n), it)]
        if reverse:
            want = [k for k in expect(**bounds)[::-1] if k <= target][:n]
        else:
            want = [k for k in expect(**bounds) if k >= target][:n]
        assert got == [(k, b"v:" + k) for k in want], (target, n)


def test_seek_reads_the_iterators_view_and_restarts_after_the_end(db):
    for i in range(300):
        db.put(b"%03d" % i, b"old")
    it = db.keys()
    assert len(list(it)) == 300
    db.put(b"150x", b"new")
    db.delete(b"151")
    it.seek(b"150")
    assert list(it) == [b"%03d" % i for i in range(150, 300)]
    snap_view = db.snapshot()
    db.put(b"000a", b"later")
    with snap_view as snap:
        sit = snap.items(start=b"150x")
        # Below the iterator's lower bound: starts at the bound.
        sit.seek(b"000")
        assert [next(sit), next(sit)] == [(b"150x", b"new"), (b"152", b"old")]
        sit.seek(b"299")
        assert list(sit) == [(b"299", b"old")]


def test_seek_bad_input_and_closed(db, path):
    db.put(b"k", b"v")
    it = db.keys()
    with pytest.raises(TypeError):
        it.seek("k")
    with pytest.raises(TypeError):
        it.seek(None)
    it.seek(bytearray(b"k"))
    assert list(it) == [b"k"]
    it.seek(memoryview(b"a"))
    assert list(it) == [b"k"]
    with db.transaction() as tx:
        tit = tx.keys()
        with pytest.raises(lightning_db.InvalidArgument):
            tit.seek(b"k")
    db.close()
    with pytest.raises(lightning_db.Error):
        it.seek(b"k")
