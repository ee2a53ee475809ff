#!/usr/bin/env bash
# Daemon throughput benchmark: builds (or takes) an index of the shared
# corpus, starts kosearchd on a free loopback port, drives it with
# bench/ks-loadgen (PING and SEARCH; 1, 16, 64 connections at depth 1 and
# 64 x 8) and prints a markdown table of the medians over several runs.
set -u

usage() {
    cat <<'EOF'
usage: bench/daemon_bench.sh [options]

Runs ks-loadgen against a kosearchd it starts on a free 127.0.0.1 port and
prints a markdown report (machine, commands, table of medians) on stdout.
Progress goes to stderr. The daemon is stopped at the end, also on Ctrl-C.

  --builddir DIR   build tree with kosearchd, kosearch-indexer, bench/ks-loadgen
                   (default: $KS_BUILDDIR, else ./build under the source tree)
  --index DIR      use this index instead of building one from the corpus
  --corpus FILE    corpus to index (default: $KS_SHARED/corpus/ko-corpus.jsonl.gz)
  --queries FILE   SEARCH query file (default: bench/queries/dev-queries.txt)
  --threads N      kosearchd worker threads (default: 2)
  --time S         measured seconds per run (default: 10)
  --warmup S       warm-up seconds per run, not counted (default: 2)
  --runs N         runs per configuration; the table shows medians (default: 3)
  --raw FILE       also write every run's ks-loadgen JSON line to FILE
  -h, --help       this text
EOF
}

src=$(cd "$(dirname "$0")/.." && pwd)
builddir=${KS_BUILDDIR:-$src/build}
shared=${KS_SHARED:-$src/../shared}
shared=$(cd "$shared" 2>/dev/null && pwd || echo "$shared")
corpus=$shared/corpus/ko-corpus.jsonl.gz
queries=$src/bench/queries/dev-queries.txt
index=
threads=2
secs=10
warm=2
runs=3
raw=

die() { echo "daemon_bench.sh: $*" >&2; exit 2; }
need_arg() { [ $# -ge 2 ] || die "$1 needs a value (see --help)"; }
while [ $# -gt 0 ]; do
    case $1 in
    --builddir) need_arg "$@"; builddir=$2; shift 2 ;;
    --index) need_arg "$@"; index=$2; shift 2 ;;
    --corpus) need_arg "$@"; corpus=$2; shift 2 ;;
    --queries) need_arg "$@"; queries=$2; shift 2 ;;
    --threads) need_arg "$@"; threads=$2; shift 2 ;;
    --time) need_arg "$@"; secs=$2; shift 2 ;;
    --warmup) need_arg "$@"; warm=$2; shift 2 ;;
    --runs) need_arg "$@"; runs=$2; shift 2 ;;
    --raw) need_arg "$@"; raw=$2; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) die "unknown argument '$1' (see --help)" ;;
    esac
done
case $runs in ''|*[!0-9]*|0) die "--runs wants a positive whole number, got '$runs'" ;; esac
case $threads in ''|*[!0-9]*|0) die "--threads wants a positive whole number, got '$threads'" ;; esac

builddir=$(cd "$builddir" 2>/dev/null && pwd) || die "no build tree at $builddir (use --builddir)"
LOADGEN=$builddir/bench/ks-loadgen
DAEMON=$builddir/kosearchd
INDEXER=$builddir/kosearch-indexer
CLIENT=$builddir/kosearch
for b in "$LOADGEN" "$DAEMON" "$INDEXER" "$CLIENT"; do
    [ -x "$b" ] || die "$b not built (run make in $builddir)"
done
[ -r "$queries" ] || die "cannot read query file $queries"
command -v python3 >/dev/null 2>&1 || die "python3 is needed (free port, medians)"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/ks-daemon-bench.XXXXXX") || exit 2
dpid=
cleanup() {
    if [ -n "$dpid" ]; then
        kill "$dpid" 2>/dev/null
        wait "$dpid" 2>/dev/null
    fi
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- index ----------------------------------------------------------------
if [ -z "$index" ]; then
    [ -r "$corpus" ] || die "corpus not found at $corpus (use --corpus or --index)"
    index=$tmp/idx
    index_cmd="kosearch-indexer build -q -i $corpus -o $index"
    echo "building the index of $corpus ..." >&2
    "$INDEXER" build -q -i "$corpus" -o "$index" >"$tmp/indexer.log" 2>&1 ||
        { cat "$tmp/indexer.log" >&2; die "indexer failed"; }
else
    index_cmd="(given: $index)"
fi
docs=$("$INDEXER" info "$index" 2>/dev/null | awk '/^documents:/ {print $2}')
[ -n "$docs" ] || die "cannot read the index at $index"

# --- daemon ---------------------------------------------------------------
free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}
up=
for attempt in 1 2 3; do
    port=$(free_port)
    "$DAEMON" --index "$index" --listen "127.0.0.1:$port" --threads "$threads" --log "$tmp/daemon.log" &
    dpid=$!
    for _ in $(seq 100); do
        if printf '/PING\n' | "$CLIENT" -p "$port" 2>/dev/null | grep -q PONG; then up=1; break; fi
        kill -0 "$dpid" 2>/dev/null || break
        sleep 0.1
    done
    [ -n "$up" ] && break
    kill "$dpid" 2>/dev/null
    wait "$dpid" 2>/dev/null
    dpid=
done
[ -n "$up" ] || { cat "$tmp/daemon.log" >&2; die "kosearchd did not start"; }
engine=$(printf '/INFO\n' | "$CLIENT" -p "$port" 2>/dev/null | awk '$2=="engine" {print $3}')
version=$(printf '/INFO\n' | "$CLIENT" -p "$port" 2>/dev/null | awk '$2=="version" {print $3}')

# --- runs -----------------------------------------------------------------
# name|ks-loadgen arguments (host and port added below)
configs=(
    "PING|--ping -c 1 -d 1"
    "PING|--ping -c 16 -d 1"
    "PING|--ping -c 64 -d 1"
    "PING|--ping -c 64 -d 8"
    "SEARCH|-q $queries -c 1 -d 1"
    "SEARCH|-q $queries -c 16 -d 1"
    "SEARCH|-q $queries -c 64 -d 1"
    "SEARCH|-q $queries -c 64 -d 8"
)
total=$((runs * ${#configs[@]}))
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
echo "kosearchd pid $dpid on 127.0.0.1:$port; $total runs of ${secs}s + ${warm}s warm-up" >&2
n=0
# Rounds rather than back-to-back repeats, so a burst of load from other
# users of the machine spreads over the configurations instead of one.
for r in $(seq "$runs"); do
    for i in "${!configs[@]}"; do
        args=${configs[$i]#*|}
        n=$((n + 1))
        echo "[$n/$total] ks-loadgen $args" >&2
        # shellcheck disable=SC2086
        if ! "$LOADGEN" -H 127.0.0.1 -p "$port" -t "$secs" -w "$warm" $args --json >"$tmp/run.json" 2>"$tmp/run.err"; then
            cat "$tmp/run.err" >&2
            kill -0 "$dpid" 2>/dev/null || { cat "$tmp/daemon.log" >&2; die "kosearchd died"; }
        fi
        printf '%s\t%s\t%s\n' "$i" "$r" "$(cat "$tmp/run.json")" >>"$tmp/runs.tsv"
    done
done
printf '/STATS\n' | "$CLIENT" -p "$port" >"$tmp/stats.txt" 2>&1
kill "$dpid"
wait "$dpid"
drc=$?
dpid=
[ -n "$raw" ] && cut -f3 "$tmp/runs.tsv" >"$raw"

# --- report ---------------------------------------------------------------
model=$(awk -F': *' '/^model name/ {print $2; exit}' /proc/cpuinfo 2>/dev/null)
flags=$(awk -F': *' '/^flags/ {print $2; exit}' /proc/cpuinfo 2>/dev/null | tr ' ' '\n' |
    grep -E '^(avx2|avx512f|avx512bw|avx512vl|avx512_vnni)$' | paste -sd' ')
echo "## Daemon throughput (kosearchd, --engine ${engine:-xapian})"
echo
echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "- machine: $(nproc) cores, ${model:-unknown CPU}; flags: ${flags:-none of avx2/avx512}; $(uname -sr)"
echo "- load average (1, 5, 15 min) before the runs: $load_before; after: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "- kosearchd ${version:-?} (engine ${engine:-?}), $threads worker threads, index of $docs documents;"
echo "  ks-loadgen runs in one thread on the same machine"
echo "- each figure is the median of $runs runs of ${secs} s measured after ${warm} s warm-up"
echo "- daemon stopped with SIGTERM: exit status $drc"
echo
echo "Commands:"
echo
echo '```'
echo "$index_cmd"
echo "kosearchd --index $index --listen 127.0.0.1:$port --threads $threads"
for c in "${configs[@]}"; do
    echo "ks-loadgen -H 127.0.0.1 -p $port -t $secs -w $warm ${c#*|} --json"
done
echo '```'
echo
python3 - "$tmp/runs.tsv" "${configs[@]}" <<'PY'
import json, statistics, sys
rows = {}
for line in open(sys.argv[1], encoding="utf-8"):
    i, r, js = line.rstrip("\n").split("\t", 2)
    try:
        rows.setdefault(int(i), []).append(json.loads(js))
    except ValueError:
        rows.setdefault(int(i), []).append(None)
print("| request | connections | depth | QPS | p50 µs | p99 µs | p99.9 µs | max µs | errors | fairness |")
print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
for i, c in enumerate(sys.argv[2:]):
    name, args = c.split("|", 1)
    a = args.split()
    conns, depth = a[a.index("-c") + 1], a[a.index("-d") + 1]
    runs = [x for x in rows.get(i, []) if x]
    failed = len(rows.get(i, [])) - len(runs)
    if not runs:
        print(f"| {name} | {conns} | {depth} | failed | | | | | | |")
        continue
    med = lambda f: statistics.median(f(x) for x in runs)
    lat = lambda k: med(lambda x: x["latency_us"][k])
    errs = sum(x["errors"] for x in runs)
    fair = med(lambda x: x["per_connection"]["min"] / x["per_connection"]["max"] if x["per_connection"]["max"] else 0)
    note = f" ({failed} runs failed)" if failed else ""
    print(f"| {name} | {conns} | {depth} | {med(lambda x: x['qps']):,.0f} | {lat('p50'):,.0f} | {lat('p99'):,.0f} "
          f"| {lat('p99.9'):,.0f} | {lat('max'):,.0f} | {errs}{note} | {fair:.2f} |")
PY
echo
echo "QPS and latencies are medians over the runs; errors are summed over the runs"
echo "(ERR replies plus lost connections); fairness is the median ratio of the least"
echo "to the most requests completed by one connection in a run (1.00 = even)."
