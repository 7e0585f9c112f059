"""Point operations, the mapping protocol, argument types and persistence."""

import pytest

import lightning_db


def test_put_get_delete(db):
    db.put(b"k", b"v")
    assert db.get(b"k") == b"v"
    assert isinstance(db.get(b"k"), bytes)
    assert db.delete(b"k") is True
    assert db.delete(b"k") is False
    assert db.get(b"k") is None


def test_get_default(db):
    sentinel = object()
    assert db.get(b"missing", sentinel) is sentinel
    assert db.get(b"missing", default=b"d") == b"d"
    db.put(b"k", b"")
    assert db.get(b"k", b"d") == b"", "an empty value is a value, not a miss"


def test_mapping_protocol(db):
    db[b"a"] = b"1"
    assert db[b"a"] == b"1"
    assert b"a" in db
    assert b"b" not in db
    with pytest.raises(KeyError) as excinfo:
        db[b"b"]
    assert excinfo.value.args == (b"b",)
    del db[b"a"]
    with pytest.raises(KeyError):
        del db[b"a"]
    assert b"a" not in db


def test_len_and_iter(db):
    assert len(db) == 0
    for i in range(50):
        db[b"k%03d" % i] = b"v"
    db.delete(b"k007")
    assert len(db) == 49
    assert list(db) == [b"k%03d" % i for i in range(50) if i != 7]


@pytest.mark.parametrize("kind", [bytes, bytearray, lambda b: memoryview(b)])
def test_accepted_buffer_types(db, kind):
    db.put(kind(b"key"), kind(b"value"))
    assert db.get(kind(b"key")) == b"value"
    assert kind(b"key") in db
    assert db[kind(b"key")] == b"value"
    assert db.delete(kind(b"key")) is True


def test_bytes_subclass_and_memoryview_slice(db):
    class B(bytes):
        pass

    db.put(B(b"sub"), memoryview(b"xxvaluexx")[2:7])
    assert db.get(b"sub") == b"value"


@pytest.mark.parametrize("bad", ["text", 1, 1.5, None, [1], object()])
def test_wrong_types_raise_type_error(db, bad):
    with pytest.raises(TypeError, match="bytes, bytearray or memoryview"):
        db.put(bad, b"v")
    with pytest.raises(TypeError):
        db.put(b"k", bad)
    with pytest.raises(TypeError):
        db.get(bad)
    with pytest.raises(TypeError):
        db.delete(bad)
    with pytest.raises(TypeError):
        bad in db  # noqa: B015
    with pytest.raises(TypeError):
        db[bad] = b"v"
    assert len(db) == 0


def test_bytearray_is_copied(db):
    key = bytearray(b"key")
    value = bytearray(b"value")
    db.put(key, value)
    value[0:5] = b"XXXXX"
    key[0:3] = b"zzz"
    assert db.get(b"key") == b"value"


def test_large_value_roundtrip(db):
    value = bytes(range(256)) * 4096
    db.put(b"big", value)
    assert db.get(b"big") == value


def test_reopen_persists(path):
    with lightning_db.Database(path) as db:
        db.put(b"a", b"1")
        with db.write_batch() as b:
            b.put(b"b", b"2")
        with db.transaction() as tx:
            tx.put(b"c", b"3")
        with db.bulk_load() as load:
            load.put(b"d", b"4")
        db.delete(b"a")
    with lightning_db.Database(path) as db:
        assert list(db.items()) == [(b"b", b"2"), (b"c", b"3"), (b"d", b"4")]
        db.flush()
        db.compact()
    with lightning_db.Database(path) as db:
        assert list(db.items()) == [(b"b", b"2"), (b"c", b"3"), (b"d", b"4")]


def test_path_and_repr(db, path):
    assert db.path == path
    assert path in repr(db)
    assert db.closed is False


def test_pathlike(tmp_path):
    with lightning_db.Database(tmp_path / "p") as db:
        db.put(b"k", b"v")
        assert db.get(b"k") == b"v"
