#!/usr/bin/env bash
# Fault injection: kosearch-indexer build and add out of room, (1) under a
# file-size limit (ulimit -f: writes past it fail with EFBIG, the indexer
# ignores SIGXFSZ) once in Xapian's files and once in the segment, and
# (2) on a small tmpfs (root only; skipped otherwise): each fails with exit
# 2 and a message naming the problem, leaves the previous index answering
# exactly as before with no temporary folder behind, and a later add with
# room to spare works.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/faults_lib.sh"
plan 15
mk_tmp
fault_inputs
# prev: 1,000 documents in 4 shards (small Xapian files next to one larger
# segment); added: prev plus add.jsonl
"$INDEXER" build -q -j 4 -i "$T/prev.jsonl" -o "$T/prev" && answers "$T/prev" "$T/prev.ans" &&
  cp -a "$T/prev" "$T/added" && "$INDEXER" add -q -i "$T/add.jsonl" -o "$T/added" && answers "$T/added" "$T/added.ans"
check_eq "reference indexes built (1,000 documents, then the add)" 0 $?

# fails DESC WANT_MSG CMD...: CMD (run with $IDX the index) exits 2, its
# message has WANT_MSG, the index is the previous one and no *.tmp is left
fails() {
  local desc="$1" want="$2" rc
  shift 2
  "$@" >/dev/null 2>"$T/err"
  rc=$?
  check_eq "$desc: exit 2 and a message saying '$want'" "2 1" "$rc $(grep -c "$want" "$T/err")"
  [ "$(grep -c "$want" "$T/err")" = 1 ] || echo "#   stderr: $(head -3 "$T/err")"
  check_eq "$desc: the previous index answers exactly as before, nothing temporary left" "old yes" \
    "$(state "$IDX" prev added) $(no_tmp "$IDX" && echo yes || echo no)"
}
limited() { local kb="$1"; shift; ( ulimit -f "$kb"; exec "$@" ); }
# Xapian itself leaks an object (173 bytes, allocated inside libxapian)
# when a write fails in a DB_DANGEROUS database (a build's shards): in a
# sanitizer build, leaks allocated in libxapian are not ours to report.
echo "leak:libxapian.so" > "$T/lsan.supp"
export LSAN_OPTIONS="suppressions=$T/lsan.supp${LSAN_OPTIONS:+:$LSAN_OPTIONS}"

# --- 1. a file-size limit ----------------------------------------------------------
IDX="$T/idx"
cp -a "$T/prev" "$IDX"
gen="$IDX/$(readlink "$IDX/current")"
seg_kb=$(( $(stat -c %s "$gen/segment") / 1024 ))
max_kb=$(( $(find "$gen" -name '*.glass' -printf '%s\n' | sort -n | tail -1) / 1024 ))
echo "# largest Xapian file ${max_kb} KiB, segment ${seg_kb} KiB"
fails "build of 2,020 documents in one shard under a 1 MiB file-size limit" "File too large" \
  limited 1024 "$INDEXER" build -q -j 1 -i "$T/all.jsonl" -o "$IDX"
fails "add under a 1 MiB file-size limit" "File too large" \
  limited 1024 "$INDEXER" add -q -i "$T/add.jsonl" -o "$IDX"
# room for every Xapian file (which an add grows) but not for the segment
lim=$(( (max_kb * 3 / 2 + seg_kb) / 2 ))
if [ $lim -gt $(( max_kb * 3 / 2 )) ] && [ $lim -lt $seg_kb ]; then
  fails "add with room for the database but not the segment (${lim} KiB limit)" "File too large" \
    limited $lim "$INDEXER" add -q -i "$T/add.jsonl" -o "$IDX"
else
  for i in 1 2; do ok "add failing at the segment # SKIP the Xapian files are too large next to the segment"; done
fi
"$INDEXER" add -q -i "$T/add.jsonl" -o "$IDX"
check_eq "without the limit the same add works" "0 new" "$? $(state "$IDX" prev added)"

# --- 2. a small tmpfs ------------------------------------------------------------
MNT="$T/mnt"
mkdir -p "$MNT"
if [ "$(id -u)" = 0 ] && mount -t tmpfs -o size=64m kosearch-test "$MNT" 2>/dev/null; then
  trap 'umount "$MNT" 2>/dev/null; rm -rf "$T"' EXIT
  IDX="$MNT/idx"
  cp -a "$T/prev" "$IDX"
  # leave about 4 MiB free: less than a new generation needs
  free_kb=$(df -k --output=avail "$MNT" | tail -1)
  dd if=/dev/zero of="$MNT/filler" bs=1024 count=$(( free_kb - 4096 )) 2>/dev/null
  fails "build on a full tmpfs" "No space left on device" "$INDEXER" build -q -i "$T/all.jsonl" -o "$IDX"
  fails "add on a full tmpfs" "No space left on device" "$INDEXER" add -q -i "$T/add.jsonl" -o "$IDX"
  fails "delete on a full tmpfs" "No space left on device" "$INDEXER" delete -q --id copy-x -o "$IDX"
  rm -f "$MNT/filler"
  "$INDEXER" add -q -i "$T/add.jsonl" -o "$IDX"
  check_eq "with the space freed the same add works" "0 new" "$? $(state "$IDX" prev added)"
  umount "$MNT"
else
  for i in $(seq 7); do ok "tmpfs out of space # SKIP cannot mount a tmpfs (needs root)"; done
fi
