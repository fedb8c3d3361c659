#!/usr/bin/env bash
# bench.sh -- builds tricolor for measuring and runs the benchmarks.
#
#   bash scripts/bench.sh [--quick] [bench/run.py arguments...]
#
# Release build in build/bench (TRICOLOR_DEBUG=0, no tests), then:
#   1. python3 bench/run.py --build build/bench "$@"   collector benchmarks
#      (GCBench, binary-trees on 1 and 2 mutators, parked coroutines), every
#      tricolor barrier mode beside the peers, with pause distributions;
#   2. python3 bench/barrier.py --build build/bench     the barrier's cost
#      to the mutator (paired runs, callgrind instruction counts);
#   3. python3 bench/sched.py --build build/bench       the scheduler.
# --quick is passed to all three (a smoke run of a few minutes); every other
# argument goes to run.py only.  See bench/README.md.
# TRICOLOR_JOBS sets the build parallelism (default 2).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
JOBS=${TRICOLOR_JOBS:-2}

bash scripts/deps.sh

echo "== configure + build: build/bench (Release, TRICOLOR_DEBUG=0)" >&2
cmake -S . -B build/bench -DCMAKE_BUILD_TYPE=Release >&2 \
  -DTRICOLOR_DEBUG=0 -DTRICOLOR_BUILD_TESTS=OFF -DTRICOLOR_BUILD_BENCH=ON \
  -DTRICOLOR_SANITIZE= -DTRICOLOR_WERROR=OFF
cmake --build build/bench -j "$JOBS" >&2

quick=()
for a in "$@"; do
  [ "$a" = "--quick" ] && quick=(--quick)
done
status=0
echo "== python3 bench/run.py --build build/bench $*" >&2
python3 bench/run.py --build build/bench "$@" || status=1
echo "== python3 bench/barrier.py --build build/bench ${quick[*]}" >&2
python3 bench/barrier.py --build build/bench "${quick[@]}" || status=1
echo "== python3 bench/sched.py --build build/bench ${quick[*]}" >&2
python3 bench/sched.py --build build/bench "${quick[@]}" || status=1
exit "$status"
