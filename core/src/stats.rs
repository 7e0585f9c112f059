//! Numbers an open database reports about itself.

use std::time::Duration;

use serde::Serialize;

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

/// A snapshot of an open database's sizes and counters, from [`crate::Database::stats`].
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct DbStats {
    /// Database directory.
    pub path: String,
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
}

impl DbStats {
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
}
