//! A transaction's iterator against a `BTreeMap` model: its snapshot overlaid with its own
//! puts and deletes, walked from both ends at once, in owning and lending steps mixed.

use std::collections::BTreeMap;

use lightning_db::{Database, LightningDbConfig};
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Step {
    Front,
    Back,
    FrontLent,
    BackLent,
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        Just(Step::Front),
        Just(Step::Back),
        Just(Step::FrontLent),
        Just(Step::BackLent)
    ]
}

fn key(k: u8) -> Vec<u8> {
    vec![b'k', k]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn a_transaction_walked_from_both_ends_agrees_with_the_model(
        base in prop::collection::vec((0u8..40, prop::option::of(0u8..255)), 0..60),
        flush_at in 0usize..60,
        own in prop::collection::vec((0u8..40, prop::option::of(0u8..255)), 0..30),
        range in (0u8..40, 0u8..40),
        steps in prop::collection::vec(step(), 0..90),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let db = Database::open(dir.path(), LightningDbConfig::default()).unwrap();
        let mut model: BTreeMap<Vec<u8>, Vec<u8>> = BTreeMap::new();
        for (i, (k, v)) in base.iter().enumerate() {
            if i == flush_at {
                db.flush().unwrap();
            }
            match v {
                Some(v) => {
                    db.put(&key(*k), &[*v]).unwrap();
                    model.insert(key(*k), vec![*v]);
                }
                None => {
                    db.delete(&key(*k)).unwrap();
                    model.remove(&key(*k));
                }
            }
        }
        let mut tx = db.begin_transaction().unwrap();
        for (k, v) in &own {
            match v {
                Some(v) => {
                    tx.put(&key(*k), &[*v, *v]).unwrap();
                    model.insert(key(*k), vec![*v, *v]);
                }
                None => {
                    tx.delete(&key(*k)).unwrap();
                    model.remove(&key(*k));
                }
            }
        }
        // Writes after the transaction began are not in its view.
        db.put(&key(0), b"later").unwrap();

        let (lo, hi) = (key(range.0.min(range.1)), key(range.0.max(range.1)));
        let expected: Vec<(Vec<u8>, Vec<u8>)> = model
            .range(lo.clone()..hi.clone())
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let mut it = tx.range(&lo[..]..&hi[..]);
        let (mut front, mut back) = (0usize, expected.len());
        for s in &steps {
            let got = match s {
                Step::Front => it.next().map(|r| r.unwrap()),
                Step::Back => it.next_back().map(|r| r.unwrap()),
                Step::FrontLent => it
                    .next_borrowed()
                    .map(|r| r.map(|(k, v)| (k.to_vec(), v.to_vec())).unwrap()),
                Step::BackLent => it
                    .next_back_borrowed()
                    .map(|r| r.map(|(k, v)| (k.to_vec(), v.to_vec())).unwrap()),
            };
            let want = if front == back {
                None
            } else if matches!(s, Step::Front | Step::FrontLent) {
                front += 1;
                Some(expected[front - 1].clone())
            } else {
                back -= 1;
                Some(expected[back].clone())
            };
            prop_assert_eq!(got, want, "step {:?}", s);
        }
        // Whatever is left, from the front, lent.
        let mut rest = Vec::new();
        while let Some(pair) = it.next_borrowed() {
            let (k, v) = pair.unwrap();
            rest.push((k.to_vec(), v.to_vec()));
        }
        prop_assert_eq!(&rest[..], &expected[front..back]);
        prop_assert!(it.next_back_borrowed().is_none());
        drop(it);
        tx.rollback();
    }
}
