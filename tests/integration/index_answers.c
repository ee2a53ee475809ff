/* index_answers INDEX QUERY...: what an index answers, in a form two
 * indexes can be compared by (tests/integration/test_kill_indexer.sh).
 * Opens INDEX as kosearchd does (the simd engine: the segment must be
 * there, undamaged and of the database's revision), verifies every chunk
 * of the segment, then prints the document count and, per query, the
 * total and every hit as "id score", ordered by score and then id (the
 * order of tied hits depends on document numbers, which differ between
 * two builds of the same documents). Exit 1 when the index cannot be
 * opened or searched, with the reason on stderr. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ks_indexdir.h"
#include "ks_search.h"
#include "ks_segment.h"

typedef struct row {
    const char *id;
    double score;
} row;

static int by_score_then_id(const void *a, const void *b)
{
    const row *x = a, *y = b;
    if (x->score != y->score)
        return x->score > y->score ? -1 : 1;
    return strcmp(x->id, y->id);
}

static int fail(const char *what, const ks_errbuf *eb)
{
    fprintf(stderr, "index_answers: %s: %s\n", what, eb->msg);
    return 1;
}

int main(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0) {
        fprintf(argc < 2 ? stderr : stdout, "Usage: index_answers INDEX QUERY...\n");
        return argc < 2 ? 2 : 0;
    }
    ks_errbuf eb = { "" };
    char gen[KS_INDEX_PATH_MAX], sp[KS_INDEX_PATH_MAX + 16];
    ks_segment *seg;
    if (ks_indexdir_current(argv[1], gen, sizeof gen, &eb))
        return fail("current", &eb);
    snprintf(sp, sizeof sp, "%s/segment", gen);
    if (ks_segment_open(sp, &seg, &eb) || ks_segment_verify(seg, &eb))
        return fail("segment", &eb);
    ks_segment_close(seg);
    ks_searcher *s;
    ks_index_info info;
    if (ks_searcher_open(argv[1], &s, &eb) || ks_searcher_info(s, &info, &eb))
        return fail("open", &eb);
    printf("documents %llu\n", (unsigned long long)info.documents);
    ks_search_opts o;
    ks_search_opts_default(&o);
    o.limit = 5000;
    int rc = 0;
    for (int i = 2; i < argc && !rc; i++) {
        ks_results r;
        if (ks_search(s, argv[i], strlen(argv[i]), &o, &r, &eb)) {
            rc = fail(argv[i], &eb);
            break;
        }
        row *rows = calloc(r.n ? r.n : 1, sizeof *rows);
        for (size_t j = 0; j < r.n; j++)
            rows[j] = (row){ r.hits[j].id, r.hits[j].score };
        qsort(rows, r.n, sizeof *rows, by_score_then_id);
        printf("query %s: %llu%s\n", argv[i], (unsigned long long)r.total, r.relaxed ? " (relaxed)" : "");
        for (size_t j = 0; j < r.n; j++)
            printf("  %s %.6f\n", rows[j].id, rows[j].score);
        free(rows);
        ks_results_free(&r);
    }
    ks_searcher_close(s);
    return rc;
}
