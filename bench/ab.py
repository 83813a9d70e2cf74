#!/usr/bin/env python3
"""A/B comparison of two builds of bench_slc (e.g. before and after a
library change): runs them alternately, several repetitions, and prints
each metric's median for A and B and the ratio B/A (and whether B is
better). Checksums must agree between A and B.

    python3 bench/ab.py BUILD_A BUILD_B [--reps 4] [--preset default] [--args "--only W1,W3"]

BUILD_x is a CMake build directory configured with -DSLOTCACHE_BUILD_BENCH=ON.
"""
import argparse
import os
import shlex
import statistics
import subprocess
import sys

LOWER_IS_BETTER = ("ns_per_op", "median_commit_us", "ms", "busy_reads",
                   "bytes_written_per_commit", "device_bytes_per_commit")

ap = argparse.ArgumentParser(description=__doc__,
                             formatter_class=argparse.RawDescriptionHelpFormatter)
ap.add_argument("a")
ap.add_argument("b")
ap.add_argument("--reps", type=int, default=4)
ap.add_argument("--preset", default="default")
ap.add_argument("--dir", default="/tmp/slc-bench-ab")
ap.add_argument("--args", default="", help="extra driver arguments, one string")
args = ap.parse_args()
args.extra = shlex.split(args.args)

vals, sums = {}, {}
for rep in range(args.reps):
    for tag in (("A", "B") if rep % 2 == 0 else ("B", "A")):
        exe = os.path.join(args.a if tag == "A" else args.b, "bench", "bench_slc")
        p = subprocess.run([exe, "--preset", args.preset, "--dir", args.dir]
                           + args.extra, capture_output=True, text=True)
        if p.returncode:
            sys.exit(f"{tag}: {p.stderr}")
        for line in p.stdout.splitlines():
            f = line.split()
            if len(f) == 7 and f[0] == "R":
                key = (f[1], f[2], f[3])
                vals.setdefault((tag,) + key, []).append(float(f[4]))
                sums.setdefault(key, set()).add(f[6])
    print(f"rep {rep + 1}/{args.reps}", file=sys.stderr)

print("| system | workload | metric | A | B | B/A | B better |")
print("|---|---|---|---|---|---|---|")
keys = sorted({k[1:] for k in vals}, key=lambda k: (k[1], k[0], k[2]))
for k in keys:
    a, b = vals.get(("A",) + k), vals.get(("B",) + k)
    if not a or not b:
        continue
    ma, mb = statistics.median(a), statistics.median(b)
    r = mb / ma if ma else float("nan")
    better = r < 1 if k[2] in LOWER_IS_BETTER else r > 1
    print(f"| {k[0]} | {k[1]} | {k[2]} | {ma:.4g} | {mb:.4g} | {r:.2f} | "
          f"{'yes' if better else 'no'} |")
bad = [k for k, s in sums.items() if len(s) > 1 and k[2] not in ("ms",)
       and k[1] not in ("W1open", "W1stage", "W1commit", "W7", "W7idle", "W6",
                        "W6mixed", "W6fifo", "W6load")]
if bad:
    print("\nchecksums differ between A and B (or across reps):", bad)
    sys.exit(1)
