#!/usr/bin/env bash
# Hostile-client figures for bench/RESULTS.md: query latency (median/p99 over
# KS_IDLE_QUERIES queries) with and without KS_IDLE_CONNS idle connections
# open, the slowest query at the query limits, and the latency of a normal
# client beside 50 slowloris clients. Runs the matching sections of
# tests/integration/test_hostile.py (which also checks the replies) RUNS
# times and prints their figure lines.
set -u
usage() {
    cat <<'USAGE'
usage: bench/idle_conns.sh [--builddir DIR] [--runs N]

  --builddir DIR  build tree with kosearchd and kosearch-indexer
                  (default: $KS_BUILDDIR, else ./build under the source tree)
  --runs N        repetitions (default 3)
Environment: KS_IDLE_CONNS (default 10000), KS_IDLE_QUERIES (default 500),
KS_SHARED (the shared corpus folder; default: ../shared beside the source).
USAGE
}
src=$(cd "$(dirname "$0")/.." && pwd)
build=${KS_BUILDDIR:-$src/build}
runs=3
while [ $# -gt 0 ]; do
    case "$1" in
        --builddir) build=$(cd "$2" && pwd) || exit 2; shift 2 ;;
        --runs) runs=$2; shift 2 ;;
        -h|--help) usage; exit 0 ;;
        *) echo "idle_conns.sh: unknown argument $1" >&2; usage >&2; exit 2 ;;
    esac
done
case "$runs" in ''|*[!0-9]*) echo "idle_conns.sh: --runs wants a number" >&2; exit 2 ;; esac
export KS_BUILDDIR=$build KS_SRCDIR=$src KS_SHARED=${KS_SHARED:-$(cd "$src/.." && pwd)/shared}
echo "# $(date -u +%FT%TZ) $(nproc) cores, $(uname -r); KS_IDLE_CONNS=${KS_IDLE_CONNS:-10000} KS_IDLE_QUERIES=${KS_IDLE_QUERIES:-500}"
rc=0
for i in $(seq 1 "$runs"); do
    out=$(python3 "$src/tests/integration/test_hostile.py" idle_conns query_bombs slowloris) || rc=1
    if grep -q '^not ok' <<<"$out"; then
        grep -A5 '^not ok' <<<"$out" >&2
        rc=1
    fi
    grep -E '^# (IDLE_CONNS|query bombs|normal client|daemon RSS)' <<<"$out" | sed "s/^# /run $i: /"
done
exit $rc
