#!/bin/sh
# Client test (TAP): runs the kosearch program against fake_server.py, a
# canned-reply server on a free loopback port, and checks the request sent,
# the readable output, --json pass-through, interactive mode and the exit
# codes for ERR (1) and for connection/usage errors (2).
set -u

BUILD=${KS_BUILDDIR:-.}
SRC=${KS_SRCDIR:-.}
KOSEARCH="$BUILD/kosearch"
FAKE="$SRC/tests/integration/fake_server.py"

if ! command -v python3 >/dev/null 2>&1; then
    echo "1..0 # SKIP python3 not found (needed for the fake server)"
    exit 0
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/kosearch-client.XXXXXX") || exit 1
spid=
cleanup() {
    [ -n "$spid" ] && kill "$spid" 2>/dev/null
    rm -rf "$tmp"
}
trap cleanup EXIT

n=0
failed=0
ok() {
    n=$((n + 1))
    echo "ok $n - $1"
}
not_ok() {
    n=$((n + 1))
    echo "not ok $n - $1"
    failed=1
}
# check NAME CONDITION...: one test point; on failure show the files.
check() {
    name=$1
    shift
    if "$@"; then
        ok "$name"
    else
        not_ok "$name"
        for f in out err log; do
            [ -f "$tmp/$f" ] && sed "s/^/# $f: /" "$tmp/$f"
        done
    fi
}

# start_server REPLY...: each argument is printf-formatted into a reply file.
start_server() {
    rm -f "$tmp/port" "$tmp/log" "$tmp"/reply.*
    i=0
    files=
    for r in "$@"; do
        i=$((i + 1))
        printf "$r" >"$tmp/reply.$i"
        files="$files $tmp/reply.$i"
    done
    # shellcheck disable=SC2086
    python3 "$FAKE" "$tmp/port" "$tmp/log" $files &
    spid=$!
    tries=0
    while [ ! -s "$tmp/port" ] && [ $tries -lt 100 ]; do
        sleep 0.1
        tries=$((tries + 1))
    done
    port=$(cat "$tmp/port" 2>/dev/null)
}

stop_server() {
    wait "$spid" 2>/dev/null
    spid=
}

# run ARGS...: kosearch with stdin from $tmp/in; sets rc, out, err files.
run() {
    "$KOSEARCH" "$@" <"$tmp/in" >"$tmp/out" 2>"$tmp/err"
    rc=$?
}

same() { cmp -s "$1" "$2"; }
want() { printf "$1" >"$tmp/want"; }

: >"$tmp/in"

echo "1..40"

# ---- one-shot search, readable output (stdout is a file: plain brackets)
start_server 'OK 120 2 345 ~\nHIT 1\t2.5\tdoc-1\t카카오 뉴스\t[카카오]는 오늘\nHIT 2\t1\tdoc-2\t\t\nEND\n'
run -p "$port" --limit 2 카카오 -뉴스
stop_server
check "search: exit status 0" [ "$rc" -eq 0 ]
want 'SEARCH limit=2 -- 카카오 -뉴스\n'
check "search: request is SEARCH limit=N -- query" same "$tmp/log" "$tmp/want"
want '1. 2.500  카카오 뉴스  (doc-1)\n    [카카오]는 오늘\n2. 1.000  (untitled)  (doc-2)\n2 of about 120 results (0.345 ms)\n'
check "search: readable output" same "$tmp/out" "$tmp/want"
check "search: nothing on stderr" [ ! -s "$tmp/err" ]

# ---- default limit, exact total, -H and long options
start_server 'OK 1 1 1500\nHIT 1\t0.1234\td\tT\ts\nEND\n'
run -H 127.0.0.1 --port "$port" -- 인공지능
stop_server
want 'SEARCH limit=10 -- 인공지능\n'
check "search: default limit 10" same "$tmp/log" "$tmp/want"
want '1. 0.123  T  (d)\n    s\n1 of 1 results (1.500 ms)\n'
check "search: score with 3 decimals, exact total" same "$tmp/out" "$tmp/want"

# ---- no results
start_server 'OK 0 0 120\nEND\n'
run -p "$port" 없는말
stop_server
want 'no results (0.120 ms)\n'
check "search: no results" same "$tmp/out" "$tmp/want"
check "search: no results exits 0" [ "$rc" -eq 0 ]

# ---- ERR reply: exit 1, message on stderr
start_server 'ERR LIMIT_EXCEEDED limit must be at most 1000\n'
run -p "$port" --limit 5000 x
stop_server
check "ERR: exit status 1" [ "$rc" -eq 1 ]
check "ERR: code and message on stderr" grep -q 'LIMIT_EXCEEDED: limit must be at most 1000' "$tmp/err"
check "ERR: nothing on stdout" [ ! -s "$tmp/out" ]

# ---- --json: FORMAT json first, then the JSON line unchanged
J='{"ok":true,"total":1,"estimate":false,"returned":1,"took_us":9,"hits":[{"rank":1,"score":1.5,"id":"d\\u0009","title":"카카오","snippet":"[카카오]"}]}\n'
start_server '{"ok":true,"format":"json"}\n' "$J"
run -p "$port" --json 카카오
stop_server
check "json: exit status 0" [ "$rc" -eq 0 ]
want 'FORMAT json\nSEARCH limit=10 -- 카카오\n'
check "json: sends FORMAT json, then SEARCH" same "$tmp/log" "$tmp/want"
want "$J"
check "json: prints the JSON line unchanged" same "$tmp/out" "$tmp/want"

# ---- --json with an error reply: printed, exit 1
start_server '{"ok":true,"format":"json"}\n' '{"ok":false,"error":"BAD_REQUEST","message":"SEARCH needs a query"}\n'
run -p "$port" --json " "
stop_server
check "json ERR: exit status 1" [ "$rc" -eq 1 ]
want '{"ok":false,"error":"BAD_REQUEST","message":"SEARCH needs a query"}\n'
check "json ERR: JSON line on stdout" same "$tmp/out" "$tmp/want"

# ---- interactive: queries and /raw commands from stdin, no prompt (not a tty)
printf '카카오\n\n  /STATS\n/FROB\n' >"$tmp/in"
start_server 'OK 3 1 10\nHIT 1\t2\td1\t제목\t[카카오]\nEND\n' 'OK\nSTAT uptime 5\nSTAT queries 1\nEND\n' 'ERR UNKNOWN_COMMAND unknown command '"'"'FROB'"'"' (try HELP)\n'
run -p "$port"
stop_server
want 'SEARCH limit=10 -- 카카오\nSTATS\nFROB\n'
check "interactive: requests sent in order, blank line skipped" same "$tmp/log" "$tmp/want"
want '1. 2.000  제목  (d1)\n    [카카오]\n1 of 3 results (0.010 ms)\nOK\nSTAT uptime 5\nSTAT queries 1\nEND\nERR UNKNOWN_COMMAND unknown command '"'"'FROB'"'"' (try HELP)\n'
check "interactive: readable hits, raw replies" same "$tmp/out" "$tmp/want"
check "interactive: exit status 1 after an ERR" [ "$rc" -eq 1 ]

# ---- interactive /QUIT ends the session
printf '/quit\n카카오\n' >"$tmp/in"
start_server 'OK BYE\n'
run -p "$port"
stop_server
want 'quit\n'
check "interactive: /quit sent raw" same "$tmp/log" "$tmp/want"
check "interactive: /quit exits 0 after OK BYE" [ "$rc" -eq 0 ]
want 'OK BYE\n'
check "interactive: BYE printed" same "$tmp/out" "$tmp/want"
: >"$tmp/in"

# ---- server closes in the middle of a reply: exit 2
start_server 'OK 2 2 5\nHIT 1\t1\ta\tb\tc\n'
run -p "$port" x
stop_server
check "truncated reply: exit status 2" [ "$rc" -eq 2 ]
check "truncated reply: reported" grep -q 'closed by server in the middle of a reply' "$tmp/err"

# ---- connection refused: exit 2
free=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')
run -p "$free" x
check "refused: exit status 2" [ "$rc" -eq 2 ]
check "refused: message on stderr" grep -q "cannot connect to 127.0.0.1 port $free" "$tmp/err"

# ---- usage
run --limit abc x
check "usage: bad --limit exits 2" [ "$rc" -eq 2 ]
run --bogus
check "usage: unknown option exits 2" [ "$rc" -eq 2 ]
run --help
check "usage: --help exits 0 and prints usage" sh -c '[ "$0" -eq 0 ] && grep -q "^usage: kosearch" "$1"' "$rc" "$tmp/out"
run -p 99999 x
check "usage: port above 65535 exits 2" sh -c '[ "$0" -eq 2 ] && grep -q "bad port" "$1"' "$rc" "$tmp/err"
run -p 0 x
check "usage: port 0 exits 2" [ "$rc" -eq 2 ]

# ---- --token-file: AUTH <token> first, then the request
printf 'abcdefghijklmnop0123\nsecond line ignored\n' >"$tmp/token"
chmod 600 "$tmp/token"
start_server 'OK AUTHENTICATED\n' 'OK RELOADED 7\n'
printf '/RELOAD\n' >"$tmp/in"
run -p "$port" --token-file "$tmp/token"
stop_server
want 'AUTH abcdefghijklmnop0123\nRELOAD\n'
check "token: sends AUTH with the first line of the file, then the command" same "$tmp/log" "$tmp/want"
check "token: exit status 0" [ "$rc" -eq 0 ]
start_server 'ERR FORBIDDEN wrong token\n'
run -p "$port" --token-file "$tmp/token" x
stop_server
check "token: refused AUTH exits 1 and says so" sh -c '[ "$0" -eq 1 ] && grep -q "FORBIDDEN: wrong token" "$1"' "$rc" "$tmp/err"
chmod 640 "$tmp/token"
run -p "$free" --token-file "$tmp/token" x
check "token: group-readable token file refused before connecting (exit 2)" \
    sh -c '[ "$0" -eq 2 ] && grep -q "mode 0640" "$1"' "$rc" "$tmp/err"
printf 'short\n' >"$tmp/token"
chmod 600 "$tmp/token"
run -p "$free" --token-file "$tmp/token" x
check "token: a token under 16 bytes is refused (exit 2)" \
    sh -c '[ "$0" -eq 2 ] && grep -q "at least 16" "$1"' "$rc" "$tmp/err"
: >"$tmp/in"

# ---- -s PATH: Unix socket
run -s "$tmp/no-such.sock" x
check "unix: missing socket exits 2 naming it" \
    sh -c '[ "$0" -eq 2 ] && grep -q "cannot connect to $1" "$2"' "$rc" "$tmp/no-such.sock" "$tmp/err"
run -s "$tmp/$(printf '%0120d' 0)" x
check "unix: over-long socket path exits 2" sh -c '[ "$0" -eq 2 ] && grep -q "too long" "$1"' "$rc" "$tmp/err"

# ---- on a terminal, highlights are bold (needs script(1) for a pty)
if command -v script >/dev/null 2>&1; then
    for nocolor in "" 1; do
        start_server 'OK 1 1 5\nHIT 1\t1\td\tt\t[카카오]는\nEND\n'
        env -u NO_COLOR ${nocolor:+NO_COLOR=1} TERM=xterm \
            script -qec "'$KOSEARCH' -p $port 카카오" /dev/null </dev/null >"$tmp/out" 2>"$tmp/err"
        stop_server
        if [ -z "$nocolor" ]; then
            check "tty: highlight shown bold" grep -q "$(printf '    \033\\[1m카카오\033\\[0m는')" "$tmp/out"
        else
            check "tty: NO_COLOR keeps brackets" grep -q '    \[카카오\]는' "$tmp/out"
        fi
    done
else
    ok "tty: highlight shown bold # SKIP script(1) not found"
    ok "tty: NO_COLOR keeps brackets # SKIP script(1) not found"
fi

exit 0
