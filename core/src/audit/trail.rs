//! A database's own audit log (`enable_audit_logging`), in its `audit/` folder.
//!
//! [`AuditTrail::record`] is the one entry point the engine and the features above it call
//! (open, close, corruption through the event listener, repair, quarantine, migration, and
//! later key rotation, failed key checks and self-healing). Data access at
//! `AuditLevel::Comprehensive` goes through [`AuditTrail::access`], held in memory and written
//! in batches so that it does not cost a sync per operation.

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::SystemTime;

use parking_lot::Mutex;

use super::{
    format, AuditConfig, AuditEvent, AuditLevel, AuditLogger, AuditOptions, OperationResult,
    RiskLevel, SecurityEventType,
};
use crate::config::LightningDbConfig;
use crate::error::DatabaseError;
use crate::events::{CorruptionInfo, EventListener};
use crate::storage::fs::FileSystem;

/// The audit folder inside a database directory.
pub(crate) const AUDIT_SUBDIR: &str = "audit";

/// A database's audit log, and the events met before it could be opened.
pub(crate) struct AuditTrail {
    resource: String,
    level: AuditLevel,
    logger: OnceLock<AuditLogger>,
    /// Events met while the database was opening (corruption), before the log was opened.
    held: Mutex<Vec<AuditEvent>>,
    closed: AtomicBool,
    /// The database is encrypted at rest: data-access entries name no key (the log is
    /// plain JSON, and an encrypted database writes no user key in the clear).
    hide_keys: AtomicBool,
}

impl std::fmt::Debug for AuditTrail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditTrail")
            .field("resource", &self.resource)
            .field("level", &self.level)
            .finish_non_exhaustive()
    }
}

fn event(
    event_type: SecurityEventType,
    resource: &str,
    operation: &str,
    result: OperationResult,
    risk_level: RiskLevel,
    metadata: HashMap<String, String>,
) -> AuditEvent {
    AuditEvent {
        event_type,
        resource: resource.to_string(),
        operation: operation.to_string(),
        result,
        risk_level,
        timestamp: SystemTime::now(),
        metadata,
    }
}

/// The security fields of a configuration, as entry metadata.
fn security_fields(config: &LightningDbConfig) -> HashMap<String, String> {
    let s = &config.security;
    HashMap::from([
        (
            "checksum_algorithm".into(),
            format!("{:?}", s.checksum_algorithm),
        ),
        (
            "validation_level".into(),
            format!("{:?}", s.validation_level),
        ),
        (
            "corruption_action".into(),
            format!("{:?}", s.corruption_action),
        ),
        ("audit_level".into(), format!("{:?}", s.audit_level)),
        ("enable_encryption".into(), s.enable_encryption.to_string()),
        ("key_rotation_days".into(), s.key_rotation_days.to_string()),
    ])
}

impl AuditTrail {
    /// A trail for the database in `path`, recording at `level`; open its log with
    /// [`Self::attach`] once the database holds its directory lock.
    pub fn new(path: &Path, level: AuditLevel) -> Arc<AuditTrail> {
        Arc::new(AuditTrail {
            resource: path.display().to_string(),
            level,
            logger: OnceLock::new(),
            held: Mutex::new(Vec::new()),
            closed: AtomicBool::new(false),
            hide_keys: AtomicBool::new(false),
        })
    }

    /// Whether data access is recorded (`AuditLevel::Comprehensive`).
    pub fn records_access(&self) -> bool {
        self.level >= AuditLevel::Comprehensive
    }

    /// Opens the log in the database's `audit/` folder, writes what was held and the open.
    pub fn attach(
        &self,
        fs: Arc<dyn FileSystem>,
        config: &LightningDbConfig,
    ) -> Result<(), DatabaseError> {
        let logger = AuditLogger::open_with(
            config.path.join(AUDIT_SUBDIR),
            AuditConfig {
                log_level: self.level,
                encrypt_logs: false,
                retention_days: 0,
                enable_real_time_alerts: false,
            },
            AuditOptions {
                fs,
                ..AuditOptions::default()
            },
        )?;
        self.hide_keys
            .store(config.security.enable_encryption, Ordering::Relaxed);
        let held = std::mem::take(&mut *self.held.lock());
        let _ = self.logger.set(logger);
        let mut meta = security_fields(config);
        meta.insert("format_version".into(), "current".into());
        for e in held {
            self.log(e)?;
        }
        self.record(
            SecurityEventType::DatabaseOpen,
            "open",
            OperationResult::Success,
            RiskLevel::Low,
            meta,
        )
    }

    fn log(&self, e: AuditEvent) -> Result<(), DatabaseError> {
        match self.logger.get() {
            Some(l) => l.log_event(e),
            None => {
                self.held.lock().push(e);
                Ok(())
            }
        }
    }

    /// Records a security event about this database (the one internal entry point).
    pub fn record(
        &self,
        event_type: SecurityEventType,
        operation: &str,
        result: OperationResult,
        risk_level: RiskLevel,
        metadata: HashMap<String, String>,
    ) -> Result<(), DatabaseError> {
        self.log(event(
            event_type,
            &self.resource,
            operation,
            result,
            risk_level,
            metadata,
        ))
    }

    /// Records a data access (`read`, `write`, `delete`, `write_batch`) of `key` (shown in
    /// hex, at most 32 bytes of it; in an encrypted database only its length), held for a
    /// batched write.
    pub fn access(&self, operation: &str, key: &[u8], ok: bool) {
        let Some(l) = self.logger.get() else { return };
        let shown = &key[..key.len().min(32)];
        let mut resource = if key.is_empty() {
            "batch".to_string()
        } else if self.hide_keys.load(Ordering::Relaxed) {
            format!(
                "a key of {} bytes (not shown: the database is encrypted)",
                key.len()
            )
        } else {
            format::hex(shown)
        };
        if key.len() > 32 && !self.hide_keys.load(Ordering::Relaxed) {
            resource.push_str("...");
        }
        let (event_type, result) = match (operation, ok) {
            ("read", true) => (SecurityEventType::DataAccess, OperationResult::Success),
            (_, true) => (
                SecurityEventType::DataModification,
                OperationResult::Success,
            ),
            ("read", false) => (
                SecurityEventType::DataAccess,
                OperationResult::Failure("error".into()),
            ),
            (_, false) => (
                SecurityEventType::DataModification,
                OperationResult::Failure("error".into()),
            ),
        };
        let _ = l.log_deferred(event(
            event_type,
            &resource,
            operation,
            result,
            RiskLevel::Low,
            HashMap::new(),
        ));
    }

    /// Records the close (once) and writes what is held.
    pub fn close(&self, config: &LightningDbConfig) -> Result<(), DatabaseError> {
        if self.closed.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        self.record(
            SecurityEventType::DatabaseClose,
            "close",
            OperationResult::Success,
            RiskLevel::Low,
            security_fields(config),
        )
    }
}

impl EventListener for AuditTrail {
    fn on_corruption(&self, info: &CorruptionInfo) {
        let mut meta = HashMap::from([
            ("source".to_string(), info.source.clone()),
            ("details".to_string(), info.details.clone()),
            ("action".to_string(), info.action.clone()),
        ]);
        if let Some(t) = info.table {
            meta.insert("table".into(), t.to_string());
        }
        let _ = self.record(
            SecurityEventType::CorruptionDetected,
            "corruption found",
            OperationResult::Failure(info.details.clone()),
            RiskLevel::High,
            meta.clone(),
        );
        let follow = match info.action.as_str() {
            "Quarantine" => Some((SecurityEventType::Quarantine, "quarantine")),
            "Repair" => Some((SecurityEventType::Repair, "repair")),
            _ => None,
        };
        if let Some((kind, op)) = follow {
            let _ = self.record(kind, op, OperationResult::Success, RiskLevel::High, meta);
        }
    }
}

/// Records `event` in the audit log of the database in `db_dir`, when it keeps one (its
/// `audit/` folder holds a log), for the tools that work on a closed database (repair,
/// migration). Recorded at `AuditLevel::Standard`.
pub(crate) fn record_offline(
    fs: Arc<dyn FileSystem>,
    db_dir: &Path,
    event_type: SecurityEventType,
    operation: &str,
    result: OperationResult,
    metadata: HashMap<String, String>,
) -> Result<bool, DatabaseError> {
    let dir = db_dir.join(AUDIT_SUBDIR);
    if !fs.exists(&dir.join(format::STATE_FILE)) {
        return Ok(false);
    }
    let logger = AuditLogger::open_with(
        &dir,
        AuditConfig {
            log_level: AuditLevel::Standard,
            ..AuditConfig::default()
        },
        AuditOptions {
            fs,
            ..AuditOptions::default()
        },
    )?;
    let risk = match result {
        OperationResult::Success => RiskLevel::Medium,
        _ => RiskLevel::High,
    };
    logger.log_event(event(
        event_type,
        &db_dir.display().to_string(),
        operation,
        result,
        risk,
        metadata,
    ))?;
    Ok(true)
}
