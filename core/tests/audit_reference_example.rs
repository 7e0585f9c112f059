//! The API reference's `AuditLogger` example, run as written: `AuditLogger::new` writes to
//! the default folder, chosen here through `$LIGHTNING_AUDIT_DIR`, and `encrypt_logs: true`
//! takes its key from `$LIGHTNING_AUDIT_KEY`. (Its own binary: it sets the environment.)

use std::collections::HashMap;
use std::time::SystemTime;

use lightning_db::{AuditLevel, OperationResult, RiskLevel};

#[test]
// The example ignores `log_event`'s result; the verification below checks it was logged.
#[allow(unused_must_use)]
fn the_reference_example_runs_as_written() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::env::set_var(lightning_db::AUDIT_DIR_ENV, dir.path());
    // Without a key, `new` (which cannot fail) answers every event with a clear error.
    std::env::remove_var(lightning_db::AUDIT_KEY_ENV);
    {
        use lightning_db::{AuditConfig, AuditEvent, AuditLogger, SecurityEventType};
        let audit_logger = AuditLogger::new(AuditConfig {
            log_level: AuditLevel::Comprehensive,
            encrypt_logs: true,
            retention_days: 365,
            enable_real_time_alerts: true,
        });
        let refused = audit_logger.log_event(AuditEvent {
            event_type: SecurityEventType::DataAccess,
            resource: "user_data".to_string(),
            operation: "read".to_string(),
            result: OperationResult::Success,
            risk_level: RiskLevel::Low,
            timestamp: SystemTime::now(),
            metadata: HashMap::new(),
        });
        assert!(
            matches!(refused, Err(lightning_db::DatabaseError::ConfigurationError { ref field, .. }) if field == "encrypt_logs"),
            "{refused:?}"
        );
    }

    std::env::set_var(lightning_db::AUDIT_KEY_ENV, "17".repeat(32));
    // ---- the reference's example, verbatim ----
    use lightning_db::{AuditConfig, AuditEvent, AuditLogger, SecurityEventType};

    let audit_logger = AuditLogger::new(AuditConfig {
        log_level: AuditLevel::Comprehensive,
        encrypt_logs: true,
        retention_days: 365,
        enable_real_time_alerts: true,
    });

    // Log security events
    audit_logger.log_event(AuditEvent {
        event_type: SecurityEventType::DataAccess,
        resource: "user_data".to_string(),
        operation: "read".to_string(),
        result: OperationResult::Success,
        risk_level: RiskLevel::Low,
        timestamp: SystemTime::now(),
        metadata: HashMap::new(),
    });
    // ---- end of the example ----

    let report = audit_logger.verify().expect("intact");
    assert_eq!(report.entries, 1);
    assert!(report.sealed && report.authenticated);
    assert_eq!(audit_logger.dir(), dir.path());
    let raw = std::fs::read(dir.path().join("audit-000001.log")).expect("read");
    assert!(!raw.windows(9).any(|w| w == b"user_data"));
}
