#!/usr/bin/env python3
# Hostile and heavy clients against real kosearchd daemons (TAP; python3
# standard library only; the client, daemon and TAP helpers come from
# test_daemon.py): slowloris clients cut by --request-timeout, clients that
# never read (memory stays bounded), thousands of idle connections beside a
# working client, query bombs at and over every documented query limit, and
# the open-file limit check at start-up. Nothing here asserts a time: the
# latencies measured are printed as TAP comments (bench/idle_conns.sh
# records them in bench/RESULTS.md).
#
# Usage: test_hostile.py [SECTION...]  (default: all; e.g. `idle_conns`)
# Environment: as test_daemon.py; KS_IDLE_CONNS (default 10000) and
# KS_IDLE_QUERIES (default 500) size the idle-connections section.
import os
import resource
import select
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import test_daemon as td  # noqa: E402

T = td.T
section = td.section
parse_search = td.parse_search
norm = td.norm
stats = td.stats
wait_until = td.wait_until

IDLE_CONNS = int(os.environ.get("KS_IDLE_CONNS", "10000"))
IDLE_QUERIES = int(os.environ.get("KS_IDLE_QUERIES", "500"))
QUERIES = ["카카오", "네이버", "인공지능", "데비안", "검색", "데이터베이스", "책", "참고 문헌", "\"인공 지능\"",
           "카카오 OR 네이버", "title:뉴스", "검색 -광고"]


def quantile(xs, q):
    s = sorted(xs)
    return s[min(len(s) - 1, int(q * len(s)))]


def timed_queries(c, n, want):
    """Runs n SEARCHes round-robin over QUERIES; checks each reply equals want[q]
    (time taken out); returns (latencies in ms, number of wrong replies)."""
    lat, wrong = [], 0
    for i in range(n):
        q = QUERIES[i % len(QUERIES)]
        t0 = time.perf_counter()
        r = c.cmd("SEARCH limit=10 -- " + q)
        lat.append((time.perf_counter() - t0) * 1000.0)
        if norm(r) != want[q]:
            wrong += 1
    return lat, wrong


def reference(c):
    return {q: norm(c.cmd("SEARCH limit=10 -- " + q)) for q in QUERIES}


def read_until_closed(sock, timeout):
    """Everything the server sends until it closes (or timeout); (bytes, closed?)."""
    data, end = b"", time.monotonic() + timeout
    sock.setblocking(False)
    while time.monotonic() < end:
        r, _, _ = select.select([sock], [], [], max(0.0, end - time.monotonic()))
        if not r:
            break
        try:
            d = sock.recv(65536)
        except BlockingIOError:
            continue
        except ConnectionResetError:
            return data, True
        if not d:
            return data, True
        data += d
    return data, False


# --- slowloris -------------------------------------------------------------------

@section
def t_slowloris():
    timeout = 2
    d = td.Daemon("slow", INDEX, "--request-timeout", str(timeout))
    normal = d.client()
    want = reference(normal)
    n = td.scaled(50, 10)
    payload = "SEARCH 카카오".encode()
    socks = [socket.create_connection(("127.0.0.1", d.port), timeout=10) for _ in range(n)]
    T.ok(wait_until(lambda: stats(normal)["connections"] == n + 1, 10),
         "%d slowloris clients connected beside a normal one" % n)
    first_at = [None] * n
    got = [b""] * n
    closed_at = [None] * n
    lat, wrong, sent = [], 0, 0
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout + 6 and any(c is None for c in closed_at):
        now = time.monotonic()
        if sent < len(payload) and now - t0 >= sent:  # one byte a second, never the LF
            for i, s in enumerate(socks):
                if closed_at[i] is None:
                    try:
                        s.send(payload[sent:sent + 1])
                        if first_at[i] is None:
                            first_at[i] = time.monotonic()
                    except OSError:
                        pass
            sent += 1
        r, _, _ = select.select([s for i, s in enumerate(socks) if closed_at[i] is None], [], [], 0.05)
        for s in r:
            i = socks.index(s)
            try:
                chunk = s.recv(4096)
            except OSError:
                chunk = b""
            if chunk:
                got[i] += chunk
            else:
                closed_at[i] = time.monotonic()
        # the normal client keeps being answered, with the same replies
        l, w = timed_queries(normal, len(QUERIES), want)
        lat += l
        wrong += w
    cut = [closed_at[i] - first_at[i] for i in range(n) if closed_at[i] is not None and first_at[i] is not None]
    T.eq(len(cut), n, "--request-timeout %d: all %d clients sending a byte a second are closed" % (timeout, n))
    T.ok(cut and min(cut) >= timeout - 0.2 and max(cut) <= timeout + 3,
         "... between %d s and %d s + 3 s slack after their first byte (%.2f .. %.2f s)" %
         (timeout, timeout, min(cut) if cut else -1, max(cut) if cut else -1))
    msgs = {g.decode("utf-8", "replace") for g in got}
    T.eq(msgs, {"ERR TIMEOUT request line not complete within %d s; closing\n" % timeout},
         "... each after one line: ERR TIMEOUT")
    T.ok(wrong == 0 and len(lat) >= 20, "the normal client's %d queries meanwhile all answered as before" % len(lat),
         "%d wrong" % wrong)
    T.note("normal client's SEARCH latency during the slowloris: median %.2f ms, p99 %.2f ms over %d queries" %
           (quantile(lat, 0.5), quantile(lat, 0.99), len(lat)))
    for s in socks:
        s.close()
    # a line that arrives slowly but within the timeout is answered, and the
    # clock restarts for every line: three lines each taking 1.2 s
    s = socket.create_connection(("127.0.0.1", d.port), timeout=10)
    replies = b""
    for _ in range(3):
        for ch in (b"PI", b"NG\n"):
            s.send(ch)
            time.sleep(0.6)
    data, closed = read_until_closed(s, 1.0)
    T.ok(data == b"OK PONG\n" * 3 and not closed,
         "requests each completed within the timeout are answered, the connection stays open", data + replies)
    s.close()
    # JSON mode gets the error as JSON with close:true
    s = socket.create_connection(("127.0.0.1", d.port), timeout=10)
    s.sendall(b"FORMAT json\nPING")
    data, closed = read_until_closed(s, timeout + 4)
    T.ok(closed and data.decode().splitlines()[-1] ==
         '{"ok":false,"error":"TIMEOUT","message":"request line not complete within %d s; closing","close":true}'
         % timeout, "JSON mode: the timeout is a JSON error with close:true", data)
    s.close()
    T.ok(wait_until(lambda: stats(normal)["connections"] == 1, 10), "every cut connection is freed")
    normal.close()
    T.ok("request line not complete within" in d.stderr(), "the daemon logs the cut connections")
    T.eq(d.stop(), 0, "the daemon stops cleanly")


# --- clients that never read --------------------------------------------------------

def stuff(sock, data, seconds):
    """Sends as much of data as the server takes within seconds (non-blocking); bytes sent."""
    sock.setblocking(False)
    off, end = 0, time.monotonic() + seconds
    while off < len(data) and time.monotonic() < end:
        _, w, _ = select.select([], [sock], [], 0.1)
        if not w:
            continue
        try:
            off += sock.send(data[off:off + 65536])
        except BlockingIOError:
            pass
        except OSError:
            break
    return off


@section
def t_never_reading():
    # Under ASan freed memory waits in a 256 MB quarantine, which would
    # count as growth: keep it small for this daemon (no effect otherwise).
    asan = os.environ.get("ASAN_OPTIONS")
    os.environ["ASAN_OPTIONS"] = (asan + ":" if asan else "") + "quarantine_size_mb=16"
    try:
        d = td.Daemon("nr", INDEX, "--idle-timeout", "4")
    finally:
        if asan is None:
            del os.environ["ASAN_OPTIONS"]
        else:
            os.environ["ASAN_OPTIONS"] = asan
    first = d.client()
    want = reference(first)
    big = "SEARCH limit=1000 -- 의\n".encode()
    size = sum(len(x.encode()) + 1 for x in first.cmd(big.decode().strip()))
    first.close()
    rss0 = d.rss_kb()
    bound_mb = 64
    k = 4
    # k clients pipelining big searches and a PING flood, none of them reading
    hogs = [socket.create_connection(("127.0.0.1", d.port), timeout=10) for _ in range(k + 1)]
    pushed = [stuff(h, big * 2000, 1.5) for h in hogs[:k]]
    pushed.append(stuff(hogs[k], b"PING\n" * ((64 << 20) // 5), 3.0))
    T.note("one big reply is %d bytes; the clients got %s bytes of requests accepted" % (size, pushed))
    probe = d.client()  # connected now: stuffing took about as long as the idle timeout
    lat, wrong = timed_queries(probe, 50, want)
    rss1 = d.rss_kb()
    T.ok(rss1 - rss0 < bound_mb * 1024,
         "%d clients not reading %.0f MB of replies and one flooding PINGs: RSS grows less than %d MB "
         "(%d -> %d kB)" % (k, k * 2000 * size / 1e6, bound_mb, rss0, rss1))
    T.ok(pushed[k] < 64 << 20, "the PING flooder could not push all 64 MB (the daemon stopped reading it)",
         pushed[k])
    T.ok(wrong == 0, "another client's 50 queries are answered as before (median %.2f ms)" % quantile(lat, 0.5))
    # a client that floods PINGs as fast as it can while reading the replies:
    # the daemon reads no faster than it answers (its input buffer is capped)
    flood = socket.create_connection(("127.0.0.1", d.port), timeout=10)
    replies = [0]

    def drain():
        try:
            while True:
                x = flood.recv(1 << 20)
                if not x:
                    break
                replies[0] += len(x)
        except OSError:
            pass
    th = threading.Thread(target=drain, daemon=True)
    th.start()
    chunk, sent, t0 = b"PING\n" * (1 << 18), 0, time.monotonic()
    while time.monotonic() - t0 < 3:
        flood.sendall(chunk)
        sent += len(chunk)
        probe.cmd("PING")  # keeps the probe from idling out
    rss2 = d.rss_kb()
    T.ok(rss2 - rss0 < bound_mb * 1024, "a client flooding %.0f MB of PINGs while reading %.0f MB of replies: RSS "
         "grows less than %d MB (%d -> %d kB)" % (sent / 1e6, replies[0] / 1e6, bound_mb, rss0, rss2))
    flood.close()
    th.join(10)
    # the hogs are closed by the idle (write) timeout while the probe stays active
    t0 = time.monotonic()
    gone = False
    while time.monotonic() - t0 < 15 and not gone:
        probe.cmd("PING")
        gone = stats(probe)["connections"] == 1
        time.sleep(0.25)
    T.ok(gone, "the non-reading clients are closed at the idle timeout (after %.1f s)" % (time.monotonic() - t0))
    for h in hogs:
        h.close()
    T.eq(timed_queries(probe, len(QUERIES), want)[1], 0, "the daemon still answers correctly afterwards")
    probe.close()
    T.eq(d.stop(), 0, "the daemon stops cleanly")


@section
def t_fairness():
    """A client pipelining costly queries shares its worker: another client on
    the same (only) worker is answered between its commands, not after all
    of them (a per-turn budget that libevent ran again before polling would
    let the pipeline starve everyone else)."""
    d = td.Daemon("fair", INDEX, threads=1)
    hog, other, busy = d.client(), d.client(), d.client()
    # short and costly: libevent reads 4 KB a turn, about 90 of these
    q = "SEARCH limit=10 -- " + " ".join(["의", "이", "다", "는", "에", "을", "가", "고"])
    one = hog.cmd(q)
    n = 200
    # keep the worker busy with one slow request while the pipeline arrives
    # whole, so that the worker reads it all at once
    busy.send("SEARCH limit=1000 -- %s\n" % " ".join(['"%s"' % " ".join(["의"] * 16)] * 2))
    time.sleep(0.02)
    hog.send((q + "\n") * n)
    busy.line()  # its status line: the slow request is done, the pipeline is next
    time.sleep(0.02)
    t0 = time.monotonic()
    seen = stats(other)["queries"] - 2  # the two above
    waited = time.monotonic() - t0
    # KSD_CMDS_PER_EVENT (8) a turn: a few turns' worth, not the whole 4 KB read
    T.ok(seen < 48, "a client pipelining %d costly SEARCHes on the only worker: another's STATS is answered "
         "after %d of them, fewer than 48 (%.3f s)" % (n, seen, waited))
    busy.reply()
    replies = [hog.reply() for _ in range(n)]
    T.ok(all(norm(r) == norm(one) for r in replies), "the pipelining client gets all %d replies, correct" % n)
    for c in (hog, other, busy):
        c.close()
    T.eq(d.stop(), 0, "the daemon stops cleanly")


# --- many idle connections ---------------------------------------------------------

def raise_nofile(need):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < need:
        return "the hard open-file limit is %d, below the %d needed" % (hard, need)
    if soft != resource.RLIM_INFINITY and soft < need:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard if hard != resource.RLIM_INFINITY else need, hard))
    return None


@section
def t_idle_conns():
    n = IDLE_CONNS
    why = raise_nofile(n + 300)
    if why:
        T.skip("%d idle connections" % n, why)
        return
    d = td.Daemon("idle", INDEX, "--max-connections", str(n + 100))
    T.ok("max %d connections" % (n + 100) in d.stderr(), "the daemon starts with --max-connections %d" % (n + 100),
         d.stderr())
    c = d.client()
    want = reference(c)
    timed_queries(c, 50, want)  # warm-up
    base, wrong0 = timed_queries(c, IDLE_QUERIES, want)
    rss0 = d.rss_kb()
    idle = []
    t0 = time.monotonic()
    try:
        for _ in range(n):
            idle.append(socket.create_connection(("127.0.0.1", d.port), timeout=30))
    except OSError as e:
        T.ok(False, "open %d idle connections (%s after %d)" % (n, e, len(idle)))
    T.note("opened %d connections in %.1f s" % (len(idle), time.monotonic() - t0))
    T.ok(wait_until(lambda: stats(c)["connections"] == n + 1, 60),
         "%d idle connections are open at the daemon (STATS connections %d)" % (n, n + 1), stats(c))
    loaded, wrong1 = timed_queries(c, IDLE_QUERIES, want)
    T.ok(wrong0 == 0 and wrong1 == 0,
         "%d queries beside %d idle connections answer exactly as without them" % (IDLE_QUERIES, n))
    # the idle ones are served too
    sample = idle[:: max(1, n // 20)]
    for s in sample:
        s.sendall(b"PING\n")
    T.ok(all(s.recv(64) == b"OK PONG\n" for s in sample), "a sample of the idle connections answers PING")
    m0, p0 = quantile(base, 0.5), quantile(base, 0.99)
    m1, p1 = quantile(loaded, 0.5), quantile(loaded, 0.99)
    T.note("IDLE_CONNS n=%d queries=%d without: median %.3f ms p99 %.3f ms; with: median %.3f ms p99 %.3f ms; "
           "ratio median %.2f p99 %.2f" % (n, IDLE_QUERIES, m0, p0, m1, p1, m1 / m0, p1 / p0))
    rss = d.rss_kb()
    T.note("daemon RSS with %d idle connections: %d kB (%d kB before: %.2f kB each)" %
           (n, rss, rss0, (rss - rss0) / float(n)))
    for s in idle:
        s.close()
    T.ok(wait_until(lambda: stats(c)["connections"] == 1, 60), "all idle connections are freed when they close")
    c.close()
    T.eq(d.stop(), 0, "the daemon stops cleanly")


@section
def t_fd_limit():
    def run(args, nofile, hard=None):
        def lower():
            resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, hard or nofile))
        p = subprocess.Popen([td.KSD, "-i", INDEX, "-l", "127.0.0.1:%d" % td.free_port(), "-t", "1"] + args,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, preexec_fn=lower)
        try:
            _, err = p.communicate(timeout=5)
            return p.returncode, err.decode("utf-8", "replace")
        except subprocess.TimeoutExpired:
            p.terminate()
            _, err = p.communicate()
            return "running", err.decode("utf-8", "replace")
    rc, err = run(["--max-connections", "5000"], 256)
    T.ok(rc == 1 and "--max-connections 5000" in err and "256" in err and "ulimit -n" in err,
         "an explicit --max-connections above the open-file limit: exit 1 naming both", "rc=%s %s" % (rc, err))
    rc, err = run([], 256)
    T.ok(rc == "running" and "max connections lowered from the default 1024 to 176" in err and
         "max 176 connections" in err,
         "the default --max-connections is lowered to fit a low open-file limit (logged)", "rc=%s %s" % (rc, err))
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    if hard == resource.RLIM_INFINITY or hard >= 5100:
        rc, err = run(["--max-connections", "5000"], 256, hard)
        T.ok(rc == "running" and "open-file limit raised from 256 to" in err,
             "a soft open-file limit below --max-connections is raised to the hard limit (logged)",
             "rc=%s %s" % (rc, err))
    else:
        T.skip("the soft open-file limit is raised to the hard one", "hard limit %d is below 5100" % hard)


# --- query bombs -------------------------------------------------------------------

@section
def t_query_bombs():
    d = td.Daemon("bomb", INDEX, "--max-line", "8192")
    c = d.client()
    want = reference(c)

    def err(q, text, cmd="SEARCH"):
        t0 = time.perf_counter()
        r = c.cmd("%s -- %s" % (cmd, q))
        ms = (time.perf_counter() - t0) * 1000
        T.ok(len(r) == 1 and r[0].startswith("ERR BAD_REQUEST ") and text in r[0],
             "%s bomb (%d bytes) -> ERR BAD_REQUEST ...%s... (%.1f ms)" % (cmd, len(q.encode()), text, ms), r[:2])

    def ok(q, desc, limit=1000):
        t0 = time.perf_counter()
        r = c.cmd("SEARCH limit=%d -- %s" % (limit, q))
        ms = (time.perf_counter() - t0) * 1000
        try:
            total, _, hits = parse_search(r)
        except ValueError as e:
            T.ok(False, "%s: a SEARCH reply" % desc, "%s %r" % (e, r[:2]))
            return None
        T.ok(True, "%s: answered (%d hits of %d, %.1f ms)" % (desc, len(hits), total, ms))
        return total, ms

    ga = "가" * 65
    # the query string: 4096 bytes at most (the line itself may be 8192)
    err("가" * 1400, "query is 4200 bytes; the limit is 4096")
    err(" ".join(["책"] * 1365) + "  ", "the limit is 4096")
    # words and phrases: 32 at most; OR groups: 8 alternatives; phrases: 16 words
    err(" ".join(["책"] * 33), "more than 32 words and phrases")
    err(" OR ".join(["책"] * 9), "more than 8 alternatives")
    err(" OR ".join(["책"] * 500), "more than 8 alternatives")
    err("\"%s\"" % " ".join(["책"] * 17), "phrase has 17 words; the limit is 16")
    # terms after analysis: 64 in one word or phrase, 256 in the query
    err("가" * 66, "a word or phrase is too long: more than 64 terms")
    err(" ".join([ga] * 5), "more than 256 terms")
    err("\"%s\"" % " ".join(["가나다라마"] * 16), "more than 64 terms")
    # nesting: the grammar has none; parentheses are punctuation
    err("(" * 4000, "no searchable words")
    r1, r2 = c.cmd("SEARCH -- " + "(" * 100 + "카카오" + ")" * 100), c.cmd("SEARCH -- 카카오")
    T.eq(norm(r1), norm(r2), "100 parentheses around a word: the same reply as the word")
    # at the limits: answered, cost bounded
    worst = []
    for q, desc in [
            (" ".join(["의", "이", "다", "는", "에", "을", "가", "고"] * 4), "32 one-syllable words matching nearly all"),
            (" ".join(" OR ".join(["의", "이", "다", "는", "에", "을", "가", "고"]) for _ in range(4)),
             "4 OR groups of 8 one-syllable words"),
            (" ".join(["\"%s\"" % " ".join(["의"] * 16)] * 2), "two phrases of 16 one-syllable words"),
            (" ".join([ga] * 4), "four 65-syllable words (256 terms)"),
            ("가나 " + " ".join(["가나다라마바사아"] * 4), "words filling the term budget (the phrase boost dropped)"),
            (" ".join(["의"] * 31 + ["-이"]), "31 one-syllable words and an exclusion"),
    ]:
        r = ok(q, desc)
        if r:
            worst.append((r[1], desc))
    r = c.cmd("SEARCH limit=1000 offset=9000 -- 의")
    T.ok(r[0].startswith("OK ") and r[-1] == "END", "the largest window (offset=9000 limit=1000) is answered", r[:1])
    T.ok(c.cmd("SEARCH offset=9001 limit=1000 -- 의")[0].startswith("ERR LIMIT_EXCEEDED"),
         "a window over --max-window is LIMIT_EXCEEDED")
    T.ok(c.cmd("SEARCH offset=99999999999999999999999 -- 의")[0].startswith("ERR "),
         "a 23-digit offset is an error")
    cnt = c.cmd("COUNT -- " + " ".join(["의"] * 32))
    T.ok(len(cnt) == 1 and cnt[0].startswith("OK "), "COUNT with 32 one-syllable words answers", cnt)
    # a request line of exactly --max-line bytes is a request; one more byte closes
    line = "SEARCH -- " + "책 " * ((8192 - 10) // 4)
    line += "x" * (8192 - len(line.encode()))
    r = c.cmd(line)
    T.ok(len(line.encode()) == 8192 and r[0].startswith("ERR BAD_REQUEST query is"),
         "an 8192-byte request line (the maximum) gets the query-size error", r[:1])
    T.eq(c.cmd("PING"), ["OK PONG"], "after every bomb the connection still works")
    T.eq(timed_queries(c, len(QUERIES), want)[1], 0, "... and answers as before")
    worst.sort(reverse=True)
    T.note("query bombs at the limits, slowest first: " + "; ".join("%s %.1f ms" % (dd, ms) for ms, dd in worst))
    s = stats(c)
    T.ok(s["errors"] > 0, "the errors were counted (STATS errors %d)" % s["errors"])
    T.ok("query failed" not in d.stderr(), "no query failed on the server side (ERR INTERNAL)", d.stderr()[-2000:])
    c.close()
    T.eq(d.stop(), 0, "the daemon stops cleanly")


SECTIONS = {"slowloris": t_slowloris, "never_reading": t_never_reading, "fairness": t_fairness,
            "idle_conns": t_idle_conns, "fd_limit": t_fd_limit, "query_bombs": t_query_bombs}


def main(argv):
    global INDEX
    why = harness.skip_reason()
    if why:
        print("1..0 # SKIP " + why)
        return 0
    names = argv or list(SECTIONS)
    bad = [n for n in names if n not in SECTIONS]
    if bad:
        print("test_hostile.py: unknown section %s; sections: %s" % (bad, " ".join(SECTIONS)), file=sys.stderr)
        return 2
    td.TMP = tempfile.mkdtemp(prefix="ks-hostile-test.")
    try:
        INDEX = os.path.join(td.TMP, "index")
        if not harness.build_index(INDEX):
            return 0
        for n in names:
            SECTIONS[n]()
        for dm in td.DAEMONS:
            rep = td.sanitizer_report(dm.stderr())
            T.ok(not rep, "daemon %s: no sanitizer report" % dm.name, "\n".join(rep[:20]))
    except Exception as e:  # noqa: BLE001
        T.ok(False, "test driver: %s: %s" % (type(e).__name__, e), traceback.format_exc())
    finally:
        td.kill_leftovers()
        shutil.rmtree(td.TMP, ignore_errors=True)
    print("1..%d" % T.n)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
