//! Kill -9 loop (RELIABILITY.md §1): a child process commits numbered batches under
//! `Durability::Sync` and reports each number on a pipe only after the commit returned;
//! the parent kills it with SIGKILL at a random moment, reopens the database and checks
//! that every acknowledged batch is there, every batch is all or nothing with exact
//! values, and what survived is a prefix of the history.
//!
//! Batch `n` writes four data keys and a marker (each value a hash of `n` and the key),
//! sets `head` to `n` and `slot{n % 8}` to `n`, and deletes one key of batch `n - 10`.
//! The whole database after recovery must therefore equal the state after exactly
//! `head` batches, which is computed here from `head` alone. The write buffer is the
//! smallest allowed, so flushes, compactions and recoveries are interrupted too.
//!
//! The child is this test binary re-executed with `LIGHTNING_CRASH_CHILD=<dir>` running
//! the ignored test `crash_child`. `LIGHTNING_CRASH_ROUNDS` sets the number of rounds
//! (default 20 for batches, 8 for the transaction variant).

use std::collections::BTreeMap;
use std::hash::{Hash, Hasher};
use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use lightning_db::{Database, DatabaseError, Durability, LightningDbConfig};
use rand::Rng;

const CHILD_ENV: &str = "LIGHTNING_CRASH_CHILD";
const MODE_ENV: &str = "LIGHTNING_CRASH_MODE";
const DATA_KEYS: usize = 4;
/// Batch `n` deletes data key 3 of batch `n - DELETE_LAG`.
const DELETE_LAG: u64 = 10;
const SLOTS: u64 = 8;

type State = BTreeMap<Vec<u8>, Vec<u8>>;

fn config() -> LightningDbConfig {
    LightningDbConfig {
        write_buffer_size: 64 * 1024,
        durability: Durability::Sync,
        block_size: 1024,
        ..LightningDbConfig::default()
    }
}

fn data_key(n: u64, j: usize) -> Vec<u8> {
    format!("b{n:010}/{j}").into_bytes()
}

fn marker_key(n: u64) -> Vec<u8> {
    format!("m{n:010}").into_bytes()
}

fn slot_key(n: u64) -> Vec<u8> {
    format!("slot{}", n % SLOTS).into_bytes()
}

/// A value derived from the batch number and the key: 40 to 700 bytes of hash output.
fn value_of(n: u64, key: &[u8]) -> Vec<u8> {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    (n, key).hash(&mut h);
    let seed = h.finish();
    let len = 40 + (seed % 660) as usize;
    let mut out = Vec::with_capacity(len);
    let mut x = seed;
    while out.len() < len {
        x = x
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    out
}

/// The operations of batch `n`: `(key, Some(value))` puts and `(key, None)` deletes.
fn batch_ops(n: u64) -> Vec<(Vec<u8>, Option<Vec<u8>>)> {
    let mut ops = Vec::with_capacity(DATA_KEYS + 4);
    for j in 0..DATA_KEYS {
        let k = data_key(n, j);
        let v = value_of(n, &k);
        ops.push((k, Some(v)));
    }
    let m = marker_key(n);
    let v = value_of(n, &m);
    ops.push((m, Some(v)));
    ops.push((b"head".to_vec(), Some(n.to_string().into_bytes())));
    ops.push((slot_key(n), Some(n.to_string().into_bytes())));
    if n > DELETE_LAG {
        ops.push((data_key(n - DELETE_LAG, DATA_KEYS - 1), None));
    }
    ops
}

/// The exact database contents after batches `1..=head`.
fn expected_state(head: u64) -> State {
    let mut s = State::new();
    for n in 1..=head {
        for (k, v) in batch_ops(n) {
            match v {
                Some(v) => s.insert(k, v),
                None => s.remove(&k),
            };
        }
    }
    s
}

fn read_head(db: &Database) -> Result<u64, DatabaseError> {
    Ok(db
        .get(b"head")?
        .map(|v| {
            String::from_utf8(v)
                .expect("head is text")
                .parse()
                .expect("head is a number")
        })
        .unwrap_or(0))
}

// ----- the child --------------------------------------------------------------------

fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    // A line of its own even if the test harness printed something without a newline.
    out.write_all(format!("\n{line}\n").as_bytes())
        .and_then(|()| out.flush())
        .expect("write to the parent's pipe");
}

fn run_child(dir: &Path, mode: &str) {
    let db = Database::open(dir, config()).expect("child: open");
    let mut n = read_head(&db).expect("child: read head") + 1;
    say(&format!("START {n}"));
    loop {
        match mode {
            "txn" => {
                let mut txn = db.begin_transaction().expect("child: begin");
                let head = txn.get(b"head").expect("child: txn get").map_or(0, |v| {
                    String::from_utf8(v)
                        .expect("utf8")
                        .parse::<u64>()
                        .expect("number")
                });
                assert_eq!(
                    head,
                    n - 1,
                    "child: the transaction sees the previous batch"
                );
                for (k, v) in batch_ops(n) {
                    match v {
                        Some(v) => txn.put(&k, &v).expect("child: txn put"),
                        None => txn.delete(&k).expect("child: txn delete"),
                    }
                }
                txn.commit().expect("child: commit");
            }
            _ => {
                let mut batch = db.new_batch();
                for (k, v) in batch_ops(n) {
                    match v {
                        Some(v) => batch.put(&k, &v).expect("child: batch put"),
                        None => batch.delete(&k).expect("child: batch delete"),
                    }
                }
                db.write_batch(&batch).expect("child: write_batch");
            }
        }
        say(&format!("ACK {n}"));
        n += 1;
    }
}

/// Not a test of its own: the body of the child process the kill -9 tests start.
#[test]
#[ignore = "child process of the kill -9 tests; runs only when they re-execute this binary"]
fn crash_child() {
    let Some(dir) = std::env::var_os(CHILD_ENV) else {
        return;
    };
    let mode = std::env::var(MODE_ENV).unwrap_or_default();
    run_child(Path::new(&dir), &mode);
}

// ----- the parent -------------------------------------------------------------------

struct Round {
    acked: Option<u64>,
    started: Option<u64>,
    stderr: String,
}

/// Starts a child on `dir`, kills it after `delay`, and returns what it acknowledged.
fn run_round(dir: &Path, mode: &str, delay: Duration) -> Round {
    let exe = std::env::current_exe().expect("current_exe");
    let mut child = Command::new(exe)
        .args([
            "crash_child",
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, dir)
        .env(MODE_ENV, mode)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn the child");
    let stdout = child.stdout.take().expect("stdout pipe");
    let mut stderr = child.stderr.take().expect("stderr pipe");
    let reader = std::thread::spawn(move || {
        let mut acked = None;
        let mut started = None;
        let mut r = BufReader::new(stdout);
        let mut line = Vec::new();
        loop {
            line.clear();
            match r.read_until(b'\n', &mut line) {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
            // A line cut by the kill has no newline: it was never fully reported.
            if line.last() != Some(&b'\n') {
                break;
            }
            let text = String::from_utf8_lossy(&line);
            if let Some(n) = text.trim().strip_prefix("ACK ") {
                acked = Some(n.parse::<u64>().expect("ACK number"));
            } else if let Some(n) = text.trim().strip_prefix("START ") {
                started = Some(n.parse::<u64>().expect("START number"));
            }
        }
        (acked, started)
    });
    let err_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    std::thread::sleep(delay);
    let early_exit = child.try_wait().expect("try_wait");
    // `Child::kill` sends SIGKILL on Unix.
    let _ = child.kill();
    let status = child.wait().expect("wait for the child");
    let (acked, started) = reader.join().expect("stdout reader");
    let stderr = err_reader.join().expect("stderr reader");
    if let Some(status) = early_exit {
        panic!("the child exited by itself ({status}) before the kill:\n{stderr}");
    }
    assert!(
        !status.success(),
        "the child must die of the kill, not exit: {status}\n{stderr}"
    );
    Round {
        acked,
        started,
        stderr,
    }
}

/// Opens the database after a kill and checks it against the history.
fn verify(dir: &Path, previous_head: u64, round: &Round, round_no: usize) -> u64 {
    let db = Database::open(dir, config()).unwrap_or_else(|e| {
        panic!(
            "round {round_no}: reopening after the kill failed: {e} (code {})\nchild stderr:\n{}",
            e.error_code(),
            round.stderr
        )
    });
    let head = read_head(&db).expect("read head");
    assert!(
        head >= previous_head,
        "round {round_no}: head went back from {previous_head} to {head}"
    );
    if let Some(acked) = round.acked {
        assert!(
            head >= acked,
            "round {round_no}: batch {acked} was acknowledged but only {head} survived"
        );
    }
    if let Some(started) = round.started {
        assert_eq!(
            started,
            previous_head + 1,
            "round {round_no}: the child started from the wrong batch"
        );
    }
    // The whole database, by a forward scan, equals the state after exactly `head` batches:
    // every batch up to `head` whole and exact, nothing of any later batch.
    let expected = expected_state(head);
    let mut actual = State::new();
    for item in db.iter() {
        let (k, v) = item.unwrap_or_else(|e| panic!("round {round_no}: scan failed: {e}"));
        actual.insert(k, v);
    }
    if actual != expected {
        let missing: Vec<String> = expected
            .iter()
            .filter(|(k, v)| actual.get(*k) != Some(*v))
            .take(5)
            .map(|(k, _)| String::from_utf8_lossy(k).into_owned())
            .collect();
        let extra: Vec<String> = actual
            .iter()
            .filter(|(k, v)| expected.get(*k) != Some(*v))
            .take(5)
            .map(|(k, _)| String::from_utf8_lossy(k).into_owned())
            .collect();
        panic!(
            "round {round_no}: state differs from the history up to batch {head}: \
             missing or wrong {missing:?}, unexpected {extra:?}"
        );
    }
    // Point reads of the newest batches and of the next ones (which must be absent).
    let from = head.saturating_sub(2 * DELETE_LAG).max(1);
    for n in from..=head + 3 {
        for (k, _) in batch_ops(n) {
            let got = db.get(&k).expect("get");
            assert_eq!(
                got.as_ref(),
                expected.get(&k),
                "round {round_no}: get {}",
                String::from_utf8_lossy(&k)
            );
        }
    }
    // Reverse iteration agrees on where the history ends.
    let last_marker = db
        .scan_prefix(b"m")
        .next_back()
        .transpose()
        .expect("reverse scan")
        .map(|(k, _)| k);
    assert_eq!(
        last_marker,
        (head > 0).then(|| marker_key(head)),
        "round {round_no}"
    );
    db.close().expect("close");
    head
}

fn rounds(default: usize) -> usize {
    std::env::var("LIGHTNING_CRASH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn kill_loop(mode: &str, default_rounds: usize) {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut rng = rand::thread_rng();
    let mut head = 0;
    let mut acked_total = 0;
    for round_no in 0..rounds(default_rounds) {
        let delay = Duration::from_millis(rng.gen_range(1..=500));
        let round = run_round(dir.path(), mode, delay);
        if round.acked.is_some() {
            acked_total += 1;
        }
        head = verify(dir.path(), head, &round, round_no);
    }
    // Rounds killed before the first acknowledgement prove less; most must get further.
    assert!(
        acked_total > 0 || rounds(default_rounds) < 4,
        "no round acknowledged a single batch"
    );
    let db = Database::open(dir.path(), config()).expect("final open");
    let stats = db.stats();
    assert_eq!(read_head(&db).expect("head"), head);
    eprintln!(
        "kill -9 loop ({mode}): {head} batches survived; last open: {} table files, \
         recovery {:?}",
        stats.table_files, stats.recovery
    );
}

/// Batches committed with `write_batch` survive kill -9 at random moments, all or nothing.
#[test]
fn kill9_batches_survive_and_stay_atomic() {
    kill_loop("batch", 20);
}

/// The same with each batch committed as a transaction that first reads `head`.
#[test]
fn kill9_transactions_survive_and_stay_atomic() {
    kill_loop("txn", 8);
}
