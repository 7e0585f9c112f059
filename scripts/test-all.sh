#!/usr/bin/env bash
# Builds everything and runs every test suite: format and lint checks, the Rust
# workspace (unit, property, crash, concurrency and doc tests), the skiplist's loom
# model checks, the Rust example,
# the C and C++ suites under sanitizers, the Python package (pytest, stubtest, the
# examples) and the Node module (tsc, node --test, the examples). This is the README's
# test command; .ci/run calls it and nothing else. It installs what it needs itself:
# a virtualenv under target/py-venv and the Node module's npm dependencies.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }
start=$(date +%s)

step "cargo fmt --check"
cargo fmt --all --check

step "cargo clippy (all targets, all features, warnings are errors)"
cargo clippy --workspace --all-targets --all-features -- -D warnings

step "cargo clippy (the core crate without features: no test tools, no dead code)"
cargo clippy -p lightning_db --lib -- -D warnings

step "Rust tests (workspace, all features)"
cargo test --workspace --all-features

step "loom: the memtable skiplist's lock-free protocols under the model checker"
# Only the lib's skiplist loom tests: every other test would run loom types outside a
# model. Its own target dir, so the cfg does not invalidate the main build's cache.
RUSTFLAGS="--cfg loom" CARGO_TARGET_DIR=target/loom \
    cargo test -p lightning_db --release --lib storage::skiplist::loom_tests -- --test-threads=1

step "Rust example"
cargo run --quiet -p lightning_db --example basic

if [ -f tests/c/run.sh ]; then
    step "C and C++ tests (AddressSanitizer + UndefinedBehaviorSanitizer)"
    bash tests/c/run.sh
fi

step "Python package (virtualenv, maturin build, pytest, stubtest, examples)"
bash bindings/python/test.sh

step "Node module (npm ci, napi build, tsc --strict, node --test, examples)"
bash bindings/node/test.sh

step "all suites passed in $(( $(date +%s) - start )) s"
