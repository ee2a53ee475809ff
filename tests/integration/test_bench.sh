#!/usr/bin/env bash
# TAP test of the benchmark suite (bench/run-bench.sh, bench/results_report.py):
# --help and argument errors, the parsers on canned tool output, the rewrite of
# RESULTS.md's generated block (replaced, never duplicated; the hand-written
# text kept), the plots when gnuplot is installed, and one --quick run of the
# small scale when the build and the shared corpus are there.
set -u
. "${KS_SRCDIR:-$(dirname "$0")/../..}/tests/lib.sh"

RUN="$KS_SRCDIR/bench/run-bench.sh"
REP="$KS_SRCDIR/bench/results_report.py"
command -v python3 >/dev/null || plan_skip "python3 not found"
plan 21
mk_tmp

# --- arguments
"$RUN" --help >"$T/help" 2>&1
check_eq "--help exits 0" 0 $?
check "--help describes --scale and the markers" grep -q -- "--scale small|100k|300k|1m" "$T/help"
exit_and_msg() { # DESC PATTERN ARGS...: exit 2 and PATTERN on stderr
    local d=$1 pat=$2
    shift 2
    "$RUN" "$@" >/dev/null 2>"$T/err"
    local rc=$?
    if [ $rc = 2 ] && grep -q -- "$pat" "$T/err"; then ok "$d"; else
        not_ok "$d"; echo "#   exit $rc: $(cat "$T/err")"; fi
}
exit_and_msg "a bad --scale exits 2 with a message" "small, 100k, 300k or 1m" --scale 10k
exit_and_msg "an unknown option exits 2 with a message" "unknown argument '--frob'" --frob
exit_and_msg "--scale without a value exits 2" "needs a value" --scale
exit_and_msg "an unknown --only benchmark exits 2" "unknown benchmark 'bogus'" --only analyzer,bogus
exit_and_msg "--reuse-index on a missing directory exits 2" "no directory" --reuse-index "$T/nope" --md "$KS_SRCDIR/bench/RESULTS.md"
"$REP" frob >/dev/null 2>&1
check_eq "results_report.py with an unknown command exits 2" 2 $?

# --- canned tool output -> results JSON
R=$T/res
mkdir -p "$R/small" "$R/100k"
echo '{"cores": 2, "cpu_model": "Test CPU", "avx2": true, "avx512f": false, "date": "2026-01-01T00:00:00Z", "commit": "abc"}' >"$T/m.json"
cat >"$T/analyzer.log" <<'EOF'
texts: 4040 (titles and bodies), 4.12 MB
run 1: kosearch 100.00 MB/s, TermGenerator 20.00 MB/s
run 2: kosearch 110.00 MB/s, TermGenerator 21.00 MB/s
run 3: kosearch 120.00 MB/s, TermGenerator 22.00 MB/s
median: kosearch 110.00 MB/s, TermGenerator 21.00 MB/s, ratio 5.24x
EOF
cat >"$T/indexer.log" <<'EOF'
run 1: kosearch-indexer 2.5 s (Xapian part 2.0 s), TermGenerator baseline 5.0 s
| indexer | median s | docs/s | MB/s | index size |
|---|---|---|---|---|
| kosearch-indexer build (2 threads), whole | 2.50 | 2424 | 5.30 | 40 MB |
| kosearch-indexer build, Xapian part | 2.00 | 3030 | 6.63 | |
| TermGenerator baseline (1 thread) | 5.00 | 1212 | 2.65 | 26 MB |

ratio (baseline time / kosearch time): whole build 2.00x, Xapian part 2.50x, on 6060 documents, commits every 1000 documents, 1 runs each, alternating
EOF
cat >"$T/kernels.log" <<'EOF'
# default kernel: avx2; 3 warm-up + 21 timed repetitions, variants interleaved
list                               variant postings  block   ns/post       p90   speedup bit-exact
index term 1 (df 1992)             scalar      1992   1024     1.000     1.100     1.00x yes
index term 1 (df 1992)             avx2        1992   1024     0.250     0.260     4.00x yes
EOF
cat >"$T/query.log" <<'EOF'
# bench_query --index X --queries Q --runs 1 (0.8 s; top 10, exact count; kernel avx2)
all-words      3 queries       3 runs | engine p50     30.0 p99    200.0 mean     45.0 us | xapian p50    300.0 p99   1500.0 mean    400.0 us | xapian/engine p50 10.00x mean 8.89x
or             1 queries       1 runs | engine p50     20.0 p99     20.0 mean     20.0 us | xapian p50    200.0 p99    200.0 mean    200.0 us | xapian/engine p50 10.00x mean 10.00x
all            4 queries       4 runs | engine p50     30.0 p99    200.0 mean     38.8 us | xapian p50    300.0 p99   1500.0 mean    350.0 us | xapian/engine p50 10.00x mean 9.03x
EOF
printf 'engine\tall-words\t30\nxapian\tall-words\t300\nengine\tall-words\t20\nxapian\tall-words\t1500\nengine\tor\t20\nxapian\tor\t200\nengine\tall-words\t200\nxapian\tall-words\t250\n' >"$T/dump.tsv"
: >"$T/daemon.log"
for e in simd xapian; do
    for c in 1 16 64; do
        q=$((c * 10 + ${#e}))
        printf '%s\t%s\t{"qps": %s, "latency_us": {"p50": 100, "p99": 900}, "errors": 0, "err_replies": 0}\n' "$e" "$c" "$q"
    done
done >"$T/daemon.tsv"
echo '{"documents": 100000, "terms": 177017, "average_length": 796.5, "xapian_bytes": 900000000, "segment_bytes": 150000000}' >"$T/info.json"
printf '\tElapsed (wall clock) time (h:mm:ss or m:ss): 2:14.61\n\tMaximum resident set size (kbytes): 895000\n\tPercent of CPU this job got: 102%%\n' >"$T/time.txt"
p() { "$REP" parse "$@" --machine "$T/m.json" --meta corpus=c.jsonl --meta corpus_docs=2020 --meta runs=1; }
if p analyzer "$T/analyzer.log" "$R/small/analyzer.json" &&
    p indexer "$T/indexer.log" "$R/small/indexer.json" --meta index_bytes=22000000 &&
    p kernels "$T/kernels.log" "$R/small/kernels.json" &&
    p query "$T/query.log" "$R/small/query.json" --extra "$T/dump.tsv" &&
    p daemon "$T/daemon.log" "$R/small/daemon.json" --extra "$T/daemon.tsv" &&
    p query "$T/query.log" "$R/100k/query.json" --extra "$T/dump.tsv" &&
    p indexer-build "$T/time.txt" "$R/100k/indexer.json" --extra "$T/info.json" --meta corpus_bytes=218547491; then
    ok "the parsers accept every tool's output"
else
    not_ok "the parsers accept every tool's output"
fi
check "the median and the latency CDF are in the JSON" python3 -c '
import json, sys
a = json.load(open(sys.argv[1])); q = json.load(open(sys.argv[2])); b = json.load(open(sys.argv[3]))
assert a["result"]["median_kosearch_mbs"] == 110.0 and a["machine"]["cpu_model"] == "Test CPU"
assert q["result"]["cdf"]["engine"][0][1] == 20.0 and q["result"]["cdf"]["xapian"][-1][1] == 1500.0
assert abs(b["result"]["wall_s"] - 134.61) < 1e-9 and b["result"]["peak_rss_kb"] == 895000
i = json.load(open(sys.argv[4]))["result"]
assert (i["ratio"], i["ratio_xapian_part"], i["batch"], i["kosearch_xapian"]["median_s"]) == (2.0, 2.5, 1000, 2.0)
assert i["runs"] == [{"kosearch_s": 2.5, "kosearch_xapian_s": 2.0, "baseline_s": 5.0}]
' "$R/small/analyzer.json" "$R/small/query.json" "$R/100k/indexer.json" "$R/small/indexer.json"
"$REP" parse analyzer "$T/daemon.log" "$T/x.json" --machine "$T/m.json" >/dev/null 2>&1
check_eq "a log without results is an error (exit 1)" 1 $?

# --- the generated block of RESULTS.md
printf '# Results\n\nHand-written text.\n\n## Section\n\nMore text.\n' >"$T/R.md"
cp "$T/R.md" "$T/hand.md"
nb() { grep -c -- "$1" "$T/R.md"; }
"$RUN" --regen-only --no-plots --results "$R" --md "$T/R.md" 2>/dev/null
check_eq "--regen-only exits 0" 0 $?
check_eq "the block is appended once" "1 1" "$(nb 'bench:generated:begin') $(nb 'bench:generated:end')"
check "the hand-written text stays as it was, above the block" \
    cmp "$T/hand.md" <(sed '/<!-- bench:generated:begin -->/,$d' "$T/R.md" | sed '$ { /^$/d }')
check "the tables carry the machine, medians and ratios" \
    bash -c "grep -q 'Test CPU' '$T/R.md' && grep -qF '| 4,040 | 4.12 | 110.0 | 21.0 | 5.24× |' '$T/R.md' &&
             grep -qF 'by connections: 1: 0.88×, 16: 0.99×' '$T/R.md' &&
             grep -qF '| kosearch-indexer build, Xapian part | 2.00 | 3,030 | 6.63 |  |' '$T/R.md' &&
             grep -qF 'every 1,000 documents: whole build **2.00×**, Xapian part **2.50×**.' '$T/R.md'"
cp "$T/R.md" "$T/first.md"
"$RUN" --regen-only --no-plots --results "$R" --md "$T/R.md" 2>/dev/null
check "a second run replaces the block: the file is unchanged" cmp "$T/first.md" "$T/R.md"
sed -i 's/"median_kosearch_mbs": 110.0/"median_kosearch_mbs": 777.0/' "$R/small/analyzer.json"
echo "Text after the block." >>"$T/R.md"
"$RUN" --regen-only --no-plots --results "$R" --md "$T/R.md" 2>/dev/null
check "new results replace the old figures, the text after the block stays" \
    bash -c "grep -q '| 777.0 |' '$T/R.md' && ! grep -q '| 110.0 |' '$T/R.md' && tail -1 '$T/R.md' | grep -q 'Text after' &&
             [ \$(grep -c 'bench:generated:begin' '$T/R.md') = 1 ]"
printf '<!-- bench:generated:begin -->\n<!-- bench:generated:begin -->\n<!-- bench:generated:end -->\n' >"$T/bad.md"
"$RUN" --regen-only --no-plots --results "$R" --md "$T/bad.md" >/dev/null 2>&1
check_eq "duplicated markers are an error (exit 1), the file untouched" "1 2" "$? $(grep -c begin "$T/bad.md")"

# --- plots (only with gnuplot)
if command -v gnuplot >/dev/null; then
    "$RUN" --regen-only --results "$R" --md "$T/R.md" --plots "$T/plots" 2>/dev/null
    check "with gnuplot: the five PNGs are drawn and linked" bash -c "
        for f in query-latency-cdf-small daemon-qps-small query-latency-cdf-100k latency-vs-corpus index-size-vs-corpus; do
            [ -s '$T/plots/'\$f.png ] && head -c 8 '$T/plots/'\$f.png | grep -q PNG && grep -q \"](plots/\$f.png)\" '$T/R.md' || exit 1
        done"
else
    ok "# SKIP gnuplot not installed"
fi

# --- one quick run of the small scale
CORPUS="$KS_SHARED/corpus/ko-corpus.jsonl.gz"
if [ -r "$CORPUS" ] && [ -x "$KS_BUILDDIR/bench/bench_query" ] && [ -x "$KS_BUILDDIR/kosearchd" ]; then
    cp "$T/hand.md" "$T/Q.md"
    "$RUN" --scale small --quick --no-plots --builddir "$KS_BUILDDIR" --workdir "$T/w" --results "$T/qres" \
        --md "$T/Q.md" >"$T/quick.log" 2>&1
    rc=$?
    check_eq "run-bench.sh --scale small --quick exits 0" 0 $rc
    [ $rc = 0 ] || sed 's/^/#   /' "$T/quick.log" | tail -20
    check "--quick writes the five results files and the block" bash -c "
        for k in analyzer indexer kernels query daemon; do [ -s '$T/qres/small/'\$k.json ] || exit 1; done
        grep -q 'mode: quick' '$T/Q.md'"
else
    ok "# SKIP shared corpus or build missing"
    ok "# SKIP shared corpus or build missing"
fi
