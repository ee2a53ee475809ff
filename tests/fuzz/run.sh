#!/bin/sh
# Builds and runs one libFuzzer target: the one recipe behind every
# `make fuzz-NAME` (tests/fuzz.inc sets the environment).
#   run.sh NAME 'SOURCES' [LIBFUZZER-OPTION...]
# Environment: FUZZ_CC, FUZZ_CFLAGS, FUZZ_LIBS (compiler and flags),
# FUZZ_SECONDS (run time), KS_SRCDIR (the source tree).
# Builds tests/fuzz/fuzz_NAME (ASan+UBSan+libFuzzer), fuzzes for
# FUZZ_SECONDS with new inputs in tests/fuzz/work-NAME (the seeds in
# KS_SRCDIR/tests/fuzz/corpus/NAME are only read) and its log in
# tests/fuzz/fuzz-NAME.log. Prints one TAP-style line, `ok - fuzz-NAME: ...`
# or `not ok - fuzz-NAME: ...` followed by the crash input's path and the
# report; exits 1 on a crash, a leak, a timeout or a build failure.
set -u
case "${1:-}" in
  ''|-h|--help) sed -n '2,12p' "$0"; exit 0 ;;
esac
name=$1 srcs=$2
shift 2
bin=tests/fuzz/fuzz_$name work=tests/fuzz/work-$name log=tests/fuzz/fuzz-$name.log
mkdir -p "$work" || exit 1
# shellcheck disable=SC2086 # the flags and sources are lists
if ! $FUZZ_CC $FUZZ_CFLAGS $srcs $FUZZ_LIBS -o "$bin" >"$log" 2>&1; then
  echo "not ok - fuzz-$name: does not build"
  cat "$log"
  exit 1
fi
# -timeout: an input taking longer is a hang (libFuzzer's default is 20 min).
"./$bin" -max_total_time="$FUZZ_SECONDS" -timeout=25 -print_final_stats=1 \
  -artifact_prefix="tests/fuzz/$name-" "$@" "$work" "$KS_SRCDIR/tests/fuzz/corpus/$name" >"$log" 2>&1
rc=$?
runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
secs=$(sed -n 's/^Done [0-9]* runs in \([0-9]*\) second.*/\1/p' "$log" | tail -1)
corpus=$(find "$work" -type f | wc -l)
if [ $rc -eq 0 ]; then
  echo "ok - fuzz-$name: ${runs:-?} runs in ${secs:-?} s, ${corpus} inputs in $work"
  exit 0
fi
input=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -1)
echo "not ok - fuzz-$name: exit $rc after ${runs:-?} runs; input: ${input:-none written} (reproduce: $bin ${input:-})"
# the report: from the sanitizer's or libFuzzer's first error line on
awk '/^==[0-9]+==|ERROR: libFuzzer|runtime error|check failed/ {p=1} p' "$log" | head -80
exit 1
