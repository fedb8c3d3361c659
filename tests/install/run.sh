#!/usr/bin/env bash
# run.sh BUILD_DIR WORK_DIR -- the install test (ctest: install_find_package).
#
#   1. cmake --install BUILD_DIR --prefix WORK_DIR/prefix
#   2. configure tests/install/ with -DCMAKE_PREFIX_PATH=WORK_DIR/prefix,
#      build consumer_shared (tricolor::tricolor) and consumer_static
#      (tricolor::tricolor_static), run both
#   3. build main.c with `pkg-config --cflags --libs tricolor` from
#      PKG_CONFIG_PATH=<prefix>/<libdir>/pkgconfig, run it
#
# A sanitizer build (TRICOLOR_SANITIZE in BUILD_DIR's cache) installs a
# library that needs the sanitizer runtime first in the process, so the
# consumers are built with the same -fsanitize flags.
set -euo pipefail

if [ $# -ne 2 ]; then
  echo "usage: $0 BUILD_DIR WORK_DIR" >&2
  exit 2
fi
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

TEST_NAME="install test"
# shellcheck source=../project_test.sh
. "$here/../project_test.sh" # project_start, cache_get, step, fail, run
project_start "$1" "$2" # build, work, cache, cc, gen_args, san_flags

libdir=$(cache_get CMAKE_INSTALL_LIBDIR)
includedir=$(cache_get CMAKE_INSTALL_INCLUDEDIR)
: "${libdir:=lib}" "${includedir:=include}"
if [ -n "$sanitize" ]; then
  echo "install test: sanitizer build ($sanitize): consumers get $san_flags"
fi
prefix=$work/prefix

step "cmake --install $build --prefix $prefix"
run "$work/install.log" cmake --install "$build" --prefix "$prefix"
sed 's/^/  /' "$work/install.log"

case $libdir in
  /*) fail "CMAKE_INSTALL_LIBDIR is absolute ($libdir); cannot relocate" ;;
esac
if [ ! -d "$prefix/$libdir" ]; then
  # Search rather than guess (lib vs lib/x86_64-linux-gnu vs lib64).
  pc=$(find "$prefix" -name tricolor.pc -print -quit)
  [ -n "$pc" ] || fail "no tricolor.pc under $prefix"
  libdir=${pc#"$prefix/"}
  libdir=${libdir%/pkgconfig/tricolor.pc}
fi
for f in "$includedir/tricolor.h" "$includedir/tricolor/inline.h" \
         "$libdir/pkgconfig/tricolor.pc" \
         "$libdir/cmake/tricolor/tricolorConfig.cmake"; do
  [ -f "$prefix/$f" ] || fail "not installed: $prefix/$f"
done

# ---------------------------------------------------------------- CMake
step "find_package(tricolor CONFIG) with CMAKE_PREFIX_PATH=$prefix"
run "$work/configure.log" cmake -S "$here" -B "$work/build" "${gen_args[@]}" \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_C_COMPILER="$cc" \
  -DCMAKE_C_FLAGS="$san_flags" \
  -DCMAKE_EXE_LINKER_FLAGS="$san_flags" \
  -DCMAKE_PREFIX_PATH="$prefix" \
  -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF \
  -DCMAKE_FIND_USE_SYSTEM_PACKAGE_REGISTRY=OFF
grep 'tricolor .* found in' "$work/configure.log" | sed 's/^/  /'
found=$(sed -n 's/^tricolor_DIR:[A-Z]*=//p' "$work/build/CMakeCache.txt")
case $found in
  "$prefix"/*) ;;
  *) fail "find_package found tricolor in '$found', not under $prefix" ;;
esac
run "$work/build.log" cmake --build "$work/build" -j 2
for kind in shared static; do
  exe=$work/build/consumer_$kind
  step "run consumer_$kind"
  "$exe" || fail "consumer_$kind exited with status $?"
done
# The shared consumer must load the installed library, not the build tree's.
if command -v ldd >/dev/null 2>&1; then
  so=$(ldd "$work/build/consumer_shared" | awk '/libtricolor\.so/ {print $3}')
  case $so in
    "$prefix"/*) echo "  consumer_shared loads $so" ;;
    *) fail "consumer_shared loads libtricolor from '$so', not from $prefix" ;;
  esac
fi

# ------------------------------------------------------------ pkg-config
step "pkg-config --cflags --libs tricolor with PKG_CONFIG_PATH=$prefix/$libdir/pkgconfig"
command -v pkg-config >/dev/null 2>&1 || fail "pkg-config not installed"
export PKG_CONFIG_PATH=$prefix/$libdir/pkgconfig
pc_version=$(pkg-config --modversion tricolor) || fail "pkg-config cannot read tricolor.pc"
pc_flags=$(pkg-config --cflags --libs tricolor)
echo "  tricolor $pc_version: $pc_flags"
# Every -I and -L must name the installed tree: a .pc whose prefix was fixed
# at configure time points at CMAKE_INSTALL_PREFIX instead of --prefix.
for flag in $pc_flags; do
  case $flag in
    -I*) want=$prefix/$includedir; dir=${flag#-I} ;;
    -L*) want=$prefix/$libdir; dir=${flag#-L} ;;
    *) continue ;;
  esac
  real=$(realpath -m "$dir")
  if [ "$real" != "$(realpath -m "$want")" ]; then
    fail "tricolor.pc gives $flag, not $want: the .pc is not relocatable \
(its prefix was fixed when the build was configured, and \
'cmake --install --prefix' does not rewrite it; derive prefix from \${pcfiledir})"
  fi
done
# shellcheck disable=SC2086 # word splitting of the flags is intended
run "$work/pkgconfig-build.log" "$cc" -std=c11 -Wall -Wextra -Werror $san_flags \
  "$here/main.c" -o "$work/consumer_pkgconfig" $pc_flags
step "run consumer_pkgconfig"
LD_LIBRARY_PATH=$prefix/$libdir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH} \
  "$work/consumer_pkgconfig" || fail "consumer_pkgconfig exited with status $?"

printf '\ninstall test: ok (find_package shared + static, pkg-config)\n'
