#!/usr/bin/env bash
# bench.sh -- builds tricolor for measuring and runs the benchmarks.
#
#   bash scripts/bench.sh [bench/run.py arguments...]
#
# Release build in build/bench (TRICOLOR_DEBUG=0, no tests), then
# `python3 bench/run.py --build build/bench "$@"` (collector benchmarks)
# and `python3 bench/sched.py --build build/bench` (scheduler); see
# bench/README.md.
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

# The collector benchmarks (GCBench, binary-trees), then the scheduler's
# (bench/sched.py; --quick is passed on to it, other options are run.py's).
echo "== python3 bench/run.py --build build/bench $*" >&2
python3 bench/run.py --build build/bench "$@"
sched_args=()
for a in "$@"; do
  [ "$a" = "--quick" ] && sched_args+=(--quick)
done
echo "== python3 bench/sched.py --build build/bench ${sched_args[*]}" >&2
python3 bench/sched.py --build build/bench "${sched_args[@]}"
