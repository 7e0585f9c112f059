//! `lightning demo [PATH]`: the database at work, checked step by step.
//!
//! On the database in PATH (default `./lightning-data`) the demo loads deterministic records
//! (half `demo:user:NNNNNNNN`, half `demo:order:NNNNNNNN`, 100-byte JSON values made from a
//! seeded RNG) in durable write batches, reads every one back, runs a range scan, a prefix
//! scan and a reverse scan, deletes a few keys, flushes, closes, reopens and verifies
//! everything again (count, order, values and a checksum of all pairs), then prints a summary
//! with the database's health checks and the latency percentiles and throughput it measured
//! of the run.
//!
//! The demo owns every key under `demo:` and nothing else: it starts by deleting whatever an
//! earlier run left there, so running it twice on the same folder gives the same result, and
//! keys outside `demo:` are never touched. Any difference between what was written and what
//! is read back ends the demo with exit code 4.

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use lightning_db::{Database, DbStats, KvPair, LatencySummary, LightningDbConfig};
use rand::distributions::Alphanumeric;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::common::{GlobalOpts, DEFAULT_PATH};
use crate::error::CliError;
use crate::output::{
    escape, human_bytes, human_duration, human_rate, plural, progress_bar, thousands,
};

/// Every key the demo writes starts with this.
const DEMO_PREFIX: &str = "demo:";
/// Prefix of the user records.
const USER_PREFIX: &str = "demo:user:";
/// Prefix of the order records.
const ORDER_PREFIX: &str = "demo:order:";
/// Length of every value.
const VALUE_LEN: usize = 100;
/// Seed of the value generator: every run writes the same data.
const SEED: u64 = 0x4c49_4748_544e_494e; // "LIGHTNIN"
/// Keys deleted (and checked) in the middle of the demo.
const DELETES: u64 = 10;
/// Users in the range scan.
const RANGE_LEN: u64 = 1_000;
/// Users in the reverse scan.
const REVERSE_LEN: usize = 10;

/// Arguments of `lightning demo`.
#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// Database directory (created if missing; only keys under `demo:` are touched).
    #[arg(default_value = DEFAULT_PATH)]
    pub path: PathBuf,
    /// Records to load: half users, half orders.
    #[arg(long, default_value_t = 100_000,
          value_parser = clap::value_parser!(u64).range(20..=50_000_000))]
    pub records: u64,
    /// Records per write batch (each batch is one durable commit).
    #[arg(long, default_value_t = 1_000,
          value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub batch_size: u64,
}

/// The key of user `i`.
fn user_key(i: u64) -> Vec<u8> {
    format!("{USER_PREFIX}{i:08}").into_bytes()
}

/// The key of order `i`.
fn order_key(i: u64) -> Vec<u8> {
    format!("{ORDER_PREFIX}{i:08}").into_bytes()
}

/// Pads a JSON object missing its closing `"}` with random letters and digits up to
/// [`VALUE_LEN`] bytes.
fn padded(mut json: String, rng: &mut StdRng) -> Vec<u8> {
    let room = VALUE_LEN.saturating_sub(json.len() + 2);
    json.extend((0..room).map(|_| char::from(rng.sample(Alphanumeric))));
    json.push_str("\"}");
    json.into_bytes()
}

/// The demo's records in load order (user 0, order 0, user 1, order 1, ...), each with a
/// 100-byte JSON value: the same on every run.
fn records(count: u64) -> Vec<KvPair> {
    const TIERS: [&str; 4] = ["free", "basic", "gold", "platinum"];
    let users = count.div_ceil(2);
    let orders = count / 2;
    let mut rng = StdRng::seed_from_u64(SEED);
    let mut out = Vec::with_capacity(usize::try_from(count).unwrap_or(0));
    for i in 0..users {
        let tier = TIERS[rng.gen_range(0..TIERS.len())];
        let user = format!(r#"{{"id":{i},"name":"user-{i:08}","tier":"{tier}","note":""#);
        out.push((user_key(i), padded(user, &mut rng)));
        if i < orders {
            let buyer = rng.gen_range(0..users);
            let cents: u32 = rng.gen_range(100..100_000);
            let order = format!(r#"{{"id":{i},"user":{buyer},"cents":{cents},"note":""#);
            out.push((order_key(i), padded(order, &mut rng)));
        }
    }
    out
}

/// FNV-1a (64 bits) over every pair, each field length-prefixed: equal pairs in equal order
/// give equal checksums.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Checksum(u64);

impl Checksum {
    fn new() -> Self {
        Checksum(0xcbf2_9ce4_8422_2325)
    }

    fn bytes(&mut self, data: &[u8]) {
        for b in data {
            self.0 ^= u64::from(*b);
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }

    fn pair(&mut self, key: &[u8], value: &[u8]) {
        for field in [key, value] {
            self.bytes(&(field.len() as u64).to_le_bytes());
            self.bytes(field);
        }
    }
}

/// The smallest key after every key starting with `prefix` (prefixes here are ASCII).
fn prefix_end(prefix: &str) -> Vec<u8> {
    let mut end = prefix.as_bytes().to_vec();
    if let Some(last) = end.last_mut() {
        *last += 1;
    }
    end
}

/// Compares what the database yields with what it should, pair by pair, in order.
/// Returns the number of pairs and their checksum.
fn compare<'a>(
    what: &str,
    found: impl Iterator<Item = Result<KvPair, lightning_db::DatabaseError>>,
    expected: impl Iterator<Item = (&'a Vec<u8>, &'a Vec<u8>)>,
) -> Result<(u64, Checksum), CliError> {
    let mut expected = expected.peekable();
    let mut count = 0u64;
    let mut sum = Checksum::new();
    for item in found {
        let (key, value) = item?;
        match expected.next() {
            None => {
                return Err(CliError::Verification(format!(
                    "{what}: unexpected extra key {} after {count} pairs",
                    escape(&key)
                )))
            }
            Some((k, _)) if *k != key => {
                return Err(CliError::Verification(format!(
                    "{what}: pair {count} has key {}, expected {}",
                    escape(&key),
                    escape(k)
                )))
            }
            Some((_, v)) if *v != value => {
                return Err(CliError::Verification(format!(
                    "{what}: key {} holds {}, expected {}",
                    escape(&key),
                    escape(&value),
                    escape(v)
                )))
            }
            Some(_) => {}
        }
        sum.pair(&key, &value);
        count += 1;
    }
    if let Some((k, _)) = expected.next() {
        return Err(CliError::Verification(format!(
            "{what}: only {count} pairs found; key {} is missing",
            escape(k)
        )));
    }
    Ok((count, sum))
}

/// Files and bytes under `dir`, found by walking it.
fn dir_size(dir: &Path) -> io::Result<(u64, u64)> {
    let mut files = 0;
    let mut bytes = 0;
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let meta = entry.metadata()?;
        if meta.is_dir() {
            let (f, b) = dir_size(&entry.path())?;
            files += f;
            bytes += b;
        } else {
            files += 1;
            bytes += meta.len();
        }
    }
    Ok((files, bytes))
}

/// The demo's running state: options, the summary so far and the step log.
struct Demo<'a> {
    args: &'a DemoArgs,
    quiet: bool,
    config: LightningDbConfig,
    summary: Vec<(String, String)>,
}

impl Demo<'_> {
    /// Records a row of the summary.
    fn step(&mut self, label: &str, text: String) {
        self.summary.push((label.to_string(), text));
    }

    fn open(&self) -> Result<(Database, Duration), CliError> {
        let started = Instant::now();
        let db = Database::open(&self.args.path, self.config.clone())?;
        Ok((db, started.elapsed()))
    }

    /// Deletes every key an earlier run left under `demo:`; returns how many.
    fn clear(&self, db: &Database) -> Result<u64, CliError> {
        let keys: Vec<Vec<u8>> = db
            .scan_prefix(DEMO_PREFIX.as_bytes())
            .map(|kv| kv.map(|(k, _)| k))
            .collect::<Result<_, _>>()?;
        let per_batch = usize::try_from(self.args.batch_size).unwrap_or(1_000);
        for chunk in keys.chunks(per_batch) {
            let mut batch = db.new_batch();
            for key in chunk {
                batch.delete(key)?;
            }
            db.write_batch(&batch)?;
        }
        Ok(keys.len() as u64)
    }

    fn load(&self, db: &Database, records: &[KvPair]) -> Result<Duration, CliError> {
        let bar = progress_bar(records.len() as u64, "loading", self.quiet);
        let per_batch = usize::try_from(self.args.batch_size).unwrap_or(1_000);
        let started = Instant::now();
        for chunk in records.chunks(per_batch) {
            let mut batch = db.new_batch();
            for (key, value) in chunk {
                batch.put(key, value)?;
            }
            db.write_batch(&batch)?;
            bar.inc(chunk.len() as u64);
        }
        let elapsed = started.elapsed();
        bar.finish_and_clear();
        Ok(elapsed)
    }

    /// Gets every key of `pairs` and checks its value.
    fn read_all<'p>(
        &self,
        db: &Database,
        pairs: impl ExactSizeIterator<Item = (&'p Vec<u8>, &'p Vec<u8>)>,
        message: &'static str,
    ) -> Result<(u64, Duration), CliError> {
        let bar = progress_bar(pairs.len() as u64, message, self.quiet);
        let started = Instant::now();
        let mut count = 0u64;
        for (key, value) in pairs {
            match db.get(key)? {
                Some(found) if found == *value => {}
                Some(found) => {
                    return Err(CliError::Verification(format!(
                        "get {} returned {}, expected {}",
                        escape(key),
                        escape(&found),
                        escape(value)
                    )))
                }
                None => {
                    return Err(CliError::Verification(format!(
                        "get {} found nothing",
                        escape(key)
                    )))
                }
            }
            count += 1;
            if count.is_multiple_of(1_000) {
                bar.inc(1_000);
            }
        }
        let elapsed = started.elapsed();
        bar.finish_and_clear();
        Ok((count, elapsed))
    }
}

/// Runs the demo and prints its summary; see the module documentation.
pub fn run(global: &GlobalOpts, args: &DemoArgs) -> Result<(), CliError> {
    let total_started = Instant::now();
    let mut demo = Demo {
        args,
        quiet: global.quiet,
        config: global.db_config()?,
        summary: Vec::new(),
    };
    let records = records(args.records);
    let mut expected: BTreeMap<Vec<u8>, Vec<u8>> = records.iter().cloned().collect();
    let db = demo.open_and_load(&records)?;
    demo.scans(&db, &expected)?;
    demo.flush_and_delete(&db, &mut expected)?;
    let db = demo.reopen(db)?;
    demo.verify(&db, &expected)?;
    let stats = demo.health_and_metrics(&db);
    db.close()?;
    let (files, bytes) = dir_size(&args.path)
        .map_err(|e| lightning_db::DatabaseError::io("walk database directory", &args.path, &e))?;
    add_storage_rows(&mut demo, &stats, files, bytes);
    demo.step("total", human_duration(total_started.elapsed()));

    print_summary(&demo)?;
    Ok(())
}

/// The demo's phases, in the order `run` calls them.
impl Demo<'_> {
    /// Opens, clears what an earlier run left, loads the records and reads each back.
    fn open_and_load(&mut self, records: &[KvPair]) -> Result<Database, CliError> {
        let users = self.args.records.div_ceil(2);
        let orders = self.args.records / 2;
        // Open and clear what an earlier run left.
        let (db, open_time) = self.open()?;
        let cleared = self.clear(&db)?;
        self.step(
            "open",
            format!(
                "{} (durability {:?}); cleared {} keys an earlier run left under {DEMO_PREFIX}",
                human_duration(open_time),
                db.config().durability,
                thousands(cleared)
            ),
        );

        // Load.
        let load_time = self.load(&db, records)?;
        let batches = self.args.records.div_ceil(self.args.batch_size);
        self.step(
            "load",
            format!(
                "{} records ({} users, {} orders, {VALUE_LEN}-byte values) in {} batches of {} \
                 (one commit each): {}, {}",
                thousands(self.args.records),
                thousands(users),
                thousands(orders),
                thousands(batches),
                thousands(self.args.batch_size),
                human_duration(load_time),
                human_rate(self.args.records, load_time)
            ),
        );

        // Read every record back.
        let (read, read_time) =
            self.read_all(&db, records.iter().map(|(k, v)| (k, v)), "reading")?;
        self.step(
            "read back",
            format!(
                "{} gets, every value checked: {}, {}",
                thousands(read),
                human_duration(read_time),
                human_rate(read, read_time)
            ),
        );
        Ok(db)
    }

    /// A range scan over a slice of the users, a prefix scan over every order and a reverse scan, each compared with the model.
    fn scans(
        &mut self,
        db: &Database,
        expected: &BTreeMap<Vec<u8>, Vec<u8>>,
    ) -> Result<(), CliError> {
        let users = self.args.records.div_ceil(2);
        let orders = self.args.records / 2;
        // Range scan over a slice of the users.
        let lo = users / 4;
        let hi = (lo + RANGE_LEN).min(users);
        let (lo_key, hi_key) = (user_key(lo), user_key(hi));
        let started = Instant::now();
        let (n, _) = compare(
            "range scan",
            db.range(lo_key.as_slice()..hi_key.as_slice()),
            expected.range(lo_key.clone()..hi_key.clone()),
        )?;
        let range_time = started.elapsed();
        if n != hi - lo {
            return Err(CliError::Verification(format!(
                "range scan found {n} users, expected {}",
                hi - lo
            )));
        }
        self.step(
            "range scan",
            format!(
                "{} users [{} .. {}) in key order: {}",
                thousands(n),
                escape(&lo_key),
                escape(&hi_key),
                human_duration(range_time)
            ),
        );

        // Prefix scan over every order.
        let started = Instant::now();
        let (n, _) = compare(
            "prefix scan",
            db.scan_prefix(ORDER_PREFIX.as_bytes()),
            expected.range(ORDER_PREFIX.as_bytes().to_vec()..prefix_end(ORDER_PREFIX)),
        )?;
        let prefix_time = started.elapsed();
        if n != orders {
            return Err(CliError::Verification(format!(
                "prefix scan found {n} orders, expected {orders}"
            )));
        }
        self.step(
            "prefix scan",
            format!(
                "{} orders under {ORDER_PREFIX} in key order: {}, {}",
                thousands(n),
                human_duration(prefix_time),
                human_rate(n, prefix_time).replace("ops", "pairs")
            ),
        );

        // Reverse scan: the last users, newest key first.
        let started = Instant::now();
        let user_range = USER_PREFIX.as_bytes().to_vec()..prefix_end(USER_PREFIX);
        let (n, _) = compare(
            "reverse scan",
            db.scan_prefix(USER_PREFIX.as_bytes())
                .rev()
                .take(REVERSE_LEN),
            expected.range(user_range).rev().take(REVERSE_LEN),
        )?;
        self.step(
            "reverse scan",
            format!(
                "last {n} users in descending key order: {}",
                human_duration(started.elapsed())
            ),
        );
        Ok(())
    }

    /// Flushes, then deletes a few users (which live only in the log until the reopen).
    fn flush_and_delete(
        &mut self,
        db: &Database,
        expected: &mut BTreeMap<Vec<u8>, Vec<u8>>,
    ) -> Result<(), CliError> {
        let users = self.args.records.div_ceil(2);
        // Flush to table files: what follows lives only in the log until the reopen replays it.
        let started = Instant::now();
        db.flush()?;
        let flush_time = started.elapsed();
        let flushed = db.stats();
        self.step(
            "flush",
            format!(
                "memtable written to {} ({}): {}",
                plural(flushed.table_files as u64, "table file"),
                human_bytes(flushed.table_bytes),
                human_duration(flush_time)
            ),
        );

        // Delete a few users, spread over the key space.
        for j in 0..DELETES {
            let key = user_key(j * users / DELETES);
            if !db.delete(&key)? {
                return Err(CliError::Verification(format!(
                    "delete {} found no value",
                    escape(&key)
                )));
            }
            if let Some(v) = db.get(&key)? {
                return Err(CliError::Verification(format!(
                    "{} still holds {} after its delete",
                    escape(&key),
                    escape(&v)
                )));
            }
            if db.delete(&key)? {
                return Err(CliError::Verification(format!(
                    "a second delete of {} found a value",
                    escape(&key)
                )));
            }
            expected.remove(&key);
        }
        self.step(
            "delete",
            format!("{DELETES} users deleted; each one gone, and a second delete finds nothing"),
        );
        Ok(())
    }

    /// Closes and reopens: the deletes come back from the write-ahead log.
    fn reopen(&mut self, db: Database) -> Result<Database, CliError> {
        // Close and reopen: the deletes come back from the write-ahead log.
        // What the database measured of the load, reads, scans and deletes so far.
        let before = db.stats();
        self.step(
            "latency",
            format!(
                "before the reopen: writes {}; point reads {}",
                latency(
                    &before.write_latency,
                    before.puts + before.deletes + before.batches
                ),
                latency(&before.read_latency, before.gets)
            ),
        );
        let started = Instant::now();
        db.close()?;
        let close_time = started.elapsed();
        let (db, reopen_time) = self.open()?;
        let recovery = db.stats().recovery;
        self.step(
            "reopen",
            format!(
                "closed in {}, reopened in {}; recovery replayed {}, {}, {}{}",
                human_duration(close_time),
                human_duration(reopen_time),
                plural(recovery.wal_segments_replayed, "log segment"),
                plural(recovery.wal_records_replayed, "record"),
                plural(recovery.wal_entries_replayed, "entry"),
                if recovery.torn_tail_bytes_truncated > 0 {
                    format!(
                        ", cut a torn tail of {} bytes",
                        recovery.torn_tail_bytes_truncated
                    )
                } else {
                    String::new()
                }
            ),
        );
        Ok(db)
    }

    /// Verifies every pair, the checksum and every point read, then every file.
    fn verify(
        &mut self,
        db: &Database,
        expected: &BTreeMap<Vec<u8>, Vec<u8>>,
    ) -> Result<(), CliError> {
        // Verify everything again: every pair in order, the checksum, and every point read.
        let started = Instant::now();
        let (n, found_sum) = compare(
            "verify after reopen",
            db.scan_prefix(DEMO_PREFIX.as_bytes()),
            expected.iter(),
        )?;
        let scan_time = started.elapsed();
        let mut expected_sum = Checksum::new();
        for (k, v) in expected {
            expected_sum.pair(k, v);
        }
        if found_sum != expected_sum || n != self.args.records - DELETES {
            return Err(CliError::Verification(format!(
                "after reopen: {n} pairs with checksum {:016x}, expected {} with {:016x}",
                found_sum.0,
                self.args.records - DELETES,
                expected_sum.0
            )));
        }
        let (reread, reread_time) = self.read_all(db, expected.iter(), "verifying")?;
        self.step(
            "verify",
            format!(
                "{} pairs after reopen, checksum {:016x} matches (full scan {}); {} gets from \
                 table files: {}, {}",
                thousands(n),
                found_sum.0,
                human_duration(scan_time),
                thousands(reread),
                human_duration(reread_time),
                human_rate(reread, reread_time)
            ),
        );

        // Verify every checksum and structure of every file, while the database serves.
        let started = Instant::now();
        let report = db.verify_integrity(lightning_db::ValidationLevel::Comprehensive)?;
        if !report.is_clean() {
            return Err(CliError::Verification(format!(
                "integrity check found {} problem(s): {}",
                report.problems.len(),
                report.summary()
            )));
        }
        self.step(
            "integrity",
            format!(
                "comprehensive check clean: {} files, {} blocks, {} entries, {} log records ({})",
                thousands(report.files_checked),
                thousands(report.blocks_checked),
                thousands(report.entries_checked),
                thousands(report.records_checked),
                human_duration(started.elapsed())
            ),
        );
        Ok(())
    }

    /// Records the database's health checks, its performance metrics and its counters;
    /// returns the statistics.
    fn health_and_metrics(&mut self, db: &Database) -> DbStats {
        let metrics = db.metrics();
        let stats = db.stats();
        let report = db.health();
        let mut parts: Vec<String> = report
            .checks
            .iter()
            .map(|c| match c.status.message() {
                Some(message) => format!("{} {} ({message})", c.name, c.status.name()),
                None => format!("{} {}", c.name, c.status.name()),
            })
            .collect();
        if let Some(engine) = &report.engine {
            let attention: Vec<String> = engine
                .checks
                .iter()
                .filter(|c| c.state != lightning_db::CheckState::Healthy)
                .map(|c| format!("{}: {}", c.name, c.message))
                .collect();
            parts.push(if attention.is_empty() {
                format!("all {} engine self-checks pass", engine.checks.len())
            } else {
                format!("engine self-checks: {}", attention.join("; "))
            });
        }
        self.step(
            "health",
            format!("{:?}: {}", report.state, parts.join(", ")),
        );
        self.step(
            "performance",
            format!(
                "last {}: {} reads/s, {} writes/s, {} ops/s; read p50 {}, p95 {}, p99 {}; \
                 score {:.1}, SLA {}; CPU {:.0}%, memory {}, error rate {:.4}, \
                 availability {:.4}, recovery {}",
                human_duration(metrics.interval),
                thousands(metrics.read_throughput),
                thousands(metrics.write_throughput),
                thousands(metrics.mixed_workload_throughput),
                human_duration(metrics.read_latency_p50),
                human_duration(metrics.read_latency_p95),
                human_duration(metrics.read_latency_p99),
                metrics.performance_score(),
                if metrics.meets_sla() {
                    "met"
                } else {
                    "not met"
                },
                metrics.cpu_usage * 100.0,
                human_bytes(metrics.memory_usage),
                metrics.error_rate,
                metrics.availability,
                human_duration(metrics.recovery_time)
            ),
        );
        self.step(
            "metrics",
            format!(
                "since the reopen: {} puts, {} gets, {} batches, {} group commits, {} log syncs, {} flushes, {} compactions",
                thousands(stats.puts),
                thousands(stats.gets),
                thousands(stats.batches),
                thousands(stats.write_groups),
                thousands(stats.wal_syncs),
                thousands(stats.flushes),
                thousands(stats.compactions)
            ),
        );
        stats
    }
}

/// Percentiles of a latency summary and how many of `count` operations were timed.
fn latency(l: &LatencySummary, count: u64) -> String {
    if l.samples == 0 {
        return format!("none of {} timed", thousands(count));
    }
    format!(
        "p50 {}, p95 {}, p99 {} ({} of {} timed)",
        human_duration(l.p50),
        human_duration(l.p95),
        human_duration(l.p99),
        thousands(l.samples),
        thousands(count)
    )
}

/// Table files per level, disk size and the block cache's hit rate.
fn add_storage_rows(demo: &mut Demo<'_>, stats: &DbStats, files: u64, bytes: u64) {
    let levels: Vec<String> = stats
        .levels
        .iter()
        .filter(|l| l.files > 0)
        .map(|l| format!("L{}: {} ({})", l.level, l.files, human_bytes(l.bytes)))
        .collect();
    let levels = if levels.is_empty() {
        "none".to_string()
    } else {
        levels.join(", ")
    };
    demo.step(
        "table files",
        format!("{} in all; {levels}", stats.table_files),
    );
    demo.step(
        "disk size",
        format!(
            "{} of tables and log (stats); {} in {files} files (directory)",
            human_bytes(stats.disk_bytes),
            human_bytes(bytes)
        ),
    );
    demo.step(
        "block cache",
        format!(
            "hit rate {:.1}% ({} hits, {} misses), {} of {} in use",
            stats.cache_hit_rate() * 100.0,
            thousands(stats.cache_hits),
            thousands(stats.cache_misses),
            human_bytes(stats.cache_usage_bytes),
            human_bytes(stats.cache_capacity_bytes)
        ),
    );
    demo.step(
        "table memory",
        format!(
            "{} held by open tables outside the cache (indexes, filters, mapped block layouts)",
            human_bytes(stats.table_memory_bytes)
        ),
    );
}

/// Prints the summary table to standard output.
fn print_summary(demo: &Demo<'_>) -> io::Result<()> {
    let mut out = io::stdout().lock();
    writeln!(
        out,
        "Summary: demo on {} passed: everything written was read back intact",
        demo.args.path.display()
    )?;
    for (label, text) in &demo.summary {
        writeln!(out, "  {label:<14} {text}")?;
    }
    out.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_are_deterministic_and_sized() {
        let a = records(21);
        let b = records(21);
        assert_eq!(a, b);
        assert_eq!(a.len(), 21);
        assert_eq!(a[0].0, b"demo:user:00000000");
        assert_eq!(a[1].0, b"demo:order:00000000");
        assert_eq!(a[20].0, b"demo:user:00000010");
        for (_, v) in &a {
            assert_eq!(v.len(), VALUE_LEN);
            assert!(v.starts_with(b"{\"id\":") && v.ends_with(b"\"}"));
        }
    }

    #[test]
    fn checksum_depends_on_order_and_framing() {
        let mut a = Checksum::new();
        a.pair(b"ab", b"c");
        let mut b = Checksum::new();
        b.pair(b"a", b"bc");
        assert_ne!(a, b);
        assert_eq!(prefix_end("demo:"), b"demo;");
    }
}
