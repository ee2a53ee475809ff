#!/usr/bin/env python3
"""make_variant_queries.py DEV.jsonl OUT.jsonl: variants of the eval queries
that users type, with the same judgments (the target must still be found):
  nospace-1   one space between two Hangul words removed (인공 지능 -> 인공지능)
  nospace-all every space between Hangul words removed
  particle    a trailing particle stripped from words that have one
              (파일을 -> 파일), as a user who types the bare noun would
Deterministic: a fixed seed picks which space to remove."""
import json, random, re, sys

PARTICLES = ["에서는", "에서", "으로", "에게", "까지", "부터", "처럼", "보다",
             "을", "를", "이", "가", "은", "는", "의", "에", "로", "와", "과", "도", "만"]
HANGUL = re.compile(r"[\uac00-\ud7a3]")

def strip_particle(w):
    for p in PARTICLES:
        if w.endswith(p) and len(w) - len(p) >= 2 and HANGUL.search(w[-len(p) - 1]):
            return w[: -len(p)]
    return w

def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    rnd = random.Random(20261124)
    out = open(sys.argv[2], "w", encoding="utf-8")
    n = {"nospace-1": 0, "nospace-all": 0, "particle": 0}
    for line in open(sys.argv[1], encoding="utf-8"):
        q = json.loads(line)
        words = q["query"].split()
        # spaces between two Hangul-ending/starting words
        gaps = [i for i in range(len(words) - 1)
                if HANGUL.search(words[i][-1]) and HANGUL.search(words[i + 1][0])]
        if gaps:
            g = rnd.choice(gaps)
            w1 = words[:g] + [words[g] + words[g + 1]] + words[g + 2:]
            out.write(json.dumps(dict(q, qid=q["qid"] + "-ns1", kind="nospace-1", query=" ".join(w1)), ensure_ascii=False) + "\n")
            n["nospace-1"] += 1
            joined, cur = [], words[0]
            for i in range(len(words) - 1):
                if i in gaps:
                    cur += words[i + 1]
                else:
                    joined.append(cur)
                    cur = words[i + 1]
            joined.append(cur)
            if len(gaps) > 1:
                out.write(json.dumps(dict(q, qid=q["qid"] + "-nsa", kind="nospace-all", query=" ".join(joined)), ensure_ascii=False) + "\n")
                n["nospace-all"] += 1
        stripped = [strip_particle(w) for w in words]
        if stripped != words:
            out.write(json.dumps(dict(q, qid=q["qid"] + "-pt", kind="particle", query=" ".join(stripped)), ensure_ascii=False) + "\n")
            n["particle"] += 1
    print(n, file=sys.stderr)

main()
