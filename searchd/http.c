/* The HTTP/JSON API (proto/HTTP.md) on the same connections, workers and
 * searchers as the line protocol: conn.c reads a request head with
 * ksd_http_take() and this file answers it with ksd_http_execute().
 *
 * Why not libevent's evhttp: adopting a connection accepted by the main
 * thread needs evhttp_get_request(), which libevent 2.1 (Debian 12) does not
 * export, and evhttp's own listener would bypass the round-robin hand-off,
 * the connection limit and the drain on SIGTERM. The subset needed here is
 * small: GET/HEAD/OPTIONS, no request bodies, HTTP/1.0 and 1.1 with
 * keep-alive and pipelining. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <unicode/utf8.h>

#include "config.h"
#include "ksd.h"
#include "ksp_http.h"

#define JSON_TYPE "application/json; charset=utf-8"
/* Every file the page needs is served from here: no inline script or
 * style, no other origin (proto/HTTP.md, "The search page"). */
#define CSP "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " \
            "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

const char ksd_http_refusal[] = "HTTP/1.1 429 Too Many Requests\r\n"
                                "Content-Type: " JSON_TYPE "\r\n"
                                "Content-Length: 107\r\n" /* the body below; test_http.py checks it */
                                "Connection: close\r\n"
                                "Retry-After: 1\r\n"
                                "\r\n"
                                "{\"ok\":false,\"error\":\"TOO_MANY_CONNECTIONS\",\"message\":"
                                "\"server is at its connection limit; try again later\"}\n";

/* One parsed request head. Slices point into the head buffer. */
typedef struct http_req {
    ksp_str method, target;
    int head;                 /* HEAD: headers only */
    int keep_alive;           /* the connection stays open after the response */
    int has_body;             /* Content-Length > 0 or Transfer-Encoding: we do not read bodies */
    ksp_str origin;           /* Origin header (empty: none) */
    int preflight;            /* Access-Control-Request-Method present */
} http_req;

/* ---- reading the head ---------------------------------------------------- */

int ksd_http_take(ksd_conn *c, struct evbuffer *in, char **head, size_t *len)
{
    size_t max_line = c->w->srv->cfg.max_line;
    /* RFC 9112 2.2: empty lines before a request line are ignored */
    for (;;) {
        unsigned char b[2];
        ev_ssize_t got = evbuffer_copyout(in, b, 2);
        if (got >= 1 && b[0] == '\n')
            evbuffer_drain(in, 1);
        else if (got == 2 && b[0] == '\r' && b[1] == '\n')
            evbuffer_drain(in, 2);
        else
            break;
    }
    struct evbuffer_ptr eol = evbuffer_search_eol(in, NULL, NULL, EVBUFFER_EOL_LF);
    size_t first = eol.pos < 0 ? evbuffer_get_length(in) : (size_t)eol.pos;
    struct evbuffer_ptr e1 = evbuffer_search(in, "\n\r\n", 3, NULL), e2 = evbuffer_search(in, "\n\n", 2, NULL);
    ev_ssize_t end = -1;
    if (e1.pos >= 0)
        end = e1.pos + 3;
    if (e2.pos >= 0 && (end < 0 || e2.pos + 2 < end))
        end = e2.pos + 2;
    size_t have = end < 0 ? evbuffer_get_length(in) : (size_t)end;
    size_t max_head = max_line + 8192 > KSD_HTTP_MAX_HEAD ? max_line + 8192 : KSD_HTTP_MAX_HEAD;
    if (first > max_line + 1 || have > max_head) {
        ksp_error err;
        ksp_error_set(&err, KSP_ERR_LINE_TOO_LONG, 1, "%s longer than the limit (%zu bytes)",
                      first > max_line + 1 ? "request line" : "request headers",
                      first > max_line + 1 ? max_line : max_head);
        ksp_buf body;
        ksp_buf_init(&body);
        ksp_format_error(&body, KSP_MODE_JSON, &err);
        ksp_buf_printf(&c->w->out,
                       "HTTP/1.1 413 Content Too Large\r\nContent-Type: " JSON_TYPE
                       "\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n",
                       body.len);
        ksp_buf_append(&c->w->out, body.data, body.len);
        ksp_buf_free(&body);
        atomic_fetch_add(&c->w->stats.errors, 1);
        ksd_log("%s: HTTP request head over the limit: closed", c->peer);
        c->unread = 1;
        return -1;
    }
    if (end < 0)
        return 0;
    if (!(*head = malloc((size_t)end + 1)))
        return -1;
    evbuffer_remove(in, *head, (size_t)end);
    (*head)[end] = 0;
    *len = (size_t)end;
    return 1;
}

/* ---- parsing ------------------------------------------------------------- */

static int ieq(ksp_str s, const char *lit)
{
    size_t n = strlen(lit);
    if (s.len != n)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char a = s.ptr[i], b = lit[i];
        if (a >= 'A' && a <= 'Z')
            a = (char)(a - 'A' + 'a');
        if (a != b)
            return 0;
    }
    return 1;
}

static int is_tchar(char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
           (ch && strchr("!#$%&'*+-.^_`|~", ch));
}

static ksp_str trim(const char *p, size_t n)
{
    while (n && (*p == ' ' || *p == '\t'))
        p++, n--;
    while (n && (p[n - 1] == ' ' || p[n - 1] == '\t' || p[n - 1] == '\r'))
        n--;
    return (ksp_str){ p, n };
}

/* Does the comma-separated header value v hold token t? */
static int has_token(ksp_str v, const char *t)
{
    size_t i = 0;
    while (i < v.len) {
        size_t j = i;
        while (j < v.len && v.ptr[j] != ',')
            j++;
        if (ieq(trim(v.ptr + i, j - i), t))
            return 1;
        i = j + 1;
    }
    return 0;
}

/* Parses the request line and the headers we act on. Returns 0, or -1 for
 * a malformed head (answered 400 and closed). */
static int parse_head(const char *h, size_t len, http_req *r)
{
    memset(r, 0, sizeof *r);
    const char *eol = memchr(h, '\n', len);
    ksp_str line = trim(h, (size_t)(eol - h));
    const char *sp1 = memchr(line.ptr, ' ', line.len);
    if (!sp1)
        return -1;
    const char *sp2 = memchr(sp1 + 1, ' ', line.len - (size_t)(sp1 + 1 - line.ptr));
    if (!sp2)
        return -1;
    r->method = (ksp_str){ line.ptr, (size_t)(sp1 - line.ptr) };
    r->target = (ksp_str){ sp1 + 1, (size_t)(sp2 - sp1 - 1) };
    ksp_str ver = { sp2 + 1, line.len - (size_t)(sp2 + 1 - line.ptr) };
    if (!r->method.len || !r->target.len)
        return -1;
    for (size_t i = 0; i < r->method.len; i++)
        if (!is_tchar(r->method.ptr[i]))
            return -1;
    for (size_t i = 0; i < r->target.len; i++)
        if ((unsigned char)r->target.ptr[i] <= 0x20 || r->target.ptr[i] == 0x7f)
            return -1;
    if (ver.len != 8 || memcmp(ver.ptr, "HTTP/1.", 7) != 0 || (ver.ptr[7] != '0' && ver.ptr[7] != '1'))
        return -1;
    int v11 = ver.ptr[7] == '1', conn_close = 0, conn_keep = 0;
    const char *p = eol + 1, *end = h + len;
    while (p < end) {
        const char *e = memchr(p, '\n', (size_t)(end - p));
        size_t n = (size_t)(e - p);
        if (n && p[n - 1] == '\r')
            n--;
        if (n == 0)
            break; /* the blank line */
        if (p[0] == ' ' || p[0] == '\t')
            return -1; /* obsolete line folding: RFC 9112 5.2 allows rejecting it */
        const char *colon = memchr(p, ':', n);
        if (!colon || colon == p)
            return -1;
        ksp_str name = { p, (size_t)(colon - p) };
        for (size_t i = 0; i < name.len; i++)
            if (!is_tchar(name.ptr[i]))
                return -1;
        ksp_str val = trim(colon + 1, n - name.len - 1);
        if (ieq(name, "connection")) {
            conn_close |= has_token(val, "close");
            conn_keep |= has_token(val, "keep-alive");
        } else if (ieq(name, "content-length")) {
            uint64_t v;
            if (ksp_parse_number(val.ptr, val.len, &v))
                return -1;
            r->has_body |= v > 0;
        } else if (ieq(name, "transfer-encoding")) {
            r->has_body = 1;
        } else if (ieq(name, "origin")) {
            r->origin = val;
        } else if (ieq(name, "access-control-request-method")) {
            r->preflight = 1;
        }
        p = e + 1;
    }
    r->keep_alive = v11 ? !conn_close : (conn_keep && !conn_close);
    r->head = r->method.len == 4 && memcmp(r->method.ptr, "HEAD", 4) == 0;
    return 0;
}

static int hexval(char ch)
{
    return ch >= '0' && ch <= '9' ? ch - '0' : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10
                                           : ch >= 'A' && ch <= 'F' ? ch - 'A' + 10 : -1;
}

/* Percent-decodes s[0..n) into out (room for n bytes); '+' is a space when
 * plus is set (query strings). Returns the decoded length, or -1 for a bad
 * escape. The result may hold any byte, NUL included. */
static long pct_decode(const char *s, size_t n, int plus, char *out)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '%') {
            int hi = i + 2 < n ? hexval(s[i + 1]) : -1;
            int lo = i + 2 < n ? hexval(s[i + 2]) : -1;
            if (hi < 0 || lo < 0)
                return -1;
            out[o++] = (char)(hi * 16 + lo);
            i += 2;
        } else {
            out[o++] = plus && s[i] == '+' ? ' ' : s[i];
        }
    }
    return (long)o;
}

/* The value of parameter name in query string qs, decoded into a malloc'd
 * buffer. Returns 1 (found), 0 (absent) or -1 (bad escape, or no memory). */
static int query_param(ksp_str qs, const char *name, char **val, size_t *vlen)
{
    size_t i = 0, nl = strlen(name);
    while (i < qs.len) {
        size_t j = i;
        while (j < qs.len && qs.ptr[j] != '&')
            j++;
        const char *eq = memchr(qs.ptr + i, '=', j - i);
        size_t kl = eq ? (size_t)(eq - qs.ptr - i) : j - i;
        char key[16];
        long dk = kl < sizeof key ? pct_decode(qs.ptr + i, kl, 1, key) : -1;
        if (dk == (long)nl && memcmp(key, name, nl) == 0) {
            const char *v = eq ? eq + 1 : qs.ptr + j;
            size_t n = (size_t)(qs.ptr + j - v);
            if (!(*val = malloc(n + 1)))
                return -1;
            long d = pct_decode(v, n, 1, *val);
            if (d < 0) {
                free(*val);
                *val = NULL;
                return -1;
            }
            (*val)[d] = 0;
            *vlen = (size_t)d;
            return 1;
        }
        i = j + 1;
    }
    return 0;
}

/* ---- responses ----------------------------------------------------------- */

static const char *reason(int status)
{
    switch (status) {
    case 200: return "OK";
    case 204: return "No Content";
    case 400: return "Bad Request";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 413: return "Content Too Large";
    case 429: return "Too Many Requests";
    case 503: return "Service Unavailable";
    default: return "Internal Server Error";
    }
}

/* Is origin one of --cors-origin? */
static int cors_allowed(const ksd_config *cfg, ksp_str origin)
{
    for (int i = 0; origin.len && i < cfg->ncors; i++)
        if (strlen(cfg->cors[i]) == origin.len && memcmp(cfg->cors[i], origin.ptr, origin.len) == 0)
            return 1;
    return 0;
}

/* Appends a complete response to c->w->out. extra: more header lines, each
 * ending in CRLF (may be ""). Returns 1 when the connection must close. */
static int respond(ksd_conn *c, const http_req *r, int status, const char *type, const char *extra,
                   const char *body, size_t blen)
{
    ksp_buf *o = &c->w->out;
    const ksd_config *cfg = &c->w->srv->cfg;
    int close = !r->keep_alive || r->has_body || c->w->draining; /* SIGTERM: this is the last response */
    ksp_buf_printf(o, "HTTP/1.1 %d %s\r\nServer: kosearchd/" PACKAGE_VERSION "\r\n", status, reason(status));
    if (type)
        ksp_buf_printf(o, "Content-Type: %s\r\n", type);
    if (status != 204) /* RFC 9110 8.6: never on a 204 */
        ksp_buf_printf(o, "Content-Length: %zu\r\n", blen);
    ksp_buf_puts(o, "X-Content-Type-Options: nosniff\r\n");
    if (cfg->ncors) {
        ksp_buf_puts(o, "Vary: Origin\r\n");
        if (cors_allowed(cfg, r->origin)) {
            ksp_buf_puts(o, "Access-Control-Allow-Origin: ");
            ksp_buf_append(o, r->origin.ptr, r->origin.len);
            ksp_buf_puts(o, "\r\n");
        }
    }
    ksp_buf_puts(o, extra);
    ksp_buf_puts(o, close ? "Connection: close\r\n\r\n" : "\r\n");
    if (!r->head && blen)
        ksp_buf_append(o, body, blen);
    if (o->failed) { /* out of memory: nothing sensible can be sent */
        ksp_buf_reset(o);
        return 1;
    }
    return close;
}

/* An error response: the body is FORMAT json's error object. status 0:
 * the one for the code. */
static int send_err(ksd_conn *c, const http_req *r, int status, const ksp_error *err, const char *extra)
{
    ksp_buf body;
    ksp_buf_init(&body);
    ksp_format_error(&body, KSP_MODE_JSON, err);
    atomic_fetch_add(&c->w->stats.errors, 1);
    int close = respond(c, r, status ? status : ksp_http_status(err->code), JSON_TYPE, extra,
                        body.data ? body.data : "", body.len);
    ksp_buf_free(&body);
    return close;
}

static int fail(ksd_conn *c, const http_req *r, int status, ksp_errcode code, const char *msg)
{
    ksp_error err;
    ksp_error_set(&err, code, 0, "%s", msg);
    return send_err(c, r, status, &err, "");
}

/* A JSON body from ops.c (or an error it gave back). */
static int send_json(ksd_conn *c, const http_req *r, int rc, ksp_buf *body, const ksp_error *err)
{
    int close = rc ? send_err(c, r, 0, err, "")
                   : respond(c, r, 200, JSON_TYPE, "Cache-Control: no-store\r\n", body->data ? body->data : "",
                             body->len);
    ksp_buf_free(body);
    return close;
}

/* ---- endpoints ----------------------------------------------------------- */

/* limit=, offset=: decimal numbers like SEARCH's; -1 after a 400 was sent. */
static int num_param(ksd_conn *c, const http_req *r, ksp_str qs, const char *name, uint64_t *v, int *close)
{
    char *s;
    size_t n;
    int got = query_param(qs, name, &s, &n);
    if (got == 0)
        return 0;
    if (got < 0 || ksp_parse_number(s, n, v)) {
        char msg[80];
        snprintf(msg, sizeof msg, "%s= needs a decimal number", name);
        *close = fail(c, r, 400, KSP_ERR_BAD_REQUEST, msg);
        free(s);
        return -1;
    }
    free(s);
    return 0;
}

static int ep_search(ksd_conn *c, const http_req *r, ks_searcher *s, ksp_str qs)
{
    ksd_worker *w = c->w;
    int close = 0;
    uint64_t limit = w->srv->limits.default_limit, offset = 0, hl = 1;
    if (num_param(c, r, qs, "limit", &limit, &close) || num_param(c, r, qs, "offset", &offset, &close) ||
        num_param(c, r, qs, "highlight", &hl, &close))
        return close;
    if (hl > 1)
        return fail(c, r, 400, KSP_ERR_BAD_REQUEST, "highlight= takes 0 or 1");
    ksp_error err;
    if (ksp_check_page(&w->srv->limits, limit, offset, &err))
        return send_err(c, r, 400, &err, "");
    char *q;
    size_t ql;
    int got = query_param(qs, "q", &q, &ql);
    if (got <= 0)
        return fail(c, r, 400, KSP_ERR_BAD_REQUEST, got ? "q= holds a bad %-escape" : "missing q= (the query)");
    ks_search_opts o;
    ks_search_opts_default(&o);
    o.offset = (uint32_t)offset;
    o.limit = (uint32_t)limit;
    o.hl_open = o.hl_close = ""; /* plain text; the ranges say where */
    o.hl_ranges = (int)hl;
    ks_results res;
    ksp_hit *hits;
    uint64_t took;
    if (ksd_op_search(w, c->peer, s, q, ql, &o, &res, &hits, &took, &err)) {
        free(q);
        return send_err(c, r, 0, &err, "");
    }
    ksp_ranges *rg = calloc(res.n ? res.n : 1, sizeof *rg);
    for (size_t i = 0; rg && i < res.n; i++)
        rg[i] = (ksp_ranges){ res.hits[i].hl, res.hits[i].n_hl };
    ksp_search_result sr = { res.total, res.estimate, took, hits, res.n };
    ksp_http_search hs = { { q, ql }, { res.plan ? res.plan : "", res.plan ? strlen(res.plan) : 0 },
                           (uint32_t)offset, (uint32_t)limit, &sr, rg };
    ksp_buf body;
    ksp_buf_init(&body);
    int rc = rg ? ksp_format_http_search(&body, &hs) : KS_ENOMEM;
    ksp_error_set(&err, KSP_ERR_INTERNAL, 0, "out of memory");
    close = send_json(c, r, rc, &body, &err);
    free(rg);
    free(hits);
    ks_results_free(&res);
    free(q);
    return close;
}

static int ep_healthz(ksd_conn *c, const http_req *r, ks_searcher *s)
{
    ks_index_info info;
    ks_errbuf eb = { "" };
    if (!s || ks_searcher_info(s, &info, &eb))
        return fail(c, r, 503, KSP_ERR_INDEX_UNAVAILABLE, "no index is open; see the server log");
    ksp_buf body;
    ksp_buf_init(&body);
    ksp_buf_printf(&body, "{\"ok\":true,\"documents\":%llu,\"revision\":\"%llu\"}\n",
                   (unsigned long long)info.documents, (unsigned long long)info.revision);
    return send_json(c, r, 0, &body, NULL);
}

static int ep_static(ksd_conn *c, const http_req *r, const char *path, size_t plen)
{
    if (plen == 1)
        path = "/index.html", plen = strlen(path);
    for (size_t i = 0; i < ksd_web_nfiles; i++) {
        const ksd_web_file *f = &ksd_web_files[i];
        if (strlen(f->name) == plen - 1 && memcmp(f->name, path + 1, plen - 1) == 0)
            return respond(c, r, 200, f->type,
                           "Content-Security-Policy: " CSP "\r\nCache-Control: no-cache\r\n"
                           "Referrer-Policy: no-referrer\r\n",
                           (const char *)f->data, f->len);
    }
    return fail(c, r, 404, KSP_ERR_NOT_FOUND, "no such path; see proto/HTTP.md");
}

#define PATH_IS(p, n, lit) ((n) == sizeof(lit) - 1 && memcmp((p), (lit), (n)) == 0)

int ksd_http_execute(ksd_conn *c, char *head, size_t len)
{
    ksd_worker *w = c->w;
    atomic_fetch_add(&w->stats.commands, 1);
    http_req r;
    if (parse_head(head, len, &r)) {
        memset(&r, 0, sizeof r);
        fail(c, &r, 400, KSP_ERR_BAD_REQUEST, "malformed HTTP request");
        c->unread = 1; /* whatever follows cannot be framed */
        return 1;
    }
    c->unread = r.has_body; /* a body is never read: close after the response */
    const char *allow = "Allow: GET, HEAD, OPTIONS\r\n";
    int get = r.head || (r.method.len == 3 && memcmp(r.method.ptr, "GET", 3) == 0);
    if (r.method.len == 7 && memcmp(r.method.ptr, "OPTIONS", 7) == 0) {
        char extra[256] = "";
        if (r.preflight && cors_allowed(&w->srv->cfg, r.origin))
            snprintf(extra, sizeof extra,
                     "Access-Control-Allow-Methods: GET, HEAD, OPTIONS\r\n"
                     "Access-Control-Allow-Headers: Content-Type\r\nAccess-Control-Max-Age: 600\r\n%s",
                     allow);
        else
            snprintf(extra, sizeof extra, "%s", allow);
        return respond(c, &r, 204, NULL, extra, "", 0);
    }
    if (!get) {
        ksp_error err;
        ksp_error_set(&err, KSP_ERR_BAD_REQUEST, 0, "method not allowed: only GET, HEAD and OPTIONS");
        return send_err(c, &r, 405, &err, allow);
    }
    if (r.has_body)
        return fail(c, &r, 413, KSP_ERR_BAD_REQUEST, "request bodies are not accepted");
    if (r.target.ptr[0] != '/')
        return fail(c, &r, 400, KSP_ERR_BAD_REQUEST, "the request target must be a path");
    /* path ? query (a fragment is never sent, but cut it if it is) */
    const char *t = r.target.ptr, *hash = memchr(t, '#', r.target.len);
    size_t tl = hash ? (size_t)(hash - t) : r.target.len;
    const char *qm = memchr(t, '?', tl);
    size_t raw_plen = qm ? (size_t)(qm - t) : tl;
    ksp_str qs = qm ? (ksp_str){ qm + 1, tl - raw_plen - 1 } : (ksp_str){ "", 0 };
    char *path = malloc(raw_plen + 1);
    long pl = path ? pct_decode(t, raw_plen, 0, path) : -1;
    if (pl < 0) {
        free(path);
        return fail(c, &r, 400, KSP_ERR_BAD_REQUEST, "bad %-escape in the path");
    }
    size_t plen = (size_t)pl;
    path[plen] = 0;

    int close;
    ks_searcher *s = NULL;
    int needs_index = PATH_IS(path, plen, "/search") || PATH_IS(path, plen, "/info") ||
                      (plen > 5 && memcmp(path, "/doc/", 5) == 0);
    if ((needs_index || PATH_IS(path, plen, "/healthz") || PATH_IS(path, plen, "/metrics")))
        s = ksd_worker_searcher(w);
    ksp_buf body;
    ksp_buf_init(&body);
    ksp_error err;
    if (needs_index && !s)
        close = fail(c, &r, 503, KSP_ERR_INDEX_UNAVAILABLE, "no index is open; see the server log");
    else if (PATH_IS(path, plen, "/search"))
        close = ep_search(c, &r, s, qs);
    else if (plen > 5 && memcmp(path, "/doc/", 5) == 0)
        close = send_json(c, &r, ksd_op_get(c->peer, s, (ksp_str){ path + 5, plen - 5 }, &body, KSP_MODE_JSON, &err),
                          &body, &err);
    else if (PATH_IS(path, plen, "/info"))
        close = send_json(c, &r, ksd_op_info(w->srv, s, &body, KSP_MODE_JSON, &err), &body, &err);
    else if (PATH_IS(path, plen, "/stats")) {
        ksd_op_stats(w->srv, &body, KSP_MODE_JSON);
        close = send_json(c, &r, 0, &body, NULL);
    } else if (PATH_IS(path, plen, "/healthz"))
        close = ep_healthz(c, &r, s);
    else if (PATH_IS(path, plen, "/metrics")) {
        ksd_metrics(w->srv, s, &body);
        close = respond(c, &r, 200, "text/plain; version=0.0.4; charset=utf-8", "Cache-Control: no-store\r\n",
                        body.data ? body.data : "", body.len);
        ksp_buf_free(&body);
    } else
        close = ep_static(c, &r, path, plen);
    ksp_buf_free(&body);
    free(path);
    return close;
}
