#!/usr/bin/env python3
# Fault injection under a running kosearchd (TAP; python3 standard library;
# the daemon helpers of test_daemon.py).
#
# 1. A damaged NEW generation published under a running daemon (its segment
#    truncated, its header flipped; a Xapian file truncated): RELOAD answers
#    ERR INDEX_UNAVAILABLE, SIGHUP logs the failure, both count in STATS
#    reload_failures, every worker keeps answering exactly as before, and a
#    daemon started on it refuses with a message and a non-zero exit. Damage
#    in what the segment checks a chunk at a time on first use (its
#    dictionary, its bulk) is accepted by RELOAD, and the queries touching
#    it are answered by Xapian with the same results.
# 2. The LIVE files damaged in place under a daemon serving them: the
#    segment truncated (reads past the end raise SIGBUS), its dictionary
#    zeroed, its bulk flipped before first use; a Xapian file truncated or
#    zeroed. No crash; every reply is the right one (the segment cases: the
#    daemon ranks with Xapian, same results) or, for damage inside Xapian's
#    own files, an ERR; RELOAD refuses what its open checks find damaged.
# 3. Stored documents damaged at seeded places: never a wrong reply.
# 4. The document store (GEN/docstore) damaged, stale or gone, before the
#    daemon starts or under it: every reply is still the right one (the
#    stored fields are read from Xapian instead) and the log says why; with
#    or without a store, the replies to every dev query are the same bytes;
#    INFO stored_fields says whether the store or Xapian gives the fields.
# A daemon's stderr is checked for sanitizer reports.
import os
import random
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time
import traceback

sys.dont_write_bytecode = True  # no __pycache__ in the (maybe read-only) source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import test_daemon as td  # noqa: E402  (the daemon, client and TAP helpers)
import harness  # noqa: E402

T = td.T
QUERIES = ["카카오", "인공지능", "데비안", "검색 엔진", "의", "데이터베이스", "\"검색 엔진\"", "카카오 OR 네이버"]


def answers(c, queries=QUERIES):
    """Every query's SEARCH (top 50) and COUNT reply, time taken out."""
    out = []
    for q in queries:
        out.append(td.norm(c.cmd("SEARCH limit=50 -- " + q)))
        out.append(td.norm(c.cmd("COUNT -- " + q)))
    return out


def each_worker(d, ask):
    """ask(client) over three connections (the daemon has 2 workers: every one is asked)."""
    cs = [d.client() for _ in range(3)]
    try:
        return [ask(c) for c in cs]
    finally:
        for c in cs:
            c.close()


def answers_all_workers(d):
    return each_worker(d, answers)


def right_or_err(got, want):
    """(right, errors, wrong) counts of replies against the expected ones."""
    right = err = wrong = 0
    for g, w in zip(got, want):
        if g == w:
            right += 1
        elif g and g[0].startswith("ERR "):
            err += 1
        else:
            wrong += 1
    return right, err, wrong


# --- damage -------------------------------------------------------------------

def seg_sections(path):
    """{name: (offset, size)} of a segment's sections (core/ks_segment.h)."""
    with open(path, "rb") as f:
        h = f.read(256)
    names = ["dict", "strings", "blocks", "postings", "positions", "doclens", "chunks"]
    return {n: struct.unpack_from("<QQ", h, 80 + 24 * i) for i, n in enumerate(names)}


def truncate(path, size):
    with open(path, "r+b") as f:
        f.truncate(size)


def zero(path, off, n):
    with open(path, "r+b") as f:
        f.seek(off)
        f.write(b"\0" * n)


def flip(path, off, n, step=1):
    """Flips a bit in every step-th byte of [off, off + n)."""
    with open(path, "r+b") as f:
        f.seek(off)
        b = bytearray(f.read(n))
        for i in range(0, len(b), step):
            b[i] ^= 0x10
        f.seek(off)
        f.write(b)


def docstore_record_off(path, doc_id):
    """Offset of the record of the document with external id doc_id in a
    document store (core/ks_docstore.h: header, records, offsets table)."""
    with open(path, "rb") as f:
        data = f.read()
    lastdocid, index_off = struct.unpack_from("<QQ", data, 32)
    for d in range(lastdocid + 1):
        at, end = struct.unpack_from("<QQ", data, index_off + 8 * d)
        if end - at >= 20:
            id_len = struct.unpack_from("<I", data, at + 8)[0]
            if data[at + 20:at + 20 + id_len] == doc_id.encode("utf-8"):
                return at
    raise KeyError("no record for %r in %s" % (doc_id, path))


class Pristine:
    """A file's bytes, to put back in place (same inode) after damaging it."""

    def __init__(self, path):
        self.path = path
        with open(path, "rb") as f:
            self.data = f.read()

    def restore(self):
        with open(self.path, "r+b") as f:
            f.write(self.data)
            f.truncate(len(self.data))


def segment_damages(seg):
    s = seg_sections(seg)
    size = os.path.getsize(seg)
    return [
        ("segment truncated to half its size", lambda: truncate(seg, size // 2)),
        ("segment header with flipped bits", lambda: flip(seg, 16, 16)),
    ]


def dict_zero(seg):
    """Zeroes the dictionary (checked a chunk at a time on first lookup): every lookup meets it."""
    s = seg_sections(seg)
    zero(seg, s["dict"][0], s["dict"][1])


def bulk_flip(seg):
    """Flips a bit every 4 KiB across the postings and positions (the lazily checked bulk)."""
    s = seg_sections(seg)
    off = s["postings"][0]
    flip(seg, off, s["positions"][0] + s["positions"][1] - off, 4096)


def start_fails(index):
    """(exit status or None if it kept running, stderr) of a daemon started on index."""
    p = subprocess.Popen([td.KSD, "-i", index, "-l", "127.0.0.1:%d" % td.free_port()], stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE)
    try:
        _, err = p.communicate(timeout=30)
        return p.returncode, err.decode("utf-8", "replace")
    except subprocess.TimeoutExpired:
        p.kill()
        _, err = p.communicate()
        return None, err.decode("utf-8", "replace")


def log_count(d, text):
    return d.stderr().count(text)


# --- 1. a damaged new generation ------------------------------------------------

@td.section
def t_damaged_new_generation():
    idx = os.path.join(td.TMP, "idx-new")
    shutil.copytree(td.INDEX, idx, symlinks=True)
    d = td.Daemon("new", idx, "--admin-socket", os.path.join(td.TMP, "new.sock"))
    want_old = answers(d.client())
    T.ok(want_old[0][0].startswith("OK ") and all(a == want_old for a in answers_all_workers(d)),
         "the daemon answers the same on every worker")
    # the new generation: the first 1,000 documents only, so its answers differ
    p = subprocess.run([td.INDEXER, "build", "-q", "-i", PREV, "-o", idx], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, timeout=600)
    T.eq(p.returncode, 0, "a new generation was built under the running daemon")
    ref = td.Daemon("new-ref", shutil.copytree(idx, idx + "-ref", symlinks=True))
    want_new = answers(ref.client())
    T.ok(want_new != want_old, "the new generation answers differently (a reload would show)")
    gen = os.path.realpath(os.path.join(idx, "current"))
    seg = os.path.join(gen, "segment")
    postlist = os.path.join(gen, "shard-0", "postlist.glass")
    damages = segment_damages(seg) + [
        ("Xapian postlist.glass truncated to half", lambda: truncate(postlist, os.path.getsize(postlist) // 2)),
    ]
    c = d.admin()  # RELOAD needs the admin socket
    for what, damage in damages:
        files = [Pristine(seg), Pristine(postlist)]
        damage()
        before = td.stats(c).get("reload_failures", 0)
        r = c.cmd("RELOAD")
        T.ok(r[0].startswith("ERR INDEX_UNAVAILABLE"), "new generation with %s: RELOAD says ERR INDEX_UNAVAILABLE"
             % what, r)
        hup = log_count(d, "reload failed")
        d.p.send_signal(signal.SIGHUP)
        T.ok(td.wait_until(lambda: log_count(d, "reload failed") > hup, 30),
             "%s: SIGHUP logs that the reload failed" % what, d.stderr()[-600:])
        T.eq(td.stats(c).get("reload_failures", 0), before + 2, "%s: STATS reload_failures counts both" % what)
        T.ok(d.p.poll() is None and all(a == want_old for a in answers_all_workers(d)),
             "%s: every worker still answers exactly as before" % what)
        rc, err = start_fails(idx)
        T.ok(rc not in (None, 0) and "cannot open index" in err and (gen in err or "segment" in err),
             "%s: a daemon started on it exits non-zero saying why" % what, "rc=%s %s" % (rc, err[-400:]))
        for f in files:
            f.restore()
    # the dictionary and the bulk are checked a chunk at a time on first
    # use: RELOAD takes them, and the queries that touch a damaged chunk are
    # ranked by Xapian
    for what, damage, why in [("bit flips across the segment's bulk", bulk_flip, "checksum mismatch"),
                              ("the segment's dictionary zeroed", dict_zero, "checksum mismatch")]:
        files = Pristine(seg)
        damage(seg)
        xapian = log_count(d, "ranking with Xapian")
        r = c.cmd("RELOAD")
        T.ok(r[0].startswith("OK RELOADED"), "new generation with %s: RELOAD takes it (checked on first use)" % what,
             r)
        T.ok(all(a == want_new for a in answers_all_workers(d)),
             "%s: every worker answers exactly as the undamaged new generation does" % what)
        tail = d.stderr().split("ranking with Xapian")
        T.ok(log_count(d, "ranking with Xapian") > xapian and why in "ranking with Xapian".join(tail[xapian + 1:]),
             "%s: the log says the segment is damaged, why, and that Xapian ranks" % what, d.stderr()[-600:])
        files.restore()
        r = c.cmd("RELOAD")
        T.ok(r[0].startswith("OK RELOADED") and all(a == want_new for a in answers_all_workers(d)),
             "%s, repaired: RELOAD works and the answers stay the same" % what, r)
    c.close()
    check_sanitizers(d, ref)
    for x in (d, ref):
        x.stop()


# --- 2. live files damaged in place -------------------------------------------------

@td.section
def t_live_damage():
    ref = td.Daemon("live-ref", td.INDEX)
    want = answers(ref.client())
    gen_rel = os.readlink(os.path.join(td.INDEX, "current"))
    cases = [
        ("segment truncated to half", "segment", lambda p: truncate(p, os.path.getsize(p) // 2), True),
        ("segment truncated to nothing", "segment", lambda p: truncate(p, 0), True),
        ("segment's dictionary zeroed after first use", "segment", dict_zero, False),
        ("segment's dictionary zeroed before first use", "segment", dict_zero, False),
        ("segment's bulk flipped before first use", "segment", bulk_flip, False),
        ("Xapian docdata.glass truncated to half", "shard-0/docdata.glass",
         lambda p: truncate(p, os.path.getsize(p) // 2), True),
        ("Xapian docdata.glass zeroed (64 KiB in the middle)", "shard-0/docdata.glass",
         lambda p: zero(p, os.path.getsize(p) // 2, 65536), None),
        ("Xapian postlist.glass zeroed (64 KiB in the middle)", "shard-0/postlist.glass",
         lambda p: zero(p, os.path.getsize(p) // 2, 65536), None),
    ]
    for n, (what, rel, damage, reload_refused) in enumerate(cases):
        idx = os.path.join(td.TMP, "idx-live-%d" % n)
        shutil.copytree(td.INDEX, idx, symlinks=True)
        d = td.Daemon("live-%d" % n, idx, "--admin-socket", os.path.join(td.TMP, "live-%d.sock" % n))
        c = d.admin()  # RELOAD needs the admin socket
        if rel != "segment" or reload_refused or "after first use" in what:  # (else: damage chunks nobody has read yet)
            T.eq(answers(c), want, "%s: answers before the damage" % what)
        damage(os.path.join(idx, gen_rel, rel))
        got = [answers(x) for x in [c] + [d.client() for _ in range(2)]]
        counts = [right_or_err(g, want) for g in got]
        right, err, wrong = (sum(x[i] for x in counts) for i in range(3))
        if rel == "segment":
            T.ok(d.p.poll() is None and (right, err, wrong) == (len(want) * 3, 0, 0),
                 "%s under the daemon: no crash, every reply still right (%d right, %d ERR, %d wrong)"
                 % (what, right, err, wrong))
            # (after first use: the lookups read the private copies made before)
            if what.startswith("segment truncated") or "before first use" in what:
                T.ok("ranking with Xapian" in d.stderr(), "%s: the log says Xapian ranks now" % what,
                     d.stderr()[-600:])
        else:
            T.ok(d.p.poll() is None and wrong == 0,
                 "%s under the daemon: no crash, every reply right or an ERR (%d right, %d ERR, %d wrong)"
                 % (what, right, err, wrong))
        r = c.cmd("RELOAD")
        if reload_refused:
            T.ok(r[0].startswith("ERR INDEX_UNAVAILABLE"), "%s: RELOAD refuses it" % what, r)
        else:
            T.ok(r[0].startswith("OK RELOADED") or r[0].startswith("ERR INDEX_UNAVAILABLE"),
                 "%s: RELOAD answers (OK or ERR INDEX_UNAVAILABLE)" % what, r)
        after = right_or_err(answers(d.client()), want)
        T.ok(d.p.poll() is None and after[2] == 0,
             "%s: after the RELOAD, still no wrong reply (%d right, %d ERR)" % (what, after[0], after[1]))
        c.close()
        check_sanitizers(d)
        d.stop()
    check_sanitizers(ref)
    ref.stop()


@td.section
def t_stored_data_damage():
    """Seeded flips and zeroed ranges in the stored documents (one shard, so the
    same bytes every run): a record that no longer parses must be an ERR, not
    a hit with an empty id and title (it was, before the searcher checked)."""
    idx1 = os.path.join(td.TMP, "index-j1")
    p = subprocess.run([td.INDEXER, "build", "-q", "-j", "1", "-i", td.CORPUS, "-o", idx1], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, timeout=600)
    T.eq(p.returncode, 0, "a one-shard index built")
    queries = QUERIES + ["검색", "시스템", "파일", "설정"]
    ref = td.Daemon("stored-ref", idx1)
    want = answers(ref.client(), queries)
    total = [0, 0, 0]
    alive = True
    for trial in range(4):
        for how in ("zero", "flip"):
            idx = os.path.join(td.TMP, "idx-stored-%s-%d" % (how, trial))
            shutil.copytree(idx1, idx, symlinks=True)
            # without the document store, whose copy of the fields would
            # answer instead (section 4 damages that one)
            os.unlink(os.path.join(idx, "current", "docstore"))
            path = os.path.join(idx, "current", "shard-0", "docdata.glass")
            off = random.Random(trial).randrange(8192, os.path.getsize(path) - 65536)
            if how == "zero":
                zero(path, off, 65536)
            else:
                flip(path, off, 65536, 61)
            d = td.Daemon("stored-%s-%d" % (how, trial), idx)
            for i, n in enumerate(right_or_err(answers(d.client(), queries), want)):
                total[i] += n
            alive = alive and d.p.poll() is None
            check_sanitizers(d)
            d.stop()
    T.ok(alive and total[2] == 0, "stored documents damaged at 8 seeded places: no crash, no wrong reply "
         "(%d right, %d ERR, %d wrong)" % tuple(total))
    T.ok(total[1] > 0, "and the damage was noticed (some replies are ERR)")
    ref.stop()


def dev_queries():
    import json
    with open(td.DEV_QUERIES, encoding="utf-8") as f:
        return [json.loads(line)["query"] for line in f if line.strip()]


@td.section
def t_docstore_damage():
    """The document store damaged in the ways its reader must catch: the
    daemon answers right, from Xapian's copy of the fields, and logs why."""
    ref = td.Daemon("ds-ref", td.INDEX)
    gen_rel = os.readlink(os.path.join(td.INDEX, "current"))
    # with and without the store: the same bytes (id, title, snippet, ranges)
    bare = os.path.join(td.TMP, "idx-ds-none")
    shutil.copytree(td.INDEX, bare, symlinks=True)
    os.unlink(os.path.join(bare, gen_rel, "docstore"))
    d = td.Daemon("ds-none", bare)
    T.eq(stored_fields(ref), {"docstore"}, "INFO stored_fields: every worker reads hits from the document store")
    T.eq(stored_fields(d), {"xapian"}, "INFO stored_fields without a store: xapian")
    qs = dev_queries()
    c1, c2 = ref.client(), d.client()
    for c in (c1, c2):
        T.ok(c.cmd("FORMAT json")[0].startswith('{"ok":true'), "JSON replies")
    same = 0
    for q in qs:
        a = td.norm(c1.cmd("SEARCH limit=20 -- " + q))
        b = td.norm(c2.cmd("SEARCH limit=20 -- " + q))
        same += a == b and a[0].startswith("{")
    T.eq(same, len(qs), "every dev query's top 20 (JSON: ids, titles, snippets, highlight ranges) is the same "
         "with the document store and without it (from Xapian)")
    T.ok("document store" not in d.stderr(), "a missing store (an older index) is not logged as damage",
         d.stderr()[-400:])
    c1.close()
    c2.close()
    d.stop()
    want = answers(ref.client())
    read_id = next(line.split("\t")[2] for line in want[0] if line.startswith("HIT "))
    other = os.path.join(td.TMP, "idx-ds-other")
    p = subprocess.run([td.INDEXER, "build", "-q", "-i", PREV, "-o", other], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, timeout=600)
    T.eq(p.returncode, 0, "another build (the first 1,000 documents) for its store")
    stale = os.path.join(os.path.realpath(os.path.join(other, "current")), "docstore")

    def replace_by_stale(path):
        shutil.copyfile(stale, path + ".new")
        os.replace(path + ".new", path)  # as the indexer publishes: a new file, renamed

    cases = [  # (what, damage, when: "start" and/or "live", logged)
        ("records flipped every 4 KiB", lambda p: flip(p, 64, os.path.getsize(p) // 2, 4096), "both", True),
        # from a record every round of answers() reads (a range elsewhere
        # may hold only documents no query returns: nothing to notice)
        ("64 KiB zeroed", lambda p: zero(p, docstore_record_off(p, read_id), 65536), "both", True),
        ("truncated to half", lambda p: truncate(p, os.path.getsize(p) // 2), "both", True),
        ("header flipped", lambda p: flip(p, 8, 8), "start", True),
        ("another build's in its place", replace_by_stale, "start", True),
        ("removed", os.unlink, "start", False),
    ]
    for live in (False, True):
        for n, (what, damage, when, logged) in enumerate(cases):
            if when != "both" and live:
                continue
            tag = "%s (%s)" % (what, "under the running daemon" if live else "before the start")
            idx = os.path.join(td.TMP, "idx-ds-%d-%d" % (live, n))
            shutil.copytree(td.INDEX, idx, symlinks=True)
            path = os.path.join(idx, gen_rel, "docstore")
            if not live:
                damage(path)
            d = td.Daemon("ds-%d-%d" % (live, n), idx)
            if not live and what in ("header flipped", "another build's in its place", "removed"):
                # refused at open by every worker, before any query
                T.eq(stored_fields(d), {"xapian"}, "document store, %s: INFO stored_fields is xapian" % tag)
            if live:
                T.eq(answers(d.client()), want, "%s: answers before the damage" % tag)
                damage(path)
            got = [answers(d.client()) for _ in range(3)]
            T.ok(d.p.poll() is None and all(g == want for g in got), "document store, %s: every reply right" % tag)
            T.ok(("document store not used" in d.stderr()) == logged,
                 "document store, %s: the log %s" % (tag, "says why" if logged else "is quiet"), d.stderr()[-600:])
            check_sanitizers(d)
            d.stop()
    check_sanitizers(ref)
    ref.stop()


def stored_fields(d):
    """The INFO stored_fields values the daemon's workers give."""
    return set(each_worker(d, lambda c: td.kv_lines(c.cmd("INFO"), "INFO").get("stored_fields")))


def check_sanitizers(*daemons):
    for d in daemons:
        rep = td.sanitizer_report(d.stderr())
        T.ok(not rep, "daemon %s: no sanitizer report" % d.name, "\n".join(rep[:10]))


def main():
    global PREV
    why = harness.skip_reason()
    if why:
        print("1..0 # SKIP " + why)
        return 0
    t0 = time.monotonic()
    td.TMP = tempfile.mkdtemp(prefix="ks-faults-test.")
    try:
        td.INDEX = os.path.join(td.TMP, "index")
        p = subprocess.run([td.INDEXER, "build", "-q", "-i", td.CORPUS, "-o", td.INDEX], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=600)
        if not T.eq(p.returncode, 0, "index of the shared corpus built"):
            T.note(p.stdout.decode("utf-8", "replace")[-2000:])
            return 0
        PREV = os.path.join(td.TMP, "first-1000.jsonl")
        with td.gzip.open(td.CORPUS, "rt", encoding="utf-8") as f, open(PREV, "w", encoding="utf-8") as out:
            for i, line in enumerate(f):
                if i < 1000:
                    out.write(line)
        t_damaged_new_generation()
        t_live_damage()
        t_stored_data_damage()
        t_docstore_damage()
    except Exception as e:  # noqa: BLE001
        T.ok(False, "test driver: %s: %s" % (type(e).__name__, e), traceback.format_exc())
    finally:
        for d in td.DAEMONS:
            if d.p.poll() is None:
                d.p.kill()
                d.p.wait()
        shutil.rmtree(td.TMP, ignore_errors=True)
    T.note("total %.1f s" % (time.monotonic() - t0))
    print("1..%d" % T.n)
    return 0


if __name__ == "__main__":
    sys.exit(main())
