#!/usr/bin/env bash
# deps.sh -- installs the Debian packages tricolor needs to build, test and
# benchmark, if any is missing.  Idempotent; prints nothing when everything
# is already installed.  Runs `apt-get update` only when it must install.
#
#   bash scripts/deps.sh               # install what is missing
#   bash scripts/deps.sh --check       # only report; exit 1 if something is missing
#   bash scripts/deps.sh --no-aarch64  # leave out the aarch64 cross build's
#                                      # packages (and the arm64 architecture)
#
# The aarch64 step of scripts/test.sh (cross build, tests under qemu-user)
# needs the cross compiler, qemu-user and the arm64 builds of cmocka and
# libunwind.  The last two come through Debian multiarch: when they are
# missing, this script runs `dpkg --add-architecture arm64` before
# `apt-get update`.  scripts/test.sh passes --no-aarch64 when that step is
# not selected (TRICOLOR_DEPS_AARCH64=0 in the environment does the same).
#
# Works as root, or through sudo when not root and sudo exists.
set -euo pipefail

PACKAGES=(
  cmake gcc make pkg-config   # build
  libcmocka-dev               # unit tests
  libunwind-dev               # allocation-site and creation-site stacks
  libgc-dev                   # bench peer: Boehm GC
  libmimalloc-dev             # bench peer: mimalloc
  libjemalloc-dev             # bench peer: jemalloc
  valgrind                    # memcheck step of scripts/test.sh
  gdb                         # the gdb extension's test (ctest label gdb)
  python3                     # bench/run.py, scripts/memcheck.py
  golang-go                   # bench peer: Go's own GC
)
# The aarch64 step (cmake/aarch64-linux-gnu.cmake).  A name with :arm64 is
# the arm64 build of a library, installed beside the host's (multiarch).
AARCH64_PACKAGES=(
  gcc-aarch64-linux-gnu       # cross compiler and binutils
  libc6-dev-arm64-cross       # its libc (only recommended by the compiler)
  qemu-user                   # qemu-aarch64 runs the tests
  libcmocka-dev:arm64         # unit tests
  libunwind-dev:arm64         # the library links libunwind
)

check_only=0
aarch64=${TRICOLOR_DEPS_AARCH64:-1}
for arg in "$@"; do
  case $arg in
    --check) check_only=1 ;;
    --no-aarch64) aarch64=0 ;;
    *) echo "usage: $0 [--check] [--no-aarch64]" >&2; exit 2 ;;
  esac
done
[ "$aarch64" = 0 ] || PACKAGES+=("${AARCH64_PACKAGES[@]}")

if ! command -v dpkg-query >/dev/null 2>&1 || ! command -v apt-get >/dev/null 2>&1; then
  echo "deps.sh: not a Debian-like system (no dpkg-query/apt-get); install by hand:" >&2
  echo "  ${PACKAGES[*]}" >&2
  # Not fatal: the build says precisely what it cannot find.
  exit 0
fi

native=$(dpkg --print-architecture)

# installed PKG[:ARCH]: true when PKG is installed for ARCH (default: the
# native architecture; an Architecture: all package counts for any).  With
# multiarch a bare name matches every architecture's instance, so the
# architecture must be compared, not just the status.
installed() {
  local name=${1%%:*} arch=$native
  case $1 in *:*) arch=${1#*:} ;; esac
  dpkg-query -W -f='${Architecture} ${db:Status-Status}\n' "$name" 2>/dev/null |
    grep -Ex "($arch|all) installed" >/dev/null
}

missing=()
for p in "${PACKAGES[@]}"; do
  installed "$p" || missing+=("$p")
done

[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$check_only" = 1 ]; then
  echo "deps.sh: missing packages: ${missing[*]}" >&2
  exit 1
fi

SUDO=()
if [ "$(id -u)" != 0 ]; then
  if command -v sudo >/dev/null 2>&1; then
    SUDO=(sudo)
  else
    echo "deps.sh: missing packages (${missing[*]}) and not root, no sudo;" >&2
    echo "  run as root: apt-get install ${missing[*]}" >&2
    exit 1
  fi
fi

# Foreign architectures the missing packages need (multiarch).
for p in "${missing[@]}"; do
  case $p in
    *:*)
      arch=${p#*:}
      if [ "$arch" != "$native" ] &&
         ! dpkg --print-foreign-architectures | grep -x "$arch" >/dev/null; then
        echo "deps.sh: dpkg --add-architecture $arch" >&2
        "${SUDO[@]}" dpkg --add-architecture "$arch"
      fi ;;
  esac
done

echo "deps.sh: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt_opts=(-q -o Dpkg::Use-Pty=0 -o DPkg::Lock::Timeout=300)
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive \
  apt-get "${apt_opts[@]}" update >/dev/null
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive \
  apt-get "${apt_opts[@]}" install -y --no-install-recommends "${missing[@]}" >/dev/null

# Verify: a package that apt could not install must not pass silently.
still=()
for p in "${missing[@]}"; do
  installed "$p" || still+=("$p")
done
if [ ${#still[@]} -ne 0 ]; then
  echo "deps.sh: could not install: ${still[*]}" >&2
  exit 1
fi
echo "deps.sh: done" >&2
