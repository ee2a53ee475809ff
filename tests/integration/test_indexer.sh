#!/usr/bin/env bash
# Integration tests of kosearch-indexer: a build of the shared corpus, the
# stored terms against the analyzer, add/replace/delete, bad records with
# their documented messages and counts, --strict, text folders, and builds
# and adds killed with SIGKILL leaving the previous index intact.
. "$(dirname "$0")/../lib.sh"
CORPUS="$KS_SHARED/corpus/ko-corpus.jsonl.gz"
[ -f "$CORPUS" ] || plan_skip "shared corpus not found at $CORPUS"
plan 69
mk_tmp
IDX="$T/idx"

# --- build ------------------------------------------------------------------
"$INDEXER" build -i "$CORPUS" -o "$IDX" 2>"$T/build.err"
check_eq "build of the shared corpus exits 0" 0 $?
check_eq "info reports 2,020 documents" 2020 "$(info_docs "$IDX")"
sizes=$("$INDEXER" info --json "$IDX" | python3 -c 'import json,sys; d=json.load(sys.stdin); print("Xapian database %.1f MiB, segment %.1f MiB, document store %.1f MiB" % (d["xapian_bytes"]/1048576, d["segment_bytes"]/1048576, d["docstore_bytes"]/1048576))')
check "the build's summary gives its peak RSS and the sizes info reports ($sizes)" \
  grep -Eq "^  peak RSS [1-9][0-9]*\.[0-9] MiB; $sizes\$" "$T/build.err"
check "info shows distinct terms, size, analyzer, build time" sh -c \
  "'$INDEXER' info '$IDX' | grep -q '^distinct terms: [1-9]' && '$INDEXER' info '$IDX' | grep -q '^xapian size: *[1-9]' && '$INDEXER' info '$IDX' | grep -q '^analyzer: .*nfkc' && '$INDEXER' info '$IDX' | grep -q '^built at: *20[0-9][0-9]-'"
out=$("$KS_BUILDDIR/tests/integration/check_terms" "$IDX" "$CORPUS" 23)
check_eq "stored terms of every 23rd document equal the analyzer's output" "checked 88 documents, 0 mismatched" "$(echo "$out" | tail -1)"
check "stored fields come back unchanged (get)" sh -c \
  "'$INDEXER' get '$IDX' seed:004_a86154844a3c0ce7 | python3 -c 'import json,sys,gzip
d=json.load(sys.stdin)
for l in gzip.open(\"$CORPUS\",\"rt\"):
    o=json.loads(l)
    if o[\"id\"]==d[\"id\"]: assert o==d, \"differs\"; sys.exit(0)
sys.exit(1)'"

# --- add (insert or replace), delete -------------------------------------------
printf '%s\n' '{"id":"seed:004_a86154844a3c0ce7","title":"바뀐 제목","body":"새 본문입니다."}' \
  '{"id":"new-1","title":"새 문서","body":"카카오가 인공지능을 발표했다.","url":"https://example.com/1","date":"2024-05-01T09:30:00+09:00","tags":["ai","뉴스"]}' > "$T/add.jsonl"
"$INDEXER" add -q -i "$T/add.jsonl" -o "$IDX"
check_eq "add exits 0" 0 $?
check_eq "add of one new and one existing id gives 2,021 documents" 2021 "$(info_docs "$IDX")"
check "the existing id was replaced" sh -c "'$INDEXER' get '$IDX' seed:004_a86154844a3c0ce7 | grep -q '바뀐 제목'"
check "the new document keeps url, date and tags" sh -c "'$INDEXER' get '$IDX' new-1 | grep -q '\"tags\":\\[\"ai\",\"뉴스\"\\]'"
"$INDEXER" delete -q --id new-1 -o "$IDX"
check_eq "delete exits 0" 0 $?
check_eq "delete removes the document" 2020 "$(info_docs "$IDX")"
"$INDEXER" get "$IDX" new-1 >/dev/null 2>&1
check_eq "get of a deleted id exits 1" 1 $?
err=$("$INDEXER" delete --id no-such-id -o "$IDX" 2>&1)
check_eq "delete of a missing id exits 1" 1 $?
check "delete of a missing id says so" grep -q "no document with id 'no-such-id'" <<<"$err"

# --- bad records ----------------------------------------------------------------
{
  echo '{"id":"good-1","title":"좋은 문서","body":"본문"}'                 # 1
  echo '{"id":"bad-json","title":"닫는 괄호 없음"'                         # 2 malformed
  echo '{"title":"아이디 없음"}'                                           # 3 missing id
  echo '{"id":["x"],"title":"배열 아이디"}'                                # 4 id wrong type
  echo '{"id":"bad-title","title":42}'                                     # 5 title wrong type
  printf '{"id":"bad-utf8","body":"\xff\xfe"}\n'                           # 6 invalid UTF-8
  echo '{"id":"bad-date","date":"2024-13-45"}'                             # 7 bad date
  echo '{"id":"bad-tags","tags":"뉴스"}'                                   # 8 tags not an array
  echo '{"id":"good-1","title":"중복"}'                                    # 9 duplicate id
  echo ''                                                                  # 10 blank: ignored
  echo '[1,2,3]'                                                           # 11 not an object
  echo '{"id":"good-2","title":"두 번째 좋은 문서","date":"2024-05-01"}'   # 12
} > "$T/bad.jsonl"
"$INDEXER" build -i "$T/bad.jsonl" -o "$T/badidx" 2>"$T/bad.err"
check_eq "a build with bad records exits 1" 1 $?
check_eq "only the good records are indexed" 2 "$(info_docs "$T/badidx")"
check "summary counts 9 bad records" grep -q "2 documents indexed, 9 bad records skipped" "$T/bad.err"
check "malformed JSON reported at line 2" grep -q "bad.jsonl:2: bad record: malformed JSON" "$T/bad.err"
check "missing id reported at line 3" grep -q "bad.jsonl:3: bad record: missing required field 'id'" "$T/bad.err"
check "wrong id type reported at line 4" grep -q "bad.jsonl:4: bad record: field 'id' must be a string or an integer" "$T/bad.err"
check "wrong title type reported at line 5" grep -q "bad.jsonl:5: bad record: field 'title' must be a string" "$T/bad.err"
check "invalid UTF-8 reported at line 6" grep -q "bad.jsonl:6: bad record: invalid UTF-8" "$T/bad.err"
check "bad date reported at line 7" grep -q "bad.jsonl:7: bad record: field 'date' is not an ISO 8601 date" "$T/bad.err"
check "tags not an array reported at line 8" grep -q "bad.jsonl:8: bad record: field 'tags' must be an array" "$T/bad.err"
check "duplicate id reported at line 9 naming line 1" grep -q "bad.jsonl:9: bad record: duplicate id 'good-1' (first seen at line 1)" "$T/bad.err"
check "non-object reported at line 11" grep -q "bad.jsonl:11: bad record: a record must be a JSON object" "$T/bad.err"
check "the first of a duplicated id is the one kept" sh -c "'$INDEXER' get '$T/badidx' good-1 | grep -q '좋은 문서'"

# --strict: stops at the first bad record and leaves the index as it was
"$INDEXER" build --strict -q -i "$T/bad.jsonl" -o "$IDX" 2>"$T/strict.err"
check_eq "--strict with a bad record exits 2" 2 $?
check_eq "--strict leaves the previous index untouched" 2020 "$(info_docs "$IDX")"
check "--strict names the record" grep -q "bad.jsonl:2" "$T/strict.err"

# --- text folders -------------------------------------------------------------
mkdir -p "$T/texts/sub"
printf '첫 줄은 제목\n둘째 줄부터 본문입니다.\n' > "$T/texts/a.txt"
printf '하위 폴더 제목\n본문\n' > "$T/texts/sub/b.txt"
printf 'bad \xff utf8\n' > "$T/texts/c.txt"
"$INDEXER" build -q --format text -i "$T/texts" -o "$T/textidx" 2>/dev/null
check_eq "a text folder with one invalid file exits 1" 1 $?
check_eq "the two valid text files are indexed" 2 "$(info_docs "$T/textidx")"
check "a text file's first line is its title" sh -c "'$INDEXER' get '$T/textidx' '$T/texts/a.txt' | grep -q '\"title\":\"첫 줄은 제목\"'"

"$INDEXER" build -q --format text -i "$T/texts/a.txt" -o "$T/not/yet/there/idx" 2>/dev/null
check_eq "-o creates missing parent folders" 1 "$(info_docs "$T/not/yet/there/idx")"

# --- missing index, usage -----------------------------------------------------
"$INDEXER" info "$T/nothing-here" 2>"$T/missing.err"
check_eq "info on a missing index exits 2" 2 $?
check "and says what is wrong" grep -q "nothing-here" "$T/missing.err"

# --- SIGKILL: a killed build or add leaves the previous index usable ------------
python3 - "$CORPUS" "$T/big.jsonl" <<'PY'
import gzip, json, sys
docs = [json.loads(l) for l in gzip.open(sys.argv[1], "rt")]
with open(sys.argv[2], "w") as f:
    for r in range(10):
        for d in docs:
            d2 = dict(d, id="%s#%d" % (d["id"], r))
            f.write(json.dumps(d2, ensure_ascii=False) + "\n")
PY
intact=0
for delay in 0.3 1 2; do
  "$INDEXER" build -q -j 2 -i "$T/big.jsonl" -o "$IDX" 2>/dev/null & pid=$!
  sleep $delay; kill -9 $pid 2>/dev/null; wait $pid 2>/dev/null
  [ "$(info_docs "$IDX")" = 2020 ] && intact=$((intact + 1))
done
check_eq "builds killed at 0.3 s, 1 s and 2 s leave the previous 2,020-document index" 3 $intact
check "the previous index still passes the term check" "$KS_BUILDDIR/tests/integration/check_terms" "$IDX" "$CORPUS" 101
"$INDEXER" add -q -i "$T/big.jsonl" -o "$IDX" 2>/dev/null & pid=$!
sleep 1; kill -9 $pid 2>/dev/null; wait $pid 2>/dev/null
check_eq "an add killed halfway adds nothing (one commit)" 2020 "$(info_docs "$IDX")"
"$INDEXER" build -q -i "$CORPUS" -o "$IDX"
check_eq "a build after killed ones succeeds (stale temp and lock are gone)" "0 2020" "$? $(info_docs "$IDX")"
check "no temporary generations are left behind" sh -c "! ls -d '$IDX'/*.tmp 2>/dev/null | grep -q ."

# --- the scoring segment (core/ks_segment.h) -----------------------------------
check "the published generation holds a segment of the same revision" sh -c \
  "'$INDEXER' info '$IDX' | grep -q '^segment size: *[1-9]' && '$INDEXER' info '$IDX' | grep -Eq '^segment: *revision [0-9]+\$'"
"$INDEXER" delete -q --id "$(zcat "$CORPUS" | head -1 | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')" -o "$IDX"
check "after delete the segment is rebuilt at the new revision" sh -c \
  "'$INDEXER' info '$IDX' | grep -Eq '^segment: *revision [0-9]+\$' && [ \"\$('$INDEXER' info '$IDX' | sed -n 's/^revision: *//p')\" = \"\$('$INDEXER' info '$IDX' | sed -n 's/^segment: *revision //p')\" ]"
check "no segment.part is left behind" sh -c "! ls '$IDX'/current/segment.part 2>/dev/null | grep -q ."
check "after delete the document store is rebuilt at the new revision too, without a .part left" sh -c \
  "[ \"\$('$INDEXER' info '$IDX' | sed -n 's/^revision: *//p')\" = \"\$('$INDEXER' info '$IDX' | sed -n 's/^docstore: *revision //p')\" ] && ! ls '$IDX'/current/docstore.part 2>/dev/null | grep -q ."
rm -f "$IDX/current/docstore"
check "with its document store gone, info says it is unusable and why" sh -c \
  "'$INDEXER' info '$IDX' | grep -q '^docstore: *unusable (stored fields are read from Xapian): cannot open document store'"
rm -f "$IDX/current/segment"
check "with its segment gone, info says the segment is unusable" sh -c "'$INDEXER' info '$IDX' | grep -q '^segment: *unusable'"
check "kosearch-indexer segment rebuilds it at the database's revision" sh -c \
  "'$INDEXER' segment '$IDX' >/dev/null && [ \"\$('$INDEXER' info '$IDX' | sed -n 's/^revision: *//p')\" = \"\$('$INDEXER' info '$IDX' | sed -n 's/^segment: *revision //p')\" ]"
check "and the document store with it" sh -c \
  "[ \"\$('$INDEXER' info '$IDX' | sed -n 's/^revision: *//p')\" = \"\$('$INDEXER' info '$IDX' | sed -n 's/^docstore: *revision //p')\" ] && '$INDEXER' info '$IDX' | grep -q '^docstore size: *[1-9]'"
cp "$IDX/current/segment" "$T/segment.default"
KOSEARCH_SEGMENT_BUFFER=4096 "$INDEXER" segment "$IDX" >/dev/null
check "rebuilt through 4 KiB write buffers (KOSEARCH_SEGMENT_BUFFER) the segment is byte for byte the same" \
  cmp "$T/segment.default" "$IDX/current/segment"
KOSEARCH_SEGMENT_THREADS=1 "$INDEXER" segment "$IDX" >/dev/null
check "rebuilt by one thread (KOSEARCH_SEGMENT_THREADS=1) the segment is byte for byte the default (one thread a core)" \
  cmp "$T/segment.default" "$IDX/current/segment"
"$INDEXER" segment -j 5 "$IDX" >/dev/null
check "rebuilt by five threads over term ranges (segment -j 5) the segment is byte for byte the same" \
  cmp "$T/segment.default" "$IDX/current/segment"
check_eq "segment -j 0 is refused with exit 2" 2 "$("$INDEXER" segment -j 0 "$IDX" >/dev/null 2>&1; echo $?)"
check_eq "--memory-limit below 300 MB is refused with exit 2" 2 "$("$INDEXER" build -q --memory-limit 100 -i "$CORPUS" -o "$T/ml" >/dev/null 2>&1; echo $?)"
"$INDEXER" build -q --memory-limit 300 -i "$CORPUS" -o "$T/ml" 2>/dev/null
check_eq "a build under --memory-limit 300 (frequent commits) indexes every document" 2020 "$(info_docs "$T/ml")"

# --- the build's positions log (core/ks_poslog.h) -------------------------------
# A build takes the segment's positions from the logs its shard writers keep;
# the segment must be byte for byte the one `segment` rebuilds from Xapian's
# position lists, and the logs must be gone before publication.
for opts in "-j 1" "-j 2" "-j 3" "-j 3 --batch 7"; do
  rm -rf "$T/pl"
  # shellcheck disable=SC2086
  "$INDEXER" build $opts -i "$CORPUS" -o "$T/pl" 2>"$T/pl.err"
  rc=$?
  check "build $opts exits 0 with the positions log used (no fallback note) and no log left" sh -c \
    "[ $rc = 0 ] && ! grep -q 'positions log' '$T/pl.err' && [ -z \"\$(find '$T/pl' -name '*.poslog')\" ]"
  cp "$T/pl/current/segment" "$T/pl.seg"
  "$INDEXER" segment "$T/pl" >/dev/null
  check "build $opts: the segment from the log is byte for byte the one rebuilt from Xapian" cmp "$T/pl.seg" "$T/pl/current/segment"
done
rm -rf "$T/plc"
"$INDEXER" build -q --compact -j 2 -i "$CORPUS" -o "$T/plc" 2>/dev/null
cp "$T/plc/current/segment" "$T/plc.seg"
"$INDEXER" segment "$T/plc" >/dev/null
check "build --compact (renumbered documents: no log) gives the segment rebuilt from Xapian" cmp "$T/plc.seg" "$T/plc/current/segment"
KOSEARCH_FAULT_FAIL_AT=poslog-write "$INDEXER" build -q -i "$CORPUS" -o "$T/pl" 2>"$T/pl.err"
check_eq "a positions log that cannot be written (KOSEARCH_FAULT_FAIL_AT=poslog-write) fails the build with exit 2" 2 $?
check "... saying why, and the previous index is intact" sh -c \
  "grep -q 'cannot write the positions log .*No space left on device' '$T/pl.err' && cmp '$T/pl.seg' '$T/pl/current/segment' && [ \"\$(ls '$T/pl' | grep -c tmp)\" = 0 ]"
# (in a command substitution with stderr closed: the shell's "Killed" note goes nowhere)
rc=$( { KOSEARCH_FAULT_KILL_AT=segment-part "$INDEXER" build -q -i "$CORPUS" -o "$T/pl" >/dev/null 2>&1; echo $?; } 2>/dev/null )
check "a build killed during its segment build (exit $rc) leaves its logs in the unpublished gen-N.tmp" sh -c \
  "[ $rc = 137 ] && ls '$T'/pl/gen-*.tmp/shard-0.poslog >/dev/null 2>&1"
"$INDEXER" build -q -i "$CORPUS" -o "$T/pl" 2>/dev/null
check "the next build sweeps them: no positions log anywhere in the index" sh -c \
  "[ -z \"\$(find '$T/pl' -name '*.poslog')\" ] && ! ls -d '$T'/pl/gen-*.tmp >/dev/null 2>&1"
