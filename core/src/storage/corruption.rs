//! How storage reports the damage it meets and asks whether it may read: the
//! [`ReadGate`] every table of one database reads through (via the block cache), and the
//! [`CorruptionListener`] trait the layer above implements to decide what damage means.
//!
//! Storage only states facts (this block of this table failed its checksum); the policy
//! (log it, halt the database, mark the table for quarantine or repair) lives in
//! `integrity::monitor`, which storage knows nothing of.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

use parking_lot::Mutex;

use crate::error::DatabaseError;

/// What the listener wants done after a report.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// Keep serving reads (the damaged read itself has already failed).
    Continue,
    /// Refuse every read from now on with this error, until the database is reopened.
    Halt(DatabaseError),
}

/// Told about every error a table read meets; decides what the damage means.
pub trait CorruptionListener: Send + Sync {
    /// Damage (or another error: the listener filters) met reading table `table`, or
    /// elsewhere when `None`; `source` says who met it (`"read"`, `"verifier"`).
    fn on_error(&self, table: Option<u64>, err: &DatabaseError, source: &str) -> Verdict;
}

/// The read-side state of one open database's corruption handling: whether it halted,
/// and whether every block must be verified from disk on every read. Checked on every
/// block read, so both answers are one atomic load.
#[derive(Default)]
pub struct ReadGate {
    halted: AtomicBool,
    halt_error: Mutex<Option<DatabaseError>>,
    verify_every_read: AtomicBool,
    listener: OnceLock<Arc<dyn CorruptionListener>>,
}

impl std::fmt::Debug for ReadGate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReadGate")
            .field("halted", &self.halted.load(Ordering::Relaxed))
            .field(
                "verify_every_read",
                &self.verify_every_read.load(Ordering::Relaxed),
            )
            .finish()
    }
}

impl ReadGate {
    /// Sets who decides what damage means (once; later calls are ignored) and whether
    /// every read verifies its block from disk.
    pub fn configure(&self, listener: Arc<dyn CorruptionListener>, verify_every_read: bool) {
        let _ = self.listener.set(listener);
        self.verify_every_read
            .store(verify_every_read, Ordering::Release);
    }

    /// `Err` with the halt error once the database halted.
    #[inline]
    pub fn check(&self) -> Result<(), DatabaseError> {
        if !self.halted.load(Ordering::Acquire) {
            return Ok(());
        }
        Err(self
            .halt_error
            .lock()
            .clone()
            .unwrap_or(DatabaseError::DataCorruption {
                component: "database".into(),
                details: "halted after corruption".into(),
                recovery_possible: false,
            }))
    }

    /// Whether every block read must be verified from disk.
    #[inline]
    pub fn verify_every_read(&self) -> bool {
        self.verify_every_read.load(Ordering::Relaxed)
    }

    /// Reports an error met reading table `table` (or elsewhere) to the listener, and
    /// halts if it says so. Without a listener (a cache outside an open database) the
    /// error is only returned to the reader that met it.
    pub fn report(&self, table: Option<u64>, err: &DatabaseError, source: &str) {
        let Some(listener) = self.listener.get() else {
            return;
        };
        if let Verdict::Halt(error) = listener.on_error(table, err, source) {
            let mut slot = self.halt_error.lock();
            if slot.is_none() {
                *slot = Some(error);
            }
            self.halted.store(true, Ordering::Release);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct HaltOnCorruption;

    impl CorruptionListener for HaltOnCorruption {
        fn on_error(&self, table: Option<u64>, err: &DatabaseError, _source: &str) -> Verdict {
            match err {
                DatabaseError::DataCorruption { .. } => {
                    Verdict::Halt(DatabaseError::DataCorruption {
                        component: format!("table {}", table.unwrap_or(0)),
                        details: "halted".into(),
                        recovery_possible: false,
                    })
                }
                _ => Verdict::Continue,
            }
        }
    }

    fn damage() -> DatabaseError {
        DatabaseError::DataCorruption {
            component: "table 7".into(),
            details: "checksum".into(),
            recovery_possible: false,
        }
    }

    #[test]
    fn a_gate_without_listener_never_halts() {
        let gate = ReadGate::default();
        gate.report(Some(7), &damage(), "read");
        assert!(gate.check().is_ok());
        assert!(!gate.verify_every_read());
    }

    #[test]
    fn the_listener_decides_and_the_first_halt_error_stays() {
        let gate = ReadGate::default();
        gate.configure(Arc::new(HaltOnCorruption), true);
        assert!(gate.verify_every_read());
        gate.report(Some(7), &DatabaseError::DatabaseClosed, "read");
        assert!(gate.check().is_ok(), "not damage: no halt");
        gate.report(Some(7), &damage(), "read");
        gate.report(Some(9), &damage(), "verifier");
        match gate.check() {
            Err(DatabaseError::DataCorruption { component, .. }) => {
                assert_eq!(component, "table 7")
            }
            other => panic!("expected the first halt error, got {other:?}"),
        }
    }
}
