//! `DbIterator::seek`: re-positioning one iterator, as short range reads that reuse it do.
//! Every seek must yield exactly what a new iterator over the same view with the sought
//! key as its lower bound would, across the memtable, immutable memtables and tables,
//! with overwritten and deleted keys, inside the iterator's own bounds, and never showing
//! a write made after the iterator. `seek_for_prev` is checked the same way from the back.

use std::collections::BTreeMap;
use std::ops::Bound;
use std::path::Path;

use lightning_db::{Database, DbIterator, Durability, LightningDbConfig};
use rand::{Rng, SeedableRng};

type Model = BTreeMap<Vec<u8>, Vec<u8>>;

fn config(dir: &Path) -> LightningDbConfig {
    LightningDbConfig {
        path: dir.to_path_buf(),
        write_buffer_size: 64 * 1024,
        block_size: 512,
        compression_enabled: false,
        durability: Durability::NoSync,
        ..LightningDbConfig::default()
    }
}

fn key(i: u32) -> Vec<u8> {
    format!("k{i:05}").into_bytes()
}

/// Up to `n` pairs from the front of `it`.
fn take(it: &mut DbIterator, n: usize) -> Vec<(Vec<u8>, Vec<u8>)> {
    it.by_ref().take(n).map(|pair| pair.unwrap()).collect()
}

/// What a scan of `model` within `lo..hi` from `target` on yields, first `n` pairs.
fn expected(
    model: &Model,
    lo: &Bound<Vec<u8>>,
    hi: &Bound<Vec<u8>>,
    target: &[u8],
    n: usize,
) -> Vec<(Vec<u8>, Vec<u8>)> {
    model
        .range::<Vec<u8>, _>((lo.clone(), hi.clone()))
        .filter(|(k, _)| k.as_slice() >= target)
        .take(n)
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// What a reverse scan of `model` within `lo..hi` from `target` down yields, first `n`.
fn expected_back(
    model: &Model,
    lo: &Bound<Vec<u8>>,
    hi: &Bound<Vec<u8>>,
    target: &[u8],
    n: usize,
) -> Vec<(Vec<u8>, Vec<u8>)> {
    model
        .range::<Vec<u8>, _>((lo.clone(), hi.clone()))
        .rev()
        .filter(|(k, _)| k.as_slice() <= target)
        .take(n)
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// A database whose keys are spread over tables (flushed and compacted), immutable
/// memtables and the live memtable, with overwrites and deletes in every layer.
fn layered(db: &Database, rng: &mut rand::rngs::StdRng) -> Model {
    let mut model = Model::new();
    for round in 0..4u32 {
        for _ in 0..1500 {
            let k = key(rng.gen_range(0..3000));
            if rng.gen_ratio(1, 5) {
                db.delete(&k).unwrap();
                model.remove(&k);
            } else {
                let v = format!("v{round}-{}", rng.gen_range(0..1000u32)).into_bytes();
                db.put(&k, &v).unwrap();
                model.insert(k, v);
            }
        }
        match round {
            0 => {
                db.flush().unwrap();
                db.compact().unwrap();
            }
            1 | 2 => db.flush().unwrap(),
            _ => {}
        }
    }
    model
}

#[test]
fn seeks_match_a_new_iterator_over_the_same_view() {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::open(dir.path(), config(dir.path())).unwrap();
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let model = layered(&db, &mut rng);
    let bounds = [
        (Bound::Unbounded, Bound::Unbounded),
        (Bound::Included(key(500)), Bound::Excluded(key(2500))),
        (Bound::Excluded(key(1000)), Bound::Included(key(1200))),
    ];
    for (lo, hi) in bounds {
        let range = (
            lo.as_ref().map(Vec::as_slice),
            hi.as_ref().map(Vec::as_slice),
        );
        let mut it = db.range(range);
        // Writes after the iterator was made are not part of its view.
        db.put(&key(1100), b"later").unwrap();
        db.delete(&key(1101)).unwrap();
        for step in 0..300 {
            // Targets inside and outside the bounds, present and absent keys, past the end.
            let target = match step % 4 {
                0 => key(rng.gen_range(0..3100)),
                1 => format!("k{:05}x", rng.gen_range(0..3000)).into_bytes(),
                2 => b"a".to_vec(),
                _ => b"z".to_vec(),
            };
            let n = rng.gen_range(0..15);
            if step % 3 == 2 {
                it.seek_for_prev(&target).unwrap();
                let got: Vec<_> = it.by_ref().rev().take(n).map(|p| p.unwrap()).collect();
                assert_eq!(
                    got,
                    expected_back(&model, &lo, &hi, &target, n),
                    "seek_for_prev {:?} within {lo:?}..{hi:?}",
                    String::from_utf8_lossy(&target)
                );
                continue;
            }
            it.seek(&target).unwrap();
            assert_eq!(
                take(&mut it, n),
                expected(&model, &lo, &hi, &target, n),
                "seek {:?} within {lo:?}..{hi:?}",
                String::from_utf8_lossy(&target)
            );
        }
        // The write above is undone so the model stays the view of the next iterator.
        match model.get(&key(1100)) {
            Some(v) => db.put(&key(1100), v).unwrap(),
            None => assert!(db.delete(&key(1100)).unwrap()),
        }
        if let Some(v) = model.get(&key(1101)) {
            db.put(&key(1101), v).unwrap();
        }
    }
}

#[test]
fn a_seek_ends_a_reverse_walk_and_the_back_starts_again() {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::open(dir.path(), config(dir.path())).unwrap();
    for i in 0..100 {
        db.put(&key(i), b"v").unwrap();
    }
    let mut it = db.iter();
    // Front and back meet in the middle; after a seek both walks cover the rest again.
    assert_eq!(take(&mut it, 50).len(), 50);
    let back: Vec<_> = it.by_ref().rev().map(|p| p.unwrap().0).collect();
    assert_eq!(back.len(), 50);
    assert!(it.next().is_none(), "the walks met");
    it.seek(&key(90)).unwrap();
    assert_eq!(
        it.next_back().transpose().unwrap().map(|(k, _)| k),
        Some(key(99))
    );
    let rest: Vec<_> = it.by_ref().map(|p| p.unwrap().0).collect();
    assert_eq!(rest, (90..99).map(key).collect::<Vec<_>>());
    // A reverse seek restarts the front walk from the lower end.
    it.seek_for_prev(&key(5)).unwrap();
    assert_eq!(it.next().transpose().unwrap().map(|(k, _)| k), Some(key(0)));
    let (k, _) = it.next_back_borrowed().unwrap().unwrap();
    assert_eq!(k, key(5).as_slice());
    // Borrowed steps after a seek as well.
    it.seek(&key(10)).unwrap();
    let (k, v) = it.next_borrowed().unwrap().unwrap();
    assert_eq!((k, v), (key(10).as_slice(), &b"v"[..]));
}

#[test]
fn a_seek_on_an_empty_range_yields_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::open(dir.path(), config(dir.path())).unwrap();
    db.put(b"a", b"1").unwrap();
    let mut it = db.range(&b"b"[..]..&b"b"[..]);
    it.seek(b"a").unwrap();
    assert!(it.next().is_none());
    let mut prefix = db.scan_prefix(b"a");
    it = db.range(&b"a"[..]..);
    it.seek(b"b").unwrap();
    assert!(it.next().is_none(), "past the last key");
    prefix.seek(b"").unwrap();
    assert_eq!(
        prefix.next().transpose().unwrap(),
        Some((b"a".to_vec(), b"1".to_vec()))
    );
}
