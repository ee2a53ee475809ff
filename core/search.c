/* The searcher (ks_search.h): query -> plan -> the native engine over the
 * segment (or Xapian's Enquire) -> hits with highlighted titles and
 * snippets built from the stored fields Xapian keeps. */
#include "ks_search.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ks_analyze.h"
#include "ks_docstore.h"
#include "ks_document.h"
#include "ks_engine.h"
#include "ks_indexdir.h"
#include "ks_plan.h"
#include "ks_query.h"
#include "ks_segment.h"
#include "ks_snippet.h"
#include "ks_xdb.h"

struct ks_searcher {
    ks_xdb *db;
    int engine;               /* KS_ENGINE_* */
    ks_segment *seg;          /* KS_ENGINE_SIMD: the generation's segment */
    ks_engine *eng;
    ks_engine_hit *ehits;     /* engine scratch: room for cap_ehits hits */
    size_t cap_ehits;
    ks_analyzer *qa;          /* query mode */
    ks_analyzer *da;          /* document mode, for snippets */
    char generation[KS_INDEX_PATH_MAX];
    uint64_t terms;           /* distinct terms, 0 until first asked for */
    char fallback[KS_INDEX_PATH_MAX + KS_ERRBUF_SIZE + 16]; /* why ranking moved to Xapian, until taken */
    ks_docstore *ds;          /* KS_ENGINE_SIMD: the generation's stored fields, or NULL (read from Xapian) */
    char *dsbuf;              /* ks_docstore_get's buffer */
    size_t dscap;
    char ds_note[KS_INDEX_PATH_MAX + KS_ERRBUF_SIZE + 16]; /* why the store is not used, until taken */
};

/* The engine's ranking is used only if the segment was sound all along:
 * a damaged chunk (KS_ECORRUPT), or damage a lookup met in the dictionary
 * or a file found changed under us (the segment's damaged flag, checked
 * after the ranking), moves this searcher
 * to Xapian, which holds the same documents and ranks them the same way
 * (tests/integration/test_parity), so the query is answered right, only
 * slower. Returns 1 when the caller must rank again with Xapian. */
static int engine_failed(ks_searcher *s, int rc, ks_errbuf *eb)
{
    if (rc != KS_ECORRUPT && !ks_segment_damaged(s->seg))
        return 0;
    const char *why = ks_segment_damage_reason(s->seg);
    snprintf(s->fallback, sizeof s->fallback, "%s/segment: %s", s->generation,
             rc == KS_ECORRUPT ? eb->msg : why ? why : "the file changed under the reader (truncated?)");
    ks_segment_set_damaged(s->seg); /* the other searchers on it move too */
    s->engine = KS_ENGINE_XAPIAN;
    eb->msg[0] = 0;
    return 1;
}

static const char *take(char *note, size_t size)
{
    static _Thread_local char why[KS_INDEX_PATH_MAX + KS_ERRBUF_SIZE + 16];
    if (!note[0])
        return NULL;
    snprintf(why, sizeof why, "%.*s", (int)size, note);
    note[0] = 0;
    return why;
}

const char *ks_searcher_take_fallback(ks_searcher *s)
{
    return take(s->fallback, sizeof s->fallback);
}

const char *ks_searcher_take_docstore_note(ks_searcher *s)
{
    return take(s->ds_note, sizeof s->ds_note);
}

/* Stops using the document store (missing, damaged or stale) and says why
 * for the log; stored fields then come from Xapian, the same bytes. */
static void drop_docstore(ks_searcher *s, const char *why)
{
    snprintf(s->ds_note, sizeof s->ds_note, "%s", why);
    ks_docstore_close(s->ds);
    s->ds = NULL;
}

/* Opens GEN/docstore if there is one that matches the database. Never
 * fails the searcher: without a store the replies are read from Xapian. */
static void open_docstore(ks_searcher *s, const ks_xdb_stats *st)
{
    char p[KS_INDEX_PATH_MAX + 16];
    ks_errbuf eb = { "" };
    snprintf(p, sizeof p, "%s/docstore", s->generation);
    int rc = ks_docstore_open(p, &s->ds, &eb);
    if (rc == KS_ENOTFOUND) { /* an index built before stores existed: quietly as before */
        s->ds = NULL;
        return;
    }
    if (rc) {
        drop_docstore(s, eb.msg);
        return;
    }
    const ks_docstore_header *h = ks_docstore_header_of(s->ds);
    if (h->revision != st->revision || h->doccount != st->doccount || h->lastdocid != st->lastdocid) {
        snprintf(s->ds_note, sizeof s->ds_note, "%s was built from another revision of the database; rebuild the "
                 "segment (kosearch-indexer segment INDEX)", p);
        ks_docstore_close(s->ds);
        s->ds = NULL;
    }
}

void ks_search_opts_default(ks_search_opts *o)
{
    ks_bm25 d = KS_BM25_DEFAULTS;
    o->offset = 0;
    o->limit = 10;
    o->hl_open = "[";
    o->hl_close = "]";
    o->snippet_chars = 160;
    o->bm25 = d;
    o->exact_count_limit = 100000;
    o->hl_ranges = 0;
}

const char *ks_engine_kind_name(int engine)
{
    return engine == KS_ENGINE_XAPIAN ? "xapian" : "simd";
}

/* Maps GEN/segment for the engine and checks it belongs to the database. */
static int open_segment(ks_searcher *s, ks_errbuf *eb)
{
    char sp[KS_INDEX_PATH_MAX + 16];
    snprintf(sp, sizeof sp, "%s/segment", s->generation);
    ks_xdb_stats st;
    int rc = ks_segment_open(sp, &s->seg, eb);
    if (rc == KS_ENOTFOUND)
        return ks_seterr(eb, rc, "%s: no scoring segment (an index built before segments existed?); rebuild the "
                         "index with kosearch-indexer build, or rank with --engine xapian", sp);
    if (!rc)
        rc = ks_xdb_stats_get(s->db, &st, eb);
    const ks_seg_header *h = rc ? NULL : ks_segment_header(s->seg);
    if (!rc && h->revision != st.revision)
        rc = ks_seterr(eb, KS_ECORRUPT, "%s is of revision %llu but the database is of revision %llu; rebuild the "
                       "index (kosearch-indexer build), or rank with --engine xapian", sp,
                       (unsigned long long)h->revision, (unsigned long long)st.revision);
    /* the revision restarts with every build: the counts catch a segment
     * copied from another build of the same revision */
    if (!rc && (h->doccount != st.doccount || h->lastdocid != st.lastdocid || h->total_length != st.total_length))
        rc = ks_seterr(eb, KS_ECORRUPT, "%s was built from another database (documents, last document number "
                       "or total length differ); rebuild the index (kosearch-indexer build), or rank with --engine "
                       "xapian", sp);
    if (!rc)
        rc = ks_engine_new(s->seg, &s->eng, eb);
    if (!rc)
        open_docstore(s, &st);
    return rc;
}

int ks_searcher_open_engine(const char *index, int engine, ks_searcher **out, ks_errbuf *eb)
{
    *out = NULL;
    ks_searcher *s = calloc(1, sizeof *s);
    if (!s)
        return ks_seterr(eb, KS_ENOMEM, "out of memory");
    s->engine = engine == KS_ENGINE_XAPIAN ? KS_ENGINE_XAPIAN : KS_ENGINE_SIMD;
    char xp[KS_INDEX_PATH_MAX];
    ks_analyzer_opts qo = ks_analyzer_default_opts();
    qo.query = 1;
    int rc = ks_indexdir_current(index, s->generation, sizeof s->generation, eb);
    if (!rc)
        rc = ks_indexdir_check(s->generation, eb);
    if (!rc)
        rc = ks_indexdir_xapian_path(s->generation, xp, sizeof xp);
    if (!rc)
        rc = ks_xdb_open(xp, &s->db, eb);
    if (!rc && s->engine == KS_ENGINE_SIMD)
        rc = open_segment(s, eb);
    if (!rc)
        rc = ks_analyzer_new(&qo, &s->qa, eb);
    if (!rc)
        rc = ks_analyzer_new(NULL, &s->da, eb);
    if (rc) {
        ks_searcher_close(s);
        return rc;
    }
    *out = s;
    return 0;
}

int ks_searcher_open(const char *index, ks_searcher **out, ks_errbuf *eb)
{
    return ks_searcher_open_engine(index, KS_ENGINE_SIMD, out, eb);
}

int ks_searcher_engine(const ks_searcher *s)
{
    return s->engine;
}

int ks_searcher_uses_docstore(const ks_searcher *s)
{
    return s->engine == KS_ENGINE_SIMD && s->ds != NULL;
}

void ks_searcher_close(ks_searcher *s)
{
    if (!s)
        return;
    ks_engine_free(s->eng);
    ks_segment_close(s->seg);
    ks_docstore_close(s->ds);
    free(s->dsbuf);
    free(s->ehits);
    ks_xdb_close(s->db);
    ks_analyzer_free(s->qa);
    ks_analyzer_free(s->da);
    free(s);
}

static void meta(ks_searcher *s, const char *key, char *dst, size_t cap)
{
    char *v = NULL;
    ks_errbuf ignore;
    dst[0] = 0;
    if (ks_xdb_get_metadata(s->db, key, &v, &ignore) == 0)
        snprintf(dst, cap, "%s", v);
    free(v);
}

int ks_searcher_info(ks_searcher *s, ks_index_info *o, ks_errbuf *eb)
{
    ks_xdb_stats st;
    int rc = ks_xdb_stats_get(s->db, &st, eb);
    if (rc)
        return rc;
    /* The segment's dictionary holds every term of the database it matches,
     * so its count is Xapian's for free; walking Xapian's term list instead
     * took most of a second at a million documents. */
    if (!s->terms && s->seg)
        s->terms = ks_segment_header(s->seg)->n_terms;
    if (!s->terms && (rc = ks_xdb_count_terms(s->db, NULL, &s->terms, eb)))
        return rc;
    o->documents = st.doccount;
    o->terms = s->terms;
    o->revision = st.revision;
    o->avglength = st.avglength;
    snprintf(o->generation, sizeof o->generation, "%s", s->generation);
    meta(s, "kosearch.built_at", o->built_at, sizeof o->built_at);
    meta(s, "kosearch.updated_at", o->updated_at, sizeof o->updated_at);
    return 0;
}

static int make_plan(ks_searcher *s, const char *q, size_t len, int relaxed, ks_plan *plan, ks_errbuf *eb)
{
    ks_query *pq = NULL;
    int rc = ks_query_parse(q, len, &pq, eb);
    if (rc)
        return rc;
    rc = relaxed ? ks_plan_build_relaxed(pq, s->qa, plan, eb) : ks_plan_build(pq, s->qa, plan, eb);
    ks_query_free(pq);
    return rc;
}

typedef struct page {
    ks_searcher *s;
    const ks_plan *plan;
    const ks_search_opts *o;
    ks_results *r;
    uint32_t next_rank;
    ks_errbuf *eb;
} page;

static char *dup_n(const char *p, size_t n)
{
    char *d = malloc(n + 1);
    if (d) {
        memcpy(d, p, n);
        d[n] = 0;
    }
    return d;
}

/* Adds the next hit of the page: its id, highlighted title and snippet. */
static int page_hit(page *pg, uint32_t docid, double score, const ks_stored *f)
{
    ks_hit *h = &pg->r->hits[pg->r->n];
    memset(h, 0, sizeof *h);
    h->rank = pg->next_rank++;
    h->score = score;
    h->docid = docid;
    h->id = dup_n(f->id, f->id_len);
    ks_snippet_opts so = { .open = pg->o->hl_open, .close = pg->o->hl_close, .max_chars = 0, .title = 1,
                           .lean = pg->s->qa };
    size_t ol, nm;
    int rc = h->id ? ks_snippet_make(pg->s->da, pg->plan, f->title, f->title_len, &so, &h->title, &ol, &nm)
                   : KS_ENOMEM;
    so.max_chars = pg->o->snippet_chars;
    so.title = 0;
    if (pg->o->hl_ranges) {
        so.ranges = &h->hl;
        so.n_ranges = &h->n_hl;
    }
    if (!rc)
        rc = ks_snippet_make(pg->s->da, pg->plan, f->body, f->body_len, &so, &h->snippet, &ol, &nm);
    pg->r->n++; /* counted even on failure so ks_results_free() frees it */
    return rc;
}

/* A hit with Xapian's stored data (ks_xdb_hit_fn). */
static int on_hit(void *ud, uint32_t docid, double score, const char *data, size_t len)
{
    page *pg = ud;
    ks_stored f;
    int rc = ks_stored_parse(data, len, docid, &f, pg->eb);
    if (rc)
        return rc;
    rc = page_hit(pg, docid, score, &f);
    ks_stored_free(&f);
    return rc;
}

/* A hit of the engine's, its fields from the document store when it can
 * give them, else from Xapian. */
static int engine_hit(page *pg, uint32_t docid, double score)
{
    ks_searcher *s = pg->s;
    if (s->ds) {
        ks_stored f;
        ks_errbuf deb = { "" };
        int rc = ks_docstore_get(s->ds, docid, &s->dsbuf, &s->dscap, &f, &deb);
        if (!rc)
            return page_hit(pg, docid, score, &f);
        if (rc == KS_ENOMEM)
            return ks_seterr(pg->eb, rc, "out of memory");
        /* the engine found the document, so the store must hold it */
        drop_docstore(s, deb.msg);
    }
    char *data = NULL;
    size_t len = 0;
    int rc = ks_xdb_get_data(s->db, docid, &data, &len, pg->eb);
    if (!rc)
        rc = on_hit(pg, docid, score, data, len);
    free(data);
    return rc;
}

void ks_results_free(ks_results *r)
{
    for (size_t i = 0; i < r->n; i++) {
        free(r->hits[i].id);
        free(r->hits[i].title);
        free(r->hits[i].snippet);
        free(r->hits[i].hl);
    }
    free(r->hits);
    free(r->plan);
    memset(r, 0, sizeof *r);
}

/* Ranks plan with the engine (OR plans pruned: total maybe estimated) and builds the page from the
 * stored data of its hits. */
static int engine_page(ks_searcher *s, const ks_plan *plan, const ks_search_opts *o, page *pg, ks_errbuf *eb)
{
    if (o->limit > s->cap_ehits) {
        ks_engine_hit *h = realloc(s->ehits, o->limit * sizeof *h);
        if (!h)
            return ks_seterr(eb, KS_ENOMEM, "out of memory");
        s->ehits = h;
        s->cap_ehits = o->limit;
    }
    size_t n = 0;
    int rc = ks_engine_search(s->eng, plan, &o->bm25, o->offset, o->limit, ks_plan_is_or(plan), s->ehits, &n,
                              &pg->r->total, &pg->r->estimate, eb);
    if (engine_failed(s, rc, eb))
        return KS_ECORRUPT; /* no hit taken yet: run() ranks again */
    for (size_t i = 0; !rc && i < n; i++)
        rc = engine_hit(pg, s->ehits[i].docid, s->ehits[i].score);
    return rc;
}

static int run(ks_searcher *s, const char *q, size_t len, const ks_search_opts *o, int relaxed, ks_results *out,
               ks_errbuf *eb)
{
    memset(out, 0, sizeof *out);
    ks_plan plan;
    int rc = make_plan(s, q, len, relaxed, &plan, eb);
    if (rc)
        return rc;
    out->relaxed = relaxed;
    out->hits = calloc(o->limit ? o->limit : 1, sizeof *out->hits);
    size_t dl = (size_t)ks_plan_describe(&plan, NULL, 0) + 1;
    out->plan = malloc(dl);
    if (!out->hits || !out->plan) {
        ks_plan_free(&plan);
        ks_results_free(out);
        return ks_seterr(eb, KS_ENOMEM, "out of memory");
    }
    ks_plan_describe(&plan, out->plan, dl);
    page pg = { s, &plan, o, out, o->offset + 1, eb };
    uint64_t cal = o->exact_count_limit;
    /* OR plans: Xapian may prune and estimate as the engine does (MaxScore) */
    if (cal < (uint64_t)o->offset + o->limit || (o->limit && ks_plan_is_or(&plan)))
        cal = (uint64_t)o->offset + o->limit;
    if (s->engine == KS_ENGINE_SIMD)
        rc = engine_page(s, &plan, o, &pg, eb);
    if (s->engine == KS_ENGINE_XAPIAN) { /* asked for, or engine_page just fell back */
        rc = ks_xdb_search(s->db, &plan, &o->bm25, o->offset, o->limit, cal, &out->total, &out->estimate, on_hit,
                           &pg, eb);
        out->estimate = !out->estimate;
    }
    ks_plan_free(&plan);
    if (rc) {
        ks_results_free(out);
        if (rc == KS_ENOMEM)
            ks_seterr(eb, rc, "out of memory");
    }
    return rc;
}

int ks_search(ks_searcher *s, const char *q, size_t len, const ks_search_opts *o, ks_results *out, ks_errbuf *eb)
{
    int rc = run(s, q, len, o, 0, out, eb);
    if (rc || out->total > 0)
        return rc;
    /* Nothing has all the words: rank what has some of them. */
    ks_results_free(out);
    return run(s, q, len, o, 1, out, eb);
}

static int no_hit(void *ud, uint32_t docid, double score, const char *data, size_t len)
{
    (void)ud;
    (void)docid;
    (void)score;
    (void)data;
    (void)len;
    return 0;
}

int ks_search_count(ks_searcher *s, const char *q, size_t len, uint64_t *count, ks_errbuf *eb)
{
    ks_plan plan;
    int rc = make_plan(s, q, len, 0, &plan, eb);
    if (rc)
        return rc;
    ks_xdb_stats st;
    ks_bm25 bm = KS_BM25_DEFAULTS;
    int exact = 0;
    if (s->engine == KS_ENGINE_SIMD) {
        size_t n = 0;
        int estimated; /* never: no pruning asked for */
        rc = ks_engine_search(s->eng, &plan, &bm, 0, 0, 0, NULL, &n, count, &estimated, eb);
        engine_failed(s, rc, eb);
    }
    if (s->engine == KS_ENGINE_XAPIAN) {
        rc = ks_xdb_stats_get(s->db, &st, eb);
        if (!rc)
            rc = ks_xdb_search(s->db, &plan, &bm, 0, 0, st.doccount, count, &exact, no_hit, NULL, eb);
    }
    ks_plan_free(&plan);
    return rc;
}

int ks_search_get(ks_searcher *s, const char *id, size_t len, char **json, size_t *json_len, ks_errbuf *eb)
{
    char term[KS_MAX_ID_BYTES + 8];
    int tl = ks_idterm(id, len, term, sizeof term);
    if (tl < 0)
        return ks_seterr(eb, KS_ENOTFOUND, "no document with that id (ids are at most %d bytes)", KS_MAX_ID_BYTES);
    uint32_t docid;
    int rc = ks_xdb_get_by_idterm(s->db, term, (size_t)tl, &docid, json, json_len, eb);
    if (rc)
        return rc;
    /* what was stored is a JSON object with this id: anything else was
     * damaged on disk (Xapian's files carry no checksums) */
    json_t *o = json_loadb(*json, *json_len, JSON_ALLOW_NUL, NULL);
    json_t *v = json_object_get(o, "id");
    int same = json_is_string(v) && json_string_length(v) == len && memcmp(json_string_value(v), id, len) == 0;
    json_decref(o);
    if (same)
        return 0;
    free(*json);
    *json = NULL;
    return ks_seterr(eb, KS_ECORRUPT, "the stored data of document %u is damaged; rebuild the index", docid);
}
