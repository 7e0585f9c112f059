//! Golden files: the bytes this version writes for a fixed input (table files, log
//! segments, manifest, `CURRENT`) compared with the bytes committed under
//! `tests/fixtures/golden/`. A refactor of the writers or codecs must leave every byte as
//! it was; a deliberate format change updates the files (and the format version) in the
//! same commit:
//!
//! ```sh
//! LIGHTNING_BLESS_GOLDEN=1 cargo test -p lightning_db --test golden_format
//! ```
//!
//! Everything here is deterministic: one thread writes, flushes are explicit, the write
//! buffer is too large to fill on its own, and no file holds a time or a random number.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use lightning_db::{ChecksumAlgorithm, Database, Durability, LightningDbConfig, WriteBatch};

/// One fixed configuration whose files are kept.
struct Variant {
    name: &'static str,
    checksum: ChecksumAlgorithm,
    compression: bool,
}

const VARIANTS: [Variant; 3] = [
    Variant {
        name: "xxh64-lz4",
        checksum: ChecksumAlgorithm::Xxh64,
        compression: true,
    },
    Variant {
        name: "crc32-plain",
        checksum: ChecksumAlgorithm::Crc32,
        compression: false,
    },
    Variant {
        name: "blake3-lz4",
        checksum: ChecksumAlgorithm::Blake3,
        compression: true,
    },
];

fn golden_dir(variant: &Variant) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/golden")
        .join(variant.name)
}

/// Writes the fixed history: two flushed tables (one with overwrites and deletes), a full
/// compaction, one more flushed table with tombstones, then writes left in the log.
fn write_history(dir: &Path, variant: &Variant) -> Result<(), lightning_db::DatabaseError> {
    let config = LightningDbConfig {
        checksum_algorithm: variant.checksum,
        compression_enabled: variant.compression,
        durability: Durability::NoSync,
        write_buffer_size: 64 << 20,
        block_size: 1024,
        ..LightningDbConfig::default()
    };
    let db = Database::open(dir, config)?;
    for i in 0..600u32 {
        // Compressible values, so LZ4 blocks really are compressed.
        let value = format!("value-{i:05}-").repeat(1 + (i % 7) as usize);
        db.put(format!("key-{i:05}").as_bytes(), value.as_bytes())?;
    }
    db.flush()?;
    let mut batch = WriteBatch::new();
    for i in (0..600u32).step_by(3) {
        batch.delete(format!("key-{i:05}").as_bytes())?;
    }
    for i in (1..600u32).step_by(5) {
        batch.put(format!("key-{i:05}").as_bytes(), b"overwritten")?;
    }
    db.write_batch(&batch)?;
    db.flush()?;
    db.compact()?;
    // A level-0 table with tombstones and overwrites on top of the compacted one.
    let mut batch = WriteBatch::new();
    for i in (2..600u32).step_by(11) {
        batch.delete(format!("key-{i:05}").as_bytes())?;
    }
    batch.put(b"key-00004", b"rewritten after compaction")?;
    db.write_batch(&batch)?;
    db.flush()?;
    for i in 0..50u32 {
        db.put(format!("late-{i:03}").as_bytes(), b"in the log only")?;
    }
    db.delete(b"key-00001")?;
    db.close()
}

/// Every file the database left, by name, except the lock file (empty, and held by the
/// operating system rather than written by the engine).
fn files_of(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    for entry in std::fs::read_dir(dir).expect("list") {
        let entry = entry.expect("entry");
        let name = entry.file_name().to_string_lossy().into_owned();
        if name == "LOCK" || entry.path().is_dir() {
            continue;
        }
        out.insert(name, std::fs::read(entry.path()).expect("read"));
    }
    out
}

fn first_difference(a: &[u8], b: &[u8]) -> String {
    match a.iter().zip(b).position(|(x, y)| x != y) {
        Some(i) => format!("first differing byte at offset {i}"),
        None => format!("lengths differ: {} against {}", a.len(), b.len()),
    }
}

#[test]
fn the_same_input_writes_the_same_bytes_twice() {
    // Without this, a golden comparison could fail for reasons that are not format
    // changes (a time, a random id); with it, the comparison below means something.
    for variant in &VARIANTS {
        let a = tempfile::tempdir().expect("tempdir");
        let b = tempfile::tempdir().expect("tempdir");
        write_history(a.path(), variant).expect("first run");
        write_history(b.path(), variant).expect("second run");
        let (fa, fb) = (files_of(a.path()), files_of(b.path()));
        assert_eq!(
            fa.keys().collect::<Vec<_>>(),
            fb.keys().collect::<Vec<_>>(),
            "{}: different files",
            variant.name
        );
        for (name, bytes) in &fa {
            assert!(
                bytes == &fb[name],
                "{}: {name} differs between two runs: {}",
                variant.name,
                first_difference(bytes, &fb[name])
            );
        }
    }
}

#[test]
fn files_match_the_committed_golden_bytes() {
    let bless = std::env::var_os("LIGHTNING_BLESS_GOLDEN").is_some();
    for variant in &VARIANTS {
        let dir = tempfile::tempdir().expect("tempdir");
        write_history(dir.path(), variant).expect("write");
        let written = files_of(dir.path());
        let golden = golden_dir(variant);
        if bless {
            let _ = std::fs::remove_dir_all(&golden);
            std::fs::create_dir_all(&golden).expect("create golden dir");
            for (name, bytes) in &written {
                std::fs::write(golden.join(name), bytes).expect("write golden");
            }
            continue;
        }
        let kept = files_of(&golden);
        assert!(
            !kept.is_empty(),
            "no golden files in {}; run with LIGHTNING_BLESS_GOLDEN=1 once",
            golden.display()
        );
        assert_eq!(
            written.keys().collect::<Vec<_>>(),
            kept.keys().collect::<Vec<_>>(),
            "{}: the set of files changed",
            variant.name
        );
        for (name, bytes) in &written {
            assert!(
                bytes == &kept[name],
                "{}: {name} is not byte-identical to its golden copy ({}); if the format \
                 changed on purpose, bump its version and bless the files",
                variant.name,
                first_difference(bytes, &kept[name])
            );
        }
        // And the golden files still open with every key where it belongs.
        let copy = tempfile::tempdir().expect("tempdir");
        for (name, bytes) in &kept {
            std::fs::write(copy.path().join(name), bytes).expect("copy");
        }
        let db = Database::open(copy.path(), LightningDbConfig::default()).expect("open golden");
        assert_eq!(db.get(b"key-00000").expect("get"), None, "deleted");
        assert_eq!(db.get(b"key-00001").expect("get"), None, "deleted last");
        assert_eq!(
            db.get(b"key-00006").expect("get").as_deref(),
            Some(&b"overwritten"[..])
        );
        assert_eq!(
            db.get(b"late-049").expect("get").as_deref(),
            Some(&b"in the log only"[..])
        );
        assert_eq!(
            db.get(b"key-00002").expect("get"),
            None,
            "deleted in level 0"
        );
        assert_eq!(
            db.get(b"key-00004").expect("get").as_deref(),
            Some(&b"rewritten after compaction"[..])
        );
        let expected_value = "value-00005-".repeat(6);
        assert_eq!(
            db.get(b"key-00005").expect("get").as_deref(),
            Some(expected_value.as_bytes())
        );
        let mut live: std::collections::BTreeSet<String> =
            (0..600u32).map(|i| format!("key-{i:05}")).collect();
        for i in (0..600u32).step_by(3) {
            live.remove(&format!("key-{i:05}"));
        }
        // The same batch overwrote every fifth key from 1, after its deletes.
        live.extend((1..600u32).step_by(5).map(|i| format!("key-{i:05}")));
        for i in (2..600u32).step_by(11) {
            live.remove(&format!("key-{i:05}"));
        }
        live.remove("key-00001");
        live.extend((0..50u32).map(|i| format!("late-{i:03}")));
        let keys: Vec<String> = db
            .iter()
            .map(|kv| String::from_utf8(kv.expect("scan").0).expect("utf-8"))
            .collect();
        assert_eq!(keys, live.into_iter().collect::<Vec<_>>());
    }
}
