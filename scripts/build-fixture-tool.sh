#!/usr/bin/env bash
# Builds the format-fixture tool (core/tests/fixtures/formats/tool/main.rs) against the
# engine of COMMIT, in a git worktree of its own under OUT, and prints the binary's path.
#
#   bash scripts/build-fixture-tool.sh COMMIT OUT
#
# The tool's source is taken from the working tree running this script, so one source
# writes every format's fixture (it uses only API every release has had).
set -euo pipefail
commit=${1:?commit}
out=${2:?output directory}
here=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$out"
out=$(cd "$out" && pwd)
if [ ! -d "$out/src" ]; then
    git -C "$here" worktree add --detach "$out/src" "$commit" >&2
fi
mkdir -p "$out/tool/src"
cp "$here/core/tests/fixtures/formats/tool/main.rs" "$out/tool/src/main.rs"
cat > "$out/tool/Cargo.toml" <<TOML
[package]
name = "fixture-tool"
version = "0.0.0"
edition = "2021"
publish = false

[dependencies]
lightning_db = { path = "$out/src/core" }

[workspace]
TOML
# The commit's own lock file pins the engine's dependencies as that release had them.
cp "$out/src/Cargo.lock" "$out/tool/Cargo.lock"
cargo build --quiet --manifest-path "$out/tool/Cargo.toml" --target-dir "$out/target" >&2
echo "$out/target/debug/fixture-tool"
