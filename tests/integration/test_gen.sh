#!/usr/bin/env bash
# TAP test of bench/ks-gen-corpus and bench/ks-gen-queries, trained on the
# shared real corpus (skipped when it is missing): reproducibility by seed,
# valid JSON Lines, N=0, argument errors, well-formed queries and their shares.
set -u
. "${KS_SRCDIR:-$(dirname "$0")/../..}/tests/lib.sh"

TRAIN="$KS_SHARED/corpus/ko-corpus.jsonl.gz"
GEN="$KS_BUILDDIR/bench/ks-gen-corpus"
GENQ="$KS_BUILDDIR/bench/ks-gen-queries"
[ -r "$TRAIN" ] || plan_skip "shared corpus $TRAIN not found"
[ -x "$GEN" ] && [ -x "$GENQ" ] || plan_skip "generators not built"
plan 17
mk_tmp

"$GEN" --train "$TRAIN" -n 2000 --seed 7 -q -o "$T/a.jsonl"
"$GEN" --train "$TRAIN" -n 2000 --seed 7 -q >"$T/b.jsonl"
"$GEN" --train "$TRAIN" -n 2000 --seed 8 -q -o "$T/c.jsonl" --stats "$T/c.tsv" 2>/dev/null
sha() { sha256sum "$1" | cut -d' ' -f1; }
check_eq "same seed gives identical bytes (file and stdout)" "$(sha "$T/a.jsonl")" "$(sha "$T/b.jsonl")"
check "a different seed gives different bytes" test "$(sha "$T/a.jsonl")" != "$(sha "$T/c.jsonl")"
check_eq "N=2000 gives 2000 lines" 2000 "$(wc -l <"$T/a.jsonl" | tr -d ' ')"
check "every line is a JSON object with string id, title, body, date; ids gen-1..gen-N" python3 -c '
import json, sys
for i, line in enumerate(open(sys.argv[1], encoding="utf-8", errors="strict"), 1):
    d = json.loads(line)
    assert d["id"] == "gen-%d" % i, d["id"]
    assert all(isinstance(d[k], str) for k in ("title", "body", "date"))
    assert d["body"].strip(), i
' "$T/a.jsonl"
check "the text is mostly Hangul" python3 -c '
import sys
t = open(sys.argv[1], encoding="utf-8").read()
h = sum(1 for c in t if "\uac00" <= c <= "\ud7a3")
assert h > len(t) // 5, (h, len(t))
' "$T/a.jsonl"
check "--stats writes growth and rank/frequency tables" python3 -c '
import sys
blocks = open(sys.argv[1]).read().split("\n\n\n")
assert blocks[0].splitlines()[-1].startswith("2000\t"), blocks[0][-80:]
assert "# heaps_beta" in blocks[0] and blocks[1].startswith("rank\tfreq")
' "$T/c.tsv"

"$GEN" --train "$TRAIN" -n 0 -q -o "$T/zero.jsonl"
check_eq "N=0 gives empty output" 0 "$(stat -c %s "$T/zero.jsonl")"

bad() { # bad DESC ARGS...: exit 2 and a message on stderr
	local d=$1 rc=0
	shift
	"$@" >/dev/null 2>"$T/err" || rc=$?
	if [ "$rc" = 2 ] && [ -s "$T/err" ]; then ok "$d"; else not_ok "$d (exit $rc)"; fi
}
bad "ks-gen-corpus: missing --train" "$GEN" -n 5
bad "ks-gen-corpus: -n not a number" "$GEN" --train "$TRAIN" -n 12x
bad "ks-gen-corpus: unknown option" "$GEN" --train "$TRAIN" -n 5 --frobnicate
bad "ks-gen-queries: missing -n" "$GENQ" --corpus "$T/a.jsonl"
check "both programs have --help" sh -c '"$1" --help | grep -q Usage && "$2" --help | grep -q Usage' _ "$GEN" "$GENQ"

"$GENQ" --corpus "$T/a.jsonl" -n 1000 --seed 3 --tagged -o "$T/q1.tsv" 2>"$T/qerr"
"$GENQ" --corpus "$T/a.jsonl" -n 1000 --seed 3 --tagged -q >"$T/q2.tsv"
check_eq "queries: same seed gives identical queries" "$(sha "$T/q1.tsv")" "$(sha "$T/q2.tsv")"
check "queries: shares printed on stderr" grep -q "words 40.0%" "$T/qerr"
check "queries: well-formed (no controls, balanced quotes, OR between two words, known kinds)" python3 -c '
import re, sys
kinds = {"words", "phrase", "or", "syllable", "rare", "mixed"}
for line in open(sys.argv[1], encoding="utf-8"):
    kind, q = line.rstrip("\n").split("\t")
    assert kind in kinds, kind
    assert q and q == q.strip() and not any(ord(c) < 32 or ord(c) == 127 for c in q), repr(q)
    assert q.count("\"") % 2 == 0, q
    words = q.split(" ")
    for i, w in enumerate(words):
        if w == "OR":
            assert 0 < i < len(words) - 1 and kind == "or", q
    if kind == "or": assert re.fullmatch(r"\S+ OR \S+", q), q
    if kind == "phrase": assert re.fullmatch(r"\"\S+( \S+){1,2}\"", q), q
    if kind == "syllable": assert re.fullmatch("[\uac00-\ud7a3]", q), q
    if kind == "words": assert 1 <= len(words) <= 4 and "\"" not in q, q
    if kind == "mixed": assert re.search("[A-Za-z]", q) and re.search("[\uac00-\ud7a3]", q), q
' "$T/q1.tsv"
check "queries: kinds' shares within 2 points of 40/15/10/10/15/10" python3 -c '
import collections, sys
c = collections.Counter(l.split("\t")[0] for l in open(sys.argv[1], encoding="utf-8"))
want = {"words": 40, "phrase": 15, "or": 10, "syllable": 10, "rare": 15, "mixed": 10}
n = sum(c.values())
assert n == 1000
for k, w in want.items():
    assert abs(100.0 * c[k] / n - w) <= 2, (k, c[k])
' "$T/q1.tsv"
check "queries: untagged output has one query per line" test "$("$GENQ" --corpus "$T/a.jsonl" -n 50 -q | wc -l)" -eq 50
