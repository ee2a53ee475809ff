#!/usr/bin/env bash
# Runs the whole kosearch test suite: installs dependencies, builds with
# -Werror in a build folder, runs `make check`, and ends with the line
# "N passed, N failed". Options:
#   --sanitizers   build with ASan+UBSan (in build-asan/)
#   --distcheck    also run `make distcheck` (counted as one test)
#   --no-deps      skip the apt-get step
set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
san=0 distcheck=0 deps=1
for a in "$@"; do
  case "$a" in
    --sanitizers) san=1 ;;
    --distcheck) distcheck=1 ;;
    --no-deps) deps=0 ;;
    -h|--help) sed -n '2,8p' "$0"; exit 0 ;;
    *) echo "test.sh: unknown option $a" >&2; exit 2 ;;
  esac
done
jobs=$(nproc 2>/dev/null || echo 2)
[ $deps = 1 ] && { bash "$top/scripts/install-deps.sh" || exit 2; }
cd "$top"
[ -x configure ] && [ configure -nt configure.ac ] && [ configure -nt Makefile.am ] || ./autogen.sh >/dev/null 2>&1 || { echo "autogen failed"; exit 2; }
if [ $san = 1 ]; then bdir=build-asan; flags="--enable-werror --enable-sanitizers"; else bdir=build; flags="--enable-werror"; fi
mkdir -p "$bdir" && cd "$bdir"
# Reconfigure when the folder was configured with other flags (e.g. by
# quickstart.sh, which builds in build/ without -Werror).
if [ ! -f Makefile ] || [ ../configure -nt Makefile ] || [ "$(cat .ks-configure-flags 2>/dev/null)" != "$flags" ]; then
  ../configure -q $flags >/dev/null 2>configure.err || { cat configure.err; echo "0 passed, 1 failed"; exit 1; }
  echo "$flags" > .ks-configure-flags
fi
make -s -j"$jobs" >make.log 2>&1 || { tail -40 make.log; echo "0 passed, 1 failed"; exit 1; }
if [ $san = 1 ]; then
  # Leak checking stays on; ASan must not mistake Xapian's caches for errors.
  export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:${ASAN_OPTIONS:-}"
  export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:${UBSAN_OPTIONS:-}"
fi
make -j"$jobs" check >check.log 2>&1
grep -E '^(FAIL|ERROR|XPASS):' check.log || true
pass=$(awk '/^# PASS:/ {s+=$3} END {print s+0}' check.log)
skip=$(awk '/^# SKIP:/ {s+=$3} END {print s+0}' check.log)
fail=$(awk '/^# (FAIL|ERROR|XPASS):/ {s+=$3} END {print s+0}' check.log)
if [ "$pass" = 0 ] && [ "$fail" = 0 ]; then fail=1; echo "no test ran: see $bdir/check.log" >&2; tail -30 check.log >&2; fi
if [ $fail -gt 0 ]; then
  for f in $(grep -lE '^(not ok|FAIL|ERROR)' $(find . -name '*.log' -path '*tests*') 2>/dev/null); do
    echo "=== $f"; grep -E -B2 -A15 '^(not ok|# FAIL|ERROR)' "$f" | head -60
  done
fi
if [ $distcheck = 1 ]; then
  if make -j"$jobs" distcheck >distcheck.log 2>&1; then pass=$((pass+1)); else fail=$((fail+1)); tail -40 distcheck.log; fi
fi
echo "${pass} passed, ${fail} failed, ${skip} skipped"
[ "$fail" = 0 ]
