//! The `lightning_db._lightning` extension module: Python glue over the `lightning_db` crate.
//!
//! Everything here converts arguments, releases the GIL around engine calls, turns engine
//! errors (and panics) into the generated exception classes, and guards against use after
//! `close()` and after `fork()`. No storage logic lives here.

mod audit;
mod batch;
mod config;
mod db;
mod errors;
mod events;
mod fork;
mod iter;
mod migrate;
mod snapshot;
mod txn;
mod util;

use pyo3::prelude::*;

/// Module initialisation: the classes, the exception tree generated from the core's code
/// table, the fork hook and the migration functions.
#[pymodule]
fn _lightning(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<db::PyDatabase>()?;
    m.add_class::<batch::PyWriteBatch>()?;
    m.add_class::<batch::PyBulkLoad>()?;
    m.add_class::<txn::PyTransaction>()?;
    m.add_class::<snapshot::PySnapshot>()?;
    m.add_class::<iter::PyIterator>()?;
    errors::install(m)?;
    fork::install(m)?;
    events::install(m)?;
    migrate::install(m)?;
    audit::install(m)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
