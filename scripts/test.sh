#!/usr/bin/env bash
# test.sh -- builds tricolor and runs every test suite; what CI runs.
#
#   bash scripts/test.sh                            # all steps
#   TRICOLOR_TEST_ONLY=asan bash scripts/test.sh    # a subset (comma-
#                                                   # separated for several)
#   TRICOLOR_TEST_SKIP=aarch64 bash scripts/test.sh # all but these
#
# Steps, each in its own build tree under build/, in this order:
#   plain     build/test: RelWithDebInfo, -Werror; files named in comments
#             and docs exist (scripts/check_comments.py); layer check of
#             the objects (scripts/check_layers.sh); ctest (unit + stress,
#             the tests labelled valgrind, which run a test program under
#             valgrind themselves, and gdb: the gdb extension under gdb,
#             tests/gdb/)
#   asan      build/asan: ASan + UBSan, TRICOLOR_DEBUG=2; ctest (all labels,
#             the install test with sanitizer-built consumers included)
#   tsan      build/tsan: ThreadSanitizer, TRICOLOR_DEBUG=2; ctest (all
#             labels; halt_on_error, so the first report fails the test)
#   aarch64   build/aarch64: cross build with cmake/aarch64-linux-gnu.cmake,
#             -Werror, TRICOLOR_DEBUG=2; ctest runs each test under
#             qemu-aarch64 (unit + stress + death; not install, not
#             valgrind, not gdb: the host's gdb cannot debug it there)
#   valgrind  build/test: memcheck of the tests labelled unit
#             (scripts/memcheck.py; death tests run with silent children)
#   install   build/test: install into a scratch prefix, build
#             tests/install/ with find_package and pkg-config, run; build
#             tests/subproject/ (add_subdirectory: the library only), run
#
# Tests labelled `slow` are left out everywhere (run: ctest -L slow);
# those labelled `span` (suites rerun in the span mark order) only in
# plain's ctest.
# Fails fast: the first failing step ends the run with a non-zero status.
# The summary lists each step's time; the last line is "N passed, M failed"
# over the steps.
#
# Environment: TRICOLOR_JOBS (default 2) build and test parallelism;
# TRICOLOR_TEST_ONLY / TRICOLOR_TEST_SKIP as above; ASAN_OPTIONS,
# UBSAN_OPTIONS and TSAN_OPTIONS are extended, not replaced.
# scripts/deps.sh runs first and installs what is missing; it leaves out the
# cross toolchain, qemu and the arm64 libraries when aarch64 is not run.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$(pwd)
JOBS=${TRICOLOR_JOBS:-2}
ALL_STEPS=(plain asan tsan aarch64 valgrind install) # the default run
OPT_STEPS=()                                         # run only when asked for

# ---------------------------------------------------------------- options
only=${TRICOLOR_TEST_ONLY:-}
steps=()
if [ -z "$only" ]; then
  steps=("${ALL_STEPS[@]}")
else
  IFS=', ' read -r -a wanted <<<"$only"
  for w in "${wanted[@]}"; do
    [ -z "$w" ] && continue
    case " ${ALL_STEPS[*]} ${OPT_STEPS[*]} " in
      *" $w "*) steps+=("$w") ;;
      *) echo "test.sh: unknown step '$w' in TRICOLOR_TEST_ONLY" \
              "(one or more of: ${ALL_STEPS[*]} ${OPT_STEPS[*]})" >&2
         exit 2 ;;
    esac
  done
fi
skip=${TRICOLOR_TEST_SKIP:-}
if [ -n "$skip" ]; then
  IFS=', ' read -r -a unwanted <<<"$skip"
  kept=()
  for s in "${steps[@]}"; do
    case " ${unwanted[*]} " in
      *" $s "*) echo "test.sh: step $s skipped (TRICOLOR_TEST_SKIP)" ;;
      *) kept+=("$s") ;;
    esac
  done
  for w in "${unwanted[@]}"; do
    case " ${ALL_STEPS[*]} ${OPT_STEPS[*]} " in
      *" $w "*) ;;
      *) echo "test.sh: unknown step '$w' in TRICOLOR_TEST_SKIP" >&2; exit 2 ;;
    esac
  done
  steps=("${kept[@]}")
fi
[ ${#steps[@]} -gt 0 ] || { echo "test.sh: no step selected" >&2; exit 2; }

# ---------------------------------------------------------------- helpers
header() {
  printf '\n'
  printf '=%.0s' {1..72}
  printf '\n== %s\n' "$*"
  printf '=%.0s' {1..72}
  printf '\n'
}
now() { date +%s; }

# configure_build DIR ARGS...: configures and builds one tree.
configure_build() {
  local dir=$1; shift
  echo "+ cmake -S . -B $dir $*"
  cmake -S . -B "$dir" "$@"
  echo "+ cmake --build $dir -j $JOBS"
  cmake --build "$dir" -j "$JOBS"
}

# The plain build builds the benchmarks with the tests (so -Werror covers
# them); the sanitizer and cross builds never build them.
plain_built=0
ensure_plain_build() {
  [ "$plain_built" = 1 ] && return 0
  configure_build build/test -DTRICOLOR_WERROR=ON \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTRICOLOR_BUILD_TESTS=ON \
    -DTRICOLOR_SANITIZE= -DTRICOLOR_DEBUG=1 -DTRICOLOR_BUILD_BENCH=ON
  plain_built=1
}

ctest_run() { # ctest_run DIR ARGS...
  local dir=$1; shift
  echo "+ (cd $dir && ctest --output-on-failure -j $JOBS --no-tests=error $*)"
  (cd "$dir" && ctest --output-on-failure -j "$JOBS" --no-tests=error "$@")
}

# ------------------------------------------------------------------ steps
step_plain() {
  echo "+ python3 scripts/check_comments.py"
  python3 scripts/check_comments.py
  ensure_plain_build
  echo "+ bash scripts/check_layers.sh build/test"
  bash scripts/check_layers.sh build/test
  ctest_run build/test -LE 'install|slow'
}

step_asan() {
  configure_build build/asan -DTRICOLOR_WERROR=ON \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTRICOLOR_BUILD_TESTS=ON \
    -DTRICOLOR_BUILD_BENCH=OFF \
    -DTRICOLOR_SANITIZE=address,undefined -DTRICOLOR_DEBUG=2
  # abort_on_error=0: a sanitizer report exits 1 instead of raising SIGABRT,
  # so a death test cannot mistake an ASan report for the library's abort
  # (tc_expect_death still accepts it, but the report is in its output).
  export ASAN_OPTIONS="detect_leaks=1:abort_on_error=0:halt_on_error=1:strict_string_checks=1${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
  export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}"
  ctest_run build/asan -LE 'slow|span'
}

step_tsan() {
  configure_build build/tsan -DTRICOLOR_WERROR=ON \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTRICOLOR_BUILD_TESTS=ON \
    -DTRICOLOR_BUILD_BENCH=OFF \
    -DTRICOLOR_SANITIZE=thread -DTRICOLOR_DEBUG=2
  # halt_on_error: the first report ends the test with exit status 66 (a
  # death test's child that TSan stops counts as dead, and the report is in
  # its captured stderr, as under ASan).  second_deadlock_stack: lock-order
  # reports show where both locks were taken.  No suppressions: a report is
  # a race in the library or the test, or a missing fiber annotation.
  export TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1${TSAN_OPTIONS:+:$TSAN_OPTIONS}"
  ctest_run build/tsan -LE 'slow|span'
}

# The aarch64 cross build under qemu-user.  Each test is run by ctest as
# `qemu-aarch64 -L /usr/aarch64-linux-gnu -E LD_LIBRARY_PATH=... test_x`
# (CMAKE_CROSSCOMPILING_EMULATOR, cmake/aarch64-linux-gnu.cmake).  qemu runs
# the guest's threads on host threads, with x86-64's stronger memory order:
# this step finds aarch64 build, ABI and context-switch errors, not missing
# barriers.
step_aarch64() {
  configure_build build/aarch64 \
    -DCMAKE_TOOLCHAIN_FILE="$ROOT/cmake/aarch64-linux-gnu.cmake" \
    -DTRICOLOR_WERROR=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DTRICOLOR_BUILD_TESTS=ON -DTRICOLOR_BUILD_BENCH=OFF \
    -DTRICOLOR_SANITIZE= -DTRICOLOR_DEBUG=2
  check_emulated build/aarch64
  echo "aarch64: the install test (label install) and the valgrind step are" \
       "not run on aarch64; both run on the host build (steps install, valgrind)"
  ctest_run build/aarch64 -LE 'install|slow|span'
}

# check_emulated DIR: every test outside the install label must run through
# the cross build's emulator.  A test whose command starts with a script or
# a host program would run target binaries natively: without binfmt_misc it
# fails with "Exec format error", with it it silently bypasses the -L and
# -E settings of the emulator.
check_emulated() {
  local dir=$1 emu
  emu=$(sed -n 's/^TRICOLOR_QEMU:[A-Z]*=//p' "$dir/CMakeCache.txt")
  [ -n "$emu" ] || { echo "check_emulated: no TRICOLOR_QEMU in $dir/CMakeCache.txt" >&2; return 1; }
  (cd "$dir" && ctest --show-only=json-v1 -LE install) | python3 -c '
import json, sys
emu = sys.argv[1]
bad = []
tests = json.load(sys.stdin).get("tests", [])
for t in tests:
    cmd = t.get("command") or []
    if not cmd or cmd[0] != emu:
        bad.append("%s: %s" % (t["name"], " ".join(cmd) or "(no command)"))
if bad:
    print("aarch64: tests not run through %s:" % emu, file=sys.stderr)
    for b in bad:
        print("  " + b, file=sys.stderr)
    sys.exit(1)
print("aarch64: all %d tests run through %s" % (len(tests), emu))
' "$emu"
}

step_valgrind() {
  ensure_plain_build
  echo "+ python3 scripts/memcheck.py --build build/test -L unit -LE 'install|slow|span' -j $JOBS"
  python3 scripts/memcheck.py --build build/test -L unit -LE 'install|slow|span' -j "$JOBS"
}

step_install() {
  ensure_plain_build
  ctest_run build/test -L install
}

describe() {
  case $1 in
    plain) echo "plain build (RelWithDebInfo, -Werror): build/test, comment check, layer check, ctest" ;;
    asan) echo "ASan + UBSan build (TRICOLOR_DEBUG=2): build/asan, ctest" ;;
    valgrind) echo "valgrind memcheck of the unit tests: build/test" ;;
    install) echo "install tests: find_package + pkg-config against an install, add_subdirectory" ;;
    tsan) echo "ThreadSanitizer build (TRICOLOR_DEBUG=2): build/tsan, ctest" ;;
    aarch64) echo "aarch64 cross build (TRICOLOR_DEBUG=2): build/aarch64, ctest under qemu-aarch64" ;;
  esac
}

# ------------------------------------------------------------------- main
start_all=$(now)
header "dependencies (scripts/deps.sh)"
deps_args=()
case " ${steps[*]} " in
  *" aarch64 "*) ;;
  *) deps_args+=(--no-aarch64) ;;
esac
bash scripts/deps.sh "${deps_args[@]}"
echo "all present"

passed=0
failed=0
n=${#steps[@]}
times=()   # "step seconds status" per step run
print_times() {
  local line
  echo "step times:"
  for line in "${times[@]}"; do
    # shellcheck disable=SC2086 # the fields are words
    printf '  %-9s %5s s  %s\n' $line
  done
}
i=0
for s in "${steps[@]}"; do
  i=$((i + 1))
  header "[$i/$n] $s: $(describe "$s")"
  t0=$(now)
  # set -e is ignored inside a function called from `if`/`||`; run the step
  # in a subshell as a plain command so that it stops at its first error.
  set +e
  ( set -e; "step_$s" )
  rc=$?
  set -e
  t=$(($(now) - t0))
  if [ "$rc" -ne 0 ]; then
    times+=("$s $t FAILED")
    failed=$((failed + 1))
    skipped=$((n - i))
    printf '\n!! step %s FAILED (exit %d) after %d s\n' "$s" "$rc" "$t"
    print_times
    if [ "$skipped" -gt 0 ]; then
      echo "!! not run: ${steps[*]:$i}"
      echo "$passed passed, $failed failed, $skipped skipped"
    else
      echo "$passed passed, $failed failed"
    fi
    exit 1
  fi
  # plain_built is set in the subshell; remember it here too.
  case $s in plain|valgrind|install) plain_built=1 ;; esac
  passed=$((passed + 1))
  times+=("$s $t passed")
  printf '\n-- step %s passed in %d s\n' "$s" "$t"
done

header "summary: ${steps[*]} in $(($(now) - start_all)) s"
print_times
echo "$passed passed, $failed failed"
