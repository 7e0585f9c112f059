//! Kill -9 during migrations: a child process migrates a copy of the format 1 fixture back
//! and forth (to the newest format with XXH64 files, back to format 1 with CRC32 files:
//! two steps each way) as fast as it can; the parent kills it with SIGKILL at a random
//! instant of a migration, then checks the database: the format the manager detects
//! without opening it is the one it opens in, every pair of the fixture is there and
//! exact, every log segment is of that format's log version, and the directory holds
//! only the tables the live manifest names (no table of the other side of a switch).
//! The parent then writes a pair, overwrites one and deletes one (so every migration has
//! a log to carry into a table) and the next round migrates on from there.
//!
//! The instant: the parent waits for 0 to 2 migrations to finish, then a random part of
//! the time one takes (as the child measured it), so kills land in every phase of both
//! steps, whatever the machine's speed. The phase each kill landed in is printed.
//!
//! The child is this test binary re-executed with `LIGHTNING_MIGRATE_CHILD=<dir>` running
//! the ignored test `migrate_child`. `LIGHTNING_CRASH_ROUNDS` sets the rounds (default 16).

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use lightning_db::{
    ChecksumAlgorithm, Database, DatabaseVersion, LightningDbConfig, MigrationManager,
};
use rand::Rng;

const CHILD_ENV: &str = "LIGHTNING_MIGRATE_CHILD";
/// How long the parent waits for a line from the child before it calls the child stuck.
const CHILD_TIMEOUT: Duration = Duration::from_secs(60);

fn fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/formats/v1")
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
        .collect()
}

fn contents() -> BTreeMap<Vec<u8>, Vec<u8>> {
    std::fs::read_to_string(fixture_dir().join("contents.txt"))
        .expect("list")
        .lines()
        .map(|l| {
            let (k, v) = l.split_once(' ').expect("two fields");
            (unhex(k), unhex(v))
        })
        .collect()
}

// ----- the child --------------------------------------------------------------------

fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    // A line of its own even if the test harness printed something without a newline.
    out.write_all(format!("\n{line}\n").as_bytes())
        .and_then(|()| out.flush())
        .expect("write to the parent's pipe");
}

/// Not a test of its own: the body of the child process the kill -9 test starts.
#[test]
#[ignore = "child process of the migration kill -9 test; runs only when it re-executes this binary"]
fn migrate_child() {
    let Some(dir) = std::env::var_os(CHILD_ENV) else {
        return;
    };
    let dir = PathBuf::from(dir);
    let m = MigrationManager::new().on_progress(|p| {
        say(&format!(
            "PHASE {}/{} {:?}",
            p.step_index + 1,
            p.step_count,
            p.phase
        ));
    });
    say("READY");
    loop {
        let started = Instant::now();
        let now = m.detect_version(&dir).expect("child: detect");
        let (to, checksum) = if now == DatabaseVersion::V1 {
            (DatabaseVersion::Latest, ChecksumAlgorithm::Xxh64)
        } else {
            (DatabaseVersion::V1, ChecksumAlgorithm::Crc32)
        };
        let plan = m
            .create_migration_plan_for(&dir, to)
            .expect("child: plan")
            .with_checksum(checksum);
        match m.execute_migration_blocking(plan) {
            Ok(r) => say(&format!(
                "MIGRATED {} {}",
                r.to.resolve(),
                started.elapsed().as_micros()
            )),
            Err(e) => {
                say(&format!("FAILED {e}"));
                return;
            }
        }
    }
}

// ----- the parent -------------------------------------------------------------------

/// The child's lines, as they come.
fn lines_of(stdout: std::process::ChildStdout) -> Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if !line.is_empty() && tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// What the child said during a round.
#[derive(Default)]
struct Heard {
    migrations: usize,
    micros: Vec<u64>,
    last_phase: Option<String>,
}

impl Heard {
    fn take(&mut self, line: &str) {
        if let Some(rest) = line.strip_prefix("MIGRATED ") {
            self.migrations += 1;
            self.last_phase = None;
            if let Some(us) = rest.split(' ').nth(1).and_then(|s| s.parse().ok()) {
                self.micros.push(us);
            }
        } else if let Some(phase) = line.strip_prefix("PHASE ") {
            self.last_phase = Some(phase.to_string());
        } else if let Some(why) = line.strip_prefix("FAILED ") {
            panic!("the child's migration failed: {why}");
        }
    }

    /// Waits for a line and takes it; false once the child has gone quiet for good.
    fn wait(&mut self, rx: &Receiver<String>, until: &str) -> bool {
        match rx.recv_timeout(CHILD_TIMEOUT) {
            Ok(line) => {
                self.take(&line);
                true
            }
            Err(RecvTimeoutError::Timeout) => {
                panic!("the child said nothing for a minute ({until})")
            }
            Err(RecvTimeoutError::Disconnected) => false,
        }
    }
}

fn log_versions(dir: &Path) -> Vec<u16> {
    std::fs::read_dir(dir)
        .expect("list")
        .filter_map(|e| {
            let e = e.expect("entry");
            let name = e.file_name().to_string_lossy().into_owned();
            name.ends_with(".log").then(|| {
                let d = std::fs::read(e.path()).expect("read");
                u16::from_le_bytes([d[4], d[5]])
            })
        })
        .collect()
}

fn table_names(dir: &Path) -> BTreeSet<String> {
    std::fs::read_dir(dir)
        .expect("list")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".sst"))
        .collect()
}

#[test]
fn kill9_during_migrations_leaves_the_old_or_the_new_database() {
    let rounds: usize = std::env::var("LIGHTNING_CRASH_ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(16);
    let mut expected = contents();
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("db");
    std::fs::create_dir(&dir).expect("mkdir");
    for e in std::fs::read_dir(fixture_dir().join("db")).expect("fixture") {
        let e = e.expect("entry");
        std::fs::copy(e.path(), dir.join(e.file_name())).expect("copy");
    }
    let mut rng = rand::thread_rng();
    // A migration's duration as the child measured it (a guess until it has).
    let mut typical = Duration::from_millis(20);
    let mut migrations = 0usize;
    let mut versions_seen = BTreeSet::new();
    let mut phases_hit = BTreeSet::new();
    for round in 0..rounds {
        let ctx = format!("round {round}");
        let mut child = Command::new(std::env::current_exe().expect("exe"))
            .args([
                "migrate_child",
                "--exact",
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_ENV, &dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn child");
        let rx = lines_of(child.stdout.take().expect("stdout"));
        let mut heard = Heard::default();
        loop {
            let line = rx
                .recv_timeout(CHILD_TIMEOUT)
                .unwrap_or_else(|e| panic!("{ctx}: the child never got ready: {e}"));
            if line == "READY" {
                break;
            }
        }
        let finish_first = rng.gen_range(0..=2usize);
        while heard.migrations < finish_first {
            assert!(heard.wait(&rx, "migrating"), "{ctx}: the child exited");
        }
        let delay = typical.mul_f64(rng.gen_range(0.0..1.0));
        let deadline = Instant::now() + delay;
        // Keep listening while waiting, so the phase the kill lands in is known.
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match rx.recv_timeout(left) {
                Ok(line) => heard.take(&line),
                Err(RecvTimeoutError::Timeout) => break,
                Err(RecvTimeoutError::Disconnected) => panic!("{ctx}: the child exited"),
            }
        }
        // `Child::kill` sends SIGKILL on Unix.
        child.kill().expect("kill -9");
        let status = child.wait().expect("wait");
        assert!(!status.success(), "{ctx}: the child died of the kill");
        // Lines written before the kill may still be in the pipe.
        while let Ok(line) = rx.recv_timeout(Duration::from_millis(200)) {
            heard.take(&line);
        }
        migrations += heard.migrations;
        if let Some(&us) = heard.micros.iter().max() {
            typical = Duration::from_micros(us);
        }
        phases_hit.insert(
            heard
                .last_phase
                .clone()
                .unwrap_or_else(|| "between migrations".to_string()),
        );

        // What the manager detects without opening is what the open settles on.
        let detected = MigrationManager::new()
            .detect_version(&dir)
            .unwrap_or_else(|e| panic!("{ctx}: detect after kill -9: {e}"));
        let db = Database::open(&dir, LightningDbConfig::default())
            .unwrap_or_else(|e| panic!("{ctx}: open after kill -9: {e}"));
        let version = db.format_version();
        assert_eq!(version, detected, "{ctx}");
        versions_seen.insert(version.number());
        let scanned: BTreeMap<Vec<u8>, Vec<u8>> = db
            .iter()
            .map(|kv| kv.unwrap_or_else(|e| panic!("{ctx}: scan: {e}")))
            .collect();
        assert!(scanned == expected, "{ctx}: contents differ");
        for (k, v) in expected.iter().step_by(7) {
            assert_eq!(db.get(k).expect("get").as_ref(), Some(v), "{ctx}");
        }
        // Something for the next migration to carry out of the log: a new pair, an
        // overwrite and a delete, in the format the database is in.
        let new_key = format!("round-{round:03}").into_bytes();
        db.put(&new_key, &new_key).expect("put");
        expected.insert(new_key.clone(), new_key);
        let some = expected
            .keys()
            .nth(round % expected.len())
            .cloned()
            .expect("a key");
        db.put(&some, b"overwritten").expect("overwrite");
        expected.insert(some, b"overwritten".to_vec());
        let gone = expected
            .keys()
            .nth((round * 7 + 3) % expected.len())
            .cloned()
            .expect("a key");
        db.delete(&gone).expect("delete");
        expected.remove(&gone);
        db.close().expect("close");

        // One format: every segment of its log version, FORMAT recording it.
        let want = version.log_format_version();
        let logs = log_versions(&dir);
        assert!(
            !logs.is_empty() && logs.iter().all(|&v| v == want),
            "{ctx}: {version} with logs {logs:?}"
        );
        let format = std::fs::read(dir.join("FORMAT")).expect("FORMAT");
        assert_eq!(
            u32::from_le_bytes([format[8], format[9], format[10], format[11]]),
            version.number(),
            "{ctx}"
        );
        assert!(
            !dir.join("FORMAT.next").exists(),
            "{ctx}: a switch left unsettled"
        );
        // No mix: the tables on disk are exactly the live ones.
        let info = MigrationManager::new().inspect(&dir).expect("inspect");
        let live: BTreeSet<String> = info
            .levels
            .iter()
            .flatten()
            .map(|t| t.name.clone())
            .collect();
        assert_eq!(
            table_names(&dir),
            live,
            "{ctx}: tables beside the live ones"
        );
    }
    println!("{migrations} migrations in {rounds} rounds; kills landed in: {phases_hit:?}");
    assert!(migrations > 0, "the child migrated at least once");
    assert!(
        versions_seen.len() == 2 || rounds < 6,
        "both formats seen after kills: {versions_seen:?}"
    );
}
