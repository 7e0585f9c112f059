//! Numbers an open database reports about itself.

use std::time::Duration;

use serde::Serialize;

use crate::measure::LatencySummary;

/// Files, bytes and entries of one level.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct LevelStats {
    /// Level number (0 holds freshly flushed, possibly overlapping files).
    pub level: usize,
    /// Table files in the level.
    pub files: usize,
    /// Bytes of those files.
    pub bytes: u64,
    /// Versions stored (values and tombstones).
    pub entries: u64,
    /// Tombstones stored.
    pub tombstones: u64,
}

/// What opening the database had to do to recover.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RecoveryReport {
    /// Log segments read.
    pub wal_segments_replayed: u64,
    /// Log records (batches) applied.
    pub wal_records_replayed: u64,
    /// Individual versions applied.
    pub wal_entries_replayed: u64,
    /// Bytes of a torn record cut off the end of the newest segment (a crash in mid-write;
    /// such a write was never acknowledged under `Durability::Sync`).
    pub torn_tail_bytes_truncated: u64,
    /// The segment the torn tail was cut from.
    pub torn_tail_segment: Option<String>,
    /// Table files no manifest referred to (left by an interrupted flush or compaction), removed.
    pub orphan_tables_removed: u64,
    /// Time spent opening.
    pub recovery_time: Duration,
}

/// What a self-healing action did (see [`HealingAction`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum HealingKind {
    /// A damaged table was rebuilt from what it still holds, online.
    TableRepaired,
    /// A damaged table was taken out of the database and set aside, online.
    TableQuarantined,
    /// The disk was nearly full: everything was compacted to reclaim space.
    SpaceReclaimed,
    /// The disk was nearly full: writes are refused with `InsufficientResources`.
    WritesRefused,
    /// Space came back: writes are accepted again.
    WritesResumed,
    /// Memory was over its threshold: the block cache was shrunk.
    CacheShrunk,
    /// A background thread had died: it was started again.
    ThreadRestarted,
}

/// One action self-healing took, as the database recorded it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HealingAction {
    /// What was done.
    pub kind: HealingKind,
    /// The health check whose finding triggered it (`"integrity"`, `"resources"`,
    /// `"engine"`).
    pub check: String,
    /// What was found and done, with names and figures.
    pub detail: String,
    /// When, in milliseconds since the Unix epoch.
    pub unix_millis: u64,
}

/// What self-healing has done since the database opened, in [`DbStats::self_healing`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SelfHealingStats {
    /// Actions taken (every kind).
    pub actions: u64,
    /// Damaged tables rebuilt online.
    pub tables_repaired: u64,
    /// Damaged tables set aside online.
    pub tables_quarantined: u64,
    /// Compactions run to reclaim disk space.
    pub space_reclaims: u64,
    /// Writes refused with `InsufficientResources` because the disk was nearly full.
    pub writes_refused: u64,
    /// Whether writes are being refused for want of disk space now.
    pub refusing_writes: bool,
    /// Times the block cache was shrunk.
    pub cache_shrinks: u64,
    /// Background threads started again after they died.
    pub threads_restarted: u64,
    /// The most recent actions, oldest first (at most 32).
    pub recent: Vec<HealingAction>,
}

/// Where the database's own circuit breaker stands, in [`DbStats::circuit_breaker`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BreakerSummary {
    /// `"closed"`, `"open"` or `"half_open"`.
    pub state: &'static str,
    /// Consecutive I/O failures counted while closed.
    pub consecutive_failures: usize,
    /// While open: milliseconds until it lets a trial operation through.
    pub retry_after_ms: Option<u64>,
    /// Times it opened since the database opened.
    pub times_opened: u64,
    /// Operations it refused.
    pub rejections: u64,
    /// I/O failures it counted.
    pub failures: u64,
}

impl BreakerSummary {
    /// The summary of `breaker` now.
    pub(crate) fn of(breaker: &crate::breaker::CircuitBreaker) -> Self {
        use crate::breaker::CircuitState;
        let stats = breaker.stats();
        let (state, consecutive_failures) = match breaker.state() {
            CircuitState::Closed { failure_count, .. } => ("closed", failure_count),
            CircuitState::Open { .. } => ("open", 0),
            CircuitState::HalfOpen { .. } => ("half_open", 0),
        };
        BreakerSummary {
            state,
            consecutive_failures,
            retry_after_ms: breaker
                .time_until_retry()
                .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
            times_opened: stats.times_opened,
            rejections: stats.rejections,
            failures: stats.failures,
        }
    }

    /// 0 closed, 1 half-open, 2 open (the Prometheus gauge).
    pub fn state_number(&self) -> u8 {
        match self.state {
            "open" => 2,
            "half_open" => 1,
            _ => 0,
        }
    }
}

/// A snapshot of an open database's sizes and counters, from [`crate::Database::stats`].
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct DbStats {
    /// Database directory.
    pub path: String,
    /// Whether the database is encrypted at rest.
    pub encrypted: bool,
    /// For an encrypted database, the generation of the data key new files are sealed
    /// with (1 for a new one); `None` for a plain database.
    pub key_generation: Option<u32>,
    /// Sequence number of the newest write.
    pub last_sequence: u64,
    /// Bytes held by the active memtable.
    pub memtable_bytes: u64,
    /// Memtables waiting to be flushed.
    pub immutable_memtables: usize,
    /// Bytes held by those memtables.
    pub immutable_memtable_bytes: u64,
    /// Table files, all levels.
    pub table_files: usize,
    /// Bytes of table files.
    pub table_bytes: u64,
    /// Versions stored in memtables and tables (overwritten versions count until compacted).
    pub estimated_entries: u64,
    /// Per-level detail.
    pub levels: Vec<LevelStats>,
    /// Bytes in the active log segment.
    pub wal_bytes: u64,
    /// Table and log bytes on disk.
    pub disk_bytes: u64,
    /// Block cache bound.
    pub cache_capacity_bytes: u64,
    /// Block cache bytes in use.
    pub cache_usage_bytes: u64,
    /// Memory open tables hold outside the block cache: their indexes, bloom filters and,
    /// for blocks read through memory maps, the entry offsets and key prefixes learned
    /// on each block's first read.
    pub table_memory_bytes: u64,
    /// Memory the memtables' seek indexes take (18 bytes per version, built once a
    /// memtable holds 4,096 versions and is searched; outside the write buffer budget).
    pub memtable_index_bytes: u64,
    /// Block cache hits.
    pub cache_hits: u64,
    /// Block cache misses.
    pub cache_misses: u64,
    /// Single puts since open.
    pub puts: u64,
    /// Single deletes since open.
    pub deletes: u64,
    /// Point reads since open.
    pub gets: u64,
    /// Batches and transaction commits since open.
    pub batches: u64,
    /// Key and value bytes written since open.
    pub bytes_written: u64,
    /// Group commits (one log write each).
    pub write_groups: u64,
    /// Log syncs.
    pub wal_syncs: u64,
    /// Memtable flushes.
    pub flushes: u64,
    /// Compactions.
    pub compactions: u64,
    /// Bytes written by compactions.
    pub compaction_bytes_written: u64,
    /// Time writers spent stalled waiting for flush or compaction.
    pub write_stall_micros: u64,
    /// Transaction commits refused for conflicts.
    pub transaction_conflicts: u64,
    /// Background flush or compaction failures.
    pub background_errors: u64,
    /// Flushes and compactions tried again after a transient I/O failure
    /// (`reliability.retry_max_attempts`).
    pub background_retries: u64,
    /// Background threads (`lightning-flush`, `lightning-compact`, `lightning-sync`) that
    /// ended while the database is open and not poisoned: they panicked.
    pub dead_background_threads: Vec<String>,
    /// The database's own circuit breaker, with `circuit_breaker_enabled`.
    pub circuit_breaker: Option<BreakerSummary>,
    /// What self-healing did (`enable_self_healing`).
    pub self_healing: SelfHealingStats,
    /// Large batches written straight into table files.
    pub ingested_batches: u64,
    /// Snapshots and transactions holding old versions.
    pub live_snapshots: usize,
    /// Why writes are refused, when they are.
    pub poisoned: Option<String>,
    /// What opening had to recover.
    pub recovery: RecoveryReport,
    /// Time since open.
    pub uptime: Duration,
    /// Latency of point reads since open (`get`, `get_pinned`, `contains_key`; one read
    /// in 16 per thread is timed, an unbiased sample). Zero with `enable_statistics` off.
    pub read_latency: LatencySummary,
    /// Latency of writes since open (every `put`, `delete`, `write_batch` and transaction
    /// commit).
    pub write_latency: LatencySummary,
    /// Operations that failed since open, not counting the caller's own mistakes (bad
    /// input, transaction conflicts).
    pub operation_errors: u64,
    /// Point reads per second over the last interval (see
    /// [`Database::metrics`](crate::Database::metrics)).
    pub read_throughput: u64,
    /// Writes (puts, deletes, batches, commits) per second over the last interval.
    pub write_throughput: u64,
    /// Reads and writes per second over the last interval.
    pub mixed_workload_throughput: u64,
    /// The interval the throughputs were measured over.
    pub throughput_interval: Duration,
}

/// How one self-check of the database came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CheckState {
    /// Nothing to report.
    Healthy,
    /// Degraded but serving: worth a look.
    Warning,
    /// Not serving part of its job (for example writes are refused).
    Critical,
}

/// One self-check of the database, derived from its live counters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SelfCheck {
    /// Stable name of the check.
    pub name: &'static str,
    /// Its outcome.
    pub state: CheckState,
    /// What was seen, in words.
    pub message: String,
}

/// The database's view of its own health: the worst state of its checks, and each check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HealthSummary {
    /// The worst state among `checks`.
    pub state: CheckState,
    /// Every check.
    pub checks: Vec<SelfCheck>,
}

impl HealthSummary {
    /// The summary as JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_else(|_| "{}".to_string())
    }
}

impl DbStats {
    /// Self-checks computed from these statistics: writes accepted, background work
    /// succeeding, flush and level-0 backlogs, what recovery had to do.
    pub fn health(&self) -> HealthSummary {
        let check = |name, state, message: String| SelfCheck {
            name,
            state,
            message,
        };
        let mut checks = Vec::new();
        checks.push(match &self.poisoned {
            Some(reason) => check(
                "writes",
                CheckState::Critical,
                format!("writes are refused until the database is reopened: {reason}"),
            ),
            None => check("writes", CheckState::Healthy, "writes are accepted".into()),
        });
        checks.push(if self.background_errors > 0 {
            check(
                "background_work",
                CheckState::Warning,
                format!(
                    "{} flush or compaction attempts failed",
                    self.background_errors
                ),
            )
        } else {
            check("background_work", CheckState::Healthy, "no failures".into())
        });
        checks.push(if self.dead_background_threads.is_empty() {
            check(
                "background_threads",
                CheckState::Healthy,
                "every background thread runs".into(),
            )
        } else {
            check(
                "background_threads",
                CheckState::Critical,
                format!(
                    "background threads died: {} (with enable_self_healing they are \
                     restarted; else reopen the database)",
                    self.dead_background_threads.join(", ")
                ),
            )
        });
        checks.push(if self.immutable_memtables >= 2 {
            check(
                "flush_backlog",
                CheckState::Warning,
                format!("{} memtables wait to be flushed", self.immutable_memtables),
            )
        } else {
            check(
                "flush_backlog",
                CheckState::Healthy,
                format!("{} memtables wait to be flushed", self.immutable_memtables),
            )
        });
        let l0 = self.levels.first().map_or(0, |l| l.files);
        let l0_state = if l0 >= crate::storage::compaction::L0_STOP_WRITES {
            CheckState::Critical
        } else if l0 >= 2 * crate::storage::compaction::L0_COMPACTION_TRIGGER {
            CheckState::Warning
        } else {
            CheckState::Healthy
        };
        checks.push(check(
            "level0_backlog",
            l0_state,
            format!(
                "{l0} level-0 files (writers stall at {})",
                crate::storage::compaction::L0_STOP_WRITES
            ),
        ));
        checks.push(if self.recovery.torn_tail_bytes_truncated > 0 {
            check(
                "last_recovery",
                CheckState::Warning,
                format!(
                    "a torn log tail of {} bytes was cut off at open (writes that were never acknowledged)",
                    self.recovery.torn_tail_bytes_truncated
                ),
            )
        } else {
            check(
                "last_recovery",
                CheckState::Healthy,
                format!("{} log records replayed at open", self.recovery.wal_records_replayed),
            )
        });
        let state = checks
            .iter()
            .map(|c| c.state)
            .max()
            .unwrap_or(CheckState::Healthy);
        HealthSummary { state, checks }
    }

    /// Fraction of block lookups served from the cache (0 when there were none).
    pub fn cache_hit_rate(&self) -> f64 {
        let total = self.cache_hits + self.cache_misses;
        if total == 0 {
            0.0
        } else {
            self.cache_hits as f64 / total as f64
        }
    }

    /// The statistics as JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_else(|_| "{}".to_string())
    }

    /// The counters and gauges in the Prometheus text exposition format (version 0.0.4),
    /// each metric prefixed `lightning_`.
    pub fn to_prometheus(&self) -> String {
        let mut out = String::new();
        let mut metric = |name: &str, kind: &str, help: &str, value: f64| {
            out.push_str(&format!(
                "# HELP lightning_{name} {help}\n# TYPE lightning_{name} {kind}\nlightning_{name} {value}\n"
            ));
        };
        let counters: [(&str, &str, u64); 16] = [
            ("puts_total", "Single puts since open.", self.puts),
            ("deletes_total", "Single deletes since open.", self.deletes),
            ("gets_total", "Point reads since open.", self.gets),
            (
                "batches_total",
                "Batches and transaction commits since open.",
                self.batches,
            ),
            (
                "written_bytes_total",
                "Key and value bytes written since open.",
                self.bytes_written,
            ),
            (
                "write_groups_total",
                "Group commits (one log write each).",
                self.write_groups,
            ),
            ("wal_syncs_total", "Log syncs.", self.wal_syncs),
            ("flushes_total", "Memtable flushes.", self.flushes),
            ("compactions_total", "Compactions.", self.compactions),
            (
                "compaction_written_bytes_total",
                "Bytes written by compactions.",
                self.compaction_bytes_written,
            ),
            (
                "write_stall_microseconds_total",
                "Time writers spent stalled.",
                self.write_stall_micros,
            ),
            (
                "transaction_conflicts_total",
                "Commits refused for conflicts.",
                self.transaction_conflicts,
            ),
            (
                "background_errors_total",
                "Failed flushes or compactions.",
                self.background_errors,
            ),
            (
                "ingested_batches_total",
                "Large batches written straight to tables.",
                self.ingested_batches,
            ),
            ("cache_hits_total", "Block cache hits.", self.cache_hits),
            (
                "cache_misses_total",
                "Block cache misses.",
                self.cache_misses,
            ),
        ];
        for (name, help, value) in counters {
            metric(name, "counter", help, value as f64);
        }
        let h = &self.self_healing;
        let more: [(&str, &str, u64); 3] = [
            (
                "background_retries_total",
                "Flushes and compactions retried after a transient I/O failure.",
                self.background_retries,
            ),
            (
                "self_healing_actions_total",
                "Actions self-healing took.",
                h.actions,
            ),
            (
                "writes_refused_for_space_total",
                "Writes refused because the disk was nearly full.",
                h.writes_refused,
            ),
        ];
        for (name, help, value) in more {
            metric(name, "counter", help, value as f64);
        }
        if let Some(b) = &self.circuit_breaker {
            metric(
                "circuit_breaker_state",
                "gauge",
                "The database's circuit breaker: 0 closed, 1 half-open, 2 open.",
                f64::from(b.state_number()),
            );
            metric(
                "circuit_breaker_rejections_total",
                "counter",
                "Operations the circuit breaker refused.",
                b.rejections as f64,
            );
        }
        let gauges: [(&str, &str, f64); 12] = [
            (
                "last_sequence",
                "Sequence number of the newest write.",
                self.last_sequence as f64,
            ),
            (
                "memtable_bytes",
                "Bytes in the active memtable.",
                self.memtable_bytes as f64,
            ),
            (
                "immutable_memtables",
                "Memtables waiting to be flushed.",
                self.immutable_memtables as f64,
            ),
            (
                "table_files",
                "Table files, all levels.",
                self.table_files as f64,
            ),
            (
                "table_bytes",
                "Bytes of table files.",
                self.table_bytes as f64,
            ),
            (
                "disk_bytes",
                "Table and log bytes on disk.",
                self.disk_bytes as f64,
            ),
            (
                "cache_usage_bytes",
                "Block cache bytes in use.",
                self.cache_usage_bytes as f64,
            ),
            (
                "table_memory_bytes",
                "Memory open tables hold outside the block cache (indexes, filters, mapped block layouts).",
                self.table_memory_bytes as f64,
            ),
            (
                "memtable_index_bytes",
                "Memory the memtables' seek indexes take.",
                self.memtable_index_bytes as f64,
            ),
            (
                "cache_capacity_bytes",
                "Block cache bound.",
                self.cache_capacity_bytes as f64,
            ),
            (
                "live_snapshots",
                "Snapshots and transactions holding old versions.",
                self.live_snapshots as f64,
            ),
            (
                "writes_refused",
                "1 when writes are refused until reopen (poisoned).",
                f64::from(u8::from(self.poisoned.is_some())),
            ),
        ];
        for (name, help, value) in gauges {
            metric(name, "gauge", help, value);
        }
        metric(
            "operation_errors_total",
            "counter",
            "Operations that failed, not counting bad input or conflicts.",
            self.operation_errors as f64,
        );
        let throughputs: [(&str, &str, u64); 3] = [
            (
                "read_throughput_ops_per_second",
                "Point reads per second over the last interval.",
                self.read_throughput,
            ),
            (
                "write_throughput_ops_per_second",
                "Writes per second over the last interval.",
                self.write_throughput,
            ),
            (
                "mixed_throughput_ops_per_second",
                "Reads and writes per second over the last interval.",
                self.mixed_workload_throughput,
            ),
        ];
        for (name, help, value) in throughputs {
            metric(name, "gauge", help, value as f64);
        }
        for (name, help, l) in [
            (
                "read_latency_seconds",
                "Point read latency since open (one read in 16 per thread is timed).",
                &self.read_latency,
            ),
            (
                "write_latency_seconds",
                "Write latency since open (every put, delete, batch and commit).",
                &self.write_latency,
            ),
        ] {
            out.push_str(&format!(
                "# HELP lightning_{name} {help}\n# TYPE lightning_{name} summary\n"
            ));
            for (q, d) in [("0.5", l.p50), ("0.95", l.p95), ("0.99", l.p99)] {
                out.push_str(&format!(
                    "lightning_{name}{{quantile=\"{q}\"}} {}\n",
                    d.as_secs_f64()
                ));
            }
            out.push_str(&format!(
                "lightning_{name}_sum {}\nlightning_{name}_count {}\n",
                l.sum.as_secs_f64(),
                l.samples
            ));
        }
        out.push_str("# HELP lightning_level_files Table files per level.\n# TYPE lightning_level_files gauge\n");
        for l in &self.levels {
            out.push_str(&format!(
                "lightning_level_files{{level=\"{}\"}} {}\n",
                l.level, l.files
            ));
        }
        out.push_str("# HELP lightning_level_bytes Table bytes per level.\n# TYPE lightning_level_bytes gauge\n");
        for l in &self.levels {
            out.push_str(&format!(
                "lightning_level_bytes{{level=\"{}\"}} {}\n",
                l.level, l.bytes
            ));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prometheus_text_has_help_type_and_values() {
        let stats = DbStats {
            puts: 3,
            levels: vec![LevelStats {
                level: 0,
                files: 2,
                bytes: 10,
                entries: 5,
                tombstones: 0,
            }],
            poisoned: Some("fsync failed".into()),
            ..Default::default()
        };
        let text = stats.to_prometheus();
        assert!(text.contains("# TYPE lightning_puts_total counter\nlightning_puts_total 3\n"));
        assert!(text.contains("lightning_writes_refused 1\n"));
        assert!(text.contains("lightning_level_files{level=\"0\"} 2\n"));
        let stats = DbStats {
            read_latency: LatencySummary {
                samples: 4,
                p99: Duration::from_micros(250),
                ..Default::default()
            },
            write_throughput: 120,
            ..Default::default()
        };
        let text = stats.to_prometheus();
        assert!(text.contains("# TYPE lightning_read_latency_seconds summary\n"));
        assert!(text.contains("lightning_read_latency_seconds{quantile=\"0.99\"} 0.00025\n"));
        assert!(text.contains("lightning_read_latency_seconds_count 4\n"));
        assert!(text.contains("lightning_write_throughput_ops_per_second 120\n"));
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let value = line.rsplit(' ').next().unwrap_or_default();
            assert!(value.parse::<f64>().is_ok(), "{line}");
        }
    }

    #[test]
    fn health_takes_the_worst_check() {
        let healthy = DbStats::default().health();
        assert_eq!(healthy.state, CheckState::Healthy);
        assert_eq!(healthy.checks.len(), 6);
        let stats = DbStats {
            background_errors: 1,
            ..Default::default()
        };
        assert_eq!(stats.health().state, CheckState::Warning);
        let stats = DbStats {
            background_errors: 1,
            poisoned: Some("fsync failed".into()),
            ..Default::default()
        };
        let health = stats.health();
        assert_eq!(health.state, CheckState::Critical);
        assert!(health.to_json().contains("\"state\": \"critical\""));
    }
}
