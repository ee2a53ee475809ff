#!/usr/bin/env bash
# Daemon throughput, --engine simd against --engine xapian on one index in one
# run: two kosearchd processes (one per engine) are driven in turn by
# ks-loadgen with the same query file, so load from elsewhere on the machine
# falls on both alike. Prints a markdown report with medians and the ratio.
set -u

usage() {
    cat <<'EOF'
usage: bench/engine_daemon_bench.sh --index DIR [options]

  --builddir DIR   build tree (default: $KS_BUILDDIR, else ./build)
  --index DIR      index built by kosearch-indexer, with its segment (required)
  --queries FILE   SEARCH query file (default: bench/queries/dev-queries.txt)
  --threads N      worker threads per daemon (default: 2)
  --conns LIST     connection counts, comma-separated (default: 64)
  --time S         measured seconds per run (default: 10)
  --warmup S       warm-up seconds per run (default: 2)
  --runs N         runs per engine and connection count (default: 3)
  --raw FILE       also write every run as engine<TAB>connections<TAB>ks-loadgen JSON
  -h, --help       this text
EOF
}

src=$(cd "$(dirname "$0")/.." && pwd)
builddir=${KS_BUILDDIR:-$src/build}
queries=$src/bench/queries/dev-queries.txt
index= threads=2 conns=64 secs=10 warm=2 runs=3 raw=
die() { echo "engine_daemon_bench.sh: $*" >&2; exit 2; }
while [ $# -gt 0 ]; do
    [ "$1" = -h ] || [ "$1" = --help ] && { usage; exit 0; }
    [ $# -ge 2 ] || die "$1 needs a value (see --help)"
    case $1 in
    --builddir) builddir=$2 ;;
    --index) index=$2 ;;
    --queries) queries=$2 ;;
    --threads) threads=$2 ;;
    --conns) conns=$2 ;;
    --time) secs=$2 ;;
    --warmup) warm=$2 ;;
    --runs) runs=$2 ;;
    --raw) raw=$2 ;;
    *) die "unknown argument '$1' (see --help)" ;;
    esac
    shift 2
done
[ -n "$index" ] || die "--index DIR is required"
case $runs in ''|*[!0-9]*|0) die "--runs wants a positive whole number" ;; esac
builddir=$(cd "$builddir" 2>/dev/null && pwd) || die "no build tree at $builddir"
LOADGEN=$builddir/bench/ks-loadgen DAEMON=$builddir/kosearchd CLIENT=$builddir/kosearch
for b in "$LOADGEN" "$DAEMON" "$CLIENT"; do [ -x "$b" ] || die "$b not built"; done
[ -r "$queries" ] || die "cannot read $queries"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/ks-engine-bench.XXXXXX") || exit 2
declare -A pid port
cleanup() {
    for e in "${!pid[@]}"; do kill "${pid[$e]}" 2>/dev/null; wait "${pid[$e]}" 2>/dev/null; done
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}
for e in simd xapian; do
    port[$e]=$(free_port)
    "$DAEMON" --index "$index" --engine "$e" --listen "127.0.0.1:${port[$e]}" --threads "$threads" \
        --log "$tmp/$e.log" &
    pid[$e]=$!
    up=
    for _ in $(seq 200); do
        printf '/PING\n' | "$CLIENT" -p "${port[$e]}" 2>/dev/null | grep -q PONG && { up=1; break; }
        kill -0 "${pid[$e]}" 2>/dev/null || break
        sleep 0.1
    done
    [ -n "$up" ] || { cat "$tmp/$e.log" >&2; die "kosearchd --engine $e did not start"; }
done
# Memory after start-up, before any query (segment mapped, Xapian opened).
rss0=()
for e in simd xapian; do
    rss0[${#rss0[@]}]=$(awk '/^VmRSS/ {print $2}' "/proc/${pid[$e]}/status")
done

IFS=, read -r -a clist <<<"$conns"
for r in $(seq "$runs"); do
    for c in "${clist[@]}"; do
        for e in simd xapian; do
            echo "[round $r] $e, $c connections" >&2
            "$LOADGEN" -H 127.0.0.1 -p "${port[$e]}" -t "$secs" -w "$warm" -q "$queries" -c "$c" -d 1 --json \
                >"$tmp/run.json" 2>"$tmp/run.err" || { cat "$tmp/run.err" >&2; die "ks-loadgen failed on $e"; }
            printf '%s\t%s\t%s\n' "$e" "$c" "$(cat "$tmp/run.json")" >>"$tmp/runs.tsv"
        done
    done
done
[ -z "$raw" ] || cp "$tmp/runs.tsv" "$raw" || die "cannot write $raw"
rss1_simd=$(awk '/^VmRSS/ {print $2}' "/proc/${pid[simd]}/status")
rss1_xapian=$(awk '/^VmRSS/ {print $2}' "/proc/${pid[xapian]}/status")
docs=$(printf '/INFO\n' | "$CLIENT" -p "${port[simd]}" | awk '$2=="documents" {print $3}')
kernel=$(printf '/INFO\n' | "$CLIENT" -p "${port[simd]}" | awk '$2=="simd" {print $3}')

echo "## Daemon throughput: --engine simd vs --engine xapian"
echo
echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC'); $(nproc) cores; load before/after: see runs; kernel: ${kernel:-?}"
echo "- index: $index ($docs documents); queries: $queries; $threads worker threads per daemon"
echo "- each figure: median of $runs runs of ${secs} s after ${warm} s warm-up; engines alternate run by run"
echo "- daemon RSS after start-up: simd ${rss0[0]} kB, xapian ${rss0[1]} kB; after the runs: simd $rss1_simd kB, xapian $rss1_xapian kB"
echo
echo '```'
echo "bench/engine_daemon_bench.sh --index $index --queries $queries --threads $threads --conns $conns --time $secs --warmup $warm --runs $runs"
echo '```'
echo
python3 - "$tmp/runs.tsv" <<'PY'
import json, statistics, sys
rows = {}
for line in open(sys.argv[1], encoding="utf-8"):
    e, c, js = line.rstrip("\n").split("\t", 2)
    rows.setdefault((int(c), e), []).append(json.loads(js))
def med(xs, k):
    return statistics.median(x[k] if k in x else x["latency_us"][k] for x in xs)
print("| connections | engine | QPS | p50 µs | p99 µs | errors |")
print("|---:|---|---:|---:|---:|---:|")
for c in sorted({c for c, _ in rows}):
    q = {}
    for e in ("simd", "xapian"):
        xs = rows[(c, e)]
        q[e] = med(xs, "qps")
        print(f"| {c} | {e} | {q[e]:,.0f} | {med(xs, 'p50'):,.0f} | {med(xs, 'p99'):,.0f} | {sum(x['errors'] + x['err_replies'] for x in xs)} |")
    print(f"| {c} | **ratio simd/xapian** | **{q['simd'] / q['xapian']:.2f}×** | | | |")
PY
