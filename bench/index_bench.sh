#!/usr/bin/env bash
# index_bench.sh [TIMES] [RUNS]: indexing throughput of kosearch-indexer
# against the TermGenerator baseline (bench/baseline_indexer: one thread,
# FLAG_CJK_NGRAM, same fields, title weight and commit batching) on the
# shared corpus repeated TIMES times (default 50 = 101,000 documents, ids
# made unique; $KS_BENCH_CORPUS instead when set), RUNS alternating runs each (default 3). Prints every run and
# the medians (docs/s, MB/s) with their ratio, as a markdown table.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
B=${KS_BUILDDIR:-$here/../build}
SHARED=${KS_SHARED:-$here/../../shared}
times=${1:-50} runs=${2:-3}
work=$(mktemp -d /tmp/ks-index-bench.XXXXXX)
trap 'rm -rf "$work"' EXIT
python3 "$here/make_repeated_corpus.py" "${KS_BENCH_CORPUS:-$SHARED/corpus/ko-corpus.jsonl.gz}" "$times" "$work/in.jsonl"
bytes=$(stat -c %s "$work/in.jsonl")
docs=$(wc -l < "$work/in.jsonl")
ks=() base=()
for r in $(seq "$runs"); do
  rm -rf "$work/ks" "$work/base"
  s=$(date +%s.%N); "$B/kosearch-indexer" build -q -i "$work/in.jsonl" -o "$work/ks"; e=$(date +%s.%N)
  ks+=("$(echo "$e - $s" | bc)")
  s=$(date +%s.%N); "$B/bench/baseline_indexer" "$work/in.jsonl" "$work/base" >/dev/null; e=$(date +%s.%N)
  base+=("$(echo "$e - $s" | bc)")
  echo "run $r: kosearch-indexer ${ks[-1]} s, TermGenerator baseline ${base[-1]} s" >&2
done
ks_size=$(du -sb "$work/ks/current/" | cut -f1); base_size=$(du -sb "$work/base" | cut -f1)
med() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
mk=$(med "${ks[@]}"); mb=$(med "${base[@]}")
echo "| indexer | median s | docs/s | MB/s | index size |"
echo "|---|---|---|---|---|"
awk -v d="$docs" -v b="$bytes" -v t="$mk" -v z="$ks_size" 'BEGIN {printf "| kosearch-indexer build (%d threads) | %.2f | %.0f | %.2f | %.0f MB |\n", '"$(nproc)"', t, d/t, b/t/1e6, z/1e6}'
awk -v d="$docs" -v b="$bytes" -v t="$mb" -v z="$base_size" 'BEGIN {printf "| TermGenerator baseline (1 thread) | %.2f | %.0f | %.2f | %.0f MB |\n", t, d/t, b/t/1e6, z/1e6}'
awk -v a="$mk" -v b="$mb" 'BEGIN {printf "\nratio (baseline time / kosearch time): %.2fx on %d documents, %d runs each, alternating\n", b/a, '"$docs"', '"$runs"'}'
