//! Node.js binding of Lightning DB (napi-rs): a thin layer over the `lightning_db` crate.
//!
//! Everything the module does goes through the engine's public API; this crate only converts
//! arguments and results, runs slow work on the libuv thread pool, and turns engine errors into
//! JavaScript errors carrying the engine's stable codes. The small hand-written `lightning.js`
//! adds the iterable protocol and `db.transaction(fn)` on top.

mod audit;
mod convert;
mod db;
mod errors;
mod events;
mod fast;
mod iter;
mod migrate;
mod shared;
mod snapshot;
mod tasks;
mod txn;

pub use audit::audit_verify;
pub use db::Database;
pub use errors::{error_table, test_panic, ErrorCodeEntry};
pub use migrate::{
    decrypt_database, decrypt_database_sync, detect_version, encrypt_database,
    encrypt_database_sync, migrate, migrate_sync, needs_migration, EncryptionTask, MigrateTask,
};
