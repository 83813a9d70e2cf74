#!/usr/bin/env python3
"""Write a sample slc-dump file for trying `slc load` (docs/cli.md).

Keys are 16 bytes shaped like UUIDv7: a 6-byte big-endian millisecond
timestamp that grows with every entry, then 10 random bytes, so the output
is in key order and loads into an ordered cache. The revision is the
timestamp in nanoseconds; the 8 index bytes are a little-endian u32 "size"
and a u32 "checksum". The output is exactly what `slc dump` prints for the
cache it builds, so `slc dump` after `slc load` reproduces it byte for byte.

    python3 tools/gen-sample.py --count 1000000 > sample.dump
"""
import argparse
import random
import sys

BASE_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--count", type=int, default=1_000_000,
                    help="entries to write (default 1000000)")
    ap.add_argument("--capacity", type=int, default=0,
                    help="cap= in the header (default: --count)")
    ap.add_argument("--seed", type=int, default=1, help="random seed")
    args = ap.parse_args()
    if args.count < 0 or args.capacity < 0:
        ap.error("--count and --capacity must not be negative")
    cap = args.capacity or max(args.count, 1)
    if cap < args.count:
        ap.error("--capacity is below --count")

    rng = random.Random(args.seed)
    out = sys.stdout
    user_data = b"gen-sample.py seed %d" % args.seed
    out.write("slc-dump 1 key_size=16 index_size=8 cap=%d user_version=1 "
              "ordered=1\n" % cap)
    out.write("flags 1\n")
    out.write("data %s\n" % user_data.ljust(64, b"\0").hex())
    chunk = []
    ms = BASE_MS
    for _ in range(args.count):
        ms += rng.randint(1, 3)  # strictly increasing: keys stay sorted
        key = ms.to_bytes(6, "big") + rng.getrandbits(80).to_bytes(10, "big")
        index = rng.randint(0, 1 << 24).to_bytes(4, "little") + \
            rng.getrandbits(32).to_bytes(4, "little")
        chunk.append("put %s %d %s\n" % (key.hex(), ms * 1_000_000,
                                         index.hex()))
        if len(chunk) == 10000:
            out.write("".join(chunk))
            chunk.clear()
    out.write("".join(chunk))
    out.write("end %d\n" % args.count)


if __name__ == "__main__":
    main()
