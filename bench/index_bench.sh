#!/usr/bin/env bash
# index_bench.sh [TIMES] [RUNS]: indexing throughput of kosearch-indexer
# against the TermGenerator baseline (bench/baseline_indexer: one thread,
# FLAG_CJK_NGRAM, same fields, title weight and commit batching) on the
# shared corpus repeated TIMES times (default 50 = 101,000 documents, ids
# made unique; $KS_BENCH_CORPUS instead when set), RUNS alternating runs each (default 3). Both commit every
# $KS_BENCH_BATCH documents (default 1000, kosearch-indexer build's default; per shard for kosearch).
# Prints every run and the medians (docs/s, MB/s) with their ratio, as a markdown table: the whole
# build (Xapian shards and scoring segment) and its Xapian part alone (the summary's
# "reading+analysis+writing" time, the work the baseline does).
# KS_BENCH_ONE_CORE=1 adds, per round, `kosearch-indexer build -j1` (one analysis and writing
# thread): its Xapian part against the baseline is the per-document cost on one core, which
# bounds what sharding over the machine's cores can reach.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
B=${KS_BUILDDIR:-$here/../build}
SHARED=${KS_SHARED:-$here/../../shared}
times=${1:-50} runs=${2:-3} batch=${KS_BENCH_BATCH:-1000}
work=$(mktemp -d /tmp/ks-index-bench.XXXXXX)
trap 'rm -rf "$work"' EXIT
python3 "$here/make_repeated_corpus.py" "${KS_BENCH_CORPUS:-$SHARED/corpus/ko-corpus.jsonl.gz}" "$times" "$work/in.jsonl"
bytes=$(stat -c %s "$work/in.jsonl")
docs=$(wc -l < "$work/in.jsonl")
ks=() ksx=() base=() one=()
one_core=${KS_BENCH_ONE_CORE:-0}
for r in $(seq "$runs"); do
  rm -rf "$work/ks" "$work/base" "$work/one"
  s=$(date +%s.%N); "$B/kosearch-indexer" build --batch "$batch" -i "$work/in.jsonl" -o "$work/ks" 2>"$work/summary"; e=$(date +%s.%N)
  ks+=("$(echo "$e - $s" | bc)")
  # the summary's "(N s reading+analysis+writing)": the Xapian part of the build
  ksx+=("$(sed -n 's/.*(\([0-9.]*\) s reading+analysis+writing).*/\1/p' "$work/summary")")
  [ -n "${ksx[-1]}" ] || { cat "$work/summary" >&2; echo "index_bench.sh: no summary line" >&2; exit 1; }
  s=$(date +%s.%N); "$B/bench/baseline_indexer" "$work/in.jsonl" "$work/base" "$batch" >/dev/null; e=$(date +%s.%N)
  base+=("$(echo "$e - $s" | bc)")
  echo "run $r: kosearch-indexer ${ks[-1]} s (Xapian part ${ksx[-1]} s), TermGenerator baseline ${base[-1]} s" >&2
  if [ "$one_core" = 1 ]; then
    "$B/kosearch-indexer" build -j1 --batch "$batch" -i "$work/in.jsonl" -o "$work/one" 2>"$work/summary1"
    one+=("$(sed -n 's/.*(\([0-9.]*\) s reading+analysis+writing).*/\1/p' "$work/summary1")")
    [ -n "${one[-1]}" ] || { cat "$work/summary1" >&2; echo "index_bench.sh: no summary line (-j1)" >&2; exit 1; }
    echo "run $r: kosearch-indexer -j1, Xapian part ${one[-1]} s" >&2
  fi
done
ks_size=$(du -sb "$work/ks/current/" | cut -f1); base_size=$(du -sb "$work/base" | cut -f1)
med() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
mk=$(med "${ks[@]}"); mx=$(med "${ksx[@]}"); mb=$(med "${base[@]}")
echo "| indexer | median s | docs/s | MB/s | index size |"
echo "|---|---|---|---|---|"
awk -v d="$docs" -v b="$bytes" -v t="$mk" -v z="$ks_size" 'BEGIN {printf "| kosearch-indexer build (%d threads), whole | %.2f | %.0f | %.2f | %.0f MB |\n", '"$(nproc)"', t, d/t, b/t/1e6, z/1e6}'
awk -v d="$docs" -v b="$bytes" -v t="$mx" 'BEGIN {printf "| kosearch-indexer build, Xapian part | %.2f | %.0f | %.2f | |\n", t, d/t, b/t/1e6}'
awk -v d="$docs" -v b="$bytes" -v t="$mb" -v z="$base_size" 'BEGIN {printf "| TermGenerator baseline (1 thread) | %.2f | %.0f | %.2f | %.0f MB |\n", t, d/t, b/t/1e6, z/1e6}'
awk -v a="$mk" -v x="$mx" -v b="$mb" 'BEGIN {printf "\nratio (baseline time / kosearch time): whole build %.2fx, Xapian part %.2fx, on %d documents, commits every %d documents, %d runs each, alternating\n", b/a, b/x, '"$docs"', '"$batch"', '"$runs"'}'
if [ "$one_core" = 1 ]; then
  mo=$(med "${one[@]}")
  awk -v o="$mo" -v b="$mb" 'BEGIN {printf "one core: kosearch-indexer -j1 Xapian part %.2f s against the baseline'"'"'s %.2f s: %.2fx\n", o, b, b/o}'
fi
