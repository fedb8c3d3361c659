#!/usr/bin/env bash
# tests/profile_pprof.sh -- `go tool pprof` reads tricolor's heap profile.
#
# Usage: profile_pprof.sh TEST_BINARY WORK_DIR
#
# Runs test_collector_profile's rate-1 test with TC_TEST_PPROF_OUT set, so
# it writes its profile in Go's legacy text format (TC_HEAP_PROFILE_PPROF),
# then has `go tool pprof -top` read it against the test binary and checks
# that site_a holds 75% and site_b 25% of the allocated objects (the test
# allocates 3:1).  Registered by tests/CMakeLists.txt only where `go` is
# installed and the build is native (label `tool`).
set -euo pipefail
bin=$1
work=$2
mkdir -p "$work"
prof=$work/heap.prof
rm -f "$prof"
TC_TEST_PPROF_OUT=$prof CMOCKA_TEST_ABORT=0 "$bin" >"$work/test.log" 2>&1 || {
  cat "$work/test.log"; exit 1; }
[[ -s $prof ]] || { echo "profile_pprof: $prof was not written" >&2; exit 1; }
top=$(go tool pprof -top -sample_index=alloc_objects "$bin" "$prof" 2>&1) || {
  echo "$top"; exit 1; }
echo "$top"
# "flat flat% sum% cum cum% name": site_a 75%, site_b 25% of the objects
echo "$top" | awk '
  $NF == "site_a" && $2 == "75.00%" { a = 1 }
  $NF == "site_b" && $2 == "25.00%" { b = 1 }
  END { if (!a || !b) { print "profile_pprof: site_a 75% / site_b 25% not found" > "/dev/stderr"; exit 1 } }'
