#!/usr/bin/env bash
# Smoke test of bench/ks-loadgen (TAP): --help, usage errors, a refused
# connection (exit 2), then 2 s PING and SEARCH runs with 4 connections
# against a real kosearchd on a free loopback port; the requests it reports
# must agree with the daemon's STATS `commands` counter.
. "$(dirname "$0")/../lib.sh"
CORPUS="$KS_SHARED/corpus/ko-corpus.jsonl.gz"
LOADGEN="$KS_BUILDDIR/bench/ks-loadgen"
DAEMON="$KS_BUILDDIR/kosearchd"
CLIENT="$KS_BUILDDIR/kosearch"
QUERIES="$KS_SRCDIR/bench/queries/dev-queries.txt"
[ -f "$CORPUS" ] || plan_skip "shared corpus not found at $CORPUS"
command -v python3 >/dev/null 2>&1 || plan_skip "python3 not found (needed to pick a free port)"
plan 18
mk_tmp
dpid=
trap '[ -n "$dpid" ] && kill "$dpid" 2>/dev/null; wait 2>/dev/null; rm -rf "$T"' EXIT

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}
# json_num FIELD FILE: a top-level number from ks-loadgen --json
json_num() { sed -n "s/.*\"$1\":\([0-9][0-9.]*\).*/\1/p" "$2"; }
stat_commands() { printf '/STATS\n' | "$CLIENT" -p "$port" 2>/dev/null | awk '$1=="STAT" && $2=="commands" {print $3}'; }

# --- without a server ----------------------------------------------------------
"$LOADGEN" --help >"$T/out" 2>&1
check_eq "--help exits 0" 0 $?
check "--help prints the usage line" grep -q '^usage: ks-loadgen' "$T/out"
"$LOADGEN" -c 10001 --ping >"$T/out" 2>"$T/err"
check_eq "-c above 10000 exits 2" 2 $?
check "-c above 10000: clear message" grep -q 'from 1 to 10000' "$T/err"
refused=$(free_port)
"$LOADGEN" -p "$refused" -t 1 -w 0 --ping >"$T/out" 2>"$T/err"
check_eq "refused connection exits 2" 2 $?
check "refused connection: message names host and port" grep -q "cannot connect to 127.0.0.1 port $refused" "$T/err"

# --- against kosearchd -------------------------------------------------------
"$INDEXER" build -q -i "$CORPUS" -o "$T/idx" >/dev/null 2>&1
for attempt in 1 2 3; do
    port=$(free_port)
    "$DAEMON" --index "$T/idx" --listen "127.0.0.1:$port" --threads 2 --log "$T/daemon.log" &
    dpid=$!
    up=
    for _ in $(seq 50); do
        if printf '/PING\n' | "$CLIENT" -p "$port" 2>/dev/null | grep -q PONG; then up=1; break; fi
        kill -0 "$dpid" 2>/dev/null || break
        sleep 0.1
    done
    [ -n "$up" ] && break
    kill "$dpid" 2>/dev/null; wait "$dpid" 2>/dev/null; dpid=
done
check "kosearchd answers PING on a free port" [ -n "$up" ]

# run_load NAME ARGS...: 2 s with 4 connections; checks count, errors, STATS.
run_load() {
    local name=$1; shift
    local before after delta req warm sent err
    before=$(stat_commands)
    "$LOADGEN" -p "$port" -c 4 -t 2 -w 0.5 --json "$@" >"$T/$name.json" 2>"$T/$name.err"
    check_eq "$name: ks-loadgen exits 0" 0 $?
    after=$(stat_commands)
    req=$(json_num requests "$T/$name.json")
    warm=$(json_num warmup_requests "$T/$name.json")
    sent=$(json_num sent "$T/$name.json")
    err=$(json_num errors "$T/$name.json")
    check "$name: more than 0 requests" [ "${req:-0}" -gt 0 ]
    check_eq "$name: 0 errors" 0 "$err"
    # Requests answered between the two STATS, less the second STATS itself:
    # at least every reply ks-loadgen saw (window and warm-up), at most what
    # it sent (the last ones in flight may or may not have been run).
    delta=$(( ${after:-0} - ${before:-0} - 1 ))
    if [ "$delta" -ge $((req + warm)) ] && [ "$delta" -le "$sent" ]; then
        ok "$name: daemon's STATS commands delta agrees with the requests"
        echo "#   daemon delta $delta, measured $req, warm-up $warm, sent $sent"
    else
        not_ok "$name: daemon's STATS commands delta agrees with the requests"
        echo "#   daemon delta $delta, measured $req, warm-up $warm, sent $sent"
        sed 's/^/#   /' "$T/$name.json" "$T/$name.err"
    fi
}
run_load ping --ping
run_load search -q "$QUERIES"
check "search: the JSON has latency percentiles" grep -q '"latency_us":{"mean":[0-9.]*,"p50":[0-9.]*,"p90":[0-9.]*,"p99":[0-9.]*,"p99.9":[0-9.]*,"max":' "$T/search.json"

"$LOADGEN" -p "$port" -c 2 -t 0.5 -w 0 --ping >"$T/text.out" 2>&1
check "text output has requests, errors, qps and p99.9" sh -c \
  "grep -q '^requests  *[1-9]' '$T/text.out' && grep -q '^errors  *0 ' '$T/text.out' && grep -q '^qps ' '$T/text.out' && grep -q 'p99.9 [0-9]' '$T/text.out'"

kill "$dpid"
wait "$dpid"
check_eq "kosearchd exits 0 on SIGTERM after the load" 0 $?
dpid=
exit 0
