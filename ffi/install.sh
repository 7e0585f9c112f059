#!/usr/bin/env bash
# Installs the C library, headers and pkg-config file under a prefix:
#   ffi/install.sh /usr/local        (after `cargo build --release`)
# giving PREFIX/lib/liblightning.{so,a}, PREFIX/include/lightning.{h,hpp} and
# PREFIX/lib/pkgconfig/lightning.pc (filled from ffi/lightning.pc.in).
# Respects CARGO_TARGET_DIR and DESTDIR.
set -euo pipefail
PREFIX="${1:?usage: ffi/install.sh PREFIX}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
LIBDIR="$PREFIX/lib"
INCLUDEDIR="$PREFIX/include"
DEST="${DESTDIR:-}"
VERSION="$(sed -n 's/^version *= *"\(.*\)"/\1/p' "$ROOT/Cargo.toml" | head -n 1)"
install -d "$DEST$LIBDIR/pkgconfig" "$DEST$INCLUDEDIR"
install -m 0755 "$TARGET_DIR/release/liblightning.so" "$DEST$LIBDIR/"
install -m 0644 "$TARGET_DIR/release/liblightning.a" "$DEST$LIBDIR/"
install -m 0644 "$ROOT/include/lightning.h" "$ROOT/include/lightning.hpp" "$DEST$INCLUDEDIR/"
sed -e "s|@PREFIX@|$PREFIX|" -e "s|@LIBDIR@|$LIBDIR|" -e "s|@INCLUDEDIR@|$INCLUDEDIR|" \
    -e "s|@VERSION@|$VERSION|" "$ROOT/ffi/lightning.pc.in" >"$DEST$LIBDIR/pkgconfig/lightning.pc"
echo "installed liblightning $VERSION under $DEST$PREFIX"
