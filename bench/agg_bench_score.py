#!/usr/bin/env python3
"""agg_bench_score.py OUT...: the median over several bench/bench_score outputs of each
list and variant (ns per posting, p90, ratio to scalar) as a Markdown table, for
bench/RESULTS.md, "Scoring kernels". Repeated runs, because the machine is shared."""
import collections, re, statistics, sys

if len(sys.argv) < 2:
    sys.exit(__doc__)
d = collections.OrderedDict()
for fn in sys.argv[1:]:
    for line in open(fn):
        if line.startswith('#') or line.startswith('list'):
            continue
        m = re.match(r'(.{34}) (\S+)\s+(\d+)\s+(\d+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)x (\S+)', line)
        if not m:
            continue
        key = (m.group(1).strip(), m.group(2))
        d.setdefault(key, []).append((float(m.group(5)), float(m.group(7)), m.group(8), int(m.group(3)), float(m.group(6))))
print('| list | postings | variant | ns/posting (median of run medians) | run medians min–max | p90 (median over runs) | ratio to scalar (median) | bit-exact |')
print('|---|---:|---|---:|---|---:|---:|---|')
for (lst, var), v in d.items():
    ns = [x[0] for x in v]; rat = [x[1] for x in v]
    ex = 'yes' if all(x[2] == 'yes' for x in v) else 'NO'
    print('| %s | %d | %s | %.3f | %.3f–%.3f | %.3f | **%.2f×** | %s |' % (lst, v[0][3], var, statistics.median(ns), min(ns), max(ns), statistics.median([x[4] for x in v]), statistics.median(rat), ex))
print('\nruns per row: %s' % sorted({len(v) for v in d.values()}))
