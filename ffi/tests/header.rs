//! The header drift check: regenerates `include/lightning.h` from `ffi/src` with cbindgen
//! (configured by `ffi/cbindgen.toml`) and fails when it differs from the committed header by
//! a single byte. `LIGHTNING_BLESS=1 cargo test -p lightning-ffi --test header` rewrites it.

use std::path::PathBuf;

fn crate_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn generate() -> Vec<u8> {
    let dir = crate_dir();
    let config =
        cbindgen::Config::from_file(dir.join("cbindgen.toml")).expect("read cbindgen.toml");
    // `with_src` parses the crate's files directly (following `mod` declarations), without
    // running `cargo metadata`.
    let bindings = cbindgen::Builder::new()
        .with_config(config)
        .with_src(dir.join("src").join("lib.rs"))
        .generate()
        .expect("cbindgen could not generate the header");
    let mut out = Vec::new();
    bindings.write(&mut out);
    out
}

fn first_difference(a: &[u8], b: &[u8]) -> String {
    let a = String::from_utf8_lossy(a);
    let b = String::from_utf8_lossy(b);
    for (n, (la, lb)) in a.lines().zip(b.lines()).enumerate() {
        if la != lb {
            return format!("line {}:\n  committed: {la}\n  generated: {lb}", n + 1);
        }
    }
    format!(
        "one is a prefix of the other ({} vs {} lines)",
        a.lines().count(),
        b.lines().count()
    )
}

#[test]
fn header_matches_sources() {
    let generated = generate();
    let path: PathBuf = crate_dir().join("..").join("include").join("lightning.h");
    let committed = std::fs::read(&path).unwrap_or_default();
    if committed == generated {
        return;
    }
    if std::env::var_os("LIGHTNING_BLESS").is_some_and(|v| v == "1") {
        std::fs::write(&path, &generated).expect("write include/lightning.h");
        return;
    }
    panic!(
        "include/lightning.h is out of date with ffi/src ({}).\nRegenerate it with \
         `LIGHTNING_BLESS=1 cargo test -p lightning-ffi --test header` and commit it.",
        first_difference(&committed, &generated)
    );
}

#[test]
fn header_has_the_required_shape() {
    let header = String::from_utf8(generate()).expect("header is UTF-8");
    for needle in [
        "DO NOT EDIT",
        "#ifndef LIGHTNING_H",
        "#define LIGHTNING_H",
        "extern \"C\" {",
        "#include <stddef.h>",
        "#include <stdint.h>",
        "typedef struct lightning_db lightning_db;",
        "#define LIGHTNING_OK 0",
        "#define LIGHTNING_NOT_FOUND 101",
        "#define LIGHTNING_VERSION_MAJOR ",
        "LIGHTNING_DURABILITY_NO_SYNC",
        "size_t key_len",
    ] {
        assert!(header.contains(needle), "header lacks {needle:?}");
    }
    assert!(!header.contains("usize"), "usize leaked into the header");
}
