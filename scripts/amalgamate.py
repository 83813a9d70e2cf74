#!/usr/bin/env python3
"""Write the single-file build: slotcache.c (every library source with its
internal headers inlined) and slotcache.h (the public header, copied).

    python3 scripts/amalgamate.py --out DIR [SOURCE.c ...]

The sources are the ones given (CMake passes its SLOTCACHE_SOURCES list);
without any, every src/*.c in name order. Each `#include "x.h"` is replaced
by the header's text the first time it appears outside a conditional and
dropped afterwards; a quoted include that names no file fails, so a moved
header cannot slip through as a broken line.

The files are separate translation units in the library build, so their
file-scope names may collide once concatenated. Names that more than one
source defines (static functions and variables, tags and typedefs of
structs/unions/enums, macros) are renamed per file with a #define to
slc__<file>_<name> and #undef'd after the file; everything else is left
alone. Internal functions keep their SLC__HIDDEN visibility, so a shared
object built from slotcache.c exports only the slc_ API.
"""
import argparse
import glob
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
INCLUDE_RE = re.compile(r'^\s*#\s*include\s+"([^"]+)"')
COND_OPEN_RE = re.compile(r"^\s*#\s*if(n?def)?\b")
COND_CLOSE_RE = re.compile(r"^\s*#\s*endif\b")
GUARD_RE = re.compile(r"\A(?:\s*/\*.*?\*/)*\s*#\s*ifndef\s+(\w+)\s*\n\s*#\s*define\s+\1\b",
                      re.S)

# File-scope definitions (the style puts them at column 0).
DEF_PATTERNS = [
    # static function: name before the parameter list on the same line
    re.compile(r"^(?:__attribute__\(\(.*?\)\)\s*)?static\b[^=;(]*?\b([A-Za-z_]\w*)\s*\("),
    # static object
    re.compile(r"^static\b[^(=;]*?\b([A-Za-z_]\w*)\s*(?:\[[^\]]*\]\s*)*[=;]"),
    # struct/union/enum tag with a body
    re.compile(r"^(?:typedef\s+)?(?:struct|union|enum)\s+([A-Za-z_]\w*)\s*\{"),
    # typedef name closing a multi-line typedef, or a one-line typedef
    re.compile(r"^\}\s*([A-Za-z_]\w*)\s*;"),
    re.compile(r"^typedef\b[^{]*?\b([A-Za-z_]\w*)\s*;"),
]
MACRO_RE = re.compile(r"^\s*#\s*define\s+([A-Za-z_]\w*)")


def fail(msg):
    sys.exit(f"amalgamate: {msg}")


def read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def defined_names(text):
    """(identifiers, macros) a source defines at file scope."""
    names, macros = set(), set()
    for line in text.splitlines():
        m = MACRO_RE.match(line)
        if m:
            macros.add(m.group(1))
            continue
        for pat in DEF_PATTERNS:
            m = pat.match(line)
            if m:
                names.add(m.group(1))
    return names, macros


class Amalgamator:
    def __init__(self, include_dirs):
        self.include_dirs = include_dirs
        self.done = set()   # headers already emitted unconditionally
        self.out = []

    def resolve(self, name, from_dir):
        for d in [from_dir] + self.include_dirs:
            p = os.path.realpath(os.path.join(d, name))
            if os.path.isfile(p):
                return p
        fail(f'#include "{name}" (from {from_dir}) names no file')

    def emit_file(self, path, is_header):
        text = read(path)
        # A header's own include guard does not make its includes conditional.
        base = 1 if is_header and GUARD_RE.match(text) else 0
        depth = 0
        for line in text.splitlines():
            if COND_OPEN_RE.match(line):
                depth += 1
            elif COND_CLOSE_RE.match(line):
                depth -= 1
            m = INCLUDE_RE.match(line)
            if not m:
                self.out.append(line)
                continue
            hdr = self.resolve(m.group(1), os.path.dirname(path))
            if hdr in self.done:
                continue
            conditional = depth > base
            if not conditional:
                self.done.add(hdr)
            # Inside a conditional the header is inlined but not marked done:
            # its guard keeps a later unconditional copy harmless.
            self.out.append(f"/* ---- {self.label(hdr)} ---- */")
            self.emit_file(hdr, True)
            self.out.append(f"/* ---- end of {self.label(hdr)} ---- */")

    @staticmethod
    def label(path):
        rel = os.path.relpath(path, ROOT)
        return path if rel.startswith("..") else rel


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True, help="output directory")
    ap.add_argument("--include", action="append", default=[],
                    help="extra directory for quoted includes (default: src, include)")
    ap.add_argument("sources", nargs="*")
    a = ap.parse_args()

    sources = [os.path.realpath(s) for s in a.sources] or \
        sorted(glob.glob(os.path.join(ROOT, "src", "*.c")))
    if not sources:
        fail("no sources")
    include_dirs = [os.path.realpath(d) for d in a.include] or \
        [os.path.join(ROOT, "src"), os.path.join(ROOT, "include")]
    public = os.path.join(ROOT, "include", "slotcache.h")

    # Names defined by more than one source are the ones to rename.
    owners, macro_owners = {}, {}
    for s in sources:
        names, macros = defined_names(read(s))
        for n in names:
            owners.setdefault(n, []).append(s)
        for n in macros:
            macro_owners.setdefault(n, []).append(s)
    clashes = {n for n, files in owners.items() if len(files) > 1}
    macro_clashes = {n for n, files in macro_owners.items() if len(files) > 1}

    am = Amalgamator(include_dirs)
    am.out += [
        "/* slotcache.c: the whole of libslotcache in one file, generated by",
        " * scripts/amalgamate.py from " + ", ".join(am.label(s) for s in sources) + ".",
        " * Do not edit; build with e.g. `cc -O2 app.c slotcache.c -pthread`. */",
        "#ifndef _GNU_SOURCE",
        "#define _GNU_SOURCE /* the library build defines it for every file */",
        "#endif",
    ]
    # The public header first, so every file sees one copy of it.
    am.done.add(os.path.realpath(public))
    am.out.append("/* ---- include/slotcache.h ---- */")
    am.emit_file(public, True)
    for s in sources:
        stem = re.sub(r"\W", "_", os.path.splitext(os.path.basename(s))[0])
        mine = sorted(n for n in clashes if s in owners[n])
        my_macros = sorted(n for n in macro_clashes if s in macro_owners[n])
        am.out.append(f"/* ==== {am.label(s)} ==== */")
        for n in mine:
            am.out.append(f"#define {n} slc__{stem}_{n}")
        am.emit_file(s, False)
        # A file's own macros end with it, so the next file may reuse a name.
        for n in mine + my_macros:
            am.out.append(f"#undef {n}")

    os.makedirs(a.out, exist_ok=True)
    with open(os.path.join(a.out, "slotcache.c"), "w", encoding="utf-8") as f:
        f.write("\n".join(am.out) + "\n")
    with open(os.path.join(a.out, "slotcache.h"), "w", encoding="utf-8") as f:
        f.write(read(public))
    if clashes or macro_clashes:
        print("amalgamate: per-file names: " +
              ", ".join(sorted(clashes | macro_clashes)))


if __name__ == "__main__":
    main()
