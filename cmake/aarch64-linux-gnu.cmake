# cmake/aarch64-linux-gnu.cmake -- cross-compiles tricolor for 64-bit Arm
# Linux with Debian's cross toolchain and runs the tests under qemu-user.
#
#   cmake -S . -B build/aarch64 \
#         -DCMAKE_TOOLCHAIN_FILE=cmake/aarch64-linux-gnu.cmake \
#         -DTRICOLOR_BUILD_BENCH=OFF
#   cmake --build build/aarch64 -j 2
#   (cd build/aarch64 && ctest -LE 'install|slow')
#
# What it needs (scripts/deps.sh installs it when the aarch64 step of
# scripts/test.sh is to run):
#   gcc-aarch64-linux-gnu   compiler, binutils, libc in /usr/aarch64-linux-gnu
#   qemu-user               qemu-aarch64, the emulator that runs the tests
#   libcmocka-dev:arm64     the test framework for arm64, through Debian
#                           multiarch (dpkg --add-architecture arm64), in
#                           /usr/lib/aarch64-linux-gnu with its .pc file
#
# Tests: ctest prefixes every add_test() command whose first word is an
# executable target with CMAKE_CROSSCOMPILING_EMULATOR, so the tests run as
#   qemu-aarch64 -L /usr/aarch64-linux-gnu \
#                -E LD_LIBRARY_PATH=/usr/aarch64-linux-gnu/lib \
#                build/aarch64/tests/test_x
# -L: the guest's dynamic loader (/lib/ld-linux-aarch64.so.1) is looked up
# under /usr/aarch64-linux-gnu first, so it is the cross libc's
# (libc6-arm64-cross), the libc the tests were linked against.
# -E LD_LIBRARY_PATH: the guest's libc.so.6 must come from the same place.
# Without it the loader follows the host's /etc/ld.so.cache, which lists the
# multiarch /lib/aarch64-linux-gnu/libc.so.6 once libc6:arm64 is installed
# (libcmocka-dev:arm64 pulls it in); that libc is a different Debian
# revision (2.36-9+deb12uN against the loader's 2.36-8cross1) and glibc's
# loader and libc share private structures: the mismatch made the first
# pthread_create loop for ever in the stack cache walk (allocate_stack).
# Libraries that only multiarch has (libcmocka.so.0) are still found in
# /usr/lib/aarch64-linux-gnu through the cache.  Forked children (death
# tests) stay inside the emulator.  A guest killed by a signal makes qemu
# print "qemu: uncaught target signal N" and die of the same signal.
#
# pkg-config: only the arm64 .pc files must be seen, never the host's, or
# the tests would link x86-64 libraries: PKG_CONFIG_LIBDIR is set to the
# arm64 multiarch directory (plus the architecture-independent
# /usr/share/pkgconfig) and PKG_CONFIG_PATH is cleared for the configure
# run.  Libraries are searched by CMake in /usr/lib/aarch64-linux-gnu
# (CMAKE_LIBRARY_ARCHITECTURE, detected from the compiler) and then in the
# cross sysroot; programs only on the host.
#
# Overrides (cache variables): TRICOLOR_CROSS_PREFIX (aarch64-linux-gnu-),
# TRICOLOR_QEMU (path of qemu-aarch64), TRICOLOR_QEMU_LD_PREFIX
# (/usr/aarch64-linux-gnu).

set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)

set(TRICOLOR_CROSS_PREFIX "aarch64-linux-gnu-" CACHE STRING
    "Prefix of the cross tools (gcc, ar, ...)")
set(TRICOLOR_QEMU_LD_PREFIX "/usr/aarch64-linux-gnu" CACHE PATH
    "qemu-aarch64 -L: where the guest's ld.so and libc live")

set(CMAKE_C_COMPILER "${TRICOLOR_CROSS_PREFIX}gcc")
set(CMAKE_ASM_COMPILER "${TRICOLOR_CROSS_PREFIX}gcc")

# Libraries and headers: the multiarch directories (found through
# CMAKE_LIBRARY_ARCHITECTURE) and the cross sysroot; never host programs
# from the sysroot.
set(CMAKE_FIND_ROOT_PATH "${TRICOLOR_QEMU_LD_PREFIX}")
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY BOTH)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE BOTH)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE BOTH)

# pkg-config sees the arm64 .pc files only.
set(ENV{PKG_CONFIG_LIBDIR}
    "/usr/lib/aarch64-linux-gnu/pkgconfig:/usr/share/pkgconfig")
set(ENV{PKG_CONFIG_PATH} "")
unset(ENV{PKG_CONFIG_SYSROOT_DIR})

# The emulator that runs the tests (and anything else ctest runs through a
# target).  find_program caches its result; a missing qemu is an error here,
# at configure time, rather than a "test not found" for every test later.
find_program(TRICOLOR_QEMU NAMES qemu-aarch64 qemu-aarch64-static
             DOC "qemu-user emulator for aarch64")
if(NOT TRICOLOR_QEMU)
  message(FATAL_ERROR
    "qemu-aarch64 not found, needed to run the aarch64 tests.\n"
    "Install it with:  apt-get install qemu-user  (or run scripts/deps.sh "
    "with TRICOLOR_DEPS_AARCH64=1).")
endif()
set(CMAKE_CROSSCOMPILING_EMULATOR
    "${TRICOLOR_QEMU};-L;${TRICOLOR_QEMU_LD_PREFIX};-E;LD_LIBRARY_PATH=${TRICOLOR_QEMU_LD_PREFIX}/lib")
