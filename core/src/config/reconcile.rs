//! Reconciliation of the settings that appear twice (see the module documentation).

use super::*;

impl LightningDbConfig {
    /// A copy in which both fields of every pair of duplicated settings hold the value that
    /// wins under the rule in the module documentation (a field left at its default yields to
    /// its partner), so the engine may read either field.
    ///
    /// Call it on a configuration that [`validate`](Self::validate) accepted. The result
    /// validates as well, and reconciling it again changes nothing.
    pub fn reconciled(&self) -> Self {
        let mut out = self.clone();
        let defaults = SecurityConfig::default();

        let checksum = winner(
            self.checksum_algorithm,
            self.security.checksum_algorithm,
            defaults.checksum_algorithm,
        );
        out.checksum_algorithm = checksum;
        out.security.checksum_algorithm = checksum;

        let level = winner(
            self.integrity_validation_level,
            self.security.validation_level,
            defaults.validation_level,
        );
        out.integrity_validation_level = level;
        out.security.validation_level = level;

        let action = match (self.fail_on_corruption, self.security.corruption_action) {
            (false, CorruptionAction::Halt) => CorruptionAction::Log,
            (_, action) => action,
        };
        out.security.corruption_action = action;
        out.fail_on_corruption = action == CorruptionAction::Halt;

        let audit =
            if self.enable_audit_logging || self.security.audit_level != defaults.audit_level {
                self.security.audit_level
            } else {
                AuditLevel::Off
            };
        out.security.audit_level = audit;
        out.enable_audit_logging = audit != AuditLevel::Off;

        let self_healing = self.enable_self_healing || self.reliability.self_healing_enabled;
        out.enable_self_healing = self_healing;
        out.reliability.self_healing_enabled = self_healing;

        let deadlock = self.deadlock_prevention_enabled && self.reliability.deadlock_prevention;
        out.deadlock_prevention_enabled = deadlock;
        out.reliability.deadlock_prevention = deadlock;

        let breaker = self.circuit_breaker_enabled || self.reliability.circuit_breaker_enabled;
        out.circuit_breaker_enabled = breaker;
        out.reliability.circuit_breaker_enabled = breaker;

        out
    }
}

pub(super) fn conflicts<T: PartialEq>(top: T, nested: T, default: T) -> bool {
    top != default && nested != default && top != nested
}

pub(super) fn winner<T: PartialEq>(top: T, nested: T, default: T) -> T {
    if top != default {
        top
    } else {
        nested
    }
}
