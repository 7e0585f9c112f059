//! The API reference's "Production Setup Example", with its two deviations (README):
//! `Database` is written `AsyncDatabase` (the handle whose methods are futures), and the
//! config names a `path` (a fresh folder under the temporary directory). Run with
//! `cargo run -p lightning_db --features async --example production_setup`;
//! `core/tests/production_setup.rs` runs the same code as a test.

include!("reference_production_setup.rs");
