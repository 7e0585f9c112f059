//! `lightning audit verify` and `lightning audit tail` on a database's audit log: intact,
//! tampered (exit code 4), sealed with a key file, and missing (exit code 2).

use std::collections::HashMap;
use std::process::{Command, Output};
use std::time::SystemTime;

use lightning_db::{
    AuditConfig, AuditEvent, AuditKey, AuditLevel, AuditLogger, Database, LightningDbConfig,
    OperationResult, RiskLevel, SecurityEventType,
};

fn lightning(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_lightning"))
        .args(args)
        .env_remove("LIGHTNING_AUDIT_KEY")
        .output()
        .expect("run lightning")
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn verify_and_tail_a_database_audit_log() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = LightningDbConfig {
        enable_audit_logging: true,
        ..Default::default()
    };
    for _ in 0..3 {
        Database::open(dir.path(), config.clone())
            .expect("open")
            .close()
            .expect("close");
    }
    let path = dir.path().to_str().expect("utf-8");
    let ok = lightning(&["audit", "verify", path]);
    assert_eq!(ok.status.code(), Some(0), "{}", text(&ok));
    assert!(text(&ok).contains("6 entries"), "{}", text(&ok));
    let json = lightning(&["audit", "verify", path, "--json"]);
    assert!(text(&json).contains("\"intact\":true"), "{}", text(&json));

    let tail = lightning(&["audit", "tail", path, "-n", "2"]);
    assert_eq!(tail.status.code(), Some(0), "{}", text(&tail));
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&tail.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("json line"))
        .collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["event_type"], "DatabaseOpen");
    assert_eq!(lines[1]["event_type"], "DatabaseClose");
    assert_eq!(lines[1]["seq"], 6);

    // Remove the third entry: named, exit code 4.
    let file = dir.path().join("audit").join("audit-000001.log");
    let log = std::fs::read_to_string(&file).expect("read");
    let kept: Vec<&str> = log
        .lines()
        .enumerate()
        .filter(|(i, _)| *i != 2)
        .map(|(_, l)| l)
        .collect();
    std::fs::write(&file, kept.join("\n") + "\n").expect("write");
    let bad = lightning(&["audit", "verify", path]);
    assert_eq!(bad.status.code(), Some(4), "{}", text(&bad));
    assert!(text(&bad).contains("removed at entry 3"), "{}", text(&bad));
    let refused = lightning(&["audit", "tail", path]);
    assert_eq!(refused.status.code(), Some(4), "{}", text(&refused));

    let none = lightning(&[
        "audit",
        "verify",
        dir.path().join("nothing").to_str().expect("utf-8"),
    ]);
    assert_eq!(none.status.code(), Some(2), "{}", text(&none));
}

#[test]
fn a_sealed_log_needs_its_key_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let key_file = dir.path().join("key");
    std::fs::write(&key_file, "5a".repeat(32)).expect("key");
    let log_dir = dir.path().join("log");
    let log = AuditLogger::open_with_key(
        &log_dir,
        AuditConfig {
            log_level: AuditLevel::Comprehensive,
            encrypt_logs: true,
            retention_days: 0,
            enable_real_time_alerts: false,
        },
        AuditKey::from_file(&key_file).expect("key"),
    )
    .expect("open");
    log.log_event(AuditEvent {
        event_type: SecurityEventType::KeyCheckFailed,
        resource: "vault".into(),
        operation: "unlock".into(),
        result: OperationResult::Denied,
        risk_level: RiskLevel::High,
        timestamp: SystemTime::now(),
        metadata: HashMap::new(),
    })
    .expect("log");
    drop(log);
    let path = log_dir.to_str().expect("utf-8");
    let key = key_file.to_str().expect("utf-8");
    let chain_only = lightning(&["audit", "verify", path]);
    assert_eq!(chain_only.status.code(), Some(0), "{}", text(&chain_only));
    assert!(
        text(&chain_only).contains("chain only"),
        "{}",
        text(&chain_only)
    );
    let keyed = lightning(&["audit", "verify", path, "--key-file", key]);
    assert!(text(&keyed).contains("authenticated"), "{}", text(&keyed));
    let no_key = lightning(&["audit", "tail", path]);
    assert_eq!(no_key.status.code(), Some(3), "{}", text(&no_key));
    let tail = lightning(&["audit", "tail", path, "--key-file", key]);
    assert_eq!(tail.status.code(), Some(0), "{}", text(&tail));
    assert!(
        text(&tail).contains("\"resource\":\"vault\""),
        "{}",
        text(&tail)
    );
}
