#!/usr/bin/env bash
# lab.sh -- the README's main command: builds tricolor for measuring and
# runs the pause-time lab (bench/tricolor-lab) on its default workloads.
#
#   bash scripts/lab.sh [tricolor-lab arguments...]
#
# 1. scripts/deps.sh --no-aarch64 installs what is missing (apt-get);
# 2. a Release build in build/bench (TRICOLOR_DEBUG=0, no tests);
# 3. python3 bench/tricolor-lab --build build/bench "$@": binary-trees,
#    GCBench, a server-like load and 10 000 parked coroutines, each under
#    stw, insertion, deletion and hybrid, 3 runs each plus a floating-garbage
#    run; progress on stderr, then one table per workload, and the paths of
#    the SVG report and the raw JSON/CSV (build/lab/).
# Examples: --quick (a smoke run), --workloads parked --modes insertion,
# hybrid --trace /tmp/t.json (an event trace for Perfetto).  The peers
# (Boehm, malloc, Go) are compared by scripts/bench.sh.
# TRICOLOR_JOBS sets the build parallelism (default 2).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
JOBS=${TRICOLOR_JOBS:-2}

bash scripts/deps.sh --no-aarch64

echo "== configure + build: build/bench (Release, TRICOLOR_DEBUG=0)" >&2
cmake -S . -B build/bench -DCMAKE_BUILD_TYPE=Release >&2 \
  -DTRICOLOR_DEBUG=0 -DTRICOLOR_BUILD_TESTS=OFF -DTRICOLOR_BUILD_BENCH=ON \
  -DTRICOLOR_SANITIZE= -DTRICOLOR_WERROR=OFF
cmake --build build/bench -j "$JOBS" >&2

echo "== python3 bench/tricolor-lab --build build/bench $*" >&2
exec python3 bench/tricolor-lab --build build/bench "$@"
