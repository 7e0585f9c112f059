#!/usr/bin/env bash
# Builds the Node binding and runs everything that checks it: npm ci, the release build, the
# TypeScript check of the shipped declarations, the node --test suite and the examples in
# examples/node/. Needs only Node 20+/npm and the Rust toolchain. Cargo builds into the
# workspace's target/ (as every crate of the workspace does), so reruns are incremental.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cd "$here"

# Reuse the workspace target folder even if the caller points cargo elsewhere by accident.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$root/target}"

echo "== npm ci"
npm ci --no-audit --no-fund --loglevel=error

echo "== npm run build (release)"
npm run build

echo "== tsc --noEmit --strict against index.d.ts / lightning.d.ts"
npx --no-install tsc --noEmit --strict -p test/types

echo "== node --test"
node --test test/*.test.js

echo "== examples/node"
# The examples require('lightning-db') as users would; a NODE_PATH link resolves it here.
modules="$(mktemp -d)"
trap 'rm -rf "$modules"' EXIT
ln -s "$here" "$modules/lightning-db"
for example in "$root"/examples/node/*.js; do
  echo "-- $(basename "$example")"
  NODE_PATH="$modules" node "$example"
done

echo "== node binding: all passed"
