#!/bin/sh
# Regenerates bench/queries/dev-queries.txt (the ks-loadgen query file) from
# the `query` field of shared/eval/dev-queries.jsonl, one query per line, in
# file order. Usage: make-dev-queries.sh [DEV_QUERIES_JSONL [OUT]]
set -eu
here=$(cd "$(dirname "$0")" && pwd)
in=${1:-${KS_SHARED:-$here/../../../shared}/eval/dev-queries.jsonl}
out=${2:-$here/dev-queries.txt}
case "${1:-}" in -h|--help)
    echo "usage: make-dev-queries.sh [DEV_QUERIES_JSONL [OUT]]"
    echo "Writes the query field of each line of DEV_QUERIES_JSONL (default:"
    echo "\$KS_SHARED/eval/dev-queries.jsonl) to OUT (default: dev-queries.txt here)."
    exit 0 ;;
esac
[ -r "$in" ] || { echo "make-dev-queries.sh: cannot read $in" >&2; exit 2; }
# A request line may carry no control characters (PROTOCOL.md section 1) and
# a query that looks like an option or `--` would be read as one, so:
# controls become spaces (as the server's own sanitising does), blanks are
# collapsed, and such queries get a leading `-- `. One query in the dev set
# holds U+008B, which the daemon would refuse with ERR BAD_REQUEST.
python3 - "$in" "$out.tmp" <<'PY'
import json, re, sys
ctl = re.compile(r"[\x00-\x1f\x7f-\x9f]")
n = 0
with open(sys.argv[1], encoding="utf-8") as f, open(sys.argv[2], "w", encoding="utf-8") as o:
    for line in f:
        if not line.strip():
            continue
        q = " ".join(ctl.sub(" ", json.loads(line)["query"]).split())
        if not q:
            sys.exit("make-dev-queries.sh: empty query in " + line.strip())
        if q == "--" or q.startswith("-- ") or re.match(r"[A-Za-z][A-Za-z0-9_]*=", q):
            q = "-- " + q
        o.write(q + "\n")
        n += 1
print("make-dev-queries.sh: %d queries" % n, file=sys.stderr)
PY
mv "$out.tmp" "$out"
