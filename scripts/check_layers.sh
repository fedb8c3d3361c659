#!/usr/bin/env bash
# check_layers.sh -- checks from a build tree's object files that the
# library's lower layers do not reach up: heap/ uses only heap/ and base/,
# base/ only base/; and that the collector (collector/, barrier/) and the
# scheduler (sched/) meet only through sched/world.h: every internal (tc__)
# symbol one side uses from the other is declared in that header.
#
#   bash scripts/check_layers.sh [BUILD_DIR]   # default build/test, from
#                                              # the repository's top
#
# For every object of a layer, each undefined library symbol (nm -u; a tc__
# internal or a public tc_ function) must be defined (nm -g --defined-only)
# by an object of the layer or of a layer it may use; system libraries are
# not looked at.  Each violation is printed with the object that defines
# the symbol.  Exit status: 0 clean; 1 a violation, a layer without objects
# (a wrong BUILD_DIR, or sources missing from TRICOLOR_SOURCES) or an nm
# that failed.  nm is the build tree's (CMAKE_NM), so a cross build is read
# with its own binutils; NM=... overrides it.
set -euo pipefail
shopt -s inherit_errexit # an nm that fails inside $(...) ends the check
trap 'echo "check_layers: failed at line $LINENO (nm: ${NM:-nm})" >&2' ERR

cd "$(dirname "${BASH_SOURCE[0]}")/.."
dir=${1:-build/test}
objdir=$dir/CMakeFiles/tricolor_obj.dir
[ -d "$objdir" ] || { echo "check_layers: no $objdir (build $dir first)" >&2; exit 1; }
NM=${NM:-$(sed -n 's/^CMAKE_NM:FILEPATH=//p' "$dir/CMakeCache.txt" 2>/dev/null || true)}
NM=${NM:-nm}

# Every object of the library, relative to objdir (heap/arena.c.o, ...).
mapfile -t objs < <(cd "$objdir" && find . -name '*.o' | sed 's|^\./||' | sort)

# "symbol object" for each global symbol the library's objects define.
defs=$(for o in "${objs[@]}"; do
  "$NM" -g --defined-only "$objdir/$o" | awk -v o="$o" 'NF == 3 { print $3, o }'
done)

failed=0
# check LAYER ALLOWED...: the library symbols LAYER's objects use are
# defined in LAYER or in one of ALLOWED.
check() {
  local layer=$1; shift
  local allowed=" $layer $* " uses="$layer/" a o syms sym where n=0 bad=0
  for a in "$@"; do uses+=" and $a/"; done
  for o in "${objs[@]}"; do
    [ "${o%%/*}" = "$layer" ] || continue
    n=$((n + 1))
    syms=$("$NM" -u "$objdir/$o" | awk '$NF ~ /^tc_/ { print $NF }')
    for sym in $syms; do
      where=$(awk -v s="$sym" '$1 == s { print $2; exit }' <<<"$defs")
      if [ -n "$where" ] && [[ $allowed == *" ${where%%/*} "* ]]; then
        continue
      fi
      echo "check_layers: $o uses $sym, defined in ${where:-no library object}"
      bad=1
    done
  done
  if [ "$n" = 0 ]; then
    echo "check_layers: $layer/: no objects in $objdir"
    bad=1
  fi
  if [ "$bad" = 0 ]; then
    echo "check_layers: $layer/ ($n objects) uses only $uses: ok"
  else
    echo "check_layers: $layer/ ($n objects) must use only $uses: FAILED"
    failed=1
  fi
}

# check_seam: internal symbols crossing between sched/ and collector/ or
# barrier/ must be declared in sched/world.h (public tc_ calls, and the
# tc__ helpers that the public inline API in include/tricolor/inline.h
# calls, are the library's API and may cross).
check_seam() {
  local seam o side syms sym where bad=0 n=0
  seam=" $(grep -ohE '\btc__[a-z0-9_]+' sched/world.h include/tricolor/inline.h |
           sort -u | tr '\n' ' ') "
  for o in "${objs[@]}"; do
    side=${o%%/*}
    case $side in sched|collector|barrier) ;; *) continue ;; esac
    n=$((n + 1))
    syms=$("$NM" -u "$objdir/$o" | awk '$NF ~ /^tc__/ { print $NF }')
    for sym in $syms; do
      where=$(awk -v s="$sym" '$1 == s { print $2; exit }' <<<"$defs")
      where=${where%%/*}
      case "$side:$where" in
        sched:collector|sched:barrier|collector:sched|barrier:sched) ;;
        *) continue ;;
      esac
      [[ $seam == *" $sym "* ]] && continue
      echo "check_layers: $o uses $sym from $where/, not through sched/world.h"
      bad=1
    done
  done
  if [ "$bad" = 0 ]; then
    echo "check_layers: sched/ and collector/, barrier/ ($n objects) meet only through sched/world.h: ok"
  else
    echo "check_layers: sched/ and collector/, barrier/ must meet only through sched/world.h: FAILED"
    failed=1
  fi
}

check heap base
check base
check_seam
exit "$failed"
