//! The database handle's integrity surface: validation of the open database and the
//! corruption it met.

use std::sync::Arc;

use super::Database;
use crate::config::ValidationLevel;
use crate::error::DatabaseError;
use crate::integrity::{CorruptionEvent, IntegrityReport, IntegrityValidator, ValidationConfig};

impl Database {
    /// An [`IntegrityValidator`] attached to this open database.
    pub fn integrity_validator(&self, config: ValidationConfig) -> IntegrityValidator {
        IntegrityValidator::new(config).attach(self)
    }

    /// Reads every file of the database again (bypassing the cache, while it keeps serving)
    /// and checks it at `level`; returns what was checked and every problem found, with file
    /// and offset. Corruption is reported in the result, not as an error; errors are for a
    /// closed handle.
    pub fn verify_integrity(
        &self,
        level: ValidationLevel,
    ) -> Result<IntegrityReport, DatabaseError> {
        self.integrity_validator(ValidationConfig {
            validation_level: level,
            ..Default::default()
        })
        .validate()
    }

    /// The corruption this open database met so far (failed block reads and what the
    /// `Paranoid` background verifier found), with the action applied to each.
    pub fn corruption_events(&self) -> Vec<CorruptionEvent> {
        self.monitor.events()
    }
}

impl IntegrityValidator {
    /// The same validator, validating the open database `db`.
    pub fn attach(self, db: &Database) -> Self {
        self.attach_engine(Arc::clone(&db.inner))
    }
}
