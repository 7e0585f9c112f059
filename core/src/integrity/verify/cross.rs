//! Checks across files: the live set against the tables, numbers on disk, lost edits.

use super::*;

/// Table file numbers present in the directory.
pub(crate) fn table_numbers_on_disk(fs: &dyn FileSystem, dir: &Path) -> Vec<u64> {
    let mut out: Vec<u64> = fs
        .list_dir(dir)
        .unwrap_or_default()
        .iter()
        .filter_map(|n| n.strip_suffix(".sst")?.parse().ok())
        .collect();
    out.sort_unstable();
    out
}

/// Log segment numbers present in the directory.
pub(crate) fn wal_numbers_on_disk(fs: &dyn FileSystem, dir: &Path) -> Vec<u64> {
    let mut out: Vec<u64> = fs
        .list_dir(dir)
        .unwrap_or_default()
        .iter()
        .filter_map(|n| n.strip_suffix(".log")?.parse().ok())
        .collect();
    out.sort_unstable();
    out
}

/// Comprehensive checks of the live set against the tables read: sizes, properties,
/// sequence numbers and overlapping ranges.
pub(crate) fn cross_check(
    ck: &mut Checker,
    manifest: Option<&ManifestState>,
    scans: &[TableScan],
    live_last_seq: Option<u64>,
) {
    let Some(m) = manifest else { return };
    let manifest_path = ck.dir.join(manifest::manifest_file_name(m.number));
    let last_seq = live_last_seq.unwrap_or(m.last_sequence);
    for (level, meta) in &m.live {
        let Some(scan) = scans.iter().find(|s| s.number == meta.number) else {
            continue;
        };
        if !scan.opened {
            continue;
        }
        let mut diffs = Vec::new();
        if scan.file_size != meta.file_size {
            diffs.push(format!(
                "file size {} (the manifest says {})",
                scan.file_size, meta.file_size
            ));
        }
        if let Some(p) = &scan.props {
            if p.smallest != meta.smallest || p.largest != meta.largest {
                diffs.push("key range differs".to_string());
            }
            if p.min_seq != meta.min_seq || p.max_seq != meta.max_seq {
                diffs.push(format!(
                    "sequence range {}..={} (the manifest says {}..={})",
                    p.min_seq, p.max_seq, meta.min_seq, meta.max_seq
                ));
            }
            if p.entries != meta.entries || p.tombstones != meta.tombstones {
                diffs.push("entry counts differ".to_string());
            }
        }
        if !diffs.is_empty() {
            ck.problem(
                Component::Manifest,
                &scan.path,
                None,
                CheckKind::Logical,
                format!(
                    "table {} at level {level} disagrees with {}: {}",
                    meta.number,
                    manifest_path.display(),
                    diffs.join(", ")
                ),
                true,
            );
        }
        if meta.max_seq > last_seq {
            ck.problem(
                Component::Manifest,
                &scan.path,
                None,
                CheckKind::Logical,
                format!(
                    "table {} holds sequence numbers up to {}, beyond the last sequence {last_seq}",
                    meta.number, meta.max_seq
                ),
                false,
            );
        }
    }
    for level in 1..NUM_LEVELS {
        let mut tables: Vec<&TableMeta> = m
            .live
            .iter()
            .filter(|(l, _)| *l == level)
            .map(|(_, t)| t)
            .collect();
        tables.sort_by(|a, b| a.smallest.cmp(&b.smallest));
        for pair in tables.windows(2) {
            if pair[0].largest >= pair[1].smallest {
                ck.problem(
                    Component::Manifest,
                    &manifest_path,
                    None,
                    CheckKind::Logical,
                    format!(
                        "tables {} and {} overlap at level {level}, where ranges must not",
                        pair[0].number, pair[1].number
                    ),
                    true,
                );
            }
        }
    }
}

/// A table's key set as a sorted set of its numbers, for quick membership.
pub(crate) fn live_numbers(m: &ManifestState) -> BTreeSet<u64> {
    m.live.iter().map(|(_, t)| t.number).collect()
}

/// Turns the first problem of a report into the error a failed read or open returns.
pub(crate) fn problem_error(p: &IntegrityProblem) -> DatabaseError {
    if p.check == CheckKind::Authentication {
        return DatabaseError::SecurityError(crate::error::SecurityError::DecryptionFailed {
            reason: p.to_string(),
        });
    }
    match p.component {
        Component::Wal => DatabaseError::WalCorrupted {
            details: p.to_string(),
            suggested_action: "run `lightning repair` to keep the records before the damage".into(),
        },
        Component::Manifest => DatabaseError::ManifestCorrupted {
            details: p.to_string(),
            suggested_action: "run `lightning repair` to rebuild the manifest from the tables"
                .into(),
        },
        _ => DatabaseError::DataCorruption {
            component: p.file.clone(),
            details: p.to_string(),
            recovery_possible: p.repairable,
        },
    }
}

/// Whether the manifest and the log still fit together as recovery requires: the
/// manifest's own log segment exists when later ones do, and replaying the log from the
/// manifest's last sequence number meets no gap. Either failing means a manifest edit was
/// lost (a damaged last record dropped as if torn); the engine refuses to open then, and
/// repair rebuilds the manifest from the table files. `Some((file, offset, what))` when not.
pub(crate) fn lost_manifest_edit(
    fs: &dyn FileSystem,
    dir: &Path,
    m: &ManifestState,
    keys: Option<&KeyRing>,
) -> Option<(PathBuf, Option<u64>, String)> {
    let segments: Vec<u64> = wal_numbers_on_disk(fs, dir)
        .into_iter()
        .filter(|&n| n >= m.log_number)
        .collect();
    if segments.first().is_some_and(|&n| n > m.log_number) {
        return Some((
            dir.join(manifest::manifest_file_name(m.number)),
            None,
            format!(
                "the manifest's log segment {} is missing while later segments exist: a \
                 manifest edit was lost",
                wal::wal_file_name(m.log_number)
            ),
        ));
    }
    let mut last = m.last_sequence;
    for n in segments {
        let path = dir.join(wal::wal_file_name(n));
        let Ok(data) = fs.read_all(&path) else {
            continue;
        };
        let Ok(header) = decode_file_header(&data, WAL_MAGIC) else {
            continue;
        };
        let sealed = header.version == wal::WAL_SEALED_VERSION;
        let mut pos = FILE_HEADER_LEN;
        while let RecordRead::Ok(payload, next) = read_record(&data, pos, header.checksum) {
            // Sealed records are opened with the keys.
            let opened = match (sealed, keys) {
                (false, _) => Some(std::borrow::Cow::Borrowed(payload)),
                (true, Some(k)) => k
                    .open(&path, wal::log_place(n, pos as u64), payload)
                    .ok()
                    .map(std::borrow::Cow::Owned),
                (true, None) => None,
            };
            let Some(opened) = opened else {
                // Not this check's finding (the log check reports it), and no gap can be
                // judged past it.
                return None;
            };
            if let Some((first, ops)) = wal::decode_batch(&opened) {
                if first > last + 1 {
                    return Some((
                        path,
                        Some(pos as u64),
                        format!(
                            "sequence gap: the log continues at {first} but the tables end at \
                             {last}: a manifest edit was lost"
                        ),
                    ));
                }
                last = last.max((first + ops.len() as u64).saturating_sub(1));
            }
            pos = next;
        }
    }
    None
}
