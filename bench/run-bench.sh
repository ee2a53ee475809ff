#!/usr/bin/env bash
# bench/run-bench.sh: every benchmark at one scale, then the figures. `make bench`
# runs it (BENCH_SCALE=small|100k|300k|1m). See --help.
set -euo pipefail

prog=run-bench.sh
src=$(cd "$(dirname "$0")/.." && pwd)

usage() {
    cat <<EOF
usage: bench/run-bench.sh [--scale small|100k|300k|1m] [options]

Runs the benchmarks at one scale, writes one JSON file per benchmark to
bench/results/<scale>/ (with the machine: cores, CPU model, avx2/avx512f,
date, commit), draws the PNGs in bench/plots/ with gnuplot (installed with
apt-get when missing and possible) and rewrites the block of bench/RESULTS.md
between <!-- bench:generated:begin --> and <!-- bench:generated:end -->.

Scales:
  small  the shared corpus (\$KS_SHARED/corpus/ko-corpus.jsonl.gz), else the
         sample corpus (data/sample/libreoffice-help-ko.jsonl, made by
         scripts/fetch-sample-corpus.sh); a few minutes on 2 cores
  100k   100,000 documents of ks-gen-corpus --seed 1 trained on that corpus,
  300k   resp. 300,000,
  1m     resp. 1,000,000, generated into the work directory (reused when the
         file there already has the right sha256) and indexed with
         kosearch-indexer under /usr/bin/time -v (unless --reuse-index)

Benchmarks: analyzer (bench_analyze), indexer (index_bench.sh at small; the
build of the generated corpus otherwise), kernels (bench_score --index),
query (bench_query --dump on bench/queries/dev-queries.txt at small, on
ks-gen-queries' queries otherwise), daemon (engine_daemon_bench.sh --conns
1,16,64).

Options:
  --scale S          small (default), 100k, 300k or 1m
  --builddir DIR     build tree (default: \$KS_BUILDDIR, else ./build)
  --workdir DIR      generated corpora, indexes and logs (default /tmp/kosearch-bench)
  --corpus FILE      use this generated corpus (100k/300k/1m; checked by sha256)
  --reuse-index DIR  use this index instead of building one (never modified)
  --queries FILE     query file for bench_query and the daemon
  --only LIST        comma-separated subset of analyzer,indexer,kernels,query,daemon
  --quick            about a second per benchmark (for tests; results are not figures)
  --regen-only       run nothing: redraw the plots and rewrite RESULTS.md
  --results DIR      results root (default bench/results)
  --plots DIR        PNG directory (default bench/plots)
  --md FILE          markdown file to rewrite (default bench/RESULTS.md)
  --no-plots         do not draw (nor install gnuplot)
  -h, --help         this text
Exit status: 0 ok, 1 a benchmark failed, 2 bad arguments.
EOF
}

die() { echo "$prog: $*" >&2; exit 2; }
fail() { echo "$prog: error: $*" >&2; exit 1; }
log() { echo "[$prog $(date -u +%H:%M:%S)] $*" >&2; }

scale=small builddir=${KS_BUILDDIR:-$src/build} workdir=/tmp/kosearch-bench reuse= gencorpus= queries=
only=analyzer,indexer,kernels,query,daemon quick= regen= plots=1
results=$src/bench/results plotdir=$src/bench/plots md=$src/bench/RESULTS.md
while [ $# -gt 0 ]; do
    case $1 in
    -h|--help) usage; exit 0 ;;
    --quick) quick=1; shift; continue ;;
    --regen-only) regen=1; shift; continue ;;
    --no-plots) plots=; shift; continue ;;
    --scale|--builddir|--workdir|--corpus|--reuse-index|--queries|--only|--results|--plots|--md) ;;
    *) die "unknown argument '$1' (see --help)" ;;
    esac
    [ $# -ge 2 ] && [ -n "$2" ] || die "$1 needs a value (see --help)"
    case $1 in
    --scale) scale=$2 ;;
    --builddir) builddir=$2 ;;
    --workdir) workdir=$2 ;;
    --corpus) gencorpus=$2 ;;
    --reuse-index) reuse=$2 ;;
    --queries) queries=$2 ;;
    --only) only=$2 ;;
    --results) results=$2 ;;
    --plots) plotdir=$2 ;;
    --md) md=$2 ;;
    esac
    shift 2
done
case $scale in
small) ndocs=0 sha= ;;
100k) ndocs=100000 sha=5d83017d73ea6915e41788e9f8a9e5fd88bba03cd0588d7b83abe9933e09dead ;;
300k) ndocs=300000 sha=8a958d7950d0da1b0d149c3db3c59ac3513d5c0ec9b0bdd319ead696c3079f2a ;;
1m) ndocs=1000000 sha=e3aa7056a6c22a01083560d1cb2e6f26d19355e2b62099c914134fca62373236 ;;
*) die "--scale wants small, 100k, 300k or 1m, not '$scale'" ;;
esac
IFS=, read -r -a benches <<<"$only"
for b in "${benches[@]}"; do
    case $b in analyzer|indexer|kernels|query|daemon) ;; *) die "--only: unknown benchmark '$b'" ;; esac
done
[ -f "$md" ] || die "no markdown file $md"
[ -z "$reuse" ] || [ -d "$reuse" ] || die "--reuse-index: no directory $reuse"
[ -z "$queries" ] || [ -r "$queries" ] || die "--queries: cannot read $queries"
[ -z "$gencorpus" ] || [ "$scale" != small ] || die "--corpus is for --scale 100k, 300k or 1m"
want() { case ",$only," in *,"$1",*) return 0 ;; esac; return 1; }

report=$src/bench/results_report.py
render() {
    local p=()
    [ -n "$plots" ] || p=(--no-plots)
    python3 "$report" render --results "$results" --md "$md" --plots "$plotdir" "${p[@]}" || fail "rendering failed"
    log "rewrote the generated block of $md"
}

# gnuplot: the suite installs it itself when it can (the project installs its
# own dependencies), and otherwise goes on without plots.
ensure_gnuplot() {
    command -v gnuplot >/dev/null 2>&1 && return 0
    if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
        log "installing gnuplot-nox"
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q gnuplot-nox >&2 ||
            { apt-get update -q >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q gnuplot-nox >&2; } ||
            log "could not install gnuplot-nox; no plots"
    else
        log "gnuplot missing and cannot be installed here (needs root and apt-get); no plots"
    fi
}

if [ -n "$regen" ]; then
    render
    exit 0
fi

builddir=$(cd "$builddir" 2>/dev/null && pwd) || die "no build tree at $builddir (see --builddir)"
for t in kosearch-indexer kosearchd kosearch bench/bench_analyze bench/bench_score bench/bench_query \
    bench/baseline_indexer bench/ks-loadgen bench/ks-gen-corpus bench/ks-gen-queries; do
    [ -x "$builddir/$t" ] || fail "$builddir/$t is not built (run make first)"
done
[ -z "$plots" ] || ensure_gnuplot
mkdir -p "$workdir" || fail "cannot create $workdir"
workdir=$(cd "$workdir" && pwd)
out=$results/$scale
logs=$workdir/logs-$scale
mkdir -p "$out" "$logs"
export KS_BUILDDIR=$builddir
mode=full; [ -z "$quick" ] || mode="quick (about a second per benchmark: not figures)"
t_start=$(date +%s)

# The real corpus: the shared one, else the project's own sample.
shared=${KS_SHARED:-$src/../shared}
real=$shared/corpus/ko-corpus.jsonl.gz
if [ ! -r "$real" ]; then
    real=$src/data/sample/libreoffice-help-ko.jsonl
    if [ ! -s "$real" ]; then
        log "no shared corpus; making the sample corpus with scripts/fetch-sample-corpus.sh"
        "$src/scripts/fetch-sample-corpus.sh" >&2 || fail "scripts/fetch-sample-corpus.sh failed"
    fi
fi
[ -r "$real" ] || fail "no corpus: neither $shared/corpus/ko-corpus.jsonl.gz nor $real"

python3 "$report" machine "$src" >"$logs/machine.json" || fail "cannot describe the machine"
parse() { # KIND LOG OUT [args...]
    local kind=$1 logf=$2 o=$3
    shift 3
    python3 "$report" parse "$kind" "$logf" "$o" --machine "$logs/machine.json" --meta "scale=$scale" \
        --meta "mode=$mode" "$@" || fail "cannot parse $logf"
}

# The corpus and the index for the scale.
if [ "$scale" = small ]; then
    corpus=$real
else
    corpus=${gencorpus:-$workdir/gen-$scale.jsonl}
    ok=
    if [ -s "$corpus" ]; then
        log "checking $corpus (sha256)"
        if [ "$(sha256sum "$corpus" | cut -d' ' -f1)" = "$sha" ]; then ok=1
        elif [ -n "$gencorpus" ]; then fail "$corpus is not ks-gen-corpus --seed 1 -n $ndocs (sha256 differs)"
        fi
    fi
    if [ -z "$ok" ]; then
        log "generating $corpus ($ndocs documents, seed 1, trained on $real)"
        "$builddir/bench/ks-gen-corpus" --train "$real" -n "$ndocs" --seed 1 -q -o "$corpus.tmp" ||
            fail "ks-gen-corpus failed"
        mv "$corpus.tmp" "$corpus"
        [ "$(sha256sum "$corpus" | cut -d' ' -f1)" = "$sha" ] ||
            log "warning: $corpus differs from the reference seed-1 corpus (sha256 $sha); ks-gen-corpus or the training corpus changed"
    fi
fi
cbytes=$(stat -L -c %s "$corpus")
cdocs=$(if [[ $corpus == *.gz ]]; then zcat "$corpus"; else cat "$corpus"; fi | grep -c .)
# Paths in the results as a reader can resolve them: $KS_SHARED/..., or relative to the source tree.
shown() {
    local f
    f=$(realpath -m "$1")
    case $f in
    "$(realpath -m "$shared")"/*) echo "\$KS_SHARED/${f#"$(realpath -m "$shared")"/}" ;;
    "$src"/*) echo "${f#"$src"/}" ;;
    *) echo "$f" ;;
    esac
}
meta=(--meta "corpus=$(shown "$corpus")" --meta "corpus_docs=$cdocs" --meta "corpus_bytes=$cbytes")

buildlog=$logs/index-build.time
if [ -n "$reuse" ]; then
    index=$reuse
    : >"$buildlog"
    log "reusing the index $index"
else
    index=$workdir/idx-$scale
    rm -rf "$index"
    log "building $index"
    if [ "$scale" = small ] || [ ! -x /usr/bin/time ]; then
        "$builddir/kosearch-indexer" build -q -i "$corpus" -o "$index" 2>"$logs/index-build.err" ||
            { cat "$logs/index-build.err" >&2; fail "kosearch-indexer build failed"; }
        : >"$buildlog"
    else
        /usr/bin/time -v -o "$buildlog" "$builddir/kosearch-indexer" build -q -i "$corpus" -o "$index" \
            2>"$logs/index-build.err" || { cat "$logs/index-build.err" >&2; fail "kosearch-indexer build failed"; }
    fi
fi
"$builddir/kosearch-indexer" info --json "$index" >"$logs/info.json" || fail "kosearch-indexer info $index failed"
ibytes=$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d["xapian_bytes"]+d["segment_bytes"])' "$logs/info.json")

# The queries.
if [ -z "$queries" ]; then
    if [ "$scale" = small ]; then
        queries=$src/bench/queries/dev-queries.txt
    else
        queries=$workdir/queries-$scale.txt
        [ -s "$queries" ] || "$builddir/bench/ks-gen-queries" --corpus "$corpus" -n 2000 --seed 1 -q -o "$queries" ||
            fail "ks-gen-queries failed"
    fi
fi

if want analyzer; then
    runs=5; [ -z "$quick" ] || runs=1
    log "analyzer: bench_analyze, $runs runs on $real"
    "$builddir/bench/bench_analyze" "$real" "$runs" >"$logs/analyzer.log" 2>&1 || { cat "$logs/analyzer.log" >&2; fail "bench_analyze failed"; }
    parse analyzer "$logs/analyzer.log" "$out/analyzer.json" "${meta[@]}" --meta "analyzer_corpus=$(shown "$real")" --meta "runs=$runs"
fi

if want indexer; then
    if [ "$scale" = small ]; then
        times=5 runs=3; [ -z "$quick" ] || times=1 runs=1
        log "indexer: index_bench.sh $times $runs"
        KS_BENCH_CORPUS=$real "$src/bench/index_bench.sh" "$times" "$runs" >"$logs/indexer.log" 2>&1 ||
            { cat "$logs/indexer.log" >&2; fail "index_bench.sh failed"; }
        parse indexer "$logs/indexer.log" "$out/indexer.json" "${meta[@]}" --meta "times=$times" --meta "runs=$runs" \
            --meta "index_bytes=$ibytes"
    else
        parse indexer-build "$buildlog" "$out/indexer.json" --extra "$logs/info.json" "${meta[@]}" --meta "runs=1" \
            --meta "index=$index"
    fi
fi

if want kernels; then
    reps=21; [ -z "$quick" ] || reps=3
    log "kernels: bench_score --index"
    "$builddir/bench/bench_score" --index "$index/current/xapian" --terms 5 --reps "$reps" >"$logs/kernels.log" 2>&1 ||
        { cat "$logs/kernels.log" >&2; fail "bench_score failed"; }
    parse kernels "$logs/kernels.log" "$out/kernels.json" "${meta[@]}" --meta "runs=$reps"
fi

if want query; then
    runs=5; [ "$scale" = small ] || runs=3; [ -z "$quick" ] || runs=1
    log "query: bench_query --runs $runs on $queries"
    "$builddir/bench/bench_query" --index "$index" --queries "$queries" --runs "$runs" --dump "$logs/query-times.tsv" \
        >"$logs/query.log" 2>&1 || { cat "$logs/query.log" >&2; fail "bench_query failed"; }
    parse query "$logs/query.log" "$out/query.json" --extra "$logs/query-times.tsv" "${meta[@]}" \
        --meta "runs=$runs" --meta "queries=$(shown "$queries")"
fi

if want daemon; then
    conns=1,16,64 secs=2 warm=1 runs=3
    [ "$scale" = small ] || { secs=5 warm=2 runs=3; }
    [ -z "$quick" ] || { conns=1,16 secs=0.3 warm=0.1 runs=1; }
    log "daemon: engine_daemon_bench.sh --conns $conns --time $secs --runs $runs"
    "$src/bench/engine_daemon_bench.sh" --builddir "$builddir" --index "$index" --queries "$queries" --conns "$conns" \
        --time "$secs" --warmup "$warm" --runs "$runs" --raw "$logs/daemon-runs.tsv" >"$logs/daemon.log" 2>"$logs/daemon.err" ||
        { cat "$logs/daemon.err" >&2; fail "engine_daemon_bench.sh failed"; }
    parse daemon "$logs/daemon.log" "$out/daemon.json" --extra "$logs/daemon-runs.tsv" "${meta[@]}" \
        --meta "runs=$runs" --meta "time=$secs" --meta "warmup=$warm" --meta "threads=2" --meta "queries=$(shown "$queries")"
fi

render
log "scale $scale done in $(( $(date +%s) - t_start )) s; results in $out, logs in $logs"
