//! Writes `lightning.pc` next to the libraries (`target/<profile>/lightning.pc`), so that a
//! program can build against the tree with
//! `PKG_CONFIG_PATH=target/release pkg-config --cflags --libs lightning`.
//! `ffi/lightning.pc.in` is the template; `ffi/install.sh` fills it for an installed copy.

use std::path::{Path, PathBuf};

fn main() {
    println!("cargo:rerun-if-changed=lightning.pc.in");
    println!("cargo:rerun-if-changed=build.rs");
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
    let out_dir = PathBuf::from(std::env::var("OUT_DIR").expect("OUT_DIR"));
    // OUT_DIR is <target>/<profile>/build/<package>-<hash>/out: the libraries land in
    // <target>/<profile>.
    let Some(profile_dir) = out_dir.ancestors().nth(3).map(Path::to_path_buf) else {
        return;
    };
    let root = manifest.parent().unwrap_or(&manifest).to_path_buf();
    let template = match std::fs::read_to_string(manifest.join("lightning.pc.in")) {
        Ok(t) => t,
        Err(e) => {
            println!("cargo:warning=lightning.pc.in unreadable: {e}");
            return;
        }
    };
    let pc = template
        .replace("@PREFIX@", &root.display().to_string())
        .replace("@LIBDIR@", &profile_dir.display().to_string())
        .replace("@INCLUDEDIR@", &root.join("include").display().to_string())
        .replace("@VERSION@", env!("CARGO_PKG_VERSION"));
    let target = profile_dir.join("lightning.pc");
    if std::fs::read_to_string(&target).ok().as_deref() != Some(pc.as_str()) {
        if let Err(e) = std::fs::write(&target, pc) {
            println!("cargo:warning=could not write {}: {e}", target.display());
        }
    }
}
