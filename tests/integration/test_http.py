#!/usr/bin/env python3
# Integration tests of kosearchd's HTTP API (proto/HTTP.md) over real sockets
# (TAP; python3 standard library only). Starts its own daemons with --http on
# free loopback ports over an index of the shared corpus and checks every
# endpoint and error status. The line protocol on the same daemon is the
# oracle for results (ids, order, totals, snippets, GET, INFO, STATS); the
# corpus itself for highlights and documents.
#
# Environment: KS_BUILDDIR, KS_SRCDIR, KS_SHARED (from the harness).
import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import test_daemon as td  # noqa: E402  (its Tap, line-protocol Client, corpus oracle)
import harness  # noqa: E402
from test_daemon import T, nf, free_port, sanitizer_report  # noqa: E402

WORDS = ["카카오", "네이버", "인공지능", "데비안", "검색", "데이터베이스", "책"]
LINE_MARKS = ("\u27e6", "\u27e7")  # markers for the line-protocol oracle; absent from the corpus (checked)
ORIGIN = "https://ok.example"


class Daemon:
    """kosearchd with a line port and an HTTP port."""

    def __init__(self, name, index, *args, threads=2):
        self.errpath = os.path.join(TMP, name + ".err")
        for _ in range(5):
            self.port, self.hport = free_port(), free_port()
            with open(self.errpath, "wb") as errf:
                self.p = subprocess.Popen([td.KSD, "-i", index, "-l", "127.0.0.1:%d" % self.port,
                                           "--http", "127.0.0.1:%d" % self.hport, "-t", str(threads)] + list(args),
                                          stdout=subprocess.DEVNULL, stderr=errf)
            DAEMONS.append(self)
            if self._ready():
                return
            if "in use" not in self.stderr():
                break
        raise RuntimeError("daemon %s did not start:\n%s" % (name, self.stderr()))

    def _ready(self):
        def up():
            if self.p.poll() is not None:
                return "exited"
            try:
                return self.get("/healthz")[0] == 200
            except OSError:
                return False
        return td.wait_until(up, 60) is True

    def stderr(self):
        with open(self.errpath, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def line(self):
        c = td.Client(self.port)
        c.cmd("FORMAT json")
        return c

    def conn(self):
        return http.client.HTTPConnection("127.0.0.1", self.hport, timeout=td.IO_TIMEOUT)

    def get(self, path, method="GET", headers=None, conn=None):
        """(status, headers {lower-case name: value}, body bytes) on a new or given connection."""
        c = conn or self.conn()
        try:
            c.request(method, path, headers=headers or {})
            r = c.getresponse()
            body = r.read()
            return r.status, {k.lower(): v for k, v in r.getheaders()}, body
        finally:
            if conn is None:
                c.close()

    def json(self, path):
        st, h, body = self.get(path)
        return st, h, json.loads(body.decode("utf-8"))


def raw(port, data, timeout=10):
    """Sends bytes on a fresh socket, returns everything the server sends until it closes."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        s.sendall(data)
        out = b""
        while True:
            d = s.recv(65536)
            if not d:
                return out
            out += d
    finally:
        s.close()


def q(s):
    return urllib.parse.quote(s, safe="")


def html_escape(s):
    return (s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace('"', "&quot;").replace("'", "&#39;"))


def marked(snippet, ranges):
    out, at = [], 0
    for a, b in ranges:
        out += [html_escape(snippet[at:a]), "<mark>", html_escape(snippet[a:b]), "</mark>"]
        at = b
    return "".join(out + [html_escape(snippet[at:])])


def line_search(c, query, limit, offset, marks=("", "")):
    r = json.loads(c.cmd("SEARCH limit=%d offset=%d hl=%s,%s -- %s" % (limit, offset, marks[0], marks[1], query))[0])
    if not r.get("ok"):
        raise ValueError("line SEARCH failed: %r" % r)
    return r


def ranges_from_marks(s, marks):
    """(plain text, [[start, end]...] in code points) of a snippet with marks."""
    out, rg, i = [], [], 0
    while i < len(s):
        if s.startswith(marks[0], i):
            start = len("".join(out))
            i += len(marks[0])
            j = s.index(marks[1], i)
            out.append(s[i:j])
            rg.append([start, start + j - i])
            i = j + len(marks[1])
        else:
            out.append(s[i])
            i += 1
    return "".join(out), rg


section = td.section  # one failed check per exception, with timing


# --- the tests ------------------------------------------------------------------


@section
def t_search_parity():
    c = H.line()
    queries = WORDS + DEV[:12]
    bad = []
    n = 0
    for query in queries:
        for limit, offset in ((10, 0), (7, 5)):
            st, _, h = H.json("/search?q=%s&limit=%d&offset=%d" % (q(query), limit, offset))
            if st == 400:  # e.g. nothing to search for: the line protocol must refuse it too
                lr = json.loads(c.cmd("SEARCH -- %s" % query)[0])
                if lr.get("ok") is not False:
                    bad.append((query, "HTTP 400 but SEARCH answers", h))
                continue
            want = line_search(c, query, limit, offset)
            got = (h["total"], h["estimate"], [(x["rank"], x["id"], x["score"], x["title"], x["snippet"])
                                                for x in h["hits"]])
            exp = (want["total"], want["estimate"], [(x["rank"], x["id"], x["score"], x["title"], x["snippet"])
                                                      for x in want["hits"]])
            n += 1
            if st != 200 or got != exp or h["query"] != query or (h["offset"], h["limit"]) != (offset, limit):
                bad.append((query, limit, offset, st, got[:2], exp[:2]))
            if not isinstance(h.get("parsed"), str) or not h["parsed"]:
                bad.append((query, "no parsed plan", h.get("parsed")))
    T.ok(n >= 20 and not bad, "GET /search equals the line protocol's SEARCH (%d pages: ids, order, scores, "
         "totals, titles, plain snippets)" % n, bad[:5])
    c.close()


@section
def t_highlights():
    c = H.line()
    bad, checked = [], 0
    for query in WORDS:
        st, _, h = H.json("/search?q=%s&limit=20" % q(query))
        want = line_search(c, query, 20, 0, LINE_MARKS)
        word = nf(query)
        grams = {word[i:i + 2] for i in range(len(word) - 1)} or {word}
        for hit, lh in zip(h["hits"], want["hits"]):
            snip, rg = hit["snippet"], hit["highlights"]
            if any(m in snip for m in LINE_MARKS):
                bad.append((hit["id"], "oracle markers occur in the text"))
                continue
            plain, want_rg = ranges_from_marks(lh["snippet"], LINE_MARKS)
            if plain != snip or rg != want_rg:
                bad.append((query, hit["id"], "ranges differ from the line protocol's marks", rg, want_rg))
            for a, b in rg:
                checked += 1
                if not (0 <= a < b <= len(snip)) or not any(g in nf(snip[a:b]) for g in grams):
                    bad.append((query, hit["id"], a, b, snip[a:b]))
            if any(rg[i][1] > rg[i + 1][0] for i in range(len(rg) - 1)):
                bad.append((query, hit["id"], "ranges overlap or are out of order", rg))
            if hit["snippet_html"] != marked(snip, rg):
                bad.append((query, hit["id"], "snippet_html", hit["snippet_html"][:200]))
    T.ok(checked > 50 and not bad, "highlights: %d ranges in code points point at the query's words (a bigram of "
         "the NFKC-casefolded query in each), equal the line protocol's marks, and snippet_html is the escaped "
         "snippet with <mark> at the ranges" % checked, bad[:5])
    st, _, h = H.json("/search?q=%s&highlight=0" % q("카카오"))
    T.ok(st == 200 and h["hits"] and all(x["highlights"] == [] and x["snippet_html"] == html_escape(x["snippet"])
                                         for x in h["hits"]),
         "highlight=0: no ranges, snippet_html is the escaped plain snippet")
    c.close()


@section
def t_doc_info_stats():
    c = H.line()
    bad = []
    for doc in CORPUS.docs[:40:4] + [CORPUS.docs[-1]]:
        st, _, got = H.json("/doc/%s" % q(doc["id"]))
        want = json.loads(c.cmd("GET %s" % doc["id"])[0])
        if st != 200 or got != want or got["id"] != doc["id"] or got["fields"].get("title") != doc.get("title"):
            bad.append((doc["id"], st))
    T.ok(not bad, "GET /doc/{id} equals GET (and the corpus title)", bad[:3])
    st, _, info = H.json("/info")
    want = json.loads(c.cmd("INFO")[0])
    T.ok(st == 200 and info == want and info["info"]["documents"] == len(CORPUS.docs),
         "GET /info equals INFO in JSON mode (documents = corpus size)", (info, want))
    st, _, s = H.json("/stats")
    want = json.loads(c.cmd("STATS")[0])
    T.ok(st == 200 and set(s["stats"]) == set(want["stats"]) and s["stats"]["threads"] == want["stats"]["threads"],
         "GET /stats has STATS's keys", (sorted(s["stats"]), sorted(want["stats"])))
    T.ok(s["stats"]["queries"] >= 1 and s["stats"]["connections"] >= 2,
         "STATS counts HTTP queries and connections (with the line client's)", s)
    st, _, hz = H.json("/healthz")
    T.ok(st == 200 and hz["ok"] is True and hz["documents"] == len(CORPUS.docs), "GET /healthz: 200 ok", hz)
    c.close()


METRIC_LINE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[a-zA-Z_][a-zA-Z0-9_]*="[^"\\]*"'
                         r'(,[a-zA-Z_][a-zA-Z0-9_]*="[^"\\]*")*\})? (-?[0-9.e+]+|\+Inf|NaN)$')


def metrics():
    st, h, body = H.get("/metrics")
    text = body.decode("utf-8")
    samples, types, helps, bad = [], {}, set(), []
    for line in text.splitlines():
        if line.startswith("# HELP "):
            helps.add(line.split()[2])
        elif line.startswith("# TYPE "):
            types[line.split()[2]] = line.split()[3]
        elif line.startswith("#") or not line:
            continue
        else:
            m = METRIC_LINE.match(line)
            if not m:
                bad.append(line)
            else:
                samples.append((m.group(1), m.group(2) or "", float(m.group(4))))
    return st, h, samples, types, helps, bad


@section
def t_metrics():
    st, h, samples, types, helps, bad = metrics()
    T.ok(st == 200 and h.get("content-type", "").startswith("text/plain; version=0.0.4"),
         "GET /metrics: 200, text/plain; version=0.0.4", h)
    T.ok(samples and not bad, "every sample line is `name{labels} value`", bad[:5])
    fam = {}
    for name, labels, v in samples:
        base = re.sub(r"_(bucket|sum|count)$", "", name) if name.startswith("kosearch_query_duration") else name
        fam.setdefault(base, []).append((name, labels, v))
    T.ok(all(f in types and f in helps for f in fam) and all(f.startswith("kosearch_") for f in fam),
         "every metric is kosearch_-prefixed with HELP and TYPE", sorted(set(fam) - set(types)))
    need = ["kosearch_queries_total", "kosearch_errors_total", "kosearch_query_duration_seconds",
            "kosearch_open_connections", "kosearch_connections_total", "kosearch_index_documents",
            "kosearch_index_revision", "kosearch_reloads_total", "kosearch_reload_failures_total"]
    T.ok(all(n in fam for n in need), "the required metrics are there", [n for n in need if n not in fam])
    T.ok(types.get("kosearch_query_duration_seconds") == "histogram" and types.get("kosearch_queries_total") ==
         "counter" and types.get("kosearch_open_connections") == "gauge", "types: histogram, counter, gauge", types)
    buckets = [(s[1], s[2]) for s in fam["kosearch_query_duration_seconds"] if s[0].endswith("_bucket")]
    les = [float(re.search(r'le="([^"]+)"', lab).group(1).replace("+Inf", "inf")) for lab, _ in buckets]
    counts = [v for _, v in buckets]
    count = [s[2] for s in fam["kosearch_query_duration_seconds"] if s[0].endswith("_count")]
    T.ok(les == sorted(les) and les[-1] == float("inf") and counts == sorted(counts) and count and
         counts[-1] == count[0] and count[0] >= 1, "histogram buckets are cumulative, +Inf equals _count", buckets)
    docs = [s[2] for s in samples if s[0] == "kosearch_index_documents"]
    T.eq(docs, [float(len(CORPUS.docs))], "kosearch_index_documents is the corpus size")
    before = {s[0]: s[2] for s in samples if not s[1]}
    for w in WORDS[:3]:
        H.get("/search?q=%s" % q(w))
    H.get("/search")  # an error
    _, _, samples2, _, _, _ = metrics()
    after = {s[0]: s[2] for s in samples2 if not s[1]}
    T.ok(after["kosearch_queries_total"] >= before["kosearch_queries_total"] + 3 and
         after["kosearch_errors_total"] >= before["kosearch_errors_total"] + 1 and
         after["kosearch_query_duration_seconds_count"] >= before["kosearch_query_duration_seconds_count"] + 3 and
         after["kosearch_query_duration_seconds_sum"] >= before["kosearch_query_duration_seconds_sum"],
         "counters increase after queries and an error", (before, after))


def err_of(body):
    o = json.loads(body.decode("utf-8"))
    return o.get("ok"), o.get("error"), o.get("message")


@section
def t_errors():
    cases = [
        ("/search", 400, "BAD_REQUEST", "missing q"),
        ("/search?q=a&limit=x", 400, "BAD_REQUEST", "bad limit"),
        ("/search?q=a&offset=-1", 400, "BAD_REQUEST", "bad offset"),
        ("/search?q=a&limit=1001", 400, "LIMIT_EXCEEDED", "limit over --max-limit"),
        ("/search?q=a&offset=9995&limit=10", 400, "LIMIT_EXCEEDED", "offset+limit over --max-window"),
        ("/search?q=%FF", 400, "BAD_UTF8", "invalid UTF-8 in q (%FF)"),
        ("/search?q=%ZZ", 400, "BAD_REQUEST", "bad %-escape"),
        ("/search?q=%20%20", 400, "BAD_REQUEST", "nothing to search for"),
        ("/search?q=a&highlight=2", 400, "BAD_REQUEST", "bad highlight"),
        ("/doc/no-such-id", 404, "NOT_FOUND", "unknown doc"),
        ("/nowhere", 404, "NOT_FOUND", "unknown path"),
        ("/doc/", 404, "NOT_FOUND", "empty doc id"),
    ]
    for path, status, code, what in cases:
        st, h, body = H.get(path)
        T.ok(st == status and err_of(body) == (False, code, err_of(body)[2]) and err_of(body)[2] and
             h.get("content-type", "").startswith("application/json"),
             "%s: %d %s with a JSON error" % (what, status, code), (st, body[:200]))
    st, h, body = H.get("/search?q=a", method="POST")
    T.ok(st == 405 and "GET" in h.get("allow", "") and err_of(body)[0] is False, "POST: 405 with Allow", (st, h))
    st, h, body = H.get("/info", method="DELETE")
    T.eq(st, 405, "DELETE: 405")
    long_q = "가" * 3000  # 27000 bytes once %-encoded, over --max-line 8192
    st, h, body = H.get("/search?q=%s" % q(long_q))
    T.ok(st == 413 and err_of(body)[1] == "LINE_TOO_LONG", "overlong URI: 413", (st, body[:200]))
    st, h, body = H.get("/search?q=%s" % q("카카오"), method="HEAD")
    T.ok(st == 200 and body == b"" and int(h.get("content-length", "0")) > 0, "HEAD: headers only", (st, h))
    out = raw(H.hport, b"GARBAGE\r\n\r\n")
    T.ok(out.startswith(b"HTTP/1.1 400 ") and b"Connection: close" in out, "malformed request line: 400, closed",
         out[:200])
    out = raw(H.hport, b"GET /info HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello")
    T.ok(out.startswith(b"HTTP/1.1 413 ") and b"Connection: close" in out, "a request body: 413, closed", out[:200])
    out = raw(H.hport, b"GET /info HTTP/1.1\r\n" + b"X-Big: " + b"x" * 70000 + b"\r\n\r\n")
    T.ok(out.startswith(b"HTTP/1.1 413 "), "headers over 64 KiB: 413", out[:200])
    # the line port refuses HTTP and the HTTP port answers line-protocol text with 400
    out = raw(H.hport, b"PING\n\n")
    T.ok(out.startswith(b"HTTP/1.1 400 "), "line-protocol text on the HTTP port: 400", out[:100])


@section
def t_keepalive_pipelining():
    c = H.conn()
    sts = [H.get(p, conn=c)[0] for p in ("/healthz", "/search?q=%s" % q("검색"), "/nowhere", "/info")]
    T.eq(sts, [200, 200, 404, 200], "four requests on one keep-alive connection (an error keeps it open)")
    c.close()
    out = raw(H.hport, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\nGET /info HTTP/1.1\r\nHost: x\r\n\r\n"
                       b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    T.ok(out.count(b"HTTP/1.1 200 OK") == 3 and out.rstrip().endswith(b"}"),
         "three pipelined requests, three responses in order, closed after Connection: close", out[-200:])
    out = raw(H.hport, b"GET /healthz HTTP/1.0\r\n\r\n")
    T.ok(out.startswith(b"HTTP/1.1 200 ") and b"Connection: close" in out, "HTTP/1.0: answered, then closed")


@section
def t_cors():
    st, h, _ = H.get("/info", headers={"Origin": ORIGIN})
    T.ok(st == 200 and h.get("access-control-allow-origin") == ORIGIN, "listed origin echoed", h)
    st, h, _ = H.get("/info", headers={"Origin": "https://evil.example"})
    T.ok(st == 200 and "access-control-allow-origin" not in h, "unlisted origin: no CORS header", h)
    for origin, listed in ((ORIGIN, True), ("https://evil.example", False)):
        st, h, _ = H.get("/search?q=x", method="OPTIONS",
                         headers={"Origin": origin, "Access-Control-Request-Method": "GET"})
        if listed:
            T.ok(st == 204 and h.get("access-control-allow-origin") == ORIGIN and
                 "GET" in h.get("access-control-allow-methods", "") and "content-length" not in h,
                 "preflight from a listed origin: 204 with CORS (and no Content-Length)", h)
        else:
            T.ok(st == 204 and "access-control-allow-origin" not in h and "access-control-allow-methods" not in h,
                 "preflight from an unlisted origin: no CORS headers", h)
    st, h, _ = L.get("/info", headers={"Origin": ORIGIN})
    T.ok(st == 200 and "access-control-allow-origin" not in h, "no --cors-origin: no CORS header", h)


@section
def t_page():
    st, h, body = H.get("/")
    T.ok(st == 200 and h.get("content-type", "").startswith("text/html") and body and b"<html" in body,
         "GET /: 200, text/html, non-empty, contains <html", (st, h, body[:80]))
    csp = h.get("content-security-policy", "")
    T.ok("script-src 'self'" in csp and "unsafe-inline" not in csp and h.get("x-content-type-options") == "nosniff",
         "the page has a self-only CSP and nosniff", h)
    st2, _, body2 = H.get("/index.html")
    T.ok(st2 == 200 and body2 == body, "/index.html is the same file")
    src = os.path.join(td.SRC, "searchd", "web", "index.html")
    with open(src, "rb") as f:
        T.ok(f.read() == body, "the embedded page is searchd/web/index.html byte for byte")


@section
def t_max_connections():
    held = []
    for _ in range(2):
        c = M.conn()
        st, _, _ = M.get("/healthz", conn=c)
        held.append((c, st))
    T.ok(all(st == 200 for _, st in held), "two keep-alive connections held (--max-connections 2)")
    out = raw(M.hport, b"GET /healthz HTTP/1.1\r\n\r\n")
    T.ok(out.startswith(b"HTTP/1.1 429 ") and b'"TOO_MANY_CONNECTIONS"' in out,
         "a third connection: 429 with a JSON error", out[:300])
    if out.startswith(b"HTTP/1.1 429 "):
        body = out.split(b"\r\n\r\n", 1)[1]
        clen = int(re.search(rb"Content-Length: (\d+)", out).group(1))
        T.ok(len(body) == clen and json.loads(body)["ok"] is False, "the 429 body is its Content-Length of JSON")
    for c, _ in held:
        c.close()
    ok = False
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not ok:
        ok = M.get("/healthz")[0] == 200
        time.sleep(0.05)
    T.ok(ok, "served again once they close")


@section
def t_request_timeout():
    # slowloris on the HTTP port: a head still incomplete --request-timeout
    # after its first byte gets a 408 and is closed; others are served meanwhile
    R = Daemon("R", INDEX, "--request-timeout", "1", threads=1)
    slow = socket.create_connection(("127.0.0.1", R.hport), timeout=30)
    slow.sendall(b"GET /search?q=%EC%B9%B4 HTTP/1.1\r\nHost: x\r\n")
    T.eq(R.get("/healthz")[0], 200, "while a head is incomplete, another client is served")
    out = b""
    while True:
        d = slow.recv(65536)
        if not d:
            break
        out += d
    slow.close()
    T.ok(out.startswith(b"HTTP/1.1 408 ") and b'"TIMEOUT"' in out and b"Connection: close" in out,
         "an incomplete head after --request-timeout: 408 with the TIMEOUT error, then closed", out[:300])
    R.p.send_signal(signal.SIGTERM)
    T.eq(R.p.wait(30), 0, "the --request-timeout daemon exits 0 on SIGTERM")
    rep = sanitizer_report(R.stderr())
    T.ok(not rep, "no sanitizer report", "\n".join(rep[:20]))


@section
def t_shutdown():
    # an idle keep-alive connection does not hold up SIGTERM: the server closes it
    idle = socket.create_connection(("127.0.0.1", H.hport), timeout=30)
    idle.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    got = b""
    while b"\r\n\r\n" not in got or not got.rstrip().endswith(b"}"):
        got += idle.recv(65536)
    T.ok(got.startswith(b"HTTP/1.1 200 ") and b"Connection: close" not in got, "a kept-alive connection before SIGTERM")
    for d in (H, L, M):
        d.p.send_signal(signal.SIGTERM)
        try:
            rc = d.p.wait(30)
        except subprocess.TimeoutExpired:
            d.p.kill()
            rc = None
        T.eq(rc, 0, "SIGTERM: exit 0")
        rep = sanitizer_report(d.stderr())
        T.ok(not rep, "no sanitizer report", "\n".join(rep[:20]))
        if d is H:
            T.ok(idle.recv(65536) == b"" and "still unsent" not in d.stderr(),
                 "SIGTERM closes an idle HTTP keep-alive connection rather than waiting the drain timeout out")
            idle.close()


def main():
    global TMP, CORPUS, DEV, H, L, M, INDEX
    why = harness.skip_reason()
    if why:
        print("1..0 # SKIP " + why)
        return 0
    TMP = tempfile.mkdtemp(prefix="ks-http-test.")
    try:
        CORPUS = td.Corpus(td.CORPUS)
        with open(os.path.join(td.SRC, "bench", "queries", "dev-queries.txt"), encoding="utf-8") as f:
            DEV = [line.strip() for line in f if line.strip()]
        index = INDEX = os.path.join(TMP, "index")
        p = subprocess.run([td.INDEXER, "build", "-q", "-i", td.CORPUS, "-o", index], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=600)
        if not T.eq(p.returncode, 0, "index of the shared corpus built"):
            T.note(p.stdout.decode("utf-8", "replace")[-2000:])
            return 0
        T.ok(not any(m in (d.get("title", "") + d.get("body", "")) for d in CORPUS.docs for m in LINE_MARKS),
             "the oracle's markers do not occur in the corpus")
        H = Daemon("H", index, "--cors-origin", ORIGIN, "--cors-origin", "https://other.example")
        L = Daemon("L", index, threads=1)
        M = Daemon("M", index, "--max-connections", "2", threads=1)
        t_search_parity()
        t_highlights()
        t_doc_info_stats()
        t_metrics()
        t_errors()
        t_keepalive_pipelining()
        t_request_timeout()
        t_cors()
        t_page()
        t_max_connections()
        t_shutdown()
    except Exception as e:  # noqa: BLE001
        T.ok(False, "test driver: %s: %s" % (type(e).__name__, e), traceback.format_exc())
    finally:
        for d in DAEMONS:
            if d.p.poll() is None:
                d.p.kill()
                d.p.wait()
        shutil.rmtree(TMP, ignore_errors=True)
    print("1..%d" % T.n)
    return 0


DAEMONS = []

if __name__ == "__main__":
    sys.exit(main())
