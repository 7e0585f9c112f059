//! [`PerformanceMetrics`]: what a database (or every open database) measured over the
//! last interval, the SLA it is held to, its score and the bottlenecks it shows.

use std::fmt;
use std::time::Duration;

use serde::Serialize;

/// Thresholds [`PerformanceMetrics::meets_sla`] holds the metrics to. Set your own with
/// [`MetricsCollector::with_sla`](crate::MetricsCollector::with_sla) (the metrics it
/// produces carry them) or by assigning [`PerformanceMetrics::sla`].
///
/// The defaults suit an embedded store on a local SSD with durable commits:
///
/// | field | default |
/// |---|---|
/// | `max_read_latency_p99` | 10 ms |
/// | `max_write_latency_p99` | 50 ms (a durable commit waits for `fdatasync`) |
/// | `max_error_rate` | 0.001 (one failed operation in a thousand) |
/// | `min_availability` | 0.999 |
/// | `min_cache_hit_rate` | 0.0 (not held: memory-mapped reads bypass the cache) |
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct SlaThresholds {
    /// Largest acceptable 99th-percentile point-read latency.
    pub max_read_latency_p99: Duration,
    /// Largest acceptable 99th-percentile write latency.
    pub max_write_latency_p99: Duration,
    /// Largest acceptable share of operations that fail.
    pub max_error_rate: f64,
    /// Smallest acceptable availability (time accepting operations over time open).
    pub min_availability: f64,
    /// Smallest acceptable block-cache hit rate.
    pub min_cache_hit_rate: f64,
}

impl Default for SlaThresholds {
    fn default() -> Self {
        Self {
            max_read_latency_p99: Duration::from_millis(10),
            max_write_latency_p99: Duration::from_millis(50),
            max_error_rate: 0.001,
            min_availability: 0.999,
            min_cache_hit_rate: 0.0,
        }
    }
}

/// What one or more databases measured. Every field is measured, none estimated:
///
/// - latencies come from the facade's log-linear histograms (every write; one point read
///   in 16 per thread, an unbiased sample), over the last interval, or over everything
///   since open when the interval had no operation of that kind;
/// - throughputs are operations counted over the last interval divided by its length;
/// - `cache_hit_rate` is block-cache hits over lookups in the interval (since open when
///   the interval had none; 1.0 when no read ever needed the cache, as when every block
///   is read through the memory map);
/// - `memory_usage` is the engine's own accounting (memtables, their seek indexes, the
///   block cache, table indexes and filters);
/// - `disk_usage` is the bytes of every file in the database folder (and its
///   `quarantine/`), listed through the database's file system;
/// - `cpu_usage` is the process's CPU time over the interval (from `/proc/self/stat`)
///   divided by the interval times the CPUs available (0 where `/proc` is missing);
/// - `error_rate` is failed operations over operations in the interval (bad input and
///   transaction conflicts are the caller's, not counted);
/// - `availability` is time accepting operations over time open (a database refusing
///   writes after a failed sync, or halted after corruption, is not accepting);
/// - `recovery_time` is how long the last open took to recover.
///
/// The fields after `recovery_time` are the evidence [`identify_bottlenecks`]
/// (Self::identify_bottlenecks) and [`performance_score`](Self::performance_score) use.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct PerformanceMetrics {
    /// Median point-read latency.
    pub read_latency_p50: Duration,
    /// 95th-percentile point-read latency.
    pub read_latency_p95: Duration,
    /// 99th-percentile point-read latency.
    pub read_latency_p99: Duration,
    /// Median write latency.
    pub write_latency_p50: Duration,
    /// 95th-percentile write latency.
    pub write_latency_p95: Duration,
    /// 99th-percentile write latency.
    pub write_latency_p99: Duration,
    /// Point reads per second.
    pub read_throughput: u64,
    /// Writes (puts, deletes, batches, commits) per second.
    pub write_throughput: u64,
    /// Reads and writes per second.
    pub mixed_workload_throughput: u64,
    /// Block-cache hits over lookups, 0.0 to 1.0.
    pub cache_hit_rate: f64,
    /// Bytes of memory the engine accounts for.
    pub memory_usage: u64,
    /// Bytes of the database folder on disk.
    pub disk_usage: u64,
    /// Process CPU use, 0.0 to 1.0 of the machine.
    pub cpu_usage: f64,
    /// Failed operations per operation.
    pub error_rate: f64,
    /// Time accepting operations over time open, 0.0 to 1.0.
    pub availability: f64,
    /// How long the last open took to recover.
    pub recovery_time: Duration,
    /// The interval measured (the longest, over several databases).
    pub interval: Duration,
    /// Reads and writes in the interval.
    pub operations: u64,
    /// Reads and writes that were timed into the percentiles above.
    pub latency_samples: u64,
    /// Block-cache lookups in the interval.
    pub cache_lookups: u64,
    /// Time writers spent stalled behind flushes or compaction in the interval.
    pub write_stall_time: Duration,
    /// Level-0 table files now (the most of any database).
    pub level0_files: u64,
    /// Memtables waiting to be flushed now (the most of any database).
    pub immutable_memtables: u64,
    /// Bytes of the file system holding the database (0 when unknown).
    pub disk_total: u64,
    /// Bytes still free there (0 when unknown).
    pub disk_available: u64,
    /// Open databases measured.
    pub databases: u64,
    /// The thresholds [`meets_sla`](Self::meets_sla) applies.
    pub sla: SlaThresholds,
}

/// What kind of bottleneck a [`PerformanceBottleneck`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum BottleneckKind {
    /// Reads miss the block cache.
    LowCacheHitRate,
    /// Writers waited for flushes or compaction.
    WriteStall,
    /// Tail latency far above the median.
    TailLatency,
    /// The disk holding the database is nearly full.
    DiskNearlyFull,
    /// Level-0 tables pile up faster than compaction merges them.
    Level0Backlog,
}

impl BottleneckKind {
    /// The kind's name in reports (`"low_cache_hit_rate"`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            BottleneckKind::LowCacheHitRate => "low_cache_hit_rate",
            BottleneckKind::WriteStall => "write_stall",
            BottleneckKind::TailLatency => "tail_latency",
            BottleneckKind::DiskNearlyFull => "disk_nearly_full",
            BottleneckKind::Level0Backlog => "level0_backlog",
        }
    }
}

impl fmt::Display for BottleneckKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One finding of [`PerformanceMetrics::identify_bottlenecks`]: what, the measured
/// evidence, and what to do.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PerformanceBottleneck {
    /// What kind of bottleneck.
    pub kind: BottleneckKind,
    /// The measurements that show it.
    pub evidence: String,
    /// What to change.
    pub suggestion: String,
}

/// Cache lookups an interval needs before a low hit rate counts.
const MIN_CACHE_LOOKUPS: u64 = 100;
/// Share of the interval writers may spend stalled before it counts.
const STALL_SHARE: f64 = 0.05;
/// p99 over p50 beyond which the tail counts, with at least this many samples.
const TAIL_RATIO: f64 = 10.0;
const MIN_TAIL_SAMPLES: u64 = 100;
/// Used share of the disk beyond which it is nearly full.
pub(crate) const DISK_NEARLY_FULL: f64 = 0.90;
/// Level-0 files that count as a backlog (compaction starts at 4; writers stop at 20).
const L0_BACKLOG: u64 = 8;
/// Cache hit rate below which reads are missing the cache.
const LOW_HIT_RATE: f64 = 0.80;

impl PerformanceMetrics {
    /// Whether the metrics meet [`Self::sla`]: read and write p99 within their limits,
    /// error rate at most, availability and cache hit rate at least their thresholds.
    pub fn meets_sla(&self) -> bool {
        let s = &self.sla;
        self.read_latency_p99 <= s.max_read_latency_p99
            && self.write_latency_p99 <= s.max_write_latency_p99
            && self.error_rate <= s.max_error_rate
            && self.availability >= s.min_availability
            && self.cache_hit_rate >= s.min_cache_hit_rate
    }

    /// The share of the disk in use, when the disk's size is known.
    pub fn disk_used_fraction(&self) -> Option<f64> {
        (self.disk_total > 0)
            .then(|| 1.0 - self.disk_available as f64 / self.disk_total as f64)
            .map(|f| f.clamp(0.0, 1.0))
    }

    /// A score from 0 to 100:
    ///
    /// `100 × (0.35 L + 0.25 A + 0.15 E + 0.15 C + 0.10 D)` where
    /// - `L` (latency) is the mean over reads and writes of `min(1, sla_p99 / p99)`: 1 within
    ///   the SLA, halving each time the p99 doubles past it;
    /// - `A` is the availability;
    /// - `E` (errors) is `1 − min(1, error_rate × 100)`: 0 at one error in a hundred;
    /// - `C` is the cache hit rate;
    /// - `D` (disk) is 1 up to 80% used, falling linearly to 0 at a full disk (1 when the
    ///   disk's size is unknown).
    pub fn performance_score(&self) -> f64 {
        let within = |p99: Duration, limit: Duration| {
            if p99.is_zero() || p99 <= limit {
                1.0
            } else {
                limit.as_secs_f64() / p99.as_secs_f64()
            }
        };
        let l = (within(self.read_latency_p99, self.sla.max_read_latency_p99)
            + within(self.write_latency_p99, self.sla.max_write_latency_p99))
            / 2.0;
        let a = self.availability.clamp(0.0, 1.0);
        let e = 1.0 - (self.error_rate * 100.0).clamp(0.0, 1.0);
        let c = self.cache_hit_rate.clamp(0.0, 1.0);
        let d = match self.disk_used_fraction() {
            Some(used) => (1.0 - (used - 0.8).max(0.0) / 0.2).clamp(0.0, 1.0),
            None => 1.0,
        };
        (100.0 * (0.35 * l + 0.25 * a + 0.15 * e + 0.15 * c + 0.10 * d)).clamp(0.0, 100.0)
    }

    /// What holds performance back, each finding with its evidence and a suggestion:
    /// a cache hit rate below 80% over at least 100 lookups; writers stalled more than 5%
    /// of the interval; a p99 more than 10 times the p50 (over at least 100 samples); a
    /// disk more than 90% full; 8 or more level-0 tables.
    pub fn identify_bottlenecks(&self) -> Vec<PerformanceBottleneck> {
        let mut out = Vec::new();
        let mut add = |kind, evidence: String, suggestion: &str| {
            out.push(PerformanceBottleneck {
                kind,
                evidence,
                suggestion: suggestion.to_string(),
            })
        };
        if self.cache_lookups >= MIN_CACHE_LOOKUPS && self.cache_hit_rate < LOW_HIT_RATE {
            add(
                BottleneckKind::LowCacheHitRate,
                format!(
                    "{:.1}% of {} block-cache lookups hit",
                    self.cache_hit_rate * 100.0,
                    self.cache_lookups
                ),
                "raise cache_size so the blocks read most fit in memory, or turn \
                 compression off so blocks are read through the memory map",
            );
        }
        if !self.interval.is_zero() {
            let share = self.write_stall_time.as_secs_f64() / self.interval.as_secs_f64();
            if share > STALL_SHARE {
                add(
                    BottleneckKind::WriteStall,
                    format!(
                        "writers stalled {:?} of {:?} ({:.0}%) waiting for flushes or compaction",
                        self.write_stall_time,
                        self.interval,
                        share * 100.0
                    ),
                    "raise write_buffer_size, batch writes, or move the database to a faster \
                     disk so flushes and compaction keep up",
                );
            }
        }
        if self.latency_samples >= MIN_TAIL_SAMPLES {
            for (what, p50, p99) in [
                ("read", self.read_latency_p50, self.read_latency_p99),
                ("write", self.write_latency_p50, self.write_latency_p99),
            ] {
                if !p50.is_zero() && p99.as_secs_f64() > TAIL_RATIO * p50.as_secs_f64() {
                    add(
                        BottleneckKind::TailLatency,
                        format!("{what} p99 {p99:?} is {:.0}x the p50 {p50:?}", {
                            p99.as_secs_f64() / p50.as_secs_f64()
                        }),
                        "look for stalls (write_stall_time), a busy or slow disk, or \
                         compactions competing with reads; raise cache_size when reads miss",
                    );
                }
            }
        }
        if let Some(used) = self.disk_used_fraction() {
            if used > DISK_NEARLY_FULL {
                add(
                    BottleneckKind::DiskNearlyFull,
                    format!(
                        "{:.1}% of the disk is used ({} bytes free of {})",
                        used * 100.0,
                        self.disk_available,
                        self.disk_total
                    ),
                    "free space or move the database: compaction needs room for its output \
                     before it deletes its input, and writes fail with ENOSPC when none is left",
                );
            }
        }
        if self.level0_files >= L0_BACKLOG {
            add(
                BottleneckKind::Level0Backlog,
                format!(
                    "{} level-0 tables (compaction starts at 4, writers stop at 20)",
                    self.level0_files
                ),
                "writes outpace compaction: batch writes, raise write_buffer_size, or call \
                 compact() in a quiet period",
            );
        }
        out
    }

    /// The metrics as JSON (durations as `{"secs", "nanos"}`), every field followed by
    /// what the methods make of them: `meets_sla`, `performance_score` and `bottlenecks`
    /// (each `kind`, `evidence`, `suggestion`).
    pub fn to_json(&self) -> String {
        let mut value = serde_json::to_value(self).unwrap_or_default();
        if let serde_json::Value::Object(map) = &mut value {
            map.insert("meets_sla".into(), self.meets_sla().into());
            map.insert("performance_score".into(), self.performance_score().into());
            map.insert(
                "bottlenecks".into(),
                serde_json::to_value(self.identify_bottlenecks()).unwrap_or_default(),
            );
        }
        serde_json::to_string_pretty(&value).unwrap_or_else(|_| "{}".to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn healthy() -> PerformanceMetrics {
        PerformanceMetrics {
            read_latency_p50: Duration::from_micros(2),
            read_latency_p95: Duration::from_micros(5),
            read_latency_p99: Duration::from_micros(9),
            write_latency_p50: Duration::from_micros(150),
            write_latency_p95: Duration::from_micros(300),
            write_latency_p99: Duration::from_micros(800),
            cache_hit_rate: 1.0,
            availability: 1.0,
            interval: Duration::from_secs(10),
            ..Default::default()
        }
    }

    #[test]
    fn the_sla_holds_each_threshold() {
        let m = healthy();
        assert!(m.meets_sla());
        assert_eq!(m.performance_score(), 100.0);
        let slow = PerformanceMetrics {
            read_latency_p99: Duration::from_millis(20),
            ..healthy()
        };
        assert!(!slow.meets_sla());
        // 20 ms against 10 ms: the read half of L is 0.5, L = 0.75.
        assert!((slow.performance_score() - (100.0 - 35.0 * 0.25)).abs() < 1e-9);
        let failing = PerformanceMetrics {
            error_rate: 0.01,
            ..healthy()
        };
        assert!(!failing.meets_sla());
        let lax = PerformanceMetrics {
            sla: SlaThresholds {
                max_error_rate: 0.05,
                ..Default::default()
            },
            ..failing.clone()
        };
        assert!(lax.meets_sla());
        let down = PerformanceMetrics {
            availability: 0.5,
            ..healthy()
        };
        assert!(!down.meets_sla());
    }

    #[test]
    fn each_bottleneck_needs_its_evidence() {
        assert!(healthy().identify_bottlenecks().is_empty());
        let m = PerformanceMetrics {
            cache_hit_rate: 0.5,
            cache_lookups: 1000,
            write_stall_time: Duration::from_secs(2),
            latency_samples: 1000,
            read_latency_p99: Duration::from_micros(500),
            disk_total: 100,
            disk_available: 5,
            level0_files: 12,
            ..healthy()
        };
        let kinds: Vec<BottleneckKind> = m.identify_bottlenecks().iter().map(|b| b.kind).collect();
        assert_eq!(
            kinds,
            vec![
                BottleneckKind::LowCacheHitRate,
                BottleneckKind::WriteStall,
                BottleneckKind::TailLatency,
                BottleneckKind::DiskNearlyFull,
                BottleneckKind::Level0Backlog,
            ]
        );
        for b in m.identify_bottlenecks() {
            assert!(!b.evidence.is_empty() && !b.suggestion.is_empty());
        }
        // Too few lookups or samples: no finding.
        let few = PerformanceMetrics {
            cache_hit_rate: 0.1,
            cache_lookups: 10,
            latency_samples: 10,
            read_latency_p99: Duration::from_millis(5),
            ..healthy()
        };
        assert!(few.identify_bottlenecks().is_empty());
        let json = m.to_json();
        assert!(json.contains("\"read_latency_p99\""), "{json}");
        assert!(json.contains("\"meets_sla\": true"), "{json}");
        assert!(json.contains("\"kind\": \"level0_backlog\""), "{json}");
        assert!(json.contains("\"performance_score\": "), "{json}");
    }
}
