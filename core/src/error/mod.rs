//! Errors of Lightning DB and their stable numeric codes.
//!
//! [`DatabaseError`] is the one error type of the public API; [`SecurityError`] and
//! [`ReliabilityError`] group the security and reliability failures and convert into it.
//! Every variant carries a stable numeric code ([`DatabaseError::error_code`]) and name
//! ([`DatabaseError::code_name`]) taken from a single table, [`ERROR_TABLE`]. The same
//! numbers are the C API's return codes, the
//! `code` of Python exceptions and the `errno` of Node errors, so the table is written here once
//! and the bindings generate theirs from it.
//!
//! Codes are grouped by kind:
//!
//! | range | kind |
//! |---|---|
//! | 0–99 | non-error statuses of the C API (success, end of iteration, buffer too small) |
//! | 1xx | core: keys, values, transactions, handles, I/O |
//! | 2xx | security (201–249) and integrity (250–299) |
//! | 3xx | reliability: deadlocks, circuit breaker, auto-recovery, timeouts |
//! | 4xx | crash recovery and repair |
//! | 5xx | configuration and resources |
//!
//! A code is never renumbered or reused; a retired code stays reserved in the table.
//!
//! The module is split by concern: `kinds` holds the enums and their messages,
//! `codes` the numbers, `table` the code table, `classify` the one match that gives each
//! variant its code and classification, `advice` the suggested actions.

mod advice;
mod classify;
pub mod codes;
mod kinds;
mod table;
#[cfg(test)]
mod tests;

pub use kinds::{DatabaseError, ReliabilityError, RetryableError, SecurityError};
pub use table::{describe_code, reserved_for, ErrorCodeInfo, ERROR_TABLE, RESERVED_CODES};

use kinds::{is_storage_full_kind, is_transient_io_kind};
