#!/usr/bin/env bash
# Read-path check (not a timing test): slc_get, slc_get_many, slc_len,
# slc_generation and streaming scans (slc_scan, slc_scan_match) must make no
# system call and allocate nothing; snapshot
# scans may allocate only in proportion to their matches. Also prints the
# writer's staging memory per staged op.
#
#   bench/readpath.sh [build-dir]     (default _build/bench)
#
# System calls: readpath_check runs under strace; every call between a
# "BEGIN <phase>" and "END <phase>" marker (failing writes to fd -1) is
# counted. Allocations: readpath_check wraps malloc/calloc/realloc/free.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/_build/bench}
exe=$build/bench/readpath_check
[ -x "$exe" ] || { echo "build first: $exe missing" >&2; exit 2; }
command -v strace >/dev/null || { echo "strace is needed (apt install strace)" >&2; exit 2; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

strace -f -qq -o "$tmp/trace" "$exe" --n 100000 --gets 100000 --dir "$tmp/data" >"$tmp/out"
cat "$tmp/out"
fail=0
# Count syscalls strictly between the markers of each phase; brk/mmap/
# munmap/mremap are counted apart: they come from malloc growing the heap
# for snapshot results (allowed there, and checked below to be 0 elsewhere).
awk '
  /write\(-1, "BEGIN / { match($0, /BEGIN [a-z_]+/); ph = substr($0, RSTART + 6, RLENGTH - 6); n = 0; on = 1; next }
  /write\(-1, "END /   { printf "SYSCALLS %s %d memory %d\n", ph, n, m[ph]; on = 0; next }
  on && /^[0-9]+ +(brk|mmap|munmap|mremap)\(/ { m[ph]++; next }
  on                   { n++; calls[ph] = calls[ph] sprintf("    %s\n", $0) }
  END { for (p in calls) if (calls[p] != "") printf "in %s:\n%s", p, calls[p] }
' "$tmp/trace" | tee "$tmp/sys"

for ph in get scan_stream scan_snapshot_none scan_snapshot_one_percent scan_snapshot_all; do
  n=$(awk -v p="$ph" '$1 == "SYSCALLS" && $2 == p { print $3 }' "$tmp/sys")
  [ "$n" = 0 ] || { echo "FAIL: $ph made ${n:-?} system calls"; fail=1; }
done
for ph in get scan_stream scan_snapshot_none; do
  mm=$(awk -v p="$ph" '$1 == "SYSCALLS" && $2 == p { print $5 }' "$tmp/sys")
  [ "${mm:-0}" = 0 ] || { echo "FAIL: $ph made $mm memory system calls"; fail=1; }
  a=$(awk -v p="$ph" '$1 == "CHECK" && $2 == p { print $4 }' "$tmp/out")
  [ "$a" = 0 ] || { echo "FAIL: $ph made ${a:-?} allocations"; fail=1; }
done
if [ $fail = 0 ]; then
  echo "PASS: slc_get, slc_get_many, len, generation and streaming scans: 0 system calls, 0 allocations;"
  echo "      snapshot scans: no system call but malloc's own heap growth, allocations only for matches (bytes_per_match)"
fi
exit $fail
