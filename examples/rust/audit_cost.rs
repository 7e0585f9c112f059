//! What the audit log costs: the same puts and gets on a plain database and on one with
//! `enable_audit_logging` at each `audit_level`, in one run, with the levels interleaved
//! over several rounds and the median kept. Prints each level's throughput and its ratio to
//! the plain database.
//!
//! `cargo run --release -p lightning_db --example audit_cost [OPS] [ROUNDS]`
//! (default 20,000 operations, 3 rounds; `Durability::NoSync`, so that the figure is the
//! audit log's own cost rather than the disk's sync time).

use std::time::Instant;

use lightning_db::{AuditLevel, Database, Durability, LightningDbConfig, SecurityConfig};

fn config(level: Option<AuditLevel>) -> LightningDbConfig {
    LightningDbConfig {
        durability: Durability::NoSync,
        enable_audit_logging: level.is_some(),
        security: SecurityConfig {
            audit_level: level.unwrap_or(AuditLevel::Standard),
            ..Default::default()
        },
        ..Default::default()
    }
}

/// Operations per second of `ops` puts then `ops` gets.
fn run(level: Option<AuditLevel>, ops: u32) -> f64 {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Database::open(dir.path(), config(level)).expect("open");
    let start = Instant::now();
    for i in 0..ops {
        let key = format!("key{i:08}");
        db.put(key.as_bytes(), b"value-value-value-value")
            .expect("put");
    }
    for i in 0..ops {
        let key = format!("key{i:08}");
        assert!(db.get(key.as_bytes()).expect("get").is_some());
    }
    let secs = start.elapsed().as_secs_f64();
    db.close().expect("close");
    f64::from(2 * ops) / secs
}

fn main() {
    let mut args = std::env::args().skip(1);
    let ops: u32 = args.next().and_then(|a| a.parse().ok()).unwrap_or(20_000);
    let rounds: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(3);
    let levels = [
        ("plain", None),
        ("Minimal", Some(AuditLevel::Minimal)),
        ("Standard", Some(AuditLevel::Standard)),
        ("Comprehensive", Some(AuditLevel::Comprehensive)),
    ];
    let mut results: Vec<Vec<f64>> = vec![Vec::new(); levels.len()];
    for round in 0..rounds {
        // Alternate the order so no level always runs first (cold) or last.
        let order: Vec<usize> = if round % 2 == 0 {
            (0..levels.len()).collect()
        } else {
            (0..levels.len()).rev().collect()
        };
        for i in order {
            results[i].push(run(levels[i].1, ops));
        }
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let plain = median(&mut results[0].clone());
    println!("{ops} puts + {ops} gets, median of {rounds} rounds, NoSync");
    println!("{:<14} {:>12} {:>8}", "audit level", "ops/s", "ratio");
    for (i, (name, _)) in levels.iter().enumerate() {
        let m = median(&mut results[i].clone());
        println!("{name:<14} {m:>12.0} {:>8.2}", m / plain);
    }
}
