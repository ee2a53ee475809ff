/* bench_analyze CORPUS.jsonl[.gz] [RUNS]: MB/s of kosearch's analyzer and of
 * Xapian's TermGenerator (FLAG_CJK_NGRAM) over the same title+body texts,
 * measured alternately in one process after a warm-up pass; prints each
 * run, the medians and their ratio. Single thread for both. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zlib.h>

#include "ks_analyze.h"
#include "ks_xdb.h"

typedef struct text {
    char *s;
    size_t n;
} text;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_d);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

int main(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0) {
        fprintf(argc < 2 ? stderr : stdout, "usage: bench_analyze CORPUS.jsonl[.gz] [RUNS (default 5)]\n");
        return argc < 2 ? 2 : 0;
    }
    int runs = argc > 2 ? atoi(argv[2]) : 5;
    if (runs < 1 || runs > 100)
        runs = 5;
    gzFile f = gzopen(argv[1], "rb");
    if (!f) {
        fprintf(stderr, "bench_analyze: cannot open %s\n", argv[1]);
        return 2;
    }
    size_t cap = 4096, n = 0, bytes = 0;
    text *t = malloc(cap * sizeof *t);
    static char line[1 << 22];
    while (gzgets(f, line, sizeof line)) {
        json_t *o = json_loads(line, 0, NULL);
        if (!o)
            continue;
        const char *fields[] = { "title", "body" };
        for (int k = 0; k < 2; k++) {
            json_t *v = json_object_get(o, fields[k]);
            if (!json_is_string(v))
                continue;
            if (n == cap)
                t = realloc(t, (cap *= 2) * sizeof *t);
            t[n].n = json_string_length(v);
            t[n].s = malloc(t[n].n + 1);
            memcpy(t[n].s, json_string_value(v), t[n].n + 1);
            bytes += t[n].n;
            n++;
        }
        json_decref(o);
    }
    gzclose(f);
    ks_analyzer *a;
    ks_errbuf eb;
    if (ks_analyzer_new(NULL, &a, &eb)) {
        fprintf(stderr, "bench_analyze: %s\n", eb.msg);
        return 2;
    }
    ks_terms terms;
    memset(&terms, 0, sizeof terms);
    double *ks = malloc((size_t)runs * sizeof *ks), *tg = malloc((size_t)runs * sizeof *tg);
    uint64_t ks_terms_n = 0, tg_terms_n = 0;
    printf("texts: %zu (titles and bodies), %.2f MB\n", n, (double)bytes / 1e6);
    for (int r = -1; r < runs; r++) { /* r = -1: warm-up, not counted */
        double t0 = now();
        ks_terms_n = 0;
        for (size_t i = 0; i < n; i++) {
            ks_terms_reset(&terms);
            ks_analyze(a, t[i].s, t[i].n, 0, &terms);
            ks_terms_n += terms.n;
        }
        double t1 = now();
        tg_terms_n = 0;
        for (size_t i = 0; i < n; i++) {
            uint64_t k = 0;
            ks_xdb_termgen_text(t[i].s, t[i].n, &k, &eb);
            tg_terms_n += k;
        }
        double t2 = now();
        if (r >= 0) {
            ks[r] = (double)bytes / (t1 - t0) / 1e6;
            tg[r] = (double)bytes / (t2 - t1) / 1e6;
            printf("run %d: kosearch %.2f MB/s, TermGenerator %.2f MB/s\n", r + 1, ks[r], tg[r]);
        }
    }
    double mk = median(ks, runs), mt = median(tg, runs);
    printf("terms per pass: kosearch %llu postings; TermGenerator %llu distinct terms per document, summed\n",
           (unsigned long long)ks_terms_n, (unsigned long long)tg_terms_n);
    printf("median: kosearch %.2f MB/s, TermGenerator %.2f MB/s, ratio %.2fx\n", mk, mt, mk / mt);
    ks_terms_free(&terms);
    ks_analyzer_free(a);
    for (size_t i = 0; i < n; i++)
        free(t[i].s);
    free(t);
    free(ks);
    free(tg);
    return 0;
}
