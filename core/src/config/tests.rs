//! Unit tests of the configuration: defaults, validation, reconciliation, JSON.

use super::*;

fn field_of(result: Result<(), DatabaseError>) -> String {
    match result {
        Err(DatabaseError::ConfigurationError { field, reason }) => {
            assert!(!reason.is_empty());
            field
        }
        other => panic!("expected a ConfigurationError, got {other:?}"),
    }
}

fn json_field(s: &str) -> String {
    field_of(LightningDbConfig::from_json(s).map(|_| ()))
}

#[test]
fn defaults_are_as_documented_and_valid() {
    let c = LightningDbConfig::default();
    assert_eq!(c.validate(), Ok(()));
    assert_eq!(c.path, PathBuf::from("./lightning-data"));
    assert_eq!(c.cache_size, 64 << 20);
    assert_eq!(c.write_buffer_size, 64 << 20);
    assert_eq!(c.max_key_size, 64 << 10);
    assert_eq!(c.max_value_size, 16 << 20);
    assert_eq!(c.durability, Durability::Sync);
    assert_eq!(c.checksum_algorithm, ChecksumAlgorithm::Xxh64);
    assert_eq!(c.block_size, 4096);
    assert_eq!(c.bloom_bits_per_key, 10);
    assert_eq!(c.integrity_validation_level, ValidationLevel::Standard);
    assert!(c.compression_enabled && c.fail_on_corruption && c.deadlock_prevention_enabled);
    assert!(c.enable_statistics && !c.enable_audit_logging && !c.enable_health_monitoring);
    assert!(!c.enable_self_healing && !c.circuit_breaker_enabled);
    assert_eq!(
        c.security,
        SecurityConfig {
            checksum_algorithm: ChecksumAlgorithm::Xxh64,
            validation_level: ValidationLevel::Standard,
            corruption_action: CorruptionAction::Halt,
            audit_level: AuditLevel::Standard,
            enable_encryption: false,
            encryption_key: None,
            key_rotation_days: 90,
        }
    );
    let r = &c.reliability;
    assert!(r.deadlock_prevention && !r.circuit_breaker_enabled);
    assert_eq!(r.circuit_breaker_failure_threshold, 5);
    assert_eq!(r.circuit_breaker_recovery_timeout, Duration::from_secs(30));
    assert_eq!(r.health_check_interval, Duration::from_secs(30));
    assert_eq!(r.health_check_timeout, Duration::from_secs(5));
    assert!(!r.auto_remediation_enabled && !r.self_healing_enabled);
    assert_eq!(r.retry_max_attempts, 3);
    assert_eq!(
        r.retry_backoff_strategy,
        BackoffStrategy::Exponential {
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(30),
        }
    );
}

#[test]
fn with_path_sets_only_the_path() {
    let c = LightningDbConfig::with_path("/tmp/db");
    assert_eq!(c.path, PathBuf::from("/tmp/db"));
    assert_eq!(
        c,
        LightningDbConfig {
            path: "/tmp/db".into(),
            ..Default::default()
        }
    );
}

#[test]
fn reference_examples_validate() {
    let c = LightningDbConfig {
        compression_enabled: true,
        cache_size: 1024 * 1024 * 1024,
        integrity_validation_level: IntegrityLevel::Paranoid,
        enable_audit_logging: true,
        fail_on_corruption: true,
        enable_health_monitoring: true,
        enable_self_healing: true,
        deadlock_prevention_enabled: true,
        circuit_breaker_enabled: true,
        enable_statistics: true,
        ..Default::default()
    };
    assert_eq!(c.validate(), Ok(()));
    let r = c.reconciled();
    assert_eq!(r.security.validation_level, ValidationLevel::Paranoid);
    assert_eq!(r.security.audit_level, AuditLevel::Standard);
    assert_eq!(r.security.corruption_action, CorruptionAction::Halt);
    assert!(r.reliability.self_healing_enabled);
    assert!(r.reliability.deadlock_prevention);
    assert!(r.reliability.circuit_breaker_enabled);

    let production = LightningDbConfig {
        cache_size: 8 * 1024 * 1024 * 1024,
        ..c
    };
    assert_eq!(production.validate(), Ok(()));
}

#[test]
fn each_invalid_field_is_named() {
    type Mutate = fn(&mut LightningDbConfig);
    let cases: &[(Mutate, &str)] = &[
        (|c| c.path = PathBuf::new(), "path"),
        (|c| c.cache_size = MIN_CACHE_SIZE - 1, "cache_size"),
        (|c| c.cache_size = 0, "cache_size"),
        (
            |c| c.write_buffer_size = MIN_WRITE_BUFFER_SIZE - 1,
            "write_buffer_size",
        ),
        (|c| c.write_buffer_size = usize::MAX, "write_buffer_size"),
        (|c| c.max_key_size = 0, "max_key_size"),
        (|c| c.max_key_size = MAX_KEY_SIZE_LIMIT + 1, "max_key_size"),
        (|c| c.max_value_size = 0, "max_value_size"),
        (
            |c| c.max_value_size = MAX_VALUE_SIZE_LIMIT + 1,
            "max_value_size",
        ),
        (|c| c.durability = Durability::Periodic(0), "durability"),
        (
            |c| c.durability = Durability::Periodic(MAX_SYNC_INTERVAL_MS + 1),
            "durability",
        ),
        (|c| c.block_size = MIN_BLOCK_SIZE - 1, "block_size"),
        (|c| c.block_size = MAX_BLOCK_SIZE + 1, "block_size"),
        (
            |c| {
                c.cache_size = MIN_CACHE_SIZE;
                c.block_size = MAX_BLOCK_SIZE;
            },
            "cache_size",
        ),
        (|c| c.bloom_bits_per_key = 65, "bloom_bits_per_key"),
        (
            |c| {
                c.checksum_algorithm = ChecksumAlgorithm::Blake3;
                c.security.checksum_algorithm = ChecksumAlgorithm::Crc32;
            },
            "security.checksum_algorithm",
        ),
        (
            |c| {
                c.integrity_validation_level = ValidationLevel::Paranoid;
                c.security.validation_level = ValidationLevel::Basic;
            },
            "security.validation_level",
        ),
        (
            |c| {
                c.enable_audit_logging = true;
                c.security.audit_level = AuditLevel::Off;
            },
            "security.audit_level",
        ),
        (
            |c| c.security.enable_encryption = true,
            "security.encryption_key",
        ),
        (
            |c| c.security.encryption_key = Some(crate::EncryptionKey::from_bytes(&[7; 32])),
            "security.encryption_key",
        ),
        (
            |c| {
                c.security.enable_encryption = true;
                c.security.key_rotation_days = 0;
            },
            "security.key_rotation_days",
        ),
        (
            |c| {
                c.reliability.circuit_breaker_enabled = true;
                c.reliability.circuit_breaker_failure_threshold = 0;
            },
            "reliability.circuit_breaker_failure_threshold",
        ),
        (
            |c| {
                c.circuit_breaker_enabled = true;
                c.reliability.circuit_breaker_failure_threshold = 0;
            },
            "reliability.circuit_breaker_failure_threshold",
        ),
        (
            |c| c.reliability.circuit_breaker_recovery_timeout = Duration::ZERO,
            "reliability.circuit_breaker_recovery_timeout",
        ),
        (
            |c| c.reliability.health_check_interval = Duration::ZERO,
            "reliability.health_check_interval",
        ),
        (
            |c| c.reliability.health_check_interval = Duration::MAX,
            "reliability.health_check_interval",
        ),
        (
            |c| c.reliability.health_check_timeout = Duration::ZERO,
            "reliability.health_check_timeout",
        ),
        (
            |c| c.reliability.health_check_timeout = Duration::from_secs(31),
            "reliability.health_check_timeout",
        ),
        (
            |c| c.reliability.retry_max_attempts = MAX_RETRY_ATTEMPTS + 1,
            "reliability.retry_max_attempts",
        ),
        (
            |c| {
                c.reliability.retry_backoff_strategy = BackoffStrategy::Linear {
                    base_delay: Duration::ZERO,
                }
            },
            "reliability.retry_backoff_strategy.base_delay",
        ),
        (
            |c| {
                c.reliability.retry_backoff_strategy = BackoffStrategy::Exponential {
                    base_delay: Duration::from_secs(2),
                    max_delay: Duration::from_secs(1),
                }
            },
            "reliability.retry_backoff_strategy.base_delay",
        ),
        (
            |c| {
                c.reliability.retry_backoff_strategy = BackoffStrategy::Fibonacci {
                    base_delay: Duration::from_secs(1),
                    max_delay: Duration::from_secs(25 * 3600),
                }
            },
            "reliability.retry_backoff_strategy.max_delay",
        ),
    ];
    for (mutate, expected) in cases {
        let mut c = LightningDbConfig::default();
        mutate(&mut c);
        assert_eq!(field_of(c.validate()), *expected, "{c:?}");
    }
}

#[test]
fn boundaries_are_inclusive() {
    let c = LightningDbConfig {
        cache_size: MIN_CACHE_SIZE,
        write_buffer_size: MIN_WRITE_BUFFER_SIZE,
        max_key_size: MAX_KEY_SIZE_LIMIT,
        max_value_size: MAX_VALUE_SIZE_LIMIT,
        durability: Durability::Periodic(MAX_SYNC_INTERVAL_MS),
        block_size: MIN_BLOCK_SIZE,
        bloom_bits_per_key: 0,
        ..Default::default()
    };
    assert_eq!(c.validate(), Ok(()));
    let mut c = LightningDbConfig {
        block_size: MAX_BLOCK_SIZE,
        bloom_bits_per_key: MAX_BLOOM_BITS_PER_KEY,
        durability: Durability::NoSync,
        ..Default::default()
    };
    c.reliability.health_check_timeout = c.reliability.health_check_interval;
    c.reliability.retry_max_attempts = 0;
    assert_eq!(c.validate(), Ok(()));
    // Encryption off: the rotation period is not consulted.
    c.security.key_rotation_days = 0;
    assert_eq!(c.validate(), Ok(()));
    // Breaker off: a zero threshold is harmless.
    c.reliability.circuit_breaker_failure_threshold = 0;
    assert_eq!(c.validate(), Ok(()));
}

#[test]
fn one_sided_pairs_are_accepted_and_reconciled() {
    let mut c = LightningDbConfig {
        integrity_validation_level: IntegrityLevel::Paranoid,
        enable_audit_logging: true,
        enable_self_healing: true,
        circuit_breaker_enabled: true,
        ..Default::default()
    };
    c.security.checksum_algorithm = ChecksumAlgorithm::Blake3;
    c.reliability.deadlock_prevention = false;
    assert_eq!(c.validate(), Ok(()));
    let r = c.reconciled();
    assert_eq!(r.checksum_algorithm, ChecksumAlgorithm::Blake3);
    assert_eq!(r.security.checksum_algorithm, ChecksumAlgorithm::Blake3);
    assert_eq!(r.security.validation_level, ValidationLevel::Paranoid);
    assert_eq!(r.integrity_validation_level, ValidationLevel::Paranoid);
    assert_eq!(r.security.audit_level, AuditLevel::Standard);
    assert!(r.enable_audit_logging);
    assert!(r.reliability.self_healing_enabled && r.enable_self_healing);
    assert!(r.reliability.circuit_breaker_enabled && r.circuit_breaker_enabled);
    assert!(!r.deadlock_prevention_enabled && !r.reliability.deadlock_prevention);
    assert_eq!(r.validate(), Ok(()));
    assert_eq!(r.reconciled(), r);
}

#[test]
fn corruption_and_audit_reconciliation() {
    let mut c = LightningDbConfig {
        fail_on_corruption: false,
        ..Default::default()
    };
    assert_eq!(
        c.reconciled().security.corruption_action,
        CorruptionAction::Log
    );
    c.security.corruption_action = CorruptionAction::Quarantine;
    assert_eq!(
        c.reconciled().security.corruption_action,
        CorruptionAction::Quarantine
    );
    let c = LightningDbConfig {
        security: SecurityConfig {
            corruption_action: CorruptionAction::Repair,
            ..Default::default()
        },
        ..Default::default()
    };
    let r = c.reconciled();
    assert_eq!(r.security.corruption_action, CorruptionAction::Repair);
    assert!(!r.fail_on_corruption);
    assert_eq!(r.reconciled(), r);

    let default = LightningDbConfig::default().reconciled();
    assert!(!default.enable_audit_logging);
    assert_eq!(default.security.audit_level, AuditLevel::Off);
    assert_eq!(default.security.corruption_action, CorruptionAction::Halt);
    assert!(default.fail_on_corruption);
    assert_eq!(default.reconciled(), default);
    assert_eq!(default.validate(), Ok(()));

    let c = LightningDbConfig {
        security: SecurityConfig {
            audit_level: AuditLevel::Comprehensive,
            ..Default::default()
        },
        ..Default::default()
    };
    let r = c.reconciled();
    assert!(r.enable_audit_logging);
    assert_eq!(r.security.audit_level, AuditLevel::Comprehensive);
}

#[test]
fn json_round_trip() {
    let default = LightningDbConfig::default();
    assert_eq!(
        LightningDbConfig::from_json(&default.to_json()),
        Ok(default)
    );

    let mut c = LightningDbConfig::with_path("/var/lib/app/db");
    c.durability = Durability::Periodic(250);
    c.checksum_algorithm = ChecksumAlgorithm::Blake3;
    c.integrity_validation_level = ValidationLevel::Comprehensive;
    c.security.corruption_action = CorruptionAction::Quarantine;
    c.reliability.health_check_timeout = Duration::from_micros(1500);
    c.reliability.circuit_breaker_recovery_timeout = Duration::new(3, 7);
    c.reliability.retry_backoff_strategy = BackoffStrategy::Fibonacci {
        base_delay: Duration::from_millis(10),
        max_delay: Duration::from_secs(1),
    };
    let json = c.to_json();
    assert!(json.contains("\"Periodic\": 250"), "{json}");
    assert!(json.contains("\"1500us\""), "{json}");
    assert!(json.contains("\"3000000007ns\""), "{json}");
    assert!(json.contains("\"base_delay\": \"10ms\""), "{json}");
    assert_eq!(LightningDbConfig::from_json(&json), Ok(c));
}

#[test]
fn partial_json_takes_defaults() {
    let c = LightningDbConfig::from_json(
        r#"{
            "path": "/data/db",
            "cache_size": 1048576,
            "durability": "NoSync",
            "security": { "audit_level": "Comprehensive" },
            "reliability": {
                "health_check_interval": "1m",
                "retry_backoff_strategy": { "Linear": { "base_delay": "250ms" } }
            }
        }"#,
    );
    let expected = LightningDbConfig {
        path: "/data/db".into(),
        cache_size: 1 << 20,
        durability: Durability::NoSync,
        security: SecurityConfig {
            audit_level: AuditLevel::Comprehensive,
            ..Default::default()
        },
        reliability: ReliabilityConfig {
            health_check_interval: Duration::from_secs(60),
            retry_backoff_strategy: BackoffStrategy::Linear {
                base_delay: Duration::from_millis(250),
            },
            ..Default::default()
        },
        ..Default::default()
    };
    assert_eq!(c, Ok(expected));
    assert_eq!(
        LightningDbConfig::from_json("{}"),
        Ok(LightningDbConfig::default())
    );
    let legacy = LightningDbConfig::from_json(
        r#"{"reliability": {"health_check_timeout": {"secs": 2, "nanos": 5}}}"#,
    );
    assert_eq!(
        legacy.map(|c| c.reliability.health_check_timeout),
        Ok(Duration::new(2, 5))
    );
}

#[test]
fn json_errors_name_the_field() {
    assert_eq!(json_field(r#"{"cache_sise": 1}"#), "cache_sise");
    assert_eq!(
        json_field(r#"{"security": {"colour": 1}}"#),
        "security.colour"
    );
    assert_eq!(json_field(r#"{"cache_size": "big"}"#), "cache_size");
    assert_eq!(json_field(r#"{"cache_size": -1}"#), "cache_size");
    assert_eq!(json_field(r#"{"durability": "Sometimes"}"#), "durability");
    assert_eq!(
        json_field(r#"{"reliability": {"health_check_interval": 30}}"#),
        "reliability.health_check_interval"
    );
    assert_eq!(
        json_field(r#"{"reliability": {"health_check_interval": "30 parsecs"}}"#),
        "reliability.health_check_interval"
    );
    assert_eq!(
        json_field(r#"{"reliability": {"retry_backoff_strategy": {"Linear": {"base": "1s"}}}}"#),
        "reliability.retry_backoff_strategy"
    );
    assert_eq!(json_field(r#"{"security": 5}"#), "security");
    assert_eq!(
        json_field(r#"{"path": "/a", "enable_statistics": "yes"}"#),
        "enable_statistics"
    );
    assert_eq!(json_field(r#"{"cache_size": 1"#), "json");
    assert_eq!(json_field("[1, 2]"), "json");
    assert_eq!(json_field(""), "json");

    let err = LightningDbConfig::from_json(r#"{"cache_sise": 1}"#);
    assert!(matches!(
        err,
        Err(DatabaseError::ConfigurationError { ref reason, .. }) if reason.contains("unknown field")
    ));
}

#[test]
fn duration_text_format() {
    use duration_serde::{format, parse};
    let cases = [
        ("0s", Duration::ZERO),
        ("30s", Duration::from_secs(30)),
        ("100ms", Duration::from_millis(100)),
        ("250us", Duration::from_micros(250)),
        ("7ns", Duration::from_nanos(7)),
    ];
    for (text, value) in cases {
        assert_eq!(format(value), text);
        assert_eq!(parse(text), Ok(value));
    }
    assert_eq!(parse("2m"), Ok(Duration::from_secs(120)));
    assert_eq!(parse("2min"), Ok(Duration::from_secs(120)));
    assert_eq!(parse("1h"), Ok(Duration::from_secs(3600)));
    assert_eq!(parse(" 5 s "), Ok(Duration::from_secs(5)));
    assert_eq!(parse("3µs"), Ok(Duration::from_micros(3)));
    for bad in [
        "",
        "s",
        "10",
        "1.5s",
        "-1s",
        "10 parsecs",
        "99999999999999999999999h",
    ] {
        assert!(parse(bad).is_err(), "{bad}");
    }
    assert_eq!(parse(&format(Duration::MAX)), Ok(Duration::MAX));
}

#[test]
fn backoff_sequences_are_exact() {
    let ms = Duration::from_millis;
    let linear = BackoffStrategy::Linear {
        base_delay: ms(100),
    };
    let got: Vec<_> = (0..4).map(|a| linear.delay_for_attempt(a)).collect();
    assert_eq!(got, [ms(100), ms(200), ms(300), ms(400)]);
    assert_eq!(
        linear.delay_for_attempt(u32::MAX),
        ms(100).saturating_mul(u32::MAX)
    );

    let exponential = BackoffStrategy::default();
    let got: Vec<_> = (0..10).map(|a| exponential.delay_for_attempt(a)).collect();
    let expected = [100, 200, 400, 800, 1600, 3200, 6400, 12800, 25600, 30000].map(ms);
    assert_eq!(got, expected);
    for attempt in [31, 32, 33, 1000, u32::MAX] {
        assert_eq!(
            exponential.delay_for_attempt(attempt),
            Duration::from_secs(30)
        );
    }

    let fibonacci = BackoffStrategy::Fibonacci {
        base_delay: ms(10),
        max_delay: Duration::from_secs(1),
    };
    let got: Vec<_> = (0..13).map(|a| fibonacci.delay_for_attempt(a)).collect();
    let expected = [10, 10, 20, 30, 50, 80, 130, 210, 340, 550, 890, 1000, 1000].map(ms);
    assert_eq!(got, expected);
    assert_eq!(
        fibonacci.delay_for_attempt(u32::MAX),
        Duration::from_secs(1)
    );

    let uncapped = BackoffStrategy::Fibonacci {
        base_delay: Duration::from_nanos(1),
        max_delay: Duration::MAX,
    };
    assert_eq!(uncapped.delay_for_attempt(10), Duration::from_nanos(89));
    assert_eq!(
        uncapped.delay_for_attempt(u32::MAX),
        Duration::from_nanos(u64::from(u32::MAX))
    );
}

#[test]
fn validation_level_parses_case_insensitively() {
    assert_eq!("PARANOID".parse(), Ok(ValidationLevel::Paranoid));
    assert_eq!("basic".parse(), Ok(ValidationLevel::Basic));
    assert_eq!(" Standard ".parse(), Ok(ValidationLevel::Standard));
    assert_eq!("comprehensive".parse(), Ok(IntegrityLevel::Comprehensive));
    let err = "extreme".parse::<ValidationLevel>();
    assert!(matches!(err, Err(DatabaseError::InvalidArgument { .. })));
    for level in [
        ValidationLevel::Basic,
        ValidationLevel::Standard,
        ValidationLevel::Comprehensive,
        ValidationLevel::Paranoid,
    ] {
        assert_eq!(level.to_string().parse(), Ok(level));
    }
    assert!(ValidationLevel::Paranoid > ValidationLevel::Comprehensive);
    assert!(ValidationLevel::Basic < ValidationLevel::Standard);
}

#[test]
fn enum_defaults() {
    assert_eq!(Durability::default(), Durability::Sync);
    assert_eq!(ValidationLevel::default(), ValidationLevel::Standard);
    assert_eq!(CorruptionAction::default(), CorruptionAction::Halt);
    assert_eq!(AuditLevel::default(), AuditLevel::Standard);
}
