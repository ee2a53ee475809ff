#!/usr/bin/env bash
# HTTP throughput of kosearchd: starts it with --http on free loopback ports
# over an index of the shared corpus, drives GET /search with wrk (rotating
# URL-encoded queries, bench/http_bench.lua) and, for comparison, SEARCH
# over the line protocol with bench/ks-loadgen (same queries, same number
# of connections, depth 1). Prints a markdown section on stdout.
set -u

usage() {
    cat <<'USAGE'
usage: bench/http_bench.sh [options]

  --builddir DIR   build tree with kosearchd, kosearch-indexer, bench/ks-loadgen
                   (default: $KS_BUILDDIR, else ./build under the source tree)
  --index DIR      use this index instead of building one from the corpus
  --corpus FILE    corpus to index (default: $KS_SHARED/corpus/ko-corpus.jsonl.gz)
  --queries FILE   query file, one query a line (default: bench/queries/dev-queries.txt)
  --threads N      kosearchd worker threads (default: 2)
  --connections N  connections (default: 64)
  --time S         seconds per measured run (default: 20)
  --install        apt-get install wrk if it is missing (Debian package wrk)
  -h, --help       this text

wrk runs with 2 threads on the same machine as the daemon.
USAGE
}

src=$(cd "$(dirname "$0")/.." && pwd)
builddir=${KS_BUILDDIR:-$src/build}
shared=${KS_SHARED:-$src/../shared}
corpus=$shared/corpus/ko-corpus.jsonl.gz
queries=$src/bench/queries/dev-queries.txt
index=
threads=2
conns=64
secs=20
install=
die() { echo "http_bench.sh: $*" >&2; exit 2; }
need_arg() { [ $# -ge 2 ] || die "$1 needs a value (see --help)"; }
while [ $# -gt 0 ]; do
    case $1 in
    --builddir) need_arg "$@"; builddir=$2; shift 2 ;;
    --index) need_arg "$@"; index=$2; shift 2 ;;
    --corpus) need_arg "$@"; corpus=$2; shift 2 ;;
    --queries) need_arg "$@"; queries=$2; shift 2 ;;
    --threads) need_arg "$@"; threads=$2; shift 2 ;;
    --connections) need_arg "$@"; conns=$2; shift 2 ;;
    --time) need_arg "$@"; secs=$2; shift 2 ;;
    --install) install=1; shift ;;
    -h|--help) usage; exit 0 ;;
    *) die "unknown argument '$1' (see --help)" ;;
    esac
done
for v in "$threads" "$conns" "$secs"; do
    case $v in ''|*[!0-9]*|0) die "numbers must be positive whole numbers, got '$v'" ;; esac
done
if ! command -v wrk >/dev/null 2>&1; then
    [ -n "$install" ] || die "wrk is not installed (apt-get install wrk, or pass --install)"
    apt-get install -y wrk >/dev/null || die "apt-get install wrk failed"
fi
builddir=$(cd "$builddir" 2>/dev/null && pwd) || die "no build tree at $builddir (use --builddir)"
DAEMON=$builddir/kosearchd
INDEXER=$builddir/kosearch-indexer
LOADGEN=$builddir/bench/ks-loadgen
for b in "$DAEMON" "$INDEXER" "$LOADGEN"; do [ -x "$b" ] || die "$b not built"; done
[ -r "$queries" ] || die "cannot read $queries"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/ks-http-bench.XXXXXX") || exit 2
dpid=
cleanup() {
    if [ -n "$dpid" ]; then kill "$dpid" 2>/dev/null; wait "$dpid" 2>/dev/null; fi
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [ -z "$index" ]; then
    [ -r "$corpus" ] || die "corpus not found at $corpus"
    index=$tmp/idx
    index_cmd="kosearch-indexer build -q -i $corpus -o $index"
    "$INDEXER" build -q -i "$corpus" -o "$index" >"$tmp/indexer.log" 2>&1 || { cat "$tmp/indexer.log" >&2; die "indexer failed"; }
else
    index_cmd="(given: $index)"
fi
# the queries URL-encoded, one per line, for the wrk script
python3 -c 'import sys, urllib.parse
for l in open(sys.argv[1], encoding="utf-8"):
    l = l.strip()
    if l: print(urllib.parse.quote(l, safe=""))' "$queries" >"$tmp/queries.url" || die "cannot encode the queries"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
port=$(free_port)
hport=$(free_port)
"$DAEMON" --index "$index" --listen "127.0.0.1:$port" --http "127.0.0.1:$hport" --threads "$threads" \
    --max-connections 4096 --log "$tmp/daemon.log" &
dpid=$!
up=
for _ in $(seq 100); do
    if python3 -c 'import sys, urllib.request; urllib.request.urlopen("http://127.0.0.1:%s/healthz" % sys.argv[1], timeout=2)' "$hport" 2>/dev/null; then up=1; break; fi
    kill -0 "$dpid" 2>/dev/null || break
    sleep 0.1
done
[ -n "$up" ] || { cat "$tmp/daemon.log" >&2; die "kosearchd did not start"; }

load_before=$(cut -d' ' -f1-3 /proc/loadavg)
wrk_cmd="wrk -t2 -c$conns -d${secs}s --latency -s bench/http_bench.lua http://127.0.0.1:$hport -- QUERIES.url"
echo "warm-up (3 s), then: $wrk_cmd" >&2
wrk -t2 -c"$conns" -d3s -s "$src/bench/http_bench.lua" "http://127.0.0.1:$hport" -- "$tmp/queries.url" >/dev/null 2>&1
wrk -t2 -c"$conns" -d"${secs}s" -s "$src/bench/http_bench.lua" "http://127.0.0.1:$hport" -- "$tmp/queries.url" \
    >"$tmp/wrk.out" 2>&1 || { cat "$tmp/wrk.out" >&2; die "wrk failed"; }
lg_cmd="ks-loadgen -H 127.0.0.1 -p $port -q QUERIES -c $conns -d 1 -t $secs -w 3 --json"
echo "then: $lg_cmd" >&2
"$LOADGEN" -H 127.0.0.1 -p "$port" -q "$queries" -c "$conns" -d 1 -t "$secs" -w 3 --json >"$tmp/lg.json" 2>"$tmp/lg.err" ||
    { cat "$tmp/lg.err" >&2; die "ks-loadgen failed"; }
load_after=$(cut -d' ' -f1-3 /proc/loadavg)
kill "$dpid"; wait "$dpid"; drc=$?; dpid=

model=$(awk -F': *' '/^model name/ {print $2; exit}' /proc/cpuinfo 2>/dev/null)
echo "## HTTP throughput (kosearchd --http)"
echo
echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC'); machine: $(nproc) cores, ${model:-unknown CPU}; $(uname -sr)"
echo "- load average (1, 5, 15 min) before: $load_before; after: $load_after (the machine was shared with other work)"
echo "- kosearchd with $threads worker threads; the load generators run on the same machine"
echo "- queries: $(wc -l <"$queries") lines of ${queries#"$src"/}, cycled, limit 10; one run of ${secs} s each after a 3 s warm-up"
echo "- daemon stopped with SIGTERM: exit status $drc"
echo
echo '```'
echo "$index_cmd"
echo "kosearchd --index IDX --listen 127.0.0.1:$port --http 127.0.0.1:$hport --threads $threads --max-connections 4096"
echo "$wrk_cmd    # QUERIES.url: the query file URL-encoded"
echo "$lg_cmd"
echo '```'
echo
python3 - "$tmp/wrk.out" "$tmp/lg.json" "$conns" <<'PY'
import json, sys
w = None
for line in open(sys.argv[1], encoding="utf-8", errors="replace"):
    if line.startswith('{"requests"'):
        w = json.loads(line)
lg = json.loads(open(sys.argv[2]).read().strip().splitlines()[-1])
c = sys.argv[3]
print("| front end | load | connections | requests/s | p50 µs | p99 µs | errors |")
print("|---|---|---:|---:|---:|---:|---:|")
if w:
    errs = sum(w["errors"].values())
    print("| HTTP GET /search | wrk, 2 threads | %s | %.0f | %d | %d | %d |" % (c, w["rps"], w["p50_us"], w["p99_us"], errs))
lat = lg.get("latency_us", {})
print("| line protocol SEARCH | ks-loadgen, depth 1 | %s | %.0f | %.0f | %.0f | %s |" % (
    c, lg.get("qps", 0), lat.get("p50", 0), lat.get("p99", 0), lg.get("errors", "?")))
PY
