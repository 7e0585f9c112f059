#!/usr/bin/env bash
# Builds the Python package and runs its tests: the pytest suite, the stubs against the
# built module (mypy.stubtest) and the examples in examples/python/.
#
# Needs only Python 3.9+ with pip and venv, and the Rust toolchain. The virtualenv lives
# in target/py-venv (reused between runs) and the Rust build in the workspace's target/
# folder (so a rerun rebuilds only what changed).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
venv="${LIGHTNING_PY_VENV:-$root/target/py-venv}"
python="${PYTHON:-python3}"

if [[ ! -x "$venv/bin/python" ]]; then
    echo "== creating $venv"
    "$python" -m venv "$venv"
fi
py="$venv/bin/python"
# The maturin build backend runs the `maturin` executable from PATH.
export PATH="$venv/bin:$PATH"

echo "== installing build and test tools"
"$py" -m pip install --quiet --upgrade pip
"$py" -m pip install --quiet "maturin>=1.7,<2" pytest mypy

echo "== building and installing bindings/python (release)"
# Without build isolation so the maturin installed above is used (no download per run);
# maturin builds in the workspace's target/ folder, so only changed crates are rebuilt.
"$py" -m pip install --quiet --no-build-isolation --force-reinstall --no-deps "$here"

echo "== pytest"
# Run from the tests folder so `import lightning_db` resolves to the installed package,
# not to the source tree.
(cd "$here/tests" && "$py" -m pytest -q -p no:cacheprovider "$@" .)

echo "== stubtest"
(cd "$root/target" && "$py" -m mypy.stubtest lightning_db)

echo "== mypy --strict on the examples (type-checks them against the stubs)"
"$py" -m mypy --strict --no-incremental "$root/examples/python"

echo "== examples"
for example in "$root"/examples/python/*.py; do
    echo "-- $(basename "$example")"
    (cd "$root/target" && "$py" "$example")
done

echo "== python bindings: all passed"
