//! Measuring: a sample of one database's counters and histograms at an instant, and the
//! [`PerformanceMetrics`] of one or more databases between two samples.
//!
//! Every observer (a database's own `metrics()`, each [`MetricsCollector`], each
//! performance check) keeps its own earlier samples, so they never shorten each other's
//! intervals.
//!
//! [`MetricsCollector`]: super::MetricsCollector

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::metrics::{PerformanceMetrics, SlaThresholds};
use crate::engine::DbInner;
use crate::measure::HistogramSnapshot;
use crate::stats::DbStats;
use crate::storage::fs::{DiskSpace, FileSystem};

/// An interval shorter than this is not a new interval: [`Window`] keeps measuring from
/// the sample before.
pub(crate) const MIN_INTERVAL: Duration = Duration::from_secs(1);

/// One database's counters at an instant.
#[derive(Debug, Clone)]
pub(crate) struct DbSample {
    at: Instant,
    reads: u64,
    writes: u64,
    errors: u64,
    read_hist: HistogramSnapshot,
    write_hist: HistogramSnapshot,
    stall_micros: u64,
    cache_hits: u64,
    cache_misses: u64,
}

impl DbSample {
    /// The sample of a database just opened: nothing counted yet.
    fn at_open(inner: &DbInner) -> Self {
        Self {
            at: inner.recorder.opened_at,
            reads: 0,
            writes: 0,
            errors: 0,
            read_hist: HistogramSnapshot::default(),
            write_hist: HistogramSnapshot::default(),
            stall_micros: 0,
            cache_hits: 0,
            cache_misses: 0,
        }
    }

    fn take(inner: &DbInner, stats: &DbStats, at: Instant) -> Self {
        Self {
            at,
            reads: stats.gets,
            writes: stats.puts + stats.deletes + stats.batches,
            errors: inner.recorder.errors(),
            read_hist: inner.recorder.reads.snapshot(),
            write_hist: inner.recorder.writes.snapshot(),
            stall_micros: stats.write_stall_micros,
            cache_hits: stats.cache_hits,
            cache_misses: stats.cache_misses,
        }
    }
}

/// Samples of several databases (by recorder id) and the process's CPU time, at once.
#[derive(Debug, Clone)]
pub(crate) struct Baseline {
    at: Instant,
    cpu: Option<Duration>,
    dbs: HashMap<u64, DbSample>,
}

impl Baseline {
    /// A baseline taken now with no database sampled: each database is then measured
    /// from its open.
    pub(crate) fn empty(at: Instant) -> Self {
        Self {
            at,
            cpu: process_cpu_time(),
            dbs: HashMap::new(),
        }
    }
}

/// Two baselines, rotated at most once per [`MIN_INTERVAL`]: metrics are measured from
/// the older one, so every interval is at least that long once the observer is, however
/// often it is read.
#[derive(Debug)]
pub(crate) struct Window {
    older: Baseline,
    newer: Baseline,
}

impl Window {
    /// A window starting now.
    pub(crate) fn new() -> Self {
        let b = Baseline::empty(Instant::now());
        Self {
            older: b.clone(),
            newer: b,
        }
    }

    /// The metrics of `dbs` from the older baseline to now; rotates the baselines when
    /// the newer one is old enough.
    pub(crate) fn measure(
        &mut self,
        dbs: &[Arc<DbInner>],
        sla: SlaThresholds,
    ) -> (PerformanceMetrics, Vec<DbStats>) {
        let (metrics, stats, now) = measure(dbs, &self.older, sla);
        if now.at.saturating_duration_since(self.newer.at) >= MIN_INTERVAL {
            self.older = std::mem::replace(&mut self.newer, now);
        }
        (metrics, stats)
    }
}

/// The process's CPU time (user and system) so far, from `/proc/self/stat`.
pub(crate) fn process_cpu_time() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // The command name (field 2) may hold spaces: count fields after its ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // After ')': state is field 3, so utime (14) and stime (15) are at 11 and 12.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    // /proc reports in USER_HZ, 100 per second on every Linux ABI.
    Some(Duration::from_millis((utime + stime) * 10))
}

/// Bytes of every file in the database folder and its `quarantine/`.
pub(crate) fn folder_bytes(fs: &dyn FileSystem, dir: &Path) -> u64 {
    let files = |d: &Path| -> u64 {
        fs.list_dir(d)
            .map(|names| {
                names
                    .iter()
                    .filter_map(|n| fs.file_size(&d.join(n)).ok())
                    .sum()
            })
            .unwrap_or(0)
    };
    files(dir) + files(&dir.join(crate::integrity::QUARANTINE_DIR))
}

/// The engine's own memory accounting.
pub(crate) fn engine_memory(s: &DbStats) -> u64 {
    s.memtable_bytes
        + s.immutable_memtable_bytes
        + s.memtable_index_bytes
        + s.cache_usage_bytes
        + s.table_memory_bytes
}

/// The disk holding `inner`'s folder, when its file system can tell.
pub(crate) fn disk_space(inner: &DbInner) -> Option<DiskSpace> {
    inner.fs.disk_space(&inner.path).ok().flatten()
}

fn per_second(count: u64, over: Duration) -> u64 {
    let secs = over.as_secs_f64();
    if secs <= 0.0 {
        0
    } else {
        (count as f64 / secs).round() as u64
    }
}

/// The metrics of `dbs` from `base` to now (each database missing from `base` from its
/// open), their statistics, and the baseline of now.
pub(crate) fn measure(
    dbs: &[Arc<DbInner>],
    base: &Baseline,
    sla: SlaThresholds,
) -> (PerformanceMetrics, Vec<DbStats>, Baseline) {
    let now = Instant::now();
    let cpu_now = process_cpu_time();
    let mut m = PerformanceMetrics {
        sla,
        availability: 1.0,
        databases: dbs.len() as u64,
        ..Default::default()
    };
    let mut window_reads = HistogramSnapshot::default();
    let mut window_writes = HistogramSnapshot::default();
    let mut all_reads = HistogramSnapshot::default();
    let mut all_writes = HistogramSnapshot::default();
    let (mut ops, mut errors, mut all_ops, mut all_errors) = (0u64, 0u64, 0u64, 0u64);
    let (mut hits, mut lookups, mut all_hits, mut all_lookups) = (0u64, 0u64, 0u64, 0u64);
    let (mut accepting, mut open_for) = (0.0f64, 0.0f64);
    let mut newest_open: Option<Instant> = None;
    let mut worst_disk: Option<(f64, DiskSpace)> = None;
    let mut stats_out = Vec::with_capacity(dbs.len());
    let mut samples = HashMap::with_capacity(dbs.len());
    for inner in dbs {
        let stats = inner.stats();
        let cur = DbSample::take(inner, &stats, now);
        let prev = base
            .dbs
            .get(&inner.recorder.id)
            .cloned()
            .unwrap_or_else(|| DbSample::at_open(inner));
        let over = cur.at.saturating_duration_since(prev.at);
        m.interval = m.interval.max(over);
        let reads = cur.reads.saturating_sub(prev.reads);
        let writes = cur.writes.saturating_sub(prev.writes);
        m.read_throughput += per_second(reads, over);
        m.write_throughput += per_second(writes, over);
        m.mixed_workload_throughput += per_second(reads + writes, over);
        m.operations += reads + writes;
        ops += reads + writes;
        errors += cur.errors.saturating_sub(prev.errors);
        all_ops += cur.reads + cur.writes;
        all_errors += cur.errors;
        window_reads.merge(&cur.read_hist.since(&prev.read_hist));
        window_writes.merge(&cur.write_hist.since(&prev.write_hist));
        all_reads.merge(&cur.read_hist);
        all_writes.merge(&cur.write_hist);
        hits += cur.cache_hits.saturating_sub(prev.cache_hits);
        lookups +=
            (cur.cache_hits + cur.cache_misses).saturating_sub(prev.cache_hits + prev.cache_misses);
        all_hits += cur.cache_hits;
        all_lookups += cur.cache_hits + cur.cache_misses;
        m.write_stall_time +=
            Duration::from_micros(cur.stall_micros.saturating_sub(prev.stall_micros));
        m.memory_usage += engine_memory(&stats);
        m.disk_usage += folder_bytes(inner.fs.as_ref(), &inner.path);
        if let Some(space) = disk_space(inner) {
            let used = if space.total == 0 {
                0.0
            } else {
                1.0 - space.available as f64 / space.total as f64
            };
            if worst_disk.is_none_or(|(u, _)| used > u) {
                worst_disk = Some((used, space));
            }
        }
        let opened = inner.recorder.opened_at;
        let open_secs = now.saturating_duration_since(opened).as_secs_f64();
        accepting += inner.recorder.availability(now) * open_secs;
        open_for += open_secs;
        if newest_open.is_none_or(|t| opened > t) {
            newest_open = Some(opened);
            m.recovery_time = stats.recovery.recovery_time;
        }
        m.level0_files = m
            .level0_files
            .max(stats.levels.first().map_or(0, |l| l.files as u64));
        m.immutable_memtables = m.immutable_memtables.max(stats.immutable_memtables as u64);
        samples.insert(inner.recorder.id, cur);
        stats_out.push(stats);
    }
    // Percentiles of the interval, or of everything since open when the interval had
    // no operation of that kind.
    let reads = if window_reads.count() > 0 {
        window_reads
    } else {
        all_reads
    };
    let writes = if window_writes.count() > 0 {
        window_writes
    } else {
        all_writes
    };
    m.read_latency_p50 = reads.quantile(0.50);
    m.read_latency_p95 = reads.quantile(0.95);
    m.read_latency_p99 = reads.quantile(0.99);
    m.write_latency_p50 = writes.quantile(0.50);
    m.write_latency_p95 = writes.quantile(0.95);
    m.write_latency_p99 = writes.quantile(0.99);
    m.latency_samples = reads.count() + writes.count();
    let (errors, ops) = if ops + errors > 0 {
        (errors, ops)
    } else {
        (all_errors, all_ops)
    };
    m.error_rate = if ops + errors == 0 {
        0.0
    } else {
        errors as f64 / (ops + errors) as f64
    };
    let (hits, lookups) = if lookups > 0 {
        (hits, lookups)
    } else {
        (all_hits, all_lookups)
    };
    m.cache_lookups = lookups;
    m.cache_hit_rate = if lookups == 0 {
        1.0
    } else {
        hits as f64 / lookups as f64
    };
    if open_for > 0.0 {
        m.availability = (accepting / open_for).clamp(0.0, 1.0);
    }
    if let Some((_, space)) = worst_disk {
        m.disk_total = space.total;
        m.disk_available = space.available;
    }
    let wall = now.saturating_duration_since(base.at).as_secs_f64();
    if let (Some(before), Some(after)) = (base.cpu, cpu_now) {
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
        if wall > 0.0 {
            m.cpu_usage =
                (after.saturating_sub(before).as_secs_f64() / (wall * cpus)).clamp(0.0, 1.0);
        }
    }
    let baseline = Baseline {
        at: now,
        cpu: cpu_now,
        dbs: samples,
    };
    (m, stats_out, baseline)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_process_cpu_time_moves_with_work() {
        let Some(before) = process_cpu_time() else {
            return; // no /proc here
        };
        let mut x = 0u64;
        let mut n = 0u64;
        while process_cpu_time().is_some_and(|t| t <= before) && n < 10_000_000_000 {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(n);
            n += 1;
        }
        assert!(process_cpu_time().expect("cpu") > before, "{x}");
    }
}
