/* baseline_indexer INPUT.jsonl[.gz] DBPATH [BATCH]: the indexer one would
 * write with Xapian alone, as the yardstick for kosearch-indexer: one
 * thread, TermGenerator with FLAG_CJK_NGRAM, title under "S" and unprefixed
 * with weight 3 (as kosearch), body, id term, the record's line stored, a commit
 * every BATCH documents (default 10000, as kosearch-indexer). Prints
 * documents, seconds, docs/s and MB/s. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zlib.h>

#include "ks_document.h"
#include "ks_xdb.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: baseline_indexer INPUT.jsonl[.gz] DBPATH [BATCH]\n");
        return 2;
    }
    long batch = argc > 3 ? atol(argv[3]) : 10000;
    gzFile f = gzopen(argv[1], "rb");
    ks_xdb_writer *w;
    ks_errbuf eb = { "" };
    if (!f || ks_xdb_writer_open(argv[2], KS_XDB_CREATE, &w, &eb)) {
        fprintf(stderr, "baseline_indexer: %s\n", eb.msg[0] ? eb.msg : "cannot open input");
        return 2;
    }
    gzbuffer(f, 1 << 20);
    static char line[1 << 24];
    double t0 = now();
    unsigned long docs = 0;
    size_t bytes = 0;
    while (gzgets(f, line, sizeof line)) {
        size_t len = strlen(line);
        bytes += len;
        json_t *o = json_loadb(line, len, 0, NULL);
        const char *id = json_string_value(json_object_get(o, "id"));
        if (!id) {
            json_decref(o);
            continue;
        }
        json_t *tv = json_object_get(o, "title"), *bv = json_object_get(o, "body");
        char term[256];
        int tl = ks_idterm(id, strlen(id), term, sizeof term);
        /* the record is stored as it came, as kosearch-indexer stores it */
        size_t dl = len;
        while (dl && (line[dl - 1] == '\n' || line[dl - 1] == '\r'))
            dl--;
        int rc = ks_xdb_writer_add_termgen(w, term, (size_t)tl, json_string_value(tv) ? json_string_value(tv) : "",
                                           json_string_length(tv), json_string_value(bv) ? json_string_value(bv) : "",
                                           json_string_length(bv), line, dl, KS_TITLE_WEIGHT, &eb);
        json_decref(o);
        if (rc) {
            fprintf(stderr, "baseline_indexer: %s\n", eb.msg);
            return 1;
        }
        if (++docs % (unsigned long)batch == 0 && ks_xdb_writer_commit(w, &eb)) {
            fprintf(stderr, "baseline_indexer: %s\n", eb.msg);
            return 1;
        }
    }
    gzclose(f);
    if (ks_xdb_writer_close(w, 1, &eb)) {
        fprintf(stderr, "baseline_indexer: %s\n", eb.msg);
        return 1;
    }
    double s = now() - t0;
    printf("baseline: %lu documents in %.2f s: %.0f docs/s, %.2f MB/s\n", docs, s, (double)docs / s,
           (double)bytes / s / 1e6);
    return 0;
}
