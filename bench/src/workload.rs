//! The workload of the public redb benchmark, run on one engine: bulk load, individual and
//! batched durable writes, random and range reads (twice each), multi-threaded reads,
//! removals, size and compaction; then sequential batched writes. After those, the groups
//! outside the default set: forward and reverse scans, a zipfian read/update mix,
//! concurrent durable writers, and (in fresh databases) larger values.

use std::ops::Range;
use std::path::Path;
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::data::{Data, SplitMix, KEY_LEN, VALUE_LEN};
use crate::engines::{entry_checksum, value_digest, Engine, Op, Result};
use crate::zipf::Zipfian;

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
/// Threads of the zipfian read/update mix.
pub const MIXED_THREADS: usize = 4;
/// Thread counts of the concurrent durable-writer phases.
pub const WRITER_THREADS: [usize; 3] = [1, 4, 16];
/// Durable commits (one new pair each) of every concurrent-writer phase, split evenly
/// across its threads, so the rows compare the same work.
pub const WRITER_COMMITS: usize = 2_000;
/// The fewest pairs a value-size phase loads (unless `--elements` is smaller still).
pub const VALUE_SIZE_MIN_ELEMENTS: usize = 1_000;

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
    /// Not in the default set: full scans forward and in reverse, and N/2 10-pair ranges
    /// forward and in reverse, side by side on the same data.
    Reverse,
    /// Not in the default set: for each `--value-sizes` size, a fresh database loaded with
    /// values of that size, then point reads and 10-pair range reads.
    Values,
    /// Not in the default set: reads and durable updates of zipfian-skewed keys on
    /// [`MIXED_THREADS`] threads.
    Mixed,
    /// Not in the default set: [`WRITER_COMMITS`] durable single-pair commits from 1, 4
    /// and 16 threads at once.
    Writers,
}

impl PhaseGroup {
    /// The default groups (those of the public benchmark and the sequential writes), in run
    /// order.
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

    /// The groups outside the default set, in run order (after [`PhaseGroup::ALL`]).
    pub const EXTRA: [PhaseGroup; 4] = [
        PhaseGroup::Reverse,
        PhaseGroup::Mixed,
        PhaseGroup::Writers,
        PhaseGroup::Values,
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
            PhaseGroup::Reverse => "reverse",
            PhaseGroup::Values => "values",
            PhaseGroup::Mixed => "mixed",
            PhaseGroup::Writers => "writers",
        }
    }
}

impl FromStr for PhaseGroup {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Self, String> {
        let every = || PhaseGroup::ALL.into_iter().chain(PhaseGroup::EXTRA);
        every().find(|g| g.name() == s.trim()).ok_or_else(|| {
            let names: Vec<_> = every().map(|g| g.name()).collect();
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
    /// Value lengths of the value-size phases, bytes.
    pub value_sizes: Vec<usize>,
    /// Pairs loaded by every value-size phase; `None`: scaled from `elements`
    /// ([`Workload::value_elements_for`]).
    pub value_elements: Option<usize>,
    /// Operations of the zipfian read/update mix, all threads together.
    pub mixed_ops: usize,
    /// Share of reads in the mix, percent; the rest are durable updates.
    pub mixed_read_percent: u32,
    /// Skew of the mix's zipfian key choice.
    pub zipf_theta: f64,
}

impl Workload {
    /// Keys the run needs: the bulk load plus the individual and batch writes (and the
    /// concurrent writers' new keys after those when that group runs).
    pub fn keys_needed(&self) -> usize {
        self.writer_keys_start()
            + if self.runs(PhaseGroup::Writers) {
                WRITER_THREADS.len() * WRITER_COMMITS
            } else {
                0
            }
    }

    /// Index of the first key the concurrent writers write.
    fn writer_keys_start(&self) -> usize {
        self.elements + INDIVIDUAL_WRITES + BATCHES * BATCH_SIZE
    }

    /// Whether `group` runs.
    pub fn runs(&self, group: PhaseGroup) -> bool {
        self.groups.contains(&group)
    }

    /// Pairs a value-size phase with `size`-byte values loads: `--value-elements` if given,
    /// else as many as make the bytes of the default data set (N × (24 + 150)), at least
    /// [`VALUE_SIZE_MIN_ELEMENTS`] and at most N.
    pub fn value_elements_for(&self, size: usize) -> usize {
        if let Some(m) = self.value_elements {
            return m.max(1);
        }
        let n = self.elements.max(1);
        let scaled = (n * (KEY_LEN + VALUE_LEN)).div_ceil(KEY_LEN + size);
        scaled.clamp(n.min(VALUE_SIZE_MIN_ELEMENTS), n)
    }

    /// The mix's row name, for example `zipfian 90% reads / 10% updates (4 threads)`.
    pub fn mixed_phase_name(&self) -> String {
        let reads = self.mixed_read_percent.min(100);
        format!(
            "zipfian {reads}% reads / {}% updates ({MIXED_THREADS} threads)",
            100 - reads
        )
    }

    /// What the report should say about the groups outside the default set that run.
    pub fn notes(&self) -> Vec<String> {
        let mut notes = Vec::new();
        if self.runs(PhaseGroup::Reverse) {
            notes.push(format!(
                "Scans (`reverse`): run after the default groups, so on the data they left; \
                 after an untimed warm-up scan, a full scan forward then one in reverse \
                 (count and checksum of every pair checked), then {} range reads of {RANGE_LEN} pairs forward and {} in \
                 reverse from the same live keys (totals checked).",
                self.elements / 2,
                self.elements / 2
            ));
        }
        if self.runs(PhaseGroup::Mixed) {
            notes.push(format!(
                "Mix (`mixed`): {} operations on {MIXED_THREADS} threads, {}% reads (a digest \
                 of the whole value checked) and {}% durable one-pair updates (each writing a \
                 value the key never held), keys drawn zipfian (theta {}) over the live \
                 bulk-loaded keys.",
                self.mixed_ops,
                self.mixed_read_percent.min(100),
                100 - self.mixed_read_percent.min(100),
                self.zipf_theta
            ));
        }
        if self.runs(PhaseGroup::Writers) {
            notes.push(format!(
                "Concurrent writers (`writers`): {WRITER_COMMITS} durable commits of one new \
                 pair per row, split evenly across the row's threads."
            ));
        }
        if self.runs(PhaseGroup::Values) {
            let sizes: Vec<String> = self
                .value_sizes
                .iter()
                .map(|&size| {
                    format!(
                        "{} values: {} pairs",
                        size_label(size),
                        self.value_elements_for(size)
                    )
                })
                .collect();
            notes.push(format!(
                "Value sizes (`values`): each size in a fresh database after the other groups, \
                 {}; {}. Point reads read every pair, in two passes, and check a digest of \
                 the whole value; range reads start at half of the keys.",
                sizes.join(", "),
                if self.value_elements.is_some() {
                    "pairs set by --value-elements".to_string()
                } else {
                    format!(
                        "pairs scaled to the bytes of the default data set (N × {} B), at \
                         least {VALUE_SIZE_MIN_ELEMENTS}",
                        KEY_LEN + VALUE_LEN
                    )
                }
            ));
        }
        notes
    }
}

/// A value size for people: `4 KiB`, `100 B`.
pub fn size_label(size: usize) -> String {
    if size >= 1024 && size.is_multiple_of(1024) {
        format!("{} KiB", size / 1024)
    } else {
        format!("{size} B")
    }
}

/// The row name of the concurrent writers on `threads` threads.
pub fn writer_phase_name(threads: usize) -> String {
    if threads == 1 {
        "durable writes (1 thread)".into()
    } else {
        format!("durable writes ({threads} threads)")
    }
}

/// Row names of the value-size phases for values of `size` bytes: load, reads (first
/// and second pass), ranges.
pub fn value_phase_names(size: usize) -> [String; 4] {
    let label = size_label(size);
    [
        format!("bulk load ({label} values)"),
        format!("random reads #1 ({label} values)"),
        format!("random reads #2 ({label} values)"),
        format!("range reads ({label} values)"),
    ]
}

/// Row names of the scan group.
pub const SCAN_PHASES: [&str; 4] = [
    "full scan (forward)",
    "full scan (reverse)",
    "range reads (forward)",
    "range reads (reverse)",
];

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

/// Key number `i` of the sequential writes: above every random key but a 2^-64 few
/// (0xFF×8, then a counter).
fn sequential_key(i: usize) -> crate::data::Key {
    let mut key = [0xffu8; KEY_LEN];
    key[8..16].copy_from_slice(&(i as u64).to_be_bytes());
    key
}

/// Whether the timed rows report the process's CPU time instead of wall time
/// (`--cpu-time`).
static CPU_TIME: AtomicBool = AtomicBool::new(false);

/// Makes the timed rows report the process's CPU time (every thread, user and system)
/// instead of wall time: what a change costs in computation, whatever else the machine
/// runs meanwhile, and without the time spent waiting for the disk.
pub fn measure_cpu_time(on: bool) {
    CPU_TIME.store(on, Ordering::Relaxed);
}

/// Times a phase on the clock the rows report (see [`measure_cpu_time`]).
struct Stopwatch {
    wall: Instant,
    cpu_ms: f64,
}

impl Stopwatch {
    fn start() -> Self {
        Stopwatch {
            wall: Instant::now(),
            cpu_ms: crate::sys::process_cpu_ms(),
        }
    }

    /// Milliseconds since `start`.
    fn ms(&self) -> f64 {
        if CPU_TIME.load(Ordering::Relaxed) {
            crate::sys::process_cpu_ms() - self.cpu_ms
        } else {
            self.wall.elapsed().as_secs_f64() * 1e3
        }
    }
}

/// Runs `f` and reports its time as row `phase`.
fn time_phase(
    emit: &mut dyn FnMut(PhaseResult),
    phase: &str,
    f: &mut dyn FnMut() -> Result<()>,
) -> Result<()> {
    let started = Stopwatch::start();
    f()?;
    let ms = started.ms();
    emit(PhaseResult {
        phase: phase.to_string(),
        measure: Measure::Time { ms },
    });
    Ok(())
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
        if !probe::get(&mut *reader, data.key(i), &data.value(i))? {
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
        let started = Stopwatch::start();
        f()?;
        let ms = started.ms();
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
                    let (count, sum) = probe::range(&mut *reader, data.key(i), RANGE_LEN)?;
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
    let resident_after_reads =
        (workload.runs(PhaseGroup::Reads) || workload.runs(PhaseGroup::Threads)).then(|| {
            (
                crate::sys::current_rss_bytes().saturating_sub(baseline_rss),
                crate::sys::current_private_rss_bytes().saturating_sub(baseline_private),
            )
        });

    // Bulk-loaded keys the removals deleted (a prefix of the key numbers).
    let mut removed = 0;
    if workload.runs(PhaseGroup::Removals) {
        let half = written / 2;
        removed = half;
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
        let started = Stopwatch::start();
        let compacted = engine.compact()?;
        let ms = started.ms();
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
        let started = Stopwatch::start();
        {
            for b in 0..BATCHES {
                let ops = (0..BATCH_SIZE).map(|j| {
                    let i = b * BATCH_SIZE + j;
                    Op::Put(sequential_key(i), data.value(i % n.max(1)))
                });
                engine.write(&mut ops.into_iter())?;
            }
        }
        emit(PhaseResult {
            phase: "sequential batch writes".into(),
            measure: Measure::Time { ms: started.ms() },
        });
    }

    // The groups outside the default set run after it, so the rows above stay what they
    // are without them.
    let live = removed..written;
    let sequential = if workload.runs(PhaseGroup::Sequential) {
        BATCHES * BATCH_SIZE
    } else {
        0
    };
    if workload.runs(PhaseGroup::Reverse) {
        scans(&*engine, data, n, live.clone(), sequential, emit)?;
    }
    if workload.runs(PhaseGroup::Mixed) {
        mixed(&*engine, data, live, workload, emit)?;
    }
    if workload.runs(PhaseGroup::Writers) {
        writers(&*engine, data, workload.writer_keys_start(), emit)?;
    }
    Ok(())
}

/// What the scan group must find: the engine holds the bulk-loaded keys `live` and the
/// first `sequential` sequential keys.
struct ScanExpectation {
    /// Pairs in the database.
    pairs: usize,
    /// Sum of [`entry_checksum`] over every pair.
    checksum: u64,
    /// Start key numbers of the range reads.
    starts: Vec<usize>,
    /// Pairs the forward range reads find, all together, and the sum of their values'
    /// first bytes.
    forward: (usize, u64),
    /// The same for the reverse range reads.
    reverse: (usize, u64),
}

impl ScanExpectation {
    fn new(data: &Data, n: usize, live: Range<usize>, sequential: usize) -> Result<Self> {
        let value_of_sequential = |j: usize| data.value(j % n.max(1));
        // Key numbers in key order (4 bytes each, freed before the timed phases); every
        // sequential key sorts above every random one.
        let mut order: Vec<u32> = live
            .clone()
            .map(u32::try_from)
            .collect::<std::result::Result<_, _>>()?;
        order.sort_unstable_by(|&a, &b| data.key(a as usize).cmp(data.key(b as usize)));
        if order
            .windows(2)
            .any(|w| data.key(w[0] as usize) == data.key(w[1] as usize))
        {
            return Err("the generator made a duplicate key".into());
        }
        let pairs = order.len() + sequential;
        let mut checksum = 0u64;
        // Each pair's value's first byte, in key order.
        let mut first_bytes = Vec::with_capacity(pairs);
        for &i in &order {
            let value = data.value(i as usize);
            checksum += entry_checksum(data.key(i as usize), &value);
            first_bytes.push(value[0]);
        }
        for j in 0..sequential {
            let value = value_of_sequential(j);
            checksum += entry_checksum(&sequential_key(j), &value);
            first_bytes.push(value[0]);
        }
        // N/2 range reads, starting at live keys in generation order (random in key order),
        // wrapping around when fewer keys live.
        let ranges = if live.is_empty() { 0 } else { n / 2 };
        let starts: Vec<usize> = (0..ranges).map(|j| live.start + j % live.len()).collect();
        let (per_key, extra) = if live.is_empty() {
            (0, 0)
        } else {
            (ranges / live.len(), ranges % live.len())
        };
        let mut forward = (0usize, 0u64);
        let mut reverse = (0usize, 0u64);
        let sum = |r: Range<usize>| -> u64 { first_bytes[r].iter().map(|&b| u64::from(b)).sum() };
        for (p, &i) in order.iter().enumerate() {
            let times = per_key + usize::from((i as usize - live.start) < extra);
            if times == 0 {
                continue;
            }
            let up = (pairs - p).min(RANGE_LEN);
            forward.0 += times * up;
            forward.1 += times as u64 * sum(p..p + up);
            let down = (p + 1).min(RANGE_LEN);
            reverse.0 += times * down;
            reverse.1 += times as u64 * sum(p + 1 - down..p + 1);
        }
        Ok(ScanExpectation {
            pairs,
            checksum,
            starts,
            forward,
            reverse,
        })
    }
}

/// Full scans forward and in reverse, then range reads forward and in reverse from the same
/// start keys; every count and checksum checked against what the engine must hold.
fn scans(
    engine: &dyn Engine,
    data: &Data,
    n: usize,
    live: Range<usize>,
    sequential: usize,
    emit: &mut dyn FnMut(PhaseResult),
) -> Result<()> {
    let expect = ScanExpectation::new(data, n, live, sequential)?;
    let check = |phase: &str, found: (usize, u64)| -> Result<()> {
        if found != (expect.pairs, expect.checksum) {
            return Err(format!(
                "{phase}: found {} pairs with checksum {}, expected {} with {}",
                found.0, found.1, expect.pairs, expect.checksum
            )
            .into());
        }
        Ok(())
    };
    // An untimed scan first, so both timed ones find the data as warm (the first read of
    // the data after the writes pays for the cold cache, whichever direction it goes).
    check("warm-up scan", engine.reader(1)?.scan(false)?)?;
    for reverse in [false, true] {
        let phase = SCAN_PHASES[usize::from(reverse)];
        time_phase(emit, phase, &mut || {
            let mut reader = engine.reader(1)?;
            let found = if reverse {
                probe::scan_reverse(&mut *reader)?
            } else {
                probe::scan_forward(&mut *reader)?
            };
            check(phase, found)
        })?;
    }
    for reverse in [false, true] {
        let phase = SCAN_PHASES[2 + usize::from(reverse)];
        let wanted = if reverse {
            expect.reverse
        } else {
            expect.forward
        };
        time_phase(emit, phase, &mut || {
            let mut reader = engine.reader(1)?;
            let mut total = (0usize, 0u64);
            for &i in &expect.starts {
                let (count, sum) = if reverse {
                    probe::range_rev(&mut *reader, data.key(i), RANGE_LEN)?
                } else {
                    probe::range(&mut *reader, data.key(i), RANGE_LEN)?
                };
                total.0 += count;
                total.1 += sum;
            }
            if total != wanted {
                return Err(format!(
                    "{phase}: read {} pairs with value sum {}, expected {} with {}",
                    total.0, total.1, wanted.0, wanted.1
                )
                .into());
            }
            Ok(())
        })?;
    }
    Ok(())
}

/// `value` with its first 64-bit word raised by `stamp` and its second lowered by as much:
/// for a stamp no other update uses, a value the key never held, with the same
/// [`value_digest`]. Rewriting a value unchanged would let an engine skip the write (SQLite
/// leaves a page clean when a row's new bytes equal the old ones, and its commit then has
/// nothing to sync).
fn restamp(value: &mut crate::data::Value, stamp: u64) {
    let bytes = value.as_mut_slice();
    let mut word = |at: usize, f: &dyn Fn(u64) -> u64| {
        let mut w = [0u8; 8];
        w.copy_from_slice(&bytes[at..at + 8]);
        bytes[at..at + 8].copy_from_slice(&f(u64::from_le_bytes(w)).to_le_bytes());
    };
    word(0, &|w| w.wrapping_add(stamp));
    word(8, &|w| w.wrapping_sub(stamp));
}

/// Reads and durable updates of zipfian-chosen live keys on [`MIXED_THREADS`] threads.
/// Every update writes a value the key has not held (see [`restamp`]) with the digest of
/// the key's original value, so every read can check a digest of all of what it finds.
fn mixed(
    engine: &dyn Engine,
    data: &Data,
    live: Range<usize>,
    workload: &Workload,
    emit: &mut dyn FnMut(PhaseResult),
) -> Result<()> {
    if live.is_empty() {
        return Err("the zipfian mix needs live keys".into());
    }
    let zipf = Zipfian::new(live.len() as u64, workload.zipf_theta);
    let per_thread = workload.mixed_ops / MIXED_THREADS;
    let read_percent = u64::from(workload.mixed_read_percent.min(100));
    let phase = workload.mixed_phase_name();
    time_phase(emit, &phase, &mut || {
        std::thread::scope(|s| {
            let handles: Vec<_> = (0..MIXED_THREADS)
                .map(|t| {
                    let first = live.start;
                    s.spawn(move || -> Result<()> {
                        // The same draws for every engine.
                        let mut rng = SplitMix::new(0x5eed_0000 + t as u64);
                        let mut reader = engine.reader(MIXED_THREADS)?;
                        let mut updates = 0u64;
                        for _ in 0..per_thread {
                            let i = first + zipf.next(&mut rng) as usize;
                            if rng.next_u64() % 100 < read_percent {
                                let digest = value_digest(&data.value(i));
                                if reader.get_digest(data.key(i))? != Some(digest) {
                                    return Err(format!(
                                        "mix: key #{i} is missing or holds a wrong value"
                                    )
                                    .into());
                                }
                            } else {
                                updates += 1;
                                let mut value = data.value(i);
                                restamp(&mut value, ((t as u64 + 1) << 40) + updates);
                                engine.write(&mut std::iter::once(Op::Put(*data.key(i), value)))?;
                                reader.refresh()?;
                            }
                        }
                        Ok(())
                    })
                })
                .collect();
            for h in handles {
                h.join().map_err(|_| "a mix thread panicked")??;
            }
            Ok(())
        })
    })
}

/// [`WRITER_COMMITS`] durable commits of one new pair each, from 1, 4 and 16 threads at
/// once; each row writes keys of its own from `first_key` on, read back afterwards.
fn writers(
    engine: &dyn Engine,
    data: &Data,
    first_key: usize,
    emit: &mut dyn FnMut(PhaseResult),
) -> Result<()> {
    for (row, threads) in WRITER_THREADS.into_iter().enumerate() {
        let first = first_key + row * WRITER_COMMITS;
        let per_thread = WRITER_COMMITS / threads;
        time_phase(emit, &writer_phase_name(threads), &mut || {
            std::thread::scope(|s| {
                let handles: Vec<_> = (0..threads)
                    .map(|t| {
                        s.spawn(move || -> Result<()> {
                            let from = first + t * per_thread;
                            for i in from..from + per_thread {
                                engine.write(&mut puts(data, i..i + 1))?;
                            }
                            Ok(())
                        })
                    })
                    .collect();
                for h in handles {
                    h.join().map_err(|_| "a writer thread panicked")??;
                }
                Ok(())
            })
        })?;
        let mut reader = engine.reader(1)?;
        for i in first..first + per_thread * threads {
            if !reader.get(data.key(i), &data.value(i))? {
                return Err(format!("concurrent writes: key #{i} was not written").into());
            }
        }
    }
    Ok(())
}

/// The value-size phases: for every size, a fresh engine (made by `open` in a folder
/// under `dir`) loaded with values of that size, then point and range reads. Runs after
/// [`run`], with the main engine closed, so the two never share the cache budget.
pub fn run_value_sizes(
    open: &dyn Fn(&Path) -> Result<Box<dyn Engine>>,
    dir: &Path,
    seed: u64,
    workload: &Workload,
    emit: &mut dyn FnMut(PhaseResult),
) -> Result<()> {
    for &size in &workload.value_sizes {
        let m = workload.value_elements_for(size);
        let [load, reads_1, reads_2, ranges] = value_phase_names(size);
        let data = Data::with_value_len(seed, m, size);
        // What each read must find, computed before the clock starts.
        let digests: Vec<u64> = (0..m).map(|i| value_digest(&data.value(i))).collect();
        let sub = dir.join(format!("values-{size}"));
        std::fs::create_dir_all(&sub)?;
        let engine = open(&sub)?;
        time_phase(emit, &load, &mut || engine.write(&mut puts(&data, 0..m)))?;
        // Twice, as the default reads: the first pass is every block's first read since
        // the load, the second finds whatever each engine keeps.
        for reads in [&reads_1, &reads_2] {
            time_phase(emit, reads, &mut || {
                let mut reader = engine.reader(1)?;
                for (i, &digest) in digests.iter().enumerate() {
                    if probe::get_digest(&mut *reader, data.key(i))? != Some(digest) {
                        return Err(format!(
                            "{size}-byte values: key #{i} is missing or holds a wrong value"
                        )
                        .into());
                    }
                }
                Ok(())
            })?;
        }
        time_phase(emit, &ranges, &mut || {
            let mut reader = engine.reader(1)?;
            let mut total = 0u64;
            for i in 0..(m / 2).max(1) {
                let (count, sum) = probe::range(&mut *reader, data.key(i), RANGE_LEN)?;
                if count == 0 {
                    return Err(format!("range read from key #{i} found nothing").into());
                }
                total += sum;
            }
            std::hint::black_box(total);
            Ok(())
        })?;
        drop(engine);
        // The next size gets the disk space back.
        std::fs::remove_dir_all(&sub)?;
    }
    Ok(())
}

/// The rows a run of `workload` can have, in order (the report keeps this order): those of
/// the default groups, then those of the others.
pub fn all_phase_names(workload: &Workload) -> Vec<String> {
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
    names.extend(SCAN_PHASES.iter().map(|p| p.to_string()));
    names.push(workload.mixed_phase_name());
    names.extend(WRITER_THREADS.into_iter().map(writer_phase_name));
    for &size in &workload.value_sizes {
        names.extend(value_phase_names(size));
    }
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restamp_changes_the_value_but_not_its_digest() {
        let data = Data::new(3, 4);
        let original = data.value(2);
        let mut a = original.clone();
        restamp(&mut a, 1 << 40);
        let mut b = original.clone();
        restamp(&mut b, (2 << 40) + 7);
        assert_ne!(a, original);
        assert_ne!(a, b);
        assert_eq!(value_digest(&a), value_digest(&original));
        assert_eq!(value_digest(&b), value_digest(&original));
        assert_eq!(a[16..], original[16..]);
    }

    #[test]
    fn value_elements_scale_to_the_default_bytes() {
        let w = Workload {
            elements: 1_000_000,
            groups: vec![PhaseGroup::Values],
            value_sizes: vec![1024, 4096, 65536],
            value_elements: None,
            mixed_ops: 0,
            mixed_read_percent: 90,
            zipf_theta: 0.99,
        };
        assert_eq!(w.value_elements_for(150), 1_000_000);
        assert_eq!(w.value_elements_for(1024), 166_031);
        assert_eq!(w.value_elements_for(65536), 2_655);
        let small = Workload {
            elements: 500,
            ..w.clone()
        };
        assert_eq!(small.value_elements_for(65536), 500);
    }

    #[test]
    fn new_groups_parse_and_stay_out_of_the_default() {
        for g in PhaseGroup::EXTRA {
            assert_eq!(g.name().parse::<PhaseGroup>(), Ok(g));
            assert!(!PhaseGroup::ALL.contains(&g));
        }
    }
}

/// The timed read operations, each behind a function of its own that is never inlined,
/// so `scripts/cpu-per-op.sh` can count the instructions and simulated cache misses of
/// exactly these calls under callgrind (`--toggle-collect`), the same way for every
/// engine. The extra call costs a few instructions beside a dynamic call into the engine.
/// `black_box` keeps the compiler from hoisting the method lookup into the callers, which
/// makes `range` and `range_rev` the same code and folds them into one symbol.
pub mod probe {
    use crate::engines::{Reader, Result};

    /// One point read, checking the value.
    #[inline(never)]
    pub fn get(reader: &mut dyn Reader, key: &[u8], expected: &[u8]) -> Result<bool> {
        std::hint::black_box(reader).get(key, expected)
    }

    /// One point read, returning a digest of the whole value.
    #[inline(never)]
    pub fn get_digest(reader: &mut dyn Reader, key: &[u8]) -> Result<Option<u64>> {
        std::hint::black_box(reader).get_digest(key)
    }

    /// One range read of `n` pairs upwards from `start`.
    #[inline(never)]
    pub fn range(reader: &mut dyn Reader, start: &[u8], n: usize) -> Result<(usize, u64)> {
        std::hint::black_box(reader).range(start, n)
    }

    /// One range read of `n` pairs downwards from `start`.
    #[inline(never)]
    pub fn range_rev(reader: &mut dyn Reader, start: &[u8], n: usize) -> Result<(usize, u64)> {
        std::hint::black_box(reader).range_rev(start, n)
    }

    /// A timed full scan in ascending key order.
    #[inline(never)]
    pub fn scan_forward(reader: &mut dyn Reader) -> Result<(usize, u64)> {
        std::hint::black_box(reader).scan(false)
    }

    /// A timed full scan in descending key order.
    #[inline(never)]
    pub fn scan_reverse(reader: &mut dyn Reader) -> Result<(usize, u64)> {
        std::hint::black_box(reader).scan(true)
    }
}
