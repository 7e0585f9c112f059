//! Repair of a closed database: what `lightning repair` runs, and what opening does under
//! [`CorruptionAction::Repair`](crate::CorruptionAction::Repair) and
//! [`CorruptionAction::Quarantine`](crate::CorruptionAction::Quarantine).
//!
//! Repair first validates (at least at `Standard`), then:
//!
//! * **A damaged table** is rewritten from its readable data blocks into a new table file
//!   (its index, bloom filter, properties and footer are rebuilt from the data); the
//!   damaged blocks are *set aside*: listed in the report with the key range they covered.
//!   With the quarantine policy the table is not rewritten but dropped whole. Either way the
//!   original file moves to `quarantine/` next to a JSON report of the key range and
//!   sequence range it held.
//! * **A table the manifest names but the disk lacks** is dropped from the manifest and
//!   listed.
//! * **A damaged manifest** (or `CURRENT`) is rebuilt from the table files: from the
//!   intact manifest's levels when it is readable, else with every table at level 0 (the
//!   compactor sorts them out).
//! * **A log segment damaged in the middle** keeps the records before the damage; the rest
//!   of it and every later segment move to `quarantine/`, so what recovery replays is a
//!   prefix of history.
//!
//! Repair never invents a value and never deletes one silently: everything set aside is in
//! [`RepairReport::set_aside`] and its bytes are kept in `quarantine/`. What it cannot
//! undo is MVCC shadowing: when a damaged block held the newest version of a key, an
//! older version of that key in another table becomes visible again (a value that was
//! written, but not the latest); the set-aside key ranges say where that can happen.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Serialize;

use super::report::{CheckKind, Component, IntegrityReport};
use super::validator::{lock_dir, run_validation, RepairResult, Resolved};
use super::verify::{self, show_key_sealed, Checker, TableScope};
use crate::config::{EncryptionKey, LightningDbConfig, ValidationLevel};
use crate::error::DatabaseError;
use crate::storage::cache::BlockCache;
use crate::storage::crypto::KeyRing;
use crate::storage::fs::{write_file_atomic, FileSystem, StdFileSystem};
use crate::storage::manifest::{self, ManifestWriter, VersionEdit};
use crate::storage::table::builder::{BuildOptions, TableBuilder, TableMeta};
use crate::storage::table::reader::Table;
use crate::storage::table::table_file_name;
use crate::storage::version::NUM_LEVELS;
use crate::storage::wal;

/// The directory damaged files are moved into, inside the database directory.
pub const QUARANTINE_DIR: &str = "quarantine";

/// Something repair set aside rather than keep.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SetAside {
    /// The file it came from.
    pub file: String,
    /// Where in that file, when it is a part of it.
    pub offset: Option<u64>,
    /// How many bytes.
    pub bytes: u64,
    /// What it is: `"data block"`, `"table"`, `"log records"`, `"log segment"`.
    pub what: String,
    /// The keys it covered, as far as known (`"after …"`, `"up to …"`, or a range).
    pub keys: Option<String>,
    /// The sequence numbers it covered, when known.
    pub sequences: Option<(u64, u64)>,
    /// Why it was set aside.
    pub reason: String,
    /// Where its bytes are kept now (under `quarantine/`), if anywhere.
    pub kept_at: Option<String>,
}

/// What a repair found, did and set aside; serializable to JSON.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RepairReport {
    /// The database directory.
    pub path: String,
    /// What validation found before the repair.
    pub before: IntegrityReport,
    /// Actions taken, one line each.
    pub actions: Vec<String>,
    /// Everything set aside (not kept in the database), with where it is kept now.
    pub set_aside: Vec<SetAside>,
    /// Files moved into `quarantine/`.
    pub quarantined: Vec<String>,
    /// What could not be repaired.
    pub failed: Vec<String>,
    /// What validation found after the repair.
    pub after: Option<IntegrityReport>,
}

impl RepairReport {
    /// True when nothing was wrong to begin with.
    pub fn nothing_to_do(&self) -> bool {
        self.before.is_clean()
    }

    /// The reference's summary form: `Repaired` with every action (set-aside items
    /// included) when nothing failed, `PartiallyRepaired` when some did, `RepairFailed`
    /// when nothing could be done.
    pub fn as_result(&self) -> RepairResult {
        let mut done = self.actions.clone();
        done.extend(self.set_aside.iter().map(|s| {
            format!(
                "set aside {} of {}{}{}: {}",
                s.what,
                s.file,
                s.offset
                    .map(|o| format!(" at offset {o}"))
                    .unwrap_or_default(),
                s.keys
                    .as_ref()
                    .map(|k| format!(" (keys {k})"))
                    .unwrap_or_default(),
                s.reason
            )
        }));
        if self.failed.is_empty() {
            RepairResult::Repaired {
                actions_taken: done,
            }
        } else if self.actions.is_empty() {
            RepairResult::RepairFailed {
                reason: self.failed.join("; "),
            }
        } else {
            RepairResult::PartiallyRepaired {
                successful: done,
                failed: self.failed.clone(),
            }
        }
    }

    /// The report as pretty-printed JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
    }
}

/// What to do with a damaged table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TablePolicy {
    /// Rewrite it from its readable blocks.
    Rewrite,
    /// Drop it whole (into `quarantine/`).
    Quarantine,
}

/// Repairs the closed database at `path` on the real file system, using `config` for the
/// files it writes (checksum algorithm, block size, compression, bloom filter) and its
/// validation level (at least `Standard` is used). See the [module documentation](self).
///
/// Errors: `DatabaseLocked` when the database is open, `InvalidArgument` when there is no
/// database at `path`, `Io` when the disk fails. Corruption is never an error here: it is
/// what the report is about.
pub fn repair_database(
    path: impl AsRef<Path>,
    config: &LightningDbConfig,
) -> Result<RepairReport, DatabaseError> {
    repair_database_with_fs(path, config, Arc::new(StdFileSystem))
}

/// [`repair_database`] through a chosen file-system layer.
pub fn repair_database_with_fs(
    path: impl AsRef<Path>,
    config: &LightningDbConfig,
    fs: Arc<dyn FileSystem>,
) -> Result<RepairReport, DatabaseError> {
    repair_impl(
        path.as_ref(),
        fs,
        config,
        Component::All,
        TablePolicy::Rewrite,
        Tampered::SetAside,
    )
}

/// Repairs `component` of the closed database at `path` through `fs`, with default
/// settings for the files it writes except the validation `level`.
pub fn repair_with_fs(
    path: &Path,
    fs: Arc<dyn FileSystem>,
    component: Component,
    level: ValidationLevel,
    key: Option<EncryptionKey>,
) -> Result<RepairReport, DatabaseError> {
    let mut config = LightningDbConfig {
        integrity_validation_level: level,
        ..Default::default()
    };
    config.security.encryption_key = key;
    repair_impl(
        path,
        fs,
        &config,
        component,
        TablePolicy::Rewrite,
        Tampered::SetAside,
    )
}

fn resolved(fs: &Arc<dyn FileSystem>, dir: &Path, keys: &Option<Arc<KeyRing>>) -> Resolved {
    Resolved {
        fs: Arc::clone(fs),
        dir: dir.to_path_buf(),
        pinned: None,
        live_last_seq: None,
        wal_floor: None,
        wal_extent: None,
        manifest_extent: None,
        _lock: None,
        progress: None,
        keys: keys.clone(),
    }
}

fn number_of(file: &str, suffix: &str) -> Option<u64> {
    Path::new(file)
        .file_name()?
        .to_str()?
        .strip_suffix(suffix)?
        .parse()
        .ok()
}

/// The largest file number in use in `dir`, plus one.
fn next_free_number(fs: &dyn FileSystem, dir: &Path) -> u64 {
    fs.list_dir(dir)
        .unwrap_or_default()
        .iter()
        .filter_map(|n| {
            let base = n.strip_suffix(".tmp").unwrap_or(n);
            base.strip_suffix(".sst")
                .or_else(|| base.strip_suffix(".log"))
                .or_else(|| base.strip_prefix("MANIFEST-"))
                .and_then(|x| x.parse::<u64>().ok())
        })
        .max()
        .unwrap_or(0)
        + 1
}

fn unix_time() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Moves `file` into `dir/quarantine/` (a free name) with `report` beside it as
/// `<name>.json`, syncing both directories. Returns the new path.
pub(crate) fn quarantine_file(
    fs: &dyn FileSystem,
    dir: &Path,
    file: &Path,
    report: &serde_json::Value,
) -> Result<PathBuf, DatabaseError> {
    let failed = |reason: String| DatabaseError::QuarantineFailed {
        file: file.display().to_string(),
        reason,
    };
    let qdir = dir.join(QUARANTINE_DIR);
    fs.create_dir_all(&qdir)
        .map_err(|e| failed(format!("creating {}: {e}", qdir.display())))?;
    let name = file
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("file")
        .to_string();
    let mut target = qdir.join(&name);
    let mut i = 1;
    while fs.exists(&target) {
        target = qdir.join(format!("{name}.{i}"));
        i += 1;
    }
    let mut json_name = target.file_name().unwrap_or_default().to_os_string();
    json_name.push(".json");
    let json_path = qdir.join(json_name);
    let text = serde_json::to_string_pretty(report).unwrap_or_default();
    write_file_atomic(fs, &json_path, text.as_bytes())
        .map_err(|e| failed(format!("writing {}: {e}", json_path.display())))?;
    fs.rename(file, &target)
        .map_err(|e| failed(format!("moving it to {}: {e}", target.display())))?;
    fs.sync_dir(&qdir)
        .and_then(|()| fs.sync_dir(dir))
        .map_err(|e| failed(format!("syncing the directories: {e}")))?;
    Ok(target)
}

/// What a repair does with sealed data that fails authentication: tampering, not damage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Tampered {
    /// Refuse to repair anything (`DecryptionFailed`): what the automatic repairs do (the
    /// corruption actions at open, the online heal), so tampering is never answered by
    /// setting data aside behind the caller's back.
    Refuse,
    /// Set it aside like damage and list it: what a repair the caller asked for does.
    SetAside,
}

/// The error an automatic repair answers tampering with.
fn tampering_refused(what: &str) -> DatabaseError {
    DatabaseError::SecurityError(crate::error::SecurityError::DecryptionFailed {
        reason: format!(
            "{what}; an automatic repair does not act on tampering: run `lightning repair` \
             (with the key) to set it aside, or restore from a backup"
        ),
    })
}

pub(crate) fn repair_impl(
    dir: &Path,
    fs: Arc<dyn FileSystem>,
    config: &LightningDbConfig,
    component: Component,
    policy: TablePolicy,
    tampered: Tampered,
) -> Result<RepairReport, DatabaseError> {
    let mut rep = repair_unaudited(dir, Arc::clone(&fs), config, component, policy, tampered)?;
    if !rep.nothing_to_do() {
        audit_repair(fs, dir, &mut rep);
    }
    Ok(rep)
}

/// Records a repair (and its quarantine) in the database's audit log when it keeps one; a
/// failure to record is reported among the actions rather than failing the repair.
fn audit_repair(fs: Arc<dyn FileSystem>, dir: &Path, rep: &mut RepairReport) {
    use crate::audit::{OperationResult, SecurityEventType};
    let result = if rep.failed.is_empty() {
        OperationResult::Success
    } else {
        OperationResult::Failure(rep.failed.join("; "))
    };
    let meta = std::collections::HashMap::from([
        ("actions".to_string(), rep.actions.join("; ")),
        ("quarantined".to_string(), rep.quarantined.join(",")),
        ("failed".to_string(), rep.failed.join("; ")),
    ]);
    let mut events = vec![(SecurityEventType::Repair, "repair", result)];
    if !rep.quarantined.is_empty() {
        events.push((
            SecurityEventType::Quarantine,
            "quarantine",
            OperationResult::Success,
        ));
    }
    for (kind, op, result) in events {
        let recorded =
            crate::audit::record_offline(Arc::clone(&fs), dir, kind, op, result, meta.clone());
        if let Err(e) = recorded {
            rep.actions
                .push(format!("could not record the {op} in the audit log: {e}"));
        }
    }
}

fn repair_unaudited(
    dir: &Path,
    fs: Arc<dyn FileSystem>,
    config: &LightningDbConfig,
    component: Component,
    policy: TablePolicy,
    tampered: Tampered,
) -> Result<RepairReport, DatabaseError> {
    let cfg = config.reconciled();
    let _lock = lock_dir(fs.as_ref(), dir)?;
    crate::storage::format::check_readable(fs.as_ref(), dir)?;
    // An encrypted database is repaired with its keys: what validation and salvage read
    // is opened and authenticated, and what repair writes is sealed. Without the key (or
    // with a wrong one) nothing is touched.
    let keys = crate::storage::crypto::offline_ring(
        fs.as_ref(),
        dir,
        cfg.security.encryption_key.as_ref(),
    )?;
    let level = cfg
        .integrity_validation_level
        .max(ValidationLevel::Standard);
    let mut rep = RepairReport {
        path: dir.display().to_string(),
        before: run_validation(resolved(&fs, dir, &keys), level, component, false),
        ..Default::default()
    };
    if tampered == Tampered::Refuse {
        if let Some(p) = rep
            .before
            .problems
            .iter()
            .find(|p| p.check == CheckKind::Authentication)
        {
            return Err(tampering_refused(&p.to_string()));
        }
    }
    if rep.before.is_clean() {
        rep.actions
            .push("nothing to repair: validation found no problem".into());
        rep.after = Some(rep.before.clone());
        return Ok(rep);
    }
    let mut next = next_free_number(fs.as_ref(), dir);
    let mut ck = Checker::new(Arc::clone(&fs), dir, level).with_keys(keys.clone());
    let manifest = verify::scan_manifest(&mut ck, false, None);
    if let Some(m) = &manifest {
        next = next.max(m.next_file);
    }
    let metas: BTreeMap<u64, (usize, TableMeta)> = manifest
        .iter()
        .flat_map(|m| m.live.iter())
        .map(|(l, t)| (t.number, (*l, t.clone())))
        .collect();
    let build = BuildOptions {
        block_size: cfg.block_size,
        compress: cfg.compression_enabled,
        bloom_bits_per_key: cfg.bloom_bits_per_key,
        checksum: cfg.checksum_algorithm,
        durable: true,
        keys: keys.clone(),
    };

    // 1. Tables.
    let mut replaced: BTreeMap<u64, Option<TableMeta>> = BTreeMap::new();
    let table_problems: BTreeSet<(u64, bool)> = rep
        .before
        .problems
        .iter()
        .filter(|p| matches!(p.component, Component::Tables | Component::Index))
        .filter_map(|p| Some((number_of(&p.file, ".sst")?, p.check == CheckKind::Missing)))
        .collect();
    let missing: BTreeSet<u64> = table_problems
        .iter()
        .filter(|(_, m)| *m)
        .map(|(n, _)| *n)
        .collect();
    let damaged: BTreeSet<u64> = table_problems
        .iter()
        .map(|(n, _)| *n)
        .filter(|n| !missing.contains(n))
        .collect();
    for &n in &missing {
        let path = dir.join(table_file_name(n));
        let meta = metas.get(&n).map(|(_, m)| m);
        replaced.insert(n, None);
        rep.actions.push(format!(
            "dropped table {n} from the manifest: its file {} is missing",
            path.display()
        ));
        rep.set_aside.push(SetAside {
            file: path.display().to_string(),
            offset: None,
            bytes: meta.map_or(0, |m| m.file_size),
            what: "table".into(),
            keys: meta.map(|m| {
                let show = |k: &[u8]| show_key_sealed(k, keys.is_some());
                format!("{} ..= {}", show(&m.smallest), show(&m.largest))
            }),
            sequences: meta.map(|m| (m.min_seq, m.max_seq)),
            reason: "the file is missing".into(),
            kept_at: None,
        });
    }
    for &n in &damaged {
        let path = dir.join(table_file_name(n));
        match repair_table(
            &fs,
            dir,
            n,
            level,
            policy,
            tampered,
            build.clone(),
            &mut next,
            metas.get(&n),
            &mut rep,
        ) {
            Ok(new_meta) => {
                replaced.insert(n, new_meta);
            }
            Err(e) => rep.failed.push(format!("table {}: {e}", path.display())),
        }
    }

    // 2. Log segments.
    if component.covers(Component::Wal)
        && rep
            .before
            .problems
            .iter()
            .any(|p| p.component == Component::Wal)
    {
        let floor = manifest
            .as_ref()
            .filter(|m| !m.damaged)
            .map_or(0, |m| m.log_number);
        if let Err(e) = repair_wal(&fs, dir, floor, level, &keys, &mut rep) {
            rep.failed.push(format!("log: {e}"));
        }
    }

    // 3. The manifest.
    let manifest_damaged = rep
        .before
        .problems
        .iter()
        .any(|p| p.component == Component::Manifest);
    if !replaced.is_empty() || (manifest_damaged && component.covers(Component::Manifest)) {
        if let Err(e) = rewrite_manifest(
            &fs,
            dir,
            &cfg,
            &keys,
            manifest.as_ref(),
            &replaced,
            &mut next,
            &mut rep,
        ) {
            rep.failed.push(format!("manifest: {e}"));
        }
    }

    let after = run_validation(resolved(&fs, dir, &keys), level, component, false);
    for p in &after.problems {
        rep.failed.push(format!("still damaged: {p}"));
    }
    rep.after = Some(after);
    // Keep the report itself with the evidence.
    let qdir = dir.join(QUARANTINE_DIR);
    if !rep.quarantined.is_empty() && fs.exists(&qdir) {
        let path = qdir.join(format!("repair-{}.json", unix_time()));
        let _ = write_file_atomic(fs.as_ref(), &path, rep.to_json().as_bytes());
    }
    Ok(rep)
}

/// Rewrites (or, under the quarantine policy, drops) damaged table `n`; returns the new
/// table's metadata, `None` when nothing of it is kept.
#[allow(clippy::too_many_arguments)]
pub(crate) fn repair_table(
    fs: &Arc<dyn FileSystem>,
    dir: &Path,
    n: u64,
    level: ValidationLevel,
    policy: TablePolicy,
    tampered: Tampered,
    build: BuildOptions,
    next: &mut u64,
    meta: Option<&(usize, TableMeta)>,
    rep: &mut RepairReport,
) -> Result<Option<TableMeta>, DatabaseError> {
    let path = dir.join(table_file_name(n));
    // The same keys the rewritten table is sealed with open the damaged one's blocks
    // (an encrypted database; `build.keys` is `None` for a plain one).
    let mut ck = Checker::new(Arc::clone(fs), dir, level).with_keys(build.keys.clone());
    let sealed = ck.keys.is_some();
    let mut new_meta = None;
    let mut new_name = None;
    let scan = if policy == TablePolicy::Rewrite {
        let number = *next;
        *next += 1;
        let new_path = dir.join(table_file_name(number));
        let mut builder = Some(TableBuilder::create(fs.as_ref(), &new_path, number, build)?);
        let mut failure: Option<DatabaseError> = None;
        let scan = verify::scan_table(
            &mut ck,
            n,
            TableScope {
                data: true,
                component: Component::Tables,
            },
            &mut |block| {
                let Some(b) = builder.as_mut() else { return };
                for i in 0..block.len() {
                    if let Err(e) = b.add(block.key(i), block.seq(i), block.value(i)) {
                        failure = Some(e);
                        if let Some(b) = builder.take() {
                            b.abandon(fs.as_ref());
                        }
                        return;
                    }
                }
            },
        );
        if let Some(e) = failure {
            return Err(e);
        }
        let tampering = ck
            .report
            .problems
            .iter()
            .find(|p| p.check == CheckKind::Authentication);
        if let (Tampered::Refuse, Some(p)) = (tampered, tampering) {
            if let Some(b) = builder.take() {
                b.abandon(fs.as_ref());
            }
            return Err(tampering_refused(&p.to_string()));
        }
        if let Some(b) = builder.take() {
            new_meta = b.finish(fs.as_ref())?;
            fs.sync_dir(dir)
                .map_err(|e| DatabaseError::io("sync directory", dir, &e))?;
        }
        if new_meta.is_some() {
            new_name = Some(table_file_name(number));
        }
        scan
    } else {
        verify::scan_table(
            &mut ck,
            n,
            TableScope {
                data: true,
                component: Component::Tables,
            },
            &mut |_| {},
        )
    };
    if tampered == Tampered::Refuse {
        // (A rewrite found it above, before keeping its table.)
        if let Some(p) = ck
            .report
            .problems
            .iter()
            .find(|p| p.check == CheckKind::Authentication)
        {
            return Err(tampering_refused(&p.to_string()));
        }
    }
    // The reports are written beside the data in the clear: an encrypted database's
    // keys are shown by length only.
    let show_key = |k: &[u8]| show_key_sealed(k, sealed);
    let keys = |smallest: &[u8], largest: &[u8]| {
        format!("{} ..= {}", show_key(smallest), show_key(largest))
    };
    let key_range = meta
        .map(|(_, m)| keys(&m.smallest, &m.largest))
        .or_else(|| scan.props.as_ref().map(|p| keys(&p.smallest, &p.largest)))
        .or_else(|| Some(keys(scan.smallest.as_deref()?, scan.largest.as_deref()?)));
    let seq_range = meta
        .map(|(_, m)| (m.min_seq, m.max_seq))
        .or_else(|| scan.props.as_ref().map(|p| (p.min_seq, p.max_seq)))
        .or((scan.entries > 0).then_some((scan.min_seq, scan.max_seq)));
    let problems: Vec<String> = ck.report.problems.iter().map(|p| p.to_string()).collect();
    let bad: Vec<serde_json::Value> = scan
        .bad_blocks
        .iter()
        .map(|b| {
            serde_json::json!({
                "offset": b.offset,
                "bytes": b.len,
                "keys_after": b.after_key.as_deref().map(&show_key),
                "keys_up_to": b.up_to_key.as_deref().map(&show_key),
                "reason": b.reason,
            })
        })
        .collect();
    let report = serde_json::json!({
        "file": path.display().to_string(),
        "table": n,
        "level": meta.map(|(l, _)| *l),
        "key_range": key_range,
        "sequence_range": seq_range.map(|(a, b)| serde_json::json!({"min": a, "max": b})),
        "entries": meta.map(|(_, m)| m.entries).or(scan.props.as_ref().map(|p| p.entries)),
        "problems": problems,
        "unreadable_blocks": bad,
        "replaced_by": new_name,
        "policy": if policy == TablePolicy::Rewrite { "rewrite readable blocks" } else { "quarantine whole table" },
        "time": unix_time(),
    });
    let kept = quarantine_file(fs.as_ref(), dir, &path, &report)?;
    rep.quarantined.push(kept.display().to_string());
    let kept_at = Some(kept.display().to_string());
    match (&new_meta, policy) {
        (Some(m), _) => {
            let lost = !scan.bad_blocks.is_empty();
            rep.actions.push(format!(
                "rewrote table {n} as {} from {} readable blocks{} ({} entries); the original \
                 is in {}",
                table_file_name(m.number),
                scan.good_blocks,
                if lost {
                    format!(", {} unreadable blocks set aside", scan.bad_blocks.len())
                } else {
                    " (index, filter and properties rebuilt, nothing lost)".to_string()
                },
                m.entries,
                kept.display()
            ));
            for b in &scan.bad_blocks {
                rep.set_aside.push(SetAside {
                    file: path.display().to_string(),
                    offset: Some(b.offset),
                    bytes: b.len,
                    what: "data block".into(),
                    keys: Some(match (&b.after_key, &b.up_to_key) {
                        (Some(a), Some(u)) => {
                            format!("after {} up to {}", show_key(a), show_key(u))
                        }
                        (Some(a), None) => format!("after {}", show_key(a)),
                        (None, Some(u)) => format!("up to {}", show_key(u)),
                        (None, None) => "unknown".to_string(),
                    }),
                    sequences: None,
                    reason: b.reason.clone(),
                    kept_at: kept_at.clone(),
                });
            }
        }
        (None, _) => {
            rep.actions.push(format!(
                "removed table {n} from the database; the file is in {}",
                kept.display()
            ));
            rep.set_aside.push(SetAside {
                file: path.display().to_string(),
                offset: None,
                bytes: scan.file_size,
                what: "table".into(),
                keys: key_range,
                sequences: seq_range,
                reason: if policy == TablePolicy::Quarantine {
                    "quarantined: the table is damaged".into()
                } else {
                    "no readable data block".into()
                },
                kept_at,
            });
        }
    }
    Ok(new_meta)
}

/// Keeps the records before the first damage in the log; quarantines the rest.
fn repair_wal(
    fs: &Arc<dyn FileSystem>,
    dir: &Path,
    floor: u64,
    level: ValidationLevel,
    keys: &Option<Arc<KeyRing>>,
    rep: &mut RepairReport,
) -> Result<(), DatabaseError> {
    let segments: Vec<u64> = verify::wal_numbers_on_disk(fs.as_ref(), dir)
        .into_iter()
        .filter(|&n| n >= floor)
        .collect();
    let mut ck = Checker::new(Arc::clone(fs), dir, level.min(ValidationLevel::Standard))
        .with_keys(keys.clone());
    let mut next_seq = None;
    let mut cut_from: Option<usize> = None;
    for (i, &n) in segments.iter().enumerate() {
        let path = dir.join(wal::wal_file_name(n));
        let scan = verify::scan_wal(&mut ck, &path, i + 1 == segments.len(), &mut next_seq, None);
        if scan.damaged {
            let data = fs
                .read_all(&path)
                .map_err(|e| DatabaseError::io("read log segment", &path, &e))?;
            let keep = scan.valid_len as usize;
            let report = serde_json::json!({
                "file": path.display().to_string(),
                "segment": n,
                "damage_at": keep,
                "intact_records_after_damage": scan.records_after_damage,
                "sequences_after_damage": scan.seqs_after_damage.map(|(a, b)| serde_json::json!({"from": a, "to": b})),
                "kept_in_database": format!("the first {keep} bytes"),
                "time": unix_time(),
            });
            let kept = quarantine_file(fs.as_ref(), dir, &path, &report)?;
            rep.quarantined.push(kept.display().to_string());
            if keep >= crate::storage::record::FILE_HEADER_LEN {
                write_file_atomic(fs.as_ref(), &path, &data[..keep])
                    .map_err(|e| DatabaseError::io("write log segment", &path, &e))?;
                rep.actions.push(format!(
                    "cut log segment {} at offset {keep}, the first damaged record; the \
                     original is in {}",
                    path.display(),
                    kept.display()
                ));
            } else {
                rep.actions.push(format!(
                    "moved log segment {} (damaged header) to {}",
                    path.display(),
                    kept.display()
                ));
            }
            rep.set_aside.push(SetAside {
                file: path.display().to_string(),
                offset: Some(keep as u64),
                bytes: (data.len() - keep) as u64,
                what: "log records".into(),
                keys: None,
                sequences: scan.seqs_after_damage,
                reason: format!(
                    "damaged record at offset {keep}; {} intact records after it are not \
                     replayed so history stays a prefix",
                    scan.records_after_damage
                ),
                kept_at: Some(kept.display().to_string()),
            });
            cut_from = Some(i + 1);
            break;
        }
    }
    if let Some(from) = cut_from {
        for &n in &segments[from..] {
            let path = dir.join(wal::wal_file_name(n));
            let mut seqs = None;
            let mut c2 =
                Checker::new(Arc::clone(fs), dir, ValidationLevel::Basic).with_keys(keys.clone());
            verify::scan_wal(&mut c2, &path, true, &mut seqs, None);
            let report = serde_json::json!({
                "file": path.display().to_string(),
                "segment": n,
                "reason": "a log segment before it is damaged; replaying this one would leave a hole in history",
                "records": c2.report.records_checked,
                "time": unix_time(),
            });
            let bytes = fs.file_size(&path).unwrap_or(0);
            let kept = quarantine_file(fs.as_ref(), dir, &path, &report)?;
            rep.quarantined.push(kept.display().to_string());
            rep.actions.push(format!(
                "moved log segment {} to {}",
                path.display(),
                kept.display()
            ));
            rep.set_aside.push(SetAside {
                file: path.display().to_string(),
                offset: None,
                bytes,
                what: "log segment".into(),
                keys: None,
                sequences: None,
                reason: format!(
                    "follows a damaged segment ({} records, sequence numbers below {})",
                    c2.report.records_checked,
                    seqs.unwrap_or(0)
                ),
                kept_at: Some(kept.display().to_string()),
            });
        }
    }
    Ok(())
}

/// Writes a new manifest (and `CURRENT`) describing the repaired set of tables.
#[allow(clippy::too_many_arguments)]
fn rewrite_manifest(
    fs: &Arc<dyn FileSystem>,
    dir: &Path,
    cfg: &LightningDbConfig,
    keys: &Option<Arc<KeyRing>>,
    manifest: Option<&verify::ManifestState>,
    replaced: &BTreeMap<u64, Option<TableMeta>>,
    next: &mut u64,
    rep: &mut RepairReport,
) -> Result<(), DatabaseError> {
    let cache = Arc::new(BlockCache::new(1 << 20));
    cache.set_keys(keys.clone());
    let disk_meta = |n: u64| -> Option<TableMeta> {
        let t = Table::open(Arc::clone(fs), dir, n, Arc::clone(&cache)).ok()?;
        Some(TableMeta {
            number: n,
            file_size: t.file_size,
            smallest: t.props.smallest.clone(),
            largest: t.props.largest.clone(),
            min_seq: t.props.min_seq,
            max_seq: t.props.max_seq,
            entries: t.props.entries,
            tombstones: t.props.tombstones,
        })
    };
    // A manifest that lost an edit no longer describes the tables: rebuild from them.
    let usable = manifest.filter(|m| {
        !m.damaged && verify::lost_manifest_edit(fs.as_ref(), dir, m, keys.as_deref()).is_none()
    });
    let mut live: Vec<(usize, TableMeta)> = Vec::new();
    match usable {
        Some(m) => {
            for (level, meta) in &m.live {
                match replaced.get(&meta.number) {
                    Some(Some(new)) => live.push((*level, new.clone())),
                    Some(None) => {}
                    None => match disk_meta(meta.number) {
                        Some(dm) => live.push((*level, dm)),
                        None => rep.failed.push(format!(
                            "table {} named by the manifest cannot be opened; left out",
                            meta.number
                        )),
                    },
                }
            }
            // Levels 1 and deeper must not overlap; a level that does goes to level 0.
            for level in 1..NUM_LEVELS {
                let mut at: Vec<&TableMeta> = live
                    .iter()
                    .filter(|(l, _)| *l == level)
                    .map(|(_, t)| t)
                    .collect();
                at.sort_by(|a, b| a.smallest.cmp(&b.smallest));
                if at.windows(2).any(|w| w[0].largest >= w[1].smallest) {
                    for (l, _) in live.iter_mut().filter(|(l, _)| *l == level) {
                        *l = 0;
                    }
                    rep.actions.push(format!(
                        "moved the overlapping tables of level {level} to level 0"
                    ));
                }
            }
        }
        None => {
            for n in verify::table_numbers_on_disk(fs.as_ref(), dir) {
                match disk_meta(n) {
                    Some(dm) => live.push((0, dm)),
                    None => rep.failed.push(format!(
                        "table {n} cannot be opened; left out of the manifest"
                    )),
                }
            }
            rep.actions.push(format!(
                "rebuilt the manifest from {} table files, all at level 0 (compaction sorts \
                 them into levels)",
                live.len()
            ));
        }
    }
    // The log to replay: the intact manifest's, else every segment still on disk.
    let log_number = match usable {
        Some(m) => m.log_number,
        None => verify::wal_numbers_on_disk(fs.as_ref(), dir)
            .first()
            .copied()
            .unwrap_or(0),
    };
    // Sequence numbers never go back: not below what any table, the old manifest, a table
    // set aside, or the log still to replay says was handed out.
    let first_logged = verify::wal_numbers_on_disk(fs.as_ref(), dir)
        .into_iter()
        .filter(|&n| n >= log_number)
        .find_map(|n| first_batch_seq(fs.as_ref(), dir, n, keys.as_deref()));
    let last_sequence = live
        .iter()
        .map(|(_, t)| t.max_seq)
        .chain(manifest.map(|m| m.last_sequence))
        .chain(
            rep.set_aside
                .iter()
                .filter_map(|s| s.sequences.map(|(_, hi)| hi)),
        )
        .chain(first_logged.map(|s| s.saturating_sub(1)))
        .max()
        .unwrap_or(0);
    let number = *next;
    *next += 1;
    let snapshot = VersionEdit {
        log_number: Some(log_number),
        next_file_number: Some(*next),
        last_sequence: Some(last_sequence),
        deleted: Vec::new(),
        added: live.clone(),
    };
    ManifestWriter::create_keyed(
        fs.as_ref(),
        dir,
        number,
        cfg.checksum_algorithm,
        &snapshot,
        keys.clone(),
    )?;
    rep.actions.push(format!(
        "wrote {} with {} tables and pointed CURRENT at it",
        manifest::manifest_file_name(number),
        live.len()
    ));
    // A damaged old manifest is kept as evidence.
    if let Some(m) = manifest.filter(|m| m.damaged) {
        let old = dir.join(manifest::manifest_file_name(m.number));
        if fs.exists(&old) {
            let report = serde_json::json!({
                "file": old.display().to_string(),
                "reason": "damaged manifest, replaced by a rebuilt one",
                "replaced_by": manifest::manifest_file_name(number),
                "time": unix_time(),
            });
            let kept = quarantine_file(fs.as_ref(), dir, &old, &report)?;
            rep.quarantined.push(kept.display().to_string());
        }
    }
    Ok(())
}

/// The first sequence number of the first intact batch of log segment `number` (opened
/// with `keys` when sealed).
fn first_batch_seq(
    fs: &dyn FileSystem,
    dir: &Path,
    number: u64,
    keys: Option<&KeyRing>,
) -> Option<u64> {
    use crate::storage::record::{decode_file_header, read_record, RecordRead, FILE_HEADER_LEN};
    let path = dir.join(wal::wal_file_name(number));
    let data = fs.read_all(&path).ok()?;
    let header = decode_file_header(&data, wal::WAL_MAGIC).ok()?;
    let RecordRead::Ok(payload, _) = read_record(&data, FILE_HEADER_LEN, header.checksum) else {
        return None;
    };
    if header.version == wal::WAL_SEALED_VERSION {
        let place = wal::log_place(number, FILE_HEADER_LEN as u64);
        let opened = keys?.open(&path, place, payload).ok()?;
        wal::decode_batch(&opened).map(|(seq, _)| seq)
    } else {
        wal::decode_batch(payload).map(|(seq, _)| seq)
    }
}
