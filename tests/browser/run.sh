#!/usr/bin/env bash
# tests/browser/run.sh: the search page (searchd/web) in headless Chromium,
# as a TAP test of `make check`. Installs what is missing (as root: Debian's
# chromium, a Korean font for legible screenshots, nodejs/npm if absent),
# installs the pinned playwright-core with `npm ci` into the build folder,
# indexes a slice of the shared corpus with the built kosearch-indexer,
# starts the built kosearchd with --http on a free loopback port, runs
# search.test.mjs against it and stops the daemon.
#
# Without root or network the test is skipped with the reason; under CI=true
# a missing piece is a failure instead, so CI never passes by skipping.
# Writes only under $KS_BUILDDIR/tests/browser/work (screenshots: artifacts/).
# Environment: KS_BUILDDIR, KS_SRCDIR, KS_SHARED (from the harness);
# KS_CHROMIUM (default /usr/bin/chromium).
set -uo pipefail
case "${1:-}" in
  -h|--help) sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
  "") ;;
  *) echo "run.sh: no arguments expected (see --help)" >&2; exit 2 ;;
esac

SRC=${KS_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
BUILD=${KS_BUILDDIR:-$(pwd)}
SHARED=${KS_SHARED:-$SRC/../shared}
HERE=$SRC/tests/browser
WORK=$BUILD/tests/browser/work
CHROMIUM=${KS_CHROMIUM:-/usr/bin/chromium}
CORPUS=$SHARED/corpus/ko-corpus.jsonl.gz
SLICE_DOCS=600   # enough for several pages of results, indexed in well under a second
mkdir -p "$WORK"

# The reason the test cannot run: a skip, or a failure under CI.
unavailable() {
  if [ "${CI:-}" = true ]; then
    printf '1..1\nnot ok 1 - browser test prerequisites: %s\n' "$*"
    exit 1
  fi
  echo "1..0 # SKIP $*"
  exit 0
}

# --- what the test needs -----------------------------------------------------
"$BUILD/kosearchd" --help 2>/dev/null | grep -q -- '--http' || unavailable "this kosearchd has no --http"

missing=()
[ -x "$CHROMIUM" ] || missing+=(chromium)
{ command -v node && command -v npm; } >/dev/null 2>&1 || missing+=(nodejs npm)
# A Korean font only makes the screenshots readable; no check depends on it.
fc-list :lang=ko 2>/dev/null | grep -q . || missing+=(fonts-noto-cjk)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
    export DEBIAN_FRONTEND=noninteractive
    { apt-get -o DPkg::Lock::Timeout=300 update -qq &&
      apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends "${missing[@]}"; } \
      >"$WORK/apt.log" 2>&1
  fi
  [ -x "$CHROMIUM" ] || unavailable "no $CHROMIUM (apt-get install chromium as root; see $WORK/apt.log)"
  { command -v node && command -v npm; } >/dev/null 2>&1 || unavailable "no node/npm (apt-get install nodejs npm as root)"
fi

# playwright-core, pinned by package-lock.json, in the build folder (the
# source tree may be read-only, as in distcheck). It downloads no browser.
DEPS=$WORK/deps
mkdir -p "$DEPS"
if ! cmp -s "$HERE/package-lock.json" "$DEPS/package-lock.json" ||
   [ ! -f "$DEPS/node_modules/playwright-core/package.json" ]; then
  install -m 644 "$HERE/package.json" "$HERE/package-lock.json" "$DEPS/"
  (cd "$DEPS" && npm ci --no-audit --no-fund --loglevel=error) >"$WORK/npm.log" 2>&1 ||
    { rm -f "$DEPS/package-lock.json"; unavailable "npm ci failed (no network?): see $WORK/npm.log"; }
fi

# --- an index and a daemon ---------------------------------------------------
# Like the other corpus tests: no corpus is a skip, under CI too.
[ -f "$CORPUS" ] || { echo "1..0 # SKIP no corpus at $CORPUS"; exit 0; }
{ gzip -dc "$CORPUS" 2>/dev/null || true; } | head -n "$SLICE_DOCS" >"$WORK/slice.jsonl"
rm -rf "$WORK/index"
if ! "$BUILD/kosearch-indexer" build -q -j 1 -i "$WORK/slice.jsonl" -o "$WORK/index" >"$WORK/indexer.log" 2>&1; then
  printf '1..1\nnot ok 1 - kosearch-indexer built the test index\n'; sed 's/^/#   /' "$WORK/indexer.log" | head -20
  exit 1
fi

pid=
stop_daemon() { [ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null && wait "$pid"; }
trap 'stop_daemon >/dev/null 2>&1' EXIT

free_ports() {
  python3 -c 'import socket
s = [socket.socket() for _ in range(2)]
for x in s: x.bind(("127.0.0.1", 0))
print(*(x.getsockname()[1] for x in s))'
}
# 0 once GET /info answers, 1 if the daemon exits or takes over 60 s.
wait_ready() {
  local i
  for i in $(seq 600); do
    kill -0 "$pid" 2>/dev/null || return 1
    python3 -c 'import sys, urllib.request
urllib.request.urlopen("http://127.0.0.1:%s/info" % sys.argv[1], timeout=2).read()' "$hport" 2>/dev/null && return 0
    sleep 0.1
  done
  return 1
}
ready=0
for attempt in 1 2 3 4 5; do
  read -r lport hport < <(free_ports)
  "$BUILD/kosearchd" -i "$WORK/index" -l "127.0.0.1:$lport" --http "127.0.0.1:$hport" -t 2 2>"$WORK/kosearchd.err" &
  pid=$!
  if wait_ready; then ready=1; break; fi
  stop_daemon >/dev/null 2>&1; pid=
  grep -q "in use" "$WORK/kosearchd.err" || break   # another cause: no retry
done
if [ $ready = 0 ]; then
  printf '1..1\nnot ok 1 - kosearchd --http started\n'; sed 's/^/#   /' "$WORK/kosearchd.err" | head -20
  exit 1
fi

# --- the test ----------------------------------------------------------------
KS_HTTP_URL="http://127.0.0.1:$hport" KS_BROWSER_DEPS="$DEPS" KS_ARTIFACTS="$WORK/artifacts" KS_CHROMIUM="$CHROMIUM" \
  timeout 300 node "$HERE/search.test.mjs" >"$WORK/test.tap" 2>"$WORK/test.err"
rc=$?
cat "$WORK/test.tap"
n=$(grep -cE '^(not )?ok ' "$WORK/test.tap")
if [ $rc -ne 0 ] && ! grep -q '^not ok ' "$WORK/test.tap"; then
  n=$((n + 1))
  echo "not ok $n - search.test.mjs exited with status $rc$([ $rc = 124 ] && echo ' (timed out)')"
  sed 's/^/#   /' "$WORK/test.err" | tail -20
fi

stop_daemon; drc=$?
pid=
n=$((n + 1))
if [ $drc -eq 0 ] && ! grep -qE 'ERROR: AddressSanitizer|runtime error:|LeakSanitizer' "$WORK/kosearchd.err"; then
  echo "ok $n - kosearchd stopped on SIGTERM with status 0, no sanitizer report"
else
  echo "not ok $n - kosearchd stopped on SIGTERM with status 0 (got $drc), no sanitizer report"
  sed 's/^/#   /' "$WORK/kosearchd.err" | tail -20
fi
echo "screenshots: $WORK/artifacts" | sed 's/^/# /'
echo "1..$n"
