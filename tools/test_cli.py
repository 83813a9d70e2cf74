#!/usr/bin/env python3
"""CLI tests for slc: exact outputs and exit codes.

usage: test_cli.py PATH/TO/slc PATH/TO/tests/conformance [unittest args]

Files are decoded and patched here straight from the SLC1 layout (spec
sections 3-5) to inject corruption; conformance files are copied to a
temporary directory first and never touched in place.
"""
import json
import os
import random
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import unittest

SLC = None
CONF = None

# Exit codes documented in slc --help and slc(1).
EXIT = {"ok": 0, "notfound": 1, "usage": 2, "input": 3, "ErrCorrupt": 10,
        "ErrIncompatible": 11, "ErrInvalidated": 12, "ErrBusy": 13,
        "ErrFull": 14, "ErrClosed": 15, "ErrWriteback": 16,
        "ErrInvalidInput": 17, "ErrUnordered": 18, "ErrOutOfOrderInsert": 19}


def read(path):
    with open(path) as f:
        return f.read()


def run(*args, stdin=None, timeout=120):
    p = subprocess.run([SLC] + [str(a) for a in args], input=stdin,
                       capture_output=True, text=True, timeout=timeout)
    return p.returncode, p.stdout, p.stderr


# ---- SLC1 layout, independent of the library --------------------------------

def crc32c(data):
    crc = 0xFFFFFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF


def fnv1a64(data):
    h = 0xcbf29ce484222325
    for b in data:
        h = ((h ^ b) * 0x100000001b3) & 0xFFFFFFFFFFFFFFFF
    return h


HDR = {"key_size": (0x0C, "<I"), "index_size": (0x10, "<I"),
       "slot_size": (0x14, "<I"), "flags": (0x1C, "<I"),
       "slot_capacity": (0x20, "<Q"), "slot_highwater": (0x28, "<Q"),
       "live_count": (0x30, "<Q"), "generation": (0x40, "<Q"),
       "bucket_count": (0x48, "<Q"), "bucket_used": (0x50, "<Q"),
       "bucket_tombstones": (0x58, "<Q"), "buckets_offset": (0x68, "<Q"),
       "header_crc32c": (0x70, "<I")}


class Image:
    """A cache file in memory: header fields, slots, buckets, patching."""

    def __init__(self, path):
        self.path = path
        with open(path, "rb") as f:
            self.b = bytearray(f.read())

    def get(self, name):
        off, fmt = HDR[name]
        return struct.unpack_from(fmt, self.b, off)[0]

    def set(self, name, value):
        off, fmt = HDR[name]
        struct.pack_into(fmt, self.b, off, value)

    def fix_crc(self):
        img = bytearray(self.b[:256])
        img[0x40:0x48] = bytes(8)
        img[0x70:0x74] = bytes(4)
        self.set("header_crc32c", crc32c(img))

    def slot(self, i):
        return 256 + i * self.get("slot_size")

    def key(self, i):
        o = self.slot(i) + 8
        return bytes(self.b[o:o + self.get("key_size")])

    def bucket(self, i):
        return self.get("buckets_offset") + 16 * i

    def buckets(self):
        """[(index, hash64, slot_plus1)] of every bucket."""
        return [(i,) + struct.unpack_from("<QQ", self.b, self.bucket(i))
                for i in range(self.get("bucket_count"))]

    def full_buckets(self):
        return [(i, h, sp - 1) for i, h, sp in self.buckets()
                if sp not in (0, 0xFFFFFFFFFFFFFFFF)]

    def save(self, path=None):
        with open(path or self.path, "wb") as f:
            f.write(self.b)


class CliTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="slc-cli-")

    def tearDown(self):
        shutil.rmtree(self.tmp)

    def p(self, name):
        return os.path.join(self.tmp, name)

    def ok(self, *args, stdin=None):
        code, out, err = run(*args, stdin=stdin)
        self.assertEqual(code, 0, "slc %s: %s" % (" ".join(map(str, args)), err))
        return out

    def fails(self, want, *args, stdin=None):
        code, out, err = run(*args, stdin=stdin)
        self.assertEqual(code, want, "slc %s -> %d: %s" %
                         (" ".join(map(str, args)), code, err))
        return out, err

    def make(self, name, key_size, index_size, cap, ordered=False,
             user_version=0):
        path = self.p(name)
        args = ["create", path, "--key-size", key_size, "--index-size",
                index_size, "--capacity", cap, "--user-version", user_version]
        self.ok(*args + (["--ordered"] if ordered else []))
        return path

    def load_text(self, path, text, *extra):
        return self.ok("load", path, "-", *extra, stdin=text)

    def dump(self, path):
        return self.ok("dump", path)

    def gen(self, path):
        return json.loads(self.ok("info", "--json", path))["generation"]


class Usage(CliTest):
    def test_help(self):
        out = self.ok("--help")
        for line in ("  10  SLC_ECORRUPT", "  11  SLC_EINCOMPATIBLE",
                     "  21  SLC_ESYS", "   2  usage error"):
            self.assertIn(line, out)
        for cmd in ("create", "info", "verify", "get", "put", "del", "scan",
                    "dump", "load", "invalidate", "stats", "compact"):
            out = self.ok(cmd, "--help")
            self.assertTrue(out.startswith("usage: slc " + cmd + " "), out)
            self.assertEqual(self.ok("help", cmd), out)

    def test_man_page_lists_the_same_exit_codes(self):
        man = read(os.path.join(CONF, "..", "..", "docs", "slc.1"))
        table = self.ok("--help").split("Exit status:\n")[1].split("\n\n")[0]
        codes = re.findall(r"^ +(\d+)  (\S+)", table, re.M)
        self.assertEqual([int(n) for n, _ in codes],
                         [0, 1, 2, 3] + list(range(10, 22)))
        for num, word in codes:
            self.assertIn(".B %s\n%s" % (num, word), man)

    def test_usage_errors(self):
        path = self.make("u.slc", 8, 4, 10)
        self.fails(2)
        self.fails(2, "frobnicate", path)
        self.fails(2, "info")                       # missing FILE
        self.fails(2, "info", path, "--bogus")
        self.fails(2, "info", path, "--prefix", "00")  # not an info option
        self.fails(2, "get", path)                  # no KEY
        self.fails(2, "get", path, "zz")            # bad hex
        self.fails(2, "get", path, "00" * 9)        # longer than key_size
        self.fails(2, "put", path, "01")            # no REV
        self.fails(2, "put", path, "01", "x")       # bad REV
        self.fails(2, "put", path, "01", "1", "00" * 5)  # index too long
        self.fails(2, "scan", path, "--limit", "-1")
        self.fails(2, "scan", path, "--prefix", "01", "--start", "00")
        self.fails(2, "create", self.p("v.slc"), "--key-size", "8")
        self.fails(2, "load", path, "--batch", "0", stdin="")
        self.fails(2, "load", path, "--batch", "1000001", stdin="")
        _, err = self.fails(3, "create", path, "--key-size", 8,
                            "--capacity", 10)
        self.assertIn("already exists", err)


class Basic(CliTest):
    def test_put_get_del_scan(self):
        path = self.make("b.slc", 8, 4, 10)
        self.assertEqual(self.gen(path), 0)
        self.ok("put", path, "0102", "5", "aabb")
        self.ok("put", "--text", path, "hello", "-7", "hi")
        self.ok("put", path, "ff" * 8, "9223372036854775807", "01020304")
        self.assertEqual(self.gen(path), 6)
        self.assertEqual(self.ok("get", path, "0102"),
                         "0102000000000000 5 aabb0000\n")
        self.assertEqual(self.ok("get", "--text", path, "hello"),
                         '"hello" -7 "hi"\n')
        out, err = self.fails(1, "get", path, "0102", "03")
        self.assertEqual(out, "0102000000000000 5 aabb0000\n")
        self.assertEqual(err, "slc get: 03: not found\n")
        self.assertEqual(self.ok("scan", path),
                         "0102000000000000 5 aabb0000\n"
                         "68656c6c6f000000 -7 68690000\n"
                         "ffffffffffffffff 9223372036854775807 01020304\n")
        self.assertEqual(self.ok("scan", path, "--reverse", "--offset", "1",
                                 "--limit", "1"),
                         "68656c6c6f000000 -7 68690000\n")
        self.assertEqual(self.ok("scan", path, "--count"), "3\n")
        # update in place, then delete
        self.ok("put", path, "0102", "6")
        self.assertEqual(self.ok("get", path, "0102"),
                         "0102000000000000 6 00000000\n")
        self.ok("del", path, "0102")
        self.fails(1, "get", path, "0102")
        g = self.gen(path)
        _, err = self.fails(1, "del", path, "0102")
        self.assertEqual(err, "slc del: 0102: not found\n")
        self.assertEqual(self.gen(path), g)  # nothing deleted: no commit
        info = json.loads(self.ok("info", "--json", path))
        self.assertEqual((info["live_count"], info["slot_highwater"],
                          info["slot_tombstones"], info["bucket_tombstones"]),
                         (2, 3, 1, 1))
        # user header
        self.ok("put", path, "--user-flags", "0x10", "--user-data", "abcd")
        info = json.loads(self.ok("info", "--json", path))
        self.assertEqual(info["user_flags"], 16)
        self.assertEqual(info["user_data"], "abcd" + "00" * 62)
        self.assertEqual(self.ok("verify", path),
                         path + ": OK (2 live entries, 3 allocated slots, "
                         "32 buckets checked)\n")

    def test_index_size_zero_and_text_escapes(self):
        path = self.make("z.slc", 4, 0, 4)
        self.ok("put", "--text", path, 'a"\\', "1")
        self.ok("put", path, "0a000001", "2")
        self.assertEqual(self.ok("scan", "--text", path),
                         '"a\\"\\\\" 1 -\n"\\x0a\\x00\\x00\\x01" 2 -\n')
        self.assertEqual(self.ok("get", path, "0a000001"), "0a000001 2 -\n")

    def test_json(self):
        path = self.make("j.slc", 4, 2, 8)
        self.ok("put", path, "01", "1", "aa")
        self.ok("put", path, "02", "-2", "bb")
        rows = [json.loads(l) for l in self.ok("scan", "--json", path)
                .splitlines()]
        self.assertEqual(rows, [
            {"slot": 0, "key": "01000000", "revision": 1, "index": "aa00"},
            {"slot": 1, "key": "02000000", "revision": -2, "index": "bb00"}])
        rows = [json.loads(l) for l in self.ok("dump", "--json", path)
                .splitlines()]
        self.assertEqual(len(rows), 2)
        code, out, _ = run("get", "--json", path, "01", "03")
        self.assertEqual(code, 1)
        self.assertEqual([json.loads(l) for l in out.splitlines()], [
            {"key": "01000000", "found": True, "revision": 1,
             "index": "aa00"},
            {"key": "03000000", "found": False}])
        for cmd in ("info", "verify", "stats"):
            json.loads(self.ok(cmd, "--json", path))
        self.assertEqual(json.loads(self.ok("scan", "--json", "--count",
                                            path)), {"count": 2})
        code, out, _ = run("scan", "--json", path, "--range")
        self.assertEqual(code, 18)
        err = json.loads(out)
        self.assertEqual((err["error"], err["exit"]), ("SLC_EUNORDERED", 18))


class Scans(CliTest):
    """Prefix and range filters against a model computed here."""

    def setUp(self):
        super().setUp()
        rng = random.Random(7)
        self.keys = sorted(set(rng.getrandbits(32).to_bytes(4, "big")
                               for _ in range(300)))[:200]
        self.path = self.make("o.slc", 4, 2, 256, ordered=True)
        text = "".join("put %s %d %04x\n" % (k.hex(), i, i)
                       for i, k in enumerate(self.keys))
        self.load_text(self.path, text)
        self.line = {k: "%s %d %04x" % (k.hex(), i, i)
                     for i, k in enumerate(self.keys)}

    def scan(self, *args):
        return self.ok("scan", self.path, *args).splitlines()

    def test_prefix(self):
        for off, bits, pat in ((0, 0, b"\x5a"), (0, 3, b"\xa0"),
                               (1, 10, b"\x12\xc0"), (3, 1, b"\x80")):
            nbits = bits or 8 * len(pat)

            def match(k):
                v = int.from_bytes(k[off:off + len(pat)], "big")
                p = int.from_bytes(pat, "big")
                shift = 8 * len(pat) - nbits
                return v >> shift == p >> shift
            want = [self.line[k] for k in self.keys if match(k)]
            got = self.scan("--prefix", pat.hex(), "--bits", bits,
                            "--key-offset", off)
            self.assertEqual(got, want, (off, bits, pat))
            self.assertEqual(self.scan("--prefix", pat.hex(), "--bits", bits,
                                       "--key-offset", off, "--reverse",
                                       "--offset", 1, "--limit", 2),
                             want[::-1][1:3])

    def test_range(self):
        lo, hi = bytes.fromhex("40"), bytes.fromhex("8000")
        want = [self.line[k] for k in self.keys
                if lo.ljust(4, b"\0") <= k < hi.ljust(4, b"\0")]
        self.assertGreater(len(want), 10)
        self.assertEqual(self.scan("--start", "40", "--end", "8000"), want)
        self.assertEqual(self.scan("--start", "40", "--end", "8000",
                                   "--reverse", "--limit", 3), want[::-1][:3])
        self.assertEqual(self.scan("--end", "40"),
                         [self.line[k] for k in self.keys if k < b"\x40"])
        self.assertEqual(self.scan("--range", "--offset", 195),
                         [self.line[k] for k in self.keys[195:]])
        self.fails(17, "scan", self.path, "--start", "80", "--end", "40")

    def test_golden_prefix_scan(self):
        d = os.path.join(CONF, "golden", "scan-prefix-bits")
        path = self.p("g.slc")
        shutil.copy(os.path.join(d, "file.slc"), path)
        args = read(os.path.join(d, "scan-args.txt")).split()
        opts = dict(zip(args[::1], args[1::1]))
        got = self.ok("scan", path, "--key-offset", opts["--offset"],
                      "--bits", opts["--bits"], "--prefix", args[-1])
        want = [l[len("entry "):] for l in
                read(os.path.join(d, "prefix.txt")).splitlines()
                if l.startswith("entry ")]
        self.assertEqual(got.splitlines(), want)


class DumpLoad(CliTest):
    def build(self, name, ordered):
        path = self.make(name, 6, 3, 50, ordered=ordered, user_version=4)
        ops = []
        for i in range(40):
            ops.append("put %012x %d %06x" % (1000 + 7 * i, i - 20, i))
        ops += ["del %012x" % (1000 + 7 * i) for i in range(0, 40, 3)]
        ops += ["put %012x 99 abcdef" % (1000 + 7 * 5), "flags 42",
                "data " + "5a" * 10]
        self.load_text(path, "\n".join(ops) + "\n", "--batch", 7)
        return path

    def roundtrip(self, path, *load_args):
        first = self.dump(path)
        new = self.p("new-" + os.path.basename(path))
        self.load_text(new, first, *load_args)
        self.assertEqual(self.dump(new), first)
        self.ok("verify", new)
        return first

    def test_roundtrip(self):
        for ordered in (False, True):
            path = self.build("r%d.slc" % ordered, ordered)
            text = self.roundtrip(path)
            lines = text.splitlines()
            self.assertEqual(lines[0], "slc-dump 1 key_size=6 index_size=3 "
                             "cap=50 user_version=4 ordered=%d" % ordered)
            self.assertEqual(lines[1], "flags 42")
            self.assertEqual(lines[2], "data " + "5a" * 10 + "00" * 54)
            self.assertEqual(lines[-1], "end 26")
            self.assertEqual(len(lines), 30)
            # many small sessions give the same result
            new = self.p("batched%d.slc" % ordered)
            out = self.load_text(new, text, "--batch", 4)
            self.assertIn("26 puts, 0 deletes, 7 session(s)", out)
            self.assertEqual(self.dump(new), text)

    def test_capacity_override_and_stdin(self):
        path = self.build("c.slc", False)
        text = self.dump(path)
        new = self.p("bigger.slc")
        self.load_text(new, text, "--capacity", 500)
        info = json.loads(self.ok("info", "--json", new))
        self.assertEqual(info["slot_capacity"], 500)
        self.assertEqual(self.dump(new), text.replace("cap=50", "cap=500"))

    def test_golden_files(self):
        for name in sorted(os.listdir(os.path.join(CONF, "golden"))):
            d = os.path.join(CONF, "golden", name)
            path = self.p(name + ".slc")
            shutil.copy(os.path.join(d, "file.slc"), path)
            self.ok("verify", path)
            want = read(os.path.join(d, "dump.txt")).splitlines()
            got = self.dump(path).splitlines()
            self.assertEqual(["put " + l[6:] for l in want
                              if l.startswith("entry ")],
                             [l for l in got if l.startswith("put ")], name)
            self.assertEqual(got[1], "flags " + want[3].split()[1])
            self.assertEqual(got[2], "data " + want[4].split()[1])
            self.roundtrip(path)

    def test_replay_golden_ops(self):
        """load of an op script must write the reference bytes."""
        replayed = 0
        for name in sorted(os.listdir(os.path.join(CONF, "golden"))):
            d = os.path.join(CONF, "golden", name)
            if read(os.path.join(d, "apply.txt")).strip():
                continue  # failing commits: not a load input
            case = dict(kv.split("=") for kv in
                        read(os.path.join(d, "case.txt")).split())
            path = self.make(name + ".slc", case["key_size"],
                             case["index_size"], case["cap"],
                             ordered=case["ordered"] == "1",
                             user_version=case["user_version"])
            self.ok("load", path, os.path.join(d, "ops.txt"))
            with open(path, "rb") as a, \
                    open(os.path.join(d, "file.slc"), "rb") as b:
                self.assertEqual(a.read(), b.read(), name)
            replayed += 1
        self.assertGreaterEqual(replayed, 5)

    def test_load_errors(self):
        path = self.make("e.slc", 2, 1, 4)
        hdr = "slc-dump 1 key_size=2 index_size=1 cap=4 user_version=0 " \
              "ordered=0\n"
        _, err = self.fails(3, "load", path, "-",
                            stdin="put 0001 1 01\nput 00 1 01\n")
        self.assertIn("-:2: key is not key_size bytes of hex", err)
        self.assertEqual(self.dump(path).splitlines()[-1], "end 0")
        _, err = self.fails(3, "load", path, "-",
                            stdin=hdr + "put 0001 1 01\n")
        self.assertIn("without the 'end N' line", err)
        self.assertEqual(self.dump(path).splitlines()[-1], "end 0")
        _, err = self.fails(3, "load", path, "-",
                            stdin=hdr + "put 0001 1 01\nend 2\n")
        self.assertIn("end line says 2 entries, input had 1", err)
        self.fails(3, "load", path, "-", stdin="bogus\n")
        self.fails(3, "load", path, "-", stdin="put 0001 1 01\nend 1\nx\n")
        self.fails(3, "load", path, self.p("missing.txt"))
        self.fails(3, "load", self.p("nofile.slc"), "-",
                   stdin="put 0001 1 01\n")
        self.fails(11, "load", path, "-", stdin=hdr.replace("key_size=2",
                                                             "key_size=3"))
        self.fails(14, "load", path, "-", stdin="".join(
            "put %04x 0 00\n" % i for i in range(5)))
        self.assertEqual(self.dump(path).splitlines()[-1], "end 0")
        opath = self.make("eo.slc", 2, 1, 4, ordered=True)
        self.load_text(opath, "put 0005 0 00\n")
        _, err = self.fails(19, "load", opath, "-", stdin="put 0004 0 00\n")
        self.assertIn("SLC_EOUTOFORDER", err)
        # batches committed before a failure stay
        _, err = self.fails(3, "load", path, "-", "--batch", 2,
                            stdin="put 0001 1 01\nput 0002 1 01\nput 0003 1 "
                                  "01\nput zz\n")
        self.assertIn("1 session(s) committed before the error", err)
        self.assertEqual(self.ok("scan", "--count", path), "2\n")


class Verify(CliTest):
    def setUp(self):
        super().setUp()
        self.clean = self.make("clean.slc", 8, 4, 64)
        self.load_text(self.clean, "".join(
            "put %016x %d %08x\n" % (fnv1a64(b"%d" % i), i, i)
            for i in range(48)))
        self.ok("verify", self.clean)

    def corrupt(self, patch, *expect):
        path = self.p("bad.slc")
        shutil.copy(self.clean, path)
        img = Image(path)
        patch(img)
        img.save()
        out, err = self.fails(10, "verify", path)
        for text in expect:
            self.assertIn(text, err)
        self.assertIn("[SLC_ECORRUPT]", err)
        return err

    def test_slot_meta_reserved_bit(self):
        def patch(img):
            img.b[img.slot(5) + 1] |= 0x01  # meta bit 8
        self.corrupt(patch, "slot 5 meta 0x101 has reserved bits set")

    def test_slot_meta_used_cleared(self):
        def patch(img):
            img.b[img.slot(7)] = 0
        self.corrupt(patch, "live slots, header live_count")

    def test_key_padding(self):
        path = self.make("pad.slc", 5, 1, 8)
        self.ok("put", path, "0102030405", "1", "07")
        img = Image(path)
        img.b[img.slot(0) + 8 + 6] = 0xEE
        img.save()
        _, err = self.fails(10, "verify", path)
        self.assertIn("slot 0 key padding byte 1 is not zero", err)

    def test_bucket_slot_id(self):
        def patch(img):
            full = img.full_buckets()
            (i, _, _), (_, _, other) = full[-1], full[-2]
            struct.pack_into("<Q", img.b, img.bucket(i) + 8, other + 1)
        self.corrupt(patch, "bucket")

    def test_bucket_slot_out_of_range(self):
        def patch(img):
            i = img.full_buckets()[-1][0]
            struct.pack_into("<Q", img.b, img.bucket(i) + 8, 60)
        self.corrupt(patch, "slot 59 >= slot_highwater 48")

    def test_bucket_emptied(self):
        def patch(img):
            i = img.full_buckets()[-1][0]
            struct.pack_into("<QQ", img.b, img.bucket(i), 0, 0)
        self.corrupt(patch, "has no FULL bucket")

    def test_counter_with_crc(self):
        def live_and_used(img):
            img.set("slot_highwater", img.get("slot_highwater") + 1)
            img.set("live_count", img.get("live_count") + 1)
            img.set("bucket_used", img.get("bucket_used") + 1)
            img.fix_crc()
        self.corrupt(live_and_used, "48 live slots, header live_count 49")

        def tombstones(img):
            img.set("bucket_tombstones", 3)
            img.fix_crc()
        self.corrupt(tombstones,
                     "0 TOMBSTONE buckets, header bucket_tombstones 3")

    def test_counter_without_crc(self):
        def patch(img):
            img.set("live_count", 47)
        self.corrupt(patch, "crc32c mismatch")

    def test_duplicate_key(self):
        def patch(img):
            full = sorted(img.full_buckets(), key=lambda t: t[2])
            b0, _, s0 = full[0]
            b1, _, s1 = full[1]
            k = img.key(s0)
            img.b[img.slot(s1) + 8:img.slot(s1) + 16] = k
            # move slot s1's bucket just after s0's probe position
            struct.pack_into("<QQ", img.b, img.bucket(b1), 0, 0)
            mask = img.get("bucket_count") - 1
            j = (b0 + 1) & mask
            while struct.unpack_from("<Q", img.b, img.bucket(j) + 8)[0]:
                j = (j + 1) & mask
            struct.pack_into("<QQ", img.b, img.bucket(j), fnv1a64(k), s1 + 1)
        self.corrupt(patch, "hold the same key")

    def test_ordered_order(self):
        path = self.make("ord.slc", 2, 0, 8, ordered=True)
        self.load_text(path, "put 0001 0 -\nput 0002 0 -\nput 0003 0 -\n")
        img = Image(path)
        img.b[img.slot(1) + 8:img.slot(1) + 10] = b"\x00\x09"
        img.save()
        _, err = self.fails(10, "verify", path)
        self.assertIn("ordered keys: slot 2 sorts below slot 1", err)

    def test_conformance_corrupt_files(self):
        """info and verify explain why each damaged file cannot be used."""
        detail = {"bad-magic": "is not \"SLC1\"",
                  "bucket-used-ne-live": "bucket_used 6 != live_count 5",
                  "crc-flipped": "header crc32c mismatch",
                  "highwater-gt-capacity": "slot_highwater 17 > "
                                           "slot_capacity 16",
                  "odd-generation": "is odd",
                  "reserved-byte-c0": "reserved header byte 0xc0",
                  "state-1-invalidated": "invalidated",
                  "truncated-below-buckets": "file length 1264 < required",
                  "version-2-stale-crc": "format version 2 is not 1"}
        base = os.path.join(CONF, "corrupt")
        for name in sorted(os.listdir(base)):
            path = self.p(name + ".slc")
            shutil.copy(os.path.join(base, name, "file.slc"), path)
            expect = read(os.path.join(base, name, "expect.txt")) \
                .split()[1]
            if name.endswith("-mismatch"):
                # slc opens with the file's own options: no mismatch
                self.ok("info", path)
                continue
            for cmd in ("info", "verify"):
                out, err = self.fails(EXIT[expect], cmd, path)
                self.assertEqual(out, "")
                self.assertIn(detail[name], err, name)
                self.assertIn("hint:", err)
            out, _ = self.fails(EXIT[expect], "info", "--json", path)
            self.assertEqual(json.loads(out)["exit"], EXIT[expect])


class Invalidate(CliTest):
    def test_invalidate(self):
        path = self.make("i.slc", 4, 0, 4)
        self.ok("put", path, "01", "1")
        self.assertEqual(self.ok("invalidate", path),
                         path + " invalidated: its readers get "
                         "SLC_EINVALIDATED; delete and recreate it\n")
        _, err = self.fails(12, "info", path)
        self.assertIn("cache was invalidated [SLC_EINVALIDATED]", err)
        self.fails(12, "get", path, "01")
        self.assertEqual(self.ok("invalidate", path),
                         path + " was already invalidated\n")


class Match(CliTest):
    def test_match(self):
        path = self.make("m.slc", 2, 3, 300)
        rng = random.Random(11)
        entries = {}
        for i in range(256):
            entries["%04x" % i] = bytes(rng.getrandbits(8) for _ in range(3))
        self.load_text(path, "".join("put %s 1 %s\n" % (k, v.hex())
                                     for k, v in entries.items()))
        for spec, off, val, mask in (("0:5a", 0, b"\x5a", b"\xff"),
                                     ("1:8000/8000", 1, b"\x80\x00",
                                      b"\x80\x00"),
                                     ("2:03/0F", 2, b"\x03", b"\x0f")):
            want = [k for k, v in entries.items()
                    if all(v[off + i] & mask[i] == val[i] & mask[i]
                           for i in range(len(val)))]
            out = self.ok("scan", path, "--match", spec).splitlines()
            self.assertEqual([line.split()[0] for line in out], want)
            self.assertEqual(self.ok("scan", path, "--match=" + spec,
                                     "--count"), "%d\n" % len(want))
            self.assertTrue(want)
        self.fails(2, "scan", path, "--match", "5a")
        self.fails(2, "scan", path, "--match", "0:5")
        self.fails(2, "scan", path, "--match", "0:5a/ff00")
        self.fails(2, "scan", path, "--match", "0:")
        self.fails(2, "scan", path, "--match", "0:zz")
        self.fails(2, "scan", path, "--match", "-1:5a")
        self.fails(2, "scan", path, "--match", "0:5a", "--prefix", "00")
        _, err = self.fails(17, "scan", path, "--match", "2:0000")
        self.assertIn("index_size", err)


class Compact(CliTest):
    def temporaries(self):
        return [n for n in os.listdir(self.tmp) if ".tmp." in n]

    def test_compact_grows_and_drops_deleted(self):
        path = self.make("c.slc", 4, 2, 50)
        self.load_text(path, "".join("put %08x %d %04x\n" % (i, i, i)
                                     for i in range(40)))
        self.load_text(path, "".join("del %08x\n" % i for i in range(0, 40, 2)))
        self.ok("put", path, "--user-flags", "9")
        before = self.dump(path)
        self.fails(14, "load", path, stdin="".join(
            "put %08x 1 0000\n" % (100 + i) for i in range(20)))
        self.assertEqual(self.ok("compact", path, "--capacity", "200"),
                         "%s compacted: 20 live entries, capacity 200\n" % path)
        info = json.loads(self.ok("info", "--json", path))
        self.assertEqual((info["slot_capacity"], info["slot_highwater"]),
                         (200, 20))
        self.assertEqual(self.dump(path),
                         before.replace(" cap=50 ", " cap=200 ", 1))
        self.ok("verify", path)
        self.load_text(path, "".join("put %08x 1 0000\n" % (100 + i)
                                     for i in range(20)))
        # Shrinks too, but never below the live entries.
        self.fails(2, "compact", path, "--capacity", "39")
        out = json.loads(self.ok("compact", path, "--capacity", "40", "--json"))
        self.assertEqual(out, {"compacted": True, "live": 40, "capacity": 40})
        self.assertEqual(self.temporaries(), [])
        self.fails(2, "compact", path, "--prefix", "00")

    def test_compact_with_readers(self):
        """Readers running on the path see every key through 20 compactions."""
        import threading
        path = self.make("r.slc", 4, 2, 100)
        self.load_text(path, "".join("put %08x %d %04x\n" % (i, i, i)
                                     for i in range(60)))
        stop = threading.Event()
        bad = []

        def reader(n):
            while not stop.is_set():
                key = "%08x" % (n * 7 % 60)
                code, out, err = run("get", path, key)
                if code or out != "%s %d %04x\n" % (key, n * 7 % 60,
                                                     n * 7 % 60):
                    bad.append((code, out, err))
                code, out, err = run("scan", path, "--count")
                if code or out != "60\n":
                    bad.append((code, out, err))
                n += 1

        threads = [threading.Thread(target=reader, args=(i,))
                   for i in range(2)]
        for t in threads:
            t.start()
        try:
            for i in range(20):
                self.ok("compact", path, "--capacity", 60 + 13 * (i % 5))
        finally:
            stop.set()
            for t in threads:
                t.join()
        self.assertEqual(bad, [])
        self.assertEqual(self.temporaries(), [])


class ReadOnly(CliTest):
    def test_read_commands_create_no_lock_file(self):
        """Reading commands open with SLC_READ_ONLY: no FILE.lock appears."""
        path = self.make("r.slc", 2, 1, 10)
        self.load_text(path, "put 0001 5 aa\n")
        os.remove(path + ".lock")
        self.assertEqual(self.ok("get", path, "0001"), "0001 5 aa\n")
        for cmd in ("info", "verify", "stats", "dump"):
            self.ok(cmd, path)
        self.ok("scan", path, "--count")
        self.assertFalse(os.path.exists(path + ".lock"))
        self.ok("put", path, "0002", "6", "bb")  # writers make it again
        self.assertTrue(os.path.exists(path + ".lock"))


class Stats(CliTest):
    def test_histogram_matches_file(self):
        """Without deletes the estimate is the file's real table."""
        path = self.make("s.slc", 3, 0, 900)
        self.load_text(path, "".join("put %06x 0 -\n" % (i * 7919 % 2 ** 24)
                                     for i in range(900)))
        st = json.loads(self.ok("stats", "--json", path))
        img = Image(path)
        mask = img.get("bucket_count") - 1
        hist = {}
        for i, h, _ in img.full_buckets():
            n = ((i - (h & mask)) & mask) + 1
            hist[str(n)] = hist.get(str(n), 0) + 1
        self.assertTrue(st["probe_exact"])
        self.assertEqual(st["probe_histogram"], hist)
        self.assertEqual(st["probe_hit_max"], max(map(int, hist)))
        self.ok("del", path, "000000")
        st = json.loads(self.ok("stats", "--json", path))
        self.assertFalse(st["probe_exact"])
        self.assertEqual((st["slot_tombstones"], st["bucket_tombstones"]),
                         (1, 1))
        self.assertEqual(sum(st["probe_histogram"].values()), 899)


class EnvFaults(CliTest):
    """Issue 12: failed calls leave no file behind; load input checks;
    special files never block."""

    HDR = "slc-dump 1 key_size=2 index_size=1 cap=4 user_version=0 " \
          "ordered=0\n"

    def names(self):
        return sorted(os.listdir(self.tmp))

    def test_load_rejects_nul_byte(self):
        path = self.make("n.slc", 2, 1, 4)
        _, err = self.fails(3, "load", path, "-",
                            stdin="put 0001 1 01\nput 00\x0002 1 01\n")
        self.assertIn("-:2: the line contains a NUL byte", err)
        self.assertEqual(self.dump(path).splitlines()[-1], "end 0")
        inp = self.p("in.txt")
        with open(inp, "wb") as f:
            f.write(self.HDR.encode() + b"put 0001 1 01\x00junk\nend 1\n")
        _, err = self.fails(3, "load", path, inp)
        self.assertIn(inp + ":2: the line contains a NUL byte", err)
        self.assertEqual(self.dump(path).splitlines()[-1], "end 0")

    def test_load_header_mismatch_needs_force(self):
        path = self.make("m.slc", 2, 1, 4)
        body = "put 0001 1 01\nend 1\n"
        for bad in (self.HDR.replace("user_version=0", "user_version=5"),
                    self.HDR.replace("ordered=0", "ordered=1")):
            _, err = self.fails(11, "load", path, "-", stdin=bad + body)
            self.assertIn("--force", err)
            self.assertEqual(self.dump(path).splitlines()[-1], "end 0")
        self.ok("load", path, "-", "--force", stdin=bad + body)
        self.assertEqual(self.dump(path).splitlines()[-1], "end 1")
        # same configuration: no --force needed
        self.ok("load", path, "-", stdin=self.HDR + body)

    def test_failed_load_removes_the_file_it_created(self):
        path = self.p("new.slc")
        _, err = self.fails(3, "load", path, "-", "--batch", 1,
                            stdin=self.HDR + "put 0001 1 01\nput zz\n")
        self.assertIn("removed " + path, err)
        self.assertEqual(self.names(), ["new.slc.lock"])
        # a file that was there (empty, prepared by an admin) stays
        open(path, "w").close()
        self.fails(3, "load", path, "-", stdin=self.HDR + "put zz\n")
        self.assertEqual(self.names(), ["new.slc", "new.slc.lock"])

    def test_failed_create_removes_the_file_it_created(self):
        path = self.p("c.slc")
        with open("/dev/full", "w") as full:
            p = subprocess.run([SLC, "create", path, "--key-size", "4",
                                "--capacity", "10"], stdout=full,
                               stderr=subprocess.PIPE, text=True, timeout=60)
        self.assertEqual(p.returncode, EXIT["input"], p.stderr)
        self.assertIn("removed " + path, p.stderr)
        self.assertEqual(self.names(), ["c.slc.lock"])

    def test_create_beyond_fsize_limit(self):
        import resource
        import signal

        def limit():
            signal.signal(signal.SIGXFSZ, signal.SIG_DFL)
            resource.setrlimit(resource.RLIMIT_FSIZE, (65536, 65536))

        path = self.p("big.slc")
        for cmd in (["create", path, "--key-size", "8", "--capacity",
                     "100000"],
                    ["load", path, "-"]):
            p = subprocess.run([SLC] + cmd, preexec_fn=limit,
                               input=self.HDR.replace("cap=4", "cap=100000")
                               + "end 0\n", capture_output=True, text=True,
                               timeout=60)
            self.assertEqual(p.returncode, 21, p.stderr)  # SLC_ESYS
            self.assertIn("RLIMIT_FSIZE", p.stderr)
            self.assertEqual(self.names(), ["big.slc.lock"])

    def test_fifo_never_blocks(self):
        path = self.p("f.slc")
        os.mkfifo(path)
        for cmd in (["info", path], ["verify", path], ["get", path, "00"],
                    ["dump", path], ["put", path, "00", "1"]):
            code, _, err = run(*cmd, timeout=20)  # blocking: TimeoutExpired
            self.assertEqual(code, EXIT["ErrInvalidInput"], err)
            self.assertIn("not a regular file", err)


def main():
    global SLC, CONF
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    SLC, CONF = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
    unittest.main(argv=[sys.argv[0]] + sys.argv[3:], verbosity=1)


if __name__ == "__main__":
    main()
