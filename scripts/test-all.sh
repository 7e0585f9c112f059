#!/usr/bin/env bash
# Builds everything and runs every test suite: format and lint checks, the Rust
# workspace (unit, property, crash, concurrency and doc tests), the Rust example,
# and the C and C++ suites under sanitizers. Python and Node suites join as their
# bindings land. This is the README's test command; .ci/run calls it and nothing else.
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

step "all suites passed in $(( $(date +%s) - start )) s"
