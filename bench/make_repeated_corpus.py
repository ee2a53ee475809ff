#!/usr/bin/env python3
"""make_repeated_corpus.py CORPUS.jsonl.gz TIMES OUT.jsonl: the corpus repeated
TIMES times with ids made unique ("<id>#<copy>"), for indexing benchmarks at
a size where start-up costs do not matter."""
import gzip, json, sys

if len(sys.argv) != 4:
    sys.exit(__doc__)
src, times, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
opener = gzip.open if src.endswith(".gz") else open
docs = [json.loads(l) for l in opener(src, "rt", encoding="utf-8") if l.strip()]
with open(out, "w", encoding="utf-8") as f:
    for r in range(times):
        for d in docs:
            f.write(json.dumps(dict(d, id="%s#%d" % (d["id"], r)), ensure_ascii=False) + "\n")
print("%d documents -> %s" % (len(docs) * times, out), file=sys.stderr)
