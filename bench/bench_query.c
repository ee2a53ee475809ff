/* bench_query: query latency of the native engine (core/engine.c over the
 * segment) against Xapian's Enquire (ks_xdb_search) in one process, each
 * query alternating between the two, top 10 with an exact count, plans as
 * ks_search makes them; p50/p99/mean per engine, all-words and OR apart.
 * --dump FILE also writes every timed search as engine<TAB>kind<TAB>microseconds
 * (engine "engine" or "xapian", kind "all-words" or "or") for latency CDFs. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ks_analyze.h"
#include "ks_engine.h"
#include "ks_indexdir.h"
#include "ks_plan.h"
#include "ks_query.h"
#include "ks_score.h"
#include "ks_segment.h"
#include "ks_xdb.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
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

typedef struct series {
    double *v;
    size_t n, cap;
} series;

static void push(series *s, double x)
{
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 1024;
        s->v = realloc(s->v, s->cap * sizeof *s->v);
        if (!s->v) {
            fprintf(stderr, "bench_query: out of memory\n");
            exit(2);
        }
    }
    s->v[s->n++] = x;
}

static int cmp_dbl(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void stats(series *s, double *p50, double *p99, double *mean)
{
    *p50 = *p99 = *mean = 0;
    if (!s->n)
        return;
    qsort(s->v, s->n, sizeof *s->v, cmp_dbl);
    double sum = 0;
    for (size_t i = 0; i < s->n; i++)
        sum += s->v[i];
    *p50 = s->v[s->n / 2];
    *p99 = s->v[(size_t)((double)(s->n - 1) * 0.99)];
    *mean = sum / (double)s->n;
}

static void report(const char *kind, size_t nq, series *e, series *x)
{
    double e50, e99, em, x50, x99, xm;
    stats(e, &e50, &e99, &em);
    stats(x, &x50, &x99, &xm);
    printf("%-9s %6zu queries %7zu runs | engine p50 %8.1f p99 %8.1f mean %8.1f us | xapian p50 %8.1f p99 %8.1f "
           "mean %8.1f us | xapian/engine p50 %.2fx mean %.2fx\n",
           kind, nq, e->n, e50 * 1e6, e99 * 1e6, em * 1e6, x50 * 1e6, x99 * 1e6, xm * 1e6, e50 > 0 ? x50 / e50 : 0,
           em > 0 ? xm / em : 0);
}

int main(int argc, char **argv)
{
    const char *index = NULL, *qfile = NULL, *dumpfile = NULL;
    const char *usage =
        "usage: bench_query --index DIR --queries FILE [--runs N] [--dump FILE] [--engine-only] [--verbose]\n";
    int runs = 5, engine_only = 0, verbose = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--index") == 0 && i + 1 < argc)
            index = argv[++i];
        else if (strcmp(argv[i], "--queries") == 0 && i + 1 < argc)
            qfile = argv[++i];
        else if (strcmp(argv[i], "--runs") == 0 && i + 1 < argc)
            runs = atoi(argv[++i]);
        else if (strcmp(argv[i], "--dump") == 0 && i + 1 < argc)
            dumpfile = argv[++i];
        else if (strcmp(argv[i], "--verbose") == 0)
            verbose = 1; /* per plan: engine's and Xapian's best times, total, plan */
        else if (strcmp(argv[i], "--engine-only") == 0)
            engine_only = 1; /* for profiling the engine: Xapian is not run, totals not compared */
        else {
            fputs(usage, stderr);
            return 2;
        }
    }
    if (!index || !qfile || runs < 1) {
        fputs(usage, stderr);
        return 2;
    }
    ks_errbuf eb = { "" };
    if (ks_score_select(ks_score_env(), &eb)) { /* as kosearchd: KOSEARCH_SIMD or the widest kernel */
        fprintf(stderr, "bench_query: KOSEARCH_SIMD: %s\n", eb.msg);
        return 2;
    }
    char gen[KS_INDEX_PATH_MAX], xp[KS_INDEX_PATH_MAX], sp[KS_INDEX_PATH_MAX + 16];
    ks_xdb *db = NULL;
    ks_segment *seg = NULL;
    ks_engine *eng = NULL;
    ks_analyzer *qa = NULL;
    ks_analyzer_opts qo = ks_analyzer_default_opts();
    qo.query = 1;
    int rc = ks_indexdir_current(index, gen, sizeof gen, &eb);
    if (!rc)
        rc = ks_indexdir_xapian_path(gen, xp, sizeof xp);
    snprintf(sp, sizeof sp, "%s/segment", gen);
    if (!rc)
        rc = ks_xdb_open(xp, &db, &eb);
    if (!rc)
        rc = ks_segment_open(sp, &seg, &eb);
    if (!rc)
        rc = ks_engine_new(seg, &eng, &eb);
    if (!rc)
        rc = ks_analyzer_new(&qo, &qa, &eb);
    if (rc) {
        fprintf(stderr, "bench_query: %s\n", eb.msg);
        return 1;
    }
    FILE *f = fopen(qfile, "r");
    if (!f) {
        perror(qfile);
        return 1;
    }
    FILE *dump = NULL;
    if (dumpfile && !(dump = fopen(dumpfile, "w"))) {
        perror(dumpfile);
        return 1;
    }
    ks_bm25 bm = KS_BM25_DEFAULTS;
    ks_engine_hit hits[10];
    series es[2] = { { 0 } }, xs[2] = { { 0 } };
    size_t nq[2] = { 0, 0 }, mism = 0, xest = 0, npruned = 0;
    series frac = { 0 }; /* OR plans: postings scored / postings of their terms */
    char line[8192];
    double t0 = now();
    while (fgets(line, sizeof line, f)) {
        size_t len = strcspn(line, "\r\n");
        line[len] = 0;
        if (!len)
            continue;
        ks_query *pq = NULL;
        if (ks_query_parse(line, len, &pq, &eb))
            continue;
        /* as ks_search: the exact plan, or the relaxed one when it matches nothing */
        for (int relaxed = 0; relaxed < 2; relaxed++) {
            ks_plan plan;
            if (relaxed ? ks_plan_build_relaxed(pq, qa, &plan, &eb) : ks_plan_build(pq, qa, &plan, &eb))
                break;
            int k = ks_plan_is_or(&plan);
            uint64_t et = 0, xt = 0;
            double best = 1e9, xbest = 1e9;
            int exact = 1, estimated = 0;
            for (int r = 0; r < runs; r++) {
                size_t n;
                double a = now();
                rc = ks_engine_search(eng, &plan, &bm, 0, 10, k, hits, &n, &et, &estimated, &eb);
                double b = now();
                if (!rc && !engine_only)
                    rc = ks_xdb_search(db, &plan, &bm, 0, 10, k ? 10 : 100000, &xt, &exact, no_hit, NULL, &eb);
                double c = now();
                if (rc) {
                    fprintf(stderr, "bench_query: %s: %s\n", line, eb.msg);
                    return 1;
                }
                push(&es[k], b - a);
                if (b - a < best)
                    best = b - a;
                if (c - b < xbest)
                    xbest = c - b;
                push(&xs[k], c - b);
                if (dump)
                    fprintf(dump, "engine\t%s\t%.3f\n", k ? "or" : "all-words", (b - a) * 1e6);
                if (dump && !engine_only)
                    fprintf(dump, "xapian\t%s\t%.3f\n", k ? "or" : "all-words", (c - b) * 1e6);
            }
            if (verbose) {
                char desc[2048];
                ks_plan_describe(&plan, desc, sizeof desc);
                printf("%9.1f us %9.1f us %8llu %s\t%s\n", best * 1e6, engine_only ? 0 : xbest * 1e6,
                       (unsigned long long)et, line, desc);
            }
            /* Past check_at_least Xapian's total is its estimate, not a count
               (all-words plans over 100,000 matches, OR plans past the top 10),
               and a pruned OR's is the engine's: only exact totals must agree */
            if (et != xt && !engine_only && !estimated)
                (*(exact ? &mism : &xest))++;
            if (k) {
                uint64_t scored, postings;
                ks_engine_last_work(eng, &scored, &postings);
                push(&frac, postings ? (double)scored / (double)postings : 1);
                npruned += estimated;
            }
            nq[k]++;
            ks_plan_free(&plan);
            if (et)
                break;
        }
        ks_query_free(pq);
    }
    fclose(f);
    if (dump && fclose(dump)) {
        perror(dumpfile);
        return 1;
    }
    printf("# bench_query --index %s --queries %s --runs %d (%.1f s; top 10, exact count for all-words plans, OR plans pruned; kernel %s)\n", index,
           qfile, runs, now() - t0, ks_engine_kernel_name());
    report("all-words", nq[0], &es[0], &xs[0]);
    report("or", nq[1], &es[1], &xs[1]);
    series ea = { 0 }, xa = { 0 };
    for (int k = 0; k < 2; k++)
        for (size_t i = 0; i < es[k].n; i++) {
            push(&ea, es[k].v[i]);
            push(&xa, xs[k].v[i]);
        }
    report("all", nq[0] + nq[1], &ea, &xa);
    if (xest)
        printf("# %zu plans where Xapian estimated its total (past check_at_least: 100,000 for all-words plans, 10 "
               "for OR plans) and the engine counted exactly\n", xest);
    if (frac.n) {
        qsort(frac.v, frac.n, sizeof *frac.v, cmp_dbl);
        printf("# or: %zu of %zu plans pruned (total estimated); postings scored, median %.3f of their terms' "
               "(p10 %.3f, p90 %.3f)\n",
               npruned, frac.n, frac.v[frac.n / 2], frac.v[frac.n / 10], frac.v[frac.n * 9 / 10]);
    }
    free(frac.v);
    if (mism)
        printf("# %zu plans where the two exact totals differ\n", mism);
    for (int k = 0; k < 2; k++) {
        free(es[k].v);
        free(xs[k].v);
    }
    free(ea.v);
    free(xa.v);
    ks_analyzer_free(qa);
    ks_engine_free(eng);
    ks_segment_close(seg);
    ks_xdb_close(db);
    return mism ? 1 : 0;
}
