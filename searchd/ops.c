/* The bodies of the queries both front ends answer (line protocol in
 * commands.c, HTTP in http.c): run against the worker's searcher, count in
 * the worker's stats, and format with proto's formatters into a caller's
 * buffer. Errors come back as a ksp_error for the caller to send (and count). */
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

/* Maps a searcher error to a protocol error: the user's fault or ours. */
static int search_error(const char *peer, int rc, const ks_errbuf *eb, const char *q, size_t ql, ksp_error *err)
{
    switch (rc) {
    case KS_EINVAL:
    case KS_ETOOBIG:
        ksp_error_set(err, KSP_ERR_BAD_REQUEST, 0, "%s", eb->msg);
        break;
    case KS_EUTF8:
        ksp_error_set(err, KSP_ERR_BAD_UTF8, 0, "%s", eb->msg);
        break;
    default:
        ksd_log("%s: query failed: %.*s: %s (%s)", peer, (int)(ql > 200 ? 200 : ql), q, eb->msg, ks_strerror(rc));
        ksp_error_set(err, KSP_ERR_INTERNAL, 0, "the search failed on the server; see its log");
    }
    return -1;
}

/* Logs, once per searcher, that its segment turned out damaged and it now
 * ranks with Xapian (same answers, slower; a RELOAD of a good index ends it). */
static void note_fallback(const ksd_worker *w, ks_searcher *s)
{
    const char *why = ks_searcher_take_fallback(s);
    if (why)
        ksd_log("worker %d: scoring segment damaged, ranking with Xapian from now on (same results, slower; "
                "rebuild the index and RELOAD): %s", w->id, why);
    if ((why = ks_searcher_take_docstore_note(s)))
        ksd_log("worker %d: document store not used, reading stored fields from Xapian (same replies, slower; "
                "rebuild the segment with kosearch-indexer segment INDEX and RELOAD): %s", w->id, why);
}

int ksd_op_search(ksd_worker *w, const char *peer, ks_searcher *s, const char *q, size_t ql, ks_search_opts *o,
                  ks_results *r, ksp_hit **hits, uint64_t *took, ksp_error *err)
{
    o->snippet_chars = w->srv->cfg.snippet_chars;
    o->bm25 = w->srv->cfg.bm25;
    ks_errbuf eb = { "" };
    uint64_t t0 = now_us();
    int rc = ks_search(s, q, ql, o, r, &eb);
    *took = now_us() - t0;
    note_fallback(w, s);
    ksd_stats_latency(&w->stats, *took);
    atomic_fetch_add(&w->stats.queries, 1);
    if (rc)
        return search_error(peer, rc, &eb, q, ql, err);
    ksp_hit *h = calloc(r->n ? r->n : 1, sizeof *h);
    if (!h) {
        ks_results_free(r);
        ksp_error_set(err, KSP_ERR_INTERNAL, 0, "out of memory");
        return -1;
    }
    for (size_t i = 0; i < r->n; i++) {
        const ks_hit *x = &r->hits[i];
        h[i] = (ksp_hit){ x->rank, x->score, { x->id, strlen(x->id) }, { x->title, strlen(x->title) },
                          { x->snippet, strlen(x->snippet) } };
    }
    if (w->srv->cfg.log_queries)
        ksd_log("%s: SEARCH %.*s -> %llu hits, %zu returned, %llu us", peer, (int)ql, q,
                (unsigned long long)r->total, r->n, (unsigned long long)*took);
    *hits = h;
    return 0;
}

int ksd_op_count(ksd_worker *w, const char *peer, ks_searcher *s, const char *q, size_t ql, ksp_buf *out,
                 ksp_mode m, ksp_error *err)
{
    ks_errbuf eb = { "" };
    uint64_t n = 0, t0 = now_us();
    int rc = ks_search_count(s, q, ql, &n, &eb);
    uint64_t took = now_us() - t0;
    note_fallback(w, s);
    ksd_stats_latency(&w->stats, took);
    atomic_fetch_add(&w->stats.queries, 1);
    if (rc)
        return search_error(peer, rc, &eb, q, ql, err);
    ksp_format_count(out, m, n, 0);
    if (w->srv->cfg.log_queries)
        ksd_log("%s: COUNT %.*s -> %llu, %llu us", peer, (int)ql, q, (unsigned long long)n,
                (unsigned long long)took);
    return 0;
}

int ksd_op_get(const char *peer, ks_searcher *s, ksp_str id, ksp_buf *out, ksp_mode m, ksp_error *err)
{
    ks_errbuf eb = { "" };
    char *data = NULL;
    size_t len = 0;
    int rc = ks_search_get(s, id.ptr, id.len, &data, &len, &eb);
    if (rc == KS_ENOTFOUND) {
        ksp_error_set(err, KSP_ERR_NOT_FOUND, 0, "no document with that id");
        return -1;
    }
    if (rc)
        return search_error(peer, rc, &eb, id.ptr, id.len, err);
    json_t *o = json_loadb(data, len, JSON_ALLOW_NUL, NULL);
    free(data);
    size_t n = json_object_size(o), i = 0;
    ksp_kv *kv = calloc(n ? n : 1, sizeof *kv);
    char **tmp = calloc(n ? n : 1, sizeof *tmp);
    if (!o || !kv || !tmp) {
        json_decref(o);
        free(kv);
        free(tmp);
        ksp_error_set(err, KSP_ERR_INTERNAL, 0, "stored document could not be read");
        return -1;
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
    ksp_format_fields(out, m, id, kv, n);
    for (i = 0; i < n; i++)
        free(tmp[i]);
    free(tmp);
    free(kv);
    json_decref(o);
    return 0;
}

int ksd_op_info(ksd_server *srv, ks_searcher *s, ksp_buf *out, ksp_mode m, ksp_error *err)
{
    ks_index_info info;
    ks_errbuf eb = { "" };
    if (ks_searcher_info(s, &info, &eb)) {
        ksp_error_set(err, KSP_ERR_INTERNAL, 0, "%s", eb.msg);
        return -1;
    }
    /* PROTOCOL.md 4: the revision is an opaque word, a JSON string */
    char rev[32];
    int rn = snprintf(rev, sizeof rev, "%llu", (unsigned long long)info.revision);
    char bm[128];
    const ks_bm25 *b = &srv->cfg.bm25;
    snprintf(bm, sizeof bm, "k1=%g,k2=%g,k3=%g,b=%g,min_normlen=%g", b->k1, b->k2, b->k3, b->b, b->min_normlen);
    const char *ename = ks_engine_kind_name(ks_searcher_engine(s));
    /* the BM25 kernel: only the native engine has one */
    const char *kname = ks_searcher_engine(s) == KS_ENGINE_SIMD ? ks_engine_kernel_name() : "none";
    /* where the hits' ids, titles and bodies come from (this worker's searcher) */
    const char *sname = ks_searcher_uses_docstore(s) ? "docstore" : "xapian";
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
        { "stored_fields", KSP_VAL_STR, sname, strlen(sname), 0, 0, 0 },
        { "bm25", KSP_VAL_STR, bm, strlen(bm), 0, 0, 0 },
        { "threads", KSP_VAL_INT, NULL, 0, srv->nworkers, 0, 0 },
        { "version", KSP_VAL_STR, PACKAGE_VERSION, strlen(PACKAGE_VERSION), 0, 0, 0 },
    };
    ksp_format_info(out, m, kv, sizeof kv / sizeof kv[0]);
    return 0;
}

void ksd_op_stats(ksd_server *srv, ksp_buf *out, ksp_mode m)
{
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
        { "auth_failures", KSP_VAL_UINT, NULL, 0, 0, atomic_load(&srv->auth_failures), 0 },
        { "threads", KSP_VAL_INT, NULL, 0, srv->nworkers, 0, 0 },
    };
    ksp_format_stats(out, m, kv, sizeof kv / sizeof kv[0]);
}
