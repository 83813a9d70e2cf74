#!/usr/bin/env python3
"""Run the benchmark suite: every system on the same workload, interleaved,
several repetitions; print medians, ratios to libslotcache and to the
machine's limits, and the goals of issue 6 as met / not met.

    python3 bench/run.py                 # default preset (1,000,000 entries)
    python3 bench/run.py --preset small  # quick check (10,000 entries)

It configures and builds _build/bench (Release, -j2) unless --no-build.
Raw result lines go to <build>/bench-raw.txt, the report to stdout and,
with --out FILE, to FILE as markdown.
"""
import argparse
import os
import platform
import shlex
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SYSTEMS = ["limits", "slotcache", "lmdb", "tinycdb"]
BINARY = {"limits": "bench_limits", "slotcache": "bench_slc",
          "lmdb": "bench_lmdb", "tinycdb": "bench_cdb"}

# (workload, metric, higher is better, description)
ROWS = [
    ("W1", "ops_per_s", True, "bulk load, one session/txn (op/s)"),
    ("W1rebuild", "ops_per_s", True, "  rebuild of the same records, slc_rebuild_* incl. durable publish (op/s)"),
    ("W1durable", "ops_per_s", True, "  tinycdb: cdb_make + fsync, the durable peer of W1rebuild (op/s)"),
    ("W1rebuildfill", "ops_per_s", True, "  rebuild puts only (index, header, fsync come in publish) (op/s)"),
    ("W1rebuildfit", "ops_per_s", True, "  rebuild with capacity = records (2 buckets each, not W1's 4), durable (op/s)"),
    ("W1rebuildfitfill", "ops_per_s", True, "  its puts only (op/s)"),
    ("W1stage", "ns_per_op", False, "  W1 staging puts (ns/op)"),
    ("W1commit", "ns_per_op", False, "  W1 commit: plan + apply (ns/op)"),
    ("W2", "ops_per_s", True, "1,000 commits x 100 upserts (op/s)"),
    ("W3", "ns_per_op", False, "random get, hit (ns/op)"),
    ("W3many", "ns_per_op", False, "  slotcache slc_get_many, same keys (ns/get)"),
    ("W4", "ns_per_op", False, "random get, miss (ns/op)"),
    ("W5snap", "GB_per_s", True, "scan + 1 % filter, snapshot (GB/s of slots)"),
    ("W5stream", "GB_per_s", True, "scan + 1 % filter, streaming (GB/s)"),
    ("W5matchsnap", "GB_per_s", True, "slc_scan_match index[0]==0, snapshot (GB/s)"),
    ("W5matchstream", "GB_per_s", True, "slc_scan_match, streaming (GB/s)"),
    ("W5iter", "GB_per_s", True, "full iteration + filter, peers (GB/s equiv.)"),
    ("W5snap", "Mentries_per_s", True, "scan, snapshot (M entries/s)"),
    ("W5iter", "Mentries_per_s", True, "iteration, peers (M entries/s)"),
    ("W6", "median_commit_us", False, "durable commit of 10 upserts, durable store, median (us)"),
    ("W6", "bytes_written_per_commit", False, "  W6 bytes dirtied per commit (/proc/self/io)"),
    ("W6", "device_bytes_per_commit", False, "  W6 bytes the disk wrote per commit (all processes)"),
    ("W6fifo", "median_commit_us", False, "  W6fifo: the same at SCHED_FIFO (no wait for a CPU after a flush), median (us)"),
    ("W6fifo", "device_bytes_per_commit", False, "  W6fifo bytes the disk wrote per commit"),
    ("W6load", "ops_per_s", True, "  W6 store: durable load, one session/txn, not in W6 times (op/s)"),
    ("W6mixed", "median_commit_us", False, "W6mixed: same commits on the W1 store (loaded without sync), median (us)"),
    ("W6mixed", "bytes_written_per_commit", False, "  W6mixed bytes dirtied per commit"),
    ("W6mixed", "device_bytes_per_commit", False, "  W6mixed bytes the disk wrote per commit"),
    ("W7idle", "reads_per_s", True, "2 reader processes, no writer (get/s)"),
    ("W7", "reads_per_s", True, "2 readers, writer 1 commit/ms (get/s)"),
    ("W7", "commits_per_s", True, "writer commits achieved (commit/s)"),
    ("W7", "busy_reads", False, "reads that returned SLC_EBUSY"),
]
LIMIT_ROWS = [
    ("BW", "GB_per_s", "streaming read bandwidth, 1 thread, 512 MiB (GB/s)"),
    ("BWsum", "GB_per_s", "  of which: sum of every word (GB/s)"),
    ("BWlines", "GB_per_s", "  of which: one word per 64-byte line (GB/s)"),
    ("BWslots", "GB_per_s", "same, buffer = W5 slot array size (GB/s, info)"),
    ("LAT", "ns_per_access", "dependent random access, 4 KiB pages (ns)"),
    ("LAT8", "ns_per_access", "8 independent chains, per access (ns)"),
    ("LAThuge", "ns_per_access", "dependent access, huge pages (ns, info)"),
]
# Workloads whose checksums must agree across systems (W5 variants compare
# with each other).
CHECKED = {"W1": "W1", "W2": "W2", "W3": "W3", "W4": "W4", "W3batch": "W3",
           "W3many": "W3", "W5matchsnap": "W5", "W5matchstream": "W5",
           "W5snap": "W5", "W5stream": "W5", "W5iter": "W5", "W5": "W5",
           "W6load": "W6load", "W5callback": "W5"}


def sh(cmd):
    try:
        return subprocess.run(cmd, shell=True, capture_output=True, text=True,
                              timeout=60).stdout.strip()
    except Exception as e:  # machine facts are best effort
        return f"? ({e})"


def machine():
    cpu = sh("grep -m1 'model name' /proc/cpuinfo | cut -d: -f2").strip()
    caches = sh("lscpu | grep -E 'L1d|L2|L3' | tr -s ' ' | paste -sd ';'")
    mem = sh("grep MemTotal /proc/meminfo | tr -s ' '")
    os.makedirs(args.dir, exist_ok=True)
    fs = sh(f"df -T {args.dir} | tail -1 | awk '{{print $2\" on \"$1}}'")
    return {
        "cpu": f"{cpu} ({os.cpu_count()} online CPUs; {caches})",
        "memory": mem,
        "kernel": platform.release(),
        "compiler": sh("cc --version | head -1"),
        "lmdb": sh("dpkg-query -W -f='${Version}' liblmdb-dev"),
        "tinycdb": sh("dpkg-query -W -f='${Version}' libcdb-dev"),
        "filesystem": fs,
        "library": sh(f"git -C {ROOT} log -1 --format='%h %cd' --date=iso -- src include")
                   + sh(f"git -C {ROOT} diff --quiet HEAD -- src include || echo ' (+ uncommitted changes)'"),
        "virtualisation": sh("lscpu | grep -i 'hypervisor vendor' | tr -s ' '"),
    }


def loadavg():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def wait_for_quiet():
    """With --quiet-load X, wait (up to --quiet-wait s) until the 1-minute
    load average is below X: the machine is shared, and a repetition run
    beside a test suite measures the test suite."""
    if not args.quiet_load:
        return
    t0 = time.time()
    while float(loadavg().split()[0]) >= args.quiet_load and \
            time.time() - t0 < args.quiet_wait:
        time.sleep(5)


def build():
    b = args.build
    subprocess.run(["cmake", "-S", ROOT, "-B", b, "-DCMAKE_BUILD_TYPE=Release",
                    "-DSLOTCACHE_BUILD_BENCH=ON", "-DSLOTCACHE_BUILD_TESTS=OFF",
                    "-DSLOTCACHE_BUILD_EXAMPLES=OFF",
                    "-DSLOTCACHE_BUILD_SHARED=OFF"], check=True,
                   stdout=subprocess.DEVNULL)
    subprocess.run(["cmake", "--build", b, "-j2"], check=True,
                   stdout=subprocess.DEVNULL)


def run_one(system, raw):
    exe = os.path.join(args.build, "bench", BINARY[system])
    cmd = [exe, "--preset", args.preset, "--dir", args.dir] + args.extra
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit(f"{system} failed ({p.returncode}): {p.stderr.strip()}")
    out = []
    for line in p.stdout.splitlines():
        raw.write(line + "\n")
        f = line.split()
        if len(f) == 7 and f[0] == "R":
            out.append((f[1], f[2], f[3], float(f[4]), f[6]))
    return out


def fmt(v):
    if v is None:
        return "-"
    if v >= 1e6:
        return f"{v / 1e6:.2f} M"
    if v >= 1000:
        return f"{v / 1000:.1f} k"
    if v >= 100:
        return f"{v:.0f}"
    return f"{v:.3g}"


def main():
    if not args.no_build and not args.from_raw:
        build()
    systems = [s for s in SYSTEMS if s in args.systems.split(",")]
    for s in systems if not args.from_raw else []:
        if not os.path.exists(os.path.join(args.build, "bench", BINARY[s])):
            sys.exit(f"missing driver for {s}: build with the bench option")
    facts = machine()
    load_before = loadavg()
    rep_loads = []  # 1-min load average as each repetition started
    vals = {}     # (sys, workload, metric) -> [values]
    sums = {}     # (sys, workload) -> set of checksums
    t0 = time.time()
    if args.from_raw:  # re-render a previous run's raw lines
        reps = set()
        for line in open(args.from_raw):
            f = line.split()
            if line.startswith("# rep "):
                if f[2] not in reps:
                    reps.add(f[2])
                    rep_loads.append(f[5])
            elif line.startswith("# library "):
                facts["library"] = line[len("# library "):].strip()
            elif len(f) == 7 and f[0] == "R":
                vals.setdefault((f[1], f[2], f[3]), []).append(float(f[4]))
                sums.setdefault((f[1], f[2]), set()).add(f[6])
        args.reps = len(reps)
        load_before = load_after = "(not recorded in the raw file)"
    else:
        load_after = None
    with open(os.devnull if args.from_raw else
              os.path.join(args.build, "bench-raw.txt"), "w") as raw:
        raw.write(f"# library {facts['library']}\n")
        for rep in range(0 if args.from_raw else args.reps):
            wait_for_quiet()
            rep_loads.append(loadavg().split()[0])
            # Rotate the order so no system always runs first or last.
            order = systems[rep % len(systems):] + systems[:rep % len(systems)]
            for s in order:
                raw.write(f"# rep {rep} {s} load {loadavg()}\n")
                for sysname, w, m, v, ck in run_one(s, raw):
                    vals.setdefault((sysname, w, m), []).append(v)
                    sums.setdefault((sysname, w), set()).add(ck)
            print(f"rep {rep + 1}/{args.reps} done, load {loadavg()}",
                  file=sys.stderr)
    load_after = load_after or loadavg()
    elapsed = time.time() - t0
    med = {k: statistics.median(v) for k, v in vals.items()}
    spread = {k: (min(v), max(v)) for k, v in vals.items()}

    # Checksums: each system must be self-consistent across reps and agree
    # with the others on the same workload.
    problems = []
    groups = {}
    for (s, w), cks in sums.items():
        if w not in CHECKED:
            continue
        if len(cks) != 1:
            problems.append(f"{s} {w}: checksums differ between reps {cks}")
        groups.setdefault(CHECKED[w], set()).update(cks)
    for g, cks in groups.items():
        if len(cks) != 1:
            problems.append(f"{g}: systems disagree {sorted(cks)}")

    L = []
    L.append(f"Preset `{args.preset}`, {args.reps} repetitions, systems "
             f"interleaved (order rotated per repetition); medians, with "
             f"min-max over repetitions. Run took {elapsed:.0f} s.")
    L.append("")
    L.append("| machine | |")
    L.append("|---|---|")
    for k, v in facts.items():
        L.append(f"| {k} | {v} |")
    L.append(f"| load average (1/5/15 min) | before {load_before}; "
             f"after {load_after}; 1-min at each repetition's start: "
             f"{', '.join(rep_loads)} |")
    L.append("")
    L.append("Machine limits (bench_limits):")
    L.append("")
    L.append("| limit | median | min-max |")
    L.append("|---|---|---|")
    for w, m, d in LIMIT_ROWS:
        k = ("limits", w, m)
        if k in med:
            lo, hi = spread[k]
            L.append(f"| {d} | {med[k]:.3g} | {lo:.3g}-{hi:.3g} |")
    L.append("")
    L.append("| workload | slotcache | lmdb | tinycdb | slotcache advantage "
             "vs lmdb | vs tinycdb |")
    L.append("|---|---|---|---|---|---|")

    def get(s, w, m):
        return med.get((s, w, m))

    def adv(a, b, higher):
        """How many times better slotcache (a) is than peer b."""
        if a is None or b is None or a == 0 or b == 0:
            return "-"
        return f"{(a / b if higher else b / a):.2f}x"

    for w, m, higher, d in ROWS:
        a = get("slotcache", w, m)
        if w == "W5iter":
            continue  # peers' scans are compared on the W5snap rows
        pw = "W5iter" if w.startswith("W5") else ("W3" if w == "W3many" else w)
        lm, cd = get("lmdb", pw, m), get("tinycdb", pw, m)
        if a is None and lm is None and cd is None:
            continue
        if m == "busy_reads":
            L.append(f"| {d} | {fmt(a)} | {fmt(lm)} | - | - | - |")
            continue
        cell = lambda s, ww: (fmt(get(s, ww, m)) +
                              (f" ({fmt(spread[(s, ww, m)][0])}-"
                               f"{fmt(spread[(s, ww, m)][1])})"
                               if (s, ww, m) in spread else ""))
        L.append(f"| {d} | {cell('slotcache', w)} | {cell('lmdb', pw)} | "
                 f"{cell('tinycdb', pw)} | {adv(a, lm, higher)} | "
                 f"{adv(a, cd, higher)} |")
    L.append("")

    # Goals of issue 6, each from this run's medians.
    g = []

    def goal(name, ratio, target, higher, how):
        if ratio is None:
            g.append(f"| {name} | - | {how} | not measured |")
            return
        ok = ratio >= target if higher else ratio <= target
        sign = ">=" if higher else "<="
        g.append(f"| {name} | {ratio:.3f} | {sign} {target} ({how}) | "
                 f"{'met' if ok else 'NOT met'} |")

    def ratio(x, y):
        return x / y if x is not None and y not in (None, 0) else None

    s3, l3, c3 = (get(s, "W3", "ns_per_op") for s in
                  ("slotcache", "lmdb", "tinycdb"))
    lat, bw = get("limits", "LAT", "ns_per_access"), get("limits", "BW", "GB_per_s")
    goal("W3 get-hit vs LMDB mdb_get", ratio(l3, s3), 2.5, True,
         "lmdb ns / slotcache ns")
    goal("W3 get-hit vs tinycdb", ratio(c3, s3), 1.5, True,
         "tinycdb ns / slotcache ns")
    goal("W3 get-hit vs one dependent DRAM access", ratio(s3, lat), 1.5, False,
         "slotcache ns / LAT ns")
    goal("W5 snapshot scan vs streaming bandwidth",
         ratio(get("slotcache", "W5snap", "GB_per_s"), bw), 0.8, True,
         "slot GB/s / BW")
    goal("W5 streaming scan vs streaming bandwidth",
         ratio(get("slotcache", "W5stream", "GB_per_s"), bw), 0.8, True,
         "slot GB/s / BW")
    goal("W5 slc_scan_match snapshot vs streaming bandwidth",
         ratio(get("slotcache", "W5matchsnap", "GB_per_s"), bw), 0.8, True,
         "slot GB/s / BW")
    goal("W5 slc_scan_match streaming vs streaming bandwidth",
         ratio(get("slotcache", "W5matchstream", "GB_per_s"), bw), 0.8, True,
         "slot GB/s / BW")
    goal("W1 bulk load vs LMDB NOSYNC\\|WRITEMAP",
         ratio(get("slotcache", "W1", "ops_per_s"), get("lmdb", "W1", "ops_per_s")),
         3, True, "op/s ratio")
    goal("W1rebuildfit (durable rebuild, sized to its records) vs tinycdb "
         "cdb_make + fsync",
         ratio(get("slotcache", "W1rebuildfit", "ops_per_s"),
               get("tinycdb", "W1durable", "ops_per_s")), 1, True,
         "slotcache op/s / tinycdb op/s")
    goal("W1rebuild (durable rebuild, W1's capacity) vs tinycdb cdb_make + "
         "fsync",
         ratio(get("slotcache", "W1rebuild", "ops_per_s"),
               get("tinycdb", "W1durable", "ops_per_s")), 1, True,
         "slotcache op/s / tinycdb op/s")
    goal("W2 upsert commits vs LMDB NOSYNC\\|WRITEMAP",
         ratio(get("slotcache", "W2", "ops_per_s"), get("lmdb", "W2", "ops_per_s")),
         2, True, "op/s ratio")
    goal("W6 durable commit vs LMDB default sync (durable stores)",
         ratio(get("lmdb", "W6", "median_commit_us"),
               get("slotcache", "W6", "median_commit_us")),
         1, True, "lmdb median / slotcache median")
    wi = [("W3", "ns_per_op", "get hit, specialised for 16-byte keys (ns)"),
          ("W3batch", "ns_per_op", "get hit, groups of 16 with prefetch (ns)"),
          ("W5", "GB_per_s", "scan + filter reading meta and index[0] (GB/s)"),
          ("W5callback", "GB_per_s", "scan with a filter callback per live slot, on the mapping (GB/s)")]
    if any(("whatif", w, m) in med for w, m, _ in wi):
        L.append("What the format allows (bench/whatif.c, same file and "
                 "keys, not library code; evidence for the proposals):")
        L.append("")
        L.append("| what-if loop | median | library equivalent |")
        L.append("|---|---|---|")
        eq = {"W3": ("slotcache", "W3", "ns_per_op"),
              "W3batch": ("slotcache", "W3", "ns_per_op"),
              "W5": ("slotcache", "W5matchstream", "GB_per_s"),
              "W5callback": ("slotcache", "W5stream", "GB_per_s")}
        for w, m, d in wi:
            if ("whatif", w, m) in med:
                L.append(f"| {d} | {fmt(med[('whatif', w, m)])} | "
                         f"{fmt(med.get(eq[w]))} |")
        L.append("")
    L.append("| goal | ratio | target | verdict |")
    L.append("|---|---|---|---|")
    L.extend(g)
    L.append("")
    if problems:
        L.append("CHECKSUM PROBLEMS:")
        L.extend(f"- {p}" for p in problems)
    else:
        L.append("Checksums: every system agrees on W1-W5 (and W2 live "
                 "counts) in every repetition.")
    text = "\n".join(L) + "\n"
    print(text)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text)
    return 1 if problems else 0


ap = argparse.ArgumentParser(description=__doc__,
                             formatter_class=argparse.RawDescriptionHelpFormatter)
ap.add_argument("--preset", default="default", choices=["default", "small"])
ap.add_argument("--reps", type=int, default=5)
ap.add_argument("--build", default=os.path.join(ROOT, "_build", "bench"))
ap.add_argument("--dir", default="/tmp/slc-bench",
                help="scratch directory for store files (local disk)")
ap.add_argument("--systems", default=",".join(SYSTEMS))
ap.add_argument("--no-build", action="store_true")
ap.add_argument("--out", help="also write the markdown report here")
ap.add_argument("--from-raw", help="render the report from a saved bench-raw.txt")
ap.add_argument("--quiet-load", type=float, default=0,
                help="before each repetition wait until the 1-min load is below this")
ap.add_argument("--quiet-wait", type=float, default=300,
                help="longest wait for --quiet-load, seconds")
ap.add_argument("--args", default="",
                help="extra arguments for every driver, one string")
args = ap.parse_args()
args.extra = shlex.split(args.args)
sys.exit(main())
