//! Replays every kept fuzz input (`fuzz/corpus/<target>/*`) through the same
//! `lightning_db::testing::fuzz` entry point the cargo-fuzz target calls, on the stable
//! toolchain: a crash once found and fixed stays fixed. An empty or absent corpus
//! directory passes.
//!
//! `cargo test -p lightning_db --test fuzz_corpus -- --ignored write_seed_corpus`
//! regenerates the seed inputs from a small real database.

use std::path::{Path, PathBuf};

use lightning_db::testing::format::Table;
use lightning_db::testing::fuzz as fuzzing;
use lightning_db::testing::SimFileSystem;
use lightning_db::{Database, LightningDbConfig, WriteBatch};

type Target = (&'static str, fn(&[u8]));

const TARGETS: [Target; 6] = [
    ("wal_record", fuzzing::wal_record),
    ("wal_segment", fuzzing::wal_segment),
    ("block", fuzzing::block),
    ("table", fuzzing::table),
    ("manifest_record", fuzzing::manifest_record),
    ("open_and_run", fuzzing::open_and_run),
];

fn corpus_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus")
}

fn inputs(target: &str) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(corpus_root().join(target)) else {
        return Vec::new();
    };
    let mut out: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .collect();
    out.sort();
    out
}

#[test]
fn every_kept_input_replays_without_panic() {
    for (target, run) in TARGETS {
        let files = inputs(target);
        for path in &files {
            let data = std::fs::read(path).expect("read corpus file");
            let outcome = std::panic::catch_unwind(|| run(&data));
            assert!(outcome.is_ok(), "{target}: {} panics", path.display());
        }
        eprintln!("{target}: {} inputs replayed", files.len());
    }
}

/// Builds a small real database and writes seed inputs for every target.
#[test]
#[ignore = "regenerates fuzz/corpus seeds; run by hand"]
fn write_seed_corpus() {
    let dir = PathBuf::from("/db");
    let fs = SimFileSystem::new();
    let config = LightningDbConfig {
        block_size: 512,
        ..LightningDbConfig::default()
    };
    let db = Database::open_with_fs(&dir, config, fs.handle()).expect("open");
    for i in 0..60u32 {
        db.put(
            format!("key{i:03}").as_bytes(),
            format!("value {i} ").repeat(3).as_bytes(),
        )
        .expect("put");
    }
    for i in (0..60u32).step_by(7) {
        db.delete(format!("key{i:03}").as_bytes()).expect("delete");
    }
    db.flush().expect("flush");
    for i in 40..70u32 {
        let v: Vec<u8> = (0..30).map(|j| (i * 31 + j * 17) as u8).collect();
        db.put(format!("key{i:03}").as_bytes(), &v).expect("put");
    }
    db.flush().expect("flush");
    let mut batch = WriteBatch::new();
    batch.put(b"batch-a", b"1").expect("put");
    batch.delete(b"key001").expect("delete");
    db.write_batch(&batch).expect("batch");
    db.put(b"log-key", b"log value").expect("put");
    db.close().expect("close");

    let names = fs.list(&dir);
    let read = |n: &str| fs.read_file(dir.join(n)).expect("read");
    let pick = |suffix: &str| -> Vec<String> {
        names
            .iter()
            .filter(|n| n.ends_with(suffix) || n.starts_with(suffix))
            .cloned()
            .collect()
    };
    let root = corpus_root();
    let write = |target: &str, name: &str, data: &[u8]| {
        let d = root.join(target);
        std::fs::create_dir_all(&d).expect("mkdir");
        std::fs::write(d.join(name), data).expect("write seed");
    };
    let log = pick(".log").pop().expect("log");
    let log_data = read(&log);
    write("wal_segment", "seed-log", &log_data);
    write("wal_record", "seed-log", &log_data);
    write("wal_record", "seed-records", &log_data[24..]);
    let manifest = pick("MANIFEST-").pop().expect("manifest");
    let manifest_data = read(&manifest);
    write("manifest_record", "seed-manifest", &manifest_data);
    write("manifest_record", "seed-current", &read("CURRENT"));
    let tables = pick(".sst");
    for t in &tables {
        let data = read(t);
        write("table", &format!("seed-{t}"), &data);
        let number: u64 = t.trim_end_matches(".sst").parse().expect("number");
        let table = Table::open(
            fs.handle(),
            &dir,
            number,
            std::sync::Arc::new(lightning_db::testing::format::BlockCache::new(1 << 20)),
        )
        .expect("table");
        for (i, e) in table.index().iter().take(3).enumerate() {
            let (off, len) = (e.offset as usize, e.len as usize);
            // On disk with its trailer, and as the payload plus compression byte.
            write(
                "block",
                &format!("seed-{t}-{i}-disk"),
                &data[off..off + len],
            );
            write(
                "block",
                &format!("seed-{t}-{i}-framed"),
                &data[off..off + len - 8],
            );
        }
    }
    let mut files: Vec<(String, Vec<u8>)> = vec![
        ("CURRENT".into(), read("CURRENT")),
        (manifest.clone(), manifest_data),
        (log.clone(), log_data),
    ];
    files.extend(tables.iter().map(|t| (t.clone(), read(t))));
    let refs: Vec<(&str, &[u8])> = files
        .iter()
        .map(|(n, d)| (n.as_str(), d.as_slice()))
        .collect();
    let ops: Vec<u8> = (0u8..90).map(|i| i.wrapping_mul(37)).collect();
    write(
        "open_and_run",
        "seed-db",
        &fuzzing::encode_open_and_run_input(&refs, &ops),
    );
    write(
        "open_and_run",
        "seed-empty-db",
        &fuzzing::encode_open_and_run_input(&[], &ops),
    );
}
