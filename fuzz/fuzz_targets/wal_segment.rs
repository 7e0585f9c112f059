//! Fuzz target: `lightning_db::testing::fuzz::wal_segment` must never panic, hang or allocate without bound.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| lightning_db::testing::fuzz::wal_segment(data));
