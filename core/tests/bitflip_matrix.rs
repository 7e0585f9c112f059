//! Bit-flip matrix (RELIABILITY.md §3): every header and footer bit, and a deterministic
//! sample of payload bits in every region of every file kind of a real database, is
//! flipped in turn in a copy of the database; the copy is then opened and read in full.
//!
//! Allowed per flip: a typed corruption error, or exactly the original data. The one
//! exception is the newest log's last record, whose damage is a torn tail: losing exactly
//! that batch is allowed too. Forbidden: wrong data, a panic, an `Io`/`Internal` error.
//!
//! `LIGHTNING_BITFLIP_ALL=1` flips every bit of every file (a long run).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use lightning_db::testing::format::BlockCache;
use lightning_db::testing::format::Table;
use lightning_db::testing::format::BLOCK_TRAILER_LEN;
use lightning_db::testing::format::FOOTER_LEN;
use lightning_db::testing::format::{FILE_HEADER_LEN, RECORD_HEADER_LEN};
use lightning_db::testing::SimFileSystem;
use lightning_db::{Database, DatabaseError, LightningDbConfig, WriteBatch};

type Model = BTreeMap<Vec<u8>, Vec<u8>>;
type Scan = Vec<(Vec<u8>, Vec<u8>)>;

/// Payload bits sampled per region in the default run.
const SAMPLES_PER_REGION: usize = 32;

/// SplitMix64: a small deterministic generator.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn dir() -> PathBuf {
    PathBuf::from("/db")
}

fn config() -> LightningDbConfig {
    // Default reliability settings (corruption_action Halt); small blocks so each table
    // has several data blocks.
    LightningDbConfig {
        block_size: 512,
        ..LightningDbConfig::default()
    }
}

fn key(i: usize) -> Vec<u8> {
    format!("key{i:05}").into_bytes()
}

/// The pristine database: its files, the model with every write, and the model without
/// the last batch (which is the newest log's last record).
struct Pristine {
    files: Vec<(String, Vec<u8>)>,
    full: Model,
    without_last: Model,
    probe_keys: Vec<Vec<u8>>,
}

fn build() -> Pristine {
    let fs = SimFileSystem::new();
    let db = Database::open_with_fs(dir(), config(), fs.handle()).expect("open");
    let mut model = Model::new();
    let mut rng = Rng(7);
    let put = |db: &Database, model: &mut Model, k: Vec<u8>, v: Vec<u8>| {
        db.put(&k, &v).expect("put");
        model.insert(k, v);
    };
    // Table 1: compressible values (LZ4 blocks).
    for i in 0..160 {
        let v = format!("compressible value {i:03} ").repeat(4).into_bytes();
        put(&db, &mut model, key(i), v);
    }
    db.flush().expect("flush 1");
    // Table 2: random values (stored uncompressed), overwrites and deletes.
    for i in 120..300 {
        let v: Vec<u8> = (0..40 + rng.below(60)).map(|_| rng.next() as u8).collect();
        put(&db, &mut model, key(i), v);
    }
    for i in (0..300).step_by(37) {
        db.delete(&key(i)).expect("delete");
        model.remove(&key(i));
    }
    db.flush().expect("flush 2");
    // Records left in the log: single puts, then one last batch.
    for i in 300..320 {
        put(
            &db,
            &mut model,
            key(i),
            format!("log value {i}").into_bytes(),
        );
    }
    db.delete(&key(5)).expect("delete");
    model.remove(&key(5));
    let without_last = model.clone();
    let mut batch = WriteBatch::new();
    for i in [1usize, 150, 310, 400, 401] {
        let v = format!("last batch {i}").into_bytes();
        batch.put(&key(i), &v).expect("batch put");
        model.insert(key(i), v);
    }
    batch.delete(&key(2)).expect("batch delete");
    model.remove(&key(2));
    db.write_batch(&batch).expect("write batch");
    db.close().expect("close");

    let files = fs
        .list(dir())
        .into_iter()
        .filter(|n| n != "LOCK")
        .map(|n| {
            let data = fs.read_file(dir().join(&n)).expect("read");
            (n, data)
        })
        .collect();
    let probe_keys = (0..410)
        .map(key)
        .chain([b"a".to_vec(), b"zz".to_vec()])
        .collect();
    Pristine {
        files,
        full: model,
        without_last,
        probe_keys,
    }
}

/// A byte range of one file and how densely to flip it.
#[derive(Debug, Clone)]
struct Region {
    what: String,
    start: usize,
    end: usize,
    every_bit: bool,
}

fn region(what: impl Into<String>, start: usize, end: usize, every_bit: bool) -> Region {
    Region {
        what: what.into(),
        start,
        end,
        every_bit,
    }
}

/// Regions of a log segment or manifest: header, then per record its length field,
/// length check, checksum and payload. Returns the regions and the last record's start.
fn record_file_regions(data: &[u8]) -> (Vec<Region>, usize) {
    let mut out = vec![region("file header", 0, FILE_HEADER_LEN, true)];
    let mut pos = FILE_HEADER_LEN;
    let mut last = pos;
    let mut n = 0;
    while pos + RECORD_HEADER_LEN <= data.len() {
        let len = u32::from_le_bytes(data[pos..pos + 4].try_into().expect("4 bytes")) as usize;
        let every = n < 2 || pos + RECORD_HEADER_LEN + len == data.len();
        out.push(region(format!("record {n} length"), pos, pos + 4, every));
        out.push(region(
            format!("record {n} length check"),
            pos + 4,
            pos + 8,
            every,
        ));
        out.push(region(
            format!("record {n} checksum"),
            pos + 8,
            pos + 16,
            every,
        ));
        out.push(region(
            format!("record {n} payload"),
            pos + RECORD_HEADER_LEN,
            pos + RECORD_HEADER_LEN + len,
            false,
        ));
        last = pos;
        pos += RECORD_HEADER_LEN + len;
        n += 1;
    }
    assert_eq!(pos, data.len(), "pristine record file parses to its end");
    (out, last)
}

/// Regions of a table: each data block's payload, compression byte and checksum, the
/// filter, index and properties blocks likewise, and the footer.
fn table_regions(name: &str, data: &[u8], compressed: &mut [usize; 2]) -> Vec<Region> {
    let fs = SimFileSystem::new();
    fs.handle().create_dir_all(&dir()).expect("mkdir");
    fs.write_file(dir().join(name), data).expect("write");
    let number: u64 = name.trim_end_matches(".sst").parse().expect("number");
    let table = Table::open(
        fs.handle(),
        &dir(),
        number,
        Arc::new(BlockCache::new(1 << 20)),
    )
    .expect("pristine table opens");
    let mut out = Vec::new();
    let framed = |out: &mut Vec<Region>, what: &str, off: usize, len: usize, all: bool| {
        let trailer = off + len - BLOCK_TRAILER_LEN;
        out.push(region(format!("{what} payload"), off, trailer, false));
        out.push(region(
            format!("{what} compression byte"),
            trailer,
            trailer + 1,
            true,
        ));
        out.push(region(
            format!("{what} checksum"),
            trailer + 1,
            off + len,
            all,
        ));
    };
    for (i, e) in table.index().iter().enumerate() {
        let (off, len) = (e.offset as usize, e.len as usize);
        compressed[usize::from(data[off + len - BLOCK_TRAILER_LEN] == 1)] += 1;
        framed(&mut out, &format!("data block {i}"), off, len, i == 0);
    }
    let footer = data.len() - FOOTER_LEN;
    let handle = |o: usize, l: usize| {
        (
            u64::from_le_bytes(data[footer + o..footer + o + 8].try_into().expect("8")) as usize,
            u32::from_le_bytes(data[footer + l..footer + l + 4].try_into().expect("4")) as usize,
        )
    };
    for (what, (o, l)) in [
        ("index block", handle(0, 8)),
        ("filter block", handle(12, 20)),
        ("properties block", handle(24, 32)),
    ] {
        framed(&mut out, what, o, l, true);
    }
    out.push(region("footer", footer, data.len(), true));
    out
}

/// Why a trial failed the matrix.
fn acceptable_error(e: &DatabaseError) -> bool {
    e.is_critical() && !matches!(e, DatabaseError::Internal { .. })
}

/// What one opened copy holds: every probe key and both scans, or the first error.
fn read_all(db: &Database, probe_keys: &[Vec<u8>]) -> Result<(Model, Scan), DatabaseError> {
    let mut got = Model::new();
    for k in probe_keys {
        if let Some(v) = db.get(k)? {
            got.insert(k.clone(), v);
        }
    }
    let forward: Vec<(Vec<u8>, Vec<u8>)> = db.iter().collect::<Result<_, _>>()?;
    let mut backward: Vec<(Vec<u8>, Vec<u8>)> = db.iter().rev().collect::<Result<_, _>>()?;
    backward.reverse();
    if forward != backward {
        // Never matches a model: the two directions must agree.
        let mut marker = forward;
        marker.insert(0, (b"<scans differ>".to_vec(), Vec::new()));
        return Ok((got, marker));
    }
    Ok((got, forward))
}

enum Outcome {
    Error(DatabaseError),
    Data(Model, Scan),
}

fn trial(p: &Pristine, file: usize, bit: usize) -> Outcome {
    let fs = SimFileSystem::new();
    fs.handle().create_dir_all(&dir()).expect("mkdir");
    for (i, (name, data)) in p.files.iter().enumerate() {
        if i == file {
            let mut d = data.clone();
            d[bit / 8] ^= 1 << (bit % 8);
            fs.write_file(dir().join(name), &d).expect("write");
        } else {
            fs.write_file(dir().join(name), data).expect("write");
        }
    }
    let db = match Database::open_with_fs(dir(), config(), fs.handle()) {
        Ok(db) => db,
        Err(e) => return Outcome::Error(e),
    };
    let r = read_all(&db, &p.probe_keys);
    let _ = db.close();
    match r {
        Ok((got, scan)) => Outcome::Data(got, scan),
        Err(e) => Outcome::Error(e),
    }
}

fn matches_model(m: &Model, got: &Model, scan: &[(Vec<u8>, Vec<u8>)]) -> bool {
    got == m
        && scan.len() == m.len()
        && scan
            .iter()
            .zip(m)
            .all(|((k, v), (mk, mv))| k == mk && v == mv)
}

#[test]
fn every_flip_is_reported_or_harmless() {
    let all = std::env::var("LIGHTNING_BITFLIP_ALL").is_ok_and(|v| v == "1");
    let p = build();
    let newest_log = p
        .files
        .iter()
        .enumerate()
        .filter(|(_, (n, _))| n.ends_with(".log"))
        .max_by_key(|(_, (n, _))| n.clone())
        .map(|(i, _)| i)
        .expect("a log segment");
    let tables = p.files.iter().filter(|(n, _)| n.ends_with(".sst")).count();
    assert!(
        tables >= 2,
        "at least two tables: {:?}",
        p.files.iter().map(|f| &f.0).collect::<Vec<_>>()
    );
    assert!(p.files.iter().any(|(n, _)| n.starts_with("MANIFEST-")));
    assert!(p.files.iter().any(|(n, _)| n == "CURRENT"));

    // (file index, bit, region description, may lose the last batch)
    let mut plan: Vec<(usize, usize, String, bool)> = Vec::new();
    let mut rng = Rng(0x5eed);
    let mut compressed = [0usize; 2];
    for (fi, (name, data)) in p.files.iter().enumerate() {
        let mut torn_from = usize::MAX;
        let regions = if name.ends_with(".sst") {
            table_regions(name, data, &mut compressed)
        } else if name.ends_with(".log") || name.starts_with("MANIFEST-") {
            let (r, last) = record_file_regions(data);
            if fi == newest_log {
                torn_from = last;
            }
            r
        } else {
            vec![region("whole file", 0, data.len(), true)]
        };
        if all {
            for bit in 0..data.len() * 8 {
                let r = regions
                    .iter()
                    .find(|r| (r.start..r.end).contains(&(bit / 8)))
                    .map_or("?", |r| r.what.as_str());
                plan.push((fi, bit, format!("{name} {r}"), bit / 8 >= torn_from));
            }
            continue;
        }
        for r in &regions {
            let bits = (r.end - r.start) * 8;
            let chosen: Vec<usize> = if r.every_bit || bits <= SAMPLES_PER_REGION {
                (0..bits).collect()
            } else {
                (0..SAMPLES_PER_REGION)
                    .map(|_| rng.below(bits as u64) as usize)
                    .collect()
            };
            for b in chosen {
                let bit = r.start * 8 + b;
                plan.push((fi, bit, format!("{name} {}", r.what), r.start >= torn_from));
            }
        }
    }
    assert!(
        compressed[0] > 0 && compressed[1] > 0,
        "both uncompressed and compressed data blocks: {compressed:?}"
    );

    let mut failures = Vec::new();
    let mut counts = [0usize; 3];
    for (fi, bit, what, may_lose_last) in &plan {
        let at = format!("{what}: byte {} bit {}", bit / 8, bit % 8);
        let outcome =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| trial(&p, *fi, *bit)));
        match outcome {
            Err(_) => failures.push(format!("{at}: panic")),
            Ok(Outcome::Error(e)) => {
                counts[0] += 1;
                if !acceptable_error(&e) {
                    failures.push(format!("{at}: untyped error {e:?}"));
                }
            }
            Ok(Outcome::Data(got, scan)) => {
                if matches_model(&p.full, &got, &scan) {
                    counts[1] += 1;
                } else if *may_lose_last && matches_model(&p.without_last, &got, &scan) {
                    counts[2] += 1;
                } else {
                    failures.push(format!(
                        "{at}: wrong data ({} keys read, {} expected)",
                        got.len(),
                        p.full.len()
                    ));
                }
            }
        }
    }
    eprintln!(
        "bit-flip matrix: {} flips over {} files: {} typed errors, {} identical, {} lost the torn last batch",
        plan.len(),
        p.files.len(),
        counts[0],
        counts[1],
        counts[2]
    );
    assert!(
        failures.is_empty(),
        "{} bad flips:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
