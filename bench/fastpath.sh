#!/usr/bin/env bash
# bench/fastpath.sh -- instructions per small allocation, per backend.
#
# Usage: bench/fastpath.sh BUILD_DIR [N]
#
# For every bench_alloc_fastpath_<backend> built in BUILD_DIR (or
# BUILD_DIR/bench), runs the program twice under
# `valgrind --tool=callgrind`: once allocating N 16-byte objects ("alloc")
# and once running the same loop without the allocation ("base"), with
# collection off.  Prints (Ir_alloc - Ir_base) / N: the instructions one
# allocation costs, start-up and loop overhead cancelled, the slow path
# (refills, zeroing) amortised in.  See bench_alloc_fastpath.c.
#
# N defaults to 1000000; callgrind runs the program ~50x slower, so the
# whole script takes a few seconds per backend.
set -euo pipefail

if [[ $# -lt 1 || $# -gt 2 ]]; then
  echo "usage: $0 BUILD_DIR [N]" >&2
  exit 2
fi
build=$1
n=${2:-1000000}

if ! command -v valgrind >/dev/null 2>&1; then
  echo "fastpath: valgrind not found" >&2
  exit 1
fi

bindir=$build/bench
[[ -d $bindir ]] || bindir=$build

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# Prints the total instruction count (Ir) of one callgrind run.
count_ir() { # backend mode
  local out=$tmp/$1.$2.out
  if ! valgrind --tool=callgrind --callgrind-out-file="$out" \
      "$bindir/bench_alloc_fastpath_$1" "$2" "$n" \
      >"$tmp/$1.$2.log" 2>&1; then
    echo "fastpath: $1 $2 failed, log:" >&2
    cat "$tmp/$1.$2.log" >&2
    return 1
  fi
  awk '/^totals:/ { print $2; found = 1 } END { exit !found }' "$out"
}

printf '%-10s %14s %14s %10s\n' backend Ir_alloc Ir_base 'Ir/alloc'
found=0
for backend in tricolor boehm glibc mimalloc jemalloc; do
  bin=$bindir/bench_alloc_fastpath_$backend
  if [[ ! -x $bin ]]; then
    printf '%-10s skipped (%s not built)\n' "$backend" "${bin##*/}"
    continue
  fi
  found=1
  echo "fastpath: $backend ..." >&2
  ir_alloc=$(count_ir "$backend" alloc) || continue
  ir_base=$(count_ir "$backend" base) || continue
  awk -v b="$backend" -v a="$ir_alloc" -v z="$ir_base" -v n="$n" \
    'BEGIN { printf "%-10s %14d %14d %10.1f\n", b, a, z, (a - z) / n }'
done
echo "(N = $n allocations of 16 bytes, collection off)"
[[ $found == 1 ]] || { echo "fastpath: no bench_alloc_fastpath_* in $bindir" >&2; exit 1; }
