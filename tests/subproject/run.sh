#!/usr/bin/env bash
# run.sh SOURCE_DIR BUILD_DIR WORK_DIR -- the subproject test (ctest:
# subproject_add_subdirectory).
#
#   1. configure tests/subproject/ (add_subdirectory(SOURCE_DIR tricolor))
#      in WORK_DIR/build with BUILD_DIR's compiler and generator, build it
#      and run its embedder
#   2. check that only the library came with it: TRICOLOR_BUILD_TESTS,
#      _BENCH and _EXAMPLES default to OFF, no tests/, bench/ or examples/
#      build folder, and no test, stress, bench or mal target
#   3. negative control: configured (not built) with
#      -DTRICOLOR_BUILD_TESTS=ON in WORK_DIR/control, the same listing
#      shows test_smoke, so step 2 would have seen it
#
# A sanitizer build (TRICOLOR_SANITIZE in BUILD_DIR's cache) builds the
# subproject with the same -fsanitize flags, as the install test does.
set -euo pipefail

if [ $# -ne 3 ]; then
  echo "usage: $0 SOURCE_DIR BUILD_DIR WORK_DIR" >&2
  exit 2
fi
src=$(cd "$1" && pwd)
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

TEST_NAME="subproject test"
# shellcheck source=../project_test.sh
. "$here/../project_test.sh" # project_start, cache_get, step, fail, run
project_start "$2" "$3" # build, work, cache, cc, gen_args, san_flags

# configure DIR ARGS...: configures tests/subproject/ into DIR.
configure() {
  local dir=$1; shift
  run "$dir.configure.log" cmake -S "$here" -B "$dir" "${gen_args[@]}" \
    -DTRICOLOR_SOURCE_DIR="$src" \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCMAKE_C_COMPILER="$cc" \
    -DCMAKE_C_FLAGS="$san_flags" \
    -DCMAKE_EXE_LINKER_FLAGS="$san_flags" \
    -DCMAKE_SHARED_LINKER_FLAGS="$san_flags" "$@"
}

# targets DIR: the build targets of DIR, one a line.
targets() {
  case $generator in
    Ninja*) cmake --build "$1" -- -t targets all |
              sed -n 's/^\([^:/]*\): .*/\1/p' ;;
    *) cmake --build "$1" --target help | sed -n 's/^\.\.\. \([^ ]*\).*/\1/p' ;;
  esac
}

# ------------------------------------------------- build and run
step "add_subdirectory($src tricolor) in $work/build"
configure "$work/build"
run "$work/build.log" cmake --build "$work/build" -j 2
step "run embedder"
"$work/build/embedder" || fail "embedder exited with status $?"

# ------------------------------------------------- only the library
step "only the library was configured and built"
for opt in TRICOLOR_BUILD_TESTS TRICOLOR_BUILD_BENCH TRICOLOR_BUILD_EXAMPLES; do
  v=$(cache_get "$opt" "$work/build/CMakeCache.txt")
  [ "$v" = OFF ] || fail "$opt is '$v' in a subproject, not OFF"
done
for d in tests bench examples; do
  [ ! -e "$work/build/tricolor/$d" ] ||
    fail "$work/build/tricolor/$d exists: tricolor's $d/ was added"
done
targets "$work/build" >"$work/targets.txt"
for t in tricolor tricolor_static embedder; do
  grep -qx "$t" "$work/targets.txt" ||
    fail "no target $t (targets: $work/targets.txt)"
done
extra=$(grep -E '^(test_|stress_|bench_|lab_|mal$)' "$work/targets.txt" || true)
[ -z "$extra" ] || fail "targets beyond the library: $(echo $extra)"
grep -Ev '\.(o|i|s)$|^cmake_object_order' "$work/targets.txt" |
  sed 's/^/  target /' || true

# ------------------------------------------------- negative control
step "control: -DTRICOLOR_BUILD_TESTS=ON lists test_smoke"
configure "$work/control" -DTRICOLOR_BUILD_TESTS=ON
targets "$work/control" >"$work/control-targets.txt"
grep -qx test_smoke "$work/control-targets.txt" ||
  fail "test_smoke not listed with TRICOLOR_BUILD_TESTS=ON: the check is blind"
echo "  test_smoke listed"

printf '\nsubproject test: ok (library only; embedder ran)\n'
