#!/usr/bin/env bash
# bench.sh -- builds tricolor for measuring and runs the benchmarks.
#
#   bash scripts/bench.sh [bench/run.py arguments...]
#
# Release build in build/bench (TRICOLOR_DEBUG=0, no tests), then
# `python3 bench/run.py --build build/bench "$@"`; see bench/README.md.
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

if [ ! -f bench/run.py ]; then
  echo "bench.sh: bench/run.py does not exist yet" >&2
  exit 1
fi
echo "== python3 bench/run.py --build build/bench $*" >&2
exec python3 bench/run.py --build build/bench "$@"
