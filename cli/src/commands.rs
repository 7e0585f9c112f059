//! `put`, `get`, `delete`, `scan` and `stats`: poking at a database by hand.
//!
//! Output is made for scripts: `get` prints the value alone, `scan` prints one
//! `KEY<TAB>VALUE` line per pair, and `put` and `delete` print nothing on success. Bytes are
//! printed as readable, lossless text (see [`crate::output::escape`]), or as hex with `--hex`.

use std::io::{self, BufWriter, Write};
use std::ops::Bound;
use std::path::PathBuf;

use lightning_db::{Database, DatabaseError, DbStats, LatencySummary, PerformanceMetrics};

use crate::common::{open_existing, open_or_create, GlobalOpts};
use crate::error::CliError;
use crate::output::{human_bytes, human_duration, thousands};

/// Arguments of `lightning put`.
#[derive(Debug, clap::Args)]
pub struct PutArgs {
    /// Database directory (created if missing).
    pub path: PathBuf,
    /// The key (UTF-8, or hex with --hex).
    pub key: String,
    /// The value (UTF-8, or hex with --hex).
    pub value: String,
}

/// Arguments of `lightning get`.
#[derive(Debug, clap::Args)]
pub struct GetArgs {
    /// Database directory.
    pub path: PathBuf,
    /// The key (UTF-8, or hex with --hex).
    pub key: String,
    /// Write the value's bytes exactly as stored, with no escaping and no final newline.
    #[arg(long, conflicts_with = "hex")]
    pub raw: bool,
}

/// Arguments of `lightning delete`.
#[derive(Debug, clap::Args)]
pub struct DeleteArgs {
    /// Database directory.
    pub path: PathBuf,
    /// The key (UTF-8, or hex with --hex).
    pub key: String,
}

/// Arguments of `lightning scan`.
#[derive(Debug, clap::Args)]
pub struct ScanArgs {
    /// Database directory.
    pub path: PathBuf,
    /// Only keys starting with this prefix.
    #[arg(long)]
    pub prefix: Option<String>,
    /// Only keys at or after this one (inclusive).
    #[arg(long)]
    pub start: Option<String>,
    /// Only keys before this one (exclusive).
    #[arg(long)]
    pub end: Option<String>,
    /// Walk from the last key to the first.
    #[arg(long)]
    pub reverse: bool,
    /// Stop after this many pairs.
    #[arg(long, value_name = "N")]
    pub limit: Option<usize>,
    /// Print keys only.
    #[arg(long)]
    pub keys_only: bool,
    /// Print only the number of pairs found.
    #[arg(long, conflicts_with = "keys_only")]
    pub count: bool,
}

/// Arguments of `lightning stats`.
#[derive(Debug, clap::Args)]
pub struct StatsArgs {
    /// Database directory.
    pub path: PathBuf,
    /// Print the full statistics as JSON instead of a table, with every
    /// `PerformanceMetrics` field in a `performance` object.
    #[arg(long, conflicts_with = "prometheus")]
    pub json: bool,
    /// Print the statistics in the Prometheus text format (counters, gauges, latency
    /// summaries, throughputs).
    #[arg(long)]
    pub prometheus: bool,
}

/// Arguments of `lightning rotate-key`.
#[derive(Debug, clap::Args)]
pub struct RotateKeyArgs {
    /// Database directory (an encrypted database).
    pub path: PathBuf,
    /// Re-wrap the data keys under the key in this file (32 raw bytes or 64 hexadecimal
    /// digits) instead of rotating the data key; the database then opens with it only.
    #[arg(long, value_name = "FILE")]
    pub new_key_file: Option<PathBuf>,
}

/// `lightning rotate-key PATH [--new-key-file FILE]`: rotates the data key (prints the new
/// generation) or re-wraps the data keys under a new key-encryption key.
pub fn rotate_key(global: &GlobalOpts, args: &RotateKeyArgs) -> Result<(), CliError> {
    let new_key = args
        .new_key_file
        .as_ref()
        .map(lightning_db::EncryptionKey::from_file)
        .transpose()?;
    let db = open_existing(global, &args.path)?;
    let mut out = io::stdout().lock();
    match new_key {
        Some(k) => {
            db.rewrap_key(k)?;
            writeln!(
                out,
                "re-wrapped: the database now opens with the new key only"
            )?;
        }
        None => {
            let generation = db.rotate_key()?;
            writeln!(out, "rotated: key generation {generation}")?;
        }
    }
    db.close()?;
    out.flush()?;
    Ok(())
}

/// `lightning put PATH KEY VALUE`: stores the pair durably; prints nothing.
pub fn put(global: &GlobalOpts, args: &PutArgs) -> Result<(), CliError> {
    let key = global.decode_arg("KEY", &args.key)?;
    let value = global.decode_arg("VALUE", &args.value)?;
    let db = open_or_create(global, &args.path)?;
    db.put(&key, &value)?;
    db.close()?;
    Ok(())
}

/// `lightning get PATH KEY`: prints the value; a missing key is `KEY_NOT_FOUND`, exit 1.
pub fn get(global: &GlobalOpts, args: &GetArgs) -> Result<(), CliError> {
    let key = global.decode_arg("KEY", &args.key)?;
    let db = open_existing(global, &args.path)?;
    let value = db.get(&key)?;
    db.close()?;
    let value = value.ok_or_else(|| DatabaseError::KeyNotFound {
        key: key.clone(),
        context: args.path.display().to_string(),
    })?;
    let mut out = io::stdout().lock();
    if args.raw {
        out.write_all(&value)?;
    } else {
        writeln!(out, "{}", global.show(&value))?;
    }
    out.flush()?;
    Ok(())
}

/// `lightning delete PATH KEY`: removes the key; prints nothing, and answers
/// `KEY_NOT_FOUND` (exit 1) when the key held no value.
pub fn delete(global: &GlobalOpts, args: &DeleteArgs) -> Result<(), CliError> {
    let key = global.decode_arg("KEY", &args.key)?;
    let db = open_existing(global, &args.path)?;
    let existed = db.delete(&key)?;
    db.close()?;
    if existed {
        Ok(())
    } else {
        Err(DatabaseError::KeyNotFound {
            key,
            context: args.path.display().to_string(),
        }
        .into())
    }
}

/// The bounds of a scan: the intersection of `[start, end)` and the keys starting with `prefix`.
fn scan_bounds(
    prefix: Option<&[u8]>,
    start: Option<&[u8]>,
    end: Option<&[u8]>,
) -> (Bound<Vec<u8>>, Bound<Vec<u8>>) {
    let mut lower = start.map(<[u8]>::to_vec);
    let mut upper = end.map(<[u8]>::to_vec);
    if let Some(prefix) = prefix {
        if lower.as_deref().is_none_or(|l| l < prefix) {
            lower = Some(prefix.to_vec());
        }
        if let Some(successor) = prefix_successor(prefix) {
            if upper.as_deref().is_none_or(|u| u > successor.as_slice()) {
                upper = Some(successor);
            }
        }
    }
    (
        lower.map_or(Bound::Unbounded, Bound::Included),
        upper.map_or(Bound::Unbounded, Bound::Excluded),
    )
}

/// The smallest key greater than every key starting with `prefix` (`None` for an empty or
/// all-0xFF prefix, which no key can pass).
fn prefix_successor(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last != 0xff {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}

/// `lightning scan PATH [--prefix P] [--start S] [--end E] [--reverse] [--limit N]`.
pub fn scan(global: &GlobalOpts, args: &ScanArgs) -> Result<(), CliError> {
    let decode = |what: &str, arg: &Option<String>| -> Result<Option<Vec<u8>>, CliError> {
        arg.as_deref()
            .map(|text| global.decode_arg(what, text))
            .transpose()
    };
    let prefix = decode("--prefix", &args.prefix)?;
    let start = decode("--start", &args.start)?;
    let end = decode("--end", &args.end)?;
    let (lower, upper) = scan_bounds(prefix.as_deref(), start.as_deref(), end.as_deref());
    let db = open_existing(global, &args.path)?;
    let result = print_scan(global, args, &db, (lower, upper));
    let closed = db.close();
    result?;
    closed?;
    Ok(())
}

/// A borrowed view of an owned bound.
fn borrow(b: &Bound<Vec<u8>>) -> Bound<&[u8]> {
    match b {
        Bound::Included(k) => Bound::Included(k.as_slice()),
        Bound::Excluded(k) => Bound::Excluded(k.as_slice()),
        Bound::Unbounded => Bound::Unbounded,
    }
}

fn print_scan(
    global: &GlobalOpts,
    args: &ScanArgs,
    db: &Database,
    (lower, upper): (Bound<Vec<u8>>, Bound<Vec<u8>>),
) -> Result<(), CliError> {
    let iter = db.range((borrow(&lower), borrow(&upper)));
    let iter: Box<dyn Iterator<Item = _>> = if args.reverse {
        Box::new(iter.rev())
    } else {
        Box::new(iter)
    };
    let limit = args.limit.unwrap_or(usize::MAX);
    let mut out = BufWriter::new(io::stdout().lock());
    let mut count = 0u64;
    for item in iter.take(limit) {
        let (key, value) = item?;
        count += 1;
        if args.count {
            continue;
        }
        if args.keys_only {
            writeln!(out, "{}", global.show(&key))?;
        } else {
            writeln!(out, "{}\t{}", global.show(&key), global.show(&value))?;
        }
    }
    if args.count {
        writeln!(out, "{count}")?;
    }
    out.flush()?;
    Ok(())
}

/// `lightning stats PATH [--json|--prometheus]`: sizes, counters, latency, the
/// performance metrics and the recovery report, as measured by this open of the database
/// (latency and throughput count what was done since it opened: nothing yet, unless
/// recovery or background work ran).
pub fn stats(global: &GlobalOpts, args: &StatsArgs) -> Result<(), CliError> {
    let db = open_existing(global, &args.path)?;
    let metrics = db.metrics();
    let stats = db.stats();
    db.close()?;
    let mut out = io::stdout().lock();
    if args.json {
        writeln!(out, "{}", stats_json(&stats, &metrics)?)?;
    } else if args.prometheus {
        write!(out, "{}", stats.to_prometheus())?;
    } else {
        write!(out, "{}", stats_table(&stats))?;
        write!(out, "{}", performance_table(&metrics))?;
    }
    out.flush()?;
    Ok(())
}

/// The statistics as JSON with a `performance` object holding every field of the
/// metrics under the reference's names (durations as `{"secs", "nanos"}`), and
/// `meets_sla`, `performance_score` and `bottlenecks`.
pub fn stats_json(stats: &DbStats, metrics: &PerformanceMetrics) -> Result<String, CliError> {
    let as_json = |e: serde_json::Error| CliError::Output(io::Error::other(e));
    let mut value = serde_json::to_value(stats).map_err(as_json)?;
    if let serde_json::Value::Object(map) = &mut value {
        let performance: serde_json::Value =
            serde_json::from_str(&metrics.to_json()).map_err(as_json)?;
        map.insert("performance".to_string(), performance);
    }
    serde_json::to_string_pretty(&value).map_err(as_json)
}

/// p50, p95 and p99 of a latency summary, with how many operations were timed.
fn latency(l: &LatencySummary) -> String {
    if l.samples == 0 {
        return "none timed".to_string();
    }
    format!(
        "p50 {}, p95 {}, p99 {} ({} timed)",
        human_duration(l.p50),
        human_duration(l.p95),
        human_duration(l.p99),
        thousands(l.samples)
    )
}

/// The performance metrics as rows: score and SLA, resources, reliability, bottlenecks.
pub fn performance_table(m: &PerformanceMetrics) -> String {
    let mut rows: Vec<(String, String)> = vec![
        (
            "performance".into(),
            format!(
                "score {:.1} of 100, SLA {}",
                m.performance_score(),
                if m.meets_sla() { "met" } else { "NOT met" }
            ),
        ),
        (
            "  resources".into(),
            format!(
                "memory {}, disk usage {}, CPU {:.1}%, cache hit rate {:.1}%",
                human_bytes(m.memory_usage),
                human_bytes(m.disk_usage),
                m.cpu_usage * 100.0,
                m.cache_hit_rate * 100.0
            ),
        ),
        (
            "  reliability".into(),
            format!(
                "error rate {:.4}, availability {:.4}, recovery time {}",
                m.error_rate,
                m.availability,
                human_duration(m.recovery_time)
            ),
        ),
    ];
    for b in m.identify_bottlenecks() {
        rows.push((
            format!("  {}", b.kind),
            format!("{}; {}", b.evidence, b.suggestion),
        ));
    }
    aligned(&rows)
}

/// Two aligned columns.
fn aligned(rows: &[(String, String)]) -> String {
    let width = rows
        .iter()
        .map(|(k, _)| k.chars().count())
        .max()
        .unwrap_or(0)
        .max(STATS_LABEL_WIDTH);
    rows.iter()
        .map(|(k, v)| format!("{k:<width$}  {v}\n"))
        .collect()
}

/// The width of the label column of the statistics tables.
const STATS_LABEL_WIDTH: usize = 21;

/// The statistics as an aligned two-column table, one level per line.
pub fn stats_table(s: &DbStats) -> String {
    let mut rows: Vec<(String, String)> = vec![
        ("path".into(), s.path.clone()),
        (
            "encryption".into(),
            match s.key_generation {
                Some(g) if s.encrypted => format!("on (XChaCha20-Poly1305, key generation {g})"),
                _ => "off".into(),
            },
        ),
        ("last sequence".into(), thousands(s.last_sequence)),
        ("estimated entries".into(), thousands(s.estimated_entries)),
        (
            "table files".into(),
            format!("{} ({})", s.table_files, human_bytes(s.table_bytes)),
        ),
    ];
    for level in s.levels.iter().filter(|l| l.files > 0) {
        rows.push((
            format!("  level {}", level.level),
            format!(
                "{} files, {}, {} entries, {} tombstones",
                level.files,
                human_bytes(level.bytes),
                thousands(level.entries),
                thousands(level.tombstones)
            ),
        ));
    }
    rows.extend([
        (
            "memtable".into(),
            format!(
                "{} (+{} immutable, {})",
                human_bytes(s.memtable_bytes),
                s.immutable_memtables,
                human_bytes(s.immutable_memtable_bytes)
            ),
        ),
        ("write-ahead log".into(), human_bytes(s.wal_bytes)),
        ("disk size".into(), human_bytes(s.disk_bytes)),
        (
            "block cache".into(),
            format!(
                "{} of {}, hit rate {:.1}%",
                human_bytes(s.cache_usage_bytes),
                human_bytes(s.cache_capacity_bytes),
                s.cache_hit_rate() * 100.0
            ),
        ),
        (
            "table memory".into(),
            format!(
                "{} (indexes, filters, mapped block layouts; outside the cache)",
                human_bytes(s.table_memory_bytes)
            ),
        ),
        (
            "memtable index".into(),
            format!(
                "{} (seek indexes of large memtables)",
                human_bytes(s.memtable_index_bytes)
            ),
        ),
        ("read latency".into(), latency(&s.read_latency)),
        ("write latency".into(), latency(&s.write_latency)),
        (
            "throughput".into(),
            format!(
                "{} reads/s, {} writes/s, {} operations/s over the last {}",
                thousands(s.read_throughput),
                thousands(s.write_throughput),
                thousands(s.mixed_workload_throughput),
                human_duration(s.throughput_interval)
            ),
        ),
        (
            "recovery".into(),
            format!(
                "{} log segments, {} records, {} entries replayed in {}",
                s.recovery.wal_segments_replayed,
                thousands(s.recovery.wal_records_replayed),
                thousands(s.recovery.wal_entries_replayed),
                human_duration(s.recovery.recovery_time)
            ),
        ),
    ]);
    if s.recovery.torn_tail_bytes_truncated > 0 {
        rows.push((
            "torn log tail".into(),
            format!(
                "{} bytes cut from {}",
                s.recovery.torn_tail_bytes_truncated,
                s.recovery.torn_tail_segment.as_deref().unwrap_or("?")
            ),
        ));
    }
    if s.recovery.orphan_tables_removed > 0 {
        rows.push((
            "orphan tables removed".into(),
            s.recovery.orphan_tables_removed.to_string(),
        ));
    }
    if s.background_errors > 0 {
        rows.push(("background errors".into(), s.background_errors.to_string()));
    }
    if let Some(reason) = &s.poisoned {
        rows.push(("POISONED".into(), reason.clone()));
    }
    aligned(&rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_intersect_prefix_and_range() {
        let inc = |s: &str| Bound::Included(s.as_bytes().to_vec());
        let exc = |s: &str| Bound::Excluded(s.as_bytes().to_vec());
        assert_eq!(
            scan_bounds(None, None, None),
            (Bound::Unbounded, Bound::Unbounded)
        );
        assert_eq!(scan_bounds(Some(b"ab"), None, None), (inc("ab"), exc("ac")));
        assert_eq!(
            scan_bounds(Some(b"ab"), Some(b"abc"), Some(b"zz")),
            (inc("abc"), exc("ac"))
        );
        assert_eq!(
            scan_bounds(Some(b"ab"), Some(b"a"), Some(b"abd")),
            (inc("ab"), exc("abd"))
        );
        assert_eq!(
            scan_bounds(Some(&[0xff]), None, None),
            (Bound::Included(vec![0xff]), Bound::Unbounded)
        );
    }
}
