//! Statistics: what `Database::stats` reports.

use super::*;

impl DbInner {
    /// A consistent picture of sizes, counters and recovery.
    pub fn stats(&self) -> DbStats {
        let sv = self.super_version.load_full();
        let levels: Vec<LevelStats> = sv
            .version
            .levels
            .iter()
            .enumerate()
            .map(|(level, tables)| LevelStats {
                level,
                files: tables.len(),
                bytes: tables.iter().map(|t| t.file_size).sum(),
                entries: tables.iter().map(|t| t.props.entries).sum(),
                tombstones: tables.iter().map(|t| t.props.tombstones).sum(),
            })
            .collect();
        let table_bytes = levels.iter().map(|l| l.bytes).sum();
        let wal_bytes = self.wal.try_lock().map_or(0, |w| w.len());
        let (cache_hits, cache_misses) = self.cache.hit_miss();
        let c = &self.counters;
        let keys = self.cache.keys();
        DbStats {
            path: self.path.display().to_string(),
            encrypted: keys.is_some(),
            key_generation: keys.map(|k| k.current_generation()),
            last_sequence: self.last_sequence(),
            memtable_bytes: sv.mem.approximate_bytes() as u64,
            immutable_memtables: sv.imms.len(),
            immutable_memtable_bytes: sv.imms.iter().map(|m| m.approximate_bytes() as u64).sum(),
            table_files: levels.iter().map(|l| l.files).sum(),
            table_bytes,
            estimated_entries: levels.iter().map(|l| l.entries).sum::<u64>()
                + sv.mem.len() as u64
                + sv.imms.iter().map(|m| m.len() as u64).sum::<u64>(),
            levels,
            wal_bytes,
            disk_bytes: table_bytes + wal_bytes,
            cache_capacity_bytes: self.cache.capacity(),
            cache_usage_bytes: self.cache.usage(),
            table_memory_bytes: sv
                .version
                .levels
                .iter()
                .flatten()
                .map(|t| t.memory_bytes())
                .sum(),
            memtable_index_bytes: std::iter::once(&sv.mem)
                .chain(sv.imms.iter())
                .map(|m| m.index_memory_bytes() as u64)
                .sum(),
            cache_hits,
            cache_misses,
            puts: c.puts.load(Ordering::Relaxed),
            deletes: c.deletes.load(Ordering::Relaxed),
            gets: c.gets.get(),
            batches: c.batches.load(Ordering::Relaxed),
            bytes_written: c.bytes_written.load(Ordering::Relaxed),
            write_groups: c.write_groups.load(Ordering::Relaxed),
            wal_syncs: c.wal_syncs.load(Ordering::Relaxed),
            flushes: c.flushes.load(Ordering::Relaxed),
            compactions: c.compactions.load(Ordering::Relaxed),
            compaction_bytes_written: c.compaction_bytes_written.load(Ordering::Relaxed),
            write_stall_micros: c.stall_micros.load(Ordering::Relaxed),
            transaction_conflicts: c.conflicts.load(Ordering::Relaxed),
            background_errors: c.background_errors.load(Ordering::Relaxed),
            background_retries: c.background_retries.load(Ordering::Relaxed),
            dead_background_threads: self.dead_threads(),
            circuit_breaker: self.breaker.as_ref().map(BreakerSummary::of),
            self_healing: self.healing.stats(),
            ingested_batches: c.ingested_batches.load(Ordering::Relaxed),
            live_snapshots: self.snapshots.lock().values().sum(),
            poisoned: self.poison_reason(),
            recovery: self.recovery.clone(),
            uptime: self.opened_at.elapsed(),
            read_latency: self.recorder.reads.snapshot().summary(),
            write_latency: self.recorder.writes.snapshot().summary(),
            operation_errors: self.recorder.errors(),
            // The facade fills these from its sampling window.
            read_throughput: 0,
            write_throughput: 0,
            mixed_workload_throughput: 0,
            throughput_interval: Duration::ZERO,
        }
    }
}
