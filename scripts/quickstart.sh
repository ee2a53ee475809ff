#!/usr/bin/env bash
# The README's first command: installs what kosearch needs (Debian packages),
# builds it, fetches a sample Korean corpus (Debian's libreoffice-help-ko),
# indexes it into var/index and starts the search daemon: the line protocol
# on 127.0.0.1:7700, the HTTP API and search page on 127.0.0.1:7780, admin
# commands on the Unix socket var/admin.sock. The programs are built in
# build/ (where scripts/test.sh builds too).
#   --no-daemon      stop after indexing
#   --port N         line-protocol port (default 7700)
#   --http-port N    HTTP port (default 7780)
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
daemon=1 port=7700 http_port=7780
while [ $# -gt 0 ]; do
  case "$1" in
    --no-daemon) daemon=0 ;;
    --port) port=$2; shift ;;
    --http-port) http_port=$2; shift ;;
    -h|--help) sed -n '2,11p' "$0"; exit 0 ;;
    *) echo "quickstart: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
cd "$top"
echo "== 1/4 installing Debian packages" >&2
bash scripts/install-deps.sh
echo "== 2/4 building" >&2
# Out of tree, in build/ (the folder scripts/test.sh uses too): an in-tree
# configure would stop every later out-of-tree build ("source directory
# already configured").
[ -x configure ] || ./autogen.sh >/dev/null 2>&1
mkdir -p build
if [ ! -f build/Makefile ]; then
  (cd build && ../configure -q >/dev/null 2>configure.err) || { cat build/configure.err >&2; exit 1; }
fi
make -C build -s -j"$(nproc)" >build/make.log 2>&1 || { tail -40 build/make.log >&2; exit 1; }
echo "== 3/4 fetching the sample corpus (libreoffice-help-ko)" >&2
corpus=$(bash scripts/fetch-sample-corpus.sh)
echo "== 4/4 indexing $corpus" >&2
build/kosearch-indexer build -i "$corpus" -o var/index || [ $? -eq 1 ]
build/kosearch-indexer info var/index
if [ $daemon = 1 ]; then
  if [ -x build/kosearchd ]; then
    echo "== starting kosearchd on 127.0.0.1:$port and http://127.0.0.1:$http_port/ (Ctrl-C stops it); try:" >&2
    echo "   printf 'SEARCH 글꼴 크기\\n' | nc -q1 127.0.0.1 $port     or     build/kosearch -p $port 글꼴 크기" >&2
    echo "   the search page: http://127.0.0.1:$http_port/     reload: echo /RELOAD | build/kosearch -s var/admin.sock" >&2
    exec build/kosearchd --index var/index --listen "127.0.0.1:$port" --http "127.0.0.1:$http_port" \
      --admin-socket var/admin.sock
  else
    echo "(kosearchd is not built in this version: the index is ready in var/index)" >&2
  fi
fi
