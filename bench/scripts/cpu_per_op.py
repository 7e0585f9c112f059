#!/usr/bin/env python3
"""CPU per read operation, counted rather than timed: instructions and simulated cache
misses per point read, per 10-pair range (forward and reverse) and per step of a full
scan (forward and reverse), for Lightning DB and its peers, side by side.

Each engine runs the benchmark's own child process (the same workload and data as
`cargo run --release`) under valgrind's callgrind with a cache simulation, collecting only
inside the `workload::probe` functions that wrap every timed read call. Counts do not
drift with the machine's load or speed, so they compare engines (and builds) exactly where
wall time on this virtual machine moves by 20-30% from hour to hour; perf's hardware
counters are not available on it. The cache figures come from callgrind's model of this
machine's caches (L1 data and last level), not from the hardware.

    python3 scripts/cpu_per_op.py                              # lightning, lmdb; 100k pairs
    python3 scripts/cpu_per_op.py --engines lightning,lmdb,redb,rocksdb --elements 200000
    python3 scripts/cpu_per_op.py --value-sizes 1024,4096,65536   # adds the large-value rows

Build first (`cargo build --release` in bench/). Writes results/cpu-per-op.md.
"""

import argparse
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

BENCH = Path(__file__).resolve().parent.parent
BINARY = BENCH / "target" / "release" / "lightning-bench"
PROBE = "lightning_bench::workload::probe::"


def parse_callgrind(path):
    """Inclusive cost and call count of every probe function in a callgrind output file."""
    names = {}
    events = []
    inclusive = {}
    calls = {}
    current = None
    pending_call = None  # (callee id, count) awaiting its cost line
    ref = re.compile(r"^(c?fn)=\((\d+)\)(?: (.*))?$")
    with open(path, encoding="utf-8", errors="replace") as f:
        for raw in f:
            line = raw.rstrip("\n")
            if line.startswith("events:"):
                events = line.split()[1:]
                continue
            m = ref.match(line)
            if m:
                kind, ident, name = m.group(1), m.group(2), m.group(3)
                if name is not None:
                    names[ident] = name
                if kind == "fn":
                    current = ident
                else:
                    pending_call = [ident, 0]
                continue
            if line.startswith("calls="):
                if pending_call is not None:
                    pending_call[1] = int(line[6:].split()[0])
                continue
            if not line or not (line[0].isdigit() or line[0] in "+-*"):
                continue
            costs = [int(x) for x in line.split()[1:]]
            costs += [0] * (len(events) - len(costs))
            # A call's cost line is the callee's inclusive cost, charged to the caller as
            # its own lines are: the sum is the caller's inclusive cost.
            if pending_call is not None:
                callee, count = pending_call
                pending_call = None
                calls[callee] = calls.get(callee, 0) + count
            if current is not None:
                acc = inclusive.setdefault(current, [0] * len(events))
                for i, c in enumerate(costs):
                    acc[i] += c
    out = {}
    for ident, name in names.items():
        if not name.startswith(PROBE) or ident not in inclusive:
            continue
        cost = dict(zip(events, inclusive[ident]))
        out[name[len(PROBE):]] = {
            "calls": calls.get(ident, 0),
            "Ir": cost.get("Ir", 0),
            "D1": cost.get("D1mr", 0) + cost.get("D1mw", 0),
            "LL": cost.get("DLmr", 0) + cost.get("DLmw", 0),
        }
    return out


def run_engine(engine, args, phases, extra, workdir):
    """Runs one engine's child under callgrind; returns the probes' costs."""
    # One folder and output per run: the value-size runs share their phase names.
    tag = "-".join([engine, phases.replace(",", "-"), *(e.lstrip("-") for e in extra)])
    db = Path(workdir) / tag
    db.mkdir(parents=True)
    out = Path(workdir) / f"{tag}.callgrind"
    cmd = [
        "valgrind", "--tool=callgrind", "--cache-sim=yes",
        f"--callgrind-out-file={out}",
        f"--toggle-collect={PROBE}*",
        str(BINARY), "--engine-child", engine, "--child-dir", str(db),
        "--elements", str(args.elements), "--phases", phases,
        "--cache-mb", str(args.cache_mb), *extra,
    ]
    env = dict(os.environ)
    # valgrind cannot reserve LMDB's usual 64 GiB map.
    env.setdefault("LIGHTNING_BENCH_LMDB_MAP_GIB", "8")
    print(f"  {engine}: {phases} {' '.join(extra)}", file=sys.stderr, flush=True)
    res = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    for line in res.stdout.splitlines():
        if '"type":"error"' in line:
            raise SystemExit(f"{engine} failed: {line}")
    if res.returncode != 0:
        raise SystemExit(f"{engine} exited with {res.returncode}:\n{res.stderr[-2000:]}")
    return parse_callgrind(out)


def per_op(cost, unit):
    return {k: cost[k] / unit for k in ("Ir", "D1", "LL")}


def rows_for(engine_costs, elements):
    """(row name, per-op cost) pairs from one engine's probe costs."""
    rows = []
    c = engine_costs.get("small", {})
    if "get" in c:
        rows.append(("point read", per_op(c["get"], c["get"]["calls"])))
    if "range" in c:
        rows.append(("10-pair range", per_op(c["range"], c["range"]["calls"])))
    if "range_rev" in c:
        rows.append(("10-pair reverse range", per_op(c["range_rev"], c["range_rev"]["calls"])))
    # Every bulk-loaded pair is live in these phases, so a scan walks `elements` pairs.
    if "scan_forward" in c:
        rows.append(("full scan, per pair", per_op(c["scan_forward"], c["scan_forward"]["calls"] * elements)))
    if "scan_reverse" in c:
        rows.append(("reverse full scan, per pair", per_op(c["scan_reverse"], c["scan_reverse"]["calls"] * elements)))
    for key, vc in engine_costs.items():
        if not key.startswith("values-"):
            continue
        label = size_label(int(key.split("-")[1]))
        if "get_digest" in vc:
            rows.append((f"point read ({label} values)", per_op(vc["get_digest"], vc["get_digest"]["calls"])))
        if "range" in vc:
            rows.append((f"10-pair range ({label} values)", per_op(vc["range"], vc["range"]["calls"])))
    return rows


def size_label(n):
    if n % (1 << 20) == 0:
        return f"{n >> 20} MiB"
    if n % 1024 == 0:
        return f"{n >> 10} KiB"
    return f"{n} B"


def fmt(x):
    return f"{x:,.0f}" if x >= 10 else f"{x:.1f}"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--engines", default="lightning,lmdb")
    ap.add_argument("--elements", type=int, default=100_000)
    ap.add_argument("--value-sizes", default="", help="comma-separated value sizes for the large-value rows")
    ap.add_argument("--cache-mb", type=int, default=256)
    ap.add_argument("--out", default=str(BENCH / "results" / "cpu-per-op.md"))
    args = ap.parse_args()
    if not BINARY.exists():
        raise SystemExit(f"{BINARY} is missing: run `cargo build --release` in {BENCH}")
    engines = [e for e in args.engines.split(",") if e]
    sizes = [int(s) for s in args.value_sizes.split(",") if s]
    results = {}
    with tempfile.TemporaryDirectory(dir=BENCH / "target") as work:
        for engine in engines:
            costs = {"small": run_engine(engine, args, "reads,ranges,reverse", [], work)}
            for size in sizes:
                costs[f"values-{size}"] = run_engine(
                    engine, args, "values", ["--value-sizes", str(size)], work)
            results[engine] = rows_for(costs, args.elements)
    names = [name for name, _ in results[engines[0]]]
    lines = [
        "# CPU per read operation",
        "",
        f"Counted under callgrind (`scripts/cpu_per_op.py`), {args.elements:,} pairs of the "
        "benchmark's data (24-byte keys, 150-byte values), one reader thread, "
        f"{args.cache_mb} MiB of cache each. Per operation: instructions, then L1 data-cache "
        "misses and last-level data-cache misses of callgrind's cache model. A 10-pair range "
        "counts its seek and its ten steps. Ratios are engine / Lightning DB (above 1: "
        "Lightning DB does less).",
        "",
    ]
    header = "| operation | " + " | ".join(
        f"{e} instr | {e} L1 miss | {e} LL miss" for e in engines) + " | " + " | ".join(
        f"{e}/lightning instr" for e in engines if e != "lightning") + " |"
    lines.append(header)
    lines.append("|---|" + "---:|" * (3 * len(engines) + len([e for e in engines if e != "lightning"])))
    by_engine = {e: dict(results[e]) for e in engines}
    for name in names:
        cells = []
        for e in engines:
            c = by_engine[e].get(name)
            cells += [fmt(c["Ir"]), fmt(c["D1"]), fmt(c["LL"])] if c else ["-"] * 3
        base = by_engine.get("lightning", {}).get(name)
        ratios = []
        for e in engines:
            if e == "lightning":
                continue
            c = by_engine[e].get(name)
            ratios.append(f"{c['Ir'] / base['Ir']:.2f}" if c and base else "-")
        lines.append(f"| {name} | " + " | ".join(cells + ratios) + " |")
    text = "\n".join(lines) + "\n"
    Path(args.out).write_text(text, encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
