"""Tests of the Python binding (standard unittest runner).

    SLOTCACHE_LIBRARY=_build/x/libslotcache.so SLC_CLI=_build/x/tools/slc \\
        python3 -m unittest discover -s bindings/python -v

SLC_CLI (the C command-line tool) is needed for the cross-language tests,
SLC_TEST_DATA_DIR names the conformance files (default tests/conformance).
Without SLC_CLI those tests skip, unless CI=true, where they fail.
"""
import os
import re
import shutil
import subprocess
import tempfile
import threading
import unittest

import slotcache

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
DATA = os.environ.get("SLC_TEST_DATA_DIR") or os.path.join(ROOT, "tests", "conformance")
CLI = os.environ.get("SLC_CLI")
IN_CI = os.environ.get("CI") == "true"

# Names the conformance files use for the status codes.
ERRCLASS = {
    slotcache.CorruptError: "ErrCorrupt", slotcache.IncompatibleError: "ErrIncompatible",
    slotcache.InvalidatedError: "ErrInvalidated", slotcache.BusyError: "ErrBusy",
    slotcache.FullError: "ErrFull", slotcache.ClosedError: "ErrClosed",
    slotcache.WritebackError: "ErrWriteback", slotcache.InvalidError: "ErrInvalidInput",
    slotcache.UnorderedError: "ErrUnordered",
    slotcache.OutOfOrderError: "ErrOutOfOrderInsert",
}


def errclass(exc):
    return ERRCLASS.get(type(exc), f"code {exc.code}")


def key(i, size=8):
    return f"k{i:0{size - 1}d}".encode()[:size]


def parse_case(text):
    kv = dict(f.split("=") for f in text.split())
    return dict(key_size=int(kv["key_size"]), index_size=int(kv["index_size"]),
                slot_capacity=int(kv["cap"]), user_version=int(kv["user_version"]),
                ordered=kv["ordered"] == "1")


def read(path, mode="r"):
    with open(path, mode) as f:
        return f.read()


def dump(c):
    """The conformance dump.txt view of an open cache (after 'open: OK')."""
    flags, data = c.user_header()
    lines = [f"len {len(c)}", f"gen {c.generation}", f"user_flags {flags}",
             f"user_data {data.hex()}"]
    for k, rev, idx in c.scan():
        lines.append(f"entry {k.hex()} {rev} {idx.hex() if c.index_size else '-'}")
    return "\n".join(lines) + "\n"


def apply_ops(c, ops):
    """Replay an ops.txt script as tests/support.c does; returns apply.txt."""
    out, w = [], None

    def writer(op):
        nonlocal w
        if w is None:
            try:
                w = c.writer()
            except slotcache.SlotcacheError as e:
                out.append(f"{op}: {errclass(e)}")
        return w

    def run(op, fn, *args):
        try:
            fn(*args)
        except slotcache.SlotcacheError as e:
            out.append(f"{op}: {errclass(e)}")

    for line in ops.splitlines():
        f = line.split()
        if not f or f[0].startswith("#"):
            continue
        op = f[0]
        if op == "put" and writer(op):
            index = b"" if f[3] == "-" else bytes.fromhex(f[3])
            run(op, w.put, bytes.fromhex(f[1]), int(f[2]), index)
        elif op == "del" and writer(op):
            run(op, w.delete, bytes.fromhex(f[1]))
        elif op == "flags" and writer(op):
            run(op, w.set_user_flags, int(f[1]))
        elif op == "data" and writer(op):
            run(op, w.set_user_data, bytes.fromhex(f[1]).ljust(64, b"\0"))
        elif op == "commit" and writer(op):
            run(op, w.commit)
            w.close()
            w = None
        elif op == "abort":
            if w:
                w.close()
            w = None
        elif op == "invalidate":
            if w:
                w.close()
            w = None
            run(op, c.invalidate)
        elif op not in ("put", "del", "flags", "data", "commit"):
            raise ValueError(f"unknown op line: {line}")
    if w:
        w.close()
    return "".join(line + "\n" for line in out)


class TempDir(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="slc-py-")
        self.addCleanup(shutil.rmtree, self.dir)

    def path(self, name="c.slc"):
        return os.path.join(self.dir, name)


class TestBasics(TempDir):
    def test_roundtrip(self):
        with slotcache.open(self.path(), key_size=8, index_size=4,
                            slot_capacity=100, user_version=7) as c:
            self.assertEqual(len(c), 0)
            g0 = c.generation
            with c.writer() as w:
                for i in range(10):
                    w.put(key(i), 100 + i, bytes([i, 0, 0, i]))
                w.set_user_flags(5)
                w.set_user_data(bytes(range(64)))
            self.assertEqual(c.generation, g0 + 2)
            self.assertEqual(len(c), 10)
            self.assertEqual(c.get(key(3)), (103, bytes([3, 0, 0, 3])))
            self.assertIsNone(c.get(key(99)))
            self.assertIn(key(4), c)
            self.assertEqual(c.user_header(), (5, bytes(range(64))))
            got = c.get_many([key(1), key(50), key(9)])
            self.assertEqual(got, [(101, bytes([1, 0, 0, 1])), None,
                                   (109, bytes([9, 0, 0, 9]))])
            self.assertEqual(c.get_many([]), [])
            with c.writer() as w:
                self.assertTrue(w.delete(key(1)))
                self.assertFalse(w.delete(key(77)))
            self.assertIsNone(c.get(key(1)))
            self.assertEqual(c.stat()["live_count"], 9)
            c.verify()
        # Reopen with slot_capacity 0: the existing file as it is.
        with slotcache.open(self.path(), key_size=8, index_size=4,
                            user_version=7) as c:
            self.assertEqual(len(c), 9)
        self.assertEqual(slotcache.read_options(self.path()),
                         {"key_size": 8, "index_size": 4, "user_version": 7,
                          "slot_capacity": 100, "ordered": False})

    def test_zero_index_size(self):
        with slotcache.open(self.path(), key_size=4, slot_capacity=8) as c:
            with c.writer() as w:
                w.put(b"abcd", -5)
            self.assertEqual(c.get(b"abcd"), (-5, b""))
            self.assertEqual(list(c.scan()), [(b"abcd", -5, b"")])

    def test_writer_discards_on_exception(self):
        with slotcache.open(self.path(), key_size=8, slot_capacity=10) as c:
            g = c.generation
            with self.assertRaises(RuntimeError):
                with c.writer() as w:
                    w.put(key(1), 1)
                    raise RuntimeError("boom")
            self.assertEqual(c.generation, g)
            self.assertIsNone(c.get(key(1)))
            # The session was closed: a new one can start.
            with c.writer() as w:
                w.put(key(1), 1)
            self.assertEqual(c.get(key(1)), (1, b""))

    def test_explicit_commit_then_exit(self):
        with slotcache.open(self.path(), key_size=8, slot_capacity=10) as c:
            g = c.generation
            with c.writer() as w:
                w.put(key(2), 2)
                w.commit()
                with self.assertRaises(slotcache.ClosedError):
                    w.put(key(3), 3)
            self.assertEqual(c.generation, g + 2)

    def test_threads_sharing_a_handle(self):
        # ctypes drops the GIL inside slc_get, so threads on one handle
        # really overlap there; each must get its own key's answer.
        with slotcache.open(self.path(), key_size=8, index_size=8,
                            slot_capacity=64) as c:
            with c.writer() as w:
                for i in range(8):
                    w.put(key(i), i, bytes([i]) * 8)
            wrong = []

            def reader(i):
                for _ in range(20000):
                    got = c.get(key(i))
                    if got != (i, bytes([i]) * 8):
                        wrong.append((i, got))
                        return

            threads = [threading.Thread(target=reader, args=(i,)) for i in range(8)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            self.assertEqual(wrong, [])

    def test_closed_handles(self):
        c = slotcache.open(self.path(), key_size=8, slot_capacity=10)
        c.close()
        c.close()
        with self.assertRaises(ValueError):
            c.get(key(1))


class TestErrors(TempDir):
    def test_every_status_code_has_its_class(self):
        header = read(os.path.join(ROOT, "include", "slotcache.h"))
        codes = {int(v): n for n, v in
                 re.findall(r"#define (SLC_E\w+) \((-\d+)\)", header)}
        self.assertGreaterEqual(len(codes), 12)
        classes = {cls.code: cls for cls in slotcache.SlotcacheError.__subclasses__()}
        self.assertEqual(sorted(classes), sorted(codes),
                         "one exception class per SLC_E* code")
        self.assertEqual(len(set(classes.values())), len(classes))

    def test_errors_carry_code_and_detail(self):
        p = self.path()
        slotcache.open(p, key_size=8, slot_capacity=10).close()
        with self.assertRaises(slotcache.IncompatibleError) as cm:
            slotcache.open(p, key_size=9)
        e = cm.exception
        self.assertEqual(e.code, -2)
        self.assertTrue(e.detail, "the library's detail text")
        self.assertIn(e.detail, str(e))
        with self.assertRaises(slotcache.SystemCallError):
            slotcache.read_options(self.path("missing.slc"))
        with self.assertRaises(slotcache.InvalidError):
            slotcache.open(self.path("new.slc"), key_size=0, slot_capacity=1)

    def test_busy_full_unordered_outoforder(self):
        with slotcache.open(self.path(), key_size=8, slot_capacity=2) as c:
            with c.writer():
                with self.assertRaises(slotcache.BusyError):
                    c.writer()
            with self.assertRaises(slotcache.InvalidError):
                c.get(b"short")
            with self.assertRaises(slotcache.FullError):
                with c.writer() as w:
                    for i in range(3):
                        w.put(key(i), i)
            with self.assertRaises(slotcache.UnorderedError):
                list(c.scan_range(key(0), key(5)))
        with slotcache.open(self.path("o.slc"), key_size=8, slot_capacity=4,
                            ordered=True) as c:
            with c.writer() as w:
                w.put(key(5), 5)
            with self.assertRaises(slotcache.OutOfOrderError):
                with c.writer() as w:
                    w.put(key(1), 1)

    def test_invalidate(self):
        with slotcache.open(self.path(), key_size=8, slot_capacity=2) as c:
            c.invalidate()
            with self.assertRaises(slotcache.InvalidatedError):
                c.get(key(0))
        with self.assertRaises(slotcache.InvalidatedError):
            slotcache.open(self.path(), key_size=8)

    def test_verify_reports_corruption(self):
        p = self.path()
        with slotcache.open(p, key_size=8, index_size=2, slot_capacity=4) as c:
            with c.writer() as w:
                w.put(key(1), 1, b"ab")
        raw = bytearray(read(p, "rb"))
        at = raw.index(key(1))
        raw[at] ^= 0xFF  # the key no longer hashes to its bucket
        with open(p, "wb") as f:
            f.write(raw)
        with slotcache.open(p, key_size=8, index_size=2) as c:
            with self.assertRaises(slotcache.CorruptError) as cm:
                c.verify()
            self.assertTrue(cm.exception.detail)


class TestScans(TempDir):
    def setUp(self):
        super().setUp()
        self.c = slotcache.open(self.path(), key_size=4, index_size=2,
                                slot_capacity=64, ordered=True)
        self.addCleanup(self.c.close)
        with self.c.writer() as w:
            for i in range(20):
                w.put(bytes([0x10 * (i // 10), i, 0, 0]), i, bytes([i % 3, i]))

    def keys(self, it):
        return [k[1] for k, _, _ in it]

    def test_full_scan_and_options(self):
        self.assertEqual(self.keys(self.c.scan()), list(range(20)))
        self.assertEqual(self.keys(self.c.scan(reverse=True)), list(range(19, -1, -1)))
        self.assertEqual(self.keys(self.c.scan(offset=3, limit=4)), [3, 4, 5, 6])
        self.assertEqual(self.keys(self.c.scan(streaming=True)), list(range(20)))
        self.assertEqual(self.keys(iter(self.c)), list(range(20)))
        k, rev, idx = next(self.c.scan())
        self.assertEqual((k, rev, idx), (bytes(4), 0, bytes([0, 0])))

    def test_prefix(self):
        self.assertEqual(self.keys(self.c.scan_prefix(b"\x10")), list(range(10, 20)))
        self.assertEqual(self.keys(self.c.scan_prefix(b"\x05", key_offset=1)), [5])
        # 0x10 = 0b0001_0000: the first 4 bits are 0 for keys 0..9 only
        self.assertEqual(self.keys(self.c.scan_prefix(b"\x00", bits=4)), list(range(10)))

    def test_range(self):
        self.assertEqual(self.keys(self.c.scan_range(b"\x00\x05", b"\x10\x0c")),
                         list(range(5, 12)))
        self.assertEqual(self.keys(self.c.scan_range(None, b"\x00\x02")), [0, 1])
        self.assertEqual(self.keys(self.c.scan_range(b"\x10\x12", None, reverse=True)),
                         [19, 18])
        with self.assertRaises(slotcache.InvalidError):
            list(self.c.scan_range(b"\x10", b"\x00"))

    def test_match(self):
        self.assertEqual(self.keys(self.c.scan_match(b"\x02")), [2, 5, 8, 11, 14, 17])
        self.assertEqual(self.keys(self.c.scan_match(b"\x01", index_offset=1)), [1])
        self.assertEqual(self.keys(self.c.scan_match(b"\x00\x01", mask=b"\x00\x01")),
                         [i for i in range(20) if i % 2])


class TestConformance(TempDir):
    """The golden files read as their dumps say, and replaying their op
    scripts from Python writes byte-identical files."""

    def cases(self, group):
        d = os.path.join(DATA, group)
        return [(n, os.path.join(d, n)) for n in sorted(os.listdir(d))]

    def test_golden_read(self):
        for name, d in self.cases("golden"):
            with self.subTest(name=name):
                p = self.path(name + ".slc")
                shutil.copyfile(os.path.join(d, "file.slc"), p)
                with slotcache.Cache(p, **parse_case(read(os.path.join(d, "case.txt")))) as c:
                    self.assertEqual("open: OK\n" + dump(c), read(os.path.join(d, "dump.txt")))
                    c.verify()

    def test_golden_replay(self):
        for name, d in self.cases("golden"):
            with self.subTest(name=name):
                p = self.path(name + ".slc")
                with slotcache.Cache(p, **parse_case(read(os.path.join(d, "case.txt")))) as c:
                    self.assertEqual(apply_ops(c, read(os.path.join(d, "ops.txt"))),
                                     read(os.path.join(d, "apply.txt")))
                self.assertTrue(read(p, "rb") == read(os.path.join(d, "file.slc"), "rb"),
                                f"golden/{name}: replayed file differs")

    def test_corrupt_open(self):
        for name, d in self.cases("corrupt"):
            with self.subTest(name=name):
                want = dict(line.split(": ", 1) for line in
                            read(os.path.join(d, "expect.txt")).splitlines())
                p = self.path(name + ".slc")
                shutil.copyfile(os.path.join(d, "file.slc"), p)
                before = read(p, "rb")
                try:
                    slotcache.Cache(p, **parse_case(read(os.path.join(d, "case.txt")))).close()
                    got = "OK"
                except slotcache.SlotcacheError as e:
                    got = errclass(e)
                self.assertEqual(got, want["open"])
                self.assertEqual(read(p, "rb"), before, "a refused file is not modified")


@unittest.skipUnless(CLI or IN_CI, "SLC_CLI (path of the slc tool) not set")
class TestCrossLanguage(TempDir):
    """The same bytes from Python and from C (the slc tool)."""

    def setUp(self):
        super().setUp()
        if not CLI:
            self.fail("CI=true but SLC_CLI is not set")

    def slc(self, *args, stdin=None):
        p = subprocess.run([CLI] + list(args), input=stdin, capture_output=True,
                           text=True, timeout=120)
        self.assertEqual(p.returncode, 0, p.stderr)
        return p.stdout

    def script(self):
        """A dump/load script with two sessions, deletes and a user header."""
        lines = ["slc-dump 1 key_size=6 index_size=3 cap=50 user_version=3 ordered=0",
                 "flags 9", "data " + bytes(range(100, 164)).hex()]
        puts = 0
        for i in range(30):
            lines.append(f"put {key(i, 6).hex()} {i * 1000 - 7} {bytes([i, 255 - i, 7]).hex()}")
            puts += 1
        lines.append("commit")
        for i in range(0, 30, 4):
            lines.append(f"del {key(i, 6).hex()}")
        for i in range(3):
            lines.append(f"put {key(i * 5 + 1, 6).hex()} -{i} {bytes([9, 9, i]).hex()}")
            puts += 1
        lines.append(f"end {puts}")
        return "\n".join(lines) + "\n"

    def write_from_python(self, path, script):
        with slotcache.open(path, key_size=6, index_size=3, slot_capacity=50,
                            user_version=3) as c:
            w = c.writer()
            for line in script.splitlines()[1:]:
                f = line.split()
                if f[0] == "flags":
                    w.set_user_flags(int(f[1]))
                elif f[0] == "data":
                    w.set_user_data(bytes.fromhex(f[1]))
                elif f[0] == "put":
                    w.put(bytes.fromhex(f[1]), int(f[2]), bytes.fromhex(f[3]))
                elif f[0] == "del":
                    w.delete(bytes.fromhex(f[1]))
                elif f[0] in ("commit", "end"):
                    w.commit()
                    w.close()
                    w = c.writer() if f[0] == "commit" else None

    def test_python_and_c_write_identical_files(self):
        script = self.script()
        py, cc = self.path("py.slc"), self.path("c.slc")
        self.write_from_python(py, script)
        self.slc("load", cc, stdin=script)
        self.assertEqual(read(py, "rb"), read(cc, "rb"))

    def test_c_reads_what_python_wrote(self):
        py = self.path("py.slc")
        self.write_from_python(py, self.script())
        with slotcache.open(py, key_size=6, index_size=3, user_version=3) as c:
            flags, data = c.user_header()
            want = [f"flags {flags}", f"data {data.hex()}"] + \
                [f"put {k.hex()} {rev} {idx.hex()}" for k, rev, idx in c.scan()]
            n = len(c)
        got = self.slc("dump", py).splitlines()
        self.assertEqual(got[1:-1], want)
        self.assertEqual(got[-1], f"end {n}")
        for k in (key(1, 6), key(2, 6)):
            out = self.slc("get", py, k.hex())
            with slotcache.open(py, key_size=6, index_size=3, user_version=3) as c:
                rev, idx = c.get(k)
            self.assertIn(str(rev), out)
            self.assertIn(idx.hex(), out)

    def test_python_reads_what_c_wrote(self):
        cc = self.path("c.slc")
        script = self.script()
        self.slc("load", cc, stdin=script)
        # The expected state, from the script itself.
        state = {}
        for line in script.splitlines():
            f = line.split()
            if f[0] == "put":
                state[bytes.fromhex(f[1])] = (int(f[2]), bytes.fromhex(f[3]))
            elif f[0] == "del":
                state.pop(bytes.fromhex(f[1]), None)
        with slotcache.open(cc, key_size=6, index_size=3, user_version=3) as c:
            self.assertEqual({k: (r, i) for k, r, i in c.scan()}, state)
            self.assertEqual(c.user_header(), (9, bytes(range(100, 164))))
            for k, v in state.items():
                self.assertEqual(c.get(k), v)
            c.verify()


if __name__ == "__main__":
    unittest.main()
