#!/usr/bin/env bash
# Runs an older release's `lightning` against an encrypted database made by this tree, to
# see what that release does with format 3. Not part of CI (it builds a second tree).
#   scripts/old-release-on-encrypted.sh [REV]   (default a6efd57: the last commit before encryption)
# Expected: its open refuses (UNSUPPORTED_FORMAT_VERSION, exit 3) and the files are unchanged.
set -euo pipefail
rev=${1:-a6efd57}
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'git -C "$root" worktree remove --force "$work/tree" >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
git -C "$root" worktree add --detach -q "$work/tree" "$rev"
target=${OLD_TARGET:-$work/target}  # reuse a target folder across runs with OLD_TARGET
(cd "$work/tree" && cargo build -q -p lightning-cli --target-dir "$target")
(cd "$root" && cargo build -q -p lightning-cli)
old="$target/debug/lightning"
new="$root/target/debug/lightning"
printf '%s' "$(printf '3a%.0s' $(seq 32))" > "$work/key"
"$new" -q put "$work/db" k secret --key-file "$work/key"
sums() { (cd "$work/db" && find . -type f | sort | xargs md5sum); }
before=$(sums)
set +e
"$old" get "$work/db" k; echo "old get: exit $?"
set -e
[ "$before" = "$(sums)" ] && echo "old get: files unchanged" || { echo "old get CHANGED FILES"; exit 1; }
"$new" get "$work/db" k --key-file "$work/key"
