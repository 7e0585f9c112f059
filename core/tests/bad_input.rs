//! Bad input on every write path gets a clear, typed error and writes nothing
//! (DESIGN.md promise 3): empty keys, keys over `max_key_size` and values over
//! `max_value_size` through `put`, `delete`, `WriteBatch::put`, `Database::new_batch`,
//! `write_batch` of a batch built with larger limits (small and ingested-size batches),
//! and transactions (the refused put fails at once and `commit` returns the same error).
//! Invalid configuration values give `ConfigurationError` naming the field and create
//! nothing on disk. The error codes involved are distinct and match the code table.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use lightning_db::{
    codes, Database, DatabaseError, Durability, LightningDbConfig, TransactionOptions, WriteBatch,
};

const MAX_KEY: usize = 16;
const MAX_VALUE: usize = 100;

fn small_limits() -> LightningDbConfig {
    LightningDbConfig {
        max_key_size: MAX_KEY,
        max_value_size: MAX_VALUE,
        write_buffer_size: 64 * 1024,
        durability: Durability::NoSync,
        ..LightningDbConfig::default()
    }
}

fn contents(db: &Database) -> BTreeMap<Vec<u8>, Vec<u8>> {
    db.iter().map(|kv| kv.expect("scan")).collect()
}

fn is_empty_key(e: &DatabaseError) -> bool {
    matches!(e, DatabaseError::EmptyKey)
}

fn is_key_too_large(e: &DatabaseError, size: usize, max: usize) -> bool {
    matches!(e, DatabaseError::KeyTooLarge { size: s, max_size: m } if *s == size && *m == max)
}

fn is_value_too_large(e: &DatabaseError, size: usize, max: usize) -> bool {
    matches!(e, DatabaseError::ValueTooLarge { size: s, max_size: m } if *s == size && *m == max)
}

/// Checks the database still holds exactly `expected`, also after a reopen.
fn assert_unchanged(db: Database, dir: &Path, expected: &BTreeMap<Vec<u8>, Vec<u8>>) {
    assert_eq!(&contents(&db), expected);
    db.close().expect("close");
    let db = Database::open(dir, small_limits()).expect("reopen");
    assert_eq!(&contents(&db), expected, "after reopen");
}

/// `put` and `delete` refuse empty and oversized keys and oversized values; limits are
/// inclusive; nothing of a refused call is written.
#[test]
fn put_and_delete_refuse_bad_sizes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Database::open(dir.path(), small_limits()).expect("open");
    let big_key = vec![b'k'; MAX_KEY + 1];
    let big_value = vec![b'v'; MAX_VALUE + 1];

    let e = db.put(b"", b"v").expect_err("empty key");
    assert!(is_empty_key(&e), "{e:?}");
    let e = db.put(&big_key, b"v").expect_err("big key");
    assert!(is_key_too_large(&e, MAX_KEY + 1, MAX_KEY), "{e:?}");
    let e = db.put(b"k", &big_value).expect_err("big value");
    assert!(is_value_too_large(&e, MAX_VALUE + 1, MAX_VALUE), "{e:?}");
    let e = db.put(&big_key, &big_value).expect_err("both too big");
    assert!(
        matches!(e, DatabaseError::KeyTooLarge { .. }),
        "the key is checked first: {e:?}"
    );
    let e = db.delete(b"").expect_err("empty key");
    assert!(is_empty_key(&e), "{e:?}");
    let e = db.delete(&big_key).expect_err("big key");
    assert!(is_key_too_large(&e, MAX_KEY + 1, MAX_KEY), "{e:?}");
    assert!(is_empty_key(&db.get(b"").expect_err("get of an empty key")));
    assert!(contents(&db).is_empty());
    assert_eq!(
        db.stats().last_sequence,
        0,
        "no refused call used a sequence number"
    );

    // Exactly at the limits, and the empty value, are fine.
    let mut expected = BTreeMap::new();
    let edge_key = vec![b'k'; MAX_KEY];
    let edge_value = vec![0xFF; MAX_VALUE];
    db.put(&edge_key, &edge_value)
        .expect("limits are inclusive");
    db.put(b"empty", b"").expect("empty value");
    expected.insert(edge_key, edge_value);
    expected.insert(b"empty".to_vec(), Vec::new());
    // A refused overwrite leaves the old value.
    assert!(db.put(b"empty", &big_value).is_err());
    assert_unchanged(db, dir.path(), &expected);
}

/// `WriteBatch::put`/`delete` check at once against the batch's limits (the defaults for
/// `WriteBatch::new`, the database's for `new_batch`) and add nothing when refusing.
#[test]
fn batch_building_refuses_bad_sizes_and_adds_nothing() {
    let defaults = LightningDbConfig::default();
    let mut b = WriteBatch::new();
    assert!(is_empty_key(&b.put(b"", b"v").expect_err("empty key")));
    assert!(is_empty_key(&b.delete(b"").expect_err("empty key")));
    let big_key = vec![1u8; defaults.max_key_size + 1];
    assert!(is_key_too_large(
        &b.put(&big_key, b"v").expect_err("big key"),
        defaults.max_key_size + 1,
        defaults.max_key_size
    ));
    let big_value = vec![2u8; defaults.max_value_size + 1];
    assert!(is_value_too_large(
        &b.put(b"k", &big_value).expect_err("big value"),
        defaults.max_value_size + 1,
        defaults.max_value_size
    ));
    assert!(b.is_empty());
    assert_eq!(b.size_in_bytes(), 0);

    let dir = tempfile::tempdir().expect("tempdir");
    let db = Database::open(dir.path(), small_limits()).expect("open");
    let mut b = db.new_batch();
    b.put(b"good", b"1").expect("good put");
    assert!(is_key_too_large(
        &b.put(&[b'k'; MAX_KEY + 1], b"v").expect_err("big key"),
        MAX_KEY + 1,
        MAX_KEY
    ));
    assert!(is_value_too_large(
        &b.put(b"k", &[0u8; MAX_VALUE + 1]).expect_err("big value"),
        MAX_VALUE + 1,
        MAX_VALUE
    ));
    assert!(is_key_too_large(
        &b.delete(&[b'k'; MAX_KEY + 1]).expect_err("big key"),
        MAX_KEY + 1,
        MAX_KEY
    ));
    assert_eq!(b.len(), 1, "refused operations were not added");
    db.write_batch(&b).expect("the rest of the batch is fine");
    let expected = BTreeMap::from([(b"good".to_vec(), b"1".to_vec())]);
    assert_unchanged(db, dir.path(), &expected);
}

/// A batch built with larger limits than the database's is refused whole by
/// `write_batch`, whether small (through the log) or large (written as a table).
#[test]
fn write_batch_rechecks_against_the_database_limits() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Database::open(dir.path(), small_limits()).expect("open");
    db.put(b"before", b"x").expect("put");
    let expected = contents(&db);

    for ops in [10usize, 2000] {
        // `ops` good operations, then one bad one at the end.
        let mut with_big_value = WriteBatch::with_limits(1024, 10_000);
        let mut with_big_key = WriteBatch::with_limits(1024, 10_000);
        for i in 0..ops {
            let k = format!("k{i:05}");
            with_big_value
                .put(k.as_bytes(), &[7u8; MAX_VALUE])
                .expect("put");
            with_big_key
                .put(k.as_bytes(), &[7u8; MAX_VALUE])
                .expect("put");
        }
        with_big_value
            .put(b"last", &[0u8; MAX_VALUE + 1])
            .expect("fits the batch's limits");
        with_big_key
            .delete(&[b'k'; MAX_KEY + 1])
            .expect("fits the batch's limits");
        let e = db
            .write_batch(&with_big_value)
            .expect_err("value over the db limit");
        assert!(
            is_value_too_large(&e, MAX_VALUE + 1, MAX_VALUE),
            "{ops}: {e:?}"
        );
        let e = db
            .write_batch(&with_big_key)
            .expect_err("key over the db limit");
        assert!(is_key_too_large(&e, MAX_KEY + 1, MAX_KEY), "{ops}: {e:?}");
        assert_eq!(
            contents(&db),
            expected,
            "{ops}: nothing of a refused batch is written"
        );
    }
    let stats = db.stats();
    assert_eq!(stats.ingested_batches, 0);
    assert_eq!(stats.batches, 0);
    assert_unchanged(db, dir.path(), &expected);
}

/// A write that a transaction must refuse, returning the error it got.
type BadWrite = Box<dyn Fn(&mut lightning_db::Transaction) -> DatabaseError>;

/// A refused put or delete in a transaction fails at once, marks the transaction failed,
/// and `commit` returns that same error and writes none of its other work.
#[test]
fn transaction_with_a_refused_write_commits_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Database::open(dir.path(), small_limits()).expect("open");
    db.put(b"existing", b"old").expect("put");
    let expected = contents(&db);

    let cases: Vec<(&str, BadWrite)> = vec![
        (
            "big value",
            Box::new(|t| t.put(b"k", &[0u8; MAX_VALUE + 1]).expect_err("big value")),
        ),
        (
            "big key",
            Box::new(|t| t.put(&[b'k'; MAX_KEY + 1], b"v").expect_err("big key")),
        ),
        (
            "empty key",
            Box::new(|t| t.put(b"", b"v").expect_err("empty key")),
        ),
        (
            "delete of an empty key",
            Box::new(|t| t.delete(b"").expect_err("empty key")),
        ),
        (
            "delete of a big key",
            Box::new(|t| t.delete(&[b'k'; MAX_KEY + 1]).expect_err("big key")),
        ),
    ];
    for pessimistic in [false, true] {
        for (name, bad) in &cases {
            let mut txn = if pessimistic {
                db.begin_transaction_with(TransactionOptions::pessimistic())
                    .expect("begin")
            } else {
                db.begin_transaction().expect("begin")
            };
            txn.put(b"existing", b"new").expect("good put before");
            let first = bad(&mut txn);
            txn.put(b"after", b"1").expect("good put after");
            assert_eq!(
                txn.get(b"existing").expect("get").as_deref(),
                Some(&b"new"[..]),
                "{name}: the transaction still reads its own good writes"
            );
            let at_commit = txn.commit().expect_err("commit must fail");
            assert_eq!(
                at_commit.error_code(),
                first.error_code(),
                "{name}: commit returns the same error"
            );
            assert_eq!(format!("{at_commit:?}"), format!("{first:?}"), "{name}");
            assert_eq!(contents(&db), expected, "{name}: nothing was written");
        }
    }
    // The pessimistic transactions released their locks: a new one can take the keys.
    let mut txn = db
        .begin_transaction_with(TransactionOptions::pessimistic())
        .expect("begin");
    txn.put(b"existing", b"newest").expect("lock is free");
    txn.rollback();
    assert_unchanged(db, dir.path(), &expected);
}

fn config_error_field(cfg: LightningDbConfig, dir: &Path) -> String {
    match Database::open(dir, cfg) {
        Err(DatabaseError::ConfigurationError { field, reason }) => {
            assert!(!reason.is_empty());
            field
        }
        Err(e) => panic!("expected ConfigurationError, got {e:?}"),
        Ok(_) => panic!("an invalid configuration was accepted"),
    }
}

/// Each invalid value is refused with `ConfigurationError` naming its field, before
/// anything is created on disk.
#[test]
fn invalid_config_names_the_field_and_creates_nothing() {
    let root = tempfile::tempdir().expect("tempdir");
    let dir = root.path().join("never-created");
    let base = LightningDbConfig::default;
    let cases: Vec<(&str, LightningDbConfig)> = vec![
        (
            "cache_size",
            LightningDbConfig {
                cache_size: 1024,
                ..base()
            },
        ),
        (
            "write_buffer_size",
            LightningDbConfig {
                write_buffer_size: 64 * 1024 - 1,
                ..base()
            },
        ),
        (
            "max_key_size",
            LightningDbConfig {
                max_key_size: 0,
                ..base()
            },
        ),
        (
            "max_key_size",
            LightningDbConfig {
                max_key_size: (1 << 20) + 1,
                ..base()
            },
        ),
        (
            "max_value_size",
            LightningDbConfig {
                max_value_size: 0,
                ..base()
            },
        ),
        (
            "block_size",
            LightningDbConfig {
                block_size: 100,
                ..base()
            },
        ),
        (
            "block_size",
            LightningDbConfig {
                block_size: 2 << 20,
                ..base()
            },
        ),
        (
            "bloom_bits_per_key",
            LightningDbConfig {
                bloom_bits_per_key: 1000,
                ..base()
            },
        ),
        (
            "durability",
            LightningDbConfig {
                durability: Durability::Periodic(0),
                ..base()
            },
        ),
    ];
    for (field, cfg) in cases {
        let err_field = config_error_field(cfg, &dir);
        assert_eq!(err_field, field);
        assert!(
            !dir.exists(),
            "{field}: a refused open created the directory"
        );
    }
    let e = Database::open("", base()).expect_err("empty path");
    assert!(
        matches!(&e, DatabaseError::ConfigurationError { field, .. } if field == "path"),
        "{e:?}"
    );
    assert_eq!(e.error_code(), codes::CONFIGURATION_ERROR);
    assert!(!e.is_retryable());
    // The smallest allowed write buffer is accepted.
    let ok = LightningDbConfig {
        write_buffer_size: 64 * 1024,
        ..base()
    };
    Database::open(&dir, ok)
        .expect("64 KiB write buffer")
        .close()
        .expect("close");
}

/// The errors of bad input have distinct codes, matching the table.
#[test]
fn bad_input_error_codes_are_distinct() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Database::open(dir.path(), small_limits()).expect("open");
    let errors = [
        (db.put(b"", b"v").expect_err("e"), codes::EMPTY_KEY),
        (
            db.put(&[1; MAX_KEY + 1], b"v").expect_err("e"),
            codes::KEY_TOO_LARGE,
        ),
        (
            db.put(b"k", &[1; MAX_VALUE + 1]).expect_err("e"),
            codes::VALUE_TOO_LARGE,
        ),
        (
            Database::open(dir.path(), small_limits()).expect_err("locked"),
            codes::DATABASE_LOCKED,
        ),
        (
            Database::open(
                dir.path().join("x"),
                LightningDbConfig {
                    cache_size: 0,
                    ..small_limits()
                },
            )
            .expect_err("config"),
            codes::CONFIGURATION_ERROR,
        ),
    ];
    let mut seen = BTreeSet::new();
    for (e, code) in &errors {
        assert_eq!(e.error_code(), *code, "{e:?}");
        assert!(seen.insert(*code), "code {code} used twice");
        assert!(!e.to_string().is_empty());
    }
    assert_eq!(codes::EMPTY_KEY, 104);
    assert_eq!(codes::KEY_TOO_LARGE, 103);
    assert_eq!(codes::VALUE_TOO_LARGE, 102);
    assert_eq!(codes::DATABASE_LOCKED, 110);
    assert_eq!(codes::CONFIGURATION_ERROR, 501);
    db.close().expect("close");
    // A closed handle's snapshot answers DatabaseClosed, with its own code.
    let db = Database::open(dir.path(), small_limits()).expect("open");
    let snap = db.snapshot();
    db.close().expect("close");
    let e = snap.get(b"k").expect_err("closed");
    assert_eq!(e.error_code(), codes::DATABASE_CLOSED);
    assert!(seen.insert(e.error_code()));
}
