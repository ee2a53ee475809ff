/* Protocol v1 commands run inline on the worker: parse (proto/), execute
 * against this worker's searcher, format the reply into w->out. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config.h"
#include "ks_engine.h"
#include "ksd.h"

static uint64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static int reply_error(ksd_conn *c, ksp_errcode code, int close, const char *msg)
{
    ksp_error err;
    ksp_error_set(&err, code, close, "%s", msg);
    ksp_format_error(&c->w->out, c->mode, &err);
    atomic_fetch_add(&c->w->stats.errors, 1);
    return close;
}

/* Logs, once per searcher, that its segment turned out damaged and it now
 * ranks with Xapian (same answers, slower; a RELOAD of a good index ends it). */
static void note_fallback(ksd_conn *c, ks_searcher *s)
{
    const char *why = ks_searcher_take_fallback(s);
    if (why)
        ksd_log("worker %d: scoring segment damaged, ranking with Xapian from now on (same results, slower; "
                "rebuild the index and RELOAD): %s", c->w->id, why);
}

/* Maps a searcher error to a protocol error: the user's fault or ours. */
static int search_error(ksd_conn *c, int rc, const ks_errbuf *eb, const char *q, size_t ql)
{
    switch (rc) {
    case KS_EINVAL:
    case KS_ETOOBIG:
        return reply_error(c, KSP_ERR_BAD_REQUEST, 0, eb->msg);
    case KS_EUTF8:
        return reply_error(c, KSP_ERR_BAD_UTF8, 0, eb->msg);
    default:
        ksd_log("%s: query failed: %.*s: %s (%s)", c->peer, (int)(ql > 200 ? 200 : ql), q, eb->msg,
                ks_strerror(rc));
        return reply_error(c, KSP_ERR_INTERNAL, 0, "the search failed on the server; see its log");
    }
}

/* The parser fills in the default markers when hl= is absent, so an empty
 * marker here was asked for: hl=, turns highlighting off. */
static void copy_marker(char *dst, ksp_str s)
{
    if (s.len)
        memcpy(dst, s.ptr, s.len);
    dst[s.len] = 0;
}

static int cmd_search(ksd_conn *c, ks_searcher *s, const ksp_request *req)
{
    ksd_worker *w = c->w;
    ks_search_opts o;
    ks_search_opts_default(&o);
    char hl_open[KSP_HL_MAX + 1], hl_close[KSP_HL_MAX + 1];
    copy_marker(hl_open, req->hl_open);
    copy_marker(hl_close, req->hl_close);
    o.offset = req->offset;
    o.limit = req->limit;
    o.hl_open = hl_open;
    o.hl_close = hl_close;
    o.snippet_chars = w->srv->cfg.snippet_chars;
    o.bm25 = w->srv->cfg.bm25;
    ks_results r;
    ks_errbuf eb = { "" };
    uint64_t t0 = now_us();
    int rc = ks_search(s, req->arg.ptr, req->arg.len, &o, &r, &eb);
    uint64_t took = now_us() - t0;
    note_fallback(c, s);
    ksd_stats_latency(&w->stats, took);
    atomic_fetch_add(&w->stats.queries, 1);
    if (rc)
        return search_error(c, rc, &eb, req->arg.ptr, req->arg.len);
    ksp_hit *hits = calloc(r.n ? r.n : 1, sizeof *hits);
    if (!hits) {
        ks_results_free(&r);
        return reply_error(c, KSP_ERR_INTERNAL, 0, "out of memory");
    }
    for (size_t i = 0; i < r.n; i++) {
        const ks_hit *h = &r.hits[i];
        hits[i] = (ksp_hit){ h->rank, h->score, { h->id, strlen(h->id) }, { h->title, strlen(h->title) },
                             { h->snippet, strlen(h->snippet) } };
    }
    ksp_search_result res = { r.total, r.estimate, took, hits, r.n };
    ksp_format_search(&w->out, c->mode, &res);
    if (w->srv->cfg.log_queries)
        ksd_log("%s: SEARCH %.*s -> %llu hits, %zu returned, %llu us", c->peer, (int)req->arg.len, req->arg.ptr,
                (unsigned long long)r.total, r.n, (unsigned long long)took);
    free(hits);
    ks_results_free(&r);
    return 0;
}

static int cmd_count(ksd_conn *c, ks_searcher *s, const ksp_request *req)
{
    ks_errbuf eb = { "" };
    uint64_t n = 0, t0 = now_us();
    int rc = ks_search_count(s, req->arg.ptr, req->arg.len, &n, &eb);
    uint64_t took = now_us() - t0;
    note_fallback(c, s);
    ksd_stats_latency(&c->w->stats, took);
    atomic_fetch_add(&c->w->stats.queries, 1);
    if (rc)
        return search_error(c, rc, &eb, req->arg.ptr, req->arg.len);
    ksp_format_count(&c->w->out, c->mode, n, 0);
    if (c->w->srv->cfg.log_queries)
        ksd_log("%s: COUNT %.*s -> %llu, %llu us", c->peer, (int)req->arg.len, req->arg.ptr, (unsigned long long)n,
                (unsigned long long)took);
    return 0;
}

static int cmd_get(ksd_conn *c, ks_searcher *s, const ksp_request *req)
{
    ks_errbuf eb = { "" };
    char *data = NULL;
    size_t len = 0;
    int rc = ks_search_get(s, req->arg.ptr, req->arg.len, &data, &len, &eb);
    if (rc == KS_ENOTFOUND)
        return reply_error(c, KSP_ERR_NOT_FOUND, 0, "no document with that id");
    if (rc)
        return search_error(c, rc, &eb, req->arg.ptr, req->arg.len);
    json_t *o = json_loadb(data, len, JSON_ALLOW_NUL, NULL);
    free(data);
    size_t n = json_object_size(o), i = 0;
    ksp_kv *kv = calloc(n ? n : 1, sizeof *kv);
    char **tmp = calloc(n ? n : 1, sizeof *tmp);
    if (!o || !kv || !tmp) {
        json_decref(o);
        free(kv);
        free(tmp);
        return reply_error(c, KSP_ERR_INTERNAL, 0, "stored document could not be read");
    }
    const char *key;
    json_t *v;
    json_object_foreach(o, key, v) {
        kv[i].key = key;
        kv[i].type = KSP_VAL_STR;
        if (json_is_string(v)) {
            kv[i].str = json_string_value(v);
            kv[i].str_len = json_string_length(v);
        } else { /* tags and other structured values: as JSON text */
            tmp[i] = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
            kv[i].str = tmp[i] ? tmp[i] : "";
            kv[i].str_len = strlen(kv[i].str);
        }
        i++;
    }
    ksp_format_fields(&c->w->out, c->mode, req->arg, kv, n);
    for (i = 0; i < n; i++)
        free(tmp[i]);
    free(tmp);
    free(kv);
    json_decref(o);
    return 0;
}

static int cmd_info(ksd_conn *c, ks_searcher *s)
{
    ks_index_info info;
    ks_errbuf eb = { "" };
    if (ks_searcher_info(s, &info, &eb))
        return reply_error(c, KSP_ERR_INTERNAL, 0, eb.msg);
    ksd_server *srv = c->w->srv;
    /* PROTOCOL.md 4: the revision is an opaque word, a JSON string */
    char rev[32];
    int rn = snprintf(rev, sizeof rev, "%llu", (unsigned long long)info.revision);
    char bm[128];
    const ks_bm25 *b = &srv->cfg.bm25;
    snprintf(bm, sizeof bm, "k1=%g,k2=%g,k3=%g,b=%g,min_normlen=%g", b->k1, b->k2, b->k3, b->b, b->min_normlen);
    const char *ename = ks_engine_kind_name(ks_searcher_engine(s));
    /* the BM25 kernel: only the native engine has one */
    const char *kname = ks_searcher_engine(s) == KS_ENGINE_SIMD ? ks_engine_kernel_name() : "none";
    ksp_kv kv[] = {
        { "documents", KSP_VAL_UINT, NULL, 0, 0, info.documents, 0 },
        { "terms", KSP_VAL_UINT, NULL, 0, 0, info.terms, 0 },
        { "revision", KSP_VAL_STR, rev, (size_t)rn, 0, 0, 0 },
        { "average_length", KSP_VAL_DOUBLE, NULL, 0, 0, 0, info.avglength },
        { "index", KSP_VAL_STR, info.generation, strlen(info.generation), 0, 0, 0 },
        { "built_at", KSP_VAL_STR, info.built_at, strlen(info.built_at), 0, 0, 0 },
        { "updated_at", KSP_VAL_STR, info.updated_at, strlen(info.updated_at), 0, 0, 0 },
        { "engine", KSP_VAL_STR, ename, strlen(ename), 0, 0, 0 },
        { "simd", KSP_VAL_STR, kname, strlen(kname), 0, 0, 0 },
        { "bm25", KSP_VAL_STR, bm, strlen(bm), 0, 0, 0 },
        { "threads", KSP_VAL_INT, NULL, 0, srv->nworkers, 0, 0 },
        { "version", KSP_VAL_STR, PACKAGE_VERSION, strlen(PACKAGE_VERSION), 0, 0, 0 },
    };
    ksp_format_info(&c->w->out, c->mode, kv, sizeof kv / sizeof kv[0]);
    return 0;
}

static int cmd_stats(ksd_conn *c)
{
    ksd_server *srv = c->w->srv;
    ksd_stats sum;
    ksd_stats_sum(srv, &sum);
    ksp_kv kv[] = {
        { "uptime_s", KSP_VAL_UINT, NULL, 0, 0, (uint64_t)(time(NULL) - srv->started), 0 },
        { "connections", KSP_VAL_UINT, NULL, 0, 0, (uint64_t)atomic_load(&srv->nconns), 0 },
        { "connections_total", KSP_VAL_UINT, NULL, 0, 0, atomic_load(&sum.connections), 0 },
        { "commands", KSP_VAL_UINT, NULL, 0, 0, atomic_load(&sum.commands), 0 },
        { "queries", KSP_VAL_UINT, NULL, 0, 0, atomic_load(&sum.queries), 0 },
        { "errors", KSP_VAL_UINT, NULL, 0, 0, atomic_load(&sum.errors), 0 },
        { "latency_p50_us", KSP_VAL_UINT, NULL, 0, 0, ksd_stats_quantile(&sum, 0.50), 0 },
        { "latency_p99_us", KSP_VAL_UINT, NULL, 0, 0, ksd_stats_quantile(&sum, 0.99), 0 },
        { "latency_p999_us", KSP_VAL_UINT, NULL, 0, 0, ksd_stats_quantile(&sum, 0.999), 0 },
        { "reloads", KSP_VAL_UINT, NULL, 0, 0, atomic_load(&srv->reloads), 0 },
        { "reload_failures", KSP_VAL_UINT, NULL, 0, 0, atomic_load(&srv->reload_failures), 0 },
        { "threads", KSP_VAL_INT, NULL, 0, srv->nworkers, 0, 0 },
    };
    ksp_format_stats(&c->w->out, c->mode, kv, sizeof kv / sizeof kv[0]);
    return 0;
}

static int cmd_reload(ksd_conn *c)
{
    if (!c->w->srv->cfg.admin || !c->loopback)
        return reply_error(c, KSP_ERR_FORBIDDEN, 0,
                           c->w->srv->cfg.admin ? "RELOAD is accepted only from loopback clients"
                                                : "RELOAD is disabled (start kosearchd without --no-admin)");
    uint64_t rev = 0;
    ks_errbuf eb = { "" };
    if (ksd_reload(c->w->srv, c->w, &rev, &eb)) {
        char msg[600];
        snprintf(msg, sizeof msg, "reload failed, still serving the previous index: %s", eb.msg);
        return reply_error(c, KSP_ERR_INDEX_UNAVAILABLE, 0, msg);
    }
    char r[32];
    int n = snprintf(r, sizeof r, "%llu", (unsigned long long)rev);
    ksp_format_reloaded(&c->w->out, c->mode, r, (size_t)n);
    return 0;
}

int ksd_execute(ksd_conn *c, const char *line, size_t len)
{
    ksd_worker *w = c->w;
    ksp_request req;
    ksp_error err;
    atomic_fetch_add(&w->stats.commands, 1);
    if (ksp_parse_request(line, len, &w->srv->limits, &req, &err) != 0) {
        ksp_format_error(&w->out, c->mode, &err);
        atomic_fetch_add(&w->stats.errors, 1);
        if (err.close)
            ksd_log("%s: %s: %s; closing", c->peer, err.word, err.message);
        return err.close;
    }
    ks_searcher *s = NULL;
    switch (req.cmd) {
    case KSP_CMD_SEARCH:
    case KSP_CMD_COUNT:
    case KSP_CMD_GET:
    case KSP_CMD_INFO:
        if (!(s = ksd_worker_searcher(w)))
            return reply_error(c, KSP_ERR_INDEX_UNAVAILABLE, 0, "no index is open; see the server log");
        break;
    default:
        break;
    }
    switch (req.cmd) {
    case KSP_CMD_PING: ksp_format_pong(&w->out, c->mode); return 0;
    case KSP_CMD_SEARCH: return cmd_search(c, s, &req);
    case KSP_CMD_COUNT: return cmd_count(c, s, &req);
    case KSP_CMD_GET: return cmd_get(c, s, &req);
    case KSP_CMD_INFO: return cmd_info(c, s);
    case KSP_CMD_STATS: return cmd_stats(c);
    case KSP_CMD_HELP: ksp_format_help(&w->out, c->mode, req.topic); return 0;
    case KSP_CMD_QUIT: ksp_format_bye(&w->out, c->mode); return 1;
    case KSP_CMD_RELOAD: return cmd_reload(c);
    case KSP_CMD_FORMAT:
        c->mode = req.format;
        ksp_format_format(&w->out, c->mode);
        return 0;
    default: return reply_error(c, KSP_ERR_INTERNAL, 0, "unhandled command");
    }
}
