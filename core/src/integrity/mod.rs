//! Checksums, validation and repair of a database's files.
//!
//! * [`IntegrityValidator`] ([`validator`]): the reference's validator: [`Checksum`]s,
//!   validation of an open database ([`crate::Database::integrity_validator`],
//!   [`crate::Database::verify_integrity`]) or a closed one
//!   ([`IntegrityValidator::for_path`], [`verify_database`]) by component and
//!   [`ValidationLevel`](crate::ValidationLevel), producing an [`IntegrityReport`].
//! * [`repair_database`] ([`repair`]): rebuilds what can be rebuilt and sets aside what
//!   cannot, listing it.

pub mod monitor;
pub mod repair;
pub mod report;
pub mod validator;
pub(crate) mod verify;

pub use monitor::{
    CorruptionEvent, CorruptionMonitor, DAMAGED_TABLES_FILE, VERIFIER_BYTES_PER_SEC,
};
pub use repair::{
    repair_database, repair_database_with_fs, repair_with_fs, RepairReport, SetAside,
    QUARANTINE_DIR,
};
pub use report::{CheckKind, Component, IntegrityProblem, IntegrityReport};
pub use validator::{
    verify_database, Checksum, IntegrityError, IntegrityValidator, ProgressFn, RepairResult,
    ValidationConfig, ValidationResult,
};
