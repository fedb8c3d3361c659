# project_test.sh -- helpers of the tests that build a separate CMake
# project against this build (tests/install/run.sh, tests/subproject/
# run.sh).  Sourced, after setting TEST_NAME ("install test") and cache
# (BUILD_DIR/CMakeCache.txt).

# cache_get VAR [CACHE]: VAR's value in CACHE (default: $cache).
cache_get() { sed -n "s/^$1:[A-Z]*=//p" "${2:-$cache}" | head -n 1; }
step() { printf '\n== %s: %s\n' "$TEST_NAME" "$*"; }
fail() { printf '%s: FAILED: %s\n' "$TEST_NAME" "$*" >&2; exit 1; }
# run LOG CMD...: runs CMD with output in LOG; shows LOG if CMD fails.
run() {
  local log=$1; shift
  if ! "$@" >"$log" 2>&1; then
    cat "$log" >&2
    fail "$* (log: $log)"
  fi
}
