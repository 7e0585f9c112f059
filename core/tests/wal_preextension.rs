//! The log's pre-extension (format version 2, see `storage::wal`): the active segment is
//! filled with zeros ahead of its records so that durable commits sync data only.
//!
//! * a crash leaves the newest segment ending in those zeros: every corruption action at
//!   every validation level opens it as a clean end of the log, with nothing reported as
//!   torn, repaired or quarantined, and the integrity checker finds no problem;
//! * a segment that stopped being the active one (memtable switch, clean close) holds
//!   exactly its records, so only the newest segment can ever end in zeros;
//! * `stats().wal_bytes` counts the records, not the zeros.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use lightning_db::fs::{FileSystem, StdFileSystem};
use lightning_db::testing::format::{replay_segment, SegmentReplay, PREEXTEND_ALIGN};
use lightning_db::testing::{PowerCutPolicy, SimFileSystem};
use lightning_db::{
    CorruptionAction, Database, Durability, LightningDbConfig, SecurityConfig, ValidationLevel,
};
use lightning_db::{IntegrityValidator, ValidationConfig};

const DB: &str = "/sim/db";

fn key(i: usize) -> Vec<u8> {
    format!("key{i:05}").into_bytes()
}

fn value(i: usize) -> Vec<u8> {
    format!("value {i} ").repeat(8).into_bytes()
}

fn config(action: CorruptionAction, level: ValidationLevel) -> LightningDbConfig {
    LightningDbConfig {
        durability: Durability::Sync,
        integrity_validation_level: level,
        security: SecurityConfig {
            corruption_action: action,
            ..Default::default()
        },
        ..Default::default()
    }
}

fn replay(fs: &dyn FileSystem, path: &Path, is_last: bool) -> SegmentReplay {
    replay_segment(fs, path, is_last, |_, _| Ok(()))
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn logs(names: &[String]) -> Vec<String> {
    let mut v: Vec<String> = names
        .iter()
        .filter(|n| n.ends_with(".log"))
        .cloned()
        .collect();
    v.sort();
    v
}

#[test]
fn a_crashed_preextended_log_opens_cleanly_under_every_action_and_level() {
    // The crash image: synced puts, then the power goes with the log still pre-extended.
    let sim = SimFileSystem::new();
    let db = Database::open_with_fs(
        DB,
        config(CorruptionAction::Halt, ValidationLevel::Standard),
        sim.handle(),
    )
    .expect("open");
    let n = 400;
    for i in 0..n {
        db.put(&key(i), &value(i)).expect("put");
    }
    sim.power_cut_with(7, PowerCutPolicy::default());
    drop(db);
    let dir = PathBuf::from(DB);
    let names = sim.list(&dir);
    let newest = logs(&names).pop().expect("a log segment");
    let log = sim.read_file(dir.join(&newest)).expect("log");
    assert_eq!(
        log.len() as u64 % PREEXTEND_ALIGN,
        0,
        "ends on the writer's boundary"
    );
    let r = replay(sim.handle().as_ref(), &dir.join(&newest), true);
    assert!(
        r.zero_tail_bytes > 0,
        "the image ends in unused zeros: {r:?}"
    );
    assert_eq!(r.torn_tail_bytes, 0);
    let files: Vec<(String, Vec<u8>)> = names
        .iter()
        .filter_map(|n| Some((n.clone(), sim.read_file(dir.join(n))?)))
        .collect();

    let image = || {
        let sim = SimFileSystem::new();
        sim.handle().create_dir_all(&dir).expect("mkdir");
        for (name, data) in &files {
            sim.write_file(dir.join(name), data).expect("write");
        }
        sim
    };

    // The offline checker: unused zeros are no problem.
    let check = IntegrityValidator::for_path_with_fs(
        ValidationConfig {
            validation_level: ValidationLevel::Paranoid,
            ..Default::default()
        },
        &dir,
        image().handle(),
    )
    .validate()
    .expect("validate");
    assert!(check.is_clean(), "{check:#?}");

    for action in [
        CorruptionAction::Log,
        CorruptionAction::Halt,
        CorruptionAction::Repair,
        CorruptionAction::Quarantine,
    ] {
        for level in [
            ValidationLevel::Basic,
            ValidationLevel::Standard,
            ValidationLevel::Comprehensive,
            ValidationLevel::Paranoid,
        ] {
            let ctx = format!("{action:?} {level:?}");
            let sim = image();
            let db = Database::open_with_fs(DB, config(action, level), sim.handle())
                .unwrap_or_else(|e| panic!("{ctx}: {e}"));
            for i in 0..n {
                assert_eq!(db.get(&key(i)).expect("get"), Some(value(i)), "{ctx}");
            }
            let rec = db.stats().recovery;
            assert_eq!(rec.wal_records_replayed, n as u64, "{ctx}");
            assert_eq!(
                rec.torn_tail_bytes_truncated, 0,
                "{ctx}: zeros are not torn"
            );
            assert_eq!(rec.torn_tail_segment, None, "{ctx}");
            db.close().expect("close");
            let after = sim.list(&dir);
            assert!(
                after.iter().all(|n| !n.contains("quarantine")),
                "{ctx}: nothing set aside: {after:?}"
            );
        }
    }
}

#[test]
fn only_the_active_segment_ever_holds_zeros() {
    let dir = tempfile::tempdir().expect("tempdir");
    let fs: Arc<dyn FileSystem> = Arc::new(StdFileSystem);
    let cfg = LightningDbConfig {
        write_buffer_size: 64 * 1024,
        durability: Durability::Sync,
        ..Default::default()
    };
    let db = Database::open(dir.path(), cfg.clone()).expect("open");
    let n = 1500;
    let mut checked_older = 0;
    for i in 0..n {
        db.put(&key(i), &value(i)).expect("put");
        // While open: every segment but the newest was trimmed to its records before the
        // next one was created. (They live only until their memtable is flushed, so this
        // looks after every put; flushed ones may vanish under our feet: skip those.)
        let names = fs.list_dir(dir.path()).expect("list");
        let mut segments = logs(&names);
        let newest = segments.pop().expect("a log segment");
        for name in segments {
            let path = dir.path().join(&name);
            let Ok(data) = std::fs::read(&path) else {
                continue;
            };
            let Ok(r) = replay_segment(fs.as_ref(), &path, false, |_, _| Ok(())) else {
                continue; // removed between the read and the replay
            };
            assert_eq!(r.zero_tail_bytes, 0, "{name}");
            assert_eq!(r.valid_len, data.len() as u64, "{name}: trimmed");
            checked_older += 1;
        }
        let path = dir.path().join(&newest);
        let size = std::fs::metadata(&path).expect("stat").len();
        let r = replay(fs.as_ref(), &path, true);
        assert_eq!(r.torn_tail_bytes, 0);
        assert_eq!(r.valid_len + r.zero_tail_bytes, size);
        assert_eq!(
            db.stats().wal_bytes,
            r.valid_len,
            "wal_bytes counts records"
        );
    }
    assert!(checked_older > 0, "the memtable switched at least once");

    // A copy taken while open is what a crash leaves: it opens with nothing torn.
    let copy = tempfile::tempdir().expect("tempdir");
    for entry in std::fs::read_dir(dir.path()).expect("read_dir") {
        let entry = entry.expect("entry");
        if entry.file_type().expect("type").is_file() {
            std::fs::copy(entry.path(), copy.path().join(entry.file_name())).expect("copy");
        }
    }
    let crashed = Database::open(copy.path(), cfg.clone()).expect("open the copy");
    assert_eq!(crashed.stats().recovery.torn_tail_bytes_truncated, 0);
    for i in (0..n).step_by(97) {
        assert_eq!(crashed.get(&key(i)).expect("get"), Some(value(i)));
    }
    crashed.close().expect("close");

    // A clean close trims the newest segment too.
    db.close().expect("close");
    let names = fs.list_dir(dir.path()).expect("list");
    for name in logs(&names) {
        let path = dir.path().join(&name);
        let size = std::fs::metadata(&path).expect("stat").len();
        let r = replay(fs.as_ref(), &path, false);
        assert_eq!((r.valid_len, r.zero_tail_bytes), (size, 0), "{name}");
    }
    let db = Database::open(dir.path(), cfg).expect("reopen");
    assert_eq!(db.stats().recovery.torn_tail_bytes_truncated, 0);
    assert_eq!(db.iter().count(), n);
}
