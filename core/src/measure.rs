//! What the `Database` facade measures about its own operations: latency histograms of
//! point reads and writes, operations that failed, and when the database stopped
//! accepting operations. The engine holds one [`OpRecorder`] per open database; the
//! monitoring layer reads it.
//!
//! # The histogram
//!
//! Log-linear buckets, as HdrHistogram's: values (nanoseconds) below 16 get a bucket each;
//! above, every power of two is split into 16 equal sub-buckets, so a bucket's width is at
//! most 1/16 of its lower bound and a percentile read from it is within 6.25% of the true
//! value (it reports the bucket's midpoint). 40 powers of two cover up to 2^44 ns (about
//! 4.9 hours); longer values land in the last bucket. Counts are relaxed atomic increments
//! in one of [`SHARDS`] copies, picked per thread, so threads recording at once do not
//! fight over one cache line; a snapshot adds the shards up. Memory is fixed: 656 buckets
//! of 8 bytes per shard.
//!
//! # What is recorded
//!
//! Every write (single put, delete, batch, transaction commit) is timed. Point reads are timed one in
//! [`READ_SAMPLE_EVERY`] per thread (a per-thread counter picks them, independently of
//! the read's key or cost, so the sample's distribution is the reads' distribution):
//! two clock readings cost more than a 3% share of a read from memory. The read
//! operation count itself is exact (the engine's `gets` counter). With
//! `enable_statistics` off nothing is timed.

use std::cell::Cell;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::error::DatabaseError;
use crate::events::{BackgroundErrorInfo, CorruptionInfo, EventListener};

/// Copies of each histogram's buckets; a thread records into one of them (the one its
/// striped counters use).
pub(crate) const SHARDS: usize = crate::striped::STRIPES;
/// One point read in this many (per thread) is timed.
pub(crate) const READ_SAMPLE_EVERY: u32 = 16;

/// Values below this get a bucket each.
const LINEAR: u64 = 16;
/// Sub-buckets per power of two (log2).
const SUB_BITS: u32 = 4;
const SUB: usize = 1 << SUB_BITS;
/// Powers of two above the linear part.
const POWERS: usize = 40;
/// Buckets of one histogram.
pub(crate) const BUCKETS: usize = LINEAR as usize + POWERS * SUB;

/// The bucket of `v` nanoseconds.
fn bucket_of(v: u64) -> usize {
    if v < LINEAR {
        return v as usize;
    }
    let power = 63 - v.leading_zeros(); // >= SUB_BITS
    let sub = ((v >> (power - SUB_BITS)) as usize) & (SUB - 1);
    let index = LINEAR as usize + (power - SUB_BITS) as usize * SUB + sub;
    index.min(BUCKETS - 1)
}

/// The lowest value and the width of bucket `i`.
fn bucket_range(i: usize) -> (u64, u64) {
    if i < LINEAR as usize {
        return (i as u64, 1);
    }
    let k = i - LINEAR as usize;
    let power = (k / SUB) as u32 + SUB_BITS;
    let sub = (k % SUB) as u64;
    let width = 1u64 << (power - SUB_BITS);
    ((1u64 << power) + sub * width, width)
}

/// One thread group's copy of a histogram; its own sum and maximum sit on their own cache
/// line, not beside the next shard's.
#[repr(align(128))]
struct Shard {
    buckets: Box<[AtomicU64]>,
    sum_nanos: AtomicU64,
    max_nanos: AtomicU64,
}

impl Shard {
    fn new() -> Self {
        Self {
            buckets: (0..BUCKETS).map(|_| AtomicU64::new(0)).collect(),
            sum_nanos: AtomicU64::new(0),
            max_nanos: AtomicU64::new(0),
        }
    }
}

/// A bounded-memory latency histogram that many threads record into at once.
pub(crate) struct LatencyHistogram {
    shards: Box<[Shard]>,
}

thread_local! {
    /// Counts this thread's point reads, to time one in `READ_SAMPLE_EVERY`.
    static READ_TICK: Cell<u32> = const { Cell::new(0) };
}

impl LatencyHistogram {
    pub(crate) fn new() -> Self {
        Self {
            shards: (0..SHARDS).map(|_| Shard::new()).collect(),
        }
    }

    /// Records one value.
    pub(crate) fn record(&self, d: Duration) {
        let nanos = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        let shard = &self.shards[crate::striped::stripe()];
        shard.buckets[bucket_of(nanos)].fetch_add(1, Ordering::Relaxed);
        shard.sum_nanos.fetch_add(nanos, Ordering::Relaxed);
        shard.max_nanos.fetch_max(nanos, Ordering::Relaxed);
    }

    /// The counts so far, all shards added up.
    pub(crate) fn snapshot(&self) -> HistogramSnapshot {
        let mut counts = vec![0u64; BUCKETS];
        let mut sum = 0u64;
        let mut max = 0u64;
        for shard in self.shards.iter() {
            for (c, b) in counts.iter_mut().zip(shard.buckets.iter()) {
                *c += b.load(Ordering::Relaxed);
            }
            sum = sum.wrapping_add(shard.sum_nanos.load(Ordering::Relaxed));
            max = max.max(shard.max_nanos.load(Ordering::Relaxed));
        }
        HistogramSnapshot {
            counts,
            sum_nanos: sum,
            max_nanos: max,
        }
    }
}

/// A histogram's counts at one moment; two snapshots subtract to the values recorded
/// between them, and snapshots of several databases merge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct HistogramSnapshot {
    counts: Vec<u64>,
    sum_nanos: u64,
    /// The largest value recorded since the histogram was created (not windowed).
    max_nanos: u64,
}

impl Default for HistogramSnapshot {
    fn default() -> Self {
        Self {
            counts: vec![0; BUCKETS],
            sum_nanos: 0,
            max_nanos: 0,
        }
    }
}

impl HistogramSnapshot {
    /// Values recorded.
    pub(crate) fn count(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// What was recorded after `earlier` (a snapshot of the same histogram).
    pub(crate) fn since(&self, earlier: &HistogramSnapshot) -> HistogramSnapshot {
        HistogramSnapshot {
            counts: self
                .counts
                .iter()
                .zip(&earlier.counts)
                .map(|(a, b)| a.saturating_sub(*b))
                .collect(),
            sum_nanos: self.sum_nanos.wrapping_sub(earlier.sum_nanos),
            max_nanos: self.max_nanos,
        }
    }

    /// Adds `other`'s values to these.
    pub(crate) fn merge(&mut self, other: &HistogramSnapshot) {
        for (a, b) in self.counts.iter_mut().zip(&other.counts) {
            *a += b;
        }
        self.sum_nanos = self.sum_nanos.wrapping_add(other.sum_nanos);
        self.max_nanos = self.max_nanos.max(other.max_nanos);
    }

    /// The `q` quantile (0.0 to 1.0): the midpoint of the bucket holding it, zero when
    /// nothing was recorded.
    pub(crate) fn quantile(&self, q: f64) -> Duration {
        let total = self.count();
        if total == 0 {
            return Duration::ZERO;
        }
        // The rank of the value: the smallest r with r >= q * total, at least 1.
        let rank = ((q.clamp(0.0, 1.0) * total as f64).ceil() as u64).max(1);
        let mut seen = 0u64;
        for (i, c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                let (low, width) = bucket_range(i);
                return Duration::from_nanos(low + width / 2);
            }
        }
        Duration::from_nanos(self.max_nanos)
    }

    /// Count, sum, percentiles and maximum.
    pub(crate) fn summary(&self) -> LatencySummary {
        LatencySummary {
            samples: self.count(),
            sum: Duration::from_nanos(self.sum_nanos),
            p50: self.quantile(0.50),
            p95: self.quantile(0.95),
            p99: self.quantile(0.99),
            max: Duration::from_nanos(self.max_nanos),
        }
    }
}

/// Latency of one kind of operation, from a database's histogram (see
/// [`DbStats::read_latency`](crate::DbStats::read_latency)).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct LatencySummary {
    /// Operations timed (every write; one point read in 16 per thread).
    pub samples: u64,
    /// Their total time.
    pub sum: Duration,
    /// Median (within 6.25%: the midpoint of the histogram bucket holding it).
    pub p50: Duration,
    /// 95th percentile.
    pub p95: Duration,
    /// 99th percentile.
    pub p99: Duration,
    /// Longest operation timed.
    pub max: Duration,
}

/// Whether an error is the caller's own mistake (bad input, a conflict it must retry)
/// rather than the database failing: those do not count as operation errors.
fn is_callers_error(e: &DatabaseError) -> bool {
    matches!(
        e,
        DatabaseError::EmptyKey
            | DatabaseError::KeyTooLarge { .. }
            | DatabaseError::ValueTooLarge { .. }
            | DatabaseError::InvalidArgument { .. }
            | DatabaseError::TransactionConflict { .. }
    )
}

/// One open database's operation measurements.
pub(crate) struct OpRecorder {
    /// Unique in the process: tells databases apart in the monitors' samples.
    pub id: u64,
    enabled: bool,
    pub reads: LatencyHistogram,
    pub writes: LatencyHistogram,
    errors: AtomicU64,
    refused: AtomicBool,
    refused_since: OnceLock<Instant>,
    pub opened_at: Instant,
    /// Corruption the database met (reads, the verifier, the open), and the latest.
    corruptions: AtomicU64,
    last_corruption: parking_lot::Mutex<Option<String>>,
}

impl OpRecorder {
    /// A recorder that times operations when `enabled` (`enable_statistics`).
    pub(crate) fn new(enabled: bool) -> Self {
        static NEXT_ID: AtomicU64 = AtomicU64::new(1);
        Self {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            enabled,
            reads: LatencyHistogram::new(),
            writes: LatencyHistogram::new(),
            errors: AtomicU64::new(0),
            refused: AtomicBool::new(false),
            refused_since: OnceLock::new(),
            opened_at: Instant::now(),
            corruptions: AtomicU64::new(0),
            last_corruption: parking_lot::Mutex::new(None),
        }
    }

    /// The start of a point read when this one is timed (one in [`READ_SAMPLE_EVERY`] per
    /// thread), else `None`.
    #[inline]
    pub(crate) fn read_start(&self) -> Option<Instant> {
        if !self.enabled {
            return None;
        }
        let tick = READ_TICK.with(|t| {
            let v = t.get().wrapping_add(1);
            t.set(v);
            v
        });
        tick.is_multiple_of(READ_SAMPLE_EVERY).then(Instant::now)
    }

    /// The start of a write (every write is timed), `None` when statistics are off.
    #[inline]
    pub(crate) fn write_start(&self) -> Option<Instant> {
        self.enabled.then(Instant::now)
    }

    /// Ends a read begun with [`Self::read_start`]; counts a failure.
    #[inline]
    pub(crate) fn read_done<T>(&self, start: Option<Instant>, result: &Result<T, DatabaseError>) {
        if let Some(start) = start {
            self.reads.record(start.elapsed());
        }
        if let Err(e) = result {
            self.error(e);
        }
    }

    /// Ends a write begun with [`Self::write_start`]; counts a failure.
    #[inline]
    pub(crate) fn write_done<T>(&self, start: Option<Instant>, result: &Result<T, DatabaseError>) {
        if let Some(start) = start {
            self.writes.record(start.elapsed());
        }
        if let Err(e) = result {
            self.error(e);
        }
    }

    #[cold]
    fn error(&self, e: &DatabaseError) {
        if !is_callers_error(e) {
            self.errors.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Operations that failed through no fault of the caller, since open.
    pub(crate) fn errors(&self) -> u64 {
        self.errors.load(Ordering::Relaxed)
    }

    /// The database stopped accepting operations (writes refused until reopened, or
    /// halted after corruption): from now on it is unavailable.
    pub(crate) fn mark_refused(&self) {
        if !self.refused.swap(true, Ordering::AcqRel) {
            let _ = self.refused_since.set(Instant::now());
        }
    }

    /// Corruption events heard since open, and the latest one's description.
    pub(crate) fn corruption(&self) -> (u64, Option<String>) {
        (
            self.corruptions.load(Ordering::Relaxed),
            self.last_corruption.lock().clone(),
        )
    }

    /// When the database stopped accepting operations, if it did.
    pub(crate) fn refused_since(&self) -> Option<Instant> {
        self.refused_since.get().copied()
    }

    /// Time accepting operations over time open, up to `now` (1.0 while it accepts them).
    pub(crate) fn availability(&self, now: Instant) -> f64 {
        let open = now.saturating_duration_since(self.opened_at).as_secs_f64();
        match self.refused_since() {
            None => 1.0,
            Some(_) if open <= 0.0 => 0.0,
            Some(at) => {
                let accepting = at.min(now).saturating_duration_since(self.opened_at);
                (accepting.as_secs_f64() / open).clamp(0.0, 1.0)
            }
        }
    }
}

/// Hears corruption, halts after corruption and background failures that stop writes.
impl EventListener for OpRecorder {
    fn on_corruption(&self, info: &CorruptionInfo) {
        self.corruptions.fetch_add(1, Ordering::Relaxed);
        *self.last_corruption.lock() = Some(format!(
            "{} (met by {}, action {})",
            info.details, info.source, info.action
        ));
        if info.action == "Halt" {
            self.mark_refused();
        }
    }

    fn on_background_error(&self, info: &BackgroundErrorInfo) {
        if info.poisoned {
            self.mark_refused();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_cover_values_in_order_within_a_sixteenth() {
        let mut last = 0;
        for v in (0..5000u64).chain([1 << 20, 123_456_789, 1 << 40]) {
            let b = bucket_of(v);
            assert!(b >= last || v > 5000, "buckets grow with values");
            if v <= 5000 {
                last = b;
            }
            let (low, width) = bucket_range(b);
            assert!(
                low <= v && v < low + width,
                "{v} in bucket {b} = [{low}, +{width})"
            );
            assert!(width == 1 || width * 16 <= low, "width of bucket {b}");
        }
        assert_eq!(bucket_of(u64::MAX), BUCKETS - 1);
    }

    #[test]
    fn quantiles_of_a_known_distribution() {
        let h = LatencyHistogram::new();
        assert_eq!(h.snapshot().quantile(0.5), Duration::ZERO);
        for us in 1..=100u64 {
            h.record(Duration::from_micros(us));
        }
        let s = h.snapshot();
        assert_eq!(s.count(), 100);
        let near = |d: Duration, us: f64| {
            let got = d.as_secs_f64() * 1e6;
            assert!((got - us).abs() <= us / 16.0 + 0.001, "{got} vs {us}");
        };
        near(s.quantile(0.5), 50.0);
        near(s.quantile(0.95), 95.0);
        near(s.quantile(0.99), 99.0);
        assert_eq!(s.summary().max, Duration::from_micros(100));
        assert_eq!(s.summary().sum, Duration::from_micros(5050));
    }

    #[test]
    fn snapshots_subtract_and_merge() {
        let h = LatencyHistogram::new();
        h.record(Duration::from_millis(1));
        let first = h.snapshot();
        h.record(Duration::from_millis(9));
        h.record(Duration::from_millis(9));
        let window = h.snapshot().since(&first);
        assert_eq!(window.count(), 2);
        let p = window.quantile(0.5).as_secs_f64() * 1e3;
        assert!((8.4..9.6).contains(&p), "{p}");
        let mut merged = first.clone();
        merged.merge(&window);
        assert_eq!(merged.count(), 3);
    }

    #[test]
    fn threads_record_into_shards_and_nothing_is_lost() {
        let h = std::sync::Arc::new(LatencyHistogram::new());
        let threads: Vec<_> = (0..6)
            .map(|_| {
                let h = std::sync::Arc::clone(&h);
                std::thread::spawn(move || {
                    for i in 0..1000 {
                        h.record(Duration::from_nanos(i));
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().expect("recorder");
        }
        assert_eq!(h.snapshot().count(), 6000);
    }

    #[test]
    fn one_read_in_n_is_timed_and_errors_are_counted() {
        let r = OpRecorder::new(true);
        let timed = (0..READ_SAMPLE_EVERY * 10)
            .filter(|_| r.read_start().is_some())
            .count();
        assert_eq!(timed, 10);
        r.write_done::<()>(r.write_start(), &Err(DatabaseError::DatabaseClosed));
        r.write_done::<()>(r.write_start(), &Err(DatabaseError::EmptyKey));
        assert_eq!(r.errors(), 1, "the caller's bad input is not an error");
        assert_eq!(r.writes.snapshot().count(), 2);
        let off = OpRecorder::new(false);
        assert!(off.read_start().is_none() && off.write_start().is_none());
    }

    #[test]
    fn availability_falls_once_refused() {
        let r = OpRecorder::new(true);
        let later = r.opened_at + Duration::from_secs(10);
        assert_eq!(r.availability(later), 1.0);
        r.mark_refused();
        let at = r.refused_since().expect("refused");
        let a = r.availability(at + Duration::from_secs(100));
        assert!(a < 0.5, "{a}");
        r.mark_refused();
        assert_eq!(r.refused_since(), Some(at), "the first refusal stays");
    }
}
