//! Shared workload and checker for the simulated-disk suites (`power_loss.rs`, `io_errors.rs`).
//!
//! Each writer commits numbered batches. Batch `id` of writer `w` puts a marker
//! `w{w}/m/{id}` and puts or deletes a few keys of the writer's own pool `w{w}/k/{n}`, with
//! values derived from `(w, id, key)`, so the checker can regenerate every batch from its
//! number. After a crash the surviving batches of each writer must be exactly `1..=m` for
//! some `m` at least the last acknowledged one (the log is a prefix of history), and every
//! pool key must hold exactly what replaying batches `1..=m` gives: a batch is all or nothing
//! and values are exact.
#![allow(dead_code)]

use std::collections::BTreeMap;

use lightning_db::{Database, DatabaseError, WriteBatch};

/// Keys per writer's pool.
pub const POOL: u64 = 40;

/// FNV-1a, to derive values and choices from numbers.
pub fn hash(parts: &[&[u8]]) -> u64 {
    let mut h = 0xcbf2_9ce4_8422_2325u64;
    for p in parts {
        for &b in *p {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        h ^= 0xff;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// The operations of batch `id` of writer `w`: (key, value or `None` for a delete).
pub fn batch_ops(w: usize, id: u64) -> Vec<(Vec<u8>, Option<Vec<u8>>)> {
    let seed = hash(&[&w.to_le_bytes(), &id.to_le_bytes()]);
    let mut ops = vec![(
        format!("w{w}/m/{id:08}").into_bytes(),
        Some(seed.to_le_bytes().to_vec()),
    )];
    let n = 2 + seed % 4;
    for i in 0..n {
        let h = hash(&[&seed.to_le_bytes(), &i.to_le_bytes()]);
        let key = format!("w{w}/k/{:03}", h % POOL).into_bytes();
        if h.is_multiple_of(11) {
            ops.push((key, None));
        } else {
            let len = 20 + (h >> 8) % 300;
            let mut value = format!("{id}:").into_bytes();
            value.extend(
                (0..len).map(|j| (hash(&[&h.to_le_bytes(), &j.to_le_bytes()]) % 251) as u8),
            );
            ops.push((key, Some(value)));
        }
    }
    ops
}

/// Commits batch `id` of writer `w`.
pub fn commit(db: &Database, w: usize, id: u64) -> Result<(), DatabaseError> {
    let mut b = WriteBatch::new();
    for (k, v) in batch_ops(w, id) {
        match v {
            Some(v) => b.put(&k, &v)?,
            None => b.delete(&k)?,
        }
    }
    db.write_batch(&b)
}

/// The pool contents after batches `1..=m` of writer `w`.
pub fn model(w: usize, m: u64) -> BTreeMap<Vec<u8>, Vec<u8>> {
    let mut out = BTreeMap::new();
    for id in 1..=m {
        for (k, v) in batch_ops(w, id) {
            if k.starts_with(format!("w{w}/k/").as_bytes()) {
                match v {
                    Some(v) => {
                        out.insert(k, v);
                    }
                    None => {
                        out.remove(&k);
                    }
                }
            }
        }
    }
    out
}

/// Checks writer `w`'s data after a crash: surviving batches are `1..=m` with
/// `m >= acked`, and the pool is exactly the model of `1..=m`. Returns `m`.
/// With `upto` set, no batch beyond it may have survived (batches never attempted).
pub fn check_writer(db: &Database, w: usize, acked: u64, upto: Option<u64>) -> Result<u64, String> {
    let prefix = format!("w{w}/m/");
    let mut ids = Vec::new();
    for kv in db.scan_prefix(prefix.as_bytes()) {
        let (k, v) = kv.map_err(|e| format!("scanning markers failed: {e}"))?;
        let id: u64 = std::str::from_utf8(&k[prefix.len()..])
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| format!("unexpected marker key {:?}", String::from_utf8_lossy(&k)))?;
        let want = hash(&[&w.to_le_bytes(), &id.to_le_bytes()]).to_le_bytes();
        if v != want {
            return Err(format!("writer {w}: marker {id} has a wrong value"));
        }
        ids.push(id);
    }
    let m = ids.len() as u64;
    if ids.iter().enumerate().any(|(i, &id)| id != i as u64 + 1) {
        return Err(format!(
            "writer {w}: surviving batches are not a prefix of history: {:?}",
            &ids[..ids.len().min(20)]
        ));
    }
    if m < acked {
        return Err(format!(
            "writer {w}: acknowledged batch {acked} lost (only {m} survived)"
        ));
    }
    if let Some(upto) = upto {
        if m > upto {
            return Err(format!(
                "writer {w}: batch {m} survived but was never written"
            ));
        }
    }
    let want = model(w, m);
    let mut got = BTreeMap::new();
    for kv in db.scan_prefix(format!("w{w}/k/").as_bytes()) {
        let (k, v) = kv.map_err(|e| format!("scanning the pool failed: {e}"))?;
        got.insert(k, v);
    }
    if got != want {
        let diff: Vec<String> = want
            .keys()
            .chain(got.keys())
            .filter(|k| want.get(*k) != got.get(*k))
            .take(5)
            .map(|k| String::from_utf8_lossy(k).into_owned())
            .collect();
        return Err(format!(
            "writer {w}: pool after {m} batches differs from the model at {diff:?}"
        ));
    }
    // Point reads agree with the scan.
    for (k, v) in &want {
        match db.get(k) {
            Ok(Some(got)) if &got == v => {}
            other => {
                return Err(format!(
                    "writer {w}: get({}) = {:?}",
                    String::from_utf8_lossy(k),
                    other.map(|o| o.map(|v| v.len()))
                ))
            }
        }
    }
    Ok(m)
}
