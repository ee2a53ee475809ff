# Helpers of the indexer fault tests (test_kill_indexer.sh, test_full_disk.sh);
# source after tests/lib.sh, call after mk_tmp.
CORPUS="$KS_SHARED/corpus/ko-corpus.jsonl.gz"
ANSWERS="$KS_BUILDDIR/tests/integration/index_answers"
[ -f "$CORPUS" ] || plan_skip "shared corpus not found at $CORPUS"
QUERIES=("카카오" "인공지능" "데비안" "검색 엔진" "데이터베이스" "고장주입" "라이브러리 -매크로")

# fault_inputs [ALL PREV COPIES DELETES]: in $T, all.jsonl (the first ALL
# documents, default all 2,020), prev.jsonl (the first PREV, default 1,000),
# add.jsonl (COPIES new ids, default 300: copies of the documents after the
# first PREV; and 5 of the first documents with a changed title) and
# delete.ids (DELETES ids, default 50, from the 101st document on).
fault_inputs() {
  python3 - "$CORPUS" "$T" "${1:-0}" "${2:-1000}" "${3:-300}" "${4:-50}" <<'PY'
import gzip, json, sys
docs = [json.loads(l) for l in gzip.open(sys.argv[1], "rt", encoding="utf-8")]
t = sys.argv[2]
n_all, n_prev, n_copy, n_del = (int(x) for x in sys.argv[3:7])
docs = docs[:n_all] if n_all else docs
def dump(name, ds):
    with open("%s/%s" % (t, name), "w", encoding="utf-8") as f:
        for d in ds:
            f.write(json.dumps(d, ensure_ascii=False) + "\n")
dump("prev.jsonl", docs[:n_prev])
dump("all.jsonl", docs)
add = [dict(d, id="copy-" + d["id"]) for d in docs[n_prev:n_prev + n_copy]]
add += [dict(d, title="고장주입 시험 " + (d.get("title") or "")) for d in docs[:5]]
dump("add.jsonl", add)
with open("%s/delete.ids" % t, "w") as f:
    f.write("\n".join(d["id"] for d in docs[100:100 + n_del]) + "\n")
PY
}

# answers INDEX OUT: what INDEX answers to QUERIES (index_answers), into OUT
answers() { "$ANSWERS" "$1" "${QUERIES[@]}" > "$2" 2>"$2.err"; }

# state INDEX OLD NEW: prints old or new when INDEX answers exactly as
# $T/OLD.ans or $T/NEW.ans (references made with `answers`), else what is
# wrong: `current` naming a temporary folder, a segment.part in the live
# generation, info failing, the index not opening as kosearchd opens it.
state() {
  local idx="$1" cur
  cur=$(readlink "$idx/current")
  case "$cur" in *.tmp|"") echo "current -> '$cur'"; return ;; esac
  [ -e "$idx/$cur/segment.part" ] && { echo "segment.part in the live generation"; return; }
  "$INDEXER" info "$idx" >/dev/null 2>&1 || { echo "info fails"; return; }
  answers "$idx" "$T/got.ans" || { echo "cannot be opened: $(cat "$T/got.ans.err")"; return; }
  if cmp -s "$T/got.ans" "$T/$2.ans"; then echo old
  elif cmp -s "$T/got.ans" "$T/$3.ans"; then echo new
  else echo "answers differ from both: $(diff "$T/$2.ans" "$T/got.ans" | head -3 | tr '\n' ' ')"; fi
}

# no_tmp INDEX: true when INDEX holds no *.tmp generation and no segment.part
no_tmp() { ! ls -d "$1"/*.tmp "$1"/*/segment.part 2>/dev/null | grep -q .; }
