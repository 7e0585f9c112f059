//! Self-healing (`enable_self_healing`, `reliability.self_healing_enabled` or
//! `reliability.auto_remediation_enabled`): after every round of the database's own health
//! checks (its monitoring thread with `enable_health_monitoring`, else each
//! [`Database::health`](super::Database::health) call), the database acts on what turned
//! critical and records each action ([`DbInner::record_healing`]: statistics, metrics,
//! the health report):
//!
//! | finding | action |
//! |---|---|
//! | `integrity` critical: a table found damaged while open (under `CorruptionAction::Quarantine` or `Repair`) | the table is quarantined, or rewritten from its readable blocks, online, with one manifest edit; the next open has nothing left to do for it |
//! | `resources` critical: the disk is nearly full | all tables are compacted to reclaim space; if the disk is still nearly full, writes are refused with `InsufficientResources` before anything is written, until enough space is free again (checked on each write) |
//! | `resources`: machine memory over the check's threshold | the block cache's bound is halved (not below [`MIN_CACHE_SIZE`](crate::MIN_CACHE_SIZE)) |
//! | engine self-check `background_threads` critical: a flush, compaction or sync thread died (panicked) | it is started again |

use std::sync::{Arc, Weak};

use crate::config::{CorruptionAction, MIN_CACHE_SIZE};
use crate::engine::DbInner;
use crate::integrity::monitor::{heal_table_online, CorruptionMonitor};
use crate::monitor::{system_memory, AfterRound, CheckReport, HealthStatus, DISK_CRITICAL};
use crate::stats::HealingKind;

/// The hook the database's health monitor calls after each round.
pub(super) fn after_round(inner: &Arc<DbInner>, monitor: &Arc<CorruptionMonitor>) -> AfterRound {
    let weak: Weak<DbInner> = Arc::downgrade(inner);
    let monitor = Arc::clone(monitor);
    Arc::new(move |checks: &[CheckReport]| {
        if let Some(inner) = weak.upgrade() {
            heal(&inner, &monitor, checks);
        }
    })
}

fn heal(inner: &Arc<DbInner>, monitor: &CorruptionMonitor, checks: &[CheckReport]) {
    if inner.is_closed() {
        return;
    }
    if !inner.dead_threads().is_empty() {
        let _ = inner.restart_dead_threads();
    }
    for check in checks {
        let critical = matches!(check.status, HealthStatus::Critical { .. });
        match check.name.as_str() {
            "integrity" if critical => heal_integrity(inner, monitor),
            "resources" => {
                if critical {
                    heal_disk(inner);
                }
                heal_memory(inner, check);
            }
            _ => {}
        }
    }
}

/// Quarantines or repairs, online, every table the corruption monitor marked damaged.
fn heal_integrity(inner: &Arc<DbInner>, monitor: &CorruptionMonitor) {
    let rewrite = match monitor.action() {
        CorruptionAction::Repair => true,
        CorruptionAction::Quarantine => false,
        // Log and Halt leave the data alone, as documented for them.
        CorruptionAction::Log | CorruptionAction::Halt => return,
    };
    for n in monitor.damaged_tables() {
        match heal_table_online(inner, n, rewrite) {
            Ok(Some(done)) => {
                monitor.forget_damaged(n);
                let (kind, detail) = match done.replaced_by {
                    Some(new) => (
                        HealingKind::TableRepaired,
                        format!(
                            "table {n} rewritten as table {new} from its readable blocks ({} \
                             unreadable blocks set aside); the damaged file is in {}",
                            done.lost_blocks, done.kept_at
                        ),
                    ),
                    None => (
                        HealingKind::TableQuarantined,
                        format!(
                            "table {n} taken out of the database; the file is in {}",
                            done.kept_at
                        ),
                    ),
                };
                inner.record_healing(kind, "integrity", detail);
            }
            // No longer live: a compaction replaced it meanwhile.
            Ok(None) => monitor.forget_damaged(n),
            // Left for the next round (or the next open).
            Err(_) => {}
        }
    }
}

/// The bytes that must stay free on the database's disk: below them the resource check
/// is critical.
fn disk_reserve(inner: &DbInner, total: u64) -> u64 {
    let floor = (2 * inner.config.write_buffer_size as u64).min(total / 10);
    let share = (total as f64 * (1.0 - DISK_CRITICAL)).ceil() as u64;
    floor.max(share)
}

fn disk_space(inner: &DbInner) -> Option<(u64, u64)> {
    match inner.fs.disk_space(&inner.path) {
        Ok(Some(space)) if space.total > 0 => Some((space.total, space.available)),
        _ => None,
    }
}

/// Compacts to reclaim space; refuses writes if that was not enough.
fn heal_disk(inner: &Arc<DbInner>) {
    let Some((total, available)) = disk_space(inner) else {
        return;
    };
    let reserve = disk_reserve(inner, total);
    if available >= reserve {
        return;
    }
    let before = inner.stats().table_bytes;
    if inner.compact_tables().is_ok() {
        let after = inner.stats().table_bytes;
        let free = disk_space(inner).map_or(available, |(_, a)| a);
        inner.record_healing(
            HealingKind::SpaceReclaimed,
            "resources",
            format!(
                "disk nearly full ({available} of {total} bytes free): compacted every table, \
                 {before} -> {after} table bytes, {free} bytes free now"
            ),
        );
    }
    let free = disk_space(inner).map_or(available, |(_, a)| a);
    if free < reserve {
        inner.refuse_writes_below(
            reserve,
            format!(
                "disk nearly full: {free} of {total} bytes free, {reserve} must stay free; \
                 writes are refused with InsufficientResources until there is room"
            ),
        );
    }
}

/// Halves the block cache while the resource check finds memory over its threshold.
fn heal_memory(inner: &DbInner, check: &CheckReport) {
    let over = match &check.status {
        HealthStatus::Warning { message, .. } | HealthStatus::Critical { message, .. } => {
            message.contains("of memory in use")
        }
        _ => false,
    };
    if !over {
        return;
    }
    let current = inner.cache.capacity();
    let target = (current / 2).max(MIN_CACHE_SIZE);
    if target < current {
        let why = match system_memory() {
            Some((total, available)) => format!(
                "memory over the threshold ({} MiB available of {} MiB)",
                available >> 20,
                total >> 20
            ),
            None => "memory over the threshold".to_string(),
        };
        inner.shrink_cache(target, &why);
    }
}
