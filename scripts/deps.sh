#!/usr/bin/env bash
# deps.sh -- installs the Debian packages tricolor needs to build, test and
# benchmark, if any is missing.  Idempotent; prints nothing when everything
# is already installed.  Runs `apt-get update` only when it must install.
#
#   bash scripts/deps.sh            # install what is missing
#   bash scripts/deps.sh --check    # only report; exit 1 if something is missing
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
  python3                     # bench/run.py, scripts/memcheck.py
  golang-go                   # bench peer: Go's own GC
)

check_only=0
case "${1:-}" in
  --check) check_only=1 ;;
  "") ;;
  *) echo "usage: $0 [--check]" >&2; exit 2 ;;
esac

if ! command -v dpkg-query >/dev/null 2>&1 || ! command -v apt-get >/dev/null 2>&1; then
  echo "deps.sh: not a Debian-like system (no dpkg-query/apt-get); install by hand:" >&2
  echo "  ${PACKAGES[*]}" >&2
  # Not fatal: the build says precisely what it cannot find.
  exit 0
fi

missing=()
for p in "${PACKAGES[@]}"; do
  status=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
  [ "$status" = installed ] || missing+=("$p")
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
  status=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
  [ "$status" = installed ] || still+=("$p")
done
if [ ${#still[@]} -ne 0 ]; then
  echo "deps.sh: could not install: ${still[*]}" >&2
  exit 1
fi
echo "deps.sh: done" >&2
