/* bench_score: nanoseconds per scored posting of each BM25 kernel variant
 * the CPU supports (core/ks_score.h), on synthetic posting lists and, with
 * --index DIR, on the longest posting lists of a real index. Variants are
 * interleaved repetition by repetition so a noisy neighbour hurts all alike. */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ks_score.h"
#include "ks_xdb.h"

typedef struct opts {
    size_t postings, docs, block, reps, warmup, terms;
    const char *index;
} opts;

typedef struct list {
    char name[96];
    uint32_t *doc, *wdf;
    double *acc;
    size_t n;
    double tw;
} list;

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p) {
        fprintf(stderr, "bench_score: out of memory\n");
        exit(1);
    }
    return p;
}

static uint64_t rng = 0x62656e6368ull;
static uint64_t rnd(void)
{
    uint64_t z = (rng += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}
static double unit(void) { return (double)(rnd() >> 11) * (1.0 / 9007199254740992.0); }

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* One pass over the list, block by block, as the engine calls the kernel. */
static void pass(ks_score_fn fn, const list *l, const double *K, size_t block)
{
    for (size_t i = 0; i < l->n; i += block) {
        size_t m = l->n - i < block ? l->n - i : block;
        fn(l->tw, l->doc + i, l->wdf + i, K, l->acc + i, m);
    }
}

/* Times every supported variant on l (`inner` passes per timing) and
 * prints one line per variant. */
static void run(const opts *o, const list *l, const double *K, size_t block, size_t inner)
{
    ks_score_fn fns[KS_SIMD_COUNT];
    int nv = 0;
    ks_simd ids[KS_SIMD_COUNT];
    for (int v = 0; v < KS_SIMD_COUNT; v++)
        if ((fns[nv] = ks_score_variant((ks_simd)v)))
            ids[nv++] = (ks_simd)v;

    /* bit-exactness on this very data */
    double *ref = xmalloc(l->n * sizeof *ref), *got = xmalloc(l->n * sizeof *got);
    memcpy(ref, l->acc, l->n * sizeof *ref);
    pass(ks_score_block_scalar, &(list){ .doc = l->doc, .wdf = l->wdf, .acc = ref, .n = l->n, .tw = l->tw }, K,
         block);
    int exact[KS_SIMD_COUNT];
    for (int j = 0; j < nv; j++) {
        memcpy(got, l->acc, l->n * sizeof *got);
        pass(fns[j], &(list){ .doc = l->doc, .wdf = l->wdf, .acc = got, .n = l->n, .tw = l->tw }, K, block);
        exact[j] = memcmp(ref, got, l->n * sizeof *got) == 0;
    }
    free(ref);
    free(got);

    double *t = xmalloc(o->reps * KS_SIMD_COUNT * sizeof *t);
    for (size_t r = 0; r < o->warmup + o->reps; r++)
        for (int j = 0; j < nv; j++) {
            double t0 = now_ns();
            for (size_t k = 0; k < inner; k++)
                pass(fns[j], l, K, block);
            double dt = (now_ns() - t0) / ((double)l->n * (double)inner);
            if (r >= o->warmup)
                t[(size_t)j * o->reps + (r - o->warmup)] = dt;
        }
    double scalar_med = 0;
    for (int j = 0; j < nv; j++) {
        double *tj = t + (size_t)j * o->reps;
        qsort(tj, o->reps, sizeof *tj, cmp_double);
        double med = tj[o->reps / 2];
        double p90 = tj[(size_t)ceil(0.9 * (double)o->reps) - 1];
        if (ids[j] == KS_SIMD_SCALAR)
            scalar_med = med;
        printf("%-34s %-7s %8zu %6zu %9.3f %9.3f %8.2fx %s\n", l->name, ks_simd_name(ids[j]), l->n, block, med,
               p90, scalar_med > 0 ? scalar_med / med : 0.0, exact[j] ? "yes" : "NO");
    }
    free(t);
}

static void header(void)
{
    printf("%-34s %-7s %8s %6s %9s %9s %9s %s\n", "list", "variant", "postings", "block", "ns/post", "p90", "speedup",
           "bit-exact");
}

/* Synthetic list: n postings over a collection of `docs` documents, doc
 * ids ascending with geometric gaps (mean docs/n), wdf mostly 1-3. */
static void synthetic(const opts *o)
{
    size_t n = o->postings, D = o->docs;
    double *K = xmalloc(D * sizeof *K);
    for (size_t d = 0; d < D; d++) /* doc lengths ~ avg * (0.2..3): K in 0.6..2 for the defaults */
        K[d] = 1.0 * ((0.2 + 2.8 * unit()) * 0.5 + 0.5);
    list l = { .n = n, .tw = 3.7 };
    l.doc = xmalloc(n * sizeof *l.doc);
    l.wdf = xmalloc(n * sizeof *l.wdf);
    l.acc = xmalloc(n * sizeof *l.acc);
    double mean = (double)D / (double)n;
    double q = 1 - 1 / mean; /* P(gap > k) = q^k */
    uint64_t d = 0;
    for (size_t i = 0; i < n; i++) {
        uint64_t gap = 1;
        if (q > 0)
            gap += (uint64_t)floor(log(1 - unit()) / log(q));
        d += gap;
        if (d >= D)
            d = D - 1; /* rare: the tail piles onto the last document, harmless */
        l.doc[i] = (uint32_t)d;
        uint64_t r = rnd() % 100;
        l.wdf[i] = r < 60 ? 1 : r < 85 ? 2 : r < 95 ? 3 : (uint32_t)(4 + rnd() % 20);
        l.acc[i] = 0;
    }
    snprintf(l.name, sizeof l.name, "synthetic %zuk docs", D / 1000);
    run(o, &l, K, o->block, 1);
    /* the compute-bound view: the first block alone, in L1, scored n/block
     * times per timing (the same number of postings as one full pass) */
    list hot = l;
    hot.n = o->block < n ? o->block : n;
    size_t rounds = n / hot.n;
    snprintf(hot.name, sizeof hot.name, "synthetic 1 block in L1 x%zu", rounds);
    run(o, &hot, K, o->block, rounds);
    free(K);
    free(l.doc);
    free(l.wdf);
    free(l.acc);
}

/* --index: the `terms` longest posting lists of a real index. */
typedef struct topterm {
    char term[80];
    size_t len;
    uint64_t tf;
} topterm;
typedef struct topset {
    topterm *t;
    size_t n, k;
} topset;

static int on_term(void *ud, const char *term, size_t len, uint32_t tf)
{
    topset *s = ud;
    if (len >= sizeof s->t[0].term)
        return 0;
    if (s->n == s->k && s->t[s->k - 1].tf >= tf) /* full, and no longer than the shortest kept */
        return 0;
    size_t at = s->n < s->k ? s->n++ : s->k - 1;
    s->t[at].len = len;
    memcpy(s->t[at].term, term, len);
    s->t[at].term[len] = 0;
    s->t[at].tf = tf;
    while (at > 0 && s->t[at - 1].tf < s->t[at].tf) { /* keep descending by tf */
        topterm x = s->t[at - 1];
        s->t[at - 1] = s->t[at];
        s->t[at] = x;
        at--;
    }
    return 0;
}

static int on_posting(void *ud, uint32_t docid, uint32_t wdf, const uint32_t *pos, size_t npos)
{
    list *l = ud;
    (void)pos;
    (void)npos;
    l->doc[l->n] = docid;
    l->wdf[l->n] = wdf;
    l->acc[l->n] = 0;
    l->n++;
    return 0;
}

static int from_index(const opts *o)
{
    ks_errbuf eb = { { 0 } };
    ks_xdb *db;
    int rc = ks_xdb_open(o->index, &db, &eb);
    ks_xdb_stats st;
    if (!rc)
        rc = ks_xdb_stats_get(db, &st, &eb);
    if (rc) {
        fprintf(stderr, "bench_score: %s: %s\n", o->index, eb.msg[0] ? eb.msg : ks_strerror(rc));
        return 1;
    }
    topset s = { .t = calloc(o->terms, sizeof(topterm)), .k = o->terms };
    if (!s.t || (rc = ks_xdb_all_terms(db, on_term, &s, &eb))) {
        fprintf(stderr, "bench_score: terms: %s\n", eb.msg);
        return 1;
    }
    ks_bm25 bm = KS_BM25_DEFAULTS;
    double lf = ks_bm25_len_factor(&bm, st.avglength);
    size_t D = (size_t)st.lastdocid + 1;
    double *K = xmalloc(D * sizeof *K);
    uint32_t *dl = xmalloc(D * sizeof *dl);
    if ((rc = ks_xdb_doclengths(db, dl, D, &eb))) {
        fprintf(stderr, "bench_score: document lengths: %s\n", eb.msg);
        return 1;
    }
    for (size_t d = 0; d < D; d++)
        K[d] = ks_bm25_doc_k(&bm, lf, dl[d]);
    free(dl);
    for (size_t i = 0; i < s.n; i++) {
        list l = { .tw = ks_bm25_termweight(&bm, st.doccount, s.t[i].tf, 1, 1) };
        l.doc = xmalloc(s.t[i].tf * sizeof *l.doc);
        l.wdf = xmalloc(s.t[i].tf * sizeof *l.wdf);
        l.acc = xmalloc(s.t[i].tf * sizeof *l.acc);
        if ((rc = ks_xdb_postings(db, s.t[i].term, s.t[i].len, 0, on_posting, &l, &eb))) {
            fprintf(stderr, "bench_score: postings: %s\n", eb.msg);
            return 1;
        }
        snprintf(l.name, sizeof l.name, "index term %zu (df %llu)", i + 1, (unsigned long long)s.t[i].tf);
        printf("# index term %zu is '%s'\n", i + 1, s.t[i].term);
        run(o, &l, K, o->block, 1);
        free(l.doc);
        free(l.wdf);
        free(l.acc);
    }
    printf("# index %s: %llu documents, average length %.1f\n", o->index, (unsigned long long)st.doccount,
           st.avglength);
    free(K);
    free(s.t);
    ks_xdb_close(db);
    return 0;
}

static size_t num(const char *s, const char *what)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end || v == 0) {
        fprintf(stderr, "bench_score: bad %s '%s'\n", what, s);
        exit(2);
    }
    return (size_t)v;
}

int main(int argc, char **argv)
{
    opts o = { .postings = 1000000, .docs = 3000000, .block = 1024, .reps = 21, .warmup = 3, .terms = 5 };
    for (int i = 1; i < argc; i += 2) { /* options come in pairs: --name value */
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v && strcmp(a, "--help") != 0) {
            fprintf(stderr, "bench_score: %s needs a value\n", a);
            return 2;
        }
        if (!strcmp(a, "--postings")) o.postings = num(v, a);
        else if (!strcmp(a, "--docs")) o.docs = num(v, a);
        else if (!strcmp(a, "--block")) o.block = num(v, a);
        else if (!strcmp(a, "--reps")) o.reps = num(v, a);
        else if (!strcmp(a, "--terms")) o.terms = num(v, a);
        else if (!strcmp(a, "--index")) o.index = v;
        else {
            printf("usage: bench_score [--postings N] [--docs N] [--block N] [--reps N] [--index DIR [--terms N]]\n");
            return strcmp(a, "--help") ? 2 : 0;
        }
    }
    if (o.docs < o.postings) {
        fprintf(stderr, "bench_score: --docs must be >= --postings\n");
        return 2;
    }
    ks_errbuf eb;
    if (ks_score_select(ks_score_env(), &eb)) { /* as the daemon does; reports the choice */
        fprintf(stderr, "bench_score: %s\n", eb.msg);
        return 1;
    }
    printf("# default kernel: %s; %zu warm-up + %zu timed repetitions, variants interleaved\n", ks_score_name(),
           o.warmup, o.reps);
    header();
    if (o.index)
        return from_index(&o);
    synthetic(&o);
    return 0;
}
