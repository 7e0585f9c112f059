#!/usr/bin/env bash
# Builds everything and runs every test suite: format and lint checks, the Rust
# workspace (unit, property, crash, concurrency and doc tests), the Rust example,
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

step "Rust tests (workspace, all features)"
cargo test --workspace --all-features

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
