#!/usr/bin/env python3
"""results_report.py: the data side of bench/run-bench.sh.

  results_report.py machine
      print the machine description (cores, CPU model, avx2/avx512f, date,
      commit) as JSON
  results_report.py parse KIND LOG OUT.json --machine FILE [--extra FILE]
                    [--meta KEY=VALUE]...
      turn one benchmark's output (LOG) into OUT.json; KIND is analyzer,
      indexer, indexer-build, kernels, query or daemon; --extra is the second
      input some kinds need (query: bench_query --dump file; daemon:
      engine_daemon_bench.sh --raw file; indexer-build: kosearch-indexer
      info --json, LOG being /usr/bin/time -v's report or empty)
  results_report.py render --results DIR --md FILE [--plots DIR] [--no-plots]
      rewrite the block of FILE between the bench:generated markers from
      DIR/<scale>/*.json and, unless --no-plots, draw the PNGs into --plots
      with gnuplot

Exit status: 0 ok, 1 runtime error, 2 bad arguments.
"""
import datetime
import glob
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile

BEGIN = "<!-- bench:generated:begin -->"
END = "<!-- bench:generated:end -->"
SCALES = ["small", "100k", "300k", "1m"]
KINDS = ["analyzer", "indexer", "kernels", "query", "daemon"]


class Usage(Exception):
    pass


def fail(msg):
    print("results_report.py: error: %s" % msg, file=sys.stderr)
    sys.exit(1)


# ---------------------------------------------------------------- machine

def machine(src):
    model, flags = "?", set()
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                k, _, v = line.partition(":")
                k = k.strip()
                if k == "model name" and model == "?":
                    model = v.strip()
                elif k == "flags" and not flags:
                    flags = set(v.split())
    except OSError:
        pass

    def git(*args):
        try:
            return subprocess.run(["git", "-C", src] + list(args), capture_output=True, text=True,
                                  check=True).stdout.strip()
        except (OSError, subprocess.CalledProcessError):
            return ""
    commit = git("rev-parse", "--short=12", "HEAD") or "?"
    if git("status", "--porcelain", "--untracked-files=no"):
        commit += "+dirty"
    return {
        "cores": os.cpu_count(),
        "cpu_model": model,
        "avx2": "avx2" in flags,
        "avx512f": "avx512f" in flags,
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "commit": commit,
        "loadavg": open("/proc/loadavg").read().split()[0] if os.path.exists("/proc/loadavg") else "?",
    }


# ---------------------------------------------------------------- parsers

def med(xs):
    return statistics.median(xs) if xs else None


def parse_analyzer(log, extra):
    runs = [(float(a), float(b)) for a, b in
            re.findall(r"run \d+: kosearch ([\d.]+) MB/s, TermGenerator ([\d.]+) MB/s", log)]
    if not runs:
        fail("no 'run N:' lines in bench_analyze output")
    m = re.search(r"texts: (\d+) \(titles and bodies\), ([\d.]+) MB", log)
    k, t = med([a for a, _ in runs]), med([b for _, b in runs])
    return {"texts": int(m.group(1)) if m else None, "mb": float(m.group(2)) if m else None,
            "runs": [{"kosearch_mbs": a, "termgenerator_mbs": b} for a, b in runs],
            "median_kosearch_mbs": k, "median_termgenerator_mbs": t, "ratio": k / t if t else None}


def parse_indexer(log, extra):
    rows = {}
    for line in log.splitlines():
        m = re.match(r"\| (kosearch-indexer build|TermGenerator baseline)[^|]*\| ([\d.]+) \| (\d+) \| ([\d.]+) \| (\d+) MB \|",
                     line)
        if m:
            key = "kosearch" if m.group(1).startswith("kosearch") else "baseline"
            rows[key] = {"median_s": float(m.group(2)), "docs_per_s": int(m.group(3)),
                         "mb_per_s": float(m.group(4)), "index_mb": int(m.group(5))}
        m = re.match(r"\| kosearch-indexer build, Xapian part \| ([\d.]+) \| (\d+) \| ([\d.]+) \|", line)
        if m:
            rows["kosearch_xapian"] = {"median_s": float(m.group(1)), "docs_per_s": int(m.group(2)),
                                       "mb_per_s": float(m.group(3))}
    runs = [{"kosearch_s": float(a), "kosearch_xapian_s": float(x), "baseline_s": float(b)} for a, x, b in
            re.findall(r"run \d+: kosearch-indexer ([\d.]+) s \(Xapian part ([\d.]+) s\), TermGenerator baseline "
                       r"([\d.]+) s", log)]
    m = re.search(r"ratio \(baseline time / kosearch time\): whole build ([\d.]+)x, Xapian part ([\d.]+)x, on "
                  r"(\d+) documents, commits every (\d+) documents", log)
    if len(rows) != 3 or not m:
        fail("index_bench.sh output has no result table")
    return {"mode": "compare", "kosearch": rows["kosearch"], "kosearch_xapian": rows["kosearch_xapian"],
            "baseline": rows["baseline"], "runs": runs, "ratio": float(m.group(1)),
            "ratio_xapian_part": float(m.group(2)), "documents": int(m.group(3)), "batch": int(m.group(4))}


def wall_seconds(s):
    parts = [float(p) for p in s.split(":")]
    t = 0.0
    for p in parts:
        t = t * 60 + p
    return t


def parse_indexer_build(log, extra, meta):
    info = json.loads(extra)
    r = {"mode": "build", "documents": info.get("documents"), "terms": info.get("terms"),
         "average_length": info.get("average_length"), "xapian_bytes": info.get("xapian_bytes"),
         "segment_bytes": info.get("segment_bytes"), "built_at": info.get("built_at")}
    r["index_bytes"] = (r["xapian_bytes"] or 0) + (r["segment_bytes"] or 0)
    m = re.search(r"Elapsed \(wall clock\) time.*: ([\d:.]+)\s*$", log, re.M)
    if m:
        wall = wall_seconds(m.group(1))
        inb = float(meta.get("corpus_bytes", 0) or 0)
        r["wall_s"] = wall
        r["docs_per_s"] = r["documents"] / wall if wall else None
        r["mb_per_s"] = inb / 1e6 / wall if wall and inb else None
        rss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", log)
        cpu = re.search(r"Percent of CPU this job got: (\d+)%", log)
        r["peak_rss_kb"] = int(rss.group(1)) if rss else None
        r["cpu_percent"] = int(cpu.group(1)) if cpu else None
    else:
        r["wall_s"] = None  # index reused: not built by this run
    return r


KROW = re.compile(r"^(.*?)\s+(scalar|sse4|avx2|avx512)\s+(\d+)\s+(\d+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)x\s+(\S+)\s*$")


def parse_kernels(log, extra):
    rows = []
    for line in log.splitlines():
        m = KROW.match(line)
        if m:
            rows.append({"list": m.group(1).strip(), "variant": m.group(2), "postings": int(m.group(3)),
                         "ns_per_posting": float(m.group(5)), "p90": float(m.group(6)),
                         "speedup": float(m.group(7)), "bit_exact": m.group(8) == "yes"})
    if not rows:
        fail("no kernel rows in bench_score output")
    m = re.search(r"# default kernel: (\S+?);", log)
    variants = []
    for v in ("scalar", "sse4", "avx2", "avx512"):
        xs = [r for r in rows if r["variant"] == v]
        if xs:
            variants.append({"variant": v, "lists": len(xs), "median_ns_per_posting": med([r["ns_per_posting"] for r in xs]),
                             "median_speedup": med([r["speedup"] for r in xs]),
                             "bit_exact": all(r["bit_exact"] for r in xs)})
    return {"default_kernel": m.group(1) if m else None, "rows": rows, "variants": variants}


QROW = re.compile(r"^(all-words|or|all)\s+(\d+) queries\s+(\d+) runs \| engine p50\s+([\d.]+) p99\s+([\d.]+) mean\s+([\d.]+) us"
                  r" \| xapian p50\s+([\d.]+) p99\s+([\d.]+) mean\s+([\d.]+) us")


def quantiles(xs, n=200):
    xs = sorted(xs)
    if not xs:
        return []
    return [[i / n, xs[min(len(xs) - 1, int(round(i / n * (len(xs) - 1))))]] for i in range(n + 1)]


def parse_query(log, extra):
    kinds = []
    for line in log.splitlines():
        m = QROW.match(line)
        if m:
            g = m.groups()
            kinds.append({"kind": g[0], "queries": int(g[1]), "timed": int(g[2]),
                          "engine": {"p50_us": float(g[3]), "p99_us": float(g[4]), "mean_us": float(g[5])},
                          "xapian": {"p50_us": float(g[6]), "p99_us": float(g[7]), "mean_us": float(g[8])}})
    if not kinds:
        fail("no result lines in bench_query output")
    m = re.search(r"kernel (\w+)\)", log)
    per = {"engine": [], "xapian": []}
    for line in (extra or "").splitlines():
        f = line.split("\t")
        if len(f) == 3 and f[0] in per:
            per[f[0]].append(float(f[2]))
    xe = re.search(r"# (\d+) plans where Xapian estimated", log)
    return {"kernel": m.group(1) if m else None, "kinds": kinds, "mismatches": len(re.findall(r"totals differ", log)),
            "xapian_estimated": int(xe.group(1)) if xe else 0,
            "cdf": {e: quantiles(v) for e, v in per.items()}}


def parse_daemon(log, extra):
    runs = {}
    for line in (extra or "").splitlines():
        e, c, js = line.split("\t", 2)
        runs.setdefault((int(c), e), []).append(json.loads(js))
    if not runs:
        fail("no runs in engine_daemon_bench.sh --raw output")
    rows = []
    for (c, e) in sorted(runs):
        xs = runs[(c, e)]
        rows.append({"connections": c, "engine": e, "runs": len(xs), "qps": med([x["qps"] for x in xs]),
                     "p50_us": med([x["latency_us"]["p50"] for x in xs]),
                     "p99_us": med([x["latency_us"]["p99"] for x in xs]),
                     "errors": sum(x["errors"] + x["err_replies"] for x in xs)})
    m = re.search(r"index: \S+ \((\d+) documents\)", log)
    return {"rows": rows, "documents": int(m.group(1)) if m else None}


def cmd_parse(args):
    if len(args) < 3:
        raise Usage("parse KIND LOG OUT.json --machine FILE [--extra FILE] [--meta K=V]...")
    kind, logf, out = args[:3]
    mach, extra, meta = None, None, {}
    rest = args[3:]
    while rest:
        if rest[0] in ("--machine", "--extra", "--meta") and len(rest) > 1:
            if rest[0] == "--machine":
                mach = json.load(open(rest[1], encoding="utf-8"))
            elif rest[0] == "--extra":
                extra = open(rest[1], encoding="utf-8").read()
            else:
                k, eq, v = rest[1].partition("=")
                if not eq:
                    raise Usage("--meta wants KEY=VALUE")
                meta[k] = v
            rest = rest[2:]
        else:
            raise Usage("unknown argument '%s'" % rest[0])
    log = open(logf, encoding="utf-8", errors="replace").read()
    parsers = {"analyzer": parse_analyzer, "indexer": parse_indexer, "kernels": parse_kernels,
               "query": parse_query, "daemon": parse_daemon}
    if kind == "indexer-build":
        res, name = parse_indexer_build(log, extra, meta), "indexer"
    elif kind in parsers:
        res, name = parsers[kind](log, extra), kind
    else:
        raise Usage("unknown KIND '%s'" % kind)
    doc = {"benchmark": name, "machine": mach or {}, **meta, "result": res}
    tmp = out + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(doc, f, ensure_ascii=False, indent=1)
        f.write("\n")
    os.replace(tmp, out)


# ---------------------------------------------------------------- render

def load(results):
    data = {}
    for s in SCALES:
        for k in KINDS:
            p = os.path.join(results, s, k + ".json")
            if os.path.exists(p):
                try:
                    data.setdefault(s, {})[k] = json.load(open(p, encoding="utf-8"))
                except ValueError as e:
                    fail("%s: %s" % (p, e))
    return data


def fmt(x, nd=1):
    if x is None:
        return "–"
    if isinstance(x, float):
        return "{:,.{}f}".format(x, nd)
    return "{:,}".format(x)


def mib(b):
    return "–" if b is None else "{:,.1f} MiB".format(b / 1048576)


def mach_line(d):
    m = d.get("machine", {})
    flags = ", ".join(f for f in ("avx2", "avx512f") if m.get(f)) or "no avx2"
    return "%s cores, %s (%s); %s; commit `%s`; load %s" % (m.get("cores", "?"), m.get("cpu_model", "?"), flags,
                                                           m.get("date", "?"), m.get("commit", "?"), m.get("loadavg", "?"))


def corpus_line(d):
    c = d.get("corpus", "?")
    docs = d.get("corpus_docs")
    by = d.get("corpus_bytes")
    extra = []
    if docs:
        extra.append("%s documents" % fmt(int(docs)))
    if by:
        extra.append("%.1f MB file" % (int(by) / 1e6))
    return "`%s`%s" % (c, " (%s)" % ", ".join(extra) if extra else "")


def section(scale, ds, img):
    out = ["### Scale `%s`" % scale, ""]
    any_d = next(iter(ds.values()))
    out += ["- machine: " + mach_line(any_d), "- corpus: " + corpus_line(any_d)]
    m0 = any_d.get("machine", {})
    for k in KINDS:  # a benchmark run apart (another time, commit or machine) says so
        m = ds[k].get("machine", {}) if k in ds else m0
        if any(m.get(x) != m0.get(x) for x in ("date", "commit", "cpu_model", "cores")):
            out.append("- %s run apart: %s" % (k, mach_line(ds[k])))
    if any_d.get("mode"):
        out.append("- mode: " + any_d["mode"])
    out.append("")
    d = ds.get("analyzer")
    if d:
        r = d["result"]
        out += ["**Analyzer** (`bench_analyze` on `%s`, runs: %s)" % (d.get("analyzer_corpus", d.get("corpus")), len(r["runs"])), "",
                "| texts | MB | kosearch MB/s (median) | TermGenerator MB/s (median) | ratio |",
                "|---:|---:|---:|---:|---:|",
                "| %s | %s | %s | %s | %s× |" % (fmt(r["texts"]), fmt(r["mb"], 2), fmt(r["median_kosearch_mbs"], 1),
                                              fmt(r["median_termgenerator_mbs"], 1), fmt(r["ratio"], 2)), ""]
    d = ds.get("indexer")
    if d:
        r = d["result"]
        if r.get("mode") == "compare":
            out += ["**Indexer** (`index_bench.sh %s %s`: the corpus repeated, %s documents, alternating runs: %d)" %
                    (d.get("times", "?"), d.get("runs", "?"), fmt(r["documents"]), len(r["runs"])), "",
                    "| indexer | median s | docs/s | MB/s | index size |", "|---|---:|---:|---:|---:|"]
            for key, name in (("kosearch", "kosearch-indexer build, whole"),
                              ("kosearch_xapian", "kosearch-indexer build, Xapian part"),
                              ("baseline", "TermGenerator baseline (1 thread)")):
                x = r.get(key)
                if x:
                    out.append("| %s | %s | %s | %s | %s |" % (name, fmt(x["median_s"], 2), fmt(x["docs_per_s"]),
                                                             fmt(x["mb_per_s"], 2),
                                                             fmt(x["index_mb"]) + " MB" if "index_mb" in x else ""))
            out += ["", "Ratio (baseline time / kosearch time), both committing every %s documents: whole build "
                    "**%s×**, Xapian part **%s×**." % (fmt(r.get("batch")), fmt(r["ratio"], 2),
                                                      fmt(r.get("ratio_xapian_part"), 2))]
            if r["documents"] < 50000:
                out.append("At this size start-up costs and the machine's other load weigh on both indexers "
                           "(the Indexer section above repeats the corpus 50 times).")
            out.append("")
        else:
            out += ["**Indexer** (`kosearch-indexer build` under `/usr/bin/time -v`%s)" %
                    ("" if r.get("wall_s") else "; index reused, build not timed in this run"), "",
                    "| documents | wall s | docs/s | MB/s | CPU | peak RSS | Xapian | segment | terms | avg length |",
                    "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
                    "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
                        fmt(r["documents"]), fmt(r.get("wall_s"), 1), fmt(r.get("docs_per_s"), 0),
                        fmt(r.get("mb_per_s"), 2), ("%d%%" % r["cpu_percent"]) if r.get("cpu_percent") else "–",
                        mib(r["peak_rss_kb"] * 1024) if r.get("peak_rss_kb") else "–", mib(r["xapian_bytes"]),
                        mib(r["segment_bytes"]), fmt(r["terms"]), fmt(r["average_length"], 1)), ""]
            if not r.get("wall_s"):
                out += ["The index was reused (`--reuse-index`); the hand-written section \"Indexing the synthetic "
                        "corpus\" above has timed builds of the generated corpora.", ""]
    d = ds.get("kernels")
    if d:
        r = d["result"]
        out += ["**Scoring kernels** (`bench_score --index`, %d posting lists, default kernel %s)" %
                (len({x["list"] for x in r["rows"]}), r["default_kernel"]), "",
                "| kernel | median ns/posting | median speedup over scalar | bit-exact |", "|---|---:|---:|---|"]
        for v in r["variants"]:
            out.append("| %s | %s | %s× | %s |" % (v["variant"], fmt(v["median_ns_per_posting"], 3),
                                                   fmt(v["median_speedup"], 2), "yes" if v["bit_exact"] else "**no**"))
        out.append("")
    d = ds.get("query")
    if d:
        r = d["result"]
        out += ["**Query latency** (`bench_query` on `%s`, runs per query: %s, kernel %s; µs)" %
                (d.get("queries", "?"), d.get("runs", "?"), r["kernel"]), "",
                "| kind | queries | engine p50 | engine p99 | engine mean | Xapian p50 | Xapian p99 | Xapian mean | Xapian/engine p50 |",
                "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for k in r["kinds"]:
            e, x = k["engine"], k["xapian"]
            out.append("| %s | %s | %s | %s | %s | %s | %s | %s | %s× |" % (
                k["kind"], fmt(k["queries"]), fmt(e["p50_us"]), fmt(e["p99_us"]), fmt(e["mean_us"]),
                fmt(x["p50_us"]), fmt(x["p99_us"]), fmt(x["mean_us"]),
                fmt(x["p50_us"] / e["p50_us"], 2) if e["p50_us"] else "–"))
        if r.get("mismatches"):
            out.append("\nThe two engines' totals differed on some plans (see the log).")
        if r.get("xapian_estimated"):
            out.append("\nOn %s plans Xapian's total is its estimate (past its check_at_least: 100,000 "
                       "for all-words plans, 10 for OR plans) while the engine's is an exact count." % fmt(r["xapian_estimated"]))
        out.append("")
        if img.get("cdf"):
            out += ["![query latency CDF, %s](%s)" % (scale, img["cdf"]), ""]
    d = ds.get("daemon")
    if d:
        r = d["result"]
        out += ["**Daemon** (`engine_daemon_bench.sh` on `%s`, %s s runs after %s s warm-up, runs each: %s, %s worker threads)" %
                (d.get("queries", "?"), d.get("time", "?"), d.get("warmup", "?"), d.get("runs", "?"), d.get("threads", "?")), "",
                "| connections | engine | QPS | p50 µs | p99 µs | errors |", "|---:|---|---:|---:|---:|---:|"]
        by = {}
        for x in r["rows"]:
            by.setdefault(x["connections"], {})[x["engine"]] = x
            out.append("| %d | %s | %s | %s | %s | %d |" % (x["connections"], x["engine"], fmt(x["qps"], 0),
                                                          fmt(x["p50_us"], 0), fmt(x["p99_us"], 0), x["errors"]))
        ratios = ["%d: %s×" % (c, fmt(v["simd"]["qps"] / v["xapian"]["qps"], 2)) for c, v in sorted(by.items())
                  if "simd" in v and "xapian" in v and v["xapian"]["qps"]]
        if ratios:
            out += ["", "QPS ratio simd/xapian by connections: " + ", ".join(ratios) + "."]
        out.append("")
        if img.get("qps"):
            out += ["![QPS against connections, %s](%s)" % (scale, img["qps"]), ""]
    return out


def scale_docs(ds):
    for k in ("indexer", "daemon"):
        d = ds.get(k)
        if d and d["result"].get("documents") and (k != "indexer" or d["result"].get("mode") == "build"):
            return d["result"]["documents"]
    for d in ds.values():
        if d.get("corpus_docs"):
            return int(d["corpus_docs"])
    return None


def index_bytes(ds):
    d = ds.get("indexer")
    if not d:
        return None
    r = d["result"]
    if r.get("mode") == "build":
        return r.get("index_bytes")
    return d.get("index_bytes") and int(d["index_bytes"])


def query_all(ds):
    d = ds.get("query")
    if not d:
        return None
    for k in d["result"]["kinds"]:
        if k["kind"] == "all":
            return k
    return None


def indexing_growth(data):
    """Build time, memory and size per scale (the scales whose index was built
    by the run), each against the smallest such scale: how they grow with N."""
    rows, base = [], None
    for s in SCALES:
        d = data.get(s, {}).get("indexer")
        r = d and d["result"]
        if not r or r.get("mode") != "build" or not r.get("wall_s"):
            continue
        docs = r["documents"]
        per = (r["wall_s"] / docs * 1e6, r["index_bytes"] / docs)
        if base is None:
            base = per
        rows.append("| %s | %s | %s | %s | %s | %s | %s | %s | %.2f× | %.2f× |" % (
            s, fmt(docs), fmt(r["wall_s"]), fmt(r["docs_per_s"]), mib(r["peak_rss_kb"] * 1024),
            mib(r["xapian_bytes"]), mib(r["segment_bytes"]), fmt(r["terms"]),
            per[0] / base[0], per[1] / base[1]))
    if len(rows) < 2:
        return []
    return ["**Indexing against corpus size** (`kosearch-indexer build` under `/usr/bin/time -v`, one run "
            "per scale; the last two columns are the time and bytes per document relative to the "
            "smallest scale: 1.00× means linear growth)", "",
            "| scale | documents | wall s | docs/s | peak RSS | Xapian | segment | terms | time/doc | bytes/doc |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"] + rows + [""]


def across(data, img):
    rows = []
    for s in SCALES:
        if s in data:
            q = query_all(data[s])
            qf = data[s].get("query", {}).get("queries", "–")
            rows.append("| %s | %s | %s | `%s` | %s | %s | %s | %s |" % (
                s, fmt(scale_docs(data[s])), mib(index_bytes(data[s])), qf,
                fmt(q["engine"]["p50_us"]) if q else "–", fmt(q["xapian"]["p50_us"]) if q else "–",
                fmt(q["engine"]["p99_us"]) if q else "–", fmt(q["xapian"]["p99_us"]) if q else "–"))
    out = ["### Across corpus sizes", "",
           "| scale | documents | index size (Xapian + segment) | queries | engine p50 µs | Xapian p50 µs | engine p99 µs | Xapian p99 µs |",
           "|---|---:|---:|---|---:|---:|---:|---:|"] + rows + ["",
           "The query sets differ by scale (the dev queries at small, `ks-gen-queries` drawn from the generated "
           "corpus otherwise), so the latencies compare workloads as well as corpus sizes.", ""]
    out += indexing_growth(data)
    for key, alt in (("lat", "query latency against corpus size"), ("size", "index size against corpus size")):
        if img.get(key):
            out += ["![%s](%s)" % (alt, img[key]), ""]
    return out


def gnuplot_terminal(gp):
    r = subprocess.run([gp, "-e", "set terminal pngcairo"], capture_output=True, text=True)
    return "pngcairo size 800,500 font ',10'" if r.returncode == 0 and not r.stderr.strip() else "png size 800,500"


def plots(data, plotdir):
    """Draw the PNGs; returns {scale or '*': {key: path}} of the files made."""
    gp = shutil.which("gnuplot")
    made = {}
    if not gp:
        print("results_report.py: gnuplot not found, no plots", file=sys.stderr)
        return made
    os.makedirs(plotdir, exist_ok=True)
    term = gnuplot_terminal(gp)
    tmp = tempfile.mkdtemp(prefix="ks-plots.")
    try:
        def run(script, out, key, scale):
            full = "set terminal %s\nset output '%s'\nset grid\nset key top left\n%s\n" % (term, out, script)
            r = subprocess.run([gp], input=full, capture_output=True, text=True)
            if r.returncode != 0 or not os.path.exists(out):
                print("results_report.py: gnuplot failed for %s: %s" % (out, r.stderr.strip()), file=sys.stderr)
                return
            made.setdefault(scale, {})[key] = out

        for s, ds in data.items():
            q = ds.get("query")
            if q and any(q["result"]["cdf"].values()):
                files = []
                for e, pts in q["result"]["cdf"].items():
                    if pts:
                        p = os.path.join(tmp, "cdf-%s-%s.dat" % (s, e))
                        with open(p, "w") as f:
                            f.writelines("%g %g\n" % (v, frac) for frac, v in pts)
                        files.append((p, "native engine" if e == "engine" else "Xapian Enquire"))
                plot = ", ".join("'%s' using 1:2 with lines lw 2 title '%s'" % f for f in files)
                run("set title 'Query latency CDF (bench\\_query, scale %s)'\nset logscale x\n"
                    "set xlabel 'latency per query (µs, log scale)'\nset ylabel 'fraction of queries'\n"
                    "set yrange [0:1]\nset key bottom right\nplot %s" % (s, plot),
                    os.path.join(plotdir, "query-latency-cdf-%s.png" % s), "cdf", s)
            d = ds.get("daemon")
            if d:
                files = []
                for e in ("simd", "xapian"):
                    rows = [r for r in d["result"]["rows"] if r["engine"] == e]
                    if rows:
                        p = os.path.join(tmp, "qps-%s-%s.dat" % (s, e))
                        with open(p, "w") as f:
                            f.writelines("%d %g\n" % (r["connections"], r["qps"]) for r in rows)
                        files.append((p, "--engine " + e))
                plot = ", ".join("'%s' using 1:2 with linespoints lw 2 pt 7 title '%s'" % f for f in files)
                run("set title 'kosearchd QPS against connections (scale %s)'\nset logscale x 2\n"
                    "set xlabel 'connections'\nset ylabel 'queries per second'\nset yrange [0:*]\n"
                    "set key bottom right\nplot %s" % (s, plot),
                    os.path.join(plotdir, "daemon-qps-%s.png" % s), "qps", s)
        pts = [(scale_docs(data[s]), s) for s in SCALES if s in data and scale_docs(data[s])]
        lat = os.path.join(tmp, "lat.dat")
        n = 0
        with open(lat, "w") as f:
            for docs, s in pts:
                q = query_all(data[s])
                if q:
                    f.write("%d %g %g %g %g\n" % (docs, q["engine"]["p50_us"], q["xapian"]["p50_us"],
                                                  q["engine"]["p99_us"], q["xapian"]["p99_us"]))
                    n += 1
        if n:
            run("set title 'Query latency against corpus size (bench\\_query, all queries)'\nset logscale xy\n"
                "set xlabel 'documents'\nset ylabel 'µs'\nset offsets graph 0.1, graph 0.1, graph 0.1, graph 0.1\n"
                "plot '%s' u 1:2 w lp lw 2 pt 7 t 'engine p50', '' u 1:3 w lp lw 2 pt 7 t 'Xapian p50', "
                "'' u 1:4 w lp dt 2 pt 6 t 'engine p99', '' u 1:5 w lp dt 2 pt 6 t 'Xapian p99'" % lat,
                os.path.join(plotdir, "latency-vs-corpus.png"), "lat", "*")
        size = os.path.join(tmp, "size.dat")
        n = 0
        with open(size, "w") as f:
            for docs, s in pts:
                b = index_bytes(data[s])
                if b:
                    f.write("%d %g\n" % (docs, b / 1048576))
                    n += 1
        if n:
            run("set title 'Index size against corpus size (Xapian + segment)'\nset logscale xy\n"
                "set xlabel 'documents'\nset ylabel 'MiB'\nset offsets graph 0.1, graph 0.1, graph 0.1, graph 0.1\n"
                "plot '%s' u 1:2 w lp lw 2 pt 7 t 'index size'" % size,
                os.path.join(plotdir, "index-size-vs-corpus.png"), "size", "*")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return made


def cmd_render(args):
    results = md = plotdir = None
    do_plots = True
    while args:
        if args[0] == "--no-plots":
            do_plots, args = False, args[1:]
        elif args[0] in ("--results", "--md", "--plots") and len(args) > 1:
            if args[0] == "--results":
                results = args[1]
            elif args[0] == "--md":
                md = args[1]
            else:
                plotdir = args[1]
            args = args[2:]
        else:
            raise Usage("unknown argument '%s'" % args[0])
    if not results or not md:
        raise Usage("render needs --results DIR and --md FILE")
    if not os.path.isdir(results):
        fail("no results directory %s" % results)
    text = open(md, encoding="utf-8").read()
    nb, ne = text.count(BEGIN), text.count(END)
    if nb > 1 or ne > 1 or nb != ne or (nb and text.index(BEGIN) > text.index(END)):
        fail("%s: the markers %s and %s must appear once each, in that order" % (md, BEGIN, END))
    data = load(results)
    made = plots(data, plotdir or os.path.join(os.path.dirname(md) or ".", "plots")) if do_plots else {}
    mddir = os.path.dirname(os.path.abspath(md))
    rel = {s: {k: os.path.relpath(os.path.abspath(p), mddir) for k, p in v.items()} for s, v in made.items()}
    # Keep links to PNGs from an earlier run when this run draws none (no gnuplot).
    if not do_plots or not made:
        pd = plotdir or os.path.join(mddir, "plots")
        for s in SCALES:
            for key, name in (("cdf", "query-latency-cdf-%s.png" % s), ("qps", "daemon-qps-%s.png" % s)):
                if os.path.exists(os.path.join(pd, name)):
                    rel.setdefault(s, {})[key] = os.path.relpath(os.path.join(pd, name), mddir)
        for key, name in (("lat", "latency-vs-corpus.png"), ("size", "index-size-vs-corpus.png")):
            if os.path.exists(os.path.join(pd, name)):
                rel.setdefault("*", {})[key] = os.path.relpath(os.path.join(pd, name), mddir)
    block = [BEGIN, "## Generated by `make bench`", "",
             "Everything between the `bench:generated` markers is rewritten by `bench/run-bench.sh` "
             "(`make bench BENCH_SCALE=small|100k|300k|1m`) from the files in `bench/results/<scale>/`; "
             "do not edit it by hand. Medians unless said otherwise; each scale's figures come from "
             "its own run, on the machine named with it.", ""]
    if not data:
        block += ["No results yet: run `make bench`.", ""]
    for s in SCALES:
        if s in data:
            block += section(s, data[s], rel.get(s, {}))
    if data:
        block += across(data, rel.get("*", {}))
    block.append(END)
    blk = "\n".join(block)
    if nb:
        a, b = text.index(BEGIN), text.index(END) + len(END)
        text = text[:a] + blk + text[b:]
    else:
        text = text.rstrip("\n") + "\n\n" + blk + "\n"
    tmp = md + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, md)


def main(argv):
    try:
        if not argv or argv[0] in ("-h", "--help"):
            if argv:
                print(__doc__)
                return 0
            raise Usage("a command is required (machine, parse or render)")
        if argv[0] == "machine":
            src = argv[1] if len(argv) > 1 else os.path.dirname(os.path.abspath(__file__))
            print(json.dumps(machine(src), ensure_ascii=False))
        elif argv[0] == "parse":
            cmd_parse(argv[1:])
        elif argv[0] == "render":
            cmd_render(argv[1:])
        else:
            raise Usage("unknown command '%s'" % argv[0])
    except Usage as e:
        print("results_report.py: %s (see --help)" % e, file=sys.stderr)
        return 2
    except OSError as e:
        fail(str(e))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
