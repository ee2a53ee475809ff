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
#include "ksp_http_parse.h"

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

static const char *reason(int status);

/* ---- reading the head ---------------------------------------------------- */

void ksd_http_fail_close(ksd_conn *c, ksp_errcode code, const char *msg)
{
    ksp_error err;
    ksp_error_set(&err, code, 1, "%s", msg);
    ksp_buf body;
    ksp_buf_init(&body);
    ksp_format_error(&body, KSP_MODE_JSON, &err);
    int status = ksp_http_status(code);
    ksp_buf_printf(&c->w->out, "HTTP/1.1 %d %s\r\nContent-Type: " JSON_TYPE "\r\nContent-Length: %zu\r\n"
                   "Connection: close\r\n\r\n", status, reason(status), body.len);
    ksp_buf_append(&c->w->out, body.data, body.len);
    ksp_buf_free(&body);
    atomic_fetch_add(&c->w->stats.errors, 1);
}

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
        char msg[96];
        snprintf(msg, sizeof msg, "%s longer than the limit (%zu bytes)",
                 first > max_line + 1 ? "request line" : "request headers", first > max_line + 1 ? max_line : max_head);
        ksd_http_fail_close(c, KSP_ERR_LINE_TOO_LONG, msg);
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
    case 408: return "Request Timeout";
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
static int respond(ksd_conn *c, const ksp_http_req *r, int status, const char *type, const char *extra,
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
static int send_err(ksd_conn *c, const ksp_http_req *r, int status, const ksp_error *err, const char *extra)
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

static int fail(ksd_conn *c, const ksp_http_req *r, int status, ksp_errcode code, const char *msg)
{
    ksp_error err;
    ksp_error_set(&err, code, 0, "%s", msg);
    return send_err(c, r, status, &err, "");
}

/* A JSON body from ops.c (or an error it gave back). */
static int send_json(ksd_conn *c, const ksp_http_req *r, int rc, ksp_buf *body, const ksp_error *err)
{
    int close = rc ? send_err(c, r, 0, err, "")
                   : respond(c, r, 200, JSON_TYPE, "Cache-Control: no-store\r\n", body->data ? body->data : "",
                             body->len);
    ksp_buf_free(body);
    return close;
}

/* ---- endpoints ----------------------------------------------------------- */

/* limit=, offset=: decimal numbers like SEARCH's; -1 after a 400 was sent. */
static int num_param(ksd_conn *c, const ksp_http_req *r, ksp_str qs, const char *name, uint64_t *v, int *close)
{
    char *s;
    size_t n;
    int got = ksp_http_query_param(qs, name, &s, &n);
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

static int ep_search(ksd_conn *c, const ksp_http_req *r, ks_searcher *s, ksp_str qs)
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
    int got = ksp_http_query_param(qs, "q", &q, &ql);
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

static int ep_healthz(ksd_conn *c, const ksp_http_req *r, ks_searcher *s)
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

static int ep_static(ksd_conn *c, const ksp_http_req *r, const char *path, size_t plen)
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
    ksp_http_req r;
    if (ksp_http_parse_head(head, len, &r)) {
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
    ksp_str raw_path, qs;
    ksp_http_split_target(r.target, &raw_path, &qs);
    char *path = malloc(raw_path.len + 1);
    long pl = path ? ksp_http_pct_decode(raw_path.ptr, raw_path.len, 0, path) : -1;
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
