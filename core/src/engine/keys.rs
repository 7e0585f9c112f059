//! Key rotation and re-wrapping of an encrypted database's data keys.
//!
//! Both write `KEYS` whole (temporary name, sync, rename, directory sync) before anything
//! uses what changed, so a crash at any instant leaves the old file (the old data keys,
//! or the old key-encryption key) or the new one, and every sealed unit on disk was sealed
//! with a generation the surviving file holds.

use std::sync::Weak;

use super::*;
use crate::config::EncryptionKey;
use crate::error::SecurityError;
use crate::storage::manifest::manifest_file_name;

/// What [`Database::rotate_key_now`](crate::Database::rotate_key_now) did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRotation {
    /// The generation every table is now sealed with (or a later one).
    pub generation: u32,
    /// Tables rewritten under it.
    pub tables_rewritten: usize,
    /// Older generations removed from the key file (empty when an iterator still read a
    /// table sealed with one: the next `rotate_key_now` retires them).
    pub retired_generations: Vec<u32>,
}

fn not_encrypted(path: &Path) -> DatabaseError {
    DatabaseError::InvalidArgument {
        message: format!(
            "{} is not encrypted: there is no key to rotate or re-wrap",
            path.display()
        ),
    }
}

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl DbInner {
    /// Adds a new random data key and makes it current: `KEYS` is rewritten with it first,
    /// then the log, the manifest and every table written from then on are sealed with it.
    /// Files sealed with older keys stay readable (their keys stay in `KEYS`) until they
    /// are rewritten. Returns the new generation.
    pub(crate) fn rotate_key(&self) -> Result<u32, DatabaseError> {
        // The thread holding a bulk load holds the log lock this takes.
        self.refuse_in_bulk_thread()?;
        self.check_writable()?;
        let kek = self.kek.lock();
        let (Some(kek), Some(current)) = (kek.as_ref(), self.cache.keys()) else {
            return Err(not_encrypted(&self.path));
        };
        let mut ring = current.duplicate();
        let result = ring.rotate(now_secs()).and_then(|generation| {
            ring.write(self.fs.as_ref(), &self.path, kek)
                .map(|()| generation)
        });
        let generation = match result {
            Ok(g) => g,
            Err(e) => {
                let reason = e.to_string();
                let _ = self.audit_record(
                    SecurityEventType::KeyRotation,
                    "rotate_key",
                    OperationResult::Failure(reason.clone()),
                    RiskLevel::High,
                    Default::default(),
                );
                return Err(match e {
                    DatabaseError::SecurityError(SecurityError::KeyRotationFailed { .. }) => e,
                    other => DatabaseError::SecurityError(SecurityError::KeyRotationFailed {
                        reason: format!(
                            "writing the key file failed ({other}); the previous key stays current"
                        ),
                    }),
                });
            }
        };
        // Durable in KEYS: the writers may seal with it now. Readers get the new ring
        // through the cache (it still opens every older generation).
        self.install_ring(ring);
        let _ = self.audit_record(
            SecurityEventType::KeyRotation,
            "rotate_key",
            OperationResult::Success,
            RiskLevel::Medium,
            std::collections::HashMap::from([("generation".to_string(), generation.to_string())]),
        );
        Ok(generation)
    }

    /// Wraps the data keys under `new_kek` instead of the current key-encryption key:
    /// `KEYS` alone is rewritten (no data file changes). From its rename on the database
    /// opens with `new_kek` only; before it, with the old key only.
    pub(crate) fn rewrap_key(&self, new_kek: EncryptionKey) -> Result<(), DatabaseError> {
        self.check_open()?;
        let mut kek = self.kek.lock();
        let (Some(_), Some(current)) = (kek.as_ref(), self.cache.keys()) else {
            return Err(not_encrypted(&self.path));
        };
        if let Err(e) = current.write(self.fs.as_ref(), &self.path, &new_kek) {
            let _ = self.audit_record(
                SecurityEventType::KeyRewrap,
                "rewrap_key",
                OperationResult::Failure(e.to_string()),
                RiskLevel::High,
                Default::default(),
            );
            return Err(DatabaseError::SecurityError(
                SecurityError::KeyRotationFailed {
                    reason: format!(
                    "writing the re-wrapped key file failed ({e}); the previous key-encryption \
                     key may still be the one that opens the database: try it first"
                ),
                },
            ));
        }
        *kek = Some(new_kek);
        let _ = self.audit_record(
            SecurityEventType::KeyRewrap,
            "rewrap_key",
            OperationResult::Success,
            RiskLevel::Medium,
            Default::default(),
        );
        Ok(())
    }

    /// [`Self::rotate_key`], then the log and memtable moved to the new key (a flush),
    /// every table rewritten under it, the manifest rolled to a fresh one sealed with it,
    /// and the generations below it removed from the key file once nothing reads a file
    /// sealed with them: no table from before is still referenced (an open iterator pins
    /// its tables) and no log segment from before is left.
    pub(crate) fn rotate_key_now(&self) -> Result<KeyRotation, DatabaseError> {
        let _one_at_a_time = self.key_change.lock();
        let generation = self.rotate_key()?;
        let before: Vec<Weak<Table>> = self
            .versions
            .lock()
            .current
            .all_tables()
            .map(|(_, t)| Arc::downgrade(t))
            .collect();
        self.flush()?;
        let tables_rewritten = self.rewrite_all_tables()?;
        self.roll_manifest()?;
        let pinned = before.iter().any(|t| t.strong_count() > 0);
        let oldest_log = self.oldest_live_log();
        let old_logs = self.fs.list_dir(&self.path).map_or(true, |names| {
            names
                .iter()
                .any(|n| parse_number(n, ".log").is_some_and(|x| x < oldest_log))
        });
        let mut retired = Vec::new();
        if !pinned && !old_logs {
            let kek = self.kek.lock();
            let (Some(kek), Some(current)) = (kek.as_ref(), self.cache.keys()) else {
                return Err(not_encrypted(&self.path));
            };
            let mut ring = current.duplicate();
            retired = ring
                .generations()
                .into_iter()
                .filter(|&g| g < generation)
                .collect();
            if !retired.is_empty() {
                ring.retire_below(generation);
                ring.write(self.fs.as_ref(), &self.path, kek).map_err(|e| {
                    DatabaseError::SecurityError(SecurityError::KeyRotationFailed {
                        reason: format!(
                            "every file is sealed with generation {generation}, but the \
                                 key file without the older keys could not be written ({e}); \
                                 they stay in it"
                        ),
                    })
                })?;
                self.install_ring(ring);
            }
        }
        let _ = self.audit_record(
            SecurityEventType::KeyRotation,
            "rotate_key_now",
            OperationResult::Success,
            RiskLevel::Medium,
            std::collections::HashMap::from([
                ("generation".to_string(), generation.to_string()),
                ("tables_rewritten".to_string(), tables_rewritten.to_string()),
                ("retired_generations".to_string(), format!("{retired:?}")),
            ]),
        );
        Ok(KeyRotation {
            generation,
            tables_rewritten,
            retired_generations: retired,
        })
    }

    /// Rotates when `security.key_rotation_days` says the current data key is due; a
    /// no-op for a plain database. Called as the database opens and after each `flush()`
    /// or `compact()` the program calls; a failure is reported as a background error (the
    /// key in force stays, and the next check tries again).
    pub(crate) fn rotate_key_if_due(&self) {
        let days = u64::from(self.config.security.key_rotation_days);
        let Some(ring) = self.cache.keys() else {
            return;
        };
        if days == 0 || now_secs() < ring.current_created_secs().saturating_add(days * 86_400) {
            return;
        }
        if let Err(e) = self.rotate_key() {
            self.report_background_error(BackgroundJob::Compaction, &e, false);
        }
    }

    /// The oldest log segment a live memtable still needs.
    fn oldest_live_log(&self) -> u64 {
        let sv = self.super_version.load_full();
        sv.imms
            .iter()
            .map(|m| m.wal_number)
            .chain(std::iter::once(sv.mem.wal_number))
            .min()
            .unwrap_or(sv.mem.wal_number)
    }

    /// Writes a fresh manifest holding the current state, sealed with the current key,
    /// points `CURRENT` at it and removes the old one. A failure once `CURRENT` may have
    /// moved poisons the database (the next open reads whichever manifest it names).
    fn roll_manifest(&self) -> Result<(), DatabaseError> {
        let _sv = self.sv_update.lock();
        let mut versions = self.versions.lock();
        let number = self.new_file_number();
        let snapshot = VersionEdit {
            log_number: Some(self.oldest_live_log()),
            next_file_number: Some(self.next_file.load(Ordering::SeqCst)),
            last_sequence: Some(self.last_sequence()),
            deleted: Vec::new(),
            added: versions
                .current
                .all_tables()
                .map(|(l, t)| (l, meta_of(t)))
                .collect(),
        };
        let mut writer = ManifestWriter::create_keyed(
            self.fs.as_ref(),
            &self.path,
            number,
            self.config.checksum_algorithm,
            &snapshot,
            self.cache.keys(),
        )
        .inspect_err(|e| self.poison(format!("rolling the manifest failed: {e}")))?;
        writer.publish_to(Arc::clone(&self.manifest_extent));
        let old = std::mem::replace(&mut versions.manifest, writer);
        drop(versions);
        let _ = self
            .fs
            .remove_file(&self.path.join(manifest_file_name(old.number)));
        let _ = self.fs.sync_dir(&self.path);
        Ok(())
    }

    /// Merges every table into one level, rewriting each even where a move would do, so
    /// every table is sealed with the current key; returns how many tables went in.
    fn rewrite_all_tables(&self) -> Result<usize, DatabaseError> {
        self.guarded(|| {
            let _c = self.compaction_lock.lock();
            let version = self.versions.lock().current.clone();
            let Some(job) = compaction::full_rewrite(&version) else {
                return Ok(0);
            };
            let started = Instant::now();
            let outputs = self.run_compaction(&job, &version)?;
            let rewritten = job.inputs.len();
            let info = super::background::compaction_info(&job, outputs, started.elapsed());
            drop((job, version, _c));
            self.report_compaction(info);
            Ok(rewritten)
        })
    }

    /// Makes `ring` the database's keys: readers get it through the block cache (it still
    /// opens every older generation), and the log and manifest writers seal with it.
    fn install_ring(&self, ring: crate::storage::crypto::KeyRing) {
        let ring = Arc::new(ring);
        self.cache.set_keys(Some(Arc::clone(&ring)));
        self.wal.lock().set_keys(Arc::clone(&ring));
        self.versions.lock().manifest.set_keys(ring);
    }
}
