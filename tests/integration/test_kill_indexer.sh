#!/usr/bin/env bash
# Fault injection: kosearch-indexer build, add and delete killed with SIGKILL
# (1) at every crash point of core/ks_fault.h (KOSEARCH_FAULT_KILL_AT) and
# (2) at seeded random moments across a measured run. After every kill the
# index must be the previous one or the complete new one, answering a fixed
# set of queries exactly as a reference index does (index_answers: opened as
# kosearchd opens it, so the segment matches the database and verifies), and
# `info` works, `current` names no temporary folder, no segment.part sits in
# the live generation, and a following run succeeds (lock released, stale
# *.tmp swept).
#
# KS_FAULT_SEED picks the kill moments (default 6); KS_TEST_SCALE scales the
# number of random kills (default 1: 20 builds, 20 adds, 10 deletes). A
# sanitizer build runs the indexer about 7 times slower: there the corpus
# is cut to 600 documents, deletes skip the crash points (add's code), and
# 6 builds, 6 adds and 3 deletes are killed at random: 30 kills in all.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/faults_lib.sh"
SEED=${KS_FAULT_SEED:-6}
SCALE=${KS_TEST_SCALE:-1}
n_of() { awk -v n="$1" -v s="$SCALE" 'BEGIN { k = int(n * s + 0.5); print (k < 1 ? 1 : k) }'; }
BUILD_POINTS="build-begun build-written build-stub build-meta segment-part build-segment publish-renamed publish-linked"
LIVE_POINTS="live-copied live-committed live-meta segment-part live-segment publish-renamed publish-linked"
DELETE_POINTS=$LIVE_POINTS
# documents: all, prev, copies added, deleted
SIZES="2020 1000 300 50"
if grep -qa __asan_init "$INDEXER"; then
  N_BUILD=$(n_of 6) N_ADD=$(n_of 6) N_DELETE=$(n_of 3) DELETE_POINTS="" SIZES="600 300 100 20"
else
  N_BUILD=$(n_of 20) N_ADD=$(n_of 20) N_DELETE=$(n_of 10)
fi
plan $((3 + $(echo $BUILD_POINTS $LIVE_POINTS $DELETE_POINTS | wc -w) + 3 * 3 + 2))
mk_tmp
IDX="$T/idx"
fault_inputs $SIZES
set -- $SIZES
build_ref() { # build_ref NAME INPUT: a complete index and its answers
  "$INDEXER" build -q -j 2 -i "$2" -o "$T/$1" && answers "$T/$1" "$T/$1.ans"
}
build_ref prev "$T/prev.jsonl" && build_ref new "$T/all.jsonl" &&
  cp -a "$T/new" "$T/added" && "$INDEXER" add -q -i "$T/add.jsonl" -o "$T/added" && answers "$T/added" "$T/added.ans" &&
  cp -a "$T/new" "$T/deleted" && xargs "$INDEXER" delete -q -o "$T/deleted" < "$T/delete.ids" &&
  answers "$T/deleted" "$T/deleted.ans"
check_eq "reference indexes built (prev, new, added, deleted)" 0 $?
docs_of() { head -1 "$1" | awk '{print $2}'; }
check_eq "their document counts: prev $2, new $1, added $1 + $3 (5 more replaced), deleted $1 - $4" \
  "$2 $1 $(($1 + $3)) $(($1 - $4))" \
  "$(docs_of "$T/prev.ans") $(docs_of "$T/new.ans") $(docs_of "$T/added.ans") $(docs_of "$T/deleted.ans")"
check "the four answer sets differ from each other (a kill could not go unnoticed)" sh -c \
  "! cmp -s '$T/prev.ans' '$T/new.ans' && ! cmp -s '$T/new.ans' '$T/added.ans' && ! cmp -s '$T/new.ans' '$T/deleted.ans' && grep -q '^query 고장주입: 5' '$T/added.ans'"

restore() { rm -rf "$IDX"; cp -a "$T/$1" "$IDX"; }
# run_cmd KIND: the command line of one run of KIND on $IDX
run_cmd() {
  case "$1" in
    build) echo "$INDEXER" build -q -j 2 -i "$T/all.jsonl" -o "$IDX" ;;
    add) echo "$INDEXER" add -q -i "$T/add.jsonl" -o "$IDX" ;;
    delete) echo "$INDEXER" delete -q -o "$IDX" $(cat "$T/delete.ids") ;;
  esac
}
old_of() { case "$1" in build) echo prev ;; *) echo new ;; esac; }
new_of() { case "$1" in build) echo new ;; add) echo added ;; delete) echo deleted ;; esac; }

# --- 1. every crash point ------------------------------------------------------
for kind in build add delete; do
  case $kind in build) points=$BUILD_POINTS ;; add) points=$LIVE_POINTS ;; delete) points=$DELETE_POINTS ;; esac
  for p in $points; do
    restore "$(old_of $kind)"
    # (in a command substitution with stderr closed: the shell's "Killed" note goes nowhere)
    rc=$( { KOSEARCH_FAULT_KILL_AT=$p $(run_cmd $kind) >/dev/null 2>&1; echo $?; } 2>/dev/null )
    want=old
    [ $p = publish-linked ] && want=new
    got=$(state "$IDX" "$(old_of $kind)" "$(new_of $kind)")
    check_eq "$kind killed at $p (exit 137): the $([ $want = old ] && echo previous || echo new) index, whole" \
      "137 $want" "$rc $got"
  done
done

# --- 2. seeded random moments ----------------------------------------------------
# measure a run, then kill at seeded fractions from 2% to 105% of it
for kind in build add delete; do
  case $kind in build) n=$N_BUILD ;; add) n=$N_ADD ;; delete) n=$N_DELETE ;; esac
  restore "$(old_of $kind)"
  t0=$(date +%s.%N)
  $(run_cmd $kind) >/dev/null 2>&1
  dur=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.3f", b - a }')
  delays=$(python3 -c "import random,sys; r=random.Random('$SEED-$kind')
print(' '.join('%.3f' % (r.uniform(0.02, 1.05) * $dur) for _ in range($n)))")
  echo "# $kind: a run takes ${dur} s; killing $n runs at (s): $delays"
  restore "$(old_of $kind)"
  bad="" olds=0 news=0
  for d in $delays; do
    $(run_cmd $kind) >/dev/null 2>&1 & pid=$!
    sleep "$d"; kill -9 $pid 2>/dev/null; wait $pid 2>/dev/null
    got=$(state "$IDX" "$(old_of $kind)" "$(new_of $kind)")
    case "$got" in
      old) olds=$((olds + 1)) ;;
      new) news=$((news + 1)); restore "$(old_of $kind)" ;; # finished (or published): start over from the old one
      *) bad="$bad; at $d s: $got"; restore "$(old_of $kind)" ;;
    esac
  done
  check_eq "$n ${kind}s killed at seeded moments: each left the previous or the new index, whole" "" "$bad"
  echo "#   $olds left the previous index, $news the new one"
  check "some of them were killed before publishing (the kills landed inside the run)" test $olds -gt 0
  # a following run succeeds on what the kills left (no restore in between)
  $(run_cmd $kind) >/dev/null 2>&1
  check_eq "after the killed ${kind}s a complete $kind succeeds and gives the new index" "0 new" \
    "$? $(state "$IDX" "$(old_of $kind)" "$(new_of $kind)")"
done
check "no temporary generation or segment.part is left after a completed run" no_tmp "$IDX"
check_eq "the index folder holds current and at most two generations" 1 \
  "$(ls "$IDX" | awk '/^gen-/ {g++} /^current$/ {c++} END {print (c == 1 && g <= 2) ? 1 : 0}')"
