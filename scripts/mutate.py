#!/usr/bin/env python3
"""Mutation testing for libslotcache: plant one known bug at a time in src/,
rebuild, run the fast tests, and count how many bugs a test catches.

The mutants live in scripts/mutants.txt (the stable files) and
scripts/mutants-moving.txt (files under active rewrite). Record format, one
record per blank-line-separated block, lines `key: value`:

    id: read-key-skip-word0
    file: src/read.c
    find: for (uint32_t i = 0; i < full; i++)
    replace: for (uint32_t i = 1; i < full; i++)
    bug: the slot-key comparison skips the first 8-byte word
    equivalent: reason            (optional: the mutant cannot change behaviour)

`find` must occur exactly once in `file`; in find/replace, `\\n` stands for a
newline and `\\\\` for a backslash. Lines starting with `#` are comments.

The tree is copied (git ls-files, so a clean clone is enough) to a temporary
directory and built once with gcc, Release; each mutant is then applied,
rebuilt incrementally and tested. The fast tests run first, in an order that
kills most mutants early; every test has a timeout of 10 times its time on
the unmutated tree, at least 10 s (a timeout counts as a kill); a mutant that
survives them also meets the slow tests (measured: test_proc_crash alone takes over
half of the suite's time). The last line of output is

    mutation: K killed of N (E equivalent): S%

with S = K / (N - E). Exit status: 0, or 1 when a record is malformed or a
`find` text does not occur exactly once (nothing runs then), or 2 when a
mutant fails to build or the unmutated tree fails its tests.
"""
import argparse
import concurrent.futures
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_LISTS = ["scripts/mutants.txt"]
MOVING_LIST = "scripts/mutants-moving.txt"
# Tests run only for mutants that survive all the others. Measured on the
# 2-core build machine (gcc Release): test_proc_crash ~5 s, more than all
# other tests together, every other test under 1 s. Any other test that
# takes over SLOW_SECONDS in the unmutated run joins them.
SLOW = {"test_proc_crash"}
SLOW_SECONDS = 3.0
# Tests that catch most mutants cheaply go first (a mutant stops at its
# first failing test); the rest follow in name order.
FIRST = ["test_survivors", "test_validation", "test_api", "test_writer",
         "test_conformance",
         "test_get_many", "test_scan", "test_format", "test_model"]


def unescape(s):
    out, i = [], 0
    while i < len(s):
        if s[i] == "\\" and i + 1 < len(s) and s[i + 1] in "n\\":
            out.append("\n" if s[i + 1] == "n" else "\\")
            i += 2
        else:
            out.append(s[i])
            i += 1
    return "".join(out)


def parse_list(path):
    """Records of one list file; raises ValueError naming the line."""
    records, cur, start = [], {}, 0
    with open(path, encoding="utf-8") as f:
        lines = f.read().split("\n")
    for no, line in enumerate(lines + [""], 1):
        if line.startswith("#"):
            continue
        if not line.strip():
            if cur:
                for k in ("id", "file", "find", "replace", "bug"):
                    if k not in cur:
                        raise ValueError(f"{path}:{start}: record lacks '{k}:'")
                cur["where"] = f"{os.path.relpath(path, ROOT)}:{start}"
                records.append(cur)
                cur = {}
            continue
        key, sep, val = line.partition(": ")
        if not sep and line.endswith(":"):
            key, sep, val = line[:-1], ":", ""
        if not sep or key not in ("id", "file", "find", "replace", "bug",
                                  "equivalent"):
            raise ValueError(f"{path}:{no}: expected 'key: value', got {line!r}")
        if key in cur:
            raise ValueError(f"{path}:{no}: '{key}' given twice")
        if not cur:
            start = no
        cur[key] = unescape(val) if key in ("find", "replace") else val
    return records


def check_records(records, root):
    """Every problem with the list, before anything is built."""
    errors, seen = [], set()
    for r in records:
        if r["id"] in seen:
            errors.append(f"{r['where']}: duplicate id {r['id']}")
        seen.add(r["id"])
        path = os.path.join(root, r["file"])
        if not os.path.isfile(path):
            errors.append(f"{r['where']} ({r['id']}): no file {r['file']}")
            continue
        with open(path, encoding="utf-8") as f:
            n = f.read().count(r["find"])
        if n != 1:
            errors.append(f"{r['where']} ({r['id']}): find text occurs {n} "
                          f"times in {r['file']} (must be exactly once): "
                          f"{r['find']!r}")
        if r["find"] == r["replace"]:
            errors.append(f"{r['where']} ({r['id']}): replace equals find")
    return errors


def run(cmd, cwd, timeout=None, env=None):
    return subprocess.run(cmd, cwd=cwd, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, timeout=timeout, env=env)


def copy_tree(dst):
    """The tracked files of the work tree (with local edits), not _build."""
    try:
        out = run(["git", "ls-files", "-z", "--cached", "--others",
                   "--exclude-standard"], ROOT).stdout
        files = [f for f in out.decode().split("\0") if f]
    except OSError:
        files = []
    if not files:
        shutil.copytree(ROOT, dst, ignore=shutil.ignore_patterns(
            "_build*", "build*", ".git"))
        return
    for f in files:
        src = os.path.join(ROOT, f)
        if not os.path.isfile(src):
            continue  # deleted in the work tree
        os.makedirs(os.path.dirname(os.path.join(dst, f)), exist_ok=True)
        shutil.copy2(src, os.path.join(dst, f), follow_symlinks=False)


class Worker:
    """One copy of the tree and its build directory."""

    def __init__(self, base, n, jobs):
        self.src = os.path.join(base, f"tree{n}")
        self.build = os.path.join(base, f"build{n}")
        self.jobs = jobs
        copy_tree(self.src)

    def configure(self):
        r = run(["cmake", "-S", self.src, "-B", self.build,
                 "-DCMAKE_BUILD_TYPE=Release", "-DCMAKE_C_COMPILER=gcc",
                 "-DSLOTCACHE_BUILD_TOOLS=OFF", "-DSLOTCACHE_BUILD_EXAMPLES=OFF",
                 "-DSLOTCACHE_BUILD_SHARED=OFF", "-DSLOTCACHE_INSTALL=OFF",
                 "-DSLOTCACHE_WERROR=OFF"], ROOT)
        if r.returncode:
            sys.exit("mutate: cmake failed:\n" + r.stdout.decode(errors="replace"))

    def make(self):
        r = run(["cmake", "--build", self.build, "-j", str(self.jobs)], ROOT)
        return r.returncode == 0, r.stdout.decode(errors="replace")

    def tests(self):
        """Test names; their command lines come from ctest, since some
        tests take arguments (the fuzz regression replays: folders)."""
        r = run(["ctest", "--test-dir", self.build, "--show-only=json-v1"],
                ROOT)
        self.commands = {}
        for t in json.loads(r.stdout.decode()).get("tests", []):
            if t.get("command") and t["name"].startswith("test_"):
                props = {p["name"]: p["value"]
                         for p in t.get("properties", [])}
                self.commands[t["name"]] = (
                    t["command"],
                    props.get("WORKING_DIRECTORY",
                              os.path.join(self.build, "tests")),
                    props.get("ENVIRONMENT", []))
        return sorted(self.commands)

    def run_test(self, name, timeout):
        """(verdict, seconds, output): 'pass', 'fail' or 'timeout'."""
        env = dict(os.environ)
        env.pop("CI", None)  # a mutant must not turn a skip into a failure
        t = time.monotonic()
        out = b""
        cmd, cwd, extra = self.commands[name]
        for kv in extra:
            k, _, v = kv.partition("=")
            env[k] = v
        try:
            r = run(cmd, cwd, timeout, env)
            v = "pass" if r.returncode == 0 else "fail"
            out = r.stdout
        except subprocess.TimeoutExpired as e:
            v = "timeout"
            out = e.stdout or b""
        return v, time.monotonic() - t, out.decode(errors="replace")

    def apply(self, rec):
        path = os.path.join(self.src, rec["file"])
        with open(path, encoding="utf-8") as f:
            orig = f.read()
        with open(path, "w", encoding="utf-8") as f:
            f.write(orig.replace(rec["find"], rec["replace"], 1))
        return path, orig


def order_tests(names, times):
    slow = [n for n in names if n in SLOW or times[n] > SLOW_SECONDS]
    fast = [n for n in names if n not in slow]
    fast.sort(key=lambda n: (FIRST.index(n) if n in FIRST else len(FIRST), n))
    return fast, slow


def mutant(worker, rec, fast, slow, timeouts):
    path, orig = worker.apply(rec)
    try:
        ok, log = worker.make()
        if not ok:
            return {"status": "build-failed", "by": "", "log": log}
        for stage in (fast, slow):
            for name in stage:
                v, _, out = worker.run_test(name, timeouts[name])
                if v != "pass":
                    return {"status": "killed", "log": out,
                            "by": name + (" (timeout)" if v == "timeout" else "")}
        return {"status": "survived", "by": ""}
    finally:
        with open(path, "w", encoding="utf-8") as f:
            f.write(orig)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--list-file", action="append", metavar="PATH",
                    help="mutant list(s) to use (default scripts/mutants.txt)")
    ap.add_argument("--moving", action="store_true",
                    help="also use " + MOVING_LIST)
    ap.add_argument("--only", metavar="FILE", action="append",
                    help="only mutants of this source file (e.g. src/read.c)")
    ap.add_argument("--id", action="append", metavar="ID",
                    help="only the mutant(s) with this id")
    ap.add_argument("--list", action="store_true",
                    help="check and print the mutants; build nothing")
    ap.add_argument("-j", type=int, default=1, metavar="N",
                    help="mutants tested in parallel (each its own build)")
    ap.add_argument("--build-jobs", type=int, default=2, metavar="N")
    ap.add_argument("--keep", action="store_true",
                    help="keep the temporary trees")
    args = ap.parse_args()

    lists = args.list_file or list(DEFAULT_LISTS)
    if args.moving:
        lists.append(MOVING_LIST)
    records = []
    try:
        for lf in lists:
            records += parse_list(lf if os.path.isabs(lf)
                                  else os.path.join(ROOT, lf))
    except (OSError, ValueError) as e:
        print(f"mutate: {e}", file=sys.stderr)
        return 1
    errors = check_records(records, ROOT)
    if errors:
        print("mutate: the mutant list does not match the sources:",
              file=sys.stderr)
        for e in errors:
            print("  " + e, file=sys.stderr)
        return 1
    if args.only:
        only = {os.path.normpath(o) for o in args.only}
        records = [r for r in records if os.path.normpath(r["file"]) in only]
    if args.id:
        records = [r for r in records if r["id"] in args.id]
    if not records:
        print("mutate: no mutant selected", file=sys.stderr)
        return 1
    if args.list:
        for r in records:
            eq = "  [equivalent]" if "equivalent" in r else ""
            print(f"{r['id']:<34} {r['file']:<18} {r['bug']}{eq}")
        files = sorted({r["file"] for r in records})
        print(f"{len(records)} mutants over {len(files)} files: "
              + " ".join(files))
        return 0

    base = tempfile.mkdtemp(prefix="slc-mutate-")
    nworkers = max(1, min(args.j, len(records)))
    t0 = time.monotonic()
    try:
        workers = [Worker(base, n, args.build_jobs) for n in range(nworkers)]
        for w in workers:
            w.configure()
            ok, log = w.make()
            if not ok:
                print(log[-4000:], file=sys.stderr)
                print("mutate: the unmutated tree does not build",
                      file=sys.stderr)
                return 2
        names = workers[0].tests()
        for w in workers[1:]:
            w.tests()
        times = {}
        for name in names:
            v, sec, out = workers[0].run_test(name, 600)
            if v != "pass":
                print(out[-3000:], file=sys.stderr)
                print(f"mutate: {name} fails on the unmutated tree ({v})",
                      file=sys.stderr)
                return 2
            times[name] = sec
        fast, slow = order_tests(names, times)
        # Ten times the normal run time, never under 10 s: a mutant that
        # makes a test hang (or loop slowly) counts as killed, while a test
        # slowed down by other work on a shared machine does not (5x / 5 s
        # once timed out test_model on a mutant that compiles to the
        # original binary).
        timeouts = {n: max(10.0, 10 * times[n]) for n in names}
        print(f"baseline: {len(fast)} fast tests "
              f"({sum(times[n] for n in fast):.1f} s), slow for survivors only:"
              f" {', '.join(slow) or 'none'}", flush=True)

        results = {}
        free = list(workers)
        with concurrent.futures.ThreadPoolExecutor(nworkers) as pool:
            pending = {}
            queue = list(records)
            while queue or pending:
                while queue and free:
                    w, r = free.pop(), queue.pop(0)
                    pending[pool.submit(mutant, w, r, fast, slow,
                                        timeouts)] = (w, r)
                done, _ = concurrent.futures.wait(
                    pending, return_when=concurrent.futures.FIRST_COMPLETED)
                for fut in done:
                    w, r = pending.pop(fut)
                    free.append(w)
                    res = fut.result()
                    results[r["id"]] = res
                    print(f"  {res['status']:<12} {r['id']}"
                          + (f"  by {res['by']}" if res["by"] else ""),
                          flush=True)
    finally:
        if args.keep:
            print(f"mutate: trees kept in {base}")
        else:
            shutil.rmtree(base, ignore_errors=True)

    # The table, in list order.
    print()
    print(f"{'id':<34} {'file':<18} {'result':<22} bug")
    killed = equivalent = failed = 0
    for r in records:
        res = results[r["id"]]
        st = res["status"]
        if "equivalent" in r:
            equivalent += 1
            shown = "equivalent" + (f" (KILLED: {res['by']})"
                                    if st == "killed" else "")
        else:
            shown = st
            if st == "killed":
                killed += 1
                shown = "killed: " + res["by"]
        if st == "build-failed":
            failed += 1
        print(f"{r['id']:<34} {r['file']:<18} {shown:<22} {r['bug']}")
    survivors = [r["id"] for r in records if "equivalent" not in r
                 and results[r["id"]]["status"] == "survived"]
    if survivors:
        print("survivors: " + " ".join(survivors))
    # An equivalent mutant that a test "killed" is either not equivalent or
    # met a flaky test: show what the test said.
    for r in records:
        res = results[r["id"]]
        if "equivalent" in r and res["status"] == "killed":
            print(f"--- {r['id']} (marked equivalent) failed {res['by']}:\n"
                  + res["log"][-1500:])
    if failed:
        print(f"{failed} mutant(s) did not build: fix the list", file=sys.stderr)
        for r in records:
            if results[r["id"]]["status"] == "build-failed":
                print(f"--- {r['id']}\n"
                      + results[r["id"]]["log"][-1500:], file=sys.stderr)
    n = len(records)
    live = n - equivalent
    score = 100.0 * killed / live if live else 100.0
    print(f"elapsed: {time.monotonic() - t0:.0f} s")
    print(f"mutation: {killed} killed of {n} ({equivalent} equivalent): "
          f"{score:.1f}%")
    return 2 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
