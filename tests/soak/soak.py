#!/usr/bin/env python3
# Soak test of kosearchd (TAP; python3 standard library only; the client and
# daemon helpers come from tests/integration/test_daemon.py). For DURATION
# seconds: 64 connections send mixed requests (SEARCH with paging, COUNT,
# GET, PING, INFO) made from bench/queries/dev-queries.txt; RELOAD on the admin socket reloads
# the index every 10 s; `kosearch-indexer add` puts a few new documents in
# every 60 s (every 30 s when DURATION is under 10 minutes), and each must be
# found once a reload has happened after its add. Checks: no failed request
# (every reply well-formed and of the expected kind), every added document
# found, no reload failure, the daemon's RSS flat after warm-up (the mean of
# the last third within 10 % + 8 MB of the first third's) and its open file
# descriptors back to their start count (+- 4) once the clients have left.
# Figures are printed as TAP comments; the last one is a SOAK summary line.
#
# Usage: soak.py [DURATION_SECONDS]   (default: $KS_SOAK_SECONDS, else 120;
#                                     0 skips)
# Environment: KS_BUILDDIR, KS_SRCDIR, KS_SHARED as for test_daemon.py.
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
import harness  # noqa: E402
import test_daemon as td  # noqa: E402

T = td.T
CONNS = 64
RELOAD_EVERY = 10
HELP = """Usage: soak.py [DURATION_SECONDS]
Runs kosearchd under 64 connections of mixed requests, reloads and index
additions for DURATION_SECONDS (default $KS_SOAK_SECONDS, else 120; 0 skips)
and checks it serves every request, finds every added document, keeps its
RSS flat and leaks no file descriptors. Prints TAP."""


def fd_count(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


def load_queries():
    path = os.path.join(td.SRC, "bench", "queries", "dev-queries.txt")
    with open(path, encoding="utf-8") as f:
        qs = [line.strip() for line in f if line.strip()]
    return qs + ["책", "의", "카카오 OR 네이버", "\"인공 지능\"", "title:뉴스", "검색 -광고"]


class Stop(Exception):
    pass


def worker(port, queries, ids, stop, counts, failures, lock, seed):
    rnd = random.Random(seed)
    c = td.Client(port)
    n = 0
    try:
        while not stop.is_set():
            kind = rnd.random()
            q = rnd.choice(queries)
            try:
                if kind < 0.6:
                    limit, offset = rnd.choice([(10, 0), (10, 10), (50, 0), (0, 0), (100, 100)])
                    r = c.cmd("SEARCH limit=%d offset=%d -- %s" % (limit, offset, q))
                    total, _, hits = td.parse_search(r)
                    ok = len(hits) == max(0, min(limit, total - offset))
                elif kind < 0.8:
                    r = c.cmd("COUNT -- " + q)
                    ok = len(r) == 1 and td.COUNT_STATUS.match(r[0]) is not None
                elif kind < 0.9:
                    doc = rnd.choice(ids)
                    r = c.cmd("GET " + doc)
                    ok = r[0] == "OK" and r[-1] == "END" and ("FIELD id\t" + doc) in r[1:]
                elif kind < 0.97:
                    r = c.cmd("PING")
                    ok = r == ["OK PONG"]
                else:
                    r = c.cmd("INFO")
                    ok = r[0] == "OK" and r[-1] == "END"
            except (ValueError, OSError, EOFError) as e:
                r, ok = ["%s: %s" % (type(e).__name__, e)], False
            n += 1
            if not ok:
                with lock:
                    failures.append((q, r[:3]))
                if isinstance(r, list) and r and ("Error" in r[0] or "closed" in r[0]):
                    c.close()
                    c = td.Client(port)
    finally:
        c.close()
        with lock:
            counts.append(n)


def main(argv):
    if argv and argv[0] in ("-h", "--help"):
        print(HELP)
        return 0
    try:
        duration = int(argv[0]) if argv else int(os.environ.get("KS_SOAK_SECONDS", "120") or 0)
    except ValueError:
        print("soak.py: DURATION_SECONDS must be a whole number (see --help)", file=sys.stderr)
        return 2
    if duration <= 0:
        print("1..0 # SKIP soak disabled (duration 0)")
        return 0
    why = harness.skip_reason()
    if why:
        print("1..0 # SKIP " + why)
        return 0
    add_every = 60 if duration >= 600 else 30
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))  # clean up (below) when stopped
    td.TMP = tempfile.mkdtemp(prefix="ks-soak.")
    try:
        return run(duration, add_every)
    except Exception as e:  # noqa: BLE001
        T.ok(False, "soak driver: %s: %s" % (type(e).__name__, e), traceback.format_exc())
        print("1..%d" % T.n)
        return 0
    finally:
        td.kill_leftovers()
        shutil.rmtree(td.TMP, ignore_errors=True)


def check_added(checker, pending, missing):
    """Checks the added batches (token, ids, reloads when added) that a reload
    begun after their add has finished has made visible; returns the rest."""
    st = td.stats(checker)
    still = []
    for token, want, reloads in pending:
        if st["reloads"] >= reloads + 2:  # the next reload may have begun before the add ended
            got, _ = td.search_ids(checker, token)
            if not want <= set(got):
                missing.append((token, sorted(want - set(got))))
        else:
            still.append((token, want, reloads))
    return still


def run(duration, add_every):
    index = os.path.join(td.TMP, "index")
    if not harness.build_index(index):
        print("1..%d" % T.n)
        return 0
    corpus = td.Corpus(td.CORPUS)
    ids = [d["id"] for d in corpus.docs][:500]
    d = td.Daemon("soak", index, "--admin-socket", os.path.join(td.TMP, "soak-admin.sock"))
    checker = d.client()
    admin = d.admin()  # the periodic RELOADs go through the admin socket, as an operator's would
    reload_errors = []
    queries = [q for q in load_queries()
               if not checker.cmd("COUNT -- " + q)[0].startswith("ERR")]
    T.note("%d queries, %d connections, %d s, reload every %d s, add every %d s" %
           (len(queries), CONNS, duration, RELOAD_EVERY, add_every))
    fd0 = fd_count(d.pid)
    stop, lock = threading.Event(), threading.Lock()
    counts, failures = [], []
    threads = [threading.Thread(target=worker, args=(d.port, queries, ids, stop, counts, failures, lock, i))
               for i in range(CONNS)]
    for t in threads:
        t.start()
    rss = []  # (seconds since start, kB)
    added, missing, add_failures = 0, [], []
    pending = []  # (token, ids, reloads count when added)
    t0 = time.monotonic()
    next_reload, next_add, next_sample = RELOAD_EVERY, min(add_every / 2, duration / 3), 0
    batch = 0
    while True:
        now = time.monotonic() - t0
        if now >= duration:
            break
        if now >= next_sample:
            rss.append((now, d.rss_kb()))
            next_sample += 1
        if now >= next_reload:
            r = admin.cmd("RELOAD")
            if not r or not r[0].startswith("OK RELOADED"):
                reload_errors.append(r)
            next_reload += RELOAD_EVERY
        if now >= next_add:
            next_add += add_every
            batch += 1
            # five rare syllables no other batch uses: no bigram in common with
            # the corpus or earlier batches (SEARCH's relaxed fallback would
            # find those through any shared bigram)
            token = "".join(chr(0xAC00 + 9000 + (batch * 5 + i) % 2000) for i in range(5))
            docs = [{"id": "soak-%d-%d" % (batch, i), "title": "soak %d" % batch,
                     "body": "%s 문서 %d 번째 추가 %s" % (token, i, random.choice(queries))} for i in range(3)]
            if td.search_ids(checker, token)[0]:  # found before its add: the check would prove nothing
                add_failures.append("token %s already matches documents" % token)
            path = os.path.join(td.TMP, "add-%d.jsonl" % batch)
            with open(path, "w", encoding="utf-8") as f:
                for doc in docs:
                    f.write(json.dumps(doc, ensure_ascii=False) + "\n")
            r = subprocess.run([td.INDEXER, "add", "-q", "-i", path, "-o", index], stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, timeout=300)
            if r.returncode:
                add_failures.append(r.stdout.decode("utf-8", "replace")[-500:])
            else:
                added += len(docs)
                pending.append((token, {x["id"] for x in docs}, td.stats(checker)["reloads"]))
        pending = check_added(checker, pending, missing)
        time.sleep(0.2)
    stop.set()
    # batches added too late for two reloads: two more, then check them
    for _ in range(2):
        if pending:
            r0 = td.stats(checker)["reloads"]
            d.p.send_signal(signal.SIGHUP)
            td.wait_until(lambda: td.stats(checker)["reloads"] > r0, 30)
    pending = check_added(checker, pending, missing)
    admin.close()
    for t in threads:
        t.join(60)
    st = td.stats(checker)
    gone = td.wait_until(lambda: td.stats(checker)["connections"] == 1, 30)
    fd1 = fd_count(d.pid)
    total = sum(counts)
    T.ok(not failures, "%d requests over %d connections in %d s: none failed" % (total, CONNS, duration),
         "%d failed, e.g. %r" % (len(failures), failures[:5]))
    T.ok(total > CONNS, "the clients made progress (%d requests)" % total)
    T.ok(not add_failures, "kosearch-indexer add worked every time (%d documents)" % added, add_failures[:2])
    T.ok(added > 0 and not missing and not pending, "every added document is found after the next reload",
         (missing[:5], pending))
    T.ok(st["reloads"] >= max(1, duration // RELOAD_EVERY - 1) and st["reload_failures"] == 0 and not reload_errors,
         "RELOAD on the admin socket every %d s: %d done, %d failed" % (RELOAD_EVERY, st["reloads"],
                                                                      st["reload_failures"] + len(reload_errors)),
         reload_errors[:3])
    warm = max(10.0, duration * 0.1)
    after = [kb for s, kb in rss if s >= warm]
    third = max(1, len(after) // 3)
    first, last = after[:third], after[-third:]
    m1, m3 = sum(first) / len(first), sum(last) / len(last)
    T.ok(m3 <= m1 * 1.10 + 8 * 1024,
         "RSS flat after %.0f s of warm-up: mean of the last third %.1f MB vs first third %.1f MB "
         "(allowed: +10 %% + 8 MB)" % (warm, m3 / 1024, m1 / 1024))
    T.ok(gone and abs(fd1 - fd0) <= 4, "file descriptors: %d at start, %d at the end (+-4 allowed)" % (fd0, fd1),
         "connections gone: %s" % gone)
    checker.close()
    T.eq(d.stop(), 0, "the daemon stops cleanly")
    rep = td.sanitizer_report(d.stderr())
    T.ok(not rep, "no sanitizer report", "\n".join(rep[:20]))
    T.note("SOAK duration=%ds conns=%d requests=%d (%.0f/s) failed=%d reloads=%d added=%d rss_first_third=%.1fMB "
           "rss_last_third=%.1fMB rss_max=%.1fMB fds=%d->%d" %
           (duration, CONNS, total, total / duration, len(failures), st["reloads"], added, m1 / 1024, m3 / 1024,
            max(kb for _, kb in rss) / 1024, fd0, fd1))
    print("1..%d" % T.n)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
