# project_test.sh -- helpers of the tests that build a separate CMake
# project against this build (tests/install/run.sh, tests/subproject/
# run.sh).  Sourced, after setting TEST_NAME ("install test"); then
# project_start reads BUILD_DIR's cache and empties WORK_DIR.

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

# project_start BUILD_DIR WORK_DIR: sets build and work (absolute; WORK_DIR
# emptied), cache (BUILD_DIR/CMakeCache.txt, which must exist) and from it
# cc (default cc), generator with gen_args (-G GENERATOR, or none),
# sanitize (TRICOLOR_SANITIZE) and san_flags (its -fsanitize flags, for the
# consumers: a sanitizer-built library needs the runtime first).
project_start() {
  build=$(cd "$1" && pwd)
  cache=$build/CMakeCache.txt
  [ -f "$cache" ] || { echo "$TEST_NAME: $cache missing" >&2; exit 1; }
  cc=$(cache_get CMAKE_C_COMPILER)
  : "${cc:=cc}"
  generator=$(cache_get CMAKE_GENERATOR)
  gen_args=()
  [ -z "$generator" ] || gen_args=(-G "$generator")
  sanitize=$(cache_get TRICOLOR_SANITIZE)
  san_flags=""
  [ -z "$sanitize" ] ||
    san_flags="-fsanitize=$sanitize -fno-omit-frame-pointer"
  work=$2
  rm -rf "$work"
  mkdir -p "$work"
  work=$(cd "$work" && pwd)
}
