#!/usr/bin/env python3
"""Instruction counts of the hot paths, per operation, under callgrind.

Each driver's timed loops are non-inlined hot_* functions; callgrind
collects only inside them (--collect-atstart=no --toggle-collect=hot_*),
and callgrind_annotate --inclusive=yes gives each one's inclusive Ir,
divided here by the operations it performed. Counts include the drivers'
loop and checksum work (a few instructions per op, the same in every
driver). Instruction counts do not depend on machine load, so this is the
regression tracker: compare with the table in docs/benchmarks.md.

    python3 bench/callgrind.py [--build _build/bench] [--systems slotcache,lmdb,tinycdb]
"""
import argparse
import os
import re
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
N, GETS, W2C, W2OPS = 100000, 100000, 100, 100
ARGS = ["--n", str(N), "--gets", str(GETS), "--w2-commits", str(W2C),
        "--w5-passes", "1", "--only", "W3,W4,W5,W2,whatif"]
BINARY = {"slotcache": "bench_slc", "lmdb": "bench_lmdb", "tinycdb": "bench_cdb"}
# function -> (row label, operations it performs)
FUNCS = [
    ("hot_get_hit", "get hit (W3), per get", GETS),
    ("hot_get_miss", "get miss (W4), per get", GETS),
    ("hot_get_many", "slc_get_many hit (W3many), per get", GETS),
    ("hot_scan_snapshot", "scan + filter, snapshot (W5), per slot", N),
    ("hot_scan_stream", "scan + filter, streaming (W5), per slot", N),
    ("hot_match_snapshot", "slc_scan_match, snapshot (W5), per slot", N),
    ("hot_match_stream", "slc_scan_match, streaming (W5), per slot", N),
    ("hot_iter", "iteration + filter (W5), per entry", N),
    ("hot_upsert", "put + commit, 100 per commit (W2), per op", W2C * W2OPS),
    ("hot_load", "bulk put staging (W1, before commit), per op", N),
    ("hot_bulk_commit", "bulk commit (W1, plan + apply), per op", N),
    # bench/whatif.c loops (not library code), in the slotcache column; the
    # single-get loop also runs n/512 warm-up gets (0.2 % more)
    ("whatif_get_single", "what-if: get hit, 16-byte keys, per get", GETS),
    ("whatif_get_batch", "what-if: get hit, groups of 16, per get", GETS),
    ("whatif_scan", "what-if: scan reading meta and index[0], per slot", N),
    ("whatif_scan_callback", "what-if: scan with a filter callback, per slot", N),
]


def measure(system, build):
    exe = os.path.join(build, "bench", BINARY[system])
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "cg.out")
        cmd = ["valgrind", "--tool=callgrind", "--collect-atstart=no",
               f"--callgrind-out-file={out}"]
        cmd += [f"--toggle-collect={f}" for f, _, _ in FUNCS]
        cmd += [exe, "--dir", os.path.join(tmp, "data")] + ARGS
        p = subprocess.run(cmd, capture_output=True, text=True)
        if p.returncode != 0:
            sys.exit(f"{system}: {p.stderr[-2000:]}")
        ann = subprocess.run(["callgrind_annotate", "--inclusive=yes", "--threshold=100", out],
                             capture_output=True, text=True).stdout
    ir = {}
    for line in ann.splitlines():
        m = re.match(r"\s*([\d,]+)\s+\(.*?\)\s+\S*:?((?:hot|whatif)_\w+)", line) or \
            re.match(r"\s*([\d,]+)\s+\S*:?((?:hot|whatif)_\w+)", line)
        if m:
            ir.setdefault(m.group(2), int(m.group(1).replace(",", "")))
    return ir


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default=os.path.join(ROOT, "_build", "bench"))
    ap.add_argument("--systems", default="slotcache,lmdb,tinycdb")
    a = ap.parse_args()
    systems = a.systems.split(",")
    res = {s: measure(s, a.build) for s in systems}
    print(f"Instructions (Ir) per operation, callgrind, n = {N:,}, "
          f"{GETS:,} gets, {W2C} commits x {W2OPS} upserts")
    print()
    print("| hot path | " + " | ".join(systems) + " |")
    print("|---|" + "---|" * len(systems))
    for f, label, ops in FUNCS:
        cells = []
        for s in systems:
            v = res[s].get(f)
            cells.append(f"{v / ops:.1f}" if v is not None else "-")
        if any(c != "-" for c in cells):
            print(f"| {label} | " + " | ".join(cells) + " |")


main()
