//! Fuzz target: `lightning_db::testing::fuzz::manifest_record` must never panic, hang or allocate without bound.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| lightning_db::testing::fuzz::manifest_record(data));
