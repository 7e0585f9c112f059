//! The list's concurrent protocols under the loom model checker: every interleaving of a
//! writer, readers and an index builder (up to a bound on preemptions), with loom's model
//! of the C++ memory model choosing what each atomic load may return.
//!
//! Loom checks the atomics, and through the shadow cells (`Node::shadow`,
//! `SeekIndex::shadow`) the plain memory they publish: a node's header, key and value,
//! and a seek index's contents, are marked written before publication and read at every
//! use, so a reader that reaches them without being ordered after the write (a
//! publication that is not a release, a load that is not an acquire) fails the model with
//! "Causality violation". On top of that each test checks the answers: a read must answer
//! for a prefix of the writes that holds at least every write that happened before it.
//!
//! Run (a step of `scripts/test-all.sh`; a few tens of seconds):
//! `RUSTFLAGS="--cfg loom" CARGO_TARGET_DIR=target/loom cargo test -p lightning_db --release
//! --lib storage::skiplist::loom_tests -- --test-threads=1`. `LOOM_MAX_PREEMPTIONS=3`
//! explores deeper (minutes); `LOOM_LOCATION=1` names the source lines of a violation.

use std::cmp::Reverse;
use std::sync::atomic::AtomicUsize as Counter;
use std::sync::atomic::Ordering::{Acquire, Relaxed, Release};
use std::sync::Arc;

use loom::sync::atomic::AtomicUsize;
use loom::thread;

use super::{Arena, SkipCursor, SkipList, Writer};
use crate::storage::VersionRef;

/// A version as the tests write it.
type Version = (&'static [u8], u64, Option<&'static [u8]>);

/// Preemptions per execution that loom explores by default (every interleaving with at
/// most this many switches away from a thread that could go on).
const PREEMPTIONS: usize = 2;

/// Runs `f` under loom: every interleaving up to [`PREEMPTIONS`] (or `LOOM_MAX_PREEMPTIONS`
/// when set), and says how many there were.
fn model(name: &str, f: impl Fn() + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = builder.preemption_bound.or(Some(PREEMPTIONS));
    let runs = Arc::new(Counter::new(0));
    let counted = Arc::clone(&runs);
    let start = std::time::Instant::now();
    builder.check(move || {
        counted.fetch_add(1, Relaxed);
        f();
    });
    eprintln!(
        "{name}: {} executions in {:.1} s",
        runs.load(Relaxed),
        start.elapsed().as_secs_f64()
    );
}

/// A seed for the tower heights that makes the next inserts' towers `heights` tall.
fn seed_for(heights: &[usize]) -> u64 {
    (1u64..)
        .find(|&seed| {
            let mut w = Writer {
                arena: Arena::new(),
                values: Arena::new(),
                rng: seed,
            };
            heights.iter().all(|&h| w.random_height() == h)
        })
        .expect("a seed")
}

/// A list whose inserts get their tower heights from `seed` (call inside the model).
fn list_with_seed(index_min_len: usize, seed: u64) -> Arc<SkipList> {
    let list = Arc::new(SkipList::with_index_min_len(index_min_len));
    list.writer.lock().rng = seed;
    list
}

fn order(key: &[u8], seq: u64) -> (&[u8], Reverse<u64>) {
    (key, Reverse(seq))
}

/// The list holding exactly `writes`, in list order.
fn sorted(writes: &[Version]) -> Vec<Version> {
    let mut v = writes.to_vec();
    v.sort_by(|a, b| order(a.0, a.1).cmp(&order(b.0, b.1)));
    v
}

/// A version as the test compares and prints it: key and value bytes escaped (one to one).
type Shown = (String, u64, Option<String>);

fn show((k, s, v): VersionRef<'_>) -> Shown {
    let text = |b: &[u8]| b.escape_ascii().to_string();
    (text(k), s, v.map(text))
}

fn show_all(versions: &[VersionRef<'_>]) -> Vec<Shown> {
    versions.iter().copied().map(show).collect()
}

/// Panics unless `got` is what `op` answers on the list holding the first `k` writes, for
/// some `k` from `lo` (the writes that happened before the read) on: a read sees a prefix
/// of the writes, in whole versions (key, seq and value as written), and never less than
/// what happened before it.
fn check_prefix(
    what: &str,
    writes: &[Version],
    lo: usize,
    got: Option<VersionRef<'_>>,
    op: impl Fn(&[Version]) -> Option<&Version>,
) {
    let got = got.map(show);
    let ok = (lo..=writes.len()).any(|k| op(&sorted(&writes[..k])).copied().map(show) == got);
    assert!(
        ok,
        "{what}: {got:?} answers no prefix from {lo} on of the writes {:?}",
        show_all(writes)
    );
}

/// A point read, as the reader makes it and as the model answers it.
#[derive(Clone, Copy)]
enum Read {
    Seek(&'static [u8], u64),
    SeekForPrev(&'static [u8], u64),
    Get(&'static [u8], u64),
}

impl Read {
    fn on_list(self, list: &SkipList) -> Option<VersionRef<'_>> {
        match self {
            Self::Seek(key, seq) => list.seek(key, seq).map(|n| list.parts(n)),
            Self::SeekForPrev(key, seq) => list.seek_for_prev(key, seq).map(|n| list.parts(n)),
            Self::Get(key, seq) => list.get(key, seq).map(|(s, v)| (key, s, v)),
        }
    }

    fn on_model(self, v: &[Version]) -> Option<&Version> {
        let at_or_after = |key, seq| v.iter().find(|x| order(x.0, x.1) >= order(key, seq));
        match self {
            Self::Seek(key, seq) => at_or_after(key, seq),
            Self::SeekForPrev(key, seq) => {
                v.iter().rev().find(|x| order(x.0, x.1) <= order(key, seq))
            }
            Self::Get(key, seq) => at_or_after(key, seq).filter(|x| x.0 == key),
        }
    }

    fn name(self) -> String {
        let (op, key, seq) = match self {
            Self::Seek(key, seq) => ("seek", key, seq),
            Self::SeekForPrev(key, seq) => ("seek_for_prev", key, seq),
            Self::Get(key, seq) => ("get", key, seq),
        };
        format!("{op}(\"{}\", {seq})", key.escape_ascii())
    }

    /// Makes the read and checks that it answers a prefix of `writes` from `lo` on.
    fn check(self, list: &SkipList, writes: &[Version], lo: usize) {
        check_prefix(&self.name(), writes, lo, self.on_list(list), |v| {
            self.on_model(v)
        });
    }
}

/// Checks a walk of the list (the versions a cursor visited, put in ascending order):
/// every version is one that was written, whole; they come strictly in list order; and
/// every one of the first `lo` writes is among them.
fn check_walk(what: &str, writes: &[Version], lo: usize, seen: &[VersionRef<'_>]) {
    let written: Vec<Shown> = writes.iter().copied().map(show).collect();
    let shown = show_all(seen);
    for v in &shown {
        assert!(written.contains(v), "{what}: {v:?} was never written");
    }
    for pair in seen.windows(2) {
        assert!(
            order(pair[0].0, pair[0].1) < order(pair[1].0, pair[1].1),
            "{what}: {shown:?} is out of order"
        );
    }
    for w in &written[..lo] {
        assert!(
            shown.contains(w),
            "{what}: {w:?} was written before the walk began, but it saw {shown:?}"
        );
    }
}

/// The cursor's current version, borrowed from the list (not the cursor).
fn at<'a>(list: &'a SkipList, c: &SkipCursor) -> Option<VersionRef<'a>> {
    c.at.map(|n| list.parts(n))
}

/// One version alone, then a sorted batch of two: `m` has two versions (one a tombstone)
/// that only the sequence number orders.
const WRITES: [Version; 3] = [
    (b"prefix00b", 2, Some(b"v2")),
    (b"m", 4, Some(b"v4")),
    (b"m", 3, None),
];

/// Tower heights for [`WRITES`]: the middle one two levels tall, so searches descend a
/// level, and the batch's second insert starts from the first's tower.
const HEIGHTS: [usize; 3] = [1, 2, 1];

/// Writes [`WRITES`]: one `insert`, then an `insert_sorted` of the other two, publishing
/// after each call how many versions are in (the readers' lower bound).
fn write_all(list: &SkipList, done: &AtomicUsize) {
    let (k, s, v) = WRITES[0];
    list.insert(k, s, v);
    done.store(1, Release);
    list.insert_sorted(WRITES[1..].iter().copied());
    done.store(WRITES.len(), Release);
}

/// Searches racing the writer answer for a prefix of the writes. The targets: between
/// versions of one key, after every version of a key (a search that loaded the successor
/// link a second time would return the version the writer linked in between, the bug
/// `reads_see_exactly_their_snapshot_while_versions_are_added` was written for: this
/// test finds it too), and past a key that shares its 8-byte prefix.
#[test]
fn point_reads_see_a_prefix_of_the_writes_whole() {
    let seed = seed_for(&HEIGHTS);
    model("point reads", move || {
        let list = list_with_seed(super::INDEX_MIN_LEN, seed);
        let done = Arc::new(AtomicUsize::new(0));
        let reader = {
            let (list, done) = (Arc::clone(&list), Arc::clone(&done));
            thread::spawn(move || {
                let lo = done.load(Acquire);
                Read::Get(b"m", 3).check(&list, &WRITES, lo);
                Read::SeekForPrev(b"prefix00c", 0).check(&list, &WRITES, lo);
                Read::Seek(b"m", 0).check(&list, &WRITES, lo);
            })
        };
        write_all(&list, &done);
        reader.join().expect("reader");
        assert_eq!(list.len(), WRITES.len());
    });
}

/// Two cursors racing the writer, one from the first version forward, one from the last
/// backward (each step back a search).
#[test]
fn cursors_see_a_prefix_of_the_writes_in_order_both_ways() {
    let seed = seed_for(&HEIGHTS);
    model("cursors", move || {
        let list = list_with_seed(super::INDEX_MIN_LEN, seed);
        let done = Arc::new(AtomicUsize::new(0));
        let forward = {
            let (list, done) = (Arc::clone(&list), Arc::clone(&done));
            thread::spawn(move || {
                let lo = done.load(Acquire);
                let mut c = SkipCursor::new(Arc::clone(&list));
                c.seek_to_first();
                check_prefix("first", &WRITES, lo, at(&list, &c), |v| v.first());
                let mut seen = Vec::new();
                while let Some(v) = at(&list, &c) {
                    seen.push(v);
                    c.next();
                }
                check_walk("forward", &WRITES, lo, &seen);
            })
        };
        let backward = {
            let (list, done) = (Arc::clone(&list), Arc::clone(&done));
            thread::spawn(move || {
                let lo = done.load(Acquire);
                let mut c = SkipCursor::new(Arc::clone(&list));
                c.seek_to_last();
                check_prefix("last", &WRITES, lo, at(&list, &c), |v| v.last());
                let mut seen = Vec::new();
                while let Some(v) = at(&list, &c) {
                    seen.push(v);
                    c.prev();
                }
                seen.reverse();
                check_walk("backward", &WRITES, lo, &seen);
            })
        };
        write_all(&list, &done);
        forward.join().expect("forward reader");
        backward.join().expect("backward reader");
    });
}

/// The seek index test's versions: the first is in the list before the threads start.
/// All three share their 8-byte prefix, so a search through the index tells entries
/// apart by their keys (the tie search of `SeekIndex::rank`).
const INDEXED: [Version; 3] = [
    (b"prefix00a", 1, Some(b"a1")),
    (b"prefix00c", 3, Some(b"c3")),
    (b"prefix00b", 2, None),
];

/// What the index reader saw of the index before its searches, over all executions:
/// none, one exact for the list's length, one that is not.
static INDEX_SEEN: [Counter; 3] = [const { Counter::new(0) }; 3];
/// Executions in which the builder built because a search had asked for an index.
static BUILT_ON_REQUEST: Counter = Counter::new(0);

/// A builder publishes a seek index while the writer inserts and a reader searches
/// through whatever index it finds: the reader never reads an index, or a node through
/// it, that was not published to it whole, and finds every version inserted before its
/// search, whether the index it used holds the version, is exact for an older length,
/// or is absent.
#[test]
fn the_seek_index_is_published_whole_and_hides_no_version_inserted_before_a_search() {
    let seed = seed_for(&[1, 2, 1]);
    model("seek index", move || {
        // An index from one version: every search goes through the index when there is
        // one, and asks for one when there is none.
        let list = list_with_seed(1, seed);
        let (k, s, v) = INDEXED[0];
        list.insert(k, s, v);
        let done = Arc::new(AtomicUsize::new(1));
        let builder = {
            let list = Arc::clone(&list);
            thread::spawn(move || {
                // On the request of a search that found no index, or unasked.
                if list.build_index_if_wanted(&|| false) {
                    BUILT_ON_REQUEST.fetch_add(1, Relaxed);
                } else {
                    assert!(list.build_index(&|| false));
                }
            })
        };
        let reader = {
            let (list, done) = (Arc::clone(&list), Arc::clone(&done));
            thread::spawn(move || {
                let lo = done.load(Acquire);
                let seen = match list.index.load() {
                    None => 0,
                    Some(index) if index.is_exact_for(list.len()) => 1,
                    Some(_) => 2,
                };
                INDEX_SEEN[seen].fetch_add(1, Relaxed);
                for &(key, _, _) in &INDEXED[..lo] {
                    Read::Get(key, u64::MAX).check(&list, &INDEXED, lo);
                }
                Read::SeekForPrev(b"prefix00b", 2).check(&list, &INDEXED, lo);
            })
        };
        for (i, &(k, s, v)) in INDEXED.iter().enumerate().skip(1) {
            list.insert(k, s, v);
            done.store(i + 1, Release);
        }
        builder.join().expect("builder");
        reader.join().expect("reader");
        // Whatever the interleaving, a build after the inserts is exact.
        assert!(list.build_index(&|| false));
        let index = list.index.load().expect("an index");
        assert!(index.is_exact_for(INDEXED.len()));
    });
    let seen = INDEX_SEEN.each_ref().map(|n| n.load(Relaxed));
    let on_request = BUILT_ON_REQUEST.load(Relaxed);
    eprintln!(
        "index the reader found (none, exact, inexact): {seen:?}; built on request: {on_request}"
    );
    assert!(
        seen.iter().all(|&n| n > 0),
        "every case was explored: {seen:?}"
    );
    assert!(on_request > 0, "a build on request was explored");
}
