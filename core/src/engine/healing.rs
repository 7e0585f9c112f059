//! The engine's part of self-healing (`enable_self_healing`): the record of actions taken
//! ([`DbInner::record_healing`], the one place every action is recorded, so that an
//! audit log can hook it), refusing writes while the disk is nearly full, shrinking the
//! block cache, and restarting background threads that died. What triggers each action
//! (a health check turning critical) is decided above, in the `Database` facade.

use std::collections::VecDeque;
use std::time::{SystemTime, UNIX_EPOCH};

use super::*;
use crate::stats::{HealingAction, HealingKind, SelfHealingStats};

/// How many recent actions the record keeps.
const RECENT_ACTIONS: usize = 32;

/// Self-healing state of one open database.
#[derive(Default)]
pub(crate) struct Healing {
    stats: Mutex<SelfHealingStats>,
    recent: Mutex<VecDeque<HealingAction>>,
    /// While nonzero: the bytes that must stay free on the disk; a write that would leave
    /// less is refused with `InsufficientResources`.
    space_reserve: AtomicU64,
}

impl Healing {
    /// The counts and recent actions, for [`DbStats`].
    pub fn stats(&self) -> SelfHealingStats {
        let mut out = self.stats.lock().clone();
        out.refusing_writes = self.space_reserve.load(Ordering::Acquire) > 0;
        out.recent = self.recent.lock().iter().cloned().collect();
        out
    }
}

impl DbInner {
    /// Holds off compactions while the caller changes the tables (online repair).
    pub(crate) fn hold_compactions(&self) -> parking_lot::MutexGuard<'_, ()> {
        self.compaction_lock.lock()
    }

    /// The level and description of live table `n`, if it is live.
    pub(crate) fn live_table(&self, n: u64) -> Option<(usize, TableMeta)> {
        let current = self.versions.lock().current.clone();
        current
            .levels
            .iter()
            .enumerate()
            .find_map(|(level, tables)| {
                tables
                    .iter()
                    .find(|t| t.number == n)
                    .map(|t| (level, meta_of(t)))
            })
    }

    /// A file number nothing else will use.
    pub(crate) fn reserve_file_number(&self) -> u64 {
        self.new_file_number()
    }

    /// How this database writes tables.
    pub(crate) fn table_build_options(&self) -> BuildOptions {
        build_options(&self.config, &self.cache)
    }

    /// Swaps live table `old` at `level` for `new` (already written and synced; `None`
    /// drops it) in one manifest edit, and publishes the result to readers.
    pub(crate) fn replace_table(
        &self,
        level: usize,
        old: u64,
        new: Option<TableMeta>,
    ) -> Result<(), DatabaseError> {
        let tables = match &new {
            Some(m) => self.open_tables(std::slice::from_ref(m))?,
            None => Vec::new(),
        };
        let _guard = self.sv_update.lock();
        let current = self.versions.lock().current.clone();
        let Some(old_table) = current
            .levels
            .get(level)
            .and_then(|l| l.iter().find(|t| t.number == old))
            .cloned()
        else {
            return Ok(());
        };
        let edit = VersionEdit {
            log_number: None,
            next_file_number: Some(self.next_file.load(Ordering::SeqCst)),
            last_sequence: None,
            deleted: vec![(level, old)],
            added: new.iter().map(|m| (level, m.clone())).collect(),
        };
        let version = self.install_edit(&edit, tables, &[old_table])?;
        self.publish_version(version);
        Ok(())
    }

    /// Records one self-healing action: counted in the statistics (and so in the metrics
    /// JSON and Prometheus text) and kept among the recent actions that the health report
    /// shows. Every action goes through here.
    pub(crate) fn record_healing(&self, kind: HealingKind, check: &str, detail: String) {
        {
            let mut s = self.healing.stats.lock();
            s.actions += 1;
            match kind {
                HealingKind::TableRepaired => s.tables_repaired += 1,
                HealingKind::TableQuarantined => s.tables_quarantined += 1,
                HealingKind::SpaceReclaimed => s.space_reclaims += 1,
                HealingKind::CacheShrunk => s.cache_shrinks += 1,
                HealingKind::ThreadRestarted => s.threads_restarted += 1,
                HealingKind::WritesRefused | HealingKind::WritesResumed => {}
            }
        }
        let unix_millis = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        let mut recent = self.healing.recent.lock();
        if recent.len() == RECENT_ACTIONS {
            recent.pop_front();
        }
        recent.push_back(HealingAction {
            kind,
            check: check.to_string(),
            detail: detail.clone(),
            unix_millis,
        });
        drop(recent);
        // The audit log, when the database keeps one, records every action too; a failure
        // to record it must not undo the action, and the log reports its own damage.
        let risk = match kind {
            HealingKind::TableQuarantined | HealingKind::WritesRefused => RiskLevel::High,
            _ => RiskLevel::Medium,
        };
        let metadata = [
            ("check".to_string(), check.to_string()),
            ("detail".to_string(), detail),
        ]
        .into_iter()
        .collect();
        let _ = self.audit_record(
            SecurityEventType::SelfHealing,
            &format!("{kind:?}"),
            OperationResult::Success,
            risk,
            metadata,
        );
    }

    /// Starts refusing writes that would leave less than `reserve` bytes free (recorded
    /// once, when refusing starts).
    pub(crate) fn refuse_writes_below(&self, reserve: u64, why: String) {
        let reserve = reserve.max(1);
        if self.healing.space_reserve.swap(reserve, Ordering::AcqRel) == 0 {
            self.record_healing(HealingKind::WritesRefused, "resources", why);
        }
    }

    /// While writes are refused for want of space: refuses this one with
    /// `InsufficientResources` unless `incoming` bytes (and the reserve) fit, and stops
    /// refusing once they do, recording that writes resumed. Checked before anything is
    /// written, so a refused write leaves no file half written.
    pub(super) fn check_space(&self, incoming: u64) -> Result<(), DatabaseError> {
        let reserve = self.healing.space_reserve.load(Ordering::Acquire);
        if reserve == 0 {
            return Ok(());
        }
        let available = match self.fs.disk_space(&self.path) {
            Ok(Some(space)) => space.available,
            // Nothing to go by: keep refusing rather than guess.
            _ => 0,
        };
        let required = reserve.saturating_add(incoming);
        if available >= required {
            if self
                .healing
                .space_reserve
                .compare_exchange(reserve, 0, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
            {
                self.record_healing(
                    HealingKind::WritesResumed,
                    "resources",
                    format!("{available} bytes free again (at least {reserve} needed)"),
                );
            }
            return Ok(());
        }
        self.healing.stats.lock().writes_refused += 1;
        Err(DatabaseError::InsufficientResources {
            resource: "disk".to_string(),
            required,
            available,
        })
    }

    /// Lowers the block cache's bound to `bytes`, recording it when it shrank.
    pub(crate) fn shrink_cache(&self, bytes: u64, why: &str) -> bool {
        let before = self.cache.shrink_to(bytes);
        let after = self.cache.capacity();
        if after < before {
            self.record_healing(
                HealingKind::CacheShrunk,
                "resources",
                format!("{why}: block cache bound lowered from {before} to {after} bytes"),
            );
            true
        } else {
            false
        }
    }

    /// The background threads that ended without the database closing or being
    /// poisoned (a thread that panicked), by name.
    pub(crate) fn dead_threads(&self) -> Vec<String> {
        if self.closed.load(Ordering::Acquire) || self.is_poisoned.load(Ordering::Acquire) {
            return Vec::new();
        }
        if self.bg.lock().shutdown {
            return Vec::new();
        }
        self.threads
            .lock()
            .iter()
            .filter(|t| t.is_finished())
            .filter_map(|t| t.thread().name().map(str::to_string))
            .collect()
    }

    /// Starts again every flush or compaction thread that died, recording each; returns
    /// how many were started.
    pub(crate) fn restart_dead_threads(self: &Arc<Self>) -> Result<usize, DatabaseError> {
        let dead = self.dead_threads();
        let mut restarted = 0;
        for name in dead {
            let me = Arc::clone(self);
            let work: Box<dyn FnOnce() + Send> = match name.as_str() {
                "lightning-flush" => Box::new(move || me.flush_loop()),
                "lightning-compact" => Box::new(move || me.compaction_loop()),
                "lightning-sync" => match self.config.durability {
                    Durability::Periodic(ms) => Box::new(move || me.periodic_sync_loop(ms)),
                    _ => continue,
                },
                _ => continue,
            };
            // The dead handle goes first, so it is not restarted twice.
            {
                let mut threads = self.threads.lock();
                if let Some(i) = threads
                    .iter()
                    .position(|t| t.is_finished() && t.thread().name() == Some(name.as_str()))
                {
                    let dead = threads.swap_remove(i);
                    let _ = dead.join();
                } else {
                    continue;
                }
            }
            self.spawn_background(&name, work)?;
            restarted += 1;
            self.record_healing(
                HealingKind::ThreadRestarted,
                "engine",
                format!("background thread '{name}' had died; started again"),
            );
            // The new flush thread picks up what waited.
            self.bg_cv.notify_all();
        }
        Ok(restarted)
    }
}
