//! Test tools, compiled only with the `testing` cargo feature (and in the crate's own
//! unit tests): the simulated, fault-injecting file system and the fuzzing entry points.
//!
//! None of this is part of a production build. A program that wants to crash-test its
//! own use of Lightning DB enables the feature in its `[dev-dependencies]`:
//!
//! ```toml
//! [dev-dependencies]
//! lightning_db = { version = "0.1", features = ["testing"] }
//! ```
//!
//! and opens the database with [`Database::open_with_fs`](crate::Database::open_with_fs)
//! on a [`SimFileSystem`] handle.

pub mod format;
pub mod fuzz;
mod simfs;

pub mod internals {
    //! The storage layer's building blocks, for the micro-benchmarks in `bench/benches`
    //! (which measure them one at a time). Not a stable API: these move as the engine does.
    pub use crate::storage::cache::BlockCache;
    pub use crate::storage::memtable::MemTable;
    pub use crate::storage::record::{encode_record, read_record, RecordRead};
    pub use crate::storage::table::block::{
        decode_from_disk, encode_for_disk, Block, BlockBuilder, BlockLayout, MappedBlock,
    };
    pub use crate::storage::table::bloom;
    pub use crate::storage::wal::{encode_batch, OpRef};
}

pub use simfs::{
    CutMode, FaultError, FaultPlan, Fill, OpKind, PowerCutPolicy, PowerCutReport, SimFileSystem,
};

/// Rewrites the key file of the encrypted database in `dir` with its current data key
/// made `secs` seconds earlier than recorded, so a test can make `key_rotation_days` due
/// without waiting. False when the database has no key file.
pub fn backdate_key_file(
    dir: &std::path::Path,
    kek: &crate::EncryptionKey,
    secs: u64,
) -> Result<bool, crate::DatabaseError> {
    use crate::storage::crypto::KeyRing;
    use crate::storage::fs::StdFileSystem;
    let Some(mut ring) = KeyRing::read(&StdFileSystem, dir, kek)? else {
        return Ok(false);
    };
    ring.backdate_current(secs);
    ring.write(&StdFileSystem, dir, kek)?;
    Ok(true)
}
