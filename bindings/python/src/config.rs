//! `Database(path, **config)`: keyword arguments onto `LightningDbConfig`.
//!
//! Only the type of each keyword is checked here; ranges and consistency are checked by the
//! engine (`LightningDbConfig::validate`, run by `Database::open`), which names the field.

use lightning_db::{
    AuditLevel, ChecksumAlgorithm, CorruptionAction, Durability, EncryptionKey, LightningDbConfig,
    ValidationLevel,
};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyBytes, PyDict, PyInt, PyString};

use crate::errors::{config_error, raise};

/// The keyword arguments `Database` accepts, in the order the README documents them.
pub(crate) const KEYWORDS: &[&str] = &[
    "cache_size",
    "write_buffer_size",
    "compression_enabled",
    "durability",
    "sync_interval_ms",
    "max_key_size",
    "max_value_size",
    "checksum_algorithm",
    "integrity_validation_level",
    "mmap_reads",
    "block_size",
    "bloom_bits_per_key",
    "memtable_index_min_versions",
    "fail_on_corruption",
    "corruption_action",
    "deadlock_prevention_enabled",
    "upgrade_format_on_open",
    "enable_statistics",
    "enable_audit_logging",
    "audit_level",
    "enable_health_monitoring",
    "health_check_interval",
    "health_check_timeout",
    "circuit_breaker_enabled",
    "circuit_breaker_failure_threshold",
    "circuit_breaker_recovery_timeout",
    "retry_max_attempts",
    "enable_self_healing",
    "auto_remediation_enabled",
    "encryption_key",
];

/// The interval used for `durability="periodic"` when `sync_interval_ms` is not given.
const DEFAULT_SYNC_INTERVAL_MS: u64 = 100;

fn type_name(value: &Bound<'_, PyAny>) -> String {
    value
        .get_type()
        .name()
        .map(|n| n.to_string())
        .unwrap_or_else(|_| "?".to_string())
}

fn want_bool(field: &str, value: &Bound<'_, PyAny>) -> PyResult<bool> {
    match value.cast::<PyBool>() {
        Ok(b) => Ok(b.is_true()),
        Err(_) => Err(config_error(
            field,
            format!("expected a bool, got {}", type_name(value)),
        )),
    }
}

/// An `int` (not a `bool`) that fits `T`.
fn want_int<T: for<'a, 'py> FromPyObject<'a, 'py>>(
    field: &str,
    value: &Bound<'_, PyAny>,
) -> PyResult<T> {
    if value.cast::<PyBool>().is_ok() || value.cast::<PyInt>().is_err() {
        return Err(config_error(
            field,
            format!("expected an int, got {}", type_name(value)),
        ));
    }
    value
        .extract::<T>()
        .map_err(|_| config_error(field, format!("{value} is out of range")))
}

/// A number of seconds (an `int` or a `float`, not a `bool`) as a duration.
fn want_seconds(field: &str, value: &Bound<'_, PyAny>) -> PyResult<std::time::Duration> {
    let secs: f64 = if value.cast::<PyBool>().is_ok() {
        None
    } else {
        value.extract::<f64>().ok()
    }
    .ok_or_else(|| {
        config_error(
            field,
            format!("expected a number of seconds, got {}", type_name(value)),
        )
    })?;
    std::time::Duration::try_from_secs_f64(secs).map_err(|_| {
        config_error(
            field,
            format!("{secs} is not a non-negative number of seconds"),
        )
    })
}

fn want_str(field: &str, value: &Bound<'_, PyAny>) -> PyResult<String> {
    match value.cast::<PyString>() {
        Ok(s) => Ok(s.to_cow()?.to_ascii_lowercase()),
        Err(_) => Err(config_error(
            field,
            format!("expected a str, got {}", type_name(value)),
        )),
    }
}

/// Picks one of `choices` (compared without case), or names the accepted values.
fn choose<T: Copy>(field: &str, given: &str, choices: &[(&str, T)]) -> PyResult<T> {
    choices
        .iter()
        .find(|(name, _)| *name == given)
        .map(|(_, v)| *v)
        .ok_or_else(|| {
            let names: Vec<&str> = choices.iter().map(|(n, _)| *n).collect();
            config_error(
                field,
                format!(
                    "unknown value '{given}': expected one of {}",
                    names.join(", ")
                ),
            )
        })
}

/// Builds the configuration from `Database(path, **config)`'s keyword arguments.
pub(crate) fn from_kwargs(kwargs: Option<&Bound<'_, PyDict>>) -> PyResult<LightningDbConfig> {
    let mut config = LightningDbConfig::default();
    let Some(kwargs) = kwargs else {
        return Ok(config);
    };
    let mut durability: Option<String> = None;
    let mut interval: Option<u64> = None;
    for (key, value) in kwargs.iter() {
        let key: String = key.extract()?;
        let v = &value;
        match key.as_str() {
            "cache_size" => config.cache_size = want_int(&key, v)?,
            "write_buffer_size" => config.write_buffer_size = want_int(&key, v)?,
            "compression_enabled" => config.compression_enabled = want_bool(&key, v)?,
            "durability" => durability = Some(want_str(&key, v)?),
            "sync_interval_ms" => interval = Some(want_int(&key, v)?),
            "max_key_size" => config.max_key_size = want_int(&key, v)?,
            "max_value_size" => config.max_value_size = want_int(&key, v)?,
            "checksum_algorithm" => {
                let algorithm = choose(
                    &key,
                    &want_str(&key, v)?,
                    &[
                        ("xxh64", ChecksumAlgorithm::Xxh64),
                        ("crc32", ChecksumAlgorithm::Crc32),
                        ("blake3", ChecksumAlgorithm::Blake3),
                    ],
                )?;
                config.checksum_algorithm = algorithm;
                config.security.checksum_algorithm = algorithm;
            }
            "integrity_validation_level" => {
                let level = choose(
                    &key,
                    &want_str(&key, v)?,
                    &[
                        ("basic", ValidationLevel::Basic),
                        ("standard", ValidationLevel::Standard),
                        ("comprehensive", ValidationLevel::Comprehensive),
                        ("paranoid", ValidationLevel::Paranoid),
                    ],
                )?;
                config.integrity_validation_level = level;
                config.security.validation_level = level;
            }
            "mmap_reads" => config.mmap_reads = want_bool(&key, v)?,
            "block_size" => config.block_size = want_int(&key, v)?,
            "bloom_bits_per_key" => config.bloom_bits_per_key = want_int(&key, v)?,
            "memtable_index_min_versions" => {
                config.memtable_index_min_versions = want_int(&key, v)?
            }
            "fail_on_corruption" => config.fail_on_corruption = want_bool(&key, v)?,
            "corruption_action" => {
                config.security.corruption_action = choose(
                    &key,
                    &want_str(&key, v)?,
                    &[
                        ("log", CorruptionAction::Log),
                        ("halt", CorruptionAction::Halt),
                        ("repair", CorruptionAction::Repair),
                        ("quarantine", CorruptionAction::Quarantine),
                    ],
                )?
            }
            "deadlock_prevention_enabled" => {
                let on = want_bool(&key, v)?;
                config.deadlock_prevention_enabled = on;
                config.reliability.deadlock_prevention = on;
            }
            "upgrade_format_on_open" => config.upgrade_format_on_open = want_bool(&key, v)?,
            "enable_statistics" => config.enable_statistics = want_bool(&key, v)?,
            "enable_audit_logging" => config.enable_audit_logging = want_bool(&key, v)?,
            "audit_level" => {
                config.security.audit_level = choose(
                    &key,
                    &want_str(&key, v)?,
                    &[
                        ("off", AuditLevel::Off),
                        ("minimal", AuditLevel::Minimal),
                        ("standard", AuditLevel::Standard),
                        ("comprehensive", AuditLevel::Comprehensive),
                    ],
                )?
            }
            "enable_health_monitoring" => config.enable_health_monitoring = want_bool(&key, v)?,
            "health_check_interval" => {
                config.reliability.health_check_interval = want_seconds(&key, v)?
            }
            "health_check_timeout" => {
                config.reliability.health_check_timeout = want_seconds(&key, v)?
            }
            "circuit_breaker_enabled" => {
                let on = want_bool(&key, v)?;
                config.circuit_breaker_enabled = on;
                config.reliability.circuit_breaker_enabled = on;
            }
            "circuit_breaker_failure_threshold" => {
                config.reliability.circuit_breaker_failure_threshold = want_int(&key, v)?
            }
            "circuit_breaker_recovery_timeout" => {
                config.reliability.circuit_breaker_recovery_timeout = want_seconds(&key, v)?
            }
            "retry_max_attempts" => config.reliability.retry_max_attempts = want_int(&key, v)?,
            "enable_self_healing" => {
                let on = want_bool(&key, v)?;
                config.enable_self_healing = on;
                config.reliability.self_healing_enabled = on;
            }
            "auto_remediation_enabled" => {
                config.reliability.auto_remediation_enabled = want_bool(&key, v)?
            }
            // Encryption at rest: the key-encryption key, 32 bytes (None: off). The key
            // is copied into a zeroized-on-drop `EncryptionKey`; wrong lengths raise
            // `InvalidKeyMaterial`.
            "encryption_key" => {
                if v.is_none() {
                    config.security.enable_encryption = false;
                    config.security.encryption_key = None;
                } else {
                    let bytes = v.cast::<PyBytes>().map_err(|_| {
                        config_error(
                            &key,
                            format!("expected bytes (32 of them), got {}", type_name(v)),
                        )
                    })?;
                    let k = EncryptionKey::from_slice(bytes.as_bytes()).map_err(raise)?;
                    config.security.enable_encryption = true;
                    config.security.encryption_key = Some(k);
                }
            }
            _ => {
                return Err(config_error(
                    &key,
                    format!(
                        "unknown configuration keyword; accepted: {}",
                        KEYWORDS.join(", ")
                    ),
                ))
            }
        }
    }
    config.durability = match (durability.as_deref(), interval) {
        (None | Some("sync"), None) => Durability::Sync,
        (Some("periodic"), ms) => Durability::Periodic(ms.unwrap_or(DEFAULT_SYNC_INTERVAL_MS)),
        (Some("none"), None) => Durability::NoSync,
        (None | Some("sync") | Some("none"), Some(_)) => {
            return Err(config_error(
                "sync_interval_ms",
                "only meaningful with durability=\"periodic\"",
            ))
        }
        (Some(other), _) => {
            return Err(config_error(
                "durability",
                format!("unknown value '{other}': expected one of sync, periodic, none"),
            ))
        }
    };
    Ok(config)
}
