//! Validation: every field's range and the consistency between fields.

use std::time::Duration;

use super::reconcile::conflicts;
use super::*;
use crate::error::DatabaseError;

impl LightningDbConfig {
    /// Checks every field's range and the consistency between fields.
    ///
    /// The error is a [`DatabaseError::ConfigurationError`] whose `field` names the first
    /// offending field (dotted for nested ones, such as `reliability.retry_max_attempts`) and
    /// whose `reason` gives the allowed range.
    pub fn validate(&self) -> Result<(), DatabaseError> {
        if self.path.as_os_str().is_empty() {
            return Err(invalid("path", "must not be empty"));
        }
        if self.cache_size < MIN_CACHE_SIZE {
            return Err(invalid(
                "cache_size",
                format!(
                    "{} bytes is below the minimum of {MIN_CACHE_SIZE} bytes (64 KiB)",
                    self.cache_size
                ),
            ));
        }
        let write_buffer = u64::try_from(self.write_buffer_size).unwrap_or(u64::MAX);
        if self.write_buffer_size < MIN_WRITE_BUFFER_SIZE || write_buffer > MAX_WRITE_BUFFER_SIZE {
            return Err(invalid(
                "write_buffer_size",
                format!(
                    "{} bytes is outside the allowed range {MIN_WRITE_BUFFER_SIZE} (64 KiB) to \
                     {MAX_WRITE_BUFFER_SIZE} (4 GiB)",
                    self.write_buffer_size
                ),
            ));
        }
        if self.max_key_size == 0 || self.max_key_size > MAX_KEY_SIZE_LIMIT {
            return Err(invalid(
                "max_key_size",
                format!(
                    "{} bytes is outside the allowed range 1 to {MAX_KEY_SIZE_LIMIT} (1 MiB)",
                    self.max_key_size
                ),
            ));
        }
        if self.max_value_size == 0 || self.max_value_size > MAX_VALUE_SIZE_LIMIT {
            return Err(invalid(
                "max_value_size",
                format!(
                    "{} bytes is outside the allowed range 1 to {MAX_VALUE_SIZE_LIMIT} (1 GiB)",
                    self.max_value_size
                ),
            ));
        }
        if let Durability::Periodic(ms) = self.durability {
            if ms == 0 || ms > MAX_SYNC_INTERVAL_MS {
                return Err(invalid(
                    "durability",
                    format!(
                        "Periodic({ms}) is outside the allowed range 1 to \
                         {MAX_SYNC_INTERVAL_MS} ms; use Sync to sync every commit or NoSync to \
                         leave syncing to the OS"
                    ),
                ));
            }
        }
        if !(MIN_BLOCK_SIZE..=MAX_BLOCK_SIZE).contains(&self.block_size) {
            return Err(invalid(
                "block_size",
                format!(
                    "{} bytes is outside the allowed range {MIN_BLOCK_SIZE} to {MAX_BLOCK_SIZE} \
                     (1 MiB)",
                    self.block_size
                ),
            ));
        }
        if u64::try_from(self.block_size).unwrap_or(u64::MAX) > self.cache_size {
            return Err(invalid(
                "cache_size",
                format!(
                    "{} bytes cannot hold one block of block_size {} bytes",
                    self.cache_size, self.block_size
                ),
            ));
        }
        if self.bloom_bits_per_key > MAX_BLOOM_BITS_PER_KEY {
            return Err(invalid(
                "bloom_bits_per_key",
                format!(
                    "{} is above the maximum of {MAX_BLOOM_BITS_PER_KEY} (0 disables the filters)",
                    self.bloom_bits_per_key
                ),
            ));
        }
        if self.memtable_index_min_versions == 0 {
            return Err(invalid("memtable_index_min_versions", "must be at least 1"));
        }
        self.validate_pairs()?;
        self.validate_security()?;
        self.validate_reliability()
    }

    fn validate_pairs(&self) -> Result<(), DatabaseError> {
        let defaults = SecurityConfig::default();
        if conflicts(
            self.checksum_algorithm,
            self.security.checksum_algorithm,
            defaults.checksum_algorithm,
        ) {
            return Err(invalid(
                "security.checksum_algorithm",
                format!(
                    "{:?} contradicts checksum_algorithm {:?}; set only one of them, or both to \
                     the same algorithm",
                    self.security.checksum_algorithm, self.checksum_algorithm
                ),
            ));
        }
        if conflicts(
            self.integrity_validation_level,
            self.security.validation_level,
            defaults.validation_level,
        ) {
            return Err(invalid(
                "security.validation_level",
                format!(
                    "{:?} contradicts integrity_validation_level {:?}; set only one of them, or \
                     both to the same level",
                    self.security.validation_level, self.integrity_validation_level
                ),
            ));
        }
        if self.enable_audit_logging && self.security.audit_level == AuditLevel::Off {
            return Err(invalid(
                "security.audit_level",
                "is Off while enable_audit_logging is true; choose Minimal, Standard or \
                 Comprehensive, or disable audit logging",
            ));
        }
        Ok(())
    }

    fn validate_security(&self) -> Result<(), DatabaseError> {
        let security = &self.security;
        if !security.enable_encryption {
            if security.encryption_key.is_some() {
                return Err(invalid(
                    "security.encryption_key",
                    "is set while enable_encryption is false; set enable_encryption to open \
                     an encrypted database, or remove the key",
                ));
            }
            return Ok(());
        }
        if security.key_rotation_days == 0 || security.key_rotation_days > MAX_KEY_ROTATION_DAYS {
            return Err(invalid(
                "security.key_rotation_days",
                format!(
                    "{} is outside the allowed range 1 to {MAX_KEY_ROTATION_DAYS} days",
                    security.key_rotation_days
                ),
            ));
        }
        if security.encryption_key.is_none() {
            return Err(invalid(
                "security.encryption_key",
                "is required when enable_encryption is true: the key-encryption key (32 bytes) \
                 that wraps the database's data keys; give it with EncryptionKey::from_bytes, \
                 from_file or from_env",
            ));
        }
        Ok(())
    }

    fn validate_reliability(&self) -> Result<(), DatabaseError> {
        let r = &self.reliability;
        let breaker_enabled = self.circuit_breaker_enabled || r.circuit_breaker_enabled;
        if breaker_enabled && r.circuit_breaker_failure_threshold == 0 {
            return Err(invalid(
                "reliability.circuit_breaker_failure_threshold",
                "must be at least 1 when the circuit breaker is enabled",
            ));
        }
        check_duration(
            "reliability.circuit_breaker_recovery_timeout",
            r.circuit_breaker_recovery_timeout,
        )?;
        check_duration("reliability.health_check_interval", r.health_check_interval)?;
        check_duration("reliability.health_check_timeout", r.health_check_timeout)?;
        if r.health_check_timeout > r.health_check_interval {
            return Err(invalid(
                "reliability.health_check_timeout",
                format!(
                    "{:?} is longer than health_check_interval {:?}; a check must finish before \
                     the next one starts",
                    r.health_check_timeout, r.health_check_interval
                ),
            ));
        }
        if r.retry_max_attempts > MAX_RETRY_ATTEMPTS {
            return Err(invalid(
                "reliability.retry_max_attempts",
                format!(
                    "{} is above the maximum of {MAX_RETRY_ATTEMPTS} (0 disables retries)",
                    r.retry_max_attempts
                ),
            ));
        }
        let backoff = &r.retry_backoff_strategy;
        check_duration(
            "reliability.retry_backoff_strategy.base_delay",
            backoff.base_delay(),
        )?;
        if let Some(max_delay) = backoff.max_delay() {
            check_duration("reliability.retry_backoff_strategy.max_delay", max_delay)?;
            if backoff.base_delay() > max_delay {
                return Err(invalid(
                    "reliability.retry_backoff_strategy.base_delay",
                    format!(
                        "{:?} is longer than max_delay {max_delay:?}",
                        backoff.base_delay()
                    ),
                ));
            }
        }
        Ok(())
    }
}

pub(super) fn invalid(field: &str, reason: impl Into<String>) -> DatabaseError {
    DatabaseError::ConfigurationError {
        field: field.to_string(),
        reason: reason.into(),
    }
}

pub(super) fn check_duration(field: &str, value: Duration) -> Result<(), DatabaseError> {
    if value.is_zero() || value > MAX_CONFIG_DURATION {
        return Err(invalid(
            field,
            format!("{value:?} is outside the allowed range: more than zero and at most 24 h"),
        ));
    }
    Ok(())
}
