#!/usr/bin/env bash
# The README's first command: installs what kosearch needs (Debian packages),
# builds it, fetches a sample Korean corpus (Debian's libreoffice-help-ko),
# indexes it into var/index and starts the search daemon on 127.0.0.1:7700.
#   --no-daemon    stop after indexing
#   --port N       daemon port (default 7700)
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
daemon=1 port=7700
while [ $# -gt 0 ]; do
  case "$1" in
    --no-daemon) daemon=0 ;;
    --port) port=$2; shift ;;
    -h|--help) sed -n '2,7p' "$0"; exit 0 ;;
    *) echo "quickstart: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
cd "$top"
echo "== 1/4 installing Debian packages" >&2
bash scripts/install-deps.sh
echo "== 2/4 building" >&2
[ -x configure ] || ./autogen.sh >/dev/null 2>&1
[ -f Makefile ] || ./configure -q >/dev/null
make -s -j"$(nproc)" >/dev/null
echo "== 3/4 fetching the sample corpus (libreoffice-help-ko)" >&2
corpus=$(bash scripts/fetch-sample-corpus.sh)
echo "== 4/4 indexing $corpus" >&2
./kosearch-indexer build -i "$corpus" -o var/index || [ $? -eq 1 ]
./kosearch-indexer info var/index
if [ $daemon = 1 ]; then
  if [ -x ./kosearchd ]; then
    echo "== starting kosearchd on 127.0.0.1:$port (Ctrl-C stops it); try:" >&2
    echo "   printf 'SEARCH 글꼴 크기\\n' | nc -q1 127.0.0.1 $port     or     ./kosearch -p $port 글꼴 크기" >&2
    exec ./kosearchd --index var/index --listen "127.0.0.1:$port"
  else
    echo "(kosearchd is not built in this version: the index is ready in var/index)" >&2
  fi
fi
