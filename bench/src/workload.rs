//! The workload of the public redb benchmark, run on one engine: bulk load, individual and
//! batched durable writes, random and range reads (twice each), multi-threaded reads,
//! removals, size and compaction; then sequential batched writes.

use std::path::Path;
use std::str::FromStr;
use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::data::Data;
use crate::engines::{Engine, Op, Result};

/// Individual durable commits, one put each.
pub const INDIVIDUAL_WRITES: usize = 1_000;
/// Batches in the batch-write phase, each one durable commit.
pub const BATCHES: usize = 100;
/// Writes per batch.
pub const BATCH_SIZE: usize = 1_000;
/// Pairs read by each range read.
pub const RANGE_LEN: usize = 10;
/// Thread counts of the multi-threaded read phases.
pub const THREADS: [usize; 4] = [4, 8, 16, 32];
/// Times the single-threaded read phases run.
pub const READ_PASSES: usize = 2;

/// The groups of phases `--phases` can select (the bulk load always runs: the rest needs it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum PhaseGroup {
    /// 1,000 individual durable commits.
    Individual,
    /// 100 durable batches of 1,000.
    Batch,
    /// N random reads, twice.
    Reads,
    /// N/2 range reads of 10 pairs, twice.
    Ranges,
    /// Random reads split across 4, 8, 16 and 32 threads.
    Threads,
    /// Removal of half the keys in one commit.
    Removals,
    /// Size on disk, full compaction, size again.
    Compaction,
    /// 100 durable batches of 1,000 keys in ascending order (after everything else, so
    /// the rows above stay those of the public benchmark).
    Sequential,
}

impl PhaseGroup {
    /// Every group, in run order.
    pub const ALL: [PhaseGroup; 8] = [
        PhaseGroup::Individual,
        PhaseGroup::Batch,
        PhaseGroup::Reads,
        PhaseGroup::Ranges,
        PhaseGroup::Threads,
        PhaseGroup::Removals,
        PhaseGroup::Compaction,
        PhaseGroup::Sequential,
    ];

    /// The name `--phases` accepts.
    pub fn name(self) -> &'static str {
        match self {
            PhaseGroup::Individual => "individual",
            PhaseGroup::Batch => "batch",
            PhaseGroup::Reads => "reads",
            PhaseGroup::Ranges => "ranges",
            PhaseGroup::Threads => "threads",
            PhaseGroup::Removals => "removals",
            PhaseGroup::Compaction => "compaction",
            PhaseGroup::Sequential => "sequential",
        }
    }
}

impl FromStr for PhaseGroup {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Self, String> {
        PhaseGroup::ALL
            .into_iter()
            .find(|g| g.name() == s.trim())
            .ok_or_else(|| {
                let names: Vec<_> = PhaseGroup::ALL.iter().map(|g| g.name()).collect();
                format!("unknown phase '{s}'; choose from {}", names.join(", "))
            })
    }
}

/// What one phase measured: a time, or a size on disk.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Measure {
    /// Elapsed wall time in milliseconds.
    Time {
        /// Milliseconds.
        ms: f64,
    },
    /// Bytes of the engine's directory.
    Size {
        /// Bytes.
        bytes: u64,
    },
    /// The engine has no such operation.
    NotAvailable,
}

/// One result line from a child process.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PhaseResult {
    /// Row name in the report, for example `random reads (4 threads)`.
    pub phase: String,
    /// What it measured.
    pub measure: Measure,
}

/// Settings of one run.
#[derive(Debug, Clone)]
pub struct Workload {
    /// Pairs in the bulk load.
    pub elements: usize,
    /// Phase groups to run after the bulk load.
    pub groups: Vec<PhaseGroup>,
}

impl Workload {
    /// Keys the run needs: the bulk load plus the individual and batch writes.
    pub fn keys_needed(&self) -> usize {
        self.elements + INDIVIDUAL_WRITES + BATCHES * BATCH_SIZE
    }

    fn runs(&self, group: PhaseGroup) -> bool {
        self.groups.contains(&group)
    }
}

/// Bytes of every file under `dir`. Files that vanish while it walks (an engine's background
/// compaction removing them) count as zero.
pub fn dir_size(dir: &Path) -> std::io::Result<u64> {
    let gone = |e: &std::io::Error| e.kind() == std::io::ErrorKind::NotFound;
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if gone(&e) => return Ok(0),
        Err(e) => return Err(e),
    };
    let mut total = 0;
    for entry in entries {
        let entry = match entry {
            Ok(entry) => entry,
            Err(e) if gone(&e) => continue,
            Err(e) => return Err(e),
        };
        let meta = match entry.metadata() {
            Ok(meta) => meta,
            Err(e) if gone(&e) => continue,
            Err(e) => return Err(e),
        };
        total += if meta.is_dir() {
            dir_size(&entry.path())?
        } else {
            meta.len()
        };
    }
    Ok(total)
}

fn puts(data: &Data, range: std::ops::Range<usize>) -> impl Iterator<Item = Op> + '_ {
    range.map(move |i| Op::Put(*data.key(i), data.value(i)))
}

/// Reads keys `range` on one reader, checking every value.
fn read_keys(
    engine: &dyn Engine,
    data: &Data,
    range: std::ops::Range<usize>,
    threads: usize,
) -> Result<()> {
    let mut reader = engine.reader(threads)?;
    for i in range {
        if !reader.get(data.key(i), &data.value(i))? {
            return Err(format!("key #{i} is missing or holds a wrong value").into());
        }
    }
    Ok(())
}

/// Runs the workload on `engine` (whose files live in `dir`), reporting each phase to `emit`
/// as soon as it ends.
pub fn run(
    engine: &mut dyn Engine,
    dir: &Path,
    data: &Data,
    workload: &Workload,
    emit: &mut dyn FnMut(PhaseResult),
) -> Result<()> {
    let n = workload.elements;
    // What the process held before the engine saw any data: the keys of the run.
    let baseline_rss = crate::sys::current_rss_bytes();
    let baseline_private = crate::sys::current_private_rss_bytes();
    let mut timed = |phase: &str, f: &mut dyn FnMut() -> Result<()>| -> Result<()> {
        let started = Instant::now();
        f()?;
        let ms = started.elapsed().as_secs_f64() * 1e3;
        emit(PhaseResult {
            phase: phase.to_string(),
            measure: Measure::Time { ms },
        });
        Ok(())
    };

    // Bulk load: all N pairs in one durable commit.
    timed("bulk load", &mut || engine.write(&mut puts(data, 0..n)))?;
    let mut written = n;

    if workload.runs(PhaseGroup::Individual) {
        let start = written;
        timed("individual writes", &mut || {
            for i in start..start + INDIVIDUAL_WRITES {
                engine.write(&mut puts(data, i..i + 1))?;
            }
            Ok(())
        })?;
        written += INDIVIDUAL_WRITES;
    }

    if workload.runs(PhaseGroup::Batch) {
        let start = written;
        timed("batch writes", &mut || {
            for b in 0..BATCHES {
                let first = start + b * BATCH_SIZE;
                engine.write(&mut puts(data, first..first + BATCH_SIZE))?;
            }
            Ok(())
        })?;
        written += BATCHES * BATCH_SIZE;
    }

    if workload.runs(PhaseGroup::Reads) {
        for pass in 1..=READ_PASSES {
            timed(&format!("random reads #{pass}"), &mut || {
                read_keys(&*engine, data, 0..n, 1)
            })?;
        }
    }

    if workload.runs(PhaseGroup::Ranges) {
        for pass in 1..=READ_PASSES {
            timed(&format!("range reads #{pass}"), &mut || {
                let mut reader = engine.reader(1)?;
                let mut total = 0u64;
                for i in 0..n / 2 {
                    let (count, sum) = reader.range(data.key(i), RANGE_LEN)?;
                    if count == 0 {
                        return Err(format!("range read from key #{i} found nothing").into());
                    }
                    total += sum;
                }
                std::hint::black_box(total);
                Ok(())
            })?;
        }
    }

    if workload.runs(PhaseGroup::Threads) {
        for threads in THREADS {
            let shared: &dyn Engine = &*engine;
            timed(&format!("random reads ({threads} threads)"), &mut || {
                let per_thread = written / threads;
                std::thread::scope(|s| {
                    let handles: Vec<_> = (0..threads)
                        .map(|t| {
                            let range = t * per_thread..(t + 1) * per_thread;
                            s.spawn(move || read_keys(shared, data, range, threads))
                        })
                        .collect();
                    for h in handles {
                        h.join().map_err(|_| "a reader thread panicked")??;
                    }
                    Ok(())
                })
            })?;
        }
    }

    // The engine's steady memory once its cache has warmed: resident bytes above the
    // baseline, measured after the read phases (reported below, with the sizes).
    let resident_after_reads = (workload.runs(PhaseGroup::Reads)
        || workload.runs(PhaseGroup::Threads))
    .then(|| {
        (
            crate::sys::current_rss_bytes().saturating_sub(baseline_rss),
            crate::sys::current_private_rss_bytes().saturating_sub(baseline_private),
        )
    });

    if workload.runs(PhaseGroup::Removals) {
        let half = written / 2;
        timed("removals", &mut || {
            engine.write(&mut (0..half).map(|i| Op::Delete(*data.key(i))))
        })?;
        // Spot-check: the first removed key is gone, the first kept one is there.
        let mut reader = engine.reader(1)?;
        if reader.get(data.key(0), &data.value(0))?
            || !reader.get(data.key(half), &data.value(half))?
        {
            return Err("removals did not take effect as expected".into());
        }
    }

    if let Some((bytes, private)) = resident_after_reads {
        emit(PhaseResult {
            phase: "resident memory after reads".into(),
            measure: Measure::Size { bytes },
        });
        // The same without file pages mapped from the page cache, which the kernel can
        // drop at will: what the engine itself holds.
        emit(PhaseResult {
            phase: "private memory after reads".into(),
            measure: Measure::Size { bytes: private },
        });
    }

    if workload.runs(PhaseGroup::Compaction) {
        emit(PhaseResult {
            phase: "size before compaction".into(),
            measure: Measure::Size {
                bytes: dir_size(dir)?,
            },
        });
        let started = Instant::now();
        let compacted = engine.compact()?;
        let ms = started.elapsed().as_secs_f64() * 1e3;
        emit(PhaseResult {
            phase: "compaction".into(),
            measure: if compacted {
                Measure::Time { ms }
            } else {
                Measure::NotAvailable
            },
        });
        emit(PhaseResult {
            phase: "size after compaction".into(),
            measure: Measure::Size {
                bytes: dir_size(dir)?,
            },
        });
    }

    if workload.runs(PhaseGroup::Sequential) {
        let started = Instant::now();
        {
            for b in 0..BATCHES {
                let ops = (0..BATCH_SIZE).map(|j| {
                    let i = b * BATCH_SIZE + j;
                    // Above every random key but a 2^-64 few: 0xFF×8, then a counter.
                    let mut key = [0xffu8; crate::data::KEY_LEN];
                    key[8..16].copy_from_slice(&(i as u64).to_be_bytes());
                    Op::Put(key, data.value(i % n.max(1)))
                });
                engine.write(&mut ops.into_iter())?;
            }
        }
        emit(PhaseResult {
            phase: "sequential batch writes".into(),
            measure: Measure::Time {
                ms: started.elapsed().as_secs_f64() * 1e3,
            },
        });
    }
    Ok(())
}

/// The rows of a full run, in order (the report keeps this order).
pub fn all_phase_names() -> Vec<String> {
    let mut names = vec![
        "bulk load".to_string(),
        "individual writes".into(),
        "batch writes".into(),
    ];
    for pass in 1..=READ_PASSES {
        names.push(format!("random reads #{pass}"));
    }
    for pass in 1..=READ_PASSES {
        names.push(format!("range reads #{pass}"));
    }
    for threads in THREADS {
        names.push(format!("random reads ({threads} threads)"));
    }
    names.extend([
        "resident memory after reads".to_string(),
        "private memory after reads".into(),
        "removals".into(),
        "compaction".into(),
        "size before compaction".into(),
        "size after compaction".into(),
        "sequential batch writes".into(),
    ]);
    names
}
