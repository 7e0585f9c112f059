//! Shared by the encryption suites (`encryption.rs`, `encryption_migration.rs`): what a
//! database folder holds, byte for byte, to compare before and after an operation or to
//! search for plaintext.

use std::collections::BTreeMap;
use std::path::Path;

/// Every file in `dir` (recursively) with its bytes, by name relative to `dir`.
pub fn snapshot(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).expect("read dir") {
            let p = entry.expect("entry").path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let name = p.strip_prefix(dir).expect("prefix").display().to_string();
                out.insert(name, std::fs::read(&p).expect("read"));
            }
        }
    }
    out
}
