#!/usr/bin/env python3
"""Per-call cost of a Python get against the C slc_get on the same file.

    SLOTCACHE_LIBRARY=_build/x/libslotcache.so python3 bindings/python/bench_get.py

Writes a cache of N entries (16-byte keys, 8-byte index), then times get
hits over the same key sequence three ways: Cache.get, the bare ctypes call
of slc_get (what the binding cannot avoid), and a C loop calling slc_get
(compiled here with cc against the same shared library). Best of 5 runs.
Not a test: numbers depend on the machine; docs/python.md quotes them.
"""
import ctypes
import os
import random
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import slotcache  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
N, GETS, RUNS = 100_000, 300_000, 5

C_LOOP = r"""
#include <slotcache.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
/* Keys as bench_get.py makes them: i as 8 little-endian bytes, twice. */
int main(int argc, char **argv)
{
    long n = atol(argv[2]), gets = atol(argv[3]), runs = atol(argv[4]);
    unsigned seed = 12345;
    slc_options o = {16, 8, 0, 0, 0};
    slc_cache *c;
    if (slc_open(argv[1], &o, &c) != SLC_OK)
        return 1;
    unsigned char (*keys)[16] = malloc((size_t)gets * 16);
    for (long g = 0; g < gets; g++) {
        seed = seed * 1103515245u + 12345u;
        unsigned long long i = (seed >> 8) % (unsigned long long)n;
        for (int b = 0; b < 8; b++)
            keys[g][b] = keys[g][b + 8] = (unsigned char)(i >> (8 * b));
    }
    double best = 1e30;
    long hits = 0;
    for (long r = 0; r < runs; r++) {
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        for (long g = 0; g < gets; g++) {
            long long rev;
            unsigned char idx[8];
            hits += slc_get(c, keys[g], 16, (int64_t *)&rev, idx, 8) == SLC_OK;
        }
        clock_gettime(CLOCK_MONOTONIC, &t1);
        double ns = ((t1.tv_sec - t0.tv_sec) * 1e9 + (t1.tv_nsec - t0.tv_nsec)) / gets;
        if (ns < best)
            best = ns;
    }
    printf("%.1f %ld\n", best, hits);
    slc_close(c);
    return 0;
}
"""


def make_keys():
    # The same LCG as the C loop, so both look up the same sequence.
    seed, keys = 12345, []
    for _ in range(GETS):
        seed = (seed * 1103515245 + 12345) & 0xFFFFFFFF
        k = ((seed >> 8) % N).to_bytes(8, "little")
        keys.append(k + k)
    return keys


def best_ns(fn, keys):
    best = float("inf")
    for _ in range(RUNS):
        t0 = time.perf_counter_ns()
        fn(keys)
        best = min(best, (time.perf_counter_ns() - t0) / len(keys))
    return best


def main():
    lib = os.environ.get("SLOTCACHE_LIBRARY")
    if not lib:
        sys.exit("set SLOTCACHE_LIBRARY to the path of libslotcache.so")
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "bench.slc")
        with slotcache.open(path, key_size=16, index_size=8, slot_capacity=N) as c:
            with c.writer() as w:
                for i in range(N):
                    k = i.to_bytes(8, "little")
                    w.put(k + k, i, k)
        keys = make_keys()

        exe = os.path.join(tmp, "cloop")
        subprocess.run(["cc", "-O2", "-x", "c", "-", "-x", "none", "-I", os.path.join(ROOT, "include"),
                        lib, "-Wl,-rpath," + os.path.dirname(os.path.abspath(lib)),
                        "-o", exe], input=C_LOOP, text=True, check=True)
        out = subprocess.run([exe, path, str(N), str(GETS), str(RUNS)],
                             capture_output=True, text=True, check=True).stdout.split()
        c_ns, c_hits = float(out[0]), int(out[1])
        assert c_hits == GETS * RUNS, "the C loop missed keys"

        with slotcache.open(path, key_size=16, index_size=8) as c:
            def binding(ks):
                get = c.get
                for k in ks:
                    get(k)

            raw_get, h = slotcache._lib.slc_get, c._h
            rev, buf = ctypes.c_int64(), ctypes.create_string_buffer(8)
            rev_ref = ctypes.byref(rev)

            def bare(ks):
                for k in ks:
                    raw_get(h, k, 16, rev_ref, buf, 8)

            assert all(c.get(k) is not None for k in keys[:1000])
            py_ns, bare_ns = best_ns(binding, keys), best_ns(bare, keys)

    print(f"get hit, {N:,} entries, 16-byte keys, {GETS:,} gets, best of {RUNS}:")
    print(f"  C slc_get           {c_ns:8.1f} ns/call")
    print(f"  ctypes slc_get      {bare_ns:8.1f} ns/call  (+{bare_ns - c_ns:.0f} ns)")
    print(f"  Python Cache.get    {py_ns:8.1f} ns/call  (+{py_ns - c_ns:.0f} ns, "
          f"{py_ns / c_ns:.1f}x)")


if __name__ == "__main__":
    main()
