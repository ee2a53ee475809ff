#!/bin/sh
# Regenerates the segment fuzzer's seeds (tests/fuzz/corpus/segment): small
# real segments built by kosearch-indexer, each prefixed by the harness's
# flags byte (fuzz_segment.c: 1 = recompute checksums, 2 = other BM25
# parameters); and the document store fuzzer's (tests/fuzz/corpus/docstore:
# the same indexes' stores, flags byte 1 = recompute checksums). Tiny KOSEARCH_SEGMENT_CHUNK values so that each seed has
# several lazily verified chunks. Seeds stay well under 64 KiB.
#   make-segment-seeds.sh BUILDDIR [SHARED]
# BUILDDIR holds a built kosearch-indexer; SHARED (default: ../shared next
# to the source tree) holds corpus/ko-corpus.jsonl.gz.
set -eu
case "${1:-}" in
  ''|-h|--help) sed -n '2,9p' "$0"; exit 0 ;;
esac
src=$(cd "$(dirname "$0")/../.." && pwd)
indexer=$1/kosearch-indexer
shared=${2:-$src/../shared}
out=$src/tests/fuzz/corpus/segment
dsout=$src/tests/fuzz/corpus/docstore
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$out" "$dsout"

# seed NAME FLAGS INDEX: the FLAGS byte, then INDEX's current segment; and
# the same for its document store (flags: the seal bit only)
seed() {
  printf "\\$(printf %03o "$2")" > "$out/$1"
  cat "$3/current/segment" >> "$out/$1"
  printf "\\$(printf %03o $(($2 & 1)))" > "$dsout/$1"
  cat "$3/current/docstore" >> "$dsout/$1"
}
build() { # build INDEX CHUNK THREADS JSONL
  KOSEARCH_SEGMENT_CHUNK=$2 "$indexer" build -q -j "$3" -i "$4" -o "$1"
}

# three short documents, one shard: phrases, a term without positions (ids)
printf '%s\n' \
  '{"id":"a","title":"한국어 검색","body":"형태소 분석기 없이 한국어 문서를 검색합니다. 검색 엔진"}' \
  '{"id":"b","title":"두번째 문서","body":"한국어 검색 엔진의 두번째 문서 본문"}' \
  '{"id":"c","title":"English title","body":"mixed 한국어 and English words, search engine"}' \
  > "$tmp/small.jsonl"
build "$tmp/small" 64 1 "$tmp/small.jsonl"
seed small-sealed 1 "$tmp/small"
seed small-plain-bm25 2 "$tmp/small"

# 140 tiny documents in two shards (interleaved document numbers), so that
# common terms span two posting blocks, then deletions (unused numbers,
# zero lengths)
i=0
while [ $i -lt 140 ]; do
  echo "{\"id\":\"d$i\",\"title\":\"문서 $((i % 7))\",\"body\":\"공통 단어 $((i % 3)) 검색\"}"
  i=$((i + 1))
done > "$tmp/blocks.jsonl"
build "$tmp/blocks" 256 2 "$tmp/blocks.jsonl"
KOSEARCH_SEGMENT_CHUNK=256 "$indexer" delete -q --id d0 --id d1 --id d70 --id d139 -o "$tmp/blocks"
seed blocks-sealed 1 "$tmp/blocks"

# four documents of the shared corpus, their bodies cut to 250 characters
if [ -f "$shared/corpus/ko-corpus.jsonl.gz" ]; then
  gzip -dc "$shared/corpus/ko-corpus.jsonl.gz" | head -4 | python3 -c '
import json, sys
for line in sys.stdin:
    d = json.loads(line)
    print(json.dumps({"id": d["id"], "title": d.get("title", ""), "body": d.get("body", "")[:250]}, ensure_ascii=False))
' > "$tmp/corpus.jsonl"
  build "$tmp/corpus" 512 1 "$tmp/corpus.jsonl"
  seed corpus-sealed 1 "$tmp/corpus"
fi
ls -l "$out" "$dsout"
